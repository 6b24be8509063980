//! Tests of the WAV reader: every encoding, header quirks, truncation,
//! streaming and RF64 sizes, and the stable reason codes of malformed files.

use super::*;
use std::io::Cursor;

/// Builds a WAV byte image: `fmt_body` as the fmt chunk, extra chunks
/// before data, and a data chunk with the given declared size.
pub(crate) fn wav_bytes(
    fmt_body: &[u8],
    extra: &[(&[u8; 4], Vec<u8>)],
    declared: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(b"WAVE");
    v.extend_from_slice(b"fmt ");
    v.extend_from_slice(&(fmt_body.len() as u32).to_le_bytes());
    v.extend_from_slice(fmt_body);
    if fmt_body.len() % 2 == 1 {
        v.push(0);
    }
    for (id, body) in extra {
        v.extend_from_slice(*id);
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        if body.len() % 2 == 1 {
            v.push(0);
        }
    }
    v.extend_from_slice(b"data");
    v.extend_from_slice(&declared.to_le_bytes());
    v.extend_from_slice(data);
    let riff = (v.len() - 8) as u32;
    v[4..8].copy_from_slice(&riff.to_le_bytes());
    v
}

fn fmt16(tag: u16, ch: u16, rate: u32, bits: u16) -> Vec<u8> {
    let ba = ch * bits.div_ceil(8);
    let mut f = Vec::new();
    f.extend_from_slice(&tag.to_le_bytes());
    f.extend_from_slice(&ch.to_le_bytes());
    f.extend_from_slice(&rate.to_le_bytes());
    f.extend_from_slice(&rate.wrapping_mul(u32::from(ba)).to_le_bytes());
    f.extend_from_slice(&ba.to_le_bytes());
    f.extend_from_slice(&bits.to_le_bytes());
    f
}

fn parse(bytes: &[u8]) -> Result<WavInfo, DecodeError> {
    read_header(&mut Cursor::new(bytes), bytes.len() as u64)
}

fn decode_all(bytes: &[u8], info: &WavInfo, ch: usize) -> Vec<f32> {
    let s = info.data_offset as usize;
    let mut out = Vec::new();
    decode_channel(info, &bytes[s..s + info.data_len as usize], ch, &mut out);
    out
}

#[test]
fn pcm16_stereo_roundtrip_and_channels() {
    let samples: [i16; 6] = [1, -1, 1000, -1000, i16::MAX, i16::MIN];
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let bytes = wav_bytes(&fmt16(1, 2, 8000, 16), &[], data.len() as u32, &data);
    let info = parse(&bytes).unwrap();
    assert_eq!(info.frames(), 3);
    assert_eq!(info.format, SampleFormat::I16);
    assert!(!info.truncated);
    let left = decode_all(&bytes, &info, 0);
    let right = decode_all(&bytes, &info, 1);
    assert_eq!(
        left,
        vec![1.0 / 32768.0, 1000.0 / 32768.0, 32767.0 / 32768.0]
    );
    assert_eq!(right, vec![-1.0 / 32768.0, -1000.0 / 32768.0, -1.0]);
}

#[test]
fn every_pcm_width_decodes_full_scale() {
    // (bits, bytes of the max positive sample, expected value)
    let cases: [(u16, Vec<u8>, f32); 4] = [
        (8, vec![255], 127.0 / 128.0),
        (16, vec![0xFF, 0x7F], 32767.0 / 32768.0),
        (24, vec![0xFF, 0xFF, 0x7F], 8_388_607.0 / 8_388_608.0),
        (32, vec![0xFF, 0xFF, 0xFF, 0x7F], 1.0),
    ];
    for (bits, sample, want) in cases {
        let bytes = wav_bytes(&fmt16(1, 1, 8000, bits), &[], sample.len() as u32, &sample);
        let info = parse(&bytes).unwrap();
        let got = decode_all(&bytes, &info, 0);
        assert_eq!(got.len(), 1, "{bits}-bit");
        assert!(
            (got[0] - want).abs() < 1e-7,
            "{bits}-bit: {} vs {want}",
            got[0]
        );
    }
    // Negative 24-bit sign extension.
    let bytes = wav_bytes(&fmt16(1, 1, 8000, 24), &[], 3, &[0x00, 0x00, 0x80]);
    let info = parse(&bytes).unwrap();
    assert_eq!(decode_all(&bytes, &info, 0), vec![-1.0]);
}

