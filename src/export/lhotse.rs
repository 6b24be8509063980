//! Lhotse: `DEST/recordings.jsonl.gz`, `supervisions.jsonl.gz` and
//! `cuts.jsonl.gz`, which `lhotse.load_manifest` reads (a `RecordingSet`,
//! a `SupervisionSet`, a `CutSet` of `MonoCut`s).
//!
//! Chunk WAV rows: one recording per chunk (channel 0). `run --no-wav`
//! rows: one recording per source with all its channels, and each
//! supervision and cut names its channel and starts at the row's offset.
//! Features are attached to the cuts as Lhotse `Features` in
//! `numpy_files` storage with the frame shift `hop_length /
//! mel sample rate` from `report.json`. Lhotse wants `[frames, n_mels]`:
//! `[n_mels, frames]` arrays (telephony and whisper presets) are written
//! transposed under `DEST/feats/`; frames-first arrays (kaldi preset,
//! `--layout frames-first`) are used where they lie (copied with `--copy`).
//!
//! Lhotse resolves relative paths against the working folder, not the
//! manifest's, so paths are absolute. Lines are sorted by id; the gzip
//! header has no name and mtime 0 (same OUT, same bytes).

use std::collections::BTreeMap;
use std::fs;
use std::io::BufReader;
use std::path::Path;

use serde_json::{json, Value};

use super::{file_name, io_err, json_line, Dest, ExportError, Exporter, Item, OutData};
use crate::output::npy::write_npy;

/// The Lhotse exporter.
#[derive(Debug, Clone, Copy)]
pub struct Lhotse;

/// Samples in `duration_s` at `rate_hz`.
fn samples(duration_s: f64, rate_hz: u32) -> u64 {
    (duration_s * f64::from(rate_hz)).round().max(0.0) as u64
}

/// A Lhotse `Recording` of one file with `channels` channels.
fn recording(id: &str, path: &str, channels: usize, rate_hz: u32, num_samples: u64) -> Value {
    let ch: Vec<usize> = (0..channels.max(1)).collect();
    json!({
        "id": id,
        "sources": [{"type": "file", "channels": ch, "source": path}],
        "sampling_rate": rate_hz,
        "num_samples": num_samples,
        "duration": num_samples as f64 / f64::from(rate_hz),
        "channel_ids": ch,
    })
}

/// Reads a `<f4` `.npy` of `shape` [a, b] and writes its transpose to `dst`.
fn transpose_npy(src: &Path, dst: &Path, dest: &mut Dest) -> Result<[usize; 2], ExportError> {
    let f = fs::File::open(src).map_err(io_err(src))?;
    let npy = npyz::NpyFile::new(BufReader::new(f)).map_err(io_err(src))?;
    let shape = npy.shape().to_vec();
    let bad = |what: String| ExportError::Io {
        path: src.display().to_string(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, what),
    };
    let [a, b] = <[u64; 2]>::try_from(shape.as_slice())
        .map_err(|_| bad(format!("shape {shape:?} is not 2-D")))?;
    let (a, b) = (a as usize, b as usize);
    let data: Vec<f32> = npy.into_vec().map_err(io_err(src))?;
    if data.len() != a * b {
        return Err(bad(format!("{} values for shape [{a}, {b}]", data.len())));
    }
    let mut t = vec![0f32; a * b];
    for i in 0..a {
        for j in 0..b {
            t[j * a + i] = data[i * b + j];
        }
    }
    let rel = dst
        .strip_prefix(&dest.dir)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| dst.to_string_lossy().into_owned());
    dest.write(&rel, |mut w| write_npy(&mut w, &t, [b, a]))?;
    Ok([b, a])
}

