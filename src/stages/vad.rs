//! Stage 4 — **VAD**: WebRTC voice activity decisions per frame.
//!
//! In: one channel of `f32` samples at a rate the WebRTC VAD takes (8, 16, 32
//! or 48 kHz), one frame of 10, 20 or 30 ms at a time. Out: a [`FrameInfo`]
//! per frame (voiced or not, and the frame's mean square, which the chunker
//! uses to find the quietest pause). No allocation per frame.
//!
//! One [`FrameVad`] per channel per file: the WebRTC VAD adapts to the noise
//! floor, so its state must not leak from one file or channel to another
//! (and `webrtc_vad::Vad` is not `Send`, so it never crosses threads).
//!
//! Two engines give the same decisions frame for frame ([`VadEngine`]):
//! our Rust port of libfvad ([`crate::stages::fvad`], the default, about
//! twice as fast) and libfvad's C code itself through the `webrtc-vad`
//! crate, kept as the reference that the port is tested against.

use clap::ValueEnum;
use webrtc_vad::{SampleRate, Vad, VadMode};

use crate::stages::fvad::Fvad;

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
    /// Our bit-exact Rust port of libfvad ([`crate::stages::fvad`]).
    #[default]
    Rust,
    /// libfvad's C code through the `webrtc-vad` crate (the reference).
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
}

/// Errors of the VAD stage.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VadError {
    #[error("the WebRTC VAD cannot run at {0} Hz (it takes 8000, 16000, 32000 or 48000); set --sample-rate to one of those and the input is resampled")]
    Rate(u32),
    #[error("VAD frame length {0} ms is not supported; use 10, 20 or 30")]
    FrameMs(u32),
    #[error("VAD mode {0} is not supported; use 0, 1, 2 or 3")]
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
    pcm: Vec<i16>,
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
                Fvad::new(rate_hz, cfg.mode).ok_or(VadError::Rate(rate_hz))?,
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
            pcm: vec![0; frame_len],
        })
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Classifies one frame of exactly [`Self::frame_len`] samples.
    pub fn classify(&mut self, frame: &[f32]) -> FrameInfo {
        let [info] = Self::classify_many([self], [frame]);
        info
    }

    /// Classifies one frame of each of `P` channels, each with its own
    /// detector: the same as `vads[p].classify(frames[p])` for every `p`,
    /// but with the Rust engine the channels' filterbanks run together
    /// ([`Fvad::process_many`]), faster than one after the other.
    pub fn classify_many<const P: usize>(
        mut vads: [&mut FrameVad; P],
        frames: [&[f32]; P],
    ) -> [FrameInfo; P] {
        let energy: [f32; P] = std::array::from_fn(|p| vads[p].load(frames[p]));
        let parts = vads.each_mut().map(|v| {
            let v = &mut **v;
            (&mut v.vad, &v.pcm[..])
        });
        let pcms = parts.each_ref().map(|(_, pcm)| *pcm);
        let engines = parts.map(|(e, _)| match e {
            Engine::Rust(v) => Ok(&mut **v),
            Engine::Libfvad(v) => Err(v),
        });
        let mut voiced = [false; P];
        if engines.iter().all(Result::is_ok) {
            let mut it = engines.into_iter().flatten();
            let fvads = std::array::from_fn(|_| it.next().expect("all are Rust (checked above)"));
            voiced = Fvad::process_many(fvads, pcms);
        } else {
            for (p, e) in engines.into_iter().enumerate() {
                // The frame length is one the VAD accepts (checked in
                // `new`), so it cannot return an error; treat one as "not
                // speech" all the same.
                voiced[p] = match e {
                    Ok(v) => v.process(pcms[p]),
                    Err(v) => v.is_voice_segment(pcms[p]).unwrap_or(false),
                };
            }
        }
        std::array::from_fn(|p| FrameInfo {
            voiced: voiced[p],
            energy: energy[p],
        })
    }

    /// Converts `frame` to 16-bit PCM for the detector; returns its mean
    /// square.
    fn load(&mut self, frame: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked on the line above.
            return unsafe { self.load_avx2(frame) };
        }
        self.load_portable(frame)
    }

    /// [`Self::load`] compiled with AVX2: eight lanes per instruction, the
    /// same operations per lane, so the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn load_avx2(&mut self, frame: &[f32]) -> f32 {
        self.load_portable(frame)
    }

    #[inline(always)]
    fn load_portable(&mut self, frame: &[f32]) -> f32 {
        debug_assert_eq!(frame.len(), self.frame_len);
        for (dst, &x) in self.pcm.iter_mut().zip(frame) {
            *dst = to_i16(x);
        }
        // Eight partial sums so the loop vectorises (frames are multiples of 8).
        let mut acc = [0.0f32; 8];
        for c in frame.chunks_exact(8) {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a += x * x;
            }
        }
        let sum: f32 = acc.iter().sum::<f32>()
            + frame
                .chunks_exact(8)
                .remainder()
                .iter()
                .map(|x| x * x)
                .sum::<f32>();
        sum / self.frame_len as f32
    }
}

