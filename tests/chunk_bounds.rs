//! Every chunk the binary writes lasts `--min-chunk..=--max-chunk` seconds,
//! judged on the chunk WAV's real sample count, and the manifest's
//! `duration` is that count divided by the rate.
//!
//! The bounds are worked out here from the flags alone, by the rule the
//! chunker documents (`ChunkConfig::len_bounds`): a chunk of `n` samples lasts
//! `n / rate` seconds, which must lie within the flags' range; so the
//! shortest chunk has ceil(`min × rate`) samples, the longest
//! floor(`max × rate`) (4.25 s at 8 kHz: at most 34,000 samples).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::assert_no_partial_files;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callprep"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls")
}

/// Runs `callprep run INPUT -o OUT EXTRA…` and requires success.
fn run(input: &Path, out: &Path, extra: &[&str]) {
    let o = bin()
        .arg("run")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(["-q", "--threads", "2"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `(min, max)` chunk length in samples allowed by the flags.
fn allowed(min_s: f64, max_s: f64, rate: u32) -> (u64, u64) {
    let r = f64::from(rate);
    let min = (1..).find(|&n| n as f64 / r >= min_s).unwrap();
    let max = (1..).find(|&n| (n + 1) as f64 / r > max_s).unwrap();
    (min, max)
}

/// Checks every chunk of `out` against the bounds; returns the chunks'
/// sample counts in manifest order.
fn check_chunks(out: &Path, min_s: f64, max_s: f64) -> Vec<u64> {
    assert_no_partial_files(out);
    let manifest = fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let mut lens = Vec::new();
    for line in manifest.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let rel = row["audio_filepath"].as_str().unwrap();
        let rate = row["sample_rate"].as_u64().unwrap() as u32;
        let (min_len, max_len) = allowed(min_s, max_s, rate);
        let bytes = fs::read(out.join(rel)).unwrap();
        let wav = hound::WavReader::new(std::io::Cursor::new(&bytes)).unwrap();
        let spec = wav.spec();
        assert_eq!((spec.channels, spec.sample_rate), (1, rate), "{rel}");
        assert_eq!(spec.bits_per_sample, 16, "{rel}");
        // The samples really there, not only what the header claims.
        let n = (bytes.len() as u64 - 44) / 2;
        assert_eq!(n, u64::from(wav.len()), "{rel}: header and data disagree");
        assert!(
            n >= min_len,
            "{rel}: {n} samples < {min_len} (--min-chunk {min_s} at {rate} Hz)"
        );
        assert!(
            n <= max_len,
            "{rel}: {n} samples > {max_len} (--max-chunk {max_s} at {rate} Hz)"
        );
        let duration = row["duration"].as_f64().unwrap();
        assert_eq!(duration, n as f64 / f64::from(rate), "{rel}: duration");
        let (start, end) = (row["start"].as_f64().unwrap(), row["end"].as_f64().unwrap());
        assert!(
            (end - start - duration).abs() < 1e-9,
            "{rel}: start {start} end {end} duration {duration}"
        );
        lens.push(n);
    }
    let wavs = fs::read_dir(out.join("wav")).unwrap().count();
    assert_eq!(wavs, lens.len(), "a chunk WAV without a manifest row");
    assert!(!lens.is_empty(), "no chunks at all");
    lens
}

#[test]
fn fixture_chunks_stay_within_default_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run(&fixtures(), &out, &[]);
    check_chunks(&out, 2.0, 20.0);
}

#[test]
fn fixture_chunks_stay_within_tight_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let (wide, tight) = (tmp.path().join("wide"), tmp.path().join("tight"));
    run(&fixtures(), &wide, &[]);
    run(
        &fixtures(),
        &tight,
        &["--min-chunk", "1.5", "--max-chunk", "4.25"],
    );
    // The fixtures hold speech longer than 4.25 s that must now be split.
    let longest = check_chunks(&wide, 2.0, 20.0).into_iter().max().unwrap();
    assert!(longest > 34_000, "no speech to split: longest {longest}");
    let lens = check_chunks(&tight, 1.5, 4.25);
    assert!(lens.len() > 27, "{} chunks", lens.len());
}

#[test]
fn bounds_that_are_not_whole_samples_round_inwards() {
    // 1.50004 s × 8000 = 12,000.32 and 4.00006 s × 8000 = 32,000.48: a chunk
    // has 12,001..=32,000 samples (rounding to the nearest would allow 12,000,
    // which is shorter than --min-chunk).
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (min_s, max_s) = (1.50004, 4.00006);
    run(
        &fixtures(),
        &out,
        &["--min-chunk", "1.50004", "--max-chunk", "4.00006"],
    );
    assert_eq!(allowed(min_s, max_s, 8000), (12_001, 32_000));
    let lens = check_chunks(&out, min_s, max_s);
    // Some chunks were grown to the minimum: the bound is reached.
    assert!(lens.contains(&12_001), "{lens:?}");
}

/// A mono 8 kHz recording of `n` samples of loud voiced buzz (a 120 Hz
/// harmonic series, slowly modulated) with no pause: the VAD calls all of it
/// speech.
fn buzz(path: &Path, n: usize) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..n {
        let t = i as f64 / 8000.0;
        let v: f64 = (1..30)
            .map(|k| (2.0 * std::f64::consts::PI * 120.0 * f64::from(k) * t).sin() / f64::from(k))
            .sum();
        let v = v * (0.6 + 0.4 * (2.0 * std::f64::consts::PI * 3.0 * t).sin()) * 6000.0;
        w.write_sample(v.clamp(-32767.0, 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn speech_one_sample_longer_than_max_chunk_is_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("buzz.wav");
    let (_, max_len) = allowed(1.5, 4.25, 8000);
    buzz(&input, max_len as usize + 1);
    let out = tmp.path().join("out");
    run(&input, &out, &["--min-chunk", "1.5", "--max-chunk", "4.25"]);
    let lens = check_chunks(&out, 1.5, 4.25);
    assert!(lens.len() >= 2, "not cut: {lens:?}");
    // Cut, not trimmed: the pieces cover the whole recording.
    assert_eq!(lens.iter().sum::<u64>(), max_len + 1, "{lens:?}");
}
