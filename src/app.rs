//! The run (an edge of the pipeline): lock the output folder, find the
//! inputs, process them in parallel, keep going past bad files, and write the
//! manifest and report.
//!
//! Every finished input leaves a completion record
//! (`OUT/.callprep/done/*.json`: its rows, the files it wrote and their sizes,
//! the parameters' hash). `--resume` trusts a record only when its parameters
//! match and every file it lists exists with the recorded size. The manifest
//! and report are assembled from the records in input order at the end, so a
//! resumed run ends with the same bytes as one clean run, and memory does not
//! grow with the number of chunks.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Job, UsageError};
use crate::input::{self, fnv1a, Input};
use crate::sink::{self, Row};
use crate::stages::mel::MelExtractor;
use crate::worker::{self, Ctx, Done, DropStat, Failure, FileStats, MelItem, Processed, Timings};

/// How a run ended; `main` maps it to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every input done (exit 0).
    Ok,
    /// Some inputs failed; the others are complete (exit 1).
    SomeFailed,
}

/// An environment failure: output not writable, disk full, folder locked (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

/// The completion record of one input.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    id_base: String,
    params: String,
    done: Done,
}

/// The report's entry for one input.
#[derive(Debug, Clone, Serialize)]
struct FileEntry {
    source: String,
    id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    stats: Option<FileStats>,
}

