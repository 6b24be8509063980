//! Validated configuration, built once from the raw arguments.
//!
//! [`Config::from_cli`] rejects impossible combinations before any work, with
//! a message that names the flag and what to change. Stages receive only the
//! small per-stage configs ([`VadConfig`], [`ChunkConfig`], [`MelConfig`]).

use std::path::PathBuf;

use callprep_isa::Isa;
use serde::Serialize;

use crate::cli::{Cli, Command, DtmfArg, IoArgs, LayoutArg, MelArgs, SegmentArgs};
use crate::cli::{ExportArgs, ExportFormatArg, InspectArgs, SpeakerFromArg};
use crate::export::{ExportConfig, Format, SpeakerFrom};
use crate::shard::Shard;
use crate::stages::chunk::ChunkConfig;
use crate::stages::mel::{Layout, MelConfig, PRESETS};
use crate::stages::vad::VadConfig;
use crate::storage::object::ObjectOptions;
use crate::transfer::TransferConfig;

/// Which job to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    /// segment + mel in one pass.
    Run,
    /// Chunk WAVs + manifest.
    Segment,
    /// Features of existing chunks.
    Mel,
    /// WebDataset shards of a dataset (issue 20).
    Pack,
    /// Check a pack's shards.
    Verify,
    /// Extract a pack.
    Unpack,
    /// The privacy gate over a manifest and its transcripts.
    Filter,
    /// Another toolkit's layout of an output folder.
    Export,
    /// Summary of an output folder.
    Stats,
    /// A picture of one call.
    Inspect,
    /// The shards of one job put together.
    Merge,
}

/// Channel split, resampling, VAD and chunking settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentConfig {
    /// Pipeline rate: audio is resampled to it, VAD and chunk WAVs use it.
    pub sample_rate_hz: u32,
    /// Role per channel index; `None` skips the channel.
    pub roles: Vec<Option<String>>,
    /// VAD settings.
    pub vad: VadConfig,
    /// Chunking settings.
    pub chunk: ChunkConfig,
    /// The keypad-tone gate (`--dtmf`).
    pub dtmf: DtmfMode,
}

/// What the privacy gate does with keypad (DTMF) tones ([`crate::stages::dtmf`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DtmfMode {
    /// A chunk within [`DTMF_MARGIN_S`] of a tone is not written; it
    /// becomes a `quarantine.jsonl` row.
    Drop,
    /// Tone spans are replaced by silence in the chunk, which is kept.
    Mask,
    /// No detection.
    Off,
}

/// How close (seconds) a chunk may come to a keypad tone in `drop` mode.
pub const DTMF_MARGIN_S: f64 = 0.1;

