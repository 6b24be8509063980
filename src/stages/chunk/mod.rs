//! Stage 5 — **chunk**: VAD frames → speech chunks of `min..=max` seconds.
//!
//! In: per-frame VAD decisions ([`FrameInfo`]) of one channel. Out: chunk
//! spans in samples, and the speech that could not form a valid chunk, with
//! the reason. Pure: no I/O, no audio (the caller cuts the samples).
//!
//! The rules, in order:
//! 1. Runs of voiced frames are speech; pauses shorter than `min_silence` are
//!    filled (they become pauses *inside* a region). Regions shorter than
//!    `min_speech` are noise blips: dropped and counted (`short_speech`).
//! 2. Each region is padded by `pad` on both sides (pre-roll keeps soft
//!    onsets the VAD reacts to late), never into a neighbour's padding.
//! 3. A region longer than `max` is split at its best inner pause: the longest
//!    (then the quietest) among those that leave a piece of `min..=max`; with
//!    no pause at all it is cut at the quietest frame (`forced_cuts`).
//! 4. A piece shorter than `min` joins its nearer neighbour when the pause
//!    between them is at most `merge_gap` and the union stays within `max`;
//!    otherwise it grows into the silence around it up to `min`; what still
//!    cannot reach `min` is dropped and counted (`shorter_than_min_chunk`).
//!
//! Streaming: [`Sectioner`] cuts the frame stream into independent sections
//! at silences long enough that no rule above can cross them, so a recording
//! of any length is planned with memory bounded by the longest section.

use serde::Serialize;

use super::vad::FrameInfo;

/// Chunking settings in user units (validated by [`crate::config`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChunkConfig {
    /// Shortest chunk, seconds.
    pub min_chunk_s: f64,
    /// Longest chunk, seconds.
    pub max_chunk_s: f64,
    /// Padding added before and after speech, milliseconds.
    pub pad_ms: u32,
    /// Pauses shorter than this are part of the speech around them, ms.
    pub min_silence_ms: u32,
    /// Speech shorter than this is a noise blip, ms.
    pub min_speech_ms: u32,
    /// A too-short piece may join a neighbour across a pause up to this, ms.
    pub merge_gap_ms: u32,
}

impl ChunkConfig {
    /// The shortest and longest chunk in samples at `rate_hz`: a chunk of `n`
    /// samples lasts `n / rate_hz` seconds (as the manifest's `duration`
    /// computes it), which must lie within `min_chunk_s..=max_chunk_s`. So the
    /// minimum is rounded up and the maximum down (ceil/floor of `s × rate`,
    /// judged on the f64 quotient so that 2.3 s at 8 kHz is 18,400 samples).
    /// The range is empty (`min > max`) when no whole number of samples fits.
    pub fn len_bounds(&self, rate_hz: u32) -> (usize, usize) {
        let r = f64::from(rate_hz);
        let secs = |n: usize| n as f64 / r;
        let mut min = (self.min_chunk_s * r).ceil() as usize;
        while min > 0 && secs(min - 1) >= self.min_chunk_s {
            min -= 1;
        }
        while secs(min) < self.min_chunk_s {
            min += 1;
        }
        let mut max = (self.max_chunk_s * r).floor() as usize;
        while secs(max + 1) <= self.max_chunk_s {
            max += 1;
        }
        while max > 0 && secs(max) > self.max_chunk_s {
            max -= 1;
        }
        (min, max)
    }
}

/// [`ChunkConfig`] converted to samples and frames at one rate and frame size.
#[derive(Debug, Clone, Copy)]
pub struct ChunkParams {
    /// Samples per VAD frame.
    pub frame_len: usize,
    min_len: usize,
    max_len: usize,
    pad: usize,
    min_silence_frames: usize,
    min_speech_frames: usize,
    merge_gap: usize,
    /// Frames of silence that close a section (see [`Sectioner`]).
    section_gap_frames: usize,
    /// Sections longer than this many frames are force-closed.
    max_section_frames: usize,
}

