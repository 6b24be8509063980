//! Atomic output files: every file is written to a temporary name in its
//! final folder (`.NAME.tmp-PID-N`), flushed, made durable, then renamed
//! over the final name. A killed run therefore leaves only `*.tmp-*` files
//! (removed by the next run), never a final-named partial file; a symlink
//! planted at a final path is replaced by the rename, not followed.
//!
//! In: a final path and a closure that writes the content. Out: a
//! [`Staged`] file waiting for [`sync_out`] + [`rename_all`] (the engine's
//! committer does both for a batch of inputs), or, with [`write_atomic`],
//! the finished file. Local folders only; [`crate::storage`] is the seam
//! that callers go through.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Marker in the names of temporary files.
pub const TMP_MARK: &str = ".tmp-";

/// Writes `path` atomically: `fill` writes into a buffered temp file in the
/// same folder, which is synced and renamed over `path`. Creates parent folders.
pub fn write_atomic<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let staged = write_staged(path, fill)?;
    let result = File::open(&staged.tmp)
        .and_then(|f| f.sync_data())
        .and_then(|()| fs::rename(&staged.tmp, &staged.dst));
    if result.is_err() {
        let _ = fs::remove_file(&staged.tmp);
    }
    result
}

/// A file written under a temporary name, waiting for [`sync_out`] and [`rename_all`].
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dst: PathBuf,
}

/// Writes `path`'s content to a temporary file beside it (flushed, not yet
/// synced or renamed). Chunk outputs are staged, then committed per input:
/// one `syncfs` instead of one `fsync` per file (which cost ~0.75 ms each).
pub fn write_staged<F>(path: &Path, fill: F) -> io::Result<Staged>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    // The process id, asked once (a system call per file otherwise).
    static PID: OnceLock<u32> = OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    let tmp = dir.join(format!(".{name}{TMP_MARK}{pid}-{n}"));
    let result = (|| {
        let create = || OpenOptions::new().write(true).create_new(true).open(&tmp);
        // The folder exists for all but the first file written into it:
        // create it only when the open says it is missing (two system calls
        // per file fewer than `create_dir_all` up front).
        let f = match create() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
                create()?
            }
            r => r?,
        };
        // Chunk WAVs and `.npy` files arrive as one or two large writes
        // (whole buffers), which a `BufWriter` smaller than them passes
        // straight to the file: a big buffer would only add a copy. The
        // small writes of manifests and reports still get batched.
        let mut w = BufWriter::with_capacity(8 * 1024, f);
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(Staged {
            tmp,
            dst: path.to_path_buf(),
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Makes staged files durable. On Linux: one `syncfs` of the filesystem
/// holding `out` (instead of an `fsync` per file, ~0.75 ms each); elsewhere
/// (no `syncfs`): an `fsync` of each file in `staged`.
pub fn sync_out(out: &Path, staged: &[&Staged]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = staged;
        rustix::fs::syncfs(File::open(out)?)?;
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = out;
        for s in staged {
            File::open(&s.tmp)?.sync_all()?;
        }
    }
    Ok(())
}

/// Renames staged files over their final names: every file but the last
/// first, the last (callers put an input's completion record there) after
/// all of them. Call after [`sync_out`].
///
/// With `side_by_side`, a long list is renamed by two threads, one folder
/// each (a rename locks its folder, so the two do not wait on each other):
/// a long call's thousands of chunk files are committed when the call is
/// done, after everything else, so this halves the serial end of a run on
/// a single call. If the second thread cannot be started, one does it all.
pub fn rename_all(staged: &[Staged], side_by_side: bool) -> io::Result<()> {
    /// Below this many files a second thread costs more than it saves.
    const SIDE_BY_SIDE_MIN: usize = 256;
    fn rename<'a>(list: impl IntoIterator<Item = &'a Staged>) -> io::Result<()> {
        list.into_iter()
            .try_for_each(|s| fs::rename(&s.tmp, &s.dst))
    }
    let Some((last, files)) = staged.split_last() else {
        return Ok(());
    };
    let folder = files.first().and_then(|f| f.dst.parent());
    let (here, there): (Vec<&Staged>, Vec<&Staged>) =
        if side_by_side && files.len() >= SIDE_BY_SIDE_MIN {
            files.iter().partition(|s| s.dst.parent() == folder)
        } else {
            (Vec::new(), Vec::new())
        };
    if there.is_empty() {
        rename(files)?;
    } else {
        std::thread::scope(|scope| {
            let other = || rename(there.iter().copied());
            match std::thread::Builder::new().spawn_scoped(scope, other) {
                Ok(other) => {
                    let mine = rename(here.iter().copied());
                    let theirs = other
                        .join()
                        .unwrap_or_else(|_| Err(io::Error::other("a rename thread panicked")));
                    mine.and(theirs)
                }
                Err(_) => rename(files),
            }
        })?;
    }
    fs::rename(&last.tmp, &last.dst)
}

