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
//!   loop, in the shadow of its chain (`sse2::two_levels`); levels 3 and 4
//!   run the same way; two channels processed together share the vectors
//!   on CPUs with AVX2, where the whole filterbank is one loop
//!   (`avx2::filterbank_pair`: level 1 of both in four lanes, level 2 of
//!   both in eight, levels 3 and 4 in four lanes each and the high-pass a
//!   few blocks behind level 2, so that level 1's chain alone sets the
//!   pace);
//! - the filterbank is compiled once per frame length, so every band loop
//!   (and the energies) has a constant trip count;
//! - `1/std` of every Gaussian is cached and refreshed when the std changes,
//!   taking 12 of the 24 divisions per frame off the likelihood path;
//! - with AVX2, the Gaussian-mixture test and model update run on the six
//!   channels at once, one per vector lane (`gmm_avx2`: no channel's update
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
//! after the other). No
//! allocation. The only `unsafe` are the calls into the SSE2 and AVX2
//! functions (`#[target_feature]`; SSE2 is part of the x86-64 baseline,
//! AVX2 is checked at run time, and the functions use no pointer
//! intrinsics); other targets use the portable `two_levels_portable`, which
//! the tests check against both.
//!
//! # How it is verified
//!
//! The tests in this file run the port and the crate side by side for every
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

use std::mem::MaybeUninit;

/// Number of frequency bands ("channels") of the filterbank.
const NUM_CHANNELS: usize = 6;
/// Gaussians per channel in each mixture model.
const NUM_GAUSSIANS: usize = 2;
/// `NUM_CHANNELS * NUM_GAUSSIANS`.
const TABLE_SIZE: usize = NUM_CHANNELS * NUM_GAUSSIANS;
/// Minimum energy required to trigger audio signal.
const MIN_ENERGY: i16 = 10;

// ---- vad_core.c -------------------------------------------------------------

const SPECTRUM_WEIGHT: [i16; NUM_CHANNELS] = [6, 8, 10, 12, 14, 16];
const NOISE_UPDATE_CONST: i32 = 655; // Q15
const SPEECH_UPDATE_CONST: i32 = 6554; // Q15
const BACK_ETA: i32 = 154; // Q8
/// Minimum difference between the two models, Q5.
const MINIMUM_DIFFERENCE: [i16; NUM_CHANNELS] = [544, 544, 576, 576, 576, 576];
/// Upper limit of mean value for speech model, Q7.
const MAXIMUM_SPEECH: [i16; NUM_CHANNELS] = [11392, 11392, 11520, 11520, 11520, 11520];
/// Minimum value for mean value.
const MINIMUM_MEAN: [i16; NUM_GAUSSIANS] = [640, 768];
/// Upper limit of mean value for noise model, Q7.
const MAXIMUM_NOISE: [i16; NUM_CHANNELS] = [9216, 9088, 8960, 8832, 8704, 8576];
const NOISE_DATA_WEIGHTS: [i16; TABLE_SIZE] = [34, 62, 72, 66, 53, 25, 94, 66, 56, 62, 75, 103];
const SPEECH_DATA_WEIGHTS: [i16; TABLE_SIZE] = [48, 82, 45, 87, 50, 47, 80, 46, 83, 41, 78, 81];
const NOISE_DATA_MEANS: [i16; TABLE_SIZE] = [
    6738, 4892, 7065, 6715, 6771, 3369, 7646, 3863, 7820, 7266, 5020, 4362,
];
const SPEECH_DATA_MEANS: [i16; TABLE_SIZE] = [
    8306, 10085, 10078, 11823, 11843, 6309, 9473, 9571, 10879, 7581, 8180, 7483,
];
const NOISE_DATA_STDS: [i16; TABLE_SIZE] =
    [378, 1064, 493, 582, 688, 593, 474, 697, 475, 688, 421, 455];
const SPEECH_DATA_STDS: [i16; TABLE_SIZE] = [
    555, 505, 567, 524, 585, 1231, 509, 828, 492, 1540, 1079, 850,
];
/// Maximum number of counted speech (VAD = 1) frames in a row.
const MAX_SPEECH_FRAMES: i16 = 6;
/// Minimum standard deviation for both speech and noise.
const MIN_STD: i16 = 384;

/// Per-mode thresholds of `WebRtcVad_set_mode_core`, each indexed by frame
/// length (10, 20, 30 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Thresholds {
    over_hang_max_1: [i16; 3],
    over_hang_max_2: [i16; 3],
    individual: [i16; 3],
    total: [i16; 3],
}

/// Modes 0 (quality), 1 (low bitrate), 2 (aggressive), 3 (very aggressive).
const MODES: [Thresholds; 4] = [
    Thresholds {
        over_hang_max_1: [8, 4, 3],
        over_hang_max_2: [14, 7, 5],
        individual: [24, 21, 24],
        total: [57, 48, 57],
    },
    Thresholds {
        over_hang_max_1: [8, 4, 3],
        over_hang_max_2: [14, 7, 5],
        individual: [37, 32, 37],
        total: [100, 80, 100],
    },
    Thresholds {
        over_hang_max_1: [6, 3, 2],
        over_hang_max_2: [9, 5, 3],
        individual: [82, 78, 82],
        total: [285, 260, 285],
    },
    Thresholds {
        over_hang_max_1: [6, 3, 2],
        over_hang_max_2: [9, 5, 3],
        individual: [94, 94, 94],
        total: [1100, 1050, 1100],
    },
];

// ---- vad_filterbank.c -------------------------------------------------------

/// 160 * log10(2) in Q9.
const LOG_CONST: i32 = 24660;
/// 14 in Q10.
const LOG_ENERGY_INT_PART: i16 = 14336;
/// High-pass filter coefficients, Q14.
const HP_ZERO_COEFS: [i32; 3] = [6631, -13262, 6631];
const HP_POLE_COEFS: [i32; 3] = [16384, -7756, 5620];
/// All-pass coefficients (upper 0.64, lower 0.17) in Q15.
const ALL_PASS_UPPER_Q15: i32 = 20972;
const ALL_PASS_LOWER_Q15: i32 = 5571;
/// Adjustment for division with two in `SplitFilter`.
const OFFSET_VECTOR: [i16; NUM_CHANNELS] = [368, 368, 272, 176, 176, 176];

// ---- vad_gmm.c --------------------------------------------------------------

const COMP_VAR: i32 = 22005;
/// log2(exp(1)) in Q12.
const LOG2_EXP: i32 = 5909;

// ---- vad_sp.c ---------------------------------------------------------------

/// All-pass coefficients (upper 0.64, lower 0.17) in Q13.
const ALL_PASS_UPPER_Q13: i32 = 5243;
const ALL_PASS_LOWER_Q13: i32 = 1392;
/// 0.2 in Q15.
const SMOOTHING_DOWN: i32 = 6553;
/// 0.99 in Q15.
const SMOOTHING_UP: i32 = 32439;

// ---- resample_by_2_internal.c / resample_fractional.c -----------------------

/// All-pass coefficients of the half-band resampler filters.
const RESAMPLE_ALLPASS: [[i32; 3]; 2] = [[821, 6110, 12382], [3050, 9368, 15063]];
/// Interpolation coefficients of the 3 → 2 resampler.
const COEFFICIENTS_48_TO_32: [[i32; 8]; 2] = [
    [778, -2050, 1087, 23285, 12903, -3783, 441, 222],
    [222, 441, -3783, 12903, 23285, 1087, -2050, 778],
];

/// The input rates libfvad takes, in kHz (samples per ms).
const VALID_RATES_KHZ: [usize; 4] = [8, 16, 32, 48];

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
}

/// The adaptive state of `VadInstT` (all of it but the mode thresholds).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Core {
    /// `[0..2]`: 16 → 8 kHz, `[2..4]`: 32 → 16 kHz.
    downsampling_filter_states: [i32; 4],
    state_48_to_8: Resample48State,
    noise_means: [i16; TABLE_SIZE],
    speech_means: [i16; TABLE_SIZE],
    noise_stds: [i16; TABLE_SIZE],
    speech_stds: [i16; TABLE_SIZE],
    /// [`inv_std`] of `noise_stds` / `speech_stds`, kept up to date with
    /// them (not in the C state: derived, to take the division out of the
    /// likelihood computation).
    noise_inv_stds: [[i16; 2]; TABLE_SIZE],
    speech_inv_stds: [[i16; 2]; TABLE_SIZE],
    frame_counter: i32,
    over_hang: i16,
    num_of_speech: i16,
    /// Age of each of the 16 smallest feature values, per channel.
    index_vector: [[i16; 16]; NUM_CHANNELS],
    /// The 16 smallest feature values of the last 100 frames, per channel.
    low_value_vector: [[i16; 16]; NUM_CHANNELS],
    /// Smoothed median of the minima, per channel.
    mean_value: [i16; NUM_CHANNELS],
    /// The filterbank's `upper_state`, `lower_state` and `hp_filter_state`.
    filter: FilterStates,
}

/// `WebRtcSpl_State48khzTo8khz`, the all-pass cascade states grouped by
/// cascade (`S_48_24[8]` is `s_48_24[2][4]`, and so on).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resample48State {
    s_48_24: [[i32; 4]; 2],
    s_24_24: [[i32; 4]; 4],
    s_24_16: [i32; 8],
    s_16_8: [[i32; 4]; 2],
}

impl Core {
    /// `WebRtcVad_InitCore` (minus the mode, which [`Fvad`] keeps).
    fn new() -> Self {
        Core {
            downsampling_filter_states: [0; 4],
            state_48_to_8: Resample48State {
                s_48_24: [[0; 4]; 2],
                s_24_24: [[0; 4]; 4],
                s_24_16: [0; 8],
                s_16_8: [[0; 4]; 2],
            },
            noise_means: NOISE_DATA_MEANS,
            speech_means: SPEECH_DATA_MEANS,
            noise_stds: NOISE_DATA_STDS,
            speech_stds: SPEECH_DATA_STDS,
            noise_inv_stds: NOISE_DATA_STDS.map(inv_std),
            speech_inv_stds: SPEECH_DATA_STDS.map(inv_std),
            frame_counter: 0,
            over_hang: 0,
            num_of_speech: 0,
            index_vector: [[0; 16]; NUM_CHANNELS],
            low_value_vector: [[10000; 16]; NUM_CHANNELS],
            mean_value: [1600; NUM_CHANNELS],
            filter: FilterStates {
                splits: [[0; 2]; 5],
                high_pass: [0; 4],
            },
        }
    }
}

impl Fvad {
    /// A fresh detector for `rate_hz` (8000, 16000, 32000 or 48000) and
    /// aggressiveness `mode` (0 = quality … 3 = very aggressive, with
    /// libfvad's thresholds). `None` for any other rate or mode.
    ///
    /// Higher rates are downsampled to 8 kHz first, exactly as libfvad does.
    pub fn new(rate_hz: u32, mode: u8) -> Option<Fvad> {
        let khz = VALID_RATES_KHZ
            .into_iter()
            .find(|&k| k as u32 * 1000 == rate_hz)?;
        let thresholds = *MODES.get(mode as usize)?;
        Some(Fvad {
            khz,
            mode,
            thresholds,
            core: Core::new(),
        })
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
        let raw = if khz == 8 {
            Self::calc_vad_8khz(vads, frames)
        } else {
            let mut bufs = [[0i16; 240]; P];
            let mut n = 0;
            for (p, buf) in bufs.iter_mut().enumerate() {
                n = vads[p].narrowband(frames[p], buf);
            }
            Self::calc_vad_8khz(vads, std::array::from_fn(|p| &bufs[p][..n]))
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
            return Some(Self::calc_vad_8khz([self], [frame])[0]);
        }
        let mut buf = [0i16; 240];
        let n = self.narrowband(frame, &mut buf);
        Some(Self::calc_vad_8khz([self], [&buf[..n]])[0])
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
    /// `vads[p]`, all of 80, 160 or 240 samples.
    ///
    /// With AVX2 the whole of it is compiled a second time for AVX2 and
    /// chosen at run time, so that the loops the compiler vectorises (the
    /// band energies' squares shifted by a per-band amount, the features)
    /// use it too. All of it is integer arithmetic: the same values.
    fn calc_vad_8khz<const P: usize>(vads: [&mut Fvad; P], frames: [&[i16]; P]) -> [i16; P] {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked on the line above.
            return unsafe { Self::calc_vad_8khz_avx2(vads, frames) };
        }
        Self::calc_vad_8khz_portable(vads, frames)
    }

    /// [`Self::calc_vad_8khz`] compiled with AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn calc_vad_8khz_avx2<const P: usize>(vads: [&mut Fvad; P], frames: [&[i16]; P]) -> [i16; P] {
        Self::calc_vad_8khz_portable(vads, frames)
    }

    #[inline(always)]
    fn calc_vad_8khz_portable<const P: usize>(
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
                cores,
                frames.map(as_frame),
                &mut features,
            ),
            160 => calculate_features::<P, 160, 80, 40, 20, 10>(
                cores,
                frames.map(as_frame),
                &mut features,
            ),
            _ => calculate_features::<P, 240, 120, 60, 30, 15>(
                cores,
                frames.map(as_frame),
                &mut features,
            ),
        };
        std::array::from_fn(|p| {
            let v = &mut *vads[p];
            v.core
                .gmm_probability(&v.thresholds, &features[p], totals[p], len)
        })
    }
}

/// `frame` as an array of the length its caller checked.
#[inline(always)]
fn as_frame<const N: usize>(frame: &[i16]) -> &[i16; N] {
    frame.try_into().expect("the frame length was checked")
}

// ---- fixed-point helpers (spl_inl.h, division_operations.c) ----------------

/// `WebRtcSpl_NormW32`: left shifts `a` takes without overflow (0 for 0).
#[inline(always)]
fn norm_w32(a: i32) -> i16 {
    if a == 0 {
        0
    } else {
        let v = if a < 0 { !a } else { a };
        (v as u32).leading_zeros() as i16 - 1
    }
}

/// `WebRtcSpl_NormU32`.
#[inline(always)]
fn norm_u32(a: u32) -> i32 {
    if a == 0 {
        0
    } else {
        a.leading_zeros() as i32
    }
}

/// `WebRtcSpl_DivW32W16`: truncating division, `i32::MAX` for a zero
/// denominator.
#[inline(always)]
fn div_w32_w16(num: i32, den: i16) -> i32 {
    if den != 0 {
        num.wrapping_div(den as i32)
    } else {
        0x7FFF_FFFF
    }
}

// ---- vad_sp.c: WebRtcVad_Downsampling ---------------------------------------

/// Halves the rate of `input` into `out` (`out.len() == input.len() / 2`)
/// with the two all-pass branches of `WebRtcVad_Downsampling` (already
/// interleaved in the C code).
fn downsampling(input: &[i16], out: &mut [i16], state: &mut [i32]) {
    let mut s1 = state[0];
    let mut s2 = state[1];
    for (pair, o) in input.chunks_exact(2).zip(out.iter_mut()) {
        let x1 = pair[0] as i32;
        let x2 = pair[1] as i32;
        // Upper branch.
        let t1 = ((s1 >> 1) + ((ALL_PASS_UPPER_Q13 * x1) >> 14)) as i16;
        s1 = x1 - ((ALL_PASS_UPPER_Q13 * t1 as i32) >> 12);
        // Lower branch.
        let t2 = ((s2 >> 1) + ((ALL_PASS_LOWER_Q13 * x2) >> 14)) as i16;
        s2 = x2 - ((ALL_PASS_LOWER_Q13 * t2 as i32) >> 12);
        *o = t1.wrapping_add(t2);
    }
    state[0] = s1;
    state[1] = s2;
}

// ---- 48 -> 8 kHz resampler (resample_48khz.c and friends) -------------------

/// One three-stage all-pass section of the half-band resampler filters, on
/// `state[0..4]` (the stage bodies of `resample_by_2_internal.c`; all four
/// functions use the same arithmetic). Returns the new `state[3]`.
#[inline(always)]
fn allpass3(x: i32, s: &mut [i32; 4], k: &[i32; 3]) -> i32 {
    // Scale down and round.
    let diff = (x.wrapping_sub(s[1]).wrapping_add(1 << 13)) >> 14;
    let tmp1 = s[0].wrapping_add(diff.wrapping_mul(k[0]));
    s[0] = x;
    // Scale down and truncate (the C's `>> 14`, then `+ 1` if negative).
    let mut diff = tmp1.wrapping_sub(s[2]) >> 14;
    if diff < 0 {
        diff += 1;
    }
    let tmp0 = s[1].wrapping_add(diff.wrapping_mul(k[1]));
    s[1] = tmp1;
    let mut diff = tmp0.wrapping_sub(s[3]) >> 14;
    if diff < 0 {
        diff += 1;
    }
    s[3] = s[2].wrapping_add(diff.wrapping_mul(k[2]));
    s[2] = tmp0;
    s[3]
}

/// `WebRtcSpl_DownBy2ShortToInt`: 480 × i16 → 240 × i32 (Q15 + offset).
/// The lower (even samples) and upper (odd samples) cascades run in one loop.
fn down_by_2_short_to_int(input: &[i16; 480], out: &mut [i32; 240], state: &mut [[i32; 4]; 2]) {
    let [mut lo, mut up] = *state;
    for (pair, o) in input.chunks_exact(2).zip(out.iter_mut()) {
        let x0 = ((pair[0] as i32) << 15) + (1 << 14);
        let x1 = ((pair[1] as i32) << 15) + (1 << 14);
        let a = allpass3(x0, &mut lo, &RESAMPLE_ALLPASS[1]) >> 1;
        let b = allpass3(x1, &mut up, &RESAMPLE_ALLPASS[0]) >> 1;
        *o = a.wrapping_add(b);
    }
    *state = [lo, up];
}

