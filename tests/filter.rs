//! `callprep filter` end to end with the real binary: segment two fixture
//! calls, give their chunks transcripts with personal data and with
//! controls, filter, and check exactly what is kept, what is quarantined
//! and why, that no matched digits leak anywhere, and that `mel` on the
//! filtered manifest computes the kept chunks' features only, with the
//! same bytes as on the whole manifest (segment → STT → filter → mel).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

mod common;
use common::tree;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callprep"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_jsonl(p: &Path) -> Vec<Value> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Segments the two stereo fixture calls into `root/seg`; returns the folder
/// and its rows (13 chunks).
fn segmented(root: &Path) -> (PathBuf, Vec<Value>) {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls");
    let seg = root.join("seg");
    let o = run(&[
        "segment",
        s(&fx.join("call01.wav")),
        s(&fx.join("call02.wav")),
        "-o",
        s(&seg),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = read_jsonl(&seg.join("manifest.jsonl"));
    assert_eq!(rows.len(), 13);
    (seg, rows)
}

fn write_lines(p: &Path, lines: &[Value]) {
    let text: String = lines.iter().map(|v| format!("{v}\n")).collect();
    fs::write(p, text).unwrap();
}

/// The personal data of the main test, as the STT writes it, and the
/// digits that must appear nowhere in OUT or on stderr.
const PII: &[(&str, &str, &str)] = &[
    // (text, reason, digits/letters that must not leak)
    (
        "номер карты 4400 4301 2345 6789",
        "card",
        "4400430123456789",
    ),
    (
        "мой иин восемь пять ноль три один пять три ноль ноль один два восемь",
        "iin",
        "850315300128",
    ),
    ("перезвоните на 8 (701) 123-45-67", "phone", "7011234567"),
    ("счёт KZ86 125K ZT50 0410 0100", "iban", "5004100100"),
    ("пишите на aigerim.k@mail.kz", "email", "aigerim"),
    (
        "карта төрт төрт нөл нөл төрт үш нөл бір екі үш төрт бес алты жеті сегіз тоғыз",
        "card",
        "тоғыз",
    ),
    (
        "жеті жүз бір сто двадцать три сорок пять шестьдесят семь",
        "phone",
        "жүз",
    ),
];

/// Texts that must be kept as they are.
const CONTROLS: &[&str] = &[
    "сумма платежа 1 500 тенге",
    "платёж от 12.03.2024, 12 марта в 10:30",
    "номер обращения 1234567",
    "карта 4400 4301 2345 6780 не проходит",
];

#[test]
fn filter_drops_pii_keeps_controls_and_mel_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let (seg, rows) = segmented(tmp.path());
    let all = ids(&rows);
    // A DTMF drop `segment` recorded (written here by hand): carried over.
    let dtmf = json!({"id": "call09-agent-0000000000", "source": "../calls/call09.wav",
        "channel": 0, "start": 1.0, "end": 3.5, "reason": "dtmf"});
    write_lines(&seg.join("quarantine.jsonl"), &[dtmf]);

    // Rows 0..7 PII, 7..11 controls, 11 on the drop list (with a control
    // text), 12 without a transcript.
    let mut t = Vec::new();
    for (i, (text, _, _)) in PII.iter().enumerate() {
        t.push(json!({"id": all[i], "text": text}));
    }
    for (k, text) in CONTROLS.iter().enumerate() {
        t.push(json!({"id": all[PII.len() + k], "text": text}));
    }
    t.push(json!({"id": all[11], "text": "Айгерим Сапарова, улица Абая"}));
    // A transcript of no chunk of the manifest.
    t.push(json!({"id": "call99-agent-0000000000", "text": "привет"}));
    let stt = tmp.path().join("stt");
    fs::create_dir_all(&stt).unwrap();
    let t_path = stt.join("t.jsonl");
    write_lines(&t_path, &t);
    let drop = tmp.path().join("ner.txt");
    fs::write(&drop, format!("# flagged by NER\n\n{}\n  \n", all[11])).unwrap();

    let out = tmp.path().join("clean");
    let o = run(&[
        "filter",
        s(&seg.join("manifest.jsonl")),
        "-o",
        s(&out),
        "--transcripts",
        s(&t_path),
        "--drop-ids",
        s(&drop),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("13 rows in, 5 kept (1 without a transcript), 8 dropped"),
        "{err}"
    );

    // Kept: the controls and the chunk without a transcript, in order.
    let kept = read_jsonl(&out.join("manifest.jsonl"));
    let want: Vec<String> = all[7..11].iter().chain(&all[12..]).cloned().collect();
    assert_eq!(ids(&kept), want);
    for (k, r) in kept.iter().enumerate() {
        let text = CONTROLS.get(k).copied().unwrap_or("");
        assert_eq!(r["text"], text);
        // Paths resolve from OUT to the segment run's files, same bytes.
        let input = rows.iter().find(|x| x["id"] == r["id"]).unwrap();
        let audio = out.join(r["audio_filepath"].as_str().unwrap());
        let orig = seg.join(input["audio_filepath"].as_str().unwrap());
        assert_eq!(fs::read(&audio).unwrap(), fs::read(&orig).unwrap());
        assert_eq!(
            fs::canonicalize(out.join(r["source"].as_str().unwrap())).unwrap(),
            fs::canonicalize(seg.join(input["source"].as_str().unwrap())).unwrap()
        );
        // Every other field as the input had it.
        let (mut a, mut b) = (r.clone(), input.clone());
        for key in ["audio_filepath", "source", "text"] {
            a.as_object_mut().unwrap().remove(key);
            b.as_object_mut().unwrap().remove(key);
        }
        assert_eq!(a, b);
    }

    // Quarantine: the carried DTMF row first, then one row per drop.
    let q = read_jsonl(&out.join("quarantine.jsonl"));
    let reasons: Vec<(String, String)> = q
        .iter()
        .map(|r| {
            let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 6, "{r}");
            for k in ["id", "source", "channel", "start", "end", "reason"] {
                assert!(keys.contains(&k), "{r}");
            }
            (
                r["id"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want_q = vec![("call09-agent-0000000000".to_string(), "dtmf".to_string())];
    for (i, (_, reason, _)) in PII.iter().enumerate() {
        want_q.push((all[i].clone(), reason.to_string()));
    }
    want_q.push((all[11].clone(), "drop_list".into()));
    assert_eq!(reasons, want_q);
    assert_eq!(q[0]["source"], "../calls/call09.wav");
    let input1 = rows.iter().find(|x| x["id"] == all[1]).unwrap();
    assert_eq!(q[2]["start"], input1["start"]);
    assert_eq!(q[2]["end"], input1["end"]);
    assert_eq!(q[2]["channel"], input1["channel"]);

    // The report counts; no text anywhere.
    let report: Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
    let f = &report["filter"];
    assert_eq!(f["rows_in"], 13);
    assert_eq!(f["rows_kept"], 5);
    assert_eq!(f["rows_dropped"], 8);
    assert_eq!(f["rows_without_text"], 1);
    assert_eq!(f["transcripts_unused"], 1);
    assert_eq!(f["quarantine_carried"], 1);
    assert_eq!(
        f["dropped_by_reason"],
        json!({"card": 2, "iin": 1, "phone": 2, "iban": 1, "email": 1, "drop_list": 1})
    );
    assert_eq!(report["totals"]["chunks"], 5);
    assert_eq!(report["parameters"]["job"], "filter");
    assert_eq!(
        report["parameters"]["filter"]["rules"],
        json!(["card", "iin", "phone", "iban", "email"])
    );
    let files = tree(&out);
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        ["manifest.jsonl", "quarantine.jsonl", "report.json"],
        "filter copies no audio and writes no features"
    );
    let everything: String = files
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .chain([err])
        .collect();
    for (text, _, secret) in PII {
        assert!(!everything.contains(secret), "{secret} leaked");
        assert!(!everything.contains(text), "{text} leaked");
    }
    assert!(!everything.contains("Айгерим"));

    // Then mel: features of the kept chunks only, the bytes of mel on the
    // whole manifest.
    let mel = tmp.path().join("mel");
    let o = run(&["mel", s(&out.join("manifest.jsonl")), "-o", s(&mel), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mel_rows = read_jsonl(&mel.join("manifest.jsonl"));
    let mut mel_ids = ids(&mel_rows);
    mel_ids.sort();
    let mut sorted_want = want.clone();
    sorted_want.sort();
    assert_eq!(mel_ids, sorted_want);
    for r in &mel_rows {
        let k = want.iter().position(|w| *w == r["id"]).unwrap();
        assert_eq!(r["text"], kept[k]["text"], "mel keeps the filled text");
    }
    let npys: Vec<String> = tree(&mel)
        .keys()
        .filter(|k| k.ends_with(".npy"))
        .cloned()
        .collect();
    let mut want_npy: Vec<String> = want.iter().map(|i| format!("mel/{i}.npy")).collect();
    want_npy.sort();
    assert_eq!(npys, want_npy, "no features of a dropped chunk");
    let whole = tmp.path().join("mel_all");
    let o = run(&["mel", s(&seg.join("manifest.jsonl")), "-o", s(&whole), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for n in &want_npy {
        assert_eq!(
            fs::read(mel.join(n)).unwrap(),
            fs::read(whole.join(n)).unwrap(),
            "{n}"
        );
    }
}

/// Transcripts from a NeMo STT run: keyed by `audio_filepath` (relative to
/// their own file's folder), text in `pred_text`; `--rules` picks detectors.
#[test]
fn nemo_transcripts_by_audio_path_and_a_subset_of_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let (seg, rows) = segmented(tmp.path());
    let stt = tmp.path().join("nemo/out");
    fs::create_dir_all(&stt).unwrap();
    let texts = [
        "карта 4400 4301 2345 6789",
        "почта ivan собака mail точка ру",
        "звоните плюс семь семьсот один сто двадцать три сорок пять шестьдесят семь",
    ];
    let mut t = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let audio = format!("../../seg/{}", rows[i]["audio_filepath"].as_str().unwrap());
        t.push(json!({"audio_filepath": audio, "duration": 1.0, "text": "", "pred_text": text}));
    }
    let t_path = stt.join("predictions.jsonl");
    write_lines(&t_path, &t);
    let out = tmp.path().join("clean");
    let o = run(&[
        "filter",
        s(&seg.join("manifest.jsonl")),
        "-o",
        s(&out),
        "--transcripts",
        s(&t_path),
        "--rules",
        "email,phone",
        "--absolute-paths",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "quiet");
    let kept = read_jsonl(&out.join("manifest.jsonl"));
    assert_eq!(kept.len(), 11);
    assert_eq!(
        kept[0]["id"], rows[0]["id"],
        "a card, but not a chosen rule"
    );
    assert_eq!(kept[0]["text"], texts[0]);
    let a = kept[0]["audio_filepath"].as_str().unwrap();
    assert!(Path::new(a).is_absolute() && Path::new(a).is_file(), "{a}");
    let q = read_jsonl(&out.join("quarantine.jsonl"));
    let reasons: Vec<&str> = q.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["email", "phone"]);
    assert_eq!(ids(&q), ids(&rows[1..3]));
}

/// Without `--require-text` a chunk with no transcript stays (text ""); with
/// it, it is dropped as `no_text`.
#[test]
fn require_text_drops_chunks_without_a_transcript() {
    let tmp = tempfile::tempdir().unwrap();
    let (seg, rows) = segmented(tmp.path());
    let t_path = tmp.path().join("t.jsonl");
    write_lines(
        &t_path,
        &[json!({"id": rows[0]["id"], "text": "добрый день"})],
    );
    let out = tmp.path().join("clean");
    let o = run(&[
        "filter",
        s(&seg.join("manifest.jsonl")),
        "-o",
        s(&out),
        "--transcripts",
        s(&t_path),
        "--require-text",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kept = read_jsonl(&out.join("manifest.jsonl"));
    assert_eq!(ids(&kept), ids(&rows[..1]));
    assert_eq!(kept[0]["text"], "добрый день");
    let q = read_jsonl(&out.join("quarantine.jsonl"));
    assert_eq!(ids(&q), ids(&rows[1..]));
    assert!(q.iter().all(|r| r["reason"] == "no_text"));
}

/// Bad transcript lines are errors naming FILE:LINE (exit 1), all of them;
/// nothing is written and no text is quoted.
#[test]
fn malformed_transcripts_name_their_lines_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (seg, rows) = segmented(tmp.path());
    let t_path = tmp.path().join("t.jsonl");
    let lines = [
        json!({"id": rows[0]["id"], "text": "карта 4400 4301 2345 6789"}).to_string(),
        json!({"id": rows[0]["id"], "text": "карта 2202 2012 3456 7895"}).to_string(),
        "{\"id\": \"x\", \"text\": \"8 701 1".to_string(),
        String::new(),
        json!({"id": rows[1]["id"]}).to_string(),
        json!({"text": "87011234567"}).to_string(),
        json!({"id": rows[2]["id"], "text": 87011234567_u64}).to_string(),
        "[1, 2]".to_string(),
    ];
    fs::write(&t_path, lines.join("\n")).unwrap();
    let out = tmp.path().join("clean");
    let o = run(&[
        "filter",
        s(&seg.join("manifest.jsonl")),
        "-o",
        s(&out),
        "--transcripts",
        s(&t_path),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let t = t_path.display();
    for want in [
        format!(
            "{t}:2: id {} was transcribed differently at line 1",
            rows[0]["id"].as_str().unwrap()
        ),
        format!("{t}:3: not valid JSON"),
        format!("{t}:5: no \"text\""),
        format!("{t}:6: neither \"id\" nor \"audio_filepath\""),
        format!("{t}:7: \"text\" is not a string"),
        format!("{t}:8: not a JSON object"),
    ] {
        assert!(err.contains(&want), "{want} not in {err}");
    }
    assert!(err.contains("6 bad line(s); nothing written"), "{err}");
    for secret in ["4301", "7895", "1234567"] {
        assert!(!err.contains(secret), "{secret} in {err}");
    }
    assert!(!out.exists(), "nothing written");
}

/// Usage errors (exit 2) name the flag; an existing OUT is untouched.
#[test]
fn usage_errors_name_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let (seg, _) = segmented(tmp.path());
    let m = seg.join("manifest.jsonl");
    let t_path = tmp.path().join("t.jsonl");
    fs::write(&t_path, "").unwrap();
    let out = tmp.path().join("clean");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "--transcripts is required"),
        (
            vec!["--transcripts", "/nonexistent/t.jsonl"],
            "--transcripts /nonexistent/t.jsonl: cannot read",
        ),
        (
            vec!["--transcripts", s(&t_path), "--rules", "card,names"],
            "--rules: unknown rule \"names\"",
        ),
        (
            vec![
                "--transcripts",
                s(&t_path),
                "--drop-ids",
                "/nonexistent/ids",
            ],
            "--drop-ids /nonexistent/ids: cannot read",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["filter", s(&m), "-o", s(&out)];
        args.extend(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{want} not in {}", stderr(&o));
    }
    assert!(!out.exists());
    // Filtering in place would replace the segment run's manifest and report.
    let before = tree(&seg);
    let o = run(&["filter", s(&m), "-o", s(&seg), "--transcripts", s(&t_path)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the manifest's own folder"),
        "{}",
        stderr(&o)
    );
    assert_eq!(tree(&seg), before);
}

/// Rows of `run --no-wav` (with features): `mel_filepath` is rewritten and
/// still names the same `.npy`; transcripts keyed by the shared source file
/// match no chunk (said on stderr, even with -q), ids do.
#[test]
fn run_manifest_with_features_and_shared_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls/call02.wav");
    let ran = tmp.path().join("ran");
    let o = run(&["run", s(&fx), "-o", s(&ran), "--no-wav", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = read_jsonl(&ran.join("manifest.jsonl"));
    assert!(rows.len() >= 2);
    let t_path = tmp.path().join("t.jsonl");
    write_lines(
        &t_path,
        &[
            json!({"audio_filepath": s(&fx), "text": "общий файл"}),
            json!({"id": rows[1]["id"], "text": "ИИН 850315300128"}),
        ],
    );
    let out = tmp.path().join("deep/clean");
    let o = run(&[
        "filter",
        s(&ran.join("manifest.jsonl")),
        "-o",
        s(&out),
        "--transcripts",
        s(&t_path),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: 1 transcript row(s)"), "{err}");
    let kept = read_jsonl(&out.join("manifest.jsonl"));
    assert_eq!(kept.len(), rows.len() - 1);
    assert!(kept.iter().all(|r| r["text"] == ""));
    assert!(kept.iter().all(|r| r["id"] != rows[1]["id"]));
    let r0 = &kept[0];
    assert_eq!(r0["id"], rows[0]["id"]);
    let mel = r0["mel_filepath"].as_str().unwrap();
    assert!(mel.starts_with("../../ran/mel/"), "{mel}");
    assert_eq!(
        fs::read(out.join(mel)).unwrap(),
        fs::read(ran.join(rows[0]["mel_filepath"].as_str().unwrap())).unwrap()
    );
    assert_eq!(r0["offset"], rows[0]["offset"]);
    assert_eq!(r0["source_channels"], rows[0]["source_channels"]);
    let q = read_jsonl(&out.join("quarantine.jsonl"));
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0]["id"].clone(), q[0]["reason"].clone()),
        (rows[1]["id"].clone(), json!("iin"))
    );
}

/// `filter --help` is plain text and ends with examples.
#[test]
fn help_has_examples() {
    let o = run(&["filter", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(!help.contains("[`") && !help.contains("crate::"), "{help}");
    for want in [
        "MANIFEST",
        "--transcripts",
        "--drop-ids",
        "--rules",
        "--require-text",
    ] {
        assert!(help.contains(want), "{want}: {help}");
    }
    let examples = help.split("Examples:").nth(1).expect("examples");
    assert!(examples.contains("callprep filter "), "{examples}");
}
