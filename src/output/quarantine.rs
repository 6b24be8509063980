//! The quarantine list (`quarantine.jsonl`): chunks the privacy gate
//! removed, one JSON Lines row each.
//!
//! A row says which chunk (its id, source, channel and time span) and why
//! ([`QuarantineReason`]), never what was matched: no digits of a keypad
//! sequence, no card number, no transcript text. `run`/`segment` write
//! their DTMF drops here; `filter` writes its PII and drop-list drops.

use serde::{Deserialize, Serialize};

/// The file name, in OUT beside `manifest.jsonl`.
pub const QUARANTINE_FILE: &str = "quarantine.jsonl";

/// Why the gate removed a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineReason {
    /// Keypad (DTMF) tones in or within 100 ms of the chunk.
    Dtmf,
    /// A payment card number (13–19 digits, Luhn) in the transcript.
    Card,
    /// A Kazakh IIN/BIN (12 digits, check digit) in the transcript.
    Iin,
    /// A phone number in the transcript.
    Phone,
    /// A Kazakh IBAN (mod-97) in the transcript.
    Iban,
    /// An e-mail address in the transcript.
    Email,
    /// Listed in `--drop-ids` (an external NER flagged it).
    DropList,
    /// `--require-text` and no transcript for the chunk.
    NoText,
}

impl QuarantineReason {
    /// The word written to `quarantine.jsonl` and `report.json`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Dtmf => "dtmf",
            Self::Card => "card",
            Self::Iin => "iin",
            Self::Phone => "phone",
            Self::Iban => "iban",
            Self::Email => "email",
            Self::DropList => "drop_list",
            Self::NoText => "no_text",
        }
    }
}

/// One removed chunk. Times are seconds in the source, as in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineRow {
    /// The chunk id (as the manifest row would have had it).
    pub id: String,
    /// The input recording, as the manifest writes it.
    pub source: String,
    /// Channel index in the source.
    pub channel: usize,
    /// Chunk start in the source, seconds.
    pub start: f64,
    /// Chunk end in the source, seconds.
    pub end: f64,
    /// Why it was removed.
    pub reason: QuarantineReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_words_are_the_codes() {
        for r in [
            QuarantineReason::Dtmf,
            QuarantineReason::Card,
            QuarantineReason::Iin,
            QuarantineReason::Phone,
            QuarantineReason::Iban,
            QuarantineReason::Email,
            QuarantineReason::DropList,
            QuarantineReason::NoText,
        ] {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.code())
            );
        }
    }
}
