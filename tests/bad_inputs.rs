//! Malformed and unusual WAV files: the real binary on a corpus generated at
//! test time (in a temporary folder), mixed with two good calls.
//!
//! Every bad file must fail alone — no panic, one `callprep: error: <path>:
//! <message> [<code>]` line, a `failed` report entry with its stable reason
//! code, no outputs — while the good files are complete and the odd-but-valid
//! files (truncated, streaming sizes, odd chunks, float NaN/Inf, A-law,
//! WAVE_FORMAT_EXTENSIBLE) decode.
//!
//! The same generator writes the fuzzer's seed corpus (small variants):
//! `CALLPREP_WRITE_BAD_CORPUS=fuzz/corpus/pipeline cargo test --test bad_inputs write_bad_corpus`.
//! Files in `fixtures/bad/` (fuzzer regressions) are run too.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A run that takes longer than this is a hang.
const TIMEOUT: Duration = Duration::from_secs(60);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------
// Running the binary with a timeout guard.

/// What one run of the binary did.
struct RunOut {
    /// Exit code (`None`: killed by a signal).
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    /// Peak resident set of the child, KiB (Linux, 64-bit only).
    max_rss_kb: Option<u64>,
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sys {
    use std::os::raw::{c_int, c_long};

    /// `struct rusage`: two `timeval`s then 14 `long`s; `ru_maxrss` is
    /// `fields[4]` (KiB).
    #[repr(C)]
    pub struct Rusage {
        pub fields: [c_long; 18],
    }

    extern "C" {
        pub fn wait4(pid: c_int, status: *mut c_int, options: c_int, rusage: *mut Rusage) -> c_int;
    }

    pub const WNOHANG: c_int = 1;

    /// Non-blocking reap of `pid`: `Some((exit code or None if signalled, maxrss KiB))`.
    pub fn try_reap(pid: u32) -> Option<(Option<i32>, u64)> {
        let mut status: c_int = 0;
        let mut ru = Rusage { fields: [0; 18] };
        // SAFETY: plain syscall wrapper; both pointers are valid for writes.
        let r = unsafe { wait4(pid as c_int, &mut status, WNOHANG, &mut ru) };
        if r == 0 {
            return None;
        }
        assert_eq!(r, pid as c_int, "wait4 failed");
        let code = if status & 0x7f == 0 {
            Some((status >> 8) & 0xff)
        } else {
            None
        };
        Some((code, ru.fields[4] as u64))
    }
}

/// Runs the binary with `args`; kills it and fails the test after [`TIMEOUT`].
// The child is reaped by `wait4` (or `try_wait`) in the loop, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run_guarded(args: &[&str], scratch: &Path) -> RunOut {
    fs::create_dir_all(scratch).unwrap();
    let err_path = scratch.join(format!("stderr-{}.txt", std::process::id()));
    let err_file = fs::File::create(&err_path).unwrap();
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_callprep"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .expect("binary starts");
    let (code, max_rss_kb) = loop {
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        if let Some((code, rss)) = sys::try_reap(child.id()) {
            break (code, Some(rss));
        }
        #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
        if let Some(st) = child.try_wait().unwrap() {
            break (st.code(), None);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let err = fs::read_to_string(&err_path).unwrap_or_default();
            panic!(
                "HANG: callprep {args:?} still running after {TIMEOUT:?}; killed. stderr:\n{err}"
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let stderr = fs::read_to_string(&err_path).unwrap();
    fs::remove_file(&err_path).unwrap();
    RunOut {
        code,
        stderr,
        elapsed,
        max_rss_kb,
    }
}

// ---------------------------------------------------------------------------
// Reading the outputs.

fn manifest(out: &Path) -> Vec<Value> {
    fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn report(out: &Path) -> Value {
    serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// The report entry whose `source` is `source`.
fn entry<'a>(rep: &'a Value, source: &str) -> Option<&'a Value> {
    rep["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"].as_str() == Some(source))
}

/// File names directly under `dir` (empty if it does not exist).
fn names(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Parses a little-endian `<f4` .npy: (shape, data).
fn read_npy(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not an .npy file");
    let (hl, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hl]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let shape: Vec<usize> = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect();
    let data = bytes[start + hl..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (shape, data)
}

/// Asserts that every `.npy` under `OUT/mel` is finite and the size its shape says.
fn assert_all_npy_finite(out: &Path, problems: &mut Vec<String>) {
    for name in names(&out.join("mel")) {
        let (shape, data) = read_npy(&fs::read(out.join("mel").join(&name)).unwrap());
        if shape.iter().product::<usize>() != data.len() {
            problems.push(format!(
                "mel/{name}: shape {shape:?} but {} values",
                data.len()
            ));
        }
        let bad = data.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            problems.push(format!("mel/{name}: {bad} NaN/Inf values"));
        }
    }
}

// ---------------------------------------------------------------------------
// Building WAV bytes.

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// A 16-byte `fmt ` body; block_align = channels × ceil(bits / 8).
fn fmt_body(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let block_align = channels.wrapping_mul(bits.div_ceil(8));
    let mut f = Vec::new();
    f.extend_from_slice(&le16(tag));
    f.extend_from_slice(&le16(channels));
    f.extend_from_slice(&le32(rate));
    f.extend_from_slice(&le32(rate.wrapping_mul(u32::from(block_align))));
    f.extend_from_slice(&le16(block_align));
    f.extend_from_slice(&le16(bits));
    f
}

/// A 40-byte WAVE_FORMAT_EXTENSIBLE `fmt ` body whose sub-format is `sub_tag`.
fn fmt_extensible(sub_tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let mut f = fmt_body(0xFFFE, channels, rate, bits);
    f.extend_from_slice(&le16(22)); // cbSize
    f.extend_from_slice(&le16(bits)); // valid bits per sample
    f.extend_from_slice(&le32((1u32 << channels.min(31)) - 1)); // channel mask
    f.extend_from_slice(&le16(sub_tag)); // SubFormat GUID, first two bytes
    f.extend_from_slice(&[
        0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
    ]);
    assert_eq!(f.len(), 40);
    f
}

/// One chunk: id, declared size, body, and a pad byte when the body is odd.
fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    chunk_declared(id, body.len() as u32, body, body.len() % 2 == 1)
}

/// A chunk header that declares `declared` bytes, followed by `body` (and a
/// pad byte if `pad`), whatever the two say.
fn chunk_declared(id: &[u8; 4], declared: u32, body: &[u8], pad: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len() + 1);
    v.extend_from_slice(id);
    v.extend_from_slice(&le32(declared));
    v.extend_from_slice(body);
    if pad {
        v.push(0);
    }
    v
}

/// `RIFF <size> WAVE` + the parts; `riff_size: None` writes the true size.
fn riff(riff_size: Option<u32>, parts: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(b"WAVE");
    for p in parts {
        v.extend_from_slice(p);
    }
    let size = riff_size.unwrap_or((v.len() - 8) as u32);
    v[4..8].copy_from_slice(&le32(size));
    v
}

/// A plain WAV: `fmt ` chunk, then a `data` chunk holding exactly `data`.
fn wav(fmt: &[u8], data: &[u8]) -> Vec<u8> {
    riff(
        None,
        &[
            chunk(b"fmt ", fmt),
            chunk_declared(b"data", data.len() as u32, data, false),
        ],
    )
}

fn pcm16_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// G.711 A-law encoder (ITU-T G.711 / Sun g711.c `linear2alaw`).
fn linear_to_alaw(pcm: i16) -> u8 {
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut v = i32::from(pcm) >> 3;
    let mask = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = SEG_END.iter().position(|&e| v <= e).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut a = (seg as i32) << 4;
    a |= if seg < 2 {
        (v >> 1) & 0x0F
    } else {
        (v >> seg) & 0x0F
    };
    (a as u8) ^ mask
}

/// The first `secs` seconds of call02.wav (8 kHz PCM16 stereo) as frames.
fn call02_frames(secs: f64) -> Vec<[i16; 2]> {
    let bytes = fs::read(fixtures().join("calls/call02.wav")).unwrap();
    let mut pos = 12;
    while &bytes[pos..pos + 4] != b"data" {
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 8 + size + size % 2;
    }
    let data = &bytes[pos + 8..];
    let n = ((secs * 8000.0) as usize).min(data.len() / 4);
    data.chunks_exact(4)
        .take(n)
        .map(|f| {
            [
                i16::from_le_bytes([f[0], f[1]]),
                i16::from_le_bytes([f[2], f[3]]),
            ]
        })
        .collect()
}

/// Real speech: both channels of call02 mixed to mono, 8 kHz.
fn speech_mono(secs: f64) -> Vec<i16> {
    call02_frames(secs)
        .iter()
        .map(|[a, b]| ((i32::from(*a) + i32::from(*b)) / 2) as i16)
        .collect()
}

fn speech_stereo_bytes(secs: f64) -> Vec<u8> {
    call02_frames(secs)
        .iter()
        .flat_map(|[a, b]| [a.to_le_bytes(), b.to_le_bytes()].concat())
        .collect()
}

// ---------------------------------------------------------------------------
// The cases.

/// What a case must do.
#[derive(Debug, Clone, Copy)]
enum Expect {
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

const fn ok(format: &'static str) -> Expect {
    Expect::Ok {
        truncated: false,
        speech: true,
        format: Some(format),
    }
}

struct Case {
    /// File stem; distinct, and no stem contains another.
    stem: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

/// Every malformed or unusual file. `secs` is the length of the real audio
/// the valid ones carry (the seed corpus uses a tiny `secs`).
fn cases(secs: f64) -> Vec<Case> {
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
fn silence_len_ok(c: &Case) -> bool {
    c.stem != "ok_silence" || c.bytes.len() == 44 + 5 * 8000 * 2
}

// ---------------------------------------------------------------------------
// Tests.

/// The two good calls every batch carries.
const GOOD: [&str; 2] = ["call02.wav", "mono01.wav"];

fn copy_good(inp: &Path) {
    for g in GOOD {
        fs::copy(fixtures().join("calls").join(g), inp.join(g)).unwrap();
    }
}

/// Checks that both good inputs are complete: rows, chunk WAVs, features.
fn check_good(inp: &Path, out: &Path, rows: &[Value], rep: &Value, problems: &mut Vec<String>) {
    for g in GOOD {
        let src = inp.join(g).display().to_string();
        match entry(rep, &src) {
            Some(e) if e["status"] == "ok" => {}
            other => problems.push(format!("good input {g}: report entry {other:?}")),
        }
        let mine: Vec<&Value> = rows
            .iter()
            .filter(|r| r["source"] == src.as_str())
            .collect();
        if mine.is_empty() {
            problems.push(format!("good input {g}: no manifest rows"));
        }
        for r in mine {
            for key in ["audio_filepath", "mel_filepath"] {
                let p = out.join(r[key].as_str().unwrap_or("<missing>"));
                if !p.is_file() {
                    problems.push(format!("good input {g}: {key} {} missing", p.display()));
                }
            }
        }
    }
}

/// Checks one case's outcome; pushes every mismatch to `problems`.
#[allow(clippy::too_many_arguments)]
fn check_case(
    stem: &str,
    expect: Expect,
    source: &str,
    out: &Path,
    rows: &[Value],
    rep: &Value,
    stderr: &str,
    problems: &mut Vec<String>,
) {
    let mut bad = |m: String| problems.push(format!("{stem}: {m}"));
    let Some(e) = entry(rep, source) else {
        bad("no report entry".into());
        return;
    };
    let mine: Vec<&Value> = rows.iter().filter(|r| r["source"] == source).collect();
    let naming: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(&format!("{source}:")))
        .collect();
    match expect {
        Expect::Fail(code) => {
            if e["status"] != "failed" || e["reason"] != code {
                bad(format!(
                    "want failed [{code}], report says status {} reason {} ({})",
                    e["status"], e["reason"], e["error"]
                ));
            }
            let prefix = format!("callprep: error: {source}: ");
            let suffix = format!(" [{code}]");
            if naming.len() != 1 || !naming[0].starts_with(&prefix) || !naming[0].ends_with(&suffix)
            {
                bad(format!(
                    "want one stderr line `{prefix}… {suffix}`, got {naming:?}"
                ));
            }
            if !mine.is_empty() {
                bad(format!("{} manifest rows for a failed input", mine.len()));
            }
            for sub in ["wav", "mel"] {
                for n in names(&out.join(sub)) {
                    if n.contains(stem) {
                        bad(format!("output {sub}/{n} left by a failed input"));
                    }
                }
            }
        }
        Expect::Ok {
            truncated,
            speech,
            format,
        } => {
            if e["status"] != "ok" {
                bad(format!(
                    "want ok, report says {} [{}]: {}",
                    e["status"], e["reason"], e["error"]
                ));
                return;
            }
            if e["truncated"] != truncated {
                bad(format!(
                    "report truncated = {}, want {truncated}",
                    e["truncated"]
                ));
            }
            if let Some(f) = format {
                if e["format"] != f {
                    bad(format!("report format {}, want {f}", e["format"]));
                }
            }
            if naming.iter().any(|l| l.starts_with("callprep: error:")) {
                bad(format!("error line for an ok input: {naming:?}"));
            }
            if truncated
                && !naming
                    .iter()
                    .any(|l| l.contains("warning") && l.contains("truncated"))
            {
                bad(format!("no truncation warning on stderr: {naming:?}"));
            }
            let chunks = e["chunks"].as_u64().unwrap_or(u64::MAX);
            if chunks != mine.len() as u64 {
                bad(format!(
                    "report chunks {chunks} but {} manifest rows",
                    mine.len()
                ));
            }
            if speech {
                if mine.is_empty() {
                    bad(format!("no chunks (report: {e})"));
                }
                if !e["reason"].is_null() {
                    bad(format!("ok with chunks but reason {}", e["reason"]));
                }
            } else {
                if !mine.is_empty() {
                    bad(format!("{} chunks, want none", mine.len()));
                }
                if e["reason"] != "no_speech" {
                    bad(format!("reason {}, want \"no_speech\"", e["reason"]));
                }
            }
            for r in &mine {
                let t = r.get("truncated").and_then(Value::as_bool).unwrap_or(false);
                if t != truncated {
                    bad(format!("row {} truncated = {t}, want {truncated}", r["id"]));
                }
                for key in ["audio_filepath", "mel_filepath"] {
                    if !out.join(r[key].as_str().unwrap_or("<missing>")).is_file() {
                        bad(format!("row {}: {key} missing", r["id"]));
                    }
                }
            }
        }
    }
}

#[test]
fn malformed_files_fail_alone_and_unusual_ones_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    let out = tmp.path().join("out");
    fs::create_dir_all(&inp).unwrap();
    copy_good(&inp);
    let cases = cases(8.0);
    for c in &cases {
        assert!(silence_len_ok(c), "silence case is not 5 s");
        fs::write(inp.join(format!("{}.wav", c.stem)), &c.bytes).unwrap();
    }
    // Stems are distinct and none contains another (outputs are matched by stem).
    for a in &cases {
        for b in &cases {
            assert!(
                a.stem == b.stem || !b.stem.contains(a.stem),
                "{} / {}",
                a.stem,
                b.stem
            );
        }
    }
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    let mut problems = Vec::new();
    if r.stderr.contains("panicked") || r.stderr.contains("internal_error") {
        problems.push(format!("the binary panicked:\n{}", r.stderr));
    }
    if r.code != Some(1) {
        problems.push(format!(
            "exit code {:?}, want 1 (some inputs failed)",
            r.code
        ));
    }
    let rows = manifest(&out);
    let rep = report(&out);
    check_good(&inp, &out, &rows, &rep, &mut problems);
    for c in &cases {
        let source = inp.join(format!("{}.wav", c.stem)).display().to_string();
        check_case(
            c.stem,
            c.expect,
            &source,
            &out,
            &rows,
            &rep,
            &r.stderr,
            &mut problems,
        );
    }
    assert_all_npy_finite(&out, &mut problems);
    let n_fail = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Fail(_)))
        .count();
    if rep["totals"]["files_failed"].as_u64() != Some(n_fail as u64) {
        problems.push(format!(
            "totals.files_failed {}, want {n_fail}",
            rep["totals"]["files_failed"]
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}\n--- stderr ---\n{}",
        problems.len(),
        problems.join("\n"),
        r.stderr
    );
}

#[test]
fn a_truncated_file_is_ok_unless_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    fs::copy(fixtures().join("calls/mono01.wav"), inp.join("mono01.wav")).unwrap();
    let trunc = cases(8.0)
        .into_iter()
        .find(|c| c.stem == "ok_truncated")
        .unwrap();
    let path = inp.join("ok_truncated.wav");
    fs::write(&path, &trunc.bytes).unwrap();
    let src = path.display().to_string();

