//! The fused power spectra against realfft's, bit for bit, at every level
//! this CPU runs.

use rustfft::num_complex::Complex;

use super::*;
use crate::level::Level;
#[cfg(target_arch = "x86_64")]
use crate::level::{Avx2, Avx512};
use crate::testutil::{levels, noise};

/// The arguments of [`PowerSpectrum::power_lanes`] after `self`.
type PowerArgs<'a> = (
    usize,
    &'a mut [Complex<f64>],
    &'a mut [Complex<f64>],
    &'a mut [Complex<f64>],
    &'a mut [f64],
    usize,
    f64,
);

/// [`PowerSpectrum::power_lanes`] compiled with AVX2, as the extractor's
/// AVX2 entry point compiles it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn power_lanes_avx2(sp: &PowerSpectrum, level: Avx2, a: PowerArgs) {
    sp.power_lanes(level, a.0, a.1, a.2, a.3, a.4, a.5, a.6);
}

/// [`PowerSpectrum::power_lanes`] compiled with AVX-512, as the extractor's
/// AVX-512 entry point compiles it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
fn power_lanes_avx512(sp: &PowerSpectrum, level: Avx512, a: PowerArgs) {
    sp.power_lanes(level, a.0, a.1, a.2, a.3, a.4, a.5, a.6);
}

/// [`PowerSpectrum::power_lanes`] at `level`.
fn power_lanes_at(sp: &PowerSpectrum, level: Level, a: PowerArgs) {
    match level {
        Level::Portable(p) => sp.power_lanes(p, a.0, a.1, a.2, a.3, a.4, a.5, a.6),
        // SAFETY (both): `Level::new` made the level after checking the CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2(t) => unsafe { power_lanes_avx2(sp, t, a) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx512(t) => unsafe { power_lanes_avx512(sp, t, a) },
    }
}

/// The fused power spectra are realfft's spectra squared, bit for bit,
/// for even sizes (both parities of n_fft/2, every count of the
/// untangling's pairs and quads, with and without a pair after the
/// quads) and odd ones, in every lane, from every build this CPU runs.
#[test]
fn power_spectra_are_realfft_bit_for_bit() {
    use realfft::RealFftPlanner;
    let mut rnd = noise(0x2545_f491_4f6c_dd1d);
    let sizes = [
        2, 3, 4, 6, 10, 14, 18, 22, 26, 30, 34, 255, 256, 400, 402, 512, 513,
    ];
    for n_fft in sizes {
        let sp = PowerSpectrum::new(n_fft);
        let len = sp.fft.len();
        let bins = n_fft / 2 + 1;
        let reference = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        for lanes in [1, 3, LANES] {
            // Frames spanning 1e-6 to 1e3 in level, some with silent parts.
            let frames: Vec<Vec<f64>> = (0..lanes)
                .map(|l| {
                    let gain = 10f64.powi(3 * l as i32 - 6);
                    (0..n_fft)
                        .map(|i| if i % 7 == l { 0.0 } else { gain * rnd() })
                        .collect()
                })
                .collect();
            let mut zin = vec![Complex::new(0.0, 0.0); LANES * len];
            let mut zout = zin.clone();
            let mut scratch = vec![Complex::new(0.0, 0.0); sp.scratch_len()];
            for (l, f) in frames.iter().enumerate() {
                let lane = &mut zin[l * len..(l + 1) * len];
                if n_fft.is_multiple_of(2) {
                    bytemuck::cast_slice_mut::<_, f64>(lane).copy_from_slice(f);
                } else {
                    for (z, &x) in lane.iter_mut().zip(f) {
                        *z = Complex::new(x, 0.0);
                    }
                }
            }
            let variants = levels("power spectra vs realfft")
                .into_iter()
                .flat_map(|level| [(level, 2.0, 0), (level, 1.0, BLOCK - LANES)]);
            for (level, exponent, lane0) in variants {
                let mut power = vec![f64::NAN; bins * BLOCK];
                let mut zin = zin.clone();
                let args = (
                    lanes,
                    &mut zin[..],
                    &mut zout[..],
                    &mut scratch[..],
                    &mut power[..],
                    lane0,
                    exponent,
                );
                power_lanes_at(&sp, level, args);
                for (l, f) in frames.iter().enumerate() {
                    let mut input = f.clone();
                    let mut spec = reference.make_output_vec();
                    reference.process(&mut input, &mut spec).unwrap();
                    for (k, x) in spec.iter().enumerate() {
                        let mut want = x.re * x.re + x.im * x.im;
                        if exponent != 2.0 {
                            want = want.powf(exponent / 2.0);
                        }
                        let got = power[k * BLOCK + lane0 + l];
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "n_fft {n_fft}, lanes {lanes}, lane {l}, bin {k}, level {}: \
                             {got} vs {want}",
                            level.isa()
                        );
                    }
                }
            }
        }
    }
}
