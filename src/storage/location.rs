//! A place named objects are read from and written to: a local folder or an
//! object-store prefix (`s3://bucket/prefix`). `pack` writes its shards and
//! `index.json` through it; `verify` and `unpack` read them.
//!
//! In: a location string and object names (`shard-000000.tar.age`). Out:
//! streaming readers, streaming writes that appear whole or not at all
//! (local: a temporary name in the folder, made durable, then renamed;
//! object store: a multipart upload, completed at the end), small whole
//! objects.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;

use super::object::{self, ObjectUrl};
use crate::output::atomic;

/// A local folder or an object-store prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A folder on the local filesystem (created when written to).
    Local(PathBuf),
    /// A prefix in an object store.
    Object(ObjectUrl),
}

impl Location {
    /// `s3://bucket/prefix` is an object-store prefix; anything else a folder.
    pub fn parse(s: &str) -> io::Result<Location> {
        if object::is_object_url(s) {
            Ok(Location::Object(ObjectUrl::parse(s)?))
        } else {
            Ok(Location::Local(PathBuf::from(s)))
        }
    }

    /// What a message calls `name` here.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Location::Local(d) => d.join(name).display().to_string(),
            Location::Object(u) => u.join(name).to_string(),
        }
    }

    /// Writes `name` by streaming: `fill` writes the bytes; the object
    /// appears, complete, only when `fill` succeeded (a failed or killed
    /// write leaves no object under `name`).
    pub fn write_with<F>(&self, name: &str, fill: F) -> io::Result<()>
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()>,
    {
        match self {
            Location::Local(d) => {
                fs::create_dir_all(d)?;
                atomic::write_atomic(&d.join(name), |w| fill(&mut Writeback::new(w)))
            }
            Location::Object(u) => {
                let mut w = object::create(&u.join(name))?;
                fill(&mut w)?;
                w.finish()
            }
        }
    }

    /// Writes a small object in one step.
    pub fn write_small(&self, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        match self {
            Location::Local(_) => self.write_with(name, |w| w.write_all(&bytes)),
            Location::Object(u) => object::write_all(&u.join(name), bytes),
        }
    }

    /// Reads a small object whole; `None` when there is none.
    pub fn read_small(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match self {
            Location::Local(d) => match fs::read(d.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            Location::Object(u) => object::read_all(&u.join(name)),
        }
    }

    /// Opens `name` for streaming reads; `None` when there is none.
    pub fn open(&self, name: &str) -> io::Result<Option<Box<dyn Read + Send>>> {
        match self {
            Location::Local(d) => match File::open(d.join(name)) {
                Ok(f) => Ok(Some(Box::new(BufReader::with_capacity(1 << 20, f)))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
            Location::Object(u) => {
                let url = u.join(name);
                if object::size(&url)?.is_none() {
                    return Ok(None);
                }
                Ok(Some(Box::new(object::open(&url)?)))
            }
        }
    }
}

/// Bytes written between two requests to start writing back.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// A large local write that starts the disk writes as it goes: every 8 MiB
/// it asks the kernel to write the pages just filled back (Linux:
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`, which queues the writes and
/// does not wait). The fsync that makes the object durable then waits only
/// for the tail instead of the whole shard at once.
struct Writeback<'a> {
    inner: &'a mut io::BufWriter<File>,
    /// Bytes written so far; and up to where writeback was requested.
    written: u64,
    requested: u64,
}

impl<'a> Writeback<'a> {
    fn new(inner: &'a mut io::BufWriter<File>) -> Self {
        Writeback {
            inner,
            written: 0,
            requested: 0,
        }
    }
}

impl Write for Writeback<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        if self.written - self.requested >= WRITEBACK_EVERY {
            self.inner.flush()?;
            #[cfg(target_os = "linux")]
            start_writeback(
                self.inner.get_ref(),
                self.requested,
                self.written - self.requested,
            );
            self.requested = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Queues the writeback of `len` bytes of `file` from `offset` (Linux).
/// Advice only: a failure changes nothing but the timing.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open (borrowed from `file` for the call);
    // the call reads no memory of ours.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}