impl ChunkParams {
    /// Converts `cfg` for audio at `rate_hz` with VAD frames of `frame_len` samples.
    pub fn new(cfg: &ChunkConfig, rate_hz: u32, frame_len: usize) -> Self {
        let ms = |v: u32| (u64::from(v) * u64::from(rate_hz) / 1000) as usize;
        let frames = |samples: usize| samples.div_ceil(frame_len);
        let (min_len, max_len) = cfg.len_bounds(rate_hz);
        let pad = ms(cfg.pad_ms);
        let merge_gap = ms(cfg.merge_gap_ms);
        // A section gap must be longer than anything a chunk can bridge or grow
        // across: two paddings plus the merge gap, and the minimum length.
        let section_gap = (merge_gap + 2 * pad).max(min_len) + 2 * frame_len;
        let section_gap_frames = frames(section_gap).next_multiple_of(2);
        ChunkParams {
            frame_len,
            min_len,
            max_len,
            pad,
            min_silence_frames: frames(ms(cfg.min_silence_ms)),
            min_speech_frames: frames(ms(cfg.min_speech_ms)).max(1),
            merge_gap,
            section_gap_frames,
            max_section_frames: frames(8 * max_len) + section_gap_frames,
        }
    }
}

/// A span of samples `[start, end)` in one channel at the pipeline rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// Length in samples.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// True when the span holds no samples.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Why speech was not put into any chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// A voiced run shorter than `min_speech` (a click, a breath).
    ShortSpeech,
    /// Speech that could neither merge nor grow to `min_chunk`.
    ShorterThanMinChunk,
}

impl DropReason {
    /// Stable name used in the report.
    pub fn code(self) -> &'static str {
        match self {
            DropReason::ShortSpeech => "short_speech",
            DropReason::ShorterThanMinChunk => "shorter_than_min_chunk",
        }
    }
}

/// What the chunker decided for one section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Chunks in time order, non-overlapping, each `min..=max` samples long.
    pub chunks: Vec<Span>,
    /// Speech (unpadded VAD regions) left out, with the reason.
    pub dropped: Vec<(Span, DropReason)>,
    /// Splits made without any pause to cut at.
    pub forced_cuts: usize,
    /// The detected speech (VAD regions after smoothing, unpadded) that lies
    /// inside the chunks, in time order.
    pub speech: Vec<Span>,
}

/// A speech region in frames: `[start, end)`, with the pauses inside it.
#[derive(Debug, Clone)]
struct Region {
    start: usize,
    end: usize,
    /// Inner non-voiced runs `[start, end)` in frames.
    pauses: Vec<(usize, usize)>,
}

/// Plans the chunks of one section.
///
/// `frames[i]` covers samples `[(first + i)·frame_len, (first + i + 1)·frame_len)`.
/// Chunks stay within `bounds` (samples), which must contain the frames'
/// voiced samples. Allocates only the returned plan and small work lists.
pub fn plan(frames: &[FrameInfo], first: usize, bounds: Span, p: &ChunkParams) -> Plan {
    let mut out = Plan::default();
    let fl = p.frame_len;
    let regions = regions(frames, first, p, &mut out);
    if regions.is_empty() {
        return out;
    }
    // Padded spans, clipped to the bounds and to the middle of each gap.
    let mut pieces: Vec<(Span, Span)> = Vec::new(); // (chunk span, speech span)
    for (i, r) in regions.iter().enumerate() {
        let speech = Span {
            start: (r.start * fl).max(bounds.start),
            end: (r.end * fl).min(bounds.end),
        };
        let lo = if i == 0 {
            bounds.start
        } else {
            (regions[i - 1].end * fl + r.start * fl).div_ceil(2)
        };
        let hi = if i + 1 == regions.len() {
            bounds.end
        } else {
            (r.end * fl + regions[i + 1].start * fl) / 2
        };
        let span = Span {
            start: speech.start.saturating_sub(p.pad).max(lo),
            end: (speech.end + p.pad).min(hi),
        };
        if span.len() > p.max_len {
            split_long(r, span, frames, first, p, &mut pieces, &mut out.forced_cuts);
        } else {
            pieces.push((span, speech));
        }
    }
    merge_short(&mut pieces, p);
    grow_or_drop(pieces, bounds, p, &mut out);
    for r in &regions {
        let (rs, re) = (r.start * fl, r.end * fl);
        for c in &out.chunks {
            let (s, e) = (rs.max(c.start), re.min(c.end));
            if s < e {
                out.speech.push(Span { start: s, end: e });
            }
        }
    }
    out
}

