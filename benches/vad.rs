//! The WebRTC VAD: the `webrtc-vad` crate (libfvad, C) against the bit-exact
//! Rust port in `callprep_fvad` (crates/fvad), on the agent channel of
//! `fixtures/calls/call01.wav` (36 s at 8 kHz), 30 ms frames, mode 3. Each
//! iteration runs a fresh detector over the whole channel. Throughput is in
//! audio samples per second (divide by 8000 for the realtime factor; the
//! channel is 1211 frames, so ns per frame = time per iteration / 1211).
//!
//! `cargo bench --bench vad`

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use callprep::stages::decode::{decode_channel_i16, read_header};
use callprep::Isa;
use callprep_fvad::Fvad;
use webrtc_vad::{SampleRate, Vad, VadMode};

/// Channel `ch` of call01 as 16-bit PCM.
fn call01(ch: usize) -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls/call01.wav");
    let bytes = std::fs::read(path).unwrap();
    let info = read_header(&mut std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
    let data = &bytes[info.data_offset as usize..(info.data_offset + info.data_len) as usize];
    let mut samples = Vec::new();
    decode_channel_i16(&info, data, ch, Isa::best(), &mut samples);
    samples
}

fn benches(c: &mut Criterion) {
    let pcm = call01(0);
    let customer = call01(1);
    const FRAME: usize = 240; // 30 ms at 8 kHz
    let frames = pcm.len() / FRAME;

    // Same decisions, or the comparison is meaningless.
    let mut port = Fvad::new(8000, 3).unwrap();
    let mut reference = Vad::new_with_rate_and_mode(SampleRate::Rate8kHz, VadMode::VeryAggressive);
    for f in pcm.chunks_exact(FRAME) {
        assert_eq!(Ok(port.process(f)), reference.is_voice_segment(f));
    }

    let mut g = c.benchmark_group("vad_8k_30ms_mode3");
    g.throughput(Throughput::Elements((frames * FRAME) as u64));
    g.bench_function("webrtc_vad_crate", |b| {
        b.iter(|| {
            let mut vad =
                Vad::new_with_rate_and_mode(SampleRate::Rate8kHz, VadMode::VeryAggressive);
            let mut voiced = 0usize;
            for f in black_box(&pcm).chunks_exact(FRAME) {
                voiced += usize::from(vad.is_voice_segment(f).unwrap());
            }
            black_box(voiced)
        })
    });
    g.bench_function("fvad_port", |b| {
        b.iter(|| {
            let mut vad = Fvad::new(8000, 3).unwrap();
            let mut voiced = 0usize;
            for f in black_box(&pcm).chunks_exact(FRAME) {
                voiced += usize::from(vad.process(f));
            }
            black_box(voiced)
        })
    });
    g.finish();

    // Both channels: one detector after the other, or the two together
    // (`Fvad::process_many`, which runs their filterbanks in one loop).
    let mut g = c.benchmark_group("vad_8k_30ms_mode3_two_channels");
    g.throughput(Throughput::Elements((2 * frames * FRAME) as u64));
    let channels = [&pcm, &customer];
    g.bench_function("fvad_port_one_by_one", |b| {
        b.iter(|| {
            let mut voiced = 0usize;
            for ch in black_box(channels) {
                let mut vad = Fvad::new(8000, 3).unwrap();
                for f in ch.chunks_exact(FRAME) {
                    voiced += usize::from(vad.process(f));
                }
            }
            black_box(voiced)
        })
    });
    g.bench_function("fvad_port_together", |b| {
        b.iter(|| {
            let [a, b] = black_box(channels);
            let (mut va, mut vb) = (Fvad::new(8000, 3).unwrap(), Fvad::new(8000, 3).unwrap());
            let mut voiced = 0usize;
            for (fa, fb) in a.chunks_exact(FRAME).zip(b.chunks_exact(FRAME)) {
                let [x, y] = Fvad::process_many([&mut va, &mut vb], [fa, fb]);
                voiced += usize::from(x) + usize::from(y);
            }
            black_box(voiced)
        })
    });
    g.finish();
}

criterion_group!(vad_benches, benches);
criterion_main!(vad_benches);
