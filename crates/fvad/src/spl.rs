// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! Fixed-point helpers of WebRTC's signal-processing library
//! (`spl_inl.h`, `division_operations.c`, `energy.c`,
//! `get_scaling_square.c`): normalisation counts, the `int32 / int16`
//! division, and the scaled energy of a band. In: `i16`/`i32` values and
//! band arrays; out: `i16`/`i32` values. Pure, no allocation.

/// `WebRtcSpl_NormW32`: left shifts `a` takes without overflow (0 for 0).
#[inline(always)]
pub(crate) fn norm_w32(a: i32) -> i16 {
    if a == 0 {
        0
    } else {
        let v = if a < 0 { !a } else { a };
        (v as u32).leading_zeros() as i16 - 1
    }
}

/// `WebRtcSpl_NormU32`.
#[inline(always)]
pub(crate) fn norm_u32(a: u32) -> i32 {
    if a == 0 {
        0
    } else {
        a.leading_zeros() as i32
    }
}

/// `WebRtcSpl_DivW32W16`: truncating division, `i32::MAX` for a zero
/// denominator.
#[inline(always)]
pub(crate) fn div_w32_w16(num: i32, den: i16) -> i32 {
    if den != 0 {
        num.wrapping_div(den as i32)
    } else {
        0x7FFF_FFFF
    }
}

/// `WebRtcSpl_GetScalingSquare(v, len, len)`. As in C, `-x` of −32768 wraps
/// to −32768, so such samples never raise the maximum.
#[inline(always)]
pub(crate) fn scaling_square<const L: usize>(v: &[i16; L]) -> i32 {
    let smax = v.iter().fold(-1i16, |m, &x| m.max(x.wrapping_abs()));
    scaling_of_max(smax, L)
}

/// The rest of [`scaling_square`], from the largest `wrapping_abs` of the
/// `len` samples (−1 if there is none above −1).
#[inline(always)]
pub(crate) fn scaling_of_max(smax: i16, len: usize) -> i32 {
    let nbits = 32 - (len as u32).leading_zeros() as i16;
    let t = norm_w32(smax as i32 * smax as i32);
    if smax == 0 || t > nbits {
        0
    } else {
        (nbits - t) as i32
    }
}

/// `WebRtcSpl_Energy`: (sum of `x² >> scaling`, scaling). The sum wraps.
#[inline(always)]
pub(crate) fn energy<const L: usize>(v: &[i16; L]) -> (i32, i32) {
    let scaling = scaling_square(v);
    let en = v.iter().fold(0i32, |en, &x| {
        en.wrapping_add((x as i32 * x as i32) >> scaling)
    });
    (en, scaling)
}
