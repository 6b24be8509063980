//! The engine: runs one job over many inputs, in parallel, safely.
//!
//! ```text
//! items ─ rayon workers ─ Job::process ─ staged files + record ─ committer ─ final names
//!            │ (--resume: a valid record → reuse)                               │
//!            └──────────────── results in input order ─ manifest.jsonl + report.json
//! ```
//!
//! A command builds a [`Job`] (what one item is and how it is processed:
//! [`crate::jobs`]) and its items, opens the output folder
//! ([`OutputDir::open`]: creates it, takes the [`lock`], clears temporaries
//! a killed run left) and calls [`run`]. The engine does the rest for every
//! job alike: the thread pool, `--resume` ([`resume`]), a panic in one item
//! turned into that item's `internal_error`, the [`commit`] thread, progress,
//! [`timings`], the manifest and the typed report, in input order. One bad
//! item never stops the batch; an output error (disk full) stops starting
//! new work and ends the run with an environment error.

pub mod commit;
pub mod interrupt;
pub mod lock;
pub mod progress;
pub mod resume;
pub mod timings;

use std::fs;
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::input::{fnv1a, Rejected};
use crate::output::quarantine::{QuarantineRow, QUARANTINE_FILE};
use crate::output::report::{FileEntry, FileStats, Report, Status, Totals};
use crate::output::{ReasonCode, Row, Written};
use crate::storage::{Staged, Storage};
pub use timings::{Stage, Timings};

use commit::{committer, CommitJob};
use lock::Lock;
use progress::Progress;
use resume::{read_record, record_path, valid_record, Record};

/// How a run ended, when it did not stop on an environment error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every input done (exit 0).
    Ok,
    /// Some inputs failed; the others are complete (exit 1).
    SomeFailed,
    /// Stopped by this signal (SIGINT, SIGTERM); what completed is written
    /// (exit 130 or 143).
    Interrupted(i32),
}

/// An environment failure: output not writable, disk full, folder locked (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

/// Why one input failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Stable reason code.
    pub code: ReasonCode,
    /// What went wrong.
    pub message: String,
    /// An environment failure (exit code 3), not a problem of the input.
    pub environment: bool,
}

impl Failure {
    /// A problem of the input.
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            environment: false,
        }
    }

    /// An environment failure (exit 3): the run stops starting new work.
    pub fn env(code: ReasonCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            environment: true,
        }
    }

    /// An output file that could not be written.
    pub fn write(e: &io::Error, what: &Path) -> Self {
        Failure::env(
            ReasonCode::WriteFailed,
            format!("cannot write {}: {e}", what.display()),
        )
    }
}

/// The outcome of one input that did not fail. Its files are still staged
/// under temporary names ([`Processed::staged`]) until the engine commits them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Done {
    /// Manifest rows in (channel, start) order.
    pub rows: Vec<Row>,
    /// Every file written (for `--resume`).
    pub written: Vec<Written>,
    /// Statistics.
    pub stats: FileStats,
    /// Chunks the privacy gate removed (`quarantine.jsonl`), in (channel,
    /// start) order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<QuarantineRow>,
}

/// What processing an input returns: the outcome and its staged files.
pub struct Processed {
    /// Rows, written files and statistics.
    pub done: Done,
    /// Output files under temporary names, committed by the engine.
    pub staged: Vec<Staged>,
}

/// Shared state of a run that every job sees.
pub struct Ctx<'a> {
    /// Output folder.
    pub out: &'a Path,
    /// Where inputs are read and outputs written.
    pub storage: Storage,
    /// Chunk jobs queued and not yet started (all inputs).
    pub in_flight: AtomicUsize,
    /// Above this many queued jobs, an input's task runs queued jobs itself.
    pub max_in_flight: usize,
    /// Set on an environment failure (disk full, not writable): stop starting work.
    pub abort: AtomicBool,
    /// CPU time per stage.
    pub timings: Timings,
}

