// //! Test signals, deterministic: the fixture calls (every channel, upsampled
//! for the higher rates) followed by adversarial audio, just over ten
//! minutes per rate ([`signal`]), built once per rate and shared by the
//! tests. In: a rate in Hz; out: 16-bit samples.

use std::path::Path;
use std::sync::OnceLock;

use crate::VALID_RATES_KHZ;

/// xorshift64: deterministic, no crate.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in `[-amp, amp]`.
    pub(super) fn uniform(&mut self, amp: i32) -> i32 {
        (self.below(2 * amp as u64 + 1) as i64 - amp as i64) as i32
    }
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(super) fn sat(x: f64) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

/// Every channel of the fixture calls (the workspace's
/// `fixtures/calls`) at `rate_hz`, as 16-bit PCM, files in name order.
fn fixture_channels(rate_hz: u32) -> Vec<Vec<i16>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/calls");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let bytes = std::fs::read(&path).unwrap();
        let wav = wav::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if wav.sample_rate_hz == rate_hz {
            out.extend(wav.channels());
        }
    }
    out
}

/// Just enough of a WAV reader for the fixture calls (PCM16 and G.711
/// mu-law; the main crate's decoder gives the same samples), so that
/// this crate's tests need not depend on the main crate.
mod wav {
    pub struct Wav<'a> {
        pub sample_rate_hz: u32,
        channels: usize,
        mulaw: bool,
        data: &'a [u8],
    }

    fn le16(b: &[u8]) -> u16 {
        u16::from_le_bytes([b[0], b[1]])
    }

    fn le32(b: &[u8]) -> u32 {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn parse(bytes: &[u8]) -> Result<Wav<'_>, String> {
        if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err("not a RIFF/WAVE file".into());
        }
        let (mut pos, mut fmt, mut data) = (12, None, None);
        while pos + 8 <= bytes.len() {
            let (id, len) = (&bytes[pos..pos + 4], le32(&bytes[pos + 4..]) as usize);
            let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
            match id {
                b"fmt " => fmt = Some(body),
                b"data" => data = Some(body),
                _ => {}
            }
            pos += 8 + len + len % 2;
        }
        let (fmt, data) = (fmt.ok_or("no fmt chunk")?, data.ok_or("no data chunk")?);
        let (tag, channels, bits) = (le16(fmt), le16(&fmt[2..]) as usize, le16(&fmt[14..]));
        let mulaw = match (tag, bits) {
            (1, 16) => false,
            (7, 8) => true,
            _ => {
                return Err(format!(
                    "format tag {tag}, {bits} bits: not PCM16 or mu-law"
                ))
            }
        };
        Ok(Wav {
            sample_rate_hz: le32(&fmt[4..]),
            channels,
            mulaw,
            data,
        })
    }

    /// G.711 mu-law to 16-bit linear (as the main crate's decoder).
    fn mulaw_to_i16(b: u8) -> i16 {
        let u = !b;
        let t = ((i32::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
        let v = if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 };
        v as i16
    }

    impl Wav<'_> {
        /// Each channel's samples.
        pub fn channels(&self) -> Vec<Vec<i16>> {
            let width = if self.mulaw { 1 } else { 2 };
            let frames = self.data.chunks_exact(width * self.channels);
            (0..self.channels)
                .map(|ch| {
                    let at = ch * width;
                    frames
                        .clone()
                        .map(|f| match self.mulaw {
                            true => mulaw_to_i16(f[at]),
                            false => i16::from_le_bytes([f[at], f[at + 1]]),
                        })
                        .collect()
                })
                .collect()
        }
    }
}

/// Linear interpolation by an integer factor.
fn upsample(x: &[i16], factor: usize) -> Vec<i16> {
    let mut out = Vec::with_capacity(x.len() * factor);
    for (i, &a) in x.iter().enumerate() {
        let b = *x.get(i + 1).unwrap_or(&a) as i32;
        for j in 0..factor {
            let a = a as i32;
            out.push((a + (b - a) * j as i32 / factor as i32) as i16);
        }
    }
    out
}

/// All fixture speech at `rate_hz`: native files plus the lower-rate ones
/// upsampled.
fn speech(rate_hz: u32) -> Vec<i16> {
    let mut out = Vec::new();
    for base in [8000, 16000] {
        if !rate_hz.is_multiple_of(base) {
            continue;
        }
        for ch in fixture_channels(base) {
            out.extend(upsample(&ch, (rate_hz / base) as usize));
        }
    }
    out
}

