// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! AVX2 version of the whole filterbank for two channels, which share
//! registers as well as one loop: level 1's two recurrences of both
//! channels in one 4-lane vector, level 2's four of both in one 8-lane
//! vector, levels 3 and 4 in a 4-lane vector each, running behind level 2
//! in the same loop, and the two high-passes behind level 4 (see
//! [`avx2::filterbank_pair`]). Level 2's outputs stay in their vector
//! lanes and give their energies all at once ([`avx2::level2_energies`]);
//! levels 3 and 4 and the high-pass write their bands step by step. Value
//! intrinsics only, as in [`sse2`].

use super::*;
use crate::spl::scaling_of_max;
use std::arch::x86_64::*;

const CU: i16 = ALL_PASS_UPPER_Q15 as i16;
const CL: i16 = ALL_PASS_LOWER_Q15 as i16;

/// The pmaddwd multipliers of splits in lanes [upper, lower, upper,
/// lower]: c in the low half of each i32 lane and 0 in the high half,
/// so that the high half of the other operand (above an `int16_t`
/// output: not sign-extended) is ignored.
#[inline]
#[target_feature(enable = "avx2")]
fn split_coefs() -> __m128i {
    _mm_set_epi16(0, CL, 0, CU, 0, CL, 0, CU)
}

/// The halved `t` a split's recurrences start a frame with (see
/// [`half_start`]), lanes [upper A, lower A, upper B, lower B]:
/// `states` are the stored `int16_t` states ([upper, lower] of channel
/// A, then of B), `x` the split's first inputs [x[0], x[1]] of A, then
/// of B (the low 16 bits of each lane).
#[inline]
#[target_feature(enable = "avx2")]
fn split_start(states: [[i16; 2]; 2], x: __m128i) -> __m128i {
    let [[ua, la], [ub, lb]] = states.map(|s| s.map(load_state));
    let start = _mm_set_epi32(lb, ub, la, ua);
    _mm_srai_epi32::<1>(_mm_add_epi32(start, _mm_madd_epi16(x, split_coefs())))
}

/// One step of two splits' recurrences for both channels (level 2:
/// [A's high half upper, lower, A's low half upper, lower, then B's]),
/// in halved look-ahead form with the base computed here from the
/// splits' inputs: `now` = [x[2k], x[2k + 1]] of each split, `ahead` =
/// [x[2k + 2], x[2k + 3]] (zeros past the end of the frame).
/// `hb = (x << 14) + (c·x_ahead >> 1)` is [`allpass_half_bases`]'
/// `((x << 15) + c·x_ahead) >> 1` (`x << 15` is even). Returns each
/// split's [hp, lp] (`yu − yl`, `yl + yu`) in the low 16 bits of its
/// lanes: the four quarter bands of A, then of B.
#[inline]
#[target_feature(enable = "avx2")]
fn split_step_wide(h: &mut __m256i, now: __m256i, ahead: __m256i) -> __m256i {
    let c = _mm256_broadcastsi128_si256(split_coefs());
    let y = _mm256_srai_epi32::<15>(*h);
    let base = _mm256_add_epi32(
        _mm256_madd_epi16(now, _mm256_set1_epi32(1 << 14)),
        _mm256_srai_epi32::<1>(_mm256_madd_epi16(ahead, c)),
    );
    *h = _mm256_sub_epi32(base, _mm256_madd_epi16(y, c));
    let s = _mm256_shuffle_epi32::<0b10_11_00_01>(y);
    _mm256_blend_epi32::<0b1010_1010>(_mm256_sub_epi32(y, s), _mm256_add_epi32(y, s))
}

/// [`split_step_wide`] for one split of both channels (levels 3 and 4),
/// lanes as in [`split_start`]: [hp A, lp A, hp B, lp B]. The upper
/// half runs on zeros and is dropped.
#[inline]
#[target_feature(enable = "avx2")]
fn split_step(h: &mut __m128i, now: __m128i, ahead: __m128i) -> __m128i {
    let wide = _mm256_zextsi128_si256;
    let mut hw = wide(*h);
    let z = split_step_wide(&mut hw, wide(now), wide(ahead));
    *h = _mm256_castsi256_si128(hw);
    _mm256_castsi256_si128(z)
}