/// `WebRtcSpl_LPBy2IntToInt`: 240 × i32 → 240 × i32, low-pass at the same
/// rate. Its four all-pass cascades (two per output phase) are independent
/// and run in one loop.
fn lp_by_2_int_to_int(input: &[i32; 240], out: &mut [i32], state: &mut [[i32; 4]; 4]) {
    let [mut a, mut b, mut c, mut d] = *state;
    // The lower cascade of the even outputs sees the odd inputs delayed by
    // one: its first input is the last odd input of the previous call, which
    // the C keeps in `state[12]` (the first state of the last cascade).
    let mut prev_odd = d[0];
    for (pair, o) in input.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
        let (even, odd) = (pair[0], pair[1]);
        let ya = allpass3(prev_odd, &mut a, &RESAMPLE_ALLPASS[1]);
        let yb = allpass3(even, &mut b, &RESAMPLE_ALLPASS[0]);
        let yc = allpass3(even, &mut c, &RESAMPLE_ALLPASS[1]);
        let yd = allpass3(odd, &mut d, &RESAMPLE_ALLPASS[0]);
        prev_odd = odd;
        o[0] = (ya >> 1).wrapping_add(yb >> 1) >> 15;
        o[1] = (yc >> 1).wrapping_add(yd >> 1) >> 15;
    }
    *state = [a, b, c, d];
}

/// `WebRtcSpl_Resample48khzTo32khz` with K = 80: 3 inputs → 2 outputs per
/// block, `input` being 8 history values followed by 240 new ones.
fn resample_48khz_to_32khz(input: &[i32; 248], out: &mut [i32; 160]) {
    let [c0, c1] = &COEFFICIENTS_48_TO_32;
    for (m, o) in out.chunks_exact_mut(2).enumerate() {
        let win = &input[3 * m..3 * m + 9];
        let mut t0: i32 = 1 << 14;
        let mut t1: i32 = 1 << 14;
        for j in 0..8 {
            t0 = t0.wrapping_add(c0[j].wrapping_mul(win[j]));
            t1 = t1.wrapping_add(c1[j].wrapping_mul(win[j + 1]));
        }
        o[0] = t0;
        o[1] = t1;
    }
}

/// `WebRtcSpl_DownBy2IntToShort`: 160 × i32 → 80 × i16, saturating. The two
/// cascades run in one loop.
fn down_by_2_int_to_short(input: &[i32; 160], out: &mut [i16; 80], state: &mut [[i32; 4]; 2]) {
    let [mut lo, mut up] = *state;
    for (pair, o) in input.chunks_exact(2).zip(out.iter_mut()) {
        let a = allpass3(pair[0], &mut lo, &RESAMPLE_ALLPASS[1]) >> 1;
        let b = allpass3(pair[1], &mut up, &RESAMPLE_ALLPASS[0]) >> 1;
        let t = a.wrapping_add(b) >> 15;
        *o = t.clamp(-32768, 32767) as i16;
    }
    *state = [lo, up];
}

/// `WebRtcSpl_Resample48khzTo8khz`: 480 samples at 48 kHz → 80 at 8 kHz.
fn resample_48khz_to_8khz(input: &[i16; 480], out: &mut [i16; 80], st: &mut Resample48State) {
    // 48 → 24.
    let mut at24 = [0i32; 240];
    down_by_2_short_to_int(input, &mut at24, &mut st.s_48_24);
    // 24 → 24 (low-pass), behind 8 values of history for the 3/2 step.
    let mut lp = [0i32; 248];
    lp[..8].copy_from_slice(&st.s_24_16);
    lp_by_2_int_to_int(&at24, &mut lp[8..], &mut st.s_24_24);
    st.s_24_16.copy_from_slice(&lp[240..]);
    // 24 → 16.
    let mut at16 = [0i32; 160];
    resample_48khz_to_32khz(&lp, &mut at16);
    // 16 → 8.
    down_by_2_int_to_short(&at16, out, &mut st.s_16_8);
}

// ---- vad_filterbank.c -------------------------------------------------------

/// Q15 working state from the stored Q(-1) `int16_t` state.
#[inline(always)]
fn load_state(s: i16) -> i32 {
    (s as i32) << 16
}

/// All-pass coefficients per input position of a split: upper on even
/// samples, lower on odd ones.
const SPLIT_COEFS: [i16; 240] = {
    let mut c = [ALL_PASS_UPPER_Q15 as i16; 240];
    let mut i = 1;
    while i < 240 {
        c[i] = ALL_PASS_LOWER_Q15 as i16;
        i += 2;
    }
    c
};

/// Two levels of the filterbank in one pass: `data` split in two (the
/// "first" split: upper all-pass on even samples, lower on odd ones, high
/// band `u − l`, low band `l + u`), then each half split again (the
/// "second" level: lanes 0 and 1 split the high band, lanes 2 and 3 the low
/// band). `first` holds the first split's `int16_t` states (upper, lower),
/// `second` the four second-level ones in lane order. Writes the first
/// split's high band to `high1` if given, and the four quarter bands (high
/// of the high half, low of the high half, high of the low half, low of the
/// low half) to `out`.
///
/// Used twice per frame by [`filterbank`] (unless it runs two channels
/// with AVX2): bands 0 → 1, 2 (the frame to four quarter bands) and bands
/// 3 → 4 (0–1000 Hz to 500–1000, 250–500 and 0–250 Hz; lanes 0 and 1 then
/// compute nothing that is used). The first split is the
/// longest recurrence chain of its pass; on x86-64 its two branches run in
/// two SSE2 lanes and the second level's four in four lanes, one block
/// behind, in the same loop (`sse2::two_levels`), so the second level runs
/// in the shadow of the first one's chain.
///
/// `P` channels' filterbanks run together (see `sse2::two_levels`): entry
/// `p` of every array belongs to channel `p`.
#[inline(always)]
fn two_levels<const P: usize, const N: usize, const H: usize, const Q: usize>(
    data: [&[i16; N]; P],
    first: &mut [[i16; 2]; P],
    second: &mut [[i16; 4]; P],
    high1: Option<[&mut [i16; H]; P]>,
    out: [&mut [[i16; Q]; 4]; P],
) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the function only requires SSE2, which is part of the
        // x86-64 baseline: every CPU this code can run on has it.
        unsafe { sse2::two_levels(data, first, second, high1, out) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut high1 = high1;
        for (p, out) in out.into_iter().enumerate() {
            let h = high1.as_mut().map(|h| &mut *h[p]);
            two_levels_portable(data[p], &mut first[p], &mut second[p], h, out);
        }
    }
}

/// One channel's filterbank state as the C code keeps it between frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FilterStates {
    /// The `int16_t` all-pass states `[upper_state[i], lower_state[i]]` of
    /// split `i`: 0 for level 1, 1 and 2 for level 2's splits of the high
    /// and the low half, 3 and 4 for levels 3 and 4.
    splits: [[i16; 2]; 5],
    /// `hp_filter_state`: `[x1, x2, y1, y2]` of the high-pass.
    high_pass: [i16; 4],
}

/// One channel's filterbank outputs for a frame of `4 * Q` samples: what
/// the six features are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bands<const Q: usize, const E: usize, const S: usize> {
    /// [`energy`] of the first three bands of level 2: 3000–4000,
    /// 2000–3000 and 1000–2000 Hz (its fourth, 0–1000 Hz, is not a feature:
    /// levels 3 and 4 split it).
    level2_energy: [(i32, i32); 3],
    /// 500–1000 Hz, the high band of level 3.
    hp3: [i16; E],
    /// 250–500 Hz, the high band of level 4.
    hp4: [i16; S],
    /// 80–250 Hz: level 4's low band (0–250 Hz) through the high-pass.
    band0: [i16; S],
}

impl<const Q: usize, const E: usize, const S: usize> Bands<Q, E, S> {
    const ZERO: Self = Bands {
        level2_energy: [(0, 0); 3],
        hp3: [0; E],
        hp4: [0; S],
        band0: [0; S],
    };
}

/// The whole filterbank of `P` channels (entry `p` of every array belongs
/// to channel `p`): `data` (`N` samples, 0–4000 Hz) split four times, the
/// lowest band high-passed, into `bands`, advancing `states`.
///
/// Two channels with AVX2 (stereo calls, the common case) run it all in one
/// loop ([`avx2::filterbank_pair`]), where levels 3 and 4 and the
/// high-pass add no chain of their own. Otherwise [`two_levels`] runs
/// twice, levels 1 and 2, then levels 3 and 4 (whose lanes 0 and 1,
/// splitting level 3's high band, compute nothing that is used), then the
/// high-pass.
#[inline(always)]
fn filterbank<
    const P: usize,
    const N: usize,
    const H: usize,
    const Q: usize,
    const E: usize,
    const S: usize,
>(
    data: [&[i16; N]; P],
    states: &mut [FilterStates; P],
    bands: &mut [Bands<Q, E, S>; P],
) {
    #[cfg(target_arch = "x86_64")]
    if P == 2 && std::arch::is_x86_feature_detected!("avx2") {
        let data2 = <[&[i16; N]; 2]>::try_from(&data[..]);
        let states2 = <&mut [FilterStates; 2]>::try_from(&mut states[..]);
        let bands2 = <&mut [Bands<Q, E, S>; 2]>::try_from(&mut bands[..]);
        if let (Ok(d), Ok(s), Ok(b)) = (data2, states2, bands2) {
            // SAFETY: the CPU supports AVX2, checked above.
            unsafe { avx2::filterbank_pair(d, s, b) };
            return;
        }
    }

    let split = |p: usize, i: usize| states[p].splits[i];
    let mut first: [[i16; 2]; P] = std::array::from_fn(|p| split(p, 0));
    let mut second: [[i16; 4]; P] = std::array::from_fn(|p| {
        let [[u1, l1], [u2, l2]] = [split(p, 1), split(p, 2)];
        [u1, l1, u2, l2]
    });
    let mut first34: [[i16; 2]; P] = std::array::from_fn(|p| split(p, 3));
    let mut second34: [[i16; 4]; P] = std::array::from_fn(|p| {
        let [u4, l4] = split(p, 4);
        [0, 0, u4, l4]
    });

    let mut level2 = [[[0i16; Q]; 4]; P];
    two_levels::<P, N, H, Q>(data, &mut first, &mut second, None, level2.each_mut());
    // Level 3 reads level 2's lowest band and writes its high band.
    let lp2b: [&[i16; Q]; P] = std::array::from_fn(|p| &level2[p][3]);
    let hp3 = bands.each_mut().map(|b| &mut b.hp3);
    let mut level4 = [[[0i16; S]; 4]; P];
    two_levels(
        lp2b,
        &mut first34,
        &mut second34,
        Some(hp3),
        level4.each_mut(),
    );

    // The high-pass, the channels' chains interleaved.
    let mut hp: [[i32; 4]; P] = std::array::from_fn(|p| states[p].high_pass.map(i32::from));
    for i in 0..S {
        for ((b, hp), l4) in bands.iter_mut().zip(&mut hp).zip(&level4) {
            b.band0[i] = high_pass_step(hp, l4[3][i]);
        }
    }

    for p in 0..P {
        let [u1, l1, u2, l2] = second[p];
        let [_, _, u4, l4] = second34[p];
        states[p] = FilterStates {
            splits: [first[p], [u1, l1], [u2, l2], first34[p], [u4, l4]],
            high_pass: hp[p].map(|v| v as i16),
        };
        bands[p].hp4 = level4[p][2];
        bands[p].level2_energy = level2_energy(&level2[p]);
    }
}

/// [`Bands::level2_energy`] from level 2's four bands.
#[inline(always)]
fn level2_energy<const Q: usize>(level2: &[[i16; Q]; 4]) -> [(i32, i32); 3] {
    [energy(&level2[0]), energy(&level2[1]), energy(&level2[2])]
}

/// Half look-ahead bases of a split's two all-pass recurrences (upper on
/// even samples, lower on odd ones), for all positions at once:
/// `hb[k] = ((x[k] << 15) + c_k·x[k + 2]) >> 1`, `x` past the end being 0.
///
/// Writing `t` for a step's `state + c·x`, the C recurrence's next `t` is
/// `(x << 15) + c·x_next − 2c·y` with `y = t >> 16` (its state
/// `2·((x << 14) − c·y)` plus the next input's `c·x_next`, modulo 2^32). The
/// port carries `h = t >> 1` instead: `h' = hb − c·y` is exact (below
/// 2^31, no wrap), `t'` ≡ `2h' + (base & 1)` (mod 2^32), so bits 15..30 of
/// `h'` are bits 16..31 of `t'` and `(h' >> 15) as i16 == (t' >> 16) as
/// i16`: the same outputs, and the same `int16_t` state at the end, where
/// the look-ahead input is 0. Only `y` is on the loop-carried chain
/// (shift → multiply → subtract) and every multiplier fits 16 bits.
///
/// `hb` need not be initialised (a frame's bases are written every frame, so
/// zeroing the buffer first would only add 1 KiB of stores); the function
/// returns it initialised.
#[inline(always)]
fn allpass_half_bases<'a, const N: usize>(
    x: &[i16; N],
    hb: &'a mut [MaybeUninit<i32>; N],
) -> &'a [i32; N] {
    const { assert!(N >= 2 && N <= SPLIT_COEFS.len()) };
    let (now, ahead) = (&x[..N - 2], &x[2..]);
    for (((h, &xk), &xn), &c) in hb.iter_mut().zip(now).zip(ahead).zip(&SPLIT_COEFS) {
        h.write((((xk as i32) << 15) + c as i32 * xn as i32) >> 1);
    }
    // The last two samples look ahead into zeros.
    hb[N - 2].write(((x[N - 2] as i32) << 15) >> 1);
    hb[N - 1].write(((x[N - 1] as i32) << 15) >> 1);
    // SAFETY: the loop wrote `hb[..N - 2]` (`now` and `ahead` have N − 2
    // elements, SPLIT_COEFS at least N), the two lines above the last two;
    // `MaybeUninit<i32>` has the layout of `i32`.
    unsafe { &*(hb as *const [MaybeUninit<i32>; N]).cast::<[i32; N]>() }
}

/// The halved `t = state + c·x` a recurrence starts a frame with.
#[inline(always)]
fn half_start(state: i16, c: i32, x: i16) -> i32 {
    load_state(state).wrapping_add(c * x as i32) >> 1
}

/// One all-pass step in halved look-ahead form (see
/// [`allpass_half_bases`]): the output, and the next `h`.
#[inline(always)]
fn allpass_half_next(h: i32, hb: i32, c: i32) -> (i16, i32) {
    let y = (h >> 15) as i16;
    (y, hb - c * y as i32)
}

/// The `int16_t` state the C code stores, from a halved look-ahead value.
#[inline(always)]
fn store_state_half(h: i32) -> i16 {
    (h >> 15) as i16
}

/// [`two_levels`] without SIMD: the first split, then the second level's
/// four recurrences side by side (which the compiler vectorises). The
/// reference for the SSE2 version, and the implementation elsewhere.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn two_levels_portable<const N: usize, const H: usize, const Q: usize>(
    data: &[i16; N],
    first: &mut [i16; 2],
    second: &mut [i16; 4],
    high1: Option<&mut [i16; H]>,
    out: &mut [[i16; Q]; 4],
) {
    const { assert!(N == 2 * H && H == 2 * Q && Q >= 1 && Q <= 60) };
    const CU: i32 = ALL_PASS_UPPER_Q15;
    const CL: i32 = ALL_PASS_LOWER_Q15;
    let mut hb = [MaybeUninit::uninit(); N];
    let hb = allpass_half_bases(data, &mut hb);
    // The first split; its outputs in second-level lane order:
    // x[j] = [high[2j], high[2j + 1], low[2j], low[2j + 1]].
    let mut x = [[0i16; 4]; 61];
    let mut hu = half_start(first[0], CU, data[0]);
    let mut hl = half_start(first[1], CL, data[1]);
    for (b, x) in hb.chunks_exact(4).zip(x.iter_mut()) {
        let (yu0, yl0, yu1, yl1);
        (yu0, hu) = allpass_half_next(hu, b[0], CU);
        (yl0, hl) = allpass_half_next(hl, b[1], CL);
        (yu1, hu) = allpass_half_next(hu, b[2], CU);
        (yl1, hl) = allpass_half_next(hl, b[3], CL);
        *x = [
            yu0.wrapping_sub(yl0),
            yu1.wrapping_sub(yl1),
            yl0.wrapping_add(yu0),
            yl1.wrapping_add(yu1),
        ];
    }
    *first = [store_state_half(hu), store_state_half(hl)];
    if let Some(high1) = high1 {
        for (h, x) in high1.chunks_exact_mut(2).zip(&x) {
            (h[0], h[1]) = (x[0], x[1]);
        }
    }

    // The second level; `x[Q]` is the zero look-ahead.
    let mut h = [0i32; 4];
    for k in 0..4 {
        h[k] = half_start(second[k], LANE_COEFS[k] as i32, x[0][k]);
    }
    let mut y = [[0i16; 4]; Q];
    for (w, y) in x[..Q + 1].windows(2).zip(y.iter_mut()) {
        for k in 0..4 {
            let c = LANE_COEFS[k] as i32;
            let hb = (((w[0][k] as i32) << 15) + c * w[1][k] as i32) >> 1;
            (y[k], h[k]) = allpass_half_next(h[k], hb, c);
        }
    }
    *second = h.map(store_state_half);
    let [hpa, lpa, hpb, lpb] = out;
    for (j, y) in y.iter().enumerate() {
        hpa[j] = y[0].wrapping_sub(y[1]);
        lpa[j] = y[1].wrapping_add(y[0]);
        hpb[j] = y[2].wrapping_sub(y[3]);
        lpb[j] = y[3].wrapping_add(y[2]);
    }
}