impl SegmentConfig {
    /// The role of channel `index` in a file of `channels` channels, or `None`
    /// when the user skipped it.
    pub fn role(&self, index: usize, channels: usize) -> Option<String> {
        if channels == 1 {
            return Some("mixed".into());
        }
        match self.roles.get(index) {
            Some(r) => r.clone(),
            None => Some(format!("ch{index}")),
        }
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The job.
    pub job: Job,
    /// Input paths as given (files, folders, manifests).
    pub inputs: Vec<PathBuf>,
    /// `--files-from` list, if any.
    pub files_from: Option<PathBuf>,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Worker threads.
    pub threads: usize,
    /// Suppress progress and summary.
    pub quiet: bool,
    /// Skip inputs already complete.
    pub resume: bool,
    /// Record per-stage CPU time.
    pub timings: bool,
    /// Truncated inputs are errors.
    pub strict: bool,
    /// Manifest paths are absolute (else relative to the manifest's folder).
    pub absolute_paths: bool,
    /// Write chunk WAVs (`run --no-wav` turns this off).
    pub write_wav: bool,
    /// Segmentation settings (`run`, `segment`).
    pub segment: Option<SegmentConfig>,
    /// Feature settings (`run`, `mel`).
    pub mel: Option<MelConfig>,
    /// `mel --print-config`.
    pub print_config: bool,
    /// The instruction-set level the VAD and mel engines run: the best the
    /// CPU has, or `CALLPREP_ISA`. Never in the report: every level gives
    /// the same bytes.
    pub isa: Isa,
    /// Object storage settings (`--endpoint`, `--sse-kms-key-id`).
    pub object: ObjectOptions,
    /// `pack`, `verify`, `unpack`: their settings.
    pub transfer: Option<TransferConfig>,
    /// `filter`'s settings.
    pub filter: Option<FilterConfig>,
    /// Settings of `export`, `stats` and `inspect` (none for the others).
    pub tool: Option<Tool>,
    /// `--shard K/N`: the part of the inputs this run does (all without it).
    /// Never in the parameters: the shards of one job must merge.
    pub shard: Option<Shard>,
}

mod filter;
pub use filter::FilterConfig;

/// A usage error: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

impl Config {
    /// Validates the raw arguments.
    pub fn from_cli(cli: Cli) -> Result<Config, UsageError> {
        let filter = match &cli.command {
            Command::Filter(a) => Some(filter::filter_config(a)?),
            _ => None,
        };
        let (job, io, seg, mel, write_wav, print_config) = match cli.command {
            Command::Run {
                io,
                seg,
                mel,
                no_wav,
            } => (Job::Run, io, Some(seg), Some(mel), !no_wav, false),
            Command::Segment { no_wav: true, .. } => {
                return usage(
                    "--no-wav is a flag of `run` (its rows then point into the sources); `segment` always writes chunk WAVs",
                )
            }
            Command::Segment { io, seg, .. } => (Job::Segment, io, Some(seg), None, true, false),
            Command::Mel {
                io,
                mel,
                print_config,
            } => (Job::Mel, io, None, Some(mel), false, print_config),
            Command::Pack(a) => return crate::transfer::args::pack(a),
            Command::Verify(a) => return crate::transfer::args::verify(a),
            Command::Unpack(a) => return crate::transfer::args::unpack(a),
            Command::Filter(a) => (Job::Filter, filter::io_args(a), None, None, false, false),
            Command::Export(a) => return tool_config(Job::Export, export_config(a), None, None),
            Command::Stats(a) => {
                let stats = Tool::Stats(StatsConfig {
                    out_dir: a.out,
                    json: a.json,
                });
                return tool_config(Job::Stats, stats, None, None);
            }
            Command::Inspect { args, seg, mel } => {
                let isa = Isa::from_env().map_err(|e| UsageError(e.to_string()))?;
                let segment = segment_config(&seg, isa)?;
                let mel = mel_config(&mel)?;
                let inspect = inspect_config(args)?;
                return tool_config(Job::Inspect, inspect, Some(segment), Some(mel));
            }
            Command::Merge {
                shards,
                output,
                quiet,
            } => return merge_config(shards, output, quiet),
        };
        let mel = mel.map(|m| mel_config(&m)).transpose()?;
        let isa = Isa::from_env().map_err(|e| UsageError(e.to_string()))?;
        let segment = seg.map(|s| segment_config(&s, isa)).transpose()?;
        if !write_wav && segment.as_ref().is_some_and(|s| s.dtmf == DtmfMode::Mask) {
            return usage(
                "--dtmf mask needs chunk WAVs (with --no-wav the rows point into the sources, which still hold the tones); use --dtmf drop with --no-wav",
            );
        }
        let IoArgs {
            inputs,
            files_from,
            output,
            threads,
            quiet,
            resume,
            timings,
            strict,
            absolute_paths,
            endpoint,
            shard,
        } = io;
        let shard = shard
            .map(|s| Shard::parse(&s, |v| std::env::var(v).ok()))
            .transpose()
            .map_err(|e| UsageError(e.to_string()))?;
        let out_dir = match output {
            Some(o) => o,
            None if print_config => PathBuf::new(),
            None => return usage("the output folder is required: add -o OUT"),
        };
        if !print_config && inputs.is_empty() && files_from.is_none() {
            return usage("no inputs: give WAV files or folders, or --files-from FILE");
        }
        let threads = match threads {
            Some(0) => return usage("--threads must be at least 1"),
            Some(n) if n > 1024 => {
                return usage(format!("--threads {n} is too many; use 1 to 1024"))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(Config {
            job,
            inputs,
            files_from,
            out_dir,
            threads,
            quiet,
            resume,
            timings,
            strict,
            absolute_paths,
            write_wav,
            segment,
            mel,
            print_config,
            isa,
            object: ObjectOptions {
                endpoint,
                sse_kms_key_id: None,
            },
            transfer: None,
            filter,
            tool: None,
            shard,
        })
    }

    /// The parameters recorded in `report.json` (deterministic: no thread count).
    pub fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "job": self.job,
            "segment": self.segment,
            "mel": self.mel,
            "write_wav": self.write_wav,
            "strict": self.strict,
            "absolute_paths": self.absolute_paths,
        })
    }
}