/// Level 3's inputs for one step from two consecutive level-2 outputs
/// (their lowest band, lanes 3 and 7): [low[2k], low[2k + 1]] of A,
/// then of B.
#[inline]
#[target_feature(enable = "avx2")]
fn lowest_pair(z0: __m256i, z1: __m256i) -> __m128i {
    // [z0[2], z1[2], z0[3], z1[3] | z0[6], z1[6], z0[7], z1[7]].
    let t = _mm256_unpackhi_epi32(z0, z1);
    // 64-bit lanes 1 and 3.
    _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b11_01_11_01>(t))
}

/// Level 4's inputs for one step from two consecutive level-3 outputs
/// (their low band, lanes 1 and 3): [lp[2m], lp[2m + 1]] of A, then of
/// B.
#[inline]
#[target_feature(enable = "avx2")]
fn low_pair(w0: __m128i, w1: __m128i) -> __m128i {
    _mm_blend_epi32::<0b1010>(_mm_shuffle_epi32::<0b11_11_01_01>(w0), w1)
}

/// The filterbank of two channels (see [`super::filterbank`]) in one
/// loop. Levels 1 and 2 run as in [`sse2::two_levels`] (level 2 one
/// block behind level 1). Level 3's step k needs level 2's lowest band
/// up to sample 2k + 3, level 4's step m level 3's low band up to
/// 2m + 3, and the high-pass's step m level 4's low band at m: so every
/// four blocks of level 2 (a "quad", eight level-1 steps), the loop
/// runs two steps of level 3, on the quad's outputs and the previous
/// quad's, then one of level 4 and of the high-pass, on the previous
/// two quads'. Within a quad the five chains are independent, so
/// levels 2 to 4 and the high-pass run in the shadow of level 1's chain,
/// which alone sets the pace: the second pass over levels 3 and 4 (a
/// 30-step chain for 30 ms frames) and the 15-step high-pass chain after
/// it are gone. Each recurrence does the arithmetic of
/// [`two_levels_portable`] (or [`high_pass_step`]) in the same order,
/// including every level's zero look-ahead at the end of the frame, so
/// the outputs and the stored `int16_t` states are the same.
#[target_feature(enable = "avx2")]
pub(crate) fn filterbank_pair<const N: usize, const Q: usize, const E: usize, const S: usize>(
    data: [&[i16; N]; 2],
    states: &mut [FilterStates; 2],
    bands: &mut [Bands<Q, E, S>; 2],
) {
    const { assert!(N == 4 * Q && Q == 2 * E && E == 2 * S && S >= 2) };
    let (mut ba, mut bb) = ([MaybeUninit::uninit(); N], [MaybeUninit::uninit(); N]);
    let (ha, hb_) = (
        allpass_half_bases(data[0], &mut ba),
        allpass_half_bases(data[1], &mut bb),
    );
    let split = |i: usize| [states[0].splits[i], states[1].splits[i]];

    // Level 1, lanes [upper A, lower A, upper B, lower B], on bases
    // computed up front (its inputs are the frame).
    let c1 = split_coefs();
    let [[ua, la], [ub, lb]] = split(0);
    let mut h1 = _mm_set_epi32(
        half_start(lb, ALL_PASS_LOWER_Q15, data[1][1]),
        half_start(ub, ALL_PASS_UPPER_Q15, data[1][0]),
        half_start(la, ALL_PASS_LOWER_Q15, data[0][1]),
        half_start(ua, ALL_PASS_UPPER_Q15, data[0][0]),
    );
    // Step k (samples 2k, 2k + 1): returns [hp A, lp A, hp B, lp B].
    let mut step = |k: usize| {
        let y = _mm_srai_epi32::<15>(h1);
        let base = _mm_set_epi32(hb_[2 * k + 1], hb_[2 * k], ha[2 * k + 1], ha[2 * k]);
        h1 = _mm_sub_epi32(base, _mm_madd_epi16(y, c1));
        let s = _mm_shuffle_epi32::<0b10_11_00_01>(y);
        // Lanes 0 and 2 of y − s, and of y + s (whose lanes 1 and 3
        // repeat 0 and 2).
        _mm_blend_epi32::<0b1010>(_mm_sub_epi32(y, s), _mm_add_epi32(y, s))
    };
    // Block j: level 2's inputs of both channels,
    // [high[2j], high[2j + 1], low[2j], low[2j + 1]] for A, then B;
    // zeros for the look-ahead past the last block.
    let mut level1 = |j: usize| {
        if j == Q {
            return _mm256_setzero_si256();
        }
        let (z1, z2) = (step(2 * j), step(2 * j + 1));
        _mm256_set_m128i(_mm_unpackhi_epi32(z1, z2), _mm_unpacklo_epi32(z1, z2))
    };

    // Level 2's outputs, step by step, each band value in the low 16
    // bits of its lane (the high 16 are zero).
    let mut l2 = [MaybeUninit::<__m256i>::uninit(); Q];
    let low16 = _mm256_set1_epi32(0xFFFF);

    // Level 2, lanes [A's four, B's four], one block behind level 1;
    // lane i is channel i / 4, split 1 + i % 4 / 2, branch i % 2.
    let mut now = level1(0);
    let start: [i32; 8] =
        std::array::from_fn(|i| load_state(states[i / 4].splits[1 + i % 4 / 2][i % 2]));
    let start: __m256i = bytemuck::cast(start);
    let c2 = _mm256_broadcastsi128_si256(c1);
    let mut h2 = _mm256_srai_epi32::<1>(_mm256_add_epi32(start, _mm256_madd_epi16(now, c2)));

    // Levels 3 and 4, lanes [upper A, lower A, upper B, lower B]. Level
    // 3's step k runs on pairs k and k + 1 of its inputs (level 2's
    // lowest band), level 4's step m on pairs m and m + 1 of level 3's
    // low band. Carried from quad to quad: level 3's last input pair
    // `x`, its last output `w`, level 4's last input pair `l`.
    let zero = _mm_setzero_si128();
    let (mut h3, mut h4, mut x, mut w, mut l) = (zero, zero, zero, zero, zero);
    // Level 3's step k: its high band (lanes 0 and 2) is band hp3.
    let level3 = |bands: &mut [Bands<Q, E, S>; 2],
                  k: usize,
                  h3: &mut __m128i,
                  now: __m128i,
                  ahead: __m128i| {
        let w = split_step(h3, now, ahead);
        let v: [i32; 4] = bytemuck::cast(w);
        for (p, b) in bands.iter_mut().enumerate() {
            b.hp3[k] = v[2 * p] as i16;
        }
        w
    };
    // Level 4's step m: its high band is hp4, its low band goes
    // through the high-pass into band0.
    let mut hp: [[i32; 4]; 2] = states.map(|s| s.high_pass.map(i32::from));
    let mut level4 = |bands: &mut [Bands<Q, E, S>; 2],
                      m: usize,
                      h4: &mut __m128i,
                      now: __m128i,
                      ahead: __m128i| {
        let v: [i32; 4] = bytemuck::cast(split_step(h4, now, ahead));
        for (p, b) in bands.iter_mut().enumerate() {
            b.hp4[m] = v[2 * p] as i16;
            b.band0[m] = high_pass_step(&mut hp[p], v[2 * p + 1] as i16);
        }
    };
    // One loop body (the chains' states stay in registers).
    for q in 0..S {
        // Level 2's steps 4q .. 4q + 3 (level 1 one block ahead).
        let mut z = [_mm256_setzero_si256(); 4];
        for (i, z) in z.iter_mut().enumerate() {
            let ahead = level1(4 * q + i + 1);
            *z = split_step_wide(&mut h2, now, ahead);
            // Level 2's outputs stay in their lanes (lane 4p + r is
            // channel p's band r), for `level2_energies`.
            l2[4 * q + i].write(_mm256_and_si256(*z, low16));
            now = ahead;
        }
        // Level 3's input pairs 2q and 2q + 1.
        let (xa, xb) = (lowest_pair(z[0], z[1]), lowest_pair(z[2], z[3]));
        // Level 3's step 2q − 1 (its start in the first quad), which
        // completes level 4's input pair q − 1, then level 4's step
        // q − 2 (its start in the second quad).
        if q == 0 {
            h3 = split_start(split(3), xa);
        } else {
            let wa = level3(bands, 2 * q - 1, &mut h3, x, xa);
            let la = low_pair(w, wa);
            if q == 1 {
                h4 = split_start(split(4), la);
            } else {
                level4(bands, q - 2, &mut h4, l, la);
            }
            l = la;
        }
        // Level 3's step 2q.
        w = level3(bands, 2 * q, &mut h3, xa, xb);
        x = xb;
    }
    // The last steps of levels 3 and 4 look ahead into zeros.
    let wa = level3(bands, E - 1, &mut h3, x, zero);
    let la = low_pair(w, wa);
    level4(bands, S - 2, &mut h4, l, la);
    level4(bands, S - 1, &mut h4, la, zero);

    // SAFETY: steps 4q + i for q < S, i < 4 wrote every one of the
    // 4S = Q entries; `MaybeUninit<__m256i>` has `__m256i`'s layout.
    let l2 = unsafe { &*(&l2 as *const [MaybeUninit<__m256i>; Q]).cast::<[__m256i; Q]>() };
    let en = level2_energies(l2);
    for (p, b) in bands.iter_mut().enumerate() {
        b.level2_energy = [en[4 * p], en[4 * p + 1], en[4 * p + 2]];
    }

    let (l1, l2): ([i32; 4], [i32; 8]) = (bytemuck::cast(h1), bytemuck::cast(h2));
    let (l3, l4): ([i32; 4], [i32; 4]) = (bytemuck::cast(h3), bytemuck::cast(h4));
    for (p, s) in states.iter_mut().enumerate() {
        let lanes = [
            &l1[2 * p..],
            &l2[4 * p..],
            &l2[4 * p + 2..],
            &l3[2 * p..],
            &l4[2 * p..],
        ];
        for (s, l) in s.splits.iter_mut().zip(lanes) {
            *s = [l[0], l[1]].map(store_state_half);
        }
        s.high_pass = hp[p].map(|v| v as i16);
    }
}

