//! `pack`'s work: plan the shards, stream each one into DEST (tar →
//! SHA-256 → age → SHA-256 → a temp file or a multipart upload), and keep
//! `index.json` current after every shard so that `--resume` can keep what
//! is already there.
//!
//! In: a [`PackConfig`]. Out: the shards and index in DEST, and a
//! [`PackSummary`]. A row that cannot be packed is named on stderr and left
//! out (the summary counts it; the command then exits 1); a DEST that
//! cannot be written stops the pack with an [`EnvError`] (exit 3) after the
//! shards already written, which `--resume` keeps.

use std::io;

use anyhow::{Context, Result};

use super::crypt::{self, Recipient};
use super::index::{self, Encryption, Index, ShardEntry, INDEX_NAME};
use super::plan::{self, Sample};
use super::shard::{self, HashReader, HashWriter};
use super::PackConfig;
use crate::config::UsageError;
use crate::engine::EnvError;
use crate::storage::location::Location;

/// What a pack did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    /// Samples packed.
    pub samples: u64,
    /// Shards in DEST.
    pub shards: usize,
    /// Shards kept from an earlier run (`--resume`).
    pub kept: usize,
    /// Manifest rows left out.
    pub bad_rows: usize,
    /// Bytes stored (all shards).
    pub stored_bytes: u64,
}

/// Runs `pack`; progress lines on stderr unless `quiet`.
pub fn run(cfg: &PackConfig, quiet: bool) -> Result<PackSummary> {
    let plan = plan::read(&cfg.manifest, cfg.with_audio).map_err(|e| {
        UsageError(format!(
            "cannot read the manifest {}: {e}",
            cfg.manifest.display()
        ))
    })?;
    for b in &plan.bad {
        eprintln!("callprep: {}: not packed: {}", b.place, b.message);
    }
    if plan.samples.is_empty() {
        return Err(UsageError(format!(
            "nothing to pack: {} has no row that can be packed",
            cfg.manifest.display()
        ))
        .into());
    }
    let recipients = cfg
        .recipients
        .iter()
        .map(|r| crypt::parse_recipient(r))
        .collect::<Result<Vec<Recipient>, String>>()
        .map_err(UsageError)?;
    let encrypted = !recipients.is_empty();
    let parameters = report_parameters(&cfg.manifest);
    let dest = Location::parse(&cfg.dest).map_err(|e| UsageError(e.to_string()))?;
    let ranges = plan::cut(&plan.samples, cfg.shard_size);
    let mut members = vec!["json".to_string(), "npy".to_string()];
    if cfg.with_audio {
        members.push("wav".into());
    }
    let mut idx = Index {
        format: index::FORMAT.into(),
        version: index::VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        complete: false,
        samples: plan.samples.len() as u64,
        members,
        shard_size: cfg.shard_size,
        encryption: encrypted.then(|| Encryption {
            scheme: "age".into(),
            recipients: recipients.iter().map(|r| r.text.clone()).collect(),
        }),
        parameters,
        shards: Vec::with_capacity(ranges.len()),
    };
    let prior = if cfg.resume {
        prior_index(&dest, &idx)?
    } else {
        None
    };
    let mut kept = 0;
    for (n, range) in ranges.iter().enumerate() {
        let samples = &plan.samples[range.clone()];
        let name = index::shard_name(n, encrypted);
        let old = prior
            .as_ref()
            .and_then(|p| p.shards.get(n))
            .filter(|e| e.name == name);
        if let Some(old) = old {
            if still_good(&dest, old, samples)? {
                idx.shards.push(old.clone());
                kept += 1;
                if !quiet {
                    eprintln!("callprep: {name}: kept (SHA-256 checked)");
                }
                continue;
            }
        }
        let entry = write_shard(&dest, &name, samples, &recipients)
            .map_err(|e| EnvError(format!("writing {}: {e}", dest.describe(&name))))?;
        if !quiet {
            eprintln!(
                "callprep: {name}: {} samples, {} bytes",
                entry.samples, entry.stored_bytes
            );
        }
        idx.shards.push(entry);
        write_index(&dest, &idx)?;
        #[cfg(feature = "fault-injection")]
        fault_injection::pause_after_shard();
    }
    idx.complete = true;
    write_index(&dest, &idx)?;
    Ok(PackSummary {
        samples: idx.samples,
        shards: idx.shards.len(),
        kept,
        bad_rows: plan.bad.len(),
        stored_bytes: idx.shards.iter().map(|s| s.stored_bytes).sum(),
    })
}

