//! `callprep verify`: check a pack's shards against its `index.json`; the
//! work is [`crate::transfer::verify`].

use anyhow::Result;

use crate::config::Config;
use crate::engine::Outcome;
use crate::transfer::{verify, TransferConfig};

/// Runs `verify`: one line per shard on stdout (`ok NAME` or `BAD NAME:
/// why`; with `--quiet` only the bad ones); exit 1 when any is wrong, or the
/// pack is incomplete.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let Some(TransferConfig::Verify(v)) = &cfg.transfer else {
        unreachable!("verify has verify settings");
    };
    let (idx, checks) = verify::run(v)?;
    let mut bad = 0;
    for c in &checks {
        match &c.problem {
            None if !cfg.quiet => println!("ok  {}", c.name),
            None => {}
            Some(p) => {
                bad += 1;
                println!("BAD {}: {p}", c.name);
            }
        }
    }
    if !idx.complete {
        eprintln!(
            "callprep: {}: the index says the pack is not complete; finish it with `callprep pack … --resume`",
            v.dest
        );
        return Ok(Outcome::SomeFailed);
    }
    if bad > 0 {
        eprintln!(
            "callprep: {bad} of {} shards in {} do not match index.json",
            checks.len(),
            v.dest
        );
        return Ok(Outcome::SomeFailed);
    }
    if !cfg.quiet {
        eprintln!(
            "callprep: {} shards, {} samples: all match index.json",
            checks.len(),
            idx.samples
        );
    }
    Ok(Outcome::Ok)
}
