//! `callprep` binary: parse arguments, run the command, print the error
//! chain, map the outcome to an [`ExitCode`].

use clap::Parser;

use callprep::cli::Cli;
use callprep::commands;
use callprep::config::Config;
use callprep::exit_codes::ExitCode;

fn main() -> std::process::ExitCode {
    let cfg = match Config::from_cli(Cli::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("callprep: error: {e}");
            return ExitCode::Usage.into();
        }
    };
    match commands::run(&cfg) {
        Ok(outcome) => ExitCode::of_outcome(outcome).into(),
        Err(err) => {
            eprintln!("callprep: error: {err:#}");
            ExitCode::of_error(&err).into()
        }
    }
}
