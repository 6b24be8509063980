// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! The 48 → 8 kHz resampler libfvad runs on 48 kHz input
//! (`resample_48khz.c`, `resample_by_2_internal.c`,
//! `resample_fractional.c`): 480 samples at 48 kHz in, 80 at 8 kHz out,
//! through 24 kHz (half-band all-pass cascades), a 24 kHz low-pass, 16 kHz
//! (3 → 2 interpolation) and 8 kHz, with its state carried between calls in
//! [`Resample48State`]. Fixed-size stack buffers, no allocation.

// ---- resample_by_2_internal.c / resample_fractional.c -----------------------

/// All-pass coefficients of the half-band resampler filters.
pub(crate) const RESAMPLE_ALLPASS: [[i32; 3]; 2] = [[821, 6110, 12382], [3050, 9368, 15063]];
/// Interpolation coefficients of the 3 → 2 resampler.
pub(crate) const COEFFICIENTS_48_TO_32: [[i32; 8]; 2] = [
    [778, -2050, 1087, 23285, 12903, -3783, 441, 222],
    [222, 441, -3783, 12903, 23285, 1087, -2050, 778],
];

/// `WebRtcSpl_State48khzTo8khz`, the all-pass cascade states grouped by
/// cascade (`S_48_24[8]` is `s_48_24[2][4]`, and so on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resample48State {
    pub(crate) s_48_24: [[i32; 4]; 2],
    pub(crate) s_24_24: [[i32; 4]; 4],
    pub(crate) s_24_16: [i32; 8],
    pub(crate) s_16_8: [[i32; 4]; 2],
}

/// One three-stage all-pass section of the half-band resampler filters, on
/// `state[0..4]` (the stage bodies of `resample_by_2_internal.c`; all four
/// functions use the same arithmetic). Returns the new `state[3]`.
#[inline(always)]
pub(crate) fn allpass3(x: i32, s: &mut [i32; 4], k: &[i32; 3]) -> i32 {
    // Scale down and round.
    let diff = (x.wrapping_sub(s[1]).wrapping_add(1 << 13)) >> 14;
    let tmp1 = s[0].wrapping_add(diff.wrapping_mul(k[0]));
    s[0] = x;
    // Scale down and truncate (the C's `>> 14`, then `+ 1` if negative).
    let mut diff = tmp1.wrapping_sub(s[2]) >> 14;
    if diff < 0 {
        diff += 1;
    }
    let tmp0 = s[1].wrapping_add(diff.wrapping_mul(k[1]));
    s[1] = tmp1;
    let mut diff = tmp0.wrapping_sub(s[3]) >> 14;
    if diff < 0 {
        diff += 1;
    }
    s[3] = s[2].wrapping_add(diff.wrapping_mul(k[2]));
    s[2] = tmp0;
    s[3]
}

/// `WebRtcSpl_DownBy2ShortToInt`: 480 × i16 → 240 × i32 (Q15 + offset).
/// The lower (even samples) and upper (odd samples) cascades run in one loop.
pub(crate) fn down_by_2_short_to_int(
    input: &[i16; 480],
    out: &mut [i32; 240],
    state: &mut [[i32; 4]; 2],
) {
    let [mut lo, mut up] = *state;
    for (pair, o) in input.chunks_exact(2).zip(out.iter_mut()) {
        let x0 = ((pair[0] as i32) << 15) + (1 << 14);
        let x1 = ((pair[1] as i32) << 15) + (1 << 14);
        let a = allpass3(x0, &mut lo, &RESAMPLE_ALLPASS[1]) >> 1;
        let b = allpass3(x1, &mut up, &RESAMPLE_ALLPASS[0]) >> 1;
        *o = a.wrapping_add(b);
    }
    *state = [lo, up];
}

