//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

pub mod dtmf;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Every regular file under `dir` (relative path → bytes), hidden state excluded.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if rel.starts_with(".callprep") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Parses a little-endian `<f4` C-order .npy: (shape, data).
pub fn read_npy(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hl]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"));
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect();
    let data: Vec<f32> = bytes[10 + hl..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (shape, data)
}

/// Final-named outputs must be complete: WAVs parse with their declared
/// length, `.npy` sizes match their headers, JSON Lines parse. Temporary
/// names are not outputs (the next run removes them).
pub fn assert_no_partial_files(out: &Path) {
    for (rel, bytes) in tree(out) {
        if rel.contains(".tmp-") {
            continue;
        }
        if rel.ends_with(".wav") {
            let r = hound::WavReader::new(std::io::Cursor::new(&bytes)).unwrap();
            assert_eq!(bytes.len() as u64, 44 + 2 * u64::from(r.len()), "{rel}");
        } else if rel.ends_with(".npy") {
            let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            let (shape, _) = read_npy(&bytes);
            let n: usize = shape.iter().product();
            assert_eq!(bytes.len(), 10 + hl + 4 * n, "{rel}");
        } else if rel.ends_with(".jsonl") {
            for line in String::from_utf8(bytes).unwrap().lines() {
                serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
        }
    }
}
