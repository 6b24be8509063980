//! Tests of the chunker: bounds from the user's settings (not from
//! `ChunkParams`), no overlap, no voiced frame lost (forced cuts included),
//! pauses chosen, short pieces merged or dropped and counted.

use super::*;
use proptest::prelude::*;

const RATE: u32 = 8000;
const FL: usize = 240; // 30 ms

fn cfg() -> ChunkConfig {
    ChunkConfig {
        min_chunk_s: 2.0,
        max_chunk_s: 20.0,
        pad_ms: 200,
        min_silence_ms: 500,
        min_speech_ms: 90,
        merge_gap_ms: 1000,
    }
}

/// Frames from a pattern of (voiced, seconds) runs.
fn frames_of(runs: &[(bool, f64)]) -> Vec<FrameInfo> {
    let mut v = Vec::new();
    for &(voiced, s) in runs {
        let n = (s * RATE as f64 / FL as f64).round() as usize;
        v.extend((0..n).map(|_| FrameInfo {
            voiced,
            energy: if voiced { 0.1 } else { 1e-5 },
        }));
    }
    v
}

fn run_stream(frames: &[FrameInfo], c: &ChunkConfig) -> Plan {
    let p = ChunkParams::new(c, RATE, FL);
    let mut s = Sectioner::new(p);
    let mut all = Plan::default();
    let absorb = |plan: Plan, all: &mut Plan| {
        all.chunks.extend(plan.chunks);
        all.dropped.extend(plan.dropped);
        all.forced_cuts += plan.forced_cuts;
    };
    for f in frames {
        if let Some(plan) = s.push(*f) {
            absorb(plan, &mut all);
        }
    }
    if let Some(plan) = s.finish(frames.len() * FL) {
        absorb(plan, &mut all);
    }
    all
}

/// The chunk lengths the user asked for, in samples, worked out from the
/// settings alone (never from [`ChunkParams`], the code under test).
///
/// The rule: `--min-chunk` and `--max-chunk` bound a chunk's duration as
/// the manifest writes it, `samples / rate` (f64 division), so a chunk of
/// `n` samples has `min_chunk_s <= n / rate <= max_chunk_s`. Where
/// `s × rate` is a whole number (the defaults 2 s and 20 s at every rate)
/// that is `min_chunk_s × rate <= n <= max_chunk_s × rate`; otherwise the
/// shortest chunk has ceil(`min_chunk_s × rate`) samples and the longest
/// floor(`max_chunk_s × rate`).
fn user_bounds(c: &ChunkConfig, rate: u32) -> (usize, usize) {
    let r = f64::from(rate);
    let min = (1..).find(|&n| n as f64 / r >= c.min_chunk_s).unwrap();
    let max = (1..).find(|&n| (n + 1) as f64 / r > c.max_chunk_s).unwrap();
    (min, max)
}

#[test]
fn user_bounds_follow_the_documented_rule() {
    let mut c = cfg();
    assert_eq!(user_bounds(&c, 8000), (16000, 160000));
    assert_eq!(user_bounds(&c, 16000), (32000, 320000));
    (c.min_chunk_s, c.max_chunk_s) = (1.5, 4.25);
    assert_eq!(user_bounds(&c, 8000), (12000, 34000));
    // 2.3 is a little below 2.3 as an f64; 18400 / 8000 is that same f64.
    (c.min_chunk_s, c.max_chunk_s) = (2.3, 2.3);
    assert_eq!(user_bounds(&c, 8000), (18400, 18400));
    // Not whole samples: round up the minimum, down the maximum.
    (c.min_chunk_s, c.max_chunk_s) = (1.50004, 4.00006);
    assert_eq!(user_bounds(&c, 8000), (12001, 32000));
}

/// Every voiced frame must be in a chunk or in `dropped` (with a reason).
///
/// The rule holds with forced cuts too: a forced cut splits speech at a
/// frame boundary and the two pieces touch (the first ends where the next
/// begins), so the cut itself drops nothing; a piece it leaves too short
/// to merge or grow is dropped like any other, its speech listed in
/// `dropped` as `shorter_than_min_chunk`. Nothing else (no section
/// boundary, no pause split) may lose a voiced frame either. A frame
/// counts as kept when its first sample is.
fn lost_voiced_frame(frames: &[FrameInfo], plan: &Plan) -> Option<usize> {
    let has = |c: &Span, s: usize| c.start <= s && s < c.end;
    frames.iter().enumerate().find_map(|(i, fr)| {
        let s = i * FL;
        let kept =
            plan.chunks.iter().any(|c| has(c, s)) || plan.dropped.iter().any(|(d, _)| has(d, s));
        (fr.voiced && !kept).then_some(i)
    })
}