    let out = tmp.path().join("out");
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(
        r.code,
        Some(0),
        "truncation alone must not fail the run:\n{}",
        r.stderr
    );
    let rep = report(&out);
    let e = entry(&rep, &src).unwrap();
    assert_eq!(e["status"], "ok");
    assert_eq!(e["truncated"], true);
    // Decoded as far as it goes: the 8 s present.
    let dur = e["duration_s"].as_f64().unwrap();
    assert!((dur - 8.0).abs() < 1e-3, "duration {dur}");
    assert_eq!(rep["totals"]["files_truncated"], 1);
    let rows: Vec<Value> = manifest(&out)
        .into_iter()
        .filter(|r| r["source"] == src.as_str())
        .collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["truncated"] == true), "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r["end"].as_f64().unwrap() <= 8.0 + 1e-9));

    // --strict: an error with reason "truncated", no outputs; the good file is done.
    let out2 = tmp.path().join("strict");
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out2), "--threads", "2", "--strict"],
        tmp.path(),
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let rep = report(&out2);
    let e = entry(&rep, &src).unwrap();
    assert_eq!(e["status"], "failed");
    assert_eq!(e["reason"], "truncated");
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("{src}:")))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("callprep: error: {src}: "))
            && lines[0].ends_with(" [truncated]"),
        "{lines:?}"
    );
    for sub in ["wav", "mel"] {
        assert!(!names(&out2.join(sub))
            .iter()
            .any(|n| n.contains("ok_truncated")));
    }
    assert!(manifest(&out2)
        .iter()
        .any(|r| r["source"].as_str().unwrap().ends_with("mono01.wav")));
}

