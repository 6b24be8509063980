#!/usr/bin/env python3
"""Check that callprep and the Python reference wrote the same dataset.

Compares a callprep output folder with the output of
``scripts/py_reference.py --spans-from CALLPREP_OUT/manifest.jsonl`` (the identical
job: the reference cuts callprep's chunks and names them by callprep's ids), chunk for
chunk:

  * the chunk WAVs must hold the same samples (PCM16, compared as int16 arrays: the
    headers of the two writers differ),
  * the log-mel ``.npy`` files must have the same shape, and every value must agree
    within --tol (default 1e-3, the tolerance of the golden tests: librosa works in
    float32 here, callprep in float64).

Prints one line (chunks, samples compared, the max |mel diff| and its chunk, and how
many values differ by more than 1e-5) and exits 1 if anything is missing or differs.

Usage:
    python scripts/compare_outputs.py CALLPREP_OUT PY_REFERENCE_OUT [--tol 1e-3]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("callprep_out", type=Path)
    ap.add_argument("py_out", type=Path)
    ap.add_argument("--tol", type=float, default=1e-3)
    args = ap.parse_args()

    problems = []
    n_chunks = n_samples = n_values = 0
    worst = (0.0, None)
    n_above = 0  # values more than 1e-5 apart
    with open(args.callprep_out / "manifest.jsonl") as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        cid = r["id"]
        py_wav = args.py_out / "wav" / f"{cid}.wav"
        py_mel = args.py_out / "mel" / f"{cid}.npy"
        if not py_wav.is_file() or not py_mel.is_file():
            problems.append(f"{cid}: missing in {args.py_out}")
            continue
        ours, sr1 = sf.read(str(args.callprep_out / r["audio_filepath"]), dtype="int16")
        theirs, sr2 = sf.read(str(py_wav), dtype="int16")
        if sr1 != sr2 or ours.shape != theirs.shape or not np.array_equal(ours, theirs):
            problems.append(f"{cid}: WAV samples differ ({ours.shape} at {sr1} Hz vs "
                            f"{theirs.shape} at {sr2} Hz)")
            continue
        m1 = np.load(args.callprep_out / r["mel_filepath"])
        m2 = np.load(py_mel)
        if m1.shape != m2.shape:
            problems.append(f"{cid}: mel shape {m1.shape} vs {m2.shape}")
            continue
        d = np.abs(m1.astype(np.float64) - m2.astype(np.float64))
        mx = float(d.max()) if d.size else 0.0
        if not np.isfinite(mx) or mx > args.tol:
            problems.append(f"{cid}: mel max |diff| {mx:.3g} > {args.tol:g}")
        if mx > worst[0]:
            worst = (mx, cid)
        n_above += int(np.count_nonzero(d > 1e-5))
        n_chunks += 1
        n_samples += len(ours)
        n_values += d.size
    extra = {p.stem for p in (args.py_out / "wav").glob("*.wav")} - {r["id"] for r in rows}
    if extra:
        problems.append(f"{len(extra)} chunks only in {args.py_out}, e.g. {sorted(extra)[0]}")
    print(f"compare_outputs: {n_chunks}/{len(rows)} chunks, {n_samples} samples identical, "
          f"{n_values} mel values: max |diff| {worst[0]:.3g} ({worst[1]}), "
          f"{n_above} above 1e-5; {len(problems)} problems")
    for p in problems[:20]:
        print(f"  {p}")
    sys.exit(1 if problems or not rows else 0)


if __name__ == "__main__":
    main()
