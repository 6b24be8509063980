//! The corpus of malformed and unusual files, and what each must do.

use super::wavs::*;

/// What a case must do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Fails with this reason code.
    Fail(&'static str),
    /// Decodes: status ok.
    Ok {
        /// Report `truncated` and manifest rows' `truncated`.
        truncated: bool,
        /// Chunks are produced (else: none, reason `no_speech`).
        speech: bool,
        /// Report `format`, if checked.
        format: Option<&'static str>,
    },
}

pub(crate) const fn ok(format: &'static str) -> Expect {
    Expect::Ok {
        truncated: false,
        speech: true,
        format: Some(format),
    }
}

pub(crate) struct Case {
    /// File stem; distinct, and no stem contains another.
    pub(crate) stem: &'static str,
    pub(crate) bytes: Vec<u8>,
    pub(crate) expect: Expect,
}

/// Every malformed or unusual file. `secs` is the length of the real audio
/// the valid ones carry (the seed corpus uses a tiny `secs`).
pub(crate) fn cases(secs: f64) -> Vec<Case> {
    let mono = speech_mono(secs);
    let mono_pcm = pcm16_bytes(&mono);
    let stereo_pcm = speech_stereo_bytes(secs);
    let pcm16_mono = fmt_body(1, 1, 8000, 16);
    let pcm16_stereo = fmt_body(1, 2, 8000, 16);
    let little = pcm16_bytes(&mono[..mono.len().min(400)]);
    let fail = Expect::Fail;
    // Filler sizes: full size for the test, small for the seed corpus.
    let fill = |n: usize| if secs >= 1.0 { n } else { n / 16 };
    let mut v = vec![
        // --- Not WAV at all.
        Case {
            stem: "bad_zerobytes",
            bytes: Vec::new(),
            expect: fail("empty_file"),
        },
        Case {
            stem: "bad_random",
            bytes: noise_bytes(fill(4096), 0x9E37_79B9_7F4A_7C15),
            expect: fail("not_wav"),
        },
        Case {
            stem: "bad_id3mp3",
            bytes: {
                // ID3v2.4 tag header (10 bytes, tag size 0) + MPEG-1 Layer III frame header.
                let mut b = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
                for _ in 0..fill(64) / 16 {
                    b.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
                    b.extend_from_slice(&noise_bytes(413, 7));
                }
                b
            },
            expect: fail("not_wav"),
        },
        Case {
            stem: "bad_mp3sync",
            // No ID3 tag: starts right at a frame sync.
            bytes: [&[0xFF, 0xFB, 0x90, 0x64][..], &noise_bytes(413, 11)].concat(),
            expect: fail("not_wav"),
        },
        Case {
            stem: "bad_text",
            bytes: b"Call notes\ncustomer asked about the balance\r\n".repeat(fill(32) / 2),
            expect: fail("not_wav"),
        },
        Case {
            stem: "bad_riffstub",
            bytes: b"RIFF\x24\x00\x00\x00".to_vec(),
            expect: fail("not_wav"),
        },
        Case {
            stem: "bad_avi",
            bytes: riff(None, &[chunk(b"LIST", &[0; 32])])
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if (8..12).contains(&i) {
                        b"AVI "[i - 8]
                    } else {
                        *b
                    }
                })
                .collect(),
            expect: fail("not_wav"),
        },
        // --- RIFF/WAVE with missing or empty chunks.
        Case {
            stem: "bad_nofmt",
            bytes: riff(None, &[chunk(b"data", &little)]),
            expect: fail("no_fmt_chunk"),
        },
        Case {
            stem: "bad_bareheader",
            bytes: riff(None, &[]),
            expect: fail("no_fmt_chunk"),
        },
        Case {
            stem: "bad_nodata",
            bytes: riff(
                None,
                &[
                    chunk(b"fmt ", &pcm16_mono),
                    chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00"),
                ],
            ),
            expect: fail("no_data_chunk"),
        },
        Case {
            stem: "bad_emptydata",
            bytes: wav(&pcm16_mono, &[]),
            expect: fail("empty_data"),
        },
        Case {
            stem: "bad_oneshortframe",
            // One byte of a 2-byte frame: no whole frame.
            bytes: wav(&pcm16_mono, &[0x12]),
            expect: fail("empty_data"),
        },
        Case {
            stem: "bad_fmtcut",
            // `fmt ` declares 16 bytes; the file ends after 10 of them.
            bytes: riff(
                None,
                &[chunk_declared(b"fmt ", 16, &pcm16_mono[..10], false)],
            ),
            expect: fail("bad_fmt_chunk"),
        },
        Case {
            stem: "bad_fmtshort",
            bytes: wav(&pcm16_mono[..14], &little),
            expect: fail("bad_fmt_chunk"),
        },
        // --- Impossible formats.
        Case {
            stem: "bad_rate_zero",
            bytes: wav(&fmt_body(1, 1, 0, 16), &little),
            expect: fail("bad_sample_rate"),
        },
        Case {
            stem: "bad_rate_one",
            bytes: wav(&fmt_body(1, 1, 1, 16), &little),
            expect: fail("bad_sample_rate"),
        },
        Case {
            stem: "bad_rate_4g",
            bytes: wav(&fmt_body(1, 1, 4_000_000_000, 16), &little),
            expect: fail("bad_sample_rate"),
        },
        Case {
            stem: "bad_chan_zero",
            bytes: wav(&fmt_body(1, 0, 8000, 16), &little),
            expect: fail("bad_channel_count"),
        },
        Case {
            stem: "bad_chan_1000",
            bytes: wav(&fmt_body(1, 1000, 8000, 16), &noise_bytes(fill(4000), 3)),
            expect: fail("bad_channel_count"),
        },
        Case {
            stem: "bad_bits_12",
            bytes: wav(&fmt_body(1, 1, 8000, 12), &little),
            expect: fail("bad_bits_per_sample"),
        },
        Case {
            stem: "bad_bits_zero",
            bytes: wav(&fmt_body(1, 1, 8000, 0), &little),
            expect: fail("bad_bits_per_sample"),
        },
        Case {
            stem: "bad_floatbits",
            bytes: wav(&fmt_body(3, 1, 8000, 16), &little),
            expect: fail("bad_bits_per_sample"),
        },
        Case {
            stem: "bad_blockalign",
            bytes: {
                let mut f = pcm16_stereo.clone();
                f[12..14].copy_from_slice(&le16(3));
                wav(&f, &stereo_pcm[..stereo_pcm.len().min(1200)])
            },
            expect: fail("bad_block_align"),
        },
        Case {
            stem: "bad_mp3inwav",
            bytes: wav(&fmt_body(0x55, 1, 8000, 16), &little),
            expect: fail("unsupported_encoding"),
        },
        Case {
            stem: "bad_adpcm",
            bytes: wav(&fmt_body(2, 1, 8000, 4), &little),
            expect: fail("unsupported_encoding"),
        },
        // --- Valid but unusual: must decode.
        Case {
            stem: "ok_truncated",
            // The data chunk declares twice what the file holds.
            bytes: riff(
                None,
                &[
                    chunk(b"fmt ", &pcm16_mono),
                    chunk_declared(b"data", 2 * mono_pcm.len() as u32, &mono_pcm, false),
                ],
            ),
            expect: Expect::Ok {
                truncated: true,
                speech: true,
                format: Some("pcm16"),
            },
        },
        Case {
            stem: "ok_huge_decl",
            // ~100 bytes that declare a 4 GiB data chunk (and a 4 GiB RIFF).
            bytes: {
                let data = &little[..56.min(little.len())];
                riff(
                    Some(u32::MAX - 1),
                    &[
                        chunk(b"fmt ", &pcm16_mono),
                        chunk_declared(b"data", u32::MAX - 1, data, false),
                    ],
                )
            },
            expect: Expect::Ok {
                truncated: true,
                speech: false,
                format: Some("pcm16"),
            },
        },
        Case {
            stem: "ok_odd_trailing",
            // One stray byte after a correctly sized data chunk.
            bytes: {
                let mut b = wav(&pcm16_mono, &mono_pcm);
                b.push(0x7F);
                b
            },
            expect: ok("pcm16"),
        },
        Case {
            stem: "ok_odd_datasize",
            // An odd data size: the last half frame is ignored.
            bytes: {
                let mut d = mono_pcm.clone();
                d.push(0x01);
                wav(&pcm16_mono, &d)
            },
            expect: ok("pcm16"),
        },
        Case {
            stem: "ok_odd_list",
            // LIST of 13 bytes with its pad byte, before data.
            bytes: riff(
                None,
                &[
                    chunk(b"fmt ", &pcm16_mono),
                    chunk(b"LIST", b"INFOISFT\x01\x00\x00\x00x"),
                    chunk(b"data", &mono_pcm),
                ],
            ),
            expect: ok("pcm16"),
        },
        Case {
            stem: "ok_odd_chunks",
            // fact of 7 bytes, an empty LIST, an odd-sized LIST (1001 bytes), an empty
            // unknown chunk, a 1-byte unknown chunk, and an 18-byte `fmt `.
            bytes: riff(
                None,
                &[
                    chunk(b"JUNK", &[]),
                    chunk(b"fmt ", &[&pcm16_mono[..], &le16(0)].concat()),
                    chunk(b"fact", &[1, 2, 3, 4, 5, 6, 7]),
                    chunk(b"LIST", &[]),
                    chunk(
                        b"LIST",
                        &noise_bytes(if secs >= 1.0 { 1001 } else { 61 }, 5),
                    ),
                    chunk(b"zzzz", &[]),
                    chunk(b"cue ", &[9]),
                    chunk(b"data", &mono_pcm),
                    chunk(b"LIST", b"INFOICMT\x03\x00\x00\x00ab\x00"),
                ],
            ),
            expect: ok("pcm16"),
        },
        Case {
            stem: "ok_tiny",
            // 100 samples: shorter than one 30 ms VAD frame (240 samples).
            bytes: wav(&pcm16_mono, &little[..200.min(little.len())]),
            expect: Expect::Ok {
                truncated: false,
                speech: false,
                format: Some("pcm16"),
            },
        },
        Case {
            stem: "ok_silence",
            // 5 s of digital silence.
            bytes: wav(
                &pcm16_mono,
                &vec![0u8; 2 * (secs.min(5.0) * 8000.0) as usize],
            ),
            expect: Expect::Ok {
                truncated: false,
                speech: false,
                format: Some("pcm16"),
            },
        },
        Case {
            stem: "ok_float_nan",
            // IEEE float with NaN, +Inf and −Inf scattered through speech.
            bytes: {
                let d: Vec<u8> = mono
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| match i % 50 {
                        7 => f32::NAN,
                        21 => f32::INFINITY,
                        33 => f32::NEG_INFINITY,
                        41 => -f32::NAN,
                        _ => f32::from(x) / 32768.0,
                    })
                    .flat_map(f32::to_le_bytes)
                    .collect();
                wav(&fmt_body(3, 1, 8000, 32), &d)
            },
            expect: ok("float32"),
        },
        Case {
            stem: "ok_float_huge",
            // IEEE float with huge finite values (±f32::MAX, 1e30) in speech.
            bytes: {
                let d: Vec<u8> = mono
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| match i % 400 {
                        5 => f32::MAX,
                        105 => f32::MIN,
                        205 => 1e30,
                        305 => f32::MIN_POSITIVE / 2.0, // subnormal
                        _ => f32::from(x) / 32768.0,
                    })
                    .flat_map(f32::to_le_bytes)
                    .collect();
                wav(&fmt_body(3, 1, 8000, 32), &d)
            },
            expect: ok("float32"),
        },
        // Regression (found by the fuzzer, fuzz/fuzz_targets/pipeline.rs):
        // huge finite float samples at a rate other than 8 kHz overflowed the
        // FFT inside the resampler — 2/3 of this channel (a ±3.4e38 sample
        // every 50 ms of 8 s of speech at 16 kHz) became NaN/Inf and the
        // speech was lost as "no_speech"; other bytes made rubato panic.
        // Fixed: the decoder clips float samples to full scale.
        Case {
            stem: "ok_huge16k_float",
            bytes: {
                let d: Vec<u8> = mono
                    .iter()
                    .flat_map(|&x| [x, x])
                    .enumerate()
                    .map(|(i, x)| match i % 800 {
                        5 => f32::MAX,
                        6 => f32::MIN,
                        405 => -3.0e38,
                        _ => f32::from(x) / 32768.0,
                    })
                    .flat_map(f32::to_le_bytes)
                    .collect();
                wav(&fmt_body(3, 1, 16000, 32), &d)
            },
            expect: ok("float32"),
        },
        Case {
            stem: "ok_extensible",
            bytes: wav(&fmt_extensible(1, 2, 8000, 16), &stereo_pcm),
            expect: ok("pcm16"),
        },
        Case {
            stem: "ok_alaw",
            bytes: {
                let d: Vec<u8> = mono.iter().map(|&x| linear_to_alaw(x)).collect();
                wav(&fmt_body(6, 1, 8000, 8), &d)
            },
            expect: ok("alaw"),
        },
    ];
    // Streaming headers: RIFF and/or data size 0 or 0xFFFFFFFF, audio to EOF.
    for (stem, riff_size, data_size) in [
        ("ok_stream_r0_d0", Some(0), 0),
        ("ok_stream_rff_dff", Some(u32::MAX), u32::MAX),
        ("ok_stream_r0_dff", Some(0), u32::MAX),
        ("ok_stream_rff_d0", Some(u32::MAX), 0),
        ("ok_stream_r0_dtrue", Some(0), stereo_pcm.len() as u32),
        (
            "ok_stream_rff_dtrue",
            Some(u32::MAX),
            stereo_pcm.len() as u32,
        ),
        ("ok_stream_rtrue_d0", None, 0),
    ] {
        v.push(Case {
            stem,
            bytes: riff(
                riff_size,
                &[
                    chunk(b"fmt ", &pcm16_stereo),
                    chunk_declared(b"data", data_size, &stereo_pcm, false),
                ],
            ),
            expect: ok("pcm16"),
        });
    }
    v
}

/// The silence case is exactly 5 s long at full size.
pub(crate) fn silence_len_ok(c: &Case) -> bool {
    c.stem != "ok_silence" || c.bytes.len() == 44 + 5 * 8000 * 2
}
