//! `pack`, `verify`, `unpack` and `s3://` inputs (issue 20): the real
//! binary, the standard `age` tool, and a real S3-compatible server
//! (`s3s-fs`, see `s3server.rs`) on 127.0.0.1 — no mock anywhere.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

mod azurite;
#[path = "../common/mod.rs"]
mod common;
mod relay;
mod s3server;

use azurite::Azurite;
use common::tree;
use relay::Relay;
use s3server::{S3Server, SECRET_KEY};

const BUCKET: &str = "outside";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_callprep"));
    for v in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AZURE_STORAGE_ACCOUNT_NAME",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_SAS_KEY",
        "AZURE_STORAGE_ENDPOINT",
    ] {
        c.env_remove(v);
    }
    // Never the developer's own ~/.aws: a test that wants profile files
    // names them.
    c.env(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/callprep-test/credentials",
    );
    c.env("AWS_CONFIG_FILE", "/nonexistent/callprep-test/config");
    c
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs callprep with `env`; panics with its stderr unless it exits `code`.
fn run_env(args: &[&str], env: &[(&str, String)], code: i32) -> Output {
    let out = bin()
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("callprep runs");
    assert_eq!(
        out.status.code(),
        Some(code),
        "callprep {args:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run(args: &[&str], code: i32) -> Output {
    run_env(args, &[], code)
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// segment → mel on two fixture calls: the mel output folder.
fn dataset(dir: &Path) -> PathBuf {
    let calls = dir.join("calls");
    fs::create_dir_all(&calls).unwrap();
    for f in ["call01.wav", "call02.wav"] {
        fs::copy(fixtures().join(f), calls.join(f)).unwrap();
    }
    let (seg, clean, mel) = (dir.join("seg"), dir.join("clean"), dir.join("mel"));
    // The bank's flow: segment → STT → filter → mel. The "STT" here says a
    // card number in the first chunk, so the privacy gate removes it.
    run(&["segment", s(&calls), "-o", s(&seg), "-q"], 0);
    let seg_rows = fs::read_to_string(seg.join("manifest.jsonl")).unwrap();
    let mut stt = String::new();
    for (k, line) in seg_rows.lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        let text = if k == 0 {
            "номер карты 4400 4301 2345 6789"
        } else {
            "добрый день"
        };
        stt += &serde_json::json!({"id": v["id"], "text": text}).to_string();
        stt.push('\n');
    }
    let transcripts = dir.join("stt.jsonl");
    fs::write(&transcripts, stt).unwrap();
    run(
        &[
            "filter",
            s(&seg.join("manifest.jsonl")),
            "-o",
            s(&clean),
            "--transcripts",
            s(&transcripts),
            "-q",
        ],
        0,
    );
    let kept = fs::read_to_string(clean.join("manifest.jsonl")).unwrap();
    assert_eq!(
        kept.lines().count() + 1,
        seg_rows.lines().count(),
        "filter removes the chunk with the card"
    );
    assert!(!kept.contains("4400"));
    run(
        &["mel", s(&clean.join("manifest.jsonl")), "-o", s(&mel), "-q"],
        0,
    );
    mel
}

/// The rows of a manifest (raw lines) sorted, and id → `.npy` bytes.
fn rows_and_features(out: &Path) -> (Vec<String>, BTreeMap<String, Vec<u8>>) {
    let text = fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
    rows.sort();
    let mut feats = BTreeMap::new();
    for r in &rows {
        let v: Value = serde_json::from_str(r).unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        let npy = fs::read(out.join(v["mel_filepath"].as_str().unwrap())).unwrap();
        feats.insert(id, npy);
    }
    (rows, feats)
}

fn index(dest: &Path) -> Value {
    serde_json::from_slice(&fs::read(dest.join("index.json")).unwrap()).unwrap()
}

fn age_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key.txt");
    let st = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .expect("age-keygen (Debian package `age`) is installed");
    assert!(st.success());
    let text = fs::read_to_string(&key).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .to_string();
    (key, public)
}