impl Ctx<'_> {
    /// The run stopped after an output error.
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    /// Why no more work may start (an output error, or a signal), as the
    /// failure of an input that is stopped by it; `None` to go on.
    pub fn stopped(&self) -> Option<Failure> {
        if let Some(sig) = interrupt::received() {
            return Some(Failure::new(
                ReasonCode::Interrupted,
                format!(
                    "not finished: the run was stopped by {}; run the same command with --resume to finish",
                    interrupt::name(sig)
                ),
            ));
        }
        self.aborted().then(|| {
            Failure::new(
                ReasonCode::Aborted,
                "not processed: the run stopped after an output error",
            )
        })
    }
}

/// What a command runs over its items: one implementation per kind of work
/// (segmenting a recording, computing one chunk's features, …).
pub trait Job: Sync {
    /// One unit of work.
    type Item: Sync;

    /// The item's stable id: names its completion record.
    fn id<'a>(&self, item: &'a Self::Item) -> &'a str;

    /// The item's name in messages and the report.
    fn source<'a>(&self, item: &'a Self::Item) -> &'a str;

    /// The file the item reads (never removed as a stale output).
    fn input_path<'a>(&self, item: &'a Self::Item) -> &'a Path;

    /// Processes one item: its outputs staged through `ctx.storage`.
    fn process(&self, ctx: &Ctx, item: &Self::Item) -> Result<Processed, Failure>;

    /// The reason an `ok` item is flagged with, if any (`no_speech`).
    fn ok_reason(&self, _stats: &FileStats) -> Option<ReasonCode> {
        None
    }

    /// The job writes `OUT/quarantine.jsonl` from its items'
    /// [`Done::quarantine`] rows (always, empty when no chunk was removed,
    /// so no earlier run's list survives).
    fn writes_quarantine(&self) -> bool {
        false
    }
}

/// Run control shared by every command.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Worker threads.
    pub threads: usize,
    /// No progress bar and no summary.
    pub quiet: bool,
    /// Reuse inputs whose outputs are complete.
    pub resume: bool,
    /// Record CPU time per stage in the report.
    pub timings: bool,
    /// `--shard K/N`: recorded in the report (the items are already this
    /// shard's).
    pub shard: Option<crate::shard::ShardReport>,
}

/// An output folder held for one run.
pub struct OutputDir {
    /// The folder.
    pub path: PathBuf,
    /// Its state folder (`.callprep`: lock, records).
    pub state: PathBuf,
    /// Where its files are written.
    pub storage: Storage,
    /// What earlier runs wrote here, from their completion records.
    earlier: resume::Earlier,
    _lock: Lock,
}

impl OutputDir {
    /// Writes `items` to OUT/`name` as JSON Lines, atomically.
    pub fn write_jsonl<T: serde::Serialize>(&self, name: &str, items: &[T]) -> Result<()> {
        let path = self.path.join(name);
        self.storage
            .write_atomic(&path, |w| {
                for item in items {
                    serde_json::to_writer(&mut *w, item).map_err(io::Error::other)?;
                    w.write_all(b"\n")?;
                }
                Ok(())
            })
            .map_err(|e| EnvError(format!("cannot write {}: {e}", path.display())).into())
    }

    /// Creates the folder, takes its lock and removes temporaries a killed
    /// run left behind.
    pub fn open(path: &Path) -> Result<OutputDir> {
        let storage = Storage::Local;
        if fs::metadata(path).is_ok_and(|m| !m.is_dir()) {
            return Err(crate::config::UsageError(format!(
                "-o {}: is a file, not a folder; give a folder for the outputs (it is created if missing)",
                path.display()
            ))
            .into());
        }
        fs::create_dir_all(path).map_err(|e| {
            EnvError(format!(
                "cannot create output folder {}: {e}",
                path.display()
            ))
        })?;
        let state = path.join(".callprep");
        fs::create_dir_all(state.join("done")).map_err(|e| {
            EnvError(format!(
                "output folder {} is not writable: {e}",
                path.display()
            ))
        })?;
        let lock = lock::lock(&state.join("lock"), path)?;
        storage
            .remove_stale_temps(path)
            .map_err(|e| EnvError(format!("cannot clean {}: {e}", path.display())))?;
        let earlier = resume::Earlier::read(&state);
        Ok(OutputDir {
            path: path.to_path_buf(),
            state,
            storage,
            earlier,
            _lock: lock,
        })
    }
}

