//! Performance metrics: clocks, stage timings, metric records, statistics and log lines.
//!
//! The pipeline measures [`RunTimings`] on a [`Clock`]; the logger turns them into [`Record`]s,
//! summarizes them and formats `performance.log` lines. Storage (IndexedDB) lives in the browser
//! shell; nothing here does I/O.

pub mod clock;
pub mod logline;
pub mod record;
pub mod stats;
pub mod timings;

pub use clock::{default_clock, Clock, Span};
pub use record::{Record, RecordKind, SCHEMA_VERSION};
pub use stats::Stats;
pub use timings::{ChunkTimings, PassTimings, RunTimings};
