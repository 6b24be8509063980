//! Stage 4 — **VAD**: WebRTC voice activity decisions per frame.
//!
//! In: one channel of 16-bit PCM samples at a rate the WebRTC VAD takes (8,
//! 16, 32 or 48 kHz), one frame of 10, 20 or 30 ms at a time, read in
//! place. Out: a [`FrameInfo`] per frame (voiced or not, and the frame's
//! mean square, which the chunker uses to find the quietest pause). No
//! allocation per frame.
//!
//! One [`FrameVad`] per channel per file: the WebRTC VAD adapts to the noise
//! floor, so its state must not leak from one file or channel to another
//! (and `webrtc_vad::Vad` is not `Send`, so it never crosses threads).
//!
//! Two engines give the same decisions frame for frame ([`VadEngine`]):
//! our Rust port of libfvad ([`callprep_fvad`], the default, about
//! twice as fast) and libfvad's C code itself through the `webrtc-vad`
//! crate, kept as the reference that the port is tested against.

use callprep_isa::Isa;
use clap::ValueEnum;
use webrtc_vad::{SampleRate, Vad, VadMode};

use callprep_fvad::Fvad;

/// The decision for one VAD frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameInfo {
    /// The WebRTC VAD called this frame speech.
    pub voiced: bool,
    /// Mean square of the frame's samples (full scale = 1.0).
    pub energy: f32,
}

/// Which implementation of the WebRTC VAD runs. Both give the same
/// decisions on every frame (tested); they differ only in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VadEngine {
    /// Our bit-exact Rust port of libfvad (crates/fvad), about 2x faster.
    #[default]
    Rust,
    /// libfvad's C code through the webrtc-vad crate (the reference).
    Libfvad,
}

/// VAD settings (validated by [`crate::config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VadConfig {
    /// Aggressiveness 0 (keeps most) to 3 (drops most non-speech).
    pub mode: u8,
    /// Frame length: 10, 20 or 30 ms.
    pub frame_ms: u32,
    /// Implementation (same decisions either way).
    pub engine: VadEngine,
    /// The instruction-set level the Rust engine and the frame energies
    /// run (same output at every level). Not in the report: it does not
    /// change a byte of the output.
    #[serde(skip)]
    pub isa: Isa,
}

/// Errors of the VAD stage.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VadError {
    #[error("--sample-rate {0}: the WebRTC VAD cannot run at {0} Hz; use 8000, 16000, 32000 or 48000 (the input is resampled to it)")]
    Rate(u32),
    #[error("--vad-frame-ms {0} is not supported; use 10, 20 or 30")]
    FrameMs(u32),
    #[error("--vad-mode {0} is not supported; use 0 (keeps the most audio) to 3 (drops the most non-speech)")]
    Mode(u8),
}

impl VadConfig {
    /// Checks the settings against what the WebRTC VAD accepts at `rate_hz`.
    pub fn validate(&self, rate_hz: u32) -> Result<(), VadError> {
        if self.mode > 3 {
            return Err(VadError::Mode(self.mode));
        }
        if ![10, 20, 30].contains(&self.frame_ms) {
            return Err(VadError::FrameMs(self.frame_ms));
        }
        if ![8000, 16000, 32000, 48000].contains(&rate_hz) {
            return Err(VadError::Rate(rate_hz));
        }
        Ok(())
    }

    /// Samples per VAD frame at `rate_hz`.
    pub fn frame_len(&self, rate_hz: u32) -> usize {
        (rate_hz as usize / 1000) * self.frame_ms as usize
    }
}

/// A WebRTC VAD bound to one channel of one file.
pub struct FrameVad {
    vad: Engine,
    frame_len: usize,
    /// The build of [`mean_square`] this VAD runs, chosen in [`Self::new`].
    level: Level,
}

