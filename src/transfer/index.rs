//! `DEST/index.json`: what a pack holds and how to check it.
//!
//! In/out: the typed [`Index`] (serde). Two SHA-256 per shard, by design:
//! `stored_sha256` is of the object as stored in DEST (the ciphertext when
//! encrypted), so `verify` and `pack --resume` check shards without any key;
//! `tar_sha256` is of the plain tar, so `unpack` checks what it decrypted.
//! Without encryption both are the same. The index holds no personal data:
//! counts, sizes, hashes, the public recipients and the run's parameters.

use serde::{Deserialize, Serialize};

use super::plan::ShardSize;

/// The index's file name in DEST.
pub const INDEX_NAME: &str = "index.json";
/// `format` of a callprep pack.
pub const FORMAT: &str = "callprep-webdataset";
/// The schema version this build writes and reads.
pub const VERSION: u32 = 1;

/// `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Always [`FORMAT`].
    pub format: String,
    /// Schema version ([`VERSION`]).
    pub version: u32,
    /// The callprep version that packed.
    pub tool_version: String,
    /// `false` while `pack` is still writing (or was stopped): `verify`
    /// refuses it and `pack --resume` completes it.
    pub complete: bool,
    /// Samples in all shards.
    pub samples: u64,
    /// Members of every sample, in tar order (`json`, `npy`, and `wav`
    /// with `--with-audio`).
    pub members: Vec<String>,
    /// The `--shard-size` used.
    pub shard_size: ShardSize,
    /// How shards are encrypted; `None`: plain tars.
    pub encryption: Option<Encryption>,
    /// The `parameters` of the `report.json` beside the packed manifest
    /// (null when there is none).
    pub parameters: serde_json::Value,
    /// The shards, in order.
    pub shards: Vec<ShardEntry>,
}

/// How shards are encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// Always `age` (age-encryption.org/v1: `age -d -i KEY shard.tar.age`).
    pub scheme: String,
    /// The public recipients each shard is encrypted to.
    pub recipients: Vec<String>,
}

/// One shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Object name in DEST: `shard-000000.tar` or `shard-000000.tar.age`.
    pub name: String,
    /// Samples in the shard.
    pub samples: u64,
    /// Size of the plain tar, bytes.
    pub tar_bytes: u64,
    /// SHA-256 of the plain tar (hex).
    pub tar_sha256: String,
    /// Size of the stored object, bytes.
    pub stored_bytes: u64,
    /// SHA-256 of the stored object (hex).
    pub stored_sha256: String,
}

impl Index {
    /// Parses an index, refusing other formats and newer versions.
    pub fn parse(bytes: &[u8], place: &str) -> Result<Index, String> {
        let idx: Index =
            serde_json::from_slice(bytes).map_err(|e| format!("{place}: not a pack index: {e}"))?;
        if idx.format != FORMAT || idx.version > VERSION {
            return Err(format!(
                "{place}: format {:?} version {} is not one this callprep reads ({FORMAT} {VERSION})",
                idx.format, idx.version
            ));
        }
        // Names are read as object names in DEST: only the ones pack writes
        // (a forged `../…` must not make verify or unpack read elsewhere).
        let encrypted = idx.encryption.is_some();
        if let Some((i, s)) = idx
            .shards
            .iter()
            .enumerate()
            .find(|(i, s)| s.name != shard_name(*i, encrypted))
        {
            return Err(format!(
                "{place}: shard {i} is named {:?}, not {:?}",
                s.name,
                shard_name(i, encrypted)
            ));
        }
        Ok(idx)
    }

    /// Pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("the index serialises (plain data)");
        v.push(b'\n');
        v
    }
}

/// The object name of shard `n`.
pub fn shard_name(n: usize, encrypted: bool) -> String {
    if encrypted {
        format!("shard-{n:06}.tar.age")
    } else {
        format!("shard-{n:06}.tar")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with(shards: Vec<ShardEntry>) -> Index {
        Index {
            format: FORMAT.into(),
            version: VERSION,
            tool_version: "0.1.0".into(),
            complete: true,
            samples: 2,
            members: vec!["json".into(), "npy".into()],
            shard_size: ShardSize::Samples(1),
            encryption: None,
            parameters: serde_json::Value::Null,
            shards,
        }
    }

    #[test]
    fn names_and_round_trip() {
        assert_eq!(shard_name(3, false), "shard-000003.tar");
        assert_eq!(shard_name(12, true), "shard-000012.tar.age");
        let idx = index_with(vec![]);
        let back = Index::parse(&idx.to_bytes(), "i").unwrap();
        assert_eq!(back, idx);
        let text = String::from_utf8(idx.to_bytes()).unwrap();
        assert!(
            text.contains("\"shard_size\": {\n    \"samples\": 1\n  }"),
            "{text}"
        );
        let other = text.replace(FORMAT, "zip");
        assert!(Index::parse(other.as_bytes(), "i")
            .unwrap_err()
            .contains("zip"));
    }

    #[test]
    fn shard_names_other_than_packs_own_are_refused() {
        let entry = |name: &str| ShardEntry {
            name: name.into(),
            samples: 1,
            tar_bytes: 10,
            tar_sha256: "0".repeat(64),
            stored_bytes: 10,
            stored_sha256: "0".repeat(64),
        };
        let mut idx = index_with(vec![entry("shard-000000.tar"), entry("shard-000001.tar")]);
        assert!(Index::parse(&idx.to_bytes(), "i").is_ok());
        for evil in [
            "../../etc/passwd",
            "shard-000001.tar.age",
            "shard-000000.tar",
        ] {
            idx.shards[1].name = evil.into();
            let e = Index::parse(&idx.to_bytes(), "i").unwrap_err();
            assert!(e.contains(evil) && e.contains("shard-000001.tar"), "{e}");
        }
    }
}
