//! `callprep stats`: the numbers of an output folder.
//!
//! In: its manifest rows and report (read by [`crate::export::read_out`]).
//! Out: a [`Stats`] (hours and chunks per role, a chunk-length histogram,
//! drops by reason, failed files), printed as text bars or JSON. Pure: no
//! I/O here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::output::report::{DropStat, Report, Status};
use crate::output::Row;

/// One bin of the chunk-length histogram: `[from_s, to_s)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge, seconds (included).
    pub from_s: f64,
    /// Upper edge, seconds (excluded).
    pub to_s: f64,
    /// Chunks in the bin.
    pub chunks: u64,
}

/// A failed input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failed {
    /// The input as given.
    pub source: String,
    /// Its reason code.
    pub reason: String,
    /// What went wrong.
    pub error: String,
}

/// The summary of an output folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Inputs in the report.
    pub files: u64,
    /// Inputs done.
    pub files_ok: u64,
    /// Inputs failed.
    pub files_failed: u64,
    /// Hours of audio in (report).
    pub audio_hours_in: f64,
    /// Hours of chunks in the manifest.
    pub chunk_hours: f64,
    /// Chunks in the manifest.
    pub chunks: u64,
    /// Hours of chunks per role.
    pub hours_by_role: BTreeMap<String, f64>,
    /// Chunks per role.
    pub chunks_by_role: BTreeMap<String, u64>,
    /// Shortest and longest chunk, seconds (0 without chunks).
    pub min_chunk_s: f64,
    /// Longest chunk, seconds.
    pub max_chunk_s: f64,
    /// Mean chunk, seconds.
    pub mean_chunk_s: f64,
    /// Chunk lengths in bins of `bin_s` seconds.
    pub histogram: Vec<Bin>,
    /// Width of a histogram bin, seconds.
    pub bin_s: f64,
    /// Dropped speech by reason (report totals).
    pub dropped: BTreeMap<String, DropStat>,
    /// Failed inputs, in report order.
    pub failed: Vec<Failed>,
}

/// Most bins in the histogram (bins widen beyond it).
const MAX_BINS: f64 = 30.0;

/// The stats of `rows` and `report`.
pub fn compute(rows: &[Row], report: &Report) -> Stats {
    let mut hours_by_role = BTreeMap::new();
    let mut chunks_by_role = BTreeMap::new();
    let (mut sum_s, mut min_s, mut max_s) = (0.0, f64::INFINITY, 0.0f64);
    for r in rows {
        *hours_by_role.entry(r.role.clone()).or_insert(0.0) += r.duration / 3600.0;
        *chunks_by_role.entry(r.role.clone()).or_insert(0) += 1;
        sum_s += r.duration;
        min_s = min_s.min(r.duration);
        max_s = max_s.max(r.duration);
    }
    let bin_s = (max_s / MAX_BINS).ceil().max(1.0);
    let n_bins = if rows.is_empty() {
        0
    } else {
        (max_s / bin_s).floor() as usize + 1
    };
    let mut histogram: Vec<Bin> = (0..n_bins)
        .map(|i| Bin {
            from_s: i as f64 * bin_s,
            to_s: (i + 1) as f64 * bin_s,
            chunks: 0,
        })
        .collect();
    for r in rows {
        let i = ((r.duration / bin_s).floor() as usize).min(n_bins.saturating_sub(1));
        histogram[i].chunks += 1;
    }
    let failed = report
        .files
        .iter()
        .filter(|f| f.status == Status::Failed)
        .map(|f| Failed {
            source: f.source.clone(),
            reason: f
                .reason
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
            error: f.error.clone().unwrap_or_default(),
        })
        .collect();
    Stats {
        files: report.totals.files,
        files_ok: report.totals.files_ok,
        files_failed: report.totals.files_failed,
        audio_hours_in: report.totals.audio_hours_in,
        chunk_hours: sum_s / 3600.0,
        chunks: rows.len() as u64,
        hours_by_role,
        chunks_by_role,
        min_chunk_s: if rows.is_empty() { 0.0 } else { min_s },
        max_chunk_s: max_s,
        mean_chunk_s: if rows.is_empty() {
            0.0
        } else {
            sum_s / rows.len() as f64
        },
        histogram,
        bin_s,
        dropped: report.totals.dropped.clone(),
        failed,
    }
}

/// A bar of `width` characters at most for `v` of `max`.
fn bar(v: f64, max: f64, width: usize) -> String {
    if max <= 0.0 || v <= 0.0 {
        return String::new();
    }
    let n = ((v / max) * width as f64).round().max(1.0) as usize;
    "█".repeat(n.min(width))
}

/// Width of the longest bars.
const BAR: usize = 40;

/// `s` as text for a terminal: sections with bars.
pub fn render_text(s: &Stats) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "files: {} ({} ok, {} failed); audio in {:.3} h; chunks {} = {:.3} h",
        s.files, s.files_ok, s.files_failed, s.audio_hours_in, s.chunks, s.chunk_hours
    );
    let _ = writeln!(o, "\nhours per role");
    let max_h = s.hours_by_role.values().cloned().fold(0.0, f64::max);
    for (role, h) in &s.hours_by_role {
        let _ = writeln!(
            o,
            "  {role:<12} {h:>9.3} h {:>7} chunks  {}",
            s.chunks_by_role.get(role).copied().unwrap_or(0),
            bar(*h, max_h, BAR)
        );
    }
    let _ = writeln!(
        o,
        "\nchunk length (min {:.2} s, mean {:.2} s, max {:.2} s)",
        s.min_chunk_s, s.mean_chunk_s, s.max_chunk_s
    );
    let max_c = s.histogram.iter().map(|b| b.chunks).max().unwrap_or(0) as f64;
    for b in &s.histogram {
        let _ = writeln!(
            o,
            "  {:>5}-{:<5} s {:>7}  {}",
            b.from_s,
            b.to_s,
            b.chunks,
            bar(b.chunks as f64, max_c, BAR)
        );
    }
    let _ = writeln!(o, "\ndropped speech by reason");
    if s.dropped.is_empty() {
        let _ = writeln!(o, "  none");
    }
    let max_d = s.dropped.values().map(|d| d.speech_s).fold(0.0, f64::max);
    for (reason, d) in &s.dropped {
        let _ = writeln!(
            o,
            "  {reason:<28} {:>7} regions {:>10.2} s  {}",
            d.count,
            d.speech_s,
            bar(d.speech_s, max_d, BAR)
        );
    }
    let _ = writeln!(o, "\nfailed files: {}", s.failed.len());
    for f in &s.failed {
        let _ = writeln!(o, "  {} [{}] {}", f.source, f.reason, f.error);
    }
    o
}
