//! What `pack` packs: the rows of a manifest become samples (sorted by id),
//! the samples are cut into shards of a size in samples or bytes.
//!
//! In: a manifest (`OUT/manifest.jsonl`, or any `.jsonl` a later step
//! wrote, e.g. a `filter`ed one) and whether audio goes along. Out:
//! [`Sample`]s (the row's bytes verbatim, its files with their sizes) in a
//! deterministic order, rows that cannot be packed (file, line and what is
//! wrong), and the shard boundaries ([`cut`]). Only metadata is read here;
//! no file content.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::output::Row;

/// `--shard-size`: samples per shard, or a byte budget per shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardSize {
    /// At most this many samples per shard.
    Samples(u64),
    /// At most this many tar bytes per shard (a sample larger than that
    /// gets a shard of its own).
    Bytes(u64),
}

impl ShardSize {
    /// Parses `1000` (samples) or `256MiB`, `1GB`, `500000B` (bytes).
    pub fn parse(s: &str) -> Result<ShardSize, String> {
        let t = s.trim();
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        let (num, unit) = t.split_at(digits);
        let n: u64 = num.parse().map_err(|_| {
            format!("--shard-size {s:?}: give a number of samples (1000) or bytes with a unit (256MiB, 1GB)")
        })?;
        if n == 0 {
            return Err(format!("--shard-size {s:?} must be at least 1"));
        }
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" => return Ok(ShardSize::Samples(n)),
            "b" => 1,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "--shard-size {s:?}: unit {other:?} is not known; use B, KB, MB, GB, KiB, MiB or GiB, or no unit for samples"
                ))
            }
        };
        n.checked_mul(mult)
            .map(ShardSize::Bytes)
            .ok_or_else(|| format!("--shard-size {s:?} is too large"))
    }
}

/// One file of a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Extension in the tar (`npy`, `wav`).
    pub ext: &'static str,
    /// Where it is read from.
    pub path: PathBuf,
    /// Its size in bytes (checked again when packed).
    pub bytes: u64,
}

/// One sample: a manifest row and its files.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The row's id.
    pub id: String,
    /// The WebDataset key: the id with every character other than letters,
    /// digits, `-` and `_` written as `_` (a `.` would end the key, a `/`
    /// makes a folder NeMo does not expect).
    pub key: String,
    /// The row exactly as the manifest has it (without the line end).
    pub row_json: Vec<u8>,
    /// The parsed row.
    pub row: Row,
    /// The `.npy` (and `.wav` with `--with-audio`), in tar order.
    pub files: Vec<Member>,
}

impl Sample {
    /// Bytes this sample takes in a tar (headers, content, padding).
    pub fn tar_bytes(&self) -> u64 {
        let mut n = member_tar_bytes(&self.key, "json", self.row_json.len() as u64);
        for f in &self.files {
            n += member_tar_bytes(&self.key, f.ext, f.bytes);
        }
        n
    }
}

/// A tar member's bytes: its header, a GNU long-name entry when the name
/// does not fit in 100 bytes, the content padded to 512.
fn member_tar_bytes(key: &str, ext: &str, bytes: u64) -> u64 {
    let name_len = (key.len() + 1 + ext.len()) as u64;
    let long_name = if name_len > 100 {
        512 + (name_len + 1).div_ceil(512) * 512
    } else {
        0
    };
    long_name + 512 + bytes.div_ceil(512) * 512
}

/// A row that cannot be packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// `manifest.jsonl:12` (file and 1-based line).
    pub place: String,
    /// What is wrong.
    pub message: String,
}

/// The manifest's rows as samples.
#[derive(Debug, Default)]
pub struct Plan {
    /// Samples sorted by id.
    pub samples: Vec<Sample>,
    /// Rows left out, with why.
    pub bad: Vec<BadRow>,
}

