// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! `vad_sp.c`: the 2:1 downsampler that brings 16 and 32 kHz input to
//! 8 kHz ([`downsampling`]: `n` samples in, `n / 2` out, two `i32` states),
//! and `WebRtcVad_FindMinimum` ([`Core::find_minimum`]): per channel, the
//! 16 smallest features of the last 100 frames in, their smoothed median
//! out. No allocation. The AVX2 window update is in [`avx2`].

use crate::core::Core;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;

// ---- vad_sp.c ---------------------------------------------------------------

/// All-pass coefficients (upper 0.64, lower 0.17) in Q13.
pub(crate) const ALL_PASS_UPPER_Q13: i32 = 5243;
pub(crate) const ALL_PASS_LOWER_Q13: i32 = 1392;
/// 0.2 in Q15.
pub(crate) const SMOOTHING_DOWN: i32 = 6553;
/// 0.99 in Q15.
pub(crate) const SMOOTHING_UP: i32 = 32439;

// ---- vad_sp.c: WebRtcVad_Downsampling ---------------------------------------

/// Halves the rate of `input` into `out` (`out.len() == input.len() / 2`)
/// with the two all-pass branches of `WebRtcVad_Downsampling` (already
/// interleaved in the C code).
pub(crate) fn downsampling(input: &[i16], out: &mut [i16], state: &mut [i32]) {
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

impl Core {
    /// `WebRtcVad_FindMinimum`: inserts `feature_value` among the 16 smallest
    /// values of the last 100 frames of `channel` and returns the smoothed
    /// median of the five smallest.
    pub(crate) fn find_minimum(&mut self, feature_value: i16, channel: usize) -> i16 {
        self.update_window(feature_value, channel);
        self.smoothed_median(channel)
    }

    /// The window half of [`Self::find_minimum`]: ages the 16 smallest
    /// values of `channel`, expires those 100 frames old, and inserts
    /// `feature_value` if it is small enough.
    pub(crate) fn update_window(&mut self, feature_value: i16, channel: usize) {
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
    pub(crate) fn smoothed_median(&mut self, channel: usize) -> i16 {
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
}
