//! One file per subcommand: each builds its job from the validated
//! [`Config`], finds its inputs, opens the output folder and hands the rest
//! to the [`crate::engine`].
//!
//! A new command: a file here, a variant in [`crate::cli::Command`] and
//! [`crate::config::Job`], and a line in [`run()`].

pub mod export;
pub mod filter;
pub mod inspect;
pub mod mel;
pub mod merge;
pub mod pack;
pub mod run;
pub mod segment;
pub mod stats;
pub mod unpack;
pub mod verify;

use anyhow::Result;

use crate::config::{Config, Job, UsageError};
use crate::engine::{self, Outcome, OutputDir, Settings};
use crate::input::{self, Found, Rejected};
use crate::jobs::segment::SegmentJob;
use crate::stages::mel::MelExtractor;

/// Runs the command `cfg` describes.
pub fn run(cfg: &Config) -> Result<Outcome> {
    crate::storage::object::configure(cfg.object.clone());
    match cfg.job {
        Job::Run => run::run(cfg),
        Job::Segment => segment::run(cfg),
        Job::Mel => mel::run(cfg),
        Job::Pack => pack::run(cfg),
        Job::Verify => verify::run(cfg),
        Job::Unpack => unpack::run(cfg),
        Job::Filter => filter::run(cfg),
        Job::Export => export::run(cfg),
        Job::Stats => stats::run(cfg),
        Job::Inspect => inspect::run(cfg),
        Job::Merge => merge::run(cfg),
    }
}

/// Segments the inputs (`run` and `segment`): features when `mel` is given,
/// chunk WAVs when `write_wav`.
fn segment_job(cfg: &Config, mel: Option<&MelExtractor>, write_wav: bool) -> Result<Outcome> {
    let seg = cfg
        .segment
        .as_ref()
        .expect("run and segment have segment settings");
    let found = inputs(cfg, false)?;
    let (items, rejected, settings) =
        sharded(cfg, found.inputs, found.rejected, |i| i.id_base.as_str());
    let out = OutputDir::open(&cfg.out_dir)?;
    let job = SegmentJob {
        seg,
        mel,
        write_wav,
        strict: cfg.strict,
        isa: cfg.isa,
        absolute_paths: cfg.absolute_paths,
    };
    engine::run(&out, &settings, cfg.parameters(), &job, &items, &rejected)
}

/// This run's part of the discovered `items` (sorted by id) under
/// `--shard` (all of them without it), keyed by `key` (a stable id); the
/// paths that could not be inputs (reported by shard 0 only); and the
/// engine's settings with the shard for the report. Every command that
/// takes `--shard` partitions its items here.
fn sharded<T>(
    cfg: &Config,
    items: Vec<T>,
    rejected: Vec<Rejected>,
    key: impl Fn(&T) -> &str,
) -> (Vec<T>, Vec<Rejected>, Settings) {
    let (items, shard) = crate::shard::select(items, cfg.shard, key);
    let rejected = crate::shard::select_rejected(rejected, cfg.shard);
    let settings = Settings {
        shard,
        ..settings(cfg)
    };
    (items, rejected, settings)
}

/// The engine's run control from the configuration.
fn settings(cfg: &Config) -> Settings {
    Settings {
        threads: cfg.threads,
        quiet: cfg.quiet,
        resume: cfg.resume,
        timings: cfg.timings,
        shard: None,
    }
}

/// The inputs: paths given, plus those listed in `--files-from`, discovered
/// (folders searched; `accept_manifests` for `mel`). Finding nothing at all
/// (an empty folder, a folder without `.wav`, an empty list) is a usage
/// error that says where callprep looked and what it reads.
fn inputs(cfg: &Config, accept_manifests: bool) -> Result<Found> {
    let mut paths = cfg.inputs.clone();
    if let Some(list) = &cfg.files_from {
        let more = input::read_list(list)
            .map_err(|e| UsageError(format!("cannot read --files-from {}: {e}", list.display())))?;
        paths.extend(more);
    }
    let (objects, paths): (Vec<_>, Vec<_>) = paths.into_iter().partition(|p| {
        p.to_str()
            .is_some_and(crate::storage::object::is_object_url)
    });
    let listed = crate::storage::object::list_inputs(&objects)?;
    let found = input::discover_with(&paths, accept_manifests, listed);
    if found.inputs.is_empty() && found.manifests.is_empty() && found.rejected.is_empty() {
        return Err(UsageError(nothing_found(&paths, accept_manifests)).into());
    }
    Ok(found)
}

/// What to say when no input was found under `paths`.
fn nothing_found(paths: &[std::path::PathBuf], accept_manifests: bool) -> String {
    let mut looked: Vec<String> = paths
        .iter()
        .take(3)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > 3 {
        looked.push(format!("and {} more", paths.len() - 3));
    }
    let looked = if looked.is_empty() {
        "an empty --files-from list".to_string()
    } else {
        looked.join(", ")
    };
    let what = if accept_manifests {
        ".wav files or manifest .jsonl files"
    } else {
        ".wav files"
    };
    format!(
        "no input found: no {what} in {looked} (folders are searched recursively). \
         callprep reads WAV only (PCM 8/16/24/32-bit, float, G.711 mu-law/A-law); \
         convert other audio first, e.g. `sox in.mp3 -r 8000 out.wav` or \
         `ffmpeg -i in.mp3 -ar 8000 out.wav`"
    )
}
