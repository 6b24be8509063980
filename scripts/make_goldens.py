#!/usr/bin/env python3
"""Generate the golden files that pin callprep's features and VAD to their references.

Writes ``fixtures/golden/`` (checked by ``tests/golden.rs``, which needs no Python):

* ``in/*.wav``: mono PCM16 inputs cut from the fixture calls
    - 8 kHz:  ``short8k.wav`` (300 samples of speech, call01 ch0: the loudest window
              starting in 0.9..1.1 s),
              ``silence8k.wav`` (8000 zeros),
              ``speech20s_8k.wav`` (160000 samples of call01 ch0 from 10.0 s);
    - 16 kHz: ``short16k.wav`` (300 samples of speech, call02_16k ch0: the loudest window
              starting in 0.9..1.1 s),
              ``silence16k.wav`` (16000 zeros),
              ``speech20s_16k.wav`` (``speech20s_8k`` upsampled with
              ``scipy.signal.resample_poly(x, 2, 1)``, clipped and rounded to int16,
              320000 samples).
* ``*.npy`` + ``index.json``: reference log-mel features of those inputs, computed on
  ``soundfile.read(path, dtype="float32")`` (= int16 / 32768):
    - ``telephony`` (8 kHz inputs): librosa ``feature.melspectrogram`` (n_fft 512, win 200,
      hop 80, 80 Slaney mels 0-4000 Hz, centre/reflect) then ``log(max(x, 1e-10))``,
      native layout [80, frames];
    - ``kaldi`` (8 kHz inputs): kaldi-native-fbank ``OnlineFbank`` (25/10 ms, povey, dither 0,
      snip_edges false, 80 bins 20 Hz..Nyquist-400, log power), waveform in [-1, 1]
      (Lhotse/icefall convention), native layout [frames, 80];
    - ``kaldi64`` (8 kHz inputs, preset ``kaldi``): the same features computed in float64 by
      ``scripts/kaldi_f64.py`` (kaldi-native-fbank computes in float32), so that the test can
      hold the ``kaldi`` preset to float32 rounding rather than to the reference's noise;
    - ``whisper`` / ``whisper-128`` (16 kHz inputs): transformers ``WhisperFeatureExtractor``
      ``_np_extract_fbank_features`` on the unpadded waveform ([n_mels, n // 160]); for
      ``whisper`` also the 30 s padded ``fe(y, padding="max_length")`` version (``*_pad30``,
      [80, 3000]) of the short and the 20 s input.
  Only a subset of frames is stored to keep the repo small: every frame when there are at
  most 400, else every k-th frame (k = ceil(frames / 400)) plus the last 3. Each ``.npy``
  is float32 ``[n_selected, n_mels]`` (frame-major whatever the native layout).
  ``index.json`` lists ``{name, preset, input, pad_to_seconds, layout, shape, frames, values,
  reference}`` per golden (``shape`` is the full native shape of the reference output).
* ``vad.json``: py-webrtcvad decisions (modes 0-3 x 10/20/30 ms frames, frames back to back
  from sample 0, last partial frame ignored, one fresh ``Vad`` per run) on call01.wav
  channels 0 and 1 (8 kHz), plus mode 3 / 30 ms on call02_16k.wav channel 0 (16 kHz):
  a list of ``{input, channel, sample_rate, mode, frame_ms, decisions: "0101...", reference}``.

The output is deterministic: re-running rewrites byte-identical files. The script prints
the size of every file and fails if ``fixtures/golden`` exceeds 2.5 MB.

Usage (from the repository root):

    .venv-ref/bin/python scripts/make_goldens.py            # rewrite fixtures/golden/
    python3 scripts/make_goldens.py                         # same; creates .venv-ref first
                                                            # if it is missing

The reference venv is ``python3 -m venv .venv-ref && .venv-ref/bin/pip install -r
scripts/requirements-ref.txt`` (numpy 1.26.4, scipy 1.13.1, soundfile 0.12.1,
librosa 0.10.2.post1, webrtcvad-wheels 2.0.14, kaldi-native-fbank 1.20.0,
transformers 4.44.2). When run by another interpreter, the script re-executes itself
with ``.venv-ref/bin/python``, creating the venv first if needed.

Then check callprep against the goldens: ``cargo test --test golden -- --nocapture``.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-ref"
VENV_PY = VENV / "bin" / "python"
REQUIREMENTS = ROOT / "scripts" / "requirements-ref.txt"


def ensure_venv():
    """Re-exec under .venv-ref/bin/python (creating the venv if it is missing)."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PY.exists():
        print(f"creating {VENV} from {REQUIREMENTS} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV_PY), "-m", "pip", "install", "-r", str(REQUIREMENTS)], check=True
        )
    os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])