#[test]
fn pcm16_decoding_is_decode_then_to_i16_for_every_format() {
    // (format tag, bits): PCM 8/16/24/32, float 32/64, A-law, μ-law.
    let formats = [
        (1, 8),
        (1, 16),
        (1, 24),
        (1, 32),
        (3, 32),
        (3, 64),
        (6, 8),
        (7, 8),
    ];
    let mut x = 12345u32;
    for (tag, bits) in formats {
        for ch in [1u16, 2, 3] {
            // More frames than one f32 piece (4096), and a partial frame.
            let ba = usize::from(ch) * usize::from(bits / 8);
            let mut data: Vec<u8> = (0..5000 * ba + 1)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect();
            if tag == 3 {
                // Mostly ordinary floats (random bytes are mostly huge
                // or tiny), with the NaN/Inf/huge ones left in.
                let w = usize::from(bits / 8);
                for (i, s) in data.chunks_exact_mut(w).enumerate() {
                    let v = ((i * 7919) % 4001) as f64 / 2000.0 - 1.0;
                    if i % 17 != 0 {
                        if w == 4 {
                            s.copy_from_slice(&(v as f32).to_le_bytes());
                        } else {
                            s.copy_from_slice(&v.to_le_bytes());
                        }
                    }
                }
            }
            let bytes = wav_bytes(&fmt16(tag, ch, 8000, bits), &[], data.len() as u32, &data);
            let info = parse(&bytes).unwrap();
            let s = info.data_offset as usize;
            let body = &bytes[s..s + info.data_len as usize];
            for c in 0..usize::from(ch) {
                let want: Vec<i16> = decode_all(&bytes, &info, c)
                    .into_iter()
                    .map(to_i16)
                    .collect();
                for isa in Isa::ALL {
                    if !isa.supported() {
                        assert_ne!(callprep_isa::cpuinfo_supports(isa), Some(true), "{isa}");
                        eprintln!("skipped {isa}: this CPU lacks it");
                        continue;
                    }
                    let mut got = vec![7i16]; // appends, keeping what was there
                    decode_channel_i16(&info, body, c, isa, &mut got);
                    assert_eq!(got[0], 7);
                    assert_eq!(
                        got[1..],
                        want[..],
                        "tag {tag}, {bits} bits, {ch} channels, channel {c}, {isa}"
                    );
                }
                assert_eq!(want.len(), data.len() / ba);
            }
        }
    }
}

#[test]
fn float_nan_and_inf_are_sanitised() {
    let vals = [
        0.5f32,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3.39e38,
        -1.5,
    ];
    let data: Vec<u8> = vals.iter().flat_map(|s| s.to_le_bytes()).collect();
    let bytes = wav_bytes(&fmt16(3, 1, 8000, 32), &[], data.len() as u32, &data);
    let info = parse(&bytes).unwrap();
    assert_eq!(
        decode_all(&bytes, &info, 0),
        vec![0.5, 0.0, 1.0, -1.0, 1.0, -1.0]
    );
}

#[test]
fn g711_tables_match_the_standard() {
    // Reference points from ITU-T G.711 / sox: 0xFF and 0x7F are ±0 in μ-law,
    // 0x00 and 0x80 are the extremes.
    assert_eq!(mulaw_to_i16(0xFF), 0);
    assert_eq!(mulaw_to_i16(0x7F), 0);
    assert_eq!(mulaw_to_i16(0x00), -32124);
    assert_eq!(mulaw_to_i16(0x80), 32124);
    assert_eq!(alaw_to_i16(0xD5), 8);
    assert_eq!(alaw_to_i16(0x55), -8);
    assert_eq!(alaw_to_i16(0xAA), 32256);
    assert_eq!(alaw_to_i16(0x2A), -32256);
    // Both laws are odd-symmetric and monotone over their magnitude codes.
    for b in 0..=255u8 {
        assert_eq!(mulaw_to_i16(b), -mulaw_to_i16(b ^ 0x80));
        assert_eq!(alaw_to_i16(b), -alaw_to_i16(b ^ 0x80));
    }
    let bytes = wav_bytes(&fmt16(7, 1, 8000, 8), &[], 2, &[0x80, 0xFF]);
    let info = parse(&bytes).unwrap();
    assert_eq!(info.format, SampleFormat::MuLaw);
    assert_eq!(decode_all(&bytes, &info, 0), vec![32124.0 / 32768.0, 0.0]);
}

