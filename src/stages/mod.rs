//! The pipeline stages, in the order audio flows through them:
//!
//! ```text
//! decode ─ split ─ resample ─ vad ─ chunk ─ mel
//! ```
//!
//! 1. [`decode`]: WAV bytes → samples (PCM 8/16/24/32, float, G.711).
//! 2. split: [`decode::decode_channel_i16`] picks one channel of the
//!    interleaved frames as 16-bit PCM, the form the pipeline carries audio
//!    in (the chunk WAVs are PCM16, and the VAD and the mel read exactly
//!    what they hold); each channel streams on its own (roles come from the
//!    config).
//! 3. [`resample`]: to the pipeline rate, only when the input differs
//!    (`f32` from [`decode::decode_channel`], then rounded to PCM16).
//! 4. [`vad`]: WebRTC VAD decision and energy per 10/20/30 ms frame.
//!    The default engine is [`callprep_fvad`] (the workspace crate
//!    `crates/fvad`), a bit-exact, faster Rust port of the WebRTC VAD
//!    (libfvad) that the `webrtc-vad` crate wraps.
//! 5. [`chunk`]: frames → chunk spans of `min..=max` seconds.
//! 6. [`mel`]: chunk samples → log-mel features.
//!
//! Every stage is a pure function (or a small state machine) over buffers: no
//! file I/O, no printing, no global state. I/O, threads and progress live in
//! `worker`, `sink` and `app`.

pub mod chunk;
pub mod decode;
pub mod dtmf;
pub mod mel;
pub mod resample;
pub mod vad;
