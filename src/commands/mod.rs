//! One file per subcommand: each builds its job from the validated
//! [`Config`], finds its inputs, opens the output folder and hands the rest
//! to the [`crate::engine`].
//!
//! A new command: a file here, a variant in [`crate::cli::Command`] and
//! [`crate::config::Job`], and a line in [`run()`].

pub mod mel;
pub mod run;
pub mod segment;

use anyhow::Result;

use crate::config::{Config, Job, UsageError};
use crate::engine::{Outcome, Settings};
use crate::input::{self, Found};

/// Runs the command `cfg` describes.
pub fn run(cfg: &Config) -> Result<Outcome> {
    match cfg.job {
        Job::Run => run::run(cfg),
        Job::Segment => segment::run(cfg),
        Job::Mel => mel::run(cfg),
    }
}

/// The engine's run control from the configuration.
fn settings(cfg: &Config) -> Settings {
    Settings {
        threads: cfg.threads,
        quiet: cfg.quiet,
        resume: cfg.resume,
        timings: cfg.timings,
    }
}

/// The inputs: paths given, plus those listed in `--files-from`, discovered
/// (folders searched; `accept_manifests` for `mel`).
fn inputs(cfg: &Config, accept_manifests: bool) -> Result<Found> {
    let mut paths = cfg.inputs.clone();
    if let Some(list) = &cfg.files_from {
        let more = input::read_list(list)
            .map_err(|e| UsageError(format!("cannot read --files-from {}: {e}", list.display())))?;
        paths.extend(more);
    }
    Ok(input::discover(&paths, accept_manifests))
}
