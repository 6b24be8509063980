//! `callprep inspect`: one call, analysed in memory by the real stages and
//! drawn as one PNG for a person.
//!
//! In: the bytes of one WAV file, the segment and mel settings, a time range
//! (seconds). Out: a [`Call`]: per channel (at the pipeline rate) the 16-bit
//! samples, every VAD frame's decision, the chunker's plan (chunks kept,
//! speech dropped with its reason) over the whole call, and the log-mel
//! spectrogram of the range drawn; [`draw()`] turns it into a PNG. Decoding,
//! resampling, VAD ([`crate::stages::vad::FrameVad`]), chunking
//! ([`crate::pipeline::segment_samples`]) and the mel extractor are the ones
//! `run` uses; the whole call is held in memory (`inspect` is for one call).

pub mod draw;

use std::io::Cursor;

use callprep_isa::Isa;

use crate::config::SegmentConfig;
use crate::pipeline::segment_samples;
use crate::stages::chunk::Plan;
use crate::stages::decode::{self, DecodeError};
use crate::stages::mel::{Layout, MelConfig, MelExtractor};
use crate::stages::resample::resample_all;
use crate::stages::vad::{FrameVad, VadError};

pub use draw::draw;

/// Why a call cannot be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The WAV cannot be decoded.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The VAD settings are refused.
    #[error("{0}")]
    Vad(#[from] VadError),
    /// Resampling failed.
    #[error("resampling failed: {0}")]
    Resample(String),
    /// No channel is kept (all skipped with `-` in `--channels`).
    #[error("every channel is skipped by --channels; keep at least one")]
    NoChannel,
    /// The range asked for starts after the end of the call.
    #[error("--from {from_s} s is past the end of the call ({duration_s:.3} s)")]
    PastEnd {
        /// `--from`.
        from_s: f64,
        /// The call's length.
        duration_s: f64,
    },
}

/// One channel of the call, analysed.
#[derive(Debug, Clone)]
pub struct ChannelView {
    /// Channel index in the file.
    pub index: usize,
    /// Its role.
    pub role: String,
    /// The whole channel at the pipeline rate.
    pub samples: Vec<i16>,
    /// Samples per VAD frame.
    pub frame_len: usize,
    /// The VAD's decision for every whole frame.
    pub voiced: Vec<bool>,
    /// The chunker's plan for the whole channel (samples at the pipeline rate).
    pub plan: Plan,
    /// Log-mel values of the range drawn, `[n_mels][frames]` (mel-major,
    /// whatever the configured layout).
    pub mel: Vec<f32>,
    /// Frames in `mel`.
    pub mel_frames: usize,
}

/// A call, analysed.
#[derive(Debug, Clone)]
pub struct Call {
    /// A name for the title (the file name).
    pub name: String,
    /// Pipeline rate, Hz.
    pub sample_rate_hz: u32,
    /// The call's length, seconds.
    pub duration_s: f64,
    /// Range drawn, seconds.
    pub from_s: f64,
    /// End of the range drawn, seconds.
    pub to_s: f64,
    /// Mel bins.
    pub n_mels: usize,
    /// Kept channels in file order.
    pub channels: Vec<ChannelView>,
}

/// Decodes `bytes` (a WAV file), runs VAD, chunking and mel on every kept
/// channel, for the range `[from_s, to_s)` (`to_s` `None`: the end).
pub fn analyse(
    name: &str,
    bytes: &[u8],
    seg: &SegmentConfig,
    mel: &MelConfig,
    isa: Isa,
    from_s: f64,
    to_s: Option<f64>,
) -> Result<Call, InspectError> {
    let info = decode::read_header(&mut Cursor::new(bytes), bytes.len() as u64)?;
    let start = info.data_offset as usize;
    let end = (start + info.data_len as usize).min(bytes.len());
    let data = &bytes[start.min(end)..end];
    let rate = seg.sample_rate_hz;
    let duration_s = info.duration_s();
    if from_s >= duration_s {
        return Err(InspectError::PastEnd { from_s, duration_s });
    }
    let to_s = to_s.unwrap_or(duration_s).min(duration_s);
    let mut mel_cfg = mel.clone();
    mel_cfg.pad_to_seconds = None;
    let extractor = MelExtractor::with_isa(&mel_cfg, isa);
    let mut channels = Vec::new();
    for index in 0..info.channels {
        let Some(role) = seg.role(index, info.channels) else {
            continue;
        };
        let mut samples = Vec::new();
        decode::decode_channel_i16(&info, data, index, isa, &mut samples);
        if info.sample_rate_hz != rate {
            let x: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
            let y = resample_all(&x, info.sample_rate_hz, rate)
                .map_err(|e| InspectError::Resample(e.to_string()))?;
            samples = y.into_iter().map(decode::to_i16).collect();
        }
        let mut vad = FrameVad::new(&seg.vad, rate)?;
        let frame_len = vad.frame_len();
        let voiced = samples
            .chunks_exact(frame_len)
            .map(|f| vad.classify(f).voiced)
            .collect();
        let plan = segment_samples(&samples, seg)?;
        let a = ((from_s * f64::from(rate)) as usize).min(samples.len());
        let b = ((to_s * f64::from(rate)) as usize).clamp(a, samples.len());
        let part = &samples[a..b];
        let (values, mel_frames) = if mel_cfg.sample_rate_hz == rate {
            extractor.compute(part)
        } else {
            let x: Vec<f32> = part.iter().map(|&s| f32::from(s) / 32768.0).collect();
            let y = resample_all(&x, rate, mel_cfg.sample_rate_hz)
                .map_err(|e| InspectError::Resample(e.to_string()))?;
            extractor.compute(&y)
        };
        let n_mels = mel_cfg.n_mels;
        let mel = match mel_cfg.layout {
            Layout::MelsFirst => values,
            Layout::FramesFirst => {
                let mut t = vec![0f32; values.len()];
                for f in 0..mel_frames {
                    for m in 0..n_mels {
                        t[m * mel_frames + f] = values[f * n_mels + m];
                    }
                }
                t
            }
        };
        channels.push(ChannelView {
            index,
            role,
            samples,
            frame_len,
            voiced,
            plan,
            mel,
            mel_frames,
        });
    }
    if channels.is_empty() {
        return Err(InspectError::NoChannel);
    }
    Ok(Call {
        name: name.to_string(),
        sample_rate_hz: rate,
        duration_s,
        from_s,
        to_s,
        n_mels: mel_cfg.n_mels,
        channels,
    })
}
