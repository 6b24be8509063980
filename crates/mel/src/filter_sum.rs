//! The mel filterbank applied to a block of power spectra: one filter's
//! weighted sum over its bins, for [`BLOCK`] frames at once.
//!
//! In: the filter's bins of a bin-major block (`[f64; BLOCK]` per bin, one
//! lane per frame) and its weights. Out: `Σ_k power[k][lane] · weights[k]`
//! for each lane, the products added in bin order, so every level gives the
//! bits of frame-at-a-time code. No allocation.
//!
//! This file holds the portable sum; `filter_sum/avx2.rs` and
//! `filter_sum/avx512.rs` hold the same multiplies and adds as two 4-lane
//! vectors and as one 8-lane vector. Left to itself, LLVM splits the eight
//! lanes 2 + 4 + 2 with AVX2 (three multiplies and three adds per bin
//! instead of two).

use crate::level::Portable;
use crate::BLOCK;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

/// One level's code for the filter sums. Implemented by each level's token
/// in its own file.
pub(crate) trait FilterSumKernel: Copy {
    /// `Σ_k bins[k][lane] · weights[k]` for each of the [`BLOCK`] lanes,
    /// products added in bin order.
    fn filter_sum(self, bins: &[[f64; BLOCK]], weights: &[f64]) -> [f64; BLOCK];
}

impl FilterSumKernel for Portable {
    #[inline(always)]
    fn filter_sum(self, bins: &[[f64; BLOCK]], weights: &[f64]) -> [f64; BLOCK] {
        let mut acc = [0.0f64; BLOCK];
        for (p, &w) in bins.iter().zip(weights) {
            for (a, &p) in acc.iter_mut().zip(p) {
                *a += p * w;
            }
        }
        acc
    }
}
