//! The instruction-set level an extractor runs, chosen once when it is built.
//!
//! In: a [`callprep_isa::Isa`] (the caller's choice, [`Isa::best`] by
//! default). Out: a [`Level`] the extractor stores and dispatches on for
//! every chunk; nothing asks the CPU again. Each level above portable is a
//! token type ([`Avx2`], [`Avx512`]) that only [`Level::new`] makes, after
//! checking that the CPU runs it: holding one is the proof that its code may
//! run. The steps with per-level code implement their trait for each token
//! in that level's file beside the portable code
//! (`spectrum/{avx2,avx512}.rs`, `filter_sum/{avx2,avx512}.rs`); the
//! extractor's loop is generic over [`Kernels`] and compiled once per level
//! inside a `#[target_feature]` entry point. Nothing here allocates.

use callprep_isa::Isa;

use crate::filter_sum::FilterSumKernel;
use crate::spectrum::SpectrumKernel;

/// The code of one level for every step that has per-level code.
pub(crate) trait Kernels: SpectrumKernel + FilterSumKernel {}

impl<T: SpectrumKernel + FilterSumKernel> Kernels for T {}

/// No hand-written intrinsics: the code every architecture runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Portable;

/// AVX2. Made only by [`Level::new`] after the CPU was checked for it.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx2(());

/// AVX-512 F and DQ, with AVX2 and FMA (the target features
/// `avx2,fma,avx512f,avx512dq`). Made only by [`Level::new`] after the CPU
/// was checked for it.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512(());

/// The level an extractor was built for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Level {
    /// [`Isa::Portable`].
    Portable(Portable),
    /// [`Isa::Avx2`].
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// [`Isa::Avx512`].
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
}

impl Level {
    /// The level for `isa`, which the CPU must run.
    ///
    /// # Panics
    /// If it does not: a caller's bug (take the level from [`Isa::best`],
    /// [`Isa::available`] or [`Isa::from_env`], which refuses such a level).
    pub(crate) fn new(isa: Isa) -> Level {
        assert!(
            isa.supported(),
            "the mel extractor was asked for {isa}, which this CPU lacks (best here: {})",
            Isa::best()
        );
        match isa {
            Isa::Portable => Level::Portable(Portable),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Level::Avx2(Avx2(())),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Level::Avx512(Avx512(())),
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only x86-64 supports {isa}"),
        }
    }

    /// The [`Isa`] this level is.
    pub(crate) fn isa(self) -> Isa {
        match self {
            Level::Portable(_) => Isa::Portable,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2(_) => Isa::Avx2,
            #[cfg(target_arch = "x86_64")]
            Level::Avx512(_) => Isa::Avx512,
        }
    }
}
