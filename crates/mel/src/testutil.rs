//! Helpers shared by the unit tests: test signals and the levels to run.

use callprep_isa::{cpuinfo_supports, Isa};

use crate::level::Level;

/// Uniform noise in [−0.5, 0.5) from a xorshift generator.
pub(crate) fn noise(mut seed: u64) -> impl FnMut() -> f64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

/// Whether the CPU runs `isa`. When it does not, checks that the operating
/// system agrees (a detection bug must not skip a level's test silently)
/// and says that `what` skipped it.
pub(crate) fn runs(isa: Isa, what: &str) -> bool {
    if isa.supported() {
        return true;
    }
    assert_ne!(
        cpuinfo_supports(isa),
        Some(true),
        "{what}: /proc/cpuinfo lists {isa} but detection says the CPU lacks it"
    );
    eprintln!("{what}: skipped level {isa}, which this CPU lacks");
    false
}

/// Every level this CPU runs, lowest first (see [`runs`] for the others).
pub(crate) fn levels(what: &str) -> Vec<Level> {
    Isa::ALL
        .into_iter()
        .filter(|&isa| runs(isa, what))
        .map(Level::new)
        .collect()
}
