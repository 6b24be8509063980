//! The AVX-512 256-point FFT against rustfft's plan, bit for bit, and the
//! rustfft pin against the release it was ported from.

use callprep_isa::Isa;
use rustfft::FftPlanner;

use super::*;
use crate::level::Level;
use crate::spectrum::{PowerSpectrum, SpectrumKernel};
use crate::testutil::{noise, runs};

/// Every bin of every transform is rustfft's, bit for bit, on inputs from
/// 1e-9 to 1e3 in level, with zero runs (as zero-padded frames have), where
/// the CPU has AVX-512 (through the AVX-512 level's transform, as the
/// extractor runs it).
#[test]
fn matches_rustfft_bit_for_bit() {
    if !runs(Isa::Avx512, "fft256 vs rustfft") {
        return;
    }
    let Level::Avx512(avx512) = Level::new(Isa::Avx512) else {
        unreachable!("Level::new(Avx512) is the AVX-512 level")
    };
    let sp = PowerSpectrum::new(2 * LEN);
    assert!(sp.fft256.is_some(), "n_fft 512 must take the 256-point FFT");
    let reference = FftPlanner::<f64>::new().plan_fft_forward(LEN);
    let mut rnd = noise(0x9e37_79b9_7f4a_7c15);
    for case in 0..200 {
        let gain = 10f64.powi(case % 13 - 9);
        let input: Vec<Complex<f64>> = (0..LEN)
            .map(|i| {
                if case % 3 == 0 && !(78..178).contains(&i) {
                    Complex::new(0.0, 0.0)
                } else {
                    Complex::new(gain * rnd(), gain * rnd())
                }
            })
            .collect();
        let mut want = input.clone();
        reference.process(&mut want);
        let mut got = vec![Complex::new(f64::NAN, f64::NAN); LEN];
        avx512.transform(&sp, &input, &mut got, &mut []);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                (g.re.to_bits(), g.im.to_bits()),
                (w.re.to_bits(), w.im.to_bits()),
                "case {case}, bin {k}: {g} vs {w}. fft256.rs copies rustfft \
                 {PORTED_FROM_RUSTFFT}'s Butterfly256Avx64: if rustfft moved, re-check \
                 fft256.rs against its new code before changing the pin"
            );
        }
    }
}

/// The rustfft that Cargo.toml pins and Cargo.lock holds is the release
/// fft256.rs was ported from.
#[test]
fn rustfft_is_pinned_to_the_ported_release() {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let pin = format!("rustfft = \"={PORTED_FROM_RUSTFFT}\"");
    assert!(
        manifest.lines().any(|l| l.trim() == pin),
        "crates/mel/Cargo.toml must pin `{pin}`: fft256.rs copies that release's code"
    );
    let lock = std::fs::read_to_string(crate_dir.join("../../Cargo.lock")).unwrap();
    let mut locked = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"rustfft\"" {
            let version = lines.next().unwrap_or_default();
            locked.push(version.trim_start_matches("version = ").trim_matches('"'));
        }
    }
    assert_eq!(
        locked,
        [PORTED_FROM_RUSTFFT],
        "Cargo.lock's rustfft differs from the release fft256.rs was ported from: \
         re-check fft256.rs against the new rustfft's Butterfly256Avx64"
    );
}