/// The all-pass coefficients of the four second-level lanes: the upper and
/// the lower branch of the high half's split, then of the low half's.
const LANE_COEFS: [i16; 4] = [
    ALL_PASS_UPPER_Q15 as i16,
    ALL_PASS_LOWER_Q15 as i16,
    ALL_PASS_UPPER_Q15 as i16,
    ALL_PASS_LOWER_Q15 as i16,
];

/// SSE2 versions of the hot recurrences. Only value intrinsics (no pointer
/// access), so the sole `unsafe` is the call into the `target_feature`
/// function, and SSE2 is part of the x86-64 baseline.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::*;
    use std::arch::x86_64::*;

    /// Lane `K` of `v` (i32 lanes).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn lane<const K: i32>(v: __m128i) -> i32 {
        _mm_cvtsi128_si32(_mm_shuffle_epi32::<K>(v))
    }

    /// One step of the two level-1 recurrences (upper in lane 0, lower in
    /// lane 1) in halved look-ahead form: advances `h` and returns
    /// `[hp, lp, ..]` (low 16 bits of each i32 lane).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn level1_step(h: &mut __m128i, hb_upper: i32, hb_lower: i32, c: __m128i) -> __m128i {
        // y = h >> 15: pmaddwd reads its low 16 bits, i.e. y as i16.
        let y = _mm_srai_epi32::<15>(*h);
        *h = _mm_sub_epi32(
            _mm_set_epi32(0, 0, hb_lower, hb_upper),
            _mm_madd_epi16(y, c),
        );
        // [yu - yl, yu + yl]: lanes 0 of y - swap(y) and y + swap(y).
        let s = _mm_shuffle_epi32::<0b11_10_00_01>(y);
        _mm_unpacklo_epi32(_mm_sub_epi32(y, s), _mm_add_epi32(y, s))
    }

    /// See [`super::two_levels`]; the same arithmetic as
    /// [`super::two_levels_portable`], with the first split in two lanes and
    /// the second level in four, one block behind in the same loop.
    ///
    /// Runs `P` independent filterbanks (the same band of `P` channels) in
    /// one loop: their recurrence chains do not depend on each other, so
    /// the CPU overlaps them and `P = 2` costs little more than one.
    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn two_levels<const P: usize, const N: usize, const H: usize, const Q: usize>(
        data: [&[i16; N]; P],
        first: &mut [[i16; 2]; P],
        second: &mut [[i16; 4]; P],
        mut high1: Option<[&mut [i16; H]; P]>,
        mut out: [&mut [[i16; Q]; 4]; P],
    ) {
        const { assert!(N == 2 * H && H == 2 * Q && Q >= 1 && P >= 1) };
        const CU: i32 = ALL_PASS_UPPER_Q15;
        const CL: i32 = ALL_PASS_LOWER_Q15;
        // Filled in place (an array built by value would be copied).
        let mut hb = [[MaybeUninit::uninit(); N]; P];
        let mut inputs = data.iter();
        let hb = hb
            .each_mut()
            .map(|hb| allpass_half_bases(inputs.next().expect("one input per channel"), hb));

        // Multipliers for pmaddwd: c in the low half of each i32 lane, 0 in
        // the high half, so the high half of the other operand is ignored.
        let c1 = _mm_set_epi16(0, 0, 0, 0, 0, CL as i16, 0, CU as i16);
        let c2 = _mm_set_epi16(0, CL as i16, 0, CU as i16, 0, CL as i16, 0, CU as i16);
        let k14 = _mm_set_epi16(0, 1 << 14, 0, 1 << 14, 0, 1 << 14, 0, 1 << 14);

        let mut h1: [__m128i; P] = std::array::from_fn(|p| {
            _mm_set_epi32(
                0,
                0,
                half_start(first[p][1], CL, data[p][1]),
                half_start(first[p][0], CU, data[p][0]),
            )
        });
        // The first split on block j gives the second level's inputs
        // x = [high[2j], high[2j + 1], low[2j], low[2j + 1]].
        let mut level1 = |p: usize, j: usize| {
            let b = &hb[p][4 * j..4 * j + 4];
            let za = level1_step(&mut h1[p], b[0], b[1], c1);
            let zb = level1_step(&mut h1[p], b[2], b[3], c1);
            let x = _mm_unpacklo_epi32(za, zb);
            if let Some(high) = high1.as_mut() {
                high[p][2 * j] = _mm_cvtsi128_si32(x) as i16;
                high[p][2 * j + 1] = _mm_extract_epi16::<2>(x) as i16;
            }
            x
        };
        // Second-level step for block j: y = h >> 15,
        // h = (prev << 14) + (c·x >> 1) − c·y, outputs
        // (y0 − y1, y1 + y0, y2 − y3, y3 + y2).
        let mut level2 = |p: usize, j: usize, h2: &mut __m128i, prev: __m128i, x: __m128i| {
            let y = _mm_srai_epi32::<15>(*h2);
            let base = _mm_add_epi32(
                _mm_madd_epi16(prev, k14),
                _mm_srai_epi32::<1>(_mm_madd_epi16(x, c2)),
            );
            *h2 = _mm_sub_epi32(base, _mm_madd_epi16(y, c2));
            let s = _mm_shuffle_epi32::<0b10_11_00_01>(y);
            let (d, a) = (_mm_sub_epi32(y, s), _mm_add_epi32(y, s));
            let [hpa, lpa, hpb, lpb] = &mut *out[p];
            hpa[j] = _mm_cvtsi128_si32(d) as i16;
            lpa[j] = _mm_cvtsi128_si32(a) as i16;
            hpb[j] = _mm_extract_epi16::<4>(d) as i16;
            lpb[j] = _mm_extract_epi16::<4>(a) as i16;
        };

        let mut prev: [__m128i; P] = std::array::from_fn(|p| level1(p, 0));
        let mut h2: [__m128i; P] = std::array::from_fn(|p| {
            let s = &second[p];
            let start = _mm_set_epi32(
                load_state(s[3]),
                load_state(s[2]),
                load_state(s[1]),
                load_state(s[0]),
            );
            _mm_srai_epi32::<1>(_mm_add_epi32(start, _mm_madd_epi16(prev[p], c2)))
        });
        for j in 1..Q {
            for p in 0..P {
                let x = level1(p, j);
                level2(p, j - 1, &mut h2[p], prev[p], x);
                prev[p] = x;
            }
        }
        // The last second-level step looks ahead into zeros.
        for p in 0..P {
            level2(p, Q - 1, &mut h2[p], prev[p], _mm_setzero_si128());
            first[p] = [lane::<0>(h1[p]), lane::<1>(h1[p])].map(store_state_half);
            second[p] = [
                lane::<0>(h2[p]),
                lane::<1>(h2[p]),
                lane::<2>(h2[p]),
                lane::<3>(h2[p]),
            ]
            .map(store_state_half);
        }
    }
}

/// AVX2 version of the whole filterbank for two channels, which share
/// registers as well as one loop: level 1's two recurrences of both
/// channels in one 4-lane vector, level 2's four of both in one 8-lane
/// vector, levels 3 and 4 in a 4-lane vector each, running behind level 2
/// in the same loop, and the two high-passes behind level 4 (see
/// [`avx2::filterbank_pair`]). Level 2's outputs stay in their vector
/// lanes and give their energies all at once ([`avx2::level2_energies`]);
/// levels 3 and 4 and the high-pass write their bands step by step. Value
/// intrinsics only, as in [`sse2`].
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;
    use std::arch::x86_64::*;

    const CU: i16 = ALL_PASS_UPPER_Q15 as i16;
    const CL: i16 = ALL_PASS_LOWER_Q15 as i16;

    /// The pmaddwd multipliers of splits in lanes [upper, lower, upper,
    /// lower]: c in the low half of each i32 lane and 0 in the high half,
    /// so that the high half of the other operand (above an `int16_t`
    /// output: not sign-extended) is ignored.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn split_coefs() -> __m128i {
        _mm_set_epi16(0, CL, 0, CU, 0, CL, 0, CU)
    }

    /// The halved `t` a split's recurrences start a frame with (see
    /// [`half_start`]), lanes [upper A, lower A, upper B, lower B]:
    /// `states` are the stored `int16_t` states ([upper, lower] of channel
    /// A, then of B), `x` the split's first inputs [x[0], x[1]] of A, then
    /// of B (the low 16 bits of each lane).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn split_start(states: [[i16; 2]; 2], x: __m128i) -> __m128i {
        let [[ua, la], [ub, lb]] = states.map(|s| s.map(load_state));
        let start = _mm_set_epi32(lb, ub, la, ua);
        _mm_srai_epi32::<1>(_mm_add_epi32(start, _mm_madd_epi16(x, split_coefs())))
    }

    /// One step of two splits' recurrences for both channels (level 2:
    /// [A's high half upper, lower, A's low half upper, lower, then B's]),
    /// in halved look-ahead form with the base computed here from the
    /// splits' inputs: `now` = [x[2k], x[2k + 1]] of each split, `ahead` =
    /// [x[2k + 2], x[2k + 3]] (zeros past the end of the frame).
    /// `hb = (x << 14) + (c·x_ahead >> 1)` is [`allpass_half_bases`]'
    /// `((x << 15) + c·x_ahead) >> 1` (`x << 15` is even). Returns each
    /// split's [hp, lp] (`yu − yl`, `yl + yu`) in the low 16 bits of its
    /// lanes: the four quarter bands of A, then of B.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn split_step_wide(h: &mut __m256i, now: __m256i, ahead: __m256i) -> __m256i {
        let c = _mm256_broadcastsi128_si256(split_coefs());
        let y = _mm256_srai_epi32::<15>(*h);
        let base = _mm256_add_epi32(
            _mm256_madd_epi16(now, _mm256_set1_epi32(1 << 14)),
            _mm256_srai_epi32::<1>(_mm256_madd_epi16(ahead, c)),
        );
        *h = _mm256_sub_epi32(base, _mm256_madd_epi16(y, c));
        let s = _mm256_shuffle_epi32::<0b10_11_00_01>(y);
        _mm256_blend_epi32::<0b1010_1010>(_mm256_sub_epi32(y, s), _mm256_add_epi32(y, s))
    }

    /// [`split_step_wide`] for one split of both channels (levels 3 and 4),
    /// lanes as in [`split_start`]: [hp A, lp A, hp B, lp B]. The upper
    /// half runs on zeros and is dropped.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn split_step(h: &mut __m128i, now: __m128i, ahead: __m128i) -> __m128i {
        let wide = _mm256_zextsi128_si256;
        let mut hw = wide(*h);
        let z = split_step_wide(&mut hw, wide(now), wide(ahead));
        *h = _mm256_castsi256_si128(hw);
        _mm256_castsi256_si128(z)
    }

    /// Level 3's inputs for one step from two consecutive level-2 outputs
    /// (their lowest band, lanes 3 and 7): [low[2k], low[2k + 1]] of A,
    /// then of B.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lowest_pair(z0: __m256i, z1: __m256i) -> __m128i {
        // [z0[2], z1[2], z0[3], z1[3] | z0[6], z1[6], z0[7], z1[7]].
        let t = _mm256_unpackhi_epi32(z0, z1);
        // 64-bit lanes 1 and 3.
        _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b11_01_11_01>(t))
    }

    /// Level 4's inputs for one step from two consecutive level-3 outputs
    /// (their low band, lanes 1 and 3): [lp[2m], lp[2m + 1]] of A, then of
    /// B.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn low_pair(w0: __m128i, w1: __m128i) -> __m128i {
        _mm_blend_epi32::<0b1010>(_mm_shuffle_epi32::<0b11_11_01_01>(w0), w1)
    }

    /// The filterbank of two channels (see [`super::filterbank`]) in one
    /// loop. Levels 1 and 2 run as in [`sse2::two_levels`] (level 2 one
    /// block behind level 1). Level 3's step k needs level 2's lowest band
    /// up to sample 2k + 3, level 4's step m level 3's low band up to
    /// 2m + 3, and the high-pass's step m level 4's low band at m: so every
    /// four blocks of level 2 (a "quad", eight level-1 steps), the loop
    /// runs two steps of level 3, on the quad's outputs and the previous
    /// quad's, then one of level 4 and of the high-pass, on the previous
    /// two quads'. Within a quad the five chains are independent, so
    /// levels 2 to 4 and the high-pass run in the shadow of level 1's chain,
    /// which alone sets the pace: the second pass over levels 3 and 4 (a
    /// 30-step chain for 30 ms frames) and the 15-step high-pass chain after
    /// it are gone. Each recurrence does the arithmetic of
    /// [`two_levels_portable`] (or [`high_pass_step`]) in the same order,
    /// including every level's zero look-ahead at the end of the frame, so
    /// the outputs and the stored `int16_t` states are the same.
    #[target_feature(enable = "avx2")]
    pub(super) fn filterbank_pair<
        const N: usize,
        const Q: usize,
        const E: usize,
        const S: usize,
    >(
        data: [&[i16; N]; 2],
        states: &mut [FilterStates; 2],
        bands: &mut [Bands<Q, E, S>; 2],
    ) {
        const { assert!(N == 4 * Q && Q == 2 * E && E == 2 * S && S >= 2) };
        let (mut ba, mut bb) = ([MaybeUninit::uninit(); N], [MaybeUninit::uninit(); N]);
        let (ha, hb_) = (
            allpass_half_bases(data[0], &mut ba),
            allpass_half_bases(data[1], &mut bb),
        );
        let split = |i: usize| [states[0].splits[i], states[1].splits[i]];

        // Level 1, lanes [upper A, lower A, upper B, lower B], on bases
        // computed up front (its inputs are the frame).
        let c1 = split_coefs();
        let [[ua, la], [ub, lb]] = split(0);
        let mut h1 = _mm_set_epi32(
            half_start(lb, ALL_PASS_LOWER_Q15, data[1][1]),
            half_start(ub, ALL_PASS_UPPER_Q15, data[1][0]),
            half_start(la, ALL_PASS_LOWER_Q15, data[0][1]),
            half_start(ua, ALL_PASS_UPPER_Q15, data[0][0]),
        );
        // Step k (samples 2k, 2k + 1): returns [hp A, lp A, hp B, lp B].
        let mut step = |k: usize| {
            let y = _mm_srai_epi32::<15>(h1);
            let base = _mm_set_epi32(hb_[2 * k + 1], hb_[2 * k], ha[2 * k + 1], ha[2 * k]);
            h1 = _mm_sub_epi32(base, _mm_madd_epi16(y, c1));
            let s = _mm_shuffle_epi32::<0b10_11_00_01>(y);
            // Lanes 0 and 2 of y − s, and of y + s (whose lanes 1 and 3
            // repeat 0 and 2).
            _mm_blend_epi32::<0b1010>(_mm_sub_epi32(y, s), _mm_add_epi32(y, s))
        };
        // Block j: level 2's inputs of both channels,
        // [high[2j], high[2j + 1], low[2j], low[2j + 1]] for A, then B;
        // zeros for the look-ahead past the last block.
        let mut level1 = |j: usize| {
            if j == Q {
                return _mm256_setzero_si256();
            }
            let (z1, z2) = (step(2 * j), step(2 * j + 1));
            _mm256_set_m128i(_mm_unpackhi_epi32(z1, z2), _mm_unpacklo_epi32(z1, z2))
        };

        // Level 2's outputs, step by step, each band value in the low 16
        // bits of its lane (the high 16 are zero).
        let mut l2 = [MaybeUninit::<__m256i>::uninit(); Q];
        let low16 = _mm256_set1_epi32(0xFFFF);

        // Level 2, lanes [A's four, B's four], one block behind level 1;
        // lane i is channel i / 4, split 1 + i % 4 / 2, branch i % 2.
        let mut now = level1(0);
        let start: [i32; 8] =
            std::array::from_fn(|i| load_state(states[i / 4].splits[1 + i % 4 / 2][i % 2]));
        let start: __m256i = bytemuck::cast(start);
        let c2 = _mm256_broadcastsi128_si256(c1);
        let mut h2 = _mm256_srai_epi32::<1>(_mm256_add_epi32(start, _mm256_madd_epi16(now, c2)));

        // Levels 3 and 4, lanes [upper A, lower A, upper B, lower B]. Level
        // 3's step k runs on pairs k and k + 1 of its inputs (level 2's
        // lowest band), level 4's step m on pairs m and m + 1 of level 3's
        // low band. Carried from quad to quad: level 3's last input pair
        // `x`, its last output `w`, level 4's last input pair `l`.
        let zero = _mm_setzero_si128();
        let (mut h3, mut h4, mut x, mut w, mut l) = (zero, zero, zero, zero, zero);
        // Level 3's step k: its high band (lanes 0 and 2) is band hp3.
        let level3 = |bands: &mut [Bands<Q, E, S>; 2],
                      k: usize,
                      h3: &mut __m128i,
                      now: __m128i,
                      ahead: __m128i| {
            let w = split_step(h3, now, ahead);
            let v: [i32; 4] = bytemuck::cast(w);
            for (p, b) in bands.iter_mut().enumerate() {
                b.hp3[k] = v[2 * p] as i16;
            }
            w
        };
        // Level 4's step m: its high band is hp4, its low band goes
        // through the high-pass into band0.
        let mut hp: [[i32; 4]; 2] = states.map(|s| s.high_pass.map(i32::from));
        let mut level4 = |bands: &mut [Bands<Q, E, S>; 2],
                          m: usize,
                          h4: &mut __m128i,
                          now: __m128i,
                          ahead: __m128i| {
            let v: [i32; 4] = bytemuck::cast(split_step(h4, now, ahead));
            for (p, b) in bands.iter_mut().enumerate() {
                b.hp4[m] = v[2 * p] as i16;
                b.band0[m] = high_pass_step(&mut hp[p], v[2 * p + 1] as i16);
            }
        };
        // One loop body (the chains' states stay in registers).
        for q in 0..S {
            // Level 2's steps 4q .. 4q + 3 (level 1 one block ahead).
            let mut z = [_mm256_setzero_si256(); 4];
            for (i, z) in z.iter_mut().enumerate() {
                let ahead = level1(4 * q + i + 1);
                *z = split_step_wide(&mut h2, now, ahead);
                // Level 2's outputs stay in their lanes (lane 4p + r is
                // channel p's band r), for `level2_energies`.
                l2[4 * q + i].write(_mm256_and_si256(*z, low16));
                now = ahead;
            }
            // Level 3's input pairs 2q and 2q + 1.
            let (xa, xb) = (lowest_pair(z[0], z[1]), lowest_pair(z[2], z[3]));
            // Level 3's step 2q − 1 (its start in the first quad), which
            // completes level 4's input pair q − 1, then level 4's step
            // q − 2 (its start in the second quad).
            if q == 0 {
                h3 = split_start(split(3), xa);
            } else {
                let wa = level3(bands, 2 * q - 1, &mut h3, x, xa);
                let la = low_pair(w, wa);
                if q == 1 {
                    h4 = split_start(split(4), la);
                } else {
                    level4(bands, q - 2, &mut h4, l, la);
                }
                l = la;
            }
            // Level 3's step 2q.
            w = level3(bands, 2 * q, &mut h3, xa, xb);
            x = xb;
        }
        // The last steps of levels 3 and 4 look ahead into zeros.
        let wa = level3(bands, E - 1, &mut h3, x, zero);
        let la = low_pair(w, wa);
        level4(bands, S - 2, &mut h4, l, la);
        level4(bands, S - 1, &mut h4, la, zero);

        // SAFETY: steps 4q + i for q < S, i < 4 wrote every one of the
        // 4S = Q entries; `MaybeUninit<__m256i>` has `__m256i`'s layout.
        let l2 = unsafe { &*(&l2 as *const [MaybeUninit<__m256i>; Q]).cast::<[__m256i; Q]>() };
        let en = level2_energies(l2);
        for (p, b) in bands.iter_mut().enumerate() {
            b.level2_energy = [en[4 * p], en[4 * p + 1], en[4 * p + 2]];
        }

        let (l1, l2): ([i32; 4], [i32; 8]) = (bytemuck::cast(h1), bytemuck::cast(h2));
        let (l3, l4): ([i32; 4], [i32; 4]) = (bytemuck::cast(h3), bytemuck::cast(h4));
        for (p, s) in states.iter_mut().enumerate() {
            let lanes = [
                &l1[2 * p..],
                &l2[4 * p..],
                &l2[4 * p + 2..],
                &l3[2 * p..],
                &l4[2 * p..],
            ];
            for (s, l) in s.splits.iter_mut().zip(lanes) {
                *s = [l[0], l[1]].map(store_state_half);
            }
            s.high_pass = hp[p].map(|v| v as i16);
        }
    }

    /// [`energy`] of the eight bands in the lanes of `l2` (one vector per
    /// sample, each value in the low 16 bits of its lane, the high 16 zero),
    /// all at once: the largest `wrapping_abs` (`abs_epi16`, which wraps
    /// −32768 as `i16::wrapping_abs` does, then a signed 16-bit max from
    /// −1, as the C fold), the scaling from it, then the wrapping sum of
    /// `x² >> scaling` (`madd_epi16` of a lane with itself is `x²` when
    /// its high half is zero).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn level2_energies<const Q: usize>(l2: &[__m256i; Q]) -> [(i32, i32); 8] {
        let mut smax = _mm256_set1_epi16(-1);
        for v in l2 {
            smax = _mm256_max_epi16(smax, _mm256_abs_epi16(*v));
        }
        let smax: [i32; 8] = bytemuck::cast(smax);
        let scaling: [i32; 8] = std::array::from_fn(|i| scaling_of_max(smax[i] as i16, Q));
        let shift: __m256i = bytemuck::cast(scaling);
        let mut en = _mm256_setzero_si256();
        for v in l2 {
            en = _mm256_add_epi32(en, _mm256_srlv_epi32(_mm256_madd_epi16(*v, *v), shift));
        }
        let en: [i32; 8] = bytemuck::cast(en);
        std::array::from_fn(|i| (en[i], scaling[i]))
    }
}

