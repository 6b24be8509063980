//! Malformed and unusual WAV files: the real binary on a corpus generated at
//! test time (in a temporary folder), mixed with two good calls.
//!
//! Every bad file must fail alone — no panic, one `callprep: error: <path>:
//! <message> [<code>]` line, a `failed` report entry with its stable reason
//! code, no outputs — while the good files are complete and the odd-but-valid
//! files (truncated, streaming sizes, odd chunks, float NaN/Inf, A-law,
//! WAVE_FORMAT_EXTENSIBLE) decode.
//!
//! The same generator writes the fuzzer's seed corpus (small variants):
//! `CALLPREP_WRITE_BAD_CORPUS=$PWD/fuzz/corpus/pipeline cargo test --release --features fault-injection --test bad_inputs fuzz_seed_corpus`
//! (without the variable, that test checks the committed seeds are these bytes).
//! Files in `fixtures/bad/` (fuzzer regressions) are run too.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod cases;
mod wavs;

use cases::*;
use wavs::*;

/// A run that takes longer than this is a hang.
const TIMEOUT: Duration = Duration::from_secs(60);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------
// Running the binary with a timeout guard.

/// What one run of the binary did.
struct RunOut {
    /// Exit code (`None`: killed by a signal).
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    /// Peak resident set of the child, KiB (Linux, 64-bit only).
    max_rss_kb: Option<u64>,
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sys {
    use std::os::raw::{c_int, c_long};

    /// `struct rusage`: two `timeval`s then 14 `long`s; `ru_maxrss` is
    /// `fields[4]` (KiB).
    #[repr(C)]
    pub struct Rusage {
        pub fields: [c_long; 18],
    }

    extern "C" {
        pub fn wait4(pid: c_int, status: *mut c_int, options: c_int, rusage: *mut Rusage) -> c_int;
    }

    pub const WNOHANG: c_int = 1;

    /// Non-blocking reap of `pid`: `Some((exit code or None if signalled, maxrss KiB))`.
    pub fn try_reap(pid: u32) -> Option<(Option<i32>, u64)> {
        let mut status: c_int = 0;
        let mut ru = Rusage { fields: [0; 18] };
        // SAFETY: plain syscall wrapper; both pointers are valid for writes.
        let r = unsafe { wait4(pid as c_int, &mut status, WNOHANG, &mut ru) };
        if r == 0 {
            return None;
        }
        assert_eq!(r, pid as c_int, "wait4 failed");
        let code = if status & 0x7f == 0 {
            Some((status >> 8) & 0xff)
        } else {
            None
        };
        Some((code, ru.fields[4] as u64))
    }
}

/// Runs the binary with `args`; kills it and fails the test after [`TIMEOUT`].
// The child is reaped by `wait4` (or `try_wait`) in the loop, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run_guarded(args: &[&str], scratch: &Path) -> RunOut {
    fs::create_dir_all(scratch).unwrap();
    let err_path = scratch.join(format!("stderr-{}.txt", std::process::id()));
    let err_file = fs::File::create(&err_path).unwrap();
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_callprep"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .expect("binary starts");
    let (code, max_rss_kb) = loop {
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        if let Some((code, rss)) = sys::try_reap(child.id()) {
            break (code, Some(rss));
        }
        #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
        if let Some(st) = child.try_wait().unwrap() {
            break (st.code(), None);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let err = fs::read_to_string(&err_path).unwrap_or_default();
            panic!(
                "HANG: callprep {args:?} still running after {TIMEOUT:?}; killed. stderr:\n{err}"
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let stderr = fs::read_to_string(&err_path).unwrap();
    fs::remove_file(&err_path).unwrap();
    RunOut {
        code,
        stderr,
        elapsed,
        max_rss_kb,
    }
}

// ---------------------------------------------------------------------------
// Reading the outputs.

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

/// Whether manifest row `r` of OUT `out` comes from the input `source` (a
/// row's `source` is relative to the manifest's folder).
fn from_source(out: &Path, r: &Value, source: &str) -> bool {
    let row_src = out.join(r["source"].as_str().unwrap_or_default());
    match (fs::canonicalize(row_src), fs::canonicalize(source)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The report entry whose `source` is `source`.
fn entry<'a>(rep: &'a Value, source: &str) -> Option<&'a Value> {
    rep["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"].as_str() == Some(source))
}

/// File names directly under `dir` (empty if it does not exist).
fn names(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Parses a little-endian `<f4` .npy: (shape, data).
fn read_npy(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not an .npy file");
    let (hl, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hl]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect();
    let data = bytes[start + hl..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (shape, data)
}

/// Asserts that every `.npy` under `OUT/mel` is finite and the size its shape says.
fn assert_all_npy_finite(out: &Path, problems: &mut Vec<String>) {
    for name in names(&out.join("mel")) {
        let (shape, data) = read_npy(&fs::read(out.join("mel").join(&name)).unwrap());
        if shape.iter().product::<usize>() != data.len() {
            problems.push(format!(
                "mel/{name}: shape {shape:?} but {} values",
                data.len()
            ));
        }
        let bad = data.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            problems.push(format!("mel/{name}: {bad} NaN/Inf values"));
        }
    }
}

// ---------------------------------------------------------------------------
// Tests.

/// The two good calls every batch carries.
const GOOD: [&str; 2] = ["call02.wav", "mono01.wav"];

fn copy_good(inp: &Path) {
    for g in GOOD {
        fs::copy(fixtures().join("calls").join(g), inp.join(g)).unwrap();
    }
}

/// Checks that both good inputs are complete: rows, chunk WAVs, features.
fn check_good(inp: &Path, out: &Path, rows: &[Value], rep: &Value, problems: &mut Vec<String>) {
    for g in GOOD {
        let src = inp.join(g).display().to_string();
        match entry(rep, &src) {
            Some(e) if e["status"] == "ok" => {}
            other => problems.push(format!("good input {g}: report entry {other:?}")),
        }
        let mine: Vec<&Value> = rows.iter().filter(|r| from_source(out, r, &src)).collect();
        if mine.is_empty() {
            problems.push(format!("good input {g}: no manifest rows"));
        }
        for r in mine {
            for key in ["audio_filepath", "mel_filepath"] {
                let p = out.join(r[key].as_str().unwrap_or("<missing>"));
                if !p.is_file() {
                    problems.push(format!("good input {g}: {key} {} missing", p.display()));
                }
            }
        }
    }
}

/// Checks one case's outcome; pushes every mismatch to `problems`.
#[allow(clippy::too_many_arguments)]
fn check_case(
    stem: &str,
    expect: Expect,
    source: &str,
    out: &Path,
    rows: &[Value],
    rep: &Value,
    stderr: &str,
    problems: &mut Vec<String>,
) {
    let mut bad = |m: String| problems.push(format!("{stem}: {m}"));
    let Some(e) = entry(rep, source) else {
        bad("no report entry".into());
        return;
    };
    let mine: Vec<&Value> = rows
        .iter()
        .filter(|r| from_source(out, r, source))
        .collect();
    let naming: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(&format!("{source}:")))
        .collect();
    match expect {
        Expect::Fail(code) => {
            if e["status"] != "failed" || e["reason"] != code {
                bad(format!(
                    "want failed [{code}], report says status {} reason {} ({})",
                    e["status"], e["reason"], e["error"]
                ));
            }
            let prefix = format!("callprep: error: {source}: ");
            let suffix = format!(" [{code}]");
            if naming.len() != 1 || !naming[0].starts_with(&prefix) || !naming[0].ends_with(&suffix)
            {
                bad(format!(
                    "want one stderr line `{prefix}… {suffix}`, got {naming:?}"
                ));
            }
            if !mine.is_empty() {
                bad(format!("{} manifest rows for a failed input", mine.len()));
            }
            for sub in ["wav", "mel"] {
                for n in names(&out.join(sub)) {
                    if n.contains(stem) {
                        bad(format!("output {sub}/{n} left by a failed input"));
                    }
                }
            }
        }
        Expect::Ok {
            truncated,
            speech,
            format,
        } => {
            if e["status"] != "ok" {
                bad(format!(
                    "want ok, report says {} [{}]: {}",
                    e["status"], e["reason"], e["error"]
                ));
                return;
            }
            if e["truncated"] != truncated {
                bad(format!(
                    "report truncated = {}, want {truncated}",
                    e["truncated"]
                ));
            }
            if let Some(f) = format {
                if e["format"] != f {
                    bad(format!("report format {}, want {f}", e["format"]));
                }
            }
            if naming.iter().any(|l| l.starts_with("callprep: error:")) {
                bad(format!("error line for an ok input: {naming:?}"));
            }
            if truncated
                && !naming
                    .iter()
                    .any(|l| l.contains("warning") && l.contains("truncated"))
            {
                bad(format!("no truncation warning on stderr: {naming:?}"));
            }
            let chunks = e["chunks"].as_u64().unwrap_or(u64::MAX);
            if chunks != mine.len() as u64 {
                bad(format!(
                    "report chunks {chunks} but {} manifest rows",
                    mine.len()
                ));
            }
            if speech {
                if mine.is_empty() {
                    bad(format!("no chunks (report: {e})"));
                }
                if !e["reason"].is_null() {
                    bad(format!("ok with chunks but reason {}", e["reason"]));
                }
            } else {
                if !mine.is_empty() {
                    bad(format!("{} chunks, want none", mine.len()));
                }
                if e["reason"] != "no_speech" {
                    bad(format!("reason {}, want \"no_speech\"", e["reason"]));
                }
            }
            for r in &mine {
                let t = r.get("truncated").and_then(Value::as_bool).unwrap_or(false);
                if t != truncated {
                    bad(format!("row {} truncated = {t}, want {truncated}", r["id"]));
                }
                for key in ["audio_filepath", "mel_filepath"] {
                    if !out.join(r[key].as_str().unwrap_or("<missing>")).is_file() {
                        bad(format!("row {}: {key} missing", r["id"]));
                    }
                }
            }
        }
    }
}

#[test]
fn malformed_files_fail_alone_and_unusual_ones_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    let out = tmp.path().join("out");
    fs::create_dir_all(&inp).unwrap();
    copy_good(&inp);
    let cases = cases(8.0);
    for c in &cases {
        assert!(silence_len_ok(c), "silence case is not 5 s");
        fs::write(inp.join(format!("{}.wav", c.stem)), &c.bytes).unwrap();
    }
    // Stems are distinct and none contains another (outputs are matched by stem).
    for a in &cases {
        for b in &cases {
            assert!(
                a.stem == b.stem || !b.stem.contains(a.stem),
                "{} / {}",
                a.stem,
                b.stem
            );
        }
    }
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    let mut problems = Vec::new();
    if r.stderr.contains("panicked") || r.stderr.contains("internal_error") {
        problems.push(format!("the binary panicked:\n{}", r.stderr));
    }
    if r.code != Some(1) {
        problems.push(format!(
            "exit code {:?}, want 1 (some inputs failed)",
            r.code
        ));
    }
    let rows = manifest(&out);
    let rep = report(&out);
    check_good(&inp, &out, &rows, &rep, &mut problems);
    for c in &cases {
        let source = inp.join(format!("{}.wav", c.stem)).display().to_string();
        check_case(
            c.stem,
            c.expect,
            &source,
            &out,
            &rows,
            &rep,
            &r.stderr,
            &mut problems,
        );
    }
    assert_all_npy_finite(&out, &mut problems);
    let n_fail = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Fail(_)))
        .count();
    if rep["totals"]["files_failed"].as_u64() != Some(n_fail as u64) {
        problems.push(format!(
            "totals.files_failed {}, want {n_fail}",
            rep["totals"]["files_failed"]
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}\n--- stderr ---\n{}",
        problems.len(),
        problems.join("\n"),
        r.stderr
    );
}

