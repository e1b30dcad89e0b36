"""The licence-clean demo corpus: ``build_demo(out)`` rebuilds ``corpora/demo`` reproducibly.

Every call is composed at 8 kHz from licence-clean material and rendered through
:class:`~lsdlab.audio.channel.TelephoneChannel` (band, level, line noise, G.711):

* offline TTS (``espeak-ng`` with many voice variants, rates and pitches; ``flite`` voices),
* Allison Smith's recorded Asterisk prompts (Debian ``asterisk-core-sounds-en-wav``,
  CC-BY-SA-3.0),
* the licensed rows of ``../shared/corpora/real-dev`` when present: MIT call-screening prompts
  of roycewilliams/callattendant-resources, CC-BY-SA-4.0 spoken digits of the
  free-spoken-digit-dataset and the public-domain utterances of MycroftAI/Precise-Community-Data
  (real speakers, the raw material of most human answers),
* tones generated from their specifications (:mod:`lsdlab.audio.tones`).

Human answers are *built*, most from real voices: real-dev's public-domain ``speech/`` clips
(MycroftAI/Precise-Community-Data) and FSDD digits, the rest TTS or prompts, placed with the
timing of real answers (a short "Hello?"-like answer of 0.3-1.2 s, or a multi-word turn of
1.5-3 s with 0.1-0.6 s between words, 0.2-1.5 s after the pick-up, then waiting; some speak
again after 1.5-4 s, some cough or have a noise burst, some are quiet). They are not recordings of people answering phones. Call levels are active levels in
the telephone band. Timing labels are measured on the placed audio: each
utterance is trimmed to its real non-silent extent (energy threshold on 2.5 ms frames) before
it is placed, so ``speech_onset_s``, ``greeting_end_s`` and ``beep_s`` are exact to a few ms.
"""

from __future__ import annotations

import csv
import functools
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...audio import tones
from ...audio.channel import ChannelSettings, TelephoneChannel, bandpass
from ...audio.frames import set_level
from ...audio.io import SR, load, save_wav
from ...errors import AudioError, ParameterError
from ..load import MANIFEST
from .phrases import (  # the phrase tables and sources, apart from the recipe
    _ALLISON_CARRIER,
    _ALLISON_SHORT,
    _BUSINESS_MACHINE,
    _BUSINESSES,
    _CALLATT_MACHINE,
    _CARRIER_MACHINE,
    _COUNTRIES,
    _ESPEAK_BASES,
    _ESPEAK_VARIANTS,
    _EVENTS,
    _FLITE_VOICES,
    _FSDD_SPEAKERS,
    _FSDD_TAKES,
    _LONG_GREETINGS,
    _NAMES,
    _PERSONAL_MACHINE,
    _SECOND_ANSWERS,
    _SHORT_ANSWERS,
    _SHORT_MACHINE,
    _SRC_ALLISON,
    _SRC_CALLATT,
    _SRC_ESPEAK,
    _SRC_FLITE,
    _SRC_FSDD,
    _SRC_NOISE,
    _SRC_SPEECH,
    _SRC_TONES,
    _SURNAMES,
)

__all__ = ["build_demo", "DEFAULT_SEED", "COLUMNS", "trim_silence", "default_real_dev"]

log = logging.getLogger(__name__)

DEFAULT_SEED = 20261126
COLUMNS = (
    "path", "label", "greeting_end_s", "speech_onset_s", "beep_s", "answer_s",
    "group", "source", "licence", "language", "notes",
)
ALLISON_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
_MARKER = "ATTRIBUTION.md"
_REF_DB = -20.0  # every utterance is normalised to this active level before mixing

def default_real_dev() -> Path:
    """Where the shared real-dev corpus sits: ``../shared/corpora/real-dev`` beside the repo."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "corpora" / "real-dev"


def trim_silence(y: np.ndarray, *, frame: int = 40, below_peak_db: float = 35.0,
                 above_floor_db: float = 12.0) -> tuple[int, int]:
    """Sample range ``(start, stop)`` of the non-silent part of ``y``.

    A frame of ``frame`` samples (5 ms at 8 kHz) is active when its RMS is within
    ``below_peak_db`` of the loudest frame and ``above_floor_db`` above the recording's noise
    floor (its 20th-percentile frame; the threshold is never above peak - 25 dB). The floor
    rule keeps the faint noise TTS engines put in their pauses (flite: 45-60 dB below the
    peak) out, while weak fricatives such as the /s/ of "sorry" stay in. Returns ``(0, 0)``
    for silence.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y) // frame
    if n == 0:
        return 0, 0
    p = np.mean(y[: n * frame].reshape(n, frame) ** 2, axis=1)
    db = 10 * np.log10(np.maximum(p, 1e-14))
    peak = db.max()
    if peak < -80:
        return 0, 0
    floor = np.percentile(db, 20)
    thr = max(peak - below_peak_db, min(floor + above_floor_db, peak - 25.0))
    act = np.flatnonzero(db > thr)
    return int(act[0] * frame), int((act[-1] + 1) * frame)


def _trimmed(y: np.ndarray) -> np.ndarray:
    a, b = trim_silence(y)
    if b <= a:
        raise AudioError("a source utterance is silent; it cannot be placed in a call.")
    return set_level(y[a:b], _REF_DB)


# ---------------------------------------------------------------------------------------
# voices
@dataclass(frozen=True)
class _Voice:
    engine: str  # espeak | flite | allison | fsdd | callattendant | speech
    name: str
    speed: float = 1.0  # espeak words/min, flite duration stretch
    pitch: int = 50  # espeak pitch 0-99; flite mean F0 in Hz (0: the voice's own)

    @property
    def group(self) -> str:
        return f"{self.engine}:{self.name}" if self.engine not in ("allison", "callattendant") else self.engine

    @property
    def src(self) -> tuple[str, str]:
        return {"espeak": _SRC_ESPEAK, "flite": _SRC_FLITE, "allison": _SRC_ALLISON,
                "fsdd": _SRC_FSDD, "callattendant": _SRC_CALLATT, "speech": _SRC_SPEECH}[self.engine]

    def describe(self) -> str:
        if self.engine == "espeak":
            return f"espeak-ng {self.name} speed {self.speed:.0f} pitch {self.pitch}"
        if self.engine == "flite":
            f0 = f" F0 {self.pitch} Hz" if self.pitch else ""
            return f"flite {self.name} stretch {self.speed:.2f}{f0}"
        return self.group


