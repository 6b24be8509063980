//! The filter job (`filter`): the privacy gate between the STT and `mel`.
//!
//! In: a callprep manifest (its paths relative to its own folder unless
//! absolute), the STT's transcripts (`T.jsonl`: rows keyed by `id`, or by
//! `audio_filepath` relative to T's folder; `pred_text`, else `text`), an
//! optional drop list of ids, and the rules to run. Out, in OUT:
//! `manifest.jsonl` (kept rows in the input's order, `text` filled, paths
//! rewritten relative to OUT or absolute), `quarantine.jsonl` (the input
//! folder's own quarantine rows, then one row per removed chunk: id, source,
//! channel, times, reason; never text) and `report.json` (typed
//! [`Report`] with its `filter` counts).
//!
//! Not an engine [`crate::engine::Job`]: it reads text only (microseconds
//! per row), so it runs in one pass with no records or resume. Everything is
//! read and checked before anything is written: a malformed line of any
//! input is an error naming `FILE:LINE` (all of them are listed, exit 1)
//! and OUT is left as it was. The three files are written atomically.
//! Audio is not copied: kept rows point at the existing chunk files, and
//! no row, features or quarantine entry of a removed chunk carries text.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::config::{FilterConfig, UsageError};
use crate::engine::{EnvError, Outcome, OutputDir};
use crate::output::quarantine::{QuarantineReason, QuarantineRow, QUARANTINE_FILE};
use crate::output::report::{DropStat, FileEntry, FilterTotals, Report, Status, Totals};
use crate::output::row::{absolute_path, manifest_path};
use crate::output::Row;
use crate::privacy::{self, Rule};

/// At most this many input errors are printed (the count of the rest follows).
const MAX_ERRORS_SHOWN: usize = 50;

/// One transcript and the line it came from (1-based).
#[derive(Debug, Clone)]
struct Transcript {
    text: String,
    line: usize,
}

/// The transcripts, by chunk id and by absolute audio path.
#[derive(Debug, Default)]
struct Transcripts {
    by_id: HashMap<String, Transcript>,
    by_audio: HashMap<PathBuf, Transcript>,
}

/// Everything `filter` reads, checked.
struct Inputs {
    /// The manifest's folder (its paths are relative to it).
    base: PathBuf,
    rows: Vec<Row>,
    transcripts: Transcripts,
    drop_ids: HashSet<String>,
    /// The input folder's quarantine rows (DTMF drops of `run`/`segment`),
    /// their `source` resolved against `base`.
    carried: Vec<QuarantineRow>,
}

/// Runs `filter` into `out_dir`.
pub fn run(
    cfg: &FilterConfig,
    out_dir: &Path,
    absolute_paths: bool,
    quiet: bool,
) -> Result<Outcome> {
    let mut errors = Vec::new();
    let inputs = read_inputs(cfg, &mut errors)?;
    if !errors.is_empty() {
        let n = errors.len();
        for e in errors.iter().take(MAX_ERRORS_SHOWN) {
            eprintln!("callprep: error: {e}");
        }
        if n > MAX_ERRORS_SHOWN {
            eprintln!("callprep: error: … and {} more", n - MAX_ERRORS_SHOWN);
        }
        eprintln!(
            "callprep: filter: {n} bad line(s); nothing written to {}: fix them and run again",
            out_dir.display()
        );
        return Ok(Outcome::SomeFailed);
    }
    if same_folder(out_dir, &inputs.base) {
        return Err(UsageError(format!(
            "-o {}: is the manifest's own folder; filter writes a new folder",
            out_dir.display()
        ))
        .into());
    }
    let out = OutputDir::open(out_dir)?;
    let decided = decide(cfg, &inputs, &out.path, absolute_paths)?;
    write(&out, cfg, absolute_paths, &decided)?;
    let unused = decided.totals.transcripts_unused;
    if unused > 0 {
        // Always said (even with -q): chunks whose transcript was not found
        // are kept unchecked.
        eprintln!(
            "callprep: warning: {unused} transcript row(s) of {} match no chunk of the manifest \
             (keys: the chunk's id, or its own audio_filepath relative to the transcripts' folder; \
             rows of `run --no-wav` share their source, so key those by id)",
            cfg.transcripts.display()
        );
    }
    if !quiet {
        eprintln!("{}", summary(&decided.totals, &out.path));
    }
    Ok(Outcome::Ok)
}

