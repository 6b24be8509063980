//! Per-input work (an edge of the pipeline): streams one recording through
//! the stages and writes its chunks.
//!
//! ```text
//! file ─ read block ─ decode+split (per channel) ─ [resample] ─ PCM16 ─ VAD frames ─ Sectioner ─ plan
//!                                                                                         │
//!                                             chunk samples (≤ max_chunk) ─ spawn ─ WAV + mel .npy
//! ```
//!
//! Each file is one task (rayon): it reads the file in blocks once for all
//! its channels, so memory is bounded by the longest open section, not the
//! file, and runs the channels' VADs together (their filterbanks overlap in
//! one loop, [`pipeline::push_together`]). Closed sections become chunk jobs
//! spawned into the file's rayon scope, where idle threads take them (the
//! parallelism inside a long file); when too many are in flight the file's
//! task runs the oldest itself, which bounds memory without blocking a
//! thread. Every output is a pure function
//! of (input, channel, chunk), so bytes do not depend on the thread count.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::SegmentConfig;
use crate::input::Input;
use crate::pipeline::{self, ChannelSegmenter};
use crate::sink::{self, Row, Written};
use crate::stages::chunk::{Plan, Span};
use crate::stages::decode::{self, to_i16, DecodeError, WavInfo};
use crate::stages::mel::{MelExtractor, MelScratch, Sample};
use crate::stages::resample::{resample_all, StreamResampler};

/// Frames read from the file per block.
const BLOCK_FRAMES: usize = 16 * 1024;

/// Stages whose CPU time is measured.
pub const STAGES: [&str; 7] = [
    "decode", "resample", "vad", "chunk", "mel", "write", "commit",
];

/// CPU nanoseconds per stage, summed over all threads.
#[derive(Default)]
pub struct Timings([AtomicU64; 7]);

impl Timings {
    /// Adds the time since `since` to stage `stage` (an index into [`STAGES`]).
    pub fn add(&self, stage: usize, since: Instant) {
        self.0[stage].fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    /// Seconds per stage name.
    pub fn seconds(&self) -> BTreeMap<&'static str, f64> {
        STAGES
            .iter()
            .zip(&self.0)
            .map(|(n, v)| (*n, v.load(Ordering::Relaxed) as f64 / 1e9))
            .collect()
    }
}

const T_DECODE: usize = 0;
const T_RESAMPLE: usize = 1;
const T_VAD: usize = 2;
const T_CHUNK: usize = 3;
const T_MEL: usize = 4;
const T_WRITE: usize = 5;
/// Index of the commit stage (syncfs + renames, on the committer thread).
pub const T_COMMIT: usize = 6;

/// Shared, read-only state of a run (plus counters).
pub struct Ctx<'a> {
    /// Output folder.
    pub out: &'a Path,
    /// Segmentation settings (`run`, `segment`).
    pub seg: Option<&'a SegmentConfig>,
    /// Feature extractor (`run`, `mel`).
    pub mel: Option<&'a MelExtractor>,
    /// Write chunk WAVs.
    pub write_wav: bool,
    /// Truncated inputs are errors.
    pub strict: bool,
    /// Chunk jobs queued and not yet started (all files).
    pub in_flight: AtomicUsize,
    /// Above this many queued jobs, channel tasks run queued jobs themselves.
    pub max_in_flight: usize,
    /// Set on an environment failure (disk full, not writable): stop starting work.
    pub abort: AtomicBool,
    /// CPU time per stage.
    pub timings: Timings,
}

/// Why one input failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Stable reason code.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// An environment failure (exit code 3), not a problem of the input.
    #[serde(skip)]
    pub environment: bool,
}

impl Failure {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
            environment: false,
        }
    }
    fn env(e: &io::Error, what: &Path) -> Self {
        Failure {
            code: "write_failed".into(),
            message: format!("cannot write {}: {e}", what.display()),
            environment: true,
        }
    }
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        Failure::new(e.code(), e.to_string())
    }
}

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

/// The outcome of one input that did not fail. Its files are still staged
/// under temporary names ([`Processed::staged`]) until the run commits them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Done {
    /// Manifest rows in (channel, start) order.
    pub rows: Vec<Row>,
    /// Every file written (for `--resume`).
    pub written: Vec<Written>,
    /// Statistics.
    pub stats: FileStats,
}

