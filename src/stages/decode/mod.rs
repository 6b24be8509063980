//! Stage 1 — **decode**: RIFF/WAVE header parsing and sample decoding.
//!
//! In: the bytes of a WAV file (a `Read + Seek` for the header, byte slices
//! for the samples). Out: a [`WavInfo`] that says where the samples are and
//! how they are encoded, and samples: 16-bit PCM ([`decode_channel_i16`],
//! what the pipeline carries) or `f32` in `[-1, 1]` ([`decode_channel`], for
//! the resampler and for `mel`; float input is clipped there, never NaN or
//! infinite).
//!
//! Why our own parser (hound is used for *writing*): hound does not decode
//! G.711 μ-law/A-law and refuses some real-world headers (streaming sizes,
//! odd chunks); symphonia decodes G.711 but is strict about the `fmt ` size and
//! silent about truncation. The parser below walks chunks defensively: it
//! never allocates from a size in the header before checking it against the
//! file's real length, reads at most 64 bytes of any `fmt ` chunk, skips
//! unknown chunks with their pad byte, reads streaming headers (size 0 or
//! 0xFFFFFFFF) to the end of the file, and reports truncation instead of
//! hiding it.

use callprep_isa::Isa;
use std::io::{self, Read, Seek, SeekFrom};

/// How the samples of a WAV file are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Unsigned 8-bit PCM (offset 128).
    U8,
    /// Signed 16-bit little-endian PCM.
    I16,
    /// Signed 24-bit little-endian PCM (3-byte container).
    I24,
    /// Signed 32-bit little-endian PCM.
    I32,
    /// IEEE float, 32-bit.
    F32,
    /// IEEE float, 64-bit.
    F64,
    /// G.711 μ-law, 8 bits per sample.
    MuLaw,
    /// G.711 A-law, 8 bits per sample.
    ALaw,
}

impl SampleFormat {
    /// Bytes one sample of one channel takes.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            SampleFormat::U8 | SampleFormat::MuLaw | SampleFormat::ALaw => 1,
            SampleFormat::I16 => 2,
            SampleFormat::I24 => 3,
            SampleFormat::I32 | SampleFormat::F32 => 4,
            SampleFormat::F64 => 8,
        }
    }

    /// A short human name, as used in the report (`pcm16`, `ulaw`, …).
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::U8 => "pcm8",
            SampleFormat::I16 => "pcm16",
            SampleFormat::I24 => "pcm24",
            SampleFormat::I32 => "pcm32",
            SampleFormat::F32 => "float32",
            SampleFormat::F64 => "float64",
            SampleFormat::MuLaw => "ulaw",
            SampleFormat::ALaw => "alaw",
        }
    }
}

/// Where the samples of a WAV file are and how to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    /// Sample encoding.
    pub format: SampleFormat,
    /// Number of interleaved channels.
    pub channels: usize,
    /// Sample rate of the file.
    pub sample_rate_hz: u32,
    /// Bytes per frame (all channels of one sample instant).
    pub block_align: usize,
    /// Byte offset of the first sample.
    pub data_offset: u64,
    /// Bytes of sample data that are really in the file (whole frames only).
    pub data_len: u64,
    /// The `data` chunk declares more bytes than the file holds.
    pub truncated: bool,
    /// The header does not know the data size (a streaming writer's 0 or
    /// 0xFFFFFFFF, or RF64 without a `ds64` chunk): read to end of file.
    pub streaming: bool,
}

impl WavInfo {
    /// Number of whole frames (samples per channel) in the file.
    pub fn frames(&self) -> u64 {
        self.data_len / self.block_align as u64
    }

    /// Duration of the audio in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate_hz)
    }
}