/// Whether two folders are the same one (through symlinks too).
fn same_folder(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => absolute_path(a) == absolute_path(b),
    }
}

/// Reads `path` whole; a missing or unreadable file is a usage error naming `flag`.
fn read_text(path: &Path, flag: &str) -> Result<String, UsageError> {
    fs::read_to_string(path)
        .map_err(|e| UsageError(format!("{flag} {}: cannot read: {e}", path.display())))
}

/// The folder of `file` (`.` for a bare name).
fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads the manifest, the transcripts, the drop list and the input
/// folder's quarantine. Bad lines go to `errors` as `FILE:LINE: what`.
fn read_inputs(cfg: &FilterConfig, errors: &mut Vec<String>) -> Result<Inputs, UsageError> {
    let manifest_text = read_text(&cfg.manifest, "manifest")?;
    let transcripts_text = read_text(&cfg.transcripts, "--transcripts")?;
    let drop_text = match &cfg.drop_ids {
        Some(p) => Some(read_text(p, "--drop-ids")?),
        None => None,
    };
    let base = folder_of(&cfg.manifest);
    let m = cfg.manifest.display();
    let mut rows = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (n, line) in numbered(&manifest_text) {
        match serde_json::from_str::<Row>(line) {
            Ok(row) => {
                if let Some(first) = ids.insert(row.id.clone(), n) {
                    errors.push(format!(
                        "{m}:{n}: id {} is also the id of line {first}",
                        row.id
                    ));
                }
                rows.push(row);
            }
            Err(e) => errors.push(format!("{m}:{n}: not a callprep manifest row: {e}")),
        }
    }
    let transcripts = parse_transcripts(&cfg.transcripts, &transcripts_text, errors);
    let drop_ids = drop_text.as_deref().map(parse_drop_ids).unwrap_or_default();
    let carried = read_carried(&base, errors);
    Ok(Inputs {
        base,
        rows,
        transcripts,
        drop_ids,
        carried,
    })
}

/// The non-blank lines of `text`, numbered from 1.
fn numbered(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// Parses `T.jsonl`. A row is an object with a string `pred_text` or
/// `text` and a string `id` or `audio_filepath`. Messages never quote the
/// text (it may hold the very data the gate removes).
fn parse_transcripts(path: &Path, text: &str, errors: &mut Vec<String>) -> Transcripts {
    let t = path.display();
    let base = folder_of(path);
    let mut out = Transcripts::default();
    for (n, line) in numbered(text) {
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                // serde_json's syntax errors name a line and column, not the content.
                errors.push(format!("{t}:{n}: not valid JSON ({e})"));
                continue;
            }
        };
        let Some(obj) = value.as_object() else {
            errors.push(format!("{t}:{n}: not a JSON object"));
            continue;
        };
        let text = match (obj.get("pred_text"), obj.get("text")) {
            (Some(Value::String(s)), _) => s.clone(),
            (Some(_), _) => {
                errors.push(format!("{t}:{n}: \"pred_text\" is not a string"));
                continue;
            }
            (None, Some(Value::String(s))) => s.clone(),
            (None, Some(_)) => {
                errors.push(format!("{t}:{n}: \"text\" is not a string"));
                continue;
            }
            (None, None) => {
                errors.push(format!("{t}:{n}: no \"text\" (nor \"pred_text\")"));
                continue;
            }
        };
        let entry = Transcript { text, line: n };
        match (obj.get("id"), obj.get("audio_filepath")) {
            (Some(Value::String(id)), _) => {
                add_unique(&mut out.by_id, id.clone(), entry, &format!("id {id}"), &t, errors);
            }
            (Some(_), _) => errors.push(format!("{t}:{n}: \"id\" is not a string")),
            (None, Some(Value::String(p))) => {
                let abs = absolute_path(&base.join(p));
                let what = format!("audio_filepath {p}");
                add_unique(&mut out.by_audio, abs, entry, &what, &t, errors);
            }
            (None, Some(_)) => errors.push(format!("{t}:{n}: \"audio_filepath\" is not a string")),
            (None, None) => errors.push(format!(
                "{t}:{n}: neither \"id\" nor \"audio_filepath\": cannot tell which chunk it transcribes"
            )),
        }
    }
    out
}

