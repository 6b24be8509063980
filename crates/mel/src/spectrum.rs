//! Power spectra of real frames, [`LANES`] frames at a time.
//!
//! In: [`LANES`] windowed frames of `n_fft` `f64` samples, packed two per
//! complex point (even `n_fft`, as realfft packs them) or one per point (odd
//! `n_fft`). Out: `|X[k]|²` for `k = 0..=n_fft/2` of every frame (raised to
//! `power / 2` unless `power` is 2), written bin-major into a block of
//! [`BLOCK`] lanes: `power[k·BLOCK + lane]`. The plan, twiddles and tables
//! are built once ([`PowerSpectrum::new`] allocates); a call does not
//! allocate.
//!
//! The algorithm is realfft's (the same rustfft plans and arithmetic, so the
//! same bits, which a test checks), with its final pass (the untangling of
//! the half-size complex FFT) fused into the power computation and run
//! across the frames side by side. This file holds the portable code; the
//! untangling with AVX2 is in `spectrum/avx2.rs`, with AVX-512 (and the
//! AVX-512 256-point FFT, `spectrum/fft256.rs`) in `spectrum/avx512.rs`.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::level::Portable;
use crate::BLOCK;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) mod fft256;

/// Frames whose FFTs run as one batch and whose power spectra are formed
/// side by side (one `f64` vector of AVX2).
pub(crate) const LANES: usize = 4;

/// One level's code for the spectrum step: the transform and the
/// untangling. Implemented by each level's token in its own file.
pub(crate) trait SpectrumKernel: Copy {
    /// The FFTs of the frames in `zin` into `zout` (even `n_fft`, each
    /// `sp.fft.len()` points): rustfft's plan unless the level has its own.
    #[inline(always)]
    fn transform(
        self,
        sp: &PowerSpectrum,
        zin: &[Complex<f64>],
        zout: &mut [Complex<f64>],
        scratch: &mut [Complex<f64>],
    ) {
        sp.fft.process_immutable_with_scratch(zin, zout, scratch);
    }

    /// Untangles bins `k` and `half − k` of all [`LANES`] frames (`z`, the
    /// half-size spectra) from `k = 1` for as long as this level's vectors
    /// go, into `power` at `lane0`; returns the first `k` it did not do (the
    /// portable loop does the rest).
    fn untangle(
        self,
        z: [&[Complex<f64>]; LANES],
        twiddles: &[Complex<f64>],
        power: &mut [f64],
        lane0: usize,
    ) -> usize;
}

impl SpectrumKernel for Portable {
    #[inline(always)]
    fn untangle(
        self,
        _z: [&[Complex<f64>]; LANES],
        _twiddles: &[Complex<f64>],
        _power: &mut [f64],
        _lane0: usize,
    ) -> usize {
        1
    }
}

/// Power spectra `|X[k]|², k = 0..=n_fft/2`, of real frames: realfft's
/// algorithm (the same rustfft plans and arithmetic, so the same bits, which
/// a test checks), with its final pass fused into the power computation and
/// run across [`LANES`] frames at once instead of one complex value at a
/// time. For even `n_fft` the frame's samples are packed two per complex
/// point into an `n_fft/2`-point FFT whose output is untangled with
/// twiddles; odd sizes take a full complex FFT of the real frame.
pub(crate) struct PowerSpectrum {
    n_fft: usize,
    pub(crate) fft: Arc<dyn Fft<f64>>,
    /// The same transform with AVX-512 when it is 256 points long (n_fft
    /// 512, the telephony preset's), for the AVX-512 level.
    #[cfg(target_arch = "x86_64")]
    fft256: Option<fft256::Fft256>,
    /// realfft's twiddles `½·e^(−2πik/n_fft)`, `k = 1..`, for the untangling.
    twiddles: Vec<Complex<f64>>,
}

impl PowerSpectrum {
    /// Plans the FFT of `n_fft` real points and computes the twiddles.
    pub(crate) fn new(n_fft: usize) -> Self {
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

    /// Length of the FFT scratch buffer [`Self::power_lanes`] needs.
    pub(crate) fn scratch_len(&self) -> usize {
        if self.n_fft.is_multiple_of(2) {
            self.fft.get_immutable_scratch_len()
        } else {
            self.fft.get_inplace_scratch_len()
        }
    }

    /// Transforms the first `lanes` frames of `zin` (one FFT input of
    /// `fft.len()` points each) and writes the power spectra of all
    /// [`LANES`] lanes to `power[k·BLOCK + lane0 + lane]`, raised to
    /// `power / 2` unless `power` is 2, with level `level`'s code.
    #[allow(clippy::too_many_arguments)] // the buffers of one call, all distinct
    #[inline(always)]
    pub(crate) fn power_lanes<L: SpectrumKernel>(
        &self,
        level: L,
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
            level.transform(self, &zin[..lanes * len], &mut zout[..lanes * len], scratch);
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
            // expressions in realfft's order): the level's vectors first,
            // then this loop for what they leave.
            let k0 = level.untangle(z, &self.twiddles, power, lane0);
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

#[cfg(test)]
mod tests;
