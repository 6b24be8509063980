//! callprep's mel extractor: log-mel spectrograms that match their reference
//! implementations (librosa, Kaldi fbank, Whisper) number for number.
//!
//! In: one chunk of samples at `MelConfig::sample_rate_hz`, 16-bit PCM (the
//! pipeline's audio) or `f32` (any [`Sample`], full scale 1.0). Out:
//! `n_mels × n_frames` `f32` values in the configured layout
//! (`[n_mels, frames]` or `[frames, n_mels]`, C order), as a `Vec<f32>` or
//! an `ndarray::Array2<f32>`.
//!
//! Set up once, run many times: [`MelExtractor::new`] plans the real FFT,
//! builds the window and the sparse mel filterbank and chooses the
//! instruction-set level ([`Isa`]) once; it is `Sync` and shared read-only
//! by every worker. Each worker owns a [`MelScratch`] and calls
//! [`MelExtractor::compute_into`], which does not allocate per frame (only
//! when the output `Vec` must grow). The FFT runs in `f64`, as numpy's does
//! inside librosa, so that quiet bands of telephone audio keep their digits.
//!
//! The modules follow the steps: `config` (parameters, presets, shapes),
//! `filters` (mel scales, filterbank), `window`, `framing` (samples to
//! windowed frames), `spectrum` (power spectra; its AVX2 and AVX-512 code,
//! and the AVX-512 256-point FFT, in files of their own), `filter_sum`
//! (filterbank sums; likewise), `log`, `extractor` (the loop), and
//! `level` (the instruction-set level an extractor was built for). Every
//! level gives the same output bits; the tests check that at every level
//! the CPU runs.

mod config;
mod extractor;
mod filter_sum;
mod filters;
mod framing;
mod level;
mod log;
mod spectrum;
#[cfg(test)]
mod testutil;
mod window;

pub use callprep_isa::Isa;
pub use config::{
    Framing, Layout, LogKind, MelConfig, MelError, MelNorm, MelScale, WindowKind, PRESETS,
};
pub use extractor::{MelExtractor, MelScratch};
pub use filters::{filterbank, Filter};
pub use framing::{Sample, Signal};
pub use log::ln_fast;

/// Frames per block in [`MelExtractor::compute_into`]: 8 `f64` power
/// spectra of 257 bins are 16 KiB, which stays in L1.
const BLOCK: usize = 8;
