//! `callprep export OUT --format F -o DEST`: reads OUT, writes DEST in the
//! format's layout ([`crate::export`]), prints what it wrote. Rows that
//! could not be read are named on stderr and make the exit code 1.

use anyhow::Result;

use crate::config::{Config, Tool, UsageError};
use crate::engine::Outcome;
use crate::export::{read_out, Dest, ExportError};

/// Runs `export`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let Some(Tool::Export(x)) = &cfg.tool else {
        unreachable!("export is configured with export settings")
    };
    let data = read_out(&x.out_dir, x.speaker_from).map_err(usage_if_input)?;
    for s in &data.skipped {
        eprintln!("callprep: skipped {s}");
    }
    let exporter = x.format.exporter();
    let mut dest = Dest::create(&x.dest, x.copy)?;
    exporter.export(&data, &mut dest).map_err(usage_if_input)?;
    let listed: Vec<&str> = dest
        .written
        .iter()
        .map(String::as_str)
        .filter(|w| !w.contains('/'))
        .collect();
    println!(
        "{}: {} rows of {} -> {} ({})",
        exporter.name(),
        data.items.len(),
        data.dir.display(),
        dest.dir.display(),
        listed.join(", ")
    );
    Ok(if data.skipped.is_empty() {
        Outcome::Ok
    } else {
        Outcome::SomeFailed
    })
}

/// A folder that is not a callprep output, or rows a format cannot express,
/// are usage errors (exit 2); reading and writing failures are not.
pub(crate) fn usage_if_input(e: ExportError) -> anyhow::Error {
    match e {
        ExportError::NotAnOutput { .. }
        | ExportError::BadReport { .. }
        | ExportError::Unsupported { .. } => UsageError(e.to_string()).into(),
        e => e.into(),
    }
}