#[test]
fn a_tiny_file_declaring_4_gib_is_quick_and_small() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = cases(8.0)
        .into_iter()
        .find(|c| c.stem == "ok_huge_decl")
        .unwrap();
    assert!(huge.bytes.len() <= 100, "{} bytes", huge.bytes.len());
    let path = tmp.path().join("huge.wav");
    fs::write(&path, &huge.bytes).unwrap();
    let out = tmp.path().join("out");
    let r = run_guarded(
        &["run", s(&path), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = report(&out);
    let e = entry(&rep, s(&path)).unwrap();
    assert_eq!(e["status"], "ok");
    assert_eq!(e["truncated"], true);
    assert_eq!(e["reason"], "no_speech");
    eprintln!(
        "4 GiB declared: {:?}, peak RSS {:?} KiB",
        r.elapsed, r.max_rss_kb
    );
    assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
    // A 4 GiB buffer (or even a 4 GiB / block_align sample vector) would show here.
    if let Some(kb) = r.max_rss_kb {
        assert!(kb < 200 * 1024, "peak RSS {kb} KiB");
    }
}

#[test]
fn a_fifo_in_the_input_folder_is_skipped_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    fs::copy(fixtures().join("calls/mono01.wav"), inp.join("mono01.wav")).unwrap();
    let fifo = inp.join("x.wav");
    let st = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(st.success());
    let out = tmp.path().join("out");
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let src = fifo.display().to_string();
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("{src}:")))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].starts_with(&format!("callprep: error: {src}: "))
            && lines[0].ends_with(" [not_regular_file]"),
        "{lines:?}"
    );
    let rep = report(&out);
    let e = entry(&rep, &src).expect("the FIFO has a report entry");
    assert_eq!(e["status"], "failed");
    assert_eq!(e["reason"], "not_regular_file");
    // A skipped input counts as failed, so the run exits 1; the good file is complete.
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(!manifest(&out).is_empty());
    assert!(!names(&out.join("wav")).iter().any(|n| n.starts_with("x-")));
}

