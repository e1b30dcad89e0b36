"""The streaming live-speaker detector: tones, speech activity, cadence features, model, verdicts.

The detector knows nothing of SIP: it is fed 8 kHz audio from connect and raises events.
"""

from __future__ import annotations

import numpy as np

from ..audio.io import SR, resample, valid_audio
from ..errors import ParameterError
from .backends import BACKEND_NAMES, Backend, backend_of, get_backend, settings_from_dict
from .base import HOP, StreamingDetector
from .detector import CallTrace, LiveSpeakerDetector
from .features import FEATURE_NAMES
from .settings import TIMEOUT_RANGE_MS, DetectorSettings, check_timeout_ms
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
    "BACKEND_NAMES",
    "Backend",
    "get_backend",
    "backend_of",
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
    if settings is None:
        return LiveSpeakerDetector(settings)
    if isinstance(settings, dict):
        settings = settings_from_dict(settings)
    try:
        backend = backend_of(settings)
    except ParameterError:
        raise ParameterError(
            f"The 'settings' parameter of make_detector must be DetectorSettings, AmdSettings or a "
            f"settings dict. Got {type(settings).__name__} instead."
        ) from None
    return backend.detector_class(settings)


def with_call_options(settings, *, timeout_ms: int | None = None, timer_mode: TimerMode | str | None = None):
    """``settings`` (any backend; None: the default one's) with a call's LSD timeout and timer
    mode applied: ``settings.with_call(timeout_ms, timer_mode)``."""
    if settings is None:
        settings = DetectorSettings()
    return backend_of(settings, owner="settings").settings_class.with_call(settings, timeout_ms, timer_mode)


def _prepare(y, sr: int, owner: str) -> np.ndarray:
    y = valid_audio(y, owner=owner)
    if sr != SR:
        if not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise ParameterError(f"The 'sr' parameter of {owner} must be a positive int. Got {sr!r} instead.")
        y = resample(y, int(sr), SR)
    return y


def classify(y, sr: int = SR, settings=None, *, frame_length: int | None = None, stop_at_verdict: bool = True) -> Verdict:
    """Classify a whole clip (audio from connect). Same result as streaming it frame by frame.

    Parameters
    ----------
    y : array of float or int16
        The far end's audio from the moment the call connected (mono).
    sr : int
        Its sample rate; anything other than 8000 Hz is resampled to 8 kHz first.
    settings : DetectorSettings, AmdSettings, dict or None
        Settings of any backend (a dict: as :func:`settings_from_dict` reads); None: the
        default backend's defaults.
    frame_length : int or None
        None (the default): the default backend runs the whole-file offline path
        (:func:`lsdlab.detect.offline.run_offline`: the same verdict, bit for bit, several
        times faster); other backends are pushed 20 ms frames. An int (1 to 10**6): push
        frames of that many samples; the verdict does not depend on it.
    stop_at_verdict : bool
        Stop at the verdict (True) or push the whole clip before ending the stream.

    Returns
    -------
    Verdict
        The one verdict: far-end type, reason, confidence and ``decided_at_s``. A clip that
        ends before any verdict gives ``UNKNOWN``/``HANGUP`` at its end.

    Raises
    ------
    ParameterError
        Audio that is empty, not finite or not 1-D; a bad ``sr``, ``frame_length`` or settings.

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
