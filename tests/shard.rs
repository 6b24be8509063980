//! `--shard K/N` and `callprep merge` (issue 21): every split covers each
//! input once, a shard's `--resume` rerun is a no-op, merged shards are the
//! bytes of a one-machine run, and merge refuses what is not one finished job.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use callprep::shard::Shard;

mod common;
use common::dtmf::{call_with_tones, write_pcm16};
use common::tree;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_callprep"));
    c.env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID");
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls")
}

/// The fixture calls' ids, as `discover` names them.
const IDS: [&str; 5] = ["call01", "call02", "call02_16k", "call02_ulaw", "mono01"];

fn run(args: &[&str]) -> Output {
    let o = bin().args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn refused(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{args:?} should be refused");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn manifest_ids(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// `cmd` on the fixtures once, and as shards k/n into root/shard-k.
fn single_and_shards(root: &Path, cmd: &[&str], input: &Path, n: u32) -> PathBuf {
    let single = root.join("single");
    let mut a = cmd.to_vec();
    a.extend([s(input), "-o", s(&single), "-q"]);
    run(&a);
    for k in 0..n {
        let dir = root.join(format!("shard-{k}"));
        let spec = format!("{k}/{n}");
        let mut a = cmd.to_vec();
        a.extend([s(input), "-o", s(&dir), "-q", "--shard", &spec]);
        run(&a);
    }
    single
}

#[test]
fn merged_shards_are_the_bytes_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let single = single_and_shards(tmp.path(), &["run"], &fixtures(), 3);
    let all = manifest_ids(&single);
    assert_eq!(all.len(), 27, "the fixtures' chunk count");
    // The shards split the inputs: each chunk is in exactly one shard, and
    // no shard has them all.
    let mut seen: Vec<String> = Vec::new();
    for k in 0..3 {
        let dir = tmp.path().join(format!("shard-{k}"));
        let ids = manifest_ids(&dir);
        assert!(ids.len() < all.len(), "shard {k} has every chunk");
        seen.extend(ids);
        let r = report(&dir);
        assert_eq!(
            r["shard"],
            serde_json::json!({"k": k, "n": 3, "inputs_total": 5})
        );
        assert_eq!(r["parameters"], report(&single)["parameters"]);
    }
    seen.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(seen, want);

    let merged = tmp.path().join("merged");
    run(&[
        "merge",
        s(&tmp.path().join("shard-")),
        "-o",
        s(&merged),
        "-q",
    ]);
    // Every file (manifest rows in order, report with its totals, chunk
    // WAVs, .npy) has the one-machine bytes.
    let (a, b) = (tree(&single), tree(&merged));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (rel, bytes) in &a {
        assert!(b[rel] == *bytes, "{rel} differs");
    }
    assert_eq!(manifest_ids(&merged), all);
    assert_eq!(report(&merged)["totals"]["chunks"], 27);
    assert!(report(&merged).get("shard").is_none());
}

/// The privacy gate's drops go with their inputs: merged shards have the
/// one-machine `quarantine.jsonl` (rows in input order, source paths
/// against OUT).
#[test]
fn merged_shards_carry_the_quarantine_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("calls");
    fs::create_dir(&input).unwrap();
    for id in IDS {
        fs::copy(
            fixtures().join(format!("{id}.wav")),
            input.join(format!("{id}.wav")),
        )
        .unwrap();
    }
    let (left, right, _) = call_with_tones();
    write_pcm16(&input.join("call01_keys.wav"), &left, &right);
    let root = tmp.path().join("out");
    let single = single_and_shards(&root, &["segment"], &input, 2);
    let quarantined = fs::read_to_string(single.join("quarantine.jsonl")).unwrap();
    assert!(
        quarantined.lines().count() >= 2,
        "the typed call loses chunks: {quarantined}"
    );
    let merged = root.join("merged");
    run(&["merge", s(&root.join("shard-")), "-o", s(&merged), "-q"]);
    let (a, b) = (tree(&single), tree(&merged));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (rel, bytes) in &a {
        assert!(b[rel] == *bytes, "{rel} differs");
    }

    // A shard whose quarantine list lost a row is refused.
    let shard = (0..2)
        .map(|k| root.join(format!("shard-{k}")))
        .find(|d| {
            !fs::read_to_string(d.join("quarantine.jsonl"))
                .unwrap()
                .is_empty()
        })
        .unwrap();
    fs::write(shard.join("quarantine.jsonl"), "").unwrap();
    let err = refused(&[
        "merge",
        s(&root.join("shard-")),
        "-o",
        s(&root.join("m2")),
        "-q",
    ]);
    assert!(err.contains("quarantine.jsonl has 0 row(s)"), "{err}");
}

