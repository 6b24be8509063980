//! The first hour of a new user: what a data scientist with a folder of
//! calls runs into, on the real binary.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callprep"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn manifest(out: &Path) -> Vec<Value> {
    fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Files under `out/sub`, relative to `out`.
fn files(out: &Path, sub: &str) -> BTreeSet<String> {
    let Ok(rd) = fs::read_dir(out.join(sub)) else {
        return BTreeSet::new();
    };
    rd.map(|e| format!("{sub}/{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

/// An empty folder, or one with no `.wav`, is a usage error (exit 2) that
/// says where callprep looked, that it reads WAV only, and how to convert;
/// nothing is created.
#[test]
fn no_input_found_is_a_usage_error_that_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    let mp3s = tmp.path().join("mp3s");
    fs::create_dir_all(&empty).unwrap();
    fs::create_dir_all(&mp3s).unwrap();
    fs::write(mp3s.join("call.mp3"), b"ID3\x04\x00").unwrap();
    for (dir, cmd) in [(&empty, "run"), (&mp3s, "segment"), (&empty, "mel")] {
        let out = tmp.path().join(format!("out-{cmd}"));
        let o = run(&[cmd, s(dir), "-o", s(&out)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd} {}: {err}", dir.display());
        assert!(err.contains(s(dir)), "names where it looked: {err}");
        assert!(err.contains("WAV only"), "{err}");
        assert!(err.contains("sox ") && err.contains("ffmpeg "), "{err}");
        assert!(!out.exists(), "a usage error creates no output folder");
    }
}

/// `-o` naming a file is a usage error that says so.
#[test]
fn output_that_is_a_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("out.txt");
    fs::write(&f, b"keep").unwrap();
    let o = run(&["run", s(&fixtures()), "-o", s(&f)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("is a file, not a folder"), "{err}");
    assert_eq!(fs::read(&f).unwrap(), b"keep");
}

/// After a second run with other settings into the same OUT, OUT holds
/// exactly what its manifest lists: the first run's chunks that the second
/// did not write are removed (the summary counts them), a file callprep did
/// not write stays, and so do the inputs of a later `mel` into the same OUT.
#[test]
fn a_rerun_leaves_exactly_what_its_manifest_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run(&["run", s(&fixtures()), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first: BTreeSet<String> = files(&out, "wav")
        .union(&files(&out, "mel"))
        .cloned()
        .collect();
    fs::write(out.join("wav/mine.txt"), b"not callprep's").unwrap();

    let o = run(&["run", s(&fixtures()), "-o", s(&out), "--max-chunk", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = manifest(&out);
    let listed: BTreeSet<String> = rows
        .iter()
        .flat_map(|r| {
            [r["audio_filepath"].as_str(), r["mel_filepath"].as_str()]
                .into_iter()
                .flatten()
                .map(str::to_string)
        })
        .collect();
    let mut on_disk: BTreeSet<String> = files(&out, "wav")
        .union(&files(&out, "mel"))
        .cloned()
        .collect();
    assert!(
        on_disk.remove("wav/mine.txt"),
        "a file callprep did not write stays"
    );
    assert_eq!(on_disk, listed, "OUT holds exactly what the manifest lists");
    let stale = first.difference(&listed).count();
    assert!(
        stale > 0,
        "the settings change must leave stale files to remove"
    );
    let err = stderr(&o);
    assert!(
        err.contains(&format!("removed {stale} stale file(s)")),
        "{err}"
    );

    // `mel` on this OUT's manifest into the same OUT: its inputs (the chunk
    // WAVs) are never removed, though their records are replaced.
    let wavs = files(&out, "wav");
    let o = run(&["mel", s(&out.join("manifest.jsonl")), "-o", s(&out), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(files(&out, "wav"), wavs);
}

/// The summary says hours of calls in, hours of speech per role, chunks,
/// drops by reason, time and speed, and where the report is.
#[test]
fn the_summary_says_what_came_out_per_role() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run(&["run", s(&fixtures()), "-o", s(&out)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        err.lines().count(),
        1,
        "one line when not a terminal: {err}"
    );
    let rows = manifest(&out);
    for role in ["agent", "customer", "mixed"] {
        let h: f64 = rows
            .iter()
            .filter(|r| r["role"] == role)
            .map(|r| r["duration"].as_f64().unwrap())
            .sum::<f64>()
            / 3600.0;
        assert!(err.contains(&format!("{role} {h:.3} h")), "{role}: {err}");
    }
    assert!(err.contains("h of calls in"), "{err}");
    assert!(
        err.contains(&format!("in {} chunk(s)", rows.len())),
        "{err}"
    );
    assert!(err.contains("realtime"), "{err}");
    assert!(err.contains("dropped: "), "{err}");
    assert!(err.contains(s(&out.join("report.json"))), "{err}");
}

/// `mel` on the manifest of `run --no-wav` (rows that point into the
/// sources: a stereo call, a mono call at offset 0, a 16 kHz call that
/// `run` resampled, a mu-law call) computes what `run` computed: the same
/// `.npy` bytes for every row, with every preset.
#[test]
fn mel_on_a_no_wav_manifest_gives_runs_features() {
    let tmp = tempfile::tempdir().unwrap();
    for preset in ["telephony", "kaldi", "whisper", "whisper-128"] {
        let a = tmp.path().join(format!("run-{preset}"));
        let b = tmp.path().join(format!("mel-{preset}"));
        let o = run(&[
            "run",
            s(&fixtures()),
            "-o",
            s(&a),
            "-q",
            "--no-wav",
            "--preset",
            preset,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let o = run(&[
            "mel",
            s(&a.join("manifest.jsonl")),
            "-o",
            s(&b),
            "-q",
            "--preset",
            preset,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let rows_a = manifest(&a);
        let rows_b = manifest(&b);
        assert_eq!(rows_a.len(), rows_b.len(), "{preset}");
        let sources: BTreeSet<&str> = rows_a
            .iter()
            .map(|r| r["audio_filepath"].as_str().unwrap())
            .collect();
        assert!(
            sources.len() >= 4,
            "rows point into the sources: {sources:?}"
        );
        for r in &rows_a {
            let id = r["id"].as_str().unwrap();
            let mine = rows_b.iter().find(|x| x["id"] == id).expect("row kept");
            assert_eq!(mine["n_frames"], r["n_frames"], "{preset} {id}");
            let want = fs::read(a.join(r["mel_filepath"].as_str().unwrap())).unwrap();
            let got = fs::read(b.join(mine["mel_filepath"].as_str().unwrap())).unwrap();
            assert!(got == want, "{preset} {id}: mel's .npy differs from run's");
        }
    }
}

/// Rows of `run --no-wav` describe the file they point to: its real rate
/// and channel count beside the chunk's `sample_rate`, and a path that
/// resolves (relative to the manifest's folder) to that file. Rows of chunk
/// WAVs carry neither field.
#[test]
fn no_wav_rows_describe_the_source_they_point_to() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("nowav"), tmp.path().join("wav"));
    assert!(run(&["run", s(&fixtures()), "-o", s(&a), "-q", "--no-wav"])
        .status
        .success());
    assert!(run(&["run", s(&fixtures()), "-o", s(&b), "-q"])
        .status
        .success());
    let rows = manifest(&a);
    let mut rates = BTreeSet::new();
    for r in &rows {
        let file = a.join(r["audio_filepath"].as_str().unwrap());
        let spec = hound::WavReader::open(&file)
            .map(|w| w.spec())
            .or_else(|_| -> Result<hound::WavSpec, ()> {
                // hound does not read G.711: take rate and channels from the header.
                let h = fs::read(&file).unwrap();
                Ok(hound::WavSpec {
                    channels: u16::from_le_bytes([h[22], h[23]]),
                    sample_rate: u32::from_le_bytes([h[24], h[25], h[26], h[27]]),
                    bits_per_sample: 8,
                    sample_format: hound::SampleFormat::Int,
                })
            })
            .unwrap();
        assert_eq!(r["source_sample_rate"], spec.sample_rate, "{r}");
        assert_eq!(r["source_channels"], spec.channels, "{r}");
        assert_eq!(r["sample_rate"], 8000, "{r}");
        assert!(
            r["channel"].as_u64().unwrap() < u64::from(spec.channels),
            "{r}"
        );
        rates.insert(spec.sample_rate);
    }
    assert!(
        rates.contains(&16000),
        "the 16 kHz fixture is among the sources"
    );
    for r in manifest(&b) {
        assert!(r.get("source_sample_rate").is_none() && r.get("source_channels").is_none());
    }
}

/// Every path in a manifest is relative to the manifest's own folder
/// (NeMo's rule), whatever folder callprep ran from, through `segment` and
/// then `mel`; `--absolute-paths` writes absolute ones.
#[test]
fn manifest_paths_resolve_from_the_manifests_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let calls = tmp.path().join("data/calls");
    fs::create_dir_all(&calls).unwrap();
    for f in ["call01.wav", "mono01.wav"] {
        fs::copy(fixtures().join(f), calls.join(f)).unwrap();
    }
    let elsewhere = tmp.path().join("work/here");
    fs::create_dir_all(&elsewhere).unwrap();
    let in_cwd = |args: &[&str]| {
        let o = bin().args(args).current_dir(&elsewhere).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    };
    // Relative arguments, resolved from `elsewhere`.
    in_cwd(&["segment", "../../data/calls", "-o", "../../out/seg", "-q"]);
    in_cwd(&[
        "mel",
        "../../out/seg/manifest.jsonl",
        "-o",
        "../../out/mel",
        "-q",
    ]);
    in_cwd(&[
        "run",
        "../../data/calls",
        "-o",
        "../../out/abs",
        "-q",
        "--absolute-paths",
    ]);
    for (sub, absolute) in [("seg", false), ("mel", false), ("abs", true)] {
        let out = tmp.path().join("out").join(sub);
        let rows = manifest(&out);
        assert!(!rows.is_empty(), "{sub}");
        for r in &rows {
            for key in ["audio_filepath", "mel_filepath", "source"] {
                let Some(p) = r.get(key).and_then(Value::as_str) else {
                    assert_eq!(key, "mel_filepath", "{sub}: {key} missing");
                    continue;
                };
                assert_eq!(Path::new(p).is_absolute(), absolute, "{sub} {key}: {p}");
                assert!(
                    out.join(p).is_file(),
                    "{sub} {key}: {p} does not resolve from {}",
                    out.display()
                );
            }
            let src = out.join(r["source"].as_str().unwrap());
            assert_eq!(
                fs::canonicalize(src).unwrap().parent().unwrap(),
                fs::canonicalize(&calls).unwrap(),
                "{sub}: source is the input recording"
            );
        }
    }
}

/// Ctrl-C (a real SIGINT) and SIGTERM stop a run cleanly: exit 130 / 143,
/// a message that says how many inputs are complete and that `--resume`
/// finishes, a manifest listing only complete inputs (every file it names
/// exists, no temporary file is left), the rest `interrupted` in the
/// report; and `--resume` then ends with a clean run's manifest.
/// (`CALLPREP_TEST_SLOW_MS`, a fault-injection hook, slows every input so
/// that the signal lands mid-run.)
#[cfg(all(unix, feature = "fault-injection"))]
#[test]
fn a_signal_stops_cleanly_and_resume_finishes() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    assert!(
        run(&["run", s(&fixtures()), "-o", s(&clean), "-q", "-j", "1"])
            .status
            .success()
    );
    let want = fs::read(clean.join("manifest.jsonl")).unwrap();
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let out = tmp.path().join(format!("out{signal}"));
        let child = bin()
            .args(["run", s(&fixtures()), "-o", s(&out), "-j", "1"])
            .env("CALLPREP_TEST_SLOW_MS", "400")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the first input is committed, then signal.
        let done = out.join(".callprep/done");
        let t0 = Instant::now();
        while fs::read_dir(&done).map_or(0, |d| d.count()) == 0 {
            assert!(t0.elapsed() < Duration::from_secs(30), "no input finished");
            std::thread::sleep(Duration::from_millis(20));
        }
        let kill = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{signal}: {err}");
        assert!(err.contains("--resume to finish"), "{err}");
        let rows = manifest(&out);
        let rep: Value =
            serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
        let files = rep["files"].as_array().unwrap();
        let ok = files.iter().filter(|f| f["status"] == "ok").count();
        let stopped = files
            .iter()
            .filter(|f| f["reason"] == "interrupted")
            .count();
        assert!(
            ok >= 1 && stopped >= 1 && ok + stopped == 5,
            "{signal}: {files:?}"
        );
        for r in &rows {
            for key in ["audio_filepath", "mel_filepath"] {
                assert!(out.join(r[key].as_str().unwrap()).is_file(), "{r}");
            }
        }
        let on_disk: Vec<String> = common::tree(&out).into_keys().collect();
        assert!(!on_disk.iter().any(|p| p.contains(".tmp-")), "{on_disk:?}");
        assert_eq!(
            on_disk.iter().filter(|p| p.starts_with("wav/")).count(),
            rows.len(),
            "only complete inputs' chunks are on disk"
        );
        let o = run(&[
            "run",
            s(&fixtures()),
            "-o",
            s(&out),
            "-q",
            "-j",
            "1",
            "--resume",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            fs::read(out.join("manifest.jsonl")).unwrap() == want,
            "{signal}: resumed manifest"
        );
    }
}

/// Every subcommand's `--help` is plain text (no rustdoc links), words its
/// INPUT for what it reads, and ends with examples.
#[test]
fn help_is_plain_and_has_examples() {
    for (sub, input_word) in [
        ("run", "Call recordings"),
        ("segment", "Call recordings"),
        ("mel", "manifest .jsonl"),
    ] {
        let o = run(&[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(
            !help.contains("[`") && !help.contains("crate::"),
            "{sub}: {help}"
        );
        assert!(help.contains(input_word), "{sub}: {help}");
        let examples = help
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("{sub}: no examples"));
        assert!(
            examples.contains(&format!("callprep {sub} ")),
            "{sub}: {examples}"
        );
        if sub != "mel" {
            assert!(!help.contains("manifest .jsonl files"), "{sub}: {help}");
        }
    }
}

/// Every refused value names the flag, the allowed range and a fix; a flag
/// of another subcommand is named as such.
#[test]
fn refused_values_name_the_flag_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let calls = fixtures();
    let cases: [(&[&str], &[&str]); 7] = [
        (&["run", "--vad-mode", "7"], &["--vad-mode", "0..=3"]),
        (
            &["run", "--vad-frame-ms", "25"],
            &["--vad-frame-ms 25", "10, 20 or 30"],
        ),
        (
            &["run", "--min-chunk", "-1"],
            &["--min-chunk -1", "positive"],
        ),
        (&["run", "--max-chunk", "-3"], &["--max-chunk -3"]),
        (
            &["run", "--sample-rate", "11025"],
            &["--sample-rate 11025", "8000, 16000, 32000 or 48000"],
        ),
        (&["segment", "--no-wav"], &["--no-wav is a flag of `run`"]),
        (&["mel", "--fmin", "-5"], &["--fmin -5"]),
    ];
    for (args, want) in cases {
        let mut all = args.to_vec();
        all.extend([s(&calls), "-o", s(&out)]);
        let o = run(&all);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            !err.contains("use '--"),
            "{args:?}: clap's tip instead of ours: {err}"
        );
        for w in want {
            assert!(err.contains(w), "{args:?}: want {w:?} in {err}");
        }
    }
}

/// An MP3 renamed `.wav` and an ADPCM WAV fail with a message that says
/// how to convert them.
#[test]
fn unreadable_audio_says_how_to_convert() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    let mut mp3 = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    mp3.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0]);
    fs::write(inp.join("song.wav"), mp3).unwrap();
    let mut adpcm = b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00".to_vec();
    adpcm.extend_from_slice(&[
        0x11, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 4, 0,
    ]);
    adpcm.extend_from_slice(b"data\x04\x00\x00\x00\x01\x02\x03\x04");
    fs::write(inp.join("adpcm.wav"), adpcm).unwrap();
    let o = run(&["run", s(&inp), "-o", s(&tmp.path().join("o"))]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let song = err.lines().find(|l| l.contains("song.wav")).unwrap();
    assert!(
        song.contains("MP3") && song.contains("sox ") && song.contains("ffmpeg "),
        "{song}"
    );
    assert!(song.ends_with("[not_wav]"), "{song}");
    let adpcm = err.lines().find(|l| l.contains("adpcm.wav")).unwrap();
    assert!(
        adpcm.contains("ffmpeg ") && adpcm.ends_with("[unsupported_encoding]"),
        "{adpcm}"
    );
}

/// The README's Makefile example, extracted verbatim, runs with plain
/// `make`: both steps, with the binary on PATH.
#[cfg(unix)]
#[test]
fn the_readme_makefile_runs() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = readme
        .split("```make\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("README has a ```make block");
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("Makefile"), block).unwrap();
    fs::create_dir_all(tmp.path().join("calls")).unwrap();
    for f in ["call01.wav", "mono01.wav"] {
        fs::copy(fixtures().join(f), tmp.path().join("calls").join(f)).unwrap();
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_callprep")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("make")
        .current_dir(tmp.path())
        .env("PATH", path)
        .output()
        .expect("GNU make runs the README's example (install it: apt-get install make)");
    assert!(o.status.success(), "make: {}", stderr(&o));
    let seg = manifest(&tmp.path().join("out/seg"));
    let mel = manifest(&tmp.path().join("out/mel"));
    assert!(!seg.is_empty() && mel.len() == seg.len());
    for r in &mel {
        assert!(tmp
            .path()
            .join("out/mel")
            .join(r["mel_filepath"].as_str().unwrap())
            .is_file());
    }
}
