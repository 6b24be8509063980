//! Tests of the DTMF detector: all 16 digits at the acceptance and
//! rejection limits (frequency, duration, twist, level), in noise, under
//! μ-law, at 8 and 16 kHz, fed in odd pieces; single tones and speech-like
//! signals (talk-off) never detected; fixture speech in `tests/` of the crate.

use super::*;
use crate::stages::decode::mulaw_to_i16;

const ROW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COL: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// A small deterministic generator (xorshift) for noise and jitter.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Approximately normal (sum of 4 uniforms), unit variance.
    fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * 3.0f64.sqrt()
    }
}

/// Amplitude of a sine at `dbfs` (0 dBFS = full scale).
fn amp(dbfs: f64) -> f64 {
    32767.0 * 10f64.powf(dbfs / 20.0)
}

/// One keypad tone pair: digit `d` (row × 4 + column), frequencies scaled
/// by `1 + row_off` / `1 + col_off`, row at `row_dbfs`, column at `col_dbfs`.
struct Tone {
    digit: usize,
    row_off: f64,
    col_off: f64,
    row_dbfs: f64,
    col_dbfs: f64,
    ms: f64,
}

impl Tone {
    fn new(digit: usize, ms: f64) -> Tone {
        Tone {
            digit,
            row_off: 0.0,
            col_off: 0.0,
            row_dbfs: -10.0,
            col_dbfs: -10.0,
            ms,
        }
    }

    /// Adds the tone into `buf` from sample `at`; returns its sample range.
    fn add(&self, buf: &mut [f64], at: usize, rate: f64, phase: f64) -> Range<usize> {
        let n = (self.ms / 1000.0 * rate).round() as usize;
        let fr = ROW[self.digit / 4] * (1.0 + self.row_off);
        let fc = COL[self.digit % 4] * (1.0 + self.col_off);
        let (ar, ac) = (amp(self.row_dbfs), amp(self.col_dbfs));
        for i in 0..n {
            let t = i as f64 / rate;
            buf[at + i] += ar * (2.0 * std::f64::consts::PI * fr * t + phase).sin()
                + ac * (2.0 * std::f64::consts::PI * fc * t + 0.7 * phase).sin();
        }
        at..at + n
    }
}

