//! Input discovery (an edge of the pipeline): files, folders searched
//! recursively for `.wav` in any case, `--files-from` lists, and the stable,
//! sanitised id that names every output of an input.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead};
use std::path::{Component, Path, PathBuf};

use crate::output::ReasonCode;

/// One input recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Path to open.
    pub path: PathBuf,
    /// The path as the user gave it (or as found under a given folder), for messages.
    pub source: String,
    /// Sanitised relative name without extension: `sub/call01`. Outputs are
    /// named from it only, so they stay inside OUT and never collide.
    pub id_base: String,
}

/// A path that cannot be an input, with the reason code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The path as given.
    pub source: String,
    /// Stable reason code.
    pub code: ReasonCode,
    /// What is wrong.
    pub message: String,
}

/// Everything found.
#[derive(Debug, Default)]
pub struct Found {
    /// Inputs in a deterministic order (sorted by id).
    pub inputs: Vec<Input>,
    /// Paths that were given but cannot be processed.
    pub rejected: Vec<Rejected>,
    /// Manifest files given to `mel`.
    pub manifests: Vec<PathBuf>,
}

/// Reads `--files-from` (`-` = stdin): one path per line; blank lines and
/// lines starting with `#` are ignored.
pub fn read_list(path: &Path) -> io::Result<Vec<PathBuf>> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(io::BufReader::new(io::stdin()))
    } else {
        Box::new(io::BufReader::new(fs::File::open(path)?))
    };
    let mut out = Vec::new();
    for line in reader.split(b'\n') {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        out.push(path_from_bytes(line));
    }
    Ok(out)
}

#[cfg(unix)]
fn path_from_bytes(b: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(b))
}

#[cfg(not(unix))]
fn path_from_bytes(b: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&b).into_owned())
}

/// Whether `p` ends in `.wav` (any case).
pub fn is_wav(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("wav"))
}

fn is_manifest(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("jsonl"))
}

/// Expands the given paths. `accept_manifests` lets `.jsonl` files through
/// (for `mel`). A folder contributes every `.wav` below it, named relative to
/// the folder; a file is named by its file name.
pub fn discover(paths: &[PathBuf], accept_manifests: bool) -> Found {
    discover_with(paths, accept_manifests, Vec::new())
}

/// An input found elsewhere (an object listed under an `s3://` prefix):
/// the path to open, the path as given (for messages), and its name
/// relative to what was given (its id comes from that).
pub type Listed = (PathBuf, String, PathBuf);

/// [`discover`], plus inputs already `listed` (objects in a store); all
/// get ids, are de-duplicated and sorted together.
pub fn discover_with(paths: &[PathBuf], accept_manifests: bool, listed: Vec<Listed>) -> Found {
    let mut found = Found::default();
    let mut raw: Vec<(PathBuf, String, PathBuf)> = listed; // (path, source, rel)
    for p in paths {
        let source = p.display().to_string();
        let meta = match fs::metadata(p) {
            Ok(m) => m,
            Err(e) => {
                found.rejected.push(Rejected {
                    source,
                    code: ReasonCode::NotFound,
                    message: format!("cannot open: {e}"),
                });
                continue;
            }
        };
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(p, &mut files, &mut found.rejected);
            for f in files {
                let rel = f.strip_prefix(p).unwrap_or(&f).to_path_buf();
                raw.push((f.clone(), f.display().to_string(), rel));
            }
        } else if meta.is_file() {
            if accept_manifests && is_manifest(p) {
                found.manifests.push(p.clone());
                continue;
            }
            let rel = PathBuf::from(p.file_name().unwrap_or(p.as_os_str()));
            raw.push((p.clone(), source, rel));
        } else {
            found.rejected.push(Rejected {
                source,
                code: ReasonCode::NotRegularFile,
                message: "not a regular file (device, FIFO or socket); skipped".into(),
            });
        }
    }
    // Same path given twice: keep one.
    raw.sort();
    raw.dedup_by(|a, b| a.0 == b.0);
    let mut inputs: Vec<Input> = raw
        .into_iter()
        .map(|(path, source, rel)| {
            let (base, changed) = id_base(&rel);
            let id_base = if changed {
                format!("{base}~{:08x}", fnv1a(&path_bytes(&rel)))
            } else {
                base
            };
            Input {
                path,
                source,
                id_base,
            }
        })
        .collect();
    // Two inputs that would write the same outputs (a.wav / A.WAV, or the same
    // name under two given folders) both get their full path's hash appended.
    let mut count: HashMap<String, usize> = HashMap::new();
    for i in &inputs {
        *count.entry(i.id_base.to_lowercase()).or_default() += 1;
    }
    for i in &mut inputs {
        if count[&i.id_base.to_lowercase()] > 1 {
            i.id_base = format!("{}~{:08x}", i.id_base, fnv1a(&path_bytes(&i.path)));
        }
    }
    inputs.sort_by(|a, b| a.id_base.cmp(&b.id_base));
    found.inputs = inputs;
    found
}