/// `f32` in `[-1, 1]` → 16-bit PCM, rounding to nearest (ties to even, as
/// numpy's `rint` and the CPU's own conversion do) and saturating. It is the
/// exact inverse of the decoder's `i16 / 32768`; NaN becomes 0.
///
/// Written as bit arithmetic so the loops around it vectorise on baseline
/// x86-64: `f32::round` is a libm call there, and `as i32` saturates lane by
/// lane. Adding 1.5·2²³ to a value in ±2²² leaves it rounded to an integer
/// in the low mantissa bits.
#[inline(always)]
pub fn to_i16(x: f32) -> i16 {
    const MAGIC: f32 = 12_582_912.0;
    let v = (x * 32768.0).clamp(-32768.0, 32767.0);
    ((v + MAGIC).to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_problem() {
        let ok = VadConfig {
            mode: 3,
            frame_ms: 30,
            engine: VadEngine::Rust,
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
        };
        assert_eq!(bad.validate(8000), Err(VadError::FrameMs(25)));
        assert_eq!(
            VadConfig {
                mode: 4,
                frame_ms: 10,
                engine: VadEngine::Rust,
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
                };
                let mut vad = FrameVad::new(&cfg, rate).unwrap();
                assert_eq!(vad.frame_len(), (rate * ms / 1000) as usize);
                // Silence is never speech, at any rate and frame size.
                let silence = vec![0.0f32; vad.frame_len()];
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
        };
        let mut vad = FrameVad::new(&cfg, 8000).unwrap();
        let n = vad.frame_len();
        // A vowel-like signal: 150 Hz fundamental with harmonics, AM-modulated.
        let mut voiced = 0;
        for f in 0..50 {
            let frame: Vec<f32> = (0..n)
                .map(|i| {
                    let t = (f * n + i) as f32 / 8000.0;
                    (1..8)
                        .map(|h| {
                            (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32
                        })
                        .sum::<f32>()
                        * 0.2
                })
                .collect();
            let info = vad.classify(&frame);
            let ms = frame.iter().map(|x| x * x).sum::<f32>() / n as f32;
            assert!((info.energy - ms).abs() < 1e-6);
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
        let a: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let on = (i / 4000) % 2 == 0;
                f32::from(u8::from(on))
                    * 0.3
                    * (2.0 * std::f32::consts::PI * (200.0 + 300.0 * t) * t).sin()
            })
            .collect();
        let mut x = 12345u32;
        let b: Vec<f32> = (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let amp = if (i / 2400) % 3 == 0 { 0.4 } else { 0.001 };
                amp * ((x >> 16) as f32 / 32768.0 - 1.0)
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
    fn avx2_and_portable_loads_agree_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let cfg = VadConfig {
            mode: 3,
            frame_ms: 30,
            engine: VadEngine::Rust,
        };
        let (mut a, mut b) = (
            FrameVad::new(&cfg, 8000).unwrap(),
            FrameVad::new(&cfg, 8000).unwrap(),
        );
        let mut x = 7u32;
        for round in 0..2000 {
            let amp = [1.5f32, 1.0, 0.01, 1e-6][round % 4];
            let frame: Vec<f32> = (0..240)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    amp * ((x >> 8) as f32 / 8_388_608.0 - 1.0)
                })
                .collect();
            // SAFETY: AVX2 is there, checked above.
            let ea = unsafe { a.load_avx2(&frame) };
            let eb = b.load_portable(&frame);
            assert_eq!(
                (ea.to_bits(), &a.pcm),
                (eb.to_bits(), &b.pcm),
                "round {round}"
            );
        }
    }

    #[test]
    fn to_i16_inverts_decoder_scaling() {
        for v in [i16::MIN, -1000, -1, 0, 1, 1234, i16::MAX] {
            assert_eq!(to_i16(f32::from(v) / 32768.0), v);
        }
        assert_eq!(to_i16(2.0), i16::MAX);
        assert_eq!(to_i16(-2.0), i16::MIN);
        assert_eq!(to_i16(f32::NAN), 0);
        assert_eq!(to_i16(f32::INFINITY), i16::MAX);
        assert_eq!(to_i16(f32::NEG_INFINITY), i16::MIN);
    }

    #[test]
    fn to_i16_rounds_like_round_ties_even() {
        for (x, want) in [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (-2.5, -2),
        ] {
            assert_eq!(to_i16(x / 32768.0), want, "{x}");
        }
        // Every f32 step across a few ranges, incl. the saturation edges.
        for start in [-32770.0f32, -3.0, 1000.25, 32765.0] {
            let mut v = start;
            for _ in 0..200_000 {
                let want = v.round_ties_even().clamp(-32768.0, 32767.0) as i16;
                assert_eq!(to_i16(v / 32768.0), want, "{v}");
                v = f32::from_bits(v.to_bits() + if v >= 0.0 { 1 } else { u32::MAX });
            }
        }
    }
}
