//! Keypad tones typed into a fixture call (the DTMF gate's test input).

use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/calls")
        .join(name)
}

/// The digits typed in the test call (never to appear in any output).
pub const PIN: &str = "739";
pub const CARD: &str = "4405638291750264";

const ROW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COL: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Adds keypad tones for `digits` (70 ms on, 70 ms off, −12 dBFS each
/// tone) to `x` from `start_s`; returns each tone's (start, end) seconds.
pub fn type_digits(x: &mut [i16], rate: f64, start_s: f64, digits: &str) -> Vec<(f64, f64)> {
    let keys = "123A456B789C*0#D";
    let mut spans = Vec::new();
    let mut t0 = start_s;
    for ch in digits.chars() {
        let k = keys.find(ch).unwrap();
        let (fr, fc) = (ROW[k / 4], COL[k % 4]);
        let a = 32767.0 * 10f64.powf(-12.0 / 20.0);
        let (s, e) = ((t0 * rate) as usize, ((t0 + 0.07) * rate) as usize);
        for (i, v) in x[s..e].iter_mut().enumerate() {
            let t = i as f64 / rate;
            let tone = a
                * ((2.0 * std::f64::consts::PI * fr * t).sin()
                    + (2.0 * std::f64::consts::PI * fc * t).sin());
            *v = (f64::from(*v) + tone).round().clamp(-32768.0, 32767.0) as i16;
        }
        spans.push((t0, t0 + 0.07));
        t0 += 0.14;
    }
    spans
}

/// call01 with a PIN typed in a pause inside the customer's first answer
/// and a card number typed while the agent talks; returns (left, right)
/// channels and the tones' spans.
pub fn call_with_tones() -> (Vec<i16>, Vec<i16>, Vec<(f64, f64)>) {
    let mut r = hound::WavReader::open(fixture("call01.wav")).unwrap();
    let all: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = all.iter().step_by(2).copied().collect();
    let mut right: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let mut tones = type_digits(&mut right, 8000.0, 4.78, PIN);
    tones.extend(type_digits(&mut right, 8000.0, 12.0, CARD));
    (left, right, tones)
}

pub fn write_pcm16(path: &Path, left: &[i16], right: &[i16]) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for (a, b) in left.iter().zip(right) {
        w.write_sample(*a).unwrap();
        w.write_sample(*b).unwrap();
    }
    w.finalize().unwrap();
}
