//! `callprep export`: a callprep output folder (OUT) in the layout another
//! training stack reads, one [`Exporter`] per format (NeMo, Hugging Face
//! `audiofolder`, Lhotse, Kaldi data directory).
//!
//! In: OUT's `manifest.jsonl` (rows as [`Row`]) and `report.json` (as
//! [`Report`]: the feature parameters and every input's length), read once
//! into an [`OutData`] whose paths are absolute. Out: files under DEST,
//! each written atomically ([`write_atomic`]); audio is referenced where it
//! lies unless the format needs it inside DEST (`hf`: links) or `--copy`
//! asks for copies. Rows that cannot be read are skipped with a message
//! naming the manifest and its line; the rest is exported.

pub mod hf;
pub mod kaldi;
pub mod lhotse;
pub mod nemo;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::output::atomic::write_atomic;
use crate::output::report::{FileEntry, Report};
use crate::output::row::{absolute_path, relative_path};
use crate::output::Row;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// NeMo manifest (`manifest.json`).
    Nemo,
    /// Hugging Face `datasets` audiofolder (`metadata.jsonl` + audio inside DEST).
    Hf,
    /// Lhotse manifests (`recordings`, `supervisions`, `cuts` `.jsonl.gz`).
    Lhotse,
    /// Kaldi data directory (`wav.scp`, `utt2spk`, …).
    Kaldi,
}

impl Format {
    /// The format's exporter.
    pub fn exporter(self) -> Box<dyn Exporter> {
        match self {
            Format::Nemo => Box::new(nemo::Nemo),
            Format::Hf => Box::new(hf::Hf),
            Format::Lhotse => Box::new(lhotse::Lhotse),
            Format::Kaldi => Box::new(kaldi::Kaldi),
        }
    }
}

/// Who the speaker of a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeakerFrom {
    /// The channel role (`agent`, `customer`): one speaker per role.
    Role,
    /// The input and the role (`call01-customer`): one speaker per caller,
    /// for speaker-disjoint splits.
    Source,
}

/// What `callprep export` was asked to do (validated).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportConfig {
    /// The callprep output folder read.
    pub out_dir: PathBuf,
    /// The format written.
    pub format: Format,
    /// The folder written.
    pub dest: PathBuf,
    /// Copy audio (and features) into DEST instead of referencing them.
    pub copy: bool,
    /// Speaker of each row.
    pub speaker_from: SpeakerFrom,
}

/// A failure that stops an export (a row that cannot be read is not one).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// OUT has no manifest or report.
    #[error("{path} is missing: {dir} is not a callprep output folder (give the OUT of `callprep run`, `segment` or `mel`)")]
    NotAnOutput {
        /// The file looked for.
        path: String,
        /// OUT.
        dir: String,
    },
    /// `report.json` does not parse.
    #[error("{path}: not a callprep report: {error}")]
    BadReport {
        /// The report.
        path: String,
        /// What serde said.
        error: String,
    },
    /// The format cannot express these rows.
    #[error("{format}: {why}")]
    Unsupported {
        /// The format.
        format: &'static str,
        /// What to do instead.
        why: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: io::Error,
    },
}

/// `Io` error of `path`.
pub fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |error| ExportError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// One manifest row with its paths made absolute and its speaker chosen.
#[derive(Debug, Clone)]
pub struct Item {
    /// The row as written.
    pub row: Row,
    /// The audio file (chunk WAV, or the source with `run --no-wav`).
    pub audio: PathBuf,
    /// The feature file, if any.
    pub mel: Option<PathBuf>,
    /// The input recording.
    pub source: PathBuf,
    /// The input's id (the row id without `-<role>-<start sample>`).
    pub source_id: String,
    /// The speaker label.
    pub speaker: String,
}

impl Item {
    /// The row points into a multi-channel source (`run --no-wav`).
    pub fn in_source(&self) -> bool {
        self.row.source_channels.is_some()
    }
}

/// Feature parameters of OUT (from `report.json`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MelInfo {
    /// Rate the features were computed at, Hz.
    pub sample_rate_hz: u32,
    /// Hop between frames, samples.
    pub hop_length: usize,
    /// `[frames, n_mels]` arrays (else `[n_mels, frames]`).
    pub frames_first: bool,
}

impl MelInfo {
    /// Seconds between frames.
    pub fn frame_shift_s(&self) -> f64 {
        self.hop_length as f64 / f64::from(self.sample_rate_hz)
    }
}

/// A callprep output folder, read.
#[derive(Debug, Clone)]
pub struct OutData {
    /// OUT, absolute.
    pub dir: PathBuf,
    /// Rows that could be read, in manifest order.
    pub items: Vec<Item>,
    /// The report.
    pub report: Report,
    /// Feature parameters, when OUT has features.
    pub mel: Option<MelInfo>,
    /// Messages about rows skipped (file:line: what).
    pub skipped: Vec<String>,
}

