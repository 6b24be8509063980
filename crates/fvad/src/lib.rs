// Rust port of libfvad (https://github.com/dpirch/libfvad), the WebRTC voice
// activity detector, as vendored in the `webrtc-vad` 0.4.0 crate;
// Copyright (c) 2011, The WebRTC project authors; Copyright (c) 2016 Daniel
// Pirch; BSD-3-Clause: see LICENSE-BSD-3-Clause.

//! A bit-exact Rust port of the WebRTC VAD as packaged by libfvad.
//!
//! # What
//!
//! [`Fvad`] ports libfvad's `fvad.c`, `vad_core.c`, `vad_filterbank.c`,
//! `vad_gmm.c`, `vad_sp.c` and the signal-processing helpers they use
//! (`WebRtcSpl_Energy`, `GetScalingSquare`, `DivW32W16`, `NormW32`/`NormU32`,
//! and the 48 → 8 kHz resampler of `resample_48khz.c`,
//! `resample_by_2_internal.c` and `resample_fractional.c`), from the libfvad
//! 1.0 sources vendored in the `webrtc-vad` 0.4.0 crate (crate commit
//! `04c4f43a`, `resources/libfvad`). It takes the same four rates (8, 16, 32,
//! 48 kHz), the same four modes with the same thresholds, the same 10/20/30 ms
//! frames, and keeps the same state from frame to frame, so it returns the
//! same decision as `webrtc_vad::Vad::is_voice_segment` for every frame of
//! every stream; its internal state is the C state value for value.
//!
//! The fixed-point arithmetic follows the C code's semantics as gcc compiles
//! it on x86-64: `int16_t` stores truncate (`as i16`), `>>` is arithmetic,
//! signed overflow wraps (`wrapping_*` wherever the C can overflow: the
//! all-pass states, the resampler, `WebRtcSpl_Energy`, two products in the
//! model update), `int16_t` negation of −32768 wraps (which makes
//! `GetScalingSquare` skip −32768 samples, as in C), and normalisation
//! counts come from `leading_zeros`.
//!
//! Quirks of libfvad that are kept on purpose, because bit-exactness is the
//! point:
//! - At 48 kHz, `WebRtcVad_CalcVad48khz` resamples the *first* 10 ms of the
//!   frame once per 10 ms sub-frame (it never advances the input pointer), so
//!   for 20 and 30 ms frames only the first 480 samples are looked at (twice
//!   or three times, with the resampler state advancing).
//! - The filterbank's all-pass states are stored as `int16_t` between frames
//!   (they lose their low 16 bits at every frame boundary).
//! - `WebRtcVad_FindMinimum` skips aging the value that slides into a slot
//!   freed by an expired one, and ages its 10000 fillers with `int16_t`
//!   wrap-around.
//!
//! # Why
//!
//! The crate is the reference, but its filterbank is slow: each
//! `SplitFilter` runs its upper and then its lower all-pass recurrence to
//! completion, one split after the other, so the CPU waits on one
//! multiply → add → shift chain at a time (`SplitFilter` was 20 % of the
//! whole pipeline's cycles). Here:
//! - the recurrences run in look-ahead form: the part of the next step that
//!   does not depend on the output (`(x << 15) + c·x_next`) is computed for
//!   the whole frame up front, vectorised, so the loop-carried chain is just
//!   shift → multiply → subtract; carried halved, every multiplier fits in
//!   16 bits (see `allpass_half_bases` for why this is exact);
//! - independent recurrences share a loop: on x86-64 the two level-1
//!   branches run in two SSE2 lanes and the four branches of the two sibling
//!   level-2 splits in four lanes, one block behind level 1 in the same
//!   loop, in the shadow of its chain (`filterbank::sse2::two_levels`); levels 3 and 4
//!   run the same way; two channels processed together share the vectors
//!   on CPUs with AVX2, where the whole filterbank is one loop
//!   (`filterbank::avx2::filterbank_pair`: level 1 of both in four lanes, level 2 of
//!   both in eight, levels 3 and 4 in four lanes each and the high-pass a
//!   few blocks behind level 2, so that level 1's chain alone sets the
//!   pace);
//! - the filterbank is compiled once per frame length, so every band loop
//!   (and the energies) has a constant trip count;
//! - `1/std` of every Gaussian is cached and refreshed when the std changes,
//!   taking 12 of the 24 divisions per frame off the likelihood path;
//! - with AVX2, the Gaussian-mixture test and model update run on the six
//!   channels at once, one per vector lane (`core::avx2`: no channel's update
//!   depends on another's), with exact `f64` divisions in the lanes, and
//!   FindMinimum's 16-value window is one vector (insertion by blends); the
//!   scalar `Core::test_and_update_scalar` stays for other CPUs and as the
//!   reference the tests compare it with. The scalar FindMinimum counts its
//!   insertion point instead of branching (exact: the window is always
//!   sorted).
//!
//! On the agent channel of `fixtures/calls/call01.wav` (8 kHz, 30 ms frames,
//! mode 3; `cargo bench --bench vad`) the port runs 2.5× as fast as the
//! crate: about 0.54 µs against 1.37 µs per frame on a 2-core AMD EPYC VM.
//! [`Fvad::process_many`] runs several channels' filterbanks in one loop,
//! where their chains overlap (with AVX2, in shared vectors): both channels
//! of call01 together take 0.34 µs a frame (0.82 ms against 1.31 ms one
//! after the other). No allocation.
//!
//! # Instruction sets
//!
//! The level is chosen once, when a detector is built ([`Fvad::new`] takes
//! [`Isa::best`], [`Fvad::with_isa`] a given one) and kept in it; the code
//! below matches on it and never asks the CPU again. [`Isa::Portable`] runs
//! plain Rust with no hand-written intrinsics (the code other
//! architectures run); [`Isa::Avx2`] and [`Isa::Avx512`] run the AVX2 build
//! of the whole 8 kHz VAD with the SSE2 filterbank (`filterbank/sse2.rs`),
//! the AVX2 filterbank of two channels (`filterbank/avx2.rs`) and the AVX2
//! model update (`core/avx2.rs`, `sp/avx2.rs`). Every function using a
//! level's intrinsics is `#[target_feature]`; the only `unsafe` outside the
//! tests are the calls into them at those `match` arms (and two
//! `MaybeUninit` reads), resting on the CPU check made when the detector
//! was built. Every level gives the same bits.
//!
//! The files follow libfvad's sources: `core.rs` (`vad_core.c`), `gmm.rs`
//! (`vad_gmm.c`), `filterbank.rs` (`vad_filterbank.c`), `sp.rs`
//! (`vad_sp.c`), `resample48.rs` (the 48 → 8 kHz resampler) and `spl.rs`
//! (the fixed-point helpers).
//!
//! # How it is verified
//!
//! The tests (`src/tests/`), at every level the CPU has, run the port and the crate side by side for every
//! rate × mode × frame length, over more than ten minutes of audio each: the
//! fixture calls (upsampled for the higher rates) and adversarial signals
//! (full-scale squares, ±32767 / −32768 alternation, DC at the rails, bursts
//! after silence, white noise at every level, chirps, impulses, speech from
//! near-silent to clipped, speech in noise), and require identical decisions
//! for every frame (1.8 million frames in all). Through test-only FFI to the
//! C functions the crate links, they also compare the *whole* internal state
//! after every frame (models, minima, filter and resampler states, the raw
//! hangover flag), the filterbank features, and the Gaussian probabilities
//! value by value; they mix frame lengths, mode changes and invalid frames
//! in one stream, and check the SSE2 filterbank and the fused AVX2 one
//! (two channels) against the portable one, and two channels processed
//! together against one at a time. A negative control shows that the
//! comparison does flag a port whose thresholds are off by the smallest
//! step that can matter, and a one-frame state difference.
//!
//! Counting branches once (temporary instrumentation, not kept), these
//! signals reach every branch of the model update and the filterbank,
//! including the places where the C code relies on wrap-around (the energy
//! sum, the all-pass state, the noise-std product, the resampler) and the
//! −32768 quirk, except four: the speech-mean floor (features never get that
//! low), the speech-std product and the final 48 kHz sum wrapping, and the
//! `int16_t` age wrap in FindMinimum (it needs ~65000 frames without an
//! insertion). Those are ported with the same wrapping arithmetic but not
//! exercised.

