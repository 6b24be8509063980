// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! SSE2 versions of the hot recurrences. Only value intrinsics (no pointer
//! access), so the sole `unsafe` is the call into the `target_feature`
//! function, and SSE2 is part of the x86-64 baseline.

use super::*;
use std::arch::x86_64::*;

/// Lane `K` of `v` (i32 lanes).
#[inline]
#[target_feature(enable = "sse2")]
fn lane<const K: i32>(v: __m128i) -> i32 {
    _mm_cvtsi128_si32(_mm_shuffle_epi32::<K>(v))
}

/// One step of the two level-1 recurrences (upper in lane 0, lower in
/// lane 1) in halved look-ahead form: advances `h` and returns
/// `[hp, lp, ..]` (low 16 bits of each i32 lane).
#[inline]
#[target_feature(enable = "sse2")]
fn level1_step(h: &mut __m128i, hb_upper: i32, hb_lower: i32, c: __m128i) -> __m128i {
    // y = h >> 15: pmaddwd reads its low 16 bits, i.e. y as i16.
    let y = _mm_srai_epi32::<15>(*h);
    *h = _mm_sub_epi32(
        _mm_set_epi32(0, 0, hb_lower, hb_upper),
        _mm_madd_epi16(y, c),
    );
    // [yu - yl, yu + yl]: lanes 0 of y - swap(y) and y + swap(y).
    let s = _mm_shuffle_epi32::<0b11_10_00_01>(y);
    _mm_unpacklo_epi32(_mm_sub_epi32(y, s), _mm_add_epi32(y, s))
}

/// See [`super::two_levels`]; the same arithmetic as
/// [`super::two_levels_portable`], with the first split in two lanes and
/// the second level in four, one block behind in the same loop.
///
/// Runs `P` independent filterbanks (the same band of `P` channels) in
/// one loop: their recurrence chains do not depend on each other, so
/// the CPU overlaps them and `P = 2` costs little more than one.
#[inline]
#[target_feature(enable = "sse2")]
pub(crate) fn two_levels<const P: usize, const N: usize, const H: usize, const Q: usize>(
    data: [&[i16; N]; P],
    first: &mut [[i16; 2]; P],
    second: &mut [[i16; 4]; P],
    mut high1: Option<[&mut [i16; H]; P]>,
    mut out: [&mut [[i16; Q]; 4]; P],
) {
    const { assert!(N == 2 * H && H == 2 * Q && Q >= 1 && P >= 1) };
    const CU: i32 = ALL_PASS_UPPER_Q15;
    const CL: i32 = ALL_PASS_LOWER_Q15;
    // Filled in place (an array built by value would be copied).
    let mut hb = [[MaybeUninit::uninit(); N]; P];
    let mut inputs = data.iter();
    let hb = hb
        .each_mut()
        .map(|hb| allpass_half_bases(inputs.next().expect("one input per channel"), hb));

    // Multipliers for pmaddwd: c in the low half of each i32 lane, 0 in
    // the high half, so the high half of the other operand is ignored.
    let c1 = _mm_set_epi16(0, 0, 0, 0, 0, CL as i16, 0, CU as i16);
    let c2 = _mm_set_epi16(0, CL as i16, 0, CU as i16, 0, CL as i16, 0, CU as i16);
    let k14 = _mm_set_epi16(0, 1 << 14, 0, 1 << 14, 0, 1 << 14, 0, 1 << 14);

    let mut h1: [__m128i; P] = std::array::from_fn(|p| {
        _mm_set_epi32(
            0,
            0,
            half_start(first[p][1], CL, data[p][1]),
            half_start(first[p][0], CU, data[p][0]),
        )
    });
    // The first split on block j gives the second level's inputs
    // x = [high[2j], high[2j + 1], low[2j], low[2j + 1]].
    let mut level1 = |p: usize, j: usize| {
        let b = &hb[p][4 * j..4 * j + 4];
        let za = level1_step(&mut h1[p], b[0], b[1], c1);
        let zb = level1_step(&mut h1[p], b[2], b[3], c1);
        let x = _mm_unpacklo_epi32(za, zb);
        if let Some(high) = high1.as_mut() {
            high[p][2 * j] = _mm_cvtsi128_si32(x) as i16;
            high[p][2 * j + 1] = _mm_extract_epi16::<2>(x) as i16;
        }
        x
    };
    // Second-level step for block j: y = h >> 15,
    // h = (prev << 14) + (c·x >> 1) − c·y, outputs
    // (y0 − y1, y1 + y0, y2 − y3, y3 + y2).
    let mut level2 = |p: usize, j: usize, h2: &mut __m128i, prev: __m128i, x: __m128i| {
        let y = _mm_srai_epi32::<15>(*h2);
        let base = _mm_add_epi32(
            _mm_madd_epi16(prev, k14),
            _mm_srai_epi32::<1>(_mm_madd_epi16(x, c2)),
        );
        *h2 = _mm_sub_epi32(base, _mm_madd_epi16(y, c2));
        let s = _mm_shuffle_epi32::<0b10_11_00_01>(y);
        let (d, a) = (_mm_sub_epi32(y, s), _mm_add_epi32(y, s));
        let [hpa, lpa, hpb, lpb] = &mut *out[p];
        hpa[j] = _mm_cvtsi128_si32(d) as i16;
        lpa[j] = _mm_cvtsi128_si32(a) as i16;
        hpb[j] = _mm_extract_epi16::<4>(d) as i16;
        lpb[j] = _mm_extract_epi16::<4>(a) as i16;
    };

    let mut prev: [__m128i; P] = std::array::from_fn(|p| level1(p, 0));
    let mut h2: [__m128i; P] = std::array::from_fn(|p| {
        let s = &second[p];
        let start = _mm_set_epi32(
            load_state(s[3]),
            load_state(s[2]),
            load_state(s[1]),
            load_state(s[0]),
        );
        _mm_srai_epi32::<1>(_mm_add_epi32(start, _mm_madd_epi16(prev[p], c2)))
    });
    for j in 1..Q {
        for p in 0..P {
            let x = level1(p, j);
            level2(p, j - 1, &mut h2[p], prev[p], x);
            prev[p] = x;
        }
    }
    // The last second-level step looks ahead into zeros.
    for p in 0..P {
        level2(p, Q - 1, &mut h2[p], prev[p], _mm_setzero_si128());
        first[p] = [lane::<0>(h1[p]), lane::<1>(h1[p])].map(store_state_half);
        second[p] = [
            lane::<0>(h2[p]),
            lane::<1>(h2[p]),
            lane::<2>(h2[p]),
            lane::<3>(h2[p]),
        ]
        .map(store_state_half);
    }
}
