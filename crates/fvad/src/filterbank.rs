// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! `vad_filterbank.c`: the six band log-energies ("features") of one 8 kHz
//! frame. In: `N` = 80, 160 or 240 samples (10, 20 or 30 ms) per channel
//! and each channel's [`FilterStates`]; out: six Q4 features and the
//! total-energy indicator per channel, states advanced. Four levels of
//! all-pass `SplitFilter`s and a high-pass; fixed-size stack buffers, no
//! allocation.
//!
//! This file is the portable code; the SSE2 and AVX2 versions of the
//! recurrences are in [`sse2`] and [`avx2`].

use std::mem::MaybeUninit;

use crate::core::Core;
use crate::spl::{energy, norm_u32};
use crate::{Level, MIN_ENERGY, NUM_CHANNELS};

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod sse2;

// ---- vad_filterbank.c -------------------------------------------------------

/// 160 * log10(2) in Q9.
pub(crate) const LOG_CONST: i32 = 24660;
/// 14 in Q10.
pub(crate) const LOG_ENERGY_INT_PART: i16 = 14336;
/// High-pass filter coefficients, Q14.
pub(crate) const HP_ZERO_COEFS: [i32; 3] = [6631, -13262, 6631];
pub(crate) const HP_POLE_COEFS: [i32; 3] = [16384, -7756, 5620];
/// All-pass coefficients (upper 0.64, lower 0.17) in Q15.
pub(crate) const ALL_PASS_UPPER_Q15: i32 = 20972;
pub(crate) const ALL_PASS_LOWER_Q15: i32 = 5571;
/// Adjustment for division with two in `SplitFilter`.
pub(crate) const OFFSET_VECTOR: [i16; NUM_CHANNELS] = [368, 368, 272, 176, 176, 176];

/// Q15 working state from the stored Q(-1) `int16_t` state.
#[inline(always)]
pub(crate) fn load_state(s: i16) -> i32 {
    (s as i32) << 16
}

/// All-pass coefficients per input position of a split: upper on even
/// samples, lower on odd ones.
pub(crate) const SPLIT_COEFS: [i16; 240] = {
    let mut c = [ALL_PASS_UPPER_Q15 as i16; 240];
    let mut i = 1;
    while i < 240 {
        c[i] = ALL_PASS_LOWER_Q15 as i16;
        i += 2;
    }
    c
};

/// Two levels of the filterbank in one pass: `data` split in two (the
/// "first" split: upper all-pass on even samples, lower on odd ones, high
/// band `u − l`, low band `l + u`), then each half split again (the
/// "second" level: lanes 0 and 1 split the high band, lanes 2 and 3 the low
/// band). `first` holds the first split's `int16_t` states (upper, lower),
/// `second` the four second-level ones in lane order. Writes the first
/// split's high band to `high1` if given, and the four quarter bands (high
/// of the high half, low of the high half, high of the low half, low of the
/// low half) to `out`.
///
/// Used twice per frame by [`filterbank`] (unless it runs two channels
/// at [`Level::Avx2`]): bands 0 → 1, 2 (the frame to four quarter bands)
/// and bands 3 → 4 (0–1000 Hz to 500–1000, 250–500 and 0–250 Hz; lanes 0
/// and 1 then compute nothing that is used). The first split is the
/// longest recurrence chain of its pass; at [`Level::Avx2`] its two
/// branches run in two SSE2 lanes and the second level's four in four
/// lanes, one block behind, in the same loop ([`sse2::two_levels`]), so the
/// second level runs in the shadow of the first one's chain; at
/// [`Level::Portable`], [`two_levels_portable`] runs each channel.
///
/// `P` channels' filterbanks run together (see [`sse2::two_levels`]): entry
/// `p` of every array belongs to channel `p`.
#[inline(always)]
pub(crate) fn two_levels<const P: usize, const N: usize, const H: usize, const Q: usize>(
    level: Level,
    data: [&[i16; N]; P],
    first: &mut [[i16; 2]; P],
    second: &mut [[i16; 4]; P],
    high1: Option<[&mut [i16; H]; P]>,
    out: [&mut [[i16; Q]; 4]; P],
) {
    match level {
        Level::Portable => {
            let mut high1 = high1;
            for (p, out) in out.into_iter().enumerate() {
                let h = high1.as_mut().map(|h| &mut *h[p]);
                two_levels_portable(data[p], &mut first[p], &mut second[p], h, out);
            }
        }
        // SAFETY: the function requires SSE2, part of the x86-64 baseline
        // (and `Level::Avx2` exists only if the CPU has AVX2, checked when
        // the detector was built).
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { sse2::two_levels(data, first, second, high1, out) },
    }
}