#[test]
fn a_truncated_file_is_ok_unless_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    fs::copy(fixtures().join("calls/mono01.wav"), inp.join("mono01.wav")).unwrap();
    let trunc = cases(8.0)
        .into_iter()
        .find(|c| c.stem == "ok_truncated")
        .unwrap();
    let path = inp.join("ok_truncated.wav");
    fs::write(&path, &trunc.bytes).unwrap();
    let src = path.display().to_string();

    let out = tmp.path().join("out");
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(
        r.code,
        Some(0),
        "truncation alone must not fail the run:\n{}",
        r.stderr
    );
    let rep = report(&out);
    let e = entry(&rep, &src).unwrap();
    assert_eq!(e["status"], "ok");
    assert_eq!(e["truncated"], true);
    // Decoded as far as it goes: the 8 s present.
    let dur = e["duration_s"].as_f64().unwrap();
    assert!((dur - 8.0).abs() < 1e-3, "duration {dur}");
    assert_eq!(rep["totals"]["files_truncated"], 1);
    let rows: Vec<Value> = manifest(&out)
        .into_iter()
        .filter(|r| from_source(&out, r, &src))
        .collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["truncated"] == true), "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r["end"].as_f64().unwrap() <= 8.0 + 1e-9));

    // --strict: an error with reason "truncated", no outputs; the good file is done.
    let out2 = tmp.path().join("strict");
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out2), "--threads", "2", "--strict"],
        tmp.path(),
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let rep = report(&out2);
    let e = entry(&rep, &src).unwrap();
    assert_eq!(e["status"], "failed");
    assert_eq!(e["reason"], "truncated");
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("{src}:")))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("callprep: error: {src}: "))
            && lines[0].ends_with(" [truncated]"),
        "{lines:?}"
    );
    for sub in ["wav", "mel"] {
        assert!(!names(&out2.join(sub))
            .iter()
            .any(|n| n.contains("ok_truncated")));
    }
    assert!(manifest(&out2)
        .iter()
        .any(|r| r["source"].as_str().unwrap().ends_with("mono01.wav")));
}

