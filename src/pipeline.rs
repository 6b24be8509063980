//! The stages composed for one channel, still without I/O: samples at the
//! pipeline rate go in, chunk plans with their audio come out.
//!
//! [`ChannelSegmenter`] runs the VAD frame by frame, feeds the
//! [`crate::stages::chunk::Sectioner`], and keeps only the audio a
//! future chunk can still need (bounded by the longest open section, not the
//! recording). The worker streams files through it; tests, benches and the
//! fuzz target use [`segment_samples`] on buffers.

use std::time::Instant;

use crate::config::SegmentConfig;
use crate::stages::chunk::{ChunkParams, Plan, Sectioner};
use crate::stages::vad::{FrameInfo, FrameVad, VadError};

/// VAD + chunking for one channel of one recording.
pub struct ChannelSegmenter {
    vad: FrameVad,
    sect: Sectioner,
    frame_len: usize,
    /// Samples from absolute index `audio_start`.
    audio: Vec<f32>,
    audio_start: usize,
    /// Start of the next VAD frame (absolute sample index).
    vad_pos: usize,
    /// Decisions of the frames of the current [`Self::push`] (reused).
    infos: Vec<FrameInfo>,
    /// Nanoseconds spent inside the VAD since the last [`Self::take_vad_ns`].
    vad_ns: u64,
}

impl ChannelSegmenter {
    /// A fresh segmenter (fresh VAD state) at `seg.sample_rate_hz`.
    pub fn new(seg: &SegmentConfig) -> Result<Self, VadError> {
        let vad = FrameVad::new(&seg.vad, seg.sample_rate_hz)?;
        let frame_len = vad.frame_len();
        let params = ChunkParams::new(&seg.chunk, seg.sample_rate_hz, frame_len);
        Ok(ChannelSegmenter {
            vad,
            sect: Sectioner::new(params),
            frame_len,
            audio: Vec::new(),
            audio_start: 0,
            vad_pos: 0,
            infos: Vec::new(),
            vad_ns: 0,
        })
    }

    /// Appends samples. `on_plan(plan, audio, audio_start)` is called for
    /// every section that closes; `audio[0]` is absolute sample `audio_start`
    /// and covers every chunk of the plan.
    ///
    /// The VAD first classifies every whole frame the new samples complete
    /// (timed once for the batch, not per frame), then the chunker takes the
    /// decisions in order.
    pub fn push(&mut self, samples: &[f32], on_plan: &mut impl FnMut(Plan, &[f32], usize)) {
        self.push_with(|audio| audio.extend_from_slice(samples), on_plan);
    }

    /// As [`Self::push`], but `fill` appends the new samples to the
    /// segmenter's own buffer (the decoder writes there directly, saving a
    /// copy of every sample).
    pub fn push_with<F, P>(&mut self, fill: F, on_plan: &mut P)
    where
        F: FnOnce(&mut Vec<f32>),
        P: FnMut(Plan, &[f32], usize),
    {
        fill(&mut self.audio);
        let fl = self.frame_len;
        let t = Instant::now();
        self.infos.clear();
        while self.vad_pos + fl <= self.audio_start + self.audio.len() {
            let a = self.vad_pos - self.audio_start;
            self.infos.push(self.vad.classify(&self.audio[a..a + fl]));
            self.vad_pos += fl;
        }
        self.vad_ns += t.elapsed().as_nanos() as u64;
        for &info in &self.infos {
            if let Some(plan) = self.sect.push(info) {
                on_plan(plan, &self.audio, self.audio_start);
            }
        }
        // Drop audio no future chunk needs (in big steps: amortised O(1)).
        let keep = self.sect.keep_from().max(self.audio_start);
        if keep > self.audio_start && keep - self.audio_start >= self.audio.len() / 2 {
            self.audio.drain(..keep - self.audio_start);
            self.audio_start = keep;
        }
    }

    /// Ends the recording (a last partial frame is not classified but may lie
    /// inside a chunk).
    pub fn finish(&mut self, on_plan: &mut impl FnMut(Plan, &[f32], usize)) {
        let total = self.audio_start + self.audio.len();
        if let Some(plan) = self.sect.finish(total) {
            on_plan(plan, &self.audio, self.audio_start);
        }
    }

    /// Time spent in the VAD since the last call, nanoseconds.
    pub fn take_vad_ns(&mut self) -> u64 {
        std::mem::take(&mut self.vad_ns)
    }
}

/// Segments a whole in-memory channel (at `seg.sample_rate_hz`); returns
/// all plans merged in time order.
pub fn segment_samples(samples: &[f32], seg: &SegmentConfig) -> Result<Plan, VadError> {
    let mut s = ChannelSegmenter::new(seg)?;
    let mut all = Plan::default();
    let mut absorb = |p: Plan, _: &[f32], _: usize| {
        all.chunks.extend(p.chunks);
        all.dropped.extend(p.dropped);
        all.speech.extend(p.speech);
        all.forced_cuts += p.forced_cuts;
    };
    s.push(samples, &mut absorb);
    s.finish(&mut absorb);
    Ok(all)
}