mod core;
mod filterbank;
mod gmm;
mod resample48;
mod sp;
mod spl;

#[cfg(test)]
mod tests;

use callprep_isa::Isa;

use crate::core::{Core, Thresholds, MODES};
use crate::filterbank::calculate_features;
use crate::resample48::resample_48khz_to_8khz;
use crate::sp::downsampling;

/// Number of frequency bands ("channels") of the filterbank.
pub(crate) const NUM_CHANNELS: usize = 6;
/// Gaussians per channel in each mixture model.
pub(crate) const NUM_GAUSSIANS: usize = 2;
/// `NUM_CHANNELS * NUM_GAUSSIANS`.
pub(crate) const TABLE_SIZE: usize = NUM_CHANNELS * NUM_GAUSSIANS;
/// Minimum energy required to trigger audio signal.
pub(crate) const MIN_ENERGY: i16 = 10;

/// The input rates libfvad takes, in kHz (samples per ms).
pub(crate) const VALID_RATES_KHZ: [usize; 4] = [8, 16, 32, 48];

/// A WebRTC voice activity detector, bit-exact with libfvad (the C library
/// behind the `webrtc-vad` crate) but faster. One instance per audio stream:
/// it adapts to the stream's noise floor.
#[derive(Debug, Clone)]
pub struct Fvad {
    /// Samples per millisecond: 8, 16, 32 or 48.
    khz: usize,
    mode: u8,
    thresholds: Thresholds,
    core: Core,
    /// The code this detector runs, chosen when it was built.
    level: Level,
}

