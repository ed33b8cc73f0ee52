//! Time sources for stage timings: `performance.now()` in the browser, a monotonic clock natively.
//!
//! The pipeline and the logger only see the [`Clock`] trait, so the same timing code runs in
//! native tests and in a worker (which has no `window`: the browser clock reads the global scope).

/// A monotonic millisecond clock with a known wall-clock origin.
pub trait Clock {
    /// Milliseconds since the clock's origin; never decreases.
    fn now_ms(&self) -> f64;
    /// Unix time in milliseconds of the origin (`performance.timeOrigin` in a browser).
    fn origin_unix_ms(&self) -> f64;
    /// Unix time in milliseconds of a reading of `now_ms`.
    fn unix_ms(&self, now_ms: f64) -> f64 {
        self.origin_unix_ms() + now_ms
    }
    /// Unix time in milliseconds now.
    fn unix_ms_now(&self) -> f64 {
        self.unix_ms(self.now_ms())
    }
    /// Reports a finished stage to the platform profiler (User Timing); a no-op by default.
    /// Stage names are static, so a clock may keep them without copying.
    fn measure(&self, _name: &'static str, _start_ms: f64, _end_ms: f64) {}
}

/// `std::time::Instant` and `SystemTime` (native targets only: both panic in wasm32).
#[cfg(not(target_arch = "wasm32"))]
pub struct SystemClock {
    start: std::time::Instant,
    origin_unix_ms: f64,
}

#[cfg(not(target_arch = "wasm32"))]
impl Default for SystemClock {
    fn default() -> Self {
        let origin = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        SystemClock {
            start: std::time::Instant::now(),
            origin_unix_ms: origin,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
    fn origin_unix_ms(&self) -> f64 {
        self.origin_unix_ms
    }
}

/// A clock that never ticks: with it the pipeline reads no timer and reports no User Timing
/// marks, so every stage time is zero. Used to switch metrics off and to measure their cost.
pub struct NullClock;

impl Clock for NullClock {
    fn now_ms(&self) -> f64 {
        0.0
    }
    fn origin_unix_ms(&self) -> f64 {
        0.0
    }
}

/// How the platform shell makes its clock ([`set_platform_clock`]): the core names no platform.
static PLATFORM_CLOCK: std::sync::OnceLock<fn() -> Box<dyn Clock>> = std::sync::OnceLock::new();

/// Installs the clock the host platform provides (the wasm shell: `performance.now()`); the
/// first call wins. [`default_clock`] makes its clocks from then on.
pub fn set_platform_clock(make: fn() -> Box<dyn Clock>) {
    let _ = PLATFORM_CLOCK.set(make);
}

/// The clock the platform installed, else natively a [`SystemClock`], else (wasm without a
/// shell's clock, where `std::time` panics) a [`NullClock`], which measures nothing.
pub fn default_clock() -> Box<dyn Clock> {
    if let Some(make) = PLATFORM_CLOCK.get() {
        return make();
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        Box::new(SystemClock::default())
    }
    #[cfg(target_arch = "wasm32")]
    {
        Box::new(NullClock)
    }
}

/// Measures one stage: its start and duration on a clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Start, in the clock's milliseconds.
    pub start_ms: f64,
    /// Duration in milliseconds.
    pub ms: f64,
}

impl Span {
    /// Times `f` on `clock`, reporting it to the profiler as `name`.
    pub fn time<T>(clock: &dyn Clock, name: &'static str, f: impl FnOnce() -> T) -> (T, Span) {
        let start_ms = clock.now_ms();
        let out = f();
        let end = clock.now_ms();
        clock.measure(name, start_ms, end);
        (
            out,
            Span {
                start_ms,
                ms: end - start_ms,
            },
        )
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_monotonic_with_a_recent_origin() {
        let c = SystemClock::default();
        let (a, b) = (c.now_ms(), c.now_ms());
        assert!(b >= a && a >= 0.0);
        assert!(c.origin_unix_ms() > 1.7e12, "origin {}", c.origin_unix_ms());
        let (_, span) = Span::time(&c, "x", || {
            std::thread::sleep(std::time::Duration::from_millis(5))
        });
        assert!(span.ms >= 5.0 && span.start_ms + span.ms <= c.now_ms());
    }
}
