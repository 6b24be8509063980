//! The committer: a thread beside the workers that makes finished inputs'
//! outputs durable and gives them their final names.
//!
//! In: [`CommitJob`]s (an input's staged files, its record last) from the
//! workers. Out: the committed files; the inputs whose commit failed. One
//! durability barrier ([`crate::storage::Storage::sync`]) covers every input waiting at the
//! time, then each input's files are renamed and its record last, so
//! writeback overlaps compute and a record never precedes its files.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Instant;

use super::{Ctx, Failure, Stage};
use crate::output::ReasonCode;
use crate::storage::Staged;

/// Staged outputs of one input (its completion record last).
pub struct CommitJob {
    /// The input's index in the run.
    pub index: usize,
    /// Its staged files.
    pub staged: Vec<Staged>,
}

/// Commits inputs as they arrive, in batches, until the sender is dropped.
/// `side_by_side`: a large input's files are renamed by two threads.
/// Returns the inputs whose commit failed.
pub fn committer(
    rx: mpsc::Receiver<CommitJob>,
    out: &Path,
    ctx: &Ctx,
    side_by_side: bool,
) -> Vec<(usize, Failure)> {
    let mut failed = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let t = Instant::now();
        let all: Vec<&Staged> = batch.iter().flat_map(|j| &j.staged).collect();
        let res = ctx.storage.sync(out, &all);
        drop(all);
        for job in batch {
            let r = res
                .as_ref()
                .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))
                .and_then(|()| ctx.storage.commit(&job.staged, side_by_side));
            if let Err(e) = r {
                ctx.storage.discard(job.staged);
                ctx.abort.store(true, Ordering::Relaxed);
                failed.push((
                    job.index,
                    Failure::env(
                        ReasonCode::WriteFailed,
                        format!("cannot commit outputs to {}: {e}", out.display()),
                    ),
                ));
            }
        }
        ctx.timings.add(Stage::Commit, t);
    }
    failed
}
