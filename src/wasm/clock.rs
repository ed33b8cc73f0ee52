//! `performance.now()` of whatever global scope the code runs in (window or worker).

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};

use crate::metrics::Clock;

thread_local! {
    /// `performance.now()` reads made through [`PerformanceClock`] (the overhead benchmark
    /// multiplies them by the measured cost of one read).
    static READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// User Timing measures waiting to be reported: (name, start, end).
    static QUEUED: RefCell<Vec<(&'static str, f64, f64)>> = const { RefCell::new(Vec::new()) };
}

/// Reports queued stage measures to `performance.measure`. Stages are queued instead of calling
/// the browser mid-run (about 5 µs each, over a hundred per run); the logger's flush (which the
/// worker runs after posting the summary) and the next summarize report them, so the profiler
/// shows every stage without delaying the result.
pub fn flush_user_timing() {
    let queued = QUEUED.with(|q| std::mem::take(&mut *q.borrow_mut()));
    if queued.is_empty() {
        return;
    }
    let clock = PerformanceClock::new();
    for (name, start, end) in queued {
        clock.measure_now(name, start, end);
    }
}

/// How many times a [`PerformanceClock`] has read `performance.now()` in this instance.
pub fn clock_reads() -> u64 {
    READS.with(|r| r.get())
}

/// The global scope's `performance` object as a clock.
pub struct PerformanceClock {
    performance: web_sys::Performance,
    /// `performance.measure`, looked up once (None where User Timing is missing).
    measure: Option<js_sys::Function>,
    /// The `{ start, end }` options object, reused for every measure.
    options: js_sys::Object,
}

impl PerformanceClock {
    /// Reads `performance` from the global scope (workers have no `window`).
    pub fn new() -> Self {
        let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
            .expect("the global scope has `performance`")
            .unchecked_into::<web_sys::Performance>();
        let measure = js_sys::Reflect::get(&performance, &"measure".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        PerformanceClock {
            performance,
            measure,
            options: js_sys::Object::new(),
        }
    }
}

impl Default for PerformanceClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for PerformanceClock {
    fn now_ms(&self) -> f64 {
        READS.with(|r| r.set(r.get() + 1));
        self.performance.now()
    }

    fn origin_unix_ms(&self) -> f64 {
        self.performance.time_origin()
    }

    fn measure(&self, name: &'static str, start_ms: f64, end_ms: f64) {
        QUEUED.with(|q| q.borrow_mut().push((name, start_ms, end_ms)));
    }
}

impl PerformanceClock {
    /// `performance.measure(name, { start, end })` right away.
    fn measure_now(&self, name: &str, start_ms: f64, end_ms: f64) {
        let Some(measure) = &self.measure else {
            return;
        };
        let _ = js_sys::Reflect::set(&self.options, &"start".into(), &start_ms.into());
        let _ = js_sys::Reflect::set(&self.options, &"end".into(), &end_ms.into());
        let _ = measure.call2(&self.performance, &JsValue::from_str(name), &self.options);
    }
}
