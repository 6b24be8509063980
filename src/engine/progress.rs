//! Progress: an indicatif bar on a terminal, plain stderr lines otherwise.
//!
//! In: "one input done" events and messages from any thread. Out: the bar
//! (files done, hours of audio, ETA) or nothing; messages are printed
//! either way, above the bar when there is one.

use std::io::{self, IsTerminal};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress bar on a terminal, nothing otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    audio_s: Mutex<f64>,
}

impl Progress {
    /// A bar for `n` inputs (none when `quiet` or stderr is not a terminal).
    pub fn new(quiet: bool, n: usize) -> Progress {
        let bar = (!quiet && io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(n as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}  ETA {eta}",
                )
                .expect("template is valid"),
            );
            b
        });
        Progress {
            bar,
            audio_s: Mutex::new(0.0),
        }
    }

    /// One input done, with `audio_s` seconds of audio.
    pub fn file_done(&self, audio_s: f64) {
        if let Some(b) = &self.bar {
            let mut a = self.audio_s.lock().expect("lock not poisoned");
            *a += audio_s;
            b.set_message(format!("{:.2} h audio", *a / 3600.0));
            b.inc(1);
        }
    }

    /// Prints a line to stderr (above the bar).
    pub fn println(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{msg}")),
            None => eprintln!("{msg}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
