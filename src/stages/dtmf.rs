//! DTMF (keypad tone) detection: the privacy gate's ear.
//!
//! In: one channel's PCM16 at the pipeline rate, pushed block by block
//! ([`DtmfDetector::push`]), exactly the audio chunks are cut from. Out:
//! the spans (absolute sample ranges, half-open) where a keypad digit
//! sounds, widened by one analysis block each side. The digits themselves
//! never leave this module: the detector only uses them to require the same
//! digit across consecutive blocks.
//!
//! The classic detector (ITU-T Q.23/Q.24; the structure of SpanDSP's
//! `dtmf.c` and Asterisk's `dsp.c`), in two steps:
//!
//! 1. **Screen**, per block of [`BLOCK_MS`] (102 samples at 8 kHz): the
//!    block's energy must reach a floor (−40 dBFS, 10 dB under the quietest
//!    tone accepted); then the powers at the row (697–941 Hz) and column
//!    (1209–1633 Hz) frequencies (a DFT bin each, as a Goertzel filter
//!    gives); the strongest row and column must
//!    each reach the tone floor, be within the twist limits (column up to
//!    6 dB louder, row up to 10 dB louder), dominate the other filters of
//!    their group by 6 dB, and carry 70 % of the block's energy together.
//! 2. **Verify**, when two consecutive blocks screen as the same digit (a
//!    tone of ≥ 40 ms always covers two whole blocks; one of < 23 ms never
//!    does): over the two blocks (Hann window) the level must be steady
//!    (each eighth of the window holds ≥ 40 % of the mean power), the two tones (at the frequencies found) must carry
//!    93 % of the window's power (a tone that fills only m of the window's
//!    n samples carries m/n: a tone of < 23 ms fails), the column tone's second harmonic must be 20 dB down, and a fine
//!    frequency search (0.5 % steps over ±5 %) must find each tone within
//!    ±2.5 % of its nominal frequency: ±1.5 % is accepted and ±3.5 %
//!    rejected with a margin on both sides.
//!
//! Levels are in dBFS of a sine (0 dBFS = a full-scale sine). Cost: only
//! every other block is screened (a tone of ≥ 40 ms covers two whole
//! consecutive blocks, one of them even; the neighbours of a candidate are
//! screened too), a block under the energy floor stops after its energy,
//! and the 8 tone powers are correlations with precomputed cosines and
//! sines (16 multiply-adds per sample in independent sums, which
//! vectorise, instead of Goertzel's serial recursion). The verification
//! runs only on candidate pairs (rare outside real tones). No allocation
//! after [`DtmfDetector::new`].

use std::ops::Range;

/// Analysis block length in milliseconds (102 samples at 8 kHz).
pub const BLOCK_MS: f64 = 12.75;

/// Row (low group) frequencies, Hz.
const ROWS_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies, Hz.
const COLS_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Quietest block (mean power) worth analysing, relative to a full-scale
/// sine's power: −40 dBFS.
const BLOCK_FLOOR: f32 = 1e-4;
/// Quietest tone of a pair (its power relative to a full-scale sine):
/// −40 dBFS (the weak tone of a −30 dBFS pair with 8 dB reverse twist is
/// at −38 dBFS).
const TONE_FLOOR: f32 = 1e-4;
/// Column louder than row by at most this power ratio (6 dB; 4 dB accepted).
const MAX_NORMAL_TWIST: f32 = 3.98;
/// Row louder than column by at most this power ratio (10 dB; 8 dB accepted).
const MAX_REVERSE_TWIST: f32 = 10.0;
/// The peak of a group must exceed every other filter of its group by this
/// power ratio (6 dB).
const GROUP_DOMINANCE: f32 = 3.98;
/// Screen: the two tones' share of the block's power.
const SCREEN_SHARE: f32 = 0.70;
/// Verify: the two tones' share of the window's power (plain window): a
/// tone filling 90 % of the window has at most 0.9.
const VERIFY_SHARE: f32 = 0.93;
/// Verify: the window is cut in this many parts…
const STEADY_PARTS: usize = 8;
/// …and each part's mean power is at least this fraction of their mean.
const STEADY_FRACTION: f32 = 0.4;
/// Verify: a tone's second harmonic must be this much weaker (20 dB).
const HARMONIC_RATIO: f32 = 0.01;
/// Fine frequency search: steps of this relative size…
const FINE_STEP: f32 = 0.005;
/// …this many each side of nominal (±5 %).
const FINE_STEPS: usize = 10;
/// A tone is accepted when its peak lies within this many steps (±2.5 %).
const FINE_ACCEPT_STEPS: usize = 5;
/// Points of the fine search per tone.
const FINE_POINTS: usize = 2 * FINE_STEPS + 1;

