//! Framing: the samples a frame sees, windowed, in an FFT buffer.
//!
//! In: a chunk of samples ([`Sample`]: 16-bit PCM or `f32`, full scale
//! 1.0, as a [`Signal`]), its length after any `pad_to_seconds` (zeros past
//! the chunk), and a frame index. Out: the frame's `win_length` windowed
//! `f64` samples written at the window's offset inside an `n_fft` buffer,
//! with edges mirrored as the reference does (numpy `reflect` for
//! [`Framing::CenterReflect`], Kaldi's for [`Framing::Kaldi`]), DC removal
//! and pre-emphasis when configured. [`Framer`] holds the window, built once
//! (allocates); filling a frame does not allocate.

use crate::config::{Framing, MelConfig};
use crate::window::window;

/// A sample type the extractor reads, at full scale 1.0.
pub trait Sample: Copy {
    /// The sample as `f64`; exact for both types.
    fn to_f64(self) -> f64;
    /// The slice as the extractor's (non-generic) inner loop takes it.
    fn signal(s: &[Self]) -> Signal<'_>;
}

impl Sample for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn signal(s: &[f32]) -> Signal<'_> {
        Signal::F32(s)
    }
}

/// 16-bit PCM: `s / 32768`, the value the decoder gives as `f32` (both
/// divisions are exact), so PCM16 audio has the same features either way.
impl Sample for i16 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self) * (1.0 / 32768.0)
    }
    fn signal(s: &[i16]) -> Signal<'_> {
        Signal::Pcm16(s)
    }
}

/// A chunk's samples of either type. The extractor's frame loop is compiled
/// once per instruction set and branches on this per frame: a generic loop
/// would be compiled per type, and LLVM then stopped inlining the AVX2
/// helpers into it (four times slower).
#[derive(Debug, Clone, Copy)]
pub enum Signal<'a> {
    /// 16-bit PCM.
    Pcm16(&'a [i16]),
    /// `f32`.
    F32(&'a [f32]),
}

impl Signal<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Signal::Pcm16(x) => x.len(),
            Signal::F32(x) => x.len(),
        }
    }

    /// The first `n` samples (all of them if fewer).
    pub(crate) fn truncate(self, n: usize) -> Self {
        match self {
            Signal::Pcm16(x) => Signal::Pcm16(&x[..x.len().min(n)]),
            Signal::F32(x) => Signal::F32(&x[..x.len().min(n)]),
        }
    }

    /// Sample `k` as `f64`, if there is one.
    #[inline(always)]
    fn get(&self, k: usize) -> Option<f64> {
        match self {
            Signal::Pcm16(x) => x.get(k).map(|v| v.to_f64()),
            Signal::F32(x) => x.get(k).map(|v| v.to_f64()),
        }
    }

    /// [`Self::convert`], each sample times `window[j]`: `f32` samples
    /// times `window`, PCM16 ones (as integers) times `window_pcm16`, which
    /// is `window · 2^-15`, so the same product `(s · 2^-15) · w`.
    #[inline(always)]
    fn convert_windowed(
        &self,
        first: usize,
        window: &[f64],
        window_pcm16: &[f64],
        dst: &mut [f64],
    ) {
        let r = first..first + dst.len();
        match self {
            Signal::Pcm16(x) => {
                for ((d, &x), &w) in dst.iter_mut().zip(&x[r]).zip(window_pcm16) {
                    *d = f64::from(x) * w;
                }
            }
            Signal::F32(x) => {
                for ((d, &x), &w) in dst.iter_mut().zip(&x[r]).zip(window) {
                    *d = f64::from(x) * w;
                }
            }
        }
    }

    /// Samples `first..first + dst.len()` (in bounds) as `f64` into `dst`.
    #[inline(always)]
    fn convert(&self, first: usize, dst: &mut [f64]) {
        #[inline(always)]
        fn each<S: Sample>(src: &[S], dst: &mut [f64]) {
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = x.to_f64();
            }
        }
        let r = first..first + dst.len();
        match self {
            Signal::Pcm16(x) => each(&x[r], dst),
            Signal::F32(x) => each(&x[r], dst),
        }
    }
}

