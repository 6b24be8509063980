//! Window functions ([`WindowKind`]): periodic Hann, Kaldi's povey,
//! symmetric Hamming.
//!
//! In: the kind and the window length `n` (samples). Out: `n` `f64`
//! weights. Built once per extractor (allocates).

use crate::config::WindowKind;

/// The `n` weights of a `kind` window.
pub(crate) fn window(kind: WindowKind, n: usize) -> Vec<f64> {
    use std::f64::consts::PI;
    match kind {
        WindowKind::Hann => (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos())
            .collect(),
        WindowKind::Povey => {
            let a = 2.0 * PI / (n.max(2) - 1) as f64;
            (0..n)
                .map(|i| (0.5 - 0.5 * (a * i as f64).cos()).powf(0.85))
                .collect()
        }
        WindowKind::Hamming => {
            let a = 2.0 * PI / (n.max(2) - 1) as f64;
            (0..n).map(|i| 0.54 - 0.46 * (a * i as f64).cos()).collect()
        }
    }
}
