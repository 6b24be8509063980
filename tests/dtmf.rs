//! The DTMF privacy gate end to end, with the real binary: a fixture call
//! with typed keypad sequences on the customer channel (PCM16 and G.711
//! μ-law) loses every chunk near them (no WAV, no `.npy`, no row) to
//! `quarantine.jsonl`, which holds no digits; every kept chunk's bytes are
//! those of `--dtmf off`; `--dtmf mask` silences the tones instead;
//! `--resume` keeps earlier inputs' quarantine rows; and the fixtures'
//! speech (talk-off) loses nothing.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::dtmf::{call_with_tones, write_pcm16, CARD, PIN};
use common::tree;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callprep"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/calls")
        .join(name)
}

/// A stereo G.711 μ-law WAV (format tag 7) of the nearest codes.
fn write_mulaw(path: &Path, left: &[i16], right: &[i16]) {
    let mut table: Vec<(i16, u8)> = (0..=255u8)
        .map(|b| (callprep::stages::decode::mulaw_to_i16(b), b))
        .collect();
    table.sort_unstable();
    let enc = |v: i16| {
        let i = table.partition_point(|&(t, _)| t < v).min(255);
        let j = i.saturating_sub(1);
        if (i32::from(table[i].0) - i32::from(v)).abs()
            < (i32::from(table[j].0) - i32::from(v)).abs()
        {
            table[i].1
        } else {
            table[j].1
        }
    };
    let data: Vec<u8> = left
        .iter()
        .zip(right)
        .flat_map(|(&a, &b)| [enc(a), enc(b)])
        .collect();
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    for x in [7u16, 2] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    for x in [2u16, 8] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    fs::write(path, v).unwrap();
}

/// Runs `callprep ARGS` and returns its stderr; it must succeed.
fn run(args: &[&str]) -> String {
    let o = bin().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "callprep {args:?} failed: {err}");
    err
}

fn jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn rows_by_id(out: &Path) -> BTreeMap<String, Value> {
    jsonl(&out.join("manifest.jsonl"))
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r))
        .collect()
}