class _Synth:
    """Runs the TTS programs and reads the prompt files, caching every utterance."""

    def __init__(self, workdir: Path, real_dev: Path | None) -> None:
        self.workdir = workdir
        self.real_dev = real_dev
        self._cache: dict[tuple, np.ndarray] = {}
        self._n = 0

    def _run(self, argv: list[str], out: Path) -> np.ndarray:
        try:
            subprocess.run(argv, check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise AudioError(f"running {argv[0]} failed ({exc}); check the Debian package {argv[0]}.") from None
        y, _ = load(out)
        out.unlink()
        return y

    def say(self, voice: _Voice, text: str) -> np.ndarray:
        """``text`` spoken by ``voice``, 8 kHz, trimmed to its non-silent extent, at -20 dBFS."""
        key = (voice, text)
        if key not in self._cache:
            self._n += 1
            out = self.workdir / f"tts{self._n}.wav"
            if voice.engine == "espeak":
                y = self._run(["espeak-ng", "-v", voice.name, "-s", str(int(round(voice.speed))),
                               "-p", str(voice.pitch), "-w", str(out), text], out)
            elif voice.engine == "flite":
                f0 = ["--setf", f"int_f0_target_mean={voice.pitch}"] if voice.pitch else []
                y = self._run(["flite", "-voice", voice.name, "--setf",
                               f"duration_stretch={voice.speed:.3f}", *f0, "-t", text, "-o", str(out)], out)
            else:
                raise ParameterError(f"voice {voice} cannot speak free text.")
            self._cache[key] = _trimmed(y)
        return self._cache[key]

    def file(self, path: Path) -> np.ndarray:
        key = ("file", str(path))
        if key not in self._cache:
            self._cache[key] = _trimmed(load(path)[0])
        return self._cache[key]

    def allison(self, name: str) -> np.ndarray:
        return self.file(ALLISON_DIR / f"{name}.wav")

    def fsdd(self, speaker: str, digit: int, take: int) -> np.ndarray:
        assert self.real_dev is not None
        return self.file(self.real_dev / "utterance" / f"{digit}_{speaker}_{take}.wav")

    def callattendant(self, name: str) -> np.ndarray:
        assert self.real_dev is not None
        return self.file(self.real_dev / "machine" / f"{name}.wav")

    def speech_clips(self) -> dict[str, list[tuple[str, str]]]:
        """real-dev's public-domain ``speech/`` clips by contributor: ``{group: [(path, words)]}``."""
        key = ("speech-index",)
        if key not in self._cache:
            assert self.real_dev is not None
            by: dict[str, list[tuple[str, str]]] = {}
            with open(self.real_dev / MANIFEST, newline="", encoding="utf-8") as f:
                for r in csv.DictReader(f):
                    if r["path"].startswith("speech/") and r.get("licence", "").startswith("public domain"):
                        by.setdefault(r["group"], []).append((r["path"], r.get("notes", "")))
            self._cache[key] = {g: sorted(v) for g, v in sorted(by.items())}  # type: ignore[assignment]
        return self._cache[key]  # type: ignore[return-value]

    def speech(self, path: str) -> np.ndarray:
        assert self.real_dev is not None
        return self.file(self.real_dev / path)


def _fill(text: str, rng: np.random.Generator) -> str:
    return text.format(n=rng.choice(_NAMES), s=rng.choice(_SURNAMES), b=rng.choice(_BUSINESSES),
                       d=" ".join(str(int(d)) for d in rng.integers(0, 10, 3)))


def _random_tts_voice(rng: np.random.Generator, *, flite_share: float = 0.25) -> _Voice:
    if rng.random() < flite_share:
        name = str(rng.choice(sorted(_FLITE_VOICES)))
        f0 = _FLITE_VOICES[name]
        pitch = int(round(rng.uniform(*f0))) if f0 is not None and rng.random() < 0.7 else 0
        return _Voice("flite", name, float(rng.uniform(0.8, 1.25)), pitch)
    name = f"{rng.choice(_ESPEAK_BASES)}+{rng.choice(_ESPEAK_VARIANTS)}"
    return _Voice("espeak", name, float(rng.uniform(130, 210)), int(rng.integers(25, 76)))


def _retime(voice: _Voice, factor: float) -> _Voice:
    """The same voice speaking ``factor`` times longer."""
    if voice.engine == "espeak":
        return _Voice("espeak", voice.name, float(np.clip(voice.speed / factor, 120, 260)), voice.pitch)
    if voice.engine == "flite":
        return _Voice("flite", voice.name, float(np.clip(voice.speed * factor, 0.7, 1.5)), voice.pitch)
    return voice


def _fit(synth: _Synth, voice: _Voice, sentences: list[str], lo: float, hi: float,
         gaps: list[float]) -> tuple[_Voice, list[np.ndarray]] | None:
    """Speak ``sentences`` so their total span (with ``gaps``) lies in [lo, hi] seconds."""
    target = (lo + hi) / 2
    for _ in range(6):
        parts = [synth.say(voice, s) for s in sentences]
        span = sum(len(p) for p in parts) / SR + sum(gaps)
        if lo <= span <= hi:
            return voice, parts
        speech = span - sum(gaps)
        want = max(target - sum(gaps), 0.2)
        voice = _retime(voice, want / speech)
        if voice.engine not in ("espeak", "flite"):
            return None
    return None


# ---------------------------------------------------------------------------------------
# rendering
@dataclass
class _Call:
    label: str
    y: np.ndarray  # clean far-end audio at 8 kHz, before the channel
    group: str
    source: tuple[str, str]
    notes: str
    greeting_end_s: float | None = None
    speech_onset_s: float | None = None
    beep_s: float | None = None
    answer_s: float | None = None
    level_dbfs: float | None = None  # None: keep the level (silence calls)
    language: str = "en"


def _place(buf: np.ndarray, y: np.ndarray, t_s: float) -> int:
    i = int(round(t_s * SR))
    buf[i : i + len(y)] += y[: max(0, len(buf) - i)]
    return i


def _room_noise(n: int, rng: np.random.Generator, level_db: float) -> np.ndarray:
    from scipy import signal

    w = rng.standard_normal(n)
    b, a = signal.butter(2, 1200.0, fs=SR)
    y = signal.lfilter(b, a, w)
    y *= 10 ** (level_db / 20) / (np.sqrt(np.mean(y**2)) + 1e-12)
    return y.astype(np.float32)


def _breath(rng: np.random.Generator, level_db: float) -> np.ndarray:
    from scipy import signal

    n = int(rng.uniform(0.3, 0.6) * SR)
    b, a = signal.butter(2, [400.0, 2500.0], btype="bandpass", fs=SR)
    y = signal.lfilter(b, a, rng.standard_normal(n)) * np.hanning(n)
    y *= 10 ** (level_db / 20) / (np.sqrt(np.mean(y**2)) + 1e-12)
    return y.astype(np.float32)


def _ringback_lead(rng: np.random.Generator) -> tuple[np.ndarray, float, str]:
    country = str(rng.choice(_COUNTRIES))
    pattern = tones.RINGBACK[country][1]
    cycle = sum(pattern)
    answer_s = round(float(rng.uniform(pattern[0] + 0.3, min(cycle * 1.6, 8.0))), 3)
    rb = tones.ringback(country, answer_s, level_dbfs=_REF_DB - 3 - float(rng.uniform(0, 6)))
    return rb, answer_s, country


def _lead(rng: np.random.Generator, ringback: bool) -> tuple[np.ndarray, float | None, str, float]:
    """What comes before the answer: ``(audio, answer_s, ringback country, answer time or 0.0)``;
    in-band ringback when ``ringback``, else nothing (no random draw)."""
    if not ringback:
        return np.zeros(0, np.float32), None, "", 0.0
    pre, answer_s, country = _ringback_lead(rng)
    return pre, answer_s, country, answer_s or 0.0


def _cough(rng: np.random.Generator, level_db: float) -> np.ndarray:
    """One or two coughs: a sharp burst of vocal-tract-shaped noise with a voiced tail."""
    from scipy import signal

    pieces = []
    for k in range(int(rng.integers(1, 3))):
        n = int(rng.uniform(0.12, 0.22) * SR)
        t = np.arange(n) / SR
        att = max(int(0.008 * SR), 1)
        env = np.exp(-t / rng.uniform(0.035, 0.07))
        env[:att] *= np.linspace(0.0, 1.0, att)
        noise = rng.standard_normal(n)
        y = np.zeros(n)
        for f, q, g in ((rng.uniform(400, 900), 3.0, 1.0), (rng.uniform(1200, 2300), 4.0, 0.7),
                        (rng.uniform(2400, 3300), 5.0, 0.4)):
            bb, aa = signal.iirpeak(f, q, fs=SR)
            y += g * signal.lfilter(bb, aa, noise)
        f0 = rng.uniform(110, 260)
        voiced = signal.sawtooth(2 * np.pi * f0 * t) * np.exp(-t / 0.05) * (t > 0.03)
        y = (y / (np.std(y) + 1e-12) + 0.3 * voiced) * env
        pieces.append(y)
        if k == 0:
            pieces.append(np.zeros(int(rng.uniform(0.08, 0.16) * SR)))
    y = np.concatenate(pieces[:-1] if len(pieces) == 2 else pieces)
    return set_level(y.astype(np.float32), level_db)


def _noise_burst(rng: np.random.Generator, level_db: float) -> tuple[np.ndarray, str]:
    """A short background noise: handling rustle or a clatter (clicks in decaying noise)."""
    from scipy import signal

    n = int(rng.uniform(0.2, 0.45) * SR)
    t = np.arange(n) / SR
    if rng.random() < 0.5:
        bb, aa = signal.butter(2, [300.0, float(rng.uniform(1500, 3200))], btype="bandpass", fs=SR)
        y = signal.lfilter(bb, aa, rng.standard_normal(n))
        mod = np.abs(signal.lfilter(*signal.butter(1, 25.0, fs=SR), rng.standard_normal(n)))
        y = y * mod * np.hanning(n)
        kind = "handling rustle"
    else:
        y = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.04, 0.12))
        for _ in range(int(rng.integers(2, 5))):
            i = int(rng.integers(0, max(n - 40, 1)))
            y[i : i + 40] += rng.standard_normal(min(40, n - i)) * np.exp(-np.arange(min(40, n - i)) / 8) * 4
        kind = "clatter"
    return set_level(y.astype(np.float32), level_db), kind