/// Runs a validated configuration.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let mel = cfg.mel.as_ref().map(MelExtractor::new);
    if cfg.print_config {
        let m = cfg.mel.as_ref().expect("print_config is a mel flag");
        println!("{}", serde_json::to_string_pretty(m)?);
        return Ok(Outcome::Ok);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .context("cannot start worker threads")?;
    let out = &cfg.out_dir;
    fs::create_dir_all(out).map_err(|e| {
        EnvError(format!(
            "cannot create output folder {}: {e}",
            out.display()
        ))
    })?;
    let state = out.join(".callprep");
    fs::create_dir_all(state.join("done")).map_err(|e| {
        EnvError(format!(
            "output folder {} is not writable: {e}",
            out.display()
        ))
    })?;
    let _lock = lock(&state.join("lock"), out)?;
    sink::remove_stale_temps(out)
        .map_err(|e| EnvError(format!("cannot clean {}: {e}", out.display())))?;

    // Inputs.
    let mut paths = cfg.inputs.clone();
    if let Some(list) = &cfg.files_from {
        let more = input::read_list(list)
            .map_err(|e| UsageError(format!("cannot read --files-from {}: {e}", list.display())))?;
        paths.extend(more);
    }
    let found = input::discover(&paths, cfg.job == Job::Mel);
    let items: Vec<WorkItem> = match cfg.job {
        Job::Mel => mel_items(&found)?,
        _ => found.inputs.into_iter().map(WorkItem::File).collect(),
    };
    let params = serde_json::to_string(&cfg.parameters())?;
    let params_hash = format!("{:08x}", fnv1a(params.as_bytes()));

    let ctx = Ctx {
        out,
        seg: cfg.segment.as_ref(),
        mel: mel.as_ref(),
        write_wav: cfg.write_wav,
        strict: cfg.strict,
        in_flight: AtomicUsize::new(0),
        max_in_flight: 4 * cfg.threads,
        abort: AtomicBool::new(false),
        timings: Timings::default(),
    };
    let progress = Progress::new(cfg, items.len());
    let reused = AtomicUsize::new(0);
    let (commit_tx, commit_rx) = mpsc::channel::<CommitJob>();
    let (mut results, commit_failures) = std::thread::scope(|scope| {
        // With more than one worker thread, large commits use two threads.
        let committer = scope.spawn(|| committer(commit_rx, out, &ctx, cfg.threads > 1));
        let results: Vec<Result<FileStats, Failure>> = pool.install(|| {
            items
                .par_iter()
                .enumerate()
                .map(|(index, item)| {
                    let res = process_item(cfg, &ctx, &state, &params_hash, item, index, &reused, &commit_tx);
                    match &res {
                        Ok(stats) => {
                            if stats.truncated {
                                progress.println(&format!(
                                    "callprep: warning: {}: file is truncated (the data chunk runs past its end); decoded the {:.2} s present",
                                    item.source(),
                                    stats.duration_s
                                ));
                            }
                            progress.file_done(stats.duration_s);
                        }
                        Err(f) => {
                            progress.println(&format!(
                                "callprep: error: {}: {} [{}]",
                                item.source(),
                                f.message,
                                f.code
                            ));
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
        progress.println(&format!(
            "callprep: error: {}: {} [{}]",
            items[index].source(),
            f.message,
            f.code
        ));
        results[index] = Err(f);
    }
    progress.finish();

    let environment = ctx.abort.load(Ordering::Relaxed)
        || results.iter().any(|r| matches!(r, Err(f) if f.environment));
    // Manifest and report, from the records, in input order.
    let mut entries: Vec<FileEntry> = Vec::new();
    let mut totals = Totals::default();
    let manifest_path = out.join("manifest.jsonl");
    let write_manifest = sink::write_atomic(&manifest_path, |w| {
        for (item, res) in items.iter().zip(&results) {
            match res {
                Ok(stats) => {
                    let rec = read_record(&record_path(&state, item.id())).ok_or_else(|| {
                        io::Error::other(format!("record of {} vanished", item.source()))
                    })?;
                    for row in &rec.done.rows {
                        serde_json::to_writer(&mut *w, row).map_err(io::Error::other)?;
                        w.write_all(b"\n")?;
                    }
                    totals.add(stats);
                    entries.push(FileEntry {
                        source: item.source().to_string(),
                        id: item.id().to_string(),
                        status: "ok",
                        reason: (stats.chunks == 0 && cfg.job != Job::Mel)
                            .then(|| "no_speech".into()),
                        error: None,
                        stats: Some(stats.clone()),
                    });
                }
                Err(f) => {
                    totals.failed += 1;
                    entries.push(FileEntry {
                        source: item.source().to_string(),
                        id: item.id().to_string(),
                        status: "failed",
                        reason: Some(f.code.clone()),
                        error: Some(f.message.clone()),
                        stats: None,
                    });
                }
            }
        }
        Ok(())
    });
    write_manifest
        .map_err(|e| EnvError(format!("cannot write {}: {e}", manifest_path.display())))?;
    for r in &found.rejected {
        totals.failed += 1;
        entries.push(FileEntry {
            source: r.source.clone(),
            id: String::new(),
            status: "failed",
            reason: Some(r.code.to_string()),
            error: Some(r.message.clone()),
            stats: None,
        });
        progress.println(&format!(
            "callprep: error: {}: {} [{}]",
            r.source, r.message, r.code
        ));
    }
    let mut report = serde_json::json!({
        "tool": "callprep",
        "version": env!("CARGO_PKG_VERSION"),
        "parameters": cfg.parameters(),
        "totals": totals.json(),
        "files": entries,
    });
    if cfg.timings {
        report["timings_cpu_s"] = serde_json::to_value(ctx.timings.seconds())?;
    }
    let report_path = out.join("report.json");
    sink::write_atomic(&report_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &report).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(|e| EnvError(format!("cannot write {}: {e}", report_path.display())))?;

    if !cfg.quiet {
        let reused = reused.load(Ordering::Relaxed);
        eprintln!(
            "callprep: {} input(s): {} ok, {} failed{}; {:.3} h of audio in, {:.3} h in {} chunk(s) out → {}",
            totals.files + totals.failed,
            totals.files,
            totals.failed,
            if reused > 0 {
                format!(" ({reused} reused by --resume)")
            } else {
                String::new()
            },
            totals.audio_s / 3600.0,
            totals.chunk_s / 3600.0,
            totals.chunks,
            out.display()
        );
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
    Ok(if totals.failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Ok
    })
}

/// Staged outputs of one input and its staged completion record.
struct CommitJob {
    index: usize,
    staged: Vec<sink::Staged>,
}

/// Commits staged inputs in batches: one `syncfs` makes every file of the
/// batch durable, then each input's outputs are renamed to their final names
/// (`side_by_side`: a large input's by two threads, see
/// [`sink::rename_all`]) and its record last. Runs beside the workers, so
/// writeback overlaps compute. Returns the inputs whose commit failed.
fn committer(
    rx: mpsc::Receiver<CommitJob>,
    out: &Path,
    ctx: &Ctx,
    side_by_side: bool,
) -> Vec<(usize, Failure)> {
    let mut failed = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let t = std::time::Instant::now();
        let res = sink::sync_out(out);
        for job in batch {
            let r = res
                .as_ref()
                .map_err(|e| io::Error::new(e.kind(), e.to_string()))
                .and_then(|()| sink::rename_all(&job.staged, side_by_side));
            if let Err(e) = r {
                sink::discard(job.staged);
                ctx.abort.store(true, Ordering::Relaxed);
                failed.push((
                    job.index,
                    Failure {
                        code: "write_failed".into(),
                        message: format!("cannot commit outputs to {}: {e}", out.display()),
                        environment: true,
                    },
                ));
            }
        }
        ctx.timings.add(worker::T_COMMIT, t);
    }
    failed
}

/// Processes (or, with `--resume`, reuses) one input; hands its staged
/// files and record to the committer.
#[allow(clippy::too_many_arguments)] // the run's shared state, passed explicitly
fn process_item(
    cfg: &Config,
    ctx: &Ctx,
    state: &Path,
    params_hash: &str,
    item: &WorkItem,
    index: usize,
    reused: &AtomicUsize,
    commit: &mpsc::Sender<CommitJob>,
) -> Result<FileStats, Failure> {
    let rec_path = record_path(state, item.id());
    if cfg.resume {
        if let Some(done) = valid_record(&rec_path, item.id(), params_hash, &cfg.out_dir) {
            reused.fetch_add(1, Ordering::Relaxed);
            return Ok(done.stats);
        }
    }
    // A stale record must not survive a failed redo.
    let _ = fs::remove_file(&rec_path);
    if ctx.abort.load(Ordering::Relaxed) {
        return Err(Failure {
            code: "aborted".into(),
            message: "not processed: the run stopped after an output error".into(),
            environment: false,
        });
    }
    let Processed { done, mut staged } = catch_unwind(AssertUnwindSafe(|| item.process(ctx)))
        .unwrap_or_else(|p| {
            Err(Failure {
                code: "internal_error".into(),
                message: format!("bug: processing panicked: {}", panic_text(&p)),
                environment: false,
            })
        })?;
    let rec = Record {
        id_base: item.id().to_string(),
        params: params_hash.to_string(),
        done,
    };
    let staged_rec = sink::write_staged(&rec_path, |w| {
        serde_json::to_writer(&mut *w, &rec).map_err(io::Error::other)
    });
    match staged_rec {
        Ok(r) => staged.push(r),
        Err(e) => {
            sink::discard(staged);
            ctx.abort.store(true, Ordering::Relaxed);
            return Err(Failure {
                code: "write_failed".into(),
                message: format!("cannot write {}: {e}", rec_path.display()),
                environment: true,
            });
        }
    }
    let stats = rec.done.stats;
    commit
        .send(CommitJob { index, staged })
        .expect("the committer outlives the workers");
    Ok(stats)
}

/// What one unit of work is.
enum WorkItem {
    File(Input),
    Mel(Box<MelItem>),
}

impl WorkItem {
    fn id(&self) -> &str {
        match self {
            WorkItem::File(i) => &i.id_base,
            WorkItem::Mel(m) => &m.id,
        }
    }
    fn source(&self) -> &str {
        match self {
            WorkItem::File(i) => &i.source,
            WorkItem::Mel(m) => &m.source,
        }
    }
    fn process(&self, ctx: &Ctx) -> Result<Processed, Failure> {
        match self {
            WorkItem::File(i) => worker::process_file(ctx, i),
            WorkItem::Mel(m) => worker::process_mel_item(ctx, m),
        }
    }
}

/// `mel` inputs: WAVs as they are, manifests row by row.
fn mel_items(found: &input::Found) -> Result<Vec<WorkItem>> {
    let mut items: Vec<WorkItem> = found
        .inputs
        .iter()
        .map(|i| {
            WorkItem::Mel(Box::new(MelItem {
                path: i.path.clone(),
                source: i.source.clone(),
                id: i.id_base.clone(),
                row: None,
            }))
        })
        .collect();
    for m in &found.manifests {
        let mut text = String::new();
        File::open(m)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(|e| UsageError(format!("cannot read manifest {}: {e}", m.display())))?;
        let base = m.parent().unwrap_or(Path::new("."));
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row: Row = serde_json::from_str(line)
                .map_err(|e| UsageError(format!("manifest {} line {}: {e}", m.display(), n + 1)))?;
            let path = base.join(&row.audio_filepath);
            let (clean, _) = input::id_base(Path::new(&row.id));
            items.push(WorkItem::Mel(Box::new(MelItem {
                source: path.display().to_string(),
                path,
                id: clean,
                row: Some(row),
            })));
        }
    }
    items.sort_by(|a, b| a.id().cmp(b.id()));
    let mut seen = std::collections::HashSet::new();
    for i in &items {
        if !seen.insert(i.id().to_lowercase()) {
            return Err(UsageError(format!(
                "two inputs would write the same features mel/{}.npy; give each chunk once",
                i.id()
            ))
            .into());
        }
    }
    Ok(items)
}

#[derive(Default)]
struct Totals {
    files: u64,
    failed: u64,
    audio_s: f64,
    chunk_s: f64,
    chunks: u64,
    truncated: u64,
    forced_cuts: u64,
    dropped: BTreeMap<String, DropStat>,
}

impl Totals {
    fn add(&mut self, s: &FileStats) {
        self.files += 1;
        self.audio_s += s.duration_s;
        self.chunk_s += s.chunk_s;
        self.chunks += s.chunks as u64;
        self.truncated += u64::from(s.truncated);
        self.forced_cuts += s.forced_cuts as u64;
        for (k, v) in &s.dropped {
            let e = self.dropped.entry(k.clone()).or_default();
            e.count += v.count;
            e.speech_s += v.speech_s;
        }
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "files": self.files + self.failed,
            "files_ok": self.files,
            "files_failed": self.failed,
            "files_truncated": self.truncated,
            "audio_hours_in": self.audio_s / 3600.0,
            "speech_hours_out": self.chunk_s / 3600.0,
            "chunks": self.chunks,
            "forced_cuts": self.forced_cuts,
            "dropped": self.dropped,
        })
    }
}

fn record_path(state: &Path, id: &str) -> PathBuf {
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

fn read_record(path: &Path) -> Option<Record> {
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A record that proves the input's outputs are complete, or `None`.
fn valid_record(path: &Path, id: &str, params: &str, out: &Path) -> Option<Done> {
    let rec = read_record(path)?;
    if rec.id_base != id || rec.params != params {
        return None;
    }
    let complete = rec.done.written.iter().all(|w| {
        fs::symlink_metadata(out.join(&w.path)).is_ok_and(|m| m.is_file() && m.len() == w.bytes)
    });
    complete.then_some(rec.done)
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

/// Holds the output folder's lock file for the run. The OS drops the lock
/// when the process dies, so a lock left by a killed run is taken over.
struct Lock(#[allow(dead_code)] File); // held for its Drop, never read

fn lock(path: &Path, out: &Path) -> Result<Lock> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| {
            EnvError(format!(
                "output folder {} is not writable: {e}",
                out.display()
            ))
        })?;
    match f.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            return Err(EnvError(format!(
                "another callprep run ({}) is writing to {}; wait for it to finish or use another -o folder",
                holder.trim(),
                out.display()
            ))
            .into());
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(EnvError(format!("cannot lock {}: {e}", path.display())).into())
        }
    }
    f.set_len(0).ok();
    let _ = write!(f, "pid {}", std::process::id());
    Ok(Lock(f))
}

/// Progress bars on a terminal, nothing otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    audio_s: Mutex<f64>,
}

impl Progress {
    fn new(cfg: &Config, n: usize) -> Progress {
        let bar = (!cfg.quiet && io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(n as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}  ETA {eta}",
                )
                .expect("template is valid"),
            );
            b
        });
        Progress {
            bar,
            audio_s: Mutex::new(0.0),
        }
    }
    fn file_done(&self, audio_s: f64) {
        if let Some(b) = &self.bar {
            let mut a = self.audio_s.lock().expect("lock not poisoned");
            *a += audio_s;
            b.set_message(format!("{:.2} h audio", *a / 3600.0));
            b.inc(1);
        }
    }
    fn println(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{msg}")),
            None => eprintln!("{msg}"),
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