/// Removes staged files of an input that failed.
pub fn discard(staged: Vec<Staged>) {
    for s in staged {
        let _ = fs::remove_file(&s.tmp);
    }
}

/// Removes temporary files left by killed runs anywhere under `dir`.
/// Returns how many were removed.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if e.file_name().to_string_lossy().contains(TMP_MARK) {
                fs::remove_file(&p)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn atomic_write_replaces_symlinks_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim.txt");
        fs::write(&target, b"keep").unwrap();
        let out = dir.path().join("sub/out.txt");
        fs::create_dir_all(out.parent().unwrap()).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &out).unwrap();
        write_atomic(&out, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert_eq!(fs::read(&out).unwrap(), b"new");
        assert!(!fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
        let names: Vec<_> = fs::read_dir(out.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // A failing writer leaves nothing behind.
        let bad = dir.path().join("bad.txt");
        assert!(write_atomic(&bad, |_| Err(io::Error::other("boom"))).is_err());
        assert!(!bad.exists());
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 0);
    }

    /// A commit of many files in two folders, side by side or not, leaves
    /// every file under its final name with its bytes and no temporary; if
    /// a file cannot be renamed, the last one (an input's record) is not.
    #[test]
    fn rename_all_commits_every_file_and_the_last_only_after_them() {
        for side_by_side in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (wav, mel) = (dir.path().join("wav"), dir.path().join("mel"));
            fs::create_dir_all(&wav).unwrap();
            fs::create_dir_all(&mel).unwrap();
            let stage = |path: &Path, i: usize| {
                write_staged(path, |w| w.write_all(format!("{i}").as_bytes())).unwrap()
            };
            let mut staged = Vec::new();
            for i in 0..300 {
                staged.push(stage(&wav.join(format!("{i}.wav")), i));
                staged.push(stage(&mel.join(format!("{i}.npy")), i));
            }
            let record = dir.path().join("record.json");
            staged.push(stage(&record, 600));
            rename_all(&staged, side_by_side).unwrap();
            for i in 0..300 {
                let want = format!("{i}").into_bytes();
                assert_eq!(fs::read(wav.join(format!("{i}.wav"))).unwrap(), want);
                assert_eq!(fs::read(mel.join(format!("{i}.npy"))).unwrap(), want);
            }
            assert_eq!(fs::read(&record).unwrap(), b"600");
            assert_eq!(remove_stale_temps(dir.path()).unwrap(), 0);

            // One file whose temporary is gone: an error, and no record.
            let mut staged = Vec::new();
            for i in 0..300 {
                staged.push(stage(&wav.join(format!("b{i}.wav")), i));
                staged.push(stage(&mel.join(format!("b{i}.npy")), i));
            }
            fs::remove_file(&staged[301].tmp).unwrap();
            let record = dir.path().join("record-b.json");
            staged.push(stage(&record, 600));
            assert!(rename_all(&staged, side_by_side).is_err());
            assert!(!record.exists(), "side by side {side_by_side}");
        }
    }
}