def _onset_lead(rng: np.random.Generator) -> float:
    """Seconds from the pick-up to the first word: log-normal, median 0.6 s, within 0.2-1.5 s."""
    while True:
        v = float(np.exp(rng.normal(np.log(0.6), 0.5)))
        if 0.2 <= v <= 1.5:
            return v


def _fsdd_other_take(synth: _Synth, rng: np.random.Generator, speaker: str, digit: int, take: int) -> np.ndarray:
    """The same digit by the same speaker, another take."""
    return synth.fsdd(speaker, digit, (take + 1 + int(rng.integers(_FSDD_TAKES - 1))) % _FSDD_TAKES)


def _say_again(synth: _Synth, rng: np.random.Generator, voice: _Voice) -> np.ndarray:
    return synth.say(voice, str(rng.choice(_SECOND_ANSWERS)))


def _speech_again(synth: _Synth, rng: np.random.Generator, own: list[tuple[str, str]]) -> np.ndarray:
    """Another real utterance of the same contributor, as a second attempt (at most 1.5 s)."""
    for _ in range(20):
        y = synth.speech(own[int(rng.integers(len(own)))][0])
        if len(y) <= 1.5 * SR:
            return y
    return y[: int(1.5 * SR)]


#: Silence between the words of a real-voice multi-word answer (seconds).
_WORD_GAP_S = (0.1, 0.6)


