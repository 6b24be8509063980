//! `callprep filter`: the privacy gate after the STT. Fills `text` from the
//! transcripts and removes chunks that hold personal data or are on the
//! drop list; the work is [`crate::jobs::filter`].

use anyhow::Result;

use crate::config::Config;
use crate::engine::Outcome;
use crate::jobs::filter;

/// Runs `filter`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let f = cfg.filter.as_ref().expect("filter has filter settings");
    filter::run(f, &cfg.out_dir, cfg.absolute_paths, cfg.quiet)
}