/// The chunk `[start, end)` (seconds) comes within 100 ms of a tone.
fn near_tone(start: f64, end: f64, tones: &[(f64, f64)]) -> bool {
    tones.iter().any(|&(a, b)| start < b + 0.1 && a - 0.1 < end)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Drop mode against off mode on one input: checks everything the gate
/// promises and returns the quarantined ids.
fn check_drop(input: &Path, tmp: &Path, tones: &[(f64, f64)], tag: &str) -> Vec<String> {
    let (off, drop) = (
        tmp.join(format!("off-{tag}")),
        tmp.join(format!("drop-{tag}")),
    );
    run(&["run", s(input), "-o", s(&off), "--dtmf", "off", "-q"]);
    let err = run(&["run", s(input), "-o", s(&drop)]);
    let (off_rows, drop_rows) = (rows_by_id(&off), rows_by_id(&drop));
    let near: Vec<&String> = off_rows
        .iter()
        .filter(|(_, r)| {
            r["channel"] == 1
                && near_tone(
                    r["start"].as_f64().unwrap(),
                    r["end"].as_f64().unwrap(),
                    tones,
                )
        })
        .map(|(id, _)| id)
        .collect();
    assert!(
        near.len() >= 2,
        "{tag}: the test needs chunks near the tones without the gate: {near:?}"
    );
    // No kept row comes near a tone, and every other row is kept.
    for (id, r) in &off_rows {
        let close = near.contains(&id);
        assert_eq!(drop_rows.contains_key(id), !close, "{tag}: row {id}");
        if !close {
            assert_eq!(&drop_rows[id], r, "{tag}: kept row {id} changed");
        }
    }
    // The quarantine: exactly the dropped chunks, their times, no digits.
    let q = jsonl(&drop.join("quarantine.jsonl"));
    let q_ids: Vec<String> = q.iter().map(|r| r["id"].as_str().unwrap().into()).collect();
    let near_ids: Vec<String> = near.iter().map(|x| (*x).clone()).collect();
    assert_eq!(q_ids, near_ids, "{tag}: quarantine rows");
    for (row, id) in q.iter().zip(&near_ids) {
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["channel", "end", "id", "reason", "source", "start"],
            "{tag}"
        );
        assert_eq!(row["reason"], "dtmf");
        assert_eq!(row["channel"], 1);
        assert_eq!(row["start"], off_rows[id]["start"]);
        assert_eq!(row["end"], off_rows[id]["end"]);
        assert_eq!(row["source"], off_rows[id]["source"]);
    }
    // The report counts them; the summary line says so.
    let report: Value =
        serde_json::from_slice(&fs::read(drop.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["totals"]["dropped"]["dtmf"]["count"], near.len());
    assert_eq!(report["parameters"]["segment"]["dtmf"], "drop");
    assert!(
        err.contains(&format!("{} dtmf", near.len())),
        "{tag}: summary: {err}"
    );
    // Kept chunks' bytes are those of --dtmf off; dropped ones left no file.
    let (t_off, t_drop) = (tree(&off), tree(&drop));
    for (rel, bytes) in &t_drop {
        if rel.ends_with(".wav") || rel.ends_with(".npy") {
            assert_eq!(
                t_off.get(rel),
                Some(bytes),
                "{tag}: {rel} differs from --dtmf off"
            );
        }
    }
    for id in &near_ids {
        assert!(
            !t_drop.keys().any(|rel| rel.contains(id.as_str())),
            "{tag}: a file of {id} remains"
        );
        assert!(t_off.contains_key(&format!("wav/{id}.wav")), "{tag}: {id}");
    }
    // Never the digits: not in any output nor in what was printed.
    for (rel, bytes) in t_drop
        .iter()
        .filter(|(r, _)| !r.ends_with(".wav") && !r.ends_with(".npy"))
    {
        let text = String::from_utf8_lossy(bytes);
        for digits in [PIN, CARD] {
            assert!(
                !text.contains(digits),
                "{tag}: {rel} holds the typed digits"
            );
        }
    }
    assert!(!err.contains(CARD) && !err.contains(PIN));
    q_ids
}

#[test]
fn typed_sequences_remove_their_chunks_pcm16_and_mu_law() {
    let tmp = tempfile::tempdir().unwrap();
    let (left, right, tones) = call_with_tones();
    let pcm = tmp.path().join("typed.wav");
    write_pcm16(&pcm, &left, &right);
    let ids = check_drop(&pcm, tmp.path(), &tones, "pcm16");
    let mu = tmp.path().join("typed_ulaw.wav");
    write_mulaw(&mu, &left, &right);
    let mu_ids = check_drop(&mu, tmp.path(), &tones, "ulaw");
    let strip = |v: &[String], p: &str| -> Vec<String> {
        v.iter()
            .map(|x| x.trim_start_matches(p).to_string())
            .collect()
    };
    assert_eq!(strip(&ids, "typed"), strip(&mu_ids, "typed_ulaw"));
}

#[test]
fn mask_mode_keeps_the_chunks_with_the_tones_silenced() {
    let tmp = tempfile::tempdir().unwrap();
    let (left, right, tones) = call_with_tones();
    let input = tmp.path().join("typed.wav");
    write_pcm16(&input, &left, &right);
    let (off, mask) = (tmp.path().join("off"), tmp.path().join("mask"));
    run(&["segment", s(&input), "-o", s(&off), "--dtmf", "off", "-q"]);
    run(&["segment", s(&input), "-o", s(&mask), "--dtmf", "mask", "-q"]);
    assert_eq!(
        fs::read(off.join("manifest.jsonl")).unwrap(),
        fs::read(mask.join("manifest.jsonl")).unwrap()
    );
    assert!(jsonl(&mask.join("quarantine.jsonl")).is_empty());
    let read = |p: PathBuf| -> Vec<i16> {
        hound::WavReader::open(p)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect()
    };
    let mut masked_chunks = 0;
    for (id, r) in rows_by_id(&off) {
        let (a, b) = (
            read(off.join(format!("wav/{id}.wav"))),
            read(mask.join(format!("wav/{id}.wav"))),
        );
        assert_eq!(a.len(), b.len());
        let start = r["start"].as_f64().unwrap();
        let mut changed = false;
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let t = start + i as f64 / 8000.0;
            let in_tone = r["channel"] == 1 && tones.iter().any(|&(s, e)| t >= s && t < e);
            if in_tone {
                assert_eq!(*y, 0, "{id}: tone sample at {t:.4} s not silenced");
            }
            if x != y {
                changed = true;
                assert_eq!(*y, 0, "{id}: masking only zeroes");
                // Within one block (12.75 ms) and a bit of a tone.
                assert!(
                    tones.iter().any(|&(s, e)| t > s - 0.03 && t < e + 0.03),
                    "{id}: sample at {t:.4} s zeroed far from any tone"
                );
            }
        }
        masked_chunks += usize::from(changed);
    }
    assert!(masked_chunks >= 2, "the tones lie in at least two chunks");
}

