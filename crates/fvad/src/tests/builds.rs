// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! The vector builds against the portable code they replace: the AVX2
//! model update and window update against the scalar ones, the SSE2 and
//! AVX2 filterbanks against the portable one, and the whole AVX2 build of
//! the 8 kHz VAD against the portable build, state for state.

use super::c_reference::features_of;
use super::has_level;
use super::signals::{sat, signal, Rng};
use crate::core::{Core, MODES};
use crate::filterbank::{
    filterbank, high_pass_step, level2_energy, two_levels_portable, Bands, FilterStates,
};
use crate::{Fvad, Level, MIN_ENERGY};
use callprep_isa::Isa;

/// The AVX2 model test and update (all channels in one vector) against
/// the scalar one, on the test signal's features in every mode and frame
/// length: the same decision and the same whole state after every frame
/// with energy.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_model_update_matches_scalar() {
    if !has_level(Isa::Avx2) {
        return;
    }
    let signal = signal(8000);
    for (mode, th) in MODES.iter().enumerate() {
        for (idx, len) in [80, 160, 240].into_iter().enumerate() {
            let mut core = Core::new();
            let mut checked = 0;
            for (i, frame) in signal.chunks_exact(len).enumerate() {
                let (features, total) = features_of(Level::Avx2, &mut core, frame);
                if total <= MIN_ENERGY {
                    continue;
                }
                let mut scalar = core.clone();
                let want = scalar.test_and_update_scalar(th, idx, &features);
                // SAFETY: the CPU has AVX2, checked above.
                let got =
                    unsafe { crate::core::avx2::test_and_update(&mut core, th, idx, &features) };
                assert!(
                    (got, &core) == (want, &scalar),
                    "mode {mode}, {len} samples: frame {i} differs"
                );
                core.frame_counter = core.frame_counter.wrapping_add(1);
                checked += 1;
            }
            assert!(checked > 10_000, "mode {mode}, {len}: {checked} frames");
        }
    }
}

/// The vector window update against the scalar one, frame by frame,
/// on random feature streams in which values stay in the window until
/// they expire and some frames insert nothing (features above 10000),
/// so that the filler an expiry leaves in the last slot survives.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_window_update_matches_scalar() {
    if !has_level(Isa::Avx2) {
        return;
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut fast, mut fallback) = (0, 0);
    for run in 0..40u64 {
        let mut core = Core::new();
        for frame in 0..4000 {
            let f = match rng.below(5) {
                0 => 10_001 + rng.below(500) as i16,
                _ => rng.below(200 + 400 * run) as i16,
            };
            let mut want = core.clone();
            want.update_window(f, 0);
            let (age, values) = (&mut core.index_vector[0], &mut core.low_value_vector[0]);
            // SAFETY: the CPU has AVX2, checked above.
            if unsafe { crate::sp::avx2::update_window_fast(age, values, f) } {
                fast += 1;
            } else {
                fallback += 1;
                core.update_window(f, 0);
            }
            assert!(
                (core.index_vector[0], core.low_value_vector[0])
                    == (want.index_vector[0], want.low_value_vector[0]),
                "run {run}, frame {frame}, feature {f}"
            );
        }
    }
    assert!(fast > 100_000, "{fast} vector updates, {fallback} scalar");
}

