//! Criterion benchmarks of the hot stages on fixed buffers (the agent channel
//! of `fixtures/calls/call01.wav`, 36 s at 8 kHz, as 16-bit PCM like the
//! pipeline carries it; `f32` for the resampler). Throughput is reported in
//! audio samples per second: divide by 8000 for realtime factor.
//!
//! `cargo bench --bench stages`

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use callprep::config::SegmentConfig;
use callprep::pipeline::segment_samples;
use callprep::stages::chunk::{plan, ChunkConfig, ChunkParams, Span};
use callprep::stages::decode::{decode_channel_i16, read_header};
use callprep::stages::mel::{MelConfig, MelExtractor};
use callprep::stages::resample::resample_all;
use callprep::stages::vad::{FrameVad, VadConfig, VadEngine};
use callprep::Isa;

fn call01() -> (Vec<u8>, Vec<i16>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls/call01.wav");
    let bytes = std::fs::read(path).unwrap();
    let info = read_header(&mut std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
    let data =
        bytes[info.data_offset as usize..(info.data_offset + info.data_len) as usize].to_vec();
    let mut agent = Vec::new();
    decode_channel_i16(&info, &data, 0, Isa::best(), &mut agent);
    (data, agent)
}

fn seg_config() -> SegmentConfig {
    SegmentConfig {
        sample_rate_hz: 8000,
        roles: vec![Some("agent".into()), Some("customer".into())],
        vad: VadConfig {
            mode: 3,
            frame_ms: 30,
            engine: VadEngine::default(),
            isa: callprep_isa::Isa::best(),
        },
        chunk: ChunkConfig {
            min_chunk_s: 2.0,
            max_chunk_s: 20.0,
            pad_ms: 200,
            min_silence_ms: 400,
            min_speech_ms: 90,
            merge_gap_ms: 1500,
        },
        dtmf: callprep::config::DtmfMode::Drop,
    }
}

fn benches(c: &mut Criterion) {
    let (data, agent) = call01();
    let n = agent.len() as u64;

    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);

    let info = read_header(
        &mut std::io::Cursor::new(
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/calls/call01.wav"))
                .unwrap(),
        ),
        u64::MAX,
    );
    if let Ok(info) = info {
        let mut out = Vec::with_capacity(agent.len());
        g.bench_function("decode_pcm16_one_channel", |b| {
            b.iter(|| {
                out.clear();
                decode_channel_i16(&info, black_box(&data), 0, Isa::best(), &mut out);
                black_box(out.len())
            })
        });
    }

    let cfg = MelConfig::preset("telephony").unwrap();
    let ex = MelExtractor::new(&cfg);
    let mut scratch = ex.scratch();
    let mut feats = Vec::new();
    g.bench_function("mel_telephony", |b| {
        b.iter(|| black_box(ex.compute_into(black_box(&agent), &mut scratch, &mut feats)))
    });

    let vad_cfg = VadConfig {
        mode: 3,
        frame_ms: 30,
        engine: VadEngine::default(),
        isa: callprep_isa::Isa::best(),
    };
    g.bench_function("vad_30ms", |b| {
        b.iter(|| {
            let mut vad = FrameVad::new(&vad_cfg, 8000).unwrap();
            let mut voiced = 0usize;
            for f in agent.chunks_exact(240) {
                voiced += usize::from(vad.classify(f).voiced);
            }
            black_box(voiced)
        })
    });

    let seg = seg_config();
    g.bench_function("vad_and_chunk", |b| {
        b.iter(|| {
            black_box(
                segment_samples(black_box(&agent), &seg)
                    .unwrap()
                    .chunks
                    .len(),
            )
        })
    });

    let agent_f32: Vec<f32> = agent.iter().map(|&s| f32::from(s) / 32768.0).collect();
    g.bench_function("resample_16k_to_8k", |b| {
        b.iter(|| {
            black_box(
                resample_all(black_box(&agent_f32), 16000, 8000)
                    .unwrap()
                    .len(),
            )
        })
    });
    g.finish();

    // The chunker alone on one hour of synthetic VAD frames.
    let mut frames = Vec::new();
    let mut state = 1u32;
    while frames.len() < 120_000 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let voiced = frames.len() % 300 < 200;
        let run = 1 + (state >> 16) as usize % 20;
        frames.extend((0..run).map(|_| callprep::stages::vad::FrameInfo {
            voiced,
            energy: (state % 1000) as f32,
        }));
    }
    let p = ChunkParams::new(&seg.chunk, 8000, 240);
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Elements(frames.len() as u64 * 240));
    g.bench_function("plan_one_hour", |b| {
        b.iter(|| {
            black_box(
                plan(
                    black_box(&frames),
                    0,
                    Span {
                        start: 0,
                        end: frames.len() * 240,
                    },
                    &p,
                )
                .chunks
                .len(),
            )
        })
    });
    g.finish();
}

criterion_group!(stage_benches, benches);
criterion_main!(stage_benches);