#[test]
fn resume_keeps_earlier_inputs_quarantine_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (left, right, _) = call_with_tones();
    let dir = tmp.path().join("in");
    fs::create_dir(&dir).unwrap();
    write_pcm16(&dir.join("a_typed.wav"), &left, &right);
    fs::copy(fixture("call02.wav"), dir.join("b_plain.wav")).unwrap();
    let out = tmp.path().join("out");
    run(&["segment", s(&dir), "-o", s(&out), "-q"]);
    let first = fs::read(out.join("quarantine.jsonl")).unwrap();
    assert!(!jsonl(&out.join("quarantine.jsonl")).is_empty());
    // The second input is redone (its record removed), the first reused:
    // the first one's rows stay.
    let records = out.join(".callprep/done");
    for e in fs::read_dir(&records).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().contains("b_plain") {
            fs::remove_file(p).unwrap();
        }
    }
    let err = run(&["segment", s(&dir), "-o", s(&out), "--resume"]);
    assert!(err.contains("1 reused by --resume"), "{err}");
    assert_eq!(fs::read(out.join("quarantine.jsonl")).unwrap(), first);
    // --dtmf off is other parameters: everything is redone, nothing quarantined.
    run(&[
        "segment",
        s(&dir),
        "-o",
        s(&out),
        "--resume",
        "--dtmf",
        "off",
        "-q",
    ]);
    assert!(fs::read(out.join("quarantine.jsonl")).unwrap().is_empty());
}

/// Talk-off: the fixture calls' speech (PCM16, μ-law, 16 kHz, mono) loses
/// nothing to the gate; every output byte but the report's parameters is
/// that of `--dtmf off`.
#[test]
fn fixture_speech_is_never_taken_for_keypad_tones() {
    let tmp = tempfile::tempdir().unwrap();
    let (off, drop) = (tmp.path().join("off"), tmp.path().join("drop"));
    let calls = fixture("");
    run(&["run", s(&calls), "-o", s(&off), "--dtmf", "off", "-q"]);
    run(&["run", s(&calls), "-o", s(&drop), "-q"]);
    let (mut t_off, mut t_drop) = (tree(&off), tree(&drop));
    for t in [&mut t_off, &mut t_drop] {
        t.remove("report.json");
        assert_eq!(t.remove("quarantine.jsonl").as_deref(), Some(&b""[..]));
    }
    assert!(t_off.len() > 40);
    assert!(
        t_off == t_drop,
        "the gate changed an output on fixture speech"
    );
    // The same at 16 kHz pipeline rate.
    let (off16, drop16) = (tmp.path().join("off16"), tmp.path().join("drop16"));
    run(&[
        "segment",
        s(&calls),
        "-o",
        s(&off16),
        "--sample-rate",
        "16000",
        "--dtmf",
        "off",
        "-q",
    ]);
    run(&[
        "segment",
        s(&calls),
        "-o",
        s(&drop16),
        "--sample-rate",
        "16000",
        "-q",
    ]);
    assert_eq!(
        fs::read(off16.join("manifest.jsonl")).unwrap(),
        fs::read(drop16.join("manifest.jsonl")).unwrap()
    );
    assert!(fs::read(drop16.join("quarantine.jsonl"))
        .unwrap()
        .is_empty());
}

#[test]
fn mask_without_chunk_wavs_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bin()
        .args([
            "run",
            s(&fixture("call02.wav")),
            "-o",
            s(tmp.path()),
            "--no-wav",
            "--dtmf",
            "mask",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--dtmf mask") && err.contains("--no-wav"),
        "{err}"
    );
}