#[test]
fn merged_mel_shards_keep_each_call_together_and_match_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let seg = tmp.path().join("seg");
    run(&["segment", s(&fixtures()), "-o", s(&seg), "-q"]);
    let root = tmp.path().join("mel");
    let single = single_and_shards(&root, &["mel"], &seg.join("manifest.jsonl"), 2);
    // One call's chunks are in one shard.
    for k in 0..2 {
        let ids = manifest_ids(&root.join(format!("shard-{k}")));
        for call in IDS {
            let prefix = format!("{call}-");
            let here = ids.iter().filter(|i| i.starts_with(&prefix)).count();
            let total = manifest_ids(&single)
                .iter()
                .filter(|i| i.starts_with(&prefix))
                .count();
            assert!(here == 0 || here == total, "{call} split across shards");
        }
    }
    let merged = root.join("merged");
    run(&[
        "merge",
        s(&root.join("shard-1")),
        s(&root.join("shard-0")),
        "-o",
        s(&merged),
        "-q",
    ]);
    assert_eq!(tree(&single), tree(&merged));
}

#[test]
fn no_wav_rows_point_into_the_sources_from_the_merged_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let single = single_and_shards(tmp.path(), &["run", "--no-wav"], &fixtures(), 2);
    let merged = tmp.path().join("merged");
    run(&[
        "merge",
        s(&tmp.path().join("shard-")),
        "-o",
        s(&merged),
        "-q",
    ]);
    assert_eq!(tree(&single), tree(&merged));
    let first = fs::read_to_string(merged.join("manifest.jsonl")).unwrap();
    let row: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let audio = merged.join(row["audio_filepath"].as_str().unwrap());
    assert!(
        audio.ends_with("call01.wav") && audio.is_file(),
        "{audio:?}"
    );
}

#[test]
fn a_shards_resume_rerun_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shard-1");
    run(&["run", s(&fixtures()), "-o", s(&dir), "-q", "--shard", "1/3"]);
    let before = tree(&dir);
    let n_inputs = report(&dir)["files"].as_array().unwrap().len();
    assert!(n_inputs > 0);
    let o = run(&[
        "run",
        s(&fixtures()),
        "-o",
        s(&dir),
        "--shard",
        "1/3",
        "--resume",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("({n_inputs} reused by --resume)")),
        "{err}"
    );
    assert_eq!(tree(&dir), before);
}

#[test]
fn auto_reads_the_schedulers_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("o");
    let o = bin()
        .args([
            "run",
            s(&fixtures()),
            "-o",
            s(&dir),
            "-q",
            "--shard",
            "auto/3",
        ])
        .env("SLURM_ARRAY_TASK_ID", "2")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(report(&dir)["shard"]["k"], 2);
    let o = bin()
        .args([
            "run",
            s(&fixtures()),
            "-o",
            s(&dir),
            "-q",
            "--shard",
            "auto/3",
        ])
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("JOB_COMPLETION_INDEX", "0")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(report(&dir)["shard"]["k"], 0);

    let err = refused(&["run", s(&fixtures()), "-o", s(&dir), "--shard", "auto/3"]);
    assert!(
        err.contains("JOB_COMPLETION_INDEX") && err.contains("SLURM_ARRAY_TASK_ID"),
        "{err}"
    );
    for (bad, want) in [
        ("3/3", "K 3 is not below N 3"),
        ("1/0", "at least 1"),
        ("x", "not K/N"),
    ] {
        let err = refused(&["run", s(&fixtures()), "-o", s(&dir), "--shard", bad]);
        assert!(err.contains(want), "{bad}: {err}");
    }
}

