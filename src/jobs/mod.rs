//! The work a command hands to the engine, one [`crate::engine::Job`] per
//! kind of item:
//!
//! - [`segment::SegmentJob`] (`run`, `segment`): one recording → its chunk
//!   WAVs, features (for `run`) and rows, streamed through the stages;
//! - [`mel::MelJob`] (`mel`): one existing chunk (a WAV, or a manifest row)
//!   → its `.npy` and row;
//! - [`filter`] (`filter`): the privacy gate over a manifest and its
//!   transcripts, one pass over text (no engine job: nothing per item is
//!   worth a record).
//!
//! Both open their input with [`open_input`] and write features with
//! [`write_features`]; neither knows about threads beyond its own item,
//! commits, resume or the report (the engine's).

pub mod filter;
pub mod mel;
pub mod segment;

use std::cell::RefCell;
use std::io::{self, Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

use crate::engine::{Ctx, Failure, Stage};
use crate::output::{npy, row, ReasonCode};
use crate::stages::decode::{self, DecodeError, WavInfo};
use crate::stages::mel::{MelExtractor, MelScratch, Sample};
use crate::stages::resample::resample_all;
use crate::storage::{InputReader, Opened, Staged, Storage};

/// Frames read from a file per block.
const BLOCK_FRAMES: usize = 16 * 1024;

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        Failure::new(ReasonCode::from(&e), e.to_string())
    }
}

/// A read error of the input.
fn read_error(e: io::Error) -> Failure {
    Failure::new(ReasonCode::ReadError, e.to_string())
}

/// Opens an input WAV: a regular file, its header parsed (and, with
/// `strict`, refused when truncated), the reader at the start of the audio.
pub fn open_input(
    storage: Storage,
    path: &Path,
    strict: bool,
) -> Result<(InputReader, WavInfo), Failure> {
    let (mut reader, len) = match storage.open(path) {
        Ok(Opened::File(r, len)) => (r, len),
        Ok(Opened::NotRegular) => {
            return Err(Failure::new(
                ReasonCode::NotRegularFile,
                "not a regular file; skipped",
            ))
        }
        Err(e) => {
            return Err(Failure::new(
                ReasonCode::ReadError,
                format!("cannot open: {e}"),
            ))
        }
    };
    let info = decode::read_header(&mut io::BufReader::new(&mut reader), len)?;
    if info.truncated && strict {
        return Err(Failure::new(
            ReasonCode::Truncated,
            format!(
                "the data chunk runs past the end of the file ({} bytes of audio present); --strict makes this an error",
                info.data_len
            ),
        ));
    }
    reader
        .seek(SeekFrom::Start(info.data_offset))
        .map_err(read_error)?;
    Ok((reader, info))
}

thread_local! {
    /// Per-thread mel buffers, keyed by the extractor's address.
    static MEL_SCRATCH: RefCell<Option<(usize, MelScratch, Vec<f32>)>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's mel scratch and output buffer for `ex`.
fn with_scratch<R>(ex: &MelExtractor, f: impl FnOnce(&mut MelScratch, &mut Vec<f32>) -> R) -> R {
    MEL_SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        let key = ex as *const MelExtractor as usize;
        if slot.as_ref().is_none_or(|(k, _, _)| *k != key) {
            *slot = Some((key, ex.scratch(), Vec::new()));
        }
        let (_, s, out) = slot.as_mut().expect("just filled");
        f(s, out)
    })
}

/// The features file of one chunk, staged.
pub struct Features {
    /// Path relative to OUT.
    pub rel: String,
    /// Feature frames.
    pub frames: usize,
    /// Shape of the array.
    pub shape: [usize; 2],
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// Computes the features of one chunk (`samples` at `rate_hz`, resampled
/// to the extractor's rate when they differ) and stages `mel/<id>.npy`,
/// handing the staged file to `stage`.
pub fn write_features<S: Sample>(
    ctx: &Ctx,
    ex: &MelExtractor,
    samples: &[S],
    rate_hz: u32,
    id: &str,
    stage: &dyn Fn(Staged),
) -> Result<Features, Failure> {
    let t = Instant::now();
    let cfg = ex.config();
    let resampled = if rate_hz == cfg.sample_rate_hz {
        None
    } else {
        let x: Vec<f32> = samples.iter().map(|s| s.to_f64() as f32).collect();
        Some(
            resample_all(&x, rate_hz, cfg.sample_rate_hz)
                .map_err(|e| Failure::new(ReasonCode::ResampleError, e.to_string()))?,
        )
    };
    let path = ctx.out.join("mel").join(format!("{id}.npy"));
    with_scratch(ex, |s, out| {
        let frames = match &resampled {
            Some(x) => ex.compute_into(x, s, out),
            None => ex.compute_into(samples, s, out),
        };
        ctx.timings.add(Stage::Mel, t);
        let t = Instant::now();
        let shape = cfg.shape(frames);
        let staged = ctx
            .storage
            .stage(&path, |w| npy::write_npy(w, out, shape))
            .map_err(|e| Failure::write(&e, &path))?;
        stage(staged);
        ctx.timings.add(Stage::Write, t);
        Ok(Features {
            rel: row::rel_to(ctx.out, &path),
            frames,
            shape,
            bytes: npy::npy_size(shape),
        })
    })
}