/// Where each frame's window sits in the signal and in the FFT buffer, and
/// how it is filled. Built once per extractor.
pub(crate) struct Framer {
    framing: Framing,
    n_fft: usize,
    win_length: usize,
    hop_length: usize,
    remove_dc: bool,
    preemphasis: f64,
    window: Vec<f64>,
    /// `window` times 2^-15: PCM16 samples times it give `s / 32768 · w`
    /// with one rounding fewer to make, and the same bits (scaling by a power
    /// of two is exact both ways).
    window_pcm16: Vec<f64>,
    /// Offset of the window inside the `n_fft` buffer.
    win_offset: usize,
}

impl Framer {
    /// Builds the window of `cfg` (allocates).
    pub(crate) fn new(cfg: &MelConfig) -> Self {
        let window = window(cfg.window, cfg.win_length);
        let win_offset = match cfg.framing {
            Framing::CenterReflect => (cfg.n_fft - cfg.win_length) / 2,
            Framing::Kaldi => 0,
        };
        Framer {
            framing: cfg.framing,
            n_fft: cfg.n_fft,
            win_length: cfg.win_length,
            hop_length: cfg.hop_length,
            remove_dc: cfg.remove_dc,
            preemphasis: cfg.preemphasis,
            window_pcm16: window.iter().map(|w| w * (1.0 / 32768.0)).collect(),
            window,
            win_offset,
        }
    }

    /// Signal index of the first windowed sample of frame `t` (negative
    /// before the signal's start).
    #[inline(always)]
    pub(crate) fn first(&self, t: usize) -> i64 {
        match self.framing {
            Framing::CenterReflect => {
                (t * self.hop_length) as i64 - (self.n_fft / 2) as i64 + self.win_offset as i64
            }
            Framing::Kaldi => {
                (t * self.hop_length + self.hop_length / 2) as i64 - (self.win_length / 2) as i64
            }
        }
    }

    /// Fills `frame` with the windowed frame whose window starts at signal
    /// index `first` (may be negative or past the end: edges are mirrored)
    /// of a signal `n` samples long: `signal`, then zeros up to `n`.
    #[inline(always)]
    pub(crate) fn fill(&self, signal: Signal, n: i64, first: i64, frame: &mut [f64]) {
        let wl = self.win_length;
        // Only the window region is written: the zero padding around it was
        // set when the buffer was made, and nothing writes there (the even
        // FFT reads its input immutably; odd sizes copy out of `frame`).
        let dst = &mut frame[self.win_offset..self.win_offset + wl];
        let (len, last) = (signal.len() as i64, first + wl as i64);
        if first >= 0 && last <= len {
            if !self.remove_dc && self.preemphasis == 0.0 {
                // The common case in one pass: sample, then window, the same
                // two roundings as below.
                signal.convert_windowed(first as usize, &self.window, &self.window_pcm16, dst);
                return;
            }
            signal.convert(first as usize, dst);
        } else if first >= len && last <= n {
            // Wholly inside the zero padding.
            dst.fill(0.0);
        } else {
            for (j, d) in dst.iter_mut().enumerate() {
                let i = first + j as i64;
                let k = match self.framing {
                    Framing::CenterReflect => reflect_numpy(i, n),
                    Framing::Kaldi => reflect_kaldi(i, n),
                };
                *d = k.and_then(|k| signal.get(k)).unwrap_or(0.0);
            }
        }
        if self.remove_dc {
            let mean = dst.iter().sum::<f64>() / wl as f64;
            dst.iter_mut().for_each(|v| *v -= mean);
        }
        if self.preemphasis != 0.0 {
            for j in (1..wl).rev() {
                dst[j] -= self.preemphasis * dst[j - 1];
            }
            dst[0] -= self.preemphasis * dst[0];
        }
        for (d, w) in dst.iter_mut().zip(&self.window) {
            *d *= w;
        }
    }
}

/// numpy `pad(mode="reflect")` index map (edge not repeated; repeated
/// reflection for pads longer than the signal).
pub(crate) fn reflect_numpy(i: i64, n: i64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    if n == 1 {
        return Some(0);
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    Some(if m < n { m } else { period - m } as usize)
}

/// Kaldi `ExtractWindow` mirroring for `snip_edges=false` (edge repeated).
pub(crate) fn reflect_kaldi(i: i64, n: i64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let period = 2 * n;
    let m = i.rem_euclid(period);
    Some(if m < n { m } else { period - 1 - m } as usize)
}

#[cfg(test)]
mod tests;