impl OutData {
    /// The report's entry of the input with id `id`.
    pub fn file(&self, id: &str) -> Option<&FileEntry> {
        self.report.files.iter().find(|f| f.id == id)
    }
}

/// The input id of a row id `<input id>-<role>-<start sample>`.
pub fn source_id(row: &Row) -> String {
    let suffix_start = row
        .id
        .rsplit_once('-')
        .map(|(head, _)| head)
        .unwrap_or(&row.id);
    suffix_start
        .strip_suffix(&format!("-{}", row.role))
        .unwrap_or(suffix_start)
        .to_string()
}

/// `p` as written in a manifest of folder `dir`: absolute, or relative to `dir`.
fn resolve(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    absolute_path(&if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    })
}

/// Reads OUT: its report and every manifest row it can.
pub fn read_out(out: &Path, speaker_from: SpeakerFrom) -> Result<OutData, ExportError> {
    let dir = absolute_path(out);
    let report_path = dir.join("report.json");
    let manifest_path = dir.join("manifest.jsonl");
    for p in [&manifest_path, &report_path] {
        if !p.is_file() {
            return Err(ExportError::NotAnOutput {
                path: p.display().to_string(),
                dir: dir.display().to_string(),
            });
        }
    }
    let text = fs::read_to_string(&report_path).map_err(io_err(&report_path))?;
    let report: Report = serde_json::from_str(&text).map_err(|e| ExportError::BadReport {
        path: report_path.display().to_string(),
        error: e.to_string(),
    })?;
    let mel = mel_info(&report.parameters);
    let file = fs::File::open(&manifest_path).map_err(io_err(&manifest_path))?;
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io_err(&manifest_path))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                skipped.push(format!(
                    "{}:{}: not a manifest row: {e}",
                    manifest_path.display(),
                    n + 1
                ));
                continue;
            }
        };
        let source_id = source_id(&row);
        let speaker = match speaker_from {
            SpeakerFrom::Role => row.role.clone(),
            SpeakerFrom::Source => format!("{source_id}-{}", row.role),
        };
        items.push(Item {
            audio: resolve(&dir, &row.audio_filepath),
            mel: row.mel_filepath.as_deref().map(|m| resolve(&dir, m)),
            source: resolve(&dir, &row.source),
            source_id,
            speaker,
            row,
        });
    }
    Ok(OutData {
        dir,
        items,
        report,
        mel,
        skipped,
    })
}

/// The feature parameters in a report's `parameters.mel`.
fn mel_info(parameters: &serde_json::Value) -> Option<MelInfo> {
    let mel = parameters.get("mel")?;
    Some(MelInfo {
        sample_rate_hz: u32::try_from(mel.get("sample_rate_hz")?.as_u64()?).ok()?,
        hop_length: usize::try_from(mel.get("hop_length")?.as_u64()?).ok()?,
        frames_first: mel.get("layout")?.as_str()? == "frames-first",
    })
}

/// Where DEST gets what it needs.
#[derive(Debug)]
pub struct Dest {
    /// DEST, absolute.
    pub dir: PathBuf,
    /// `--copy`.
    pub copy: bool,
    /// Files written (relative to DEST), for the summary.
    pub written: Vec<String>,
    /// Files placed inside DEST so far: source → path relative to DEST.
    placed: BTreeMap<PathBuf, String>,
}

/// How a file gets into DEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A symbolic link (relative, so OUT and DEST can move together).
    Link,
    /// A copy.
    Copy,
}

