//! Across the perimeter (issue 20): `pack` a dataset into deterministic,
//! checksummed (and optionally encrypted) WebDataset shards in a folder or a
//! bucket, `verify` them without keys, `unpack` them on the other side.
//!
//! In: a manifest and the files its rows name (`plan`), a DEST
//! ([`crate::storage::location::Location`]: a folder or `s3://bucket/prefix`),
//! recipients or identities ([`crypt`]). Out: `shard-NNNNNN.tar[.age]` and
//! `index.json` ([`index`]) in DEST; for `unpack`, the rows and files again.
//! Every shard is streamed: tar → SHA-256 → age → SHA-256 → DEST, one small
//! buffer at a time; no plaintext shard and no whole shard is ever held in
//! memory or written to DEST.
//!
//! - [`plan`]: manifest rows → samples sorted by id → shard boundaries;
//! - [`shard`]: the deterministic tar writer and the hashing adapters;
//! - [`index`]: the typed `index.json`;
//! - [`crypt`]: age recipients, identities, encrypting/decrypting streams;
//! - [`pack`], [`verify`], [`unpack`]: the three commands' work.

pub mod args;
pub mod crypt;
pub mod index;
pub mod pack;
pub mod plan;
pub mod shard;
pub mod unpack;
pub mod verify;

use std::path::PathBuf;

use plan::ShardSize;

/// `pack`'s validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackConfig {
    /// The manifest to pack (`OUT/manifest.jsonl` when a folder was given).
    pub manifest: PathBuf,
    /// DEST: a folder or `s3://bucket/prefix`.
    pub dest: String,
    /// `--shard-size`.
    pub shard_size: ShardSize,
    /// `--with-audio`: chunk WAVs go along as `KEY.wav`.
    pub with_audio: bool,
    /// Recipients (`--encrypt-to`, `--recipients-file`), checked to parse.
    pub recipients: Vec<String>,
    /// `--resume`: keep shards already in DEST whose SHA-256 is right.
    pub resume: bool,
}

/// `verify`'s settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    /// The pack: a folder or `s3://bucket/prefix`.
    pub dest: String,
}

/// `unpack`'s settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackConfig {
    /// The pack: a folder or `s3://bucket/prefix`.
    pub dest: String,
    /// Where rows and files are written.
    pub out_dir: PathBuf,
    /// `--identity`: needed for encrypted packs.
    pub identity: Option<PathBuf>,
}

/// The settings of one of the three commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferConfig {
    /// `pack`.
    Pack(PackConfig),
    /// `verify`.
    Verify(VerifyConfig),
    /// `unpack`.
    Unpack(UnpackConfig),
}
