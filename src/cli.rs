//! Raw command-line arguments (clap derive). Turned into a validated
//! [`crate::config::Config`] once; no stage ever sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::stages::vad::VadEngine;

/// Turn call-center recordings into ASR training data: split channels, find
/// speech with the WebRTC VAD, cut it into 2–20 s chunks, write chunk WAVs,
/// log-mel spectrograms (.npy) and a manifest.
#[derive(Debug, Parser)]
#[command(name = "callprep", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole job in one pass: decode → split → VAD → chunk → chunk WAVs + mel .npy + manifest.
    #[command(
        mut_arg("inputs", |a| a.help("Call recordings: WAV files and folders (searched recursively for .wav in any case)")),
        after_help = RUN_EXAMPLES
    )]
    Run {
        #[command(flatten)]
        io: IoArgs,
        #[command(flatten)]
        seg: SegmentArgs,
        #[command(flatten)]
        mel: MelArgs,
        /// Do not write chunk WAVs; manifest rows then point into the source file
        /// (`audio_filepath` = the input, `offset` = chunk start).
        #[arg(long)]
        no_wav: bool,
    },
    /// decode → split → VAD → chunk: writes chunk WAVs and the manifest, no features.
    #[command(
        mut_arg("inputs", |a| a.help("Call recordings: WAV files and folders (searched recursively for .wav in any case)")),
        after_help = SEGMENT_EXAMPLES
    )]
    Segment {
        #[command(flatten)]
        io: IoArgs,
        #[command(flatten)]
        seg: SegmentArgs,
        /// `run` only; refused here with a message (instead of clap's
        /// "use '-- --no-wav'").
        #[arg(long, hide = true)]
        no_wav: bool,
    },
    /// Features for existing chunks: INPUT is chunk WAVs, folders of them, or a
    /// manifest.jsonl written by `segment`; writes .npy files and a manifest
    /// whose rows have `audio_filepath` and `mel_filepath`.
    #[command(
        mut_arg("inputs", |a| a.help("Chunks: mono chunk WAVs, folders of them, or manifest .jsonl files written by `segment` or `run`")),
        after_help = MEL_EXAMPLES
    )]
    Mel {
        #[command(flatten)]
        io: IoArgs,
        #[command(flatten)]
        mel: MelArgs,
        /// Print the resolved feature parameters as JSON and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Privacy gate after the STT: fills `text` from the transcripts and
    /// removes chunks whose transcript holds personal data (card, IIN/BIN,
    /// phone, IBAN, e-mail) or whose id is on a drop list. Writes OUT's
    /// manifest.jsonl (kept rows), quarantine.jsonl and report.json.
    #[command(after_help = FILTER_EXAMPLES)]
    Filter(FilterArgs),
    /// Write an output folder in another toolkit's layout: NeMo manifest,
    /// Hugging Face audiofolder, Lhotse manifests or a Kaldi data directory.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Summarise an output folder: hours per role, chunks, chunk lengths,
    /// drop reasons, failed files.
    #[command(after_help = STATS_EXAMPLES)]
    Stats(StatsArgs),
    /// Draw one call as a PNG: per channel the waveform, VAD decisions,
    /// chunks kept and dropped, and the log-mel spectrogram, on a time axis.
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect {
        #[command(flatten)]
        args: InspectArgs,
        #[command(flatten)]
        seg: SegmentArgs,
        #[command(flatten)]
        mel: MelArgs,
    },
    /// Put the outputs of the N shards of one job (`--shard K/N`) together: one
    /// manifest in the one-machine order, one report, the files linked into OUT.
    #[command(after_help = MERGE_EXAMPLES)]
    Merge {
        /// The shards' output folders (all N of them), or one prefix that names them
        /// (`out/shard-` for out/shard-0 … out/shard-3).
        #[arg(value_name = "SHARD_OUT", required = true)]
        shards: Vec<PathBuf>,
        /// Output folder of the merged dataset (created if missing).
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// No summary; errors are still printed.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Pack a dataset into WebDataset tar shards (KEY.json row, KEY.npy, and
    /// KEY.wav with --with-audio), optionally encrypted with age, into a
    /// folder, s3://bucket/prefix or az://container/prefix, with index.json (sizes, SHA-256).
    #[command(after_help = PACK_EXAMPLES)]
    Pack(PackArgs),
    /// Check every shard of a pack against its index.json (size, SHA-256);
    /// needs no key. Exit 1 names the shards that are wrong.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Download, decrypt (--identity), check and extract a pack: the rows
    /// (manifest.jsonl) and their .npy (and .wav) files.
    #[command(after_help = UNPACK_EXAMPLES)]
    Unpack(UnpackArgs),
}

const PACK_EXAMPLES: &str = "Examples:
  callprep pack mel/ -o shards/                                  plain shards of mel/manifest.jsonl
  callprep pack filtered.jsonl -o shards/ --shard-size 1000      1000 samples per shard
  callprep pack mel/ -o s3://train-bucket/ds1 --encrypt-to age1...   encrypted, uploaded
  callprep pack mel/ -o s3://train-bucket/ds1 --encrypt-to age1... --resume   finish an upload";

const VERIFY_EXAMPLES: &str = "Examples:
  callprep verify shards/
  callprep verify s3://train-bucket/ds1 --endpoint https://s3.example.internal";

const UNPACK_EXAMPLES: &str = "Examples:
  callprep unpack s3://train-bucket/ds1 -o data/ --identity key.txt
  callprep unpack shards/ -o data/";

/// `callprep pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// What to pack: an output folder of `mel` or `run` (its manifest.jsonl),
    /// or a manifest .jsonl file (e.g. a filtered one: only its rows are packed).
    #[arg(value_name = "OUT")]
    pub source: PathBuf,
    /// Where the shards and index.json go: a folder, s3://bucket/prefix or
    /// az://container/prefix.
    #[arg(short, long, value_name = "DEST")]
    pub output: String,
    /// Shard size: a number of samples (1000) or bytes with a unit (256MiB, 1GB).
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub shard_size: String,
    /// Also pack each chunk's WAV (KEY.wav).
    #[arg(long)]
    pub with_audio: bool,
    /// Encrypt every shard with age to this recipient: an age public key
    /// (age1...) or an SSH public key (ssh-ed25519 ..., ssh-rsa ...). Repeatable.
    #[arg(long, value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// Read recipients from FILE, one per line (age's format; # comments).
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,
    /// Keep shards already in DEST whose SHA-256 is right; write the rest.
    #[arg(long)]
    pub resume: bool,
    /// Object storage settings.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Ask the store to encrypt the objects with this KMS key (SSE-KMS).
    #[arg(long, value_name = "ID")]
    pub sse_kms_key_id: Option<String>,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `callprep verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The pack: a folder, s3://bucket/prefix or az://container/prefix holding
    /// index.json.
    #[arg(value_name = "DEST")]
    pub dest: String,
    /// Object storage settings.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print only the shards that are wrong.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `callprep unpack`.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The pack: a folder, s3://bucket/prefix or az://container/prefix holding
    /// index.json.
    #[arg(value_name = "DEST")]
    pub dest: String,
    /// Folder to write manifest.jsonl and the samples' files into.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Key for an encrypted pack: an age identity file (age-keygen) or an
    /// unencrypted SSH private key.
    #[arg(long, short = 'i', value_name = "KEYFILE")]
    pub identity: Option<PathBuf>,
    /// Object storage settings.
    #[command(flatten)]
    pub store: StoreArgs,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Object storage. s3://: credentials come from the standard AWS
/// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, ...)
/// or the AWS_PROFILE profile of ~/.aws/credentials and ~/.aws/config.
/// az://: from AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY (or
/// AZURE_STORAGE_SAS_KEY, a service principal, managed identity).
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// URL of an S3-compatible store (S3 on Outposts, MinIO, Ceph), e.g.
    /// <https://s3.bank.internal:9000> (default: AWS_ENDPOINT_URL, the
    /// profile's endpoint_url, else AWS); for az://, the storage account's
    /// URL (default: AZURE_STORAGE_ENDPOINT, else Azure's).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
}

const RUN_EXAMPLES: &str = "Examples:
  callprep run calls/ -o out                      chunk WAVs, log-mels (telephony preset), manifest
  callprep run calls/ -o out --preset whisper     Whisper's 80-mel features at 16 kHz
  callprep run calls/ -o out --no-wav             no chunk WAVs: rows point into the calls
  callprep run calls/ -o out --resume             finish an interrupted run";

const SEGMENT_EXAMPLES: &str = "Examples:
  callprep segment calls/ -o seg                  chunk WAVs + manifest, no features
  callprep segment calls/ -o seg --channels=-,customer   customer channel only
  callprep mel seg/manifest.jsonl -o mel --preset kaldi  then the features";

const MEL_EXAMPLES: &str = "Examples:
  callprep mel seg/manifest.jsonl -o mel          features of a segment run's chunks
  callprep mel chunks/ -o mel --preset whisper    features of a folder of mono chunk WAVs
  callprep mel --preset kaldi --print-config      the resolved parameters as JSON";

const FILTER_EXAMPLES: &str = "Examples:
  callprep filter seg/manifest.jsonl -o clean --transcripts stt.jsonl
  callprep filter seg/manifest.jsonl -o clean --transcripts stt.jsonl --drop-ids ner_flagged.txt
  callprep filter seg/manifest.jsonl -o clean --transcripts stt.jsonl --rules card,iin --require-text
  callprep mel clean/manifest.jsonl -o mel        then the features of the kept chunks";

/// `filter`: the manifest, the transcripts, the drop list and the rules.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// The manifest.jsonl to filter (written by `segment` or `run`).
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Output folder (created if missing); not the manifest's own folder.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// The STT's transcripts, JSON Lines: `{"id": ..., "text": ...}`, or rows
    /// keyed by `audio_filepath` (a NeMo manifest; `pred_text` is read
    /// before `text`).
    #[arg(long, value_name = "T.jsonl")]
    pub transcripts: Option<PathBuf>,
    /// Chunk ids to drop (an external NER's list): one id a line, blank
    /// lines and `#` comments ignored.
    #[arg(long, value_name = "FILE")]
    pub drop_ids: Option<PathBuf>,
    /// The detectors to run, comma-separated (`none` for only --drop-ids).
    #[arg(
        long,
        value_name = "RULES",
        default_value = "card,iin,phone,iban,email"
    )]
    pub rules: String,
    /// Drop chunks that have no transcript (reason `no_text`); by default
    /// they are kept with `text: ""`.
    #[arg(long)]
    pub require_text: bool,
    /// Write absolute paths in the manifest (default: relative to OUT).
    #[arg(long)]
    pub absolute_paths: bool,
    /// No summary; errors are still printed.
    #[arg(long, short)]
    pub quiet: bool,
}

