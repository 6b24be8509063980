// Rust port of libfvad (https://github.com/dpirch/libfvad); see
// LICENSE-BSD-3-Clause.

//! [`Core::test_and_update`] with AVX2: the C code walks the six channels one
//! after the other, but nothing in a channel's test or model update depends
//! on another channel (the speech-mean ceiling `maxspe` it carries from one
//! channel to the next is a constant per channel), so here every step runs
//! on all six at once, channel `c` in lane `c` of a vector of eight `i32`
//! (lanes 6 and 7 compute garbage that is never stored or summed), with
//! selects where the C code branches per channel. Each lane does the C
//! code's arithmetic, step for step: `int16_t` values are kept sign-extended
//! and wrapped with [`w16`] wherever C stores into an `int16_t`. Only
//! FindMinimum (a sorted window per channel) and the normalisation counts of
//! the likelihood ratio stay scalar. Value intrinsics only, as in [`avx2`].

use super::*;
use crate::gmm::{COMP_VAR, LOG2_EXP};
use crate::sp::avx2::update_window_fast;
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
pub(crate) fn test_and_update(
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
