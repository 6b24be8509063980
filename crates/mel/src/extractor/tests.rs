//! The extractor end to end: every level against the portable one, bit
//! for bit; silence and a tone; the layouts; the `ndarray` output.

use callprep_isa::Isa;

use super::*;
use crate::config::{MelScale, PRESETS};
use crate::filters::{hz_to_mel, mel_to_hz};
use crate::testutil::runs;

/// Every level of `compute_into` this CPU runs (AVX-512, AVX2, portable)
/// gives the portable level's bits, for every preset (and an odd FFT size
/// with magnitude spectra).
#[test]
fn every_build_agrees_bit_for_bit() {
    let mut presets: Vec<MelConfig> = PRESETS
        .iter()
        .map(|p| MelConfig::preset(p).unwrap())
        .collect();
    let mut odd = MelConfig::preset("telephony").unwrap();
    odd.n_fft = 401;
    odd.power = 1.0;
    presets.push(odd);
    for cfg in presets {
        let portable = MelExtractor::with_isa(&cfg, Isa::Portable);
        let rate = f64::from(cfg.sample_rate_hz);
        // A chirp over a noise floor, with a silent stretch, 1.37 s.
        let x: Vec<f32> = (0..(1.37 * rate) as usize)
            .map(|i| {
                let t = i as f64 / rate;
                let tone = (2.0 * std::f64::consts::PI * (200.0 + 900.0 * t) * t).sin();
                let noise = ((i * 7919) % 1013) as f64 / 1013.0 - 0.5;
                if (0.4..0.6).contains(&t) {
                    0.0
                } else {
                    (0.3 * tone + 1e-3 * noise) as f32
                }
            })
            .collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut b = Vec::new();
        let fb = portable.compute_into(&x, &mut portable.scratch(), &mut b);
        assert!(fb > 100, "{}: {fb} frames", cfg.preset);
        for isa in Isa::ALL {
            if !runs(isa, "every build agrees") {
                continue;
            }
            let ex = MelExtractor::with_isa(&cfg, isa);
            assert_eq!(ex.isa(), isa);
            let (mut s1, mut s2) = (ex.scratch(), ex.scratch());
            let mut a = Vec::new();
            let fa = ex.compute_into(&x, &mut s1, &mut a);
            assert_eq!(fa, fb);
            assert_eq!(bits(&a), bits(&b), "preset {}, level {isa}", cfg.preset);
            // An output buffer reused from a longer or a shorter chunk
            // gives what a fresh one does (only growth is zero-filled).
            for n in [x.len() / 3, x.len()] {
                let mut fresh = Vec::new();
                let part = &x[..n];
                ex.compute_into(part, &mut s2, &mut fresh);
                ex.compute_into(part, &mut s1, &mut a);
                assert_eq!(bits(&a), bits(&fresh), "preset {}, {n} samples", cfg.preset);
            }
        }
    }
}

/// `new` takes the best level; `with_isa` refuses a level the CPU lacks.
#[test]
fn new_takes_the_best_level_and_with_isa_refuses_a_missing_one() {
    let cfg = MelConfig::preset("telephony").unwrap();
    assert_eq!(MelExtractor::new(&cfg).isa(), Isa::best());
    for isa in Isa::ALL.into_iter().filter(|i| !i.supported()) {
        let got = std::panic::catch_unwind(|| MelExtractor::with_isa(&cfg, isa));
        assert!(got.is_err(), "with_isa({isa}) on a CPU without it");
    }
}

/// `compute_array` holds `compute`'s values in the layout's shape.
#[test]
fn compute_array_is_compute_shaped_by_the_layout() {
    let x: Vec<i16> = (0..12345)
        .map(|i| ((i * 7919) % 2001) as i16 - 1000)
        .collect();
    for layout in [Layout::MelsFirst, Layout::FramesFirst] {
        let mut cfg = MelConfig::preset("telephony").unwrap();
        cfg.layout = layout;
        let ex = MelExtractor::new(&cfg);
        let (flat, frames) = ex.compute(&x);
        let array = ex.compute_array(&x);
        let want = match layout {
            Layout::MelsFirst => [80, frames],
            Layout::FramesFirst => [frames, 80],
        };
        assert_eq!(array.shape(), want, "{layout:?}");
        assert!(array.is_standard_layout());
        assert_eq!(array.as_slice().unwrap(), &flat[..], "{layout:?}");
        let (m, t) = (17, frames / 2);
        let (at, flat_at) = match layout {
            Layout::MelsFirst => (array[[m, t]], flat[m * frames + t]),
            Layout::FramesFirst => (array[[t, m]], flat[t * 80 + m]),
        };
        assert_eq!(at.to_bits(), flat_at.to_bits(), "{layout:?}");
    }
}

#[test]
fn silence_gives_the_floor_and_a_tone_peaks_in_its_band() {
    let cfg = MelConfig::preset("telephony").unwrap();
    let ex = MelExtractor::new(&cfg);
    let (out, frames) = ex.compute(&vec![0.0; 8000]);
    assert_eq!(frames, 101);
    assert_eq!(out.len(), 80 * 101);
    assert!(out
        .iter()
        .all(|v| (*v - (1e-10f64).ln() as f32).abs() < 1e-5));
    // 1 kHz tone: the loudest band is the one whose centre is nearest 1 kHz.
    let tone: Vec<f32> = (0..8000)
        .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 8000.0).sin() * 0.5)
        .collect();
    let (out, frames) = ex.compute(&tone);
    let t = frames / 2;
    let best = (0..80)
        .max_by(|a, b| out[a * frames + t].total_cmp(&out[b * frames + t]))
        .unwrap();
    let m_max = hz_to_mel(4000.0, MelScale::Slaney);
    let centre = |m: usize| mel_to_hz(m_max * (m + 1) as f64 / 81.0, MelScale::Slaney);
    let nearest = (0..80)
        .min_by(|a, b| {
            (centre(*a) - 1000.0)
                .abs()
                .total_cmp(&(centre(*b) - 1000.0).abs())
        })
        .unwrap();
    assert!(best.abs_diff(nearest) <= 1, "{best} vs {nearest}");
}

#[test]
fn layouts_are_transposes() {
    let mut cfg = MelConfig::preset("telephony").unwrap();
    let x: Vec<f32> = (0..4000)
        .map(|i| ((i * 7919) % 200) as f32 / 400.0 - 0.25)
        .collect();
    let (a, frames) = MelExtractor::new(&cfg).compute(&x);
    cfg.layout = Layout::FramesFirst;
    let (b, _) = MelExtractor::new(&cfg).compute(&x);
    for m in 0..80 {
        for t in 0..frames {
            assert_eq!(a[m * frames + t], b[t * 80 + m]);
        }
    }
}
