//! Hugging Face `datasets`: an `audiofolder` that
//! `load_dataset("audiofolder", data_dir=DEST)` reads: `DEST/metadata.jsonl`
//! (one line per chunk: `file_name` plus every manifest field and
//! `speaker`) and the chunk audio under `DEST/audio/`, features under
//! `DEST/mel/`.
//!
//! `datasets` refuses a `file_name` outside DEST, so the audio is linked
//! into DEST (relative symbolic links), or copied with `--copy`. The
//! `audio_filepath`, `source` and `mel_filepath` columns are rewritten
//! relative to DEST. Rows pointing into sources (`run --no-wav`) cannot be
//! expressed (audiofolder has no offset): exported from chunk WAVs only.

use serde_json::json;

use super::{file_name, json_line, Dest, ExportError, Exporter, OutData, Place};

/// The Hugging Face audiofolder exporter.
#[derive(Debug, Clone, Copy)]
pub struct Hf;

impl Exporter for Hf {
    fn name(&self) -> &'static str {
        "hf"
    }

    fn export(&self, data: &OutData, dest: &mut Dest) -> Result<(), ExportError> {
        if let Some(it) = data
            .items
            .iter()
            .find(|i| i.in_source() || i.row.offset != 0.0)
        {
            return Err(ExportError::Unsupported {
                format: "hf",
                why: format!(
                    "row {} points {} s into {} (run --no-wav); an audiofolder holds whole files: \
                     export from a run with chunk WAVs (callprep run without --no-wav)",
                    it.row.id,
                    it.row.offset,
                    it.audio.display()
                ),
            });
        }
        let how = if dest.copy { Place::Copy } else { Place::Link };
        let mut lines = Vec::with_capacity(data.items.len());
        for it in &data.items {
            let file = dest.place(&it.audio, &format!("audio/{}", file_name(&it.audio)), how)?;
            let mut v = serde_json::to_value(&it.row).map_err(|e| ExportError::Io {
                path: it.row.id.clone(),
                error: std::io::Error::other(e),
            })?;
            v["file_name"] = json!(file);
            v["audio_filepath"] = json!(file);
            v["source"] = json!(dest.rel(&it.source));
            v["speaker"] = json!(it.speaker);
            // Present on every line (the manifest leaves it out when
            // false), so the column has one type throughout.
            v["truncated"] = json!(it.row.truncated);
            if let Some(mel) = &it.mel {
                let m = dest.place(mel, &format!("mel/{}", file_name(mel)), how)?;
                v["mel_filepath"] = json!(m);
            }
            lines.push(v);
        }
        dest.write("metadata.jsonl", |w| {
            lines.iter().try_for_each(|v| json_line(w, v))
        })
    }
}
