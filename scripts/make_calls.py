#!/usr/bin/env python3
"""Synthesize realistic call-center recordings (with ground truth) for callprep.

The recordings imitate a Kazakhstani bank contact centre: the agent speaks
Russian, the customer answers in Kazakh.  Speech comes from espeak-ng (voices
``ru`` and ``kk``); every utterance is rendered at espeak's native rate,
resampled to 8 kHz, limited to the telephone band (300-3400 Hz), trimmed to its
audible extent and placed on a call timeline with a random level.  Each channel
carries continuous telephone-band noise (pink, -50..-45 dBFS RMS) plus a faint
mains hum, so the gaps between utterances are never digital silence.

Stereo layout: channel 0 = agent, channel 1 = customer.  Turns alternate (the
other channel holds only noise), with occasional short backchannels ("иә",
"угу") that overlap the other party.

Every WAV gets a truth file ``<name>.json`` next to it::

    {"sample_rate": 8000, "duration_s": 34.5125,
     "channels": [
       {"index": 0, "role": "agent",    "lang": "ru", "speech": [[0.5312, 3.1025], ...]},
       {"index": 1, "role": "customer", "lang": "kk", "speech": [[3.9012, 5.0150], ...]}]}

``speech`` lists the true speech intervals in seconds (4 decimals, sorted,
overlaps merged): the extent of each placed utterance after espeak's leading
and trailing silence has been trimmed.

Usage (from the repository root)::

    .venv-ref/bin/python scripts/make_calls.py                  # same as "fixtures"
    .venv-ref/bin/python scripts/make_calls.py fixtures [--out fixtures/calls]
    .venv-ref/bin/python scripts/make_calls.py bench --out DIR [--hours 3.0] [--seed 1]
    .venv-ref/bin/python scripts/make_calls.py check FILE.wav [FILE.wav ...]

``fixtures`` regenerates the small committed test files in fixtures/calls/
(call01, call02 + its u-law and 16 kHz copies, mono01; see fixtures/README.md).
``bench`` writes DIR/call_NNN.wav + .json, at least ``--hours`` of stereo
8 kHz PCM16: always two 60-minute calls (call_000, call_001), then calls of
3-10 minutes until the total is reached.  It synthesizes a pool of ~60
utterances per language once (cached in DIR/.pool) and assembles the calls
block by block with numpy, so memory stays flat (~130 MB; 3 h in ~15 s on
2 cores).  ``check`` compares the RMS inside the truth intervals with the RMS
of the gaps and fails if any interval is not clearly louder.

Truth intervals cover whole sentences, so espeak's short pauses at commas
(~0.1-0.3 s) lie inside an interval.

Output is deterministic: all randomness comes from fixed seeds and espeak-ng
itself is deterministic, so re-running produces byte-identical files.

Requires numpy, scipy and soundfile (see scripts/requirements-ref.txt), plus
the espeak-ng and sox command line tools.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt, sosfiltfilt, tf2sos

# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

SR = 8000                          # telephone sample rate of every call
AGENT, CUSTOMER = 0, 1             # stereo channel indices
CHANNEL_INFO = {
    AGENT: {"role": "agent", "lang": "ru"},
    CUSTOMER: {"role": "customer", "lang": "kk"},
}
VOICE_PITCH = {"ru": (50, 70), "kk": (30, 50)}   # espeak -p range per voice
VOICE_SPEED = (140, 180)                          # espeak -s range (words/min)

TELEPHONE_BAND_HZ = (300.0, 3400.0)
TRIM_WINDOW_S = 0.010              # window of the moving RMS used for trimming
TRIM_REL_DB = -40.0                # audible = within 40 dB of the loudest window
FADE_S = 0.002                     # fade at the trimmed edges (inside the interval)

# Per-utterance RMS level.  espeak's crest factor is 17-21 dB, so louder
# targets would just run into the peak limit below.
SPEECH_DBFS = (-28.0, -18.0)
BACKCHANNEL_DBFS = (-32.0, -24.0)  # quieter overlapping "угу" / "иә"
PEAK_LIMIT = 10 ** (-1.0 / 20)     # utterance peaks never exceed -1 dBFS
NOISE_DBFS = (-50.0, -45.0)        # continuous line noise per channel (RMS)
HUM_DBFS = (-64.0, -58.0)          # faint 50 Hz mains hum per channel

LEAD_IN_S = (0.3, 0.8)             # noise before the first word
TAIL_S = (0.5, 1.0)                # noise after the last word
WITHIN_TURN_PAUSE_S = (0.25, 0.9)
TURN_GAP_S = (0.4, 2.5)
MONOLOGUE_PAUSE_S = (0.25, 0.45)

FIXTURE_SEED = 20240501
FIXTURE_BUDGET_BYTES = 2_800_000   # everything in fixtures/calls must fit
BLOCK_S = 30                       # write calls in blocks of this many seconds
POOL_VERSION = "2"                 # bump to invalidate DIR/.pool caches

REPO_ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------
# Texts.  Agent: Russian; customer: Kazakh.
# ---------------------------------------------------------------------------

RU = {
    "greeting": [
        "Здравствуйте, вы позвонили в контакт-центр банка, меня зовут Алия.",
        "Добрый день, банк слушает, чем могу помочь?",
        "Здравствуйте, оператор Данияр, слушаю вас.",
    ],
    "body": [
        "Назовите, пожалуйста, ваше полное имя.",
        "Продиктуйте последние четыре цифры карты.",
        "Назовите, пожалуйста, вашу дату рождения.",
        "Спасибо, ваша личность подтверждена.",
        "Я вижу вашу карту в системе.",
        "Сейчас я заблокирую вашу карту.",
        "Карта заблокирована, все операции по ней остановлены.",
        "Новая карта будет готова через пять рабочих дней.",
        "Перевод будет зачислен в течение одной минуты.",
        "Комиссия за перевод составит один процент.",
        "Проверьте, пожалуйста, приложение, вам пришло уведомление.",
        "Код подтверждения отправлен на ваш номер телефона.",
        "Никому не сообщайте код из сообщения.",
        "Вы можете получить карту в любом отделении банка.",
        "Лимит на снятие наличных составляет пятьсот тысяч тенге в сутки.",
        "Платёж по кредиту нужно внести до двадцать пятого числа.",
        "Я оформила заявку на возврат средств.",
        "Рассмотрение заявки занимает до десяти рабочих дней.",
        "Уточните, пожалуйста, сумму и дату операции.",
        "Эта операция была совершена в интернет-магазине.",
        "Я переведу вас на специалиста по кредитам.",
        "Вы можете сменить пин-код в банкомате или в приложении.",
        "Проверьте, пожалуйста, реквизиты получателя.",
        "Перевод на карту другого банка может занять до трёх дней.",
        "Для разблокировки нужно подтвердить последнюю операцию.",
    ],
    "body_numbers": [
        "Ваш баланс составляет {amount} тенге.",
        "Перевод на сумму {amount} тенге выполнен успешно.",
        "Последняя операция по карте на сумму {amount} тенге.",
        "Номер вашего обращения {digits}.",
        "Ваш номер телефона заканчивается на {digits}?",
    ],
    "hold": ["Подождите, пожалуйста, на линии, я уточню информацию."],
    "resume": ["Спасибо за ожидание."],
    "closing": [
        "Могу ли я ещё чем-нибудь помочь?",
        "Спасибо за обращение, всего доброго.",
        "До свидания, хорошего дня.",
    ],
    "short": ["Да.", "Хорошо.", "Понятно.", "Конечно.", "Да, верно.", "Секунду."],
    "backchannel": ["Угу.", "Ага.", "Да."],
    "terms": [
        "Обращаю ваше внимание, что разговор записывается в целях контроля качества.",
        "Согласно условиям договора, перевыпуск карты по причине утери осуществляется за счёт клиента.",
        "Стоимость перевыпуска составляет одну тысячу пятьсот тенге.",
        "Сумма будет списана с вашего счёта автоматически.",
        "Новая карта будет доставлена в выбранное вами отделение в течение пяти рабочих дней.",
        "Получить карту можно только при предъявлении удостоверения личности.",
        "Все операции по старой карте будут недоступны с момента блокировки.",
        "Автоматические платежи, привязанные к старой карте, нужно будет настроить заново.",
        "Если вы заметите подозрительные операции, сразу сообщите нам по номеру 7111.",
        "Вы согласны с этими условиями?",
    ],
}

KK = {
    "greeting": [
        "Сәлеметсіз бе.",
        "Сәлеметсіз бе, маған көмек керек.",
        "Қайырлы күн.",
    ],
    "body": [
        "Менің картам бұғатталып қалды.",
        "Картамды жоғалтып алдым, бұғаттау керек.",
        "Шотымдағы қалдықты білгім келеді.",
        "Анама ақша аудару керек.",
        "Аударым әлі түспеді.",
        "Аударым қанша уақытта түседі?",
        "Комиссия қанша болады?",
        "Жаңа карта қашан дайын болады?",
        "Картаны қай бөлімшеден алуға болады?",
        "Мобильді қосымшаға кіре алмай жүрмін.",
        "Маған смс код келмеді.",
        "Кеше дүкенде төлем өтпей қалды.",
        "Картамнан белгісіз біреу ақша шешіп алды.",
        "Мен ешнәрсе сатып алған жоқпын.",
        "Кредит бойынша төлемді қашан жасау керек?",
        "Пин кодты ұмытып қалдым.",
        "Менің атым Айгүл Сейітова.",
        "Менің атым Ерлан Жұмабаев.",
        "Кешіріңіз, қайталап жібересіз бе?",
        "Бір минут, қазір қараймын.",
        "Жарайды, күте тұрамын.",
        "Басқа сұрағым жоқ.",
        "Ақшаны қайтаруға бола ма?",
        "Телефон нөмірімді өзгерткім келеді.",
    ],
    "body_numbers": [
        "Картаның соңғы төрт саны {digits}.",
        "Маған {amount} теңге аудару керек.",
        "Картамнан {amount} теңге шешіліп кетті.",
        "Туған жылым {year}.",
        "Телефон нөмірім 8 7{d2} {d3} {d2b} {d2c}.",
    ],
    "short": ["Иә.", "Жоқ.", "Иә, дұрыс.", "Жақсы.", "Рақмет.", "Түсіндім.",
              "Иә, келісемін.", "Жарайды."],
    "backchannel": ["Иә."],
    "closing": ["Рақмет, сау болыңыз.", "Көп рақмет, көмектестіңіз."],
}

TEXTS = {"ru": RU, "kk": KK}


def fill_numbers(template: str, rng: np.random.Generator) -> str:
    """Fill a template with random amounts, card digits, years or phone parts."""
    digits = " ".join(str(d) for d in rng.integers(0, 10, size=4))
    return template.format(
        amount=int(rng.integers(5, 500)) * 100,
        digits=digits,
        year=int(rng.integers(1960, 2005)),
        d2=f"{int(rng.integers(0, 100)):02d}",
        d3=f"{int(rng.integers(100, 1000))}",
        d2b=f"{int(rng.integers(10, 100))}",
        d2c=f"{int(rng.integers(10, 100))}",
    )


# ---------------------------------------------------------------------------
# Signal helpers
# ---------------------------------------------------------------------------

TELEPHONE_SOS = butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=SR, output="sos")
# Paul Kellet's "economy" pink-noise filter (-3 dB/octave), as second-order sections.
PINK_SOS = tf2sos([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                  [1.0, -2.494956002, 2.017265875, -0.522189400])
NOISE_SOS = np.vstack([PINK_SOS, TELEPHONE_SOS])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def db_to_amp(db: float) -> float:
    return 10.0 ** (db / 20.0)


def audible_extent(x: np.ndarray) -> tuple[int, int]:
    """Return [start, end) of the audible part of a clean utterance.

    A 10 ms moving RMS is compared with the loudest window minus 40 dB; the
    extent is refined to the first / last sample whose magnitude reaches that
    threshold, so it starts at the first audible sample and ends after the last.
    """
    win = max(1, int(round(TRIM_WINDOW_S * SR)))
    energy = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    win_rms = np.sqrt((energy[win:] - energy[:-win]) / win)
    threshold = win_rms.max() * db_to_amp(TRIM_REL_DB)
    active = np.flatnonzero(win_rms > threshold)
    first, last = int(active[0]), int(active[-1]) + win
    loud = np.flatnonzero(np.abs(x[first:last]) >= threshold)
    return first + int(loud[0]), first + int(loud[-1]) + 1


def espeak(text: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """Render text with espeak-ng at its native sample rate."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "utt.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                        "-w", wav, text], check=True, capture_output=True)
        audio, rate = sf.read(wav, dtype="float64")
    return audio, rate