/// Fuzzer regressions kept as files: each must not panic or hang, and must
/// either fail with a reason code or decode with finite features.
#[test]
fn fixtures_bad_files_do_not_panic() {
    let dir = fixtures().join("bad");
    let Ok(rd) = fs::read_dir(&dir) else {
        return;
    };
    let files: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    if files.is_empty() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let inp = tmp.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    for f in &files {
        fs::copy(f, inp.join(f.file_name().unwrap())).unwrap();
    }
    let out = tmp.path().join("out");
    let r = run_guarded(
        &["run", s(&inp), "-o", s(&out), "--threads", "2"],
        tmp.path(),
    );
    let mut problems = Vec::new();
    if r.stderr.contains("panicked") || r.stderr.contains("internal_error") {
        problems.push("the binary panicked (see stderr)".to_string());
    }
    if !matches!(r.code, Some(0) | Some(1)) {
        problems.push(format!("exit code {:?}", r.code));
    }
    let rep = report(&out);
    for f in rep["files"].as_array().unwrap() {
        match f["reason"].as_str() {
            _ if f["status"] == "ok" => {}
            // Regression: fuzz_resample_overflow.wav (float32, 8016 Hz, samples
            // near ±f32::MAX) used to panic inside rubato's FFT (internal_error).
            Some("internal_error") => problems.push(format!("{}: {}", f["source"], f["error"])),
            Some(r) if !r.is_empty() => {}
            _ => problems.push(format!("{}: failed without a reason code", f["source"])),
        }
    }
    assert_all_npy_finite(&out, &mut problems);
    assert!(problems.is_empty(), "{problems:?}\n{}", r.stderr);
}

