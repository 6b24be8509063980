//! `callprep mel`: features for existing chunks (chunk WAVs, folders of
//! them, or a manifest), and `--print-config`.

use anyhow::Result;

use crate::config::Config;
use crate::engine::{self, Outcome, OutputDir};
use crate::jobs::mel::{mel_items, MelJob};
use crate::stages::mel::MelExtractor;

/// Runs `mel`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let mel_cfg = cfg.mel.as_ref().expect("mel has mel settings");
    if cfg.print_config {
        println!("{}", serde_json::to_string_pretty(mel_cfg)?);
        return Ok(Outcome::Ok);
    }
    let mel = MelExtractor::with_isa(mel_cfg, cfg.isa);
    let found = super::inputs(cfg, true)?;
    let items = mel_items(&found)?;
    // A manifest's rows are sharded by the call they come from (their
    // `source`), so one call's chunks stay in one shard.
    let (items, rejected, settings) = super::sharded(cfg, items, found.rejected, |i| {
        i.rows.first().map_or(i.id.as_str(), |r| r.source.as_str())
    });
    let out = OutputDir::open(&cfg.out_dir)?;
    let job = MelJob {
        mel: &mel,
        strict: cfg.strict,
        absolute_paths: cfg.absolute_paths,
    };
    engine::run(&out, &settings, cfg.parameters(), &job, &items, &rejected)
}
