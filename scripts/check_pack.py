#!/usr/bin/env python3
"""Load a `callprep pack` with the tools a GPU training job uses, and check it.

Usage:
  scripts/check_pack.py PACK [--identity KEY] [--data MEL_OUT] [--nemo-manifest OUT.json]

PACK is a pack folder (index.json + shard-NNNNNN.tar[.age]). Encrypted shards
are first decrypted with the standard `age` tool (`age -d -i KEY`) into a
temporary folder, as a training node would do before reading them.

Two loaders:

1. WebDataset (`pip install webdataset`): `wds.WebDataset(shards).decode()`
   gives one dict per sample: `__key__`, `json` (the manifest row) and `npy`
   (the float32 mel array; `wav` bytes with --with-audio). Checked: every
   sample is there once, in index order, its array has the row's
   `mel_shape`, and with --data its bytes equal the original `.npy`.

2. NeMo's tarred-dataset convention (TarredAudioToCharDataset and friends):
   `tarred_audio_filepaths` is a brace pattern over the shards
   (`shard-{000000..000009}.tar`) and the manifest has one row per member
   with `audio_filepath` = the member's file name and `shard_id`; NeMo finds
   a member's row by that file name without extension. This script writes that
   manifest (--nemo-manifest) from the shards' `KEY.json` members and checks
   the convention: keys unique across the pack, every row's member present in
   its own shard. (NeMo itself is not installed here; point its config at the
   printed pattern and the written manifest.)

Prints one line per check and exits 1 on any mismatch. Needs numpy and
webdataset (scripts/requirements-ref.txt).
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pack")
    ap.add_argument("--identity", help="age identity file for encrypted shards")
    ap.add_argument("--data", help="the packed output folder: compare .npy bytes")
    ap.add_argument("--nemo-manifest", help="write NeMo's tarred manifest here")
    args = ap.parse_args()

    with open(os.path.join(args.pack, "index.json")) as f:
        index = json.load(f)
    if not index["complete"]:
        fail("index.json says the pack is incomplete")
    shards = [s["name"] for s in index["shards"]]
    tmp = tempfile.TemporaryDirectory()
    local = []
    for name in shards:
        path = os.path.join(args.pack, name)
        if name.endswith(".age"):
            if not args.identity:
                fail("the pack is encrypted: give --identity KEY")
            out = os.path.join(tmp.name, name[: -len(".age")])
            subprocess.run(["age", "-d", "-i", args.identity, "-o", out, path], check=True)
            path = out
        local.append(path)
    print(f"ok   {len(local)} shards, {index['samples']} samples in index.json")

    # 1. WebDataset.
    import webdataset as wds

    ds = wds.WebDataset(local, shardshuffle=False, empty_check=False).decode()
    seen = []
    for sample in ds:
        row = sample["json"]
        arr = sample["npy"]
        if not isinstance(arr, np.ndarray) or arr.dtype != np.float32:
            fail(f"{sample['__key__']}: npy decoded to {type(arr)}")
        if list(arr.shape) != list(row["mel_shape"]):
            fail(f"{row['id']}: shape {arr.shape}, row says {row['mel_shape']}")
        if args.data:
            with open(os.path.join(args.data, row["mel_filepath"]), "rb") as f:
                orig = np.load(io.BytesIO(f.read()))
            if not np.array_equal(orig, arr):
                fail(f"{row['id']}: array differs from {row['mel_filepath']}")
        seen.append(row["id"])
    if len(seen) != index["samples"] or len(set(seen)) != len(seen):
        fail(f"webdataset gave {len(seen)} samples ({len(set(seen))} distinct)")
    if seen != sorted(seen):
        fail("samples are not in id order")
    what = "arrays equal the originals" if args.data else "shapes match the rows"
    print(f"ok   webdataset {wds.__version__}: {len(seen)} samples, decoded float32, {what}")

    # 2. NeMo's tarred convention.
    rows, where = [], {}
    for shard_id, path in enumerate(local):
        with tarfile.open(path) as tf:
            members = tf.getnames()
            names = set(members)
            for m in members:
                if not m.endswith(".json"):
                    continue
                key = m[: -len(".json")]
                if key in where:
                    fail(f"key {key} in shards {where[key]} and {shard_id}")
                where[key] = shard_id
                row = json.load(tf.extractfile(m))
                audio = key + (".wav" if key + ".wav" in names else ".npy")
                rows.append(
                    {
                        "audio_filepath": audio,
                        "duration": row["duration"],
                        "text": row["text"],
                        "shard_id": shard_id,
                        "id": row["id"],
                    }
                )
                if audio not in names:
                    fail(f"{audio} not in shard {shard_id}")
    last = len(local) - 1
    stem = os.path.basename(local[0]).split("-")[0]
    pattern = os.path.join(args.pack, f"{stem}-{{000000..{last:06d}}}.tar")
    if shards[0].endswith(".age"):
        pattern += " (the shards decrypted with `age -d`)"
    if args.nemo_manifest:
        with open(args.nemo_manifest, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    kind = "audio (.wav)" if rows and rows[0]["audio_filepath"].endswith(".wav") else "features (.npy)"
    print(
        f"ok   NeMo tarred convention: {len(rows)} rows, keys unique, each member in its shard_id; "
        f"members are {kind}; tarred_audio_filepaths={pattern}"
    )


if __name__ == "__main__":
    main()