/// `merge`: the shards' folders in `inputs`, the merged folder in `out_dir`.
fn merge_config(shards: Vec<PathBuf>, out_dir: PathBuf, quiet: bool) -> Result<Config, UsageError> {
    Ok(Config {
        job: Job::Merge,
        inputs: shards,
        files_from: None,
        out_dir,
        threads: 1,
        quiet,
        resume: false,
        timings: false,
        strict: false,
        absolute_paths: false,
        write_wav: false,
        segment: None,
        mel: None,
        print_config: false,
        isa: Isa::Portable,
        object: ObjectOptions::default(),
        transfer: None,
        filter: None,
        tool: None,
        shard: None,
    })
}

fn segment_config(a: &SegmentArgs, isa: Isa) -> Result<SegmentConfig, UsageError> {
    let vad = VadConfig {
        mode: a.vad_mode,
        frame_ms: a.vad_frame_ms,
        engine: a.vad_engine,
        isa,
    };
    if let Err(e) = vad.validate(a.sample_rate) {
        return usage(e.to_string());
    }
    if !(a.min_chunk.is_finite() && a.min_chunk > 0.0) {
        return usage(format!(
            "--min-chunk {} must be a positive number of seconds",
            a.min_chunk
        ));
    }
    if !(a.max_chunk.is_finite() && a.max_chunk >= a.min_chunk && a.max_chunk <= 3600.0) {
        return usage(format!(
            "--max-chunk {} must be at least --min-chunk {} and at most 3600 seconds",
            a.max_chunk, a.min_chunk
        ));
    }
    if a.max_chunk * f64::from(a.sample_rate)
        < f64::from(a.vad_frame_ms) * f64::from(a.sample_rate) / 1000.0
    {
        return usage("--max-chunk is shorter than one VAD frame");
    }
    for (flag, v) in [
        ("--pad-ms", a.pad_ms),
        ("--min-silence-ms", a.min_silence_ms),
        ("--min-speech-ms", a.min_speech_ms),
        ("--merge-gap-ms", a.merge_gap_ms),
    ] {
        if v > 60_000 {
            return usage(format!("{flag} {v} is too large; use at most 60000 ms"));
        }
    }
    let chunk = ChunkConfig {
        min_chunk_s: a.min_chunk,
        max_chunk_s: a.max_chunk,
        pad_ms: a.pad_ms,
        min_silence_ms: a.min_silence_ms,
        min_speech_ms: a.min_speech_ms,
        merge_gap_ms: a.merge_gap_ms,
    };
    let (min_len, max_len) = chunk.len_bounds(a.sample_rate);
    if min_len > max_len {
        return usage(format!(
            "--min-chunk {} and --max-chunk {} leave no whole number of samples at \
             --sample-rate {}; widen the range",
            a.min_chunk, a.max_chunk, a.sample_rate
        ));
    }
    let roles = parse_roles(&a.channels)?;
    Ok(SegmentConfig {
        sample_rate_hz: a.sample_rate,
        roles,
        vad,
        chunk,
        dtmf: match a.dtmf {
            DtmfArg::Drop => DtmfMode::Drop,
            DtmfArg::Mask => DtmfMode::Mask,
            DtmfArg::Off => DtmfMode::Off,
        },
    })
}

