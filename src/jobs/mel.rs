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

use super::{open_input, read_error, write_features, BLOCK_FRAMES};
use crate::config::UsageError;
use crate::engine::{Ctx, Done, Failure, Job, Processed, Stage};
use crate::input::{self, Found};
use crate::output::report::FileStats;
use crate::output::{row, ReasonCode, Row, Written};
use crate::stages::decode;
use crate::stages::mel::MelExtractor;

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

/// Computes the features of existing chunks.
pub struct MelJob<'a> {
    /// The feature extractor.
    pub mel: &'a MelExtractor,
    /// Truncated inputs are errors.
    pub strict: bool,
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
        self.chunk(ctx, item)
    }
}

impl MelJob<'_> {
    /// Computes the features of one existing chunk.
    fn chunk(&self, ctx: &Ctx, item: &MelItem) -> Result<Processed, Failure> {
        let ex = self.mel;
        let t = Instant::now();
        let (mut f, info) = open_input(ctx.storage, &item.path, self.strict)?;
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
                ReasonCode::BadChannelCount,
                format!(
                    "manifest asks for channel {channel} but the file has {}",
                    info.channels
                ),
            ));
        }
        if item.row.is_none() && info.channels > 1 {
            return Err(Failure::new(
                ReasonCode::NotMono,
                format!(
                    "mel expects mono chunk WAVs; this file has {} channels (run `callprep segment` or `run` on it)",
                    info.channels
                ),
            ));
        }
        let first = first.min(info.frames());
        let count = count.min(info.frames() - first);
        std::io::Seek::seek(
            &mut f,
            std::io::SeekFrom::Start(info.data_offset + first * info.block_align as u64),
        )
        .map_err(read_error)?;
        let mut samples = Vec::with_capacity(count as usize);
        let mut buf = vec![0u8; BLOCK_FRAMES * info.block_align];
        let mut left = count;
        while left > 0 {
            let want = (left as usize).min(BLOCK_FRAMES) * info.block_align;
            let got = decode::read_up_to(&mut f, &mut buf[..want]).map_err(read_error)?;
            let whole = got - got % info.block_align;
            decode::decode_channel(&info, &buf[..whole], channel, &mut samples);
            if got < want {
                break;
            }
            left -= (whole / info.block_align) as u64;
        }
        ctx.timings.add(Stage::Decode, t);
        let staged = Mutex::new(Vec::new());
        let feats = write_features(ctx, ex, &samples, info.sample_rate_hz, &item.id, &|st| {
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
        row.audio_filepath = row::relative_path(&item.path, ctx.out)
            .to_string_lossy()
            .replace('\\', "/");
        row.mel_filepath = Some(feats.rel.clone());
        row.n_frames = Some(feats.frames);
        row.n_mels = Some(ex.config().n_mels);
        row.mel_shape = Some(feats.shape);
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
        };
        Ok(Processed {
            done,
            staged: staged.into_inner().expect("lock not poisoned"),
        })
    }
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
            row: None,
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
            items.push(MelItem {
                source: path.display().to_string(),
                path,
                id: clean,
                row: Some(row),
            });
        }
    }
    items.sort_by(|a, b| a.id.cmp(&b.id));
    let mut seen = std::collections::HashSet::new();
    for i in &items {
        if !seen.insert(i.id.to_lowercase()) {
            return Err(UsageError(format!(
                "two inputs would write the same features mel/{}.npy; give each chunk once",
                i.id
            ))
            .into());
        }
    }
    Ok(items)
}