#[test]
fn pack_is_deterministic_indexed_and_verify_names_a_bad_shard() {
    let dir = tempfile::tempdir().unwrap();
    let mel = dataset(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for d in [&a, &b] {
        run(&["pack", s(&mel), "-o", s(d), "--shard-size", "3", "-q"], 0);
    }
    let (ta, tb) = (tree(&a), tree(&b));
    assert_eq!(ta, tb, "same input, same shards and index");
    let (rows, feats) = rows_and_features(&mel);
    let idx = index(&a);
    assert_eq!(idx["complete"], true);
    assert_eq!(idx["samples"], rows.len());
    assert_eq!(idx["encryption"], Value::Null);
    assert_eq!(idx["shard_size"]["samples"], 3);
    assert_eq!(idx["parameters"]["job"], "mel");
    let shards = idx["shards"].as_array().unwrap();
    assert_eq!(shards.len(), rows.len().div_ceil(3));
    let mut ids_in_tars = Vec::new();
    for (n, sh) in shards.iter().enumerate() {
        let name = format!("shard-{n:06}.tar");
        assert_eq!(sh["name"], name.as_str());
        let bytes = &ta[&name];
        assert_eq!(sh["stored_bytes"], bytes.len());
        assert_eq!(sh["stored_sha256"], sha256_hex(bytes).as_str());
        assert_eq!(sh["tar_sha256"], sh["stored_sha256"]);
        let mut ar = tar::Archive::new(bytes.as_slice());
        let mut names = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            assert_eq!(e.header().mtime().unwrap(), 0);
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut body).unwrap();
            if let Some(key) = name.strip_suffix(".json") {
                let v: Value = serde_json::from_slice(&body).unwrap();
                assert!(rows.contains(&String::from_utf8(body.clone()).unwrap()));
                ids_in_tars.push(v["id"].as_str().unwrap().to_string());
                assert!(!key.contains('.') && !key.contains('/'));
            } else {
                assert!(name.ends_with(".npy"), "{name}");
                let id = ids_in_tars.last().unwrap();
                assert_eq!(&body, &feats[id], "{name}");
            }
            names.push(name);
        }
        assert_eq!(sh["samples"], names.len() / 2);
    }
    let mut sorted = ids_in_tars.clone();
    sorted.sort();
    assert_eq!(ids_in_tars, sorted, "samples sorted by id");
    assert_eq!(ids_in_tars.len(), rows.len());

    let ok = run(&["verify", s(&a)], 0);
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).lines().count(),
        shards.len()
    );
    // One flipped byte in the second shard: verify names it, exit 1.
    let victim = a.join("shard-000001.tar");
    let mut bytes = fs::read(&victim).unwrap();
    bytes[700] ^= 1;
    fs::write(&victim, bytes).unwrap();
    let bad = run(&["verify", s(&a), "-q"], 1);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("BAD shard-000001.tar: SHA-256"), "{out}");
    fs::remove_file(a.join("shard-000002.tar")).unwrap();
    let out = String::from_utf8_lossy(&run(&["verify", s(&a), "-q"], 1).stdout).into_owned();
    assert!(out.contains("BAD shard-000002.tar: missing"), "{out}");
}