/// One channel's filterbank state as the C code keeps it between frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilterStates {
    /// The `int16_t` all-pass states `[upper_state[i], lower_state[i]]` of
    /// split `i`: 0 for level 1, 1 and 2 for level 2's splits of the high
    /// and the low half, 3 and 4 for levels 3 and 4.
    pub(crate) splits: [[i16; 2]; 5],
    /// `hp_filter_state`: `[x1, x2, y1, y2]` of the high-pass.
    pub(crate) high_pass: [i16; 4],
}

/// One channel's filterbank outputs for a frame of `4 * Q` samples: what
/// the six features are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bands<const Q: usize, const E: usize, const S: usize> {
    /// [`energy`] of the first three bands of level 2: 3000–4000,
    /// 2000–3000 and 1000–2000 Hz (its fourth, 0–1000 Hz, is not a feature:
    /// levels 3 and 4 split it).
    pub(crate) level2_energy: [(i32, i32); 3],
    /// 500–1000 Hz, the high band of level 3.
    pub(crate) hp3: [i16; E],
    /// 250–500 Hz, the high band of level 4.
    pub(crate) hp4: [i16; S],
    /// 80–250 Hz: level 4's low band (0–250 Hz) through the high-pass.
    pub(crate) band0: [i16; S],
}

impl<const Q: usize, const E: usize, const S: usize> Bands<Q, E, S> {
    pub(crate) const ZERO: Self = Bands {
        level2_energy: [(0, 0); 3],
        hp3: [0; E],
        hp4: [0; S],
        band0: [0; S],
    };
}

/// The whole filterbank of `P` channels (entry `p` of every array belongs
/// to channel `p`): `data` (`N` samples, 0–4000 Hz) split four times, the
/// lowest band high-passed, into `bands`, advancing `states`.
///
/// Two channels at [`Level::Avx2`] (stereo calls, the common case) run it
/// all in one loop ([`avx2::filterbank_pair`]), where levels 3 and 4 and the
/// high-pass add no chain of their own. Otherwise [`two_levels`] runs
/// twice, levels 1 and 2, then levels 3 and 4 (whose lanes 0 and 1,
/// splitting level 3's high band, compute nothing that is used), then the
/// high-pass.
#[inline(always)]
pub(crate) fn filterbank<
    const P: usize,
    const N: usize,
    const H: usize,
    const Q: usize,
    const E: usize,
    const S: usize,
>(
    level: Level,
    data: [&[i16; N]; P],
    states: &mut [FilterStates; P],
    bands: &mut [Bands<Q, E, S>; P],
) {
    #[cfg(target_arch = "x86_64")]
    if P == 2 && level == Level::Avx2 {
        let data2 = <[&[i16; N]; 2]>::try_from(&data[..]);
        let states2 = <&mut [FilterStates; 2]>::try_from(&mut states[..]);
        let bands2 = <&mut [Bands<Q, E, S>; 2]>::try_from(&mut bands[..]);
        if let (Ok(d), Ok(s), Ok(b)) = (data2, states2, bands2) {
            // SAFETY: `Level::Avx2` exists only if the CPU has AVX2, which
            // was checked when the detector was built (`Level::new`).
            unsafe { avx2::filterbank_pair(d, s, b) };
            return;
        }
    }

    let split = |p: usize, i: usize| states[p].splits[i];
    let mut first: [[i16; 2]; P] = std::array::from_fn(|p| split(p, 0));
    let mut second: [[i16; 4]; P] = std::array::from_fn(|p| {
        let [[u1, l1], [u2, l2]] = [split(p, 1), split(p, 2)];
        [u1, l1, u2, l2]
    });
    let mut first34: [[i16; 2]; P] = std::array::from_fn(|p| split(p, 3));
    let mut second34: [[i16; 4]; P] = std::array::from_fn(|p| {
        let [u4, l4] = split(p, 4);
        [0, 0, u4, l4]
    });

    let mut level2 = [[[0i16; Q]; 4]; P];
    two_levels::<P, N, H, Q>(
        level,
        data,
        &mut first,
        &mut second,
        None,
        level2.each_mut(),
    );
    // Level 3 reads level 2's lowest band and writes its high band.
    let lp2b: [&[i16; Q]; P] = std::array::from_fn(|p| &level2[p][3]);
    let hp3 = bands.each_mut().map(|b| &mut b.hp3);
    let mut level4 = [[[0i16; S]; 4]; P];
    two_levels(
        level,
        lp2b,
        &mut first34,
        &mut second34,
        Some(hp3),
        level4.each_mut(),
    );

    // The high-pass, the channels' chains interleaved.
    let mut hp: [[i32; 4]; P] = std::array::from_fn(|p| states[p].high_pass.map(i32::from));
    for i in 0..S {
        for ((b, hp), l4) in bands.iter_mut().zip(&mut hp).zip(&level4) {
            b.band0[i] = high_pass_step(hp, l4[3][i]);
        }
    }

    for p in 0..P {
        let [u1, l1, u2, l2] = second[p];
        let [_, _, u4, l4] = second34[p];
        states[p] = FilterStates {
            splits: [first[p], [u1, l1], [u2, l2], first34[p], [u4, l4]],
            high_pass: hp[p].map(|v| v as i16),
        };
        bands[p].hp4 = level4[p][2];
        bands[p].level2_energy = level2_energy(&level2[p]);
    }
}

