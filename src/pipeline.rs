//! The stages composed for one channel, still without I/O: 16-bit PCM
//! samples at the pipeline rate go in, chunk plans with their audio come out.
//!
//! [`ChannelSegmenter`] runs the VAD frame by frame, feeds the
//! [`crate::stages::chunk::Sectioner`], and keeps only the audio a
//! future chunk can still need (bounded by the longest open section, not the
//! recording). The worker streams files through it, all channels of a file
//! at once with [`push_together`] (their VADs run together); tests, benches
//! and the fuzz target use [`segment_samples`] on buffers.

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
    audio: Vec<i16>,
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
    pub fn push(&mut self, samples: &[i16], on_plan: &mut impl FnMut(Plan, &[i16], usize)) {
        self.audio.extend_from_slice(samples);
        let t = Instant::now();
        self.classify_alone();
        self.vad_ns += t.elapsed().as_nanos() as u64;
        self.cut(on_plan);
    }

    /// Appends samples without running the VAD on them yet: `fill` writes
    /// them into the segmenter's own buffer (the decoder writes there
    /// directly, saving a copy of every sample). See [`push_together`].
    pub fn append_with(&mut self, fill: impl FnOnce(&mut Vec<i16>)) {
        fill(&mut self.audio);
    }

    /// The buffer range of the next whole frame not yet classified.
    fn next_frame(&self) -> Option<std::ops::Range<usize>> {
        let a = self.vad_pos - self.audio_start;
        (a + self.frame_len <= self.audio.len()).then(|| a..a + self.frame_len)
    }

    /// Classifies the remaining whole frames one by one (into `infos`).
    fn classify_alone(&mut self) {
        while let Some(r) = self.next_frame() {
            self.infos.push(self.vad.classify(&self.audio[r]));
            self.vad_pos += self.frame_len;
        }
    }

    /// Feeds the decisions in `infos` to the chunker in order (emptying
    /// it), and drops audio no future chunk needs.
    fn cut(&mut self, on_plan: &mut impl FnMut(Plan, &[i16], usize)) {
        for &info in &self.infos {
            if let Some(plan) = self.sect.push(info) {
                on_plan(plan, &self.audio, self.audio_start);
            }
        }
        self.infos.clear();
        // Drop audio no future chunk needs (in big steps: amortised O(1)).
        let keep = self.sect.keep_from().max(self.audio_start);
        if keep > self.audio_start && keep - self.audio_start >= self.audio.len() / 2 {
            self.audio.drain(..keep - self.audio_start);
            self.audio_start = keep;
        }
    }

    /// Ends the recording (a last partial frame is not classified but may lie
    /// inside a chunk).
    pub fn finish(&mut self, on_plan: &mut impl FnMut(Plan, &[i16], usize)) {
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

/// The VAD and the chunker over the samples appended to each segmenter
/// since the last call (one segmenter per channel of a recording; the same
/// [`SegmentConfig`]). `on_plan(k, plan, audio, audio_start)` is called as
/// in [`ChannelSegmenter::push`], with `k` the index of the segmenter.
///
/// Channels are classified two by two with [`FrameVad::classify_many`],
/// whose filterbanks run together; the decisions and every output are the
/// same as pushing each channel on its own.
pub fn push_together(
    segs: &mut [ChannelSegmenter],
    on_plan: &mut impl FnMut(usize, Plan, &[i16], usize),
) {
    let t = Instant::now();
    for pair in segs.chunks_mut(2) {
        if let [a, b] = pair {
            while let (Some(ra), Some(rb)) = (a.next_frame(), b.next_frame()) {
                let [ia, ib] =
                    FrameVad::classify_many([&mut a.vad, &mut b.vad], [&a.audio[ra], &b.audio[rb]]);
                a.infos.push(ia);
                b.infos.push(ib);
                a.vad_pos += a.frame_len;
                b.vad_pos += b.frame_len;
            }
        }
        // Whatever one channel has beyond the other (none when both got
        // the same number of samples).
        for s in pair {
            s.classify_alone();
        }
    }
    if let Some(first) = segs.first_mut() {
        first.vad_ns += t.elapsed().as_nanos() as u64;
    }
    for (k, s) in segs.iter_mut().enumerate() {
        s.cut(&mut |plan, audio, start| on_plan(k, plan, audio, start));
    }
}

/// Segments a whole in-memory channel (at `seg.sample_rate_hz`); returns
/// all plans merged in time order.
pub fn segment_samples(samples: &[i16], seg: &SegmentConfig) -> Result<Plan, VadError> {
    let mut s = ChannelSegmenter::new(seg)?;
    let mut all = Plan::default();
    let mut absorb = |p: Plan, _: &[i16], _: usize| {
        all.chunks.extend(p.chunks);
        all.dropped.extend(p.dropped);
        all.speech.extend(p.speech);
        all.forced_cuts += p.forced_cuts;
    };
    s.push(samples, &mut absorb);
    s.finish(&mut absorb);
    Ok(all)
}
