#!/usr/bin/env python3
"""Reference Python pipeline: what a careful data scientist would write instead of callprep.

Turns 8 kHz call-center WAVs (stereo: ch0 = agent, ch1 = customer; mono: "mixed")
into an ASR dataset (other sample rates are resampled to 8 kHz with librosa/soxr first):

  * webrtcvad (aggressiveness 3) on 30 ms frames per channel, segments collected the
    classic py-webrtcvad example way (300 ms padding ring buffer, trigger/release at 90 %),
  * segments cut into chunks of 2-20 s (hard cuts every 20 s, pieces < 2 s dropped),
  * each chunk -> mono PCM16 WAV  OUT/wav/<file-stem>/<role>/<stem>_<role>_<startsample>.wav
              -> log-mel  .npy    OUT/mel/<file-stem>/<role>/<stem>_<role>_<startsample>.npy
    (80 mels, n_fft 512, win 200, hop 80, fmin 0, fmax 4000, hann, centre/reflect pad,
     power 2, natural log floored at 1e-10, float32, shape (80, frames)),
  * OUT/manifest.jsonl, one JSON object per chunk, sorted by (source, channel, offset).

The mel is computed as librosa.stft once + a per-worker cached librosa.filters.mel
filterbank (np.dot), which reproduces librosa.feature.melspectrogram with the same
parameters (see --check-mel).

With ``--spans-from MANIFEST`` (a callprep ``manifest.jsonl`` of the same inputs) the
reference still decodes, runs webrtcvad and its collector on every frame (their cost
stays in its time), but then cuts the chunks callprep chose instead of its own, and
names them by callprep's ids (OUT/wav/<id>.wav, OUT/mel/<id>.npy). Both programs then
do the identical job, and ``scripts/compare_outputs.py`` can check chunk for chunk that
they wrote the same audio and the same features. The manifest's ``source`` paths are
matched to the inputs after resolving both against the current folder, so run it from
where callprep ran (bench.sh passes absolute paths).

Usage:
    python scripts/py_reference.py INPUT_DIR -o OUT --workers N [--check-mel]
                                   [--spans-from CALLPREP_MANIFEST]

Used by scripts/bench.sh as the Python baseline; requirements: scripts/requirements-ref.txt.
"""

import os

# Pin BLAS / numba threading *before* numpy is imported, so that N workers really means
# N cores (inherited by the fork-ed pool workers, and re-asserted in the initializer).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import webrtcvad  # noqa: E402

SR = 8000
FRAME_MS = 30
FRAME_LEN = SR * FRAME_MS // 1000  # 240 samples
PADDING_MS = 300
TRIGGER_RATIO = 0.9
VAD_MODE = 3
MIN_CHUNK = 2 * SR  # samples
MAX_CHUNK = 20 * SR  # samples

N_FFT = 512
WIN_LENGTH = 200
HOP_LENGTH = 80
N_MELS = 80
FMIN = 0.0
FMAX = 4000.0
LOG_FLOOR = 1e-10

ROLES_STEREO = ("agent", "customer")

# Per-worker state (filled by init_worker).
_MEL_BASIS = None
_LIBROSA = None
_READY = None  # the pool's start-up barrier (see wait_ready)


def init_worker(ready=None):
    """Pool initializer: import librosa, build the mel filterbank once, warm everything up."""
    global _MEL_BASIS, _LIBROSA, _READY
    _READY = ready
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    import librosa

    _LIBROSA = librosa
    _MEL_BASIS = librosa.filters.mel(
        sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX
    )  # (80, 257) float32, slaney norm, like melspectrogram's default
    dummy = (np.random.default_rng(0).standard_normal(SR) * 0.1).astype(np.float32)
    librosa.feature.melspectrogram(
        y=dummy, sr=SR, n_fft=N_FFT, win_length=WIN_LENGTH, hop_length=HOP_LENGTH,
        n_mels=N_MELS, fmin=FMIN, fmax=FMAX, pad_mode="reflect",
    )
    log_mel(dummy)


def wait_ready(_):
    """Blocks until every worker has run its initializer (one call per worker)."""
    _READY.wait()


