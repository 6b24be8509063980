// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! `vad_core.c`: the detector's adaptive state ([`Core`]: the speech and
//! noise Gaussian mixtures, FindMinimum's windows, the filterbank and
//! resampler states, the hangover) and the decision for one frame
//! ([`Core::gmm_probability`]). In: the six features and the total-energy
//! indicator of an 8 kHz frame, with the mode's [`Thresholds`]; out: 0 for
//! noise, 1 for speech, or 2 + the hangover count; the models updated in
//! place. No allocation. The AVX2 test and update is in [`avx2`].

use crate::filterbank::FilterStates;
use crate::gmm::{gaussian_probability, inv_std};
use crate::resample48::Resample48State;
use crate::spl::{div_w32_w16, norm_w32};
use crate::{Level, MIN_ENERGY, NUM_CHANNELS, NUM_GAUSSIANS, TABLE_SIZE};

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;

// ---- vad_core.c -------------------------------------------------------------

pub(crate) const SPECTRUM_WEIGHT: [i16; NUM_CHANNELS] = [6, 8, 10, 12, 14, 16];
pub(crate) const NOISE_UPDATE_CONST: i32 = 655; // Q15
pub(crate) const SPEECH_UPDATE_CONST: i32 = 6554; // Q15
pub(crate) const BACK_ETA: i32 = 154; // Q8
/// Minimum difference between the two models, Q5.
pub(crate) const MINIMUM_DIFFERENCE: [i16; NUM_CHANNELS] = [544, 544, 576, 576, 576, 576];
/// Upper limit of mean value for speech model, Q7.
pub(crate) const MAXIMUM_SPEECH: [i16; NUM_CHANNELS] = [11392, 11392, 11520, 11520, 11520, 11520];
/// Minimum value for mean value.
pub(crate) const MINIMUM_MEAN: [i16; NUM_GAUSSIANS] = [640, 768];
/// Upper limit of mean value for noise model, Q7.
pub(crate) const MAXIMUM_NOISE: [i16; NUM_CHANNELS] = [9216, 9088, 8960, 8832, 8704, 8576];
pub(crate) const NOISE_DATA_WEIGHTS: [i16; TABLE_SIZE] =
    [34, 62, 72, 66, 53, 25, 94, 66, 56, 62, 75, 103];
pub(crate) const SPEECH_DATA_WEIGHTS: [i16; TABLE_SIZE] =
    [48, 82, 45, 87, 50, 47, 80, 46, 83, 41, 78, 81];
pub(crate) const NOISE_DATA_MEANS: [i16; TABLE_SIZE] = [
    6738, 4892, 7065, 6715, 6771, 3369, 7646, 3863, 7820, 7266, 5020, 4362,
];
pub(crate) const SPEECH_DATA_MEANS: [i16; TABLE_SIZE] = [
    8306, 10085, 10078, 11823, 11843, 6309, 9473, 9571, 10879, 7581, 8180, 7483,
];
pub(crate) const NOISE_DATA_STDS: [i16; TABLE_SIZE] =
    [378, 1064, 493, 582, 688, 593, 474, 697, 475, 688, 421, 455];
pub(crate) const SPEECH_DATA_STDS: [i16; TABLE_SIZE] = [
    555, 505, 567, 524, 585, 1231, 509, 828, 492, 1540, 1079, 850,
];
/// Maximum number of counted speech (VAD = 1) frames in a row.
pub(crate) const MAX_SPEECH_FRAMES: i16 = 6;
/// Minimum standard deviation for both speech and noise.
pub(crate) const MIN_STD: i16 = 384;

/// Per-mode thresholds of `WebRtcVad_set_mode_core`, each indexed by frame
/// length (10, 20, 30 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thresholds {
    pub(crate) over_hang_max_1: [i16; 3],
    pub(crate) over_hang_max_2: [i16; 3],
    pub(crate) individual: [i16; 3],
    pub(crate) total: [i16; 3],
}

/// Modes 0 (quality), 1 (low bitrate), 2 (aggressive), 3 (very aggressive).
pub(crate) const MODES: [Thresholds; 4] = [
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

/// The adaptive state of `VadInstT` (all of it but the mode thresholds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Core {
    /// `[0..2]`: 16 → 8 kHz, `[2..4]`: 32 → 16 kHz.
    pub(crate) downsampling_filter_states: [i32; 4],
    pub(crate) state_48_to_8: Resample48State,
    pub(crate) noise_means: [i16; TABLE_SIZE],
    pub(crate) speech_means: [i16; TABLE_SIZE],
    pub(crate) noise_stds: [i16; TABLE_SIZE],
    pub(crate) speech_stds: [i16; TABLE_SIZE],
    /// [`inv_std`] of `noise_stds` / `speech_stds`, kept up to date with
    /// them (not in the C state: derived, to take the division out of the
    /// likelihood computation).
    pub(crate) noise_inv_stds: [[i16; 2]; TABLE_SIZE],
    pub(crate) speech_inv_stds: [[i16; 2]; TABLE_SIZE],
    pub(crate) frame_counter: i32,
    pub(crate) over_hang: i16,
    pub(crate) num_of_speech: i16,
    /// Age of each of the 16 smallest feature values, per channel.
    pub(crate) index_vector: [[i16; 16]; NUM_CHANNELS],
    /// The 16 smallest feature values of the last 100 frames, per channel.
    pub(crate) low_value_vector: [[i16; 16]; NUM_CHANNELS],
    /// Smoothed median of the minima, per channel.
    pub(crate) mean_value: [i16; NUM_CHANNELS],
    /// The filterbank's `upper_state`, `lower_state` and `hp_filter_state`.
    pub(crate) filter: FilterStates,
}

impl Core {
    /// `WebRtcVad_InitCore` (minus the mode, which [`Fvad`] keeps).
    pub(crate) fn new() -> Self {
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

// ---- vad_core.c ---------------------------------------------------------------

/// `WeightedAverage`: adds `offset` to the two Gaussians of `channel` in
/// `data` and returns their weighted sum.
#[inline(always)]
pub(crate) fn weighted_average(
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
pub(crate) fn signed_div_16(num: i32, den: i16) -> i16 {
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
    /// `GmmProbability`: the likelihood-ratio test of speech against noise on
    /// the six features, the model update, and the hangover smoothing.
    /// Returns 0 (noise) or a positive value (speech).
    pub(crate) fn gmm_probability(
        &mut self,
        level: Level,
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
            vadflag = self.test_and_update(level, th, idx, features);
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
    /// At [`Level::Avx2`], [`avx2::test_and_update`]: the same
    /// arithmetic with the six channels in the lanes of one vector.
    #[inline(always)]
    pub(crate) fn test_and_update(
        &mut self,
        level: Level,
        th: &Thresholds,
        idx: usize,
        features: &[i16; NUM_CHANNELS],
    ) -> i16 {
        match level {
            Level::Portable => self.test_and_update_scalar(th, idx, features),
            // SAFETY: `Level::Avx2` exists only if the CPU has AVX2, which
            // was checked when the detector was built (`Level::new`).
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => unsafe { avx2::test_and_update(self, th, idx, features) },
        }
    }

    /// [`Self::test_and_update`] one channel after the other, as the C code
    /// runs it.
    // Indexed loops on purpose: they mirror the C code's `channel` and `k`.
    #[allow(clippy::needless_range_loop)]
    pub(crate) fn test_and_update_scalar(
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
