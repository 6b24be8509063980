//! `callprep` binary: parse arguments, run, map the outcome to an exit code
//! (0 ok, 1 some inputs failed, 2 usage error, 3 environment failure).

use std::process::ExitCode;

use clap::Parser;

use callprep::app::{self, EnvError, Outcome};
use callprep::cli::Cli;
use callprep::config::{Config, UsageError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::from_cli(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("callprep: error: {e}");
            return ExitCode::from(2);
        }
    };
    match app::run(&cfg) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => ExitCode::from(1),
        Err(err) => {
            eprintln!("callprep: error: {err:#}");
            // Usage errors found late (an unreadable --files-from) are 2;
            // everything else that stops a whole run is the environment's
            // (EnvError: output not writable, disk full, folder locked).
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                debug_assert!(err.downcast_ref::<EnvError>().is_some() || err.chain().count() > 0);
                ExitCode::from(3)
            }
        }
    }
}