#[test]
fn a_tiny_file_declaring_4_gib_is_quick_and_small() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = cases(8.0)
        .into_iter()
        .find(|c| c.stem == "ok_huge_decl")
        .unwrap();
    assert!(huge.bytes.len() <= 100, "{} bytes", huge.bytes.len());
    let path = tmp.path().join("huge.wav");
    fs::write(&path, &huge.bytes).unwrap();
    let out = tmp.path().join("out");
    let r = run_guarded(
        &["run", s(&path), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = report(&out);
    let e = entry(&rep, s(&path)).unwrap();
    assert_eq!(e["status"], "ok");
    assert_eq!(e["truncated"], true);
    assert_eq!(e["reason"], "no_speech");
    eprintln!(
        "4 GiB declared: {:?}, peak RSS {:?} KiB",
        r.elapsed, r.max_rss_kb
    );
    assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
    // A 4 GiB buffer (or even a 4 GiB / block_align sample vector) would show here.
    if let Some(kb) = r.max_rss_kb {
        assert!(kb < 200 * 1024, "peak RSS {kb} KiB");
    }
}

#[test]
fn a_fifo_in_the_input_folder_is_skipped_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    fs::copy(fixtures().join("calls/mono01.wav"), inp.join("mono01.wav")).unwrap();
    let fifo = inp.join("x.wav");
    let st = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(st.success());
    let out = tmp.path().join("out");
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let src = fifo.display().to_string();
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("{src}:")))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].starts_with(&format!("callprep: error: {src}: "))
            && lines[0].ends_with(" [not_regular_file]"),
        "{lines:?}"
    );
    let rep = report(&out);
    let e = entry(&rep, &src).expect("the FIFO has a report entry");
    assert_eq!(e["status"], "failed");
    assert_eq!(e["reason"], "not_regular_file");
    // A skipped input counts as failed, so the run exits 1; the good file is complete.
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(!manifest(&out).is_empty());
    assert!(!names(&out.join("wav")).iter().any(|n| n.starts_with("x-")));
}

