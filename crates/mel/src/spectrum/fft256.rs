//! The 256-point forward complex FFT of `f64`s (the one inside the
//! telephony preset's 512-point real FFT) with AVX-512: rustfft's
//! `Butterfly256Avx64`, operation for operation, four complex values per
//! vector instead of two, so the same bits (a test checks every bin against
//! rustfft's plan).
//!
//! rustfft's algorithm, for input `x[c + 32·r]` (`r < 8`, `c < 32`):
//! 1. size-8 FFTs down `r` for each column `c`, each output `k₁` times the
//!    twiddle `w₂₅₆^(c·k₁)`, written transposed: `y[8·c + k₁]`;
//! 2. size-32 FFTs down `c` for each `k₁`, in place: `X[k₁ + 8·k₂]` at
//!    `8·k₂ + k₁`, the natural order.
//!
//! Every value goes through the same additions, multiplications and fused
//! multiply-adds as in rustfft's AVX code, in the same order; only which
//! values share a vector differs (four columns in step 1, four `k₁` in step
//! 2), and the step-1 transpose moves 128-bit complex values instead of
//! halves of 256-bit vectors.
//!
//! In: 256 complex `f64` points. Out: their forward DFT, 256 points, in
//! natural order. [`Fft256::new`] builds the twiddle tables once (no heap
//! allocation); [`Fft256::process`] does not allocate. Only for the
//! AVX-512 level: every function with its intrinsics carries the level's
//! target features.
//!
//! The bits depend on rustfft's code, which this file copies: Cargo.toml
//! pins rustfft to [`PORTED_FROM_RUSTFFT`], and a test checks the pin and
//! the lock file against it.

use std::arch::x86_64::*;

use rustfft::num_complex::Complex;

/// The rustfft release whose `Butterfly256Avx64` this file was ported from
/// and checked against, bit for bit. Another release may change its
/// arithmetic: re-check this file against it before moving the pin.
// Read only by the tests, which check the pin and the lock file against it.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const PORTED_FROM_RUSTFFT: &str = "6.4.1";

/// Points per transform.
pub(crate) const LEN: usize = 256;

/// Plan of the transform: the twiddles of step 1 and of the size-32 FFTs.
pub(crate) struct Fft256 {
    /// `w₂₅₆^(r·c)` for `r = 1..8` and the four columns `c = 4·s..4·s + 4`
    /// of column set `s`, at `[r − 1 + 7·s]`.
    columns: [[Complex<f64>; 4]; 56],
    /// `w₃₂^k` for `k = 1, 2, 3, 5, 6, 7`, as rustfft's `Butterfly256Avx64`
    /// holds them for its size-32 FFTs.
    rows: [Complex<f64>; 6],
}

/// rustfft's `compute_twiddle(index, len, Forward)`, expression for
/// expression: `e^(−2πi·index/len)`.
fn twiddle(index: usize, len: usize) -> Complex<f64> {
    let constant = -2f64 * std::f64::consts::PI / len as f64;
    let angle = constant * index as f64;
    Complex::new(angle.cos(), angle.sin())
}

impl Fft256 {
    /// Builds the twiddle tables.
    pub(crate) fn new() -> Self {
        let columns = std::array::from_fn(|index| {
            let (r, set) = (index % 7 + 1, index / 7);
            std::array::from_fn(|i| twiddle(r * (4 * set + i), LEN))
        });
        let rows = [1, 2, 3, 5, 6, 7].map(|k| twiddle(k, 32));
        Fft256 { columns, rows }
    }

