//! The tests. The reference is libfvad itself: through the `webrtc-vad`
//! crate's API (decisions) and, for the internal state, through the same C
//! symbols, which the crate links into every binary that uses it
//! ([`c_ffi`]). The test signals are in [`signals`].
//!
//! Every test of the port's output runs at every instruction-set level
//! whose code differs ([`per_level!`]: modules `portable` and `avx2`), and
//! a level this CPU lacks is skipped only after checking that
//! `/proc/cpuinfo` agrees ([`has_level`]). [`Isa::Avx512`] runs the AVX2
//! code, which `api::levels_are_chosen_once_and_reported` checks instead
//! of running everything a third time.

use callprep_isa::{cpuinfo_supports, Isa};

use crate::Level;

/// Whether this CPU runs `isa`. If not, asserts that the operating system
/// agrees (so that a test cannot pass by skipping on a CPU that has the
/// level) and says that the caller skips it.
pub(super) fn has_level(isa: Isa) -> bool {
    if isa.supported() {
        return true;
    }
    assert_ne!(
        cpuinfo_supports(isa),
        Some(true),
        "{isa} is not detected, but /proc/cpuinfo lists it"
    );
    eprintln!("skipped at {isa}: this CPU lacks it");
    false
}

/// Runs `test` with the code of level `isa` (which must be a level of its
/// own, not [`Isa::Avx512`]), or skips it as [`has_level`] does.
pub(super) fn at_level(isa: Isa, test: impl FnOnce(Level)) {
    if has_level(isa) {
        let level = Level::new(isa);
        assert_eq!(level.isa(), isa, "{isa} has code of its own");
        test(level);
    }
}

/// `name => |level| body;` defines test `name` once per level whose code
/// differs, as `portable::name` and `avx2::name`.
macro_rules! per_level {
    ($($name:ident => $body:expr;)*) => {
        mod portable {
            $(
                #[test]
                fn $name() {
                    $crate::tests::at_level(callprep_isa::Isa::Portable, $body);
                }
            )*
        }
        mod avx2 {
            $(
                #[test]
                fn $name() {
                    $crate::tests::at_level(callprep_isa::Isa::Avx2, $body);
                }
            )*
        }
    };
}

mod api;
mod builds;
mod c_ffi;
mod c_reference;
mod signals;