/// One `HighPassFilter` step on the state `[x1, x2, y1, y2]`.
#[inline(always)]
fn high_pass_step(s: &mut [i32; 4], x: i16) -> i16 {
    let x = x as i32;
    // Bounded by 32768 * (6631 + 13262 + 6631 + 7756 + 5620) < 2^31.
    let t = HP_ZERO_COEFS[0] * x + HP_ZERO_COEFS[1] * s[0] + HP_ZERO_COEFS[2] * s[1]
        - HP_POLE_COEFS[1] * s[2]
        - HP_POLE_COEFS[2] * s[3];
    let y = (t >> 14) as i16;
    *s = [x, s[0], y as i32, s[2]];
    y
}

/// `WebRtcSpl_GetScalingSquare(v, len, len)`. As in C, `-x` of −32768 wraps
/// to −32768, so such samples never raise the maximum.
#[inline(always)]
fn scaling_square<const L: usize>(v: &[i16; L]) -> i32 {
    let smax = v.iter().fold(-1i16, |m, &x| m.max(x.wrapping_abs()));
    scaling_of_max(smax, L)
}

/// The rest of [`scaling_square`], from the largest `wrapping_abs` of the
/// `len` samples (−1 if there is none above −1).
#[inline(always)]
fn scaling_of_max(smax: i16, len: usize) -> i32 {
    let nbits = 32 - (len as u32).leading_zeros() as i16;
    let t = norm_w32(smax as i32 * smax as i32);
    if smax == 0 || t > nbits {
        0
    } else {
        (nbits - t) as i32
    }
}

/// `WebRtcSpl_Energy`: (sum of `x² >> scaling`, scaling). The sum wraps.
#[inline(always)]
fn energy<const L: usize>(v: &[i16; L]) -> (i32, i32) {
    let scaling = scaling_square(v);
    let en = v.iter().fold(0i32, |en, &x| {
        en.wrapping_add((x as i32 * x as i32) >> scaling)
    });
    (en, scaling)
}

/// `LogOfEnergy`: 10·log10 in Q4 plus `offset` of a band's energy
/// (`(en, scaling)` from [`energy`]), updating `total_energy` while it is at
/// most [`MIN_ENERGY`].
fn log_of_energy((en, scaling): (i32, i32), offset: i16, total_energy: &mut i16) -> i16 {
    let mut energy = en as u32;
    if energy == 0 {
        return offset;
    }
    let mut tot_rshifts = scaling;
    // Normalise to 15 bits, i.e. 17 leading zeros.
    let normalizing_rshifts = 17 - norm_u32(energy);
    tot_rshifts += normalizing_rshifts;
    if normalizing_rshifts < 0 {
        energy <<= -normalizing_rshifts;
    } else {
        energy >>= normalizing_rshifts;
    }
    let log2_energy = LOG_ENERGY_INT_PART + ((energy & 0x3FFF) >> 4) as i16;
    let mut log_energy =
        (((LOG_CONST * log2_energy as i32) >> 19) + ((tot_rshifts * LOG_CONST) >> 9)) as i16;
    if log_energy < 0 {
        log_energy = 0;
    }
    log_energy = log_energy.wrapping_add(offset);
    if *total_energy <= MIN_ENERGY {
        if tot_rshifts >= 0 {
            *total_energy += MIN_ENERGY + 1;
        } else {
            *total_energy = total_energy.wrapping_add((energy >> -tot_rshifts) as i16);
        }
    }
    log_energy
}

impl Core {
    /// `WebRtcVad_CalculateFeatures` for one channel: see
    /// [`calculate_features`].
    #[cfg(test)]
    fn calculate_features<
        const N: usize,
        const H: usize,
        const Q: usize,
        const E: usize,
        const S: usize,
    >(
        &mut self,
        data: &[i16; N],
        features: &mut [i16; NUM_CHANNELS],
    ) -> i16 {
        let mut f = [[0i16; NUM_CHANNELS]];
        let [total] = calculate_features::<1, N, H, Q, E, S>([self], [data], &mut f);
        *features = f[0];
        total
    }
}

/// `WebRtcVad_CalculateFeatures` of `P` channels at once (their frames of
/// the same length, each with its own state in `cores[p]`): log energies of
/// the six bands of `data[p]` (80, 160 or 240 samples at 8 kHz) into
/// `features[p]`; returns the total-energy indicators.
///
/// The C code runs five `SplitFilter`s one after the other, each running
/// its upper and then its lower all-pass recurrence to completion. Here
/// levels 1 and 2 (six recurrences) run in one loop ([`two_levels`]), and
/// so do levels 3 and 4, for all `P` channels; two channels with AVX2 run
/// all four levels and the high-pass in one loop (see [`filterbank`]).
/// `H`, `Q`, `E` and `S` are `N / 2`, `N / 4`, `N / 8` and `N / 16`, the
/// band lengths, as constants.
/// The arithmetic and the order of each recurrence are unchanged, so the
/// outputs and the stored states are the same as one channel at a time.
#[inline(always)]
fn calculate_features<
    const P: usize,
    const N: usize,
    const H: usize,
    const Q: usize,
    const E: usize,
    const S: usize,
>(
    cores: [&mut Core; P],
    data: [&[i16; N]; P],
    features: &mut [[i16; NUM_CHANNELS]; P],
) -> [i16; P] {
    const { assert!(N == 2 * H && H == 2 * Q && Q == 2 * E && E == 2 * S && N <= 240) };

    let mut states: [FilterStates; P] = cores.each_ref().map(|c| c.filter);
    let mut bands = [Bands::<Q, E, S>::ZERO; P];
    filterbank::<P, N, H, Q, E, S>(data, &mut states, &mut bands);

    let mut totals = [0i16; P];
    for (p, core) in cores.into_iter().enumerate() {
        core.filter = states[p];

        // Same order as the C code (it decides when `total_energy` stops
        // accumulating).
        let b = &bands[p];
        let [hp2a, lp2a, hp2b] = b.level2_energy;
        let f = &mut features[p];
        let total_energy = &mut totals[p];
        f[5] = log_of_energy(hp2a, OFFSET_VECTOR[5], total_energy);
        f[4] = log_of_energy(lp2a, OFFSET_VECTOR[4], total_energy);
        f[3] = log_of_energy(hp2b, OFFSET_VECTOR[3], total_energy);
        f[2] = log_of_energy(energy(&b.hp3), OFFSET_VECTOR[2], total_energy);
        f[1] = log_of_energy(energy(&b.hp4), OFFSET_VECTOR[1], total_energy);
        f[0] = log_of_energy(energy(&b.band0), OFFSET_VECTOR[0], total_energy);
    }
    totals
}

// ---- vad_gmm.c ----------------------------------------------------------------

/// `1 / s` in Q10 and `1 / s²` in Q14 as `WebRtcVad_GaussianProbability`
/// derives them from the Q7 standard deviation `std`.
#[inline(always)]
fn inv_std(std: i16) -> [i16; 2] {
    // 131072 = 1 in Q17; (std >> 1) rounds. Q17 / Q7 = Q10.
    let inv_std = div_w32_w16(131072 + (std >> 1) as i32, std) as i16;
    let tmp16 = inv_std >> 2; // Q8
    let inv_std2 = ((tmp16 as i32 * tmp16 as i32) >> 2) as i16; // (Q8 * Q8) >> 2
    [inv_std, inv_std2]
}

/// `WebRtcVad_GaussianProbability`: the Q20 probability of Q4 `input` under
/// a normal distribution of Q7 `mean` whose standard deviation gave
/// `[inv_std, inv_std2]` (see [`inv_std`]), and (x − m) / s² in Q11.
#[inline(always)]
fn gaussian_probability(input: i16, mean: i16, [inv_std, inv_std2]: [i16; 2]) -> (i32, i16) {
    let tmp16 = (((input as i32) << 3) as i16).wrapping_sub(mean); // Q7
    let delta = ((inv_std2 as i32 * tmp16 as i32) >> 10) as i16; // Q11
                                                                 // (x - m)² / (2 s²) in Q10.
    let tmp32 = (delta as i32 * tmp16 as i32) >> 9;
    // exp2(-log2(e) * tmp32) with a linear mantissa, if the exponent is
    // small enough to give a non-zero probability (computed either way and
    // selected: the test is unpredictable).
    let t = ((LOG2_EXP.wrapping_mul(tmp32) >> 12) as i16).wrapping_neg();
    let mantissa = 0x0400 | (t & 0x03FF);
    let shift = ((!t) >> 10).wrapping_add(1);
    // The shift is 0..=31 for every reachable input; `wrapping_shr` masks
    // like the x86 shift the C compiles to.
    let exp_value = if tmp32 < COMP_VAR {
        (mantissa as i32).wrapping_shr(shift as u32) as i16
    } else {
        0
    };
    (inv_std as i32 * exp_value as i32, delta)
}

// ---- vad_core.c ---------------------------------------------------------------

/// `WeightedAverage`: adds `offset` to the two Gaussians of `channel` in
/// `data` and returns their weighted sum.
#[inline(always)]
fn weighted_average(
    data: &mut [i16; TABLE_SIZE],
    channel: usize,
    offset: i16,
    weights: &[i16; TABLE_SIZE],
) -> i32 {
    let mut avg = 0i32;
    for k in 0..NUM_GAUSSIANS {
        let g = channel + k * NUM_CHANNELS;
        data[g] = data[g].wrapping_add(offset);
        avg += data[g] as i32 * weights[g] as i32;
    }
    avg
}

/// `(int16_t)` of a positive or negated `WebRtcSpl_DivW32W16`, as the model
/// updates write it: divide the magnitude, then negate in 16 bits.
#[inline(always)]
fn signed_div_16(num: i32, den: i16) -> i16 {
    // Selects rather than branches: the sign is unpredictable.
    let neg = num <= 0;
    let magnitude = if neg { num.wrapping_neg() } else { num };
    let q = div_w32_w16(magnitude, den) as i16;
    if neg {
        q.wrapping_neg()
    } else {
        q
    }
}

impl Core {
    /// `WebRtcVad_FindMinimum`: inserts `feature_value` among the 16 smallest
    /// values of the last 100 frames of `channel` and returns the smoothed
    /// median of the five smallest.
    fn find_minimum(&mut self, feature_value: i16, channel: usize) -> i16 {
        self.update_window(feature_value, channel);
        self.smoothed_median(channel)
    }

    /// The window half of [`Self::find_minimum`]: ages the 16 smallest
    /// values of `channel`, expires those 100 frames old, and inserts
    /// `feature_value` if it is small enough.
    fn update_window(&mut self, feature_value: i16, channel: usize) {
        let age = &mut self.index_vector[channel];
        let values = &mut self.low_value_vector[channel];

        // Age every value; expire those at 100. Fast path: nothing expires
        // (the common case), so every age just goes up by one.
        let expiring = age.iter().fold(false, |e, &a| e | (a == 100));
        if !expiring {
            for a in age.iter_mut() {
                *a = a.wrapping_add(1);
            }
        } else {
            for i in 0..16 {
                if age[i] != 100 {
                    age[i] = age[i].wrapping_add(1);
                } else {
                    // Remove, shift the larger values down. (The value that
                    // slides into slot i is not aged this frame, as in C.)
                    values.copy_within(i + 1.., i);
                    age.copy_within(i + 1.., i);
                    age[15] = 101;
                    values[15] = 10000;
                }
            }
        }

        // Where `feature_value` goes, if it is one of the 16 smallest. The C
        // code walks a binary decision tree for the first position whose
        // value is larger; the window is always sorted (it starts as 16 ×
        // 10000, expiry shifts the tail down and appends 10000, insertion
        // keeps the order, and only values below `values[15]` <= 10000 get
        // in), so that position is the number of values not larger than
        // `feature_value`, which counts without branches.
        debug_assert!(values.windows(2).all(|w| w[0] <= w[1]));
        let f = feature_value;
        let p = values.iter().fold(0usize, |n, &v| n + usize::from(v <= f));
        if p < 16 {
            values.copy_within(p..15, p + 1);
            age.copy_within(p..15, p + 1);
            values[p] = f;
            age[p] = 1;
        }
    }

    /// The median half of [`Self::find_minimum`]: the median of the five
    /// smallest values of `channel`, smoothed, and returned.
    fn smoothed_median(&mut self, channel: usize) -> i16 {
        let values = &self.low_value_vector[channel];
        let mut current_median: i16 = 1600;
        if self.frame_counter > 2 {
            current_median = values[2];
        } else if self.frame_counter > 0 {
            current_median = values[0];
        }

        // Smooth the median.
        let mean = &mut self.mean_value[channel];
        let mut alpha: i32 = 0;
        if self.frame_counter > 0 {
            alpha = if current_median < *mean {
                SMOOTHING_DOWN
            } else {
                SMOOTHING_UP
            };
        }
        // |terms| < 32768 * 32767 + 16384 < 2^31: no overflow.
        let tmp32 = (alpha + 1) * *mean as i32 + (32767 - alpha) * current_median as i32 + 16384;
        *mean = (tmp32 >> 15) as i16;
        *mean
    }