const EXPORT_EXAMPLES: &str = "Examples:
  callprep export out --format nemo -o out_nemo          NeMo manifest.json
  callprep export out --format hf -o out_hf              load_dataset(\"audiofolder\", data_dir=\"out_hf\")
  callprep export out --format lhotse -o out_lhotse      recordings/supervisions/cuts .jsonl.gz
  callprep export out --format kaldi -o data/train --speaker-from source";

const STATS_EXAMPLES: &str = "Examples:
  callprep stats out                              text summary with bars
  callprep stats out --json | jq .hours_by_role   the same numbers for scripts";

const INSPECT_EXAMPLES: &str = "Examples:
  callprep inspect call.wav -o call.png                    the whole call
  callprep inspect call.wav -o part.png --from 60 --to 90  30 seconds of it
  callprep inspect call.wav -o m0.png --vad-mode 0         what another VAD mode keeps";

/// `export`: what to read, which format, where to write.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A callprep output folder (the OUT of `run`, `segment` or `mel`).
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// Format to write.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: ExportFormatArg,
    /// Folder to write (created if missing).
    #[arg(short, long, value_name = "DEST")]
    pub output: PathBuf,
    /// Copy audio and features into DEST instead of pointing at them (hf: instead of linking).
    #[arg(long)]
    pub copy: bool,
    /// Speaker of each row: `role` (agent, customer) or `source` (input id +
    /// role: one speaker per caller, for speaker-disjoint splits).
    #[arg(long, value_enum, value_name = "FROM", default_value_t = SpeakerFromArg::Role)]
    pub speaker_from: SpeakerFromArg,
}

