//! `verify`'s work: read `index.json` in DEST and check every shard's
//! stored size and SHA-256 against it, streaming each object once. Needs no
//! key (the stored hash is of what is stored, ciphertext or not).
//!
//! In: a [`VerifyConfig`]. Out: one [`ShardCheck`] per shard, in order.

use anyhow::Result;

use super::index::{Index, INDEX_NAME};
use super::shard::HashReader;
use super::VerifyConfig;
use crate::config::UsageError;
use crate::engine::EnvError;
use crate::storage::location::Location;

/// The verdict on one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCheck {
    /// Its name in DEST.
    pub name: String,
    /// `None`: as the index says; otherwise what is wrong.
    pub problem: Option<String>,
}

/// Reads and parses DEST's index: a usage error when there is none or it
/// is not one; an environment error when DEST cannot be read.
pub fn read_index(dest: &Location) -> Result<Index> {
    let place = dest.describe(INDEX_NAME);
    let bytes = dest
        .read_small(INDEX_NAME)
        .map_err(|e| EnvError(format!("reading {place}: {e}")))?
        .ok_or_else(|| UsageError(format!("{place} does not exist: not a callprep pack")))?;
    Ok(Index::parse(&bytes, &place).map_err(UsageError)?)
}

/// Checks every shard of the pack at `cfg.dest`.
pub fn run(cfg: &VerifyConfig) -> Result<(Index, Vec<ShardCheck>)> {
    let dest = Location::parse(&cfg.dest).map_err(|e| UsageError(e.to_string()))?;
    let idx = read_index(&dest)?;
    let mut out = Vec::with_capacity(idx.shards.len());
    for s in &idx.shards {
        let place = dest.describe(&s.name);
        let problem = match dest
            .open(&s.name)
            .map_err(|e| EnvError(format!("reading {place}: {e}")))?
        {
            None => Some("missing".to_string()),
            Some(r) => {
                let (sha, bytes) = HashReader::new(r)
                    .finish()
                    .map_err(|e| EnvError(format!("reading {place}: {e}")))?;
                if bytes != s.stored_bytes {
                    Some(format!("{bytes} bytes, the index says {}", s.stored_bytes))
                } else if sha != s.stored_sha256 {
                    Some(format!("SHA-256 {sha}, the index says {}", s.stored_sha256))
                } else {
                    None
                }
            }
        };
        out.push(ShardCheck {
            name: s.name.clone(),
            problem,
        });
    }
    Ok((idx, out))
}