    /// Transforms `input` into `output` (both [`LEN`] points).
    #[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
    #[inline]
    pub(crate) fn process(&self, input: &[Complex<f64>], output: &mut [Complex<f64>]) {
        assert!(input.len() == LEN && output.len() == LEN);
        // SAFETY: both buffers hold LEN points, and every load and store
        // below reads or writes four points inside them (`Complex<f64>` is
        // `#[repr(C)]` `[re, im]`).
        // No closures here: a closure is compiled apart from its caller and
        // without the caller's target features.
        unsafe {
            let src = input.as_ptr();
            let dst = output.as_mut_ptr();
            let rot = rotation90();
            // Step 1: eight column sets of four columns.
            for set in 0..8 {
                let mut rows = [_mm512_setzero_pd(); 8];
                for (r, row) in rows.iter_mut().enumerate() {
                    *row = load(src, 4 * set + 32 * r);
                }
                let mut mid = butterfly8(rows, rot);
                let twiddles = &self.columns[7 * set..7 * set + 7];
                for (m, tw) in mid[1..].iter_mut().zip(twiddles) {
                    *m = mul_complex(*m, _mm512_loadu_pd(tw.as_ptr().cast()));
                }
                // Column 4·set + i, k₁ = 0..8, is lane i of mid[0..8]:
                // two 4 × 4 transposes of complex values.
                for half in 0..2 {
                    let m = &mid[4 * half..4 * half + 4];
                    let t0 = _mm512_shuffle_f64x2::<0x44>(m[0], m[1]);
                    let t1 = _mm512_shuffle_f64x2::<0x44>(m[2], m[3]);
                    let t2 = _mm512_shuffle_f64x2::<0xEE>(m[0], m[1]);
                    let t3 = _mm512_shuffle_f64x2::<0xEE>(m[2], m[3]);
                    let lanes = [
                        _mm512_shuffle_f64x2::<0x88>(t0, t1),
                        _mm512_shuffle_f64x2::<0xDD>(t0, t1),
                        _mm512_shuffle_f64x2::<0x88>(t2, t3),
                        _mm512_shuffle_f64x2::<0xDD>(t2, t3),
                    ];
                    for (i, v) in lanes.into_iter().enumerate() {
                        let c = 4 * set + i;
                        store(dst, 8 * c + 4 * half, v);
                    }
                }
            }
            // Step 2: size-32 FFTs down c for k₁ = 0..4 and 4..8.
            let mut tw = [_mm512_setzero_pd(); 6];
            for (v, t) in tw.iter_mut().zip(&self.rows) {
                *v = _mm512_setr_pd(t.re, t.im, t.re, t.im, t.re, t.im, t.re, t.im);
            }
            for set in 0..2 {
                butterfly32(dst, 4 * set, &tw, rot);
            }
        }
    }
}

/// Points `at..at + 4`.
///
/// # Safety
/// `p` must point to at least `at + 4` points.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
unsafe fn load(p: *const Complex<f64>, at: usize) -> __m512d {
    _mm512_loadu_pd(p.add(at).cast())
}

/// Into points `at..at + 4`.
///
/// # Safety
/// `p` must point to at least `at + 4` writable points.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
unsafe fn store(p: *mut Complex<f64>, at: usize, v: __m512d) {
    _mm512_storeu_pd(p.add(at).cast(), v)
}

/// rustfft's forward `Rotation90`: `(−0.0, 0.0)` in every complex lane.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn rotation90() -> __m512d {
    _mm512_setr_pd(-0.0, 0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0)
}

/// `(im, re)` of every complex lane.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn swap(v: __m512d) -> __m512d {
    _mm512_permute_pd::<0x55>(v)
}

/// Times `−i` (forward): `xor` with the rotation, then [`swap`].
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn rotate90(v: __m512d, rot: __m512d) -> __m512d {
    swap(_mm512_xor_pd(v, rot))
}

/// `−v`: every sign bit flipped.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn neg(v: __m512d) -> __m512d {
    _mm512_xor_pd(v, _mm512_set1_pd(-0.0))
}

/// rustfft's `mul_complex`: `left_re·right ∓ left_im·swap(right)` with
/// one fused multiply-add-subtract.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn mul_complex(left: __m512d, right: __m512d) -> __m512d {
    let (re, im) = (_mm512_movedup_pd(left), _mm512_permute_pd::<0xFF>(left));
    _mm512_fmaddsub_pd(re, right, _mm512_mul_pd(im, swap(right)))
}

#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn butterfly2(a: __m512d, b: __m512d) -> [__m512d; 2] {
    [_mm512_add_pd(a, b), _mm512_sub_pd(a, b)]
}

#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn butterfly4(rows: [__m512d; 4], rot: __m512d) -> [__m512d; 4] {
    let [mid0, mid2] = butterfly2(rows[0], rows[2]);
    let [mid1, mid3] = butterfly2(rows[1], rows[3]);
    let mid3 = rotate90(mid3, rot);
    let [out0, out1] = butterfly2(mid0, mid1);
    let [out2, out3] = butterfly2(mid2, mid3);
    [out0, out2, out1, out3]
}

/// rustfft's `apply_butterfly8_twiddle1`.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn twiddle8_1(v: __m512d, rot: __m512d) -> __m512d {
    let combined = _mm512_add_pd(rotate90(v, rot), v);
    _mm512_mul_pd(_mm512_set1_pd(0.5f64.sqrt()), combined)
}

