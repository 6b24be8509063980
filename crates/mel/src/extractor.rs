//! The planned extractor: a chunk's samples in, its log-mel features out.
//!
//! In: one chunk at `MelConfig::sample_rate_hz` ([`Sample`]: 16-bit PCM or
//! `f32`, full scale 1.0). Out: `n_mels × n_frames` `f32` values in the
//! configured layout (`[n_mels, frames]` or `[frames, n_mels]`, C order) —
//! in a caller's `Vec` ([`MelExtractor::compute_into`], which allocates
//! only when the `Vec` must grow), a new one ([`MelExtractor::compute`]),
//! or an `ndarray::Array2` of that shape ([`MelExtractor::compute_array`]).
//!
//! Set up once, run many times: [`MelExtractor::new`] (or
//! [`MelExtractor::with_isa`]) plans the FFT, builds the window and the
//! filterbank, and chooses the instruction-set level once; the extractor is
//! `Sync` and shared read-only by every worker, each of which owns a
//! [`MelScratch`]. Frames go through in blocks of [`BLOCK`]: framing
//! (`framing`), power spectra (`spectrum`), filter sums (`filter_sum`), log
//! (`log`), then the block's columns into the output.

use callprep_isa::Isa;
use rustfft::num_complex::Complex;

use crate::config::{Layout, MelConfig};
use crate::filter_sum::FilterSumKernel;
use crate::filters::{filterbank, Filter};
use crate::framing::{Framer, Sample, Signal};
#[cfg(target_arch = "x86_64")]
use crate::level::{Avx2, Avx512};
use crate::level::{Kernels, Level};
use crate::spectrum::{PowerSpectrum, LANES};
use crate::{log, BLOCK};

/// The planned feature extractor for one [`MelConfig`] at one
/// instruction-set level. Shared read-only.
pub struct MelExtractor {
    cfg: MelConfig,
    /// Chosen when the extractor was built; every chunk dispatches on it.
    level: Level,
    spectrum: PowerSpectrum,
    framer: Framer,
    filters: Vec<Filter>,
}

/// Per-worker buffers for [`MelExtractor::compute_into`].
pub struct MelScratch {
    /// One windowed frame (odd `n_fft` only); its padding stays zero.
    frame: Vec<f64>,
    /// FFT input of [`LANES`] frames, then (odd `n_fft`) their spectra. For
    /// even `n_fft` the frames are windowed in place here, and the zero
    /// padding around the window, set once, stays zero.
    lanes_in: Vec<Complex<f64>>,
    /// Spectra of [`LANES`] frames (even `n_fft`).
    lanes_out: Vec<Complex<f64>>,
    fft_scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
    mel: Vec<f32>,
}

impl MelExtractor {
    /// Plans the FFT and builds the window and filterbank, for the best
    /// instruction-set level this CPU runs ([`Isa::best`]). `cfg` must have
    /// passed [`MelConfig::validate`].
    pub fn new(cfg: &MelConfig) -> Self {
        Self::with_isa(cfg, Isa::best())
    }

    /// [`Self::new`] at instruction-set level `isa`: its code and nothing
    /// above it. Every level gives the same bits.
    ///
    /// # Panics
    /// If this CPU does not run `isa` (take it from [`Isa::best`],
    /// [`Isa::available`] or [`Isa::from_env`]).
    pub fn with_isa(cfg: &MelConfig, isa: Isa) -> Self {
        MelExtractor {
            level: Level::new(isa),
            framer: Framer::new(cfg),
            filters: filterbank(cfg),
            spectrum: PowerSpectrum::new(cfg.n_fft),
            cfg: cfg.clone(),
        }
    }

    /// The instruction-set level this extractor runs.
    pub fn isa(&self) -> Isa {
        self.level.isa()
    }

    /// The configuration this extractor computes.
    pub fn config(&self) -> &MelConfig {
        &self.cfg
    }

