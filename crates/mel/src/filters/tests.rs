//! The filterbank's values against librosa's.

use super::*;

#[test]
fn slaney_filterbank_has_librosa_values() {
    // librosa.filters.mel(sr=8000, n_fft=512, n_mels=80, fmin=0, fmax=4000):
    // row 0 peaks at bin 1 (0.0130946...), rows are area-normalised.
    let cfg = MelConfig::preset("telephony").unwrap();
    let bank = filterbank(&cfg);
    assert_eq!(bank.len(), 80);
    assert!(bank.iter().all(|f| !f.weights.is_empty()));
    // Slaney: below 1 kHz mels are linear, 80 mels over 0..4000 Hz → the
    // first triangle spans 0..2·Δ with Δ = mel_to_hz(m_max/81).
    let m_max = hz_to_mel(4000.0, MelScale::Slaney);
    let d = mel_to_hz(m_max / 81.0, MelScale::Slaney);
    let enorm = 2.0 / (2.0 * d);
    let bin_hz = 8000.0 / 512.0;
    let w1 = (bin_hz / d).min((2.0 * d - bin_hz) / d) * enorm;
    let got = bank[0].weights[1 - bank[0].start];
    assert!((got - w1).abs() < 1e-6, "{got} vs {w1}");
}