/// rustfft's `apply_butterfly8_twiddle3`.
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn twiddle8_3(v: __m512d, rot: __m512d) -> __m512d {
    let combined = _mm512_sub_pd(rotate90(v, rot), v);
    _mm512_mul_pd(_mm512_set1_pd(0.5f64.sqrt()), combined)
}

#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
fn butterfly8(rows: [__m512d; 8], rot: __m512d) -> [__m512d; 8] {
    let mid0 = butterfly4([rows[0], rows[2], rows[4], rows[6]], rot);
    let mut mid1 = butterfly4([rows[1], rows[3], rows[5], rows[7]], rot);
    mid1[1] = twiddle8_1(mid1[1], rot);
    mid1[2] = rotate90(mid1[2], rot);
    mid1[3] = twiddle8_3(mid1[3], rot);
    let [out0, out1] = butterfly2(mid0[0], mid1[0]);
    let [out2, out3] = butterfly2(mid0[1], mid1[1]);
    let [out4, out5] = butterfly2(mid0[2], mid1[2]);
    let [out6, out7] = butterfly2(mid0[3], mid1[3]);
    [out0, out2, out4, out6, out1, out3, out5, out7]
}

/// rustfft's `column_butterfly32_loadfn!` in place on the 32 vectors at
/// `buf[base + 8·index]`: loads each input when its size-4 FFT needs it and
/// stores each output when its size-8 FFT is done. `tw`: `w₃₂^k` for
/// `k = 1, 2, 3, 5, 6, 7`.
///
/// # Safety
/// `buf` must point to a [`LEN`]-point buffer and `base` be 0 or 4 (each
/// access is four points from `base + 8·index`, `index < 32`).
#[target_feature(enable = "avx2,fma,avx512f,avx512dq")]
#[inline]
unsafe fn butterfly32(buf: *mut Complex<f64>, base: usize, tw: &[__m512d; 6], rot: __m512d) {
    let at = |index: usize| base + 8 * index;
    macro_rules! quad {
        ($i:expr) => {
            butterfly4(
                [
                    load(buf, at($i)),
                    load(buf, at($i + 8)),
                    load(buf, at($i + 16)),
                    load(buf, at($i + 24)),
                ],
                rot,
            )
        };
    }
    let mut mid1 = quad!(1);
    mid1[1] = mul_complex(mid1[1], tw[0]);
    mid1[2] = mul_complex(mid1[2], tw[1]);
    mid1[3] = mul_complex(mid1[3], tw[2]);
    let mut mid2 = quad!(2);
    mid2[1] = mul_complex(mid2[1], tw[1]);
    mid2[2] = twiddle8_1(mid2[2], rot);
    mid2[3] = mul_complex(mid2[3], tw[4]);
    let mut mid3 = quad!(3);
    mid3[1] = mul_complex(mid3[1], tw[2]);
    mid3[2] = mul_complex(mid3[2], tw[4]);
    mid3[3] = mul_complex(mid3[3], rotate90(tw[0], rot));
    let mut mid4 = quad!(4);
    mid4[1] = twiddle8_1(mid4[1], rot);
    mid4[2] = rotate90(mid4[2], rot);
    mid4[3] = twiddle8_3(mid4[3], rot);
    let mut mid5 = quad!(5);
    mid5[1] = mul_complex(mid5[1], tw[3]);
    mid5[2] = mul_complex(mid5[2], rotate90(tw[1], rot));
    mid5[3] = mul_complex(mid5[3], rotate90(tw[5], rot));
    let mut mid6 = quad!(6);
    mid6[1] = mul_complex(mid6[1], tw[4]);
    mid6[2] = twiddle8_3(mid6[2], rot);
    mid6[3] = mul_complex(mid6[3], neg(tw[1]));
    let mut mid7 = quad!(7);
    mid7[1] = mul_complex(mid7[1], tw[5]);
    mid7[2] = mul_complex(mid7[2], rotate90(tw[4], rot));
    mid7[3] = mul_complex(mid7[3], neg(tw[3]));
    let mid0 = quad!(0);
    for i in 0..4 {
        let out = butterfly8(
            [
                mid0[i], mid1[i], mid2[i], mid3[i], mid4[i], mid5[i], mid6[i], mid7[i],
            ],
            rot,
        );
        for (j, v) in out.into_iter().enumerate() {
            store(buf, at(i + 4 * j), v);
        }
    }
}

#[cfg(test)]
mod tests;
