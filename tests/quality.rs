//! Chunk quality against the true speech intervals the fixture generator
//! placed (`fixtures/calls/*.json`, from `scripts/make_calls.py`).
//!
//! Metrics, on 10 ms frames per channel, held at what the README states
//! for the fixtures (recall 1.000, F1 0.958, 0 of 54), with the margins:
//! - speech recall: true speech inside some chunk (speech kept) ≥ 0.999;
//! - speech-frame F1: the detected speech (VAD after smoothing) against the
//!   truth ≥ 0.955;
//! - boundaries: no chunk edge inside true speech by more than 20 ms.
//!
//! A test checks the README's figures against these values. A whole
//! generated corpus is scored by `scripts/score_corpus.sh` (not in CI).

use std::fs;
use std::path::{Path, PathBuf};

use callprep::config::SegmentConfig;
use callprep::pipeline::segment_samples;
use callprep::stages::chunk::{ChunkConfig, Span};
use callprep::stages::decode::{decode_channel, decode_channel_i16, read_header, to_i16};
use callprep::stages::resample::resample_all;
use callprep::stages::vad::{VadConfig, VadEngine};
use callprep::Isa;

const FRAME_S: f64 = 0.01;
const TOL_S: f64 = 0.02;

fn default_config() -> SegmentConfig {
    // The CLI defaults (see `callprep run --help`).
    let cli =
        <callprep::cli::Cli as clap::Parser>::parse_from(["callprep", "segment", "x", "-o", "o"]);
    callprep::config::Config::from_cli(cli)
        .unwrap()
        .segment
        .unwrap()
}

#[derive(Default, Debug, Clone, Copy)]
struct Score {
    truth: u64,
    kept: u64,
    tp: u64,
    fp: u64,
    fn_: u64,
    bounds: u64,
    inside: u64,
}

impl Score {
    fn add(&mut self, o: &Score) {
        self.truth += o.truth;
        self.kept += o.kept;
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.bounds += o.bounds;
        self.inside += o.inside;
    }
    fn recall(&self) -> f64 {
        self.kept as f64 / self.truth.max(1) as f64
    }
    fn f1(&self) -> f64 {
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        2.0 * p * r / (p + r).max(1e-12)
    }
    fn boundary_share(&self) -> f64 {
        self.inside as f64 / self.bounds.max(1) as f64
    }
}

fn frames(spans: &[(f64, f64)], n: usize) -> Vec<bool> {
    let mut v = vec![false; n];
    for &(s, e) in spans {
        let a = ((s / FRAME_S).round() as usize).min(n);
        let b = ((e / FRAME_S).round() as usize).min(n);
        v[a..b].iter_mut().for_each(|x| *x = true);
    }
    v
}

