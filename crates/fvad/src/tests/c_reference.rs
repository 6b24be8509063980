// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! The port against libfvad's C code: decisions and the whole state after
//! every frame for every rate × mode × frame length, the filterbank
//! features and the Gaussian probabilities value by value, and a negative
//! control showing that the comparison does catch a small difference.

use super::c_ffi::{c, crate_vad, state_diff};
use super::signals::{signal, Rng};
use crate::core::{Core, MODES};
use crate::gmm::{gaussian_probability, inv_std};
use crate::{Fvad, Level, NUM_CHANNELS};

// ---- the comparison -----------------------------------------------------

#[derive(Debug)]
pub(super) struct Stats {
    frames: usize,
    voiced: usize,
    seconds: f64,
}

/// Runs `port` and the crate (public API) side by side over `signal` in
/// frames of `frame_ms`: the decisions must agree on every frame, and
/// with `check_state` the raw flag (speech / hangover count) and the
/// whole state of the crate's C instance too.
pub(super) fn compare(
    mut port: Fvad,
    frame_ms: usize,
    signal: &[i16],
    check_state: bool,
) -> Result<Stats, String> {
    let rate_hz = port.rate_hz();
    let mode = port.mode();
    let mut reference = crate_vad(rate_hz, mode);
    let len = frame_ms * rate_hz as usize / 1000;
    let mut voiced = 0;
    let mut frames = 0;
    for (i, frame) in signal.chunks_exact(len).enumerate() {
        let at = || format!("{rate_hz} Hz mode {mode} {frame_ms} ms, frame {i}");
        let ours = port
            .process_raw(frame)
            .ok_or_else(|| format!("{}: rejected", at()))?;
        let theirs = reference.is_voice_segment(frame).map_err(|_| at())?;
        if (ours != 0) != theirs {
            return Err(format!("{}: port says {ours}, crate says {theirs}", at()));
        }
        if check_state {
            let st = c::state_of(&reference);
            if st.vad != i32::from(ours) {
                return Err(format!("{}: raw flag {ours} vs C {}", at(), st.vad));
            }
            if let Some(d) = state_diff(&port, st) {
                return Err(format!("{}: state differs, {d}", at()));
            }
        }
        voiced += theirs as usize;
        frames += 1;
    }
    Ok(Stats {
        frames,
        voiced,
        seconds: (frames * len) as f64 / rate_hz as f64,
    })
}

/// Every mode at one rate and frame length, over the whole signal.
fn check_config(level: Level, rate_hz: u32, frame_ms: usize) {
    let signal = signal(rate_hz);
    for mode in 0..4 {
        let port = Fvad::with_isa(rate_hz, mode, level.isa()).unwrap();
        let st = compare(port, frame_ms, signal, true).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "{rate_hz} Hz, mode {mode}, {frame_ms} ms: {} frames ({:.1} min) identical, {:.1} % speech",
            st.frames,
            st.seconds / 60.0,
            100.0 * st.voiced as f64 / st.frames as f64
        );
        assert!(st.seconds >= 600.0, "only {:.0} s compared", st.seconds);
        // Both decisions occur plenty, or the comparison proves little.
        assert!(st.voiced > st.frames / 10 && st.voiced < st.frames * 9 / 10);
    }
}

per_level! {
    bit_exact_8k_10ms => |l| super::check_config(l, 8000, 10);
    bit_exact_8k_20ms => |l| super::check_config(l, 8000, 20);
    bit_exact_8k_30ms => |l| super::check_config(l, 8000, 30);
    bit_exact_16k_10ms => |l| super::check_config(l, 16000, 10);
    bit_exact_16k_20ms => |l| super::check_config(l, 16000, 20);
    bit_exact_16k_30ms => |l| super::check_config(l, 16000, 30);
    bit_exact_32k_10ms => |l| super::check_config(l, 32000, 10);
    bit_exact_32k_20ms => |l| super::check_config(l, 32000, 20);
    bit_exact_32k_30ms => |l| super::check_config(l, 32000, 30);
    bit_exact_48k_10ms => |l| super::check_config(l, 48000, 10);
    bit_exact_48k_20ms => |l| super::check_config(l, 48000, 20);
    bit_exact_48k_30ms => |l| super::check_config(l, 48000, 30);
    c_state_mirror_matches_the_c_layout => super::c_state_mirror_matches_the_c_layout;
    filterbank_features_match_c => super::filterbank_features_match_c;
    comparison_catches_the_smallest_threshold_change =>
        super::comparison_catches_the_smallest_threshold_change;
}

// ---- components against the C functions --------------------------------

