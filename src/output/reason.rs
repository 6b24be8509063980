//! Reason codes: the stable, machine-readable word for why an input failed
//! (or, for `no_speech`, why an `ok` input has no chunk). Written to
//! `report.json` (`files[].reason`) and to stderr (`[code]`).
//!
//! The README's "Reason codes" table lists exactly these; a test reads the
//! README and compares.

use serde::{Deserialize, Serialize};

use crate::stages::decode::DecodeError;

/// Why an input failed, as one stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// 0 bytes.
    EmptyFile,
    /// No RIFF/WAVE header.
    NotWav,
    /// No `fmt ` chunk.
    NoFmtChunk,
    /// No `data` chunk.
    NoDataChunk,
    /// The data chunk holds no samples.
    EmptyData,
    /// `fmt ` shorter than 16 bytes.
    BadFmtChunk,
    /// An encoding callprep does not decode (ADPCM, MP3-in-WAV, …).
    UnsupportedEncoding,
    /// Impossible bits per sample.
    BadBitsPerSample,
    /// Impossible channel count (or a manifest row names a missing channel).
    BadChannelCount,
    /// Impossible sample rate.
    BadSampleRate,
    /// `block_align` inconsistent with the channels and sample size.
    BadBlockAlign,
    /// `--strict`: the data chunk runs past the end of the file.
    Truncated,
    /// The path does not exist (or cannot be opened).
    NotFound,
    /// A FIFO, device, socket or broken link.
    NotRegularFile,
    /// An I/O error while reading.
    ReadError,
    /// The resampler refused the rate.
    ResampleError,
    /// `mel` was given a multi-channel WAV.
    NotMono,
    /// `--channels` skips every channel of the file.
    NoChannelsSelected,
    /// A setting the stage refused for this file.
    BadConfig,
    /// An output could not be written (exit 3).
    WriteFailed,
    /// Not processed: the run stopped after an output error.
    Aborted,
    /// Not finished: the run was stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// A bug: a panic inside this input's processing, caught.
    InternalError,
    /// (Status `ok`) the file holds no chunk.
    NoSpeech,
}

impl ReasonCode {
    /// Every code, in the README's order.
    pub const ALL: [ReasonCode; 24] = [
        ReasonCode::EmptyFile,
        ReasonCode::NotWav,
        ReasonCode::NoFmtChunk,
        ReasonCode::NoDataChunk,
        ReasonCode::EmptyData,
        ReasonCode::BadFmtChunk,
        ReasonCode::UnsupportedEncoding,
        ReasonCode::BadBitsPerSample,
        ReasonCode::BadChannelCount,
        ReasonCode::BadSampleRate,
        ReasonCode::BadBlockAlign,
        ReasonCode::Truncated,
        ReasonCode::NotFound,
        ReasonCode::NotRegularFile,
        ReasonCode::ReadError,
        ReasonCode::ResampleError,
        ReasonCode::NotMono,
        ReasonCode::NoChannelsSelected,
        ReasonCode::BadConfig,
        ReasonCode::WriteFailed,
        ReasonCode::Aborted,
        ReasonCode::Interrupted,
        ReasonCode::InternalError,
        ReasonCode::NoSpeech,
    ];

    /// The code as written to the report and stderr.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::EmptyFile => "empty_file",
            ReasonCode::NotWav => "not_wav",
            ReasonCode::NoFmtChunk => "no_fmt_chunk",
            ReasonCode::NoDataChunk => "no_data_chunk",
            ReasonCode::EmptyData => "empty_data",
            ReasonCode::BadFmtChunk => "bad_fmt_chunk",
            ReasonCode::UnsupportedEncoding => "unsupported_encoding",
            ReasonCode::BadBitsPerSample => "bad_bits_per_sample",
            ReasonCode::BadChannelCount => "bad_channel_count",
            ReasonCode::BadSampleRate => "bad_sample_rate",
            ReasonCode::BadBlockAlign => "bad_block_align",
            ReasonCode::Truncated => "truncated",
            ReasonCode::NotFound => "not_found",
            ReasonCode::NotRegularFile => "not_regular_file",
            ReasonCode::ReadError => "read_error",
            ReasonCode::ResampleError => "resample_error",
            ReasonCode::NotMono => "not_mono",
            ReasonCode::NoChannelsSelected => "no_channels_selected",
            ReasonCode::BadConfig => "bad_config",
            ReasonCode::WriteFailed => "write_failed",
            ReasonCode::Aborted => "aborted",
            ReasonCode::Interrupted => "interrupted",
            ReasonCode::InternalError => "internal_error",
            ReasonCode::NoSpeech => "no_speech",
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&DecodeError> for ReasonCode {
    fn from(e: &DecodeError) -> Self {
        match e {
            DecodeError::Empty => ReasonCode::EmptyFile,
            DecodeError::NotRiff(_) | DecodeError::NotWave(_) => ReasonCode::NotWav,
            DecodeError::NoFmt => ReasonCode::NoFmtChunk,
            DecodeError::NoData => ReasonCode::NoDataChunk,
            DecodeError::EmptyData => ReasonCode::EmptyData,
            DecodeError::ShortFmt(_) => ReasonCode::BadFmtChunk,
            DecodeError::UnsupportedFormat { .. } => ReasonCode::UnsupportedEncoding,
            DecodeError::BadBits { .. } => ReasonCode::BadBitsPerSample,
            DecodeError::BadChannels(_) => ReasonCode::BadChannelCount,
            DecodeError::BadSampleRate(_) => ReasonCode::BadSampleRate,
            DecodeError::BadBlockAlign { .. } => ReasonCode::BadBlockAlign,
            DecodeError::Io(_) => ReasonCode::ReadError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_codes() {
        for c in ReasonCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            let back: ReasonCode = serde_json::from_value(c.as_str().into()).unwrap();
            assert_eq!(back, c);
        }
        let mut sorted = ReasonCode::ALL.map(ReasonCode::as_str).to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ReasonCode::ALL.len(), "codes are distinct");
    }

    /// The README's table lists every code, and nothing else.
    #[test]
    fn readme_table_lists_exactly_the_codes() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### Reason codes")
            .nth(1)
            .expect("README has a Reason codes section");
        let table: Vec<&str> = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .collect();
        let mut in_readme = std::collections::BTreeSet::new();
        for row in table {
            let first = row.split('|').nth(1).unwrap_or_default();
            for part in first.split('`').skip(1).step_by(2) {
                in_readme.insert(part.to_string());
            }
        }
        let ours: std::collections::BTreeSet<String> = ReasonCode::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect();
        assert_eq!(in_readme, ours, "README reason-code table vs ReasonCode");
    }
}
