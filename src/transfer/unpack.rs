//! `unpack`'s work: stream every shard of a pack out of DEST, decrypt it
//! (with `--identity`), check both SHA-256 of the index, and only then give
//! its files their names.
//!
//! In: an [`UnpackConfig`]. Out: under OUT, each sample's `.npy` (and
//! `.wav`) at the path its row names (when that path is relative and stays
//! inside OUT; otherwise `samples/KEY.npy`), and `manifest.jsonl` with the
//! rows byte for byte as they were packed, in shard order (sorted by id).
//! A shard's files are staged under temporary names while it streams; a
//! shard that is missing, cut short or has another hash leaves nothing and
//! is reported ([`UnpackSummary::failed`]).

use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::Result;

use super::crypt::{self, Identities};
use super::index::ShardEntry;
use super::plan::key_of;
use super::shard::HashReader;
use super::verify::read_index;
use super::UnpackConfig;
use crate::config::UsageError;
use crate::engine::EnvError;
use crate::output::Row;
use crate::storage::location::Location;
use crate::storage::{Staged, Storage};

/// What an unpack did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackSummary {
    /// Samples written.
    pub samples: u64,
    /// Shards that could not be unpacked: name and why.
    pub failed: Vec<(String, String)>,
}

/// Runs `unpack`; a line per shard on stderr unless `quiet`.
pub fn run(cfg: &UnpackConfig, quiet: bool) -> Result<UnpackSummary> {
    let dest = Location::parse(&cfg.dest).map_err(|e| UsageError(e.to_string()))?;
    let idx = read_index(&dest)?;
    if !idx.complete {
        return Err(UsageError(format!(
            "{} says the pack is not complete; finish it with `callprep pack … --resume` first",
            dest.describe(super::index::INDEX_NAME)
        ))
        .into());
    }
    let ids = match (&idx.encryption, &cfg.identity) {
        (Some(_), Some(p)) => Some(crypt::read_identities(p).map_err(UsageError)?),
        (Some(e), None) => {
            return Err(UsageError(format!(
                "the pack is encrypted (age, to {}); give the key with --identity KEYFILE",
                e.recipients.join(", ")
            ))
            .into())
        }
        (None, _) => None,
    };
    std::fs::create_dir_all(&cfg.out_dir)
        .map_err(|e| EnvError(format!("cannot create {}: {e}", cfg.out_dir.display())))?;
    let mut rows: Vec<u8> = Vec::new();
    let mut summary = UnpackSummary {
        samples: 0,
        failed: Vec::new(),
    };
    for s in &idx.shards {
        match unpack_shard(&dest, s, ids.as_ref(), &cfg.out_dir) {
            Ok(shard_rows) => {
                summary.samples += shard_rows.len() as u64;
                for r in shard_rows {
                    rows.extend_from_slice(&r);
                    rows.push(b'\n');
                }
                if !quiet {
                    eprintln!(
                        "callprep: {}: {} samples, SHA-256 checked",
                        s.name, s.samples
                    );
                }
            }
            Err(ShardError::Env(e)) => {
                return Err(EnvError(format!("reading {}: {e}", dest.describe(&s.name))).into())
            }
            Err(ShardError::Bad(why)) => {
                eprintln!("callprep: {}: not unpacked: {why}", dest.describe(&s.name));
                summary.failed.push((s.name.clone(), why));
            }
        }
    }
    Storage::Local
        .write_atomic(&cfg.out_dir.join("manifest.jsonl"), |w| {
            io::Write::write_all(w, &rows)
        })
        .map_err(|e| {
            EnvError(format!(
                "writing {}: {e}",
                cfg.out_dir.join("manifest.jsonl").display()
            ))
        })?;
    Ok(summary)
}

/// Why a shard was not unpacked: the store or disk failed (stops the
/// command), or the shard itself is wrong (the others go on).
enum ShardError {
    Env(io::Error),
    Bad(String),
}

fn bad(e: impl std::fmt::Display) -> ShardError {
    ShardError::Bad(e.to_string())
}