    /// `GmmProbability`: the likelihood-ratio test of speech against noise on
    /// the six features, the model update, and the hangover smoothing.
    /// Returns 0 (noise) or a positive value (speech).
    fn gmm_probability(
        &mut self,
        th: &Thresholds,
        features: &[i16; NUM_CHANNELS],
        total_power: i16,
        frame_length: usize,
    ) -> i16 {
        let idx = match frame_length {
            80 => 0,
            160 => 1,
            _ => 2,
        };
        let mut vadflag: i16 = 0;
        if total_power > MIN_ENERGY {
            vadflag = self.test_and_update(th, idx, features);
            self.frame_counter = self.frame_counter.wrapping_add(1);
        }

        // Hangover.
        if vadflag == 0 {
            if self.over_hang > 0 {
                vadflag = 2 + self.over_hang;
                self.over_hang -= 1;
            }
            self.num_of_speech = 0;
        } else {
            self.num_of_speech += 1;
            if self.num_of_speech > MAX_SPEECH_FRAMES {
                self.num_of_speech = MAX_SPEECH_FRAMES;
                self.over_hang = th.over_hang_max_2[idx];
            } else {
                self.over_hang = th.over_hang_max_1[idx];
            }
        }
        vadflag
    }

    /// The part of `GmmProbability` that runs on frames with energy: the
    /// test (0 for noise, 1 for speech) and the model update. `idx` picks
    /// the thresholds of the frame length.
    ///
    /// On CPUs with AVX2, [`gmm_avx2::test_and_update`]: the same
    /// arithmetic with the six channels in the lanes of one vector.
    #[inline(always)]
    fn test_and_update(
        &mut self,
        th: &Thresholds,
        idx: usize,
        features: &[i16; NUM_CHANNELS],
    ) -> i16 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked on the line above.
            return unsafe { gmm_avx2::test_and_update(self, th, idx, features) };
        }
        self.test_and_update_scalar(th, idx, features)
    }

    /// [`Self::test_and_update`] one channel after the other, as the C code
    /// runs it.
    // Indexed loops on purpose: they mirror the C code's `channel` and `k`.
    #[allow(clippy::needless_range_loop)]
    fn test_and_update_scalar(
        &mut self,
        th: &Thresholds,
        idx: usize,
        features: &[i16; NUM_CHANNELS],
    ) -> i16 {
        let individual_test = th.individual[idx];
        let total_test = th.total[idx];
        let mut vadflag: i16 = 0;
        let mut delta_n = [0i16; TABLE_SIZE];
        let mut delta_s = [0i16; TABLE_SIZE];
        let mut ngprvec = [0i16; TABLE_SIZE];
        let mut sgprvec = [0i16; TABLE_SIZE];
        let mut sum_log_likelihood_ratios: i32 = 0;

        for channel in 0..NUM_CHANNELS {
            let mut h0_test: i32 = 0;
            let mut h1_test: i32 = 0;
            let mut noise_probability = [0i32; NUM_GAUSSIANS];
            let mut speech_probability = [0i32; NUM_GAUSSIANS];
            for k in 0..NUM_GAUSSIANS {
                let g = channel + k * NUM_CHANNELS;
                let (p, d) = gaussian_probability(
                    features[channel],
                    self.noise_means[g],
                    self.noise_inv_stds[g],
                );
                delta_n[g] = d;
                noise_probability[k] = (NOISE_DATA_WEIGHTS[g] as i32).wrapping_mul(p);
                h0_test = h0_test.wrapping_add(noise_probability[k]);

                let (p, d) = gaussian_probability(
                    features[channel],
                    self.speech_means[g],
                    self.speech_inv_stds[g],
                );
                delta_s[g] = d;
                speech_probability[k] = (SPEECH_DATA_WEIGHTS[g] as i32).wrapping_mul(p);
                h1_test = h1_test.wrapping_add(speech_probability[k]);
            }

            // log2(Pr{X|H1} / Pr{X|H0}) ~ shifts_h0 - shifts_h1.
            let shifts_h0 = if h0_test == 0 { 31 } else { norm_w32(h0_test) };
            let shifts_h1 = if h1_test == 0 { 31 } else { norm_w32(h1_test) };
            let log_likelihood_ratio = shifts_h0 - shifts_h1;
            sum_log_likelihood_ratios +=
                log_likelihood_ratio as i32 * SPECTRUM_WEIGHT[channel] as i32;
            // Local decision.
            if (log_likelihood_ratio as i32 * 4) > individual_test as i32 {
                vadflag = 1;
            }

            // Conditional probabilities of the two Gaussians.
            let h0 = (h0_test >> 12) as i16;
            if h0 > 0 {
                let tmp = (((noise_probability[0] as u32) & 0xFFFF_F000) << 2) as i32;
                ngprvec[channel] = div_w32_w16(tmp, h0) as i16;
                ngprvec[channel + NUM_CHANNELS] = 16384i16.wrapping_sub(ngprvec[channel]);
            } else {
                ngprvec[channel] = 16384;
            }
            let h1 = (h1_test >> 12) as i16;
            if h1 > 0 {
                let tmp = (((speech_probability[0] as u32) & 0xFFFF_F000) << 2) as i32;
                sgprvec[channel] = div_w32_w16(tmp, h1) as i16;
                sgprvec[channel + NUM_CHANNELS] = 16384i16.wrapping_sub(sgprvec[channel]);
            }
        }

        // Global decision.
        vadflag |= (sum_log_likelihood_ratios >= total_test as i32) as i16;

        // Update the models.
        let mut maxspe: i16 = 12800;
        for channel in 0..NUM_CHANNELS {
            let feature = features[channel];
            let feature_minimum = self.find_minimum(feature, channel);

            let noise_global_mean =
                weighted_average(&mut self.noise_means, channel, 0, &NOISE_DATA_WEIGHTS);
            let tmp1_s16 = (noise_global_mean >> 6) as i16; // Q8

            for k in 0..NUM_GAUSSIANS {
                let g = channel + k * NUM_CHANNELS;
                let nmk = self.noise_means[g];
                let smk = self.speech_means[g];
                let mut nsk = self.noise_stds[g];
                let mut ssk = self.speech_stds[g];

                // Noise mean, for a noise frame.
                let mut nmk2 = nmk;
                if vadflag == 0 {
                    let delt = ((ngprvec[g] as i32 * delta_n[g] as i32) >> 11) as i16;
                    nmk2 = nmk.wrapping_add(((delt as i32 * NOISE_UPDATE_CONST) >> 22) as i16);
                }
                // Long-term correction towards the minimum.
                let ndelt = (((feature_minimum as i32) << 4) - tmp1_s16 as i32) as i16;
                let mut nmk3 = nmk2.wrapping_add(((ndelt as i32 * BACK_ETA) >> 9) as i16);
                let lo = ((k as i32 + 5) << 7) as i16;
                if nmk3 < lo {
                    nmk3 = lo;
                }
                let hi = ((72 + k as i32 - channel as i32) << 7) as i16;
                if nmk3 > hi {
                    nmk3 = hi;
                }
                self.noise_means[g] = nmk3;

                if vadflag != 0 {
                    // Speech mean.
                    let delt = ((sgprvec[g] as i32 * delta_s[g] as i32) >> 11) as i16;
                    let tmp_s16 = ((delt as i32 * SPEECH_UPDATE_CONST) >> 21) as i16;
                    let mut smk2 = smk.wrapping_add(((tmp_s16 as i32 + 1) >> 1) as i16);
                    let maxmu = maxspe.wrapping_add(640);
                    if smk2 < MINIMUM_MEAN[k] {
                        smk2 = MINIMUM_MEAN[k];
                    }
                    if smk2 > maxmu {
                        smk2 = maxmu;
                    }
                    self.speech_means[g] = smk2;

                    // Speech std.
                    let tmp_s16 = feature.wrapping_sub(((smk as i32 + 4) >> 3) as i16);
                    let tmp1_s32 = (delta_s[g] as i32 * tmp_s16 as i32) >> 3;
                    let tmp2_s32 = tmp1_s32 - 4096;
                    let tmp1_s32 = ((sgprvec[g] >> 2) as i32).wrapping_mul(tmp2_s32);
                    let tmp2_s32 = tmp1_s32 >> 4;
                    let den = (ssk as i32 * 10) as i16;
                    let tmp_s16 = signed_div_16(tmp2_s32, den).wrapping_add(128);
                    ssk = ssk.wrapping_add(tmp_s16 >> 8);
                    if ssk < MIN_STD {
                        ssk = MIN_STD;
                    }
                    if ssk != self.speech_stds[g] {
                        // Rare: the update usually rounds to no change.
                        self.speech_inv_stds[g] = inv_std(ssk);
                    }
                    self.speech_stds[g] = ssk;
                } else {
                    // Noise std.
                    let tmp_s16 = feature.wrapping_sub(nmk >> 3);
                    let tmp1_s32 = ((delta_n[g] as i32 * tmp_s16 as i32) >> 3) - 4096;
                    let tmp_s16 = ((ngprvec[g] as i32 + 2) >> 2) as i16;
                    let tmp2_s32 = (tmp_s16 as i32).wrapping_mul(tmp1_s32);
                    let tmp1_s32 = tmp2_s32 >> 14;
                    let tmp_s16 = signed_div_16(tmp1_s32, nsk).wrapping_add(32);
                    nsk = nsk.wrapping_add(tmp_s16 >> 6);
                    if nsk < MIN_STD {
                        nsk = MIN_STD;
                    }
                    if nsk != self.noise_stds[g] {
                        self.noise_inv_stds[g] = inv_std(nsk);
                    }
                    self.noise_stds[g] = nsk;
                }
            }

            // Separate the models if they are too close.
            let mut noise_global_mean =
                weighted_average(&mut self.noise_means, channel, 0, &NOISE_DATA_WEIGHTS);
            let mut speech_global_mean =
                weighted_average(&mut self.speech_means, channel, 0, &SPEECH_DATA_WEIGHTS);
            let diff = ((speech_global_mean >> 9) as i16 as i32
                - (noise_global_mean >> 9) as i16 as i32) as i16;
            if diff < MINIMUM_DIFFERENCE[channel] {
                let tmp_s16 = MINIMUM_DIFFERENCE[channel].wrapping_sub(diff);
                let tmp1_s16 = ((13 * tmp_s16 as i32) >> 2) as i16;
                let tmp2_s16 = ((3 * tmp_s16 as i32) >> 2) as i16;
                speech_global_mean = weighted_average(
                    &mut self.speech_means,
                    channel,
                    tmp1_s16,
                    &SPEECH_DATA_WEIGHTS,
                );
                noise_global_mean = weighted_average(
                    &mut self.noise_means,
                    channel,
                    tmp2_s16.wrapping_neg(),
                    &NOISE_DATA_WEIGHTS,
                );
            }

            // Keep the means from drifting too far up. (`maxspe` carries
            // over to the next channel's speech-mean clamp, as in C.)
            maxspe = MAXIMUM_SPEECH[channel];
            let tmp2_s16 = (speech_global_mean >> 7) as i16;
            if tmp2_s16 > maxspe {
                let excess = tmp2_s16.wrapping_sub(maxspe);
                for k in 0..NUM_GAUSSIANS {
                    let g = channel + k * NUM_CHANNELS;
                    self.speech_means[g] = self.speech_means[g].wrapping_sub(excess);
                }
            }
            let tmp2_s16 = (noise_global_mean >> 7) as i16;
            if tmp2_s16 > MAXIMUM_NOISE[channel] {
                let excess = tmp2_s16.wrapping_sub(MAXIMUM_NOISE[channel]);
                for k in 0..NUM_GAUSSIANS {
                    let g = channel + k * NUM_CHANNELS;
                    self.noise_means[g] = self.noise_means[g].wrapping_sub(excess);
                }
            }
        }
        vadflag
    }
}

/// [`Core::test_and_update`] with AVX2: the C code walks the six channels one
/// after the other, but nothing in a channel's test or model update depends
/// on another channel (the speech-mean ceiling `maxspe` it carries from one
/// channel to the next is a constant per channel), so here every step runs
/// on all six at once, channel `c` in lane `c` of a vector of eight `i32`
/// (lanes 6 and 7 compute garbage that is never stored or summed), with
/// selects where the C code branches per channel. Each lane does the C
/// code's arithmetic, step for step: `int16_t` values are kept sign-extended
/// and wrapped with [`w16`] wherever C stores into an `int16_t`. Only
/// FindMinimum (a sorted window per channel) and the normalisation counts of
/// the likelihood ratio stay scalar. Value intrinsics only, as in [`avx2`].
#[cfg(target_arch = "x86_64")]
mod gmm_avx2 {
    use super::*;
    use std::arch::x86_64::*;

    type V = __m256i;

