//! `callprep run`: the whole job in one pass: `segment` and `mel` without
//! the round trip through disk (chunk WAVs unless `--no-wav`, `.npy`,
//! manifest).

use anyhow::Result;

use crate::config::Config;
use crate::engine::Outcome;
use crate::stages::mel::MelExtractor;

/// Runs `run`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let mel = MelExtractor::with_isa(cfg.mel.as_ref().expect("run has mel settings"), cfg.isa);
    super::segment_job(cfg, Some(&mel), cfg.write_wav)
}