fn parse_roles(s: &str) -> Result<Vec<Option<String>>, UsageError> {
    let mut roles = Vec::new();
    for r in s.split(',') {
        let r = r.trim();
        if r == "-" {
            roles.push(None);
        } else if !r.is_empty()
            && r.len() <= 32
            && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            if roles.iter().flatten().any(|x: &String| x == r) {
                return usage(format!("--channels: role {r:?} is given twice"));
            }
            roles.push(Some(r.to_string()));
        } else {
            return usage(format!(
                "--channels: role {r:?} is not valid; use names of letters, digits and _ (e.g. agent,customer), or - to skip a channel"
            ));
        }
    }
    if roles.iter().all(Option::is_none) {
        return usage("--channels skips every channel; name at least one role");
    }
    Ok(roles)
}

fn mel_config(a: &MelArgs) -> Result<MelConfig, UsageError> {
    let Some(mut c) = MelConfig::preset(&a.preset) else {
        return usage(format!(
            "--preset {:?} is not known; use one of: {}",
            a.preset,
            PRESETS.join(", ")
        ));
    };
    if let Some(v) = a.mel_sample_rate {
        // Filter edges that were at Nyquist follow the new rate.
        let nyq_before = f64::from(c.sample_rate_hz) / 2.0;
        if c.fmax_hz == nyq_before && a.fmax.is_none() {
            c.fmax_hz = f64::from(v) / 2.0;
        }
        c.sample_rate_hz = v;
    }
    if let Some(v) = a.n_fft {
        c.n_fft = v;
    }
    if let Some(v) = a.win_length {
        c.win_length = v;
    }
    if let Some(v) = a.hop_length {
        c.hop_length = v;
    }
    if let Some(v) = a.n_mels {
        c.n_mels = v;
    }
    if let Some(v) = a.fmin {
        c.fmin_hz = v;
    }
    if let Some(v) = a.fmax {
        c.fmax_hz = v;
    }
    if let Some(v) = a.layout {
        c.layout = match v {
            LayoutArg::MelsFirst => Layout::MelsFirst,
            LayoutArg::FramesFirst => Layout::FramesFirst,
        };
    }
    if a.pad_to_seconds.is_some() {
        c.pad_to_seconds = a.pad_to_seconds;
    }
    if let Err(e) = c.validate() {
        return usage(e.to_string());
    }
    Ok(c)
}

/// Settings of the commands that read outputs or draw (`export`, `stats`, `inspect`).
#[derive(Debug, Clone, PartialEq)]
pub enum Tool {
    /// `export`.
    Export(ExportConfig),
    /// `stats`.
    Stats(StatsConfig),
    /// `inspect`.
    Inspect(InspectConfig),
}

/// `stats` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsConfig {
    /// The output folder summarised.
    pub out_dir: PathBuf,
    /// JSON instead of text.
    pub json: bool,
}

/// `inspect` settings (the segment and mel settings are the `Config`'s).
#[derive(Debug, Clone, PartialEq)]
pub struct InspectConfig {
    /// The call drawn.
    pub call: PathBuf,
    /// The PNG written.
    pub png: PathBuf,
    /// Start of the part drawn, seconds.
    pub from_s: f64,
    /// End of the part drawn, seconds (`None`: the end of the call).
    pub to_s: Option<f64>,
    /// Picture width, pixels.
    pub width_px: u32,
}

/// A `Config` for `export`, `stats` or `inspect`.
fn tool_config(
    job: Job,
    tool: Tool,
    segment: Option<SegmentConfig>,
    mel: Option<MelConfig>,
) -> Result<Config, UsageError> {
    let isa = Isa::from_env().map_err(|e| UsageError(e.to_string()))?;
    Ok(Config {
        job,
        inputs: Vec::new(),
        files_from: None,
        out_dir: PathBuf::new(),
        threads: 1,
        quiet: false,
        resume: false,
        timings: false,
        strict: false,
        absolute_paths: false,
        write_wav: false,
        segment,
        mel,
        print_config: false,
        isa,
        object: ObjectOptions::default(),
        transfer: None,
        filter: None,
        tool: Some(tool),
        shard: None,
    })
}