#[test]
fn extensible_and_long_fmt_chunks() {
    // fmt of 18 bytes (cbSize = 0) and WAVE_FORMAT_EXTENSIBLE (40 bytes).
    let mut f18 = fmt16(1, 1, 16000, 16);
    f18.extend_from_slice(&0u16.to_le_bytes());
    let bytes = wav_bytes(&f18, &[], 2, &[0x00, 0x40]);
    assert_eq!(parse(&bytes).unwrap().sample_rate_hz, 16000);

    let mut ext = fmt16(0xFFFE, 2, 8000, 16);
    ext.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    ext.extend_from_slice(&16u16.to_le_bytes()); // valid bits
    ext.extend_from_slice(&3u32.to_le_bytes()); // channel mask
    ext.extend_from_slice(&1u16.to_le_bytes()); // sub-format: PCM
    ext.extend_from_slice(&[
        0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
    ]);
    assert_eq!(ext.len(), 40);
    let bytes = wav_bytes(&ext, &[], 4, &[0, 0x40, 0, 0xC0]);
    let info = parse(&bytes).unwrap();
    assert_eq!((info.channels, info.format), (2, SampleFormat::I16));
    assert_eq!(decode_all(&bytes, &info, 1), vec![-0.5]);
}

#[test]
fn unknown_and_odd_chunks_are_skipped() {
    let extra: Vec<(&[u8; 4], Vec<u8>)> = vec![
        (b"LIST", vec![1, 2, 3]), // odd size, pad byte follows
        (b"fact", vec![0; 4]),
        (b"bext", vec![7; 13]),
    ];
    let bytes = wav_bytes(&fmt16(1, 1, 8000, 16), &extra, 4, &[1, 0, 2, 0]);
    let info = parse(&bytes).unwrap();
    assert_eq!(info.frames(), 2);
    assert_eq!(
        decode_all(&bytes, &info, 0),
        vec![1.0 / 32768.0, 2.0 / 32768.0]
    );
}

#[test]
fn truncation_and_streaming_sizes() {
    let data = [1u8, 0, 2, 0, 3, 0];
    // Declares 4 GiB - 2 but holds 6 bytes: truncated, and no big allocation.
    let bytes = wav_bytes(&fmt16(1, 1, 8000, 16), &[], u32::MAX - 1, &data);
    let info = parse(&bytes).unwrap();
    assert!(info.truncated);
    assert_eq!(info.frames(), 3);
    // Streaming sizes: read to the end of the file.
    for declared in [0u32, u32::MAX] {
        let bytes = wav_bytes(&fmt16(1, 1, 8000, 16), &[], declared, &data);
        let info = parse(&bytes).unwrap();
        assert!(info.streaming && !info.truncated);
        assert_eq!(info.frames(), 3);
    }
    // An odd trailing byte is not a frame.
    let bytes = wav_bytes(&fmt16(1, 1, 8000, 16), &[], 5, &data[..5]);
    assert_eq!(parse(&bytes).unwrap().frames(), 2);
}

/// RF64 (EBU Tech 3306): the data size comes from `ds64`, so a chunk
/// after the audio is not decoded as audio; without `ds64` the audio
/// runs to the end of the file.
#[test]
fn rf64_takes_the_data_size_from_ds64() {
    let audio = [1u8, 0, 2, 0, 3, 0, 4, 0];
    let rf64 = |ds64: Option<u64>, trailer: &[u8]| {
        let mut v = b"RF64\xff\xff\xff\xffWAVE".to_vec();
        if let Some(d) = ds64 {
            v.extend_from_slice(b"ds64");
            v.extend_from_slice(&28u32.to_le_bytes());
            v.extend_from_slice(&0u64.to_le_bytes()); // riffSize
            v.extend_from_slice(&d.to_le_bytes()); // dataSize
            v.extend_from_slice(&(d / 2).to_le_bytes()); // sampleCount
            v.extend_from_slice(&0u32.to_le_bytes()); // table length
        }
        let fmt = fmt16(1, 1, 8000, 16);
        v.extend_from_slice(b"fmt ");
        v.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        v.extend_from_slice(&fmt);
        v.extend_from_slice(b"data");
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        v.extend_from_slice(&audio);
        v.extend_from_slice(trailer);
        v
    };
    let trailer = b"LIST\x04\x00\x00\x00INFO";
    let info = parse(&rf64(Some(8), trailer)).unwrap();
    assert_eq!(
        info.frames(),
        4,
        "the LIST chunk after the audio is not audio"
    );
    assert!(!info.streaming && !info.truncated);
    // ds64 declares more than the file holds: truncated.
    let info = parse(&rf64(Some(800), &[])).unwrap();
    assert!(info.truncated);
    assert_eq!(info.frames(), 4);
    // No ds64: read to the end (the old behaviour, for broken writers).
    let info = parse(&rf64(None, &[])).unwrap();
    assert!(info.streaming);
    assert_eq!(info.frames(), 4);
}

