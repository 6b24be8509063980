//! The mel job (`mel`): features for chunks that already exist.
//!
//! In: a [`MelItem`]: a mono chunk WAV, or a manifest row (a chunk WAV, or
//! with `run --no-wav` a range of one channel of a source). Out: its
//! `mel/<id>.npy` and row (the input row with `mel_filepath` and the shape
//! filled, `audio_filepath` relative to OUT).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;

use super::{open_input, read_error, write_features};
use crate::config::UsageError;
use crate::engine::{Ctx, Done, Failure, Job, Processed, Stage};
use crate::input::{self, Found};
use crate::output::report::FileStats;
use crate::output::{row, ReasonCode, Row, Written};
use crate::stages::decode;
use crate::stages::mel::MelExtractor;
use crate::stages::resample::StreamResampler;
use crate::storage::InputReader;

/// One item for the `mel` job: one audio file, and the manifest rows that
/// point into it (none for a chunk WAV given as an input).
#[derive(Debug, Clone)]
pub struct MelItem {
    /// Audio file to read.
    pub path: PathBuf,
    /// Name for messages.
    pub source: String,
    /// The item's id: the output id (`mel/<id>.npy`) of a WAV input, or of
    /// the first of its rows.
    pub id: String,
    /// The manifest rows that point into this file, sorted by id (their
    /// ids cleaned); empty for a WAV input.
    pub rows: Vec<Row>,
}

/// Computes the features of existing chunks.
pub struct MelJob<'a> {
    /// The feature extractor.
    pub mel: &'a MelExtractor,
    /// Truncated inputs are errors.
    pub strict: bool,
    /// Manifest paths are absolute (else relative to the manifest's folder).
    pub absolute_paths: bool,
}

impl Job for MelJob<'_> {
    type Item = MelItem;

    fn id<'a>(&self, item: &'a MelItem) -> &'a str {
        &item.id
    }

    fn source<'a>(&self, item: &'a MelItem) -> &'a str {
        &item.source
    }

    fn input_path<'a>(&self, item: &'a MelItem) -> &'a Path {
        &item.path
    }

    fn process(&self, ctx: &Ctx, item: &MelItem) -> Result<Processed, Failure> {
        if item.rows.is_empty() {
            self.chunk(ctx, item)
        } else {
            self.rows(ctx, item)
        }
    }
}

impl MelJob<'_> {
    /// Computes the features of one existing chunk.
    fn chunk(&self, ctx: &Ctx, item: &MelItem) -> Result<Processed, Failure> {
        let ex = self.mel;
        let t = Instant::now();
        let (mut f, info) = open_input(ctx.storage, &item.path, self.strict)?;
        if info.channels > 1 {
            return Err(Failure::new(
                ReasonCode::NotMono,
                format!(
                    "mel expects mono chunk WAVs; this file has {} channels (run `callprep segment` or `run` on it)",
                    info.channels
                ),
            ));
        }
        let raw = read_audio(&mut f, &info)?;
        let mut samples = Vec::with_capacity(info.frames() as usize);
        decode::decode_channel(&info, &raw, 0, &mut samples);
        ctx.timings.add(Stage::Decode, t);
        let staged = Mutex::new(Vec::new());
        let feats = write_features(ctx, ex, &samples, info.sample_rate_hz, &item.id, &|st| {
            staged
                .lock()
                .expect("no panic while holding the lock")
                .push(st)
        })?;

        let duration = samples.len() as f64 / f64::from(info.sample_rate_hz);
        let mut row = Row {
            id: item.id.clone(),
            audio_filepath: String::new(),
            offset: 0.0,
            duration,
            text: String::new(),
            source: row::manifest_path(&item.path, ctx.out, self.absolute_paths),
            channel: 0,
            role: "mixed".into(),
            start: 0.0,
            end: duration,
            sample_rate: info.sample_rate_hz,
            source_sample_rate: None,
            source_channels: None,
            mel_filepath: None,
            n_frames: None,
            n_mels: None,
            mel_shape: None,
            truncated: info.truncated,
        };
        self.fill_row(ctx, &mut row, &item.path, &feats);
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
            written: vec![Written {
                path: feats.rel,
                bytes: feats.bytes,
            }],
            quarantine: Vec::new(),
        };
        Ok(Processed {
            done,
            staged: staged.into_inner().expect("lock not poisoned"),
        })
    }
}