fn export_config(a: ExportArgs) -> Tool {
    Tool::Export(ExportConfig {
        out_dir: a.out,
        format: match a.format {
            ExportFormatArg::Nemo => Format::Nemo,
            ExportFormatArg::Hf => Format::Hf,
            ExportFormatArg::Lhotse => Format::Lhotse,
            ExportFormatArg::Kaldi => Format::Kaldi,
        },
        dest: a.output,
        copy: a.copy,
        speaker_from: match a.speaker_from {
            SpeakerFromArg::Role => SpeakerFrom::Role,
            SpeakerFromArg::Source => SpeakerFrom::Source,
        },
    })
}

fn inspect_config(a: InspectArgs) -> Result<Tool, UsageError> {
    let from_s = a.from.unwrap_or(0.0);
    if !(from_s.is_finite() && from_s >= 0.0) {
        return usage(format!(
            "--from {from_s} must be a time in seconds, 0 or more"
        ));
    }
    if let Some(to) = a.to {
        if !(to.is_finite() && to > from_s) {
            return usage(format!(
                "--to {to} must be a time in seconds after --from {from_s}"
            ));
        }
    }
    if !(200..=10_000).contains(&a.width) {
        return usage(format!("--width {} must be 200 to 10000 pixels", a.width));
    }
    Ok(Tool::Inspect(InspectConfig {
        call: a.call,
        png: a.output,
        from_s,
        to_s: a.to,
        width_px: a.width,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Config, UsageError> {
        Config::from_cli(Cli::try_parse_from(args).expect("clap accepts"))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse(&["callprep", "run", "x.wav", "-o", "out"]).unwrap();
        let s = c.segment.unwrap();
        assert_eq!(s.sample_rate_hz, 8000);
        assert_eq!(s.roles, vec![Some("agent".into()), Some("customer".into())]);
        assert_eq!((s.vad.mode, s.vad.frame_ms), (3, 30));
        assert_eq!((s.chunk.min_chunk_s, s.chunk.max_chunk_s), (2.0, 20.0));
        assert_eq!(c.mel.unwrap().preset, "telephony");
        assert!(c.write_wav);
    }

    #[test]
    fn impossible_settings_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["callprep", "run", "x", "-o", "o", "--vad-frame-ms", "25"],
                "--vad-frame-ms 25 is not supported; use 10, 20 or 30",
            ),
            (
                &["callprep", "run", "x", "-o", "o", "--sample-rate", "22050"],
                "--sample-rate",
            ),
            (
                &[
                    "callprep",
                    "run",
                    "x",
                    "-o",
                    "o",
                    "--min-chunk",
                    "5",
                    "--max-chunk",
                    "3",
                ],
                "--max-chunk",
            ),
            (
                &[
                    "callprep",
                    "run",
                    "x",
                    "-o",
                    "o",
                    "--min-chunk",
                    "2.00001",
                    "--max-chunk",
                    "2.00001",
                ],
                "no whole number of samples",
            ),
            (
                &["callprep", "run", "x", "-o", "o", "--channels", "a,a"],
                "twice",
            ),
            (
                &["callprep", "run", "x", "-o", "o", "--channels", "-,-"],
                "skips every",
            ),
            (
                &["callprep", "run", "x", "-o", "o", "--fmax", "6000"],
                "Nyquist",
            ),
            (
                &["callprep", "run", "x", "-o", "o", "--n-mels", "300"],
                "--n-mels",
            ),
            (
                &["callprep", "run", "x", "-o", "o", "--preset", "htk"],
                "telephony, kaldi",
            ),
            (
                &["callprep", "run", "x", "-o", "o", "--threads", "0"],
                "--threads",
            ),
            (&["callprep", "run", "x"], "-o OUT"),
            (&["callprep", "run", "-o", "o"], "no inputs"),
        ];
        for (args, want) in cases {
            let e = parse(args).unwrap_err().to_string();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn roles_skip_and_extra_channels() {
        let c = parse(&[
            "callprep",
            "segment",
            "x",
            "-o",
            "o",
            "--channels",
            "-,client",
        ])
        .unwrap();
        let s = c.segment.unwrap();
        assert_eq!(s.role(0, 2), None);
        assert_eq!(s.role(1, 2).as_deref(), Some("client"));
        assert_eq!(s.role(2, 3).as_deref(), Some("ch2"));
        assert_eq!(s.role(0, 1).as_deref(), Some("mixed"));
    }
}