#[test]
fn malformed_headers_have_stable_codes() {
    let good_fmt = fmt16(1, 1, 8000, 16);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00".to_vec(),
            "not_wav",
        ),
        (b"hello, this is text\n".to_vec(), "not_wav"),
        (b"RIFF\x04\x00\x00\x00AVI ".to_vec(), "not_wav"),
        (b"RIFF\x04\x00\x00\x00WAVE".to_vec(), "no_fmt_chunk"),
        (
            {
                let mut v = wav_bytes(&good_fmt, &[], 0, &[]);
                v.truncate(v.len() - 8);
                v
            },
            "no_data_chunk",
        ),
        (wav_bytes(&good_fmt, &[], 0, &[]), "empty_data"),
        (
            wav_bytes(&fmt16(0x55, 1, 8000, 16), &[], 2, &[0, 0]),
            "unsupported_encoding",
        ),
        (
            wav_bytes(&fmt16(1, 1, 8000, 12), &[], 2, &[0, 0]),
            "bad_bits_per_sample",
        ),
        (
            wav_bytes(&fmt16(1, 1, 8000, 0), &[], 2, &[0, 0]),
            "bad_bits_per_sample",
        ),
        (
            wav_bytes(&fmt16(1, 0, 8000, 16), &[], 2, &[0, 0]),
            "bad_channel_count",
        ),
        (
            wav_bytes(&fmt16(1, 1000, 8000, 16), &[], 2, &[0, 0]),
            "bad_channel_count",
        ),
        (
            wav_bytes(&fmt16(1, 1, 0, 16), &[], 2, &[0, 0]),
            "bad_sample_rate",
        ),
        (
            wav_bytes(&fmt16(1, 1, 1, 16), &[], 2, &[0, 0]),
            "bad_sample_rate",
        ),
        (
            wav_bytes(&fmt16(1, 1, 4_000_000_000, 16), &[], 2, &[0, 0]),
            "bad_sample_rate",
        ),
        (wav_bytes(&good_fmt[..14], &[], 2, &[0, 0]), "bad_fmt_chunk"),
    ];
    for (i, (bytes, code)) in cases.iter().enumerate() {
        match parse(bytes) {
            Err(e) => assert_eq!(e.code(), *code, "case {i}: {e}"),
            Ok(info) => panic!("case {i} parsed: {info:?}"),
        }
    }
    assert_eq!(parse(&[]).unwrap_err().code(), "empty_file");
    // block_align inconsistent with the format.
    let mut f = fmt16(1, 2, 8000, 16);
    f[12] = 3;
    assert_eq!(
        parse(&wav_bytes(&f, &[], 6, &[0; 6])).unwrap_err().code(),
        "bad_block_align"
    );
}

#[test]
fn to_i16_inverts_decoder_scaling() {
    for v in [i16::MIN, -1000, -1, 0, 1, 1234, i16::MAX] {
        assert_eq!(to_i16(f32::from(v) / 32768.0), v);
    }
    assert_eq!(to_i16(2.0), i16::MAX);
    assert_eq!(to_i16(-2.0), i16::MIN);
    assert_eq!(to_i16(f32::NAN), 0);
    assert_eq!(to_i16(f32::INFINITY), i16::MAX);
    assert_eq!(to_i16(f32::NEG_INFINITY), i16::MIN);
}

#[test]
fn to_i16_rounds_like_round_ties_even() {
    for (x, want) in [
        (0.5, 0),
        (1.5, 2),
        (2.5, 2),
        (-0.5, 0),
        (-1.5, -2),
        (-2.5, -2),
    ] {
        assert_eq!(to_i16(x / 32768.0), want, "{x}");
    }
    // Every f32 step across a few ranges, incl. the saturation edges.
    for start in [-32770.0f32, -3.0, 1000.25, 32765.0] {
        let mut v = start;
        for _ in 0..200_000 {
            let want = v.round_ties_even().clamp(-32768.0, 32767.0) as i16;
            assert_eq!(to_i16(v / 32768.0), want, "{v}");
            v = f32::from_bits(v.to_bits() + if v >= 0.0 { 1 } else { u32::MAX });
        }
    }
}
