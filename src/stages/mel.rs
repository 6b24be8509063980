//! Stage 6 — **mel**: log-mel spectrograms of each chunk, matching their
//! reference implementations (librosa, Kaldi fbank, Whisper) number for
//! number.
//!
//! In: one chunk of samples at `MelConfig::sample_rate_hz`, 16-bit PCM or
//! `f32` (full scale 1.0). Out: `n_mels × n_frames` `f32` values in the
//! configured layout (`[n_mels, frames]` or `[frames, n_mels]`), which the
//! sink writes as one `.npy` per chunk.
//!
//! The engine is its own crate, `crates/mel` (`callprep-mel`); this module
//! re-exports it so that the pipeline, tests and benches name it as a stage.

pub use callprep_mel::*;
