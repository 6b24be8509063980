//! `report.json`, typed: the parameters used, the tool version, totals, and
//! every input's status, reason code and statistics.
//!
//! In: the per-input outcomes of a run. Out: [`Report`], written with its
//! keys sorted at every level (it goes through `serde_json::Value`, whose
//! maps are ordered), so the file's bytes do not depend on field order here.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use super::ReasonCode;

/// Count and speech seconds of dropped speech.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DropStat {
    /// Regions dropped.
    pub count: u64,
    /// Their speech, seconds.
    pub speech_s: f64,
}

/// What one input produced (everything but its rows).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileStats {
    /// Sample encoding (`pcm16`, `ulaw`, …).
    pub format: String,
    /// Channels in the file.
    pub channels: usize,
    /// Rate of the file, Hz.
    pub sample_rate: u32,
    /// Audio length, seconds.
    pub duration_s: f64,
    /// The file was shorter than its header said.
    pub truncated: bool,
    /// Chunks written.
    pub chunks: usize,
    /// Seconds of audio in chunks.
    pub chunk_s: f64,
    /// Dropped speech by reason.
    pub dropped: BTreeMap<String, DropStat>,
    /// Splits without a pause.
    pub forced_cuts: usize,
}

/// Adds the drops of `from` to `into`, reason by reason.
fn merge_dropped(into: &mut BTreeMap<String, DropStat>, from: &BTreeMap<String, DropStat>) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_default();
        e.count += v.count;
        e.speech_s += v.speech_s;
    }
}

impl FileStats {
    /// Adds `other`'s drops to this input's.
    pub fn add_dropped(&mut self, other: &BTreeMap<String, DropStat>) {
        merge_dropped(&mut self.dropped, other);
    }
}

/// An input's status in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Done (possibly with no chunk: reason `no_speech`).
    Ok,
    /// Failed; `reason` and `error` say why.
    Failed,
}

/// The report's entry for one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The input as given.
    pub source: String,
    /// Its id (empty for a path that could not be an input).
    pub id: String,
    /// Done or failed.
    pub status: Status,
    /// Why it failed (or `no_speech`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<ReasonCode>,
    /// What went wrong, for a person.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// What a done input produced.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub stats: Option<FileStats>,
}

/// Sums over every input of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Inputs done.
    pub files_ok: u64,
    /// Inputs failed (including paths that could not be inputs).
    pub files_failed: u64,
    /// Done inputs that were truncated.
    pub files_truncated: u64,
    /// Seconds of audio in.
    pub audio_s: f64,
    /// Seconds of chunks out.
    pub chunk_s: f64,
    /// Chunks out.
    pub chunks: u64,
    /// Splits without a pause.
    pub forced_cuts: u64,
    /// Dropped speech by reason.
    pub dropped: BTreeMap<String, DropStat>,
    /// Seconds of chunks out per channel role (for the summary).
    pub speech_s_by_role: BTreeMap<String, f64>,
}

impl Totals {
    /// Counts one done input.
    pub fn add(&mut self, s: &FileStats) {
        self.files_ok += 1;
        self.audio_s += s.duration_s;
        self.chunk_s += s.chunk_s;
        self.chunks += s.chunks as u64;
        self.files_truncated += u64::from(s.truncated);
        self.forced_cuts += s.forced_cuts as u64;
        merge_dropped(&mut self.dropped, &s.dropped);
    }

    /// The totals as the report writes them (hours, not seconds).
    pub fn report(&self) -> ReportTotals {
        ReportTotals {
            files: self.files_ok + self.files_failed,
            files_ok: self.files_ok,
            files_failed: self.files_failed,
            files_truncated: self.files_truncated,
            audio_hours_in: self.audio_s / 3600.0,
            speech_hours_out: self.chunk_s / 3600.0,
            chunks: self.chunks,
            forced_cuts: self.forced_cuts,
            dropped: self.dropped.clone(),
        }
    }
}

