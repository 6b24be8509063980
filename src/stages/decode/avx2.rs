//! The stereo PCM16 split (the telephony case) compiled with AVX2: twice
//! the samples per instruction of the portable build, the same values.
//!
//! In: interleaved 2-channel PCM16 frames and the byte offset of the wanted
//! channel. Out: that channel's samples appended to `out`.

/// [`super::pcm16_i16`] for 4-byte frames, with AVX2.
#[target_feature(enable = "avx2")]
pub(super) fn stereo_pcm16_i16(bytes: &[u8], off: usize, out: &mut Vec<i16>) {
    super::pcm16_i16::<4>(bytes, off, out)
}
