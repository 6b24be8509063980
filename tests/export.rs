//! `callprep export`, `stats` and `inspect` on the real binary: the
//! structure of every format (keys, sorting, paths resolving from DEST,
//! links inside DEST, gzip readable and deterministic), the numbers of
//! `stats` on a known manifest, and the PNG of `inspect`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_callprep");
const CALL: &str = "fixtures/calls/call01.wav";

fn callprep(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = callprep(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Outputs of one call, made once: run, run --no-wav, segment + mel (kaldi preset).
struct Outs {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn outs() -> &'static Outs {
    static O: OnceLock<Outs> = OnceLock::new();
    O.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let p = |n: &str| root.join(n).to_string_lossy().into_owned();
        ok(&["run", CALL, "-o", &p("run"), "-q"]);
        ok(&["run", CALL, "-o", &p("nowav"), "--no-wav", "-q"]);
        ok(&["segment", CALL, "-o", &p("seg"), "-q"]);
        let seg_manifest = p("seg/manifest.jsonl");
        ok(&[
            "mel",
            &seg_manifest,
            "-o",
            &p("mel"),
            "--preset",
            "kaldi",
            "-q",
        ]);
        Outs { _dir: dir, root }
    })
}

fn rows(out: &Path) -> Vec<Value> {
    fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Exports `out` (a name under the shared outputs) as `format` into a new folder.
fn export(out: &str, format: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join(format!("{out}-{format}"));
    let src = outs().root.join(out);
    let mut args = vec![
        "export",
        src.to_str().unwrap(),
        "--format",
        format,
        "-o",
        dest.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args);
    (dir, dest)
}

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn gz_lines(p: &Path) -> Vec<Value> {
    let mut s = String::new();
    flate2::read::GzDecoder::new(fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// NeMo's rule: a relative path with a folder part is joined to the manifest's folder.
fn nemo_resolve(manifest_dir: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    assert!(
        path.is_absolute() || p.contains('/'),
        "{p}: NeMo would not join it"
    );
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        manifest_dir.join(path)
    }
}

#[test]
fn nemo_manifest_has_nemo_keys_and_paths_resolving_from_dest() {
    for out in ["run", "mel"] {
        let (_d, dest) = export(out, "nemo", &[]);
        let src = rows(&outs().root.join(out));
        let got: Vec<Value> = lines(&dest.join("manifest.json"))
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), src.len());
        for (g, s) in got.iter().zip(&src) {
            for k in [
                "audio_filepath",
                "duration",
                "offset",
                "text",
                "speaker",
                "feature_filepath",
            ] {
                assert!(g.get(k).is_some(), "{out}: {k} missing in {g}");
            }
            assert!(g.get("mel_filepath").is_none());
            assert_eq!(g["speaker"], s["role"]);
            assert_eq!(g["duration"], s["duration"]);
            let audio = nemo_resolve(&dest, g["audio_filepath"].as_str().unwrap());
            let want = outs()
                .root
                .join(out)
                .join(s["audio_filepath"].as_str().unwrap());
            assert_eq!(fs::read(&audio).unwrap(), fs::read(&want).unwrap());
            let feats = nemo_resolve(&dest, g["feature_filepath"].as_str().unwrap());
            assert!(feats.is_file(), "{}", feats.display());
        }
    }
}

