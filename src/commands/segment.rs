//! `callprep segment`: decode → split → VAD → chunk; chunk WAVs and the
//! manifest, no features.

use anyhow::Result;

use crate::config::Config;
use crate::engine::{self, Outcome, OutputDir};
use crate::jobs::segment::SegmentJob;

/// Runs `segment`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let seg = cfg.segment.as_ref().expect("segment has segment settings");
    let found = super::inputs(cfg, false)?;
    let out = OutputDir::open(&cfg.out_dir)?;
    let job = SegmentJob {
        seg,
        mel: None,
        write_wav: true,
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
