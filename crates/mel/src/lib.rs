//! Stage 6 — **mel**: log-mel spectrograms that match their reference
//! implementations (librosa, Kaldi fbank, Whisper) number for number.
//!
//! In: one chunk of samples at `MelConfig::sample_rate_hz`, 16-bit PCM (the
//! pipeline's audio) or `f32` (any [`Sample`], full scale 1.0). Out: a
//! `Vec<f32>` holding `n_mels × n_frames` values in the configured layout
//! (`[n_mels, frames]` or `[frames, n_mels]`, C order).
//!
//! Set up once, run many times: [`MelExtractor::new`] plans the real FFT,
//! builds the window and the sparse mel filterbank; it is `Sync` and shared
//! read-only by every worker. Each worker owns a [`MelScratch`] and calls
//! [`MelExtractor::compute_into`], which does not allocate per frame (only
//! when the output `Vec` must grow). The FFT runs in `f64`, as numpy's does
//! inside librosa, so that quiet bands of telephone audio keep their digits.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use serde::Serialize;

#[cfg(target_arch = "x86_64")]
mod fft256;

/// Window function applied to each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// Periodic Hann (scipy `get_window("hann", N, fftbins=True)`, torch `hann_window`).
    Hann,
    /// Kaldi's "povey": symmetric Hann raised to 0.85.
    Povey,
    /// Symmetric Hamming (Kaldi's `hamming`).
    Hamming,
}

/// How frames are laid over the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// librosa/torch `center=True`, reflect padding by `n_fft / 2`:
    /// `1 + n / hop` frames; the window sits in the middle of `n_fft`.
    CenterReflect,
    /// Kaldi `snip_edges=false`: `(n + hop/2) / hop` frames centred on
    /// `hop·t + hop/2`, edges mirrored (Kaldi's own reflection), window at
    /// the start of the zero-padded FFT buffer.
    Kaldi,
}

/// Mel scale of the filterbank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MelScale {
    /// Slaney (librosa's default, `htk=False`).
    Slaney,
    /// HTK: 2595·log10(1 + f/700) (librosa `htk=True`).
    Htk,
    /// Kaldi: 1127·ln(1 + f/700), triangles in the mel domain.
    Kaldi,
}

/// Filter normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MelNorm {
    /// Slaney area normalisation (2 / bandwidth).
    Slaney,
    /// Peak 1.
    None,
}

/// Compression applied to mel energies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LogKind {
    /// `ln(max(x, floor))`.
    Ln { floor: f64 },
    /// Whisper: `log10(max(x, 1e-10))`, then `max(x, max(x) − 8)`, then `(x + 4) / 4`.
    Whisper,
}

/// Array layout of the `.npy` written for a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `[n_mels, frames]` (librosa, Whisper).
    MelsFirst,
    /// `[frames, n_mels]` (Kaldi, Lhotse).
    FramesFirst,
}

/// Every parameter of the feature extractor. Presets fill it; flags override.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MelConfig {
    /// Preset the values started from.
    pub preset: String,
    /// Rate the chunk is resampled to before the features, Hz.
    pub sample_rate_hz: u32,
    /// FFT size (samples).
    pub n_fft: usize,
    /// Window length (samples), ≤ n_fft.
    pub win_length: usize,
    /// Hop between frames (samples).
    pub hop_length: usize,
    /// Window function.
    pub window: WindowKind,
    /// Frame placement and edge padding.
    pub framing: Framing,
    /// Drop the last frame (Whisper: `stft[..., :-1]`).
    pub drop_last_frame: bool,
    /// Subtract each frame's mean before windowing (Kaldi).
    pub remove_dc: bool,
    /// Pre-emphasis coefficient (Kaldi 0.97; 0 = off).
    pub preemphasis: f64,
    /// Spectrum exponent: 2 = power, 1 = magnitude.
    pub power: f64,
    /// Number of mel filters.
    pub n_mels: usize,
    /// Lowest filter edge, Hz.
    pub fmin_hz: f64,
    /// Highest filter edge, Hz.
    pub fmax_hz: f64,
    /// Mel scale.
    pub mel_scale: MelScale,
    /// Filter normalisation.
    pub norm: MelNorm,
    /// Log compression.
    pub log: LogKind,
    /// Output array layout.
    pub layout: Layout,
    /// Zero-pad (or cut) every chunk to this many seconds (Whisper's 30 s input).
    pub pad_to_seconds: Option<f64>,
}

/// Names of the built-in presets.
pub const PRESETS: &[&str] = &["telephony", "kaldi", "whisper", "whisper-128"];

impl MelConfig {
    /// The parameters of a named preset, or `None` for an unknown name.
    pub fn preset(name: &str) -> Option<MelConfig> {
        let telephony = MelConfig {
            preset: "telephony".into(),
            sample_rate_hz: 8000,
            n_fft: 512,
            win_length: 200,
            hop_length: 80,
            window: WindowKind::Hann,
            framing: Framing::CenterReflect,
            drop_last_frame: false,
            remove_dc: false,
            preemphasis: 0.0,
            power: 2.0,
            n_mels: 80,
            fmin_hz: 0.0,
            fmax_hz: 4000.0,
            mel_scale: MelScale::Slaney,
            norm: MelNorm::Slaney,
            log: LogKind::Ln { floor: 1e-10 },
            layout: Layout::MelsFirst,
            pad_to_seconds: None,
        };
        match name {
            "telephony" => Some(telephony),
            "kaldi" => Some(MelConfig {
                preset: "kaldi".into(),
                sample_rate_hz: 8000,
                n_fft: 256,
                win_length: 200,
                hop_length: 80,
                window: WindowKind::Povey,
                framing: Framing::Kaldi,
                remove_dc: true,
                preemphasis: 0.97,
                n_mels: 80,
                fmin_hz: 20.0,
                fmax_hz: 3600.0,
                mel_scale: MelScale::Kaldi,
                norm: MelNorm::None,
                log: LogKind::Ln {
                    floor: f64::from(f32::EPSILON),
                },
                layout: Layout::FramesFirst,
                ..telephony
            }),
            "whisper" | "whisper-128" => Some(MelConfig {
                preset: name.into(),
                sample_rate_hz: 16000,
                n_fft: 400,
                win_length: 400,
                hop_length: 160,
                drop_last_frame: true,
                n_mels: if name == "whisper" { 80 } else { 128 },
                fmax_hz: 8000.0,
                log: LogKind::Whisper,
                ..telephony
            }),
            _ => None,
        }
    }

    /// Number of frames for a chunk of `n` samples (after any `pad_to_seconds`).
    pub fn n_frames(&self, n: usize) -> usize {
        let n = self.padded_len(n);
        let f = match self.framing {
            Framing::CenterReflect => 1 + n / self.hop_length,
            Framing::Kaldi => (n + self.hop_length / 2) / self.hop_length,
        };
        if self.drop_last_frame {
            f.saturating_sub(1)
        } else {
            f
        }
    }

    /// Samples the extractor sees for an input of `n` samples.
    pub fn padded_len(&self, n: usize) -> usize {
        match self.pad_to_seconds {
            Some(s) => (s * f64::from(self.sample_rate_hz)).round() as usize,
            None => n,
        }
    }

    /// Shape of the array for `n_frames` frames, in the configured layout.
    pub fn shape(&self, n_frames: usize) -> [usize; 2] {
        match self.layout {
            Layout::MelsFirst => [self.n_mels, n_frames],
            Layout::FramesFirst => [n_frames, self.n_mels],
        }
    }