/// `--format` of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormatArg {
    /// NeMo manifest (manifest.json).
    Nemo,
    /// Hugging Face datasets audiofolder (metadata.jsonl + linked audio).
    Hf,
    /// Lhotse recordings/supervisions/cuts (.jsonl.gz) with features.
    Lhotse,
    /// Kaldi data directory (wav.scp, segments, utt2spk, spk2utt, text, reco2dur).
    Kaldi,
}

/// `--speaker-from` of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpeakerFromArg {
    /// The channel role.
    Role,
    /// The input id and the role.
    Source,
}

/// `stats`: the folder to summarise.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// A callprep output folder (the OUT of `run`, `segment` or `mel`).
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `inspect`: the call, the picture, the time range.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// One call recording (WAV).
    #[arg(value_name = "CALL")]
    pub call: PathBuf,
    /// PNG file to write.
    #[arg(short, long, value_name = "PNG")]
    pub output: PathBuf,
    /// Start of the part drawn, seconds (default: 0).
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub from: Option<f64>,
    /// End of the part drawn, seconds (default: the end of the call).
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub to: Option<f64>,
    /// Picture width in pixels.
    #[arg(long, value_name = "PX", default_value_t = 1600)]
    pub width: u32,
}
const MERGE_EXAMPLES: &str = "Examples:
  callprep run calls/ -o out/shard-0 --shard 0/2   (and 1/2, on another machine)
  callprep merge out/shard-0 out/shard-1 -o out/all
  callprep merge out/shard- -o out/all             every folder out/shard-*";

