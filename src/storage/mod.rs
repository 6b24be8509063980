//! The storage seam: every input is opened and every output written through
//! [`Storage`], so that a new backend (object storage: `s3://`, …) is one
//! more variant here and no stage, job or command changes.
//!
//! In: paths (local now). Out: an [`InputReader`] (`Read + Seek`, with the
//! input's length) for inputs; for outputs, files staged under temporary
//! names ([`Staged`]), made durable and renamed in batches by the engine's
//! committer ([`Storage::commit`]), or written atomically in one step
//! ([`Storage::write_atomic`]). Local files use [`crate::output::atomic`].
//!
//! Object storage ([`object`]): an input path that is an object URL
//! (`s3://bucket/key`) opens as an [`InputReader::Object`], streamed by
//! ranged GETs; [`location::Location`] is a folder or a bucket prefix that
//! `pack`, `verify` and `unpack` read and write named objects in.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;

use crate::output::atomic;

pub mod aws_profile;
pub mod location;
pub mod object;

pub use crate::output::atomic::Staged;

/// Where inputs are read and outputs written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Storage {
    /// The local filesystem.
    #[default]
    Local,
}

/// What [`Storage::open`] found at a path.
#[derive(Debug)]
pub enum Opened {
    /// A regular file, open for reading, and its length in bytes.
    File(InputReader, u64),
    /// Something else (a folder, FIFO, device or socket): not opened, so a
    /// FIFO cannot block the reader.
    NotRegular,
}

/// An open input: bytes to read and seek in.
#[derive(Debug)]
pub enum InputReader {
    /// A local file.
    Local(File),
    /// An object in a store (`s3://…`), read in blocks by ranged GETs.
    Object(object::ObjectReader),
}

impl Read for InputReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            InputReader::Local(f) => f.read(buf),
            InputReader::Object(o) => o.read(buf),
        }
    }
}

impl Seek for InputReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            InputReader::Local(f) => f.seek(pos),
            InputReader::Object(o) => o.seek(pos),
        }
    }
}

impl Storage {
    /// Opens the input at `path` (following symlinks). A path that is not a
    /// regular file is not opened.
    pub fn open(&self, path: &Path) -> io::Result<Opened> {
        if let Some(url) = path.to_str().filter(|p| object::is_object_url(p)) {
            let r = object::open(&object::ObjectUrl::parse(url)?)?;
            let len = r.len();
            return Ok(Opened::File(InputReader::Object(r), len));
        }
        match self {
            Storage::Local => {
                if !fs::metadata(path)?.is_file() {
                    return Ok(Opened::NotRegular);
                }
                let f = File::open(path)?;
                let meta = f.metadata()?;
                if !meta.is_file() {
                    return Ok(Opened::NotRegular);
                }
                Ok(Opened::File(InputReader::Local(f), meta.len()))
            }
        }
    }

    /// Writes `path`'s content under a temporary name beside it (see
    /// [`atomic::write_staged`]); [`Storage::commit`] gives it its name.
    pub fn stage<F>(&self, path: &Path, fill: F) -> io::Result<Staged>
    where
        F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
    {
        match self {
            Storage::Local => atomic::write_staged(path, fill),
        }
    }

    /// Writes `path` in one step, atomically and durably.
    pub fn write_atomic<F>(&self, path: &Path, fill: F) -> io::Result<()>
    where
        F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
    {
        match self {
            Storage::Local => atomic::write_atomic(path, fill),
        }
    }

    /// Makes a batch of staged files under `out` durable (before any of
    /// them is renamed).
    pub fn sync(&self, out: &Path, staged: &[&Staged]) -> io::Result<()> {
        match self {
            Storage::Local => atomic::sync_out(out, staged),
        }
    }

    /// Gives one input's staged files their final names, the last one (its
    /// completion record) after all others. Call after [`Storage::sync`].
    pub fn commit(&self, staged: &[Staged], side_by_side: bool) -> io::Result<()> {
        match self {
            Storage::Local => atomic::rename_all(staged, side_by_side),
        }
    }

    /// Throws away the staged files of an input that failed.
    pub fn discard(&self, staged: Vec<Staged>) {
        match self {
            Storage::Local => atomic::discard(staged),
        }
    }

    /// Removes temporary files a killed run left under `dir`; returns how many.
    pub fn remove_stale_temps(&self, dir: &Path) -> io::Result<usize> {
        match self {
            Storage::Local => atomic::remove_stale_temps(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn open_reads_regular_files_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        fs::write(&p, b"0123456789").unwrap();
        let Opened::File(mut r, len) = Storage::Local.open(&p).unwrap() else {
            panic!("a regular file opens");
        };
        assert_eq!(len, 10);
        r.seek(SeekFrom::Start(4)).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "456789");
        assert!(matches!(
            Storage::Local.open(dir.path()).unwrap(),
            Opened::NotRegular
        ));
        let e = Storage::Local
            .open(&dir.path().join("missing"))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn staged_files_appear_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("x/a"), dir.path().join("x/b"));
        let s = Storage::Local;
        let staged = vec![
            s.stage(&a, |w| w.write_all(b"A")).unwrap(),
            s.stage(&b, |w| w.write_all(b"B")).unwrap(),
        ];
        assert!(!a.exists() && !b.exists());
        s.sync(dir.path(), &staged.iter().collect::<Vec<_>>())
            .unwrap();
        s.commit(&staged, false).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"A");
        assert_eq!(fs::read(&b).unwrap(), b"B");
        assert_eq!(s.remove_stale_temps(dir.path()).unwrap(), 0);
    }
}