/// Voiced runs → regions (pauses < min_silence filled, blips dropped).
fn regions(frames: &[FrameInfo], first: usize, p: &ChunkParams, out: &mut Plan) -> Vec<Region> {
    let mut regions: Vec<Region> = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        if !frames[i].voiced {
            i += 1;
            continue;
        }
        let s = i;
        while i < frames.len() && frames[i].voiced {
            i += 1;
        }
        let (start, end) = (first + s, first + i);
        match regions.last_mut() {
            Some(last) if start - last.end < p.min_silence_frames => {
                last.pauses.push((last.end, start));
                last.end = end;
            }
            _ => regions.push(Region {
                start,
                end,
                pauses: Vec::new(),
            }),
        }
    }
    regions.retain(|r| {
        let keep = r.end - r.start >= p.min_speech_frames;
        if !keep {
            out.dropped.push((
                Span {
                    start: r.start * p.frame_len,
                    end: r.end * p.frame_len,
                },
                DropReason::ShortSpeech,
            ));
        }
        keep
    });
    regions
}

/// Splits a padded region longer than `max` at its best inner pauses.
fn split_long(
    r: &Region,
    span: Span,
    frames: &[FrameInfo],
    first: usize,
    p: &ChunkParams,
    pieces: &mut Vec<(Span, Span)>,
    forced: &mut usize,
) {
    let fl = p.frame_len;
    let energy = |f: usize| frames[f - first].energy;
    let pause_energy =
        |&(a, b): &(usize, usize)| -> f32 { (a..b).map(energy).sum::<f32>() / (b - a) as f32 };
    let mut cur = span.start;
    loop {
        if span.end - cur <= p.max_len {
            pieces.push((
                Span {
                    start: cur,
                    end: span.end,
                },
                clamp_speech(r, cur, span.end, fl),
            ));
            return;
        }
        // Candidate cuts: (piece end, next start, pause).
        let mut best: Option<(usize, usize, (usize, usize))> = None;
        let mut best_key = (false, 0usize, f32::INFINITY);
        for &(a, b) in &r.pauses {
            let mid = (a + b) * fl / 2;
            let end = (a * fl + p.pad).min(mid);
            let next = (b * fl).saturating_sub(p.pad).max(mid);
            if end <= cur || next >= span.end {
                continue;
            }
            let len = end - cur;
            if len < p.min_len || len > p.max_len {
                continue;
            }
            let rest_ok = span.end - next >= p.min_len;
            let e = pause_energy(&(a, b));
            // Prefer: the rest can still form a chunk, then the longest pause,
            // then the quietest.
            let key = (rest_ok, b - a, e);
            let better = match best {
                None => true,
                Some(_) => {
                    (key.0, key.1) > (best_key.0, best_key.1)
                        || ((key.0, key.1) == (best_key.0, best_key.1) && key.2 < best_key.2)
                }
            };
            if better {
                best = Some((end, next, (a, b)));
                best_key = key;
            }
        }
        let (end, next) = match best {
            Some((end, next, _)) => (end, next),
            None => {
                // No pause fits: cut at the quietest frame boundary in the window.
                *forced += 1;
                // Leave the rest at least `min` long when the region allows it.
                let mut hi_s = cur + p.max_len;
                if span.end >= cur + 2 * p.min_len {
                    hi_s = hi_s.min(span.end - p.min_len);
                }
                let lo_f = (cur + p.min_len).div_ceil(fl).max(r.start + 1);
                let hi_f = (hi_s / fl).min(r.end.saturating_sub(1));
                let cut_f = (lo_f..=hi_f.max(lo_f))
                    .filter(|f| *f >= first && *f - first < frames.len())
                    .min_by(|a, b| energy(*a).total_cmp(&energy(*b)))
                    .unwrap_or(lo_f);
                let cut = (cut_f * fl).clamp(cur + 1, cur + p.max_len);
                (cut, cut)
            }
        };
        pieces.push((Span { start: cur, end }, clamp_speech(r, cur, end, fl)));
        cur = next;
    }
}