/// Decodes channel 0 of a WAV image with the library's decoder.
fn decode_mono(bytes: &[u8]) -> (Vec<f32>, u32) {
    use callprep::stages::decode::{decode_channel, read_header};
    let info = read_header(&mut std::io::Cursor::new(bytes), bytes.len() as u64).unwrap();
    let start = info.data_offset as usize;
    let mut out = Vec::new();
    decode_channel(
        &info,
        &bytes[start..start + info.data_len as usize],
        0,
        &mut out,
    );
    (out, info.sample_rate_hz)
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Regression: fuzzer crashes, minimised (fixed by clipping float samples to
// full scale at decode). Both are float32 mono at 8016 Hz whose samples were
// finite but huge, and resampling to 8 kHz overflowed inside rubato's FFT:
// - `panic`: samples [0, 0, 0, 0, 3.39e38] → rubato panics
//   ("Imaginary part of first value was non-zero", synchro.rs:185) — the CLI
//   turns it into `internal_error` (fixtures/bad/fuzz_resample_overflow.wav);
// - `nan`: one sample −2.34e38 → no panic, but the output holds NaN/Inf (one
//   such sample makes ~256 output samples non-finite; a few per second make
//   most of the channel non-finite, and its speech is lost).
#[test]
fn huge_float_samples_survive_resampling() {
    use callprep::stages::resample::resample_all;
    let cases = [
        (
            "panic",
            "52494646a402000057415645666d74201000000003000100501f0000007d00000400200064617461800200000000000000000000000000000000000000007f7f",
        ),
        (
            "nan",
            "52494646a402000057415645666d74201000000003000100501f0000007d0000040020006461746180020000000030ff",
        ),
    ];
    let mut problems = Vec::new();
    for (name, hex) in cases {
        let (samples, rate) = decode_mono(&unhex(hex));
        assert!(samples.iter().all(|x| x.is_finite()), "{name}: decode");
        let res = std::panic::catch_unwind(|| resample_all(&samples, rate, 8000));
        match res {
            Err(_) => problems.push(format!(
                "{name}: resample_all({samples:?}, {rate}, 8000) panicked"
            )),
            Ok(Err(e)) => problems.push(format!("{name}: resample error {e}")),
            Ok(Ok(out)) => {
                let bad = out.iter().filter(|v| !v.is_finite()).count();
                if bad > 0 {
                    problems.push(format!(
                        "{name}: {bad} of {} resampled samples are NaN/Inf (input {samples:?})",
                        out.len()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

// Regression (found by the fuzzer; fixed with integer arithmetic):
// `StreamResampler::finish` computed the output length as
// `(n_in as f64 * (to / from)).ceil()`; for some rates the f64 product
// landed just above an integer, so one extra sample came out:
// 1 s at 3348 Hz (3348 samples) → 8001 samples at 8 kHz instead of 8000;
// 1810 samples at 57920 Hz → 251 instead of 250. (Common rates — 11025,
// 16000, 22050, 32000, 44100, 48000 — are not affected.)
#[test]
fn resampled_length_is_exact_for_odd_rates() {
    use callprep::stages::resample::resample_all;
    for (n, from) in [
        (3348usize, 3348u32),
        (837, 3348),
        (1810, 57920),
        (4291, 4904),
    ] {
        let want = (n as u64 * 8000).div_ceil(u64::from(from)) as usize;
        let got = resample_all(&vec![0.0; n], from, 8000).unwrap().len();
        assert_eq!(got, want, "{n} samples at {from} Hz → 8000 Hz");
    }
}

#[test]
fn alaw_encoder_round_trips_through_the_decoder() {
    use callprep::stages::decode::alaw_to_i16;
    for b in 0..=255u8 {
        assert_eq!(linear_to_alaw(alaw_to_i16(b)), b, "code {b:#04x}");
    }
    for x in (i16::MIN..=i16::MAX).step_by(7) {
        let y = alaw_to_i16(linear_to_alaw(x));
        // Quantisation error is at most half a step of the segment (≤ 512).
        assert!((i32::from(x) - i32::from(y)).abs() <= 1024, "{x} -> {y}");
    }
}

/// Writes small variants of every case (plus a 0.5 s truncated excerpt of
/// call02) to `$CALLPREP_WRITE_BAD_CORPUS`, for the fuzzer's seed corpus.
/// Does nothing without the variable.
#[test]
fn write_bad_corpus() {
    let Some(dir) = std::env::var_os("CALLPREP_WRITE_BAD_CORPUS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    fs::create_dir_all(&dir).unwrap();
    let mut total = 0;
    let mut sizes = BTreeMap::new();
    // 0.02 s of audio: enough to reach every decoder branch.
    for c in cases(0.02) {
        total += c.bytes.len();
        sizes.insert(c.stem, c.bytes.len());
        fs::write(dir.join(format!("{}.wav", c.stem)), &c.bytes).unwrap();
    }
    // 0.5 s of call02 (speech on the agent channel), mono PCM16, cut short:
    // the header declares 1 s.
    let frames = call02_frames(1.25);
    let excerpt: Vec<i16> = frames[6000..10000].iter().map(|f| f[0]).collect();
    let pcm = pcm16_bytes(&excerpt);
    let b = riff(
        None,
        &[
            chunk(b"fmt ", &fmt_body(1, 1, 8000, 16)),
            chunk_declared(b"data", 2 * pcm.len() as u32, &pcm, false),
        ],
    );
    total += b.len();
    fs::write(dir.join("call02_excerpt_truncated.wav"), &b).unwrap();
    assert!(
        total <= 30 * 1024,
        "seed corpus is {total} bytes: {sizes:?}"
    );
}

/// RF64 (EBU Tech 3306) keeps the data size in its `ds64` chunk. A chunk
/// after the audio (here: a LIST chunk padded with loud noise, as long as
/// the audio) must not be decoded as audio: the report's duration is the
/// audio's, and no chunk reaches past it.
#[test]
fn rf64_data_size_comes_from_ds64() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    fs::create_dir_all(&inp).unwrap();
    let mono = speech_mono(6.0);
    let audio = pcm16_bytes(&mono);
    let mut v = b"RF64\xff\xff\xff\xffWAVE".to_vec();
    let mut ds64 = Vec::new();
    ds64.extend_from_slice(&0u64.to_le_bytes());
    ds64.extend_from_slice(&(audio.len() as u64).to_le_bytes());
    ds64.extend_from_slice(&(mono.len() as u64).to_le_bytes());
    ds64.extend_from_slice(&le32(0));
    v.extend_from_slice(&chunk(b"ds64", &ds64));
    v.extend_from_slice(&chunk(b"fmt ", &fmt_body(1, 1, 8000, 16)));
    v.extend_from_slice(&chunk_declared(b"data", u32::MAX, &audio, false));
    v.extend_from_slice(&chunk(b"LIST", &noise_bytes(audio.len(), 0xD5)));
    fs::write(inp.join("rf64.wav"), &v).unwrap();
    let out = dir.path().join("out");
    let r = run_guarded(&["run", s(&inp), "-o", s(&out), "-q"], dir.path());
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let rep = report(&out);
    let e = &rep["files"][0];
    assert_eq!(e["status"], "ok", "{e}");
    let want = mono.len() as f64 / 8000.0;
    assert_eq!(e["duration_s"].as_f64().unwrap(), want, "{e}");
    assert!(e["truncated"] == false, "{e}");
    for row in manifest(&out) {
        assert!(row["end"].as_f64().unwrap() <= want, "{row}");
    }
}
