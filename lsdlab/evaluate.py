"""Running detectors over labelled corpora: decisions, traces and their figures.

corpus -> offline far end -> detector -> per-call decisions -> metrics. Traces (threshold-free
per-call records of the default detector) are cached so that thresholds and timeouts can be
re-scored without touching audio again (the tuner's inner loop).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

from ._validation import check_real_range
from .audio.channel import ChannelSettings
from .audio.io import atomic_path
from .corpus import Call, Corpus
from .detect import (
    CallTrace,
    DetectorSettings,
    LiveSpeakerDetector,
    Verdict,
    classify,
    make_detector,
    trace_audio,
)
from .farend.offline import OfflineFarEnd

__all__ = ["Decision", "run_corpus", "trace_corpus", "decisions_from_traces", "write_decisions", "read_decisions",
           "longest_pauses"]


@dataclass(frozen=True)
class Decision:
    """One call's outcome (a row of ``--decisions OUT.csv``)."""

    path: str
    label: str
    decision: str
    decided_at_s: float
    reason: str
    confidence: float
    greeting_end_s: float | None = None
    speech_onset_s: float | None = None
    answer_s: float | None = None
    beep_s: float | None = None

    @classmethod
    def of(cls, call: Call, v: Verdict) -> Decision:
        return cls(call.path, call.label.value, v.decision, round(v.decided_at_s, 6), v.reason.value,
                   round(v.confidence, 6), call.greeting_end_s, call.speech_onset_s, call.answer_s, call.beep_s)


def _farend(corpus: Corpus, channel: ChannelSettings | None, lead_in_s, seed: int, after: str = "hangup") -> OfflineFarEnd:
    return OfflineFarEnd(corpus.root, channel=channel, lead_in_s=lead_in_s, seed=seed, after=after)


def _one_decision(args) -> Decision:
    far, call, settings = args
    y = far.audio(call.path)
    return Decision.of(call, classify(y, 8000, settings, frame_length=800))


def _one_trace(args) -> CallTrace:
    far, call, settings = args
    return trace_audio(far.audio(call.path), 8000, settings)


def _mp_context():
    """How corpus workers start: forked when this process has a single thread (fast, and no
    ``__main__`` guard needed in scripts); otherwise from a fork server, because a fork copies
    other threads' locks in whatever state they are (a SIP endpoint's pjsua2 threads, a
    Jupyter kernel's I/O threads) and the children can hang. Scripts that run SIP calls and
    corpus jobs together then need the usual ``if __name__ == "__main__":`` guard."""
    import multiprocessing
    import threading

    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    # the fork server dies with this process (and its workers with it): no orphans after a kill
    ctx.set_forkserver_preload(["lsdlab._forkserver_dies_with_parent", "lsdlab.evaluate"])
    return ctx


def _worker_init(parent_pid: int | None) -> None:
    """In each corpus worker: die with the parent (a killed evaluate/tune leaves no workers)
    and ignore Ctrl-C, which a terminal sends to the whole process group: the parent stops
    the pool (one line, not a traceback per worker)."""
    import contextlib
    import signal

    from ._signals import die_with_parent

    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)


def _stop_pool(ex: ProcessPoolExecutor) -> None:
    """End a pool now: queued work cancelled, running workers killed (an interrupted or
    terminated run must not first finish the whole corpus, as shutdown(wait=True) would)."""
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(timeout=5)


