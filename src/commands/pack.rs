//! `callprep pack`: a dataset → WebDataset shards (+ `index.json`) in a
//! folder or `s3://bucket/prefix`; the work is [`crate::transfer::pack`].

use anyhow::Result;

use crate::config::Config;
use crate::engine::Outcome;
use crate::transfer::{pack, TransferConfig};

/// Runs `pack`: exit 0, or 1 when manifest rows were left out.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let Some(TransferConfig::Pack(p)) = &cfg.transfer else {
        unreachable!("pack has pack settings");
    };
    let s = pack::run(p, cfg.quiet)?;
    if !cfg.quiet {
        eprintln!(
            "callprep: packed {} samples into {} shards ({} kept from an earlier run), {} bytes, in {}",
            s.samples, s.shards, s.kept, s.stored_bytes, p.dest
        );
    }
    if s.bad_rows > 0 {
        eprintln!(
            "callprep: {} manifest rows were not packed (named above)",
            s.bad_rows
        );
        return Ok(Outcome::SomeFailed);
    }
    Ok(Outcome::Ok)
}