/// The WebDataset key of an id.
pub fn key_of(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads the manifest `manifest` (paths in rows are relative to its
/// folder, or absolute) into samples. A row that does not parse, has no
/// `mel_filepath`, names a missing file, or repeats an id is left out and
/// reported; the others are packed.
pub fn read(manifest: &Path, with_audio: bool) -> std::io::Result<Plan> {
    let text = fs::read(manifest)?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    let name = manifest.display().to_string();
    let mut plan = Plan::default();
    let mut by_id: BTreeMap<String, Sample> = BTreeMap::new();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let place = format!("{name}:{}", i + 1);
        match sample_of(line, base, with_audio) {
            Ok(s) => {
                if by_id.contains_key(&s.id) {
                    plan.bad.push(BadRow {
                        place,
                        message: format!("id {:?} is already packed from an earlier line", s.id),
                    });
                } else if let Some(other) = keys.get(&s.key) {
                    plan.bad.push(BadRow {
                        place,
                        message: format!(
                            "id {:?} has the same WebDataset key {:?} as id {other:?}",
                            s.id, s.key
                        ),
                    });
                } else {
                    keys.insert(s.key.clone(), s.id.clone());
                    by_id.insert(s.id.clone(), s);
                }
            }
            Err(message) => plan.bad.push(BadRow { place, message }),
        }
    }
    plan.samples = by_id.into_values().collect();
    Ok(plan)
}

fn sample_of(line: &[u8], base: &Path, with_audio: bool) -> Result<Sample, String> {
    let row: Row = serde_json::from_slice(line).map_err(|e| format!("not a manifest row: {e}"))?;
    let mel = row.mel_filepath.as_deref().ok_or_else(|| {
        "the row has no mel_filepath: pack the manifest `mel` or `run` wrote".to_string()
    })?;
    let mut files = vec![member("npy", base, mel)?];
    if with_audio {
        if row.offset != 0.0 || row.source_sample_rate.is_some() {
            return Err(format!(
                "--with-audio: the row's audio is a part of {:?} (offset {} s), not a chunk WAV; \
                 pack the output of a run that wrote chunk WAVs (without --no-wav)",
                row.audio_filepath, row.offset
            ));
        }
        files.push(member("wav", base, &row.audio_filepath)?);
    }
    Ok(Sample {
        id: row.id.clone(),
        key: key_of(&row.id),
        row_json: line.to_vec(),
        row,
        files,
    })
}

fn member(ext: &'static str, base: &Path, rel: &str) -> Result<Member, String> {
    let path = base.join(rel);
    let meta = fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    Ok(Member {
        ext,
        path,
        bytes: meta.len(),
    })
}

/// Cuts `samples` into shards: index ranges, in order, none empty.
pub fn cut(samples: &[Sample], size: ShardSize) -> Vec<std::ops::Range<usize>> {
    let mut shards = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, s) in samples.iter().enumerate() {
        let b = s.tar_bytes();
        let full = match size {
            ShardSize::Samples(n) => (i - start) as u64 >= n,
            ShardSize::Bytes(n) => i > start && bytes + b > n,
        };
        if full {
            shards.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += b;
    }
    if start < samples.len() {
        shards.push(start..samples.len());
    }
    shards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_sizes_parse() {
        assert_eq!(ShardSize::parse("1000"), Ok(ShardSize::Samples(1000)));
        assert_eq!(ShardSize::parse("256MiB"), Ok(ShardSize::Bytes(256 << 20)));
        assert_eq!(ShardSize::parse("1GB"), Ok(ShardSize::Bytes(1_000_000_000)));
        assert_eq!(ShardSize::parse("512b"), Ok(ShardSize::Bytes(512)));
        assert!(ShardSize::parse("0").unwrap_err().contains("at least 1"));
        assert!(ShardSize::parse("5 parsecs")
            .unwrap_err()
            .contains("parsecs"));
        assert!(ShardSize::parse("MiB").is_err());
    }

    #[test]
    fn keys_have_no_dots_or_slashes() {
        assert_eq!(key_of("sub/call.01-agent-800"), "sub_call_01-agent-800");
        assert_eq!(member_tar_bytes("k", "npy", 1), 1024);
        assert_eq!(member_tar_bytes("k", "npy", 512), 1024);
        assert_eq!(
            member_tar_bytes(&"k".repeat(120), "npy", 0),
            512 + 512 + 512
        );
    }

    fn sample(bytes: u64) -> Sample {
        Sample {
            id: "x".into(),
            key: "x".into(),
            row_json: vec![b'{'; 10],
            row: serde_json::from_str(
                r#"{"id":"x","audio_filepath":"a.wav","offset":0.0,"duration":2.0,"text":"","source":"s.wav","channel":0,"role":"agent","start":0.0,"end":2.0,"sample_rate":8000}"#,
            )
            .unwrap(),
            files: vec![Member {
                ext: "npy",
                path: "x.npy".into(),
                bytes,
            }],
        }
    }

    #[test]
    fn cuts_by_samples_and_by_bytes() {
        let s: Vec<Sample> = (0..5).map(|_| sample(1000)).collect();
        // Each sample: json 1024 + npy 512 + 1024 = 2560 bytes.
        assert_eq!(s[0].tar_bytes(), 2560);
        assert_eq!(cut(&s, ShardSize::Samples(2)), vec![0..2, 2..4, 4..5]);
        assert_eq!(cut(&s, ShardSize::Bytes(5120)), vec![0..2, 2..4, 4..5]);
        assert_eq!(
            cut(&s, ShardSize::Bytes(5119)),
            vec![0..1, 1..2, 2..3, 3..4, 4..5]
        );
        assert_eq!(cut(&s, ShardSize::Bytes(1)).len(), 5);
        assert!(cut(&[], ShardSize::Samples(3)).is_empty());
    }
}