/// A streaming DTMF detector for one channel at one sample rate.
pub struct DtmfDetector {
    rate_hz: f32,
    /// The 8 nominal frequencies: 4 rows then 4 columns.
    tones_hz: [f32; 8],
    block_len: usize,
    /// Fine-search coefficients per tone (8 × [`FINE_POINTS`]).
    fine: Vec<[f32; FINE_POINTS]>,
    /// Second-harmonic coefficients per tone (0: not checked; rows, and
    /// columns whose harmonic is above Nyquist).
    harmonic: [f32; 8],
    /// Hann window over two blocks.
    hann: Vec<f32>,
    /// Its sum.
    hann_sum: f32,
    /// The block being filled (fewer than `block_len` samples).
    cur: Vec<i16>,
    /// Two-block verification window: the previous candidate block, then
    /// the current one.
    window: Vec<i16>,
    /// Windowed samples (scratch of the verification).
    scratch: Vec<f32>,
    /// What screening said of the previous whole block.
    prev_digit: Screened,
    /// Correlation tables: `cos` then `sin` of each of the 8 tones over one
    /// block (16 × `block_len`).
    tables: Vec<f32>,
    /// One block as `f32` (scratch of the screen).
    block_f32: Vec<f32>,
    /// Whole blocks analysed so far.
    blocks: usize,
    /// Detected spans, in order, merged when they touch.
    spans: Vec<Range<usize>>,
    /// The recording ended.
    finished: bool,
}

impl DtmfDetector {
    /// A detector for audio at `sample_rate_hz` (any rate of at least
    /// 4 kHz, so the highest column tone is below Nyquist).
    pub fn new(sample_rate_hz: u32) -> Self {
        let rate = sample_rate_hz.max(4000) as f32;
        let block_len = ((BLOCK_MS / 1000.0) * f64::from(rate)).round() as usize;
        let tones: Vec<f32> = ROWS_HZ.iter().chain(&COLS_HZ).copied().collect();
        let coef = |f: f32| 2.0 * (2.0 * std::f32::consts::PI * f / rate).cos();
        let mut harmonic = [0.0; 8];
        let mut fine = Vec::with_capacity(8);
        for (k, &f) in tones.iter().enumerate() {
            // Rows: 2 × 697 and 2 × 770 Hz lie 1.5 bins from a column tone,
            // whose leakage would fail the check; columns only.
            harmonic[k] = if k >= 4 && 2.0 * f < rate / 2.0 {
                coef(2.0 * f)
            } else {
                0.0
            };
            let mut row = [0.0; FINE_POINTS];
            for (i, c) in row.iter_mut().enumerate() {
                let rel = (i as f32 - FINE_STEPS as f32) * FINE_STEP;
                *c = coef(f * (1.0 + rel));
            }
            fine.push(row);
        }
        let mut tables = Vec::with_capacity(16 * block_len);
        for phase in [0.0, -std::f64::consts::FRAC_PI_2] {
            for &f in &tones {
                let w = 2.0 * std::f64::consts::PI * f64::from(f) / f64::from(rate);
                tables.extend((0..block_len).map(|i| (w * i as f64 + phase).cos() as f32));
            }
        }
        let n = 2 * block_len;
        let hann: Vec<f32> = (0..n)
            .map(|i| {
                let x = std::f32::consts::PI * (i as f32 + 0.5) / n as f32;
                x.sin() * x.sin()
            })
            .collect();
        let hann_sum = hann.iter().sum();
        DtmfDetector {
            rate_hz: rate,
            tones_hz: std::array::from_fn(|k| tones[k]),
            block_len,
            fine,
            harmonic,
            hann,
            hann_sum,
            cur: Vec::with_capacity(block_len),
            window: vec![0; n],
            scratch: vec![0.0; n],
            prev_digit: Screened::Start,
            tables,
            block_f32: vec![0.0; block_len],
            blocks: 0,
            spans: Vec::new(),
            finished: false,
        }
    }

    /// The analysis block length in samples.
    pub fn block_len(&self) -> usize {
        self.block_len
    }

    /// Analyses the next samples of the channel (any count).
    pub fn push(&mut self, mut samples: &[i16]) {
        let n = self.block_len;
        if !self.cur.is_empty() {
            let take = (n - self.cur.len()).min(samples.len());
            self.cur.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.cur.len() < n {
                return;
            }
            let block = std::mem::take(&mut self.cur);
            self.block(&block);
            self.cur = block;
            self.cur.clear();
        }
        let mut blocks = samples.chunks_exact(n);
        for b in &mut blocks {
            self.block(b);
        }
        self.cur.extend_from_slice(blocks.remainder());
    }

    /// Ends the recording: every span is final (a last partial block is too
    /// short to hold a tone that is not already detected).
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Samples analysed so far (whole blocks).
    pub fn pos(&self) -> usize {
        self.blocks * self.block_len
    }

