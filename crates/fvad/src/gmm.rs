// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! `vad_gmm.c`: the Gaussian likelihood of one feature under one Gaussian
//! of a model. In: a Q4 feature, a Q7 mean and the cached reciprocal of a
//! Q7 standard deviation ([`inv_std`]); out: the Q20 probability and the
//! Q11 delta `(x − m) / s²` the model update uses. Pure, no allocation.

use crate::spl::div_w32_w16;

// ---- vad_gmm.c --------------------------------------------------------------

pub(crate) const COMP_VAR: i32 = 22005;
/// log2(exp(1)) in Q12.
pub(crate) const LOG2_EXP: i32 = 5909;

/// `1 / s` in Q10 and `1 / s²` in Q14 as `WebRtcVad_GaussianProbability`
/// derives them from the Q7 standard deviation `std`.
#[inline(always)]
pub(crate) fn inv_std(std: i16) -> [i16; 2] {
    // 131072 = 1 in Q17; (std >> 1) rounds. Q17 / Q7 = Q10.
    let inv_std = div_w32_w16(131072 + (std >> 1) as i32, std) as i16;
    let tmp16 = inv_std >> 2; // Q8
    let inv_std2 = ((tmp16 as i32 * tmp16 as i32) >> 2) as i16; // (Q8 * Q8) >> 2
    [inv_std, inv_std2]
}

/// `WebRtcVad_GaussianProbability`: the Q20 probability of Q4 `input` under
/// a normal distribution of Q7 `mean` whose standard deviation gave
/// `[inv_std, inv_std2]` (see [`inv_std`]), and (x − m) / s² in Q11.
#[inline(always)]
pub(crate) fn gaussian_probability(
    input: i16,
    mean: i16,
    [inv_std, inv_std2]: [i16; 2],
) -> (i32, i16) {
    let tmp16 = (((input as i32) << 3) as i16).wrapping_sub(mean); // Q7
    let delta = ((inv_std2 as i32 * tmp16 as i32) >> 10) as i16; // Q11
                                                                 // (x - m)² / (2 s²) in Q10.
    let tmp32 = (delta as i32 * tmp16 as i32) >> 9;
    // exp2(-log2(e) * tmp32) with a linear mantissa, if the exponent is
    // small enough to give a non-zero probability (computed either way and
    // selected: the test is unpredictable).
    let t = ((LOG2_EXP.wrapping_mul(tmp32) >> 12) as i16).wrapping_neg();
    let mantissa = 0x0400 | (t & 0x03FF);
    let shift = ((!t) >> 10).wrapping_add(1);
    // The shift is 0..=31 for every reachable input; `wrapping_shr` masks
    // like the x86 shift the C compiles to.
    let exp_value = if tmp32 < COMP_VAR {
        (mantissa as i32).wrapping_shr(shift as u32) as i16
    } else {
        0
    };
    (inv_std as i32 * exp_value as i32, delta)
}