    /// Refuses impossible settings, naming the flag and what to change.
    pub fn validate(&self) -> Result<(), MelError> {
        let nyquist = f64::from(self.sample_rate_hz) / 2.0;
        if self.sample_rate_hz < 1000 {
            return Err(MelError::Invalid(format!(
                "--mel-sample-rate {} Hz is too low; use at least 1000",
                self.sample_rate_hz
            )));
        }
        if self.n_fft < 2 || self.n_fft > 1 << 16 {
            return Err(MelError::Invalid(format!(
                "--n-fft {} is out of range; use 2 to 65536",
                self.n_fft
            )));
        }
        if self.win_length == 0 || self.win_length > self.n_fft {
            return Err(MelError::Invalid(format!(
                "--win-length {} must be between 1 and --n-fft {}; raise --n-fft or shorten the window",
                self.win_length, self.n_fft
            )));
        }
        if self.hop_length == 0 {
            return Err(MelError::Invalid("--hop-length must be at least 1".into()));
        }
        if self.n_mels == 0 || self.n_mels > 1024 {
            return Err(MelError::Invalid(format!(
                "--n-mels {} is out of range; use 1 to 1024",
                self.n_mels
            )));
        }
        if self.fmin_hz.is_nan() || self.fmin_hz < 0.0 {
            return Err(MelError::Invalid(format!(
                "--fmin {} Hz must be ≥ 0",
                self.fmin_hz
            )));
        }
        if self.fmax_hz.is_nan() || self.fmax_hz > nyquist {
            return Err(MelError::Invalid(format!(
                "--fmax {} Hz is above the Nyquist frequency {} Hz of --mel-sample-rate {}; lower --fmax to at most {}",
                self.fmax_hz, nyquist, self.sample_rate_hz, nyquist
            )));
        }
        if self.fmin_hz >= self.fmax_hz {
            return Err(MelError::Invalid(format!(
                "--fmin {} Hz must be below --fmax {} Hz",
                self.fmin_hz, self.fmax_hz
            )));
        }
        if self.power.is_nan() || self.power <= 0.0 {
            return Err(MelError::Invalid(
                "--power must be positive (2 = power, 1 = magnitude)".into(),
            ));
        }
        if let Some(s) = self.pad_to_seconds {
            if s.is_nan() || s <= 0.0 || s > 3600.0 {
                return Err(MelError::Invalid(format!(
                    "--pad-to-seconds {s} is out of range; use a value in (0, 3600]"
                )));
            }
        }
        if let LogKind::Ln { floor } = self.log {
            if floor.is_nan() || floor <= 0.0 {
                return Err(MelError::Invalid("--log-floor must be positive".into()));
            }
        }
        let bank = filterbank(self);
        if let Some(k) = bank
            .iter()
            .position(|f| f.weights.iter().all(|w| *w == 0.0))
        {
            return Err(MelError::Invalid(format!(
                "mel filter {k} of {} is empty at --n-fft {} and {} Hz ({}–{} Hz): the filters are narrower than one FFT bin; lower --n-mels or raise --n-fft",
                self.n_mels, self.n_fft, self.sample_rate_hz, self.fmin_hz, self.fmax_hz
            )));
        }
        Ok(())
    }
}

/// Errors of the mel stage.
#[derive(Debug, thiserror::Error)]
pub enum MelError {
    #[error("{0}")]
    Invalid(String),
}

/// One triangular filter: weights for FFT bins `start .. start + weights.len()`.
#[derive(Debug, Clone)]
pub struct Filter {
    /// First FFT bin with a weight.
    pub start: usize,
    /// Weights, one per bin from `start`.
    pub weights: Vec<f64>,
}

fn hz_to_mel(f: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + f / 700.0).log10(),
        MelScale::Kaldi => 1127.0 * (1.0 + f / 700.0).ln(),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if f >= min_log_hz {
                min_log_mel + (f / min_log_hz).ln() / logstep
            } else {
                f / f_sp
            }
        }
    }
}

fn mel_to_hz(m: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(m / 2595.0) - 1.0),
        MelScale::Kaldi => 700.0 * ((m / 1127.0).exp() - 1.0),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if m >= min_log_mel {
                min_log_hz * (logstep * (m - min_log_mel)).exp()
            } else {
                f_sp * m
            }
        }
    }
}

/// Builds the mel filterbank of `cfg` (librosa `filters.mel` for Slaney/HTK,
/// Kaldi `MelBanks` for the Kaldi scale), as sparse rows.
pub fn filterbank(cfg: &MelConfig) -> Vec<Filter> {
    let n_bins = cfg.n_fft / 2 + 1;
    let sr = f64::from(cfg.sample_rate_hz);
    let mut dense = vec![vec![0.0f64; n_bins]; cfg.n_mels];
    match cfg.mel_scale {
        MelScale::Kaldi => {
            // Kaldi MelBanks: triangles in the mel domain over bins 0..n_fft/2
            // (the Nyquist bin gets no weight), computed in single precision.
            let mlo = hz_to_mel(cfg.fmin_hz, MelScale::Kaldi) as f32;
            let mhi = hz_to_mel(cfg.fmax_hz, MelScale::Kaldi) as f32;
            let delta = (mhi - mlo) / (cfg.n_mels as f32 + 1.0);
            let bin_w = (sr / cfg.n_fft as f64) as f32;
            for (m, row) in dense.iter_mut().enumerate() {
                let left = mlo + m as f32 * delta;
                let center = mlo + (m as f32 + 1.0) * delta;
                let right = mlo + (m as f32 + 2.0) * delta;
                for (i, w) in row.iter_mut().take(cfg.n_fft / 2).enumerate() {
                    let mel = 1127.0f32 * (1.0f32 + bin_w * i as f32 / 700.0).ln();
                    if mel > left && mel < right {
                        *w = f64::from(if mel <= center {
                            (mel - left) / (center - left)
                        } else {
                            (right - mel) / (right - center)
                        });
                    }
                }
            }
        }
        scale => {
            // librosa.filters.mel: computed in float64, stored as float32.
            let mlo = hz_to_mel(cfg.fmin_hz, scale);
            let mhi = hz_to_mel(cfg.fmax_hz, scale);
            let pts: Vec<f64> = (0..cfg.n_mels + 2)
                .map(|i| {
                    let m = mlo + (mhi - mlo) * i as f64 / (cfg.n_mels + 1) as f64;
                    mel_to_hz(m, scale)
                })
                .collect();
            let fftfreqs: Vec<f64> = (0..n_bins)
                .map(|k| k as f64 * (sr / 2.0) / (n_bins - 1) as f64)
                .collect();
            for (m, row) in dense.iter_mut().enumerate() {
                let fd0 = pts[m + 1] - pts[m];
                let fd1 = pts[m + 2] - pts[m + 1];
                let enorm = match cfg.norm {
                    MelNorm::Slaney => 2.0 / (pts[m + 2] - pts[m]),
                    MelNorm::None => 1.0,
                };
                for (k, w) in row.iter_mut().enumerate() {
                    let lower = -(pts[m] - fftfreqs[k]) / fd0;
                    let upper = (pts[m + 2] - fftfreqs[k]) / fd1;
                    let v = lower.min(upper).max(0.0) * enorm;
                    *w = f64::from(v as f32);
                }
            }
        }
    }
    dense
        .into_iter()
        .map(|row| {
            let start = row.iter().position(|w| *w != 0.0).unwrap_or(0);
            let end = row.iter().rposition(|w| *w != 0.0).map_or(start, |e| e + 1);
            Filter {
                start,
                weights: row[start..end].to_vec(),
            }
        })
        .collect()
}

fn window(kind: WindowKind, n: usize) -> Vec<f64> {
    use std::f64::consts::PI;
    match kind {
        WindowKind::Hann => (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos())
            .collect(),
        WindowKind::Povey => {
            let a = 2.0 * PI / (n.max(2) - 1) as f64;
            (0..n)
                .map(|i| (0.5 - 0.5 * (a * i as f64).cos()).powf(0.85))
                .collect()
        }
        WindowKind::Hamming => {
            let a = 2.0 * PI / (n.max(2) - 1) as f64;
            (0..n).map(|i| 0.54 - 0.46 * (a * i as f64).cos()).collect()
        }
    }
}

/// A sample type the extractor reads, at full scale 1.0.
pub trait Sample: Copy {
    /// The sample as `f64`; exact for both types.
    fn to_f64(self) -> f64;
    /// The slice as the extractor's (non-generic) inner loop takes it.
    fn signal(s: &[Self]) -> Signal<'_>;
}

impl Sample for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn signal(s: &[f32]) -> Signal<'_> {
        Signal::F32(s)
    }
}

/// 16-bit PCM: `s / 32768`, the value the decoder gives as `f32` (both
/// divisions are exact), so PCM16 audio has the same features either way.
impl Sample for i16 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self) * (1.0 / 32768.0)
    }
    fn signal(s: &[i16]) -> Signal<'_> {
        Signal::Pcm16(s)
    }
}