def voice_params(rng: np.random.Generator, lang: str) -> tuple[int, int]:
    """Random espeak speed (-s) and pitch (-p) for one utterance."""
    speed = int(rng.integers(VOICE_SPEED[0], VOICE_SPEED[1] + 1))
    pitch = int(rng.integers(VOICE_PITCH[lang][0], VOICE_PITCH[lang][1] + 1))
    return speed, pitch


def render_utterance(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak -> 8 kHz -> telephone band -> trimmed, peak-normalised float32 clip."""
    audio, rate = espeak(text, voice, speed, pitch)
    g = math.gcd(SR, rate)
    audio = resample_poly(audio, SR // g, rate // g)
    audio = sosfiltfilt(TELEPHONE_SOS, audio)
    start, end = audible_extent(audio)
    clip = audio[start:end] / np.max(np.abs(audio[start:end]))
    # 2 ms raised-cosine fades so the cut points do not click.
    n = min(int(FADE_S * SR), len(clip) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    clip[:n] *= ramp
    clip[len(clip) - n:] *= ramp[::-1]
    return clip.astype(np.float32)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


class LineNoise:
    """Continuous telephone-band pink noise plus faint hum, generated in blocks.

    The filter state is carried from block to block, so the noise is seamless
    however the call is chunked.
    """

    _unit_rms: float | None = None

    def __init__(self, rng: np.random.Generator, n_channels: int):
        self.rng = rng
        self.n_channels = n_channels
        unit = self.unit_rms()
        self.scale = np.array([db_to_amp(rng.uniform(*NOISE_DBFS)) / unit
                               for _ in range(n_channels)])[:, None]
        self.hum_amp = np.array([db_to_amp(rng.uniform(*HUM_DBFS)) * math.sqrt(2)
                                 for _ in range(n_channels)])[:, None]
        self.hum_phase = rng.uniform(0, 2 * math.pi, size=(n_channels, 1))
        self.zi = np.zeros((NOISE_SOS.shape[0], n_channels, 2))
        self.pos = 0
        self._filtered(SR // 2)  # warm up the filter so there is no onset transient

    @classmethod
    def unit_rms(cls) -> float:
        """RMS of unit-variance white noise after NOISE_SOS (measured once)."""
        if cls._unit_rms is None:
            probe = sosfilt(NOISE_SOS, np.random.default_rng(0).standard_normal(SR * 30))
            cls._unit_rms = rms(probe[SR:])
        return cls._unit_rms

    def _filtered(self, n: int) -> np.ndarray:
        white = self.rng.standard_normal((self.n_channels, n))
        out, self.zi = sosfilt(NOISE_SOS, white, axis=-1, zi=self.zi)
        return out

    def block(self, n: int) -> np.ndarray:
        """Next n samples of noise, shape (channels, n)."""
        t = (self.pos + np.arange(n)) / SR
        self.pos += n
        phase = 2 * math.pi * 50.0 * t[None, :] + self.hum_phase
        hum = self.hum_amp * (np.sin(phase) + 0.5 * np.sin(3 * phase))
        return self._filtered(n) * self.scale + hum


# ---------------------------------------------------------------------------
# Call layout
# ---------------------------------------------------------------------------

@dataclass
class Placement:
    channel: int
    start: int            # first sample on the call timeline
    clip: np.ndarray      # trimmed, peak-normalised utterance
    gain: float

    @property
    def end(self) -> int:
        return self.start + len(self.clip)


class CallBuilder:
    """Lays utterances out on a timeline: turns, pauses, overlapping backchannels."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.placements: list[Placement] = []
        self.cursor = self._samples(LEAD_IN_S)   # next free sample
        self.last_channel: int | None = None

    def _samples(self, range_s: tuple[float, float]) -> int:
        return int(round(self.rng.uniform(*range_s) * SR))

    @property
    def cursor_s(self) -> float:
        return self.cursor / SR

    def _gain(self, clip: np.ndarray, level_dbfs: tuple[float, float]) -> float:
        gain = db_to_amp(self.rng.uniform(*level_dbfs)) / rms(clip)
        return min(gain, PEAK_LIMIT)  # clips are peak-normalised to 1.0

    def pause(self, range_s: tuple[float, float]) -> None:
        self.cursor += self._samples(range_s)

    def turn(self, channel: int, clips: list[np.ndarray],
             within: tuple[float, float] = WITHIN_TURN_PAUSE_S,
             gap: tuple[float, float] = TURN_GAP_S) -> list[Placement]:
        """One speaker's turn: clips separated by `within` pauses, preceded by a
        `gap` if the other party spoke last."""
        placed = []
        for i, clip in enumerate(clips):
            if i > 0 or self.last_channel == channel:
                self.pause(within)
            elif self.last_channel is not None:
                self.pause(gap)
            placement = Placement(channel, self.cursor, clip, self._gain(clip, SPEECH_DBFS))
            self.placements.append(placement)
            self.cursor = placement.end
            self.last_channel = channel
            placed.append(placement)
        return placed

    def backchannel(self, channel: int, clip: np.ndarray, over: Placement) -> None:
        """Put a short reaction on `channel` while `over` (other channel) speaks."""
        room = max(0, len(over.clip) - len(clip))
        start = over.start + int(self.rng.uniform(0.3, 0.9) * room)
        self.placements.append(Placement(channel, start, clip,
                                         self._gain(clip, BACKCHANNEL_DBFS)))

    def length(self) -> int:
        """Call length: last word plus a short tail of line noise."""
        return max(p.end for p in self.placements) + self._samples(TAIL_S)


def write_call(path: Path, placements: list[Placement], n_samples: int,
               n_channels: int, noise: LineNoise) -> None:
    """Mix noise + placed utterances and write PCM16 WAV, BLOCK_S at a time."""
    placements = sorted(placements, key=lambda p: p.start)
    starts = np.array([p.start for p in placements])
    longest = max(len(p.clip) for p in placements)
    block = BLOCK_S * SR
    with sf.SoundFile(path, "w", samplerate=SR, channels=n_channels,
                      subtype="PCM_16", format="WAV") as out:
        for b0 in range(0, n_samples, block):
            b1 = min(n_samples, b0 + block)
            buf = noise.block(b1 - b0)
            lo, hi = np.searchsorted(starts, [b0 - longest, b1])
            for p in placements[lo:hi]:
                s, e = max(p.start, b0), min(p.end, b1)
                if s < e:
                    buf[p.channel, s - b0:e - b0] += p.gain * p.clip[s - p.start:e - p.start]
            out.write(to_pcm16(buf.T))


def speech_intervals(placements: list[Placement], channel: int) -> list[list[float]]:
    spans = sorted((round(p.start / SR, 4), round(p.end / SR, 4))
                   for p in placements if p.channel == channel)
    merged: list[list[float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def truth(placements: list[Placement], n_samples: int, channels: list[dict]) -> dict:
    """Truth document; `channels` = [{"index", "role", "lang"}, ...]."""
    return {
        "sample_rate": SR,
        "duration_s": round(n_samples / SR, 4),
        "channels": [dict(ch, speech=speech_intervals(placements, ch["index"]))
                     for ch in channels],
    }


def write_truth(path: Path, doc: dict) -> None:
    """Write the truth JSON, one channel per line (compact but diffable)."""
    head = {k: v for k, v in doc.items() if k != "channels"}
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    lines.append('  "channels": [')
    chans = [f"    {json.dumps(ch, ensure_ascii=False)}" for ch in doc["channels"]]
    lines.append(",\n".join(chans))
    lines += ["  ]", "}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def stereo_channels() -> list[dict]:
    return [dict(index=i, **CHANNEL_INFO[i]) for i in (AGENT, CUSTOMER)]


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

class Synth:
    """Renders scripted lines with per-utterance random speed and pitch."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, lang: str, text: str) -> np.ndarray:
        return render_utterance(text, lang, *voice_params(self.rng, lang))


def fixture_call01(b: CallBuilder, say: Synth) -> None:
    """~35 s: lost card; contains an agent monologue (terms) longer than 20 s."""
    b.turn(AGENT, [say("ru", "Здравствуйте, банк слушает, меня зовут Алия.")], gap=(0.6, 0.6))
    b.turn(CUSTOMER, [say("kk", "Сәлеметсіз бе."),
                      say("kk", "Картамды жоғалтып алдым, бұғаттау керек.")], gap=(0.7, 0.7))
    monologue = b.turn(AGENT, [say("ru", t) for t in [
        "Хорошо, карта уже заблокирована.",
        "Обращаю ваше внимание, что разговор записывается.",
        "Перевыпуск карты по причине утери осуществляется за счёт клиента.",
        "Стоимость перевыпуска составляет одну тысячу пятьсот тенге.",
        "Новая карта будет готова через пять рабочих дней.",
        "Получить её можно в любом отделении при предъявлении удостоверения.",
        "Вы согласны с этими условиями?",
    ]], within=MONOLOGUE_PAUSE_S, gap=(0.8, 0.8))
    b.backchannel(CUSTOMER, say("kk", "Иә."), over=monologue[3])
    b.turn(CUSTOMER, [say("kk", "Иә.")], gap=(0.6, 0.6))
    b.turn(AGENT, [say("ru", "Спасибо, всего доброго.")], gap=(0.5, 0.5))
    b.turn(CUSTOMER, [say("kk", "Рақмет.")], gap=(0.4, 0.4))


def fixture_call02(b: CallBuilder, say: Synth) -> None:
    """~13 s: balance enquiry with card digits and an amount."""
    b.turn(AGENT, [say("ru", "Банк, добрый день.")], gap=(0.5, 0.5))
    b.turn(CUSTOMER, [say("kk", "Шотымдағы қалдықты білгім келеді.")], gap=(0.5, 0.5))
    b.turn(AGENT, [say("ru", "Назовите последние цифры карты.")], gap=(0.45, 0.45))
    b.turn(CUSTOMER, [say("kk", "4 5 1 2.")], gap=(0.5, 0.5))
    b.turn(AGENT, [say("ru", "Ваш баланс 42 тысячи тенге.")], gap=(0.5, 0.5))
    b.turn(CUSTOMER, [say("kk", "Рақмет.")], gap=(0.45, 0.45))


def fixture_mono01(b: CallBuilder, say: Synth) -> None:
    """~8 s: one speaker (agent, Russian), mono."""
    b.turn(AGENT, [say("ru", t) for t in [
        "Здравствуйте, вы позвонили в банк.",
        "Все операторы сейчас заняты.",
        "Оставайтесь на линии.",
    ]])


def make_fixture(out_dir: Path, name: str, script, seed_index: int,
                 channels: list[dict]) -> Path:
    rng = np.random.default_rng([FIXTURE_SEED, seed_index])
    builder = CallBuilder(rng)
    script(builder, Synth(rng))
    n = builder.length()
    wav = out_dir / f"{name}.wav"
    write_call(wav, builder.placements, n, len(channels), LineNoise(rng, len(channels)))
    write_truth(wav.with_suffix(".json"), truth(builder.placements, n, channels))
    print(f"  {wav.name}: {n / SR:.2f} s, {len(channels)} ch")
    return wav


def sox(*args: str) -> None:
    # -R: repeatable; -D: no dither, so the copies are plain conversions.
    subprocess.run(["sox", "-R", "-D", *args], check=True)


def derived_copy(src: Path, dst: Path, sox_effects: list[str], sox_out: list[str],
                 sample_rate: int) -> None:
    sox(str(src), *sox_out, str(dst), *sox_effects)
    doc = json.loads(src.with_suffix(".json").read_text(encoding="utf-8"))
    doc["sample_rate"] = sample_rate
    write_truth(dst.with_suffix(".json"), doc)
    print(f"  {dst.name}: copy of {src.name} ({' '.join(sox_out + sox_effects)})")


def cmd_fixtures(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"writing fixtures to {out_dir}")
    make_fixture(out_dir, "call01", fixture_call01, 1, stereo_channels())
    call02 = make_fixture(out_dir, "call02", fixture_call02, 2, stereo_channels())
    derived_copy(call02, out_dir / "call02_ulaw.wav", [], ["-e", "u-law"], SR)
    derived_copy(call02, out_dir / "call02_16k.wav", ["rate", "-v", "16000"], [], 16000)
    make_fixture(out_dir, "mono01", fixture_mono01, 3, [dict(index=0, **CHANNEL_INFO[AGENT])])

    total = sum(f.stat().st_size for f in out_dir.iterdir() if f.is_file())
    print(f"total {total} bytes in {out_dir}")
    if total >= FIXTURE_BUDGET_BYTES:
        sys.exit(f"fixtures exceed the {FIXTURE_BUDGET_BYTES} byte budget")


# ---------------------------------------------------------------------------
# Benchmark corpus
# ---------------------------------------------------------------------------

# lang -> category -> how many sentences with random numbers to add from
# the "<category>_numbers" templates.
POOL_CATEGORIES = {
    "ru": {"greeting": 0, "body": 8, "hold": 0, "resume": 0, "closing": 0,
           "short": 0, "backchannel": 0, "terms": 0},
    "kk": {"greeting": 0, "body": 20, "short": 0, "backchannel": 0, "closing": 0},
}


class Pool:
    """~60 rendered utterances per language, cached as .npy files."""

    def __init__(self, cache_dir: Path, rng: np.random.Generator):
        cache_dir.mkdir(parents=True, exist_ok=True)
        jobs = []  # (lang, category, text, speed, pitch)
        for lang, categories in POOL_CATEGORIES.items():
            for category, n_templated in categories.items():
                texts = list(TEXTS[lang][category])
                templates = TEXTS[lang].get(f"{category}_numbers", [])
                texts += [fill_numbers(templates[i % len(templates)], rng)
                          for i in range(n_templated)]
                for text in texts:
                    jobs.append((lang, category, text, *voice_params(rng, lang)))

        def load(job):
            lang, _, text, speed, pitch = job
            key = hashlib.sha1(f"{POOL_VERSION}|{lang}|{speed}|{pitch}|{text}".encode()).hexdigest()
            path = cache_dir / f"{key[:16]}.npy"
            if not path.exists():
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, render_utterance(text, lang, speed, pitch))
                tmp.replace(path)
            return np.load(path)

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
            clips = list(ex.map(load, jobs))
        self.clips: dict[tuple[str, str], list[np.ndarray]] = {}
        for (lang, category, *_), clip in zip(jobs, clips):
            self.clips.setdefault((lang, category), []).append(clip)
        self.sizes = {lang: sum(len(v) for (l, _), v in self.clips.items() if l == lang)
                      for lang in POOL_CATEGORIES}

    def pick(self, rng: np.random.Generator, lang: str, category: str, k: int = 1):
        items = self.clips[(lang, category)]
        idx = rng.choice(len(items), size=min(k, len(items)), replace=False)
        return [items[i] for i in idx]


def bench_script(b: CallBuilder, pool: Pool, duration_s: float) -> None:
    """Random but plausible call: greeting, exchanges, holds, monologues, closing."""
    rng = b.rng
    b.turn(AGENT, pool.pick(rng, "ru", "greeting"))
    b.turn(CUSTOMER, pool.pick(rng, "kk", "greeting") + pool.pick(rng, "kk", "body"))

    def exchange():
        opener = pool.pick(rng, "ru", "short") if rng.random() < 0.25 else []
        b.turn(AGENT, opener + pool.pick(rng, "ru", "body", int(rng.integers(1, 4))))
        if rng.random() < 0.35:
            b.turn(CUSTOMER, pool.pick(rng, "kk", "short"))
        else:
            placed = b.turn(CUSTOMER, pool.pick(rng, "kk", "body", int(rng.integers(1, 4))))
            if rng.random() < 0.2:
                b.backchannel(AGENT, pool.pick(rng, "ru", "backchannel")[0], placed[-1])

    while b.cursor_s < duration_s - 60:
        r = rng.random()
        if r < 0.06:      # agent puts the customer on hold: noise only on both channels
            b.turn(AGENT, pool.pick(rng, "ru", "hold"))
            b.pause((5.0, 30.0))
            b.turn(AGENT, pool.pick(rng, "ru", "resume"))
        elif r < 0.14:    # agent reads terms and conditions with short pauses
            placed = b.turn(AGENT, pool.pick(rng, "ru", "terms", int(rng.integers(5, 10))),
                            within=MONOLOGUE_PAUSE_S)
            for p in rng.choice(len(placed), size=int(rng.integers(0, 3)), replace=False):
                b.backchannel(CUSTOMER, pool.pick(rng, "kk", "backchannel")[0], placed[p])
            b.turn(CUSTOMER, pool.pick(rng, "kk", "short"))
        else:
            exchange()
    while b.cursor_s < duration_s - 30:
        exchange()
    b.turn(AGENT, pool.pick(rng, "ru", "closing"))
    b.turn(CUSTOMER, pool.pick(rng, "kk", "closing"))


def bench_durations(hours: float, rng: np.random.Generator) -> list[float]:
    """Two 60-minute calls, then 3-10 minute calls until `hours` is reached."""
    durations = [3600.0, 3600.0]
    while sum(durations) < hours * 3600:
        durations.append(round(float(rng.uniform(180, 600)), 3))
    return durations


def cmd_bench(out_dir: Path, hours: float, seed: int) -> None:
    t0 = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    pool = Pool(out_dir / ".pool", np.random.default_rng([seed, 0xF00]))
    print(f"pool ready: {pool.sizes} utterances ({time.monotonic() - t0:.1f} s)")
    durations = bench_durations(hours, np.random.default_rng([seed, 0xD0]))
    total = 0
    for i, duration in enumerate(durations):
        rng = np.random.default_rng([seed, i + 1])
        builder = CallBuilder(rng)
        bench_script(builder, pool, duration)
        n = max(int(round(duration * SR)), builder.length())
        wav = out_dir / f"call_{i:03d}.wav"
        write_call(wav, builder.placements, n, 2, LineNoise(rng, 2))
        write_truth(wav.with_suffix(".json"), truth(builder.placements, n, stereo_channels()))
        total += n
        print(f"  {wav.name}: {n / SR / 60:6.2f} min, {len(builder.placements)} utterances "
              f"({time.monotonic() - t0:.1f} s)")
    print(f"{len(durations)} calls, {total / SR / 3600:.3f} h in {out_dir} "
          f"({time.monotonic() - t0:.1f} s)")


# ---------------------------------------------------------------------------
# Check
# ---------------------------------------------------------------------------

def cmd_check(paths: list[Path]) -> None:
    """Per channel: RMS inside truth intervals vs. in the gaps (dBFS)."""
    ok = True
    for path in paths:
        doc = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        audio, rate = sf.read(path, dtype="float64", always_2d=True)
        assert rate == doc["sample_rate"], f"{path}: rate {rate} != {doc['sample_rate']}"
        for ch in doc["channels"]:
            x = audio[:, ch["index"]]
            mask = np.zeros(len(x), dtype=bool)
            seg_db = []
            for start, end in ch["speech"]:
                s, e = int(round(start * rate)), int(round(end * rate))
                mask[s:e] = True
                seg_db.append(20 * np.log10(rms(x[s:e]) + 1e-12))
            gap_db = 20 * np.log10(rms(x[~mask]) + 1e-12)
            margin = min(seg_db) - gap_db
            ok &= margin > 6.0
            print(f"{path.name} ch{ch['index']} {ch['role']:8s} {len(seg_db):4d} segs  "
                  f"speech {np.median(seg_db):6.1f} dBFS (min {min(seg_db):6.1f})  "
                  f"gaps {gap_db:6.1f} dBFS  min margin {margin:5.1f} dB")
    if not ok:
        sys.exit("some speech interval is not clearly louder than the gaps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    fx = sub.add_parser("fixtures", help="regenerate fixtures/calls (default)")
    fx.add_argument("--out", type=Path, default=REPO_ROOT / "fixtures" / "calls",
                    help="output directory (default: fixtures/calls)")
    bench = sub.add_parser("bench", help="write a benchmark corpus")
    bench.add_argument("--out", type=Path, required=True, help="output directory")
    bench.add_argument("--hours", type=float, default=3.0,
                       help="minimum total duration (two 60-min calls are always made)")
    bench.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    check = sub.add_parser("check", help="compare speech vs gap RMS of WAV + JSON pairs")
    check.add_argument("wavs", type=Path, nargs="+")
    args = parser.parse_args()

    if args.command == "bench":
        cmd_bench(args.out, args.hours, args.seed)
    elif args.command == "check":
        cmd_check(args.wavs)
    else:
        cmd_fixtures(getattr(args, "out", REPO_ROOT / "fixtures" / "calls"))


if __name__ == "__main__":
    main()