def _join(rng: np.random.Generator, parts: list[np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """Utterances joined by natural inter-word gaps (uniform 0.1-0.6 s); the gaps used."""
    gaps = [float(rng.uniform(*_WORD_GAP_S)) for _ in parts[1:]]
    out = [parts[0]]
    for g, p in zip(gaps, parts[1:]):
        out += [np.zeros(int(round(g * SR)), np.float32), p]
    return np.concatenate(out).astype(np.float32), gaps


def _gaps_text(gaps: list[float]) -> str:
    return ", ".join(f"{g:.2f}" for g in gaps) + " s"


def _human_answer(synth: _Synth, rng: np.random.Generator, *, long: bool,
                  voice_kind: str) -> tuple[_Voice, np.ndarray, str, Callable[[], np.ndarray], str]:
    """The voice, the (trimmed) first utterance, its text, a maker of a second utterance and the
    language spoken."""
    for _ in range(40):
        lang = "en"
        if voice_kind == "allison":
            voice = _Voice("allison", "allison")
            word, text = _ALLISON_SHORT[int(rng.integers(len(_ALLISON_SHORT)))]
            greet = synth.allison(word)
            again = functools.partial(synth.allison, "hello")
        elif voice_kind == "fsdd" and long:
            speaker = str(rng.choice(_FSDD_SPEAKERS))
            voice = _Voice("fsdd", speaker)
            picks = [(int(rng.integers(0, 10)), int(rng.integers(0, _FSDD_TAKES))) for _ in range(int(rng.integers(2, 5)))]
            greet, gaps = _join(rng, [synth.fsdd(speaker, d, t) for d, t in picks])
            text = (f"spoken digits {' '.join(str(d) for d, _ in picks)} with {_gaps_text(gaps)} between them, "
                    f"standing in for a multi-word answer")
            again = functools.partial(_fsdd_other_take, synth, rng, speaker, picks[0][0], picks[0][1])
        elif voice_kind == "fsdd":
            speaker = str(rng.choice(_FSDD_SPEAKERS))
            voice = _Voice("fsdd", speaker)
            digit, take = int(rng.integers(0, 10)), int(rng.integers(0, _FSDD_TAKES))
            greet = synth.fsdd(speaker, digit, take)
            text = f"spoken digit {digit} (take {take}) standing in for a short answer"
            again = functools.partial(_fsdd_other_take, synth, rng, speaker, digit, take)
        elif voice_kind == "speech":
            clips = synth.speech_clips()
            group = str(rng.choice(sorted(clips)))
            voice = _Voice("speech", group)
            own = clips[group]
            clip_picks = [own[int(rng.integers(len(own)))] for _ in range(int(rng.integers(2, 5)) if long else 1)]
            greet, gaps = _join(rng, [synth.speech(p) for p, _ in clip_picks])
            words = " / ".join(w.split(" (")[0] for _, w in clip_picks)
            lang = "es" if any(w.rstrip(")").endswith(", es") or w.endswith("(es)") for _, w in clip_picks) else "en"
            text = f"real utterance(s) '{words}'" + (f" with {_gaps_text(gaps)} between them" if gaps else "")
            again = functools.partial(_speech_again, synth, rng, own)
        else:
            voice = _random_tts_voice(rng)
            text = _fill(str(rng.choice(_LONG_GREETINGS if long else _SHORT_ANSWERS)), rng)
            got = _fit(synth, voice, [text], 1.55, 2.45, []) if long else _fit(synth, voice, [text], 0.32, 1.18, [])
            if got is None:
                continue
            voice, (greet,) = got
            again = functools.partial(_say_again, synth, rng, voice)
        d = len(greet) / SR
        hi = 3.0 if voice_kind in ("fsdd", "speech") else 2.5
        if (1.5 <= d <= hi) if long else (0.3 <= d <= 1.2):
            return voice, greet, text, again, lang
    raise AudioError("could not synthesise a human answer of the required length.")  # pragma: no cover


def _human(synth: _Synth, rng: np.random.Generator, *, long: bool, ringback: bool, voice_kind: str,
           second: bool = False, event: str | None = None, quiet: bool = False) -> _Call:
    """A person answering: the answer, then waiting (3.5-6 s from the pick-up in all).

    ``second``: after 1.5-4 s of silence the person speaks again (the call may then run to
    9 s). ``event``: ``"cough before"``, ``"cough after"``, ``"noise before"`` or
    ``"noise after"`` the answer; a cough is not speech, so ``speech_onset_s`` stays the
    answer's first sound. ``quiet``: the talker is at -36..-34 dBFS.
    """
    if event is not None and event not in _EVENTS:
        raise ParameterError(f"The 'event' parameter of a human call must be one of {_EVENTS} or None. Got {event!r} instead.")
    ev_before = event is not None and event.endswith("before")
    if second and event is not None and not ev_before:
        raise ParameterError("a human call with a second utterance takes only an event before the answer.")
    voice, greet, text, again_maker, lang = _human_answer(synth, rng, long=long, voice_kind=voice_kind)
    pre, answer_s, country, t_ans = _lead(rng, ringback)
    what = ("multi-word turn" if voice.engine in ("speech", "fsdd") else "long greeting") if long else "short answer"
    notes = [f"{what} {text!r} by {voice.describe()}"]
    lead = _onset_lead(rng)
    ev = None
    ev_t = 0.0
    ev_desc = ""
    if event is not None:
        if event.startswith("cough"):
            ev, ev_desc = _cough(rng, _REF_DB - float(rng.uniform(0, 6))), "cough"
        else:
            ev, ev_desc = _noise_burst(rng, _REF_DB - float(rng.uniform(4, 14)))
    if ev is not None and ev_before:
        ev_t = t_ans + float(rng.uniform(0.05, 0.2))
        lead = min(max(lead, ev_t - t_ans + len(ev) / SR + float(rng.uniform(0.25, 0.45))), 1.5)
    onset = t_ans + lead
    end = onset + len(greet) / SR
    last = end
    if second:
        again = again_maker()
        gap = float(rng.uniform(1.5, 4.0))
        tail = float(rng.uniform(0.5, 1.2))
        excess = (end - t_ans) + gap + len(again) / SR + tail - 9.0
        if excess > 0:
            gap = max(1.5, gap - excess)
        t2 = end + gap
        last = t2 + len(again) / SR
        total_rel = float(np.clip(last + tail - t_ans, 3.5, 9.0))
    else:
        tail_min = 1.8
        if ev is not None and not ev_before:
            ev_t = end + float(rng.uniform(0.3, 0.6))
            tail_min = max(tail_min, ev_t + len(ev) / SR - end + 0.4)
        total_rel = float(np.clip(rng.uniform(3.5, 5.0), end - t_ans + tail_min, 6.0))
    total = t_ans + total_rel
    y = np.zeros(int(round(total * SR)), np.float32)
    y[: len(pre)] = pre
    # room tone from the pick-up on, a little breath while waiting sometimes
    i_ans = int(round(t_ans * SR))
    y[i_ans:] += _room_noise(len(y) - i_ans, rng, _REF_DB - float(rng.uniform(38, 50)))
    _place(y, greet, onset)
    notes.append(f"speaks {lead:.2f} s after the pick-up")
    if second:
        _place(y, again, t2)
        notes.append(f"says it again at {t2:.2f} s after {gap:.1f} s of silence")
    if ev is not None:
        _place(y, ev, ev_t)
        where = "before the first word" if ev_before else "after the answer"
        notes.append(f"{ev_desc} at {ev_t:.2f}-{ev_t + len(ev) / SR:.2f} s {where} (not speech)")
    elif not second and rng.random() < 0.35 and total - end > 1.2:
        tb = end + float(rng.uniform(0.4, total - end - 0.7))
        _place(y, _breath(rng, _REF_DB - float(rng.uniform(22, 30))), tb)
        notes.append(f"breath at {tb:.2f} s")
    if ringback:
        notes.append(f"{country} ringback until the pick-up at {answer_s:.2f} s")
    level = None
    if quiet:
        level = float(rng.uniform(-36.0, -34.0))
        notes.append("quiet talker")
    return _Call("human", y, voice.group, voice.src, "; ".join(notes),
                 greeting_end_s=end, speech_onset_s=onset, answer_s=answer_s, level_dbfs=level, language=lang)


# Silence between a greeting's sentences. Fitted to the real greetings of
# ../shared/corpora/real-dev, measured with the detector's own speech bursts over the whole
# greeting: real 24.7% / 8.2% / 2.7% of greetings pause >= 0.4 / 0.5 / 0.6 s; this recipe
# 23.8% / 13.1% / 6.9% (the earlier uniform 0.2-0.6 s gave 66% / 40% / 11%). It errs towards
# longer pauses, which are what turn a machine into a LIVE verdict.
_SENTENCE_GAP_S = (0.1, 0.35)
_LONG_GAP_S = (0.35, 0.7)
_LONG_GAP_P = 0.1


def _sentence_gap(rng: np.random.Generator) -> float:
    """One pause between sentences: mostly 0.1-0.35 s, one in ten 0.35-0.7 s."""
    if rng.random() < _LONG_GAP_P:
        return float(rng.uniform(*_LONG_GAP_S))
    return float(rng.uniform(*_SENTENCE_GAP_S))


def _machine_parts(synth: _Synth, rng: np.random.Generator, kind: str) -> tuple[_Voice, list[np.ndarray], list[float], str]:
    """The greeting's sentences, the pauses between them and a description."""
    if kind == "allison":
        seq = _ALLISON_CARRIER[int(rng.integers(len(_ALLISON_CARRIER)))]
        parts, desc = [], []
        for name in seq:
            if name == "EXT":
                digits = [int(d) for d in rng.integers(0, 10, int(rng.integers(3, 5)))]
                # digits are spoken back to back, as Asterisk's SayDigits does
                parts.append(np.concatenate([synth.allison(f"digits/{d}") for d in digits]))
                desc.append("".join(map(str, digits)))
            else:
                parts.append(synth.allison(name))
                desc.append(name)
        gaps = [float(rng.uniform(0.1, 0.35)) for _ in parts[1:]]
        return _Voice("allison", "allison"), parts, gaps, "Allison prompts " + " + ".join(desc)
    if kind == "callattendant":
        names: tuple[str, ...] = _CALLATT_MACHINE[int(rng.integers(len(_CALLATT_MACHINE)))]
        parts = [synth.callattendant(n) for n in names]
        gaps = [_sentence_gap(rng) for _ in parts[1:]]
        return _Voice("callattendant", "callattendant"), parts, gaps, "callattendant prompts " + " + ".join(s[10:] for s in names)
    table = {"short": _SHORT_MACHINE, "personal": _PERSONAL_MACHINE, "business": _BUSINESS_MACHINE,
             "carrier": _CARRIER_MACHINE}[kind]
    lo, hi = (0.9, 2.4) if kind == "short" else (2.6, 9.0)
    for _ in range(40):
        voice = _random_tts_voice(rng, flite_share=0.3)
        sentences = [_fill(s, rng) for s in table[int(rng.integers(len(table)))]]
        gaps = [_sentence_gap(rng) for _ in sentences[1:]]
        got = _fit(synth, voice, sentences, lo, hi, gaps)
        if got is not None:
            voice, parts = got
            return voice, parts, gaps, f"{kind} greeting {' '.join(sentences)!r} by {voice.describe()}"
    raise AudioError("could not synthesise a machine greeting of the required length.")  # pragma: no cover


def _machine(synth: _Synth, rng: np.random.Generator, *, kind: str, beep: bool, ringback: bool) -> _Call:
    voice, parts, gaps, desc = _machine_parts(synth, rng, kind)
    pre, answer_s, country, t_ans = _lead(rng, ringback)
    onset = t_ans + float(rng.uniform(0.2, 1.2))
    t = onset
    starts = []
    for k, p in enumerate(parts):
        starts.append(t)
        t += len(p) / SR + (gaps[k] if k < len(gaps) else 0.0)
    end = t
    notes = [desc, f"speech {onset:.2f}-{end:.2f} s"]
    beep_s = None
    bp = np.zeros(0, np.float32)
    if beep:
        beep_s = end + float(rng.choice([rng.uniform(0.05, 0.3), rng.uniform(0.3, 1.0)]))
        freq = float(rng.choice([rng.uniform(400, 2000), rng.choice([440.0, 850.0, 1000.0, 1400.0])]))
        dur = float(rng.choice([rng.uniform(0.1, 0.6), rng.uniform(0.1, 1.5)]))
        bp = tones.beep(round(freq, 1), dur, level_dbfs=_REF_DB + float(rng.uniform(-6, 6)))
        after = beep_s + dur
        notes.append(f"beep {freq:.0f} Hz {dur * 1000:.0f} ms")
    else:
        after = end
    total = min(after + float(rng.uniform(2.0, 4.0)), t_ans + 15.0)
    total = max(total, after + 0.5)
    y = np.zeros(int(round(total * SR)), np.float32)
    y[: len(pre)] = pre
    for s, p in zip(starts, parts):
        _place(y, p, s)
    if beep_s is not None:
        _place(y, bp, beep_s)
    else:
        notes.append("no beep")
    if ringback:
        notes.append(f"{country} ringback until the pick-up at {answer_s:.2f} s")
    return _Call("machine", y, voice.group, voice.src, "; ".join(notes),
                 speech_onset_s=onset, beep_s=beep_s, answer_s=answer_s)


def _fax(rng: np.random.Generator, kind: str) -> _Call:
    level = float(rng.uniform(-30, -9))
    total = float(rng.uniform(4, 8))
    lead = float(rng.uniform(0.2, 1.5))
    y = np.zeros(int(round(total * SR)), np.float32)
    if kind == "cng":
        c = tones.cng(total - lead, level_dbfs=_REF_DB, start_on=bool(rng.random() < 0.6))
        _place(y, c, lead)
        notes = "CNG 1100 Hz 0.5 s on / 3 s off (T.30), the calling fax"
    else:
        d = float(rng.uniform(2.6, 3.8))
        _place(y, tones.ced(d, level_dbfs=_REF_DB, phase_reversals=bool(rng.random() < 0.25)), lead)
        notes = f"CED 2100 Hz {d:.2f} s"
        if kind == "ced+v21":
            t = lead + d + float(rng.uniform(0.055, 0.095))
            v = float(min(rng.uniform(1.0, 2.5), total - t - 0.05))
            if v > 0.3:
                _place(y, tones.v21_preamble(v, level_dbfs=_REF_DB), t)
                notes += f", then V.21 preamble (HDLC flags, 1650/1850 Hz) {v:.2f} s"
    return _Call("fax", y, "fax-tones", _SRC_TONES, notes, level_dbfs=level)


def _silence(rng: np.random.Generator, clicks: bool) -> _Call:
    total = float(rng.uniform(6, 10))
    y = np.zeros(int(round(total * SR)), np.float32)
    notes = "dead air, line noise only"
    if clicks:
        k = int(rng.integers(1, 5))
        for _ in range(k):
            n = int(rng.uniform(0.002, 0.01) * SR)
            click = (rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 4))).astype(np.float32)
            click *= np.float32(10 ** (rng.uniform(-30, -12) / 20) / (np.abs(click).max() + 1e-9))
            _place(y, click, float(rng.uniform(0.1, total - 0.1)))
        notes += f", {k} click(s)"
    return _Call("silence", y, "dead-air", _SRC_NOISE, notes, level_dbfs=None)