/// The code a detector runs: chosen once, when it is built
/// ([`Level::new`]), and passed down to every place that has more than one
/// version, which `match`es on it.
///
/// Invariant: a `Level::Avx2` is only ever made by [`Level::new`], after
/// checking that the CPU has AVX2; the `unsafe` calls into the AVX2 code
/// rely on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Plain Rust, no hand-written intrinsics (not even SSE2): the code
    /// every other architecture runs. [`Isa::Portable`].
    Portable,
    /// The SSE2 two-level filterbank, the AVX2 filterbank of two channels,
    /// the AVX2 build of the whole 8 kHz VAD and the AVX2 model update.
    /// [`Isa::Avx2`] and [`Isa::Avx512`] (the VAD has no AVX-512 code).
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Level {
    /// The best code at or below `isa` that this CPU runs.
    pub(crate) fn new(isa: Isa) -> Level {
        #[cfg(target_arch = "x86_64")]
        if isa >= Isa::Avx2 && Isa::Avx2.supported() {
            return Level::Avx2;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = isa;
        Level::Portable
    }

    /// The instruction-set level this code is.
    pub(crate) fn isa(self) -> Isa {
        match self {
            Level::Portable => Isa::Portable,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => Isa::Avx2,
        }
    }
}

impl Fvad {
    /// A fresh detector for `rate_hz` (8000, 16000, 32000 or 48000) and
    /// aggressiveness `mode` (0 = quality … 3 = very aggressive, with
    /// libfvad's thresholds). `None` for any other rate or mode.
    ///
    /// Higher rates are downsampled to 8 kHz first, exactly as libfvad does.
    ///
    /// Runs the best code this CPU has ([`Isa::best`], detected here, once);
    /// see [`Self::with_isa`].
    pub fn new(rate_hz: u32, mode: u8) -> Option<Fvad> {
        Fvad::with_isa(rate_hz, mode, Isa::best())
    }

    /// [`Self::new`] running the code of instruction-set level `isa`, or of
    /// the best level below it that this detector has and this CPU runs:
    /// [`Isa::Portable`] runs plain Rust (no hand-written intrinsics), and
    /// [`Isa::Avx2`] and [`Isa::Avx512`] run the SSE2 and AVX2 code (there
    /// is no AVX-512 code). [`Self::isa`] says which. The level is checked
    /// against the CPU here, once; every level gives the same decisions and
    /// state, bit for bit.
    pub fn with_isa(rate_hz: u32, mode: u8, isa: Isa) -> Option<Fvad> {
        let khz = VALID_RATES_KHZ
            .into_iter()
            .find(|&k| k as u32 * 1000 == rate_hz)?;
        let thresholds = *MODES.get(mode as usize)?;
        Some(Fvad {
            khz,
            mode,
            thresholds,
            core: Core::new(),
            level: Level::new(isa),
        })
    }

    /// The instruction-set level this detector runs (see [`Self::with_isa`]):
    /// [`Isa::Portable`] or [`Isa::Avx2`].
    pub fn isa(&self) -> Isa {
        self.level.isa()
    }

    /// The input rate in Hz.
    pub fn rate_hz(&self) -> u32 {
        self.khz as u32 * 1000
    }

    /// The aggressiveness mode, 0–3.
    pub fn mode(&self) -> u8 {
        self.mode
    }

    /// Changes the mode and keeps all adaptive state (like `fvad_set_mode`).
    /// Returns `false`, changing nothing, for a mode above 3.
    pub fn set_mode(&mut self, mode: u8) -> bool {
        match MODES.get(mode as usize) {
            Some(t) => {
                self.thresholds = *t;
                self.mode = mode;
                true
            }
            None => false,
        }
    }

    /// Forgets all adaptive state, as a fresh instance. Unlike `fvad_reset`
    /// (which also returns to 8 kHz and mode 0) the rate and mode are kept.
    pub fn reset(&mut self) {
        self.core = Core::new();
    }

    /// Whether `len` samples is a frame this detector takes: 10, 20 or 30 ms
    /// at its rate.
    pub fn is_valid_frame_len(&self, len: usize) -> bool {
        len == 10 * self.khz || len == 20 * self.khz || len == 30 * self.khz
    }

    /// The decision for one frame of 10, 20 or 30 ms: `true` for speech.
    ///
    /// A frame of any other length yields `false` and leaves the state
    /// untouched (libfvad's `fvad_process` returns −1 then; use
    /// [`Self::try_process`] to tell the two apart). Never panics.
    #[inline]
    pub fn process(&mut self, frame: &[i16]) -> bool {
        self.try_process(frame).unwrap_or(false)
    }

    /// Like [`Self::process`], but `None` for a frame of an invalid length
    /// (state untouched).
    pub fn try_process(&mut self, frame: &[i16]) -> Option<bool> {
        self.process_raw(frame).map(|vad| vad != 0)
    }

    /// The decisions for one frame of each of `P` channels, each with its
    /// own detector: the same as `vads[p].process(frames[p])` one after the
    /// other, but when all detectors have the same rate and all frames the
    /// same valid length, the channels' filterbanks run in one loop, which
    /// overlaps their recurrence chains (two channels take about 1.2 times
    /// the time of one).
    ///
    /// Detectors built at different levels ([`Self::with_isa`]) run
    /// together at the lowest of their levels (the same decisions either
    /// way).
    pub fn process_many<const P: usize>(
        mut vads: [&mut Fvad; P],
        frames: [&[i16]; P],
    ) -> [bool; P] {
        let khz = vads[0].khz;
        let len = frames[0].len();
        let uniform = vads.iter().all(|v| v.khz == khz)
            && frames.iter().all(|f| f.len() == len)
            && vads[0].is_valid_frame_len(len);
        if !uniform {
            return std::array::from_fn(|p| vads[p].process(frames[p]));
        }
        let level = vads.iter().map(|v| v.level).min();
        let level = level.unwrap_or(Level::Portable);
        let raw = if khz == 8 {
            Self::calc_vad_8khz(level, vads, frames)
        } else {
            let mut bufs = [[0i16; 240]; P];
            let mut n = 0;
            for (p, buf) in bufs.iter_mut().enumerate() {
                n = vads[p].narrowband(frames[p], buf);
            }
            Self::calc_vad_8khz(level, vads, std::array::from_fn(|p| &bufs[p][..n]))
        };
        raw.map(|vad| vad != 0)
    }

    /// `fvad_process` before its `rv > 0` → 1 step: 0 for noise, 1 for
    /// speech, 2 + hangover for a hangover frame; `None` for a bad length.
    fn process_raw(&mut self, frame: &[i16]) -> Option<i16> {
        if !self.is_valid_frame_len(frame.len()) {
            return None;
        }
        if self.khz == 8 {
            return Some(Self::calc_vad_8khz(self.level, [self], [frame])[0]);
        }
        let mut buf = [0i16; 240];
        let n = self.narrowband(frame, &mut buf);
        Some(Self::calc_vad_8khz(self.level, [self], [&buf[..n]])[0])
    }

    /// Downsamples a valid-length `frame` above 8 kHz to 8 kHz into `nb` as
    /// libfvad does (advancing this detector's resampler states); returns
    /// the 8 kHz length (80, 160 or 240). At 8 kHz, copies the frame.
    fn narrowband(&mut self, frame: &[i16], nb: &mut [i16; 240]) -> usize {
        let n = frame.len() / self.khz * 8;
        let nb = &mut nb[..n];
        match self.khz {
            8 => nb.copy_from_slice(frame),
            16 => {
                let (lo, _) = self.core.downsampling_filter_states.split_at_mut(2);
                downsampling(frame, nb, lo);
            }
            32 => {
                let mut wb = [0i16; 480];
                let wb = &mut wb[..frame.len() / 2];
                let (lo, hi) = self.core.downsampling_filter_states.split_at_mut(2);
                downsampling(frame, wb, hi);
                downsampling(wb, nb, lo);
            }
            _ => {
                // libfvad passes the start of the frame for every 10 ms
                // sub-frame (see the module docs): only the first 480
                // samples are ever read.
                let first: &[i16; 480] = frame[..480].try_into().expect("a valid 48 kHz frame");
                for out in nb.as_chunks_mut::<80>().0 {
                    resample_48khz_to_8khz(first, out, &mut self.core.state_48_to_8);
                }
            }
        }
        n
    }

    /// `WebRtcVad_CalcVad8khz` for `P` channels: `frames[p]`, for detector
    /// `vads[p]`, all of 80, 160 or 240 samples, running `level`'s code.
    ///
    /// At [`Level::Avx2`] the whole of it is compiled a second time for
    /// AVX2, so that the loops the compiler vectorises (the band energies'
    /// squares shifted by a per-band amount, the features) use it too. All
    /// of it is integer arithmetic: the same values.
    #[inline]
    fn calc_vad_8khz<const P: usize>(
        level: Level,
        vads: [&mut Fvad; P],
        frames: [&[i16]; P],
    ) -> [i16; P] {
        match level {
            Level::Portable => Self::calc_vad_8khz_portable(vads, frames),
            // SAFETY: `Level::Avx2` exists only if the CPU has AVX2, which
            // was checked when the detectors were built (`Level::new`).
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => unsafe { Self::calc_vad_8khz_avx2(vads, frames) },
        }
    }

    /// [`Self::calc_vad_8khz`] at [`Level::Avx2`]: compiled with AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn calc_vad_8khz_avx2<const P: usize>(vads: [&mut Fvad; P], frames: [&[i16]; P]) -> [i16; P] {
        Self::calc_vad_8khz_body(Level::Avx2, vads, frames)
    }

    /// [`Self::calc_vad_8khz`] at [`Level::Portable`].
    fn calc_vad_8khz_portable<const P: usize>(
        vads: [&mut Fvad; P],
        frames: [&[i16]; P],
    ) -> [i16; P] {
        Self::calc_vad_8khz_body(Level::Portable, vads, frames)
    }

    /// The body of [`Self::calc_vad_8khz`], inlined into each level's build
    /// with `level` a constant, so that its `match`es on the level fold.
    #[inline(always)]
    fn calc_vad_8khz_body<const P: usize>(
        level: Level,
        mut vads: [&mut Fvad; P],
        frames: [&[i16]; P],
    ) -> [i16; P] {
        let len = frames[0].len();
        let cores = vads.each_mut().map(|v| &mut v.core);
        let mut features = [[0i16; NUM_CHANNELS]; P];
        // One copy of the filterbank per frame length, so that every loop
        // in it has a constant trip count.
        let totals = match len {
            80 => calculate_features::<P, 80, 40, 20, 10, 5>(
                level,
                cores,
                frames.map(as_frame),
                &mut features,
            ),
            160 => calculate_features::<P, 160, 80, 40, 20, 10>(
                level,
                cores,
                frames.map(as_frame),
                &mut features,
            ),
            _ => calculate_features::<P, 240, 120, 60, 30, 15>(
                level,
                cores,
                frames.map(as_frame),
                &mut features,
            ),
        };
        std::array::from_fn(|p| {
            let v = &mut *vads[p];
            v.core
                .gmm_probability(level, &v.thresholds, &features[p], totals[p], len)
        })
    }
}

/// `frame` as an array of the length its caller checked.
#[inline(always)]
fn as_frame<const N: usize>(frame: &[i16]) -> &[i16; N] {
    frame.try_into().expect("the frame length was checked")
}