ensure_venv()

# Single-threaded BLAS: keeps np.dot summation order (and so the bytes) the same everywhere.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import importlib.metadata as md  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

CALLS = ROOT / "fixtures" / "calls"
GOLDEN = ROOT / "fixtures" / "golden"
IN = GOLDEN / "in"
BUDGET = 2_500_000  # bytes for all of fixtures/golden
MAX_STORED = 400  # frames stored per golden before subsampling


def ver(pkg):
    return md.version(pkg)


def rel(p: Path) -> str:
    return p.resolve().relative_to(ROOT).as_posix()


def read_channel_i16(path: Path, channel: int):
    data, sr = sf.read(str(path), dtype="int16", always_2d=True)
    return np.ascontiguousarray(data[:, channel]), sr


def write_wav(name: str, x: np.ndarray, sr: int) -> Path:
    assert x.dtype == np.int16 and x.ndim == 1
    path = IN / name
    sf.write(str(path), x, sr, subtype="PCM_16", format="WAV")
    # Round trip: the file holds exactly these samples.
    back, sr2 = sf.read(str(path), dtype="int16")
    assert sr2 == sr and np.array_equal(back, x), name
    return path


def loudest(x: np.ndarray, lo: int, hi: int, n: int) -> int:
    """Start (multiple of 10 in lo..hi) of the n-sample window of x with the most energy."""
    starts = range(lo, hi + 1, 10)
    e = [float(np.sum(x[s : s + n].astype(np.float64) ** 2)) for s in starts]
    return starts[int(np.argmax(e))]


def make_inputs():
    IN.mkdir(parents=True, exist_ok=True)
    ch0, sr = read_channel_i16(CALLS / "call01.wav", 0)
    assert sr == 8000
    c16, sr16 = read_channel_i16(CALLS / "call02_16k.wav", 0)
    assert sr16 == 16000

    # The loudest 300-sample window starting in 0.9..1.1 s (speech 0.32-3.07 s; exactly at
    # 1.0 s there is a short closure), so the short input really is voiced speech.
    s8 = loudest(ch0, 7200, 8800, 300)
    short8 = ch0[s8 : s8 + 300]
    speech8 = ch0[10 * 8000 : 10 * 8000 + 160000]  # 10.0..30.0 s, inside the monologue
    assert len(short8) == 300 and len(speech8) == 160000
    s16 = loudest(c16, 14400, 17600, 300)  # call02 ch0 speech 0.75-2.06 s
    short16 = c16[s16 : s16 + 300]
    assert len(short16) == 300

    from scipy.signal import resample_poly

    up = resample_poly(speech8.astype(np.float64) / 32768.0, 2, 1)
    speech16 = np.clip(np.round(up * 32768.0), -32768, 32767).astype(np.int16)
    assert len(speech16) == 320000

    return {
        "short8k": write_wav("short8k.wav", short8, 8000),
        "silence8k": write_wav("silence8k.wav", np.zeros(8000, np.int16), 8000),
        "speech20s_8k": write_wav("speech20s_8k.wav", speech8, 8000),
        "short16k": write_wav("short16k.wav", short16, 16000),
        "silence16k": write_wav("silence16k.wav", np.zeros(16000, np.int16), 16000),
        "speech20s_16k": write_wav("speech20s_16k.wav", speech16, 16000),
    }


