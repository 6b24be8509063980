//! Deterministic WebDataset tar shards, written by streaming, and the
//! SHA-256 hashing that rides along.
//!
//! In: samples (sorted by id) and any `Write`. Out: a POSIX/GNU tar whose
//! members are, per sample, `KEY.json` (the manifest row), `KEY.npy` and,
//! with audio, `KEY.wav`; every header has mtime 0, uid/gid 0, mode 0644 and
//! empty user/group names, so the same samples give the same bytes. Each
//! file is copied through a small buffer: memory does not grow with the
//! shard.

use std::fs::File;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::plan::Sample;

/// Bytes per block a [`HashWriter`] hands to its inner writer and hasher.
const HASH_BLOCK: usize = 1 << 20;
/// Blocks in flight between a [`HashWriter`] and its hashing thread.
const HASH_BLOCKS: usize = 3;

/// A buffered writer that hashes (SHA-256) and counts what passes through
/// it, with the hashing on a second thread: bytes are gathered into 1 MiB
/// blocks; each full block is written to `inner` and then handed to the
/// hasher, so SHA-256 runs while the next block is built and written.
/// Memory: three blocks, reused.
pub struct HashWriter<W: Write> {
    inner: W,
    block: Vec<u8>,
    bytes: u64,
    hasher: BlockHasher,
}

/// The hashing thread and the two queues to it: full blocks there, hashed
/// (empty) blocks back.
struct BlockHasher {
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    free: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<[u8; 32]>>,
}

fn hasher_gone() -> io::Error {
    io::Error::other("the SHA-256 thread stopped")
}

impl BlockHasher {
    fn start() -> Self {
        let (full, blocks) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_BLOCKS);
        let (back, free) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_BLOCKS);
        for _ in 1..HASH_BLOCKS {
            back.send(Vec::with_capacity(HASH_BLOCK))
                .expect("the queue has room for every block");
        }
        let thread = std::thread::spawn(move || {
            let mut sha = Sha256::new();
            for mut b in blocks {
                sha.update(&b);
                b.clear();
                // The writer may be gone (an error path): the block is dropped.
                let _ = back.send(b);
            }
            sha.finalize().into()
        });
        BlockHasher {
            full: Some(full),
            free,
            thread: Some(thread),
        }
    }

    /// Hands over a full block; returns an empty one to fill.
    fn swap(&self, block: Vec<u8>) -> io::Result<Vec<u8>> {
        let next = self.free.recv().map_err(|_| hasher_gone())?;
        self.full
            .as_ref()
            .ok_or_else(hasher_gone)?
            .send(block)
            .map_err(|_| hasher_gone())?;
        Ok(next)
    }

    /// The digest of every block handed over.
    fn finish(&mut self) -> io::Result<[u8; 32]> {
        drop(self.full.take());
        self.thread
            .take()
            .ok_or_else(hasher_gone)?
            .join()
            .map_err(|_| io::Error::other("the SHA-256 thread panicked"))
    }
}

impl Drop for BlockHasher {
    /// On an error path: the thread ends when its queue closes.
    fn drop(&mut self) {
        drop(self.full.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<W: Write> HashWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            block: Vec::with_capacity(HASH_BLOCK),
            bytes: 0,
            hasher: BlockHasher::start(),
        }
    }

    /// Writes the current block to `inner` and gives it to the hasher.
    fn ship(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.inner.write_all(&self.block)?;
        let full = std::mem::take(&mut self.block);
        self.block = self.hasher.swap(full)?;
        Ok(())
    }