/// The SSE2 filterbank levels against the portable version they replace.
#[cfg(target_arch = "x86_64")]
#[test]
fn sse2_filterbank_matches_portable() {
    fn check<const N: usize, const H: usize, const Q: usize>(rng: &mut Rng) {
        let mut a = ([0i16; 2], [0i16; 4]);
        let mut b = a;
        for round in 0..20_000 {
            // Full-scale noise, quiet noise, rails: the states wander.
            let amp = [32767, 3000, 30][round % 3];
            let data: [i16; N] = std::array::from_fn(|_| match rng.below(50) {
                0 => i16::MIN,
                1 => i16::MAX,
                _ => rng.uniform(amp) as i16,
            });
            let (mut high_a, mut high_b) = ([[0i16; H]], [0i16; H]);
            let (mut out_a, mut out_b) = ([[[0i16; Q]; 4]], [[0i16; Q]; 4]);
            let (mut first, mut second) = ([a.0], [a.1]);
            // SAFETY: SSE2 is part of the x86-64 baseline.
            unsafe {
                crate::filterbank::sse2::two_levels(
                    [&data],
                    &mut first,
                    &mut second,
                    Some(high_a.each_mut()),
                    out_a.each_mut(),
                )
            };
            a = (first[0], second[0]);
            two_levels_portable(&data, &mut b.0, &mut b.1, Some(&mut high_b), &mut out_b);
            assert_eq!(
                (out_a[0], high_a[0], a),
                (out_b, high_b, b),
                "{N} samples, round {round}"
            );
        }
        // Two channels in one loop: each gets what it gets alone.
        let mut pair = ([[0i16; 2]; 2], [[0i16; 4]; 2]);
        let mut alone = pair;
        for round in 0..5_000 {
            let data: [[i16; N]; 2] =
                std::array::from_fn(|_| std::array::from_fn(|_| rng.uniform(32767) as i16));
            let mut high = [[0i16; H]; 2];
            let mut out = [[[0i16; Q]; 4]; 2];
            // SAFETY: SSE2 is part of the x86-64 baseline.
            unsafe {
                crate::filterbank::sse2::two_levels(
                    [&data[0], &data[1]],
                    &mut pair.0,
                    &mut pair.1,
                    Some(high.each_mut()),
                    out.each_mut(),
                )
            };
            for p in 0..2 {
                let mut high1 = [0i16; H];
                let mut out1 = [[0i16; Q]; 4];
                let (f, s) = (&mut alone.0[p], &mut alone.1[p]);
                two_levels_portable(&data[p], f, s, Some(&mut high1), &mut out1);
                assert_eq!((out[p], high[p]), (out1, high1), "{N}, pair round {round}");
            }
            assert_eq!(pair, alone, "{N} samples, pair round {round}");
        }
    }
    let mut rng = Rng(11);
    // Levels 1 and 2 of 10, 20 and 30 ms frames, and levels 3 and 4.
    check::<80, 40, 20>(&mut rng);
    check::<160, 80, 40>(&mut rng);
    check::<240, 120, 60>(&mut rng);
    check::<20, 10, 5>(&mut rng);
    check::<40, 20, 10>(&mut rng);
    check::<60, 30, 15>(&mut rng);
}

/// The filterbank of one channel, two levels at a time through the
/// portable version, then the high-pass: the reference for
/// [`filterbank`].
fn filterbank_portable<
    const N: usize,
    const H: usize,
    const Q: usize,
    const E: usize,
    const S: usize,
>(
    data: &[i16; N],
    states: &mut FilterStates,
    bands: &mut Bands<Q, E, S>,
) {
    let [s0, [u1, l1], [u2, l2], s3, [u4, l4]] = states.splits;
    let (mut first, mut second) = (s0, [u1, l1, u2, l2]);
    let (mut first34, mut second34) = (s3, [0, 0, u4, l4]);
    let b = bands;
    let mut level2 = [[0i16; Q]; 4];
    two_levels_portable::<N, H, Q>(data, &mut first, &mut second, None, &mut level2);
    let mut level4 = [[0i16; S]; 4];
    let (lp2b, hp3) = (&level2[3], Some(&mut b.hp3));
    two_levels_portable(lp2b, &mut first34, &mut second34, hp3, &mut level4);
    let mut hp = states.high_pass.map(i32::from);
    for (y, &x) in b.band0.iter_mut().zip(&level4[3]) {
        *y = high_pass_step(&mut hp, x);
    }
    b.hp4 = level4[2];
    b.level2_energy = level2_energy(&level2);
    let ([u1, l1, u2, l2], [_, _, u4, l4]) = (second, second34);
    *states = FilterStates {
        splits: [first, [u1, l1], [u2, l2], first34, [u4, l4]],
        high_pass: hp.map(|v| v as i16),
    };
}