/// A chunk's samples of either type. The extractor's frame loop is compiled
/// once per instruction set and branches on this per frame: a generic loop
/// would be compiled per type, and LLVM then stopped inlining the AVX2
/// helpers into it (four times slower).
#[derive(Debug, Clone, Copy)]
pub enum Signal<'a> {
    /// 16-bit PCM.
    Pcm16(&'a [i16]),
    /// `f32`.
    F32(&'a [f32]),
}

impl Signal<'_> {
    fn len(&self) -> usize {
        match self {
            Signal::Pcm16(x) => x.len(),
            Signal::F32(x) => x.len(),
        }
    }

    /// The first `n` samples (all of them if fewer).
    fn truncate(self, n: usize) -> Self {
        match self {
            Signal::Pcm16(x) => Signal::Pcm16(&x[..x.len().min(n)]),
            Signal::F32(x) => Signal::F32(&x[..x.len().min(n)]),
        }
    }

    /// Sample `k` as `f64`, if there is one.
    #[inline(always)]
    fn get(&self, k: usize) -> Option<f64> {
        match self {
            Signal::Pcm16(x) => x.get(k).map(|v| v.to_f64()),
            Signal::F32(x) => x.get(k).map(|v| v.to_f64()),
        }
    }

    /// [`Self::convert`], each sample times `window[j]`: `f32` samples
    /// times `window`, PCM16 ones (as integers) times `window_pcm16`, which
    /// is `window · 2^-15`, so the same product `(s · 2^-15) · w`.
    #[inline(always)]
    fn convert_windowed(
        &self,
        first: usize,
        window: &[f64],
        window_pcm16: &[f64],
        dst: &mut [f64],
    ) {
        let r = first..first + dst.len();
        match self {
            Signal::Pcm16(x) => {
                for ((d, &x), &w) in dst.iter_mut().zip(&x[r]).zip(window_pcm16) {
                    *d = f64::from(x) * w;
                }
            }
            Signal::F32(x) => {
                for ((d, &x), &w) in dst.iter_mut().zip(&x[r]).zip(window) {
                    *d = f64::from(x) * w;
                }
            }
        }
    }

    /// Samples `first..first + dst.len()` (in bounds) as `f64` into `dst`.
    #[inline(always)]
    fn convert(&self, first: usize, dst: &mut [f64]) {
        #[inline(always)]
        fn each<S: Sample>(src: &[S], dst: &mut [f64]) {
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = x.to_f64();
            }
        }
        let r = first..first + dst.len();
        match self {
            Signal::Pcm16(x) => each(&x[r], dst),
            Signal::F32(x) => each(&x[r], dst),
        }
    }
}

/// Frames per block in [`MelExtractor::compute_into`]: 8 `f64` power
/// spectra of 257 bins are 16 KiB, which stays in L1.
const BLOCK: usize = 8;

/// Instruction sets the extractor's loop is compiled for (a const generic
/// `u8`: enums cannot be one on stable Rust).
mod isa {
    /// Baseline x86-64 (SSE2), or any other architecture.
    pub const BASE: u8 = 0;
    /// AVX2.
    pub const AVX2: u8 = 1;
    /// AVX-512 F and DQ (with AVX2 and FMA).
    pub const AVX512: u8 = 2;

    /// The highest level this CPU runs.
    pub fn best() -> u8 {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") && has!("avx512f") && has!("avx512dq") {
                return AVX512;
            }
            if has!("avx2") {
                return AVX2;
            }
        }
        BASE
    }
}

/// Frames whose FFTs run as one batch and whose power spectra are formed
/// side by side (one `f64` vector of AVX2).
const LANES: usize = 4;

/// Power spectra `|X[k]|², k = 0..=n_fft/2`, of real frames: realfft's
/// algorithm (the same rustfft plans and arithmetic, so the same bits, which
/// a test checks), with its final pass fused into the power computation and
/// run across [`LANES`] frames at once instead of one complex value at a
/// time. For even `n_fft` the frame's samples are packed two per complex
/// point into an `n_fft/2`-point FFT whose output is untangled with
/// twiddles; odd sizes take a full complex FFT of the real frame.
struct PowerSpectrum {
    n_fft: usize,
    fft: Arc<dyn Fft<f64>>,
    /// The same transform with AVX-512 when it is 256 points long (n_fft
    /// 512, the telephony preset's), for the AVX-512 build.
    #[cfg(target_arch = "x86_64")]
    fft256: Option<fft256::Fft256>,
    /// realfft's twiddles `½·e^(−2πik/n_fft)`, `k = 1..`, for the untangling.
    twiddles: Vec<Complex<f64>>,
}

impl PowerSpectrum {
    fn new(n_fft: usize) -> Self {
        let mut planner = FftPlanner::<f64>::new();
        if n_fft.is_multiple_of(2) {
            let count = n_fft / 4 + usize::from(!n_fft.is_multiple_of(4));
            let twiddles = (1..count)
                .map(|k| {
                    let angle = -2.0 * std::f64::consts::PI / n_fft as f64 * k as f64;
                    Complex::new(angle.cos(), angle.sin()) * 0.5
                })
                .collect();
            PowerSpectrum {
                n_fft,
                fft: planner.plan_fft_forward(n_fft / 2),
                #[cfg(target_arch = "x86_64")]
                fft256: (n_fft / 2 == fft256::LEN).then(fft256::Fft256::new),
                twiddles,
            }
        } else {
            PowerSpectrum {
                n_fft,
                fft: planner.plan_fft_forward(n_fft),
                #[cfg(target_arch = "x86_64")]
                fft256: None,
                twiddles: Vec::new(),
            }
        }
    }

    fn scratch_len(&self) -> usize {
        if self.n_fft.is_multiple_of(2) {
            self.fft.get_immutable_scratch_len()
        } else {
            self.fft.get_inplace_scratch_len()
        }
    }

    /// The FFTs of the frames in `zin` into `zout` (even `n_fft`): rustfft's,
    /// or in the AVX-512 build the same transform with AVX-512 where there
    /// is one ([`fft256`]).
    #[inline(always)]
    fn transform<const ISA: u8>(
        &self,
        zin: &[Complex<f64>],
        zout: &mut [Complex<f64>],
        scratch: &mut [Complex<f64>],
    ) {
        #[cfg(target_arch = "x86_64")]
        if let (isa::AVX512, Some(fft)) = (ISA, &self.fft256) {
            for (zin, zout) in zin
                .chunks_exact(fft256::LEN)
                .zip(zout.chunks_exact_mut(fft256::LEN))
            {
                // SAFETY: `ISA` is AVX512 only in code compiled with AVX-512
                // and FMA enabled and run after the CPU was checked for them.
                unsafe { fft.process(zin, zout) };
            }
            return;
        }
        self.fft.process_immutable_with_scratch(zin, zout, scratch);
    }

