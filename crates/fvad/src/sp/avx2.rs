// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! AVX2 version of FindMinimum's window update ([`update_window_fast`]):
//! one channel's 16 ages and 16 smallest values in, updated in place, as
//! [`crate::core::Core::update_window`] does. Value intrinsics only.

use std::arch::x86_64::*;

type V = __m256i;

/// [`Core::update_window`](crate::core::Core::update_window) with the 16 ages and the 16 values as one
/// vector each: the ageing, an expiry and the insertion are shifted
/// copies and blends instead of `memmove` calls. Returns `false`,
/// changing nothing, when two values expire in one frame; that rare
/// case keeps the C code's sequential loop.
///
/// One expiry at slot `i` in the C loop: slots below `i` are aged; the
/// values above `i` move down one slot; the one that lands in slot `i`
/// is not aged this frame (the loop has passed it), the others are; the
/// last slot becomes 10000 with age 101, which the loop then reaches and
/// ages to 102 unless `i` was the last slot.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn update_window_fast(age: &mut [i16; 16], values: &mut [i16; 16], f: i16) -> bool {
    let a: V = bytemuck::cast(*age);
    let v: V = bytemuck::cast(*values);
    let lane = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let one = _mm256_set1_epi16(1);
    let aged = _mm256_add_epi16(a, one);
    // Lane i gets lane i + 1 (the last lane gets zero).
    let down = |x: V| _mm256_alignr_epi8::<2>(_mm256_permute2x128_si256::<0x81>(x, x), x);
    let expiring = _mm256_movemask_epi8(_mm256_cmpeq_epi16(a, _mm256_set1_epi16(100))) as u32;
    let (a, v) = match expiring.count_ones() {
        0 => (aged, v),
        2 => {
            let i = (expiring.trailing_zeros() / 2) as i16;
            let below = _mm256_cmpgt_epi16(_mm256_set1_epi16(i), lane);
            let at = _mm256_cmpeq_epi16(lane, _mm256_set1_epi16(i));
            let last = _mm256_cmpeq_epi16(lane, _mm256_set1_epi16(15));
            let a = _mm256_blendv_epi8(_mm256_blendv_epi8(down(aged), aged, below), down(a), at);
            let tail = _mm256_set1_epi16(if i < 15 { 102 } else { 101 });
            let a = _mm256_blendv_epi8(a, tail, last);
            let v = _mm256_blendv_epi8(down(v), v, below);
            let v = _mm256_blendv_epi8(v, _mm256_set1_epi16(10000), last);
            (a, v)
        }
        _ => return false,
    };
    // The insertion point: how many values are not larger than `f`, the
    // first larger one's lane, since the window is sorted (see the
    // scalar code); 16 if none is larger.
    let larger = _mm256_movemask_epi8(_mm256_cmpgt_epi16(v, _mm256_set1_epi16(f))) as u32;
    let p = (larger.trailing_zeros() / 2) as i16;
    if p < 16 {
        // Every lane i moved to i + 1 (lane 0 gets zero, then `f`).
        let up = |x: V| _mm256_alignr_epi8::<14>(x, _mm256_permute2x128_si256::<0x08>(x, x));
        let after = _mm256_cmpgt_epi16(lane, _mm256_set1_epi16(p));
        let at = _mm256_cmpeq_epi16(lane, _mm256_set1_epi16(p));
        let insert = |x: V, new: i16| {
            let x = _mm256_blendv_epi8(x, up(x), after);
            _mm256_blendv_epi8(x, _mm256_set1_epi16(new), at)
        };
        *values = bytemuck::cast(insert(v, f));
        *age = bytemuck::cast(insert(a, 1));
    } else {
        *values = bytemuck::cast(v);
        *age = bytemuck::cast(a);
    }
    true
}