/// Hostile and model-stressing signals at `rate_hz`: a fixed tour of
/// edge cases, then random segments of the same kinds, `minutes` long.
fn adversarial(rate_hz: u32, speech: &[i16], minutes: f64) -> Vec<i16> {
    let r = rate_hz as usize;
    let total = (minutes * 60.0 * r as f64) as usize;
    let mut s: Vec<i16> = Vec::with_capacity(total + 10 * r);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(rate_hz));
    let n = |secs: f64| (secs * r as f64) as usize;

    fn noise(s: &mut Vec<i16>, rng: &mut Rng, len: usize, amp: i32) {
        s.extend((0..len).map(|_| rng.uniform(amp) as i16));
    }
    fn square(s: &mut Vec<i16>, len: usize, half_period: usize, hi: i16, lo: i16) {
        s.extend((0..len).map(|i| {
            if (i / half_period).is_multiple_of(2) {
                hi
            } else {
                lo
            }
        }));
    }
    fn chirp(s: &mut Vec<i16>, len: usize, rate: f64, f0: f64, f1: f64, amp: f64) {
        let mut phase = 0.0f64;
        for i in 0..len {
            let f = f0 + (f1 - f0) * i as f64 / len as f64;
            phase += 2.0 * std::f64::consts::PI * f / rate;
            s.push(sat(amp * phase.sin()));
        }
    }
    // Noise switched on and off at syllable-like rates.
    fn bursts(s: &mut Vec<i16>, rng: &mut Rng, len: usize, r: usize, amp: i32, floor: i32) {
        let end = s.len() + len;
        while s.len() < end {
            let on = r / 20 + rng.below(r as u64 / 3) as usize;
            let off = r / 20 + rng.below(r as u64 / 2) as usize;
            let on = on.min(end - s.len());
            noise(s, rng, on, amp);
            let off = off.min(end - s.len());
            noise(s, rng, off, floor);
        }
    }

    // The tour.
    s.resize(n(2.0), 0); // digital silence
    for k in 1..=15 {
        noise(&mut s, &mut rng, n(2.0), (1i32 << k) - 1); // 1, 3, …, 32767
    }
    for _ in 0..6 {
        // Silence, then a full-scale burst.
        s.resize(s.len() + n(1.5), 0);
        noise(&mut s, &mut rng, n(0.3), 32767);
    }
    for &hp in &[1usize, 2, 3, 4, 8, 20, 40, 80, 200] {
        square(&mut s, n(1.0), hp, 32767, -32768);
        square(&mut s, n(0.5), hp, 32767, -32767);
        square(&mut s, n(0.5), hp, -32768, 0);
    }
    for &v in &[32767i16, -32768, -32767, 1, -1, 0] {
        s.resize(s.len() + n(1.5), v);
    }
    chirp(&mut s, n(6.0), r as f64, 20.0, r as f64 / 2.0, 32767.0);
    chirp(&mut s, n(6.0), r as f64, r as f64 / 2.0, 20.0, 2000.0);
    chirp(&mut s, n(4.0), r as f64, 50.0, 4000.0, 60000.0); // clipped
    for &(amp, floor) in &[
        (32767, 0),
        (8000, 30),
        (1000, 100),
        (300, 200),
        (32767, 32767),
    ] {
        bursts(&mut s, &mut rng, n(8.0), r, amp, floor);
    }
    // Impulses.
    for i in 0..n(3.0) {
        s.push(if i % 97 == 0 {
            32767
        } else if i % 97 == 50 {
            -32768
        } else {
            0
        });
    }

    // Random segments of all kinds until `minutes` are reached.
    while s.len() < total {
        let len = n(0.2 + 3.0 * rng.unit());
        match rng.below(9) {
            0 => s.resize(s.len() + len, 0),
            1 => {
                let amp = (1i32 << rng.below(16)).min(32767);
                noise(&mut s, &mut rng, len, amp);
            }
            2 => {
                let hp = 1 + rng.below(100) as usize;
                let hi = rng.uniform(32767) as i16;
                let lo = if rng.below(2) == 0 {
                    -32768
                } else {
                    rng.uniform(32767) as i16
                };
                square(&mut s, len, hp, hi, lo);
            }
            3 => {
                let v = if rng.below(3) == 0 {
                    -32768
                } else {
                    rng.uniform(32767) as i16
                };
                s.resize(s.len() + len, v);
            }
            4 => {
                let f0 = 20.0 + rng.unit() * r as f64 / 2.0;
                let f1 = 20.0 + rng.unit() * r as f64 / 2.0;
                let amp = 40000.0 * rng.unit();
                chirp(&mut s, len, r as f64, f0, f1, amp);
            }
            5 => {
                let amp = (1i32 << rng.below(16)).min(32767);
                let floor = rng.below(amp as u64 / 4 + 1) as i32;
                bursts(&mut s, &mut rng, len, r, amp, floor);
            }
            6 | 7 => {
                // Speech with a random gain: from near-silent to clipped.
                let gain = 2f64.powf(rng.unit() * 14.0 - 8.0);
                let start = rng.below((speech.len() - len) as u64) as usize;
                s.extend(
                    speech[start..start + len]
                        .iter()
                        .map(|&x| sat(x as f64 * gain)),
                );
            }
            _ => {
                // Speech over noise.
                let amp = (1i32 << rng.below(14)).min(32767);
                let start = rng.below((speech.len() - len) as u64) as usize;
                for &x in &speech[start..start + len] {
                    s.push(sat(x as f64 + rng.uniform(amp) as f64));
                }
            }
        }
    }
    s
}

/// Speech followed by the adversarial signals, at `rate_hz`: long enough
/// that every configuration sees more than ten minutes.
pub(super) fn signal(rate_hz: u32) -> &'static [i16] {
    static SIGNALS: [OnceLock<Vec<i16>>; 4] = [const { OnceLock::new() }; 4];
    let idx = VALID_RATES_KHZ
        .iter()
        .position(|&k| k as u32 * 1000 == rate_hz)
        .unwrap();
    SIGNALS[idx].get_or_init(|| {
        let mut s = speech(rate_hz);
        // Just over ten minutes in all.
        let speech_min = s.len() as f64 / f64::from(rate_hz) / 60.0;
        let adv = adversarial(rate_hz, &s.clone(), 10.2 - speech_min);
        s.extend(adv);
        s
    })
}
