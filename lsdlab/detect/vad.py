"""Silero VAD as the detector's speech-activity front end (``DetectorSettings(vad='silero')``).

Silero VAD (MIT, https://github.com/snakers4/silero-vad) is a small recurrent network that
runs natively at 8 kHz on 256-sample (32 ms) windows, each fed with the 32 samples before it
(the context) and the recurrent state the previous window left. It is run here through
onnxruntime on the ``silero_vad.onnx`` file that the ``silero-vad`` wheel ships, located with
:func:`importlib.util.find_spec` and never imported (importing ``silero_vad`` pulls in torch).
The file's sha256 is checked, so every install runs the very model that was measured.

Install: ``pip install 'lsdlab[vad]'`` (onnxruntime) and ``pip install --no-deps
silero-vad==6.2.3`` (the wheel declares torch as a dependency, which its onnx file does not
need); ``make install`` does both.

No telemetry: onnxruntime's PyPI wheels (1.32 and later) record usage events on Linux, with a
persistent device identifier and an offline cache under ``~/.cache/Microsoft`` (and a
``.ses`` file in the temp folder), for upload to Microsoft. lsdlab sets
``ORT_DISABLE_TELEMETRY=1``, onnxruntime's opt-out, before it first imports onnxruntime,
unless the variable is already set (``ORT_DISABLE_TELEMETRY=0`` keeps telemetry on). The
opt-out is read once, when onnxruntime is imported: a process that imported onnxruntime
before lsdlab keeps whatever it chose then. onnxruntime also records nothing on its own when a
CI variable (``CI``, ``GITHUB_ACTIONS``, ``JENKINS_URL`` and ten more) is set to a true value,
so a CI run shows no telemetry whatever lsdlab does; a call centre's machine has none of those.

Sample clock: window k holds samples ``[256 k, 256 (k + 1))`` of the call, whatever the
``push()`` sizes, and a 10 ms hop takes the speech state of the last window complete at its
end (none before 32 ms: not speech). Results are therefore identical however the audio was
pushed, and a hop's state depends only on samples up to its end, as the energy analysis does.
The speech state has hysteresis, as Silero's own iterator: a window with P(speech) >=
``threshold`` starts speech, which lasts while P(speech) >= ``neg_threshold``.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .._hashing import file_sha256
from .._validation import check_real_range
from ..audio.io import SR, valid_audio
from ..errors import ModelError, ParameterError
from .base import HOP

__all__ = [
    "SileroVad",
    "silero_available",
    "silero_model_path",
    "speech_probabilities",
    "SILERO_WINDOW",
    "SILERO_CONTEXT",
    "SILERO_SHA256",
    "INSTALL_HINT",
]

#: Samples per Silero window at 8 kHz (32 ms) and samples of context fed before it.
SILERO_WINDOW = 256
SILERO_CONTEXT = 32
#: sha256 of ``silero_vad/data/silero_vad.onnx`` in silero-vad 6.2.3, the model measured in
#: benchmarks/VAD.md.
SILERO_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
SILERO_VERSION = "6.2.3"
INSTALL_HINT = (
    f"pip install 'lsdlab[vad]' && pip install --no-deps silero-vad=={SILERO_VERSION} "
    "(the silero-vad wheel declares torch as a dependency, which its onnx model does not need; "
    "`make install` does both)"
)
_PACKAGE = "silero_vad"
_OWNER = "DetectorSettings"


def _spec(name: str) -> Any:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def silero_available() -> str | None:
    """None if the Silero front end can run here, else what is missing (a sentence)."""
    missing = [n for n in ("onnxruntime", _PACKAGE) if _spec(n) is None]
    if not missing:
        return None
    return f"the Python package(s) {', '.join(missing)} are not installed"


def check_silero_available(owner: str = _OWNER) -> None:
    """Raise a ParameterError naming the extra when ``vad='silero'`` cannot run here."""
    why = silero_available()
    if why is not None:
        raise ParameterError(
            f"The 'vad' parameter of {owner} is 'silero', which needs the optional extra "
            f"lsdlab[vad], but {why}. Install it with: {INSTALL_HINT}; or use vad='energy'."
        )


def silero_model_path() -> Path:
    """Where ``silero_vad.onnx`` is (inside the installed silero-vad wheel), without importing it."""
    check_silero_available()
    spec = _spec(_PACKAGE)
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locs:
        p = Path(loc) / "data" / "silero_vad.onnx"
        if p.is_file():
            return p
    raise ModelError(
        f"silero_vad.onnx not found in the installed silero-vad package ({locs}); reinstall it: {INSTALL_HINT}."
    )


@lru_cache(maxsize=1)
def _session(path: str) -> Any:
    import os

    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # read at onnxruntime's import (module docstring)
    import onnxruntime as ort

    sha = file_sha256(path)
    if sha != SILERO_SHA256:
        raise ModelError(
            f"{path} has sha256 {sha}, not the {SILERO_SHA256} of silero-vad {SILERO_VERSION} that "
            f"lsdlab's vad='silero' was measured with; install that version: "
            f"pip install --no-deps silero-vad=={SILERO_VERSION}."
        )
    o = ort.SessionOptions()
    # one thread each: deterministic results, and the detector's cost stays per core
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.log_severity_level = 3
    try:
        return ort.InferenceSession(path, sess_options=o, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelError(f"onnxruntime could not load {path}: {exc}; reinstall it: {INSTALL_HINT}.") from None


_LOCK = threading.Lock()


def _shared_session() -> Any:
    """One inference session per process (read-only weights; the state is each VAD's own)."""
    p = str(silero_model_path())
    with _LOCK:
        return _session(p)


class SileroVad:
    """Streaming Silero VAD on the call's sample clock (8 kHz).

    Parameters
    ----------
    threshold : float
        P(speech) at which speech starts (Silero's default 0.5).
    neg_threshold : float or None
        Speech lasts while P(speech) stays at or above this (None: ``threshold - 0.15``,
        as Silero's own iterator).

    Examples
    --------
    >>> import numpy as np
    >>> from lsdlab.detect.vad import SileroVad, silero_available
    >>> if silero_available() is None:
    ...     vad = SileroVad()
    ...     flags = vad.hop_speech(np.zeros((50, 80), np.float32))
    ...     print(flags.shape, bool(flags.any()))
    ... else:
    ...     print((50,), False)
    (50,) False
    """

    __slots__ = ("threshold", "neg_threshold", "_sess", "_inp", "_state", "_sr", "_buf", "_nbuf",
                 "speech", "p_last", "n_windows")

    def __init__(self, *, threshold: float = 0.5, neg_threshold: float | None = None) -> None:
        o = "SileroVad"
        self.threshold = check_real_range(threshold, "threshold", o, 0.05, 0.95)
        neg = self.threshold - 0.15 if neg_threshold is None else neg_threshold
        self.neg_threshold = check_real_range(neg, "neg_threshold", o, 0.01, self.threshold)
        self._sess = _shared_session()
        self._inp = np.zeros((1, SILERO_CONTEXT + SILERO_WINDOW), np.float32)  # [context | window]
        self._state = np.zeros((2, 1, 128), np.float32)
        self._sr = np.array(SR, dtype=np.int64)
        self._buf = self._inp[0, SILERO_CONTEXT:]  # the window is filled in place
        self._nbuf = 0
        self.speech = False  # the speech state after the last complete window
        self.p_last = 0.0
        self.n_windows = 0

    def _window(self) -> float:
        out, self._state = self._sess.run(None, {"input": self._inp, "state": self._state, "sr": self._sr})
        self._inp[0, :SILERO_CONTEXT] = self._inp[0, -SILERO_CONTEXT:]
        p = float(out[0, 0])
        self.p_last = p
        self.n_windows += 1
        self.speech = p >= (self.neg_threshold if self.speech else self.threshold)
        return p

    def push(self, y: np.ndarray) -> list[float]:
        """Feed samples (any length); return P(speech) of each window they completed."""
        y = valid_audio(y, name="y", owner="SileroVad.push")
        out: list[float] = []
        i, n = 0, len(y)
        while i < n:
            k = min(SILERO_WINDOW - self._nbuf, n - i)
            self._buf[self._nbuf : self._nbuf + k] = y[i : i + k]
            self._nbuf += k
            i += k
            if self._nbuf == SILERO_WINDOW:
                self._nbuf = 0
                out.append(self._window())
        return out

    def hop_speech(self, hops: np.ndarray) -> np.ndarray:
        """Speech flags of consecutive 10 ms hops, shape (n, 80) -> (n,) bool: the speech state
        of the last window complete at each hop's end."""
        flags = np.zeros(len(hops), dtype=bool)
        buf = self._buf
        for j in range(len(hops)):
            k = self._nbuf
            if k + HOP < SILERO_WINDOW:
                buf[k : k + HOP] = hops[j]
                self._nbuf = k + HOP
            else:  # a hop completes at most one window (80 < 256)
                r = SILERO_WINDOW - k
                buf[k:] = hops[j, :r]
                self._window()
                buf[: HOP - r] = hops[j, r:]
                self._nbuf = HOP - r
            flags[j] = self.speech
        return flags


def speech_probabilities(y: np.ndarray, sr: int = SR) -> np.ndarray:
    """P(speech) of each complete 32 ms window of ``y`` (8 kHz), from a fresh VAD."""
    if sr != SR:
        raise ParameterError(f"The 'sr' parameter of speech_probabilities must be {SR}. Got {sr!r} instead; resample first.")
    return np.asarray(SileroVad().push(y), dtype=np.float64)
