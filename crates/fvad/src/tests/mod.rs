//! The tests. The reference is libfvad itself: through the `webrtc-vad`
//! crate's API (decisions) and, for the internal state, through the same C
//! symbols, which the crate links into every binary that uses it
//! ([`c_ffi`]). The test signals are in [`signals`].

mod api;
mod builds;
mod c_ffi;
mod c_reference;
mod signals;