    /// The six channel lanes of a vector (for `movemask_ps`).
    const CHANNEL_MASK: i32 = 0b0011_1111;

    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat(x: i32) -> V {
        _mm256_set1_epi32(x)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(a: V, b: V) -> V {
        _mm256_add_epi32(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn sub(a: V, b: V) -> V {
        _mm256_sub_epi32(a, b)
    }

    /// Wrapping 32-bit product.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mul(a: V, b: V) -> V {
        _mm256_mullo_epi32(a, b)
    }

    /// `a >> N`, arithmetic.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sra<const N: i32>(a: V) -> V {
        _mm256_srai_epi32::<N>(a)
    }

    /// `(int16_t)a`, sign-extended again.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn w16(a: V) -> V {
        _mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(a))
    }

    /// All ones in the lanes where `a > b`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn gt(a: V, b: V) -> V {
        _mm256_cmpgt_epi32(a, b)
    }

    /// `mask ? yes : no`, lane by lane (`mask` lanes all ones or all zeros).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn select(mask: V, yes: V, no: V) -> V {
        _mm256_blendv_epi8(no, yes, mask)
    }

    /// Whether `mask` is set in any channel lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn any(mask: V) -> bool {
        _mm256_movemask_ps(_mm256_castsi256_ps(mask)) & CHANNEL_MASK != 0
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn to_array(v: V) -> [i32; 8] {
        bytemuck::cast(v)
    }

    /// Gaussian `k` of every channel of a model table (`table[c + 6k]`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(table: &[i16; TABLE_SIZE], k: usize) -> V {
        // One 16-byte load: Gaussian 0 is `table[0..6]` (lanes 6 and 7 get
        // two of Gaussian 1's values, never used), Gaussian 1 is read as
        // `table[4..12]` and moved down two lanes.
        let words = |i: usize| -> __m128i {
            let a: [i16; 8] = table[i..i + 8].try_into().expect("8 values");
            bytemuck::cast(a)
        };
        let v = if k == 0 {
            words(0)
        } else {
            _mm_srli_si128::<4>(words(2 * NUM_CHANNELS - 8))
        };
        _mm256_cvtepi16_epi32(v)
    }

    /// Stores the channel lanes of `v` as Gaussian `k` of `table`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store(table: &mut [i16; TABLE_SIZE], k: usize, v: V) {
        let a = to_array(v);
        for (t, &x) in table[k * NUM_CHANNELS..][..NUM_CHANNELS].iter_mut().zip(&a) {
            *t = x as i16;
        }
    }

    /// A per-channel constant.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn channels(t: &[i16; NUM_CHANNELS]) -> V {
        // Built in registers: values stored one by one and loaded as a
        // vector would stall store-to-load forwarding.
        _mm256_cvtepi16_epi32(_mm_setr_epi16(t[0], t[1], t[2], t[3], t[4], t[5], 0, 0))
    }

    /// [`div_w32_w16`] lane by lane, through `f64` (AVX2 has no integer
    /// division). Exact: both operands fit 32 bits, so the `f64` quotient
    /// is within 2⁻²² of the true one, while a quotient that is not an
    /// integer is at least 1/|den| ≥ 2⁻¹⁵ away from one; truncating gives
    /// the same integer. As in C, division by 0 gives `i32::MAX`, and by −1
    /// wraps (the only quotient outside the `i32` range).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn div(num: V, den: V) -> V {
        let half = |v: V, hi: bool| {
            _mm256_cvtepi32_pd(if hi {
                _mm256_extracti128_si256::<1>(v)
            } else {
                _mm256_castsi256_si128(v)
            })
        };
        let q_lo = _mm256_cvttpd_epi32(_mm256_div_pd(half(num, false), half(den, false)));
        let q_hi = _mm256_cvttpd_epi32(_mm256_div_pd(half(num, true), half(den, true)));
        let q = _mm256_set_m128i(q_hi, q_lo);
        let zero = _mm256_setzero_si256();
        let q = select(_mm256_cmpeq_epi32(den, splat(-1)), sub(zero, num), q);
        select(_mm256_cmpeq_epi32(den, zero), splat(i32::MAX), q)
    }

    /// `(int16_t)` of a positive or negated `WebRtcSpl_DivW32W16`, as the
    /// model updates write it: divide the magnitude, then negate in 16 bits.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn signed_div_16(num: V, den: V) -> V {
        let zero = _mm256_setzero_si256();
        let neg = _mm256_cmpgt_epi32(splat(1), num); // num <= 0
        let q = w16(div(select(neg, sub(zero, num), num), den));
        select(neg, w16(sub(zero, q)), q)
    }

    /// [`inv_std`]: `1/s` in Q10 and `1/s²` in Q14.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn inv_std(std: V) -> (V, V) {
        let inv = w16(div(add(splat(131072), sra::<1>(std)), std));
        let t = sra::<2>(inv);
        (inv, w16(sra::<2>(mul(t, t))))
    }

    /// [`gaussian_probability`]: the Q20 probabilities and the Q11 deltas.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn gaussian_probability(input: V, mean: V, (inv_std, inv_std2): (V, V)) -> (V, V) {
        let tmp16 = w16(sub(w16(_mm256_slli_epi32::<3>(input)), mean));
        let delta = w16(sra::<10>(mul(inv_std2, tmp16)));
        let tmp32 = sra::<9>(mul(delta, tmp16));
        let t = w16(sub(
            _mm256_setzero_si256(),
            w16(sra::<12>(mul(splat(LOG2_EXP), tmp32))),
        ));
        let mantissa = _mm256_or_si256(splat(0x0400), _mm256_and_si256(t, splat(0x03FF)));
        // (!t >> 10) + 1, masked to 0..=31 like `wrapping_shr`.
        let shift = add(sra::<10>(_mm256_xor_si256(t, splat(-1))), splat(1));
        let shifted = w16(_mm256_srav_epi32(
            mantissa,
            _mm256_and_si256(shift, splat(31)),
        ));
        let exp_value = select(gt(splat(COMP_VAR), tmp32), shifted, _mm256_setzero_si256());
        (mul(inv_std, exp_value), delta)
    }

    /// The cached [`super::inv_std`]s of Gaussian `k` of every channel.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load_inv(table: &[[i16; 2]; TABLE_SIZE], k: usize) -> (V, V) {
        // The six (inv, inv2) pairs are 24 bytes: one 16-byte and one
        // 8-byte load, then the pairs split by a shuffle.
        let t: &[i16] = bytemuck::cast_slice(&table[k * NUM_CHANNELS..][..NUM_CHANNELS]);
        let lo: [i16; 8] = t[..8].try_into().expect("8 values");
        let hi: [i16; 4] = t[8..12].try_into().expect("4 values");
        let lo: __m128i = bytemuck::cast(lo);
        let hi = _mm_set_epi64x(0, bytemuck::cast::<[i16; 4], i64>(hi));
        // [inv0, inv2_0, inv1, inv2_1, ...] → i32 lanes, then even/odd.
        let a = _mm256_cvtepi16_epi32(lo); // pairs 0..4
        let b = _mm256_cvtepi16_epi32(hi); // pairs 4..6, then zeros
        let idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        let (a, b) = (
            _mm256_permutevar8x32_epi32(a, idx),
            _mm256_permutevar8x32_epi32(b, idx),
        );
        // a = [inv 0..4 | inv2 0..4], b = [inv 4, 5, 0, 0 | inv2 4, 5, 0, 0].
        let inv = _mm256_permute2x128_si256::<0x20>(a, b);
        let inv2 = _mm256_permute2x128_si256::<0x31>(a, b);
        (inv, inv2)
    }

    /// Stores new stds of Gaussian `k` (were `old`) and, if any changed
    /// (rarely: the update usually rounds to no change), their `inv_std`s.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn update_stds(
        stds: &mut [i16; TABLE_SIZE],
        inv: &mut [[i16; 2]; TABLE_SIZE],
        k: usize,
        old: V,
        new: V,
    ) {
        let same = _mm256_cmpeq_epi32(old, new);
        if _mm256_movemask_ps(_mm256_castsi256_ps(same)) & CHANNEL_MASK != CHANNEL_MASK {
            store(stds, k, new);
            let (a, b) = inv_std(new);
            let (a, b) = (to_array(a), to_array(b));
            for c in 0..NUM_CHANNELS {
                inv[k * NUM_CHANNELS + c] = [a[c] as i16, b[c] as i16];
            }
        }
    }

    /// The Q14 probabilities of a model's two Gaussians given its total
    /// `total` (Q20) and the first Gaussian's weighted probability `first`.
    /// Without a usable total, `[fallback, 0]`: C leaves the noise model's
    /// at `[16384, 0]` and the speech model's at `[0, 0]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn conditional(first: V, total: V, fallback: i32) -> [V; NUM_GAUSSIANS] {
        let h = w16(sra::<12>(total));
        let num = _mm256_slli_epi32::<2>(_mm256_and_si256(first, splat(0xFFFF_F000u32 as i32)));
        let usable = gt(h, _mm256_setzero_si256());
        let g0 = select(usable, w16(div(num, h)), splat(fallback));
        let g1 = select(usable, w16(sub(splat(16384), g0)), _mm256_setzero_si256());
        [g0, g1]
    }

    /// How far global means `gm` (Q14) are above their maxima `max` (Q7),
    /// in Q7, or 0.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn excess(gm: V, max: V) -> V {
        let t = w16(sra::<7>(gm));
        select(gt(t, max), w16(sub(t, max)), _mm256_setzero_si256())
    }

    /// The weighted sum of each channel's two Gaussians (`WeightedAverage`
    /// with a zero offset).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn weighted(g: &[V; NUM_GAUSSIANS], w: &[V; NUM_GAUSSIANS]) -> V {
        add(mul(g[0], w[0]), mul(g[1], w[1]))
    }

    /// [`Core::update_window`] with the 16 ages and the 16 values as one
    /// vector each: the ageing, an expiry and the insertion are shifted
    /// copies and blends instead of `memmove` calls. Returns `false`,
    /// changing nothing, when two values expire in one frame; that rare
    /// case keeps the C code's sequential loop.
    ///
    /// One expiry at slot `i` in the C loop: slots below `i` are aged; the
    /// values above `i` move down one slot; the one that lands in slot `i`
    /// is not aged this frame (the loop has passed it), the others are; the
    /// last slot becomes 10000 with age 101, which the loop then reaches and
    /// ages to 102 unless `i` was the last slot.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn update_window_fast(age: &mut [i16; 16], values: &mut [i16; 16], f: i16) -> bool {
        let a: V = bytemuck::cast(*age);
        let v: V = bytemuck::cast(*values);
        let lane = _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let one = _mm256_set1_epi16(1);
        let aged = _mm256_add_epi16(a, one);
        // Lane i gets lane i + 1 (the last lane gets zero).
        let down = |x: V| _mm256_alignr_epi8::<2>(_mm256_permute2x128_si256::<0x81>(x, x), x);
        let expiring = _mm256_movemask_epi8(_mm256_cmpeq_epi16(a, _mm256_set1_epi16(100))) as u32;
        let (a, v) = match expiring.count_ones() {
            0 => (aged, v),
            2 => {
                let i = (expiring.trailing_zeros() / 2) as i16;
                let below = _mm256_cmpgt_epi16(_mm256_set1_epi16(i), lane);
                let at = _mm256_cmpeq_epi16(lane, _mm256_set1_epi16(i));
                let last = _mm256_cmpeq_epi16(lane, _mm256_set1_epi16(15));
                let a =
                    _mm256_blendv_epi8(_mm256_blendv_epi8(down(aged), aged, below), down(a), at);
                let tail = _mm256_set1_epi16(if i < 15 { 102 } else { 101 });
                let a = _mm256_blendv_epi8(a, tail, last);
                let v = _mm256_blendv_epi8(down(v), v, below);
                let v = _mm256_blendv_epi8(v, _mm256_set1_epi16(10000), last);
                (a, v)
            }
            _ => return false,
        };
        // The insertion point: how many values are not larger than `f`, the
        // first larger one's lane, since the window is sorted (see the
        // scalar code); 16 if none is larger.
        let larger = _mm256_movemask_epi8(_mm256_cmpgt_epi16(v, _mm256_set1_epi16(f))) as u32;
        let p = (larger.trailing_zeros() / 2) as i16;
        if p < 16 {
            // Every lane i moved to i + 1 (lane 0 gets zero, then `f`).
            let up = |x: V| _mm256_alignr_epi8::<14>(x, _mm256_permute2x128_si256::<0x08>(x, x));
            let after = _mm256_cmpgt_epi16(lane, _mm256_set1_epi16(p));
            let at = _mm256_cmpeq_epi16(lane, _mm256_set1_epi16(p));
            let insert = |x: V, new: i16| {
                let x = _mm256_blendv_epi8(x, up(x), after);
                _mm256_blendv_epi8(x, _mm256_set1_epi16(new), at)
            };
            *values = bytemuck::cast(insert(v, f));
            *age = bytemuck::cast(insert(a, 1));
        } else {
            *values = bytemuck::cast(v);
            *age = bytemuck::cast(a);
        }
        true
    }

    /// The `maxspe` each channel's speech means are clamped against: C
    /// carries it from channel to channel, 12800 for the first and the
    /// previous channel's maximum after that.
    const SPEECH_CEILING: [i16; NUM_CHANNELS] = {
        let mut c = [12800; NUM_CHANNELS];
        let mut i = 1;
        while i < NUM_CHANNELS {
            c[i] = MAXIMUM_SPEECH[i - 1];
            i += 1;
        }
        c
    };

    /// See [`Core::test_and_update`].
    #[target_feature(enable = "avx2")]
    pub(super) fn test_and_update(
        core: &mut Core,
        th: &Thresholds,
        idx: usize,
        features: &[i16; NUM_CHANNELS],
    ) -> i16 {
        let zero = _mm256_setzero_si256();
        let x = channels(features);
        let nw = [load(&NOISE_DATA_WEIGHTS, 0), load(&NOISE_DATA_WEIGHTS, 1)];
        let sw = [load(&SPEECH_DATA_WEIGHTS, 0), load(&SPEECH_DATA_WEIGHTS, 1)];
        let mut nm = [load(&core.noise_means, 0), load(&core.noise_means, 1)];
        let mut sm = [load(&core.speech_means, 0), load(&core.speech_means, 1)];

        // Likelihoods of both Gaussians of both models.
        let mut noise_p = [zero; NUM_GAUSSIANS];
        let mut speech_p = [zero; NUM_GAUSSIANS];
        let mut delta_n = [zero; NUM_GAUSSIANS];
        let mut delta_s = [zero; NUM_GAUSSIANS];
        for k in 0..NUM_GAUSSIANS {
            let (p, d) = gaussian_probability(x, nm[k], load_inv(&core.noise_inv_stds, k));
            (noise_p[k], delta_n[k]) = (mul(nw[k], p), d);
            let (p, d) = gaussian_probability(x, sm[k], load_inv(&core.speech_inv_stds, k));
            (speech_p[k], delta_s[k]) = (mul(sw[k], p), d);
        }
        let h0_test = add(noise_p[0], noise_p[1]);
        let h1_test = add(speech_p[0], speech_p[1]);

        // log2(Pr{X|H1} / Pr{X|H0}) ~ shifts_h0 - shifts_h1 per channel
        // (scalar: AVX2 has no leading-zero count), the local decisions
        // and the weighted sum for the global one.
        let (h0, h1) = (to_array(h0_test), to_array(h1_test));
        let shifts = |h: i32| if h == 0 { 31 } else { norm_w32(h) as i32 };
        let mut sum_log_likelihood_ratios = 0i32;
        let mut vadflag = 0i16;
        for c in 0..NUM_CHANNELS {
            let llr = shifts(h0[c]) - shifts(h1[c]);
            sum_log_likelihood_ratios += llr * SPECTRUM_WEIGHT[c] as i32;
            vadflag |= i16::from(llr * 4 > th.individual[idx] as i32);
        }
        vadflag |= i16::from(sum_log_likelihood_ratios >= th.total[idx] as i32);

        let ngprvec = conditional(noise_p[0], h0_test, 16384);
        let sgprvec = conditional(speech_p[0], h1_test, 0);

        // Update the models. FindMinimum reads and writes only its own
        // channel's window and median, which nothing else here touches.
        let mut minima = [0i16; NUM_CHANNELS];
        for (c, m) in minima.iter_mut().enumerate() {
            let (age, values) = (&mut core.index_vector[c], &mut core.low_value_vector[c]);
            if !update_window_fast(age, values, features[c]) {
                core.update_window(features[c], c);
            }
            *m = core.smoothed_median(c);
        }
        let fmin = channels(&minima);
        // The noise model's global mean in Q8.
        let tmp1_s16 = w16(sra::<6>(weighted(&nm, &nw)));
        let maxmu = add(channels(&SPEECH_CEILING), splat(640));
        let channel_index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for k in 0..NUM_GAUSSIANS {
            let (nmk, smk) = (nm[k], sm[k]);
            // Noise mean, for a noise frame.
            let nmk2 = if vadflag == 0 {
                let delt = w16(sra::<11>(mul(ngprvec[k], delta_n[k])));
                w16(add(
                    nmk,
                    w16(sra::<22>(mul(delt, splat(NOISE_UPDATE_CONST)))),
                ))
            } else {
                nmk
            };
            // Long-term correction towards the minimum, then the limits
            // (k + 5) << 7 and (72 + k − channel) << 7.
            let ndelt = w16(sub(_mm256_slli_epi32::<4>(fmin), tmp1_s16));
            let nmk3 = w16(add(nmk2, w16(sra::<9>(mul(ndelt, splat(BACK_ETA))))));
            let lo = splat((k as i32 + 5) << 7);
            let hi = _mm256_slli_epi32::<7>(sub(splat(72 + k as i32), channel_index));
            nm[k] = _mm256_min_epi32(_mm256_max_epi32(nmk3, lo), hi);

            if vadflag != 0 {
                // Speech mean.
                let delt = w16(sra::<11>(mul(sgprvec[k], delta_s[k])));
                let t = w16(sra::<21>(mul(delt, splat(SPEECH_UPDATE_CONST))));
                let smk2 = w16(add(smk, w16(sra::<1>(add(t, splat(1))))));
                let floor = splat(MINIMUM_MEAN[k] as i32);
                sm[k] = _mm256_min_epi32(_mm256_max_epi32(smk2, floor), maxmu);

                // Speech std.
                let ssk = load(&core.speech_stds, k);
                let t = w16(sub(x, w16(sra::<3>(add(smk, splat(4))))));
                let t1 = sra::<3>(mul(delta_s[k], t));
                let t1 = mul(sra::<2>(sgprvec[k]), sub(t1, splat(4096)));
                let q = signed_div_16(sra::<4>(t1), w16(mul(ssk, splat(10))));
                let new = w16(add(ssk, sra::<8>(w16(add(q, splat(128))))));
                let new = _mm256_max_epi32(new, splat(MIN_STD as i32));
                update_stds(
                    &mut core.speech_stds,
                    &mut core.speech_inv_stds,
                    k,
                    ssk,
                    new,
                );
            } else {
                // Noise std.
                let nsk = load(&core.noise_stds, k);
                let t = w16(sub(x, sra::<3>(nmk)));
                let t1 = sub(sra::<3>(mul(delta_n[k], t)), splat(4096));
                let t2 = mul(w16(sra::<2>(add(ngprvec[k], splat(2)))), t1);
                let q = signed_div_16(sra::<14>(t2), nsk);
                let new = w16(add(nsk, sra::<6>(w16(add(q, splat(32))))));
                let new = _mm256_max_epi32(new, splat(MIN_STD as i32));
                update_stds(&mut core.noise_stds, &mut core.noise_inv_stds, k, nsk, new);
            }
        }

        // Separate the models if they are too close.
        let mut ngm = weighted(&nm, &nw);
        let mut sgm = weighted(&sm, &sw);
        let min_diff = channels(&MINIMUM_DIFFERENCE);
        let diff = w16(sub(w16(sra::<9>(sgm)), w16(sra::<9>(ngm))));
        let close = gt(min_diff, diff);
        if any(close) {
            let t = w16(sub(min_diff, diff));
            let up = select(close, w16(sra::<2>(mul(splat(13), t))), zero);
            let down = select(close, w16(sra::<2>(mul(splat(3), t))), zero);
            for k in 0..NUM_GAUSSIANS {
                sm[k] = w16(add(sm[k], up));
                nm[k] = w16(sub(nm[k], down));
            }
            sgm = weighted(&sm, &sw);
            ngm = weighted(&nm, &nw);
        }

        // Keep the means from drifting too far up.
        let se = excess(sgm, channels(&MAXIMUM_SPEECH));
        let ne = excess(ngm, channels(&MAXIMUM_NOISE));
        for k in 0..NUM_GAUSSIANS {
            store(&mut core.speech_means, k, w16(sub(sm[k], se)));
            store(&mut core.noise_means, k, w16(sub(nm[k], ne)));
        }
        vadflag
    }
}

#[cfg(test)]
mod tests {
    //! The reference is libfvad itself: through the `webrtc-vad` crate's API
    //! (decisions) and, for the internal state, through the same C symbols,
    //! which the crate links into every binary that uses it.

    use super::*;
    use std::path::Path;
    use std::sync::OnceLock;

    /// Test-only bindings to the C code the `webrtc-vad` crate compiles and
    /// links (`resources/libfvad`), with a `#[repr(C)]` mirror of `VadInstT`
    /// so the whole state can be compared after every frame. This is the only
    /// `unsafe` in the module, and it is test code.
    mod c {
        use std::os::raw::c_int;

        /// `VadInstT` of `vad_core.h`.
        #[repr(C)]
        pub struct VadInstT {
            pub vad: c_int,
            pub downsampling_filter_states: [i32; 4],
            /// `WebRtcSpl_State48khzTo8khz`: S_48_24[8], S_24_24[16],
            /// S_24_16[8], S_16_8[8].
            pub state_48_to_8: [i32; 40],
            pub noise_means: [i16; 12],
            pub speech_means: [i16; 12],
            pub noise_stds: [i16; 12],
            pub speech_stds: [i16; 12],
            pub frame_counter: i32,
            pub over_hang: i16,
            pub num_of_speech: i16,
            pub index_vector: [i16; 96],
            pub low_value_vector: [i16; 96],
            pub mean_value: [i16; 6],
            pub upper_state: [i16; 5],
            pub lower_state: [i16; 5],
            pub hp_filter_state: [i16; 4],
            pub over_hang_max_1: [i16; 3],
            pub over_hang_max_2: [i16; 3],
            pub individual: [i16; 3],
            pub total: [i16; 3],
            pub init_flag: c_int,
        }

