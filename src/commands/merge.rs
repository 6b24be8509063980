//! `callprep merge SHARD_OUT… -o OUT`: the outputs of the N shards of one
//! job (`--shard K/N`) put together as if one machine had done the job.
//!
//! In: the shards' folders (or one prefix naming them), each with the
//! `report.json` and `manifest.jsonl` of a finished run. Out: `OUT/manifest.jsonl`
//! with every row in the one-machine order (inputs sorted by id, each
//! input's rows as its shard wrote them), its paths rewritten relative to OUT
//! (or absolute, as the job's `--absolute-paths` says); `OUT/report.json`
//! with the entries in that order and totals summed in it (the bytes a
//! one-machine run writes); `OUT/quarantine.jsonl` (the privacy gate's
//! drops) in the same order; and every chunk WAV and `.npy` a row names,
//! hard-linked into OUT at the same relative path (copied across file
//! systems), so OUT is a self-contained dataset with the same bytes.
//!
//! Refused, with exit code 2 and nothing written: a folder without a
//! finished run (no report, inputs interrupted or stopped by an output
//! error, manifest and report disagreeing, a run still holding its lock);
//! a folder that is not a shard; shards of different N or a K twice or
//! missing; different parameters (the key is named) or versions; shards
//! that saw different inputs; colliding input, chunk or file ids.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::{Config, UsageError};
use crate::engine::{EnvError, Outcome, OutputDir};
use crate::output::atomic::TMP_MARK;
use crate::output::quarantine::{QuarantineRow, QUARANTINE_FILE};
use crate::output::report::{FileEntry, Report, Status, Totals};
use crate::output::row::{absolute_path, manifest_path};
use crate::output::{ReasonCode, Row};
use crate::shard::ShardReport;

/// One shard's finished run.
struct ShardOut {
    /// Its folder, as given.
    dir: PathBuf,
    /// Its report.
    report: Report,
    /// Its shard.
    shard: ShardReport,
    /// Its manifest rows, in order.
    rows: Vec<Row>,
    /// Its `quarantine.jsonl` rows, in order (`None`: the job writes none).
    quarantine: Option<Vec<QuarantineRow>>,
    /// Held for the merge: no run may write the shard meanwhile.
    _lock: Option<File>,
}

/// One input of the merged job: its entry, its rows and its shard.
struct Group<'a> {
    entry: &'a FileEntry,
    rows: &'a [Row],
    quarantine: &'a [QuarantineRow],
    shard: &'a ShardOut,
}

fn refuse<T>(msg: String) -> Result<T> {
    Err(UsageError(msg).into())
}

/// Runs `merge`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let dirs = shard_dirs(&cfg.inputs)?;
    let out_abs = absolute_path(&cfg.out_dir);
    if let Some(d) = dirs.iter().find(|d| absolute_path(d) == out_abs) {
        return refuse(format!(
            "-o {} is one of the shards; merge into a new folder",
            d.display()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(d) = dirs
        .iter()
        .find(|d| !seen.insert(fs::canonicalize(d).unwrap_or_else(|_| absolute_path(d))))
    {
        return refuse(format!(
            "{} is given twice; give each shard once",
            d.display()
        ));
    }
    let shards = dirs
        .iter()
        .map(|d| read_shard(d))
        .collect::<Result<Vec<_>>>()?;
    check_set(&shards)?;
    let groups = order(&shards)?;
    check_count(&shards)?;

    let out = OutputDir::open(&cfg.out_dir)?;
    let absolute = shards[0].report.parameters["absolute_paths"] == serde_json::json!(true);
    let mut rows = Vec::new();
    let mut quarantine = Vec::new();
    let mut totals = Totals::default();
    let mut entries = Vec::new();
    for g in &groups {
        for r in g.rows {
            rows.push(relocate(r, &g.shard.dir, &out.path, absolute)?);
        }
        for q in g.quarantine {
            let mut q = q.clone();
            q.source = moved(&q.source, &g.shard.dir, &out.path, absolute)?;
            quarantine.push(q);
        }
        match (&g.entry.status, &g.entry.stats) {
            (Status::Ok, Some(stats)) => totals.add(stats),
            _ => totals.files_failed += 1,
        }
        entries.push(g.entry.clone());
    }
    out.write_jsonl("manifest.jsonl", &rows)?;
    if shards.iter().any(|s| s.quarantine.is_some()) {
        out.write_jsonl(QUARANTINE_FILE, &quarantine)?;
    }
    let mut report = Report::new(shards[0].report.parameters.clone(), &totals, entries);
    report.timings_cpu_s = summed_timings(&shards);
    let report_path = out.path.join("report.json");
    report
        .write(&report_path)
        .map_err(|e| EnvError(format!("cannot write {}: {e}", report_path.display())))?;
    if !cfg.quiet {
        eprintln!(
            "callprep: merged {} shard(s): {} input(s): {} ok, {} failed; {} chunk(s), {:.3} h of calls in → {}",
            shards.len(),
            totals.files_ok + totals.files_failed,
            totals.files_ok,
            totals.files_failed,
            totals.chunks,
            totals.audio_s / 3600.0,
            report_path.display()
        );
    }
    Ok(if totals.files_failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Ok
    })
}

/// The shards' folders: those given, or, when one path that is not a
/// run's folder is given, the folders whose names start with it
/// (`out/shard-` → `out/shard-0`, `out/shard-1`, …), sorted.
fn shard_dirs(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if given.len() != 1 || given[0].join("report.json").is_file() {
        return Ok(given.to_vec());
    }
    let p = &given[0];
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut dirs: Vec<PathBuf> = fs::read_dir(&parent)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| parent.join(e.file_name()))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    if dirs.is_empty() {
        return refuse(format!(
            "{}: not a finished run's folder (no report.json) and no folder's name starts with it; \
             give the N shard folders, or a prefix such as out/shard-",
            p.display()
        ));
    }
    Ok(dirs)
}

