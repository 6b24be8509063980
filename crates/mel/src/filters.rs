//! The mel filterbank: mel scales ([`MelScale`]: Slaney, HTK, Kaldi) and the
//! triangular filters of a configuration.
//!
//! In: a [`MelConfig`] (`sample_rate_hz`, `n_fft`, `n_mels`, `fmin_hz`,
//! `fmax_hz`, scale, norm). Out: `n_mels` sparse rows ([`Filter`]), each the
//! non-zero weights over FFT bins `0..=n_fft/2`, stored as `f64` holding the
//! reference's `f32` values. Built once per extractor (allocates).

use crate::config::{MelConfig, MelNorm, MelScale};

/// One triangular filter: weights for FFT bins `start .. start + weights.len()`.
#[derive(Debug, Clone)]
pub struct Filter {
    /// First FFT bin with a weight.
    pub start: usize,
    /// Weights, one per bin from `start`.
    pub weights: Vec<f64>,
}

pub(crate) fn hz_to_mel(f: f64, scale: MelScale) -> f64 {
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

pub(crate) fn mel_to_hz(m: f64, scale: MelScale) -> f64 {
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

#[cfg(test)]
mod tests;
