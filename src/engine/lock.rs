//! The output folder's lock: one run writes to an OUT at a time.
//!
//! In: `OUT/.callprep/lock`. Out: a [`Lock`] held for the run, or an
//! environment error naming the process that holds it. The OS drops the
//! lock when the process dies, so a lock left by a killed run is taken over.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use anyhow::Result;

use super::EnvError;

/// Holds the output folder's lock file for the run.
#[derive(Debug)]
pub struct Lock {
    /// Held for its `Drop` (which releases the OS lock); never read.
    _file: File,
}

/// Takes the lock at `path` for the output folder `out`.
pub fn lock(path: &Path, out: &Path) -> Result<Lock> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| {
            EnvError(format!(
                "output folder {} is not writable: {e}",
                out.display()
            ))
        })?;
    match f.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            return Err(EnvError(format!(
                "another callprep run ({}) is writing to {}; wait for it to finish or use another -o folder",
                holder.trim(),
                out.display()
            ))
            .into());
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(EnvError(format!("cannot lock {}: {e}", path.display())).into())
        }
    }
    f.set_len(0).ok();
    let _ = write!(f, "pid {}", std::process::id());
    Ok(Lock { _file: f })
}
