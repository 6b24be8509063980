//! The filter sums with AVX-512: the block's eight lanes as one vector, the
//! same multiplies and adds in the same order as the portable sum. In: a
//! filter's bins and weights; out: eight sums. No allocation.

use std::arch::x86_64::*;

use super::FilterSumKernel;
use crate::level::Avx512;
use crate::BLOCK;

impl FilterSumKernel for Avx512 {
    #[inline(always)]
    fn filter_sum(self, bins: &[[f64; BLOCK]], weights: &[f64]) -> [f64; BLOCK] {
        // SAFETY: an `Avx512` token exists only once the CPU was checked
        // for AVX-512 F, DQ, AVX2 and FMA, when the extractor was built
        // (`Level::new`).
        unsafe { filter_sum(bins, weights) }
    }
}

/// [`FilterSumKernel::filter_sum`] with AVX-512.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn filter_sum(bins: &[[f64; BLOCK]], weights: &[f64]) -> [f64; BLOCK] {
    let mut acc = _mm512_setzero_pd();
    for (p, &w) in bins.iter().zip(weights) {
        // SAFETY: the load reads an in-bounds `[f64; 8]`.
        let p = unsafe { _mm512_loadu_pd(p.as_ptr()) };
        acc = _mm512_add_pd(acc, _mm512_mul_pd(p, _mm512_set1_pd(w)));
    }
    let mut out = [0.0f64; BLOCK];
    // SAFETY: the store writes a `[f64; 8]`.
    unsafe { _mm512_storeu_pd(out.as_mut_ptr(), acc) };
    out
}