impl Dest {
    /// DEST (created).
    pub fn create(dir: &Path, copy: bool) -> Result<Dest, ExportError> {
        let dir = absolute_path(dir);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Dest {
            dir,
            copy,
            written: Vec::new(),
            placed: BTreeMap::new(),
        })
    }

    /// `path` relative to DEST, always with a folder part (NeMo joins a
    /// relative path to the manifest's folder only when it has one), or
    /// absolute when there is no common root.
    pub fn rel(&self, path: &Path) -> String {
        let r = relative_path(path, &self.dir);
        let s = r.to_string_lossy().replace('\\', "/");
        if r.is_absolute() || s.contains('/') {
            s
        } else {
            format!("./{s}")
        }
    }

    /// Writes `DEST/name` atomically.
    pub fn write<F>(&mut self, name: &str, fill: F) -> Result<(), ExportError>
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()>,
    {
        let path = self.dir.join(name);
        write_atomic(&path, |w| fill(w)).map_err(io_err(&path))?;
        self.written.push(name.to_string());
        Ok(())
    }

    /// Writes `DEST/name` gzip-compressed (no name, mtime 0: the same rows
    /// give the same bytes).
    pub fn write_gz<F>(&mut self, name: &str, fill: F) -> Result<(), ExportError>
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()>,
    {
        self.write(name, |w| {
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .write(w, flate2::Compression::default());
            fill(&mut gz)?;
            gz.finish()?;
            Ok(())
        })
    }

    /// Puts `src` into DEST at `rel` (a link or a copy; once per source)
    /// and returns the path relative to DEST it is reachable at.
    pub fn place(&mut self, src: &Path, rel: &str, how: Place) -> Result<String, ExportError> {
        if let Some(r) = self.placed.get(src) {
            return Ok(r.clone());
        }
        if !src.is_file() {
            return Err(ExportError::Io {
                path: src.display().to_string(),
                error: io::Error::new(io::ErrorKind::NotFound, "file not found"),
            });
        }
        let dst = self.dir.join(rel);
        match how {
            Place::Copy => {
                write_atomic(&dst, |w| {
                    let mut f = fs::File::open(src)?;
                    io::copy(&mut f, w).map(drop)
                })
                .map_err(io_err(&dst))?;
            }
            Place::Link => {
                let parent = dst.parent().unwrap_or(&self.dir).to_path_buf();
                fs::create_dir_all(&parent).map_err(io_err(&parent))?;
                let target = relative_path(src, &parent);
                let tmp = parent.join(format!(
                    ".{}{}{}",
                    dst.file_name().unwrap_or_default().to_string_lossy(),
                    crate::output::atomic::TMP_MARK,
                    std::process::id()
                ));
                let _ = fs::remove_file(&tmp);
                symlink(&target, &tmp).map_err(io_err(&tmp))?;
                fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
            }
        }
        self.placed.insert(src.to_path_buf(), rel.to_string());
        Ok(rel.to_string())
    }

    /// `src` as DEST's files refer to it: copied to `rel` with `--copy`,
    /// else where it lies (relative to DEST).
    pub fn refer(&mut self, src: &Path, rel: &str) -> Result<String, ExportError> {
        if self.copy {
            self.place(src, rel, Place::Copy)
        } else {
            Ok(self.rel(src))
        }
    }

    /// Like [`Dest::refer`], but an absolute path when not copied (for
    /// readers that resolve relative paths against the working folder).
    pub fn refer_abs(&mut self, src: &Path, rel: &str) -> Result<String, ExportError> {
        if self.copy {
            let r = self.place(src, rel, Place::Copy)?;
            Ok(self.dir.join(r).to_string_lossy().into_owned())
        } else {
            Ok(src.to_string_lossy().into_owned())
        }
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "links need a Unix system; use --copy",
    ))
}

/// File name of `p` (for a copy's name in DEST).
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One export format.
pub trait Exporter {
    /// The format's name (`nemo`, `hf`, `lhotse`, `kaldi`).
    fn name(&self) -> &'static str;
    /// Writes `data` into `dest`.
    fn export(&self, data: &OutData, dest: &mut Dest) -> Result<(), ExportError>;
}

/// Writes `v` as one JSON line.
pub fn json_line(w: &mut dyn Write, v: &serde_json::Value) -> io::Result<()> {
    serde_json::to_writer(&mut *w, v).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, role: &str) -> Row {
        Row {
            id: id.into(),
            audio_filepath: "wav/x.wav".into(),
            offset: 0.0,
            duration: 2.0,
            text: String::new(),
            source: "x.wav".into(),
            channel: 0,
            role: role.into(),
            start: 0.0,
            end: 2.0,
            sample_rate: 8000,
            source_sample_rate: None,
            source_channels: None,
            mel_filepath: None,
            n_frames: None,
            n_mels: None,
            mel_shape: None,
            truncated: false,
        }
    }

    #[test]
    fn source_ids_drop_role_and_start() {
        assert_eq!(
            source_id(&row("call01-agent-0000074240", "agent")),
            "call01"
        );
        assert_eq!(
            source_id(&row("a-b-customer-0000000000", "customer")),
            "a-b"
        );
        assert_eq!(source_id(&row("mono-mixed-0000000001", "mixed")), "mono");
    }

    #[test]
    fn mel_info_reads_the_report_parameters() {
        let p = serde_json::json!({"mel": {"sample_rate_hz": 16000, "hop_length": 160, "layout": "frames-first"}});
        let m = mel_info(&p).unwrap();
        assert!(m.frames_first);
        assert_eq!(m.frame_shift_s(), 0.01);
        assert_eq!(mel_info(&serde_json::json!({"mel": null})), None);
    }
}
