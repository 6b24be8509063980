//! The extractor's parameters: [`MelConfig`], its enums, the named presets
//! ([`PRESETS`]), and [`MelConfig::validate`].
//!
//! In: a preset name, or fields set one by one (the CLI's flags). Out: a
//! checked configuration, and what follows from it without computing any
//! feature: the number of frames for `n` samples ([`MelConfig::n_frames`],
//! after [`MelConfig::padded_len`]) and the output shape in the configured
//! layout ([`MelConfig::shape`]). `validate` builds the filterbank once to
//! refuse empty filters (it allocates); the rest does not allocate.
//!
//! The types serialize (serde) into callprep's `report.json`; their field
//! and variant names are part of that file's format.

use serde::Serialize;

use crate::filters::filterbank;

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
    /// A setting is impossible; the message names the flag and what to change.
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests;