impl MelJob<'_> {
    /// Points `row` at its audio file and its features, as the manifest
    /// writes paths.
    fn fill_row(&self, ctx: &Ctx, row: &mut Row, audio: &Path, feats: &super::Features) {
        let listed = |p: &Path| row::manifest_path(p, ctx.out, self.absolute_paths);
        row.audio_filepath = listed(audio);
        row.mel_filepath = Some(listed(&ctx.out.join(&feats.rel)));
        row.n_frames = Some(feats.frames);
        row.n_mels = Some(self.mel.config().n_mels);
        row.mel_shape = Some(feats.shape);
    }

    /// The features of manifest rows that point into one file: a chunk WAV,
    /// or (rows of `run --no-wav`) a range of one channel of a source. Each
    /// row's audio is what `run` cut: the row's channel decoded, resampled
    /// to the row's `sample_rate` when the file has another rate (the whole
    /// channel through one streaming resampler, as `run` streams it),
    /// rounded to PCM16, and cut at `offset`/`duration` in that timeline;
    /// so the `.npy` are `run`'s bytes. Holds one decoded channel at a time.
    fn rows(&self, ctx: &Ctx, item: &MelItem) -> Result<Processed, Failure> {
        let ex = self.mel;
        let t = Instant::now();
        let (mut f, info) = open_input(ctx.storage, &item.path, self.strict)?;
        let raw = read_audio(&mut f, &info)?;
        ctx.timings.add(Stage::Decode, t);
        let staged = Mutex::new(Vec::new());
        let stage = |st| {
            staged
                .lock()
                .expect("no panic while holding the lock")
                .push(st)
        };
        let mut done = Done {
            stats: FileStats {
                format: info.format.name().into(),
                channels: info.channels,
                sample_rate: info.sample_rate_hz,
                duration_s: info.duration_s(),
                truncated: info.truncated,
                ..FileStats::default()
            },
            ..Done::default()
        };
        // (channel, rate) of the samples in `audio`.
        let mut have: Option<(usize, u32)> = None;
        let mut audio: Vec<i16> = Vec::new();
        let mut by_channel: Vec<&Row> = item.rows.iter().collect();
        by_channel.sort_by_key(|r| (r.channel, r.sample_rate));
        let mut out_rows = Vec::with_capacity(item.rows.len());
        for r in by_channel {
            // A row's `channel` is the source's; a mono file (a chunk WAV,
            // or a mono source) has only channel 0.
            let channel = if info.channels == 1 { 0 } else { r.channel };
            if channel >= info.channels {
                return Err(Failure::new(
                    ReasonCode::BadChannelCount,
                    format!(
                        "manifest row {} asks for channel {} but the file has {}",
                        r.id, r.channel, info.channels
                    ),
                ));
            }
            if have != Some((channel, r.sample_rate)) {
                audio = channel_at(ctx, &info, &raw, channel, r.sample_rate)?;
                have = Some((channel, r.sample_rate));
            }
            let rate = f64::from(r.sample_rate);
            let first = ((r.offset * rate).round().max(0.0) as usize).min(audio.len());
            let count = ((r.duration * rate).round().max(0.0) as usize).min(audio.len() - first);
            let samples = &audio[first..first + count];
            let feats = write_features(ctx, ex, samples, r.sample_rate, &r.id, &stage)?;
            let mut row = r.clone();
            row.source = row::manifest_path(Path::new(&r.source), ctx.out, self.absolute_paths);
            self.fill_row(ctx, &mut row, &item.path, &feats);
            done.stats.chunks += 1;
            done.stats.chunk_s += count as f64 / rate;
            done.written.push(Written {
                path: feats.rel,
                bytes: feats.bytes,
            });
            out_rows.push(row);
        }
        out_rows.sort_by(|a, b| a.id.cmp(&b.id));
        done.rows = out_rows;
        Ok(Processed {
            done,
            staged: staged.into_inner().expect("lock not poisoned"),
        })
    }
}

