#!/usr/bin/env python3
"""Score chunk manifests against the true speech intervals of synthetic calls.

Usage: python3 scripts/score_chunks.py OUT/manifest.jsonl [--truth-dir DIR]

For every chunk row (`source`, `channel`, `start`, `end`) the truth file is
`<source without .wav>.json` (written by scripts/make_calls.py). Per channel,
10 ms frames are speech when the truth says so and kept when a chunk covers
them. Prints speech recall, precision, speech-frame F1, and the share of chunk
boundaries that fall inside true speech by more than 20 ms (a clipped word).
Standard library only.
"""
import json
import os
import sys
from collections import defaultdict

FRAME = 0.01
TOL = 0.02


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        sys.exit(2)
    manifest = args[0]
    rows = [json.loads(l) for l in open(manifest) if l.strip()]
    chunks = defaultdict(list)
    for r in rows:
        chunks[(r["source"], r["channel"])].append((r["start"], r["end"]))
    sources = sorted({r["source"] for r in rows})
    tp = fp = fn = 0
    bounds = inside = 0
    for src in sources:
        truth = json.load(open(os.path.splitext(src)[0] + ".json"))
        dur = truth["duration_s"]
        n = int(dur / FRAME) + 1
        for ch in truth["channels"]:
            speech = [False] * n
            for s, e in ch["speech"]:
                for i in range(int(s / FRAME), min(n, int(e / FRAME))):
                    speech[i] = True
            kept = [False] * n
            for s, e in chunks.get((src, ch["index"]), []):
                for i in range(int(round(s / FRAME)), min(n, int(round(e / FRAME)))):
                    kept[i] = True
                for b in (s, e):
                    bounds += 1
                    if any(ts + TOL < b < te - TOL for ts, te in ch["speech"]):
                        inside += 1
            for a, k in zip(speech, kept):
                tp += a and k
                fp += (not a) and k
                fn += a and (not k)
    recall = tp / max(1, tp + fn)
    precision = tp / max(1, tp + fp)
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    print(json.dumps({
        "chunks": len(rows),
        "recall": round(recall, 4),
        "precision": round(precision, 4),
        "f1": round(f1, 4),
        "boundaries": bounds,
        "boundaries_inside_speech": inside,
        "boundary_inside_share": round(inside / max(1, bounds), 4),
    }))


if __name__ == "__main__":
    main()
