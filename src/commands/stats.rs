//! `callprep stats OUT [--json]`: reads OUT, prints [`crate::stats`] as
//! text bars or JSON. Rows that could not be read are named on stderr and
//! make the exit code 1.

use anyhow::Result;

use crate::config::{Config, Tool};
use crate::engine::Outcome;
use crate::export::{read_out, SpeakerFrom};
use crate::stats;

/// Runs `stats`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let Some(Tool::Stats(x)) = &cfg.tool else {
        unreachable!("stats is configured with stats settings")
    };
    let data = read_out(&x.out_dir, SpeakerFrom::Role).map_err(super::export::usage_if_input)?;
    for s in &data.skipped {
        eprintln!("callprep: skipped {s}");
    }
    let rows: Vec<_> = data.items.into_iter().map(|i| i.row).collect();
    let s = stats::compute(&rows, &data.report);
    if x.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", stats::render_text(&s));
    }
    Ok(if data.skipped.is_empty() {
        Outcome::Ok
    } else {
        Outcome::SomeFailed
    })
}