/// Runs `job` over `items` into `out`: every item processed (or reused),
/// committed, and the manifest and report written. `rejected` are paths
/// that could not be items; they are reported as failed. `parameters` go
/// into the report, and their hash guards `--resume`.
pub fn run<J: Job>(
    out: &OutputDir,
    settings: &Settings,
    parameters: serde_json::Value,
    job: &J,
    items: &[J::Item],
    rejected: &[Rejected],
) -> Result<Outcome> {
    let started = Instant::now();
    interrupt::install();
    let params = serde_json::to_string(&parameters)?;
    let params_hash = format!("{:08x}", fnv1a(params.as_bytes()));
    let ctx = Ctx {
        out: &out.path,
        storage: out.storage,
        in_flight: AtomicUsize::new(0),
        max_in_flight: 4 * settings.threads,
        abort: AtomicBool::new(false),
        timings: Timings::default(),
    };
    let progress = Progress::new(settings.quiet, items.len());
    let reused = AtomicUsize::new(0);
    let each = Each {
        out,
        settings,
        job,
        ctx: &ctx,
        params_hash: &params_hash,
        reused: &reused,
    };
    let results = each.all(items, &progress)?;
    progress.finish();

    let environment = ctx.aborted() || results.iter().any(|r| matches!(r, Err(f) if f.environment));
    let (mut totals, mut entries, current) = write_manifest(out, job, items, &results)?;
    for r in rejected {
        totals.files_failed += 1;
        entries.push(FileEntry {
            source: r.source.clone(),
            id: String::new(),
            status: Status::Failed,
            reason: Some(r.code),
            error: Some(r.message.clone()),
            stats: None,
        });
        progress.println(&format!(
            "callprep: error: {}: {} [{}]",
            r.source, r.message, r.code
        ));
    }
    let mut report = Report::new(parameters, &totals, entries);
    if settings.timings {
        report.timings_cpu_s = Some(ctx.timings.seconds());
    }
    report.shard = settings.shard.clone();
    if let (Some(s), true, false) = (&settings.shard, items.is_empty(), settings.quiet) {
        eprintln!(
            "callprep: shard {}/{}: none of the {} input(s) hash to this shard; writing an empty manifest",
            s.k, s.n, s.inputs_total
        );
    }
    let report_path = out.path.join("report.json");
    report
        .write(&report_path)
        .map_err(|e| EnvError(format!("cannot write {}: {e}", report_path.display())))?;
    // After a complete run OUT holds what its manifest lists: files an
    // earlier run wrote that this one did not are removed (only files
    // callprep's records name, never an input of this run). Not after an
    // output error: the run is not complete.
    let signal = interrupt::received();
    let removed = if environment || signal.is_some() {
        0
    } else {
        let inputs: Vec<&Path> = items.iter().map(|i| job.input_path(i)).collect();
        out.earlier.remove_stale(&out.path, &current, &inputs)
    };
    if !settings.quiet {
        let reused = reused.load(Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "{}",
            summary(&totals, reused, removed, elapsed, &report_path)
        );
    }
    if let Some(sig) = signal {
        eprintln!(
            "callprep: stopped by {}: {} of {} input(s) complete and in the manifest; run the same command with --resume to finish",
            interrupt::name(sig),
            totals.files_ok,
            items.len()
        );
        return Ok(Outcome::Interrupted(sig));
    }
    if environment {
        let msg = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .find(|f| f.environment)
            .map_or_else(
                || "an output error stopped the run".to_string(),
                |f| f.message.clone(),
            );
        return Err(EnvError(msg).into());
    }
    Ok(if totals.files_failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Ok
    })
}

