//! Building WAV bytes for the bad-input cases: chunks, headers, PCM,
//! A-law, noise, and speech from the fixture call.

use super::*;

pub(crate) fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

pub(crate) fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// A 16-byte `fmt ` body; block_align = channels × ceil(bits / 8).
pub(crate) fn fmt_body(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
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
pub(crate) fn fmt_extensible(sub_tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
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
pub(crate) fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    chunk_declared(id, body.len() as u32, body, body.len() % 2 == 1)
}

/// A chunk header that declares `declared` bytes, followed by `body` (and a
/// pad byte if `pad`), whatever the two say.
pub(crate) fn chunk_declared(id: &[u8; 4], declared: u32, body: &[u8], pad: bool) -> Vec<u8> {
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
pub(crate) fn riff(riff_size: Option<u32>, parts: &[Vec<u8>]) -> Vec<u8> {
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
pub(crate) fn wav(fmt: &[u8], data: &[u8]) -> Vec<u8> {
    riff(
        None,
        &[
            chunk(b"fmt ", fmt),
            chunk_declared(b"data", data.len() as u32, data, false),
        ],
    )
}

pub(crate) fn pcm16_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Deterministic pseudo-random bytes (xorshift).
pub(crate) fn noise_bytes(n: usize, mut seed: u64) -> Vec<u8> {
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
pub(crate) fn linear_to_alaw(pcm: i16) -> u8 {
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
pub(crate) fn call02_frames(secs: f64) -> Vec<[i16; 2]> {
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
pub(crate) fn speech_mono(secs: f64) -> Vec<i16> {
    call02_frames(secs)
        .iter()
        .map(|[a, b]| ((i32::from(*a) + i32::from(*b)) / 2) as i16)
        .collect()
}

pub(crate) fn speech_stereo_bytes(secs: f64) -> Vec<u8> {
    call02_frames(secs)
        .iter()
        .flat_map(|[a, b]| [a.to_le_bytes(), b.to_le_bytes()].concat())
        .collect()
}