/// `totals` in `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportTotals {
    /// Inputs in all.
    pub files: u64,
    /// Inputs done.
    pub files_ok: u64,
    /// Inputs failed.
    pub files_failed: u64,
    /// Done inputs that were truncated.
    pub files_truncated: u64,
    /// Hours of audio in.
    pub audio_hours_in: f64,
    /// Hours of chunks out.
    pub speech_hours_out: f64,
    /// Chunks out.
    pub chunks: u64,
    /// Splits without a pause.
    pub forced_cuts: u64,
    /// Dropped speech by reason.
    pub dropped: BTreeMap<String, DropStat>,
}

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always `callprep`.
    pub tool: String,
    /// The tool's version.
    pub version: String,
    /// The parameters of the run (the job's settings; their hash guards `--resume`).
    pub parameters: serde_json::Value,
    /// Sums.
    pub totals: ReportTotals,
    /// Every input, in input order, then paths that could not be inputs.
    pub files: Vec<FileEntry>,
    /// CPU seconds per stage (`--timings`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timings_cpu_s: Option<BTreeMap<String, f64>>,
    /// `filter` only: its rows in, kept and dropped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub filter: Option<FilterTotals>,
    /// `--shard K/N`: which part of the job this run did (not in the
    /// parameters: the shards of one job share them).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<crate::shard::ShardReport>,
}

/// `filter` in `report.json`: what the privacy gate did with the rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterTotals {
    /// Rows in the input manifest.
    pub rows_in: u64,
    /// Rows written to the new manifest.
    pub rows_kept: u64,
    /// Rows removed (listed in `quarantine.jsonl`).
    pub rows_dropped: u64,
    /// Removed rows by reason (`card`, `iin`, `phone`, `iban`, `email`,
    /// `drop_list`, `no_text`).
    pub dropped_by_reason: BTreeMap<String, u64>,
    /// Kept rows that had no transcript (`text` left empty).
    pub rows_without_text: u64,
    /// Transcript rows that matched no chunk of the manifest.
    pub transcripts_unused: u64,
    /// Rows of the input folder's `quarantine.jsonl` (DTMF drops of
    /// `run`/`segment`) copied to the new one.
    pub quarantine_carried: u64,
}

impl Report {
    /// A report of this tool and version.
    pub fn new(parameters: serde_json::Value, totals: &Totals, files: Vec<FileEntry>) -> Report {
        Report {
            tool: "callprep".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            parameters,
            totals: totals.report(),
            files,
            timings_cpu_s: None,
            filter: None,
            shard: None,
        }
    }

    /// Writes the report atomically, pretty-printed, keys sorted.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let value = serde_json::to_value(self).map_err(io::Error::other)?;
        write_atomic(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &value).map_err(io::Error::other)?;
            w.write_all(b"\n")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_keys_are_sorted_and_it_reads_back() {
        let mut t = Totals::default();
        let stats = FileStats {
            format: "pcm16".into(),
            channels: 2,
            sample_rate: 8000,
            duration_s: 7200.0,
            chunks: 3,
            chunk_s: 3600.0,
            ..FileStats::default()
        };
        t.add(&stats);
        t.files_failed += 1;
        let files = vec![
            FileEntry {
                source: "a.wav".into(),
                id: "a".into(),
                status: Status::Ok,
                reason: None,
                error: None,
                stats: Some(stats),
            },
            FileEntry {
                source: "b.wav".into(),
                id: "b".into(),
                status: Status::Failed,
                reason: Some(ReasonCode::NotWav),
                error: Some("not a WAV file".into()),
                stats: None,
            },
        ];
        let r = Report::new(serde_json::json!({"job": "run"}), &t, files);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        r.write(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.ends_with("}\n"));
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(keys, ["files", "parameters", "tool", "totals", "version"]);
        assert!(text.contains("\"audio_hours_in\": 2.0"), "{text}");
        assert!(text.contains("\"files\": 2,"), "{text}");
        assert!(text.contains("\"reason\": \"not_wav\""), "{text}");
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}
