"""The streaming live-speaker detector: tones, speech activity, cadence features, model, verdicts.

The detector knows nothing of SIP: it is fed 8 kHz audio from connect and raises events.
"""

from __future__ import annotations

from dataclasses import replace as _replace

import numpy as np

from ..audio.io import SR, resample, valid_audio
from ..errors import ParameterError
from .base import HOP, StreamingDetector
from .detector import CallTrace, LiveSpeakerDetector
from .features import FEATURE_NAMES
from .settings import TIMEOUT_RANGE_MS, DetectorSettings, check_timeout_ms, settings_from_dict
from .types import (
    AnswerDetected,
    Beep,
    Event,
    FarEndType,
    GreetingEnd,
    MachineReady,
    Reason,
    SpeechOnset,
    TimerMode,
    Tone,
    Verdict,
)

__all__ = [
    "HOP",
    "FEATURE_NAMES",
    "TIMEOUT_RANGE_MS",
    "StreamingDetector",
    "LiveSpeakerDetector",
    "CallTrace",
    "DetectorSettings",
    "settings_from_dict",
    "check_timeout_ms",
    "make_detector",
    "with_call_options",
    "classify",
    "trace_audio",
    "FarEndType",
    "Reason",
    "TimerMode",
    "Event",
    "SpeechOnset",
    "GreetingEnd",
    "AnswerDetected",
    "Beep",
    "Tone",
    "MachineReady",
    "Verdict",
]


def make_detector(settings=None) -> StreamingDetector:
    """A detector for ``settings`` of any backend (DetectorSettings or AmdSettings)."""
    if settings is None or isinstance(settings, DetectorSettings):
        return LiveSpeakerDetector(settings)
    from .app_amd import AmdSettings, AppAmdDetector

    if isinstance(settings, AmdSettings):
        return AppAmdDetector(settings)
    if isinstance(settings, dict):
        return make_detector(settings_from_dict(settings))
    raise ParameterError(
        f"The 'settings' parameter of make_detector must be DetectorSettings, AmdSettings or a "
        f"settings dict. Got {type(settings).__name__} instead."
    )


def with_call_options(settings, *, timeout_ms: int | None = None, timer_mode: TimerMode | str | None = None):
    """``settings`` with a call's LSD timeout and timer mode applied (any backend)."""
    if settings is None:
        settings = DetectorSettings()
    changes: dict = {}
    if timeout_ms is not None:
        check_timeout_ms(timeout_ms, "start_call", "lsd_timeout_milliseconds")
        changes["timeout_ms" if isinstance(settings, DetectorSettings) else "total_analysis_time_ms"] = int(timeout_ms)
    if timer_mode is not None and isinstance(settings, DetectorSettings):
        changes["timer_mode"] = TimerMode(timer_mode) if not isinstance(timer_mode, TimerMode) else timer_mode
    return _replace(settings, **changes) if changes else settings


def _prepare(y, sr: int, owner: str) -> np.ndarray:
    y = valid_audio(y, owner=owner)
    if sr != SR:
        if not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise ParameterError(f"The 'sr' parameter of {owner} must be a positive int. Got {sr!r} instead.")
        y = resample(y, int(sr), SR)
    return y


def classify(y, sr: int = SR, settings=None, *, frame_length: int | None = None, stop_at_verdict: bool = True) -> Verdict:
    """Classify a whole clip (audio from connect). Same result as streaming it frame by frame.

    ``frame_length=None`` (the default): the default backend runs the whole-file offline path
    (:func:`lsdlab.detect.offline.run_offline`: the same verdict, bit for bit, several times
    faster); other backends are pushed 20 ms frames. An int: push frames of that many samples.

    Examples
    --------
    >>> import numpy as np
    >>> from lsdlab.detect import classify, DetectorSettings
    >>> v = classify(np.zeros(8000 * 3, np.float32), 8000, DetectorSettings(timeout_ms=2000))
    >>> (v.far_end_type.name, v.reason.name, v.decided_at_s)
    ('UNKNOWN', 'INITIAL_SILENCE', 2.0)
    """
    from .._validation import check_int_range

    if frame_length is not None:
        frame_length = check_int_range(frame_length, "frame_length", "classify", 1, 10**6)
    y = _prepare(y, sr, "classify")
    if isinstance(settings, dict):
        settings = settings_from_dict(settings)
    if frame_length is None:
        if settings is None or isinstance(settings, DetectorSettings):
            from .offline import run_offline

            v = run_offline(y, settings, stop_at_verdict=stop_at_verdict).verdict
            assert v is not None
            return v
        frame_length = 2 * HOP
    det = make_detector(settings)
    for i in range(0, len(y), frame_length):
        det.push(y[i : i + frame_length])
        if stop_at_verdict and det.verdict is not None:
            return det.verdict
    det.end()
    assert det.verdict is not None
    return det.verdict


def trace_audio(y, sr: int = SR, settings: DetectorSettings | None = None, *, model=None,
                max_s: float | None = None) -> CallTrace:
    """The threshold-free :class:`CallTrace` of a clip (for tuning and training).

    Only the first ``max_s`` seconds are analysed (None: the whole clip). Do not cut at the
    largest LSD timeout: in TIMEOUT_FROM_ANSWER_DETECT mode the timer starts at the pick-up,
    after any ringback, so a verdict can come later than 10 s from connect.
    """
    from .offline import run_offline

    y = _prepare(y, sr, "trace_audio")
    n = len(y) if max_s is None else min(len(y), int(max_s * SR))
    det = run_offline(y[:n], settings, model=model, trace=True)
    assert det.trace is not None
    det.trace.ended = n == len(y)
    return det.trace
