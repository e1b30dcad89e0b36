"""The whole-file offline path: a recorded call through the streaming detector, in blocks.

The streaming detector's front end (:class:`~lsdlab.detect.analysis.HopAnalyzer`) analyses
each 10 ms hop from the samples up to its end, and its state machine steps hop by hop; how the
audio was cut into pushes changes neither. :func:`run_offline` therefore validates the clip
once, cuts it into hops once and feeds the state machine blocks of ``chunk_hops`` hops (the
front end of a block in one vectorised pass): the verdict, its reason and decision time, every
event and the :class:`~lsdlab.detect.detector.CallTrace` are those of 20 ms streaming, bit for
bit (tests/test_offline.py checks every event and trace array over corpus samples;
benchmarks/bench_scale.py over whole corpora).

In trace mode the model's P(machine) does not steer the state machine (a trace records and
never decides), so it is computed once per call for all model evaluations together, with the
same per-row arithmetic as :meth:`CompiledModel.machine_proba` (trees walked in order, leaf
values added in tree order, the same logistic).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..audio.io import valid_audio
from .base import HOP
from .detector import LiveSpeakerDetector
from .model import CompiledModel, _proba
from .settings import DetectorSettings

if TYPE_CHECKING:
    from .model import CadenceClassifier

__all__ = ["run_offline", "CHUNK_HOPS", "batch_machine_proba"]

#: Hops analysed per block (0.64 s): long enough that numpy's per-call cost is spread over
#: many hops, short enough that a block's arrays stay in the CPU cache and that a run which
#: stops at the verdict analyses little audio after it.
CHUNK_HOPS = 64


class _Deferred:
    """Stands in for the model in trace mode: records nothing, returns NaN (the trace's
    P(machine) column is filled in by :func:`batch_machine_proba` before the call ends)."""

    __slots__ = ()

    def machine_proba(self, x) -> float:
        return math.nan


def _batchable(model) -> bool:
    """Whether ``model.machine_proba`` is one of the two compiled-tree paths (a model of any
    other class, or one that overrides it, is called per evaluation as in streaming)."""
    if type(model) is CompiledModel:
        return True
    cls = type(model)
    if cls.__name__ == "CadenceClassifier" and cls.__module__ == "lsdlab.detect.model":
        from ._estimator import CadenceClassifier

        return cls is CadenceClassifier and "trees_" in model.__dict__
    return False


def batch_machine_proba(model: CompiledModel | CadenceClassifier, X: np.ndarray) -> np.ndarray:
    """P(machine) of each row of ``X``: exactly ``[model.machine_proba(x) for x in X]``.

    All rows walk all trees at once; each row's leaf values are then added in tree order
    (``cumsum`` along the row, as the one-row path) and the offset and logistic applied per
    row by the same Python arithmetic.
    """
    feat, thr, left, right, val, root, depth = model.tree_arrays_
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if n == 0:
        return np.zeros(0, np.float64)
    rows = np.arange(n)[:, None]
    idx = np.broadcast_to(root, (n, len(root)))
    for _ in range(depth):
        idx = np.where(X[rows, feat[idx]] <= thr[idx], left[idx], right[idx])
    z = np.cumsum(val[idx], axis=1)[:, -1].tolist()
    off = model.offset_
    return np.array([_proba(off + zi) for zi in z], dtype=np.float64)


def run_offline(y, settings: DetectorSettings | None = None, *, model: CadenceClassifier | None = None,
                trace: bool = False, stop_at_verdict: bool = False, chunk_hops: int = CHUNK_HOPS) -> LiveSpeakerDetector:
    """Run the default detector over a whole recorded clip (8 kHz, from connect).

    Returns the detector, ended (``det.verdict``, ``det.events``, ``det.trace``), as if the clip
    had been pushed in 20 ms frames and ``end()`` called; with ``stop_at_verdict`` it returns
    as soon as the block holding the verdict is done (not ended: the events after the verdict
    are not all there). ``trace=True`` records the :class:`CallTrace` (see
    :class:`LiveSpeakerDetector`).
    """
    from .._validation import check_int_range

    chunk_hops = check_int_range(chunk_hops, "chunk_hops", "run_offline", 1, 10**7)
    x = valid_audio(y, name="y", owner="run_offline")
    det = LiveSpeakerDetector(settings, model=model, trace=trace)
    real = det.model
    defer = trace and real is not None and _batchable(real)
    if defer:
        det.model = _Deferred()  # type: ignore[assignment]
    n = len(x) // HOP
    hops = x[: n * HOP].reshape(n, HOP)
    run = det._run_block
    for i in range(0, n, chunk_hops):
        run(hops[i : i + chunk_hops])
        if stop_at_verdict and det.verdict is not None:
            return det
    r = len(x) - n * HOP
    if r:  # the samples of an incomplete last hop wait in the buffer, as after push()
        det._buf[:r] = x[n * HOP :]
        det._nbuf = r
    if defer:
        det.model = real
        tr = det.trace
        assert tr is not None
        tr._p = batch_machine_proba(real, tr.X)  # type: ignore[arg-type]
    det.end()
    return det