/// Reads one shard's report and manifest, holding its lock; refuses a
/// folder whose run did not finish.
fn read_shard(dir: &Path) -> Result<ShardOut> {
    let d = dir.display();
    let lock = hold_lock(dir)?;
    let report_path = dir.join("report.json");
    let text = match fs::read_to_string(&report_path) {
        Ok(t) => t,
        Err(e) => {
            return refuse(format!(
                "{d}: no report.json ({e}): this shard has not finished (or never ran); \
                 run it (again, with --resume) before merging"
            ))
        }
    };
    let report: Report = serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{}: not a callprep report: {e}",
            report_path.display()
        ))
    })?;
    let Some(shard) = report.shard.clone() else {
        return refuse(format!(
            "{d}: not a shard: its run had no --shard K/N; merge the outputs of `--shard K/N` runs"
        ));
    };
    let unfinished = report
        .files
        .iter()
        .filter(|f| {
            matches!(
                f.reason,
                Some(ReasonCode::Interrupted | ReasonCode::Aborted | ReasonCode::WriteFailed)
            )
        })
        .count();
    if unfinished > 0 {
        return refuse(format!(
            "{d}: shard {}/{} did not finish: {unfinished} input(s) interrupted or stopped by an \
             output error; run its command again with --resume, then merge",
            shard.k, shard.n
        ));
    }
    let manifest_path = dir.join("manifest.jsonl");
    let text = fs::read_to_string(&manifest_path).map_err(|e| {
        UsageError(format!(
            "{d}: cannot read manifest.jsonl ({e}); run the shard again with --resume"
        ))
    })?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let row: Row = serde_json::from_str(line)
            .map_err(|e| UsageError(format!("{} line {}: {e}", manifest_path.display(), n + 1)))?;
        rows.push(row);
    }
    let want: usize = report
        .files
        .iter()
        .filter_map(|f| f.stats.as_ref().map(|s| s.chunks))
        .sum();
    if want != rows.len() {
        return refuse(format!(
            "{d}: manifest.jsonl has {} row(s) but report.json counts {want} chunk(s): \
             the shard's outputs are from different runs; run it again with --resume",
            rows.len()
        ));
    }
    let quarantine = read_quarantine(dir, &report)?;
    Ok(ShardOut {
        dir: dir.to_path_buf(),
        report,
        shard,
        rows,
        quarantine,
        _lock: lock,
    })
}

/// The shard's `quarantine.jsonl` rows (`None` when the job writes no
/// such file), checked against the report's `dtmf` drops: one row each.
fn read_quarantine(dir: &Path, report: &Report) -> Result<Option<Vec<QuarantineRow>>> {
    let path = dir.join(QUARANTINE_FILE);
    let want = dtmf_drops(report.files.iter());
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound && want == 0 => return Ok(None),
        Err(e) => {
            return refuse(format!(
                "{}: cannot read {QUARANTINE_FILE} ({e}); run the shard again with --resume",
                dir.display()
            ))
        }
    };
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let row: QuarantineRow = serde_json::from_str(line)
            .map_err(|e| UsageError(format!("{} line {}: {e}", path.display(), n + 1)))?;
        rows.push(row);
    }
    if rows.len() != want {
        return refuse(format!(
            "{}: {QUARANTINE_FILE} has {} row(s) but report.json counts {want} dtmf drop(s): \
             the shard's outputs are from different runs; run it again with --resume",
            dir.display(),
            rows.len()
        ));
    }
    Ok(Some(rows))
}