def _map(fn, items: list, *, jobs: int, progress: bool, desc: str) -> list:
    import os

    from tqdm.auto import tqdm

    # the start method is chosen before the progress bar starts its monitor thread: that
    # thread alone must not switch a script to the fork server (which re-imports __main__
    # and so needs an `if __name__ == "__main__":` guard)
    ctx = _mp_context() if jobs > 1 and len(items) >= 8 else None
    bar = tqdm(total=len(items), desc=desc, disable=not progress, unit="call", leave=False)
    try:
        if ctx is None:
            out = []
            for it in items:
                out.append(fn(it))
                bar.update()
            return out
        # a forked worker's parent is this process; a fork server's worker's parent is the
        # fork server (which itself dies with this process)
        parent = os.getpid() if ctx.get_start_method() == "fork" else None
        ex = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(parent,))
        try:
            out = []
            for r in ex.map(fn, items, chunksize=max(1, len(items) // (jobs * 8))):
                out.append(r)
                bar.update()
        except BaseException:  # Ctrl-C, SIGTERM (SystemExit) or a failed call: stop the workers now
            _stop_pool(ex)
            raise
        ex.shutdown(wait=True)
        return out
    finally:
        bar.close()


def run_corpus(corpus: Corpus, settings=None, *, channel: ChannelSettings | None = None,
               lead_in_s: float | tuple[float, float] = 0.0, seed: int = 0, jobs: int = 1,
               progress: bool = False, after: str = "hangup") -> list[Decision]:
    """Stream every call through the offline far end into a detector; one Decision per call."""
    far = _farend(corpus, channel, lead_in_s, seed, after)
    make_detector(settings)  # validate settings (and load the model) once, here
    items = [(far, c, settings) for c in corpus.calls]
    return _map(_one_decision, items, jobs=jobs, progress=progress, desc="evaluate")


def trace_corpus(corpus: Corpus, settings: DetectorSettings | None = None, *, channel: ChannelSettings | None = None,
                 lead_in_s: float | tuple[float, float] = 0.0, seed: int = 0, jobs: int = 1,
                 progress: bool = False, after: str = "hangup") -> list[CallTrace]:
    """The :class:`CallTrace` of every call (default backend), for fast re-scoring."""
    far = _farend(corpus, channel, lead_in_s, seed, after)
    items = [(far, c, settings) for c in corpus.calls]
    return _map(_one_trace, items, jobs=jobs, progress=progress, desc="trace")


def decisions_from_traces(corpus: Corpus | Sequence[Call], traces: Sequence[CallTrace],
                          settings: DetectorSettings) -> list[Decision]:
    """Decisions under ``settings`` replayed from traces (equal to a streaming run)."""
    calls = corpus.calls if isinstance(corpus, Corpus) else corpus
    return [Decision.of(c, t.replay(settings)) for c, t in zip(calls, traces)]


def longest_pauses(far: OfflineFarEnd, calls: Sequence[Call], *, within_s: float = 3.0) -> list[float | None]:
    """Per call, the longest pause between the detector's own speech bursts (the ones its
    cadence features see) that starts within ``within_s`` (0-10) seconds of the first speech,
    in the first 10 s of the call audio ``far`` makes: 0.0 for a single burst, None when no speech is found.

    A LIVE verdict needs ``end_of_turn_silence_ms`` of silence after speech, so a machine's
    greeting that pauses that long is where it can be called LIVE; comparing these pauses in a
    synthetic corpus and in real greetings shows whether the corpus is fair to the detector.
    """
    within_s = check_real_range(within_s, "within_s", "longest_pauses", 0.0, 10.0)
    out: list[float | None] = []
    for c in calls:
        det = LiveSpeakerDetector(DetectorSettings(timeout_ms=10000, model="none"), trace=True)
        det.push(far.audio(c.path))
        det.end()
        b = det.speech_bursts()
        gaps = [s1 - e0 for (_s0, e0), (s1, _e1) in zip(b, b[1:]) if e0 - b[0][0] <= within_s]
        out.append(None if not b else max(gaps, default=0.0))
    return out


_COLUMNS = [f for f in Decision.__dataclass_fields__]


def write_decisions(path: str | os.PathLike, decisions: Sequence[Decision]) -> None:
    """Write decisions as CSV, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_COLUMNS)
        w.writeheader()
        for d in decisions:
            w.writerow({k: ("" if v is None else v) for k, v in asdict(d).items()})


def read_decisions(path: str | os.PathLike) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