    /// Fresh buffers for one worker.
    pub fn scratch(&self) -> MelScratch {
        let sp = &self.spectrum;
        let zeros = |n| vec![Complex::new(0.0, 0.0); n];
        MelScratch {
            frame: vec![0.0; self.cfg.n_fft],
            lanes_in: zeros(LANES * sp.fft.len()),
            lanes_out: zeros(LANES * sp.fft.len()),
            fft_scratch: zeros(sp.scratch_len()),
            power: vec![0.0; (self.cfg.n_fft / 2 + 1) * BLOCK],
            mel: vec![1.0; self.cfg.n_mels * BLOCK],
        }
    }

    /// Computes the features of `samples` into `out` (replacing what it held) and
    /// returns the number of frames. `out` holds `n_mels × frames` values in
    /// the configured layout.
    ///
    /// Frames go through in blocks of `BLOCK` (8): each frame's power spectrum
    /// lands in one lane of a bin-major block, so the filterbank sums, the log
    /// and the stores run across frames in vector registers. Every frame's
    /// filter sum still adds its products in bin order, so the numbers are
    /// the same as frame-at-a-time code would give, bit for bit.
    ///
    /// On x86-64 the same code is compiled twice more, with AVX2 and with
    /// AVX-512 enabled, and runs at the level chosen when the extractor was
    /// built: two or four times the lanes per instruction, the same
    /// operations in the same order (Rust never fuses a multiply and an
    /// add), so the same bits; a test checks every level against the others.
    pub fn compute_into<S: Sample>(
        &self,
        samples: &[S],
        s: &mut MelScratch,
        out: &mut Vec<f32>,
    ) -> usize {
        let samples = S::signal(samples);
        match self.level {
            Level::Portable(level) => self.compute_at(level, samples, s, out),
            // SAFETY (both): the level was checked when the extractor was
            // built (`Level::new` in `with_isa`): this CPU runs it.
            #[cfg(target_arch = "x86_64")]
            Level::Avx2(level) => unsafe { self.compute_avx2(level, samples, s, out) },
            #[cfg(target_arch = "x86_64")]
            Level::Avx512(level) => unsafe { self.compute_avx512(level, samples, s, out) },
        }
    }

