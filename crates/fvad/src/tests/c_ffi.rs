// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! The reference: libfvad's C code as the `webrtc-vad` crate compiles and
//! links it. In: a rate and a mode (or a `webrtc_vad::Vad`); out: the C
//! instance's decisions, features, Gaussian probabilities and whole state,
//! and the port's view of that state for comparison ([`core_of`],
//! [`state_diff`]).

use crate::core::{Core, Thresholds};
use crate::filterbank::FilterStates;
use crate::gmm::inv_std;
use crate::resample48::Resample48State;
use crate::{Fvad, NUM_CHANNELS};

/// Test-only bindings to the C code the `webrtc-vad` crate compiles and
/// links (`resources/libfvad`), with a `#[repr(C)]` mirror of `VadInstT`
/// so the whole state can be compared after every frame. This is the only
/// `unsafe` in the module, and it is test code.
pub(super) mod c {
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
        fn WebRtcVad_GaussianProbability(input: i16, mean: i16, std: i16, delta: *mut i16) -> i32;
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
pub(super) fn core_of(c: &c::VadInstT) -> Core {
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

pub(super) fn thresholds_of(c: &c::VadInstT) -> Thresholds {
    Thresholds {
        over_hang_max_1: c.over_hang_max_1,
        over_hang_max_2: c.over_hang_max_2,
        individual: c.individual,
        total: c.total,
    }
}

/// The first field where the port's state differs from the C's.
pub(super) fn state_diff(port: &Fvad, c: &c::VadInstT) -> Option<String> {
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

pub(super) fn crate_vad(rate_hz: u32, mode: u8) -> webrtc_vad::Vad {
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