fn unpack_shard(
    dest: &Location,
    s: &ShardEntry,
    ids: Option<&Identities>,
    out: &Path,
) -> Result<Vec<Vec<u8>>, ShardError> {
    let r = dest
        .open(&s.name)
        .map_err(ShardError::Env)?
        .ok_or_else(|| bad("missing"))?;
    let mut stored = HashReader::new(r);
    let mut staged: Vec<Staged> = Vec::new();
    let result = read_tar(&mut stored, s, ids, out, &mut staged);
    let result = result.and_then(|rows| {
        let (sha, bytes) = stored.finish().map_err(bad)?;
        if (sha.as_str(), bytes) != (s.stored_sha256.as_str(), s.stored_bytes) {
            return Err(bad(format!(
                "SHA-256 {sha} ({bytes} bytes), the index says {} ({} bytes)",
                s.stored_sha256, s.stored_bytes
            )));
        }
        Ok(rows)
    });
    match result {
        Ok(rows) => {
            let refs: Vec<&Staged> = staged.iter().collect();
            Storage::Local
                .sync(out, &refs)
                .and_then(|()| Storage::Local.commit(&staged, true))
                .map_err(ShardError::Env)?;
            Ok(rows)
        }
        Err(e) => {
            Storage::Local.discard(staged);
            Err(e)
        }
    }
}

/// Decrypts (with `ids`) and extracts the shard read through `stored`;
/// checks the plain tar's SHA-256 against the index.
fn read_tar<R: Read>(
    stored: &mut HashReader<R>,
    s: &ShardEntry,
    ids: Option<&Identities>,
    out: &Path,
    staged: &mut Vec<Staged>,
) -> Result<Vec<Vec<u8>>, ShardError> {
    let inner: Box<dyn Read + '_> = match ids {
        Some(ids) => Box::new(crypt::decrypt(ids, stored).map_err(bad)?),
        None => Box::new(stored),
    };
    let mut plain = HashReader::new(inner);
    let rows = extract(&mut plain, out, staged)?;
    let (tar_sha, tar_bytes) = plain.finish().map_err(bad)?;
    if (tar_sha.as_str(), tar_bytes) != (s.tar_sha256.as_str(), s.tar_bytes) {
        return Err(bad(format!(
            "the tar has SHA-256 {tar_sha} ({tar_bytes} bytes), the index says {} ({} bytes)",
            s.tar_sha256, s.tar_bytes
        )));
    }
    Ok(rows)
}

/// The largest `KEY.json` member unpack reads (a row is < 1 KiB).
const MAX_ROW_BYTES: u64 = 1 << 20;

/// Streams the tar's members to staged files; returns the rows. Member
/// names must be `KEY.json`/`KEY.npy`/`KEY.wav` with `KEY` the row's
/// [`key_of`] (so no name can leave OUT); a row's paths are used only when
/// [`inside`] OUT.
fn extract<R: Read>(
    tar: R,
    out: &Path,
    staged: &mut Vec<Staged>,
) -> Result<Vec<Vec<u8>>, ShardError> {
    let mut ar = tar::Archive::new(tar);
    let mut rows = Vec::new();
    let mut current: Option<(String, Row)> = None;
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let (key, ext) = name
            .split_once('.')
            .ok_or_else(|| bad(format!("member {name:?} has no extension")))?;
        let key = key.to_string();
        if ext == "json" {
            // A row is a few hundred bytes; a forged header must not make
            // unpack hold a whole shard in memory.
            if entry.size() > MAX_ROW_BYTES {
                return Err(bad(format!(
                    "member {name} is {} bytes, more than a manifest row can be ({MAX_ROW_BYTES})",
                    entry.size()
                )));
            }
            let mut b = Vec::new();
            entry.read_to_end(&mut b).map_err(bad)?;
            let row: Row = serde_json::from_slice(&b)
                .map_err(|e| bad(format!("member {name}: not a manifest row: {e}")))?;
            if key_of(&row.id) != key {
                return Err(bad(format!(
                    "member {name} holds the row of id {:?}",
                    row.id
                )));
            }
            rows.push(b);
            current = Some((key, row));
            continue;
        }
        let row = match &current {
            Some((k, row)) if *k == key => row,
            _ => return Err(bad(format!("member {name} comes before its {key}.json"))),
        };
        let rel = match ext {
            "npy" => row.mel_filepath.as_deref(),
            "wav" => Some(row.audio_filepath.as_str()),
            _ => return Err(bad(format!("member {name}: unknown kind {ext:?}"))),
        };
        let target = rel
            .and_then(inside)
            .unwrap_or_else(|| Path::new("samples").join(&name));
        let s = Storage::Local
            .stage(&out.join(target), |w| io::copy(&mut entry, w).map(|_| ()))
            .map_err(ShardError::Env)?;
        staged.push(s);
    }
    Ok(rows)
}