/// The chunks the privacy gate removed from these inputs (each has a
/// `quarantine.jsonl` row).
fn dtmf_drops<'a>(files: impl Iterator<Item = &'a FileEntry>) -> usize {
    files
        .filter_map(|f| {
            f.stats
                .as_ref()?
                .dropped
                .get("dtmf")
                .map(|d| d.count as usize)
        })
        .sum()
}

/// Takes (shared with no writer) the lock of the shard's output folder, if
/// it has one: a run still writing the shard is refused.
fn hold_lock(dir: &Path) -> Result<Option<File>> {
    let Ok(f) = File::open(dir.join(".callprep").join("lock")) else {
        return Ok(None);
    };
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(fs::TryLockError::WouldBlock) => refuse(format!(
            "{}: a callprep run is still writing this shard; wait for it to finish",
            dir.display()
        )),
        // A file system without locks: nothing to hold.
        Err(fs::TryLockError::Error(_)) => Ok(None),
    }
}

/// The shards are K = 0..N-1 of one N, of one job (same version and
/// parameters), and saw the same inputs.
fn check_set(shards: &[ShardOut]) -> Result<()> {
    let first = &shards[0];
    let n = first.shard.n;
    let mut by_k: BTreeMap<u32, &Path> = BTreeMap::new();
    for s in shards {
        let d = s.dir.display();
        if s.shard.n != n {
            return refuse(format!(
                "{d} is shard {}/{} but {} is shard {}/{}: every shard of one job has the same N",
                s.shard.k,
                s.shard.n,
                first.dir.display(),
                first.shard.k,
                n
            ));
        }
        if let Some(other) = by_k.insert(s.shard.k, &s.dir) {
            return refuse(format!(
                "{} and {d} are both shard {}/{n}; give each shard once",
                other.display(),
                s.shard.k
            ));
        }
        if s.report.version != first.report.version {
            return refuse(format!(
                "{d} was written by callprep {} but {} by {}; run every shard with one version",
                s.report.version,
                first.dir.display(),
                first.report.version
            ));
        }
        if let Some(key) = first_difference(&first.report.parameters, &s.report.parameters, "") {
            let show = |v: &serde_json::Value| {
                pointer(v, &key).map_or("absent".to_string(), |x| x.to_string())
            };
            return refuse(format!(
                "mixed parameters: {key} is {} in {d} but {} in {}; the shards of one job \
                 must be run with the same settings",
                show(&s.report.parameters),
                show(&first.report.parameters),
                first.dir.display()
            ));
        }
        if s.shard.inputs_total != first.shard.inputs_total {
            return refuse(format!(
                "{d} saw {} input(s) in all but {} saw {}: the shards were given different \
                 inputs; run every shard on the same inputs",
                s.shard.inputs_total,
                first.dir.display(),
                first.shard.inputs_total
            ));
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|k| !by_k.contains_key(k))
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return refuse(format!(
            "shard(s) {} missing: give all {n} shard folders (got {})",
            missing.join(", "),
            shards.len()
        ));
    }
    Ok(())
}

/// Between them, the shards hold every input of the job.
fn check_count(shards: &[ShardOut]) -> Result<()> {
    let (first, n) = (&shards[0], shards[0].shard.n);
    let items: usize = shards
        .iter()
        .map(|s| s.report.files.iter().filter(|f| !f.id.is_empty()).count())
        .sum();
    if items != first.shard.inputs_total {
        return refuse(format!(
            "the {n} shards hold {items} input(s) but the job had {}: the shards were not run \
             on the same inputs",
            first.shard.inputs_total
        ));
    }
    Ok(())
}