/// Fuzzer regressions kept as files: each must not panic or hang, and must
/// either fail with a reason code or decode with finite features.
#[test]
fn fixtures_bad_files_do_not_panic() {
    let dir = fixtures().join("bad");
    let files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the fuzzer's regressions are committed)",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    assert!(
        !files.is_empty(),
        "{} holds no .wav: nothing tested",
        dir.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    for f in &files {
        fs::copy(f, inp.join(f.file_name().unwrap())).unwrap();
    }
    let out = tmp.path().join("out");
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    let mut problems = Vec::new();
    if r.stderr.contains("panicked") || r.stderr.contains("internal_error") {
        problems.push("the binary panicked (see stderr)".to_string());
    }
    if !matches!(r.code, Some(0) | Some(1)) {
        problems.push(format!("exit code {:?}", r.code));
    }
    let rep = report(&out);
    for f in rep["files"].as_array().unwrap() {
        match f["reason"].as_str() {
            _ if f["status"] == "ok" => {}
            // Regression: fuzz_resample_overflow.wav (float32, 8016 Hz, samples
            // near ±f32::MAX) used to panic inside rubato's FFT (internal_error).
            Some("internal_error") => problems.push(format!("{}: {}", f["source"], f["error"])),
            Some(r) if !r.is_empty() => {}
            _ => problems.push(format!("{}: failed without a reason code", f["source"])),
        }
    }
    assert_all_npy_finite(&out, &mut problems);
    assert!(problems.is_empty(), "{problems:?}\n{}", r.stderr);
}

