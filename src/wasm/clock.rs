//! `performance.now()` of whatever global scope the code runs in (window or worker).

use wasm_bindgen::{JsCast, JsValue};

use crate::metrics::Clock;

/// The global scope's `performance` object as a clock.
pub struct PerformanceClock {
    performance: web_sys::Performance,
}

impl PerformanceClock {
    /// Reads `performance` from the global scope (workers have no `window`).
    pub fn new() -> Self {
        let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
            .expect("the global scope has `performance`")
            .unchecked_into::<web_sys::Performance>();
        PerformanceClock { performance }
    }
}

impl Default for PerformanceClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for PerformanceClock {
    fn now_ms(&self) -> f64 {
        self.performance.now()
    }

    fn origin_unix_ms(&self) -> f64 {
        self.performance.time_origin()
    }

    fn measure(&self, name: &str, start_ms: f64, end_ms: f64) {
        // performance.measure(name, { start, end }): shows the stage in the browser's profiler.
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"start".into(), &start_ms.into());
        let _ = js_sys::Reflect::set(&options, &"end".into(), &end_ms.into());
        if let Ok(f) = js_sys::Reflect::get(&self.performance, &"measure".into()) {
            if let Some(f) = f.dyn_ref::<js_sys::Function>() {
                let _ = f.call2(&self.performance, &JsValue::from_str(name), &options);
            }
        }
    }
}