fn secs(s: &Span) -> (f64, f64) {
    (s.start as f64 / RATE as f64, s.end as f64 / RATE as f64)
}

#[test]
fn single_utterance_is_padded() {
    let f = frames_of(&[(false, 3.0), (true, 3.0), (false, 3.0)]);
    let plan = run_stream(&f, &cfg());
    assert_eq!(plan.chunks.len(), 1);
    let (s, e) = secs(&plan.chunks[0]);
    assert!(
        (s - 2.8).abs() < 0.031 && (e - 6.2).abs() < 0.031,
        "{s} {e}"
    );
    assert!(plan.dropped.is_empty());
}

#[test]
fn short_pauses_are_filled_long_pauses_split() {
    let f = frames_of(&[
        (false, 2.0),
        (true, 2.5),
        (false, 0.3), // filled
        (true, 2.5),
        (false, 1.5), // split
        (true, 3.0),
        (false, 2.0),
    ]);
    let plan = run_stream(&f, &cfg());
    assert_eq!(plan.chunks.len(), 2, "{:?}", plan.chunks);
    let (s0, e0) = secs(&plan.chunks[0]);
    assert!(
        (s0 - 1.8).abs() < 0.04 && (e0 - 7.5).abs() < 0.04,
        "{s0} {e0}"
    );
}

#[test]
fn long_speech_splits_at_the_longest_pause() {
    // 12 s speech, 0.2 s pause, 5 s, 0.45 s pause (longest), 8 s: 25.5 s total.
    let f = frames_of(&[
        (false, 1.0),
        (true, 12.0),
        (false, 0.2),
        (true, 5.0),
        (false, 0.45),
        (true, 8.0),
        (false, 1.0),
    ]);
    let plan = run_stream(&f, &cfg());
    assert_eq!(plan.chunks.len(), 2, "{:?}", plan.chunks);
    assert_eq!(plan.forced_cuts, 0);
    let (_, e0) = secs(&plan.chunks[0]);
    let (s1, _) = secs(&plan.chunks[1]);
    // The cut lies in the 0.45 s pause at 18.2..18.65 s.
    assert!(
        e0 > 18.2 && e0 <= 18.65 && s1 >= e0 && s1 < 18.65,
        "{e0} {s1}"
    );
}

#[test]
fn speech_without_pauses_is_force_cut_within_bounds() {
    let f = frames_of(&[(false, 1.0), (true, 50.0), (false, 1.0)]);
    let plan = run_stream(&f, &cfg());
    assert!(plan.forced_cuts >= 2);
    for c in &plan.chunks {
        assert!(c.len() >= 16000 && c.len() <= 160000, "{c:?}");
    }
    let covered: usize = plan.chunks.iter().map(Span::len).sum();
    assert!(covered >= 50 * 8000, "speech lost: {covered}");
}

#[test]
fn speech_one_sample_over_max_is_cut() {
    // A section of pause-less speech exactly one sample longer than
    // --max-chunk: it must be cut, whatever ChunkParams computes.
    let c = cfg();
    let max = (c.max_chunk_s * f64::from(RATE)) as usize; // 160,000: whole
    let f = frames_of(&[(true, 21.0)]);
    let p = ChunkParams::new(&c, RATE, FL);
    let plan = plan(
        &f,
        0,
        Span {
            start: 0,
            end: max + 1,
        },
        &p,
    );
    assert!(plan.chunks.len() >= 2, "not cut: {:?}", plan.chunks);
    for ch in &plan.chunks {
        assert!(ch.len() <= max, "{} samples > {max}: {ch:?}", ch.len());
    }
    assert_eq!(plan.forced_cuts, 1);
}

#[test]
fn no_voiced_frame_is_lost_away_from_forced_cuts() {
    // 50 s without a pause (forced cuts), then 24.3 s of speech whose
    // only inner pause (0.3 s) is where it must be split, then an answer
    // too short to keep (dropped, with its reason).
    let f = frames_of(&[
        (false, 1.0),
        (true, 50.0),
        (false, 3.0),
        (true, 12.0),
        (false, 0.3),
        (true, 12.0),
        (false, 6.0),
        (true, 0.3),
        (false, 0.6),
    ]);
    let plan = run_stream(&f, &cfg());
    assert!(plan.forced_cuts >= 2, "{plan:?}");
    assert!(plan
        .dropped
        .iter()
        .any(|(_, r)| *r == DropReason::ShorterThanMinChunk));
    assert_eq!(lost_voiced_frame(&f, &plan), None, "{plan:?}");
}

