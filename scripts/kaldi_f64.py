#!/usr/bin/env python3
"""Kaldi's log-mel filterbank (``compute-fbank``) in float64, with numpy alone.

kaldi-native-fbank, the reference of callprep's ``kaldi`` preset, computes in
float32, so its output is only good to about 1.5e-4 in the log domain (the
golden tests see up to 1.47e-4). To pin callprep's ``kaldi`` preset more tightly,
this module recomputes the same features with every signal operation in
float64:

* frames of 200 samples every 80 (25 / 10 ms at 8 kHz), ``snip_edges=false``:
  ``(n + 40) // 80`` frames, frame ``t`` starting at ``80 t - 60``, samples
  outside the signal mirrored as Kaldi's ``ExtractWindow`` does;
* DC removal (the frame's mean), pre-emphasis 0.97 (``x[0] -= 0.97 x[0]``),
  the povey window ``(0.5 - 0.5 cos(2 pi i / 199)) ** 0.85``, zero padding to
  256, power spectrum;
* Kaldi's ``MelBanks``: 80 triangles in the mel domain (``1127 ln(1 + f/700)``)
  from 20 Hz to Nyquist - 400 Hz over bins ``0..128`` (no weight on the Nyquist
  bin). Kaldi builds these weights in single precision (``BaseFloat``, C's
  ``logf``, here glibc's) and so does this module: they are Kaldi's parameters, not part of
  the computation;
* ``ln(max(x, FLT_EPSILON))``.

The input is the waveform in [-1, 1] (``int16 / 32768``, the Lhotse/icefall
convention callprep follows). Output: float64 ``[frames, 80]``.

``scripts/make_goldens.py`` stores these features as the ``kaldi64_*`` goldens
that ``tests/golden.rs`` compares callprep's ``kaldi`` preset with. Run on its
own (from the repository root)::

    .venv-ref/bin/python scripts/kaldi_f64.py

it checks the re-implementation against kaldi-native-fbank on the golden
inputs and exits non-zero if any value differs by more than 5e-4 (float32
noise: the float64 features are not a different algorithm).
"""

import ctypes
import ctypes.util
import sys
from pathlib import Path

import numpy as np

SR = 8000
WIN = 200
HOP = 80
N_FFT = 256
N_MELS = 80
LOW_HZ = 20.0
HIGH_HZ = SR / 2 - 400.0
PREEMPH = 0.97
FLOOR = float(np.finfo(np.float32).eps)
# Largest |float64 re-implementation - kaldi-native-fbank| accepted by the self-check.
KNF_TOL = 5e-4


def mel_banks() -> np.ndarray:
    """Kaldi MelBanks weights, [80, 129], computed in float32 as Kaldi does."""
    f32 = np.float32

    # Kaldi calls C's logf. numpy's float32 log differs from glibc's by an
    # ulp on 36 of these weights, and even float64's log rounded to float32
    # on one (a near tie), so call logf itself.
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.logf.restype = ctypes.c_float
    libm.logf.argtypes = [ctypes.c_float]

    def logf(x):
        return f32(libm.logf(float(x)))

    def mel(f):
        return f32(1127.0) * logf(f32(1.0) + f32(f) / f32(700.0))

    mlo = f32(1127.0 * np.log(1.0 + LOW_HZ / 700.0))
    mhi = f32(1127.0 * np.log(1.0 + HIGH_HZ / 700.0))
    delta = (mhi - mlo) / f32(N_MELS + 1)
    bin_w = f32(SR / N_FFT)
    w = np.zeros((N_MELS, N_FFT // 2 + 1), np.float64)
    for m in range(N_MELS):
        left = mlo + f32(m) * delta
        center = mlo + f32(m + 1) * delta
        right = mlo + f32(m + 2) * delta
        for i in range(N_FFT // 2):
            x = mel(bin_w * f32(i))
            if left < x < right:
                w[m, i] = (x - left) / (center - left) if x <= center else (right - x) / (right - center)
    return w


def povey() -> np.ndarray:
    a = 2.0 * np.pi / (WIN - 1)
    return (0.5 - 0.5 * np.cos(a * np.arange(WIN))) ** 0.85


def mirror(i: int, n: int) -> int:
    while i < 0 or i >= n:
        i = -i - 1 if i < 0 else 2 * n - 1 - i
    return i


def fbank(y) -> np.ndarray:
    """Log-mel features of waveform ``y`` (values in [-1, 1]): float64 [frames, 80]."""
    y = np.asarray(y, np.float64)
    n = len(y)
    n_frames = (n + HOP // 2) // HOP
    win = povey()
    banks = mel_banks()
    out = np.empty((n_frames, N_MELS), np.float64)
    for t in range(n_frames):
        start = t * HOP + HOP // 2 - WIN // 2
        idx = [mirror(start + s, n) for s in range(WIN)]
        x = y[idx].copy()
        x -= x.mean()
        x[1:] -= PREEMPH * x[:-1].copy()
        x[0] -= PREEMPH * x[0]
        x *= win
        spec = np.fft.rfft(x, N_FFT)
        power = spec.real**2 + spec.imag**2
        out[t] = np.log(np.maximum(banks @ power, FLOOR))
    return out


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import soundfile as sf

    from make_goldens import IN, ref_kaldi

    worst = 0.0
    for name in ("short8k.wav", "silence8k.wav", "speech20s_8k.wav"):
        y, sr = sf.read(str(IN / name), dtype="float32")
        assert sr == SR, name
        ours = fbank(y)
        knf = ref_kaldi(y)
        assert ours.shape == knf.shape, (name, ours.shape, knf.shape)
        d = float(np.max(np.abs(ours - knf)))
        worst = max(worst, d)
        print(f"{name:<18} {ours.shape}  max |float64 - kaldi-native-fbank| {d:.3e}")
    if worst > KNF_TOL:
        print(f"FAIL: {worst:.3e} > {KNF_TOL:e}", file=sys.stderr)
        return 1
    print(f"ok: within {KNF_TOL:e} of kaldi-native-fbank")
    return 0


if __name__ == "__main__":
    sys.exit(main())
