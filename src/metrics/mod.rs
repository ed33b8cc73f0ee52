//! Performance metrics: clocks, stage timings, metric records, statistics and log lines.
//!
//! The pipeline measures [`RunTimings`] on a [`Clock`]; the logger turns them into [`Record`]s,
//! summarizes them and formats `performance.log` lines. Storage (IndexedDB) lives in the browser
//! shell; nothing here does I/O.

pub mod clock;
pub mod export;
pub mod logger;
pub mod logline;
pub mod memory;
pub mod profile;
pub mod record;
pub mod stats;
pub mod summary;
pub mod timings;

pub use clock::{default_clock, Clock, NullClock, Span};
pub use logger::{ModelLoad, PerformanceLogger, Thresholds};
pub use record::{Record, RecordKind, SCHEMA_VERSION};
pub use stats::Stats;
pub use summary::{performance_summary, PerformanceSummary};
pub use timings::{ChunkTimings, PassTimings, RunTimings};