        /// `struct Fvad` of `fvad.c`.
        #[repr(C)]
        pub struct Fvad {
            pub core: VadInstT,
            pub rate_idx: c_int,
        }

        extern "C" {
            fn fvad_new() -> *mut Fvad;
            fn fvad_free(inst: *mut Fvad);
            fn fvad_set_mode(inst: *mut Fvad, mode: c_int) -> c_int;
            fn fvad_set_sample_rate(inst: *mut Fvad, rate: c_int) -> c_int;
            fn fvad_process(inst: *mut Fvad, frame: *const i16, len: usize) -> c_int;
            fn WebRtcVad_CalculateFeatures(
                inst: *mut VadInstT,
                data: *const i16,
                len: usize,
                features: *mut i16,
            ) -> i16;
            fn WebRtcVad_GaussianProbability(
                input: i16,
                mean: i16,
                std: i16,
                delta: *mut i16,
            ) -> i32;
        }

        /// An owned `Fvad *` from `fvad_new`.
        pub struct Handle(*mut Fvad);

        impl Handle {
            pub fn new(rate_hz: u32, mode: u8) -> Handle {
                // SAFETY: fvad_new returns a valid, initialised instance (or
                // null, checked); the setters only write into it.
                unsafe {
                    let p = fvad_new();
                    assert!(!p.is_null());
                    assert_eq!(fvad_set_sample_rate(p, rate_hz as c_int), 0);
                    assert_eq!(fvad_set_mode(p, c_int::from(mode)), 0);
                    Handle(p)
                }
            }

            /// `fvad_process`: 1, 0, or -1 for a bad length.
            pub fn process(&mut self, frame: &[i16]) -> c_int {
                // SAFETY: the pointer and length describe `frame`; fvad_process
                // reads at most `len` samples (it returns -1 for lengths it
                // does not take; even 48 kHz reads only the first 480).
                unsafe { fvad_process(self.0, frame.as_ptr(), frame.len()) }
            }

            pub fn set_mode(&mut self, mode: u8) {
                // SAFETY: valid instance.
                assert_eq!(unsafe { fvad_set_mode(self.0, c_int::from(mode)) }, 0);
            }

            pub fn state(&self) -> &VadInstT {
                // SAFETY: valid instance, owned by self, not aliased mutably.
                unsafe { &(*self.0).core }
            }

            /// `WebRtcVad_CalculateFeatures` on the core.
            pub fn calculate_features(&mut self, frame: &[i16]) -> (i16, [i16; 6]) {
                assert!([80, 160, 240].contains(&frame.len()));
                let mut f = [0i16; 6];
                // SAFETY: valid instance; `frame` has `len` samples, `f` six.
                let total = unsafe {
                    WebRtcVad_CalculateFeatures(
                        &mut (*self.0).core,
                        frame.as_ptr(),
                        frame.len(),
                        f.as_mut_ptr(),
                    )
                };
                (total, f)
            }
        }

        impl Drop for Handle {
            fn drop(&mut self) {
                // SAFETY: allocated by fvad_new, freed once.
                unsafe { fvad_free(self.0) }
            }
        }

        /// The C state behind a `webrtc_vad::Vad`, so that the comparison
        /// needs no second C instance. `Vad` (webrtc-vad 0.4.0, pinned by
        /// Cargo.lock) is `struct Vad { fvad: *mut Fvad }`; the size check
        /// below and `c_state_mirror_matches_the_c_layout`, which reads a
        /// fresh instance through this function, guard that assumption.
        pub fn state_of(vad: &webrtc_vad::Vad) -> &VadInstT {
            const {
                assert!(size_of::<webrtc_vad::Vad>() == size_of::<*mut Fvad>());
            }
            // SAFETY: `Vad`'s only field is the `Fvad *` from `fvad_new`,
            // valid while `vad` lives; only read between calls, while the
            // shared borrow keeps `vad` from being used mutably.
            unsafe {
                let p: *mut Fvad = std::mem::transmute_copy(vad);
                &(*p).core
            }
        }

        /// `WebRtcVad_GaussianProbability`.
        pub fn gaussian_probability(input: i16, mean: i16, std: i16) -> (i32, i16) {
            let mut delta = 0i16;
            // SAFETY: pure function writing one int16_t through `delta`.
            let p = unsafe { WebRtcVad_GaussianProbability(input, mean, std, &mut delta) };
            (p, delta)
        }
    }

    /// The port's view of a C state.
    fn core_of(c: &c::VadInstT) -> Core {
        let mut index_vector = [[0i16; 16]; NUM_CHANNELS];
        let mut low_value_vector = [[0i16; 16]; NUM_CHANNELS];
        for ch in 0..NUM_CHANNELS {
            index_vector[ch].copy_from_slice(&c.index_vector[16 * ch..16 * ch + 16]);
            low_value_vector[ch].copy_from_slice(&c.low_value_vector[16 * ch..16 * ch + 16]);
        }
        let s = &c.state_48_to_8;
        Core {
            downsampling_filter_states: c.downsampling_filter_states,
            state_48_to_8: Resample48State {
                s_48_24: std::array::from_fn(|k| s[4 * k..4 * k + 4].try_into().unwrap()),
                s_24_24: std::array::from_fn(|k| s[8 + 4 * k..12 + 4 * k].try_into().unwrap()),
                s_24_16: s[24..32].try_into().unwrap(),
                s_16_8: std::array::from_fn(|k| s[32 + 4 * k..36 + 4 * k].try_into().unwrap()),
            },
            noise_means: c.noise_means,
            speech_means: c.speech_means,
            noise_stds: c.noise_stds,
            speech_stds: c.speech_stds,
            noise_inv_stds: c.noise_stds.map(inv_std),
            speech_inv_stds: c.speech_stds.map(inv_std),
            frame_counter: c.frame_counter,
            over_hang: c.over_hang,
            num_of_speech: c.num_of_speech,
            index_vector,
            low_value_vector,
            mean_value: c.mean_value,
            filter: FilterStates {
                splits: std::array::from_fn(|i| [c.upper_state[i], c.lower_state[i]]),
                high_pass: c.hp_filter_state,
            },
        }
    }

    fn thresholds_of(c: &c::VadInstT) -> Thresholds {
        Thresholds {
            over_hang_max_1: c.over_hang_max_1,
            over_hang_max_2: c.over_hang_max_2,
            individual: c.individual,
            total: c.total,
        }
    }

    /// The first field where the port's state differs from the C's.
    fn state_diff(port: &Fvad, c: &c::VadInstT) -> Option<String> {
        let (a, b) = (&port.core, &core_of(c));
        macro_rules! fields {
            ($($f:ident),*) => {$(
                if a.$f != b.$f {
                    return Some(format!(
                        "{}: port {:?} vs C {:?}", stringify!($f), a.$f, b.$f
                    ));
                }
            )*};
        }
        fields!(
            downsampling_filter_states,
            state_48_to_8,
            noise_means,
            speech_means,
            noise_stds,
            speech_stds,
            noise_inv_stds,
            speech_inv_stds,
            frame_counter,
            over_hang,
            num_of_speech,
            index_vector,
            low_value_vector,
            mean_value,
            filter
        );
        if port.thresholds != thresholds_of(c) {
            return Some(format!(
                "thresholds: port {:?} vs C {:?}",
                port.thresholds,
                thresholds_of(c)
            ));
        }
        None
    }

    fn crate_vad(rate_hz: u32, mode: u8) -> webrtc_vad::Vad {
        use webrtc_vad::{SampleRate, Vad, VadMode};
        let rate = SampleRate::try_from(rate_hz as i32).unwrap();
        let mode = match mode {
            0 => VadMode::Quality,
            1 => VadMode::LowBitrate,
            2 => VadMode::Aggressive,
            _ => VadMode::VeryAggressive,
        };
        Vad::new_with_rate_and_mode(rate, mode)
    }

    // ---- signals ------------------------------------------------------------

    /// xorshift64: deterministic, no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// Uniform in `[-amp, amp]`.
        fn uniform(&mut self, amp: i32) -> i32 {
            (self.below(2 * amp as u64 + 1) as i64 - amp as i64) as i32
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn sat(x: f64) -> i16 {
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
    fn signal(rate_hz: u32) -> &'static [i16] {
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

    // ---- the comparison -----------------------------------------------------

    #[derive(Debug)]
    struct Stats {
        frames: usize,
        voiced: usize,
        seconds: f64,
    }

    /// Runs `port` and the crate (public API) side by side over `signal` in
    /// frames of `frame_ms`: the decisions must agree on every frame, and
    /// with `check_state` the raw flag (speech / hangover count) and the
    /// whole state of the crate's C instance too.
    fn compare(
        mut port: Fvad,
        frame_ms: usize,
        signal: &[i16],
        check_state: bool,
    ) -> Result<Stats, String> {
        let rate_hz = port.rate_hz();
        let mode = port.mode();
        let mut reference = crate_vad(rate_hz, mode);
        let len = frame_ms * rate_hz as usize / 1000;
        let mut voiced = 0;
        let mut frames = 0;
        for (i, frame) in signal.chunks_exact(len).enumerate() {
            let at = || format!("{rate_hz} Hz mode {mode} {frame_ms} ms, frame {i}");
            let ours = port
                .process_raw(frame)
                .ok_or_else(|| format!("{}: rejected", at()))?;
            let theirs = reference.is_voice_segment(frame).map_err(|_| at())?;
            if (ours != 0) != theirs {
                return Err(format!("{}: port says {ours}, crate says {theirs}", at()));
            }
            if check_state {
                let st = c::state_of(&reference);
                if st.vad != i32::from(ours) {
                    return Err(format!("{}: raw flag {ours} vs C {}", at(), st.vad));
                }
                if let Some(d) = state_diff(&port, st) {
                    return Err(format!("{}: state differs, {d}", at()));
                }
            }
            voiced += theirs as usize;
            frames += 1;
        }
        Ok(Stats {
            frames,
            voiced,
            seconds: (frames * len) as f64 / rate_hz as f64,
        })
    }

    /// Every mode at one rate and frame length, over the whole signal.
    fn check_config(rate_hz: u32, frame_ms: usize) {
        let signal = signal(rate_hz);
        for mode in 0..4 {
            let port = Fvad::new(rate_hz, mode).unwrap();
            let st = compare(port, frame_ms, signal, true).unwrap_or_else(|e| panic!("{e}"));
            eprintln!(
                "{rate_hz} Hz, mode {mode}, {frame_ms} ms: {} frames ({:.1} min) identical, {:.1} % speech",
                st.frames,
                st.seconds / 60.0,
                100.0 * st.voiced as f64 / st.frames as f64
            );
            assert!(st.seconds >= 600.0, "only {:.0} s compared", st.seconds);
            // Both decisions occur plenty, or the comparison proves little.
            assert!(st.voiced > st.frames / 10 && st.voiced < st.frames * 9 / 10);
        }
    }

    macro_rules! config_tests {
        ($($name:ident: $rate:expr, $ms:expr;)*) => {$(
            #[test]
            fn $name() {
                check_config($rate, $ms);
            }
        )*};
    }

    config_tests! {
        bit_exact_8k_10ms: 8000, 10;
        bit_exact_8k_20ms: 8000, 20;
        bit_exact_8k_30ms: 8000, 30;
        bit_exact_16k_10ms: 16000, 10;
        bit_exact_16k_20ms: 16000, 20;
        bit_exact_16k_30ms: 16000, 30;
        bit_exact_32k_10ms: 32000, 10;
        bit_exact_32k_20ms: 32000, 20;
        bit_exact_32k_30ms: 32000, 30;
        bit_exact_48k_10ms: 48000, 10;
        bit_exact_48k_20ms: 48000, 20;
        bit_exact_48k_30ms: 48000, 30;
    }

    // ---- components against the C functions --------------------------------

    #[test]
    fn c_state_mirror_matches_the_c_layout() {
        // If `VadInstT` were mirrored wrongly, the fields after the first
        // mistake would read garbage: check both ends and everything between
        // against a fresh port.
        for rate in [8000, 16000, 32000, 48000] {
            for mode in 0..4 {
                let raw = c::Handle::new(rate, mode);
                let vad = crate_vad(rate, mode);
                let port = Fvad::new(rate, mode).unwrap();
                assert_eq!(port.thresholds, MODES[mode as usize]);
                for st in [raw.state(), c::state_of(&vad)] {
                    assert_eq!(st.init_flag, 42);
                    assert_eq!(st.vad, 1);
                    assert_eq!(state_diff(&port, st), None);
                }
            }
        }
    }

    #[test]
    fn gaussian_probability_matches_c() {
        let check = |input: i16, mean: i16, std: i16| {
            let ours = gaussian_probability(input, mean, inv_std(std));
            let theirs = c::gaussian_probability(input, mean, std);
            assert_eq!(ours, theirs, "input {input}, mean {mean}, std {std}");
        };
        // Every standard deviation the models can hold (>= 378), against a
        // grid of inputs and means around and far from each other.
        let edges = [
            i16::MIN,
            -20000,
            -1,
            0,
            1,
            100,
            1000,
            4000,
            8000,
            12000,
            20000,
            i16::MAX,
        ];
        for std in 378..=i16::MAX {
            for &m in &edges {
                for &x in &[0, 1, 300, 600, 900, 1500, 3000, i16::MAX, i16::MIN] {
                    check(x, m, std);
                }
            }
        }
        // Random triples over the whole domain of positive stds.
        let mut rng = Rng(7);
        for _ in 0..2_000_000 {
            let x = rng.next() as i16;
            let m = rng.next() as i16;
            let std = (rng.below(32767) + 1) as i16;
            check(x, m, std);
        }
    }

    #[test]
    fn filterbank_features_match_c() {
        // Band energies and the total-energy indicator, frame by frame, on
        // the 8 kHz signal (the filter states ride along in the state check
        // of the decision tests).
        let signal = signal(8000);
        for len in [80, 160, 240] {
            let mut raw = c::Handle::new(8000, 0);
            let mut port = Fvad::new(8000, 0).unwrap();
            for (i, frame) in signal.chunks_exact(len).enumerate() {
                let (features, total) = features_of(&mut port.core, frame);
                assert_eq!(
                    (total, features),
                    raw.calculate_features(frame),
                    "{len}: frame {i}"
                );
            }
        }
    }

    /// `WebRtcVad_CalculateFeatures` of one 8 kHz frame of 80, 160 or 240
    /// samples: the features and the total-energy indicator.
    fn features_of(core: &mut Core, frame: &[i16]) -> ([i16; NUM_CHANNELS], i16) {
        let mut f = [0i16; NUM_CHANNELS];
        let total = match frame.len() {
            80 => core.calculate_features::<80, 40, 20, 10, 5>(frame.try_into().unwrap(), &mut f),
            160 => {
                core.calculate_features::<160, 80, 40, 20, 10>(frame.try_into().unwrap(), &mut f)
            }
            _ => core.calculate_features::<240, 120, 60, 30, 15>(frame.try_into().unwrap(), &mut f),
        };
        (f, total)
    }

    /// The AVX2 model test and update (all channels in one vector) against
    /// the scalar one, on the test signal's features in every mode and frame
    /// length: the same decision and the same whole state after every frame
    /// with energy.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_model_update_matches_scalar() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let signal = signal(8000);
        for (mode, th) in MODES.iter().enumerate() {
            for (idx, len) in [80, 160, 240].into_iter().enumerate() {
                let mut core = Core::new();
                let mut checked = 0;
                for (i, frame) in signal.chunks_exact(len).enumerate() {
                    let (features, total) = features_of(&mut core, frame);
                    if total <= MIN_ENERGY {
                        continue;
                    }
                    let mut scalar = core.clone();
                    let want = scalar.test_and_update_scalar(th, idx, &features);
                    // SAFETY: the CPU supports AVX2, checked above.
                    let got = unsafe { gmm_avx2::test_and_update(&mut core, th, idx, &features) };
                    assert!(
                        (got, &core) == (want, &scalar),
                        "mode {mode}, {len} samples: frame {i} differs"
                    );
                    core.frame_counter = core.frame_counter.wrapping_add(1);
                    checked += 1;
                }
                assert!(checked > 10_000, "mode {mode}, {len}: {checked} frames");
            }
        }
    }

    /// The vector window update against the scalar one, frame by frame,
    /// on random feature streams in which values stay in the window until
    /// they expire and some frames insert nothing (features above 10000),
    /// so that the filler an expiry leaves in the last slot survives.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_window_update_matches_scalar() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let (mut fast, mut fallback) = (0, 0);
        for run in 0..40u64 {
            let mut core = Core::new();
            for frame in 0..4000 {
                let f = match rng.below(5) {
                    0 => 10_001 + rng.below(500) as i16,
                    _ => rng.below(200 + 400 * run) as i16,
                };
                let mut want = core.clone();
                want.update_window(f, 0);
                let (age, values) = (&mut core.index_vector[0], &mut core.low_value_vector[0]);
                // SAFETY: the CPU supports AVX2, checked above.
                if unsafe { gmm_avx2::update_window_fast(age, values, f) } {
                    fast += 1;
                } else {
                    fallback += 1;
                    core.update_window(f, 0);
                }
                assert!(
                    (core.index_vector[0], core.low_value_vector[0])
                        == (want.index_vector[0], want.low_value_vector[0]),
                    "run {run}, frame {frame}, feature {f}"
                );
            }
        }
        assert!(fast > 100_000, "{fast} vector updates, {fallback} scalar");
    }