    /// Writes what is left to `inner` and returns it (flushed), the hex
    /// SHA-256 and the byte count of all written.
    pub fn finish(mut self) -> io::Result<(W, String, u64)> {
        self.ship()?;
        self.inner.flush()?;
        let digest = self.hasher.finish()?;
        Ok((self.inner, hex(&digest), self.bytes))
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.block.len() == HASH_BLOCK {
            self.ship()?;
        }
        let n = buf.len().min(HASH_BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    /// Bytes stay in the current block until it is full or `finish`ed.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that hashes (SHA-256) and counts what is read through it.
pub struct HashReader<R> {
    inner: R,
    sha: Sha256,
    bytes: u64,
}

impl<R: Read> HashReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashReader {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }

    /// Reads the rest (so the hash covers the whole stream), then returns
    /// the hex SHA-256 and the byte count.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((hex(&self.sha.finalize()), self.bytes))
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tar header with the fixed metadata of every member.
fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Files up to this size are read whole by the prefetch thread; larger
/// ones are streamed in pieces of this size.
const PREFETCH_MAX_BYTES: u64 = 4 << 20;
/// Files read ahead of the writer (memory: at most this many small files).
const PREFETCH_DEPTH: usize = 16;

/// One member's content, read ahead: whole, or (too large) to be streamed.
enum Content {
    Whole(Vec<u8>),
    Stream(File),
}

/// Opens `m` and checks its size against the plan.
fn open_member(m: &super::plan::Member) -> io::Result<File> {
    let f = File::open(&m.path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", m.path.display())))?;
    let now = f.metadata()?.len();
    if now != m.bytes {
        return Err(io::Error::other(format!(
            "{}: its size changed while packing ({} bytes, was {}); pack again",
            m.path.display(),
            now,
            m.bytes
        )));
    }
    Ok(f)
}

/// Reads `m` for the writer (on the prefetch thread).
fn read_member(m: &super::plan::Member) -> io::Result<Content> {
    let mut f = open_member(m)?;
    if m.bytes > PREFETCH_MAX_BYTES {
        return Ok(Content::Stream(f));
    }
    // Read into spare capacity (no zeroing first); one byte more than the
    // plan says tells a file that grew from one that did not.
    let mut buf = Vec::with_capacity(m.bytes as usize + 1);
    (&mut f)
        .take(m.bytes + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", m.path.display())))?;
    if buf.len() as u64 != m.bytes {
        return Err(io::Error::other(format!(
            "{}: its size changed while packing ({} bytes read, was {}); pack again",
            m.path.display(),
            buf.len(),
            m.bytes
        )));
    }
    Ok(Content::Whole(buf))
}

/// Writes one member: its header (through the tar crate, which also writes
/// a GNU long-name entry when the name needs one), its content, padding.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    content: Content,
    size: u64,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    let mut h = header(size);
    // Header only: with no data the crate writes no padding either.
    tar.append_data(&mut h, name, io::empty())?;
    let out = tar.get_mut();
    match content {
        Content::Whole(b) => out.write_all(&b)?,
        Content::Stream(f) => {
            scratch.resize(PREFETCH_MAX_BYTES as usize, 0);
            let mut f = f.take(size);
            let mut copied = 0u64;
            loop {
                let n = f.read(scratch)?;
                if n == 0 {
                    break;
                }
                out.write_all(&scratch[..n])?;
                copied += n as u64;
            }
            if copied != size {
                return Err(io::Error::other(format!(
                    "{name}: the file ended after {copied} of {size} bytes while packing"
                )));
            }
        }
    }
    let pad = (512 - size % 512) % 512;
    out.write_all(&[0u8; 512][..pad as usize])
}

/// Writes the tar of `samples` into `out` and finishes it (the two zero
/// blocks). A file whose size changed since the plan is an error naming it.
///
/// A second thread reads the files ahead (up to 16 small
/// files, whole), so reading overlaps hashing, encrypting and writing.
pub fn write_tar<W: Write>(samples: &[Sample], out: W) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    let mut scratch = Vec::new();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Content>>(PREFETCH_DEPTH);
        scope.spawn(move || {
            for m in samples.iter().flat_map(|s| &s.files) {
                let r = read_member(m);
                let failed = r.is_err();
                if tx.send(r).is_err() || failed {
                    return;
                }
            }
        });
        for s in samples {
            append(
                &mut tar,
                &format!("{}.json", s.key),
                Content::Whole(s.row_json.clone()),
                s.row_json.len() as u64,
                &mut scratch,
            )?;
            for m in &s.files {
                let content = rx
                    .recv()
                    .map_err(|_| io::Error::other("the file reader stopped"))??;
                append(
                    &mut tar,
                    &format!("{}.{}", s.key, m.ext),
                    content,
                    m.bytes,
                    &mut scratch,
                )?;
            }
        }
        Ok::<(), io::Error>(())
    })?;
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::plan::Member;

    fn sample(dir: &std::path::Path, id: &str, npy: &[u8]) -> Sample {
        let p = dir.join(format!("{id}.npy"));
        std::fs::write(&p, npy).unwrap();
        let json = format!(
            r#"{{"id":"{id}","audio_filepath":"a.wav","offset":0.0,"duration":2.0,"text":"","source":"s.wav","channel":0,"role":"agent","start":0.0,"end":2.0,"sample_rate":8000,"mel_filepath":"{id}.npy"}}"#
        );
        Sample {
            id: id.into(),
            key: id.into(),
            row: serde_json::from_str(&json).unwrap(),
            row_json: json.into_bytes(),
            files: vec![Member {
                ext: "npy",
                path: p,
                bytes: npy.len() as u64,
            }],
        }
    }

    #[test]
    fn tars_are_deterministic_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = vec![
            sample(dir.path(), "a-agent-0", &[1u8; 700]),
            sample(dir.path(), "b-customer-8000", &[2u8; 3]),
            // Larger than PREFETCH_MAX_BYTES: streamed, not read whole.
            sample(dir.path(), "c-agent-16000", &vec![3u8; (5 << 20) + 1]),
        ];
        let one = write_tar(&s, Vec::new()).unwrap();
        let two = write_tar(&s, Vec::new()).unwrap();
        assert_eq!(one, two);
        // The tar crate's own writer gives the same bytes.
        let mut reference = tar::Builder::new(Vec::new());
        for x in &s {
            let mut h = header(x.row_json.len() as u64);
            reference
                .append_data(&mut h, format!("{}.json", x.key), x.row_json.as_slice())
                .unwrap();
            let mut h = header(x.files[0].bytes);
            let f = File::open(&x.files[0].path).unwrap();
            reference
                .append_data(&mut h, format!("{}.npy", x.key), f)
                .unwrap();
        }
        assert_eq!(one, reference.into_inner().unwrap());
        assert_eq!(
            one.len() as u64,
            s.iter().map(Sample::tar_bytes).sum::<u64>() + 1024
        );
        let mut ar = tar::Archive::new(one.as_slice());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!(h.mode().unwrap(), 0o644);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.username().unwrap(), Some(""));
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            seen.push((name, body.len()));
        }
        assert_eq!(
            seen,
            vec![
                ("a-agent-0.json".to_string(), s[0].row_json.len()),
                ("a-agent-0.npy".to_string(), 700),
                ("b-customer-8000.json".to_string(), s[1].row_json.len()),
                ("b-customer-8000.npy".to_string(), 3),
                ("c-agent-16000.json".to_string(), s[2].row_json.len()),
                ("c-agent-16000.npy".to_string(), (5 << 20) + 1),
            ]
        );
    }

    #[test]
    fn blocks_hashed_on_the_other_thread_give_the_whole_streams_digest() {
        // 3.5 MiB in pieces of odd sizes: several full blocks handed over,
        // pieces split across blocks, a part block at the end.
        let data: Vec<u8> = (0..(7u32 << 19)).map(|i| (i * 31 % 251) as u8).collect();
        let mut w = HashWriter::new(Vec::new());
        for piece in data.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        let (inner, sha, n) = w.finish().unwrap();
        assert_eq!(inner, data);
        assert_eq!(n, data.len() as u64);
        assert_eq!(sha, hex(&Sha256::digest(&data)));
    }

    #[test]
    fn hashes_match_a_known_digest() {
        let mut w = HashWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, sha, n) = w.finish().unwrap();
        assert_eq!(inner, b"abc");
        assert_eq!(n, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let r = HashReader::new(&b"abc"[..]);
        assert_eq!(r.finish().unwrap(), (sha, 3));
    }
}
