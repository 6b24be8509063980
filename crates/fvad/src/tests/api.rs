// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! The public API: several channels processed together against one at a
//! time, mixed frame lengths, mode switches and bad frames against the C
//! code, `reset`, and what the constructors and `process` reject.

use super::c_ffi::{c, crate_vad, state_diff};
use super::c_reference::compare;
use super::has_level;
use super::signals::{signal, Rng};
use crate::core::Core;
use crate::{Fvad, Level};
use callprep_isa::Isa;

fn channels_processed_together_match_one_at_a_time(level: Level) {
    // Two channels (the test signal, and the signal from a later point:
    // speech against adversarial noise) through `process_many` and
    // through two detectors of their own: same decisions, same states.
    for rate in [8000u32, 16000, 32000, 48000] {
        let khz = rate as usize / 1000;
        let sig = signal(rate);
        let other = &sig[sig.len() / 3..];
        for mode in 0..4u8 {
            for ms in [10, 20, 30] {
                let len = ms * khz;
                let mut pair = [
                    Fvad::with_isa(rate, mode, level.isa()).unwrap(),
                    Fvad::with_isa(rate, mode, level.isa()).unwrap(),
                ];
                let mut alone = pair.clone();
                let (mut voiced, mut frames) = (0, 0);
                for (a, b) in sig
                    .chunks_exact(len)
                    .zip(other.chunks_exact(len))
                    .take(4000)
                {
                    let [pa, pb] = &mut pair;
                    let got = Fvad::process_many([pa, pb], [a, b]);
                    let want = [alone[0].process(a), alone[1].process(b)];
                    assert_eq!(got, want, "{rate} Hz, mode {mode}, {ms} ms, frame {frames}");
                    voiced += usize::from(got[0]) + usize::from(got[1]);
                    frames += 1;
                }
                assert_eq!(
                    pair[0].core, alone[0].core,
                    "{rate} Hz, mode {mode}, {ms} ms"
                );
                assert_eq!(
                    pair[1].core, alone[1].core,
                    "{rate} Hz, mode {mode}, {ms} ms"
                );
                assert!(
                    voiced > 0 && voiced < 2 * frames,
                    "{rate} Hz {mode} {ms}: {voiced}"
                );
            }
        }
        // Frames of different lengths, or a bad one, fall back to one at
        // a time (a bad frame: `false`, state untouched).
        let mut pair = [
            Fvad::with_isa(rate, 3, level.isa()).unwrap(),
            Fvad::with_isa(rate, 3, level.isa()).unwrap(),
        ];
        let mut alone = pair.clone();
        let (a, b, bad) = (&sig[..10 * khz], &sig[..20 * khz], &sig[..7]);
        for (x, y) in [(a, b), (b, bad), (bad, bad), (a, a)] {
            let [pa, pb] = &mut pair;
            let got = Fvad::process_many([pa, pb], [x, y]);
            assert_eq!(got, [alone[0].process(x), alone[1].process(y)]);
        }
        assert_eq!(pair[0].core, alone[0].core);
        assert_eq!(pair[1].core, alone[1].core);
    }
}

fn mixed_lengths_mode_switches_and_bad_frames_match_c(level: Level) {
    // libfvad takes any valid length on every call and keeps its state
    // across mode changes; a bad length changes nothing.
    for rate in [8000u32, 16000, 32000, 48000] {
        let khz = rate as usize / 1000;
        let signal = signal(rate);
        let mut rng = Rng(u64::from(rate));
        let mut port = Fvad::with_isa(rate, 0, level.isa()).unwrap();
        let mut reference = crate_vad(rate, 0);
        let mut raw = c::Handle::new(rate, 0);
        let (mut pos, mut frames) = (0, 0);
        while pos + 30 * khz <= signal.len() && frames < 15_000 {
            if rng.below(500) == 0 {
                let mode = rng.below(4) as u8;
                assert!(port.set_mode(mode));
                reference.set_mode(match mode {
                    0 => webrtc_vad::VadMode::Quality,
                    1 => webrtc_vad::VadMode::LowBitrate,
                    2 => webrtc_vad::VadMode::Aggressive,
                    _ => webrtc_vad::VadMode::VeryAggressive,
                });
                raw.set_mode(mode);
            }
            if rng.below(200) == 0 {
                // An invalid length: rejected by all, state untouched.
                let bad = &signal[pos..pos + 10 * khz + 1 + rng.below(5) as usize];
                assert_eq!(port.try_process(bad), None);
                assert!(!port.process(bad));
                assert_eq!(reference.is_voice_segment(bad), Err(()));
                assert_eq!(raw.process(bad), -1);
            }
            let len = [10, 20, 30][rng.below(3) as usize] * khz;
            let frame = &signal[pos..pos + len];
            let ours = port.process(frame);
            assert_eq!(
                Ok(ours),
                reference.is_voice_segment(frame),
                "{rate} Hz frame {frames}"
            );
            assert_eq!(raw.process(frame), i32::from(ours));
            if let Some(d) = state_diff(&port, raw.state()) {
                panic!("{rate} Hz frame {frames}: state differs, {d}");
            }
            pos += len;
            frames += 1;
        }
    }
}

