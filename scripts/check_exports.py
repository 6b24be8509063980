#!/usr/bin/env python3
"""Loads every `callprep export` format with the real library (issue 19).

Makes callprep outputs of one call (run; run --no-wav; segment then mel with
the kaldi preset), exports each in every format it supports, and reads them:

- nemo:   NeMo's manifest rules (nemo/collections/common/parts/preprocessing/
          manifest.py: `item_iter`, `__parse_item`, `get_full_path`; NeMo
          itself is not installed: it pulls a training stack), then the audio
          at `offset`/`duration` with soundfile and `feature_filepath` with numpy;
- hf:     datasets.load_dataset("audiofolder", data_dir=DEST): decoded audio
          (torchcodec + FFmpeg) at the chunk's rate, every manifest field a
          column, the mel arrays reachable from DEST;
- lhotse: lhotse.load_manifest of recordings/supervisions/cuts; each cut's
          audio equal to the chunk WAV callprep wrote, its features equal to
          the .npy (transposed when it is [n_mels, frames]);
- kaldi:  lhotse.kaldi.load_kaldi_data_dir (Lhotse's Kaldi reader), audio of
          every supervision equal to the chunk WAV (through `sox ... remix N |`
          for rows in a stereo source).

Usage: .venv-ref/bin/python scripts/check_exports.py [--bin target/release/callprep]
       [--call fixtures/calls/call01.wav] [--work /tmp/check_exports]
Pinned versions: scripts/requirements-ref.txt. Not part of `cargo test`.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def sh(*args):
    subprocess.run([str(a) for a in args], check=True, stdout=subprocess.DEVNULL)


def read_rows(out):
    with open(out / "manifest.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def chunk_audio(out, row):
    """The chunk's samples as callprep wrote them (float, full scale 1)."""
    x, sr = sf.read(out / row["audio_filepath"], dtype="float32")
    return x, sr


def nemo_full_path(path, manifest_file):
    """NeMo's rule: a relative path with a folder part is joined to the
    manifest's folder (item_iter / get_full_path)."""
    p = Path(os.path.expanduser(path))
    if not p.is_absolute() and p.parent != Path("."):
        p = Path(manifest_file).parent / p
    return p


def check_nemo(out, dest):
    manifest = dest / "manifest.json"
    rows = {r["id"]: r for r in read_rows(out)}
    n = 0
    for line in open(manifest):
        item = json.loads(line)
        # __parse_item: audio key, duration required, text, offset, speaker.
        audio = item.get("audio_filename", item.get("audio_filepath"))
        assert audio is not None and "duration" in item
        path = nemo_full_path(audio, manifest)
        offset = item.get("offset") or 0.0
        info = sf.info(str(path))
        start = round(offset * info.samplerate)
        frames = round(item["duration"] * info.samplerate)
        x, _ = sf.read(str(path), start=start, frames=frames, dtype="float32")
        ref, _ = chunk_audio(out, rows[item["id"]])
        ok = path.is_file() and x.shape == ref.shape and np.array_equal(x, ref)
        ok = ok and item["speaker"] == rows[item["id"]]["role"] and "text" in item
        if "feature_filepath" in item:
            feats = np.load(nemo_full_path(item["feature_filepath"], manifest))
            mel = np.load(out / rows[item["id"]]["mel_filepath"])
            ok = ok and np.array_equal(feats, mel)
        n += ok
    check(n == len(rows), f"nemo {dest.name}: {n}/{len(rows)} rows resolve by NeMo's rules, audio and features equal")


def check_hf(out, dest):
    import datasets

    rows = {r["id"]: r for r in read_rows(out)}
    ds = datasets.load_dataset("audiofolder", data_dir=str(dest), split="train")
    check(len(ds) == len(rows), f"hf {dest.name}: {len(ds)} examples for {len(rows)} rows")
    missing = set(next(iter(rows.values())).keys()) - set(ds.column_names)
    check(not missing, f"hf {dest.name}: every manifest field is a column (missing: {sorted(missing)})")
    n = 0
    for ex in ds:
        a = ex["audio"]
        if isinstance(a, dict):
            arr, sr = np.asarray(a["array"], dtype=np.float32), a["sampling_rate"]
        else:  # datasets >= 4: a torchcodec AudioDecoder
            s = a.get_all_samples()
            arr, sr = s.data.numpy()[0], s.sample_rate
        ref, ref_sr = chunk_audio(out, rows[ex["id"]])
        ok = sr == ref_sr == rows[ex["id"]]["sample_rate"] and arr.shape == ref.shape
        ok = ok and np.allclose(arr, ref, atol=1e-4)
        if rows[ex["id"]].get("mel_filepath"):
            ok = ok and np.array_equal(np.load(dest / ex["mel_filepath"]), np.load(out / rows[ex["id"]]["mel_filepath"]))
        n += ok
    check(n == len(rows), f"hf {dest.name}: {n}/{len(rows)} examples decode at the chunk rate equal to the chunk WAV, mel reachable")


