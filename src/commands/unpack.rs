//! `callprep unpack`: a pack (folder or `s3://`) → `manifest.jsonl` and the
//! samples' files; the work is [`crate::transfer::unpack`].

use anyhow::Result;

use crate::config::Config;
use crate::engine::Outcome;
use crate::transfer::{unpack, TransferConfig};

/// Runs `unpack`: exit 1 when a shard could not be unpacked (named on stderr).
pub fn run(cfg: &Config) -> Result<Outcome> {
    let Some(TransferConfig::Unpack(u)) = &cfg.transfer else {
        unreachable!("unpack has unpack settings");
    };
    let s = unpack::run(u, cfg.quiet)?;
    if !cfg.quiet {
        eprintln!(
            "callprep: unpacked {} samples into {}",
            s.samples,
            u.out_dir.display()
        );
    }
    if s.failed.is_empty() {
        Ok(Outcome::Ok)
    } else {
        eprintln!("callprep: {} shards could not be unpacked", s.failed.len());
        Ok(Outcome::SomeFailed)
    }
}