/// Writes `manifest.jsonl` from the items' records, in input order, and
/// returns the totals and report entries of the items, and the files and
/// records this run's outputs are.
fn write_manifest<J: Job>(
    out: &OutputDir,
    job: &J,
    items: &[J::Item],
    results: &[Result<FileStats, Failure>],
) -> Result<(Totals, Vec<FileEntry>, resume::Current)> {
    let mut entries: Vec<FileEntry> = Vec::new();
    let mut totals = Totals::default();
    let mut current = resume::Current::default();
    let mut quarantine: Vec<QuarantineRow> = Vec::new();
    let manifest_path = out.path.join("manifest.jsonl");
    let written = out.storage.write_atomic(&manifest_path, |w| {
        for (item, res) in items.iter().zip(results) {
            let (source, id) = (job.source(item).to_string(), job.id(item).to_string());
            match res {
                Ok(stats) => {
                    let rec_path = record_path(&out.state, &id);
                    let rec = read_record(&rec_path)
                        .ok_or_else(|| io::Error::other(format!("record of {source} vanished")))?;
                    for row in &rec.done.rows {
                        serde_json::to_writer(&mut *w, row).map_err(io::Error::other)?;
                        w.write_all(b"\n")?;
                        *totals.speech_s_by_role.entry(row.role.clone()).or_default() +=
                            row.duration;
                    }
                    current.add(rec_path, &rec.done.written);
                    quarantine.extend(rec.done.quarantine);
                    totals.add(stats);
                    entries.push(FileEntry {
                        source,
                        id,
                        status: Status::Ok,
                        reason: job.ok_reason(stats),
                        error: None,
                        stats: Some(stats.clone()),
                    });
                }
                Err(f) => {
                    totals.files_failed += 1;
                    entries.push(FileEntry {
                        source,
                        id,
                        status: Status::Failed,
                        reason: Some(f.code),
                        error: Some(f.message.clone()),
                        stats: None,
                    });
                }
            }
        }
        Ok(())
    });
    written.map_err(|e| EnvError(format!("cannot write {}: {e}", manifest_path.display())))?;
    if job.writes_quarantine() {
        out.write_jsonl(QUARANTINE_FILE, &quarantine)?;
    }
    Ok((totals, entries, current))
}

/// The summary printed at the end of a run: inputs, hours of calls in,
/// hours of speech out per role (channels count separately, so they can
/// add up to more than the calls), chunks, drops by reason, time and speed,
/// stale files removed, and where the report is.
fn summary(
    totals: &Totals,
    reused: usize,
    removed: usize,
    elapsed_s: f64,
    report: &Path,
) -> String {
    let mut s = format!(
        "callprep: {} input(s): {} ok, {} failed",
        totals.files_ok + totals.files_failed,
        totals.files_ok,
        totals.files_failed
    );
    if reused > 0 {
        s += &format!(" ({reused} reused by --resume)");
    }
    s += &format!("; {:.3} h of calls in", totals.audio_s / 3600.0);
    let roles: Vec<String> = totals
        .speech_s_by_role
        .iter()
        .map(|(role, secs)| format!("{role} {:.3} h", secs / 3600.0))
        .collect();
    s += &format!(
        "; speech out: {} in {} chunk(s)",
        if roles.is_empty() {
            "none".to_string()
        } else {
            roles.join(", ")
        },
        totals.chunks
    );
    if !totals.dropped.is_empty() {
        let dropped: Vec<String> = totals
            .dropped
            .iter()
            .map(|(reason, d)| format!("{} {reason} ({:.1} s)", d.count, d.speech_s))
            .collect();
        s += &format!("; dropped: {}", dropped.join(", "));
    }
    s += &format!("; {elapsed_s:.2} s");
    if elapsed_s > 0.0 && totals.audio_s > 0.0 {
        s += &format!(", {:.0}x realtime", totals.audio_s / elapsed_s);
    }
    if removed > 0 {
        s += &format!("; removed {removed} stale file(s) of an earlier run");
    }
    s += &format!(" → {}", report.display());
    s
}

/// `callprep: error: SOURCE: MESSAGE [code]`.
fn error_line(source: &str, f: &Failure) -> String {
    format!("callprep: error: {source}: {} [{}]", f.message, f.code)
}

