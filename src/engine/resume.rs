//! Completion records: what makes `--resume` safe.
//!
//! Every finished input leaves `OUT/.callprep/done/<hash>-<name>.json`: its
//! manifest rows, the files it wrote and their sizes, its statistics and the
//! parameters' hash. The record is renamed into place after every file it
//! lists, so a record proves its files are complete. `--resume` trusts a
//! record only when the parameters match and every file exists with the
//! recorded size; the manifest and report are assembled from the records.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Done;
use crate::input::fnv1a;

/// The completion record of one input.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    /// The input's id.
    pub id_base: String,
    /// The hash of the run's parameters.
    pub params: String,
    /// Its rows, files and statistics.
    pub done: Done,
}

/// Where the record of input `id` lives under the state folder.
pub fn record_path(state: &Path, id: &str) -> PathBuf {
    let tail: String = id
        .rsplit('/')
        .next()
        .unwrap_or(id)
        .chars()
        .take(60)
        .collect();
    state
        .join("done")
        .join(format!("{:08x}-{tail}.json", fnv1a(id.as_bytes())))
}

/// The record at `path`, if it exists and parses.
pub fn read_record(path: &Path) -> Option<Record> {
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A record that proves the input's outputs are complete, or `None`.
pub fn valid_record(path: &Path, id: &str, params: &str, out: &Path) -> Option<Done> {
    let rec = read_record(path)?;
    if rec.id_base != id || rec.params != params {
        return None;
    }
    let complete = rec.done.written.iter().all(|w| {
        fs::symlink_metadata(out.join(&w.path)).is_ok_and(|m| m.is_file() && m.len() == w.bytes)
    });
    complete.then_some(rec.done)
}