/// What processing an input returns: the outcome and its staged files.
pub struct Processed {
    /// Rows, written files and statistics.
    pub done: Done,
    /// Output files under temporary names, to be committed by the caller.
    pub staged: Vec<sink::Staged>,
}

thread_local! {
    /// Per-thread mel buffers, keyed by the extractor's address.
    static MEL_SCRATCH: RefCell<Option<(usize, MelScratch, Vec<f32>)>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's mel scratch and output buffer for `ex`.
fn with_scratch<R>(ex: &MelExtractor, f: impl FnOnce(&mut MelScratch, &mut Vec<f32>) -> R) -> R {
    MEL_SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        let key = ex as *const MelExtractor as usize;
        if slot.as_ref().is_none_or(|(k, _, _)| *k != key) {
            *slot = Some((key, ex.scratch(), Vec::new()));
        }
        let (_, s, out) = slot.as_mut().expect("just filled");
        f(s, out)
    })
}

/// Computes and writes the features of one chunk; returns (relative path, frames, shape, bytes).
fn write_mel<S: Sample>(
    ctx: &Ctx,
    ex: &MelExtractor,
    samples: &[S],
    rate_hz: u32,
    id: &str,
    stage: &dyn Fn(sink::Staged),
) -> Result<(String, usize, [usize; 2], u64), Failure> {
    let t = Instant::now();
    let cfg = ex.config();
    let resampled = if rate_hz == cfg.sample_rate_hz {
        None
    } else {
        let x: Vec<f32> = samples.iter().map(|s| s.to_f64() as f32).collect();
        Some(
            resample_all(&x, rate_hz, cfg.sample_rate_hz)
                .map_err(|e| Failure::new("resample_error", e.to_string()))?,
        )
    };
    let path = ctx.out.join("mel").join(format!("{id}.npy"));
    with_scratch(ex, |s, out| {
        let frames = match &resampled {
            Some(x) => ex.compute_into(x, s, out),
            None => ex.compute_into(samples, s, out),
        };
        ctx.timings.add(T_MEL, t);
        let t = Instant::now();
        let shape = cfg.shape(frames);
        let staged = sink::write_staged(&path, |w| sink::write_npy(w, out, shape))
            .map_err(|e| Failure::env(&e, &path))?;
        stage(staged);
        ctx.timings.add(T_WRITE, t);
        Ok((
            sink::rel_to(ctx.out, &path),
            frames,
            shape,
            sink::npy_size(shape),
        ))
    })
}

/// One chunk ready to be written.
struct ChunkJob {
    id: String,
    channel: usize,
    role: String,
    span: Span,
    samples: Vec<i16>,
}

/// Shared by the channel tasks of one file.
struct FileSink {
    /// The input's path relative to OUT (rows point at it with `--no-wav`).
    source_rel: String,
    rows: Mutex<Vec<(Row, Vec<Written>)>>,
    staged: Mutex<Vec<sink::Staged>>,
    failure: Mutex<Option<Failure>>,
    /// Chunk jobs of this file not yet started, oldest first. Any thread
    /// working on the file may take them.
    queue: Mutex<VecDeque<ChunkJob>>,
}