    /// Transforms the first `lanes` frames of `zin` (one FFT input of
    /// `fft.len()` points each) and writes the power spectra of all
    /// [`LANES`] lanes to `power[k·BLOCK + lane0 + lane]`, raised to
    /// `power / 2` unless `power` is 2. `ISA` above [`isa::BASE`]: only
    /// inside code compiled for it (see [`untangle_pairs_avx2`] and
    /// [`untangle_quads_avx512`]).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn power_lanes<const ISA: u8>(
        &self,
        lanes: usize,
        zin: &mut [Complex<f64>],
        zout: &mut [Complex<f64>],
        scratch: &mut [Complex<f64>],
        power: &mut [f64],
        lane0: usize,
        exponent: f64,
    ) {
        let len = self.fft.len();
        let bins = self.n_fft / 2 + 1;
        let dst = |k: usize| k * BLOCK + lane0;
        if self.n_fft.is_multiple_of(2) {
            self.transform::<ISA>(&zin[..lanes * len], &mut zout[..lanes * len], scratch);
            let z: [&[Complex<f64>]; LANES] = std::array::from_fn(|l| &zout[l * len..][..len]);
            let half = len;
            // DC and Nyquist: the sum and difference of the first point's parts.
            let (mut p0, mut ph) = ([0.0; LANES], [0.0; LANES]);
            for l in 0..LANES {
                let (dc, ny) = (z[l][0].re + z[l][0].im, z[l][0].re - z[l][0].im);
                p0[l] = dc * dc;
                ph[l] = ny * ny;
            }
            power[dst(0)..][..LANES].copy_from_slice(&p0);
            power[dst(half)..][..LANES].copy_from_slice(&ph);
            // Bins k and half − k from points k and half − k (realfft's
            // expressions in realfft's order).
            #[allow(unused_mut)]
            let mut k0 = 1;
            #[cfg(target_arch = "x86_64")]
            if ISA >= isa::AVX2 {
                // SAFETY: `ISA` is AVX2 (AVX-512) only in code compiled with
                // AVX2 (AVX-512) enabled and run after the CPU was checked
                // for it.
                unsafe {
                    if ISA == isa::AVX512 {
                        k0 = untangle_quads_avx512(z, &self.twiddles, power, lane0);
                    }
                    k0 = untangle_pairs_avx2(z, &self.twiddles, power, lane0, k0);
                }
            }
            for (k, tw) in (k0..).zip(&self.twiddles[k0 - 1..]) {
                let (mut pk, mut pr) = ([0.0; LANES], [0.0; LANES]);
                for l in 0..LANES {
                    let (a, c) = (z[l][k], z[l][half - k]);
                    let (sum_re, sum_im) = (a.re + c.re, a.im + c.im);
                    let (diff_re, diff_im) = (a.re - c.re, a.im - c.im);
                    let twiddled_re = sum_im * tw.re + diff_re * tw.im;
                    let twiddled_im = sum_im * tw.im - diff_re * tw.re;
                    let (half_sum_re, half_diff_im) = (0.5 * sum_re, 0.5 * diff_im);
                    let (xr, xi) = (half_sum_re + twiddled_re, half_diff_im + twiddled_im);
                    let (yr, yi) = (half_sum_re - twiddled_re, twiddled_im - half_diff_im);
                    pk[l] = xr * xr + xi * xi;
                    pr[l] = yr * yr + yi * yi;
                }
                power[dst(k)..][..LANES].copy_from_slice(&pk);
                power[dst(half - k)..][..LANES].copy_from_slice(&pr);
            }
            if half.is_multiple_of(2) {
                // The middle bin is its point conjugated.
                let mid = half / 2;
                let pm: [f64; LANES] = std::array::from_fn(|l| {
                    let x = z[l][mid];
                    x.re * x.re + x.im * x.im
                });
                power[dst(mid)..][..LANES].copy_from_slice(&pm);
            }
        } else {
            self.fft
                .process_with_scratch(&mut zin[..lanes * len], scratch);
            for l in 0..LANES {
                let z = &zin[l * len..][..len];
                // realfft zeroes the imaginary part of DC.
                power[dst(0) + l] = z[0].re * z[0].re;
                for k in 1..bins {
                    power[dst(k) + l] = z[k].re * z[k].re + z[k].im * z[k].im;
                }
            }
        }
        if exponent != 2.0 {
            let e = exponent / 2.0;
            for k in 0..bins {
                for p in &mut power[dst(k)..][..LANES] {
                    *p = p.powf(e);
                }
            }
        }
    }
}

/// The planned feature extractor for one [`MelConfig`]. Shared read-only.
pub struct MelExtractor {
    cfg: MelConfig,
    spectrum: PowerSpectrum,
    window: Vec<f64>,
    /// `window` times 2^-15: PCM16 samples times it give `s / 32768 · w`
    /// with one rounding fewer to make, and the same bits (scaling by a power
    /// of two is exact both ways).
    window_pcm16: Vec<f64>,
    /// Offset of the window inside the `n_fft` buffer.
    win_offset: usize,
    filters: Vec<Filter>,
}

/// Per-worker buffers for [`MelExtractor::compute_into`].
pub struct MelScratch {
    /// One windowed frame (odd `n_fft` only); its padding stays zero.
    frame: Vec<f64>,
    /// FFT input of [`LANES`] frames, then (odd `n_fft`) their spectra. For
    /// even `n_fft` the frames are windowed in place here, and the zero
    /// padding around the window, set once, stays zero.
    lanes_in: Vec<Complex<f64>>,
    /// Spectra of [`LANES`] frames (even `n_fft`).
    lanes_out: Vec<Complex<f64>>,
    fft_scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
    mel: Vec<f32>,
}

impl MelExtractor {
    /// Plans the FFT and builds the window and filterbank. `cfg` must have
    /// passed [`MelConfig::validate`].
    pub fn new(cfg: &MelConfig) -> Self {
        let window = window(cfg.window, cfg.win_length);
        let win_offset = match cfg.framing {
            Framing::CenterReflect => (cfg.n_fft - cfg.win_length) / 2,
            Framing::Kaldi => 0,
        };
        MelExtractor {
            window_pcm16: window.iter().map(|w| w * (1.0 / 32768.0)).collect(),
            window,
            filters: filterbank(cfg),
            spectrum: PowerSpectrum::new(cfg.n_fft),
            win_offset,
            cfg: cfg.clone(),
        }
    }

    /// The configuration this extractor computes.
    pub fn config(&self) -> &MelConfig {
        &self.cfg
    }

    /// Fresh buffers for one worker.
    pub fn scratch(&self) -> MelScratch {
        let sp = &self.spectrum;
        let zeros = |n| vec![Complex::new(0.0, 0.0); n];
        MelScratch {
            frame: vec![0.0; self.cfg.n_fft],
            lanes_in: zeros(LANES * sp.fft.len()),
            lanes_out: zeros(LANES * sp.fft.len()),
            fft_scratch: zeros(sp.scratch_len()),
            power: vec![0.0; (self.cfg.n_fft / 2 + 1) * BLOCK],
            mel: vec![1.0; self.cfg.n_mels * BLOCK],
        }
    }

    /// Computes the features of `samples` into `out` (replacing what it held) and
    /// returns the number of frames. `out` holds `n_mels × frames` values in
    /// the configured layout.
    ///
    /// Frames go through in blocks of `BLOCK` (8): each frame's power spectrum
    /// lands in one lane of a bin-major block, so the filterbank sums, the log
    /// and the stores run across frames in vector registers. Every frame's
    /// filter sum still adds its products in bin order, so the numbers are
    /// the same as frame-at-a-time code would give, bit for bit.
    ///
    /// On x86-64 the same code is compiled twice more, with AVX2 and with
    /// AVX-512 enabled, and the best build the CPU runs is chosen at run
    /// time: two or four times the lanes per instruction, the same
    /// operations in the same order (Rust never fuses a multiply and an
    /// add), so the same bits; a test checks every build against the others.
    pub fn compute_into<S: Sample>(
        &self,
        samples: &[S],
        s: &mut MelScratch,
        out: &mut Vec<f32>,
    ) -> usize {
        // SAFETY: `isa::best` is a level this CPU runs.
        unsafe { self.compute_with(isa::best(), S::signal(samples), s, out) }
    }

    /// [`Self::compute_into`] with the build for instruction-set `level`.
    ///
    /// # Safety
    /// The CPU must support `level` (see [`isa::best`]).
    unsafe fn compute_with(
        &self,
        level: u8,
        samples: Signal,
        s: &mut MelScratch,
        out: &mut Vec<f32>,
    ) -> usize {
        match level {
            // SAFETY (both): the caller checked the CPU for `level`.
            #[cfg(target_arch = "x86_64")]
            isa::AVX512 => unsafe { self.compute_into_avx512(samples, s, out) },
            #[cfg(target_arch = "x86_64")]
            isa::AVX2 => unsafe { self.compute_into_avx2(samples, s, out) },
            _ => self.compute_into_portable::<{ isa::BASE }>(samples, s, out),
        }
    }