    /// Every span that starts before this sample is reported by
    /// [`Self::spans`] (a span may still grow at its end while the tone
    /// lasts): the analysed samples less the detector's latency (three
    /// blocks), or everything after [`Self::finish`].
    pub fn known_until(&self) -> usize {
        if self.finished {
            usize::MAX
        } else {
            self.pos().saturating_sub(3 * self.block_len)
        }
    }

    /// The detected tone spans so far (absolute samples, in order, disjoint),
    /// each widened by one block on both sides to cover a tone's partial
    /// first and last blocks.
    pub fn spans(&self) -> &[Range<usize>] {
        &self.spans
    }

    /// Whether `range` (absolute samples) overlaps a detected span.
    pub fn overlaps(&self, range: Range<usize>) -> bool {
        self.spans
            .iter()
            .any(|s| s.start < range.end && range.start < s.end)
    }

    /// One whole block. Even blocks are always screened; an odd block only
    /// when a neighbour screened as a digit (a tone of ≥ 40 ms covers two
    /// whole consecutive blocks, one of them even). Two consecutive blocks
    /// with the same digit are verified together.
    fn block(&mut self, b: &[i16]) {
        let n = self.block_len;
        let prev = self.prev_digit;
        let screened = self.blocks.is_multiple_of(2) || matches!(prev, Screened::Digit(_));
        let digit = if screened { self.screen(b) } else { None };
        if let Some(d) = digit {
            let before = match prev {
                Screened::Digit(p) => Some(p),
                Screened::Nothing | Screened::Start => None,
                // The odd block before was skipped: screen it now.
                Screened::Skipped => self.screen_window_head(),
            };
            if before == Some(d) {
                self.window[n..].copy_from_slice(b);
                if self.verify(d) {
                    let end = (self.blocks + 1) * n;
                    let start = end - 2 * n;
                    self.add_span(start.saturating_sub(n)..end + n);
                }
            }
        }
        self.window[..n].copy_from_slice(b);
        self.prev_digit = match (screened, digit) {
            (false, _) => Screened::Skipped,
            (true, Some(d)) => Screened::Digit(d),
            (true, None) => Screened::Nothing,
        };
        self.blocks += 1;
    }

    /// Screens the previous block (the window's first half).
    fn screen_window_head(&mut self) -> Option<u8> {
        let head = std::mem::take(&mut self.window);
        let d = self.screen(&head[..self.block_len]);
        self.window = head;
        d
    }

    fn add_span(&mut self, span: Range<usize>) {
        if let Some(last) = self.spans.last_mut() {
            if span.start <= last.end {
                last.end = last.end.max(span.end);
                return;
            }
        }
        self.spans.push(span);
    }

    /// The block's digit (0..16: row × 4 + column), if it looks like one.
    fn screen(&mut self, b: &[i16]) -> Option<u8> {
        let n = b.len() as f32;
        for (y, &x) in self.block_f32.iter_mut().zip(b) {
            *y = f32::from(x);
        }
        let x = &self.block_f32;
        let energy = dot(x, x);
        // Powers relative to a full-scale sine (32768² / 2).
        let full = 32768.0f32 * 32768.0 / 2.0;
        let mean_power = energy / n / full;
        if mean_power < BLOCK_FLOOR {
            return None;
        }
        // |X|² of each tone, by correlation with its cosine and sine (the
        // same value as a Goertzel filter; independent sums vectorise).
        let len = self.block_len;
        let mut p = [0.0f32; 8];
        for (k, pk) in p.iter_mut().enumerate() {
            let c = dot(&self.tables[k * len..(k + 1) * len], x);
            let s = dot(&self.tables[(8 + k) * len..(9 + k) * len], x);
            // A sine of amplitude A gives |X|² = (A n / 2)²: its power A²/2 is 2|X|²/n².
            *pk = (c * c + s * s) * 2.0 / (n * n) / full;
        }
        let (r, pr) = peak(&p[..4]);
        let (c, pc) = peak(&p[4..]);
        let ok = pr >= TONE_FLOOR
            && pc >= TONE_FLOOR
            && pc <= pr * MAX_NORMAL_TWIST
            && pr <= pc * MAX_REVERSE_TWIST
            && dominates(&p[..4], r)
            && dominates(&p[4..], c)
            && pr + pc >= SCREEN_SHARE * mean_power;
        ok.then_some((r * 4 + c) as u8)
    }

