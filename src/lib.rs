//! callprep: call-center recordings → ASR training data.
//!
//! Layout, in the order a run uses it:
//! - [`cli`] → [`config`]: raw arguments → a validated [`config::Config`];
//! - [`commands`]: one file per subcommand; each builds a job and its inputs;
//! - [`input`]: discovery of input files and their stable ids;
//! - [`stages`] (+ [`pipeline`]): decode → split → resample → VAD → chunk →
//!   mel, pure functions over buffers (the VAD and mel engines are the
//!   workspace crates `callprep-fvad` and `callprep-mel`);
//! - [`jobs`]: what one item of work is (a recording to segment, a chunk to
//!   featurise), streaming it through the stages;
//! - [`engine`]: threads, `--resume`, commits, lock, progress, timings, the
//!   manifest and report, the same for every job;
//! - [`output`]: the manifest row, the typed report, reason codes, atomic
//!   files, WAV and `.npy` writers; [`storage`]: the seam inputs are read and
//!   outputs written through;
//! - [`privacy`]: the personal-data detectors `filter` runs on transcripts;
//! - [`export`]: an output folder in NeMo, Hugging Face, Lhotse or Kaldi
//!   layout; [`stats`]: its summary; [`inspect`]: a picture of one call;
//! - [`exit_codes`]: what the process returns;
//! - [`shard`]: `--shard K/N`, the part of the inputs one machine of many does;
//! - [`transfer`]: `pack`/`verify`/`unpack`, datasets across the perimeter
//!   as checksummed, encrypted WebDataset shards.

pub use callprep_isa::Isa;

pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod exit_codes;
pub mod export;
pub mod input;
pub mod inspect;
pub mod jobs;
pub mod output;
pub mod pipeline;
pub mod privacy;
pub mod shard;
pub mod stages;
pub mod stats;
pub mod storage;
pub mod transfer;
