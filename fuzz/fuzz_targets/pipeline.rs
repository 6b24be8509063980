//! Fuzz target: arbitrary bytes as a WAV file through the whole pipeline.
//!
//! decode (header + every channel) → resample to 8 kHz when needed → round
//! to PCM16 (as the worker does; `decode_channel_i16` must agree) → VAD +
//! chunking (`segment_samples`, CLI defaults) → telephony log-mel of every
//! chunk. Asserts: decoded and resampled samples are finite and as many as
//! promised; chunks are in bounds, in order, non-overlapping and
//! `min_chunk..=max_chunk` long; features have the promised shape and are
//! finite. Input audio is capped at 30 s per channel so one input stays fast.
//!
//! Run: `cargo +nightly fuzz run pipeline -- -max_len=200000` (see README).
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use callprep::config::SegmentConfig;
use callprep::pipeline::segment_samples;
use callprep::Isa;
use callprep::stages::decode::{decode_channel, decode_channel_i16, read_header, to_i16};
use callprep::stages::mel::{MelConfig, MelExtractor};
use callprep::stages::resample::resample_all;
use libfuzzer_sys::fuzz_target;

/// Most seconds of audio decoded per channel.
const MAX_SECONDS: u64 = 30;


struct Setup {
    seg: SegmentConfig,
    mel: MelExtractor,
    min_len: usize,
    max_len: usize,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        // Exactly the CLI defaults (`callprep run x -o o`).
        let cli =
            <callprep::cli::Cli as clap::Parser>::parse_from(["callprep", "run", "x", "-o", "o"]);
        let cfg = callprep::config::Config::from_cli(cli).expect("defaults are valid");
        let seg = cfg.segment.expect("run has segment settings");
        let mel_cfg = MelConfig::preset("telephony").expect("telephony preset exists");
        assert_eq!(cfg.mel.as_ref(), Some(&mel_cfg));
        let rate = f64::from(seg.sample_rate_hz);
        Setup {
            min_len: (seg.chunk.min_chunk_s * rate).round() as usize,
            max_len: (seg.chunk.max_chunk_s * rate).round() as usize,
            mel: MelExtractor::new(&mel_cfg),
            seg,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let st = setup();
    let Ok(mut info) = read_header(&mut Cursor::new(data), data.len() as u64) else {
        return;
    };
    // The header's view of the data must lie inside the file.
    let start = info.data_offset as usize;
    assert!(info.data_len > 0 && info.data_len % info.block_align as u64 == 0);
    assert!(
        start as u64 + info.data_len <= data.len() as u64,
        "{info:?}"
    );
    assert_eq!(
        info.block_align,
        info.channels * info.format.bytes_per_sample()
    );


    let cap = MAX_SECONDS * u64::from(info.sample_rate_hz) * info.block_align as u64;
    info.data_len = info.data_len.min(cap);
    let bytes = &data[start..start + info.data_len as usize];
    let rate = st.seg.sample_rate_hz;
    let mut samples = Vec::new();
    for ch in 0..info.channels {
        samples.clear();
        decode_channel(&info, bytes, ch, &mut samples);
        assert_eq!(samples.len() as u64, info.frames());
        assert!(
            samples.iter().all(|x| x.is_finite()),
            "decode: non-finite sample"
        );

        let resampled;
        let audio: &[f32] = if info.sample_rate_hz == rate {
            &samples
        } else {
            resampled = resample_all(&samples, info.sample_rate_hz, rate)
                .expect("resampler accepts every rate the decoder accepts");
            // Exactly ceil(n · to / from) samples.
            let want = (samples.len() as u64 * u64::from(rate))
                .div_ceil(u64::from(info.sample_rate_hz)) as usize;
            assert!(
                resampled.len() == want,
                "resample length {} for {} samples at {} Hz, want {want}",
                resampled.len(),
                samples.len(),
                info.sample_rate_hz
            );
            assert!(
                resampled.iter().all(|x| x.is_finite()),
                "resample: non-finite sample from finite input"
            );
            &resampled
        };

        let pcm: Vec<i16> = audio.iter().map(|&x| to_i16(x)).collect();
        if info.sample_rate_hz == rate {
            let mut direct = Vec::new();
            decode_channel_i16(&info, bytes, ch, Isa::best(), &mut direct);
            assert!(direct == pcm, "decode_channel_i16 differs from decode + to_i16");
        }
        let audio = &pcm[..];
        let plan = segment_samples(audio, &st.seg).expect("default VAD settings are valid");
        let mut prev_end = 0;
        for span in &plan.chunks {
            assert!(span.start < span.end, "empty chunk {span:?}");
            assert!(
                span.end <= audio.len(),
                "chunk {span:?} past {}",
                audio.len()
            );
            assert!(
                span.start >= prev_end,
                "chunk {span:?} overlaps or is out of order"
            );
            assert!(
                (st.min_len..=st.max_len).contains(&span.len()),
                "chunk {span:?} of {} samples",
                span.len()
            );
            prev_end = span.end;

            let chunk = &audio[span.start..span.end];
            let (out, frames) = st.mel.compute(chunk);
            let cfg = st.mel.config();
            assert_eq!(frames, cfg.n_frames(chunk.len()));
            assert_eq!(out.len(), frames * cfg.n_mels);
            if let Some(i) = out.iter().position(|v| !v.is_finite()) {
                panic!("mel: non-finite value {} at {i} of {}", out[i], out.len());
            }
        }
        for (span, _) in &plan.dropped {
            assert!(
                span.start < span.end && span.end <= audio.len(),
                "dropped {span:?}"
            );
        }
    }
});