def load(path: Path, sr_expected: int) -> np.ndarray:
    y, sr = sf.read(str(path), dtype="float32")
    assert sr == sr_expected and y.ndim == 1 and y.dtype == np.float32
    return y


# ---------------------------------------------------------------------------- references


def ref_telephony(y):
    import librosa

    s = librosa.feature.melspectrogram(
        y=y, sr=8000, n_fft=512, win_length=200, hop_length=80, n_mels=80,
        fmin=0, fmax=4000, pad_mode="reflect",
    )
    out = np.log(np.maximum(s, 1e-10))
    assert out.shape == (80, 1 + len(y) // 80), out.shape
    return out  # [80, frames]


def ref_kaldi(y):
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = False
    opts.frame_opts.samp_freq = 8000
    opts.frame_opts.frame_length_ms = 25
    opts.frame_opts.frame_shift_ms = 10
    opts.frame_opts.window_type = "povey"
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.round_to_power_of_two = True
    opts.mel_opts.num_bins = 80
    opts.mel_opts.low_freq = 20
    opts.mel_opts.high_freq = -400
    opts.use_energy = False
    opts.use_log_fbank = True
    opts.use_power = True
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(8000, y.tolist())
    fb.input_finished()
    n = fb.num_frames_ready
    out = np.array([fb.get_frame(i) for i in range(n)], dtype=np.float32).reshape(n, 80)
    assert out.shape == ((len(y) + 40) // 80, 80), (out.shape, len(y))
    return out  # [frames, 80]


def ref_kaldi64(y):
    import kaldi_f64

    out = kaldi_f64.fbank(y)
    assert out.shape == ((len(y) + 40) // 80, 80), (out.shape, len(y))
    return out  # [frames, 80], float64 (stored as float32)


_FE = {}


def whisper_fe(n_mels):
    if n_mels not in _FE:
        from transformers import WhisperFeatureExtractor

        _FE[n_mels] = WhisperFeatureExtractor(feature_size=n_mels)
    return _FE[n_mels]


def ref_whisper(y, n_mels):
    fe = whisper_fe(n_mels)
    out = fe._np_extract_fbank_features(y[None, :], "cpu")[0]
    assert out.shape == (n_mels, len(y) // 160), out.shape
    return out  # [n_mels, frames]


def ref_whisper_pad30(y):
    fe = whisper_fe(80)
    out = fe(y, sampling_rate=16000, padding="max_length", return_tensors="np").input_features[0]
    assert out.shape == (80, 3000), out.shape
    return out


# ---------------------------------------------------------------------------- goldens


def select_frames(n):
    if n <= MAX_STORED:
        return list(range(n))
    k = math.ceil(n / MAX_STORED)
    return sorted(set(range(0, n, k)) | set(range(max(0, n - 3), n)))


def make_features(inputs):
    v_np = f"numpy {ver('numpy')}"
    ref_lib = {
        "telephony": f"librosa {ver('librosa')} feature.melspectrogram + np.log(max(x, 1e-10)) ({v_np})",
        "kaldi": f"kaldi-native-fbank {ver('kaldi-native-fbank')} OnlineFbank",
        "kaldi64": f"Kaldi fbank in float64, scripts/kaldi_f64.py ({v_np})",
        "whisper": f"transformers {ver('transformers')} WhisperFeatureExtractor ({v_np})",
    }
    jobs = []  # (name, preset, input key, pad, layout, fn)
    for key in ("short8k", "silence8k", "speech20s_8k"):
        jobs.append((f"telephony_{key}", "telephony", key, None, "mels-first", ref_telephony))
        jobs.append((f"kaldi_{key}", "kaldi", key, None, "frames-first", ref_kaldi))
    for key in ("short8k", "silence8k", "speech20s_8k"):
        jobs.append((f"kaldi64_{key}", "kaldi", key, None, "frames-first", ref_kaldi64))
    for key in ("short16k", "silence16k", "speech20s_16k"):
        jobs.append((f"whisper_{key}", "whisper", key, None, "mels-first",
                     lambda y: ref_whisper(y, 80)))
        jobs.append((f"whisper-128_{key}", "whisper-128", key, None, "mels-first",
                     lambda y: ref_whisper(y, 128)))
    for key in ("short16k", "speech20s_16k"):
        jobs.append((f"whisper_{key}_pad30", "whisper", key, 30, "mels-first", ref_whisper_pad30))

    index = []
    for name, preset, key, pad, layout, fn in jobs:
        path = inputs[key]
        sr = 16000 if preset.startswith("whisper") else 8000
        y = load(path, sr)
        ref = np.asarray(fn(y))
        shape = list(ref.shape)
        frame_major = ref.T if layout == "mels-first" else ref
        frames = select_frames(frame_major.shape[0])
        vals = np.ascontiguousarray(frame_major[frames].astype(np.float32))
        assert np.all(np.isfinite(vals)), name
        npy = GOLDEN / f"{name}.npy"
        np.save(str(npy), vals)
        index.append({
            "name": name,
            "preset": preset,
            "input": rel(path),
            "pad_to_seconds": pad,
            "layout": layout,
            "shape": shape,
            "frames": frames,
            "values": rel(npy),
            "reference": ref_lib[
                "whisper" if preset.startswith("whisper")
                else "kaldi64" if name.startswith("kaldi64_") else preset
            ],
        })
    return index


def make_vad():
    import webrtcvad

    runs = []
    for ch in (0, 1):
        for mode in range(4):
            for ms in (10, 20, 30):
                runs.append(("call01.wav", ch, mode, ms))
    runs.append(("call02_16k.wav", 0, 3, 30))
    out = []
    for fname, ch, mode, ms in runs:
        x, sr = read_channel_i16(CALLS / fname, ch)
        flen = sr * ms // 1000
        vad = webrtcvad.Vad(mode)
        pcm = x.astype("<i2")
        dec = []
        for i in range(len(pcm) // flen):
            frame = pcm[i * flen : (i + 1) * flen].tobytes()
            dec.append("1" if vad.is_speech(frame, sr) else "0")
        out.append({
            "input": rel(CALLS / fname),
            "channel": ch,
            "sample_rate": sr,
            "mode": mode,
            "frame_ms": ms,
            "decisions": "".join(dec),
            "reference": f"webrtcvad-wheels {ver('webrtcvad-wheels')}",
        })
    return out


def json_lines(items):
    """A JSON list with one compact object per line (diff-friendly, small)."""
    return "[\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in items) + "\n]\n"


def main():
    logging.getLogger("transformers").setLevel(logging.ERROR)
    # librosa warns that n_fft 512 exceeds the 300-sample input; that input is intended.
    warnings.filterwarnings("ignore", message="n_fft=.* is too large for input signal")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    inputs = make_inputs()
    index = make_features(inputs)
    (GOLDEN / "index.json").write_text(json_lines(index))
    vad = make_vad()
    (GOLDEN / "vad.json").write_text(json_lines(vad))

    total = 0
    for p in sorted(GOLDEN.rglob("*")):
        if p.is_file():
            size = p.stat().st_size
            total += size
            print(f"{size:>10,}  {rel(p)}")
    print(f"{total:>10,}  total ({len(index)} feature goldens, {len(vad)} VAD runs)")
    if total > BUDGET:
        sys.exit(f"fixtures/golden is {total} bytes, over the {BUDGET}-byte budget")


if __name__ == "__main__":
    main()
