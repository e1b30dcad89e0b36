"""Detector settings: one frozen, validated object per backend, serialisable to JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .._validation import check_choice, check_int_range, check_real_range
from ..errors import ParameterError, SettingsError
from .backends import settings_from_dict  # noqa: F401  (its home is the backend registry)
from .types import TimerMode

__all__ = ["DetectorSettings", "TIMEOUT_RANGE_MS", "check_timeout_ms", "settings_from_dict"]

#: The speech-activity front ends (``DetectorSettings.vad``).
VAD_CHOICES = ("energy", "silero")
#: The LSD timeout range of the UAS API.
TIMEOUT_RANGE_MS = (500, 10000)


def check_timeout_ms(value: Any, owner: str = "DetectorSettings", name: str = "timeout_ms") -> int:
    return check_int_range(value, name, owner, *TIMEOUT_RANGE_MS)


@dataclass(frozen=True)
class DetectorSettings:
    """Settings of the default (``'default'``) detector backend.

    The defaults were chosen by group cross-validation on corpora/demo (models never scored
    on the voices they were trained on), and ``end_of_turn_silence_ms`` also on the real
    voicemail greetings of real-dev, which pause less than the synthetic ones: see
    BENCHMARKS.md. Tune them per country with ``lsdlab tune``.

    Parameters
    ----------
    timeout_ms : int
        The LSD timeout, 500-10000 ms (the UAS API's ``lsd_timeout_milliseconds``).
    timer_mode : TimerMode
        When the timeout starts: at network connect, or at the detected pick-up after
        in-band ringback.
    machine_threshold : float
        Decide ANSWER_MACHINE as soon as the model's P(machine) reaches this.
    human_threshold : float
        Decide LIVE once the speaker has paused for ``end_of_turn_silence_ms`` and the model's
        P(human) reaches this. The default 0.5 takes the likelier class at the end of a turn:
        a machine called LIVE costs an agent a few seconds, a person kept waiting risks an
        abandoned call.
    end_of_turn_silence_ms : int
        Silence after speech needed before a LIVE verdict (a person waits for a reply).
    timeout_machine_threshold : float
        At the timeout, ANSWER_MACHINE if P(machine) reaches this and the far end is still
        talking (a speaker who stopped and waits is never called a machine), else UNKNOWN.
        The default 0.8 is below ``machine_threshold`` because by then the far end has spoken
        ``min_machine_speech_ms`` and is still talking, itself evidence of a machine; at 0.95
        two real voicemail prompts of 3-4 s speech (P(machine) 0.85-0.97) ended UNKNOWN.
    min_machine_speech_ms : int
        The model calls ANSWER_MACHINE (at its threshold or at a timeout) only after this much
        speech: a person's first turn lasts up to about 3 s, so less speech than that is no
        evidence of a machine whatever its cadence (beeps, fax and SIT tones are not held back).
    initial_silence_ms : int or None
        If nothing is said this long after the pick-up, decide by ``initial_silence_result``
        (None: wait for the timeout, then UNKNOWN).
    speech_deadline_ms : int or None
        Decide at the latest this long after the first speech: ANSWER_MACHINE if P(machine)
        reaches ``timeout_machine_threshold``, else UNKNOWN (the dialer passes it to an agent).
        For rules that count the delay from the start of speech (GB: 2 s); None: no such limit.
    initial_silence_result : str
        'unknown' or 'machine'.
    beep_min_ms : int
        Shortest single tone (400-2000 Hz) taken as an answering-machine beep.
    vad_margin_db : float
        Speech must be this far above the adaptive noise floor (a clearly voiced hop that
        continues a burst needs 5 dB less, at least 2 dB). Used by ``vad='energy'`` only.
    vad : str
        The speech-activity front end: 'energy' (level above the noise floor and voicing) or
        'silero' (Silero VAD through onnxruntime; needs the ``lsdlab[vad]`` extra, see
        :mod:`lsdlab.detect.vad`). Tones, ringback and steady sounds are excluded in both.
        Measured in benchmarks/VAD.md.
    fax_detect, beep_detect, sit_detect : bool
        Switch the tone detectors.
    model : str
        The model: 'builtin:default' or a path to a .skops file ('none' only when tracing
        features for training).
    """

    timeout_ms: int = 7000
    timer_mode: TimerMode = TimerMode.TIMEOUT_FROM_NETWORK_CONNECT
    machine_threshold: float = 0.98
    human_threshold: float = 0.5
    end_of_turn_silence_ms: int = 750
    timeout_machine_threshold: float = 0.8
    min_machine_speech_ms: int = 3000
    initial_silence_ms: int | None = None
    speech_deadline_ms: int | None = None
    initial_silence_result: str = "unknown"
    beep_min_ms: int = 120
    vad_margin_db: float = 9.0
    vad: str = "energy"
    fax_detect: bool = True
    beep_detect: bool = True
    sit_detect: bool = True
    model: str = "builtin:default"

    backend = "default"

    def __post_init__(self) -> None:
        o = "DetectorSettings"
        check_timeout_ms(self.timeout_ms, o)
        if not isinstance(self.timer_mode, TimerMode):
            try:
                object.__setattr__(self, "timer_mode", TimerMode(self.timer_mode))
            except ValueError:
                raise ParameterError(
                    f"The 'timer_mode' parameter of {o} must be one of "
                    f"{[m.name for m in TimerMode]}. Got {self.timer_mode!r} instead."
                ) from None
        check_real_range(self.machine_threshold, "machine_threshold", o, 0.5, 1.0)
        check_real_range(self.human_threshold, "human_threshold", o, 0.0, 1.0)
        check_int_range(self.end_of_turn_silence_ms, "end_of_turn_silence_ms", o, 100, 5000)
        check_real_range(self.timeout_machine_threshold, "timeout_machine_threshold", o, 0.0, 1.0)
        check_int_range(self.min_machine_speech_ms, "min_machine_speech_ms", o, 0, 10000)
        if self.initial_silence_ms is not None:
            check_int_range(self.initial_silence_ms, "initial_silence_ms", o, 500, 10000)
        if self.speech_deadline_ms is not None:
            check_int_range(self.speech_deadline_ms, "speech_deadline_ms", o, 200, 10000)
        check_choice(self.initial_silence_result, "initial_silence_result", o, ("unknown", "machine"))
        check_int_range(self.beep_min_ms, "beep_min_ms", o, 40, 2000)
        check_real_range(self.vad_margin_db, "vad_margin_db", o, 3.0, 30.0)
        check_choice(self.vad, "vad", o, VAD_CHOICES)
        if self.vad == "silero":
            from .vad import check_silero_available

            check_silero_available(o)
        for name in ("fax_detect", "beep_detect", "sit_detect"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"The {name!r} parameter of {o} must be a bool. Got {getattr(self, name)!r} instead.")
        if not isinstance(self.model, str) or not self.model:
            raise ParameterError(f"The 'model' parameter of {o} must be 'builtin:default' or a path to a .skops file. Got {self.model!r} instead.")

    def replace(self, **changes: Any) -> DetectorSettings:
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def with_call(self, timeout_ms: int | None = None, timer_mode: TimerMode | str | None = None) -> DetectorSettings:
        """These settings with a call's LSD timeout and timer mode applied (None: keep this
        setting's own); the timeout is checked against the UAS API's range."""
        changes: dict[str, Any] = {}
        if timeout_ms is not None:
            check_timeout_ms(timeout_ms, "start_call", "lsd_timeout_milliseconds")
            changes["timeout_ms"] = int(timeout_ms)
        if timer_mode is not None:
            changes["timer_mode"] = TimerMode(timer_mode) if not isinstance(timer_mode, TimerMode) else timer_mode
        return replace(self, **changes) if changes else self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["timer_mode"] = self.timer_mode.name
        return {"backend": self.backend, **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> DetectorSettings:
        return _from_dict(cls, d)


def _from_dict(cls, d: dict):
    if not isinstance(d, dict):
        raise SettingsError(f"detector settings must be a JSON object, got {type(d).__name__}.")
    d = dict(d)
    backend = d.pop("backend", cls.backend)
    if backend != cls.backend:
        raise SettingsError(f"detector.backend is {backend!r}, expected {cls.backend!r}.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise SettingsError(
            f"detector.{unknown[0]}: unknown key for the {cls.backend!r} backend; known keys: {sorted(known)}."
        )
    try:
        return cls(**d)
    except ParameterError as exc:
        raise SettingsError(f"detector: {exc}") from None
    except TypeError as exc:
        raise SettingsError(f"detector: {exc}") from None