/// Which build of [`mean_square`] runs, chosen once from
/// [`VadConfig::isa`] when a [`FrameVad`] is built.
///
/// Invariant: `Level::Avx2` is only made by [`Level::new`], after checking
/// that the CPU has AVX2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Plain Rust, the target's baseline.
    Portable,
    /// Compiled with AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Level {
    /// The best build at or below `isa` that this CPU runs.
    fn new(isa: Isa) -> Level {
        #[cfg(target_arch = "x86_64")]
        if isa >= Isa::Avx2 && Isa::Avx2.supported() {
            return Level::Avx2;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = isa;
        Level::Portable
    }
}

enum Engine {
    Rust(Box<Fvad>),
    Libfvad(Vad),
}

impl FrameVad {
    /// A fresh VAD for one channel at `rate_hz`.
    pub fn new(cfg: &VadConfig, rate_hz: u32) -> Result<Self, VadError> {
        cfg.validate(rate_hz)?;
        let vad = match cfg.engine {
            VadEngine::Rust => Engine::Rust(Box::new(
                Fvad::with_isa(rate_hz, cfg.mode, cfg.isa).ok_or(VadError::Rate(rate_hz))?,
            )),
            VadEngine::Libfvad => {
                let rate = match rate_hz {
                    8000 => SampleRate::Rate8kHz,
                    16000 => SampleRate::Rate16kHz,
                    32000 => SampleRate::Rate32kHz,
                    _ => SampleRate::Rate48kHz,
                };
                let mode = match cfg.mode {
                    0 => VadMode::Quality,
                    1 => VadMode::LowBitrate,
                    2 => VadMode::Aggressive,
                    _ => VadMode::VeryAggressive,
                };
                Engine::Libfvad(Vad::new_with_rate_and_mode(rate, mode))
            }
        };
        let frame_len = cfg.frame_len(rate_hz);
        Ok(FrameVad {
            vad,
            frame_len,
            level: Level::new(cfg.isa),
        })
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Classifies one frame of exactly [`Self::frame_len`] samples.
    pub fn classify(&mut self, frame: &[i16]) -> FrameInfo {
        let [info] = Self::classify_many([self], [frame]);
        info
    }

    /// Classifies one frame of each of `P` channels, each with its own
    /// detector: the same as `vads[p].classify(frames[p])` for every `p`,
    /// but with the Rust engine the channels' filterbanks run together
    /// ([`Fvad::process_many`]), faster than one after the other.
    pub fn classify_many<const P: usize>(
        vads: [&mut FrameVad; P],
        frames: [&[i16]; P],
    ) -> [FrameInfo; P] {
        let energy: [f32; P] = std::array::from_fn(|p| {
            debug_assert_eq!(frames[p].len(), vads[p].frame_len);
            mean_square(frames[p], vads[p].level)
        });
        let engines = vads.map(|v| match &mut v.vad {
            Engine::Rust(v) => Ok(&mut **v),
            Engine::Libfvad(v) => Err(v),
        });
        let mut voiced = [false; P];
        if engines.iter().all(Result::is_ok) {
            let mut it = engines.into_iter().flatten();
            let fvads = std::array::from_fn(|_| it.next().expect("all are Rust (checked above)"));
            voiced = Fvad::process_many(fvads, frames);
        } else {
            for (p, e) in engines.into_iter().enumerate() {
                // The frame length is one the VAD accepts (checked in
                // `new`), so it cannot return an error; treat one as "not
                // speech" all the same.
                voiced[p] = match e {
                    Ok(v) => v.process(frames[p]),
                    Err(v) => v.is_voice_segment(frames[p]).unwrap_or(false),
                };
            }
        }
        std::array::from_fn(|p| FrameInfo {
            voiced: voiced[p],
            energy: energy[p],
        })
    }
}

/// Mean square of a frame at full scale 1.0: `x = s / 32768` squared and
/// summed in `f32` (eight partial sums, so the loop vectorises), by the
/// build `level` (the same bits from each).
fn mean_square(frame: &[i16], level: Level) -> f32 {
    match level {
        Level::Portable => mean_square_portable(frame),
        // SAFETY: `Level::Avx2` exists only if the CPU has AVX2, which was
        // checked when the `FrameVad` was built (`Level::new`).
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { mean_square_avx2(frame) },
    }
}

/// [`mean_square`] compiled with AVX2: eight lanes per instruction, the
/// same operations per lane, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mean_square_avx2(frame: &[i16]) -> f32 {
    mean_square_portable(frame)
}