/// `rel` when it is a relative path that stays inside OUT.
fn inside(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, mel: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"{id}","audio_filepath":"a/{id}.wav","offset":0.0,"duration":2.0,"text":"","source":"c.wav","channel":0,"role":"agent","start":0.0,"end":2.0,"sample_rate":8000,"mel_filepath":"{mel}"}}"#
        )
        .into_bytes()
    }

    /// A tar of `(name, bytes)` members, as pack writes them.
    fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // set_path refuses `..`; write the raw name as a forger would.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Extracts and commits; the files under `root` afterwards (relative).
    fn unpacked(tar: &[u8], root: &Path) -> Result<Vec<String>, String> {
        let out = root.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let mut staged = Vec::new();
        match extract(tar, &out, &mut staged) {
            Ok(_) => Storage::Local.commit(&staged, true).unwrap(),
            Err(ShardError::Bad(why)) => {
                Storage::Local.discard(staged);
                return Err(why);
            }
            Err(ShardError::Env(e)) => panic!("{e}"),
        }
        let mut files = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        files.sort();
        Ok(files)
    }

    #[test]
    fn a_well_formed_sample_lands_at_its_rows_path() {
        let d = tempfile::tempdir().unwrap();
        let r = row("c_0_1", "mel/c_0_1.npy");
        let t = tar_of(&[("c_0_1.json", &r), ("c_0_1.npy", b"NPY")]);
        assert_eq!(unpacked(&t, d.path()).unwrap(), ["out/mel/c_0_1.npy"]);
        assert_eq!(
            std::fs::read(d.path().join("out/mel/c_0_1.npy")).unwrap(),
            b"NPY"
        );
    }

    #[test]
    fn row_paths_that_leave_out_fall_back_to_samples() {
        for mel in [
            "../../escaped.npy",
            "/tmp/escaped.npy",
            "mel/../../escaped.npy",
        ] {
            let d = tempfile::tempdir().unwrap();
            let r = row("k", mel);
            let t = tar_of(&[("k.json", &r), ("k.npy", b"NPY")]);
            assert_eq!(
                unpacked(&t, d.path()).unwrap(),
                ["out/samples/k.npy"],
                "{mel}"
            );
        }
    }

    #[test]
    fn member_names_that_are_not_the_rows_key_are_refused_and_nothing_is_left() {
        let r = row("k", "mel/k.npy");
        for evil in [
            "../k.npy",
            "../../k.npy",
            "/k.npy",
            "x/k.npy",
            "j.npy",
            "k.sh",
        ] {
            let d = tempfile::tempdir().unwrap();
            let t = tar_of(&[("k.json", &r), ("k.npy", b"NPY"), (evil, b"EVIL")]);
            let why = unpacked(&t, d.path()).unwrap_err();
            assert!(why.contains(evil), "{evil}: {why}");
            // The good member staged before it is discarded too.
            let left: Vec<_> = std::fs::read_dir(d.path().join("out/mel"))
                .map(|r| r.map(|e| e.unwrap().file_name()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "{evil}: {left:?}");
            assert!(
                !d.path().join("k.npy").exists()
                    && !d.path().parent().unwrap().join("k.npy").exists()
            );
        }
    }

    #[test]
    fn a_row_member_too_big_to_be_a_row_is_refused_before_it_is_read() {
        let d = tempfile::tempdir().unwrap();
        let big = vec![b' '; (MAX_ROW_BYTES + 1) as usize];
        let t = tar_of(&[("k.json", &big)]);
        let why = unpacked(&t, d.path()).unwrap_err();
        assert!(why.contains("more than a manifest row can be"), "{why}");
    }
}