/// Adds a transcript; the same key twice with another text is an error
/// naming both lines (the same text twice is accepted).
fn add_unique<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Transcript>,
    key: K,
    entry: Transcript,
    what: &str,
    file: &impl std::fmt::Display,
    errors: &mut Vec<String>,
) {
    match map.get(&key) {
        Some(first) if first.text != entry.text => errors.push(format!(
            "{file}:{}: {what} was transcribed differently at line {}; keep one",
            entry.line, first.line
        )),
        Some(_) => {}
        None => {
            map.insert(key, entry);
        }
    }
}

/// The ids of a drop list: one a line, blank lines and `#` comments ignored.
fn parse_drop_ids(text: &str) -> HashSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The quarantine rows `run`/`segment` left beside the manifest (none if
/// there is no such file), `source` resolved against `base`.
fn read_carried(base: &Path, errors: &mut Vec<String>) -> Vec<QuarantineRow> {
    let path = base.join(QUARANTINE_FILE);
    let Ok(text) = fs::read_to_string(&path) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for (n, line) in numbered(&text) {
        match serde_json::from_str::<QuarantineRow>(line) {
            Ok(mut q) => {
                q.source = base.join(&q.source).display().to_string();
                rows.push(q);
            }
            Err(e) => errors.push(format!("{}:{n}: not a quarantine row: {e}", path.display())),
        }
    }
    rows
}

/// What the gate decided.
struct Decided {
    kept: Vec<Row>,
    quarantine: Vec<QuarantineRow>,
    totals: FilterTotals,
    /// Seconds of chunks in, kept, and dropped by reason.
    seconds_in: f64,
    seconds_kept: f64,
    dropped: BTreeMap<String, DropStat>,
}

/// The reason a chunk is removed, if it is: a rule on its transcript, then
/// the drop list, then (with `--require-text`) a missing transcript.
fn verdict(
    cfg: &FilterConfig,
    id: &str,
    text: Option<&str>,
    drop_ids: &HashSet<String>,
) -> Option<QuarantineReason> {
    if let Some(rule) = text.and_then(|t| privacy::detect(t, &cfg.rules)) {
        return Some(match rule {
            Rule::Card => QuarantineReason::Card,
            Rule::Iin => QuarantineReason::Iin,
            Rule::Phone => QuarantineReason::Phone,
            Rule::Iban => QuarantineReason::Iban,
            Rule::Email => QuarantineReason::Email,
        });
    }
    if drop_ids.contains(id) {
        return Some(QuarantineReason::DropList);
    }
    (text.is_none() && cfg.require_text).then_some(QuarantineReason::NoText)
}

/// Applies the rules to every row.
fn decide(cfg: &FilterConfig, inputs: &Inputs, out: &Path, absolute: bool) -> Result<Decided> {
    let base = &inputs.base;
    let listed = |p: &str| manifest_path(&base.join(p), out, absolute);
    let mut audio_uses: HashMap<PathBuf, usize> = HashMap::new();
    let audio: Vec<PathBuf> = inputs
        .rows
        .iter()
        .map(|r| absolute_path(&base.join(&r.audio_filepath)))
        .collect();
    for a in &audio {
        *audio_uses.entry(a.clone()).or_default() += 1;
    }
    let mut used_lines: HashSet<usize> = HashSet::new();
    let mut d = Decided {
        kept: Vec::new(),
        quarantine: inputs
            .carried
            .iter()
            .map(|q| QuarantineRow {
                source: manifest_path(Path::new(&q.source), out, absolute),
                ..q.clone()
            })
            .collect(),
        totals: FilterTotals::default(),
        seconds_in: 0.0,
        seconds_kept: 0.0,
        dropped: BTreeMap::new(),
    };
    d.totals.quarantine_carried = inputs.carried.len() as u64;
    let t = &inputs.transcripts;
    for (row, audio) in inputs.rows.iter().zip(&audio) {
        // By id first; by audio file only when the file is this chunk's
        // alone (`run --no-wav` rows share their source).
        let found = t.by_id.get(&row.id).or_else(|| {
            (audio_uses.get(audio) == Some(&1))
                .then(|| t.by_audio.get(audio))
                .flatten()
        });
        if let Some(tr) = found {
            used_lines.insert(tr.line);
        }
        let text = found.map(|tr| tr.text.as_str());
        d.totals.rows_in += 1;
        d.seconds_in += row.duration;
        match verdict(cfg, &row.id, text, &inputs.drop_ids) {
            Some(reason) => {
                d.totals.rows_dropped += 1;
                *d.totals
                    .dropped_by_reason
                    .entry(reason.code().to_string())
                    .or_default() += 1;
                let stat = d.dropped.entry(reason.code().to_string()).or_default();
                stat.count += 1;
                stat.speech_s += row.duration;
                d.quarantine.push(QuarantineRow {
                    id: row.id.clone(),
                    source: listed(&row.source),
                    channel: row.channel,
                    start: row.start,
                    end: row.end,
                    reason,
                });
            }
            None => {
                d.totals.rows_kept += 1;
                d.totals.rows_without_text += u64::from(text.is_none());
                d.seconds_kept += row.duration;
                let mut kept = row.clone();
                kept.text = text.unwrap_or_default().to_string();
                kept.audio_filepath = listed(&row.audio_filepath);
                kept.source = listed(&row.source);
                kept.mel_filepath = row.mel_filepath.as_deref().map(listed);
                d.kept.push(kept);
            }
        }
    }
    d.totals.transcripts_unused = (t.by_id.len() + t.by_audio.len() - used_lines.len()) as u64;
    Ok(d)
}

/// Writes quarantine, manifest and report, each atomically.
fn write(out: &OutputDir, cfg: &FilterConfig, absolute: bool, d: &Decided) -> Result<()> {
    out.write_jsonl(QUARANTINE_FILE, &d.quarantine)?;
    out.write_jsonl("manifest.jsonl", &d.kept)?;
    let totals = Totals {
        files_ok: 1,
        audio_s: d.seconds_in,
        chunk_s: d.seconds_kept,
        chunks: d.totals.rows_kept,
        dropped: d.dropped.clone(),
        ..Totals::default()
    };
    let entry = FileEntry {
        source: cfg.manifest.display().to_string(),
        id: String::new(),
        status: Status::Ok,
        reason: None,
        error: None,
        stats: None,
    };
    let shown = |p: &Path| p.display().to_string();
    let rules: Vec<&str> = cfg.rules.iter().map(|r| r.name()).collect();
    let parameters = serde_json::json!({
        "job": crate::config::Job::Filter,
        "filter": {
            "manifest": shown(&cfg.manifest),
            "transcripts": shown(&cfg.transcripts),
            "drop_ids": cfg.drop_ids.as_deref().map(shown),
            "rules": rules,
            "require_text": cfg.require_text,
        },
        "absolute_paths": absolute,
    });
    let mut report = Report::new(parameters, &totals, vec![entry]);
    report.filter = Some(d.totals.clone());
    let path = out.path.join("report.json");
    report
        .write(&path)
        .map_err(|e| EnvError(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}

/// The line printed at the end: counts only, never text.
fn summary(t: &FilterTotals, out: &Path) -> String {
    let reasons: Vec<String> = t
        .dropped_by_reason
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let why = if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join(", "))
    };
    format!(
        "callprep: filter: {} rows in, {} kept ({} without a transcript), {} dropped{why}; wrote {}",
        t.rows_in,
        t.rows_kept,
        t.rows_without_text,
        t.rows_dropped,
        out.join("manifest.jsonl").display()
    )
}