/// [`Bands::level2_energy`] from level 2's four bands.
#[inline(always)]
pub(crate) fn level2_energy<const Q: usize>(level2: &[[i16; Q]; 4]) -> [(i32, i32); 3] {
    [energy(&level2[0]), energy(&level2[1]), energy(&level2[2])]
}

/// Half look-ahead bases of a split's two all-pass recurrences (upper on
/// even samples, lower on odd ones), for all positions at once:
/// `hb[k] = ((x[k] << 15) + c_k·x[k + 2]) >> 1`, `x` past the end being 0.
///
/// Writing `t` for a step's `state + c·x`, the C recurrence's next `t` is
/// `(x << 15) + c·x_next − 2c·y` with `y = t >> 16` (its state
/// `2·((x << 14) − c·y)` plus the next input's `c·x_next`, modulo 2^32). The
/// port carries `h = t >> 1` instead: `h' = hb − c·y` is exact (below
/// 2^31, no wrap), `t'` ≡ `2h' + (base & 1)` (mod 2^32), so bits 15..30 of
/// `h'` are bits 16..31 of `t'` and `(h' >> 15) as i16 == (t' >> 16) as
/// i16`: the same outputs, and the same `int16_t` state at the end, where
/// the look-ahead input is 0. Only `y` is on the loop-carried chain
/// (shift → multiply → subtract) and every multiplier fits 16 bits.
///
/// `hb` need not be initialised (a frame's bases are written every frame, so
/// zeroing the buffer first would only add 1 KiB of stores); the function
/// returns it initialised.
#[inline(always)]
pub(crate) fn allpass_half_bases<'a, const N: usize>(
    x: &[i16; N],
    hb: &'a mut [MaybeUninit<i32>; N],
) -> &'a [i32; N] {
    const { assert!(N >= 2 && N <= SPLIT_COEFS.len()) };
    let (now, ahead) = (&x[..N - 2], &x[2..]);
    for (((h, &xk), &xn), &c) in hb.iter_mut().zip(now).zip(ahead).zip(&SPLIT_COEFS) {
        h.write((((xk as i32) << 15) + c as i32 * xn as i32) >> 1);
    }
    // The last two samples look ahead into zeros.
    hb[N - 2].write(((x[N - 2] as i32) << 15) >> 1);
    hb[N - 1].write(((x[N - 1] as i32) << 15) >> 1);
    // SAFETY: the loop wrote `hb[..N - 2]` (`now` and `ahead` have N − 2
    // elements, SPLIT_COEFS at least N), the two lines above the last two;
    // `MaybeUninit<i32>` has the layout of `i32`.
    unsafe { &*(hb as *const [MaybeUninit<i32>; N]).cast::<[i32; N]>() }
}

/// The halved `t = state + c·x` a recurrence starts a frame with.
#[inline(always)]
pub(crate) fn half_start(state: i16, c: i32, x: i16) -> i32 {
    load_state(state).wrapping_add(c * x as i32) >> 1
}

/// One all-pass step in halved look-ahead form (see
/// [`allpass_half_bases`]): the output, and the next `h`.
#[inline(always)]
pub(crate) fn allpass_half_next(h: i32, hb: i32, c: i32) -> (i16, i32) {
    let y = (h >> 15) as i16;
    (y, hb - c * y as i32)
}

/// The `int16_t` state the C code stores, from a halved look-ahead value.
#[inline(always)]
pub(crate) fn store_state_half(h: i32) -> i16 {
    (h >> 15) as i16
}

