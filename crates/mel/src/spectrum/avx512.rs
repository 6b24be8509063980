//! The spectrum step with AVX-512: the 256-point FFT of `spectrum/fft256.rs`
//! where the transform is that long, and the untangling four points per
//! frame at a time (then two at a time, AVX2's, for what is left).
//!
//! In: [`LANES`] packed frames (the transform), or their half-size spectra
//! and realfft's twiddles (the untangling). Out: the spectra, or power bins
//! `k..k + 4` and `half − k − 3..=half − k` in the bin-major block at
//! `lane0`, bit for bit the portable code's. No allocation.

use std::arch::x86_64::*;

use rustfft::num_complex::Complex;

use super::avx2::untangle_pairs;
use super::{fft256, PowerSpectrum, SpectrumKernel, LANES};
use crate::level::Avx512;
use crate::BLOCK;

impl SpectrumKernel for Avx512 {
    #[inline(always)]
    fn transform(
        self,
        sp: &PowerSpectrum,
        zin: &[Complex<f64>],
        zout: &mut [Complex<f64>],
        scratch: &mut [Complex<f64>],
    ) {
        let Some(fft) = &sp.fft256 else {
            return sp.fft.process_immutable_with_scratch(zin, zout, scratch);
        };
        for (zin, zout) in zin
            .chunks_exact(fft256::LEN)
            .zip(zout.chunks_exact_mut(fft256::LEN))
        {
            // SAFETY: an `Avx512` token exists only once the CPU was checked
            // for AVX-512 F, DQ, AVX2 and FMA, when the extractor was built
            // (`Level::new`).
            unsafe { fft.process(zin, zout) };
        }
    }

    #[inline(always)]
    fn untangle(
        self,
        z: [&[Complex<f64>]; LANES],
        twiddles: &[Complex<f64>],
        power: &mut [f64],
        lane0: usize,
    ) -> usize {
        // SAFETY: an `Avx512` token exists only once the CPU was checked
        // for AVX-512 F, DQ, AVX2 and FMA, when the extractor was built
        // (`Level::new`); AVX2 is among them.
        unsafe {
            let k0 = untangle_quads(z, twiddles, power, lane0);
            untangle_pairs(z, twiddles, power, lane0, k0)
        }
    }
}

/// `_mm256_hadd_pd` widened: `(a0 + a1, b0 + b1, a2 + a3, b2 + b3, …)`.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn hadd512(a: __m512d, b: __m512d) -> __m512d {
    _mm512_add_pd(_mm512_unpacklo_pd(a, b), _mm512_unpackhi_pd(a, b))
}

/// [`untangle_pairs`] with AVX-512, from `k = 1`: bins `k..k + 4` and
/// `half − k − 3..=half − k` at a time (`k = 1, 5, 9, …` while `k + 3` has a
/// twiddle); returns the first `k` it did not do. The same operations on
/// each value; `hadd`, which AVX-512 lacks, is [`hadd512`]: the same pairs
/// added.
///
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn untangle_quads(
    z: [&[Complex<f64>]; LANES],
    twiddles: &[Complex<f64>],
    power: &mut [f64],
    lane0: usize,
) -> usize {
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
        unsafe {
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
    }
    1 + 4 * quads
}