    /// The two-block window (in `self.window`) holds `digit` steadily, at
    /// the right frequencies, without harmonics.
    fn verify(&mut self, digit: u8) -> bool {
        let (r, c) = (usize::from(digit / 4), 4 + usize::from(digit % 4));
        let n = self.window.len();
        // A steady level over the whole window (eighths: longer than half
        // the beat period of any row/column pair).
        let mut parts = [0.0f32; STEADY_PARTS];
        for (i, p) in parts.iter_mut().enumerate() {
            let seg = &self.window[i * n / STEADY_PARTS..(i + 1) * n / STEADY_PARTS];
            let e: f32 = seg.iter().map(|&x| f32::from(x) * f32::from(x)).sum();
            *p = e / seg.len() as f32;
        }
        let mean_part = parts.iter().sum::<f32>() / STEADY_PARTS as f32;
        if parts.iter().any(|&p| p < STEADY_FRACTION * mean_part) {
            return false;
        }
        let energy: f32 = self
            .window
            .iter()
            .map(|&x| f32::from(x) * f32::from(x))
            .sum();
        let mean_power = energy / n as f32;
        for (s, (&x, &w)) in self
            .scratch
            .iter_mut()
            .zip(self.window.iter().zip(&self.hann))
        {
            *s = f32::from(x) * w;
        }
        // A sine of amplitude A gives |X| = A Σw / 2: its power is 2|X|²/(Σw)².
        let scale = 2.0 / (self.hann_sum * self.hann_sum);
        let power = |coef: f32, x: &[f32]| goertzel(coef, x) * scale;
        let mut tones = 0.0;
        for k in [r, c] {
            let mut best = (0, 0.0f32);
            let mut fine = [0.0f32; FINE_POINTS];
            for (i, &coef) in self.fine[k].iter().enumerate() {
                fine[i] = power(coef, &self.scratch);
                if fine[i] > best.1 {
                    best = (i, fine[i]);
                }
            }
            if best.0.abs_diff(FINE_STEPS) > FINE_ACCEPT_STEPS {
                return false;
            }
            if self.harmonic[k] != 0.0
                && power(self.harmonic[k], &self.scratch) > HARMONIC_RATIO * best.1
            {
                return false;
            }
            // The peak between grid points (parabola through the log powers),
            // then the tone's power over the plain (rectangular) window.
            let (i, l) = (best.0, |v: f32| v.max(1e-30).ln());
            let (a, b, c) = (l(fine[i - 1]), l(fine[i]), l(fine[i + 1]));
            let den = a - 2.0 * b + c;
            let delta = if den < 0.0 {
                (0.5 * (a - c) / den).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            let rel = (i as f32 + delta - FINE_STEPS as f32) * FINE_STEP;
            let f = self.tones_hz[k] * (1.0 + rel);
            let coef = 2.0 * (2.0 * std::f32::consts::PI * f / self.rate_hz).cos();
            for (s, &x) in self.scratch.iter_mut().zip(&self.window) {
                *s = f32::from(x);
            }
            tones += goertzel(coef, &self.scratch) * 2.0 / (n as f32 * n as f32);
            if k == r {
                for (s, (&x, &w)) in self
                    .scratch
                    .iter_mut()
                    .zip(self.window.iter().zip(&self.hann))
                {
                    *s = f32::from(x) * w;
                }
            }
        }
        // A tone present in m of the window's n samples carries at most m/n
        // of its power: a tone shorter than the window (< 23 ms: m/n < 0.9)
        // fails.
        tones >= VERIFY_SHARE * mean_power
    }
}

/// What screening said of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screened {
    /// No block yet.
    Start,
    /// Not screened (an odd block with no digit before it).
    Skipped,
    /// Screened: no digit.
    Nothing,
    /// Screened: this digit.
    Digit(u8),
}

/// `Σ a[i] b[i]` in eight independent partial sums (vectorises).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let (a8, a_tail) = a[..len].as_chunks::<8>();
    let (b8, b_tail) = b[..len].as_chunks::<8>();
    let mut acc = [0.0f32; 8];
    for (x, y) in a8.iter().zip(b8) {
        for ((s, &u), &v) in acc.iter_mut().zip(x).zip(y) {
            *s += u * v;
        }
    }
    let tail: f32 = a_tail.iter().zip(b_tail).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Goertzel power `|X(f)|²` of `x` at `coef = 2 cos(2π f / rate)`.
fn goertzel(coef: f32, x: &[f32]) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s0 = v + coef * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coef * s1 * s2
}

/// Index and value of the largest of `p`.
fn peak(p: &[f32]) -> (usize, f32) {
    p.iter()
        .copied()
        .enumerate()
        .fold((0, f32::MIN), |a, (i, v)| if v > a.1 { (i, v) } else { a })
}

/// `p[k]` exceeds every other entry by [`GROUP_DOMINANCE`].
fn dominates(p: &[f32], k: usize) -> bool {
    p.iter()
        .enumerate()
        .all(|(i, &v)| i == k || v * GROUP_DOMINANCE <= p[k])
}

#[cfg(test)]
mod tests;