#[test]
fn encrypted_shards_open_with_the_age_tool_and_unpack_gives_the_data_back() {
    let dir = tempfile::tempdir().unwrap();
    let mel = dataset(dir.path());
    let (key, public) = age_key(dir.path());
    let dest = dir.path().join("dest");
    run(
        &[
            "pack",
            s(&mel),
            "-o",
            s(&dest),
            "--encrypt-to",
            &public,
            "--shard-size",
            "64KiB",
            "-q",
        ],
        0,
    );
    let idx = index(&dest);
    assert_eq!(idx["encryption"]["scheme"], "age");
    assert_eq!(idx["encryption"]["recipients"][0], public.as_str());
    // Nothing but ciphertext and the index in DEST: no plaintext, no temp file.
    let files = tree(&dest);
    let (rows, feats) = rows_and_features(&mel);
    let first_id = serde_json::from_str::<Value>(&rows[0]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (name, bytes) in &files {
        if name == "index.json" {
            continue;
        }
        assert!(
            name.starts_with("shard-") && name.ends_with(".tar.age"),
            "{name}"
        );
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
        let needle = first_id.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }
    let shards = idx["shards"].as_array().unwrap();
    assert!(shards.len() >= 2, "64 KiB shards: several");
    // The standard age tool decrypts a shard to the tar the index describes.
    for sh in shards {
        let name = sh["name"].as_str().unwrap();
        let out = Command::new("age")
            .args(["-d", "-i", s(&key)])
            .arg(dest.join(name))
            .output()
            .expect("age (Debian package `age`) is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sh["tar_sha256"], sha256_hex(&out.stdout).as_str());
        assert_eq!(sh["tar_bytes"], out.stdout.len());
        assert_eq!(sh["stored_sha256"], sha256_hex(&files[name]).as_str());
        assert!(
            tar::Archive::new(out.stdout.as_slice())
                .entries()
                .unwrap()
                .count()
                > 0
        );
    }
    run(&["verify", s(&dest), "-q"], 0);
    // unpack: without a key, a usage error; with it, the rows and features.
    let back = dir.path().join("back");
    let e = run(&["unpack", s(&dest), "-o", s(&back)], 2);
    assert!(String::from_utf8_lossy(&e.stderr).contains("--identity"));
    run(
        &["unpack", s(&dest), "-o", s(&back), "-i", s(&key), "-q"],
        0,
    );
    assert_eq!(rows_and_features(&back), (rows, feats));
    // A wrong key: a usage error naming --identity.
    let k2 = dir.path().join("k2");
    fs::create_dir_all(&k2).unwrap();
    let (other, _) = age_key(&k2);
    let e = run(
        &[
            "unpack",
            s(&dest),
            "-o",
            s(&dir.path().join("b2")),
            "-i",
            s(&other),
        ],
        1,
    );
    assert!(String::from_utf8_lossy(&e.stderr).contains("--identity"));
}

#[test]
fn bad_rows_are_named_and_the_rest_is_packed() {
    let dir = tempfile::tempdir().unwrap();
    let mel = dataset(dir.path());
    let text = fs::read_to_string(mel.join("manifest.jsonl")).unwrap();
    let n = text.lines().count();
    let m = dir.path().join("mel/edited.jsonl");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.insert(1, "{not json".into());
    let mut gone: Value = serde_json::from_str(&lines[2]).unwrap();
    gone["id"] = "ghost".into();
    gone["mel_filepath"] = "nowhere.npy".into();
    lines.push(gone.to_string());
    fs::write(&m, lines.join("\n") + "\n").unwrap();
    let dest = dir.path().join("d");
    let out = run(&["pack", s(&m), "-o", s(&dest), "-q"], 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("edited.jsonl:2: not packed: not a manifest row"),
        "{err}"
    );
    assert!(
        err.contains(&format!("edited.jsonl:{}: not packed:", n + 2))
            && err.contains("nowhere.npy"),
        "{err}"
    );
    assert_eq!(index(&dest)["samples"], n);
}

// ---- object storage: a real s3s-fs on 127.0.0.1 ----

/// The whole flow into a bucket and back: segment → mel → pack --encrypt-to
/// → s3://, verify there, unpack from there; byte-identical rows and `.npy`.
#[test]
fn s3_end_to_end_encrypted() {
    let server = S3Server::start(BUCKET);
    let env = server.env();
    let dir = tempfile::tempdir().unwrap();
    let mel = dataset(dir.path());
    let (key, public) = age_key(dir.path());
    let url = format!("s3://{BUCKET}/datasets/ds1");
    let ep = server.endpoint.clone();
    run_env(
        &[
            "pack",
            s(&mel),
            "-o",
            &url,
            "--endpoint",
            &ep,
            "--encrypt-to",
            &public,
            "--shard-size",
            "5",
            "-q",
        ],
        &env,
        0,
    );
    let stored = server.object_path(BUCKET, "datasets/ds1/shard-000000.tar.age");
    assert!(fs::read(&stored)
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));
    let verified = run_env(&["verify", &url, "--endpoint", &ep], &env, 0);
    let (rows, feats) = rows_and_features(&mel);
    assert_eq!(
        String::from_utf8_lossy(&verified.stdout).lines().count(),
        rows.len().div_ceil(5)
    );
    let back = dir.path().join("back");
    run_env(
        &[
            "unpack",
            &url,
            "--endpoint",
            &ep,
            "-o",
            s(&back),
            "-i",
            s(&key),
            "-q",
        ],
        &env,
        0,
    );
    assert_eq!(rows_and_features(&back), (rows, feats));
}

/// `run s3://bucket/prefix` lists the calls and streams them: the same
/// chunks, features and rows (but `source`) as from the local files.
#[test]
fn s3_inputs_give_the_same_outputs_as_local_files() {
    let server = S3Server::start("inside");
    let env = server.env();
    let calls = server.root.path().join("inside/calls/2026");
    fs::create_dir_all(&calls).unwrap();
    // The same layout on disk: ids (and so output names) come from the
    // path below what was given.
    let local = tempfile::tempdir().unwrap();
    fs::create_dir_all(local.path().join("2026")).unwrap();
    for f in ["call01.wav", "call02_ulaw.wav"] {
        fs::copy(fixtures().join(f), calls.join(f)).unwrap();
        fs::copy(fixtures().join(f), local.path().join("2026").join(f)).unwrap();
    }
    fs::write(calls.join("notes.txt"), b"not a call").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("from_s3"), dir.path().join("from_disk"));
    let ep = server.endpoint.clone();
    run_env(
        &[
            "run",
            "s3://inside/calls",
            "--endpoint",
            &ep,
            "-o",
            s(&a),
            "-q",
        ],
        &env,
        0,
    );
    run(&["run", s(local.path()), "-o", s(&b), "-q"], 0);
    assert_same_outputs_but_source(&a, &b, "s3://inside/calls/2026/call01.wav");
}