/// Every input of every shard with its rows, in the one-machine order
/// (inputs by id, then the paths that could not be inputs); refuses ids
/// that collide.
fn order(shards: &[ShardOut]) -> Result<Vec<Group<'_>>> {
    let mut items = Vec::new();
    let mut rejected = Vec::new();
    for s in shards {
        let (mut at, mut qat) = (0, 0);
        for entry in &s.report.files {
            let n = entry.stats.as_ref().map_or(0, |st| st.chunks);
            let q = dtmf_drops(std::iter::once(entry));
            let g = Group {
                entry,
                rows: &s.rows[at..at + n],
                quarantine: s
                    .quarantine
                    .as_deref()
                    .map_or(&[], |rows| &rows[qat..qat + q]),
                shard: s,
            };
            at += n;
            qat += q;
            if entry.id.is_empty() {
                rejected.push(g);
            } else {
                items.push(g);
            }
        }
    }
    items.sort_by(|a, b| a.entry.id.cmp(&b.entry.id));
    let mut ids: HashMap<String, &Path> = HashMap::new();
    let mut chunk_ids: HashMap<String, &Path> = HashMap::new();
    for g in &items {
        let collide = |other: &Path, what: &str, id: &str| {
            refuse::<()>(format!(
                "colliding ids: {what} {id:?} is in {} and in {}; each input must be in one shard only",
                other.display(),
                g.shard.dir.display()
            ))
        };
        if let Some(other) = ids.insert(g.entry.id.to_lowercase(), &g.shard.dir) {
            collide(other, "input", &g.entry.id)?;
        }
        for r in g.rows {
            if let Some(other) = chunk_ids.insert(r.id.to_lowercase(), &g.shard.dir) {
                collide(other, "chunk", &r.id)?;
            }
        }
    }
    items.extend(rejected);
    Ok(items)
}

/// The first key (dotted path) where two parameter sets differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_difference(p, q, &path),
                    _ => Some(path),
                }
            })
        }
        _ if a == b => None,
        _ => Some(if at.is_empty() {
            "parameters".into()
        } else {
            at.into()
        }),
    }
}

/// The value at a dotted path.
fn pointer<'a>(v: &'a serde_json::Value, dotted: &str) -> Option<&'a serde_json::Value> {
    if dotted == "parameters" {
        return Some(v);
    }
    v.pointer(&format!("/{}", dotted.replace('.', "/")))
}

/// CPU seconds per stage summed over the shards that recorded them.
fn summed_timings(shards: &[ShardOut]) -> Option<BTreeMap<String, f64>> {
    let mut sum: Option<BTreeMap<String, f64>> = None;
    for t in shards
        .iter()
        .filter_map(|s| s.report.timings_cpu_s.as_ref())
    {
        let acc = sum.get_or_insert_with(BTreeMap::new);
        for (k, v) in t {
            *acc.entry(k.clone()).or_default() += v;
        }
    }
    sum
}

/// A shard's row as OUT's manifest holds it: every path re-expressed
/// against OUT; the chunk WAV and `.npy` it names inside the shard linked
/// into OUT at the same relative path.
fn relocate(row: &Row, shard: &Path, out: &Path, absolute: bool) -> Result<Row> {
    let mut r = row.clone();
    r.audio_filepath = moved(&row.audio_filepath, shard, out, absolute)?;
    r.source = moved(&row.source, shard, out, absolute)?;
    if let Some(m) = &row.mel_filepath {
        r.mel_filepath = Some(moved(m, shard, out, absolute)?);
    }
    Ok(r)
}

/// One manifest path of `shard`, made a path of `out`: a file inside the
/// shard is linked into `out`; a file elsewhere (a source) stays.
fn moved(p: &str, shard: &Path, out: &Path, absolute: bool) -> Result<String> {
    let resolved = absolute_path(&shard.join(p));
    let shard_abs = absolute_path(shard);
    let target = match resolved.strip_prefix(&shard_abs) {
        Ok(rel) => {
            let target = out.join(rel);
            place(&resolved, &target)?;
            target
        }
        Err(_) => resolved,
    };
    Ok(manifest_path(&target, out, absolute))
}

/// `src` at `dst`: a hard link (a copy across file systems), through a
/// temporary name so `dst` is never partial.
fn place(src: &Path, dst: &Path) -> Result<()> {
    let fail = |e: io::Error| EnvError(format!("cannot write {}: {e}", dst.display()));
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(fail)?;
    }
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dst.with_file_name(format!(".{name}{TMP_MARK}merge-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(src, &tmp).is_err() {
        fs::copy(src, &tmp).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            UsageError(format!(
                "cannot read {} (named by the shard's manifest): {e}",
                src.display()
            ))
        })?;
    }
    fs::rename(&tmp, dst).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_differing_parameter_is_named() {
        let a = json!({"job": "run", "segment": {"vad": {"mode": 3, "frame_ms": 30}}});
        let mut b = a.clone();
        assert_eq!(first_difference(&a, &b, ""), None);
        b["segment"]["vad"]["mode"] = json!(2);
        let key = first_difference(&a, &b, "").unwrap();
        assert_eq!(key, "segment.vad.mode");
        assert_eq!(pointer(&b, &key), Some(&json!(2)));
        b["extra"] = json!(1);
        assert_eq!(first_difference(&a, &b, "").unwrap(), "extra");
    }
}