    /// [`Self::compute_into`] compiled with AVX2 (everything below it is
    /// `#[inline(always)]`, so it is all compiled for AVX2; the FFT crate
    /// picks its own AVX code at run time).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn compute_avx2(
        &self,
        level: Avx2,
        samples: Signal,
        s: &mut MelScratch,
        out: &mut Vec<f32>,
    ) -> usize {
        self.compute_at(level, samples, s, out)
    }

    /// [`Self::compute_into`] compiled with AVX-512 (F and DQ), which
    /// untangles four points per frame at a time, runs the 256-point FFT of
    /// the telephony preset itself and sums the filters over a whole block
    /// in one vector.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    fn compute_avx512(
        &self,
        level: Avx512,
        samples: Signal,
        s: &mut MelScratch,
        out: &mut Vec<f32>,
    ) -> usize {
        self.compute_at(level, samples, s, out)
    }

    /// [`Self::compute_into`] with `level`'s code: for any CPU (baseline
    /// x86-64: SSE2) at [`crate::level::Portable`]; inside
    /// [`Self::compute_avx2`] and [`Self::compute_avx512`] at their levels.
    #[inline(always)]
    fn compute_at<L: Kernels>(
        &self,
        level: L,
        samples: Signal,
        s: &mut MelScratch,
        out: &mut Vec<f32>,
    ) -> usize {
        let cfg = &self.cfg;
        // With `pad_to_seconds` the signal is `n` samples long: the chunk,
        // cut or followed by zeros (which `Framer::fill` supplies, no copy).
        let n = cfg.padded_len(samples.len());
        let signal = samples.truncate(n);
        let n_frames = cfg.n_frames(samples.len());
        // Every element is written below, so values left from an earlier
        // call stay until overwritten: only growth is zero-filled (a
        // `clear` first would write every byte twice).
        out.resize(n_frames * cfg.n_mels, 0.0);
        let n = n as i64;
        let mut t0 = 0;
        while t0 < n_frames {
            let b = BLOCK.min(n_frames - t0);
            // LANES frames at a time: one batched FFT, then their power
            // spectra side by side into lanes j.. of the block.
            for j in (0..b).step_by(LANES) {
                let lanes = LANES.min(b - j);
                for lane in 0..lanes {
                    let first = self.framer.first(t0 + j + lane);
                    let len = self.spectrum.fft.len();
                    let input = &mut s.lanes_in[lane * len..(lane + 1) * len];
                    if cfg.n_fft.is_multiple_of(2) {
                        // Two real samples per complex point, as realfft packs them.
                        self.framer
                            .fill(signal, n, first, bytemuck::cast_slice_mut(input));
                    } else {
                        self.framer.fill(signal, n, first, &mut s.frame);
                        for (z, &x) in input.iter_mut().zip(&s.frame) {
                            *z = Complex::new(x, 0.0);
                        }
                    }
                }
                // Lanes past the block's last frame keep stale spectra that
                // no one reads.
                self.spectrum.power_lanes(
                    level,
                    lanes,
                    &mut s.lanes_in,
                    &mut s.lanes_out,
                    &mut s.fft_scratch,
                    &mut s.power,
                    j,
                    cfg.power,
                );
            }
            self.filter_block(level, s);
            match cfg.layout {
                Layout::MelsFirst => {
                    let (mels, _) = s.mel.as_chunks::<BLOCK>();
                    for (m, lanes) in mels.iter().enumerate() {
                        let row = m * n_frames + t0;
                        if b == BLOCK {
                            // Fixed length: a vector move, not a `memcpy` call.
                            out[row..row + BLOCK].copy_from_slice(lanes);
                        } else {
                            out[row..row + b].copy_from_slice(&lanes[..b]);
                        }
                    }
                }
                Layout::FramesFirst => {
                    for (j, row) in out[t0 * cfg.n_mels..(t0 + b) * cfg.n_mels]
                        .chunks_exact_mut(cfg.n_mels)
                        .enumerate()
                    {
                        for (v, lanes) in row.iter_mut().zip(s.mel.chunks_exact(BLOCK)) {
                            *v = lanes[j];
                        }
                    }
                }
            }
            t0 += b;
        }
        log::normalize_chunk(cfg.log, out);
        n_frames
    }

    /// Mel filterbank, floor and log for one block: `s.power` (bin-major,
    /// [`BLOCK`] frames per bin) → `s.mel` (mel-major, [`BLOCK`] per mel).
    /// Lanes past the block's last frame hold stale values that no one reads.
    #[inline(always)]
    fn filter_block<L: FilterSumKernel>(&self, level: L, s: &mut MelScratch) {
        let (power, _) = s.power.as_chunks::<BLOCK>();
        let (mel, _) = s.mel.as_chunks_mut::<BLOCK>();
        for (dst, f) in mel.iter_mut().zip(&self.filters) {
            let bins = &power[f.start..f.start + f.weights.len()];
            log::floor(self.cfg.log, level.filter_sum(bins, &f.weights), dst);
        }
        log::log_in_place(self.cfg.log, &mut s.mel);
    }

    /// Convenience wrapper: allocates scratch and output.
    pub fn compute<S: Sample>(&self, samples: &[S]) -> (Vec<f32>, usize) {
        let mut s = self.scratch();
        let mut out = Vec::new();
        let frames = self.compute_into(samples, &mut s, &mut out);
        (out, frames)
    }

    /// [`Self::compute`] as a feature matrix shaped per the layout
    /// (`[n_mels, frames]` or `[frames, n_mels]`, [`MelConfig::shape`]).
    /// Allocates scratch and output.
    pub fn compute_array<S: Sample>(&self, samples: &[S]) -> ndarray::Array2<f32> {
        let (out, frames) = self.compute(samples);
        let [rows, cols] = self.cfg.shape(frames);
        ndarray::Array2::from_shape_vec((rows, cols), out)
            .expect("compute gives n_mels × frames values, the shape's product")
    }
}

#[cfg(test)]
mod tests;