/// Why a WAV file cannot be read. [`DecodeError::code`] is the stable reason
/// code written to `report.json`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("file is empty (0 bytes)")]
    Empty,
    #[error("not a WAV file: {0}; callprep reads WAV only: convert it first, e.g. `sox in.mp3 -r 8000 out.wav` or `ffmpeg -i in.mp3 -ar 8000 out.wav`")]
    NotRiff(String),
    #[error("RIFF file is not WAVE (form type {0:?})")]
    NotWave(String),
    #[error("no `fmt ` chunk before the end of the file")]
    NoFmt,
    #[error("no `data` chunk before the end of the file")]
    NoData,
    #[error("the `data` chunk holds no samples")]
    EmptyData,
    #[error("`fmt ` chunk is {0} bytes; at least 16 are needed")]
    ShortFmt(u32),
    #[error("unsupported encoding: WAV format tag 0x{tag:04x} ({name}); supported: PCM, IEEE float, G.711 mu-law/A-law, WAVE_FORMAT_EXTENSIBLE; convert it first, e.g. `ffmpeg -i in.wav -ar 8000 -acodec pcm_s16le out.wav`")]
    UnsupportedFormat { tag: u16, name: &'static str },
    #[error("unsupported bits per sample {bits} for {encoding}; supported: {allowed}")]
    BadBits {
        bits: u16,
        encoding: &'static str,
        allowed: &'static str,
    },
    #[error("channel count {0} is not supported (1 to {max})", max = MAX_CHANNELS)]
    BadChannels(u16),
    #[error("sample rate {0} Hz is not supported ({min} to {max} Hz)", min = MIN_RATE_HZ, max = MAX_RATE_HZ)]
    BadSampleRate(u32),
    #[error("block_align {got} is inconsistent with {channels} channel(s) of {bytes}-byte samples (expected {expected})")]
    BadBlockAlign {
        got: u16,
        channels: u16,
        bytes: usize,
        expected: usize,
    },
    #[error("read error: {0}")]
    Io(#[from] io::Error),
}

impl DecodeError {
    /// Stable reason code for the report.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty_file",
            DecodeError::NotRiff(_) => "not_wav",
            DecodeError::NotWave(_) => "not_wav",
            DecodeError::NoFmt => "no_fmt_chunk",
            DecodeError::NoData => "no_data_chunk",
            DecodeError::EmptyData => "empty_data",
            DecodeError::ShortFmt(_) => "bad_fmt_chunk",
            DecodeError::UnsupportedFormat { .. } => "unsupported_encoding",
            DecodeError::BadBits { .. } => "bad_bits_per_sample",
            DecodeError::BadChannels(_) => "bad_channel_count",
            DecodeError::BadSampleRate(_) => "bad_sample_rate",
            DecodeError::BadBlockAlign { .. } => "bad_block_align",
            DecodeError::Io(_) => "read_error",
        }
    }
}

/// Most channels a file may have.
pub const MAX_CHANNELS: u16 = 64;
/// Lowest sample rate accepted.
pub const MIN_RATE_HZ: u32 = 1000;
/// Highest sample rate accepted.
pub const MAX_RATE_HZ: u32 = 768_000;

const TAG_PCM: u16 = 0x0001;
const TAG_FLOAT: u16 = 0x0003;
const TAG_ALAW: u16 = 0x0006;
const TAG_MULAW: u16 = 0x0007;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

fn tag_name(tag: u16) -> &'static str {
    match tag {
        0x0002 => "MS ADPCM",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0040 => "G.721 ADPCM",
        0x0050 => "MPEG",
        0x0055 => "MPEG Layer 3",
        0x0161..=0x0163 => "Windows Media Audio",
        0x2000 => "AC-3",
        0xF1AC => "FLAC",
        _ => "unknown",
    }
}

/// Parsed `fmt ` chunk.
#[derive(Debug, Clone, Copy)]
struct Fmt {
    format: SampleFormat,
    channels: u16,
    sample_rate_hz: u32,
    block_align: u16,
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn parse_fmt(raw: &[u8], declared: u32) -> Result<Fmt, DecodeError> {
    if raw.len() < 16 {
        return Err(DecodeError::ShortFmt(declared));
    }
    let mut tag = le16(&raw[0..]);
    let channels = le16(&raw[2..]);
    let sample_rate_hz = le32(&raw[4..]);
    let block_align = le16(&raw[12..]);
    let bits = le16(&raw[14..]);
    if tag == TAG_EXTENSIBLE {
        // cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16): the first two
        // bytes of the GUID are the real format tag.
        if raw.len() >= 26 {
            tag = le16(&raw[24..]);
        } else {
            return Err(DecodeError::ShortFmt(declared));
        }
    }
    let format = match tag {
        TAG_PCM => match bits {
            8 => SampleFormat::U8,
            16 => SampleFormat::I16,
            24 => SampleFormat::I24,
            32 => SampleFormat::I32,
            _ => {
                return Err(DecodeError::BadBits {
                    bits,
                    encoding: "PCM",
                    allowed: "8, 16, 24, 32",
                })
            }
        },
        TAG_FLOAT => match bits {
            32 => SampleFormat::F32,
            64 => SampleFormat::F64,
            _ => {
                return Err(DecodeError::BadBits {
                    bits,
                    encoding: "IEEE float",
                    allowed: "32, 64",
                })
            }
        },
        TAG_MULAW | TAG_ALAW => {
            if bits != 8 {
                return Err(DecodeError::BadBits {
                    bits,
                    encoding: "G.711",
                    allowed: "8",
                });
            }
            if tag == TAG_MULAW {
                SampleFormat::MuLaw
            } else {
                SampleFormat::ALaw
            }
        }
        other => {
            return Err(DecodeError::UnsupportedFormat {
                tag: other,
                name: tag_name(other),
            })
        }
    };
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(DecodeError::BadChannels(channels));
    }
    if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&sample_rate_hz) {
        return Err(DecodeError::BadSampleRate(sample_rate_hz));
    }
    let expected = usize::from(channels) * format.bytes_per_sample();
    if usize::from(block_align) != expected {
        return Err(DecodeError::BadBlockAlign {
            got: block_align,
            channels,
            bytes: format.bytes_per_sample(),
            expected,
        });
    }
    Ok(Fmt {
        format,
        channels,
        sample_rate_hz,
        block_align,
    })
}