#[inline(always)]
fn mean_square_portable(frame: &[i16]) -> f32 {
    let square = |s: i16| {
        let x = f32::from(s) / 32768.0;
        x * x
    };
    let mut acc = [0.0f32; 8];
    let chunks = frame.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|&s| square(s)).sum();
    for c in chunks {
        for (a, &s) in acc.iter_mut().zip(c) {
            *a += square(s);
        }
    }
    (acc.iter().sum::<f32>() + rest) / frame.len().max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::decode::to_i16;

    #[test]
    fn config_validation_names_the_problem() {
        let ok = VadConfig {
            mode: 3,
            frame_ms: 30,
            engine: VadEngine::Rust,
            isa: Isa::best(),
        };
        assert!(ok.validate(8000).is_ok());
        assert_eq!(ok.validate(22050), Err(VadError::Rate(22050)));
        assert!(ok
            .validate(22050)
            .unwrap_err()
            .to_string()
            .contains("--sample-rate"));
        let bad = VadConfig {
            mode: 3,
            frame_ms: 25,
            engine: VadEngine::Rust,
            isa: Isa::best(),
        };
        assert_eq!(bad.validate(8000), Err(VadError::FrameMs(25)));
        assert_eq!(
            VadConfig {
                mode: 4,
                frame_ms: 10,
                engine: VadEngine::Rust,
                isa: Isa::best(),
            }
            .validate(8000),
            Err(VadError::Mode(4))
        );
    }

    #[test]
    fn frame_lengths_over_rates_and_sizes() {
        for rate in [8000u32, 16000, 32000, 48000] {
            for ms in [10u32, 20, 30] {
                let cfg = VadConfig {
                    mode: 2,
                    frame_ms: ms,
                    engine: VadEngine::Rust,
                    isa: Isa::best(),
                };
                let mut vad = FrameVad::new(&cfg, rate).unwrap();
                assert_eq!(vad.frame_len(), (rate * ms / 1000) as usize);
                // Silence is never speech, at any rate and frame size.
                let silence = vec![0i16; vad.frame_len()];
                for _ in 0..20 {
                    assert!(!vad.classify(&silence).voiced);
                }
            }
        }
    }

    #[test]
    fn voiced_harmonic_signal_is_speech_and_energy_is_mean_square() {
        let cfg = VadConfig {
            mode: 3,
            frame_ms: 30,
            engine: VadEngine::Rust,
            isa: Isa::best(),
        };
        let mut vad = FrameVad::new(&cfg, 8000).unwrap();
        let n = vad.frame_len();
        // A vowel-like signal: 150 Hz fundamental with harmonics, AM-modulated.
        let mut voiced = 0;
        for f in 0..50 {
            let frame: Vec<i16> = (0..n)
                .map(|i| {
                    let t = (f * n + i) as f32 / 8000.0;
                    let x = (1..8)
                        .map(|h| {
                            (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32
                        })
                        .sum::<f32>()
                        * 0.2;
                    to_i16(x)
                })
                .collect();
            let info = vad.classify(&frame);
            let ms = frame
                .iter()
                .map(|&s| (f64::from(s) / 32768.0).powi(2))
                .sum::<f64>()
                / n as f64;
            assert!((f64::from(info.energy) - ms).abs() < 1e-6 * ms.max(1e-3));
            voiced += usize::from(info.voiced);
        }
        assert!(voiced > 40, "only {voiced}/50 frames voiced");
    }

    #[test]
    fn channels_classified_together_match_one_at_a_time() {
        // Two different channels (a chirp with bursts, and noise that comes
        // and goes), every engine pairing: the same infos as separate calls.
        let rate = 8000;
        let n = 60 * 240;
        let a: Vec<i16> = (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let on = (i / 4000) % 2 == 0;
                to_i16(
                    f32::from(u8::from(on))
                        * 0.3
                        * (2.0 * std::f32::consts::PI * (200.0 + 300.0 * t) * t).sin(),
                )
            })
            .collect();
        let mut x = 12345u32;
        let b: Vec<i16> = (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let amp = if (i / 2400) % 3 == 0 { 0.4 } else { 0.001 };
                to_i16(amp * ((x >> 16) as f32 / 32768.0 - 1.0))
            })
            .collect();
        for engines in [
            [VadEngine::Rust, VadEngine::Rust],
            [VadEngine::Rust, VadEngine::Libfvad],
            [VadEngine::Libfvad, VadEngine::Libfvad],
        ] {
            for ms in [10u32, 20, 30] {
                let cfg = |engine| VadConfig {
                    mode: 3,
                    frame_ms: ms,
                    engine,
                    isa: Isa::best(),
                };
                let new = |e| FrameVad::new(&cfg(e), rate).unwrap();
                let (mut ta, mut tb) = (new(engines[0]), new(engines[1]));
                let (mut sa, mut sb) = (new(engines[0]), new(engines[1]));
                let len = ta.frame_len();
                let mut voiced = 0;
                for (fa, fb) in a.chunks_exact(len).zip(b.chunks_exact(len)) {
                    let got = FrameVad::classify_many([&mut ta, &mut tb], [fa, fb]);
                    assert_eq!(
                        got,
                        [sa.classify(fa), sb.classify(fb)],
                        "{engines:?} {ms} ms"
                    );
                    voiced += usize::from(got[0].voiced) + usize::from(got[1].voiced);
                }
                assert!(voiced > 10, "{engines:?} {ms} ms: {voiced} voiced");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_portable_mean_squares_agree_bit_for_bit() {
        if !Isa::Avx2.supported() {
            assert_ne!(
                callprep_isa::cpuinfo_supports(Isa::Avx2),
                Some(true),
                "AVX2 is not detected, but /proc/cpuinfo lists it"
            );
            eprintln!("skipped at avx2: this CPU lacks it");
            return;
        }
        assert_eq!(Level::new(Isa::Avx2), Level::Avx2);
        let mut x = 7u32;
        for round in 0..2000 {
            let shift = [0, 4, 10, 15][round % 4];
            // 240 samples (30 ms at 8 kHz) and lengths with a remainder.
            let n = [240, 80, 163, 7][round % 4];
            let frame: Vec<i16> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    ((x >> 16) as u16 as i16) >> shift
                })
                .collect();
            // SAFETY: the CPU has AVX2, checked above.
            let ea = unsafe { mean_square_avx2(&frame) };
            let eb = mean_square_portable(&frame);
            assert_eq!(ea.to_bits(), eb.to_bits(), "round {round}");
        }
    }

    #[test]
    fn mean_square_is_that_of_the_decoded_samples() {
        // The f32 sums the pipeline always did (eight partial sums of
        // `(s / 32768)²`), so the chunker's pause choices keep their bits.
        let frame: Vec<i16> = (0..243).map(|i| (i * 977 % 65536 - 32768) as i16).collect();
        let x: Vec<f32> = frame.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let mut acc = [0.0f32; 8];
        for c in x.chunks_exact(8) {
            for (a, v) in acc.iter_mut().zip(c) {
                *a += v * v;
            }
        }
        let rest: f32 = x.chunks_exact(8).remainder().iter().map(|v| v * v).sum();
        let want = (acc.iter().sum::<f32>() + rest) / 243.0;
        for isa in Isa::available() {
            let level = Level::new(isa);
            assert_eq!(mean_square(&frame, level).to_bits(), want.to_bits());
            assert_eq!(mean_square(&[i16::MIN; 16], level), 1.0);
        }
    }
}
