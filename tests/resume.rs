//! A run killed midway (SIGKILL) leaves no final-named partial file, and
//! `--resume` ends with exactly the bytes one clean run produces.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_no_partial_files, tree};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callprep"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A folder of `n` recordings (copies of the fixtures under distinct names).
fn corpus(root: &Path, n: usize) -> PathBuf {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls");
    let dir = root.join("in");
    fs::create_dir_all(&dir).unwrap();
    let srcs = ["call01.wav", "call02.wav", "call02_ulaw.wav", "mono01.wav"];
    for i in 0..n {
        let src = srcs[i % srcs.len()];
        fs::copy(fx.join(src), dir.join(format!("c{i:03}_{src}"))).unwrap();
    }
    dir
}

#[test]
fn killed_run_resumes_to_the_bytes_of_a_clean_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), 48);
    let clean = tmp.path().join("clean");
    let o = bin()
        .args(["run", s(&input), "-o", s(&clean), "-q", "--threads", "2"])
        .output()
        .unwrap();
    assert!(o.status.success());

    let out = tmp.path().join("out");
    let done = out.join(".callprep/done");
    let mut killed_midway = false;
    for attempt in 0..5 {
        let _ = fs::remove_dir_all(&out);
        let mut child = bin()
            .args(["run", s(&input), "-o", s(&out), "-q", "--threads", "1"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill once a few inputs are complete (later on each attempt).
        let want = 3 + 4 * attempt;
        let t0 = Instant::now();
        loop {
            let n = fs::read_dir(&done).map(|d| d.count()).unwrap_or(0);
            if n >= want || t0.elapsed() > Duration::from_secs(60) {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if !status.success() && !out.join("manifest.jsonl").exists() {
            killed_midway = true;
            break;
        }
    }
    assert!(killed_midway, "could not kill the run before it finished");
    assert_no_partial_files(&out);

    let o = bin()
        .args([
            "run",
            s(&input),
            "-o",
            s(&out),
            "-q",
            "--threads",
            "2",
            "--resume",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (tree(&clean), tree(&out));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(v == &b[k], "{k} differs from the clean run");
    }
    // No temporary files anywhere, state included.
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            assert!(!p.to_string_lossy().contains(".tmp-"), "{}", p.display());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
}

#[test]
fn resume_redoes_inputs_whose_outputs_were_damaged() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), 4);
    let out = tmp.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", s(&input), "-o", s(&out), "--threads", "2"];
        args.extend_from_slice(extra);
        bin().args(&args).output().unwrap()
    };
    assert!(run(&["-q"]).status.success());
    let before = tree(&out);
    // Damage one output, delete another, and leave a stray temp file.
    let wav = before.keys().find(|k| k.ends_with(".wav")).unwrap().clone();
    let npy = before.keys().find(|k| k.ends_with(".npy")).unwrap().clone();
    fs::write(out.join(&wav), b"RIFF").unwrap();
    fs::remove_file(out.join(&npy)).unwrap();
    fs::write(out.join("mel/.x.npy.tmp-1-1"), b"junk").unwrap();
    let o = run(&["--resume"]);
    assert!(o.status.success());
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(summary.contains("reused by --resume"), "{summary}");
    assert_eq!(tree(&out), before);
    // Changed parameters invalidate every record.
    let o = run(&["--resume", "--pad-ms", "100"]);
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("reused"));
}

/// One kind of damage done to a clean OUT before `--resume`.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// A chunk's `.npy` cut short (it still exists).
    TruncatedNpy,
    /// A chunk WAV cut short (header intact, samples missing).
    TruncatedWav,
    /// A chunk WAV deleted.
    MissingFile,
    /// `manifest.jsonl` edited (a row removed, junk appended).
    ChangedManifest,
}

/// The input whose outputs a damage hits (file names start with its id).
const VICTIM: &str = "c001_call02-";

/// Damages a clean OUT, resumes, and requires the clean run's bytes again,
/// with every input but the damaged one reused untouched.
fn resume_repairs(damage: Damage) {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), 4);
    let out = tmp.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", s(&input), "-o", s(&out), "--threads", "2"];
        args.extend_from_slice(extra);
        bin().args(&args).output().unwrap()
    };
    assert!(run(&["-q"]).status.success());
    let clean = tree(&out);
    let ids = inodes(&out);
    let victim = |ext: &str| {
        let rel = clean
            .keys()
            .find(|k| k.ends_with(ext) && file_name(k).starts_with(VICTIM))
            .unwrap_or_else(|| panic!("no {ext} of {VICTIM}"));
        out.join(rel)
    };
    let truncate = |path: PathBuf| {
        let len = fs::metadata(&path).unwrap().len();
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 4).unwrap();
    };
    match damage {
        Damage::TruncatedNpy => truncate(victim(".npy")),
        Damage::TruncatedWav => truncate(victim(".wav")),
        Damage::MissingFile => fs::remove_file(victim(".wav")).unwrap(),
        Damage::ChangedManifest => {
            let m = out.join("manifest.jsonl");
            let text = fs::read_to_string(&m).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines.remove(1);
            fs::write(&m, lines.join("\n") + "\n{\"junk\":1}\n").unwrap();
        }
    }
    assert_ne!(tree(&out), clean, "{damage:?} did not damage anything");

    let o = run(&["--resume"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{damage:?}: {stderr}");
    let (a, b) = (clean, tree(&out));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{damage:?}"
    );
    for (k, v) in &a {
        assert!(v == &b[k], "{damage:?}: {k} differs from the clean run");
    }
    assert_no_partial_files(&out);
    // Only the damaged input was redone: the others were reused, their
    // files left in place (same inode: not rewritten and renamed).
    let reused = match damage {
        Damage::ChangedManifest => 4,
        _ => 3,
    };
    let want = format!("4 ok, 0 failed ({reused} reused by --resume)");
    assert!(
        stderr.contains(&want),
        "{damage:?}: want {want:?} in {stderr}"
    );
    // (Only this direction: a redone file may get a freed inode back.)
    let after = inodes(&out);
    for (k, ino) in &ids {
        let redone = reused == 3 && file_name(k).starts_with(VICTIM);
        if !redone && (k.starts_with("wav/") || k.starts_with("mel/")) {
            assert_eq!(after[k], *ino, "{damage:?}: {k} was rewritten");
        }
    }
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap()
}

/// Relative path → inode of every output file (state excluded).
fn inodes(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    use std::os::unix::fs::MetadataExt;
    tree(dir)
        .into_keys()
        .map(|k| {
            let ino = fs::metadata(dir.join(&k)).unwrap().ino();
            (k, ino)
        })
        .collect()
}

#[test]
fn resume_redoes_an_input_whose_npy_was_truncated() {
    resume_repairs(Damage::TruncatedNpy);
}

#[test]
fn resume_redoes_an_input_whose_chunk_wav_was_truncated() {
    resume_repairs(Damage::TruncatedWav);
}

#[test]
fn resume_redoes_an_input_whose_chunk_wav_is_missing() {
    resume_repairs(Damage::MissingFile);
}

#[test]
fn resume_rebuilds_a_changed_manifest_from_the_records() {
    resume_repairs(Damage::ChangedManifest);
}
