//! Chunk WAVs: mono 16-bit PCM at the pipeline rate, encoded by hound.
//!
//! In: the chunk's PCM16 samples and the rate. Out: the WAV bytes, handed
//! to the writer in one piece (a per-thread buffer, no allocation once warm).

use std::cell::RefCell;
use std::io::{self, Write};

/// Writes mono 16-bit PCM WAV bytes of `samples` with hound: encoded in
/// memory (a per-thread buffer), then handed to `w` in one piece, so a file
/// gets them in one `write(2)` (hound straight into a file writes the data in
/// buffer-sized pieces and seeks back to patch the header).
pub fn write_wav<W: Write>(w: &mut W, samples: &[i16], rate_hz: u32) -> io::Result<()> {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        encode_wav(io::Cursor::new(&mut *buf), samples, rate_hz)?;
        w.write_all(buf)
    })
}

fn encode_wav<W: Write + io::Seek>(w: W, samples: &[i16], rate_hz: u32) -> io::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate_hz,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut ww = hound::WavWriter::new(w, spec).map_err(hound_err)?;
    {
        let mut iw = ww.get_i16_writer(samples.len() as u32);
        for &x in samples {
            iw.write_sample(x);
        }
        iw.flush().map_err(hound_err)?;
    }
    ww.finalize().map_err(hound_err)
}

fn hound_err(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// Size in bytes of a mono PCM16 WAV of `n` samples as hound writes it.
pub fn wav_size(n: usize) -> u64 {
    44 + 2 * n as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_bytes_roundtrip() {
        let mut bytes = Vec::new();
        let x = [0i16, 16384, -16384, 32767, -32768, 1];
        write_wav(&mut bytes, &x, 8000).unwrap();
        assert_eq!(bytes.len() as u64, wav_size(x.len()));
        let mut r = hound::WavReader::new(io::Cursor::new(bytes)).unwrap();
        assert_eq!(r.spec().sample_rate, 8000);
        let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(s, x);
    }
}