    /// [`Self::compute_into`] compiled with AVX2 (everything below it is
    /// `#[inline(always)]`, so it is all compiled for AVX2; the FFT crate
    /// picks its own AVX code at run time).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn compute_into_avx2(&self, samples: Signal, s: &mut MelScratch, out: &mut Vec<f32>) -> usize {
        self.compute_into_portable::<{ isa::AVX2 }>(samples, s, out)
    }

    /// [`Self::compute_into`] compiled with AVX-512 (F and DQ), which
    /// untangles four points per frame at a time and sums the filters over
    /// a whole block in one vector.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    fn compute_into_avx512(
        &self,
        samples: Signal,
        s: &mut MelScratch,
        out: &mut Vec<f32>,
    ) -> usize {
        self.compute_into_portable::<{ isa::AVX512 }>(samples, s, out)
    }

    /// [`Self::compute_into`] for any CPU (baseline x86-64: SSE2) at
    /// `ISA = isa::BASE`; inside [`Self::compute_into_avx2`] and
    /// [`Self::compute_into_avx512`] at their levels, where the untangling
    /// and the filter sums use their intrinsics.
    #[inline(always)]
    fn compute_into_portable<const ISA: u8>(
        &self,
        samples: Signal,
        s: &mut MelScratch,
        out: &mut Vec<f32>,
    ) -> usize {
        let cfg = &self.cfg;
        // With `pad_to_seconds` the signal is `n` samples long: the chunk,
        // cut or followed by zeros (which `frame` supplies, no copy).
        let n = cfg.padded_len(samples.len());
        let signal = samples.truncate(n);
        let n_frames = cfg.n_frames(samples.len());
        // Every element is written below, so values left from an earlier
        // call stay until overwritten: only growth is zero-filled (a
        // `clear` first would write every byte twice).
        out.resize(n_frames * cfg.n_mels, 0.0);
        let n = n as i64;
        let mut t0 = 0;
        while t0 < n_frames {
            let b = BLOCK.min(n_frames - t0);
            // LANES frames at a time: one batched FFT, then their power
            // spectra side by side into lanes j.. of the block.
            for j in (0..b).step_by(LANES) {
                let lanes = LANES.min(b - j);
                for lane in 0..lanes {
                    let t = t0 + j + lane;
                    let first = match cfg.framing {
                        Framing::CenterReflect => {
                            (t * cfg.hop_length) as i64 - (cfg.n_fft / 2) as i64
                                + self.win_offset as i64
                        }
                        Framing::Kaldi => {
                            (t * cfg.hop_length + cfg.hop_length / 2) as i64
                                - (cfg.win_length / 2) as i64
                        }
                    };
                    let len = self.spectrum.fft.len();
                    let input = &mut s.lanes_in[lane * len..(lane + 1) * len];
                    if cfg.n_fft.is_multiple_of(2) {
                        // Two real samples per complex point, as realfft packs them.
                        self.frame(signal, n, first, bytemuck::cast_slice_mut(input));
                    } else {
                        self.frame(signal, n, first, &mut s.frame);
                        for (z, &x) in input.iter_mut().zip(&s.frame) {
                            *z = Complex::new(x, 0.0);
                        }
                    }
                }
                // Lanes past the block's last frame keep stale spectra that
                // no one reads.
                self.spectrum.power_lanes::<ISA>(
                    lanes,
                    &mut s.lanes_in,
                    &mut s.lanes_out,
                    &mut s.fft_scratch,
                    &mut s.power,
                    j,
                    cfg.power,
                );
            }
            self.filter_block::<ISA>(s);
            match cfg.layout {
                Layout::MelsFirst => {
                    let (mels, _) = s.mel.as_chunks::<BLOCK>();
                    for (m, lanes) in mels.iter().enumerate() {
                        let row = m * n_frames + t0;
                        if b == BLOCK {
                            // Fixed length: a vector move, not a `memcpy` call.
                            out[row..row + BLOCK].copy_from_slice(lanes);
                        } else {
                            out[row..row + b].copy_from_slice(&lanes[..b]);
                        }
                    }
                }
                Layout::FramesFirst => {
                    for (j, row) in out[t0 * cfg.n_mels..(t0 + b) * cfg.n_mels]
                        .chunks_exact_mut(cfg.n_mels)
                        .enumerate()
                    {
                        for (v, lanes) in row.iter_mut().zip(s.mel.chunks_exact(BLOCK)) {
                            *v = lanes[j];
                        }
                    }
                }
            }
            t0 += b;
        }
        if cfg.log == LogKind::Whisper && !out.is_empty() {
            let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for v in out.iter_mut() {
                *v = (v.max(max - 8.0) + 4.0) / 4.0;
            }
        }
        n_frames
    }

    /// Mel filterbank, floor and log for one block: `s.power` (bin-major,
    /// [`BLOCK`] frames per bin) → `s.mel` (mel-major, [`BLOCK`] per mel).
    /// Lanes past the block's last frame hold stale values that no one reads.
    #[inline(always)]
    fn filter_block<const ISA: u8>(&self, s: &mut MelScratch) {
        let (power, _) = s.power.as_chunks::<BLOCK>();
        let (mel, _) = s.mel.as_chunks_mut::<BLOCK>();
        for (dst, f) in mel.iter_mut().zip(&self.filters) {
            let bins = &power[f.start..f.start + f.weights.len()];
            let acc = filter_sum::<ISA>(bins, &f.weights);
            // `if a > floor` is `a.max(floor)`, NaN included (it gives the
            // floor), and compiles to one vector max.
            match self.cfg.log {
                LogKind::Ln { floor } => {
                    for (d, a) in dst.iter_mut().zip(acc) {
                        *d = (if a > floor { a } else { floor }) as f32;
                    }
                }
                LogKind::Whisper => {
                    for (d, a) in dst.iter_mut().zip(acc) {
                        let a = a as f32;
                        *d = if a > 1e-10 { a } else { 1e-10 };
                    }
                }
            }
        }
        // A vectorised single-precision log (|error| < 1e-6, far below the
        // 1e-3 tolerance against the references; libm's logf is scalar).
        let scale = match self.cfg.log {
            LogKind::Ln { .. } => 1.0,
            LogKind::Whisper => std::f32::consts::LOG10_E,
        };
        for v in s.mel.iter_mut() {
            *v = ln_fast(*v) * scale;
        }
    }

    /// Fills `frame` with the windowed frame whose window starts at signal
    /// index `first` (may be negative or past the end: edges are mirrored)
    /// of a signal `n` samples long: `signal`, then zeros up to `n`.
    #[inline(always)]
    fn frame(&self, signal: Signal, n: i64, first: i64, frame: &mut [f64]) {
        let cfg = &self.cfg;
        let wl = cfg.win_length;
        // Only the window region is written: the zero padding around it was
        // set when the buffer was made, and nothing writes there (the even
        // FFT reads its input immutably; odd sizes copy out of `frame`).
        let dst = &mut frame[self.win_offset..self.win_offset + wl];
        let (len, last) = (signal.len() as i64, first + wl as i64);
        if first >= 0 && last <= len {
            if !cfg.remove_dc && cfg.preemphasis == 0.0 {
                // The common case in one pass: sample, then window, the same
                // two roundings as below.
                signal.convert_windowed(first as usize, &self.window, &self.window_pcm16, dst);
                return;
            }
            signal.convert(first as usize, dst);
        } else if first >= len && last <= n {
            // Wholly inside the zero padding.
            dst.fill(0.0);
        } else {
            for (j, d) in dst.iter_mut().enumerate() {
                let i = first + j as i64;
                let k = match cfg.framing {
                    Framing::CenterReflect => reflect_numpy(i, n),
                    Framing::Kaldi => reflect_kaldi(i, n),
                };
                *d = k.and_then(|k| signal.get(k)).unwrap_or(0.0);
            }
        }
        if cfg.remove_dc {
            let mean = dst.iter().sum::<f64>() / wl as f64;
            dst.iter_mut().for_each(|v| *v -= mean);
        }
        if cfg.preemphasis != 0.0 {
            for j in (1..wl).rev() {
                dst[j] -= cfg.preemphasis * dst[j - 1];
            }
            dst[0] -= cfg.preemphasis * dst[0];
        }
        for (d, w) in dst.iter_mut().zip(&self.window) {
            *d *= w;
        }
    }

    /// Convenience wrapper: allocates scratch and output.
    pub fn compute<S: Sample>(&self, samples: &[S]) -> (Vec<f32>, usize) {
        let mut s = self.scratch();
        let mut out = Vec::new();
        let frames = self.compute_into(samples, &mut s, &mut out);
        (out, frames)
    }
}