def check_lhotse(out, dest, chunks_out):
    from lhotse import load_manifest

    rows = {r["id"]: r for r in read_rows(out)}
    ref_rows = {r["id"]: r for r in read_rows(chunks_out)}
    recs = load_manifest(dest / "recordings.jsonl.gz")
    sups = load_manifest(dest / "supervisions.jsonl.gz")
    cuts = load_manifest(dest / "cuts.jsonl.gz")
    check(len(sups) == len(rows) and len(cuts) == len(rows),
          f"lhotse {dest.name}: {len(recs)} recordings, {len(sups)} supervisions, {len(cuts)} cuts for {len(rows)} rows")
    n_audio = n_feats = 0
    for cut in cuts:
        row = rows[cut.id]
        x = cut.load_audio()[0]
        ref, _ = chunk_audio(chunks_out, ref_rows[cut.id])
        n_audio += x.shape == ref.shape and np.allclose(x, ref, atol=1e-6)
        if row.get("mel_filepath"):
            mel = np.load(out / row["mel_filepath"])
            frames_first = mel.shape[0] == row["n_frames"] and mel.shape[1] == row["n_mels"]
            want = mel if frames_first else mel.T
            whole = cut.features.load()
            part = cut.load_features()
            n_feats += (np.array_equal(whole, want) and part.shape[1] == row["n_mels"]
                        and np.array_equal(part, want[: part.shape[0]]))
    check(n_audio == len(rows), f"lhotse {dest.name}: {n_audio}/{len(rows)} cuts load audio equal to the chunk WAV")
    if any(r.get("mel_filepath") for r in rows.values()):
        check(n_feats == len(rows), f"lhotse {dest.name}: {n_feats}/{len(rows)} cuts load features equal to the .npy (frames-first)")


def check_kaldi(out, dest, chunks_out, sampling_rate):
    from lhotse.kaldi import load_kaldi_data_dir

    rows = {r["id"]: r for r in read_rows(out)}
    ref_rows = {r["id"]: r for r in read_rows(chunks_out)}
    recs, sups, _ = load_kaldi_data_dir(dest, sampling_rate=sampling_rate)
    check(sups is not None and len(sups) == len(rows), f"kaldi {dest.name}: Lhotse's Kaldi reader: {len(recs)} recordings, {len(sups)} segments for {len(rows)} rows")
    utts = [l.split()[0] for l in open(dest / "utt2spk")]
    check(utts == sorted(utts, key=lambda s: s.encode()), f"kaldi {dest.name}: utt2spk sorted in C order")
    n = 0
    for s in sups:
        rec = recs[s.recording_id]
        x = rec.load_audio(offset=s.start, duration=s.duration, channels=s.channel)
        x = np.asarray(x).reshape(-1)
        row_id = s.id.split("-", 1)[1] if s.id.split("-", 1)[1] in ref_rows else s.id
        ref, _ = chunk_audio(chunks_out, ref_rows[row_id])
        n += x.shape == ref.shape and np.allclose(x, ref, atol=1e-6)
    check(n == len(rows), f"kaldi {dest.name}: {n}/{len(rows)} segments read audio equal to the chunk WAV")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/callprep")
    ap.add_argument("--call", default="fixtures/calls/call01.wav")
    ap.add_argument("--work", default="/tmp/check_exports")
    a = ap.parse_args()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run, nowav, seg, mel = work / "run", work / "nowav", work / "seg", work / "mel_kaldi"
    sh(a.bin, "run", a.call, "-o", run, "-q")
    sh(a.bin, "run", a.call, "-o", nowav, "--no-wav", "-q")
    sh(a.bin, "segment", a.call, "-o", seg, "-q")
    sh(a.bin, "mel", seg / "manifest.jsonl", "-o", mel, "--preset", "kaldi", "-q")
    ex = work / "exports"

    def export(out, fmt, *extra):
        dest = ex / f"{out.name}-{fmt}{''.join(extra)}"
        sh(a.bin, "export", out, "--format", fmt, "-o", dest, *extra)
        return dest

    for out in (run, mel):
        check_nemo(out, export(out, "nemo"))
        check_hf(out, export(out, "hf"))
    check_hf(run, export(run, "hf", "--copy"))
    for out in (run, nowav, mel):
        check_lhotse(out, export(out, "lhotse"), run)
    for out in (run, nowav):
        check_kaldi(out, export(out, "kaldi"), run, 8000)
    print(f"\n{len(FAILS)} failed")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
