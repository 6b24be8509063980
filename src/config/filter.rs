//! `filter`'s validated settings: raw [`FilterArgs`] → [`FilterConfig`].
//!
//! Refused here (exit 2, naming the flag): no `--transcripts`, an unknown
//! rule in `--rules`, OUT the manifest's own folder. Files are read later,
//! by the filter job (an unreadable `--transcripts` or `--drop-ids` file is
//! a usage error there too).

use std::path::PathBuf;

use super::{usage, UsageError};
use crate::cli::{FilterArgs, IoArgs};
use crate::output::row::absolute_path;
use crate::privacy::Rule;

/// What `filter` reads and which detectors it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterConfig {
    /// The manifest to filter.
    pub manifest: PathBuf,
    /// The STT's transcripts (JSON Lines).
    pub transcripts: PathBuf,
    /// Ids to drop, one a line.
    pub drop_ids: Option<PathBuf>,
    /// The detectors, in [`Rule::ALL`] order, each once.
    pub rules: Vec<Rule>,
    /// Chunks without a transcript are dropped (`no_text`).
    pub require_text: bool,
}

/// Validates `filter`'s arguments.
pub(super) fn filter_config(a: &FilterArgs) -> Result<FilterConfig, UsageError> {
    let Some(transcripts) = a.transcripts.clone() else {
        return usage(
            "--transcripts is required: give the STT's transcripts, a JSON Lines file of {\"id\": ..., \"text\": ...} rows",
        );
    };
    let rules = parse_rules(&a.rules)?;
    if let Some(out) = &a.output {
        let folder = a
            .manifest
            .parent()
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        if absolute_path(out) == absolute_path(&folder) {
            return usage(format!(
                "-o {}: is the manifest's own folder; filter writes a new folder (its manifest, quarantine.jsonl and report.json would replace the ones there)",
                out.display()
            ));
        }
    }
    Ok(FilterConfig {
        manifest: a.manifest.clone(),
        transcripts,
        drop_ids: a.drop_ids.clone(),
        rules,
        require_text: a.require_text,
    })
}

/// `--rules`: names separated by commas, or `none`.
fn parse_rules(list: &str) -> Result<Vec<Rule>, UsageError> {
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim) {
        if name.is_empty() || name == "none" {
            continue;
        }
        match Rule::from_name(name) {
            Some(r) => chosen.push(r),
            None => {
                let all: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
                return usage(format!(
                    "--rules: unknown rule {name:?}; use some of {} (comma-separated), or none",
                    all.join(",")
                ));
            }
        }
    }
    Ok(Rule::ALL
        .into_iter()
        .filter(|r| chosen.contains(r))
        .collect())
}

/// The common run settings of `filter`: its manifest is the one input.
pub(super) fn io_args(a: FilterArgs) -> IoArgs {
    IoArgs {
        inputs: vec![a.manifest],
        files_from: None,
        output: a.output,
        threads: None,
        quiet: a.quiet,
        resume: false,
        timings: false,
        strict: false,
        absolute_paths: a.absolute_paths,
        shard: None,
        endpoint: None,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;
    use crate::config::{Config, Job};
    use crate::privacy::Rule;

    fn parse(args: &[&str]) -> Result<Config, String> {
        Config::from_cli(Cli::try_parse_from(args).expect("clap accepts")).map_err(|e| e.0)
    }

    #[test]
    fn rules_and_required_flags() {
        let base = ["callprep", "filter", "seg/manifest.jsonl", "-o", "clean"];
        let c = parse(&[&base[..], &["--transcripts", "t.jsonl"]].concat()).unwrap();
        assert_eq!(c.job, Job::Filter);
        let f = c.filter.unwrap();
        assert_eq!(f.rules, Rule::ALL.to_vec());
        assert!(!f.require_text);
        let c = parse(&[&base[..], &["--transcripts", "t", "--rules", "email, card"]].concat())
            .unwrap();
        assert_eq!(c.filter.unwrap().rules, vec![Rule::Card, Rule::Email]);
        let c = parse(&[&base[..], &["--transcripts", "t", "--rules", "none"]].concat()).unwrap();
        assert_eq!(c.filter.unwrap().rules, vec![]);

        let e = parse(&base).unwrap_err();
        assert!(e.starts_with("--transcripts is required"), "{e}");
        let e = parse(&[&base[..], &["--transcripts", "t", "--rules", "card,ssn"]].concat())
            .unwrap_err();
        assert!(e.contains("--rules: unknown rule \"ssn\""), "{e}");
        let e = parse(&["callprep", "filter", "m.jsonl", "--transcripts", "t"]).unwrap_err();
        assert!(e.contains("-o OUT"), "{e}");
        let e = parse(&[
            "callprep",
            "filter",
            "seg/m.jsonl",
            "-o",
            "seg/.",
            "--transcripts",
            "t",
        ])
        .unwrap_err();
        assert!(e.contains("the manifest's own folder"), "{e}");
    }
}