/// One filter's sums over a block: `Σ_k power[k][lane] · weights[k]` for
/// each of the [`BLOCK`] lanes, products added in bin order.
///
/// `ISA` (only inside code compiled for it): the same multiplies and adds
/// as two 4-lane vectors (AVX2) or one 8-lane vector (AVX-512). Left to
/// itself, LLVM splits the eight lanes 2 + 4 + 2 with AVX2 (three multiplies
/// and three adds per bin instead of two).
#[inline(always)]
fn filter_sum<const ISA: u8>(bins: &[[f64; BLOCK]], weights: &[f64]) -> [f64; BLOCK] {
    #[cfg(target_arch = "x86_64")]
    if ISA == isa::AVX512 {
        use std::arch::x86_64::*;
        // SAFETY: `ISA` is AVX512 only in code compiled with AVX-512
        // enabled and run after the CPU was checked for it; the load reads
        // an in-bounds `[f64; 8]`.
        unsafe {
            let mut acc = _mm512_setzero_pd();
            for (p, &w) in bins.iter().zip(weights) {
                let p = _mm512_loadu_pd(p.as_ptr());
                acc = _mm512_add_pd(acc, _mm512_mul_pd(p, _mm512_set1_pd(w)));
            }
            let mut out = [0.0f64; BLOCK];
            _mm512_storeu_pd(out.as_mut_ptr(), acc);
            return out;
        }
    }
    #[cfg(target_arch = "x86_64")]
    if ISA == isa::AVX2 {
        use std::arch::x86_64::*;
        // SAFETY: `ISA` is AVX2 only in code compiled with AVX2 enabled and
        // run after the CPU was checked for it; the loads read the two
        // halves of an in-bounds `[f64; 8]`.
        unsafe {
            let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
            for (p, &w) in bins.iter().zip(weights) {
                let w = _mm256_set1_pd(w);
                lo = _mm256_add_pd(lo, _mm256_mul_pd(_mm256_loadu_pd(p.as_ptr()), w));
                hi = _mm256_add_pd(hi, _mm256_mul_pd(_mm256_loadu_pd(p.as_ptr().add(4)), w));
            }
            let mut acc = [0.0f64; BLOCK];
            _mm256_storeu_pd(acc.as_mut_ptr(), lo);
            _mm256_storeu_pd(acc.as_mut_ptr().add(4), hi);
            return acc;
        }
    }
    let mut acc = [0.0f64; BLOCK];
    for (p, &w) in bins.iter().zip(weights) {
        for (a, &p) in acc.iter_mut().zip(p) {
            *a += p * w;
        }
    }
    acc
}

/// The untangling of [`PowerSpectrum::power_lanes`] for bins `k, k + 1` and
/// `half − k, half − k − 1` at a time (`k = 1, 3, 5, …` while `k + 1` has a
/// twiddle), all [`LANES`] frames, from `k0` (odd); returns the first `k`
/// it did not do.
///
/// The scalar loop gathers point `k` of four frames into one vector (about
/// 24 instructions per frame and bin, half of them shuffles and register
/// spills). Here each frame's two neighbouring points stay as they are in
/// memory, `[re, im, re, im]`, and only the four finished powers of each
/// frame are transposed into the bin-major block. The arithmetic is
/// realfft's, operation for operation:
/// - `u = (diff_re, sum_im)` times `(tw_im, tw_re)` and `(−tw_re, tw_im)`,
///   each pair added (`hadd`), gives `(twiddled_re, twiddled_im)`: the same
///   two products added (`a + b = b + a`), and `x + (−y)` is `x − y`;
/// - `h = ½·(sum_re, diff_im)`; `h + t` is `(xr, xi)`, `h − t` is `(yr, −yi)`
///   (`a − b = −(b − a)` exactly; only `yi²` is used);
/// - `hadd` of the squares gives `xr² + xi²` and `yr² + yi²`.
///
/// # Safety
/// The CPU must support AVX2 (only called from code compiled for it).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn untangle_pairs_avx2(
    z: [&[Complex<f64>]; LANES],
    twiddles: &[Complex<f64>],
    power: &mut [f64],
    lane0: usize,
    k0: usize,
) -> usize {
    use std::arch::x86_64::*;
    let half = z[0].len();
    let pairs = twiddles.len() / 2;
    // Points k..=k + 1 and half − k − 1..=half − k of every pair lie inside
    // the spectrum, below and above its middle (twiddles.len() < half / 2).
    assert!(z.iter().all(|z| z.len() == half) && 2 * twiddles.len() < half);
    assert!(lane0 + LANES <= BLOCK && power.len() >= half * BLOCK);
    let sign = _mm256_setr_pd(-0.0, 0.0, -0.0, 0.0);
    let one_half = _mm256_set1_pd(0.5);
    assert!(k0 % 2 == 1);
    for p in k0 / 2..pairs {
        let k = 1 + 2 * p;
        // SAFETY (all loads and stores): in bounds by the asserts above;
        // `Complex<f64>` is `#[repr(C)]` `[re, im]`.
        let tw = _mm256_loadu_pd(twiddles.as_ptr().add(k - 1).cast());
        let ta = _mm256_permute_pd::<0b0101>(tw); // (tw_im, tw_re) ×2
        let tb = _mm256_xor_pd(tw, sign); // (−tw_re, tw_im) ×2

        // A loop, not `array::from_fn`: a closure can be compiled apart from
        // this function and without its target features.
        let mut r = [_mm256_setzero_pd(); LANES];
        for (l, r) in r.iter_mut().enumerate() {
            let a = _mm256_loadu_pd(z[l].as_ptr().add(k).cast());
            // Points half − k − 1 and half − k, swapped to line up with k, k + 1.
            let c = _mm256_loadu_pd(z[l].as_ptr().add(half - k - 1).cast());
            let c = _mm256_permute2f128_pd::<0x01>(c, c);
            let sum = _mm256_add_pd(a, c);
            let diff = _mm256_sub_pd(a, c);
            let u = _mm256_blend_pd::<0b1010>(diff, sum);
            let t = _mm256_hadd_pd(_mm256_mul_pd(u, ta), _mm256_mul_pd(u, tb));
            let h = _mm256_mul_pd(one_half, _mm256_blend_pd::<0b1010>(sum, diff));
            let x = _mm256_add_pd(h, t);
            let y = _mm256_sub_pd(h, t);
            // (|X[k]|², |X[half − k]|², |X[k + 1]|², |X[half − k − 1]|²)
            *r = _mm256_hadd_pd(_mm256_mul_pd(x, x), _mm256_mul_pd(y, y));
        }
        let lo01 = _mm256_unpacklo_pd(r[0], r[1]);
        let hi01 = _mm256_unpackhi_pd(r[0], r[1]);
        let lo23 = _mm256_unpacklo_pd(r[2], r[3]);
        let hi23 = _mm256_unpackhi_pd(r[2], r[3]);
        let base = power.as_mut_ptr();
        let at = |bin: usize| base.add(bin * BLOCK + lane0);
        _mm256_storeu_pd(at(k), _mm256_permute2f128_pd::<0x20>(lo01, lo23));
        _mm256_storeu_pd(at(k + 1), _mm256_permute2f128_pd::<0x31>(lo01, lo23));
        _mm256_storeu_pd(at(half - k), _mm256_permute2f128_pd::<0x20>(hi01, hi23));
        _mm256_storeu_pd(at(half - k - 1), _mm256_permute2f128_pd::<0x31>(hi01, hi23));
    }
    1 + 2 * pairs
}

/// `_mm256_hadd_pd` widened: `(a0 + a1, b0 + b1, a2 + a3, b2 + b3, …)`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hadd512(
    a: std::arch::x86_64::__m512d,
    b: std::arch::x86_64::__m512d,
) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    _mm512_add_pd(_mm512_unpacklo_pd(a, b), _mm512_unpackhi_pd(a, b))
}