fn clamp_speech(r: &Region, lo: usize, hi: usize, fl: usize) -> Span {
    Span {
        start: (r.start * fl).clamp(lo, hi),
        end: (r.end * fl).clamp(lo, hi),
    }
}

/// Joins pieces shorter than `min` with their nearer neighbour when allowed.
fn merge_short(pieces: &mut Vec<(Span, Span)>, p: &ChunkParams) {
    let mut i = 0;
    while i < pieces.len() {
        if pieces[i].0.len() >= p.min_len {
            i += 1;
            continue;
        }
        let gap_prev = (i > 0).then(|| pieces[i].1.start - pieces[i - 1].1.end);
        let gap_next = (i + 1 < pieces.len()).then(|| pieces[i + 1].1.start - pieces[i].1.end);
        let fits = |a: &(Span, Span), b: &(Span, Span), gap: usize| {
            gap <= p.merge_gap && b.0.end - a.0.start <= p.max_len
        };
        let prev_ok = gap_prev.filter(|&g| fits(&pieces[i - 1], &pieces[i], g));
        let next_ok = gap_next.filter(|&g| fits(&pieces[i], &pieces[i + 1], g));
        let target = match (prev_ok, next_ok) {
            (Some(a), Some(b)) => Some(if a <= b { i - 1 } else { i }),
            (Some(_), None) => Some(i - 1),
            (None, Some(_)) => Some(i),
            (None, None) => None,
        };
        match target {
            Some(j) => {
                let b = pieces.remove(j + 1);
                let a = &mut pieces[j];
                a.0.end = b.0.end;
                a.1.end = b.1.end;
                // Re-examine the merged piece (it may still be short).
                i = j;
            }
            None => i += 1,
        }
    }
}

/// Grows short pieces into the silence around them, or drops them.
fn grow_or_drop(pieces: Vec<(Span, Span)>, bounds: Span, p: &ChunkParams, out: &mut Plan) {
    let n = pieces.len();
    let mut kept: Vec<Span> = Vec::with_capacity(n);
    for i in 0..n {
        let (mut span, speech) = pieces[i];
        if span.len() < p.min_len {
            let lo = kept.last().map_or(bounds.start, |s| s.end);
            let hi = if i + 1 < n {
                pieces[i + 1].0.start
            } else {
                bounds.end
            };
            let need = p.min_len - span.len();
            let room_l = span.start - lo;
            let room_r = hi - span.end;
            if room_l + room_r >= need {
                let mut l = room_l.min(need / 2);
                let r = room_r.min(need - l);
                l = room_l.min(need - r);
                span.start -= l;
                span.end += r;
            }
        }
        if span.len() >= p.min_len {
            kept.push(span);
        } else {
            out.dropped.push((speech, DropReason::ShorterThanMinChunk));
        }
    }
    out.chunks = kept;
}

/// Cuts a stream of VAD frames into independent sections and plans each.
///
/// A section opens at the first voiced frame (reaching back half a section
/// gap) and closes once `section_gap_frames` of silence follow its last voiced
/// frame (reaching half a gap past it), or, in speech that never pauses that
/// long, after `max_section_frames` at its longest pause. Only the frames of
/// the open section are kept.
pub struct Sectioner {
    p: ChunkParams,
    /// Frames from absolute index `first`.
    frames: Vec<FrameInfo>,
    first: usize,
    /// `Some(lo_frame)` while a section is open.
    open: Option<usize>,
    /// End frame of the last closed section: the next one starts no earlier.
    floor: usize,
    last_voiced: usize,
}

