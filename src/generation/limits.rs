//! The range of every numeric setting, declared once. [`super::GenerationConfig::validate`]
//! and the pipeline enforce them; the page's form inputs carry them as `min`/`max` (a test
//! checks `www/index.html` against this table). Names are the JS API's.

use crate::error::{Error, Result};

/// The values a numeric setting may take: `min..=max`, or `min` excluded when `min_open`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// The setting as the JS API and the page spell it.
    pub name: &'static str,
    pub min: f64,
    pub max: f64,
    /// `min` itself is not allowed (a temperature or top-p of 0).
    pub min_open: bool,
}

const fn closed(name: &'static str, min: f64, max: f64) -> Limit {
    Limit {
        name,
        min,
        max,
        min_open: false,
    }
}

const fn open(name: &'static str, min: f64, max: f64) -> Limit {
    Limit {
        name,
        min,
        max,
        min_open: true,
    }
}

/// Most beams: they run as one batch, so memory and time per step grow with them.
pub const MAX_BEAMS: usize = 16;

/// Every numeric setting's range.
pub const LIMITS: [Limit; 11] = [
    closed("maxNewTokens", 1.0, 2048.0),
    closed("minNewTokens", 0.0, 2048.0),
    closed("maxInputTokens", 2.0, 4096.0),
    closed("numBeams", 1.0, MAX_BEAMS as f64),
    closed("lengthPenalty", -10.0, 10.0),
    closed("noRepeatNgramSize", 0.0, 20.0),
    open("repetitionPenalty", 0.0, 10.0),
    open("temperature", 0.0, 10.0),
    closed("topK", 0.0, 100_000.0),
    open("topP", 0.0, 1.0),
    closed("seed", 0.0, u32::MAX as f64),
];

/// The limit of setting `name` (a name from [`LIMITS`]).
pub fn limit(name: &str) -> &'static Limit {
    LIMITS
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no limit declared for {name}"))
}

impl Limit {
    /// `Ok` when `value` is in range, else an [`Error::InvalidOption`] that says the range.
    pub fn check(&self, value: f64) -> Result<()> {
        let above_min = if self.min_open {
            value > self.min
        } else {
            value >= self.min
        };
        if above_min && value <= self.max {
            return Ok(());
        }
        let from = if self.min_open { "(" } else { "[" };
        Err(Error::InvalidOption(format!(
            "{} must be in {from}{}, {}], not {value}",
            self.name, self.min, self.max
        )))
    }
}

/// Checks `value` against the limit of setting `name`.
pub fn check(name: &str, value: f64) -> Result<()> {
    limit(name).check(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_say_what_they_allow() {
        assert!(check("numBeams", 16.0).is_ok());
        let e = check("numBeams", 17.0).unwrap_err().to_string();
        assert!(e.contains("numBeams must be in [1, 16], not 17"), "{e}");
        assert!(check("topP", 1.0).is_ok());
        let e = check("topP", 0.0).unwrap_err().to_string();
        assert!(e.contains("topP must be in (0, 1], not 0"), "{e}");
        assert!(check("lengthPenalty", f64::NAN).is_err());
        assert!(check("seed", u32::MAX as f64).is_ok());
    }
}