/// [`two_levels`] without SIMD: the first split, then the second level's
/// four recurrences side by side (which the compiler vectorises). The
/// reference for the SSE2 version, and the implementation elsewhere.
pub(crate) fn two_levels_portable<const N: usize, const H: usize, const Q: usize>(
    data: &[i16; N],
    first: &mut [i16; 2],
    second: &mut [i16; 4],
    high1: Option<&mut [i16; H]>,
    out: &mut [[i16; Q]; 4],
) {
    const { assert!(N == 2 * H && H == 2 * Q && Q >= 1 && Q <= 60) };
    const CU: i32 = ALL_PASS_UPPER_Q15;
    const CL: i32 = ALL_PASS_LOWER_Q15;
    let mut hb = [MaybeUninit::uninit(); N];
    let hb = allpass_half_bases(data, &mut hb);
    // The first split; its outputs in second-level lane order:
    // x[j] = [high[2j], high[2j + 1], low[2j], low[2j + 1]].
    let mut x = [[0i16; 4]; 61];
    let mut hu = half_start(first[0], CU, data[0]);
    let mut hl = half_start(first[1], CL, data[1]);
    for (b, x) in hb.chunks_exact(4).zip(x.iter_mut()) {
        let (yu0, yl0, yu1, yl1);
        (yu0, hu) = allpass_half_next(hu, b[0], CU);
        (yl0, hl) = allpass_half_next(hl, b[1], CL);
        (yu1, hu) = allpass_half_next(hu, b[2], CU);
        (yl1, hl) = allpass_half_next(hl, b[3], CL);
        *x = [
            yu0.wrapping_sub(yl0),
            yu1.wrapping_sub(yl1),
            yl0.wrapping_add(yu0),
            yl1.wrapping_add(yu1),
        ];
    }
    *first = [store_state_half(hu), store_state_half(hl)];
    if let Some(high1) = high1 {
        for (h, x) in high1.chunks_exact_mut(2).zip(&x) {
            (h[0], h[1]) = (x[0], x[1]);
        }
    }

    // The second level; `x[Q]` is the zero look-ahead.
    let mut h = [0i32; 4];
    for k in 0..4 {
        h[k] = half_start(second[k], LANE_COEFS[k] as i32, x[0][k]);
    }
    let mut y = [[0i16; 4]; Q];
    for (w, y) in x[..Q + 1].windows(2).zip(y.iter_mut()) {
        for k in 0..4 {
            let c = LANE_COEFS[k] as i32;
            let hb = (((w[0][k] as i32) << 15) + c * w[1][k] as i32) >> 1;
            (y[k], h[k]) = allpass_half_next(h[k], hb, c);
        }
    }
    *second = h.map(store_state_half);
    let [hpa, lpa, hpb, lpb] = out;
    for (j, y) in y.iter().enumerate() {
        hpa[j] = y[0].wrapping_sub(y[1]);
        lpa[j] = y[1].wrapping_add(y[0]);
        hpb[j] = y[2].wrapping_sub(y[3]);
        lpb[j] = y[3].wrapping_add(y[2]);
    }
}

/// The all-pass coefficients of the four second-level lanes: the upper and
/// the lower branch of the high half's split, then of the low half's.
pub(crate) const LANE_COEFS: [i16; 4] = [
    ALL_PASS_UPPER_Q15 as i16,
    ALL_PASS_LOWER_Q15 as i16,
    ALL_PASS_UPPER_Q15 as i16,
    ALL_PASS_LOWER_Q15 as i16,
];

/// One `HighPassFilter` step on the state `[x1, x2, y1, y2]`.
#[inline(always)]
pub(crate) fn high_pass_step(s: &mut [i32; 4], x: i16) -> i16 {
    let x = x as i32;
    // Bounded by 32768 * (6631 + 13262 + 6631 + 7756 + 5620) < 2^31.
    let t = HP_ZERO_COEFS[0] * x + HP_ZERO_COEFS[1] * s[0] + HP_ZERO_COEFS[2] * s[1]
        - HP_POLE_COEFS[1] * s[2]
        - HP_POLE_COEFS[2] * s[3];
    let y = (t >> 14) as i16;
    *s = [x, s[0], y as i32, s[2]];
    y
}

