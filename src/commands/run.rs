//! `callprep run`: the whole job in one pass: `segment` and `mel` without
//! the round trip through disk (chunk WAVs unless `--no-wav`, `.npy`,
//! manifest).

use anyhow::Result;

use crate::config::Config;
use crate::engine::{self, Outcome, OutputDir};
use crate::jobs::segment::SegmentJob;
use crate::stages::mel::MelExtractor;

/// Runs `run`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let seg = cfg.segment.as_ref().expect("run has segment settings");
    let mel = MelExtractor::with_isa(cfg.mel.as_ref().expect("run has mel settings"), cfg.isa);
    let found = super::inputs(cfg, false)?;
    let out = OutputDir::open(&cfg.out_dir)?;
    let job = SegmentJob {
        seg,
        mel: Some(&mel),
        write_wav: cfg.write_wav,
        strict: cfg.strict,
        isa: cfg.isa,
        absolute_paths: cfg.absolute_paths,
    };
    let settings = super::settings(cfg);
    engine::run(
        &out,
        &settings,
        cfg.parameters(),
        &job,
        &found.inputs,
        &found.rejected,
    )
}
