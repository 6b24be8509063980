//! Log compression of mel energies ([`LogKind`]): the floor, a vectorised
//! natural log ([`ln_fast`]), and Whisper's normalisation over a chunk.
//!
//! In: a block's filter sums (`f64`, [`BLOCK`] frames per mel), then the
//! chunk's whole output. Out: `f32` log-mel values in place: `ln(max(x,
//! floor))`, or Whisper's `log10(max(x, 1e-10))` clamped to 8 below the
//! chunk's maximum and mapped by `(x + 4) / 4`. No allocation.

use crate::config::LogKind;
use crate::BLOCK;

/// The floor of `log` applied to one mel's sums over a block, as `f32`.
/// `if a > floor` is `a.max(floor)`, NaN included (it gives the floor), and
/// compiles to one vector max.
#[inline(always)]
pub(crate) fn floor(log: LogKind, acc: [f64; BLOCK], dst: &mut [f32; BLOCK]) {
    match log {
        LogKind::Ln { floor } => {
            for (d, a) in dst.iter_mut().zip(acc) {
                *d = (if a > floor { a } else { floor }) as f32;
            }
        }
        LogKind::Whisper => {
            for (d, a) in dst.iter_mut().zip(acc) {
                let a = a as f32;
                *d = if a > 1e-10 { a } else { 1e-10 };
            }
        }
    }
}

/// The log of `log` in place over floored values: a vectorised
/// single-precision log (|error| < 1e-6, below the golden tests'
/// per-preset tolerances against the references, 2.4e-6 and up; libm's
/// logf is scalar), times `log10(e)` for Whisper.
#[inline(always)]
pub(crate) fn log_in_place(log: LogKind, values: &mut [f32]) {
    let scale = match log {
        LogKind::Ln { .. } => 1.0,
        LogKind::Whisper => std::f32::consts::LOG10_E,
    };
    for v in values.iter_mut() {
        *v = ln_fast(*v) * scale;
    }
}

/// Whisper's normalisation over a chunk's whole output (after
/// [`log_in_place`]): `max(x, max − 8)`, then `(x + 4) / 4`. Nothing for
/// other log kinds or an empty chunk.
pub(crate) fn normalize_chunk(log: LogKind, out: &mut [f32]) {
    if log == LogKind::Whisper && !out.is_empty() {
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for v in out.iter_mut() {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
    }
}

/// Natural log of a positive, finite `f32` without libm: `x = m·2^e` with
/// `m ∈ [√½, √2)`, `ln m = 2·atanh(s)`, `s = (m − 1)/(m + 1)`, `|s| ≤ 0.172`,
/// five odd terms (truncation < 3e-10). Branch-free, so loops over it
/// vectorise. Inputs here are ≥ 1e-10 (the log floors), never 0 or NaN.
#[inline(always)]
pub fn ln_fast(x: f32) -> f32 {
    let bits = x.to_bits() as i32;
    // Exponent relative to √½: shifts m into [√½, √2). Kept as an integer
    // (a float → int conversion would saturate with compares and stall the
    // vector loop).
    let ei = (bits - 0x3f35_04f3) >> 23;
    let m = f32::from_bits((bits - (ei << 23)) as u32);
    let e = ei as f32;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let poly = 2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0))));
    e * std::f32::consts::LN_2 + s * poly
}

#[cfg(test)]
mod tests;