/// Output folders `a` (from a store) and `b` (from local files) hold the
/// same chunk WAVs and `.npy` byte for byte and the same rows but `source`;
/// `a`'s rows name the objects (`source_of_call01`).
fn assert_same_outputs_but_source(a: &Path, b: &Path, source_of_call01: &str) {
    let (ta, tb) = (tree(a), tree(b));
    let files = |t: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        t.iter()
            .filter(|(k, _)| k.ends_with(".npy") || k.ends_with(".wav"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert!(!files(&ta).is_empty());
    assert!(
        files(&ta) == files(&tb),
        "chunk WAVs and .npy byte for byte: {:?} vs {:?}",
        files(&ta).keys().collect::<Vec<_>>(),
        files(&tb).keys().collect::<Vec<_>>()
    );
    let strip = |t: &BTreeMap<String, Vec<u8>>| -> Vec<Value> {
        String::from_utf8(t["manifest.jsonl"].clone())
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("source");
                v
            })
            .collect()
    };
    assert_eq!(strip(&ta), strip(&tb));
    let m = String::from_utf8(ta["manifest.jsonl"].clone()).unwrap();
    assert!(
        m.contains(&format!("\"source\":\"{source_of_call01}\"")),
        "{m}"
    );
}

/// The store dies between two shard uploads: exit 3 with a clear message;
/// `--resume` after it is back keeps the shards already there and gives
/// exactly the bytes of an uninterrupted pack.
#[test]
fn s3_killed_mid_upload_then_resume_completes_with_identical_bytes() {
    let mut server = S3Server::start(BUCKET);
    let env = server.env();
    let dir = tempfile::tempdir().unwrap();
    let mel = dataset(dir.path());
    let reference = dir.path().join("reference");
    run(
        &[
            "pack",
            s(&mel),
            "-o",
            s(&reference),
            "--shard-size",
            "2",
            "-q",
        ],
        0,
    );
    let n_shards = index(&reference)["shards"].as_array().unwrap().len();
    assert!(n_shards >= 3);
    let url = format!("s3://{BUCKET}/ds");
    let ep = server.endpoint.clone();
    let mut env_slow = env.clone();
    env_slow.push(("CALLPREP_TEST_PACK_PAUSE_MS", "1500".into()));
    let child = bin()
        .args([
            "pack",
            s(&mel),
            "-o",
            &url,
            "--endpoint",
            &ep,
            "--shard-size",
            "2",
        ])
        .envs(env_slow.iter().map(|(k, v)| (*k, v.as_str())))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The index appears once the first shard is complete; pack then waits
    // 1.5 s (the test hook) before the next upload, and the store dies.
    let first_index = server.object_path(BUCKET, "ds/index.json");
    let t0 = Instant::now();
    while !first_index.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no shard uploaded");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    server.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("callprep: error: writing s3://outside/ds/shard-0000"),
        "{err}"
    );
    let idx: Value =
        serde_json::from_slice(&fs::read(server.object_path(BUCKET, "ds/index.json")).unwrap())
            .unwrap();
    assert_eq!(idx["complete"], false);
    let done = idx["shards"].as_array().unwrap().len();
    assert!(done >= 1 && done < n_shards);

    server.restart();
    let out = run_env(
        &[
            "pack",
            s(&mel),
            "-o",
            &url,
            "--endpoint",
            &ep,
            "--shard-size",
            "2",
            "--resume",
        ],
        &env,
        0,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("kept (SHA-256 checked)").count(), done, "{err}");
    assert_same_files(
        &server.root.path().join(BUCKET).join("ds"),
        &reference,
        "the resumed pack is byte-identical to an uninterrupted one",
    );
}