/// The audio bytes of an opened input (the reader at its data), whole
/// frames only: what the file holds, up to the header's data size.
fn read_audio(f: &mut InputReader, info: &decode::WavInfo) -> Result<Vec<u8>, Failure> {
    let mut raw = vec![0u8; info.data_len as usize];
    let got = decode::read_up_to(f, &mut raw).map_err(read_error)?;
    raw.truncate(got - got % info.block_align);
    Ok(raw)
}

/// One channel of `raw` (whole frames) as PCM16 at `rate_hz`: decoded, and
/// resampled through one streaming resampler when the file has another
/// rate, exactly as the segment job streams it.
fn channel_at(
    ctx: &Ctx,
    info: &decode::WavInfo,
    raw: &[u8],
    channel: usize,
    rate_hz: u32,
) -> Result<Vec<i16>, Failure> {
    let t = Instant::now();
    let mut dec = Vec::new();
    decode::decode_channel(info, raw, channel, &mut dec);
    ctx.timings.add(Stage::Decode, t);
    if info.sample_rate_hz == rate_hz {
        return Ok(dec.into_iter().map(decode::to_i16).collect());
    }
    let t = Instant::now();
    let resample_error = |e: crate::stages::resample::ResampleError| {
        Failure::new(ReasonCode::ResampleError, e.to_string())
    };
    let mut r = StreamResampler::new(info.sample_rate_hz, rate_hz).map_err(resample_error)?;
    let mut res = Vec::new();
    r.push(&dec, &mut res).map_err(resample_error)?;
    r.finish(&mut res).map_err(resample_error)?;
    ctx.timings.add(Stage::Resample, t);
    Ok(res.into_iter().map(decode::to_i16).collect())
}

/// `mel` items: WAVs as they are, manifests row by row, sorted by id. Two
/// items with the same id (case-insensitively) are a usage error.
pub fn mel_items(found: &Found) -> Result<Vec<MelItem>> {
    let mut items: Vec<MelItem> = found
        .inputs
        .iter()
        .map(|i| MelItem {
            path: i.path.clone(),
            source: i.source.clone(),
            id: i.id_base.clone(),
            rows: Vec::new(),
        })
        .collect();
    // Manifest rows, grouped by the file they point into.
    let mut groups: std::collections::BTreeMap<PathBuf, Vec<Row>> = Default::default();
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
            let mut row: Row = serde_json::from_str(line)
                .map_err(|e| UsageError(format!("manifest {} line {}: {e}", m.display(), n + 1)))?;
            row.id = input::id_base(Path::new(&row.id)).0;
            // `source` is relative to the manifest's folder: resolve it
            // here, rewrite it relative to the new manifest's folder later.
            row.source = base.join(&row.source).display().to_string();
            groups
                .entry(base.join(&row.audio_filepath))
                .or_default()
                .push(row);
        }
    }
    for (path, mut rows) in groups {
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        items.push(MelItem {
            source: path.display().to_string(),
            id: rows[0].id.clone(),
            path,
            rows,
        });
    }
    items.sort_by(|a, b| a.id.cmp(&b.id));
    let mut seen = std::collections::HashSet::new();
    let ids = items.iter().flat_map(|i| {
        let own = i.rows.is_empty().then_some(i.id.as_str());
        own.into_iter().chain(i.rows.iter().map(|r| r.id.as_str()))
    });
    for id in ids {
        if !seen.insert(id.to_lowercase()) {
            return Err(UsageError(format!(
                "two inputs would write the same features mel/{id}.npy; give each chunk once"
            ))
            .into());
        }
    }
    Ok(items)
}
