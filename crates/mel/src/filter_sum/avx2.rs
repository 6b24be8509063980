//! The filter sums with AVX2: the block's eight lanes as two 4-lane
//! vectors, the same multiplies and adds in the same order as the portable
//! sum. In: a filter's bins and weights; out: eight sums. No allocation.

use std::arch::x86_64::*;

use super::FilterSumKernel;
use crate::level::Avx2;
use crate::BLOCK;

impl FilterSumKernel for Avx2 {
    #[inline(always)]
    fn filter_sum(self, bins: &[[f64; BLOCK]], weights: &[f64]) -> [f64; BLOCK] {
        // SAFETY: an `Avx2` token exists only once the CPU was checked for
        // AVX2, when the extractor was built (`Level::new`).
        unsafe { filter_sum(bins, weights) }
    }
}

/// [`FilterSumKernel::filter_sum`] with AVX2.
#[target_feature(enable = "avx2")]
#[inline]
fn filter_sum(bins: &[[f64; BLOCK]], weights: &[f64]) -> [f64; BLOCK] {
    let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    for (p, &w) in bins.iter().zip(weights) {
        let w = _mm256_set1_pd(w);
        // SAFETY: the loads read the two halves of an in-bounds `[f64; 8]`.
        let (p_lo, p_hi) = unsafe {
            (
                _mm256_loadu_pd(p.as_ptr()),
                _mm256_loadu_pd(p.as_ptr().add(4)),
            )
        };
        lo = _mm256_add_pd(lo, _mm256_mul_pd(p_lo, w));
        hi = _mm256_add_pd(hi, _mm256_mul_pd(p_hi, w));
    }
    let mut acc = [0.0f64; BLOCK];
    // SAFETY: the stores write the two halves of a `[f64; 8]`.
    unsafe {
        _mm256_storeu_pd(acc.as_mut_ptr(), lo);
        _mm256_storeu_pd(acc.as_mut_ptr().add(4), hi);
    }
    acc
}