    /// The SSE2 filterbank levels against the portable version they replace.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_filterbank_matches_portable() {
        fn check<const N: usize, const H: usize, const Q: usize>(rng: &mut Rng) {
            let mut a = ([0i16; 2], [0i16; 4]);
            let mut b = a;
            for round in 0..20_000 {
                // Full-scale noise, quiet noise, rails: the states wander.
                let amp = [32767, 3000, 30][round % 3];
                let data: [i16; N] = std::array::from_fn(|_| match rng.below(50) {
                    0 => i16::MIN,
                    1 => i16::MAX,
                    _ => rng.uniform(amp) as i16,
                });
                let (mut high_a, mut high_b) = ([[0i16; H]], [0i16; H]);
                let (mut out_a, mut out_b) = ([[[0i16; Q]; 4]], [[0i16; Q]; 4]);
                let (mut first, mut second) = ([a.0], [a.1]);
                // SAFETY: SSE2 is part of the x86-64 baseline.
                unsafe {
                    sse2::two_levels(
                        [&data],
                        &mut first,
                        &mut second,
                        Some(high_a.each_mut()),
                        out_a.each_mut(),
                    )
                };
                a = (first[0], second[0]);
                two_levels_portable(&data, &mut b.0, &mut b.1, Some(&mut high_b), &mut out_b);
                assert_eq!(
                    (out_a[0], high_a[0], a),
                    (out_b, high_b, b),
                    "{N} samples, round {round}"
                );
            }
            // Two channels in one loop: each gets what it gets alone.
            let mut pair = ([[0i16; 2]; 2], [[0i16; 4]; 2]);
            let mut alone = pair;
            for round in 0..5_000 {
                let data: [[i16; N]; 2] =
                    std::array::from_fn(|_| std::array::from_fn(|_| rng.uniform(32767) as i16));
                let mut high = [[0i16; H]; 2];
                let mut out = [[[0i16; Q]; 4]; 2];
                // SAFETY: SSE2 is part of the x86-64 baseline.
                unsafe {
                    sse2::two_levels(
                        [&data[0], &data[1]],
                        &mut pair.0,
                        &mut pair.1,
                        Some(high.each_mut()),
                        out.each_mut(),
                    )
                };
                for p in 0..2 {
                    let mut high1 = [0i16; H];
                    let mut out1 = [[0i16; Q]; 4];
                    let (f, s) = (&mut alone.0[p], &mut alone.1[p]);
                    two_levels_portable(&data[p], f, s, Some(&mut high1), &mut out1);
                    assert_eq!((out[p], high[p]), (out1, high1), "{N}, pair round {round}");
                }
                assert_eq!(pair, alone, "{N} samples, pair round {round}");
            }
        }
        let mut rng = Rng(11);
        // Levels 1 and 2 of 10, 20 and 30 ms frames, and levels 3 and 4.
        check::<80, 40, 20>(&mut rng);
        check::<160, 80, 40>(&mut rng);
        check::<240, 120, 60>(&mut rng);
        check::<20, 10, 5>(&mut rng);
        check::<40, 20, 10>(&mut rng);
        check::<60, 30, 15>(&mut rng);
    }

    /// The filterbank of one channel, two levels at a time through the
    /// portable version, then the high-pass: the reference for
    /// [`filterbank`].
    fn filterbank_portable<
        const N: usize,
        const H: usize,
        const Q: usize,
        const E: usize,
        const S: usize,
    >(
        data: &[i16; N],
        states: &mut FilterStates,
        bands: &mut Bands<Q, E, S>,
    ) {
        let [s0, [u1, l1], [u2, l2], s3, [u4, l4]] = states.splits;
        let (mut first, mut second) = (s0, [u1, l1, u2, l2]);
        let (mut first34, mut second34) = (s3, [0, 0, u4, l4]);
        let b = bands;
        let mut level2 = [[0i16; Q]; 4];
        two_levels_portable::<N, H, Q>(data, &mut first, &mut second, None, &mut level2);
        let mut level4 = [[0i16; S]; 4];
        let (lp2b, hp3) = (&level2[3], Some(&mut b.hp3));
        two_levels_portable(lp2b, &mut first34, &mut second34, hp3, &mut level4);
        let mut hp = states.high_pass.map(i32::from);
        for (y, &x) in b.band0.iter_mut().zip(&level4[3]) {
            *y = high_pass_step(&mut hp, x);
        }
        b.hp4 = level4[2];
        b.level2_energy = level2_energy(&level2);
        let ([u1, l1, u2, l2], [_, _, u4, l4]) = (second, second34);
        *states = FilterStates {
            splits: [first, [u1, l1], [u2, l2], first34, [u4, l4]],
            high_pass: hp.map(|v| v as i16),
        };
    }

    /// The whole filterbank of two channels at once (with AVX2: all in one
    /// loop, levels 3 and 4 and the high-pass behind level 2) and of one
    /// channel (two passes of two levels, then the high-pass) against the
    /// portable version, frame by frame with the states carried over, on
    /// frames that drive the states and every band to their extremes:
    /// full-scale and quiet noise, DC at the rails, full-scale Nyquist and
    /// low squares and sines (which load the lowest bands, those of levels
    /// 3 and 4 and the high-pass), silence after full scale, lone impulses,
    /// and each channel on its own kind of frame.
    #[test]
    fn filterbank_matches_portable() {
        fn frame<const N: usize>(rng: &mut Rng) -> [i16; N] {
            let kind = rng.below(9);
            let (amp, period) = (rng.uniform(32767) as i16, 1 + rng.below(40) as usize);
            let spike = rng.below(N as u64) as usize;
            std::array::from_fn(|i| match kind {
                0 => match rng.below(50) {
                    0 => i16::MIN,
                    1 => i16::MAX,
                    _ => rng.uniform(32767) as i16,
                },
                1 => rng.uniform(30) as i16,
                2 => i16::MAX,
                3 => i16::MIN,
                4 => [i16::MAX, i16::MIN][i % 2],
                5 => [i16::MIN, i16::MAX][i / period % 2],
                6 => 0,
                7 => [0, amp][usize::from(i == spike)],
                _ => sat(32767.0 * (i as f64 * 0.01 * period as f64).sin()),
            })
        }
        fn check<const N: usize, const H: usize, const Q: usize, const E: usize, const S: usize>(
            rng: &mut Rng,
        ) {
            // Each path carries its own states from frame to frame.
            let zero = FilterStates {
                splits: [[0; 2]; 5],
                high_pass: [0; 4],
            };
            let (mut pair, mut alone, mut single) = ([zero; 2], [zero; 2], [zero; 2]);
            for round in 0..10_000 {
                let data: [[i16; N]; 2] = [frame(rng), frame(rng)];
                let mut bands = [Bands::<Q, E, S>::ZERO; 2];
                filterbank::<2, N, H, Q, E, S>([&data[0], &data[1]], &mut pair, &mut bands);
                for p in 0..2 {
                    let mut want = Bands::ZERO;
                    filterbank_portable::<N, H, Q, E, S>(&data[p], &mut alone[p], &mut want);
                    // Level 2 by its energies (the AVX2 pair path keeps its
                    // samples in vectors); its lowest band is checked
                    // through levels 3 and 4.
                    let (got, want) = ((bands[p], pair[p]), (want, alone[p]));
                    assert_eq!(got, want, "{N} samples, pair, channel {p}, round {round}");

                    // One channel: two passes of two levels.
                    let mut one = [Bands::ZERO];
                    let s = std::array::from_mut(&mut single[p]);
                    filterbank::<1, N, H, Q, E, S>([&data[p]], s, &mut one);
                    let got = (one[0], s[0]);
                    assert_eq!(got, want, "{N} samples, one channel, round {round}");
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2: filterbank_matches_portable checks the two-pass path only");
        }
        let mut rng = Rng(34);
        check::<80, 40, 20, 10, 5>(&mut rng);
        check::<160, 80, 40, 20, 10>(&mut rng);
        check::<240, 120, 60, 30, 15>(&mut rng);
    }

    // ---- streams and the API --------------------------------------------------

    /// `calc_vad_8khz` compiled for AVX2 gives the baseline build's
    /// decisions and states, frame after frame, one channel and two.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_portable_builds_agree() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let sig = signal(8000);
        let other = &sig[sig.len() / 3..];
        for mode in 0..4u8 {
            for len in [80, 160, 240] {
                let new = || Fvad::new(8000, mode).unwrap();
                let (mut a, mut b) = ([new(), new()], [new(), new()]);
                let (mut c, mut d) = (new(), new());
                for (i, (x, y)) in sig
                    .chunks_exact(len)
                    .zip(other.chunks_exact(len))
                    .take(3000)
                    .enumerate()
                {
                    let [a0, a1] = &mut a;
                    let [b0, b1] = &mut b;
                    // SAFETY: AVX2 is there, checked above.
                    let got = unsafe { Fvad::calc_vad_8khz_avx2([a0, a1], [x, y]) };
                    let want = Fvad::calc_vad_8khz_portable([b0, b1], [x, y]);
                    assert_eq!(got, want, "mode {mode}, {len} samples, frame {i}");
                    // SAFETY: as above.
                    let got = unsafe { Fvad::calc_vad_8khz_avx2([&mut c], [x]) };
                    let want = Fvad::calc_vad_8khz_portable([&mut d], [x]);
                    assert_eq!(
                        got, want,
                        "one channel, mode {mode}, {len} samples, frame {i}"
                    );
                }
                assert_eq!((&a[0].core, &a[1].core), (&b[0].core, &b[1].core));
                assert_eq!(c.core, d.core, "mode {mode}, {len} samples");
            }
        }
    }

    #[test]
    fn channels_processed_together_match_one_at_a_time() {
        // Two channels (the test signal, and the signal from a later point:
        // speech against adversarial noise) through `process_many` and
        // through two detectors of their own: same decisions, same states.
        for rate in [8000u32, 16000, 32000, 48000] {
            let khz = rate as usize / 1000;
            let sig = signal(rate);
            let other = &sig[sig.len() / 3..];
            for mode in 0..4u8 {
                for ms in [10, 20, 30] {
                    let len = ms * khz;
                    let mut pair = [
                        Fvad::new(rate, mode).unwrap(),
                        Fvad::new(rate, mode).unwrap(),
                    ];
                    let mut alone = pair.clone();
                    let (mut voiced, mut frames) = (0, 0);
                    for (a, b) in sig
                        .chunks_exact(len)
                        .zip(other.chunks_exact(len))
                        .take(4000)
                    {
                        let [pa, pb] = &mut pair;
                        let got = Fvad::process_many([pa, pb], [a, b]);
                        let want = [alone[0].process(a), alone[1].process(b)];
                        assert_eq!(got, want, "{rate} Hz, mode {mode}, {ms} ms, frame {frames}");
                        voiced += usize::from(got[0]) + usize::from(got[1]);
                        frames += 1;
                    }
                    assert_eq!(
                        pair[0].core, alone[0].core,
                        "{rate} Hz, mode {mode}, {ms} ms"
                    );
                    assert_eq!(
                        pair[1].core, alone[1].core,
                        "{rate} Hz, mode {mode}, {ms} ms"
                    );
                    assert!(
                        voiced > 0 && voiced < 2 * frames,
                        "{rate} Hz {mode} {ms}: {voiced}"
                    );
                }
            }
            // Frames of different lengths, or a bad one, fall back to one at
            // a time (a bad frame: `false`, state untouched).
            let mut pair = [Fvad::new(rate, 3).unwrap(), Fvad::new(rate, 3).unwrap()];
            let mut alone = pair.clone();
            let (a, b, bad) = (&sig[..10 * khz], &sig[..20 * khz], &sig[..7]);
            for (x, y) in [(a, b), (b, bad), (bad, bad), (a, a)] {
                let [pa, pb] = &mut pair;
                let got = Fvad::process_many([pa, pb], [x, y]);
                assert_eq!(got, [alone[0].process(x), alone[1].process(y)]);
            }
            assert_eq!(pair[0].core, alone[0].core);
            assert_eq!(pair[1].core, alone[1].core);
        }
    }

    #[test]
    fn mixed_lengths_mode_switches_and_bad_frames_match_c() {
        // libfvad takes any valid length on every call and keeps its state
        // across mode changes; a bad length changes nothing.
        for rate in [8000u32, 16000, 32000, 48000] {
            let khz = rate as usize / 1000;
            let signal = signal(rate);
            let mut rng = Rng(u64::from(rate));
            let mut port = Fvad::new(rate, 0).unwrap();
            let mut reference = crate_vad(rate, 0);
            let mut raw = c::Handle::new(rate, 0);
            let (mut pos, mut frames) = (0, 0);
            while pos + 30 * khz <= signal.len() && frames < 15_000 {
                if rng.below(500) == 0 {
                    let mode = rng.below(4) as u8;
                    assert!(port.set_mode(mode));
                    reference.set_mode(match mode {
                        0 => webrtc_vad::VadMode::Quality,
                        1 => webrtc_vad::VadMode::LowBitrate,
                        2 => webrtc_vad::VadMode::Aggressive,
                        _ => webrtc_vad::VadMode::VeryAggressive,
                    });
                    raw.set_mode(mode);
                }
                if rng.below(200) == 0 {
                    // An invalid length: rejected by all, state untouched.
                    let bad = &signal[pos..pos + 10 * khz + 1 + rng.below(5) as usize];
                    assert_eq!(port.try_process(bad), None);
                    assert!(!port.process(bad));
                    assert_eq!(reference.is_voice_segment(bad), Err(()));
                    assert_eq!(raw.process(bad), -1);
                }
                let len = [10, 20, 30][rng.below(3) as usize] * khz;
                let frame = &signal[pos..pos + len];
                let ours = port.process(frame);
                assert_eq!(
                    Ok(ours),
                    reference.is_voice_segment(frame),
                    "{rate} Hz frame {frames}"
                );
                assert_eq!(raw.process(frame), i32::from(ours));
                if let Some(d) = state_diff(&port, raw.state()) {
                    panic!("{rate} Hz frame {frames}: state differs, {d}");
                }
                pos += len;
                frames += 1;
            }
        }
    }

    #[test]
    fn reset_forgets_everything_but_rate_and_mode() {
        let signal = signal(16000);
        let mut port = Fvad::new(16000, 2).unwrap();
        for f in signal[..16000 * 20].chunks_exact(480) {
            port.process(f);
        }
        assert_ne!(port.core, Core::new());
        port.reset();
        assert_eq!(port.core, Core::new());
        assert_eq!((port.rate_hz(), port.mode()), (16000, 2));
        // And it then runs like a fresh instance.
        assert!(compare(port, 30, &signal[..16000 * 60], true).is_ok());
    }

    #[test]
    fn api_rejects_what_libfvad_rejects() {
        for rate in [0, 7999, 8001, 11025, 22050, 44100, 96000] {
            assert!(Fvad::new(rate, 0).is_none(), "{rate}");
        }
        assert!(Fvad::new(8000, 4).is_none());
        let mut v = Fvad::new(8000, 3).unwrap();
        assert!(!v.set_mode(4));
        assert_eq!(v.mode(), 3);
        for rate in [8000, 16000, 32000, 48000] {
            let mut v = Fvad::new(rate, 0).unwrap();
            let khz = rate as usize / 1000;
            let long = vec![1000i16; 31 * khz];
            for len in 0..=31 * khz {
                let valid = [10, 20, 30].contains(&(len / khz)) && len % khz == 0;
                assert_eq!(v.is_valid_frame_len(len), valid, "{rate} Hz, {len}");
                // Never panics; `None` exactly for the invalid lengths.
                assert_eq!(
                    v.try_process(&long[..len]).is_some(),
                    valid,
                    "{rate} Hz, {len}"
                );
            }
        }
        assert_eq!(Fvad::new(8000, 0).unwrap().try_process(&[]), None);
    }

    // ---- the check can fail --------------------------------------------------

    #[test]
    fn comparison_catches_the_smallest_threshold_change() {
        // Nudge one threshold of one mode by the smallest step that can change
        // a decision (the likelihood sums are even and the local test is on
        // multiples of 4), and the frame-by-frame comparison must object. (Of
        // the 48 such nudges of ±2 / ±4, the decisions alone catch 42 on this
        // signal; the rest are global ones no frame's sum lands on.)
        let signal = signal(8000);
        for (mode, frame_ms, total, individual) in [
            (0u8, 30, 2, 0),
            (3, 30, -2, 0),
            (2, 10, 0, 4),
            (1, 20, 0, -4),
        ] {
            let mut port = Fvad::new(8000, mode).unwrap();
            let idx = frame_ms / 10 - 1;
            port.thresholds.total[idx] += total;
            port.thresholds.individual[idx] += individual;
            let result = compare(port, frame_ms, signal, false);
            assert!(result.is_err(), "mode {mode}, {frame_ms} ms: not caught");
        }
        // The state check flags a difference in the very frame it appears,
        // long before any decision differs. (A one-unit nudge of a model mean
        // is usually erased by the first update; the frame counter is not.)
        let mut port = Fvad::new(8000, 0).unwrap();
        port.core.frame_counter += 1;
        let err = compare(port, 30, signal, true).unwrap_err();
        assert!(err.contains("frame 0: state differs"), "{err}");
    }
}
