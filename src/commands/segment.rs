//! `callprep segment`: decode → split → VAD → chunk; chunk WAVs and the
//! manifest, no features.

use anyhow::Result;

use crate::config::Config;
use crate::engine::Outcome;

/// Runs `segment`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    super::segment_job(cfg, None, true)
}