# ---------------------------------------------------------------------------------------
def _plan(small: bool, have_real_dev: bool) -> list[tuple[str, dict]]:
    """What to build: (kind, options) per call, in manifest order."""
    plan: list[tuple[str, dict]] = []
    if small:
        plan += [("human", dict(long=False, ringback=False, voice_kind="tts", second=True,
                                event="cough before")),
                 ("human", dict(long=True, ringback=True, voice_kind="tts", event="noise after", quiet=True)),
                 ("human", dict(long=False, ringback=False, voice_kind="allison", second=True))]
        if have_real_dev:
            plan += [("human", dict(long=False, ringback=False, voice_kind="fsdd", second=True)),
                     ("human", dict(long=True, ringback=False, voice_kind="speech", second=True)),
                     ("human", dict(long=False, ringback=False, voice_kind="speech"))]
        plan += [("machine", dict(kind="short", beep=True, ringback=False)),
                 ("machine", dict(kind="personal", beep=True, ringback=True)),
                 ("machine", dict(kind="allison", beep=False, ringback=False))]
        if have_real_dev:
            plan.append(("machine", dict(kind="callattendant", beep=True, ringback=False)))
        plan += [("fax", dict(kind=k)) for k in ("cng", "ced", "ced+v21")]
        plan += [("silence", dict(clicks=False)), ("silence", dict(clicks=True))]
        return plan
    # humans: 300. Most are real voices (190: real-dev's public-domain speech clips and FSDD
    # digits), the rest synthetic (TTS, Allison's prompts). 150 are multi-word turns (1.5-3 s of
    # real words with 0.1-0.6 s between them, or 1.5-2.5 s TTS greetings), 150 short answers
    # (0.3-1.2 s). One in ten speaks again after 1.5-4 s of waiting; some cough or have a noise
    # burst before or after the answer; one in twelve is a quiet talker.
    events = _EVENTS
    if have_real_dev:
        long_kinds = ["speech"] * 80 + ["fsdd"] * 30 + ["tts"] * 40
        short_kinds = ["speech"] * 60 + ["fsdd"] * 20 + ["tts"] * 60 + ["allison"] * 10
    else:
        long_kinds = ["tts"] * 150
        short_kinds = ["tts"] * 140 + ["allison"] * 10
    for long, kinds, perm_seed in ((True, long_kinds, 54321), (False, short_kinds, 12345)):
        order = np.random.default_rng(perm_seed).permutation(len(kinds))  # interleave the voice kinds
        for i, j in enumerate(order):
            second = i % 10 == 7
            ev = events[(i // 9) % 4] if i % 9 == 4 else None
            if second and ev is not None and ev.endswith("after"):
                ev = "cough before"
            plan.append(("human", dict(long=long, ringback=i % 8 == 3, voice_kind=kinds[j],
                                       second=second, event=ev, quiet=i % 12 == 5)))
    # machines: 130
    mk = (["short"] * 42 + ["personal"] * 32 + ["business"] * 20 + ["carrier"] * 16 + ["allison"] * 12
          + (["callattendant"] * 8 if have_real_dev else ["personal"] * 8))
    for i, k in enumerate(mk):
        beep = not (k in ("carrier", "allison") and i % 3 == 0) and not (k == "short" and i % 5 == 4)
        plan.append(("machine", dict(kind=k, beep=beep, ringback=i % 8 == 5)))
    plan += [("fax", dict(kind=("cng", "ced", "ced+v21")[i % 3])) for i in range(40)]
    plan += [("silence", dict(clicks=i % 2 == 1)) for i in range(20)]
    return plan


def _check_tools(need_flite: bool = True) -> None:
    missing = []
    if shutil.which("espeak-ng") is None:
        missing.append("espeak-ng (the espeak-ng program is not on PATH)")
    if need_flite and shutil.which("flite") is None:
        missing.append("flite (the flite program is not on PATH)")
    if not (ALLISON_DIR / "hello.wav").is_file():
        missing.append(f"asterisk-core-sounds-en-wav ({ALLISON_DIR}/hello.wav is missing)")
    if missing:
        pkgs = " ".join(m.split()[0] for m in missing)
        raise AudioError(
            "building the demo corpus needs the Debian package(s) " + "; ".join(missing)
            + f". Install them with `sudo apt-get install {pkgs}` (or `sudo make sysdeps`)."
        )


def _active_dbfs(y: np.ndarray) -> float:
    """Active level of ``y`` as :func:`~lsdlab.audio.frames.set_level` measures it (dBFS)."""
    n = len(y) // 160
    if n == 0:
        return -120.0
    p = np.mean(np.asarray(y[: n * 160], np.float64).reshape(n, 160) ** 2, axis=1)
    if p.max() <= 0:
        return -120.0
    return float(10 * np.log10(np.mean(p[p > p.max() * 1e-3])))


def write_manifest(root: Path, rows: list[dict], columns: tuple[str, ...]) -> None:
    """``root/manifest.csv`` with ``columns`` (a recipe writes it into a folder built aside)."""
    with open(root / MANIFEST, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


_ATTRIBUTION = """\
# Attribution and licences of the demo corpus

This corpus was generated by `lsdlab corpus build-demo` (lsdlab/corpus/demo.py, seed {seed}).
Every call is composed from the sources below and rendered through lsdlab's telephone channel
(300-3400 Hz band, level, line noise, G.711 A-law or mu-law at 8 kHz). The `source` and
`licence` columns of manifest.csv say, row by row, which source a call's voice came from.

**The human calls are not real people answering phones.** No public, licensed recording set of
people answering calls exists. Most human answers ({n_real_people} of {n_people}) are built from
real voices: short real utterances (public-domain wake words and phrases recorded by real people
on home microphones) and spoken digits by real speakers; the rest from TTS utterances and
recorded prompts. They are placed with the timing of real answers: a short "Hello?"-like
answer of 0.3-1.2 s (one utterance), or a multi-word turn of 1.5-3 s (2-4 real utterances of
one speaker with 0.1-0.6 s between them, or a 1.5-2.5 s TTS greeting), 0.2-1.5 s after the
pick-up, then waiting (3.5-6 s from the pick-up in all); one in ten speaks again after 1.5-4 s
of waiting, some cough or have a short background noise (generated) before or after the
answer, some are very quiet (-36..-34 dBFS). The words of the real utterances are not what
people say when they answer ("athena", "a cheddar block", "el ventilador"): they carry a real
voice's timing, level and spectrum, not the words of an answer. Likewise the voicemail greetings are TTS or prompts, not recordings of
people's own greetings; the pauses between their sentences (0.1-0.35 s, one in ten 0.35-0.7 s)
are fitted to those of the real greetings in lsdlab's real-dev set.

| source | licence | what was made from it | calls |
|---|---|---|---|
| eSpeak NG (Debian package `espeak-ng`, GPL-3.0-or-later program; its speech output is not covered by the GPL) | output: MIT, as part of lsdlab | human answers and greetings, voicemail greetings (voices {espeak_voices}) | {n_espeak} |
| CMU Flite (Debian package `flite`, BSD-style CMU licence; voices kal, kal16, awb, rms, slt at several rates and mean pitches) | output: MIT, as part of lsdlab | human answers and greetings, voicemail greetings | {n_flite} |
| Asterisk core sounds, English, Allison Smith (Debian `asterisk-core-sounds-en-wav`, Copyright 2003-2010 Allison Smith, http://www.theivrvoice.com) | CC-BY-SA-3.0 | human "Hello"/"Oh?"/"One moment please" answers (hello.wav, digits/oh.wav, one-moment-please.wav); carrier voicemail greetings composed from vm-theperson, digits/*, vm-isunavail, vm-isonphone, vm-nobodyavail, vm-intro, vm-leavemsg. Derived calls are shared under CC-BY-SA-3.0. | {n_allison} |
| free-spoken-digit-dataset (Jakobovski/free-spoken-digit-dataset, speakers george, jackson, lucas, nicolas; taken from lsdlab's real-dev set) | CC-BY-SA-4.0 | single spoken digits by real speakers, used as stand-ins for short human answers, or 2-4 of them as a multi-word turn. Derived calls are shared under CC-BY-SA-4.0. | {n_fsdd} |
| MycroftAI/Precise-Community-Data (its public-domain clips, taken from lsdlab's real-dev set; recorded by el-tocino, Kris Gesling, adocampo, Jody Nickel and JarbasAI, who released them into the public domain) | public domain | real voices for human answers: one utterance as a short answer, 2-4 utterances of one contributor as a multi-word turn | {n_speech} |
| callattendant-resources (roycewilliams/callattendant-resources, MIT; synthetic call-screening prompts, taken from lsdlab's real-dev set) | MIT | call-screening style voicemail greetings ending in a generated beep | {n_callatt} |
| tones generated by lsdlab.audio.tones from ITU-T E.180/Q.35 (ringback), T.30 (CNG, CED), V.21 (preamble) | MIT | fax calls; also the beeps and the ringback before the pick-up in speech calls | {n_tones} |
| line noise, room tone, breath noise, coughs, handling rustle, clatter and clicks generated by lsdlab | MIT | silence calls; background of every call; coughs and noise bursts in some human calls | {n_noise} |

The unlicensed rows of real-dev ("none stated") were not used.
"""


def build_demo(out: str | os.PathLike, *, seed: int = DEFAULT_SEED, small: bool = False,
               real_dev: str | os.PathLike | None = None,
               progress: Callable[[int, int], None] | None = None) -> Path:
    """Build the demo corpus into ``out`` reproducibly; return its path.

    Parameters
    ----------
    out : path
        Destination folder. It is built in a temporary sibling folder and renamed onto
        ``out`` only when complete. An existing ``out`` is replaced only if it is empty or
        a corpus built by this function (it holds ``manifest.csv`` and ``ATTRIBUTION.md``).
    seed : int
        Seed of every random choice; the same seed gives byte-identical files.
    small : bool
        Build a handful of calls per kind (for tests), in a few seconds.
    real_dev : path, optional
        The shared real-dev corpus (default :func:`default_real_dev`). Its licensed rows
        (FSDD digits, callattendant prompts) are used when it is present; without it those
        calls are made with TTS instead.
    progress : callable, optional
        Called with ``(done, total)`` after each call.

    Raises
    ------
    AudioError
        When espeak-ng, flite or the Asterisk sounds are not installed (names the package).
    ParameterError
        When ``out`` exists and is not a corpus this function built.
    """
    out = Path(out)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"The 'seed' parameter of build_demo must be a non-negative int. Got {seed!r} instead.")
    if out.exists():
        ok = out.is_dir() and (not any(out.iterdir()) or ((out / MANIFEST).is_file() and (out / _MARKER).is_file()))
        if not ok:
            raise ParameterError(
                f"The 'out' parameter of build_demo is {str(out)!r}, which exists and is not a demo "
                f"corpus (no {MANIFEST} and {_MARKER}); refusing to overwrite it. Give a new or empty folder."
            )
    _check_tools()
    rd = Path(real_dev) if real_dev is not None else default_real_dev()
    have_rd = (rd / "utterance").is_dir() and (rd / "machine").is_dir()
    if not have_rd:
        log.warning("real-dev corpus not found at %s; FSDD and callattendant calls are made with TTS instead", rd)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        _build_into(tmp, seed=int(seed), small=small, real_dev=rd if have_rd else None, progress=progress)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _build_into(root: Path, *, seed: int, small: bool, real_dev: Path | None,
                progress: Callable[[int, int], None] | None) -> None:
    plan = _plan(small, real_dev is not None)
    rows = []
    counters: dict[str, int] = {}
    by_source: dict[str, int] = {}
    espeak_voices: set[str] = set()
    seeds = np.random.SeedSequence(seed).spawn(len(plan))
    with tempfile.TemporaryDirectory(prefix="lsdlab-tts-") as work:
        synth = _Synth(Path(work), real_dev)
        for k, ((kind, opts), ss) in enumerate(zip(plan, seeds)):
            rng = np.random.default_rng(ss)
            if kind == "human":
                call = _human(synth, rng, **opts)
            elif kind == "machine":
                call = _machine(synth, rng, **opts)
            elif kind == "fax":
                call = _fax(rng, **opts)
            else:
                call = _silence(rng, **opts)
            codec = "alaw" if rng.random() < 0.5 else "ulaw"
            if call.level_dbfs is None and call.label != "fax":
                call.level_dbfs = float(rng.uniform(-35, -10)) if call.label != "silence" else None
            chan_level = None
            if call.level_dbfs is not None:
                # call.level_dbfs is the level in the telephone band; the channel sets the level
                # before its band filter, so add what the band filter will take away (up to
                # 14 dB for flite slt, whose voice is mostly below 300 Hz)
                offset = _active_dbfs(call.y) - _active_dbfs(bandpass(call.y))
                chan_level = call.level_dbfs + offset
                peak = float(np.abs(set_level(call.y, chan_level)).max())
                if peak > 0.89:  # keep peaks below -1 dBFS: no clipped calls
                    chan_level -= 20 * np.log10(peak / 0.89)
                    call.level_dbfs = chan_level - offset
            ref = call.level_dbfs if call.level_dbfs is not None else -30.0
            noise = float(np.clip(ref - rng.uniform(20, 45), -75, -45))
            chan = TelephoneChannel(ChannelSettings(level_dbfs=chan_level, noise_dbfs=noise, codec=codec),
                                    seed=int(rng.integers(2**31)))
            y = chan(call.y)
            counters[call.label] = counters.get(call.label, 0) + 1
            rel = f"{call.label}/{call.label}-{counters[call.label]:03d}.wav"
            (root / rel).parent.mkdir(exist_ok=True)
            save_wav(root / rel, y, SR, subtype="ALAW" if codec == "alaw" else "ULAW")
            lvl = "" if call.level_dbfs is None else f"level {call.level_dbfs:.1f} dBFS, "
            rows.append({
                "path": rel, "label": call.label,
                "greeting_end_s": _fmt(call.greeting_end_s), "speech_onset_s": _fmt(call.speech_onset_s),
                "beep_s": _fmt(call.beep_s), "answer_s": _fmt(call.answer_s),
                "group": call.group, "source": call.source[0], "licence": call.source[1],
                "language": call.language if call.label in ("human", "machine") else "",
                "notes": f"{call.notes}; {codec} {lvl}noise {noise:.1f} dBFS",
            })
            by_source[call.source[0]] = by_source.get(call.source[0], 0) + 1
            if call.group.startswith("espeak:"):
                espeak_voices.add(call.group[7:])
            if progress is not None:
                progress(k + 1, len(plan))
    write_manifest(root, rows, COLUMNS)
    n_people = sum(r["label"] == "human" for r in rows)
    n_real_people = sum(r["label"] == "human" and r["source"] in (_SRC_SPEECH[0], _SRC_FSDD[0]) for r in rows)
    text = _ATTRIBUTION.format(
        seed=seed,
        espeak_voices=", ".join(sorted(espeak_voices)) or "none",
        n_espeak=by_source.get(_SRC_ESPEAK[0], 0), n_flite=by_source.get(_SRC_FLITE[0], 0),
        n_allison=by_source.get(_SRC_ALLISON[0], 0), n_fsdd=by_source.get(_SRC_FSDD[0], 0),
        n_callatt=by_source.get(_SRC_CALLATT[0], 0), n_tones=by_source.get(_SRC_TONES[0], 0),
        n_noise=by_source.get(_SRC_NOISE[0], 0), n_speech=by_source.get(_SRC_SPEECH[0], 0),
        n_people=n_people, n_real_people=n_real_people,
    )
    (root / _MARKER).write_text(text, encoding="utf-8")