/// `got` holds the files of `want` (same names), byte for byte.
fn assert_same_files(got: &Path, want: &Path, what: &str) {
    let (got, want) = (tree(got), tree(want));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert!(got == want, "{what}");
}

/// Wrong credentials: exit 3, a message that says what failed, and the
/// secret appears nowhere in the output.
#[test]
fn s3_wrong_credentials_exit_3_and_never_print_the_secret() {
    let server = S3Server::start(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let mel = dataset(dir.path());
    let wrong = format!("{SECRET_KEY}-WRONG");
    let env = vec![
        ("AWS_ACCESS_KEY_ID", s3server::ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", wrong.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let ep = server.endpoint.clone();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "pack".into(),
            s(&mel).into(),
            "-o".into(),
            format!("s3://{BUCKET}/x"),
        ],
        vec![
            "run".into(),
            format!("s3://{BUCKET}/calls"),
            "-o".into(),
            s(&dir.path().join("o")).into(),
        ],
        vec!["verify".into(), format!("s3://{BUCKET}/x")],
    ];
    for c in cases {
        let mut args: Vec<&str> = c.iter().map(String::as_str).collect();
        args.extend(["--endpoint", &ep]);
        let out = run_env(&args, &env, 3);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains(SECRET_KEY),
            "{args:?}: the secret leaked: {all}"
        );
        assert!(all.contains(&format!("s3://{BUCKET}/")), "{args:?}: {all}");
    }
}