fn c_state_mirror_matches_the_c_layout(level: Level) {
    // If `VadInstT` were mirrored wrongly, the fields after the first
    // mistake would read garbage: check both ends and everything between
    // against a fresh port.
    for rate in [8000, 16000, 32000, 48000] {
        for mode in 0..4 {
            let raw = c::Handle::new(rate, mode);
            let vad = crate_vad(rate, mode);
            let port = Fvad::with_isa(rate, mode, level.isa()).unwrap();
            assert_eq!(port.thresholds, MODES[mode as usize]);
            for st in [raw.state(), c::state_of(&vad)] {
                assert_eq!(st.init_flag, 42);
                assert_eq!(st.vad, 1);
                assert_eq!(state_diff(&port, st), None);
            }
        }
    }
}

#[test]
fn gaussian_probability_matches_c() {
    let check = |input: i16, mean: i16, std: i16| {
        let ours = gaussian_probability(input, mean, inv_std(std));
        let theirs = c::gaussian_probability(input, mean, std);
        assert_eq!(ours, theirs, "input {input}, mean {mean}, std {std}");
    };
    // Every standard deviation the models can hold (>= 378), against a
    // grid of inputs and means around and far from each other.
    let edges = [
        i16::MIN,
        -20000,
        -1,
        0,
        1,
        100,
        1000,
        4000,
        8000,
        12000,
        20000,
        i16::MAX,
    ];
    for std in 378..=i16::MAX {
        for &m in &edges {
            for &x in &[0, 1, 300, 600, 900, 1500, 3000, i16::MAX, i16::MIN] {
                check(x, m, std);
            }
        }
    }
    // Random triples over the whole domain of positive stds.
    let mut rng = Rng(7);
    for _ in 0..2_000_000 {
        let x = rng.next() as i16;
        let m = rng.next() as i16;
        let std = (rng.below(32767) + 1) as i16;
        check(x, m, std);
    }
}

fn filterbank_features_match_c(level: Level) {
    // Band energies and the total-energy indicator, frame by frame, on
    // the 8 kHz signal (the filter states ride along in the state check
    // of the decision tests).
    let signal = signal(8000);
    for len in [80, 160, 240] {
        let mut raw = c::Handle::new(8000, 0);
        let mut port = Fvad::with_isa(8000, 0, level.isa()).unwrap();
        for (i, frame) in signal.chunks_exact(len).enumerate() {
            let (features, total) = features_of(level, &mut port.core, frame);
            assert_eq!(
                (total, features),
                raw.calculate_features(frame),
                "{len}: frame {i}"
            );
        }
    }
}

/// `WebRtcVad_CalculateFeatures` of one 8 kHz frame of 80, 160 or 240
/// samples: the features and the total-energy indicator.
pub(super) fn features_of(
    level: Level,
    core: &mut Core,
    frame: &[i16],
) -> ([i16; NUM_CHANNELS], i16) {
    let mut f = [0i16; NUM_CHANNELS];
    let total = match frame.len() {
        80 => {
            core.calculate_features::<80, 40, 20, 10, 5>(level, frame.try_into().unwrap(), &mut f)
        }
        160 => {
            core.calculate_features::<160, 80, 40, 20, 10>(level, frame.try_into().unwrap(), &mut f)
        }
        _ => core.calculate_features::<240, 120, 60, 30, 15>(
            level,
            frame.try_into().unwrap(),
            &mut f,
        ),
    };
    (f, total)
}

// ---- the check can fail --------------------------------------------------

fn comparison_catches_the_smallest_threshold_change(level: Level) {
    // Nudge one threshold of one mode by the smallest step that can change
    // a decision (the likelihood sums are even and the local test is on
    // multiples of 4), and the frame-by-frame comparison must object. (Of
    // the 48 such nudges of ±2 / ±4, the decisions alone catch 42 on this
    // signal; the rest are global ones no frame's sum lands on.)
    let signal = signal(8000);
    for (mode, frame_ms, total, individual) in [
        (0u8, 30, 2, 0),
        (3, 30, -2, 0),
        (2, 10, 0, 4),
        (1, 20, 0, -4),
    ] {
        let mut port = Fvad::with_isa(8000, mode, level.isa()).unwrap();
        let idx = frame_ms / 10 - 1;
        port.thresholds.total[idx] += total;
        port.thresholds.individual[idx] += individual;
        let result = compare(port, frame_ms, signal, false);
        assert!(result.is_err(), "mode {mode}, {frame_ms} ms: not caught");
    }
    // The state check flags a difference in the very frame it appears,
    // long before any decision differs. (A one-unit nudge of a model mean
    // is usually erased by the first update; the frame counter is not.)
    let mut port = Fvad::with_isa(8000, 0, level.isa()).unwrap();
    port.core.frame_counter += 1;
    let err = compare(port, 30, signal, true).unwrap_err();
    assert!(err.contains("frame 0: state differs"), "{err}");
}