/// [`untangle_pairs_avx2`] with AVX-512, from `k = 1`: bins `k..k + 4` and
/// `half − k − 3..=half − k` at a time (`k = 1, 5, 9, …` while `k + 3` has a
/// twiddle); returns the first `k` it did not do. The same operations on
/// each value; `hadd`, which AVX-512 lacks, is [`hadd512`]: the same pairs
/// added.
///
/// # Safety
/// The CPU must support AVX-512 F and DQ (only called from code compiled
/// for it).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn untangle_quads_avx512(
    z: [&[Complex<f64>]; LANES],
    twiddles: &[Complex<f64>],
    power: &mut [f64],
    lane0: usize,
) -> usize {
    use std::arch::x86_64::*;
    let half = z[0].len();
    let quads = twiddles.len() / 4;
    assert!(z.iter().all(|z| z.len() == half) && 2 * twiddles.len() < half);
    assert!(lane0 + LANES <= BLOCK && power.len() >= half * BLOCK);
    let sign = _mm512_setr_pd(-0.0, 0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0);
    let one_half = _mm512_set1_pd(0.5);
    // The lanes of a finished power vector to the bin-major block: pairs of
    // frames 0, 1 and 2, 3 interleaved, then two bins per vector.
    let first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    let second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    for q in 0..quads {
        let k = 1 + 4 * q;
        // SAFETY (all loads and stores): in bounds by the asserts above;
        // `Complex<f64>` is `#[repr(C)]` `[re, im]`.
        let tw = _mm512_loadu_pd(twiddles.as_ptr().add(k - 1).cast());
        let ta = _mm512_permute_pd::<0b0101_0101>(tw); // (tw_im, tw_re) ×4
        let tb = _mm512_xor_pd(tw, sign); // (−tw_re, tw_im) ×4

        // A loop, not `array::from_fn`: a closure can be compiled apart from
        // this function and without its target features.
        let mut r = [_mm512_setzero_pd(); LANES];
        for (l, r) in r.iter_mut().enumerate() {
            let a = _mm512_loadu_pd(z[l].as_ptr().add(k).cast());
            // Points half − k − 3..=half − k, reversed to line up with k..k + 4.
            let c = _mm512_loadu_pd(z[l].as_ptr().add(half - k - 3).cast());
            let c = _mm512_shuffle_f64x2::<0b00_01_10_11>(c, c);
            let sum = _mm512_add_pd(a, c);
            let diff = _mm512_sub_pd(a, c);
            let u = _mm512_mask_blend_pd(0b1010_1010, diff, sum);
            let t = hadd512(_mm512_mul_pd(u, ta), _mm512_mul_pd(u, tb));
            let h = _mm512_mul_pd(one_half, _mm512_mask_blend_pd(0b1010_1010, sum, diff));
            let x = _mm512_add_pd(h, t);
            let y = _mm512_sub_pd(h, t);
            // |X|² of bins k, half − k, k + 1, half − k − 1, … k + 3, half − k − 3
            *r = hadd512(_mm512_mul_pd(x, x), _mm512_mul_pd(y, y));
        }
        let lo01 = _mm512_unpacklo_pd(r[0], r[1]);
        let hi01 = _mm512_unpackhi_pd(r[0], r[1]);
        let lo23 = _mm512_unpacklo_pd(r[2], r[3]);
        let hi23 = _mm512_unpackhi_pd(r[2], r[3]);
        let base = power.as_mut_ptr();
        let at = |bin: usize| base.add(bin * BLOCK + lane0);
        for (v, bins) in [
            (_mm512_permutex2var_pd(lo01, first, lo23), [k, k + 1]),
            (_mm512_permutex2var_pd(lo01, second, lo23), [k + 2, k + 3]),
            (
                _mm512_permutex2var_pd(hi01, first, hi23),
                [half - k, half - k - 1],
            ),
            (
                _mm512_permutex2var_pd(hi01, second, hi23),
                [half - k - 2, half - k - 3],
            ),
        ] {
            _mm256_storeu_pd(at(bins[0]), _mm512_castpd512_pd256(v));
            _mm256_storeu_pd(at(bins[1]), _mm512_extractf64x4_pd::<1>(v));
        }
    }
    1 + 4 * quads
}

/// Natural log of a positive, finite `f32` without libm: `x = m·2^e` with
/// `m ∈ [√½, √2)`, `ln m = 2·atanh(s)`, `s = (m − 1)/(m + 1)`, `|s| ≤ 0.172`,
/// five odd terms (truncation < 3e-10). Branch-free, so loops over it
/// vectorise. Inputs here are ≥ 1e-10 (the log floors), never 0 or NaN.
#[inline(always)]
pub fn ln_fast(x: f32) -> f32 {
    let bits = x.to_bits() as i32;
    // Exponent relative to √½: shifts m into [√½, √2). Kept as an integer
    // (a float → int conversion would saturate with compares and stall the
    // vector loop).
    let ei = (bits - 0x3f35_04f3) >> 23;
    let m = f32::from_bits((bits - (ei << 23)) as u32);
    let e = ei as f32;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let poly = 2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0))));
    e * std::f32::consts::LN_2 + s * poly
}