/// `WebRtcSpl_LPBy2IntToInt`: 240 × i32 → 240 × i32, low-pass at the same
/// rate. Its four all-pass cascades (two per output phase) are independent
/// and run in one loop.
pub(crate) fn lp_by_2_int_to_int(input: &[i32; 240], out: &mut [i32], state: &mut [[i32; 4]; 4]) {
    let [mut a, mut b, mut c, mut d] = *state;
    // The lower cascade of the even outputs sees the odd inputs delayed by
    // one: its first input is the last odd input of the previous call, which
    // the C keeps in `state[12]` (the first state of the last cascade).
    let mut prev_odd = d[0];
    for (pair, o) in input.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
        let (even, odd) = (pair[0], pair[1]);
        let ya = allpass3(prev_odd, &mut a, &RESAMPLE_ALLPASS[1]);
        let yb = allpass3(even, &mut b, &RESAMPLE_ALLPASS[0]);
        let yc = allpass3(even, &mut c, &RESAMPLE_ALLPASS[1]);
        let yd = allpass3(odd, &mut d, &RESAMPLE_ALLPASS[0]);
        prev_odd = odd;
        o[0] = (ya >> 1).wrapping_add(yb >> 1) >> 15;
        o[1] = (yc >> 1).wrapping_add(yd >> 1) >> 15;
    }
    *state = [a, b, c, d];
}

/// `WebRtcSpl_Resample48khzTo32khz` with K = 80: 3 inputs → 2 outputs per
/// block, `input` being 8 history values followed by 240 new ones.
pub(crate) fn resample_48khz_to_32khz(input: &[i32; 248], out: &mut [i32; 160]) {
    let [c0, c1] = &COEFFICIENTS_48_TO_32;
    for (m, o) in out.chunks_exact_mut(2).enumerate() {
        let win = &input[3 * m..3 * m + 9];
        let mut t0: i32 = 1 << 14;
        let mut t1: i32 = 1 << 14;
        for j in 0..8 {
            t0 = t0.wrapping_add(c0[j].wrapping_mul(win[j]));
            t1 = t1.wrapping_add(c1[j].wrapping_mul(win[j + 1]));
        }
        o[0] = t0;
        o[1] = t1;
    }
}

/// `WebRtcSpl_DownBy2IntToShort`: 160 × i32 → 80 × i16, saturating. The two
/// cascades run in one loop.
pub(crate) fn down_by_2_int_to_short(
    input: &[i32; 160],
    out: &mut [i16; 80],
    state: &mut [[i32; 4]; 2],
) {
    let [mut lo, mut up] = *state;
    for (pair, o) in input.chunks_exact(2).zip(out.iter_mut()) {
        let a = allpass3(pair[0], &mut lo, &RESAMPLE_ALLPASS[1]) >> 1;
        let b = allpass3(pair[1], &mut up, &RESAMPLE_ALLPASS[0]) >> 1;
        let t = a.wrapping_add(b) >> 15;
        *o = t.clamp(-32768, 32767) as i16;
    }
    *state = [lo, up];
}

/// `WebRtcSpl_Resample48khzTo8khz`: 480 samples at 48 kHz → 80 at 8 kHz.
pub(crate) fn resample_48khz_to_8khz(
    input: &[i16; 480],
    out: &mut [i16; 80],
    st: &mut Resample48State,
) {
    // 48 → 24.
    let mut at24 = [0i32; 240];
    down_by_2_short_to_int(input, &mut at24, &mut st.s_48_24);
    // 24 → 24 (low-pass), behind 8 values of history for the 3/2 step.
    let mut lp = [0i32; 248];
    lp[..8].copy_from_slice(&st.s_24_16);
    lp_by_2_int_to_int(&at24, &mut lp[8..], &mut st.s_24_24);
    st.s_24_16.copy_from_slice(&lp[240..]);
    // 24 → 16.
    let mut at16 = [0i32; 160];
    resample_48khz_to_32khz(&lp, &mut at16);
    // 16 → 8.
    down_by_2_int_to_short(&at16, out, &mut st.s_16_8);
}

// ---- vad_filterbank.c -------------------------------------------------------
