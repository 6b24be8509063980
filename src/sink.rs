//! Output (an edge of the pipeline): atomic files, chunk WAVs, `.npy`
//! arrays, manifest rows and per-input completion records.
//!
//! Every file is written to a temporary name in its final folder
//! (`.NAME.tmp-PID-N`), flushed, synced, then renamed over the final name. A
//! killed run therefore leaves only `*.tmp-*` files (removed by the next run),
//! never a final-named partial file; a symlink planted at a final path is
//! replaced by the rename, not followed.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

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

/// Makes every staged file under `out` durable: one `syncfs` of the
/// filesystem holding `out` (instead of an `fsync` per file, ~0.75 ms each).
pub fn sync_out(out: &Path) -> io::Result<()> {
    rustix::fs::syncfs(File::open(out)?)?;
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

/// Writes mono 16-bit PCM WAV bytes of `samples` with hound: encoded in
/// memory (a per-thread buffer), then handed to `w` in one piece, so a file
/// gets them in one `write(2)` (hound straight into a file writes the data in
/// buffer-sized pieces and seeks back to patch the header).
pub fn write_wav<W: Write>(w: &mut W, samples: &[i16], rate_hz: u32) -> io::Result<()> {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        encode_wav(io::Cursor::new(&mut *buf), samples, rate_hz)?;
        w.write_all(buf)
    })
}

fn encode_wav<W: Write + io::Seek>(w: W, samples: &[i16], rate_hz: u32) -> io::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut ww = hound::WavWriter::new(w, spec).map_err(hound_err)?;
    {
        let mut iw = ww.get_i16_writer(samples.len() as u32);
        for &x in samples {
            iw.write_sample(x);
        }
        iw.flush().map_err(hound_err)?;
    }
    ww.finalize().map_err(hound_err)
}

/// Writes `a` then `b`, as one `writev(2)` when the writer passes vectored
/// writes through (a `BufWriter` does for more than its capacity).
fn write_both<W: Write>(w: &mut W, a: &[u8], b: &[u8]) -> io::Result<()> {
    let mut slices = [IoSlice::new(a), IoSlice::new(b)];
    let mut bufs = &mut slices[..];
    // Skips empty parts, so `Ok(0)` below means the writer is stuck.
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn hound_err(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Size in bytes of a mono PCM16 WAV of `n` samples as hound writes it.
pub fn wav_size(n: usize) -> u64 {
    44 + 2 * n as u64
}

/// Writes a little-endian float32, C-order `.npy` array of `shape` (header by
/// npyz, data in bulk). Any NaN/Inf is written as 0 — never reached in
/// practice, since decoding sanitises the input.
pub fn write_npy<W: Write>(w: &mut W, data: &[f32], shape: [usize; 2]) -> io::Result<()> {
    use npyz::WriterBuilder;
    debug_assert_eq!(data.len(), shape[0] * shape[1]);
    let mut header = Vec::with_capacity(128);
    npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[shape[0] as u64, shape[1] as u64])
        .writer(&mut header)
        .write_header_only()?;
    // On a little-endian machine with finite data (the normal case) the
    // array's memory already is the file's data section: header and array go
    // to the writer together, so a `BufWriter` passes them to one `writev(2)`
    // (no conversion pass, no copy into its buffer).
    let finite = data.iter().fold(true, |ok, v| ok & v.is_finite());
    if cfg!(target_endian = "little") && finite {
        return write_both(w, &header, bytemuck::cast_slice(data));
    }
    w.write_all(&header)?;
    let mut buf = [0u8; 4096];
    for block in data.chunks(buf.len() / 4) {
        for (dst, v) in buf.chunks_exact_mut(4).zip(block) {
            let v = if v.is_finite() { *v } else { 0.0 };
            dst.copy_from_slice(&v.to_le_bytes());
        }
        w.write_all(&buf[..block.len() * 4])?;
    }
    Ok(())
}

/// Size in bytes of the `.npy` file [`write_npy`] writes for `shape`.
pub fn npy_size(shape: [usize; 2]) -> u64 {
    let mut v = Vec::new();
    use npyz::WriterBuilder;
    let _ = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[shape[0] as u64, shape[1] as u64])
        .writer(&mut v)
        .write_header_only();
    v.len() as u64 + 4 * (shape[0] * shape[1]) as u64
}

