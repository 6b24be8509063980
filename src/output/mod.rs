//! What callprep writes, as types and as bytes (an edge of the pipeline).
//!
//! - [`row`]: the manifest row ([`Row`]) and the files an input wrote;
//! - [`report`]: the typed `report.json` ([`report::Report`]) and the
//!   per-input statistics it sums;
//! - [`quarantine`]: the rows of chunks the privacy gate removed;
//! - [`reason`]: the [`ReasonCode`] of every failure;
//! - [`atomic`]: temp file + durable rename, so no half-written file ever
//!   carries a final name;
//! - [`wav`], [`npy`]: the chunk WAV and feature file encoders.
//!
//! Nothing here decides what to write; jobs and the engine do.

pub mod atomic;
pub mod npy;
pub mod quarantine;
pub mod reason;
pub mod report;
pub mod row;
pub mod wav;

pub use reason::ReasonCode;
pub use row::{Row, Written};
