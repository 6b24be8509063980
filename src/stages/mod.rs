//! The pipeline stages, in the order audio flows through them:
//!
//! ```text
//! decode ─ split ─ resample ─ vad ─ chunk ─ mel
//! ```
//!
//! 1. [`decode`]: WAV bytes → `f32` samples (PCM 8/16/24/32, float, G.711).
//! 2. split: [`decode::decode_channel`] picks one channel of the interleaved
//!    frames, so each channel streams on its own (roles come from the config).
//! 3. [`resample`]: to the pipeline rate, only when the input differs.
//! 4. [`vad`]: WebRTC VAD decision and energy per 10/20/30 ms frame.
//!    [`fvad`] is a bit-exact, faster Rust port of the WebRTC VAD (libfvad)
//!    that the `webrtc-vad` crate wraps.
//! 5. [`chunk`]: frames → chunk spans of `min..=max` seconds.
//! 6. [`mel`]: chunk samples → log-mel features.
//!
//! Every stage is a pure function (or a small state machine) over buffers: no
//! file I/O, no printing, no global state. I/O, threads and progress live in
//! `worker`, `sink` and `app`.

pub mod chunk;
pub mod decode;
pub mod fvad;
pub mod mel;
pub mod resample;
pub mod vad;
