#!/usr/bin/env python3
"""Test calls for callprep's DTMF gate: keypad sequences typed into real calls.

Takes stereo 8 kHz calls with truth files (the bench corpus of
`make_calls.py bench`: espeak-ng ru/kk speech, line noise), and writes
copies in which the customer (channel 1) types card numbers (16 digits) and
PINs (4 digits) in its own silences while the agent may talk: each digit
40-120 ms on, 40-100 ms between digits, twist -8..+4 dB (column minus row),
the weaker tone at -30..-10 dBFS, each frequency off by up to +-1.5 %.
Every other output call is also written as G.711 mu-law (sox).

Writes OUT/NAME.wav and OUT/NAME.dtmf.json: {"sequences": [{"channel",
"start", "end", "kind"}]} (seconds; no digits are needed to score).

Then `score` runs nothing itself: it reads a `--dtmf off` and a `--dtmf drop`
output of callprep on OUT and prints
  - sequences removed: no kept chunk of the channel overlaps the sequence;
  - speech chunks dropped by mistake: chunks of the off run that do not come
    within 100 ms of a sequence, yet are missing from the drop run.

    python3 scripts/make_dtmf_calls.py make --calls /tmp/bench_corpus --out /tmp/dtmf_calls --n 6
    callprep run /tmp/dtmf_calls -o /tmp/d_off --dtmf off --no-wav
    callprep run /tmp/dtmf_calls -o /tmp/d_drop --no-wav
    python3 scripts/make_dtmf_calls.py score /tmp/dtmf_calls /tmp/d_off /tmp/d_drop
"""
import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

ROW = [697.0, 770.0, 852.0, 941.0]
COL = [1209.0, 1336.0, 1477.0, 1633.0]
RATE = 8000


def sequence(rng, n_digits):
    """Samples of one typed sequence."""
    parts = []
    for i in range(n_digits):
        k = rng.integers(16)
        fr = ROW[k // 4] * (1 + rng.uniform(-0.015, 0.015))
        fc = COL[k % 4] * (1 + rng.uniform(-0.015, 0.015))
        on = int(rng.uniform(0.040, 0.120) * RATE)
        weak = rng.uniform(-30.0, -10.0)
        twist = rng.uniform(-8.0, 4.0)  # column minus row, dB
        row_db = weak - min(twist, 0.0)
        col_db = weak + max(twist, 0.0)
        t = np.arange(on) / RATE
        amp = lambda db: 32767.0 * 10 ** (db / 20)
        tone = amp(row_db) * np.sin(2 * np.pi * fr * t + rng.uniform(0, 6)) + amp(col_db) * np.sin(
            2 * np.pi * fc * t + rng.uniform(0, 6))
        parts.append(tone)
        if i + 1 < n_digits:
            parts.append(np.zeros(int(rng.uniform(0.040, 0.100) * RATE)))
    return np.concatenate(parts)


def gaps(speech, duration, margin):
    """Silences of a channel (seconds) with `margin` kept from speech."""
    out, t = [], 0.0
    for a, b in sorted(speech) + [[duration, duration]]:
        if a - margin > t + margin:
            out.append((t + margin, a - margin))
        t = max(t, b)
    return out


def cmd_make(args):
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    calls = sorted(args.calls.glob("*.wav"))[: args.n]
    for i, wav in enumerate(calls):
        x, rate = sf.read(wav, dtype="int16", always_2d=True)
        assert rate == RATE and x.shape[1] == 2, wav
        truth = json.loads(wav.with_suffix(".json").read_text())
        cust = next(c for c in truth["channels"] if c["index"] == 1)
        y = x.astype(np.float64)
        seqs = []
        free = [g for g in gaps(cust["speech"], x.shape[0] / RATE, 0.5) if g[1] - g[0] > 3.0]
        rng.shuffle(free)
        for a, b in free[: args.per_call]:
            kind = "card" if rng.uniform() < 0.5 else "pin"
            s = sequence(rng, 16 if kind == "card" else 4)
            room = b - a - len(s) / RATE
            if room <= 0:
                continue
            start = int((a + rng.uniform(0, room)) * RATE)
            y[start : start + len(s), 1] += s
            seqs.append({"channel": 1, "start": start / RATE, "end": (start + len(s)) / RATE, "kind": kind})
        seqs.sort(key=lambda q: q["start"])
        y = np.clip(np.round(y), -32768, 32767).astype(np.int16)
        name = f"typed_{i:03d}"
        dst = args.out / f"{name}.wav"
        sf.write(dst, y, RATE, subtype="PCM_16")
        doc = json.dumps({"sequences": seqs}, indent=1)
        if i % 2 == 1:
            ulaw = args.out / f"{name}_ulaw.wav"
            subprocess.run(["sox", "-R", "-D", str(dst), "-e", "u-law", str(ulaw)], check=True)
            dst.unlink()
            name += "_ulaw"
        (args.out / f"{name}.dtmf.json").write_text(doc)
        print(f"{name}: {len(seqs)} sequences")


def rows(out):
    return [json.loads(l) for l in (out / "manifest.jsonl").read_text().splitlines()]


def cmd_score(args):
    truth = {}
    for p in args.calls.glob("*.dtmf.json"):
        truth[p.name[: -len(".dtmf.json")]] = json.loads(p.read_text())["sequences"]
    off, drop = rows(args.off), rows(args.drop)
    kept = {r["id"] for r in drop}
    stem = lambda r: Path(r["source"]).stem
    removed = total = 0
    for name, seqs in truth.items():
        for q in seqs:
            total += 1
            hit = [r for r in drop if stem(r) == name and r["channel"] == q["channel"]
                   and r["start"] < q["end"] and q["start"] < r["end"]]
            removed += not hit
    speech = [r for r in off if not any(
        r["channel"] == q["channel"] and r["start"] < q["end"] + 0.1 and q["start"] - 0.1 < r["end"]
        for q in truth.get(stem(r), []))]
    lost = [r["id"] for r in speech if r["id"] not in kept]
    near = len(off) - len(speech)
    print(f"sequences removed: {removed}/{total}")
    print(f"chunks near a sequence (off run): {near}")
    print(f"speech chunks dropped by mistake: {len(lost)}/{len(speech)} "
          f"({100.0 * len(lost) / max(len(speech), 1):.2f} %) {lost[:10]}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="write test calls with typed sequences")
    m.add_argument("--calls", type=Path, required=True, help="stereo 8 kHz calls with truth .json (read only)")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--n", type=int, default=6, help="calls to use")
    m.add_argument("--per-call", type=int, default=8, help="sequences per call")
    m.add_argument("--seed", type=int, default=18)
    s = sub.add_parser("score", help="score a --dtmf off and a --dtmf drop run")
    s.add_argument("calls", type=Path)
    s.add_argument("off", type=Path)
    s.add_argument("drop", type=Path)
    a = p.parse_args()
    cmd_make(a) if a.command == "make" else cmd_score(a)


if __name__ == "__main__":
    main()