fn to_pcm(buf: &[f64]) -> Vec<i16> {
    buf.iter()
        .map(|&x| x.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// White noise at `dbfs` RMS (relative to a full-scale sine's RMS).
fn add_noise(buf: &mut [f64], dbfs: f64, rng: &mut Rng) {
    let sigma = amp(dbfs) / 2f64.sqrt();
    for x in buf.iter_mut() {
        *x += sigma * rng.normal();
    }
}

/// Linear PCM → G.711 μ-law → linear PCM (the decoder's μ-law path): the
/// nearest μ-law code of each sample.
fn mulaw_round_trip(x: &[i16]) -> Vec<i16> {
    let mut table: Vec<i16> = (0..=255u8).map(mulaw_to_i16).collect();
    table.sort_unstable();
    table.dedup();
    x.iter()
        .map(|&v| {
            let i = table.partition_point(|&t| t < v);
            let lo = table[i.saturating_sub(1)];
            let hi = table[i.min(table.len() - 1)];
            if (i32::from(v) - i32::from(lo)).abs() <= (i32::from(hi) - i32::from(v)).abs() {
                lo
            } else {
                hi
            }
        })
        .collect()
}

/// Runs a detector over `x` in pieces of varying size; returns its spans.
fn detect(x: &[i16], rate: u32) -> Vec<Range<usize>> {
    let mut d = DtmfDetector::new(rate);
    let mut rest = x;
    let mut step = 1;
    while !rest.is_empty() {
        let k = step.min(rest.len());
        d.push(&rest[..k]);
        rest = &rest[k..];
        step = step * 3 % 997 + 1;
    }
    d.finish();
    d.spans().to_vec()
}

/// A signal: silence (or noise), the tone at 0.2 s, then silence.
fn one_tone(
    tone: &Tone,
    rate: u32,
    noise_dbfs: Option<f64>,
    seed: u64,
) -> (Vec<i16>, Range<usize>) {
    let r = f64::from(rate);
    let mut buf = vec![0.0; (r * 0.6) as usize + (tone.ms / 1000.0 * r) as usize];
    let mut rng = Rng(seed | 1);
    if let Some(db) = noise_dbfs {
        add_noise(&mut buf, db, &mut rng);
    }
    let at = (0.2 * r) as usize + (rng.next() % 97) as usize;
    let span = tone.add(&mut buf, at, r, rng.uniform() * 6.0);
    (to_pcm(&buf), span)
}

/// The detector found exactly one span and it covers the tone.
fn assert_detected(x: &[i16], rate: u32, tone: &Range<usize>, what: &str) {
    let spans = detect(x, rate);
    assert_eq!(spans.len(), 1, "{what}: spans {spans:?} for tone {tone:?}");
    let s = &spans[0];
    assert!(
        s.start <= tone.start && s.end >= tone.end,
        "{what}: span {s:?} does not cover the tone {tone:?}"
    );
    let slack = 2 * DtmfDetector::new(rate).block_len();
    assert!(
        tone.start - s.start <= slack && s.end - tone.end <= slack,
        "{what}: span {s:?} reaches too far past the tone {tone:?}"
    );
}

fn assert_none(x: &[i16], rate: u32, what: &str) {
    let spans = detect(x, rate);
    assert!(spans.is_empty(), "{what}: false detection at {spans:?}");
}

#[test]
fn every_digit_at_nominal_frequency_is_detected_at_8_and_16_khz() {
    for rate in [8000, 16000, 11025] {
        for d in 0..16 {
            let (x, span) = one_tone(&Tone::new(d, 50.0), rate, None, d as u64 + 7);
            assert_detected(&x, rate, &span, &format!("digit {d} at {rate} Hz"));
        }
    }
}

#[test]
fn frequency_off_by_1_5_percent_is_accepted_and_3_5_percent_rejected() {
    for d in 0..16 {
        for sign in [-1.0, 1.0] {
            for (row_off, col_off) in [(0.015, 0.0), (0.0, 0.015), (0.015, 0.015), (0.015, -0.015)]
            {
                let mut t = Tone::new(d, 45.0);
                t.row_off = sign * row_off;
                t.col_off = sign * col_off;
                let (x, span) = one_tone(&t, 8000, Some(-50.0), d as u64 * 31 + 1);
                assert_detected(
                    &x,
                    8000,
                    &span,
                    &format!("digit {d} off {row_off}/{col_off} × {sign}"),
                );
            }
            for (row_off, col_off) in [(0.035, 0.0), (0.0, 0.035), (0.05, 0.05)] {
                let mut t = Tone::new(d, 120.0);
                t.row_off = sign * row_off;
                t.col_off = sign * col_off;
                let (x, _) = one_tone(&t, 8000, Some(-50.0), d as u64 * 17 + 3);
                assert_none(
                    &x,
                    8000,
                    &format!("digit {d} off {row_off}/{col_off} × {sign}"),
                );
            }
        }
    }
}

#[test]
fn tones_of_40_ms_are_accepted_and_shorter_than_23_ms_rejected() {
    for rate in [8000, 16000] {
        for d in 0..16 {
            for seed in 0..6 {
                let (x, span) =
                    one_tone(&Tone::new(d, 40.0), rate, Some(-55.0), seed * 16 + d as u64);
                assert_detected(
                    &x,
                    rate,
                    &span,
                    &format!("40 ms digit {d} seed {seed} at {rate}"),
                );
                let (x, _) = one_tone(&Tone::new(d, 22.9), rate, Some(-55.0), seed * 16 + d as u64);
                assert_none(
                    &x,
                    rate,
                    &format!("22.9 ms digit {d} seed {seed} at {rate}"),
                );
            }
        }
    }
}

#[test]
fn twist_limits_and_levels_down_to_minus_30_dbfs_are_accepted() {
    for d in 0..16 {
        // Reverse twist (row louder) 8 dB, normal twist (column louder) 4 dB,
        // the quieter tone at −30 dBFS, in line noise at −55 dBFS.
        for (row_dbfs, col_dbfs) in [(-22.0, -30.0), (-30.0, -26.0), (-30.0, -30.0), (-3.0, -7.0)] {
            let mut t = Tone::new(d, 40.0);
            t.row_dbfs = row_dbfs;
            t.col_dbfs = col_dbfs;
            let (x, span) = one_tone(&t, 8000, Some(-55.0), d as u64 + 100);
            assert_detected(
                &x,
                8000,
                &span,
                &format!("digit {d} at {row_dbfs}/{col_dbfs} dBFS"),
            );
        }
        // Far beyond the twist limits: one tone dominates.
        for (row_dbfs, col_dbfs) in [(-10.0, -30.0), (-30.0, -16.0)] {
            let mut t = Tone::new(d, 100.0);
            t.row_dbfs = row_dbfs;
            t.col_dbfs = col_dbfs;
            let (x, _) = one_tone(&t, 8000, None, d as u64 + 200);
            assert_none(
                &x,
                8000,
                &format!("digit {d} at {row_dbfs}/{col_dbfs} dBFS"),
            );
        }
    }
}

#[test]
fn noisy_and_mu_law_tones_are_detected() {
    for d in 0..16 {
        for noise in [-60.0, -50.0, -45.0] {
            let mut t = Tone::new(d, 40.0);
            t.row_dbfs = -26.0;
            t.col_dbfs = -28.0;
            let (x, span) = one_tone(&t, 8000, Some(noise), d as u64 * 5 + 9);
            assert_detected(&x, 8000, &span, &format!("digit {d} in noise {noise}"));
            let mu = mulaw_round_trip(&x);
            assert_detected(
                &mu,
                8000,
                &span,
                &format!("μ-law digit {d} in noise {noise}"),
            );
        }
    }
}

/// Card/PIN sequences: digits 40–120 ms on, 40–100 ms apart, random
/// twist and level within the limits; one merged span covers them.
#[test]
fn typed_sequences_are_one_span_covering_every_digit() {
    let mut rng = Rng(0x5eed);
    for seq in 0..20 {
        let rate = 8000.0;
        let mut buf = vec![0.0; 8000 * 4];
        add_noise(&mut buf, -50.0, &mut rng);
        let mut at = 4000;
        let mut tones = Vec::new();
        for _ in 0..(4 + seq % 13) {
            let mut t = Tone::new((rng.next() % 16) as usize, 40.0 + rng.uniform() * 80.0);
            let level = -30.0 + rng.uniform() * 20.0;
            let twist = -8.0 + rng.uniform() * 12.0; // col − row, dB
            t.row_dbfs = level - twist.min(0.0);
            t.col_dbfs = level + twist.max(0.0);
            t.row_off = (rng.uniform() - 0.5) * 0.03;
            t.col_off = (rng.uniform() - 0.5) * 0.03;
            tones.push(t.add(&mut buf, at, rate, rng.uniform() * 6.0));
            at = tones.last().unwrap().end + (320.0 + rng.uniform() * 480.0) as usize;
        }
        let x = to_pcm(&buf);
        let spans = detect(&x, 8000);
        for t in &tones {
            assert!(
                spans.iter().any(|s| s.start <= t.start && s.end >= t.end),
                "sequence {seq}: tone {t:?} not covered by {spans:?}"
            );
        }
    }
}

#[test]
fn single_tones_dial_busy_and_ringback_are_rejected() {
    let rate = 8000.0;
    let n = 8000 * 3;
    let sines = |parts: &[(f64, f64)], cadence: Option<(f64, f64)>| {
        let mut buf = vec![0.0; n];
        for (i, x) in buf.iter_mut().enumerate() {
            let t = i as f64 / rate;
            if let Some((on, off)) = cadence {
                if t % (on + off) >= on {
                    continue;
                }
            }
            *x = parts
                .iter()
                .map(|&(f, db)| amp(db) * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
        }
        to_pcm(&buf)
    };
    // Dial tone 425 Hz (CIS/EU), busy 425 Hz 0.35/0.35 s, ringback 425 Hz
    // 1/4 s, North American dial 350+440, ringback 440+480, busy 480+620.
    let cases: Vec<(&str, Vec<i16>)> = vec![
        ("dial 425", sines(&[(425.0, -10.0)], None)),
        ("busy 425", sines(&[(425.0, -10.0)], Some((0.35, 0.35)))),
        ("ringback 425", sines(&[(425.0, -10.0)], Some((1.0, 4.0)))),
        (
            "dial 350+440",
            sines(&[(350.0, -13.0), (440.0, -13.0)], None),
        ),
        (
            "ringback 440+480",
            sines(&[(440.0, -16.0), (480.0, -16.0)], None),
        ),
        (
            "busy 480+620",
            sines(&[(480.0, -20.0), (620.0, -20.0)], Some((0.5, 0.5))),
        ),
    ];
    for (what, x) in &cases {
        assert_none(x, 8000, what);
    }
    // Every DTMF frequency alone.
    for f in ROW.iter().chain(&COL) {
        let x = sines(&[(*f, -10.0)], None);
        assert_none(&x, 8000, &format!("single {f} Hz"));
    }
}

/// A speech-like signal: a glottal pulse train (f0 gliding 80–320 Hz) with
/// every harmonic up to 3.4 kHz, its vowel formants moving, in noise. The
/// harmonics cross every DTMF row and column frequency.
#[test]
fn harmonic_speech_like_signals_are_never_detected() {
    let rate = 8000.0;
    let mut rng = Rng(42);
    for voice in 0..12 {
        let secs = 6.0;
        let n = (rate * secs) as usize;
        let mut buf = vec![0.0; n];
        let (f_lo, f_hi) = (80.0 + 20.0 * voice as f64, 140.0 + 15.0 * voice as f64);
        let mut phase = 0.0f64;
        for (i, x) in buf.iter_mut().enumerate() {
            let t = i as f64 / rate;
            let f0 = f_lo + (f_hi - f_lo) * (0.5 + 0.5 * (t * 0.7 + voice as f64).sin());
            phase += 2.0 * std::f64::consts::PI * f0 / rate;
            // Formants glide through the DTMF band.
            let f1 = 500.0 + 400.0 * (t * 1.3 + voice as f64).sin().abs();
            let f2 = 1100.0 + 800.0 * (t * 0.9 + 2.0 * voice as f64).sin().abs();
            let mut v = 0.0;
            let mut h = 1.0;
            while h * f0 < 3400.0 {
                let fh = h * f0;
                let g = 1.0 / (1.0 + ((fh - f1) / 150.0).powi(2))
                    + 0.7 / (1.0 + ((fh - f2) / 200.0).powi(2))
                    + 0.05;
                v += g * (h * phase).sin();
                h += 1.0;
            }
            *x = v;
        }
        let peak = buf.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
        for x in buf.iter_mut() {
            *x *= amp(-6.0) / peak;
        }
        add_noise(&mut buf, -45.0, &mut rng);
        let x = to_pcm(&buf);
        assert_none(&x, 8000, &format!("voice {voice}"));
        assert_none(&mulaw_round_trip(&x), 8000, &format!("μ-law voice {voice}"));
    }
}

#[test]
fn a_tone_under_the_other_channels_speech_level_noise_is_detected() {
    // Crosstalk from the other channel: speech-like energy 20 dB under the tone.
    let rate = 8000.0;
    let mut buf = vec![0.0; 8000];
    let mut phase = 0.0f64;
    for (i, x) in buf.iter_mut().enumerate() {
        let f0 = 120.0 + 30.0 * (i as f64 / rate * 3.0).sin();
        phase += 2.0 * std::f64::consts::PI * f0 / rate;
        *x = (1..20)
            .map(|h| (h as f64 * phase).sin() / h as f64)
            .sum::<f64>()
            * amp(-35.0);
    }
    let mut t = Tone::new(11, 40.0);
    t.row_dbfs = -15.0;
    t.col_dbfs = -15.0;
    let span = t.add(&mut buf, 3001, rate, 0.3);
    assert_detected(&to_pcm(&buf), 8000, &span, "tone over crosstalk");
}

#[test]
fn known_until_trails_the_analysed_audio_by_three_blocks() {
    let mut d = DtmfDetector::new(8000);
    assert_eq!(d.block_len(), 102);
    d.push(&[0; 1000]);
    assert_eq!(d.pos(), 918);
    assert_eq!(d.known_until(), 918 - 306);
    d.finish();
    assert_eq!(d.known_until(), usize::MAX);
    assert!(!d.overlaps(0..1000));
}
