//! callprep: call-center recordings → ASR training data.
//!
//! Layout: [`stages`] holds the pipeline (decode → split → resample → VAD →
//! chunk → mel) as pure functions over buffers; [`cli`] and [`config`] turn
//! arguments into a validated [`config::Config`]; [`input`], [`worker`],
//! [`sink`] and [`app`] are the edges: discovery, per-file streaming and
//! threads, atomic output, and the run with its manifest and report.

pub mod app;
pub mod cli;
pub mod config;
pub mod input;
pub mod pipeline;
pub mod sink;
pub mod stages;
pub mod worker;
