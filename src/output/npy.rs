//! Feature files: little-endian `float32`, C-order `.npy` arrays that
//! `numpy.load` reads.
//!
//! In: the values and the 2-D shape. Out: the header (by npyz) and the data
//! in bulk, as one vectored write when the array can be written as it lies
//! in memory.

use std::io::{self, IoSlice, Write};

/// Writes a little-endian float32, C-order `.npy` array of `shape` (header by
/// npyz, data in bulk). Any NaN/Inf is written as 0 — never reached in
/// practice, since decoding sanitises the input.
pub fn write_npy<W: Write>(w: &mut W, data: &[f32], shape: [usize; 2]) -> io::Result<()> {
    use npyz::WriterBuilder;
    debug_assert_eq!(data.len(), shape[0] * shape[1]);
    let mut header = Vec::with_capacity(128);
    npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[shape[0] as u64, shape[1] as u64])
        .writer(&mut header)
        .write_header_only()?;
    // On a little-endian machine with finite data (the normal case) the
    // array's memory already is the file's data section: header and array go
    // to the writer together, so a `BufWriter` passes them to one `writev(2)`
    // (no conversion pass, no copy into its buffer).
    let finite = data.iter().fold(true, |ok, v| ok & v.is_finite());
    if cfg!(target_endian = "little") && finite {
        return write_both(w, &header, bytemuck::cast_slice(data));
    }
    w.write_all(&header)?;
    let mut buf = [0u8; 4096];
    for block in data.chunks(buf.len() / 4) {
        for (dst, v) in buf.chunks_exact_mut(4).zip(block) {
            let v = if v.is_finite() { *v } else { 0.0 };
            dst.copy_from_slice(&v.to_le_bytes());
        }
        w.write_all(&buf[..block.len() * 4])?;
    }
    Ok(())
}

/// Size in bytes of the `.npy` file [`write_npy`] writes for `shape`.
pub fn npy_size(shape: [usize; 2]) -> u64 {
    let mut v = Vec::new();
    use npyz::WriterBuilder;
    let _ = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[shape[0] as u64, shape[1] as u64])
        .writer(&mut v)
        .write_header_only();
    v.len() as u64 + 4 * (shape[0] * shape[1]) as u64
}

/// Writes `a` then `b`, as one `writev(2)` when the writer passes vectored
/// writes through (a `BufWriter` does for more than its capacity).
fn write_both<W: Write>(w: &mut W, a: &[u8], b: &[u8]) -> io::Result<()> {
    let mut slices = [IoSlice::new(a), IoSlice::new(b)];
    let mut bufs = &mut slices[..];
    // Skips empty parts, so `Ok(0)` below means the writer is stuck.
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_bytes_are_what_numpy_expects() {
        let mut v = Vec::new();
        write_npy(&mut v, &[1.0, 2.0, 3.0, f32::NAN, 5.0, 6.0], [2, 3]).unwrap();
        assert_eq!(&v[..6], b"\x93NUMPY");
        let header_len = u16::from_le_bytes([v[8], v[9]]) as usize;
        let header = std::str::from_utf8(&v[10..10 + header_len]).unwrap();
        assert!(header.contains("'descr': '<f4'"), "{header}");
        assert!(header.contains("'fortran_order': False"));
        assert!(header.contains("'shape': (2, 3, )"), "{header}");
        assert_eq!((10 + header_len) % 64, 0, "data is 64-byte aligned");
        let data = &v[10 + header_len..];
        assert_eq!(data.len(), 24);
        assert_eq!(f32::from_le_bytes(data[12..16].try_into().unwrap()), 0.0);
        assert_eq!(v.len() as u64, npy_size([2, 3]));
    }
}