/// numpy `pad(mode="reflect")` index map (edge not repeated; repeated
/// reflection for pads longer than the signal).
fn reflect_numpy(i: i64, n: i64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    if n == 1 {
        return Some(0);
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    Some(if m < n { m } else { period - m } as usize)
}

/// Kaldi `ExtractWindow` mirroring for `snip_edges=false` (edge repeated).
fn reflect_kaldi(i: i64, n: i64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let period = 2 * n;
    let m = i.rem_euclid(period);
    Some(if m < n { m } else { period - 1 - m } as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_fast_matches_libm() {
        let mut x = 1e-10f32;
        let mut worst = 0.0f32;
        while x < 1e12 {
            let d = (ln_fast(x) - x.ln()).abs();
            worst = worst.max(d);
            x *= 1.000_37;
        }
        assert!(worst < 2e-6, "worst |ln_fast - ln| = {worst}");
        assert_eq!(ln_fast(1.0), 0.0);
    }

    /// Uniform noise in [−0.5, 0.5) from a xorshift generator.
    pub(super) fn noise(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        }
    }

    /// The instruction-set levels this CPU runs, lowest first.
    fn levels() -> Vec<u8> {
        let levels: Vec<u8> = [isa::BASE, isa::AVX2, isa::AVX512]
            .into_iter()
            .filter(|&l| l <= isa::best())
            .collect();
        if levels.len() < 3 {
            eprintln!("this CPU runs only levels {levels:?} of the extractor's builds");
        }
        levels
    }

    /// Every build of `compute_into` this CPU runs (AVX-512, AVX2,
    /// portable) gives the portable build's bits, for every preset (and an
    /// odd FFT size with magnitude spectra).
    #[test]
    fn every_build_agrees_bit_for_bit() {
        let mut presets: Vec<MelConfig> = PRESETS
            .iter()
            .map(|p| MelConfig::preset(p).unwrap())
            .collect();
        let mut odd = MelConfig::preset("telephony").unwrap();
        odd.n_fft = 401;
        odd.power = 1.0;
        presets.push(odd);
        for cfg in presets {
            let ex = MelExtractor::new(&cfg);
            let rate = f64::from(cfg.sample_rate_hz);
            // A chirp over a noise floor, with a silent stretch, 1.37 s.
            let x: Vec<f32> = (0..(1.37 * rate) as usize)
                .map(|i| {
                    let t = i as f64 / rate;
                    let tone = (2.0 * std::f64::consts::PI * (200.0 + 900.0 * t) * t).sin();
                    let noise = ((i * 7919) % 1013) as f64 / 1013.0 - 0.5;
                    if (0.4..0.6).contains(&t) {
                        0.0
                    } else {
                        (0.3 * tone + 1e-3 * noise) as f32
                    }
                })
                .collect();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let mut b = Vec::new();
            let fb = ex.compute_into_portable::<{ isa::BASE }>(
                Signal::F32(&x),
                &mut ex.scratch(),
                &mut b,
            );
            assert!(fb > 100, "{}: {fb} frames", cfg.preset);
            for level in levels() {
                let (mut s1, mut s2) = (ex.scratch(), ex.scratch());
                let mut a = Vec::new();
                // SAFETY (all calls): `levels` lists levels this CPU runs.
                let fa = unsafe { ex.compute_with(level, Signal::F32(&x), &mut s1, &mut a) };
                assert_eq!(fa, fb);
                assert_eq!(bits(&a), bits(&b), "preset {}, level {level}", cfg.preset);
                // An output buffer reused from a longer or a shorter chunk
                // gives what a fresh one does (only growth is zero-filled).
                for n in [x.len() / 3, x.len()] {
                    let mut fresh = Vec::new();
                    let part = Signal::F32(&x[..n]);
                    unsafe { ex.compute_with(level, part, &mut s2, &mut fresh) };
                    unsafe { ex.compute_with(level, part, &mut s1, &mut a) };
                    assert_eq!(bits(&a), bits(&fresh), "preset {}, {n} samples", cfg.preset);
                }
            }
        }
    }

    /// The arguments of [`PowerSpectrum::power_lanes`] after `self`.
    type PowerArgs<'a> = (
        usize,
        &'a mut [Complex<f64>],
        &'a mut [Complex<f64>],
        &'a mut [Complex<f64>],
        &'a mut [f64],
        usize,
        f64,
    );

    /// [`PowerSpectrum::power_lanes`] compiled with AVX2 (its paired untangling).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn power_lanes_avx2(sp: &PowerSpectrum, a: PowerArgs) {
        sp.power_lanes::<{ isa::AVX2 }>(a.0, a.1, a.2, a.3, a.4, a.5, a.6);
    }

    /// [`PowerSpectrum::power_lanes`] compiled with AVX-512 (its untangling
    /// by four points).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    fn power_lanes_avx512(sp: &PowerSpectrum, a: PowerArgs) {
        sp.power_lanes::<{ isa::AVX512 }>(a.0, a.1, a.2, a.3, a.4, a.5, a.6);
    }

    /// The fused power spectra are realfft's spectra squared, bit for bit,
    /// for even sizes (both parities of n_fft/2, every count of the
    /// untangling's pairs and quads, with and without a pair after the
    /// quads) and odd ones, in every lane, from every build this CPU runs.
    #[test]
    fn power_spectra_are_realfft_bit_for_bit() {
        use realfft::RealFftPlanner;
        let mut rnd = noise(0x2545_f491_4f6c_dd1d);
        let sizes = [
            2, 3, 4, 6, 10, 14, 18, 22, 26, 30, 34, 255, 256, 400, 402, 512, 513,
        ];
        for n_fft in sizes {
            let sp = PowerSpectrum::new(n_fft);
            let len = sp.fft.len();
            let bins = n_fft / 2 + 1;
            let reference = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
            for lanes in [1, 3, LANES] {
                // Frames spanning 1e-6 to 1e3 in level, some with silent parts.
                let frames: Vec<Vec<f64>> = (0..lanes)
                    .map(|l| {
                        let gain = 10f64.powi(3 * l as i32 - 6);
                        (0..n_fft)
                            .map(|i| if i % 7 == l { 0.0 } else { gain * rnd() })
                            .collect()
                    })
                    .collect();
                let mut zin = vec![Complex::new(0.0, 0.0); LANES * len];
                let mut zout = zin.clone();
                let mut scratch = vec![Complex::new(0.0, 0.0); sp.scratch_len()];
                for (l, f) in frames.iter().enumerate() {
                    let lane = &mut zin[l * len..(l + 1) * len];
                    if n_fft.is_multiple_of(2) {
                        bytemuck::cast_slice_mut::<_, f64>(lane).copy_from_slice(f);
                    } else {
                        for (z, &x) in lane.iter_mut().zip(f) {
                            *z = Complex::new(x, 0.0);
                        }
                    }
                }
                let variants = levels()
                    .into_iter()
                    .flat_map(|level| [(level, 2.0, 0), (level, 1.0, BLOCK - LANES)]);
                for (level, exponent, lane0) in variants {
                    let mut power = vec![f64::NAN; bins * BLOCK];
                    let mut zin = zin.clone();
                    let args = (
                        lanes,
                        &mut zin[..],
                        &mut zout[..],
                        &mut scratch[..],
                        &mut power[..],
                        lane0,
                        exponent,
                    );
                    match level {
                        // SAFETY (both): `levels` lists levels this CPU runs.
                        #[cfg(target_arch = "x86_64")]
                        isa::AVX512 => unsafe { power_lanes_avx512(&sp, args) },
                        #[cfg(target_arch = "x86_64")]
                        isa::AVX2 => unsafe { power_lanes_avx2(&sp, args) },
                        _ => {
                            let a = args;
                            sp.power_lanes::<{ isa::BASE }>(a.0, a.1, a.2, a.3, a.4, a.5, a.6)
                        }
                    }
                    for (l, f) in frames.iter().enumerate() {
                        let mut input = f.clone();
                        let mut spec = reference.make_output_vec();
                        reference.process(&mut input, &mut spec).unwrap();
                        for (k, x) in spec.iter().enumerate() {
                            let mut want = x.re * x.re + x.im * x.im;
                            if exponent != 2.0 {
                                want = want.powf(exponent / 2.0);
                            }
                            let got = power[k * BLOCK + lane0 + l];
                            assert_eq!(
                                got.to_bits(),
                                want.to_bits(),
                                "n_fft {n_fft}, lanes {lanes}, lane {l}, bin {k}, level {level}: \
                                 {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn reflect_matches_numpy() {
        // np.pad(np.arange(4), 7, mode="reflect")
        let want = [1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2];
        let got: Vec<usize> = (-7..11).map(|i| reflect_numpy(i, 4).unwrap()).collect();
        assert_eq!(got, want);
        // Kaldi: -1 → 0, -2 → 1, n → n-1.
        assert_eq!(reflect_kaldi(-1, 5), Some(0));
        assert_eq!(reflect_kaldi(-2, 5), Some(1));
        assert_eq!(reflect_kaldi(5, 5), Some(4));
    }

    #[test]
    fn frame_counts_follow_each_reference() {
        let tel = MelConfig::preset("telephony").unwrap();
        assert_eq!(tel.n_frames(16000), 201);
        assert_eq!(tel.n_frames(79), 1);
        let wh = MelConfig::preset("whisper").unwrap();
        assert_eq!(wh.n_frames(32000), 200);
        let k = MelConfig::preset("kaldi").unwrap();
        assert_eq!(k.n_frames(16000), 200);
        let mut wp = wh.clone();
        wp.pad_to_seconds = Some(30.0);
        assert_eq!(wp.n_frames(1234), 3000);
    }

    #[test]
    fn slaney_filterbank_has_librosa_values() {
        // librosa.filters.mel(sr=8000, n_fft=512, n_mels=80, fmin=0, fmax=4000):
        // row 0 peaks at bin 1 (0.0130946...), rows are area-normalised.
        let cfg = MelConfig::preset("telephony").unwrap();
        let bank = filterbank(&cfg);
        assert_eq!(bank.len(), 80);
        assert!(bank.iter().all(|f| !f.weights.is_empty()));
        // Slaney: below 1 kHz mels are linear, 80 mels over 0..4000 Hz → the
        // first triangle spans 0..2·Δ with Δ = mel_to_hz(m_max/81).
        let m_max = hz_to_mel(4000.0, MelScale::Slaney);
        let d = mel_to_hz(m_max / 81.0, MelScale::Slaney);
        let enorm = 2.0 / (2.0 * d);
        let bin_hz = 8000.0 / 512.0;
        let w1 = (bin_hz / d).min((2.0 * d - bin_hz) / d) * enorm;
        let got = bank[0].weights[1 - bank[0].start];
        assert!((got - w1).abs() < 1e-6, "{got} vs {w1}");
    }

    #[test]
    fn empty_filters_and_bad_ranges_are_refused() {
        let mut c = MelConfig::preset("telephony").unwrap();
        c.n_mels = 400;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("empty") && e.contains("--n-mels"), "{e}");
        let mut c = MelConfig::preset("telephony").unwrap();
        c.fmax_hz = 5000.0;
        assert!(c.validate().unwrap_err().to_string().contains("Nyquist"));
        let mut c = MelConfig::preset("telephony").unwrap();
        c.fmin_hz = 4000.0;
        assert!(c.validate().unwrap_err().to_string().contains("--fmin"));
        let mut c = MelConfig::preset("telephony").unwrap();
        c.win_length = 600;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--win-length"));
        for p in PRESETS {
            MelConfig::preset(p).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn silence_gives_the_floor_and_a_tone_peaks_in_its_band() {
        let cfg = MelConfig::preset("telephony").unwrap();
        let ex = MelExtractor::new(&cfg);
        let (out, frames) = ex.compute(&vec![0.0; 8000]);
        assert_eq!(frames, 101);
        assert_eq!(out.len(), 80 * 101);
        assert!(out
            .iter()
            .all(|v| (*v - (1e-10f64).ln() as f32).abs() < 1e-5));
        // 1 kHz tone: the loudest band is the one whose centre is nearest 1 kHz.
        let tone: Vec<f32> = (0..8000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 8000.0).sin() * 0.5)
            .collect();
        let (out, frames) = ex.compute(&tone);
        let t = frames / 2;
        let best = (0..80)
            .max_by(|a, b| out[a * frames + t].total_cmp(&out[b * frames + t]))
            .unwrap();
        let m_max = hz_to_mel(4000.0, MelScale::Slaney);
        let centre = |m: usize| mel_to_hz(m_max * (m + 1) as f64 / 81.0, MelScale::Slaney);
        let nearest = (0..80)
            .min_by(|a, b| {
                (centre(*a) - 1000.0)
                    .abs()
                    .total_cmp(&(centre(*b) - 1000.0).abs())
            })
            .unwrap();
        assert!(best.abs_diff(nearest) <= 1, "{best} vs {nearest}");
    }

    #[test]
    fn layouts_are_transposes() {
        let mut cfg = MelConfig::preset("telephony").unwrap();
        let x: Vec<f32> = (0..4000)
            .map(|i| ((i * 7919) % 200) as f32 / 400.0 - 0.25)
            .collect();
        let (a, frames) = MelExtractor::new(&cfg).compute(&x);
        cfg.layout = Layout::FramesFirst;
        let (b, _) = MelExtractor::new(&cfg).compute(&x);
        for m in 0..80 {
            for t in 0..frames {
                assert_eq!(a[m * frames + t], b[t * 80 + m]);
            }
        }
    }
}
