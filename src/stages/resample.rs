//! Stage 3 — **resample** one channel to the target rate (rubato).
//!
//! In: blocks of `f32` samples at the input rate, pushed in order. Out: the
//! resampled samples appended to a caller's `Vec`, delay-compensated so that
//! an impulse at input sample `k` lands at output sample `round(k·ratio)`
//! (± 1), and exactly `ceil(n_in·ratio)` samples in all after
//! [`StreamResampler::finish`].
//!
//! We drive rubato's synchronous FFT resampler chunk by chunk through
//! `process_into_buffer` and trim its `output_delay()` ourselves, so a file of
//! any length streams through in constant memory; rubato's whole-buffer
//! helpers are not used. Scratch buffers are allocated once per resampler.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

/// Input frames rubato consumes per call.
const CHUNK: usize = 1024;

/// Errors of the resampling stage.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("cannot resample {from} Hz to {to} Hz: {msg}")]
    Construct { from: u32, to: u32, msg: String },
    #[error("resampler failed: {0}")]
    Process(String),
}

/// A streaming, delay-compensated mono resampler.
pub struct StreamResampler {
    inner: Fft<f32>,
    pending: Vec<f32>,
    out_scratch: Vec<f32>,
    to_trim: usize,
    n_in: u64,
    n_out: u64,
    from_hz: u64,
    to_hz: u64,
}

impl StreamResampler {
    /// Plans a resampler from `from_hz` to `to_hz` (one channel).
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, ResampleError> {
        let inner = Fft::<f32>::new(from_hz as usize, to_hz as usize, CHUNK, 1, FixedSync::Input)
            .map_err(|e| ResampleError::Construct {
            from: from_hz,
            to: to_hz,
            msg: e.to_string(),
        })?;
        let out_max = inner.output_frames_max();
        Ok(StreamResampler {
            to_trim: inner.output_delay(),
            from_hz: u64::from(from_hz),
            to_hz: u64::from(to_hz),
            inner,
            pending: Vec::with_capacity(CHUNK),
            out_scratch: vec![0.0; out_max],
            n_in: 0,
            n_out: 0,
        })
    }

    /// Feeds input samples; appends whatever output is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        self.n_in += input.len() as u64;
        let mut rest = input;
        while !rest.is_empty() {
            let need = self.inner.input_frames_next() - self.pending.len();
            let take = need.min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.inner.input_frames_next() {
                self.run(None, out)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// Flushes the tail: after this, `out` has received exactly
    /// `ceil(n_in · ratio)` samples in all.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let expected = out_len(self.n_in, self.from_hz, self.to_hz);
        let partial = self.pending.len();
        let mut first = true;
        while self.n_out < expected {
            let len = if first { partial } else { 0 };
            first = false;
            let frames = self.inner.input_frames_next();
            self.pending.resize(frames, 0.0);
            self.run(Some(len), out)?;
            if self.n_out > expected {
                let extra = (self.n_out - expected) as usize;
                out.truncate(out.len() - extra);
                self.n_out = expected;
            }
        }
        self.pending.clear();
        Ok(())
    }

    fn run(&mut self, partial: Option<usize>, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let frames_in = self.pending.len();
        let frames_out = self.out_scratch.len();
        let input = SequentialSlice::new(&self.pending[..], 1, frames_in)
            .map_err(|e| ResampleError::Process(e.to_string()))?;
        let mut output = SequentialSlice::new_mut(&mut self.out_scratch[..], 1, frames_out)
            .map_err(|e| ResampleError::Process(e.to_string()))?;
        let indexing = partial.map(|p| Indexing::new().partial_len(p));
        let (_, produced) = self
            .inner
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(|e| ResampleError::Process(e.to_string()))?;
        let trim = self.to_trim.min(produced);
        self.to_trim -= trim;
        out.extend_from_slice(&self.out_scratch[trim..produced]);
        self.n_out += (produced - trim) as u64;
        Ok(())
    }
}

/// `ceil(n · to / from)` in integers (in `f64` the ratio's rounding made it
/// one too many for some rates, e.g. 3348 samples at 3348 Hz → 8001).
fn out_len(n: u64, from: u64, to: u64) -> u64 {
    ((u128::from(n) * u128::from(to)).div_ceil(u128::from(from))) as u64
}

/// Resamples a whole buffer (convenience wrapper over [`StreamResampler`]).
pub fn resample_all(input: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, ResampleError> {
    let mut r = StreamResampler::new(from_hz, to_hz)?;
    let mut out = Vec::with_capacity(out_len(input.len() as u64, r.from_hz, r.to_hz) as usize);
    r.push(input, &mut out)?;
    r.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argmax(v: &[f32]) -> usize {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i)
            .unwrap()
    }

    #[test]
    fn impulse_lands_at_scaled_position() {
        let rates = [
            (16000, 8000),
            (8000, 16000),
            (44100, 8000),
            (11025, 8000),
            (48000, 16000),
            (22050, 16000),
        ];
        for (from, to) in rates {
            let ratio = f64::from(to) / f64::from(from);
            for k in [0usize, 1, 37, 1000, 1023, 1024, 5000, 12345] {
                let n = 20000;
                let mut x = vec![0.0f32; n];
                x[k] = 1.0;
                let y = resample_all(&x, from, to).unwrap();
                assert_eq!(y.len(), (n as f64 * ratio).ceil() as usize, "{from}->{to}");
                let want = (k as f64 * ratio).round() as i64;
                let got = argmax(&y) as i64;
                assert!(
                    (got - want).abs() <= 1,
                    "{from}->{to} k={k}: got {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn streaming_in_odd_blocks_equals_one_push() {
        let x: Vec<f32> = (0..30000)
            .map(|i| ((i as f32) * 0.01).sin() * 0.5)
            .collect();
        let whole = resample_all(&x, 16000, 8000).unwrap();
        let mut r = StreamResampler::new(16000, 8000).unwrap();
        let mut out = Vec::new();
        for block in x.chunks(777) {
            r.push(block, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        assert_eq!(whole, out);
    }

    #[test]
    fn sine_amplitude_is_preserved() {
        // 440 Hz at 16 kHz → 8 kHz keeps its amplitude (passband).
        let x: Vec<f32> = (0..32000)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16000.0).sin() * 0.5)
            .collect();
        let y = resample_all(&x, 16000, 8000).unwrap();
        let peak = y[2000..14000].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.5).abs() < 0.01, "peak {peak}");
    }

    #[test]
    fn output_length_is_exact_for_odd_rates() {
        // Found by the fuzzer: f64 rounding of the ratio gave one sample too many.
        assert_eq!(resample_all(&[0.0; 3348], 3348, 8000).unwrap().len(), 8000);
        assert_eq!(resample_all(&[0.0; 1810], 57920, 8000).unwrap().len(), 250);
    }

    #[test]
    fn short_and_empty_inputs() {
        assert!(resample_all(&[], 16000, 8000).unwrap().is_empty());
        assert_eq!(resample_all(&[0.1; 3], 16000, 8000).unwrap().len(), 2);
    }
}
