//! `callprep inspect CALL.wav -o call.png [--from S --to S]`: reads one
//! call, analyses it with the real stages ([`crate::inspect::analyse`]),
//! draws it ([`crate::inspect::draw()`]) and says what it drew.

use anyhow::{Context, Result};

use crate::config::{Config, Tool, UsageError};
use crate::engine::Outcome;
use crate::inspect::{self, InspectError};

/// Runs `inspect`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    let Some(Tool::Inspect(x)) = &cfg.tool else {
        unreachable!("inspect is configured with inspect settings")
    };
    let seg = cfg.segment.as_ref().expect("inspect has segment settings");
    let mel = cfg.mel.as_ref().expect("inspect has mel settings");
    let bytes =
        std::fs::read(&x.call).with_context(|| format!("cannot read {}", x.call.display()))?;
    let name = x
        .call
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let call = match inspect::analyse(&name, &bytes, seg, mel, cfg.isa, x.from_s, x.to_s) {
        Ok(c) => c,
        Err(e @ (InspectError::NoChannel | InspectError::PastEnd { .. })) => {
            return Err(UsageError(format!("{}: {e}", x.call.display())).into())
        }
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", x.call.display())),
    };
    inspect::draw(&call, &x.png, x.width_px)
        .with_context(|| format!("cannot write {}", x.png.display()))?;
    let chunks: usize = call.channels.iter().map(|c| c.plan.chunks.len()).sum();
    let dropped: usize = call.channels.iter().map(|c| c.plan.dropped.len()).sum();
    println!(
        "{}: {:.2}-{:.2} s, {} channels, {chunks} chunks kept, {dropped} speech regions dropped -> {} ({}x{} px)",
        x.call.display(),
        call.from_s,
        call.to_s,
        call.channels.len(),
        x.png.display(),
        x.width_px,
        inspect::draw::height_px(call.channels.len())
    );
    Ok(Outcome::Ok)
}
