//! Frame counts per reference and the settings `validate` refuses.

use super::*;

#[test]
fn frame_counts_follow_each_reference() {
    let tel = MelConfig::preset("telephony").unwrap();
    assert_eq!(tel.n_frames(16000), 201);
    assert_eq!(tel.n_frames(79), 1);
    let wh = MelConfig::preset("whisper").unwrap();
    assert_eq!(wh.n_frames(32000), 200);
    let k = MelConfig::preset("kaldi").unwrap();
    assert_eq!(k.n_frames(16000), 200);
    let mut wp = wh.clone();
    wp.pad_to_seconds = Some(30.0);
    assert_eq!(wp.n_frames(1234), 3000);
}

#[test]
fn empty_filters_and_bad_ranges_are_refused() {
    let mut c = MelConfig::preset("telephony").unwrap();
    c.n_mels = 400;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("empty") && e.contains("--n-mels"), "{e}");
    let mut c = MelConfig::preset("telephony").unwrap();
    c.fmax_hz = 5000.0;
    assert!(c.validate().unwrap_err().to_string().contains("Nyquist"));
    let mut c = MelConfig::preset("telephony").unwrap();
    c.fmin_hz = 4000.0;
    assert!(c.validate().unwrap_err().to_string().contains("--fmin"));
    let mut c = MelConfig::preset("telephony").unwrap();
    c.win_length = 600;
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("--win-length"));
    for p in PRESETS {
        MelConfig::preset(p).unwrap().validate().unwrap();
    }
}
