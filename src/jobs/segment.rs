//! The segment job (`run`, `segment`): one recording streamed through the
//! stages, its chunks written as they close.
//!
//! ```text
//! file ─ read block ─ decode+split (per channel) ─ [resample] ─ PCM16 ─ VAD frames ─ Sectioner ─ plan
//!                                                                                         │
//!                                             chunk samples (≤ max_chunk) ─ spawn ─ WAV + mel .npy
//! ```
//!
//! In: one [`Input`]. Out: its rows, written files and statistics, with the
//! files staged for the engine to commit.
//!
//! Each file is one task (rayon): it reads the file in blocks once for all
//! its channels, so memory is bounded by the longest open section, not the
//! file, and runs the channels' VADs together (their filterbanks overlap in
//! one loop, [`pipeline::push_together`]). Closed sections become chunk jobs
//! spawned into the file's rayon scope, where idle threads take them (the
//! parallelism inside a long file); when too many are in flight the file's
//! task runs the oldest itself, which bounds memory without blocking a
//! thread. Every output is a pure function of (input, channel, chunk), so
//! bytes do not depend on the thread count.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;

use super::{open_input, read_error, write_features, BLOCK_FRAMES};
use crate::config::{DtmfMode, SegmentConfig, DTMF_MARGIN_S};
use crate::engine::{Ctx, Done, Failure, Job, Processed, Stage};
use crate::input::Input;
use crate::output::quarantine::{QuarantineReason, QuarantineRow};
use crate::output::report::{DropStat, FileStats};
use crate::output::{row, wav, ReasonCode, Row, Written};
use crate::pipeline::{self, ChannelSegmenter};
use crate::stages::chunk::{Plan, Span};
use crate::stages::decode::{self, to_i16, WavInfo};
use crate::stages::dtmf::DtmfDetector;
use crate::stages::mel::MelExtractor;
use crate::stages::resample::StreamResampler;
use crate::storage::{InputReader, Staged};
use crate::Isa;

/// Segments recordings (and computes their chunks' features when `mel` is set).
pub struct SegmentJob<'a> {
    /// Channel split, resampling, VAD and chunking.
    pub seg: &'a SegmentConfig,
    /// The feature extractor (`run`).
    pub mel: Option<&'a MelExtractor>,
    /// Write chunk WAVs (`run --no-wav` does not).
    pub write_wav: bool,
    /// Truncated inputs are errors.
    pub strict: bool,
    /// The instruction-set level of the stereo split (the VAD's and the
    /// mel's are in their configs / extractor).
    pub isa: Isa,
    /// Manifest paths are absolute (else relative to the manifest's folder).
    pub absolute_paths: bool,
}

impl Job for SegmentJob<'_> {
    type Item = Input;

    fn id<'a>(&self, item: &'a Input) -> &'a str {
        &item.id_base
    }

    fn source<'a>(&self, item: &'a Input) -> &'a str {
        &item.source
    }

    fn input_path<'a>(&self, item: &'a Input) -> &'a std::path::Path {
        &item.path
    }

    fn process(&self, ctx: &Ctx, input: &Input) -> Result<Processed, Failure> {
        self.file(ctx, input)
    }

    fn ok_reason(&self, stats: &FileStats) -> Option<ReasonCode> {
        (stats.chunks == 0).then_some(ReasonCode::NoSpeech)
    }

    fn writes_quarantine(&self) -> bool {
        true
    }
}

/// One chunk ready to be written.
struct ChunkJob {
    id: String,
    channel: usize,
    role: String,
    span: Span,
    samples: Vec<i16>,
}

/// Drops, forced cuts and quarantined chunks of one channel.
#[derive(Default)]
struct ChannelStats {
    dropped: BTreeMap<String, DropStat>,
    forced_cuts: usize,
    /// Chunks the DTMF gate removed, in time order.
    quarantine: Vec<QuarantineRow>,
}

/// One selected channel of the file being streamed.
struct ChannelTask {
    channel: usize,
    role: String,
    resampler: Option<StreamResampler>,
    stats: ChannelStats,
    /// The keypad-tone detector (not with `--dtmf off`).
    dtmf: Option<DtmfDetector>,
    /// Chunk jobs held until the detector has covered their end plus the
    /// margin, in time order.
    pending: VecDeque<ChunkJob>,
}

