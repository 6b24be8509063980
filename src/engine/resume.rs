//! Completion records: what makes `--resume` safe.
//!
//! Every finished input leaves `OUT/.callprep/done/<hash>-<name>.json`: its
//! manifest rows, the files it wrote and their sizes, its statistics and the
//! parameters' hash. The record is renamed into place after every file it
//! lists, so a record proves its files are complete. `--resume` trusts a
//! record only when the parameters match and every file exists with the
//! recorded size; the manifest and report are assembled from the records.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Done;
use crate::input::fnv1a;
use crate::output::Written;

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

/// What earlier runs wrote into an output folder, read from their records
/// when the folder is opened (before this run changes any).
#[derive(Debug, Default)]
pub struct Earlier {
    /// Record files.
    records: Vec<PathBuf>,
    /// Output files the records list, relative to OUT.
    files: BTreeSet<String>,
}

/// The records and files of this run's completed items.
#[derive(Debug, Default)]
pub struct Current {
    records: BTreeSet<PathBuf>,
    files: BTreeSet<String>,
}

impl Current {
    /// Adds one item's record and the files it lists.
    pub fn add(&mut self, record: PathBuf, written: &[Written]) {
        self.records.insert(record);
        self.files.extend(written.iter().map(|w| w.path.clone()));
    }
}

impl Earlier {
    /// Reads every record under `state` (`state/done/*.json`); unreadable
    /// ones are ignored (they prove nothing, and name nothing to remove).
    pub fn read(state: &Path) -> Earlier {
        let mut e = Earlier::default();
        let Ok(dir) = fs::read_dir(state.join("done")) else {
            return e;
        };
        for entry in dir.flatten() {
            let p = entry.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            // Only the written list: the rows are not parsed.
            #[derive(Deserialize)]
            struct Files {
                written: Vec<Written>,
            }
            #[derive(Deserialize)]
            struct Listed {
                done: Files,
            }
            let listed = fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Listed>(&b).ok());
            if let Some(l) = listed {
                e.files.extend(l.done.written.into_iter().map(|w| w.path));
            }
            e.records.push(p);
        }
        e
    }

    /// Removes what earlier runs wrote under `out` and this run did not:
    /// files their records list (regular files only, never one of
    /// `inputs`, never a path that leaves `out`) and the records of items
    /// this run did not complete. Returns how many output files it removed.
    pub fn remove_stale(&self, out: &Path, current: &Current, inputs: &[&Path]) -> usize {
        let canon = |p: &Path| fs::canonicalize(p).ok();
        let inputs: BTreeSet<PathBuf> = inputs.iter().filter_map(|p| canon(p)).collect();
        let mut removed = 0;
        for rel in self.files.difference(&current.files) {
            let rel_path = Path::new(rel);
            let inside = rel_path
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                continue;
            }
            let p = out.join(rel_path);
            let is_file = fs::symlink_metadata(&p).is_ok_and(|m| m.is_file());
            if !is_file || canon(&p).is_some_and(|c| inputs.contains(&c)) {
                continue;
            }
            if fs::remove_file(&p).is_ok() {
                removed += 1;
            }
        }
        for r in &self.records {
            if !current.records.contains(r) {
                let _ = fs::remove_file(r);
            }
        }
        removed
    }
}
