//! Integration tests: the real binary on the bundled fixture calls, in a
//! temporary folder, asserting files, headers, shapes and bytes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{assert_no_partial_files, read_npy, tree};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callprep"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn manifest(out: &Path) -> Vec<Value> {
    fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn report(out: &Path) -> Value {
    serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap()
}

#[test]
fn run_writes_consistent_chunks_features_and_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run(&["run", s(&fixtures()), "-o", s(&out), "--threads", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = manifest(&out);
    assert!(rows.len() >= 20, "only {} chunks", rows.len());
    let mut ids = std::collections::HashSet::new();
    for r in &rows {
        let id = r["id"].as_str().unwrap();
        assert!(ids.insert(id.to_string()), "duplicate id {id}");
        let dur = r["duration"].as_f64().unwrap();
        assert!((2.0..=20.0).contains(&dur), "{id}: duration {dur}");
        let (start, end) = (r["start"].as_f64().unwrap(), r["end"].as_f64().unwrap());
        assert!((end - start - dur).abs() < 1e-9);
        assert_eq!(r["offset"].as_f64(), Some(0.0));
        assert_eq!(r["sample_rate"].as_u64(), Some(8000));
        let role = r["role"].as_str().unwrap();
        let ch = r["channel"].as_u64().unwrap();
        match role {
            "agent" => assert_eq!(ch, 0),
            "customer" => assert_eq!(ch, 1),
            "mixed" => assert!(r["source"].as_str().unwrap().contains("mono01")),
            other => panic!("unexpected role {other}"),
        }
        // Chunk WAV: mono PCM16 at 8 kHz holding exactly the chunk.
        let wav = out.join(r["audio_filepath"].as_str().unwrap());
        let reader = hound::WavReader::open(&wav).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8000, 16)
        );
        let n = reader.len() as usize;
        assert_eq!(n, (dur * 8000.0).round() as usize, "{id}");
        // Features: [80, 1 + n/80] float32, finite, the manifest agrees.
        let npy = fs::read(out.join(r["mel_filepath"].as_str().unwrap())).unwrap();
        let (shape, data) = read_npy(&npy);
        assert_eq!(shape, vec![80, 1 + n / 80], "{id}");
        assert_eq!(data.len(), 80 * (1 + n / 80));
        assert!(data
            .iter()
            .all(|v| v.is_finite() && *v >= -23.1 && *v < 20.0));
        assert_eq!(r["n_frames"].as_u64(), Some((1 + n / 80) as u64));
        assert_eq!(r["n_mels"].as_u64(), Some(80));
        assert_eq!(r["mel_shape"], serde_json::json!([80, 1 + n / 80]));
    }
    // Rows are ordered by source, channel, start.
    let keys: Vec<(String, u64, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_string(),
                r["channel"].as_u64().unwrap(),
                r["start"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(keys, sorted);
    // The μ-law and 16 kHz copies of call02 find the same chunks (±1 frame).
    let starts = |name: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["source"].as_str().unwrap().ends_with(name))
            .map(|r| r["start"].as_f64().unwrap())
            .collect()
    };
    let (a, u, k) = (
        starts("call02.wav"),
        starts("call02_ulaw.wav"),
        starts("call02_16k.wav"),
    );
    assert_eq!(a.len(), u.len());
    assert_eq!(a.len(), k.len());
    for ((x, y), z) in a.iter().zip(&u).zip(&k) {
        assert!(
            (x - y).abs() <= 0.031 && (x - z).abs() <= 0.031,
            "{x} {y} {z}"
        );
    }
    // Report totals agree with the manifest.
    let rep = report(&out);
    assert_eq!(rep["totals"]["chunks"].as_u64(), Some(rows.len() as u64));
    assert_eq!(rep["totals"]["files_ok"].as_u64(), Some(5));
    assert_eq!(rep["totals"]["files_failed"].as_u64(), Some(0));
    let hours: f64 = rows
        .iter()
        .map(|r| r["duration"].as_f64().unwrap())
        .sum::<f64>()
        / 3600.0;
    assert!((rep["totals"]["speech_hours_out"].as_f64().unwrap() - hours).abs() < 1e-9);
    assert_eq!(rep["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        rep["parameters"]["segment"]["chunk"]["max_chunk_s"].as_f64(),
        Some(20.0)
    );
    for f in rep["files"].as_array().unwrap() {
        assert_eq!(f["status"], "ok");
    }
}