#[test]
fn an_empty_shard_writes_an_empty_manifest() {
    let n = 40;
    let k = (0..n)
        .find(|&k| IDS.iter().all(|id| !Shard { k, n }.keeps(id)))
        .expect("some shard of 40 holds none of 5 inputs");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("o");
    let spec = format!("{k}/{n}");
    let o = run(&["run", s(&fixtures()), "-o", s(&dir), "--shard", &spec]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("none of the 5 input(s) hash to this shard")
    );
    assert_eq!(fs::read(dir.join("manifest.jsonl")).unwrap(), b"");
    let r = report(&dir);
    assert_eq!(r["files"], serde_json::json!([]));
    assert_eq!(r["totals"]["files"], 0);
    assert_eq!(r["shard"]["inputs_total"], 5);
}

#[test]
fn merge_refuses_what_is_not_one_finished_job() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let _ = single_and_shards(root, &["run"], &fixtures(), 3);
    let sh = |k: u32| root.join(format!("shard-{k}"));
    let out = root.join("merged");

    // A missing shard.
    let err = refused(&["merge", s(&sh(0)), s(&sh(1)), "-o", s(&out)]);
    assert!(err.contains("shard(s) 2/3 missing"), "{err}");
    // The same shard twice.
    let err = refused(&["merge", s(&sh(0)), s(&sh(1)), s(&sh(1)), "-o", s(&out)]);
    assert!(err.contains("given twice"), "{err}");
    // Mixed parameters: shard 1 redone with another VAD mode.
    let other = root.join("other-1");
    run(&[
        "run",
        s(&fixtures()),
        "-o",
        s(&other),
        "-q",
        "--shard",
        "1/3",
        "--vad-mode",
        "2",
    ]);
    let err = refused(&["merge", s(&sh(0)), s(&other), s(&sh(2)), "-o", s(&out)]);
    assert!(
        err.contains("mixed parameters: segment.vad.mode is 2"),
        "{err}"
    );
    // Another N.
    let other_n = root.join("n2");
    run(&[
        "run",
        s(&fixtures()),
        "-o",
        s(&other_n),
        "-q",
        "--shard",
        "1/2",
    ]);
    let err = refused(&["merge", s(&sh(0)), s(&other_n), s(&sh(2)), "-o", s(&out)]);
    assert!(err.contains("same N"), "{err}");
    // Not a shard.
    let whole = root.join("single");
    let err = refused(&["merge", s(&whole), "-o", s(&out)]);
    assert!(err.contains("not a shard"), "{err}");
    // Colliding ids: shard 0's folder copied as shard 1 of 2.
    let (c0, c1) = (root.join("copy-0"), root.join("copy-1"));
    run(&["run", s(&fixtures()), "-o", s(&c0), "-q", "--shard", "0/2"]);
    run(&["run", s(&fixtures()), "-o", s(&c1), "-q", "--shard", "0/2"]);
    let mut r = report(&c1);
    r["shard"]["k"] = 1.into();
    fs::write(
        c1.join("report.json"),
        serde_json::to_vec_pretty(&r).unwrap(),
    )
    .unwrap();
    let err = refused(&["merge", s(&c0), s(&c1), "-o", s(&out)]);
    assert!(err.contains("colliding ids: input"), "{err}");
    // A shard that never finished (no report).
    fs::remove_file(sh(2).join("report.json")).unwrap();
    let err = refused(&["merge", s(&sh(0)), s(&sh(1)), s(&sh(2)), "-o", s(&out)]);
    assert!(err.contains("has not finished"), "{err}");
    // Nothing was written by any refusal.
    assert!(!out.exists());
}

#[test]
fn merge_refuses_an_interrupted_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shard-0");
    let child = bin()
        .args([
            "run",
            s(&fixtures()),
            "-o",
            s(&dir),
            "-q",
            "--threads",
            "1",
            "--shard",
            "0/1",
        ])
        .env("CALLPREP_TEST_SLOW_MS", "3000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // SIGTERM once the run holds its folder (each input sleeps 3 s first).
    let t0 = Instant::now();
    while !dir.join(".callprep/lock").exists() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143));
    let err = refused(&["merge", s(&dir), "-o", s(&tmp.path().join("m"))]);
    assert!(
        err.contains("did not finish") && err.contains("--resume"),
        "{err}"
    );
    // After --resume the one shard merges.
    run(&[
        "run",
        s(&fixtures()),
        "-o",
        s(&dir),
        "-q",
        "--shard",
        "0/1",
        "--resume",
    ]);
    run(&["merge", s(&dir), "-o", s(&tmp.path().join("m")), "-q"]);
}