def log_mel(y):
    """Same numbers as np.log(np.maximum(librosa.feature.melspectrogram(...), 1e-10))."""
    d = _LIBROSA.stft(
        y, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH,
        window="hann", center=True, pad_mode="reflect",
    )
    power = np.abs(d) ** 2
    mel = np.dot(_MEL_BASIS, power)
    return np.log(np.maximum(mel, LOG_FLOOR)).astype(np.float32)


def log_mel_librosa(y):
    """The straightforward librosa call (used only by --check-mel)."""
    mel = _LIBROSA.feature.melspectrogram(
        y=y, sr=SR, n_fft=N_FFT, win_length=WIN_LENGTH, hop_length=HOP_LENGTH,
        n_mels=N_MELS, fmin=FMIN, fmax=FMAX, pad_mode="reflect",
    )
    return np.log(np.maximum(mel, LOG_FLOOR)).astype(np.float32)


def vad_segments(pcm, vad):
    """Classic py-webrtcvad vad_collector, returning (start_sample, end_sample) pairs.

    pcm: contiguous int16 mono array at 8 kHz. The trailing partial frame is ignored.
    """
    n_frames = len(pcm) // FRAME_LEN
    data = pcm[: n_frames * FRAME_LEN].tobytes()
    step = FRAME_LEN * 2  # bytes per frame
    num_padding = PADDING_MS // FRAME_MS
    ring = collections.deque(maxlen=num_padding)
    triggered = False
    start = 0
    segments = []
    for i in range(n_frames):
        is_speech = vad.is_speech(data[i * step:(i + 1) * step], SR)
        ring.append(is_speech)
        if not triggered:
            if sum(ring) > TRIGGER_RATIO * num_padding:
                triggered = True
                start = i - len(ring) + 1  # the ring-buffer frames become voiced
                ring.clear()
        else:
            if len(ring) - sum(ring) > TRIGGER_RATIO * num_padding:
                triggered = False
                segments.append((start * FRAME_LEN, (i + 1) * FRAME_LEN))
                ring.clear()
    if triggered:
        segments.append((start * FRAME_LEN, n_frames * FRAME_LEN))
    return segments


def to_chunks(segments):
    """Hard-cut segments every 20 s and drop pieces shorter than 2 s."""
    chunks = []
    for s, e in segments:
        for cs in range(s, e, MAX_CHUNK):
            ce = min(cs + MAX_CHUNK, e)
            if ce - cs >= MIN_CHUNK:
                chunks.append((cs, ce))
    return chunks


def load_spans(manifest):
    """callprep manifest -> {realpath of source: {channel: [(id, start, end) samples]}}."""
    spans = {}
    with open(manifest) as f:
        for line in f:
            r = json.loads(line)
            sr = r["sample_rate"]
            start, end = round(r["start"] * sr), round(r["end"] * sr)
            src = spans.setdefault(os.path.realpath(r["source"]), {})
            src.setdefault(r["channel"], []).append((r["id"], start, end))
    return spans