#[test]
fn short_answer_grows_into_silence_or_merges() {
    // An isolated 0.6 s "да" grows to 2 s; two close short answers merge.
    let f = frames_of(&[
        (false, 4.0),
        (true, 0.6),
        (false, 4.0),
        (true, 0.6),
        (false, 0.7),
        (true, 0.9),
        (false, 4.0),
    ]);
    let plan = run_stream(&f, &cfg());
    assert_eq!(plan.chunks.len(), 2, "{:?}", plan.chunks);
    assert_eq!(plan.chunks[0].len(), 16000);
    let (s0, e0) = secs(&plan.chunks[0]);
    assert!(s0 < 4.0 && e0 > 4.6);
    assert!(plan.dropped.is_empty());
}

#[test]
fn blips_are_dropped_and_counted() {
    let f = frames_of(&[(false, 3.0), (true, 0.06), (false, 3.0)]);
    let plan = run_stream(&f, &cfg());
    assert!(plan.chunks.is_empty());
    assert_eq!(plan.dropped.len(), 1);
    assert_eq!(plan.dropped[0].1, DropReason::ShortSpeech);
}

#[test]
fn too_short_audio_drops_with_reason() {
    // The whole file is 1.5 s: no room to reach 2 s.
    let f = frames_of(&[(false, 0.3), (true, 1.0), (false, 0.2)]);
    let plan = run_stream(&f, &cfg());
    assert!(plan.chunks.is_empty());
    assert_eq!(plan.dropped[0].1, DropReason::ShorterThanMinChunk);
}

#[test]
fn sectioner_matches_whole_plan() {
    let f = frames_of(&[
        (false, 1.0),
        (true, 3.0),
        (false, 5.0),
        (true, 1.0),
        (false, 0.6),
        (true, 2.0),
        (false, 7.0),
        (true, 25.0),
        (false, 2.0),
    ]);
    let p = ChunkParams::new(&cfg(), RATE, FL);
    let whole = plan(
        &f,
        0,
        Span {
            start: 0,
            end: f.len() * FL,
        },
        &p,
    );
    let streamed = run_stream(&f, &cfg());
    assert_eq!(whole.chunks.len(), streamed.chunks.len());
    // Chunks may only differ where section bounds limit growth.
    for (a, b) in whole.chunks.iter().zip(&streamed.chunks) {
        assert!(a.start.abs_diff(b.start) <= 8000 && a.end.abs_diff(b.end) <= 8000);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn chunks_respect_bounds_and_never_overlap(
        runs in prop::collection::vec((any::<bool>(), 0.01f64..30.0), 1..40),
        min_s in 0.5f64..4.0,
        extra in 1.0f64..25.0,
        pad_ms in 0u32..400,
        min_silence_ms in 30u32..1500,
        merge_gap_ms in 0u32..3000,
    ) {
        let c = ChunkConfig {
            min_chunk_s: min_s,
            max_chunk_s: min_s + extra,
            pad_ms,
            min_silence_ms,
            min_speech_ms: 60,
            merge_gap_ms,
        };
        let f = frames_of(&runs);
        let total = f.len() * FL;
        let plan = run_stream(&f, &c);
        // The bounds come from the settings, not from ChunkParams.
        let (min_len, max_len) = user_bounds(&c, RATE);
        let mut prev_end = 0;
        for ch in &plan.chunks {
            prop_assert!(ch.len() >= min_len, "short {:?}: {} < {}", ch, ch.len(), min_len);
            prop_assert!(ch.len() <= max_len, "long {:?}: {} > {}", ch, ch.len(), max_len);
            prop_assert!(ch.start >= prev_end, "overlap {:?}", ch);
            prop_assert!(ch.end <= total, "past the end {:?}", ch);
            prev_end = ch.end;
        }
        // Every voiced frame is in a chunk or accounted for as dropped,
        // forced cuts or not (see `lost_voiced_frame` for the rule).
        let lost = lost_voiced_frame(&f, &plan);
        prop_assert!(lost.is_none(), "frame {:?} lost (forced cuts {})", lost, plan.forced_cuts);
    }
}