impl Sectioner {
    /// A sectioner with no frames yet.
    pub fn new(p: ChunkParams) -> Self {
        Sectioner {
            p,
            frames: Vec::new(),
            first: 0,
            open: None,
            floor: 0,
            last_voiced: 0,
        }
    }

    fn next_index(&self) -> usize {
        self.first + self.frames.len()
    }

    /// The first sample the caller must still hold: audio before it is in no
    /// future chunk.
    pub fn keep_from(&self) -> usize {
        let f = match self.open {
            Some(lo) => lo,
            None => self
                .next_index()
                .saturating_sub(self.p.section_gap_frames / 2),
        };
        f * self.p.frame_len
    }

    /// Adds the next frame; returns a plan when a section closes.
    pub fn push(&mut self, info: FrameInfo) -> Option<Plan> {
        let idx = self.next_index();
        self.frames.push(info);
        let half = self.p.section_gap_frames / 2;
        match self.open {
            None => {
                if info.voiced {
                    self.open = Some(idx.saturating_sub(half).max(self.floor));
                    self.last_voiced = idx;
                } else if self.frames.len() > 2 * half + 64 {
                    self.forget_before(idx + 1 - half);
                }
                None
            }
            Some(lo) => {
                if info.voiced {
                    self.last_voiced = idx;
                }
                if idx - self.last_voiced >= self.p.section_gap_frames {
                    let hi = self.last_voiced + 1 + half;
                    let plan = self.plan_range(lo, hi, hi * self.p.frame_len);
                    self.open = None;
                    self.floor = hi;
                    self.forget_before(idx + 1 - half);
                    Some(plan)
                } else if idx + 1 - lo > self.p.max_section_frames {
                    let cut = self.best_cut(lo, idx + 1);
                    let plan = self.plan_range(lo, cut, cut * self.p.frame_len);
                    self.floor = cut;
                    self.open = (self.last_voiced >= cut).then_some(cut);
                    self.forget_before(cut);
                    Some(plan)
                } else {
                    None
                }
            }
        }
    }

    /// Ends the stream of `total_samples` samples; plans the open section.
    pub fn finish(&mut self, total_samples: usize) -> Option<Plan> {
        let lo = self.open.take()?;
        let half = self.p.section_gap_frames / 2;
        let hi_f = (self.last_voiced + 1 + half).min(self.next_index());
        let end = if hi_f == self.next_index() {
            total_samples
        } else {
            hi_f * self.p.frame_len
        };
        Some(self.plan_range(lo, hi_f, end.min(total_samples)))
    }

    fn plan_range(&self, lo: usize, hi: usize, end_sample: usize) -> Plan {
        let a = lo - self.first;
        let b = hi.min(self.next_index()) - self.first;
        let bounds = Span {
            start: lo * self.p.frame_len,
            end: end_sample,
        };
        plan(&self.frames[a..b], lo, bounds, &self.p)
    }

    /// Middle of the longest silent run in the last `max_len` of `[lo, hi)`,
    /// or the quietest frame if there is none.
    fn best_cut(&self, lo: usize, hi: usize) -> usize {
        let window = self.p.max_len.div_ceil(self.p.frame_len);
        let from = hi.saturating_sub(window).max(lo + 1);
        let f = |i: usize| &self.frames[i - self.first];
        let (mut best, mut best_len, mut run) = (None, 0, 0);
        for i in from..hi {
            if f(i).voiced {
                run = 0;
            } else {
                run += 1;
                if run > best_len {
                    best_len = run;
                    best = Some(i + 1 - run / 2 - run % 2);
                }
            }
        }
        best.unwrap_or_else(|| {
            (from..hi)
                .min_by(|a, b| f(*a).energy.total_cmp(&f(*b).energy))
                .unwrap_or(hi - 1)
        })
    }

    fn forget_before(&mut self, frame: usize) {
        if frame > self.first {
            let n = (frame - self.first).min(self.frames.len());
            self.frames.drain(..n);
            self.first += n;
        }
    }
}

#[cfg(test)]
mod tests;
