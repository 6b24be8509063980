//! Ctrl-C and SIGTERM: stop cleanly, keep what is complete.
//!
//! In: SIGINT or SIGTERM, at any moment of a run. Out: a flag the engine and
//! jobs poll ([`received`]): no new input starts, an input in flight stops
//! at its next block and its staged files are discarded, the manifest and
//! report are written from the inputs that completed, and the process exits
//! 130 (SIGINT) or 143 (SIGTERM). A second signal ends the process at once
//! with that code. Unix only; elsewhere nothing is installed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The last signal received (0: none) and the flag that arms the
/// immediate exit on a second one.
static STATE: OnceLock<(Arc<AtomicUsize>, Arc<AtomicBool>)> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing).
pub fn install() {
    STATE.get_or_init(|| {
        let which = Arc::new(AtomicUsize::new(0));
        let armed = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            use signal_hook::flag;
            for (sig, code) in [(SIGINT, 130), (SIGTERM, 143)] {
                // The order matters: the exit (armed by an earlier signal)
                // is checked before this signal arms it.
                let _ = flag::register_conditional_shutdown(sig, code, Arc::clone(&armed));
                let _ = flag::register(sig, Arc::clone(&armed));
                let _ = flag::register_usize(sig, Arc::clone(&which), sig as usize);
            }
        }
        (which, armed)
    });
}

/// The signal that asked the run to stop, if one did.
pub fn received() -> Option<i32> {
    let (which, _) = STATE.get()?;
    match which.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s as i32),
    }
}

/// The signal's name for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        2 => "SIGINT (Ctrl-C)",
        15 => "SIGTERM",
        _ => "a signal",
    }
}