/// `LogOfEnergy`: 10·log10 in Q4 plus `offset` of a band's energy
/// (`(en, scaling)` from [`energy`]), updating `total_energy` while it is at
/// most [`MIN_ENERGY`].
pub(crate) fn log_of_energy((en, scaling): (i32, i32), offset: i16, total_energy: &mut i16) -> i16 {
    let mut energy = en as u32;
    if energy == 0 {
        return offset;
    }
    let mut tot_rshifts = scaling;
    // Normalise to 15 bits, i.e. 17 leading zeros.
    let normalizing_rshifts = 17 - norm_u32(energy);
    tot_rshifts += normalizing_rshifts;
    if normalizing_rshifts < 0 {
        energy <<= -normalizing_rshifts;
    } else {
        energy >>= normalizing_rshifts;
    }
    let log2_energy = LOG_ENERGY_INT_PART + ((energy & 0x3FFF) >> 4) as i16;
    let mut log_energy =
        (((LOG_CONST * log2_energy as i32) >> 19) + ((tot_rshifts * LOG_CONST) >> 9)) as i16;
    if log_energy < 0 {
        log_energy = 0;
    }
    log_energy = log_energy.wrapping_add(offset);
    if *total_energy <= MIN_ENERGY {
        if tot_rshifts >= 0 {
            *total_energy += MIN_ENERGY + 1;
        } else {
            *total_energy = total_energy.wrapping_add((energy >> -tot_rshifts) as i16);
        }
    }
    log_energy
}

impl Core {
    /// `WebRtcVad_CalculateFeatures` for one channel, running `level`'s
    /// code: see [`calculate_features`].
    #[cfg(test)]
    pub(crate) fn calculate_features<
        const N: usize,
        const H: usize,
        const Q: usize,
        const E: usize,
        const S: usize,
    >(
        &mut self,
        level: Level,
        data: &[i16; N],
        features: &mut [i16; NUM_CHANNELS],
    ) -> i16 {
        let mut f = [[0i16; NUM_CHANNELS]];
        let [total] = calculate_features::<1, N, H, Q, E, S>(level, [self], [data], &mut f);
        *features = f[0];
        total
    }
}

/// `WebRtcVad_CalculateFeatures` of `P` channels at once (their frames of
/// the same length, each with its own state in `cores[p]`): log energies of
/// the six bands of `data[p]` (80, 160 or 240 samples at 8 kHz) into
/// `features[p]`; returns the total-energy indicators.
///
/// The C code runs five `SplitFilter`s one after the other, each running
/// its upper and then its lower all-pass recurrence to completion. Here
/// levels 1 and 2 (six recurrences) run in one loop ([`two_levels`]), and
/// so do levels 3 and 4, for all `P` channels; two channels at
/// [`Level::Avx2`] run all four levels and the high-pass in one loop (see [`filterbank`]).
/// `H`, `Q`, `E` and `S` are `N / 2`, `N / 4`, `N / 8` and `N / 16`, the
/// band lengths, as constants.
/// The arithmetic and the order of each recurrence are unchanged, so the
/// outputs and the stored states are the same as one channel at a time.
#[inline(always)]
pub(crate) fn calculate_features<
    const P: usize,
    const N: usize,
    const H: usize,
    const Q: usize,
    const E: usize,
    const S: usize,
>(
    level: Level,
    cores: [&mut Core; P],
    data: [&[i16; N]; P],
    features: &mut [[i16; NUM_CHANNELS]; P],
) -> [i16; P] {
    const { assert!(N == 2 * H && H == 2 * Q && Q == 2 * E && E == 2 * S && N <= 240) };

    let mut states: [FilterStates; P] = cores.each_ref().map(|c| c.filter);
    let mut bands = [Bands::<Q, E, S>::ZERO; P];
    filterbank::<P, N, H, Q, E, S>(level, data, &mut states, &mut bands);

    let mut totals = [0i16; P];
    for (p, core) in cores.into_iter().enumerate() {
        core.filter = states[p];

        // Same order as the C code (it decides when `total_energy` stops
        // accumulating).
        let b = &bands[p];
        let [hp2a, lp2a, hp2b] = b.level2_energy;
        let f = &mut features[p];
        let total_energy = &mut totals[p];
        f[5] = log_of_energy(hp2a, OFFSET_VECTOR[5], total_energy);
        f[4] = log_of_energy(lp2a, OFFSET_VECTOR[4], total_energy);
        f[3] = log_of_energy(hp2b, OFFSET_VECTOR[3], total_energy);
        f[2] = log_of_energy(energy(&b.hp3), OFFSET_VECTOR[2], total_energy);
        f[1] = log_of_energy(energy(&b.hp4), OFFSET_VECTOR[1], total_energy);
        f[0] = log_of_energy(energy(&b.band0), OFFSET_VECTOR[0], total_energy);
    }
    totals
}
