//! NeMo: `DEST/manifest.json`, one JSON object a line with NeMo's own keys
//! (`audio_filepath`, `duration`, `offset`, `text`, `speaker`, and
//! `feature_filepath` when OUT has features), plus callprep's fields
//! (`id`, `source`, `channel`, `role`, `start`, `end`, `sample_rate`,
//! `mel_shape`).
//!
//! Paths are relative to DEST with a folder part, the way NeMo resolves them
//! (`manifest.py`/`get_full_path`: a relative path that has a folder is
//! joined to the manifest's folder), or absolute. Features keep their layout:
//! NeMo's own features are `[n_mels, frames]`.

use serde_json::json;

use super::{file_name, json_line, Dest, ExportError, Exporter, OutData};

/// The NeMo exporter.
#[derive(Debug, Clone, Copy)]
pub struct Nemo;

impl Exporter for Nemo {
    fn name(&self) -> &'static str {
        "nemo"
    }

    fn export(&self, data: &OutData, dest: &mut Dest) -> Result<(), ExportError> {
        if let Some(it) = data.items.iter().find(|i| i.row.source_channels > Some(1)) {
            return Err(ExportError::Unsupported {
                format: "nemo",
                why: format!(
                    "row {} points into the {}-channel source {} (run --no-wav); NeMo mixes a file's channels \
                     down to one, so it cannot read one channel of it: export from a run with chunk WAVs, \
                     or use --format kaldi or lhotse",
                    it.row.id,
                    it.row.source_channels.unwrap_or(0),
                    it.source.display()
                ),
            });
        }
        let mut lines = Vec::with_capacity(data.items.len());
        for it in &data.items {
            let r = &it.row;
            let audio = dest.refer(&it.audio, &format!("audio/{}", file_name(&it.audio)))?;
            let mut v = json!({
                "audio_filepath": audio,
                "duration": r.duration,
                "offset": r.offset,
                "text": r.text,
                "speaker": it.speaker,
                "id": r.id,
                "source": dest.rel(&it.source),
                "channel": r.channel,
                "role": r.role,
                "start": r.start,
                "end": r.end,
                "sample_rate": r.sample_rate,
            });
            if let Some(mel) = &it.mel {
                v["feature_filepath"] =
                    json!(dest.refer(mel, &format!("features/{}", file_name(mel)))?);
                v["mel_shape"] = json!(r.mel_shape);
            }
            lines.push(v);
        }
        dest.write("manifest.json", |w| {
            lines.iter().try_for_each(|v| json_line(w, v))
        })
    }
}
