//! Which vector instruction set callprep's engines run: one choice, made once.
//!
//! In: the CPU (detected with `is_x86_feature_detected!`) and, optionally,
//! the environment variable `CALLPREP_ISA` (`portable`, `avx2`, `avx512`).
//! Out: an [`Isa`] level that an engine (the VAD port, the mel extractor)
//! takes when it is built and keeps; its hot loops dispatch on the stored
//! value and never ask the CPU again.
//!
//! A level is a ceiling: each engine runs its best code at or below it
//! (the VAD has no AVX-512 code, so at [`Isa::Avx512`] it runs its AVX2
//! code). [`Isa::Portable`] runs no hand-written intrinsics at all: the code
//! every other architecture runs, so forcing it on x86-64 tests those bytes.
//! Every level gives the same output bits; the tests check that.

use std::fmt;

/// The name of the environment variable that forces a level.
pub const ENV_VAR: &str = "CALLPREP_ISA";

/// An instruction-set level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// No hand-written vector code: plain Rust (what the compiler makes of
    /// it for the target's baseline, SSE2 on x86-64).
    Portable,
    /// x86-64 AVX2.
    Avx2,
    /// x86-64 AVX-512 F and DQ, with AVX2 and FMA.
    Avx512,
}

/// `CALLPREP_ISA` names no level, or one this CPU lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsaError {
    /// The value is not a level's name.
    Unknown(String),
    /// The level exists but this CPU cannot run it.
    Unsupported(Isa),
}

impl fmt::Display for IsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsaError::Unknown(v) => write!(
                f,
                "{ENV_VAR}={v:?} is not a level; use portable, avx2 or avx512 (or unset it)"
            ),
            IsaError::Unsupported(isa) => write!(
                f,
                "{ENV_VAR}={isa} but this CPU has no {isa}; use a lower level (best here: {})",
                Isa::best()
            ),
        }
    }
}

impl std::error::Error for IsaError {}

impl Isa {
    /// Every level, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The level's name as `CALLPREP_ISA` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The level named `s` (as [`Isa::name`] spells it).
    pub fn parse(s: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == s)
    }

    /// Whether this CPU runs the level.
    pub fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                use std::arch::is_x86_feature_detected as has;
                has!("avx2") && has!("fma") && has!("avx512f") && has!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The highest level this CPU runs.
    pub fn best() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|i| i.supported())
            .unwrap_or(Isa::Portable)
    }

    /// The levels this CPU runs, lowest first.
    pub fn available() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|i| i.supported())
    }

    /// The level named by `value` (the content of `CALLPREP_ISA`), or the
    /// best one when it is `None` or empty. Refuses an unknown name and a
    /// level this CPU lacks.
    pub fn choose(value: Option<&str>) -> Result<Isa, IsaError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Isa::best()),
            Some(v) => {
                let isa = Isa::parse(v).ok_or_else(|| IsaError::Unknown(v.to_string()))?;
                if isa.supported() {
                    Ok(isa)
                } else {
                    Err(IsaError::Unsupported(isa))
                }
            }
        }
    }

    /// [`Isa::choose`] on the environment's `CALLPREP_ISA`.
    pub fn from_env() -> Result<Isa, IsaError> {
        let v = std::env::var(ENV_VAR).ok();
        Isa::choose(v.as_deref())
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the operating system says the CPU has, read independently of
/// `is_x86_feature_detected!` (Linux `/proc/cpuinfo` flags), so that a test
/// which skips a level can check that the CPU really lacks it. `None` where
/// the OS does not say.
pub fn cpuinfo_supports(isa: Isa) -> Option<bool> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = text.lines().find(|l| l.starts_with("flags"))?;
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    Some(match isa {
        Isa::Portable => true,
        Isa::Avx2 => has("avx2"),
        Isa::Avx512 => has("avx2") && has("fma") && has("avx512f") && has("avx512dq"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_lowest_first() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert!(Isa::Portable < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
        assert_eq!(Isa::parse("AVX2"), None);
    }

    #[test]
    fn choose_refuses_unknown_and_unsupported_levels() {
        assert_eq!(Isa::choose(None), Ok(Isa::best()));
        assert_eq!(Isa::choose(Some(" ")), Ok(Isa::best()));
        assert_eq!(Isa::choose(Some("portable")), Ok(Isa::Portable));
        let e = Isa::choose(Some("sse9")).unwrap_err();
        assert_eq!(e, IsaError::Unknown("sse9".into()));
        assert!(e.to_string().contains("use portable, avx2 or avx512"));
        for isa in Isa::ALL {
            match Isa::choose(Some(isa.name())) {
                Ok(got) => assert!(got == isa && isa.supported()),
                Err(e) => assert_eq!(e, IsaError::Unsupported(isa)),
            }
        }
    }

    #[test]
    fn detection_agrees_with_the_operating_system() {
        for isa in Isa::ALL {
            if let Some(os) = cpuinfo_supports(isa) {
                assert_eq!(
                    isa.supported(),
                    os,
                    "{isa}: detection and /proc/cpuinfo disagree"
                );
            }
        }
        assert!(Isa::available().any(|i| i == Isa::best()));
    }
}
