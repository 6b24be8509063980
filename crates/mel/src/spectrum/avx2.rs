//! The spectrum step with AVX2: the untangling two points per frame at a
//! time.
//!
//! In: the half-size spectra of [`LANES`] frames, realfft's twiddles. Out:
//! their power bins `k, k + 1, half − k, half − k − 1` for odd `k`, in the
//! bin-major block at `lane0`, bit for bit the portable loop's. No
//! allocation.

use std::arch::x86_64::*;

use rustfft::num_complex::Complex;

use super::{SpectrumKernel, LANES};
use crate::level::Avx2;
use crate::BLOCK;

impl SpectrumKernel for Avx2 {
    #[inline(always)]
    fn untangle(
        self,
        z: [&[Complex<f64>]; LANES],
        twiddles: &[Complex<f64>],
        power: &mut [f64],
        lane0: usize,
    ) -> usize {
        // SAFETY: an `Avx2` token exists only once the CPU was checked for
        // AVX2, when the extractor was built (`Level::new`).
        unsafe { untangle_pairs(z, twiddles, power, lane0, 1) }
    }
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
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn untangle_pairs(
    z: [&[Complex<f64>]; LANES],
    twiddles: &[Complex<f64>],
    power: &mut [f64],
    lane0: usize,
    k0: usize,
) -> usize {
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
        unsafe {
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
    }
    1 + 2 * pairs
}