/// `--sse-kms-key-id`: every request that creates an object (PutObject,
/// CreateMultipartUpload: each shard and index.json) asks the store for
/// SSE-KMS with that key — seen on the wire through a relay in front of the
/// real server, since s3s-fs itself ignores the headers; without the flag
/// no request asks. The stored bytes are those of a local pack either way.
#[test]
fn s3_sse_kms_key_id_goes_with_every_object_written() {
    let server = S3Server::start(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let mel = dataset(dir.path());
    let kms = "arn:aws:kms:eu-central-1:111122223333:key/callprep-test";
    let local = dir.path().join("local-pack-5");
    run(
        &["pack", s(&mel), "-o", s(&local), "--shard-size", "5", "-q"],
        0,
    );
    let local = local.as_path();
    for (prefix, flag) in [("sse", Some(kms)), ("plain", None)] {
        let relay = Relay::start(server.port());
        let url = format!("s3://{BUCKET}/{prefix}");
        let mut args = vec!["pack", s(&mel), "-o", &url, "--endpoint", &relay.endpoint];
        args.extend(["--shard-size", "5", "-q"]);
        if let Some(k) = flag {
            args.extend(["--sse-kms-key-id", k]);
        }
        run_env(&args, &server.env(), 0);
        let stored = server.object_path(BUCKET, prefix);
        let what = format!("{prefix}: the objects are the bytes of a local pack");
        assert_same_files(&stored, local, &what);
        let creating: Vec<_> = relay
            .requests()
            .into_iter()
            .filter(|r| {
                (r.line.starts_with("PUT ") && !r.line.contains("uploadId="))
                    || (r.line.starts_with("POST ") && r.line.contains("?uploads"))
            })
            .collect();
        let mut written: Vec<String> = creating
            .iter()
            .map(|r| {
                let path = r.line.split(' ').nth(1).unwrap();
                let path = path.split('?').next().unwrap();
                path.rsplit('/').next().unwrap().to_string()
            })
            .collect();
        // index.json is rewritten after every shard (what --resume reads).
        written.sort();
        written.dedup();
        assert_eq!(
            written,
            tree(local).into_keys().collect::<Vec<_>>(),
            "{prefix}"
        );
        for r in &creating {
            let want = flag.map(|_| "aws:kms");
            assert_eq!(r.header("x-amz-server-side-encryption"), want, "{}", r.line);
            let key = r.header("x-amz-server-side-encryption-aws-kms-key-id");
            assert_eq!(key, flag, "{}", r.line);
        }
    }
}

/// Credentials, region and endpoint from the AWS shared files, as the AWS
/// CLI reads them: a named profile (`AWS_PROFILE`) with no `--endpoint`
/// and no keys in the environment; the `default` profile under `HOME/.aws`;
/// keys in the environment beat the profile's; a missing profile or one
/// that assumes a role is refused by name (exit 3), no secret printed.
#[test]
fn s3_credentials_from_aws_profile_files() {
    let server = S3Server::start(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let mel = dataset(dir.path());
    let aws = dir.path().join("home/.aws");
    fs::create_dir_all(&aws).unwrap();
    let ak = s3server::ACCESS_KEY;
    fs::write(
        aws.join("credentials"),
        format!(
            "[default]\naws_access_key_id = {ak}\naws_secret_access_key = {SECRET_KEY}\n\n\
             [outside]\naws_access_key_id = {ak}\naws_secret_access_key = {SECRET_KEY}\n\n\
             [stale]\naws_access_key_id = {ak}\naws_secret_access_key = {SECRET_KEY}-OLD\n"
        ),
    )
    .unwrap();
    fs::write(
        aws.join("config"),
        format!(
            "[default]\nregion = us-east-1\nendpoint_url = {ep}\n\n\
             [profile outside]\nregion = us-east-1\nendpoint_url = {ep}\ns3 =\n    addressing_style = path\n\n\
             [profile stale]\nendpoint_url = {ep}\n\n\
             [profile assumed]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = default\n",
            ep = server.endpoint
        ),
    )
    .unwrap();
    let files = vec![
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            s(&aws.join("credentials")).to_string(),
        ),
        ("AWS_CONFIG_FILE", s(&aws.join("config")).to_string()),
    ];
    let with = |extra: &[(&'static str, String)]| {
        let mut e = files.clone();
        e.extend_from_slice(extra);
        e
    };
    let url = format!("s3://{BUCKET}/by-profile");

    // A named profile: keys, region and endpoint all from the files.
    let named = with(&[("AWS_PROFILE", "outside".into())]);
    run_env(&["pack", s(&mel), "-o", &url, "-q"], &named, 0);
    let index = fs::read(server.object_path(BUCKET, "by-profile/index.json")).unwrap();
    assert_eq!(index, fs::read(pack_locally(&mel, dir.path())).unwrap());
    run_env(&["verify", &url], &named, 0);

    // The default profile, found under HOME/.aws.
    let out = bin()
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_CONFIG_FILE")
        .env("HOME", dir.path().join("home"))
        .args(["verify", &url])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Keys in the environment beat the profile's: the stale profile's wrong
    // secret is not used when the right keys are in the environment …
    let stale = with(&[("AWS_PROFILE", "stale".into())]);
    let mut env_keys = stale.clone();
    env_keys.extend(server.env());
    run_env(&["verify", &url], &env_keys, 0);
    // … and is refused (exit 3, nothing secret printed) when they are not.
    let refused = run_env(&["verify", &url], &stale, 3);
    let err = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(err.contains(&url), "{err}");
    assert!(!err.contains(SECRET_KEY), "{err}");

    // A profile callprep cannot serve, and one that is not there.
    for (name, says) in [("assumed", "role_arn"), ("nope", "is in neither")] {
        let out = run_env(&["verify", &url], &with(&[("AWS_PROFILE", name.into())]), 3);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(err.contains(says) && err.contains(name), "{name}: {err}");
        assert!(!err.contains(SECRET_KEY), "{name}: {err}");
    }
}

/// `pack` of `mel` to a local folder: its `index.json`.
fn pack_locally(mel: &Path, dir: &Path) -> PathBuf {
    let dest = dir.join("local-pack");
    run(&["pack", s(mel), "-o", s(&dest), "-q"], 0);
    dest.join("index.json")
}

// ---- Azure Blob Storage: a real Azurite on 127.0.0.1 ----

/// `az://` the same way as `s3://`: calls listed and streamed from one
/// container give the outputs of local files; an encrypted pack uploaded
/// to another verifies and unpacks to the same rows and `.npy`; a wrong
/// account key exits 3 without printing it; --sse-kms-key-id is refused for
/// az:// (exit 2).
#[test]
fn az_inputs_pack_verify_unpack_against_azurite() {
    let az = Azurite::start(&["inside", "outside"]);
    let env = az.env();
    let ep = az.endpoint.clone();
    let local = tempfile::tempdir().unwrap();
    fs::create_dir_all(local.path().join("2026")).unwrap();
    for f in ["call01.wav", "call02_ulaw.wav"] {
        az.upload("inside", &format!("calls/2026/{f}"), &fixtures().join(f));
        fs::copy(fixtures().join(f), local.path().join("2026").join(f)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("from_az"), dir.path().join("from_disk"));
    let from_az = [
        "run",
        "az://inside/calls",
        "--endpoint",
        &ep,
        "-o",
        s(&a),
        "-q",
    ];
    run_env(&from_az, &env, 0);
    run(&["run", s(local.path()), "-o", s(&b), "-q"], 0);
    assert_same_outputs_but_source(&a, &b, "az://inside/calls/2026/call01.wav");

    let (key, public) = age_key(dir.path());
    let url = "az://outside/datasets/ds1";
    let pack = [
        "pack",
        s(&a),
        "-o",
        url,
        "--endpoint",
        &ep,
        "--encrypt-to",
        &public,
    ];
    run_env(&[&pack[..], &["--shard-size", "5", "-q"]].concat(), &env, 0);
    let verified = run_env(&["verify", url, "--endpoint", &ep], &env, 0);
    let (rows, feats) = rows_and_features(&a);
    assert_eq!(
        String::from_utf8_lossy(&verified.stdout).lines().count(),
        rows.len().div_ceil(5)
    );
    let back = dir.path().join("back");
    let unpack = [
        "unpack",
        url,
        "--endpoint",
        &ep,
        "-o",
        s(&back),
        "-i",
        s(&key),
        "-q",
    ];
    run_env(&unpack, &env, 0);
    assert_eq!(rows_and_features(&back), (rows, feats));

    let wrong_key = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=";
    let wrong = vec![
        ("AZURE_STORAGE_ACCOUNT_NAME", azurite::ACCOUNT.to_string()),
        ("AZURE_STORAGE_ACCOUNT_KEY", wrong_key.to_string()),
    ];
    let out = run_env(&["verify", url, "--endpoint", &ep], &wrong, 3);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains(url), "{err}");
    assert!(
        !err.contains(wrong_key) && !err.contains(azurite::KEY),
        "{err}"
    );
    let out = run_env(&[&pack[..], &["--sse-kms-key-id", "k"]].concat(), &env, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sse-kms-key-id"));
}