/// The `parameters` of the `report.json` beside the manifest, or null.
fn report_parameters(manifest: &std::path::Path) -> serde_json::Value {
    let report = manifest
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("report.json");
    std::fs::read(report)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("parameters").cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// An earlier run's index, when it describes the same pack (same members,
/// shard size, recipients and parameters); otherwise nothing is kept.
fn prior_index(dest: &Location, now: &Index) -> Result<Option<Index>> {
    let Some(bytes) = dest
        .read_small(INDEX_NAME)
        .map_err(|e| EnvError(format!("reading {}: {e}", dest.describe(INDEX_NAME))))?
    else {
        return Ok(None);
    };
    let Ok(old) = Index::parse(&bytes, &dest.describe(INDEX_NAME)) else {
        return Ok(None);
    };
    let same = old.members == now.members
        && old.shard_size == now.shard_size
        && old.encryption == now.encryption
        && old.parameters == now.parameters;
    Ok(same.then_some(old))
}

/// Whether the shard `old` in DEST holds exactly `samples`: the plain tar
/// they make has `old`'s SHA-256, and the stored object has its stored
/// SHA-256 (read back whole: a shard cut short or changed is written again).
fn still_good(dest: &Location, old: &ShardEntry, samples: &[Sample]) -> Result<bool> {
    let plain = shard::write_tar(samples, HashWriter::new(io::sink()))
        .with_context(|| format!("reading the files of {}", old.name))?;
    let (_, tar_sha, tar_bytes) = plain
        .finish()
        .with_context(|| format!("hashing {}", old.name))?;
    if tar_sha != old.tar_sha256 || tar_bytes != old.tar_bytes {
        return Ok(false);
    }
    let place = dest.describe(&old.name);
    let Some(r) = dest
        .open(&old.name)
        .map_err(|e| EnvError(format!("reading {place}: {e}")))?
    else {
        return Ok(false);
    };
    let (sha, bytes) = HashReader::new(r)
        .finish()
        .map_err(|e| EnvError(format!("reading {place}: {e}")))?;
    Ok(sha == old.stored_sha256 && bytes == old.stored_bytes)
}

/// Streams one shard into DEST under `name`.
fn write_shard(
    dest: &Location,
    name: &str,
    samples: &[Sample],
    recipients: &[Recipient],
) -> io::Result<ShardEntry> {
    let mut sums = None;
    dest.write_with(name, |w| {
        // Each HashWriter buffers 1 MiB blocks and hashes them on its own
        // thread, so SHA-256 overlaps the tar, age and the writes.
        let stored = HashWriter::new(w);
        let ((_, stored_sha, stored_bytes), tar_sha, tar_bytes) = if recipients.is_empty() {
            // A plain shard is stored as it is: one hash serves both.
            let (w, sha, n) = shard::write_tar(samples, stored)?.finish()?;
            ((w, sha.clone(), n), sha, n)
        } else {
            let enc = crypt::encrypt(recipients, stored)?;
            let (enc, sha, n) = shard::write_tar(samples, HashWriter::new(enc))?.finish()?;
            (enc.finish()?.finish()?, sha, n)
        };
        sums = Some((tar_sha, tar_bytes, stored_sha, stored_bytes));
        Ok(())
    })?;
    let (tar_sha256, tar_bytes, stored_sha256, stored_bytes) =
        sums.expect("write_with ran the closure to its end");
    Ok(ShardEntry {
        name: name.to_string(),
        samples: samples.len() as u64,
        tar_bytes,
        tar_sha256,
        stored_bytes,
        stored_sha256,
    })
}

fn write_index(dest: &Location, idx: &Index) -> Result<()> {
    dest.write_small(INDEX_NAME, idx.to_bytes())
        .map_err(|e| EnvError(format!("writing {}: {e}", dest.describe(INDEX_NAME))).into())
}

/// Test hook (`--features fault-injection`): `CALLPREP_TEST_PACK_PAUSE_MS`
/// makes `pack` wait after each shard, so a test can stop the store between
/// two uploads.
#[cfg(feature = "fault-injection")]
mod fault_injection {
    pub fn pause_after_shard() {
        if let Some(ms) = std::env::var("CALLPREP_TEST_PACK_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
}
