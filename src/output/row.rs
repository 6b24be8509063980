//! The manifest row (one chunk), the record of a written file, and the
//! paths rows hold (relative to OUT).
//!
//! In: what a job decided for a chunk. Out: one JSON Lines row; its key
//! order is the field order here (NeMo's keys first).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One manifest row (one chunk). NeMo keys plus ours; `None` fields are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Stable chunk id: `<input id>-<role>-<start sample>`.
    pub id: String,
    /// Audio to read, relative to the manifest's folder (or absolute with
    /// `--absolute-paths`): the chunk WAV, or the source with `--no-wav`.
    pub audio_filepath: String,
    /// Seconds into `audio_filepath` where the chunk starts (0 for chunk WAVs).
    pub offset: f64,
    /// Chunk length, seconds.
    pub duration: f64,
    /// Transcript placeholder (filled by a later step).
    pub text: String,
    /// The input recording, relative to the manifest's folder (or absolute
    /// with `--absolute-paths`).
    pub source: String,
    /// Channel index in the source.
    pub channel: usize,
    /// Channel role (`agent`, `customer`, `mixed`, …).
    pub role: String,
    /// Chunk start in the source, seconds.
    pub start: f64,
    /// Chunk end in the source, seconds.
    pub end: f64,
    /// Rate of the chunk audio, Hz (the pipeline rate).
    pub sample_rate: u32,
    /// `run --no-wav` only, where `audio_filepath` is the source: its own
    /// rate, Hz (`offset`/`duration` are seconds in its timeline).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_sample_rate: Option<u32>,
    /// `run --no-wav` only: the source's channel count (`channel` picks one).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_channels: Option<usize>,
    /// Features, relative to the manifest's folder (or absolute).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mel_filepath: Option<String>,
    /// Feature frames.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n_frames: Option<usize>,
    /// Mel bins.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n_mels: Option<usize>,
    /// Shape of the `.npy` array.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mel_shape: Option<[usize; 2]>,
    /// The source file was truncated (decoded up to its real end).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub truncated: bool,
}

/// An output file of an input, with its expected size (for `--resume`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// Path relative to OUT.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Where a manifest row's file paths point, relative to OUT.
pub fn rel_to(out: &Path, p: &Path) -> String {
    p.strip_prefix(out)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// `path` as a manifest writes it: relative to the manifest's folder `out`
/// (NeMo's rule), or absolute; `/` as the separator. An object URL
/// (`s3://bucket/key`) is written as it is.
pub fn manifest_path(path: &Path, out: &Path, absolute: bool) -> String {
    // An object in a store (`s3://…`) is named by its URL.
    if let Some(url) = path
        .to_str()
        .filter(|p| crate::storage::object::is_object_url(p))
    {
        return url.to_string();
    }
    let p = if absolute {
        absolute_path(path)
    } else {
        relative_path(path, out)
    };
    p.to_string_lossy().replace('\\', "/")
}

/// `path` made absolute (against the current folder) with `.` and `..`
/// resolved lexically (symlinks are not followed).
pub fn absolute_path(path: &Path) -> PathBuf {
    let p = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to the folder `base`, using `..` where needed (both are
/// made absolute first). Falls back to the absolute path.
pub fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let (p, b) = (absolute_path(path), absolute_path(base));
    let pc: Vec<_> = p.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = pc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return p;
    }
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/c.wav"), Path::new("/a/out")),
            PathBuf::from("../b/c.wav")
        );
        assert_eq!(
            rel_to(Path::new("/o"), Path::new("/o/wav/x.wav")),
            "wav/x.wav"
        );
    }
}