/// Decodes channel 0 of a WAV image with the library's decoder.
fn decode_mono(bytes: &[u8]) -> (Vec<f32>, u32) {
    use callprep::stages::decode::{decode_channel, read_header};
    let info = read_header(&mut std::io::Cursor::new(bytes), bytes.len() as u64).unwrap();
    let start = info.data_offset as usize;
    let mut out = Vec::new();
    decode_channel(
        &info,
        &bytes[start..start + info.data_len as usize],
        0,
        &mut out,
    );
    (out, info.sample_rate_hz)
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Regression: fuzzer crashes, minimised (fixed by clipping float samples to
// full scale at decode). Both are float32 mono at 8016 Hz whose samples were
// finite but huge, and resampling to 8 kHz overflowed inside rubato's FFT:
// - `panic`: samples [0, 0, 0, 0, 3.39e38] → rubato panics
//   ("Imaginary part of first value was non-zero", synchro.rs:185) — the CLI
//   turns it into `internal_error` (fixtures/bad/fuzz_resample_overflow.wav);
// - `nan`: one sample −2.34e38 → no panic, but the output holds NaN/Inf (one
//   such sample makes ~256 output samples non-finite; a few per second make
//   most of the channel non-finite, and its speech is lost).
#[test]
fn huge_float_samples_survive_resampling() {
    use callprep::stages::resample::resample_all;
    let cases = [
        (
            "panic",
            "52494646a402000057415645666d74201000000003000100501f0000007d00000400200064617461800200000000000000000000000000000000000000007f7f",
        ),
        (
            "nan",
            "52494646a402000057415645666d74201000000003000100501f0000007d0000040020006461746180020000000030ff",
        ),
    ];
    let mut problems = Vec::new();
    for (name, hex) in cases {
        let (samples, rate) = decode_mono(&unhex(hex));
        assert!(samples.iter().all(|x| x.is_finite()), "{name}: decode");
        let res = std::panic::catch_unwind(|| resample_all(&samples, rate, 8000));
        match res {
            Err(_) => problems.push(format!(
                "{name}: resample_all({samples:?}, {rate}, 8000) panicked"
            )),
            Ok(Err(e)) => problems.push(format!("{name}: resample error {e}")),
            Ok(Ok(out)) => {
                let bad = out.iter().filter(|v| !v.is_finite()).count();
                if bad > 0 {
                    problems.push(format!(
                        "{name}: {bad} of {} resampled samples are NaN/Inf (input {samples:?})",
                        out.len()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

// Regression (found by the fuzzer; fixed with integer arithmetic):
// `StreamResampler::finish` computed the output length as
// `(n_in as f64 * (to / from)).ceil()`; for some rates the f64 product
// landed just above an integer, so one extra sample came out:
// 1 s at 3348 Hz (3348 samples) → 8001 samples at 8 kHz instead of 8000;
// 1810 samples at 57920 Hz → 251 instead of 250. (Common rates — 11025,
// 16000, 22050, 32000, 44100, 48000 — are not affected.)
#[test]
fn resampled_length_is_exact_for_odd_rates() {
    use callprep::stages::resample::resample_all;
    for (n, from) in [
        (3348usize, 3348u32),
        (837, 3348),
        (1810, 57920),
        (4291, 4904),
    ] {
        let want = (n as u64 * 8000).div_ceil(u64::from(from)) as usize;
        let got = resample_all(&vec![0.0; n], from, 8000).unwrap().len();
        assert_eq!(got, want, "{n} samples at {from} Hz → 8000 Hz");
    }
}

#[test]
fn alaw_encoder_round_trips_through_the_decoder() {
    use callprep::stages::decode::alaw_to_i16;
    for b in 0..=255u8 {
        assert_eq!(linear_to_alaw(alaw_to_i16(b)), b, "code {b:#04x}");
    }
    for x in (i16::MIN..=i16::MAX).step_by(7) {
        let y = alaw_to_i16(linear_to_alaw(x));
        // Quantisation error is at most half a step of the segment (≤ 512).
        assert!((i32::from(x) - i32::from(y)).abs() <= 1024, "{x} -> {y}");
    }
}

/// The fuzzer's seed corpus: small variants of every case (plus a 0.5 s
/// truncated excerpt of call02), as (file name, bytes).
fn seed_corpus() -> Vec<(String, Vec<u8>)> {
    // 0.02 s of audio: enough to reach every decoder branch.
    let mut files: Vec<(String, Vec<u8>)> = cases(0.02)
        .into_iter()
        .map(|c| (format!("{}.wav", c.stem), c.bytes))
        .collect();
    // 0.5 s of call02 (speech on the agent channel), mono PCM16, cut short:
    // the header declares 1 s.
    let frames = call02_frames(1.25);
    let excerpt: Vec<i16> = frames[6000..10000].iter().map(|f| f[0]).collect();
    let pcm = pcm16_bytes(&excerpt);
    let b = riff(
        None,
        &[
            chunk(b"fmt ", &fmt_body(1, 1, 8000, 16)),
            chunk_declared(b"data", 2 * pcm.len() as u32, &pcm, false),
        ],
    );
    files.push(("call02_excerpt_truncated.wav".into(), b));
    files
}

/// The committed seed corpus (`fuzz/corpus/pipeline`) is what the case
/// generator writes, file for file and byte for byte, and stays small: a
/// new or changed case must reach the fuzzer. With
/// `CALLPREP_WRITE_BAD_CORPUS=DIR` the generator writes the corpus to DIR
/// instead (then this test checks DIR).
#[test]
fn fuzz_seed_corpus_is_what_the_generator_writes() {
    let files = seed_corpus();
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    let sizes: BTreeMap<&str, usize> = files.iter().map(|(n, b)| (n.as_str(), b.len())).collect();
    assert!(
        total <= 30 * 1024,
        "seed corpus is {total} bytes: {sizes:?}"
    );
    let dir = match std::env::var_os("CALLPREP_WRITE_BAD_CORPUS") {
        Some(d) => {
            let d = PathBuf::from(d);
            fs::create_dir_all(&d).unwrap();
            for (name, bytes) in &files {
                fs::write(d.join(name), bytes).unwrap();
            }
            d
        }
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/pipeline"),
    };
    let regenerate = "regenerate: CALLPREP_WRITE_BAD_CORPUS=$PWD/fuzz/corpus/pipeline \
         cargo test --release --features fault-injection --test bad_inputs fuzz_seed_corpus";
    for (name, bytes) in &files {
        let committed = fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: not in {} ({e}); {regenerate}", dir.display()));
        assert!(
            &committed == bytes,
            "{name} differs from the generator's; {regenerate}"
        );
    }
    let wavs = names(&dir)
        .into_iter()
        .filter(|n| n.ends_with(".wav"))
        .count();
    assert_eq!(
        wavs,
        files.len(),
        "files in {} that the generator does not write",
        dir.display()
    );
}

/// RF64 (EBU Tech 3306) keeps the data size in its `ds64` chunk. A chunk
/// after the audio (here: a LIST chunk padded with loud noise, as long as
/// the audio) must not be decoded as audio: the report's duration is the
/// audio's, and no chunk reaches past it.
#[test]
fn rf64_data_size_comes_from_ds64() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    let mono = speech_mono(6.0);
    let audio = pcm16_bytes(&mono);
    let mut v = b"RF64\xff\xff\xff\xffWAVE".to_vec();
    let mut ds64 = Vec::new();
    ds64.extend_from_slice(&0u64.to_le_bytes());
    ds64.extend_from_slice(&(audio.len() as u64).to_le_bytes());
    ds64.extend_from_slice(&(mono.len() as u64).to_le_bytes());
    ds64.extend_from_slice(&le32(0));
    v.extend_from_slice(&chunk(b"ds64", &ds64));
    v.extend_from_slice(&chunk(b"fmt ", &fmt_body(1, 1, 8000, 16)));
    v.extend_from_slice(&chunk_declared(b"data", u32::MAX, &audio, false));
    v.extend_from_slice(&chunk(b"LIST", &noise_bytes(audio.len(), 0xD5)));
    fs::write(inp.join("rf64.wav"), &v).unwrap();
    let out = dir.path().join("out");
    let r = run_guarded(&["run", s(&inp), "-o", s(&out), "-q"], dir.path());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = report(&out);
    let e = &rep["files"][0];
    assert_eq!(e["status"], "ok", "{e}");
    let want = mono.len() as f64 / 8000.0;
    assert_eq!(e["duration_s"].as_f64().unwrap(), want, "{e}");
    assert!(e["truncated"] == false, "{e}");
    for row in manifest(&out) {
        assert!(row["end"].as_f64().unwrap() <= want, "{row}");
    }
}