fn sniff(head: &[u8]) -> String {
    if head.starts_with(b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        "looks like MP3 audio".into()
    } else if head.starts_with(b"OggS") {
        "looks like Ogg audio".into()
    } else if head.starts_with(b"fLaC") {
        "looks like FLAC audio".into()
    } else if !head.is_empty()
        && head
            .iter()
            .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "looks like a text file".into()
    } else {
        "no RIFF header".into()
    }
}

/// Reads the header of a WAV file and locates its samples.
///
/// `file_len` is the real length of the file; sizes in the header are checked
/// against it, so a 100-byte file that declares 4 GiB yields a `WavInfo`
/// whose `data_len` is what the file really holds, marked `truncated`.
/// Allocates at most a few dozen bytes whatever the header says.
pub fn read_header<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<WavInfo, DecodeError> {
    if file_len == 0 {
        return Err(DecodeError::Empty);
    }
    let mut head = [0u8; 12];
    let n = read_up_to(r, &mut head)?;
    if n < 12 || !(&head[0..4] == b"RIFF" || &head[0..4] == b"RF64") {
        return Err(DecodeError::NotRiff(sniff(&head[..n])));
    }
    if &head[8..12] != b"WAVE" {
        return Err(DecodeError::NotWave(
            String::from_utf8_lossy(&head[8..12]).into_owned(),
        ));
    }
    let rf64 = &head[0..4] == b"RF64";
    let mut pos: u64 = 12;
    let mut fmt: Option<Fmt> = None;
    // (offset, declared size) of the data chunk.
    let mut data: Option<(u64, u32)> = None;
    // RF64: the 64-bit data size from the `ds64` chunk.
    let mut ds64_data: Option<u64> = None;
    loop {
        if pos + 8 > file_len {
            break;
        }
        r.seek(SeekFrom::Start(pos))?;
        let mut ch = [0u8; 8];
        if read_up_to(r, &mut ch)? < 8 {
            break;
        }
        let id = [ch[0], ch[1], ch[2], ch[3]];
        let size = le32(&ch[4..]);
        let body = pos + 8;
        match &id {
            b"fmt " => {
                let take = (size as u64).min(64).min(file_len - body) as usize;
                let mut raw = [0u8; 64];
                let got = read_up_to(r, &mut raw[..take])?;
                fmt = Some(parse_fmt(&raw[..got], size)?);
            }
            // EBU Tech 3306: riffSize, dataSize, sampleCount (64-bit each), …
            b"ds64" if rf64 && size >= 16 => {
                let mut raw = [0u8; 16];
                if read_up_to(r, &mut raw)? == 16 {
                    ds64_data = Some(le64(&raw[8..16]));
                }
            }
            b"data" => {
                data = Some((body, size));
                if fmt.is_some() || size == 0 || size == u32::MAX {
                    break;
                }
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = body + u64::from(size) + u64::from(size & 1);
    }
    let fmt = fmt.ok_or(DecodeError::NoFmt)?;
    let (data_offset, size32) = data.ok_or(DecodeError::NoData)?;
    let available = file_len.saturating_sub(data_offset);
    let block_align = usize::from(fmt.block_align);
    // The data size, or `None` when the header does not know it (a
    // streaming writer's 0 or 0xFFFFFFFF, or RF64 without `ds64`): then the
    // audio runs to the end of the file.
    let declared: Option<u64> = match (rf64, ds64_data) {
        (true, Some(d)) if size32 == u32::MAX => Some(d),
        (true, None) => None,
        _ if size32 == 0 || size32 == u32::MAX => None,
        _ => Some(u64::from(size32)),
    };
    let streaming = declared.is_none();
    let (len, truncated) = match declared {
        None => (available, false),
        Some(d) if d > available => (available, true),
        Some(d) => (d, false),
    };
    let data_len = len - len % block_align as u64;
    if data_len == 0 {
        return Err(DecodeError::EmptyData);
    }
    Ok(WavInfo {
        format: fmt.format,
        channels: usize::from(fmt.channels),
        sample_rate_hz: fmt.sample_rate_hz,
        block_align,
        data_offset,
        data_len,
        truncated,
        streaming,
    })
}

/// Reads until `buf` is full or the reader is at its end; returns bytes read.
pub fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Decodes one channel of interleaved frames, appending to `out`.
///
/// `bytes` must hold whole frames (`bytes.len() % block_align == 0`; a partial
/// trailing frame is ignored). Float samples are clipped to `[-1, 1]` and NaN
/// becomes 0. Allocates only when `out` must grow.
pub fn decode_channel(info: &WavInfo, bytes: &[u8], channel: usize, out: &mut Vec<f32>) {
    let bps = info.format.bytes_per_sample();
    let off = channel * bps;
    let frames = bytes.chunks_exact(info.block_align);
    out.reserve(frames.len());
    match info.format {
        SampleFormat::U8 => out.extend(frames.map(|f| (f32::from(f[off]) - 128.0) / 128.0)),
        // Mono and stereo PCM16 (the telephony cases) get a constant frame
        // size, which lets the compiler unroll and vectorise the loop.
        SampleFormat::I16 => match info.block_align {
            2 => pcm16::<2>(bytes, off, out),
            4 => pcm16::<4>(bytes, off, out),
            _ => out.extend(
                frames.map(|f| f32::from(i16::from_le_bytes([f[off], f[off + 1]])) / 32768.0),
            ),
        },
        SampleFormat::I24 => out.extend(frames.map(|f| {
            let v = i32::from_le_bytes([0, f[off], f[off + 1], f[off + 2]]) >> 8;
            v as f32 / 8_388_608.0
        })),
        SampleFormat::I32 => out.extend(frames.map(|f| {
            let v = i32::from_le_bytes([f[off], f[off + 1], f[off + 2], f[off + 3]]);
            (f64::from(v) / 2_147_483_648.0) as f32
        })),
        SampleFormat::F32 => out.extend(frames.map(|f| {
            sanitize(f32::from_le_bytes([
                f[off],
                f[off + 1],
                f[off + 2],
                f[off + 3],
            ]))
        })),
        SampleFormat::F64 => out.extend(frames.map(|f| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&f[off..off + 8]);
            sanitize(f64::from_le_bytes(b) as f32)
        })),
        SampleFormat::MuLaw => {
            out.extend(frames.map(|f| f32::from(mulaw_to_i16(f[off])) / 32768.0))
        }
        SampleFormat::ALaw => out.extend(frames.map(|f| f32::from(alaw_to_i16(f[off])) / 32768.0)),
    }
}

