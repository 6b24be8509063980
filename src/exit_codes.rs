//! The process's exit codes, one enum (as fd's `exit_codes.rs`).
//!
//! In: how a command ended (an [`Outcome`], or the error that stopped it).
//! Out: the code `main` returns. The README's "Exit codes" table lists
//! these values.

use crate::config::UsageError;
use crate::engine::{EnvError, Outcome};

/// What the process tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Every input done.
    Success = 0,
    /// Some inputs failed (named on stderr and in the report); all others complete.
    SomeFailed = 1,
    /// A usage error: a bad flag or value, an unreadable `--files-from`.
    Usage = 2,
    /// The environment: output not writable, disk full, folder locked.
    Environment = 3,
    /// Stopped by SIGINT (Ctrl-C); what completed is written, `--resume` finishes.
    Interrupted = 130,
    /// Stopped by SIGTERM; as [`ExitCode::Interrupted`].
    Terminated = 143,
}

impl ExitCode {
    /// The code of a command that ran to its end.
    pub fn of_outcome(o: Outcome) -> ExitCode {
        match o {
            Outcome::Ok => ExitCode::Success,
            Outcome::SomeFailed => ExitCode::SomeFailed,
            Outcome::Interrupted(15) => ExitCode::Terminated,
            Outcome::Interrupted(_) => ExitCode::Interrupted,
        }
    }

    /// The code of an error that stopped a whole command: a usage error
    /// found late is 2; everything else (an [`EnvError`], or anything the
    /// environment threw) is 3.
    pub fn of_error(err: &anyhow::Error) -> ExitCode {
        if err.downcast_ref::<UsageError>().is_some() {
            ExitCode::Usage
        } else {
            debug_assert!(err.downcast_ref::<EnvError>().is_some() || err.chain().count() > 0);
            ExitCode::Environment
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_their_causes() {
        assert_eq!(ExitCode::of_outcome(Outcome::Ok) as u8, 0);
        assert_eq!(ExitCode::of_outcome(Outcome::SomeFailed) as u8, 1);
        let usage = anyhow::Error::new(UsageError("bad".into()));
        assert_eq!(ExitCode::of_error(&usage) as u8, 2);
        let env = anyhow::Error::new(EnvError("disk full".into())).context("writing report");
        assert_eq!(ExitCode::of_error(&env) as u8, 3);
    }

    /// The README's table has exactly these codes.
    #[test]
    fn readme_lists_the_codes() {
        let readme = include_str!("../README.md");
        let section = readme.split("## Exit codes").nth(1).expect("section");
        let codes: Vec<u8> = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .filter_map(|l| l.split('|').nth(1)?.trim().parse().ok())
            .collect();
        let ours = [
            ExitCode::Success,
            ExitCode::SomeFailed,
            ExitCode::Usage,
            ExitCode::Environment,
            ExitCode::Interrupted,
            ExitCode::Terminated,
        ]
        .map(|c| c as u8);
        assert_eq!(codes, ours);
    }
}