impl FileSink {
    fn enqueue(&self, ctx: &Ctx, job: ChunkJob) {
        self.queue
            .lock()
            .expect("no panic while holding the lock")
            .push_back(job);
        ctx.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn dequeue(&self, ctx: &Ctx) -> Option<ChunkJob> {
        let job = self
            .queue
            .lock()
            .expect("no panic while holding the lock")
            .pop_front();
        if job.is_some() {
            ctx.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        job
    }

    fn stage(&self, s: sink::Staged) {
        self.staged
            .lock()
            .expect("no panic while holding the lock")
            .push(s);
    }
}

fn run_chunk_job(
    ctx: &Ctx,
    input: &Input,
    info: &WavInfo,
    seg: &SegmentConfig,
    job: ChunkJob,
    sink_: &FileSink,
) {
    let rate = seg.sample_rate_hz;
    // Fault injection for the integration tests: a bug inside one file's
    // chunk job must become that file's error, not stop the batch.
    static TEST_PANIC: OnceLock<Option<String>> = OnceLock::new();
    let test_panic = TEST_PANIC.get_or_init(|| {
        std::env::var_os("CALLPREP_TEST_PANIC")
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    });
    if test_panic
        .as_deref()
        .is_some_and(|v| input.source.contains(v))
    {
        panic!("injected by CALLPREP_TEST_PANIC");
    }
    let mut written = Vec::new();
    let res = (|| -> Result<Row, Failure> {
        let start_s = job.span.start as f64 / f64::from(rate);
        let end_s = job.span.end as f64 / f64::from(rate);
        let (audio_filepath, offset) = if ctx.write_wav {
            let t = Instant::now();
            let path = ctx.out.join("wav").join(format!("{}.wav", job.id));
            let staged = sink::write_staged(&path, |w| sink::write_wav(w, &job.samples, rate))
                .map_err(|e| Failure::env(&e, &path))?;
            sink_.stage(staged);
            ctx.timings.add(T_WRITE, t);
            let rel = sink::rel_to(ctx.out, &path);
            written.push(Written {
                path: rel.clone(),
                bytes: sink::wav_size(job.samples.len()),
            });
            (rel, 0.0)
        } else {
            (sink_.source_rel.clone(), start_s)
        };
        let mut row = Row {
            id: job.id.clone(),
            audio_filepath,
            offset,
            duration: job.span.len() as f64 / f64::from(rate),
            text: String::new(),
            source: input.source.clone(),
            channel: job.channel,
            role: job.role.clone(),
            start: start_s,
            end: end_s,
            sample_rate: rate,
            mel_filepath: None,
            n_frames: None,
            n_mels: None,
            mel_shape: None,
            truncated: info.truncated,
        };
        if let Some(ex) = ctx.mel {
            let (rel, frames, shape, bytes) =
                write_mel(ctx, ex, &job.samples, rate, &job.id, &|st| sink_.stage(st))?;
            written.push(Written {
                path: rel.clone(),
                bytes,
            });
            row.mel_filepath = Some(rel);
            row.n_frames = Some(frames);
            row.n_mels = Some(ex.config().n_mels);
            row.mel_shape = Some(shape);
        }
        Ok(row)
    })();
    match res {
        Ok(row) => sink_
            .rows
            .lock()
            .expect("no panic while holding the lock")
            .push((row, written)),
        Err(f) => {
            if f.environment {
                ctx.abort.store(true, Ordering::Relaxed);
            }
            let mut slot = sink_
                .failure
                .lock()
                .expect("no panic while holding the lock");
            if slot.is_none() {
                *slot = Some(f);
            }
        }
    }
}

/// Segments one input (and computes its features when `ctx.mel` is set).
pub fn process_file(ctx: &Ctx, input: &Input) -> Result<Processed, Failure> {
    let seg = ctx.seg.expect("process_file runs for run/segment only");
    let mut f = File::open(&input.path)
        .map_err(|e| Failure::new("read_error", format!("cannot open: {e}")))?;
    let meta = f
        .metadata()
        .map_err(|e| Failure::new("read_error", e.to_string()))?;
    if !meta.is_file() {
        return Err(Failure::new(
            "not_regular_file",
            "not a regular file; skipped",
        ));
    }
    let info = decode::read_header(&mut io::BufReader::new(&mut f), meta.len())?;
    if info.truncated && ctx.strict {
        return Err(Failure::new(
            "truncated",
            format!(
                "the data chunk runs past the end of the file ({} bytes of audio present); --strict makes this an error",
                info.data_len
            ),
        ));
    }
    let channels: Vec<(usize, String)> = (0..info.channels)
        .filter_map(|c| seg.role(c, info.channels).map(|r| (c, r)))
        .collect();
    if channels.is_empty() {
        return Err(Failure::new(
            "no_channels_selected",
            format!(
                "--channels skips every channel of this {}-channel file",
                info.channels
            ),
        ));
    }
    let fsink = FileSink {
        source_rel: sink::relative_path(&input.path, ctx.out)
            .to_string_lossy()
            .replace('\\', "/"),
        rows: Mutex::new(Vec::new()),
        staged: Mutex::new(Vec::new()),
        failure: Mutex::new(None),
        queue: Mutex::new(VecDeque::new()),
    };
    let per_channel =
        rayon::scope(|s| process_channels(ctx, s, input, &info, seg, &channels, &fsink));
    let staged = fsink.staged.into_inner().expect("lock not poisoned");
    let failed = fsink.failure.into_inner().expect("lock not poisoned");
    let (per_channel, short_read) = match (failed, per_channel) {
        (None, Ok(p)) => p,
        (Some(f), _) | (None, Err(f)) => {
            sink::discard(staged);
            return Err(f);
        }
    };

    let mut stats = FileStats {
        format: info.format.name().into(),
        channels: info.channels,
        sample_rate: info.sample_rate_hz,
        duration_s: info.duration_s(),
        truncated: info.truncated || short_read,
        ..FileStats::default()
    };
    for cs in per_channel {
        stats.forced_cuts += cs.forced_cuts;
        for (k, v) in cs.dropped {
            let e = stats.dropped.entry(k).or_default();
            e.count += v.count;
            e.speech_s += v.speech_s;
        }
    }
    let mut pairs = fsink.rows.into_inner().expect("lock not poisoned");
    pairs.sort_by(|a, b| (a.0.channel, &a.0.id).cmp(&(b.0.channel, &b.0.id)));
    let mut done = Done {
        stats,
        ..Done::default()
    };
    for (row, w) in pairs {
        done.stats.chunks += 1;
        done.stats.chunk_s += row.duration;
        done.rows.push(row);
        done.written.extend(w);
    }
    Ok(Processed { done, staged })
}

#[derive(Default)]
struct ChannelStats {
    dropped: BTreeMap<String, DropStat>,
    forced_cuts: usize,
}

/// One selected channel of the file being streamed.
struct ChannelTask {
    channel: usize,
    role: String,
    resampler: Option<StreamResampler>,
    stats: ChannelStats,
}

/// Streams the selected channels of one file: read → decode → resample →
/// VAD → sections → chunk jobs. One reader for all channels; their VADs run
/// together ([`pipeline::push_together`]). Returns the channels' stats and
/// whether the file ended before its header said.
fn process_channels<'s>(
    ctx: &'s Ctx,
    scope: &rayon::Scope<'s>,
    input: &'s Input,
    info: &'s WavInfo,
    seg: &'s SegmentConfig,
    channels: &[(usize, String)],
    fsink: &'s FileSink,
) -> Result<(Vec<ChannelStats>, bool), Failure> {
    let rate = seg.sample_rate_hz;
    let mut file =
        File::open(&input.path).map_err(|e| Failure::new("read_error", e.to_string()))?;
    file.seek(SeekFrom::Start(info.data_offset))
        .map_err(|e| Failure::new("read_error", e.to_string()))?;
    let mut tasks = Vec::with_capacity(channels.len());
    let mut segmenters = Vec::with_capacity(channels.len());
    for (channel, role) in channels {
        segmenters.push(
            ChannelSegmenter::new(seg).map_err(|e| Failure::new("bad_config", e.to_string()))?,
        );
        let resampler = if info.sample_rate_hz != rate {
            Some(
                StreamResampler::new(info.sample_rate_hz, rate)
                    .map_err(|e| Failure::new("resample_error", e.to_string()))?,
            )
        } else {
            None
        };
        tasks.push(ChannelTask {
            channel: *channel,
            role: role.clone(),
            resampler,
            stats: ChannelStats::default(),
        });
    }
    let mut buf = vec![0u8; BLOCK_FRAMES * info.block_align];
    // Decoded and resampled `f32` samples (resampling only).
    let (mut dec, mut res): (Vec<f32>, Vec<f32>) = (Vec::new(), Vec::new());
    let mut remaining = info.data_len;
    let mut short_read = false;
    // Time spent running chunk jobs inline (backpressure), kept out of "chunk".
    let inline_ns = std::cell::Cell::new(0u64);
    // Backpressure that also balances the threads: the file's task, when it
    // finds too many chunk jobs waiting, runs the oldest ones itself (the
    // other threads take them as they are spawned).
    let help = |fsink: &FileSink| -> u64 {
        let t = Instant::now();
        let mut ran = false;
        while ctx.in_flight.load(Ordering::Acquire) > ctx.max_in_flight {
            let Some(job) = fsink.dequeue(ctx) else { break };
            run_chunk_job(ctx, input, info, seg, job, fsink);
            ran = true;
        }
        if ran {
            t.elapsed().as_nanos() as u64
        } else {
            0
        }
    };
    let emit = |tasks: &mut [ChannelTask], k: usize, plan: Plan, audio: &[i16], start: usize| {
        let task = &mut tasks[k];
        let stats = &mut task.stats;
        stats.forced_cuts += plan.forced_cuts;
        for (span, reason) in plan.dropped {
            let e = stats.dropped.entry(reason.code().to_string()).or_default();
            e.count += 1;
            e.speech_s += span.len() as f64 / f64::from(rate);
        }
        for span in plan.chunks {
            let samples = audio[span.start - start..span.end - start].to_vec();
            let job = ChunkJob {
                id: format!("{}-{}-{:010}", input.id_base, task.role, span.start),
                channel: task.channel,
                role: task.role.clone(),
                span,
                samples,
            };
            fsink.enqueue(ctx, job);
            scope.spawn(move |_| {
                if let Some(job) = fsink.dequeue(ctx) {
                    run_chunk_job(ctx, input, info, seg, job, fsink);
                }
            });
        }
        inline_ns.set(inline_ns.get() + help(fsink));
    };
    while remaining > 0 {
        if ctx.abort.load(Ordering::Relaxed) {
            return Err(Failure::new(
                "aborted",
                "the run stopped after an output error",
            ));
        }
        let t = Instant::now();
        let want = (remaining as usize).min(buf.len());
        let got = decode::read_up_to(&mut file, &mut buf[..want])
            .map_err(|e| Failure::new("read_error", e.to_string()))?;
        if got < want {
            // The file shrank under us: decode what is there.
            short_read = true;
            remaining = 0;
        } else {
            remaining -= got as u64;
        }
        let whole = &buf[..got - got % info.block_align];
        ctx.timings.add(T_DECODE, t);
        let t = Instant::now();
        // Decoded (and resampled, then rounded to PCM16) samples go straight
        // into each segmenter's buffer.
        let mut fill_ns = 0u64;
        for (task, segmenter) in tasks.iter_mut().zip(&mut segmenters) {
            let t0 = Instant::now();
            let mut resample_err = None;
            segmenter.append_with(|audio| match task.resampler.as_mut() {
                None => {
                    decode::decode_channel_i16(info, whole, task.channel, audio);
                    ctx.timings.add(T_DECODE, t0);
                }
                Some(r) => {
                    dec.clear();
                    decode::decode_channel(info, whole, task.channel, &mut dec);
                    ctx.timings.add(T_DECODE, t0);
                    let t = Instant::now();
                    res.clear();
                    let pushed = r.push(&dec, &mut res).and_then(|()| {
                        if remaining == 0 {
                            r.finish(&mut res)
                        } else {
                            Ok(())
                        }
                    });
                    // The chunk WAVs hold PCM16, and the VAD and the mel
                    // read exactly what they hold.
                    audio.extend(res.iter().map(|&x| to_i16(x)));
                    resample_err = pushed.err();
                    ctx.timings.add(T_RESAMPLE, t);
                }
            });
            fill_ns += t0.elapsed().as_nanos() as u64;
            if let Some(e) = resample_err {
                return Err(Failure::new("resample_error", e.to_string()));
            }
        }
        pipeline::push_together(&mut segmenters, &mut |k, plan, audio, start| {
            emit(&mut tasks, k, plan, audio, start)
        });
        if remaining == 0 {
            for (k, segmenter) in segmenters.iter_mut().enumerate() {
                segmenter.finish(&mut |plan, audio, start| emit(&mut tasks, k, plan, audio, start));
            }
        }
        // Also between sections: the file's task helps with its queued jobs
        // even while its sections are long.
        inline_ns.set(inline_ns.get() + help(fsink));
        let all = t.elapsed().as_nanos() as u64;
        let vad: u64 = segmenters.iter_mut().map(|s| s.take_vad_ns()).sum();
        ctx.timings.0[T_VAD].fetch_add(vad, Ordering::Relaxed);
        let inline = inline_ns.replace(0);
        ctx.timings.0[T_CHUNK].fetch_add(
            all.saturating_sub(vad + inline + fill_ns),
            Ordering::Relaxed,
        );
    }
    Ok((tasks.into_iter().map(|t| t.stats).collect(), short_read))
}

/// One item for the `mel` job: a chunk WAV (or a range of one channel of a
/// source when the manifest row came from `run --no-wav`).
#[derive(Debug, Clone)]
pub struct MelItem {
    /// Audio file to read.
    pub path: PathBuf,
    /// Name for messages.
    pub source: String,
    /// Output id (`mel/<id>.npy`).
    pub id: String,
    /// The manifest row this item came from, if any.
    pub row: Option<Row>,
}

/// Computes the features of one existing chunk.
pub fn process_mel_item(ctx: &Ctx, item: &MelItem) -> Result<Processed, Failure> {
    let ex = ctx.mel.expect("mel job has an extractor");
    let t = Instant::now();
    let mut f = File::open(&item.path)
        .map_err(|e| Failure::new("read_error", format!("cannot open: {e}")))?;
    let len = f
        .metadata()
        .map_err(|e| Failure::new("read_error", e.to_string()))?
        .len();
    let info = decode::read_header(&mut io::BufReader::new(&mut f), len)?;
    if info.truncated && ctx.strict {
        return Err(Failure::new(
            "truncated",
            "the data chunk runs past the end of the file",
        ));
    }
    let (channel, first, count) = match &item.row {
        Some(r) if r.offset > 0.0 || info.channels > 1 => {
            let rate = f64::from(info.sample_rate_hz);
            let first = (r.offset * rate).round() as u64;
            let count = (r.duration * rate).round() as u64;
            (r.channel, first, count)
        }
        _ => (0, 0, info.frames()),
    };
    if channel >= info.channels {
        return Err(Failure::new(
            "bad_channel_count",
            format!(
                "manifest asks for channel {channel} but the file has {}",
                info.channels
            ),
        ));
    }
    if item.row.is_none() && info.channels > 1 {
        return Err(Failure::new(
            "not_mono",
            format!(
                "mel expects mono chunk WAVs; this file has {} channels (run `callprep segment` or `run` on it)",
                info.channels
            ),
        ));
    }
    let first = first.min(info.frames());
    let count = count.min(info.frames() - first);
    f.seek(SeekFrom::Start(
        info.data_offset + first * info.block_align as u64,
    ))
    .map_err(|e| Failure::new("read_error", e.to_string()))?;
    let mut samples = Vec::with_capacity(count as usize);
    let mut buf = vec![0u8; BLOCK_FRAMES * info.block_align];
    let mut left = count;
    while left > 0 {
        let want = (left as usize).min(BLOCK_FRAMES) * info.block_align;
        let got = decode::read_up_to(&mut f, &mut buf[..want])
            .map_err(|e| Failure::new("read_error", e.to_string()))?;
        let whole = got - got % info.block_align;
        decode::decode_channel(&info, &buf[..whole], channel, &mut samples);
        if got < want {
            break;
        }
        left -= (whole / info.block_align) as u64;
    }
    ctx.timings.add(T_DECODE, t);
    let staged = Mutex::new(Vec::new());
    let (rel, frames, shape, bytes) =
        write_mel(ctx, ex, &samples, info.sample_rate_hz, &item.id, &|st| {
            staged
                .lock()
                .expect("no panic while holding the lock")
                .push(st)
        })?;

    let duration = samples.len() as f64 / f64::from(info.sample_rate_hz);
    let mut row = match &item.row {
        Some(r) => r.clone(),
        None => Row {
            id: item.id.clone(),
            audio_filepath: String::new(),
            offset: 0.0,
            duration,
            text: String::new(),
            source: item.source.clone(),
            channel: 0,
            role: "mixed".into(),
            start: 0.0,
            end: duration,
            sample_rate: info.sample_rate_hz,
            mel_filepath: None,
            n_frames: None,
            n_mels: None,
            mel_shape: None,
            truncated: info.truncated,
        },
    };
    row.audio_filepath = sink::relative_path(&item.path, ctx.out)
        .to_string_lossy()
        .replace('\\', "/");
    row.mel_filepath = Some(rel.clone());
    row.n_frames = Some(frames);
    row.n_mels = Some(ex.config().n_mels);
    row.mel_shape = Some(shape);
    let done = Done {
        stats: FileStats {
            format: info.format.name().into(),
            channels: info.channels,
            sample_rate: info.sample_rate_hz,
            duration_s: duration,
            truncated: info.truncated,
            chunks: 1,
            chunk_s: duration,
            ..FileStats::default()
        },
        rows: vec![row],
        written: vec![Written { path: rel, bytes }],
    };
    Ok(Processed {
        done,
        staged: staged.into_inner().expect("lock not poisoned"),
    })
}
