//! CPU time per pipeline stage, summed over all threads (`--timings`).
//!
//! In: `Instant`s or nanoseconds from the workers and the committer, per
//! [`Stage`]. Out: seconds per stage name for `report.json`. Lock-free
//! (one relaxed atomic add per measurement).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A stage whose CPU time is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading and decoding input blocks.
    Decode,
    /// Resampling to the pipeline rate.
    Resample,
    /// The WebRTC VAD.
    Vad,
    /// The chunker (and the bookkeeping around it).
    Chunk,
    /// Mel features.
    Mel,
    /// Writing chunk WAVs and `.npy` files.
    Write,
    /// The committer: making outputs durable and renaming them.
    Commit,
    /// The keypad-tone (DTMF) detector of the privacy gate.
    Dtmf,
}

impl Stage {
    /// Every stage, in report order.
    pub const ALL: [Stage; 8] = [
        Stage::Decode,
        Stage::Resample,
        Stage::Vad,
        Stage::Chunk,
        Stage::Mel,
        Stage::Write,
        Stage::Commit,
        Stage::Dtmf,
    ];

    /// The stage's name in `report.json`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Resample => "resample",
            Stage::Vad => "vad",
            Stage::Chunk => "chunk",
            Stage::Mel => "mel",
            Stage::Write => "write",
            Stage::Commit => "commit",
            Stage::Dtmf => "dtmf",
        }
    }
}

/// CPU nanoseconds per stage, summed over all threads.
#[derive(Debug, Default)]
pub struct Timings([AtomicU64; Stage::ALL.len()]);

impl Timings {
    /// Adds the time since `since` to `stage`.
    pub fn add(&self, stage: Stage, since: Instant) {
        self.add_ns(stage, since.elapsed().as_nanos() as u64);
    }

    /// Adds `ns` nanoseconds to `stage`.
    pub fn add_ns(&self, stage: Stage, ns: u64) {
        self.0[stage as usize].fetch_add(ns, Ordering::Relaxed);
    }

    /// Seconds per stage name.
    pub fn seconds(&self) -> BTreeMap<String, f64> {
        Stage::ALL
            .iter()
            .map(|s| {
                let ns = self.0[*s as usize].load(Ordering::Relaxed);
                (s.name().to_string(), ns as f64 / 1e9)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_by_name() {
        let t = Timings::default();
        t.add_ns(Stage::Vad, 1_500_000_000);
        t.add_ns(Stage::Vad, 500_000_000);
        t.add_ns(Stage::Commit, 250_000_000);
        let s = t.seconds();
        assert_eq!(s.len(), Stage::ALL.len());
        assert_eq!(s["vad"], 2.0);
        assert_eq!(s["commit"], 0.25);
        assert_eq!(s["decode"], 0.0);
        for (i, st) in Stage::ALL.iter().enumerate() {
            assert_eq!(*st as usize, i, "Stage::ALL is in discriminant order");
        }
    }
}
