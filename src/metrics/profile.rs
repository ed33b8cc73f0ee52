//! A per-stage profile of generation, for finding where a decoder step's time goes.
//!
//! Off unless a summarize asks for it (`profile: true`): then the model and the search add the
//! time of each stage (decoder self-attention, cross-attention, feed-forward, LM head, the
//! search's logits processing, the per-token progress event, …) to per-thread totals, which the
//! summary returns. Not for the performance records: those keep their fixed schema.
//!
//! Switched off it costs one thread-local flag read per stage.

use std::cell::{Cell, RefCell};

use super::clock::{default_clock, Clock};

/// Total time and call count of one stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageTotal {
    /// Stage name (`decoder.self_attention`, `lm_head`, `search`, `event`, …).
    pub stage: &'static str,
    /// Milliseconds spent in it, summed over calls.
    pub ms: f64,
    /// How often it ran.
    pub calls: u64,
}

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static TOTALS: RefCell<Vec<StageTotal>> = const { RefCell::new(Vec::new()) };
    static CLOCK: RefCell<Option<Box<dyn Clock>>> = const { RefCell::new(None) };
}

/// Starts profiling this thread's stages afresh.
pub fn start() {
    CLOCK.with(|c| c.borrow_mut().get_or_insert_with(default_clock).now_ms());
    TOTALS.with(|t| t.borrow_mut().clear());
    ON.with(|on| on.set(true));
}

/// Stops profiling and returns the totals, in the order stages first ran.
pub fn finish() -> Vec<StageTotal> {
    ON.with(|on| on.set(false));
    TOTALS.with(|t| std::mem::take(&mut *t.borrow_mut()))
}

/// Whether stages are being profiled on this thread.
pub fn enabled() -> bool {
    ON.with(Cell::get)
}

fn now_ms() -> f64 {
    CLOCK.with(|c| c.borrow().as_ref().map_or(0.0, |c| c.now_ms()))
}

/// Runs `f`, adding its time to `stage` when profiling.
pub fn stage<R>(stage: &'static str, f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    let t0 = now_ms();
    let out = f();
    add(stage, now_ms() - t0);
    out
}

/// Adds `ms` to `stage` when profiling.
pub fn add(stage: &'static str, ms: f64) {
    if !enabled() {
        return;
    }
    TOTALS.with(|t| {
        let mut t = t.borrow_mut();
        match t.iter_mut().find(|s| s.stage == stage) {
            Some(s) => {
                s.ms += ms;
                s.calls += 1;
            }
            None => t.push(StageTotal {
                stage,
                ms,
                calls: 1,
            }),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stages_only_while_on() {
        assert_eq!(stage("off", || 1), 1);
        start();
        stage("a", || ());
        stage("b", || ());
        stage("a", || ());
        add("c", 2.5);
        let totals = finish();
        let names: Vec<_> = totals.iter().map(|s| (s.stage, s.calls)).collect();
        assert_eq!(names, [("a", 2), ("b", 1), ("c", 1)]);
        assert_eq!(totals[2].ms, 2.5);
        stage("after", || ());
        start();
        assert!(finish().is_empty());
    }
}