def process_file(job):
    """Worker: one input file -> list of manifest rows, input duration (s)."""
    path, rel, out_dir, check, spans = job
    audio, sr = sf.read(path, dtype="int16", always_2d=True)  # also decodes u-law/A-law
    if sr != SR:
        # Not the case for the benchmark corpus; resample (soxr_hq, librosa's default) so
        # e.g. 16 kHz exports still work, then back to int16 for webrtcvad.
        y = _LIBROSA.resample(audio.T.astype(np.float32) / 32768.0, orig_sr=sr, target_sr=SR)
        audio = np.clip(np.round(y.T * 32768.0), -32768, 32767).astype(np.int16)
    n_ch = audio.shape[1]
    if n_ch == 1:
        channels = [(0, "mixed")]
    elif n_ch == 2:
        channels = list(enumerate(ROLES_STEREO))
    else:
        raise ValueError(f"{path}: expected mono or stereo, got {n_ch} channels")

    stem = Path(path).stem
    out = Path(out_dir)
    rows = []
    max_diff = 0.0
    for ch, role in channels:
        pcm = np.ascontiguousarray(audio[:, ch])
        vad = webrtcvad.Vad(VAD_MODE)
        chunks = to_chunks(vad_segments(pcm, vad))
        if spans is None:
            wav_dir = out / "wav" / stem / role
            mel_dir = out / "mel" / stem / role
            named = [(f"{stem}_{role}_{s}", s, e) for s, e in chunks]
        else:
            # The identical job: callprep's chunks of this channel, its ids.
            wav_dir, mel_dir = out / "wav", out / "mel"
            named = spans.get(ch, [])
        if not named:
            continue
        wav_dir.mkdir(parents=True, exist_ok=True)
        mel_dir.mkdir(parents=True, exist_ok=True)
        for name, s, e in named:
            wav_path = wav_dir / f"{name}.wav"
            mel_path = mel_dir / f"{name}.npy"
            piece = pcm[s:e]
            sf.write(wav_path, piece, SR, subtype="PCM_16")
            y = piece.astype(np.float32) / 32768.0
            mel = log_mel(y)
            if check:
                max_diff = max(max_diff, float(np.max(np.abs(mel - log_mel_librosa(y)))))
            np.save(mel_path, mel)
            rows.append({
                "audio_filepath": str(wav_path),
                "mel_filepath": str(mel_path),
                "duration": (e - s) / SR,
                "offset": s / SR,
                "channel": ch,
                "role": role,
                "source": rel,
            })
    return rows, len(audio) / SR, max_diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input_dir", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--check-mel", action="store_true",
                    help="also run librosa.feature.melspectrogram per chunk and report "
                         "the max abs difference of the log-mels (slow)")
    ap.add_argument("--spans-from", type=Path, metavar="MANIFEST",
                    help="cut the chunks listed in this callprep manifest.jsonl (same inputs) "
                         "instead of the collector's, named by their callprep ids")
    args = ap.parse_args()

    t0 = time.perf_counter()
    files = sorted(p for p in args.input_dir.rglob("*") if p.is_file() and p.suffix.lower() == ".wav")
    if not files:
        sys.exit(f"no .wav files under {args.input_dir}")
    args.out.mkdir(parents=True, exist_ok=True)
    spans = load_spans(args.spans_from) if args.spans_from else None
    jobs = [
        (str(p), str(p.relative_to(args.input_dir)), str(args.out), args.check_mel,
         None if spans is None else spans.get(os.path.realpath(p), {}))
        for p in files
    ]
    # Longest files first so a 60-min call does not start last on an otherwise idle pool.
    jobs.sort(key=lambda j: os.path.getsize(j[0]), reverse=True)

    rows, in_seconds, max_diff = [], 0.0, 0.0
    ready = mp.Barrier(args.workers)
    with mp.Pool(args.workers, initializer=init_worker, initargs=(ready,)) as pool:
        # Every worker imported librosa and warmed up before the clock for the
        # work starts: `startup` is the fixed cost, `work` the throughput part.
        pool.map(wait_ready, range(args.workers), chunksize=1)
        t_ready = time.perf_counter()
        for r, secs, diff in pool.imap_unordered(process_file, jobs, chunksize=1):
            rows.extend(r)
            in_seconds += secs
            max_diff = max(max_diff, diff)

    rows.sort(key=lambda r: (r["source"], r["channel"], r["offset"]))
    with open(args.out / "manifest.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")

    t_end = time.perf_counter()
    wall, work = t_end - t0, t_end - t_ready
    chunk_seconds = sum(r["duration"] for r in rows)
    msg = (f"py_reference: {len(files)} files, {len(rows)} chunks, "
           f"{in_seconds:.1f} s input audio ({chunk_seconds:.1f} s in chunks), "
           f"{wall:.2f} s wall, {in_seconds / wall:.1f}x realtime, workers={args.workers}, "
           f"startup {t_ready - t0:.2f} s, work {work:.2f} s ({in_seconds / work:.1f}x realtime warm)")
    if args.check_mel:
        msg += f", mel max|diff| vs librosa.feature.melspectrogram = {max_diff:.3g}"
    print(msg)


if __name__ == "__main__":
    main()