fn reset_forgets_everything_but_rate_and_mode(level: Level) {
    let signal = signal(16000);
    let mut port = Fvad::with_isa(16000, 2, level.isa()).unwrap();
    for f in signal[..16000 * 20].chunks_exact(480) {
        port.process(f);
    }
    assert_ne!(port.core, Core::new());
    port.reset();
    assert_eq!(port.core, Core::new());
    assert_eq!((port.rate_hz(), port.mode()), (16000, 2));
    // And it then runs like a fresh instance.
    assert!(compare(port, 30, &signal[..16000 * 60], true).is_ok());
}

#[test]
fn api_rejects_what_libfvad_rejects() {
    for rate in [0, 7999, 8001, 11025, 22050, 44100, 96000] {
        assert!(Fvad::new(rate, 0).is_none(), "{rate}");
    }
    assert!(Fvad::new(8000, 4).is_none());
    let mut v = Fvad::new(8000, 3).unwrap();
    assert!(!v.set_mode(4));
    assert_eq!(v.mode(), 3);
    for rate in [8000, 16000, 32000, 48000] {
        let mut v = Fvad::new(rate, 0).unwrap();
        let khz = rate as usize / 1000;
        let long = vec![1000i16; 31 * khz];
        for len in 0..=31 * khz {
            let valid = [10, 20, 30].contains(&(len / khz)) && len % khz == 0;
            assert_eq!(v.is_valid_frame_len(len), valid, "{rate} Hz, {len}");
            // Never panics; `None` exactly for the invalid lengths.
            assert_eq!(
                v.try_process(&long[..len]).is_some(),
                valid,
                "{rate} Hz, {len}"
            );
        }
    }
    assert_eq!(Fvad::new(8000, 0).unwrap().try_process(&[]), None);
}

per_level! {
    channels_processed_together_match_one_at_a_time =>
        super::channels_processed_together_match_one_at_a_time;
    mixed_lengths_mode_switches_and_bad_frames_match_c =>
        super::mixed_lengths_mode_switches_and_bad_frames_match_c;
    reset_forgets_everything_but_rate_and_mode =>
        super::reset_forgets_everything_but_rate_and_mode;
}

/// The level is chosen when a detector is built and reported by `isa()`:
/// `new` takes the best one, AVX-512 runs the AVX2 code (so the tests at
/// level AVX2 cover it), a level above what the CPU has falls back to what
/// it has, and detectors of different levels processed together give what
/// each gives alone.
#[test]
fn levels_are_chosen_once_and_reported() {
    let at = |isa| Fvad::with_isa(8000, 3, isa).unwrap().isa();
    assert_eq!(at(Isa::Portable), Isa::Portable);
    assert_eq!(Fvad::new(8000, 3).unwrap().isa(), at(Isa::best()));
    for isa in [Isa::Avx2, Isa::Avx512] {
        if has_level(isa) {
            assert_eq!(at(isa), Isa::Avx2, "{isa} runs the AVX2 code");
        } else {
            assert_eq!(
                at(isa),
                at(Isa::best()),
                "{isa} falls back to the best level"
            );
        }
    }

    let sig = signal(8000);
    let other = &sig[sig.len() / 3..];
    let new = |isa| Fvad::with_isa(8000, 3, isa).unwrap();
    let mut pair = [new(Isa::best()), new(Isa::Portable)];
    let mut alone = pair.clone();
    let mut voiced = 0;
    for (a, b) in sig
        .chunks_exact(240)
        .zip(other.chunks_exact(240))
        .take(4000)
    {
        let [pa, pb] = &mut pair;
        let got = Fvad::process_many([pa, pb], [a, b]);
        assert_eq!(got, [alone[0].process(a), alone[1].process(b)]);
        voiced += usize::from(got[0]) + usize::from(got[1]);
    }
    assert_eq!(pair[0].core, alone[0].core);
    assert_eq!(pair[1].core, alone[1].core);
    assert!(voiced > 0 && voiced < 8000, "{voiced}");
}