#[test]
fn nemo_and_hf_refuse_rows_inside_stereo_sources() {
    let dest = tempfile::tempdir().unwrap();
    for format in ["nemo", "hf"] {
        let o = callprep(&[
            "export",
            outs().root.join("nowav").to_str().unwrap(),
            "--format",
            format,
            "-o",
            dest.path().to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{format}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--no-wav") && err.contains("call01.wav"),
            "{err}"
        );
    }
}

#[test]
fn hf_audiofolder_links_audio_inside_dest() {
    let (_d, dest) = export("run", "hf", &[]);
    let src = rows(&outs().root.join("run"));
    let meta: Vec<Value> = lines(&dest.join("metadata.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(meta.len(), src.len());
    for (m, s) in meta.iter().zip(&src) {
        let file = m["file_name"].as_str().unwrap();
        assert!(!file.starts_with('/') && !file.contains(".."), "{file}");
        let p = dest.join(file);
        assert!(fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        let want = outs()
            .root
            .join("run")
            .join(s["audio_filepath"].as_str().unwrap());
        assert_eq!(fs::read(&p).unwrap(), fs::read(&want).unwrap());
        // Every manifest field is a column.
        for k in s.as_object().unwrap().keys() {
            assert!(m.get(k).is_some(), "{k} missing");
        }
        assert!(dest.join(m["mel_filepath"].as_str().unwrap()).is_file());
        assert_eq!(m["speaker"], s["role"]);
    }
    // --copy: regular files with the same bytes.
    let (_d2, copied) = export("run", "hf", &["--copy"]);
    let m0: Value = serde_json::from_str(&lines(&copied.join("metadata.jsonl"))[0]).unwrap();
    let p = copied.join(m0["file_name"].as_str().unwrap());
    assert!(fs::symlink_metadata(&p).unwrap().file_type().is_file());
}

#[test]
fn lhotse_manifests_attach_frames_first_features() {
    for out in ["run", "nowav", "mel"] {
        let (_d, dest) = export(out, "lhotse", &[]);
        let src = rows(&outs().root.join(out));
        let recs = gz_lines(&dest.join("recordings.jsonl.gz"));
        let sups = gz_lines(&dest.join("supervisions.jsonl.gz"));
        let cuts = gz_lines(&dest.join("cuts.jsonl.gz"));
        assert_eq!(sups.len(), src.len());
        assert_eq!(cuts.len(), src.len());
        // One recording per source with --no-wav (both channels), per chunk otherwise.
        if out == "nowav" {
            assert_eq!(recs.len(), 1);
            assert_eq!(recs[0]["channel_ids"], serde_json::json!([0, 1]));
            assert_eq!(recs[0]["num_samples"], 290249);
        } else {
            assert_eq!(recs.len(), src.len());
        }
        let ids: Vec<&str> = cuts.iter().map(|c| c["id"].as_str().unwrap()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let by_id: BTreeMap<&str, &Value> =
            src.iter().map(|r| (r["id"].as_str().unwrap(), r)).collect();
        for c in &cuts {
            let r = by_id[c["id"].as_str().unwrap()];
            assert_eq!(c["type"], "MonoCut");
            assert_eq!(c["supervisions"][0]["speaker"], r["role"]);
            let src_path = c["recording"]["sources"][0]["source"].as_str().unwrap();
            assert!(Path::new(src_path).is_absolute() && Path::new(src_path).is_file());
            if out == "nowav" {
                assert_eq!(c["start"], r["offset"]);
                assert_eq!(c["channel"], r["channel"]);
            }
            let f = &c["features"];
            assert_eq!(f["storage_type"], "numpy_files");
            assert_eq!(f["frame_shift"], 0.01);
            let npy = Path::new(f["storage_path"].as_str().unwrap())
                .join(f["storage_key"].as_str().unwrap());
            let (shape, data) = common::read_npy(&fs::read(&npy).unwrap());
            let (n_frames, n_mels) = (
                r["n_frames"].as_u64().unwrap() as usize,
                r["n_mels"].as_u64().unwrap() as usize,
            );
            assert_eq!(shape, [n_frames, n_mels], "frames-first");
            assert_eq!(f["num_frames"], n_frames);
            // The values: the original array, transposed when it was mels-first.
            let orig = outs()
                .root
                .join(out)
                .join(r["mel_filepath"].as_str().unwrap());
            let (oshape, odata) = common::read_npy(&fs::read(&orig).unwrap());
            if oshape == [n_mels, n_frames] {
                assert!(npy.starts_with(&dest), "transposed copy inside DEST");
                for (t, m) in [(0, 0), (n_frames - 1, n_mels - 1), (n_frames / 2, 7)] {
                    assert_eq!(data[t * n_mels + m], odata[m * n_frames + t]);
                }
            } else {
                assert_eq!(npy, orig, "frames-first arrays are used where they lie");
                assert_eq!(data, odata);
            }
        }
        // Deterministic: a second export gives the same bytes.
        let (_d2, again) = export(out, "lhotse", &[]);
        for n in ["recordings.jsonl.gz", "supervisions.jsonl.gz"] {
            assert_eq!(
                fs::read(dest.join(n)).unwrap(),
                fs::read(again.join(n)).unwrap()
            );
        }
    }
}

/// Checks a Kaldi data directory the way `utils/validate_data_dir.sh` does.
fn validate_kaldi(dest: &Path, n_utts: usize) -> Vec<String> {
    let sorted_c = |v: &[String]| v.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes());
    let utt2spk = lines(&dest.join("utt2spk"));
    assert_eq!(utt2spk.len(), n_utts);
    let utts: Vec<String> = utt2spk
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert!(sorted_c(&utts), "utt2spk sorted (LC_ALL=C), unique");
    let mut from_spk2utt = BTreeSet::new();
    for l in lines(&dest.join("spk2utt")) {
        let mut it = l.split(' ');
        let spk = it.next().unwrap();
        for u in it {
            assert!(
                u.starts_with(&format!("{spk}-")),
                "{u} is prefixed by {spk}"
            );
            assert!(utt2spk.contains(&format!("{u} {spk}")));
            from_spk2utt.insert(u.to_string());
        }
    }
    assert_eq!(from_spk2utt.len(), n_utts, "spk2utt covers utt2spk");
    for f in ["wav.scp", "reco2dur", "spk2utt"] {
        let keys: Vec<String> = lines(&dest.join(f))
            .iter()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        assert!(sorted_c(&keys), "{f} sorted");
    }
    utts
}

#[test]
fn kaldi_data_dir_is_sorted_and_consistent() {
    let (_d, dest) = export("run", "kaldi", &[]);
    let utts = validate_kaldi(&dest, 7);
    assert!(
        !dest.join("segments").exists(),
        "chunk WAVs need no segments"
    );
    assert!(
        !dest.join("text").exists(),
        "no text file without transcripts"
    );
    assert_eq!(utts[0], "agent-call01-agent-0000000000");
    for l in lines(&dest.join("wav.scp")) {
        let path = l.split_once(' ').unwrap().1;
        assert!(
            Path::new(path).is_absolute() && Path::new(path).is_file(),
            "{l}"
        );
    }

    let (_d, dest) = export("nowav", "kaldi", &["--speaker-from", "source"]);
    let utts = validate_kaldi(&dest, 7);
    assert_eq!(
        utts[0], "call01-agent-0000000000",
        "already prefixed by its speaker"
    );
    let segments = lines(&dest.join("segments"));
    assert_eq!(segments.len(), 7);
    assert_eq!(
        segments[1],
        "call01-agent-0000074240 call01-ch0 9.28 19.095"
    );
    let wav_scp = lines(&dest.join("wav.scp"));
    assert_eq!(wav_scp.len(), 2);
    assert!(wav_scp[1].starts_with("call01-ch1 sox /") && wav_scp[1].ends_with("remix 2 |"));
    assert_eq!(
        lines(&dest.join("spk2utt"))
            .iter()
            .map(|l| l.split(' ').next().unwrap())
            .collect::<Vec<_>>(),
        ["call01-agent", "call01-customer"]
    );
    assert_eq!(lines(&dest.join("reco2dur"))[0], "call01-ch0 36.281125");
    // Beside segments, Lhotse's reader needs `text`: ids alone (empty transcripts).
    assert_eq!(lines(&dest.join("text")), utts);
}

#[test]
fn export_of_a_folder_that_is_not_an_output_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = callprep(&[
        "export",
        dir.path().to_str().unwrap(),
        "--format",
        "kaldi",
        "-o",
        dir.path().join("d").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("manifest.jsonl is missing"));
}

#[test]
fn a_bad_manifest_line_is_named_and_the_rest_exported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let st = Command::new("cp")
        .args([
            "-r",
            outs().root.join("run").to_str().unwrap(),
            out.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let text = fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    fs::write(out.join("manifest.jsonl"), format!("{{\"id\": 3}}\n{text}")).unwrap();
    let dest = dir.path().join("d");
    let o = callprep(&[
        "export",
        out.to_str().unwrap(),
        "--format",
        "kaldi",
        "-o",
        dest.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("manifest.jsonl:1: not a manifest row"),
        "{err}"
    );
    assert_eq!(
        lines(&dest.join("utt2spk")).len(),
        7,
        "the other rows are exported"
    );
}

/// A known OUT: four rows, one failed input, drops of two reasons.
fn known_out(dir: &Path) {
    let row = |id: &str, role: &str, d: f64| {
        serde_json::json!({"id": id, "audio_filepath": format!("wav/{id}.wav"), "offset": 0.0,
            "duration": d, "text": "", "source": "a.wav", "channel": 0, "role": role,
            "start": 0.0, "end": d, "sample_rate": 8000})
    };
    let rows = [
        row("a-agent-0", "agent", 2.5),
        row("a-agent-1", "agent", 3.0),
        row("a-customer-2", "customer", 19.9),
        row("a-customer-3", "customer", 7.2),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    fs::write(dir.join("manifest.jsonl"), text).unwrap();
    let report = serde_json::json!({
        "tool": "callprep", "version": "0.1.0", "parameters": {"job": "segment"},
        "totals": {"files": 2, "files_ok": 1, "files_failed": 1, "files_truncated": 0,
            "audio_hours_in": 0.02, "speech_hours_out": 0.009, "chunks": 4, "forced_cuts": 0,
            "dropped": {"short_speech": {"count": 3, "speech_s": 0.25},
                        "shorter_than_min_chunk": {"count": 1, "speech_s": 1.5}}},
        "files": [
            {"source": "a.wav", "id": "a", "status": "ok", "format": "pcm16", "channels": 2,
             "sample_rate": 8000, "duration_s": 72.0, "truncated": false, "chunks": 4,
             "chunk_s": 32.6, "dropped": {}, "forced_cuts": 0},
            {"source": "b.wav", "id": "b", "status": "failed", "reason": "not_wav",
             "error": "not a WAV file"}
        ]
    });
    fs::write(dir.join("report.json"), report.to_string()).unwrap();
}

#[test]
fn stats_counts_a_known_manifest() {
    let dir = tempfile::tempdir().unwrap();
    known_out(dir.path());
    let out = dir.path().to_str().unwrap();
    let s: Value = serde_json::from_str(&ok(&["stats", out, "--json"])).unwrap();
    assert_eq!(s["chunks"], 4);
    assert_eq!(s["files"], 2);
    assert_eq!(s["files_failed"], 1);
    assert_eq!(
        s["chunks_by_role"],
        serde_json::json!({"agent": 2, "customer": 2})
    );
    let h = |r: &str| s["hours_by_role"][r].as_f64().unwrap();
    assert!((h("agent") - 5.5 / 3600.0).abs() < 1e-12);
    assert!((h("customer") - 27.1 / 3600.0).abs() < 1e-12);
    assert!((s["chunk_hours"].as_f64().unwrap() - 32.6 / 3600.0).abs() < 1e-12);
    assert_eq!(s["min_chunk_s"], 2.5);
    assert_eq!(s["max_chunk_s"], 19.9);
    assert_eq!(s["bin_s"], 1.0);
    let bins = s["histogram"].as_array().unwrap();
    assert_eq!(bins.len(), 20);
    let counts: Vec<u64> = bins.iter().map(|b| b["chunks"].as_u64().unwrap()).collect();
    let mut want = vec![0u64; 20];
    want[2] = 1;
    want[3] = 1;
    want[7] = 1;
    want[19] = 1;
    assert_eq!(counts, want);
    assert_eq!(bins[19]["from_s"], 19.0);
    assert_eq!(s["dropped"]["short_speech"]["count"], 3);
    assert_eq!(s["failed"][0]["source"], "b.wav");
    assert_eq!(s["failed"][0]["reason"], "not_wav");
    // The text form: the same numbers, with bars.
    let text = ok(&["stats", out]);
    assert!(text.contains("files: 2 (1 ok, 1 failed)"), "{text}");
    assert!(
        text.contains("customer         0.008 h       2 chunks"),
        "{text}"
    );
    assert!(text.contains("b.wav [not_wav] not a WAV file"), "{text}");
    let bar_line = text
        .lines()
        .find(|l| l.contains("shorter_than_min_chunk"))
        .unwrap();
    assert_eq!(bar_line.matches('█').count(), 40, "the longest bar");
}

/// Width, height and RGB pixels of a PNG.
fn png_pixels(p: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = fs::read(p).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; dec.output_buffer_size()];
    let info = dec.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (w, h));
    buf.truncate(info.buffer_size());
    (w, h, buf)
}

#[test]
fn inspect_draws_a_call_and_the_picture_follows_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let png = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let said = ok(&["inspect", CALL, "-o", &png("a.png")]);
    assert!(
        said.contains("2 channels, 7 chunks kept, 1 speech regions dropped"),
        "{said}"
    );
    let (w, h, a) = png_pixels(Path::new(&png("a.png")));
    assert_eq!((w, h), (1600, 34 + 2 * 330));
    // Not a blank picture: many colours.
    let colours: BTreeSet<&[u8]> = a.chunks_exact(3).collect();
    assert!(colours.len() > 500, "{} colours", colours.len());
    // The same call, the same pixels.
    ok(&["inspect", CALL, "-o", &png("a2.png")]);
    assert_eq!(png_pixels(Path::new(&png("a2.png"))).2, a);
    // Another range, another call, another VAD mode: other pixels.
    ok(&[
        "inspect",
        CALL,
        "-o",
        &png("b.png"),
        "--from",
        "5",
        "--to",
        "15",
    ]);
    ok(&["inspect", "fixtures/calls/call02.wav", "-o", &png("c.png")]);
    ok(&["inspect", CALL, "-o", &png("d.png"), "--vad-mode", "0"]);
    for n in ["b.png", "c.png", "d.png"] {
        let (w2, h2, p) = png_pixels(Path::new(&png(n)));
        assert_eq!((w2, h2), (w, h));
        let differ = p.iter().zip(&a).filter(|(x, y)| x != y).count();
        assert!(differ > 1000, "{n}: {differ} bytes differ");
    }
    // Mono: one channel, a shorter picture; --width is honoured.
    ok(&[
        "inspect",
        "fixtures/calls/mono01.wav",
        "-o",
        &png("m.png"),
        "--width",
        "800",
    ]);
    let (w3, h3, _) = png_pixels(Path::new(&png("m.png")));
    assert_eq!((w3, h3), (800, 34 + 330));
    // A range past the end is a usage error naming the file.
    let o = callprep(&["inspect", CALL, "-o", &png("e.png"), "--from", "99"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("call01.wav"));
}