/// One manifest row (one chunk). NeMo keys plus ours; `None` fields are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Stable chunk id: `<input id>-<role>-<start sample>`.
    pub id: String,
    /// Audio to read, relative to OUT (the chunk WAV, or the source with `--no-wav`).
    pub audio_filepath: String,
    /// Seconds into `audio_filepath` where the chunk starts (0 for chunk WAVs).
    pub offset: f64,
    /// Chunk length, seconds.
    pub duration: f64,
    /// Transcript placeholder (filled by a later step).
    pub text: String,
    /// Input path as given.
    pub source: String,
    /// Channel index in the source.
    pub channel: usize,
    /// Channel role (`agent`, `customer`, `mixed`, …).
    pub role: String,
    /// Chunk start in the source, seconds.
    pub start: f64,
    /// Chunk end in the source, seconds.
    pub end: f64,
    /// Rate of the chunk audio, Hz.
    pub sample_rate: u32,
    /// Features, relative to OUT.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mel_filepath: Option<String>,
    /// Feature frames.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n_frames: Option<usize>,
    /// Mel bins.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n_mels: Option<usize>,
    /// Shape of the `.npy` array.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mel_shape: Option<[usize; 2]>,
    /// The source file was truncated (decoded up to its real end).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub truncated: bool,
}

/// An output file of an input, with its expected size (for `--resume`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// Path relative to OUT.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Where a manifest row's file paths point, relative to OUT.
pub fn rel_to(out: &Path, p: &Path) -> String {
    p.strip_prefix(out)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// `path` relative to the folder `base`, using `..` where needed (both are
/// made absolute first). Falls back to the absolute path.
pub fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| -> PathBuf {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    };
    let (p, b) = (abs(path), abs(base));
    let pc: Vec<_> = p.components().collect();
    let bc: Vec<_> = b.components().collect();
    let common = pc.iter().zip(&bc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return p;
    }
    let mut out = PathBuf::new();
    for _ in common..bc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn npy_bytes_are_what_numpy_expects() {
        let mut v = Vec::new();
        write_npy(&mut v, &[1.0, 2.0, 3.0, f32::NAN, 5.0, 6.0], [2, 3]).unwrap();
        assert_eq!(&v[..6], b"\x93NUMPY");
        let header_len = u16::from_le_bytes([v[8], v[9]]) as usize;
        let header = std::str::from_utf8(&v[10..10 + header_len]).unwrap();
        assert!(header.contains("'descr': '<f4'"), "{header}");
        assert!(header.contains("'fortran_order': False"));
        assert!(header.contains("'shape': (2, 3, )"), "{header}");
        assert_eq!((10 + header_len) % 64, 0, "data is 64-byte aligned");
        let data = &v[10 + header_len..];
        assert_eq!(data.len(), 24);
        assert_eq!(f32::from_le_bytes(data[12..16].try_into().unwrap()), 0.0);
        assert_eq!(v.len() as u64, npy_size([2, 3]));
    }

    #[test]
    fn wav_bytes_roundtrip() {
        let mut bytes = Vec::new();
        let x = [0i16, 16384, -16384, 32767, -32768, 1];
        write_wav(&mut bytes, &x, 8000).unwrap();
        assert_eq!(bytes.len() as u64, wav_size(x.len()));
        let mut r = hound::WavReader::new(io::Cursor::new(bytes)).unwrap();
        assert_eq!(r.spec().sample_rate, 8000);
        let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(s, x);
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/c.wav"), Path::new("/a/out")),
            PathBuf::from("../b/c.wav")
        );
        assert_eq!(
            rel_to(Path::new("/o"), Path::new("/o/wav/x.wav")),
            "wav/x.wav"
        );
    }
}