impl Exporter for Lhotse {
    fn name(&self) -> &'static str {
        "lhotse"
    }

    fn export(&self, data: &OutData, dest: &mut Dest) -> Result<(), ExportError> {
        let mut recordings: BTreeMap<String, Value> = BTreeMap::new();
        let mut sups: BTreeMap<String, Value> = BTreeMap::new();
        let mut cuts: BTreeMap<String, Value> = BTreeMap::new();
        for it in &data.items {
            let r = &it.row;
            let (rec_id, channel, start) = if it.in_source() {
                (it.source_id.clone(), r.channel, r.offset)
            } else {
                (r.id.clone(), 0, r.offset)
            };
            if !recordings.contains_key(&rec_id) {
                let rec = self.recording_of(data, it, dest)?;
                recordings.insert(rec_id.clone(), rec);
            }
            let mut sup = json!({
                "id": r.id,
                "recording_id": rec_id,
                "start": start,
                "duration": r.duration,
                "channel": channel,
                "speaker": it.speaker,
                "custom": {"role": r.role, "source_id": it.source_id, "source_start": r.start},
            });
            if !r.text.is_empty() {
                sup["text"] = json!(r.text);
            }
            let mut cut = json!({
                "id": r.id,
                "start": start,
                "duration": r.duration,
                "channel": channel,
                "supervisions": [sup.clone()],
                "recording": recordings[&rec_id],
                "type": "MonoCut",
            });
            if let Some(mel) = &it.mel {
                cut["features"] = self.features(data, it, mel, &rec_id, channel, start, dest)?;
            }
            sups.insert(r.id.clone(), sup);
            cuts.insert(r.id.clone(), cut);
        }
        for (name, set) in [
            ("recordings.jsonl.gz", &recordings),
            ("supervisions.jsonl.gz", &sups),
            ("cuts.jsonl.gz", &cuts),
        ] {
            dest.write_gz(name, |w| set.values().try_for_each(|v| json_line(w, v)))?;
        }
        Ok(())
    }
}

impl Lhotse {
    /// The recording an item's audio belongs to.
    fn recording_of(
        &self,
        data: &OutData,
        it: &Item,
        dest: &mut Dest,
    ) -> Result<Value, ExportError> {
        let r = &it.row;
        if it.in_source() {
            let rate = r.source_sample_rate.unwrap_or(r.sample_rate);
            let dur = data
                .file(&it.source_id)
                .and_then(|f| f.stats.as_ref())
                .map(|s| s.duration_s)
                .unwrap_or(r.offset + r.duration);
            let path = dest.refer_abs(&it.audio, &format!("sources/{}", file_name(&it.audio)))?;
            Ok(recording(
                &it.source_id,
                &path,
                r.source_channels.unwrap_or(1),
                rate,
                samples(dur, rate),
            ))
        } else {
            let path = dest.refer_abs(&it.audio, &format!("audio/{}", file_name(&it.audio)))?;
            Ok(recording(
                &r.id,
                &path,
                1,
                r.sample_rate,
                samples(r.duration, r.sample_rate),
            ))
        }
    }

    /// The Lhotse `Features` of an item (frames-first `.npy`).
    #[allow(clippy::too_many_arguments)] // one call site; the values are the cut's own
    fn features(
        &self,
        data: &OutData,
        it: &Item,
        mel: &Path,
        rec_id: &str,
        channel: usize,
        start: f64,
        dest: &mut Dest,
    ) -> Result<Value, ExportError> {
        let r = &it.row;
        let info = data.mel.ok_or_else(|| ExportError::Unsupported {
            format: "lhotse",
            why: format!(
                "{} has features but no feature parameters (parameters.mel) to take the frame shift from",
                data.dir.join("report.json").display()
            ),
        })?;
        let n_mels = r.n_mels.unwrap_or(0);
        let n_frames = r.n_frames.unwrap_or(0);
        // The row's shape decides the layout; the report's only when the
        // array is square.
        let frames_first = match r.mel_shape {
            Some([a, b]) if a != b => a == n_frames && b == n_mels,
            _ => info.frames_first,
        };
        let path = if frames_first {
            dest.refer_abs(mel, &format!("feats/{}", file_name(mel)))?
        } else {
            let dst = dest.dir.join("feats").join(file_name(mel));
            transpose_npy(mel, &dst, dest)?;
            dst.to_string_lossy().into_owned()
        };
        let p = Path::new(&path);
        Ok(json!({
            "type": "callprep-log-mel",
            "num_frames": n_frames,
            "num_features": n_mels,
            "frame_shift": info.frame_shift_s(),
            "sampling_rate": info.sample_rate_hz,
            "start": start,
            "duration": r.duration,
            "storage_type": "numpy_files",
            "storage_path": p.parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default(),
            "storage_key": file_name(p),
            "recording_id": rec_id,
            "channels": channel,
        }))
    }
}