/// What every item of a run shares.
struct Each<'a, J: Job> {
    out: &'a OutputDir,
    settings: &'a Settings,
    job: &'a J,
    ctx: &'a Ctx<'a>,
    params_hash: &'a str,
    reused: &'a AtomicUsize,
}

impl<J: Job> Each<'_, J> {
    /// Processes every item on the pool, beside the committer thread;
    /// returns each item's statistics or failure, in input order.
    fn all(
        &self,
        items: &[J::Item],
        progress: &Progress,
    ) -> Result<Vec<Result<FileStats, Failure>>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.settings.threads)
            .build()
            .context("cannot start worker threads")?;
        let (job, out) = (self.job, self.out);
        let (commit_tx, commit_rx) = mpsc::channel::<CommitJob>();
        let (mut results, commit_failures) = std::thread::scope(|scope| {
            // With more than one worker thread, large commits use two threads.
            let (side_by_side, ctx) = (self.settings.threads > 1, self.ctx);
            let committer = scope.spawn(move || committer(commit_rx, &out.path, ctx, side_by_side));
            let results: Vec<Result<FileStats, Failure>> = pool.install(|| {
                items
                    .par_iter()
                    .enumerate()
                    .map(|(index, item)| {
                        let res = self.item(item, index, &commit_tx);
                        match &res {
                            Ok(stats) => {
                                if stats.truncated {
                                    progress.println(&format!(
                                        "callprep: warning: {}: file is truncated (the data chunk runs past its end); decoded the {:.2} s present",
                                        job.source(item),
                                        stats.duration_s
                                    ));
                                }
                                progress.file_done(stats.duration_s);
                            }
                            Err(f) => {
                                progress.println(&error_line(job.source(item), f));
                                progress.file_done(0.0);
                            }
                        }
                        res
                    })
                    .collect()
            });
            drop(commit_tx);
            let failures = committer.join().expect("the committer does not panic");
            (results, failures)
        });
        for (index, f) in commit_failures {
            progress.println(&error_line(job.source(&items[index]), &f));
            results[index] = Err(f);
        }
        Ok(results)
    }

    /// Processes (or, with `--resume`, reuses) one item; hands its staged
    /// files and record to the committer.
    fn item(
        &self,
        item: &J::Item,
        index: usize,
        commit: &mpsc::Sender<CommitJob>,
    ) -> Result<FileStats, Failure> {
        let (ctx, id) = (self.ctx, self.job.id(item));
        let rec_path = record_path(&self.out.state, id);
        if self.settings.resume {
            if let Some(done) = valid_record(&rec_path, id, self.params_hash, &self.out.path) {
                self.reused.fetch_add(1, Ordering::Relaxed);
                return Ok(done.stats);
            }
        }
        // A stale record must not survive a failed redo.
        let _ = fs::remove_file(&rec_path);
        #[cfg(feature = "fault-injection")]
        if let Some(ms) = std::env::var("CALLPREP_TEST_SLOW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        if let Some(f) = ctx.stopped() {
            return Err(f);
        }
        let Processed { done, mut staged } =
            catch_unwind(AssertUnwindSafe(|| self.job.process(ctx, item))).unwrap_or_else(|p| {
                Err(Failure::new(
                    ReasonCode::InternalError,
                    format!("bug: processing panicked: {}", panic_text(&p)),
                ))
            })?;
        let rec = Record {
            id_base: id.to_string(),
            params: self.params_hash.to_string(),
            done,
        };
        let staged_rec = ctx.storage.stage(&rec_path, |w| {
            serde_json::to_writer(&mut *w, &rec).map_err(io::Error::other)
        });
        match staged_rec {
            Ok(r) => staged.push(r),
            Err(e) => {
                ctx.storage.discard(staged);
                ctx.abort.store(true, Ordering::Relaxed);
                return Err(Failure::write(&e, &rec_path));
            }
        }
        let stats = rec.done.stats;
        commit
            .send(CommitJob { index, staged })
            .expect("the committer outlives the workers");
        Ok(stats)
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