#[test]
fn output_bytes_do_not_depend_on_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(
        run(&["run", s(&fixtures()), "-o", s(&a), "--threads", "1", "-q"])
            .status
            .success()
    );
    assert!(
        run(&["run", s(&fixtures()), "-o", s(&b), "--threads", "2", "-q"])
            .status
            .success()
    );
    let (ta, tb) = (tree(&a), tree(&b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(v == &tb[k], "{k} differs between --threads 1 and 2");
    }
    // A re-run over the same folder gives the same bytes again.
    assert!(
        run(&["run", s(&fixtures()), "-o", s(&b), "--threads", "2", "-q"])
            .status
            .success()
    );
    assert_eq!(ta, tree(&b));
}

#[test]
fn both_vad_engines_give_the_same_bytes() {
    // Our Rust port of libfvad (default) against libfvad's C code through the
    // webrtc-vad crate, over every fixture incl. the 16 kHz and μ-law calls.
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(run(&["run", s(&fixtures()), "-o", s(&a), "-q"])
        .status
        .success());
    let o = run(&[
        "run",
        s(&fixtures()),
        "-o",
        s(&b),
        "-q",
        "--vad-engine",
        "libfvad",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (mut ta, mut tb) = (tree(&a), tree(&b));
    let (ra, rb) = (report(&a), report(&b));
    assert_eq!(ra["parameters"]["segment"]["vad"]["engine"], "rust");
    assert_eq!(rb["parameters"]["segment"]["vad"]["engine"], "libfvad");
    assert_eq!(ra["totals"], rb["totals"]);
    assert!(ra["totals"]["chunks"].as_u64().unwrap() > 20);
    ta.remove("report.json");
    tb.remove("report.json");
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(v == &tb[k], "{k} differs between the VAD engines");
    }
}

/// `run` gives the features `segment` + `mel` give from the chunk WAVs, for
/// PCM16 input and for input that is resampled or rounded to PCM16 on the
/// way (the mel always describes exactly the audio of its chunk WAV).
#[test]
fn segment_then_mel_equals_run() {
    let tmp = tempfile::tempdir().unwrap();
    // call01 as 32-bit float: rounded to the same PCM16 (its samples are
    // k / 32768), then a gain of 0.7 so that rounding changes them.
    let float = tmp.path().join("call01_float.wav");
    {
        let mut r = hound::WavReader::open(fixtures().join("call01.wav")).unwrap();
        let spec = hound::WavSpec {
            sample_format: hound::SampleFormat::Float,
            bits_per_sample: 32,
            ..r.spec()
        };
        let mut w = hound::WavWriter::create(&float, spec).unwrap();
        for x in r.samples::<i16>() {
            w.write_sample(f32::from(x.unwrap()) / 32768.0 * 0.7)
                .unwrap();
        }
        w.finalize().unwrap();
    }
    for call in [
        fixtures().join("call01.wav"),
        fixtures().join("call02_16k.wav"),
        float,
    ] {
        let name = call.file_stem().unwrap().to_string_lossy().into_owned();
        let (r, sg, m) = (
            tmp.path().join(format!("r_{name}")),
            tmp.path().join(format!("s_{name}")),
            tmp.path().join(format!("m_{name}")),
        );
        assert!(run(&["run", s(&call), "-o", s(&r), "-q"]).status.success());
        assert!(run(&["segment", s(&call), "-o", s(&sg), "-q"])
            .status
            .success());
        let seg_rows = manifest(&sg);
        assert!(seg_rows.iter().all(|r| r.get("mel_filepath").is_none()));
        assert!(!sg.join("mel").exists());
        let o = run(&["mel", s(&sg.join("manifest.jsonl")), "-o", s(&m), "-q"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (run_rows, mel_rows) = (manifest(&r), manifest(&m));
        assert!(run_rows.len() >= 4, "{name}: {} chunks", run_rows.len());
        assert_eq!(run_rows.len(), mel_rows.len(), "{name}");
        for (a, b) in run_rows.iter().zip(&mel_rows) {
            assert_eq!(a["id"], b["id"]);
            let wa = fs::read(r.join(a["audio_filepath"].as_str().unwrap())).unwrap();
            let wb = fs::read(m.join(b["audio_filepath"].as_str().unwrap())).unwrap();
            assert!(wa == wb, "{name}: chunk WAV {} differs", a["id"]);
            let fa = fs::read(r.join(a["mel_filepath"].as_str().unwrap())).unwrap();
            let fb = fs::read(m.join(b["mel_filepath"].as_str().unwrap())).unwrap();
            assert!(fa == fb, "{name}: features of {} differ", a["id"]);
        }
        if name == "call01" {
            // mel over a folder of chunk WAVs works too, and names rows by file.
            let m2 = tmp.path().join("m2");
            let o = run(&["mel", s(&sg.join("wav")), "-o", s(&m2), "-q"]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(manifest(&m2).len(), seg_rows.len());
        }
    }
}

#[test]
fn no_wav_rows_point_into_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let call = fixtures().join("call02.wav");
    assert!(run(&["run", s(&call), "-o", s(&out), "--no-wav", "-q"])
        .status
        .success());
    assert!(!out.join("wav").exists());
    for r in manifest(&out) {
        assert_eq!(r["offset"], r["start"]);
        let p = out.join(r["audio_filepath"].as_str().unwrap());
        assert_eq!(
            fs::canonicalize(p).unwrap(),
            fs::canonicalize(&call).unwrap()
        );
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let o = run(&[
        "run",
        s(&fixtures()),
        "-o",
        "/tmp/x",
        "--vad-frame-ms",
        "25",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--vad-frame-ms 25"));
    let o = run(&["run", s(&fixtures()), "-o", "/tmp/x", "--fmax", "5000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--fmax"));
    let o = run(&["run", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    let help = run(&["run", "--help"]);
    let h = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--min-chunk",
        "--max-chunk",
        "--vad-mode",
        "--channels",
        "--preset",
        "[default: 2]",
    ] {
        assert!(h.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn a_bad_file_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    fs::copy(fixtures().join("call02.wav"), inp.join("good.wav")).unwrap();
    fs::write(
        inp.join("song.wav"),
        b"ID3\x04\x00\x00\x00\x00\x00\x00garbage",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = run(&["run", s(&inp), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("song.wav") && err.contains("MP3"), "{err}");
    let rep = report(&out);
    let files = rep["files"].as_array().unwrap();
    let bad = files
        .iter()
        .find(|f| f["source"].as_str().unwrap().ends_with("song.wav"))
        .unwrap();
    assert_eq!(bad["status"], "failed");
    assert_eq!(bad["reason"], "not_wav");
    assert!(manifest(&out)
        .iter()
        .all(|r| r["source"].as_str().unwrap().ends_with("good.wav")));
    assert!(!manifest(&out).is_empty());
    assert!(!tree(&out).keys().any(|k| k.contains("song")));
}

#[test]
fn a_locked_or_unwritable_output_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    fs::create_dir_all(out.join(".callprep")).unwrap();
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(out.join(".callprep/lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let o = run(&["run", s(&fixtures().join("mono01.wav")), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another callprep run"));
    drop(lock);
    // Other tests spawn processes in parallel: a child between fork and exec
    // briefly shares our descriptor and with it the lock. Wait until the lock
    // is really free (the OS releases it with the last descriptor).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(out.join(".callprep/lock"))
            .unwrap();
        if f.try_lock().is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "lock never released");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The lock of a dead process does not block: the OS released it.
    let o = run(&[
        "run",
        s(&fixtures().join("mono01.wav")),
        "-o",
        s(&out),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0));
    // An output path below a regular file cannot be created.
    let file = tmp.path().join("plain");
    fs::write(&file, b"x").unwrap();
    let o = run(&[
        "run",
        s(&fixtures().join("mono01.wav")),
        "-o",
        s(&file.join("sub")),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("output folder"));
}

#[test]
fn files_from_stdin_and_quiet_non_terminal_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let list = format!(
        "{}\n\n# comment\n{}\n",
        s(&fixtures().join("call02.wav")),
        s(&fixtures().join("mono01.wav"))
    );
    let mut child = bin()
        .args(["segment", "--files-from", "-", "-o", s(&out)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    // Not a terminal: one summary line, no progress bar.
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("2 input(s): 2 ok"));
    let sources: std::collections::BTreeSet<String> = manifest(&out)
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sources.len(), 2);
}

/// The panic is injected through `CALLPREP_TEST_PANIC`, a hook only a
/// `--features fault-injection` build has (the test command's).
#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs the fault-injection feature: cargo test --features fault-injection"
)]
fn a_panic_in_one_file_is_that_files_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = bin()
        .args(["run", s(&fixtures()), "-o", s(&out), "--threads", "2"])
        .env("CALLPREP_TEST_PANIC", "call01.wav")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("call01.wav") && err.contains("[internal_error]"),
        "{err}"
    );
    let rep = report(&out);
    let failed: Vec<&Value> = rep["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["reason"], "internal_error");
    // The other four inputs are complete; nothing of call01 is final-named.
    assert_eq!(rep["totals"]["files_ok"].as_u64(), Some(4));
    assert!(!tree(&out).keys().any(|k| k.contains("call01")));
}

/// A release build without the test hooks ignores `CALLPREP_TEST_PANIC`:
/// the hook cannot ship. (Checked on the binary this test suite built; with
/// the feature on, the hook's own test above covers it.)
#[test]
#[cfg(not(feature = "fault-injection"))]
fn the_test_panic_hook_is_not_in_a_normal_build() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = bin()
        .args(["run", s(&fixtures()), "-o", s(&out), "-q"])
        .env("CALLPREP_TEST_PANIC", "call01.wav")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn presets_layouts_and_print_config() {
    let tmp = tempfile::tempdir().unwrap();
    let call = fixtures().join("call02.wav");
    for (preset, extra, mels, frames_first, per_frame, rate) in [
        ("kaldi", None, 80, true, 80usize, 8000f64),
        ("whisper", None, 80, false, 160, 16000.0),
        ("whisper-128", None, 128, false, 160, 16000.0),
        ("telephony", Some("frames-first"), 80, true, 80, 8000.0),
    ] {
        let out = tmp.path().join(preset).join(extra.unwrap_or("default"));
        let mut args = vec!["run", s(&call), "-o", s(&out), "-q", "--preset", preset];
        if let Some(l) = extra {
            args.extend(["--layout", l]);
        }
        let o = run(&args);
        assert!(
            o.status.success(),
            "{preset}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        for r in manifest(&out) {
            let (shape, data) =
                read_npy(&fs::read(out.join(r["mel_filepath"].as_str().unwrap())).unwrap());
            let n = (r["duration"].as_f64().unwrap() * rate).round() as usize;
            let frames = match preset {
                "kaldi" => (n + per_frame / 2) / per_frame,
                p if p.starts_with("whisper") => n / per_frame,
                _ => 1 + n / per_frame,
            };
            let want = if frames_first {
                vec![frames, mels]
            } else {
                vec![mels, frames]
            };
            assert_eq!(shape, want, "{preset}");
            assert_eq!(r["mel_shape"], serde_json::json!(want));
            assert_eq!(r["n_frames"].as_u64(), Some(frames as u64));
            assert!(data.iter().all(|v| v.is_finite()));
        }
        // The report records the same resolved parameters --print-config prints.
        let printed = run(&["mel", "--preset", preset, "--print-config"]);
        let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
        let recorded = &report(&out)["parameters"]["mel"];
        if extra.is_none() {
            assert_eq!(&printed, recorded, "{preset}");
        } else {
            assert_eq!(recorded["layout"], "frames-first");
        }
    }
    // An impossible override is refused before any work.
    let o = run(&[
        "mel",
        "--preset",
        "kaldi",
        "--n-mels",
        "200",
        "--print-config",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--n-mels"));
}

#[cfg(unix)]
#[test]
fn hostile_input_names_stay_inside_out() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(inp.join("sub")).unwrap();
    let names: Vec<std::ffi::OsString> = vec![
        "new\nline.wav".into(),
        std::ffi::OsStr::from_bytes(b"bad\xff\xfe.wav").to_owned(),
        "..wav".into(),
        "a b.wav".into(),
        "a_b.wav".into(),
    ];
    for n in &names {
        fs::copy(fixtures().join("mono01.wav"), inp.join(n)).unwrap();
    }
    fs::copy(fixtures().join("mono01.wav"), inp.join("sub/a_b.wav")).unwrap();
    let out = tmp.path().join("out");
    // A symlink planted where an output will go is replaced, not followed.
    let victim = tmp.path().join("victim");
    fs::write(&victim, b"keep").unwrap();
    fs::create_dir_all(out.join("wav")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("wav/a_b-mixed-0000000000.wav")).unwrap();
    let o = run(&["segment", s(&inp), "-o", s(&out), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
    let rows = manifest(&out);
    let ids: std::collections::HashSet<&str> =
        rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rows.len(), "ids collide");
    assert_eq!(report(&out)["totals"]["files_ok"].as_u64(), Some(6));
    for r in &rows {
        let p = r["audio_filepath"].as_str().unwrap();
        assert!(
            !p.contains("..") && !p.contains('\n') && !p.starts_with('/'),
            "{p}"
        );
        assert!(out.join(p).is_file());
    }
    // Everything written lies under OUT.
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 3);
}

/// Whether this process may mount filesystems: CAP_SYS_ADMIN (bit 21) in
/// the effective capabilities of /proc/self/status.
#[cfg(target_os = "linux")]
fn may_mount() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .expect("/proc/self/status has CapEff");
    u64::from_str_radix(caps.trim(), 16).unwrap() & (1 << 21) != 0
}

/// Mounts a 1 MiB tmpfs, which needs CAP_SYS_ADMIN (root in CI). Without
/// it the test says so and checks that the capability is really missing;
/// with it, a failed mount is a failure.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_exits_3_and_leaves_no_partial_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    fs::create_dir_all(&small).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", s(&small)])
        .output();
    let mounted = mount.as_ref().is_ok_and(|o| o.status.success());
    if !mounted {
        assert!(
            !may_mount(),
            "this process may mount, but mounting a tmpfs failed: {mount:?}"
        );
        eprintln!("skipped: no CAP_SYS_ADMIN to mount a tmpfs (run as root to test a full disk)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&small);
    let out = small.join("out");
    let o = run(&["run", s(&fixtures()), "-o", s(&out), "--threads", "2"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("No space left") || err.contains("space"),
        "{err}"
    );
    // Whatever carries a final name is complete.
    assert_no_partial_files(&out);
}

/// Every instruction-set level this CPU runs writes the same bytes, end to
/// end (`CALLPREP_ISA` forces one); an unknown level is a usage error, and
/// a level the CPU lacks is refused the same way.
#[test]
fn every_instruction_set_level_writes_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |isa: &str, out: &Path| {
        bin()
            .args(["run", s(&fixtures()), "-o", s(out), "-q", "--no-wav"])
            .env("CALLPREP_ISA", isa)
            .output()
            .unwrap()
    };
    let base = tmp.path().join("best");
    assert_eq!(run("", &base).status.code(), Some(0));
    let want = tree(&base);
    assert!(want.keys().any(|k| k.ends_with(".npy")));
    for isa in callprep::Isa::ALL {
        let out = tmp.path().join(isa.name());
        let o = run(isa.name(), &out);
        if isa.supported() {
            assert_eq!(o.status.code(), Some(0), "{isa}");
            assert!(
                tree(&out) == want,
                "{isa}: outputs differ from the best level's"
            );
        } else {
            assert_eq!(o.status.code(), Some(2), "{isa}");
            assert!(String::from_utf8_lossy(&o.stderr).contains("this CPU has no"));
        }
    }
    let o = run("sse9", &tmp.path().join("bad"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("CALLPREP_ISA=\"sse9\" is not a level"),
        "{err}"
    );
}