/// Inputs, output and run control (all subcommands).
#[derive(Debug, Args)]
pub struct IoArgs {
    /// Input WAV files and folders (searched recursively for .wav in any case),
    /// or s3://bucket/prefix and az://container/prefix (every .wav under it).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Read more input paths from FILE, one per line (`-` = standard input).
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// Output folder (created if missing).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// No progress and no summary; errors are still printed.
    #[arg(long, short)]
    pub quiet: bool,
    /// Skip inputs whose outputs are complete from an earlier run; redo the rest.
    #[arg(long)]
    pub resume: bool,
    /// Add CPU seconds per stage (decode, resample, vad, chunk, mel, write) to report.json.
    #[arg(long)]
    pub timings: bool,
    /// Treat truncated WAV files (data chunk longer than the file) as errors
    /// instead of decoding what is there.
    #[arg(long)]
    pub strict: bool,
    /// Write absolute paths in the manifest (default: relative to the
    /// manifest's own folder, NeMo's rule).
    #[arg(long)]
    pub absolute_paths: bool,
    /// Do shard K of N of the inputs (0 <= K < N), split by a stable hash of each
    /// input's id, for one job across N machines; `auto/N` reads K from
    /// JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID
    /// (Slurm array). Put the N outputs together with `callprep merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// For s3:// and az:// inputs: URL of an S3-compatible store (S3 on
    /// Outposts, MinIO, Ceph) or of an Azure storage account (Azure Stack,
    /// Azurite); credentials from the AWS or Azure environment.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
}