/// Recursively lists `.wav` files under `dir` in sorted order. Symlinked
/// folders are not followed (no loops); symlinked files are.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, rejected: &mut Vec<Rejected>) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            rejected.push(Rejected {
                source: dir.display().to_string(),
                code: ReasonCode::NotFound,
                message: format!("cannot list folder: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let Ok(lmeta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if lmeta.is_dir() {
            walk(&p, out, rejected);
        } else if is_wav(&p) {
            match fs::metadata(&p) {
                Ok(m) if m.is_file() => out.push(p),
                Ok(m) if m.is_dir() => {}
                _ => rejected.push(Rejected {
                    source: p.display().to_string(),
                    code: ReasonCode::NotRegularFile,
                    message: "not a regular file (broken link, device, FIFO or socket); skipped"
                        .into(),
                }),
            }
        }
    }
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().as_bytes().to_vec()
}

/// 32-bit FNV-1a: a stable, dependency-free hash for disambiguating names.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Sanitised `/`-joined name without a `.wav` extension, and whether
/// sanitising changed anything. Every component keeps letters, digits, `-`,
/// `_` and `.` (not leading); `..`, `.`, root and prefixes become `_`.
pub fn id_base(rel: &Path) -> (String, bool) {
    let mut changed = false;
    let mut parts: Vec<String> = Vec::new();
    let comps: Vec<Component> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        let raw = match c {
            Component::Normal(s) => s.to_string_lossy().into_owned(),
            _ => {
                changed = true;
                parts.push("_".into());
                continue;
            }
        };
        let mut name = raw.clone();
        if i + 1 == comps.len() {
            if let Some(stem) = name
                .len()
                .checked_sub(4)
                .filter(|&k| name.is_char_boundary(k) && name[k..].eq_ignore_ascii_case(".wav"))
            {
                name.truncate(stem);
            }
        }
        let mut clean: String = name
            .chars()
            .map(|ch| {
                if ch.is_alphanumeric() || ch == '-' || ch == '_' || ch == '.' {
                    ch
                } else {
                    '_'
                }
            })
            .collect();
        if clean.starts_with('.') {
            clean.replace_range(0..1, "_");
        }
        if clean.is_empty() {
            clean.push('_');
        }
        // Keep names short enough for any filesystem (255 bytes minus suffixes).
        if clean.len() > 180 {
            let mut cut = 180;
            while !clean.is_char_boundary(cut) {
                cut -= 1;
            }
            clean.truncate(cut);
            changed = true;
        }
        if clean != name || raw.contains('\u{FFFD}') {
            changed = true;
        }
        parts.push(clean);
    }
    if parts.is_empty() {
        parts.push("_".into());
        changed = true;
    }
    (parts.join("/"), changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sanitised_and_stay_relative() {
        assert_eq!(
            id_base(Path::new("sub/call01.wav")),
            ("sub/call01".into(), false)
        );
        assert_eq!(id_base(Path::new("CALL.WAV")), ("CALL".into(), false));
        assert_eq!(
            id_base(Path::new("звонок 1.wav")),
            ("звонок_1".into(), true)
        );
        assert_eq!(id_base(Path::new("../x.wav")), ("_/x".into(), true));
        assert_eq!(id_base(Path::new("/abs/x.wav")), ("_/abs/x".into(), true));
        assert_eq!(id_base(Path::new("a\nb.wav")), ("a_b".into(), true));
        assert_eq!(id_base(Path::new(".hidden.wav")), ("_hidden".into(), true));
        assert!(!id_base(Path::new("a/b/c.wav")).0.contains(".."));
    }

    #[test]
    fn discovery_sorts_dedups_and_disambiguates() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("sub")).unwrap();
        for f in [
            "b.wav",
            "a.WAV",
            "A.wav",
            "sub/c.wav",
            "notes.txt",
            "a b.wav",
            "a_b.wav",
        ] {
            fs::write(d.join(f), b"x").unwrap();
        }
        let found = discover(&[d.to_path_buf(), d.join("b.wav")], false);
        let ids: Vec<&str> = found.inputs.iter().map(|i| i.id_base.as_str()).collect();
        assert_eq!(found.inputs.len(), 6, "{ids:?}");
        assert!(ids.contains(&"sub/c"));
        assert!(!ids.iter().any(|i| i.contains("notes")));
        // a.WAV and A.wav would collide case-insensitively: both get a hash.
        assert_eq!(
            ids.iter()
                .filter(|i| i.starts_with("a~") || i.starts_with("A~"))
                .count(),
            2
        );
        // "a b" sanitises to "a_b" plus a hash, so it cannot collide with a_b.wav.
        assert!(ids.contains(&"a_b"));
        assert!(ids.iter().any(|i| i.starts_with("a_b~")));
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let missing = discover(&[d.join("nope.wav")], false);
        assert_eq!(missing.rejected[0].code, ReasonCode::NotFound);
    }
}