/// [`energy`] of the eight bands in the lanes of `l2` (one vector per
/// sample, each value in the low 16 bits of its lane, the high 16 zero),
/// all at once: the largest `wrapping_abs` (`abs_epi16`, which wraps
/// −32768 as `i16::wrapping_abs` does, then a signed 16-bit max from
/// −1, as the C fold), the scaling from it, then the wrapping sum of
/// `x² >> scaling` (`madd_epi16` of a lane with itself is `x²` when
/// its high half is zero).
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn level2_energies<const Q: usize>(l2: &[__m256i; Q]) -> [(i32, i32); 8] {
    let mut smax = _mm256_set1_epi16(-1);
    for v in l2 {
        smax = _mm256_max_epi16(smax, _mm256_abs_epi16(*v));
    }
    let smax: [i32; 8] = bytemuck::cast(smax);
    let scaling: [i32; 8] = std::array::from_fn(|i| scaling_of_max(smax[i] as i16, Q));
    let shift: __m256i = bytemuck::cast(scaling);
    let mut en = _mm256_setzero_si256();
    for v in l2 {
        en = _mm256_add_epi32(en, _mm256_srlv_epi32(_mm256_madd_epi16(*v, *v), shift));
    }
    let en: [i32; 8] = bytemuck::cast(en);
    std::array::from_fn(|i| (en[i], scaling[i]))
}