/// Channel split, VAD and chunking (`run`, `segment`).
#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// Target sample rate in Hz: audio at another rate is resampled (rubato).
    /// The WebRTC VAD takes 8000, 16000, 32000 or 48000.
    #[arg(long, value_name = "HZ", default_value_t = 8000)]
    pub sample_rate: u32,
    /// Roles of the channels, in order; `-` skips a channel. Mono files become
    /// one `mixed` channel; channels past the list are called `chN`.
    #[arg(
        long,
        value_name = "ROLES",
        default_value = "agent,customer",
        allow_hyphen_values = true
    )]
    pub channels: String,
    /// WebRTC VAD aggressiveness: 0 keeps the most audio, 3 drops the most non-speech.
    #[arg(long, value_name = "0..3", default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub vad_mode: u8,
    /// VAD frame length in ms: 10, 20 or 30.
    #[arg(long, value_name = "MS", default_value_t = 30)]
    pub vad_frame_ms: u32,
    /// VAD implementation: `rust` (our port of libfvad, the default) or
    /// `libfvad` (its C code through the webrtc-vad crate, the reference).
    /// Both give the same decisions on every frame.
    #[arg(long, value_enum, value_name = "ENGINE", default_value_t = VadEngine::Rust)]
    pub vad_engine: VadEngine,
    /// Shortest chunk in seconds.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 2.0,
        allow_negative_numbers = true
    )]
    pub min_chunk: f64,
    /// Longest chunk in seconds; longer speech is split at its best pause.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 20.0,
        allow_negative_numbers = true
    )]
    pub max_chunk: f64,
    /// Silence kept before and after speech, in ms (pre-roll protects soft onsets).
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub pad_ms: u32,
    /// Pauses shorter than this (ms) stay inside a chunk; longer ones may end it.
    #[arg(long, value_name = "MS", default_value_t = 400)]
    pub min_silence_ms: u32,
    /// Voiced runs shorter than this (ms) are noise, not speech.
    #[arg(long, value_name = "MS", default_value_t = 90)]
    pub min_speech_ms: u32,
    /// A chunk shorter than --min-chunk may join its neighbour across a pause up to this (ms).
    #[arg(long, value_name = "MS", default_value_t = 1500)]
    pub merge_gap_ms: u32,
    /// Keypad tones (DTMF: card numbers, PINs): `drop` removes every chunk
    /// within 100 ms of a tone (listed in quarantine.jsonl), `mask` silences
    /// the tones and keeps the chunk, `off` does not look for them.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = DtmfArg::Drop)]
    pub dtmf: DtmfArg,
}

/// Feature settings (`run`, `mel`). Every preset value can be overridden.
#[derive(Debug, Args)]
pub struct MelArgs {
    /// Feature preset: telephony (librosa log-mel, 8 kHz), kaldi (kaldi-native-fbank),
    /// whisper (80 mels, 16 kHz), whisper-128 (large-v3).
    #[arg(long, value_name = "NAME", default_value = "telephony")]
    pub preset: String,
    /// Rate in Hz the chunk is resampled to before the features (default: from --preset).
    #[arg(long, value_name = "HZ")]
    pub mel_sample_rate: Option<u32>,
    /// FFT size in samples (default: from --preset).
    #[arg(long, value_name = "N")]
    pub n_fft: Option<usize>,
    /// Window length in samples, ≤ n_fft (default: from --preset).
    #[arg(long, value_name = "N")]
    pub win_length: Option<usize>,
    /// Hop between frames in samples (default: from --preset).
    #[arg(long, value_name = "N")]
    pub hop_length: Option<usize>,
    /// Number of mel filters (default: from --preset).
    #[arg(long, value_name = "N")]
    pub n_mels: Option<usize>,
    /// Lowest mel filter edge in Hz (default: from --preset).
    #[arg(long, value_name = "HZ", allow_negative_numbers = true)]
    pub fmin: Option<f64>,
    /// Highest mel filter edge in Hz, ≤ Nyquist (default: from --preset).
    #[arg(long, value_name = "HZ", allow_negative_numbers = true)]
    pub fmax: Option<f64>,
    /// Array layout of the .npy files (default: from --preset).
    #[arg(long, value_enum)]
    pub layout: Option<LayoutArg>,
    /// Zero-pad (or cut) each chunk to this many seconds before the features
    /// (30 reproduces Whisper's 3000-frame input).
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub pad_to_seconds: Option<f64>,
}

/// `--layout`: the values of the mel engine's
/// [`Layout`](crate::stages::mel::Layout), which does not depend on clap
/// (`config` maps one to the other). Same names and help as its variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// `[n_mels, frames]` (librosa, Whisper).
    MelsFirst,
    /// `[frames, n_mels]` (Kaldi, Lhotse).
    FramesFirst,
}

/// `--dtmf`: what the privacy gate does with keypad tones (config maps it
/// to [`DtmfMode`](crate::config::DtmfMode)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtmfArg {
    /// Chunks within 100 ms of a tone are not written (quarantine.jsonl lists them).
    Drop,
    /// Tones are replaced by silence; the chunk is kept.
    Mask,
    /// No detection.
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