/// The whole filterbank of two channels at once (at level AVX2: all in one
/// loop, levels 3 and 4 and the high-pass behind level 2) and of one
/// channel (two passes of two levels, then the high-pass) against the
/// portable version, frame by frame with the states carried over, on
/// frames that drive the states and every band to their extremes:
/// full-scale and quiet noise, DC at the rails, full-scale Nyquist and
/// low squares and sines (which load the lowest bands, those of levels
/// 3 and 4 and the high-pass), silence after full scale, lone impulses,
/// and each channel on its own kind of frame.
fn filterbank_matches_portable(level: Level) {
    fn frame<const N: usize>(rng: &mut Rng) -> [i16; N] {
        let kind = rng.below(9);
        let (amp, period) = (rng.uniform(32767) as i16, 1 + rng.below(40) as usize);
        let spike = rng.below(N as u64) as usize;
        std::array::from_fn(|i| match kind {
            0 => match rng.below(50) {
                0 => i16::MIN,
                1 => i16::MAX,
                _ => rng.uniform(32767) as i16,
            },
            1 => rng.uniform(30) as i16,
            2 => i16::MAX,
            3 => i16::MIN,
            4 => [i16::MAX, i16::MIN][i % 2],
            5 => [i16::MIN, i16::MAX][i / period % 2],
            6 => 0,
            7 => [0, amp][usize::from(i == spike)],
            _ => sat(32767.0 * (i as f64 * 0.01 * period as f64).sin()),
        })
    }
    fn check<const N: usize, const H: usize, const Q: usize, const E: usize, const S: usize>(
        level: Level,
        rng: &mut Rng,
    ) {
        // Each path carries its own states from frame to frame.
        let zero = FilterStates {
            splits: [[0; 2]; 5],
            high_pass: [0; 4],
        };
        let (mut pair, mut alone, mut single) = ([zero; 2], [zero; 2], [zero; 2]);
        for round in 0..10_000 {
            let data: [[i16; N]; 2] = [frame(rng), frame(rng)];
            let mut bands = [Bands::<Q, E, S>::ZERO; 2];
            filterbank::<2, N, H, Q, E, S>(level, [&data[0], &data[1]], &mut pair, &mut bands);
            for p in 0..2 {
                let mut want = Bands::ZERO;
                filterbank_portable::<N, H, Q, E, S>(&data[p], &mut alone[p], &mut want);
                // Level 2 by its energies (the AVX2 pair path keeps its
                // samples in vectors); its lowest band is checked
                // through levels 3 and 4.
                let (got, want) = ((bands[p], pair[p]), (want, alone[p]));
                assert_eq!(got, want, "{N} samples, pair, channel {p}, round {round}");

                // One channel: two passes of two levels.
                let mut one = [Bands::ZERO];
                let s = std::array::from_mut(&mut single[p]);
                filterbank::<1, N, H, Q, E, S>(level, [&data[p]], s, &mut one);
                let got = (one[0], s[0]);
                assert_eq!(got, want, "{N} samples, one channel, round {round}");
            }
        }
    }
    let mut rng = Rng(34);
    check::<80, 40, 20, 10, 5>(level, &mut rng);
    check::<160, 80, 40, 20, 10>(level, &mut rng);
    check::<240, 120, 60, 30, 15>(level, &mut rng);
}

per_level! {
    filterbank_matches_portable => super::filterbank_matches_portable;
}

// ---- streams and the API --------------------------------------------------

/// `calc_vad_8khz` at level AVX2 (compiled for AVX2, with the SSE2 and
/// AVX2 filterbanks and the AVX2 model update) gives the portable level's
/// decisions and states, frame after frame, one channel and two.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_and_portable_builds_agree() {
    if !has_level(Isa::Avx2) {
        return;
    }
    let sig = signal(8000);
    let other = &sig[sig.len() / 3..];
    for mode in 0..4u8 {
        for len in [80, 160, 240] {
            let new = || Fvad::new(8000, mode).unwrap();
            let (mut a, mut b) = ([new(), new()], [new(), new()]);
            let (mut c, mut d) = (new(), new());
            for (i, (x, y)) in sig
                .chunks_exact(len)
                .zip(other.chunks_exact(len))
                .take(3000)
                .enumerate()
            {
                let [a0, a1] = &mut a;
                let [b0, b1] = &mut b;
                // SAFETY: the CPU has AVX2, checked above.
                let got = unsafe { Fvad::calc_vad_8khz_avx2([a0, a1], [x, y]) };
                let want = Fvad::calc_vad_8khz_portable([b0, b1], [x, y]);
                assert_eq!(got, want, "mode {mode}, {len} samples, frame {i}");
                // SAFETY: as above.
                let got = unsafe { Fvad::calc_vad_8khz_avx2([&mut c], [x]) };
                let want = Fvad::calc_vad_8khz_portable([&mut d], [x]);
                assert_eq!(
                    got, want,
                    "one channel, mode {mode}, {len} samples, frame {i}"
                );
            }
            assert_eq!((&a[0].core, &a[1].core), (&b[0].core, &b[1].core));
            assert_eq!(c.core, d.core, "mode {mode}, {len} samples");
        }
    }
}