/// Decodes one channel as 16-bit PCM, appending to `out`: the form in which
/// the pipeline carries audio, because the chunk WAVs are PCM16 and the VAD
/// and the mel features must see exactly the samples the WAVs hold.
///
/// PCM16, 8-bit PCM, μ-law and A-law are exact (`(x − 128)·256` for 8-bit
/// is what [`to_i16`] gives for `(x − 128)/128`); wider and float formats
/// are rounded by [`to_i16`]. Always the same as [`decode_channel`]
/// followed by [`to_i16`], which a test checks for every format.
pub fn decode_channel_i16(
    info: &WavInfo,
    bytes: &[u8],
    channel: usize,
    isa: Isa,
    out: &mut Vec<i16>,
) {
    let off = channel * info.format.bytes_per_sample();
    let frames = bytes.chunks_exact(info.block_align);
    out.reserve(frames.len());
    match info.format {
        SampleFormat::I16 => match info.block_align {
            2 => pcm16_i16::<2>(bytes, off, out),
            4 => match isa {
                Isa::Portable => pcm16_i16::<4>(bytes, off, out),
                // SAFETY: `isa` is a level the CPU runs (an `Isa` comes from
                // detection or from `Isa::choose`, which refuses others), and
                // both levels above portable include AVX2.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx512 => unsafe { avx2::stereo_pcm16_i16(bytes, off, out) },
                #[cfg(not(target_arch = "x86_64"))]
                _ => pcm16_i16::<4>(bytes, off, out),
            },
            _ => out.extend(frames.map(|f| i16::from_le_bytes([f[off], f[off + 1]]))),
        },
        SampleFormat::U8 => out.extend(frames.map(|f| (i16::from(f[off]) - 128) << 8)),
        SampleFormat::MuLaw => out.extend(frames.map(|f| mulaw_to_i16(f[off]))),
        SampleFormat::ALaw => out.extend(frames.map(|f| alaw_to_i16(f[off]))),
        SampleFormat::I24 | SampleFormat::I32 | SampleFormat::F32 | SampleFormat::F64 => {
            // Through `f32` a piece at a time (a 16 KiB buffer, not the block).
            const PIECE: usize = 4096;
            let mut tmp = Vec::with_capacity(PIECE.min(frames.len()));
            for piece in bytes.chunks(PIECE * info.block_align) {
                tmp.clear();
                decode_channel(info, piece, channel, &mut tmp);
                out.extend(tmp.iter().map(|&x| to_i16(x)));
            }
        }
    }
}