/// One file being segmented: what its channel tasks and chunk jobs share.
struct FileRun<'a> {
    ctx: &'a Ctx<'a>,
    job: &'a SegmentJob<'a>,
    input: &'a Input,
    info: WavInfo,
    /// The input's path as the manifest writes it (rows point at it with
    /// `--no-wav`).
    source_path: String,
    rows: Mutex<Vec<(Row, Vec<Written>)>>,
    staged: Mutex<Vec<Staged>>,
    failure: Mutex<Option<Failure>>,
    /// Chunk jobs of this file not yet started, oldest first. Any thread
    /// working on the file may take them.
    queue: Mutex<VecDeque<ChunkJob>>,
}

impl SegmentJob<'_> {
    /// Segments one input.
    fn file(&self, ctx: &Ctx, input: &Input) -> Result<Processed, Failure> {
        let (reader, info) = open_input(ctx.storage, &input.path, self.strict)?;
        let channels: Vec<(usize, String)> = (0..info.channels)
            .filter_map(|c| self.seg.role(c, info.channels).map(|r| (c, r)))
            .collect();
        if channels.is_empty() {
            return Err(Failure::new(
                ReasonCode::NoChannelsSelected,
                format!(
                    "--channels skips every channel of this {}-channel file",
                    info.channels
                ),
            ));
        }
        let run = FileRun {
            ctx,
            job: self,
            input,
            info,
            source_path: row::manifest_path(&input.path, ctx.out, self.absolute_paths),
            rows: Mutex::new(Vec::new()),
            staged: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
            queue: Mutex::new(VecDeque::new()),
        };
        let streamed = rayon::scope(|s| run.stream(s, reader, &channels));
        let FileRun {
            info,
            rows,
            staged,
            failure,
            ..
        } = run;
        let staged = staged.into_inner().expect("lock not poisoned");
        let (per_channel, short_read) =
            match (failure.into_inner().expect("lock not poisoned"), streamed) {
                (None, Ok(p)) => p,
                (Some(f), _) | (None, Err(f)) => {
                    ctx.storage.discard(staged);
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
        let mut quarantine = Vec::new();
        for cs in per_channel {
            stats.forced_cuts += cs.forced_cuts;
            stats.add_dropped(&cs.dropped);
            quarantine.extend(cs.quarantine);
        }
        let mut pairs = rows.into_inner().expect("lock not poisoned");
        pairs.sort_by(|a, b| (a.0.channel, &a.0.id).cmp(&(b.0.channel, &b.0.id)));
        let mut done = Done {
            stats,
            quarantine,
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
}

impl<'a> FileRun<'a> {
    fn enqueue(&self, job: ChunkJob) {
        self.queue
            .lock()
            .expect("no panic while holding the lock")
            .push_back(job);
        self.ctx.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn dequeue(&self) -> Option<ChunkJob> {
        let job = self
            .queue
            .lock()
            .expect("no panic while holding the lock")
            .pop_front();
        if job.is_some() {
            self.ctx.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        job
    }

    fn stage(&self, s: Staged) {
        self.staged
            .lock()
            .expect("no panic while holding the lock")
            .push(s);
    }

    /// Backpressure that also balances the threads: the file's task, when
    /// it finds too many chunk jobs waiting, runs the oldest ones itself
    /// (the other threads take them as they are spawned). Returns the
    /// nanoseconds spent.
    fn help(&self) -> u64 {
        let t = Instant::now();
        let mut ran = false;
        while self.ctx.in_flight.load(Ordering::Acquire) > self.ctx.max_in_flight {
            let Some(job) = self.dequeue() else { break };
            self.write_chunk(job);
            ran = true;
        }
        if ran {
            t.elapsed().as_nanos() as u64
        } else {
            0
        }
    }

    /// Writes one chunk (WAV, features) and keeps its row, or the file's
    /// first failure.
    fn write_chunk(&self, job: ChunkJob) {
        #[cfg(feature = "fault-injection")]
        fault_injection::maybe_panic(&self.input.source);
        let mut written = Vec::new();
        match self.chunk_row(&job, &mut written) {
            Ok(row) => self
                .rows
                .lock()
                .expect("no panic while holding the lock")
                .push((row, written)),
            Err(f) => {
                if f.environment {
                    self.ctx.abort.store(true, Ordering::Relaxed);
                }
                let mut slot = self
                    .failure
                    .lock()
                    .expect("no panic while holding the lock");
                if slot.is_none() {
                    *slot = Some(f);
                }
            }
        }
    }

    fn chunk_row(&self, job: &ChunkJob, written: &mut Vec<Written>) -> Result<Row, Failure> {
        let (ctx, rate) = (self.ctx, self.job.seg.sample_rate_hz);
        let start_s = job.span.start as f64 / f64::from(rate);
        let end_s = job.span.end as f64 / f64::from(rate);
        let (audio_filepath, offset) = if self.job.write_wav {
            let t = Instant::now();
            let path = ctx.out.join("wav").join(format!("{}.wav", job.id));
            let staged = ctx
                .storage
                .stage(&path, |w| wav::write_wav(w, &job.samples, rate))
                .map_err(|e| Failure::write(&e, &path))?;
            self.stage(staged);
            ctx.timings.add(Stage::Write, t);
            written.push(Written {
                path: row::rel_to(ctx.out, &path),
                bytes: wav::wav_size(job.samples.len()),
            });
            let listed = row::manifest_path(&path, ctx.out, self.job.absolute_paths);
            (listed, 0.0)
        } else {
            (self.source_path.clone(), start_s)
        };
        let mut row = Row {
            id: job.id.clone(),
            audio_filepath,
            offset,
            duration: job.span.len() as f64 / f64::from(rate),
            text: String::new(),
            source: self.source_path.clone(),
            channel: job.channel,
            role: job.role.clone(),
            start: start_s,
            end: end_s,
            sample_rate: rate,
            source_sample_rate: (!self.job.write_wav).then_some(self.info.sample_rate_hz),
            source_channels: (!self.job.write_wav).then_some(self.info.channels),
            mel_filepath: None,
            n_frames: None,
            n_mels: None,
            mel_shape: None,
            truncated: self.info.truncated,
        };
        if let Some(ex) = self.job.mel {
            let f = write_features(ctx, ex, &job.samples, rate, &job.id, &|st| self.stage(st))?;
            let listed =
                row::manifest_path(&ctx.out.join(&f.rel), ctx.out, self.job.absolute_paths);
            written.push(Written {
                path: f.rel,
                bytes: f.bytes,
            });
            row.mel_filepath = Some(listed);
            row.n_frames = Some(f.frames);
            row.n_mels = Some(ex.config().n_mels);
            row.mel_shape = Some(f.shape);
        }
        Ok(row)
    }

    /// A fresh segmenter and channel task per selected channel.
    fn channel_tasks(
        &self,
        channels: &[(usize, String)],
    ) -> Result<(Vec<ChannelTask>, Vec<ChannelSegmenter>), Failure> {
        let (seg, from_hz) = (self.job.seg, self.info.sample_rate_hz);
        let mut tasks = Vec::with_capacity(channels.len());
        let mut segmenters = Vec::with_capacity(channels.len());
        for (channel, role) in channels {
            segmenters.push(
                ChannelSegmenter::new(seg)
                    .map_err(|e| Failure::new(ReasonCode::BadConfig, e.to_string()))?,
            );
            let resampler = if from_hz != seg.sample_rate_hz {
                Some(
                    StreamResampler::new(from_hz, seg.sample_rate_hz)
                        .map_err(|e| Failure::new(ReasonCode::ResampleError, e.to_string()))?,
                )
            } else {
                None
            };
            tasks.push(ChannelTask {
                channel: *channel,
                role: role.clone(),
                resampler,
                stats: ChannelStats::default(),
                dtmf: (seg.dtmf != DtmfMode::Off).then(|| DtmfDetector::new(seg.sample_rate_hz)),
                pending: VecDeque::new(),
            });
        }
        Ok((tasks, segmenters))
    }

    /// Takes a closed section's plan: counts its drops and queues its chunks
    /// (spawned into the file's scope). Returns the nanoseconds spent
    /// running queued jobs inline.
    fn emit<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        task: &mut ChannelTask,
        plan: Plan,
        audio: &[i16],
        start: usize,
    ) -> u64 {
        let rate = self.job.seg.sample_rate_hz;
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
                id: format!("{}-{}-{:010}", self.input.id_base, task.role, span.start),
                channel: task.channel,
                role: task.role.clone(),
                span,
                samples,
            };
            if task.dtmf.is_some() {
                task.pending.push_back(job);
            } else {
                self.spawn(scope, job);
            }
        }
        self.release(scope, task);
        self.help()
    }

    /// Queues a chunk job and spawns a taker for it in the file's scope.
    fn spawn<'s>(&'s self, scope: &rayon::Scope<'s>, job: ChunkJob) {
        self.enqueue(job);
        scope.spawn(move |_| {
            if let Some(job) = self.dequeue() {
                self.write_chunk(job);
            }
        });
    }

    /// The DTMF gate: the held chunk jobs whose end plus the margin the
    /// detector has covered are decided, oldest first. `drop`: a chunk
    /// within the margin of a tone span is not written; it becomes a
    /// quarantine row and a `dtmf` drop. `mask`: the tone spans inside the
    /// chunk are zeroed. Every other chunk is spawned unchanged.
    fn release<'s>(&'s self, scope: &rayon::Scope<'s>, task: &mut ChannelTask) {
        let Some(det) = task.dtmf.as_ref() else {
            return;
        };
        let rate = self.job.seg.sample_rate_hz;
        let margin = (DTMF_MARGIN_S * f64::from(rate)).round() as usize;
        let known = det.known_until();
        while task
            .pending
            .front()
            .is_some_and(|j| j.span.end.saturating_add(margin) <= known)
        {
            let Some(mut job) = task.pending.pop_front() else {
                break;
            };
            let (s, e) = (job.span.start, job.span.end);
            match self.job.seg.dtmf {
                DtmfMode::Drop if det.overlaps(s.saturating_sub(margin)..e + margin) => {
                    let secs = |x: usize| x as f64 / f64::from(rate);
                    let d = task.stats.dropped.entry("dtmf".to_string()).or_default();
                    d.count += 1;
                    d.speech_s += secs(e - s);
                    task.stats.quarantine.push(QuarantineRow {
                        id: job.id,
                        source: self.source_path.clone(),
                        channel: job.channel,
                        start: secs(s),
                        end: secs(e),
                        reason: QuarantineReason::Dtmf,
                    });
                }
                DtmfMode::Mask => {
                    for t in det.spans() {
                        let (a, b) = (t.start.max(s), t.end.min(e));
                        if a < b {
                            job.samples[a - s..b - s].fill(0);
                        }
                    }
                    self.spawn(scope, job);
                }
                _ => self.spawn(scope, job),
            }
        }
    }

    /// Decodes one block of whole frames into every channel's segmenter
    /// (resampled, then rounded to PCM16, when the rates differ; the chunk
    /// WAVs hold PCM16, and the VAD and the mel read exactly what they
    /// hold). `last`: the block ends the file. Returns the nanoseconds spent.
    fn fill(
        &self,
        tasks: &mut [ChannelTask],
        segmenters: &mut [ChannelSegmenter],
        whole: &[u8],
        last: bool,
        dec: &mut Vec<f32>,
        res: &mut Vec<f32>,
    ) -> Result<u64, Failure> {
        let (ctx, info) = (self.ctx, &self.info);
        let mut fill_ns = 0u64;
        for (task, segmenter) in tasks.iter_mut().zip(segmenters) {
            let t0 = Instant::now();
            let mut resample_err = None;
            segmenter.append_with(|audio| {
                let from = audio.len();
                match task.resampler.as_mut() {
                    None => {
                        decode::decode_channel_i16(info, whole, task.channel, self.job.isa, audio);
                        ctx.timings.add(Stage::Decode, t0);
                    }
                    Some(r) => {
                        dec.clear();
                        decode::decode_channel(info, whole, task.channel, dec);
                        ctx.timings.add(Stage::Decode, t0);
                        let t = Instant::now();
                        res.clear();
                        let pushed =
                            r.push(dec, res)
                                .and_then(|()| if last { r.finish(res) } else { Ok(()) });
                        audio.extend(res.iter().map(|&x| to_i16(x)));
                        resample_err = pushed.err();
                        ctx.timings.add(Stage::Resample, t);
                    }
                }
                // The gate hears exactly the samples the chunks are cut from.
                if let Some(d) = task.dtmf.as_mut() {
                    let t = Instant::now();
                    d.push(&audio[from..]);
                    if last {
                        d.finish();
                    }
                    ctx.timings.add(Stage::Dtmf, t);
                }
            });
            fill_ns += t0.elapsed().as_nanos() as u64;
            if let Some(e) = resample_err {
                return Err(Failure::new(ReasonCode::ResampleError, e.to_string()));
            }
        }
        Ok(fill_ns)
    }

    /// Streams the selected channels: read → decode → resample → VAD →
    /// sections → chunk jobs. One reader for all channels; their VADs run
    /// together ([`pipeline::push_together`]). Returns the channels' stats
    /// and whether the file ended before its header said.
    fn stream<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        mut reader: InputReader,
        channels: &[(usize, String)],
    ) -> Result<(Vec<ChannelStats>, bool), Failure> {
        let (ctx, info) = (self.ctx, &self.info);
        let (mut tasks, mut segmenters) = self.channel_tasks(channels)?;
        let mut buf = vec![0u8; BLOCK_FRAMES * info.block_align];
        // Decoded and resampled `f32` samples (resampling only).
        let (mut dec, mut res): (Vec<f32>, Vec<f32>) = (Vec::new(), Vec::new());
        let mut remaining = info.data_len;
        let mut short_read = false;
        while remaining > 0 {
            if let Some(f) = ctx.stopped() {
                return Err(f);
            }
            let t = Instant::now();
            let want = (remaining as usize).min(buf.len());
            let got = decode::read_up_to(&mut reader, &mut buf[..want]).map_err(read_error)?;
            if got < want {
                // The file shrank under us: decode what is there.
                short_read = true;
                remaining = 0;
            } else {
                remaining -= got as u64;
            }
            let whole = &buf[..got - got % info.block_align];
            ctx.timings.add(Stage::Decode, t);
            let t = Instant::now();
            let fill_ns = self.fill(
                &mut tasks,
                &mut segmenters,
                whole,
                remaining == 0,
                &mut dec,
                &mut res,
            )?;
            // Time spent running chunk jobs inline (backpressure), kept out of "chunk".
            let mut inline_ns = 0;
            pipeline::push_together(&mut segmenters, &mut |k, plan, audio, start| {
                inline_ns += self.emit(scope, &mut tasks[k], plan, audio, start);
            });
            if remaining == 0 {
                for (k, segmenter) in segmenters.iter_mut().enumerate() {
                    segmenter.finish(&mut |plan, audio, start| {
                        inline_ns += self.emit(scope, &mut tasks[k], plan, audio, start);
                    });
                }
            }
            // Chunks held for the DTMF gate whose end the detector has now covered.
            for task in tasks.iter_mut() {
                self.release(scope, task);
            }
            // Also between sections: the file's task helps with its queued
            // jobs even while its sections are long.
            inline_ns += self.help();
            let all = t.elapsed().as_nanos() as u64;
            let vad: u64 = segmenters.iter_mut().map(|s| s.take_vad_ns()).sum();
            ctx.timings.add_ns(Stage::Vad, vad);
            ctx.timings
                .add_ns(Stage::Chunk, all.saturating_sub(vad + inline_ns + fill_ns));
        }
        Ok((tasks.into_iter().map(|t| t.stats).collect(), short_read))
    }
}

/// Fault injection for the integration tests (`--features fault-injection`,
/// never in a release build): a bug inside one file's chunk job must become
/// that file's `internal_error`, not stop the batch.
#[cfg(feature = "fault-injection")]
mod fault_injection {
    use std::sync::OnceLock;

    /// Panics when `CALLPREP_TEST_PANIC` is set and `source` contains it.
    pub fn maybe_panic(source: &str) {
        static TEST_PANIC: OnceLock<Option<String>> = OnceLock::new();
        let test_panic = TEST_PANIC.get_or_init(|| {
            std::env::var_os("CALLPREP_TEST_PANIC")
                .map(|v| v.to_string_lossy().into_owned())
                .filter(|v| !v.is_empty())
        });
        if test_panic.as_deref().is_some_and(|v| source.contains(v)) {
            panic!("injected by CALLPREP_TEST_PANIC");
        }
    }
}