/// Scores every channel of `wav` against `<wav stem>.json`.
fn score_file(wav: &Path, seg: &SegmentConfig) -> Score {
    let truth: serde_json::Value =
        serde_json::from_slice(&fs::read(wav.with_extension("json")).unwrap()).unwrap();
    let bytes = fs::read(wav).unwrap();
    let info = read_header(&mut std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
    let data = &bytes[info.data_offset as usize..(info.data_offset + info.data_len) as usize];
    let rate = f64::from(seg.sample_rate_hz);
    let mut total = Score::default();
    for ch in truth["channels"].as_array().unwrap() {
        let index = ch["index"].as_u64().unwrap() as usize;
        // As the worker does: PCM16 as it is; other rates resampled, then
        // rounded to PCM16.
        let mut samples = Vec::new();
        if info.sample_rate_hz == seg.sample_rate_hz {
            decode_channel_i16(&info, data, index, Isa::best(), &mut samples);
        } else {
            let mut x = Vec::new();
            decode_channel(&info, data, index, &mut x);
            let y = resample_all(&x, info.sample_rate_hz, seg.sample_rate_hz).unwrap();
            samples = y.into_iter().map(to_i16).collect();
        }
        let plan = segment_samples(&samples, seg).unwrap();
        let secs = |s: &Span| (s.start as f64 / rate, s.end as f64 / rate);
        let chunks: Vec<(f64, f64)> = plan.chunks.iter().map(secs).collect();
        let speech: Vec<(f64, f64)> = plan.speech.iter().map(secs).collect();
        let truth_iv: Vec<(f64, f64)> = ch["speech"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        let n = (samples.len() as f64 / rate / FRAME_S).ceil() as usize + 1;
        let (t, c, d) = (frames(&truth_iv, n), frames(&chunks, n), frames(&speech, n));
        let mut s = Score::default();
        for i in 0..n {
            s.truth += u64::from(t[i]);
            s.kept += u64::from(t[i] && c[i]);
            s.tp += u64::from(t[i] && d[i]);
            s.fp += u64::from(!t[i] && d[i]);
            s.fn_ += u64::from(t[i] && !d[i]);
        }
        for &(a, b) in &chunks {
            for edge in [a, b] {
                s.bounds += 1;
                if truth_iv
                    .iter()
                    .any(|&(ts, te)| ts + TOL_S < edge && edge < te - TOL_S)
                {
                    s.inside += 1;
                }
            }
        }
        total.add(&s);
    }
    total
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .collect();
    v.sort();
    v
}

fn report(name: &str, s: &Score) {
    eprintln!(
        "{name:<24} recall {:.4}  F1 {:.4}  boundaries inside speech {}/{} ({:.2}%)",
        s.recall(),
        s.f1(),
        s.inside,
        s.bounds,
        100.0 * s.boundary_share()
    );
}

#[test]
fn fixture_chunks_keep_speech_and_cut_in_silence() {
    let seg = default_config();
    let mut all = Score::default();
    for wav in fixtures() {
        let s = score_file(&wav, &seg);
        report(wav.file_name().unwrap().to_str().unwrap(), &s);
        assert!(s.truth > 0);
        all.add(&s);
    }
    report("all fixtures", &all);
    // Measured (git 03c76e6): recall 1.0000, F1 0.9582, 0 of 54.
    assert!(
        all.recall() >= 0.999,
        "speech recall {:.4} < 0.999",
        all.recall()
    );
    assert!(all.f1() >= 0.955, "speech-frame F1 {:.4} < 0.955", all.f1());
    assert!(
        all.inside == 0 && all.boundary_share() <= 0.02,
        "{} of {} boundaries cut speech",
        all.inside,
        all.bounds
    );
}

/// The README's "Quality on the fixtures" sentence states the figures the
/// fixtures give, to its printed precision.
#[test]
fn readme_states_the_fixture_quality() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("Quality on the fixtures")
        .expect("README: the \"Quality on the fixtures\" paragraph");
    let para = &readme[start..start + readme[start..].find("\n\n").unwrap()];
    // The bold figures, in order: recall, F1, "N of M" boundaries.
    let bold: Vec<String> = para
        .split("**")
        .skip(1)
        .step_by(2)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let seg = default_config();
    let mut all = Score::default();
    for wav in fixtures() {
        all.add(&score_file(&wav, &seg));
    }
    let measured = vec![
        format!("{:.3}", all.recall()),
        format!("{:.3}", all.f1()),
        format!("{} of {}", all.inside, all.bounds),
    ];
    assert_eq!(bold, measured, "README (left) against the fixtures (right)");
}

#[test]
fn a_hard_cut_collector_scores_worse() {
    // The metric must be able to fail: no padding and no pause search clips
    // onsets and cuts words.
    let mut seg = default_config();
    seg.chunk = ChunkConfig {
        pad_ms: 0,
        min_silence_ms: 3000,
        ..seg.chunk
    };
    seg.vad = VadConfig {
        mode: 3,
        frame_ms: 30,
        engine: VadEngine::default(),
        isa: callprep_isa::Isa::best(),
    };
    let wav = fixtures()
        .into_iter()
        .find(|p| p.ends_with("call01.wav"))
        .unwrap();
    let s = score_file(&wav, &seg);
    report("call01, no padding", &s);
    assert!(
        s.boundary_share() > 0.02,
        "the boundary metric did not notice clipping"
    );
    // The README states the figure: "25 % of its boundaries inside words".
    assert_eq!(
        (100.0 * s.boundary_share()).round(),
        25.0,
        "update the README's hard-cut figure"
    );
}

/// The worker segments all channels of a file together
/// (`pipeline::push_together`, their VADs in one loop); that must give the
/// same plans, with the same audio, as each channel on its own, whatever
/// the block sizes the samples arrive in.
#[test]
fn channels_segmented_together_match_each_alone() {
    use callprep::pipeline::{push_together, ChannelSegmenter};
    use callprep::stages::chunk::Plan;
    // A plan with the audio of each of its chunks.
    fn with_audio(p: Plan, audio: &[i16], start: usize) -> (Plan, Vec<Vec<i16>>) {
        let cut = p
            .chunks
            .iter()
            .map(|sp| audio[sp.start - start..sp.end - start].to_vec());
        let cut = cut.collect();
        (p, cut)
    }
    let seg = default_config();
    for name in ["call01.wav", "call02.wav"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/calls")
            .join(name);
        let bytes = fs::read(path).unwrap();
        let info = read_header(&mut std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
        let data = &bytes[info.data_offset as usize..(info.data_offset + info.data_len) as usize];
        let chans: Vec<Vec<i16>> = (0..2)
            .map(|c| {
                let mut s = Vec::new();
                decode_channel_i16(&info, data, c, Isa::best(), &mut s);
                s
            })
            .collect();
        // Alone: plans with the audio each chunk covers.
        let mut alone: Vec<Vec<(Plan, Vec<Vec<i16>>)>> = vec![Vec::new(), Vec::new()];
        for (c, samples) in chans.iter().enumerate() {
            let mut s = ChannelSegmenter::new(&seg).unwrap();
            let mut take = |p: Plan, audio: &[i16], start: usize| {
                alone[c].push(with_audio(p, audio, start));
            };
            s.push(samples, &mut take);
            s.finish(&mut take);
        }
        // Together, in blocks of uneven sizes (the same for both channels,
        // as the worker's reader gives them).
        let mut together: Vec<Vec<(Plan, Vec<Vec<i16>>)>> = vec![Vec::new(), Vec::new()];
        let mut segs = vec![
            ChannelSegmenter::new(&seg).unwrap(),
            ChannelSegmenter::new(&seg).unwrap(),
        ];
        let mut take = |k: usize, p: Plan, audio: &[i16], start: usize| {
            together[k].push(with_audio(p, audio, start));
        };
        let (mut pos, mut step) = (0, 1000);
        while pos < chans[0].len() {
            let end = (pos + step).min(chans[0].len());
            for (s, ch) in segs.iter_mut().zip(&chans) {
                s.append_with(|a| a.extend_from_slice(&ch[pos..end]));
            }
            push_together(&mut segs, &mut take);
            pos = end;
            step = step * 7 % 40_000 + 333;
        }
        for (k, s) in segs.iter_mut().enumerate() {
            s.finish(&mut |p, a, st| take(k, p, a, st));
        }
        assert!(alone
            .iter()
            .all(|plans| plans.iter().any(|(p, _)| !p.chunks.is_empty())));
        assert_eq!(together, alone, "{name}");
    }
}