/// [`pcm16`] without the conversion: the 16-bit samples as they are.
///
/// A plain loop into the vector's spare capacity rather than `extend`: the
/// AVX2 build relies on all of it being inlined into
/// `avx2::stereo_pcm16_i16`, and `Vec::extend`'s machinery was not always
/// (a different code-generation split once left it out of line, without
/// AVX2, and four times as slow).
#[inline(always)]
fn pcm16_i16<const BA: usize>(bytes: &[u8], off: usize, out: &mut Vec<i16>) {
    let frames = bytes.chunks_exact(BA);
    let n = frames.len();
    out.reserve(n);
    for (d, f) in out.spare_capacity_mut()[..n].iter_mut().zip(frames) {
        let f: &[u8; BA] = f.try_into().expect("chunks_exact yields BA bytes");
        d.write(i16::from_le_bytes([f[off], f[off + 1]]));
    }
    // SAFETY: the loop wrote the first `n` spare elements: `frames` yields
    // exactly `n` items and the spare capacity is at least `n` (reserved).
    unsafe { out.set_len(out.len() + n) };
}

/// PCM16 frames of `BA` bytes: the sample at byte offset `off` of each frame.
#[inline]
fn pcm16<const BA: usize>(bytes: &[u8], off: usize, out: &mut Vec<f32>) {
    out.extend(bytes.chunks_exact(BA).map(|f| {
        let f: &[u8; BA] = f.try_into().expect("chunks_exact yields BA bytes");
        f32::from(i16::from_le_bytes([f[off], f[off + 1]])) / 32768.0
    }));
}

/// NaN → 0; everything else clipped to full scale `[-1, 1]` (±Inf → ±1).
///
/// Float WAVs may exceed full scale, but the chunk WAVs are PCM16 and clip
/// there anyway; clipping at decode keeps `run` and `segment` + `mel`
/// identical and keeps garbage like 3.4e38 from overflowing the resampler's
/// FFT (found by the fuzzer: NaN output and a rubato panic).
#[inline]
fn sanitize(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-1.0, 1.0)
    }
}

/// `f32` in `[-1, 1]` → 16-bit PCM, rounding to nearest (ties to even, as
/// numpy's `rint` and the CPU's own conversion do) and saturating. It is the
/// exact inverse of the decoder's `i16 / 32768`; NaN becomes 0.
///
/// Written as bit arithmetic so the loops around it vectorise on baseline
/// x86-64: `f32::round` is a libm call there, and `as i32` saturates lane by
/// lane. Adding 1.5·2²³ to a value in ±2²² leaves it rounded to an integer
/// in the low mantissa bits.
#[inline(always)]
pub fn to_i16(x: f32) -> i16 {
    const MAGIC: f32 = 12_582_912.0;
    let v = (x * 32768.0).clamp(-32768.0, 32767.0);
    ((v + MAGIC).to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32) as i16
}

/// G.711 μ-law → 16-bit linear (ITU-T G.711, as in sox and ffmpeg).
pub fn mulaw_to_i16(b: u8) -> i16 {
    let u = !b;
    let t = ((i32::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
    let v = if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 };
    v as i16
}

/// G.711 A-law → 16-bit linear (ITU-T G.711, as in sox and ffmpeg).
pub fn alaw_to_i16(b: u8) -> i16 {
    let a = b ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    let v = if a & 0x80 != 0 { t } else { -t };
    v as i16
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(test)]
mod tests;
