"""CallPool: many concurrent real calls from worker processes, each owning one SIP endpoint.

The pjsua2 wheel allows one endpoint and at most 4 calls per process. :class:`CallPool` starts
``workers`` processes (multiprocessing ``spawn``, so it works from scripts and notebooks
alike); each creates its own endpoint and ``calls_per_worker`` :class:`UASCallChannel`
threads that take jobs from a shared queue. :meth:`CallPool.run` places every job and returns
one :class:`CallResult` per job, in job order, with a tqdm progress bar.
This module is the parent half; the code that runs in each worker is
:mod:`lsdlab.uas._pool_worker`.

Examples
--------
>>> from lsdlab.uas import CallPool, LiveSpeakerDetectionSettings as LSD   # doctest: +SKIP
>>> jobs = [(uri, {"live_speaker_detect": LSD.DEFAULT, "lsd_timeout_milliseconds": 5000})
...         for uri in uris]                                                # doctest: +SKIP
>>> with CallPool(workers=4) as pool:                                       # doctest: +SKIP
...     results = pool.run(jobs)
>>> sum(r.far_end_type == r.far_end_type.LIVE for r in results)             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from .._validation import check_choice, check_int_range, check_real_range
from ..errors import ParameterError, SipError
from ._enums import CallFarEndType, Cause, State

if TYPE_CHECKING:
    import multiprocessing.queues
    import multiprocessing.synchronize

__all__ = ["CallPool", "CallJob", "CallResult", "HOLD_MODES"]

log = logging.getLogger("lsdlab.uas.pool")

#: What a worker does once a call is answered (and classified, with LSD on):
#: 'verdict' hangs up at once (a dialer passing the call on), 'far_end' waits until the far
#: end hangs up (at most ``max_call_s``); a number holds the call that many seconds.
HOLD_MODES = ("verdict", "far_end")

_CALL_KEYS = ("call_from", "seconds_timeout", "codecs", "live_speaker_detect", "lsd_timeout_milliseconds")


@dataclass(frozen=True)
class CallJob:
    """One call to place: ``call_to``, keyword options of :meth:`UASCallChannel.call`, and
    how long to ``hold`` it after the answer (see :data:`HOLD_MODES`; None = the pool's)."""

    call_to: str
    options: dict = field(default_factory=dict)
    hold: str | float | None = None
    tag: Any = None


@dataclass(frozen=True)
class CallResult:
    """The outcome of one job (picklable; :meth:`to_dict` for JSON).

    states: the channel's states during the call (IDLE, CALL_OUTGOING, RING_OUTGOING,
    ANSWERED, IDLE for an answered call). cause, raw_cause: as ``channel.cause()`` and
    ``Details.raw_cause``. far_end_type, lsd_reason, lsd_confidence, lsd_decided_at_s: the
    LSD verdict (audio time from connect). codec: 'g711a'/'g711u'. setup_s: INVITE sent to
    200 OK. Frame statistics of the far end's audio, timestamped as frames reach the media
    bridge: frames, max_frame_gap_ms, frame_gaps_over_60ms, empty_frames (no audio from
    the stream), max_frame_lag_ms (longest wait before the detector took a frame),
    audio_start_ms (audio time from connect to the first frame that is not digital silence).
    slot_wait_s: how long the call waited for one of its process's 4 pjsua call slots.
    error: why the job could not run or was refused: an exception text, 'cancelled', a dead
    worker, NOCHANNELS after 30 s without a free call slot, a 503 refusal by the far end.
    """

    index: int
    call_to: str
    tag: Any = None
    states: tuple = ()
    cause: Cause | None = None
    raw_cause: str = ""
    far_end_type: CallFarEndType = CallFarEndType.UNKNOWN
    lsd_reason: Any = None
    lsd_confidence: float | None = None
    lsd_decided_at_s: float | None = None
    codec: str = ""
    setup_s: float | None = None
    frames: int = 0
    max_frame_gap_ms: float = 0.0
    frame_gaps_over_60ms: int = 0
    empty_frames: int = 0
    max_frame_lag_ms: float = 0.0
    audio_start_ms: int | None = None
    sip_call_id: str = ""
    worker: int = -1
    started_at: float = 0.0  # time.time() when the call was placed
    ended_at: float = 0.0
    slot_wait_s: float = 0.0  # time spent waiting for a free pjsua call slot (NOCHANNELS) first
    error: str | None = None

    @property
    def answered(self) -> bool:
        return State.ANSWERED in self.states

    @property
    def decision(self) -> str:
        """'human', 'machine', 'fax' or 'unknown' (the corpus decision names)."""
        from ..detect.types import DECISION_NAMES

        return DECISION_NAMES.get(self.far_end_type, "unknown")

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, Enum):
                d[k] = v.name
        d["states"] = [s.name if isinstance(s, Enum) else s for s in self.states]
        return d


def _as_job(job: Any, i: int) -> CallJob:
    if isinstance(job, CallJob):
        j = job
    elif isinstance(job, str):
        j = CallJob(job)
    elif isinstance(job, (tuple, list)) and 1 <= len(job) <= 2:
        j = CallJob(job[0], dict(job[1]) if len(job) == 2 and job[1] is not None else {})
    else:
        raise ParameterError(
            f"Each job of CallPool.run must be a 'sip:' URI, a (call_to, options) pair or a CallJob. "
            f"Job {i} is {job!r}."
        )
    if not isinstance(j.call_to, str) or not j.call_to:
        raise ParameterError(f"Job {i} of CallPool.run has no 'call_to' string. Got {j.call_to!r} instead.")
    if not isinstance(j.options, dict):
        raise ParameterError(f"The options of job {i} of CallPool.run must be a dict. Got {j.options!r} instead.")
    unknown = set(j.options) - set(_CALL_KEYS)
    if unknown:
        raise ParameterError(
            f"The options of job {i} of CallPool.run hold unknown key(s) {sorted(unknown)}; "
            f"known: {list(_CALL_KEYS)} (the keyword arguments of UASCallChannel.call)."
        )
    if j.hold is not None:
        _check_hold(j.hold, f"job {i}")
    return j


def _check_hold(hold: Any, owner: str) -> str | float:
    if isinstance(hold, str):
        return check_choice(hold, "hold", owner, HOLD_MODES)
    return check_real_range(hold, "hold", owner, 0.0, 3600.0)


class CallPool:
    """Worker processes placing real calls with :class:`UASCallChannel` (4 per process).

    Parameters (keyword-only)
    ----------
    workers : int
        Worker processes (each owns one pjsua2 endpoint on its own SIP port).
    calls_per_worker : int
        Concurrent calls per worker, 1-4 (the wheel's limit is 4 per process).
    hold : {'verdict', 'far_end'} or float
        Default for jobs: after the answer (and the LSD verdict), hang up at once, wait for
        the far end to hang up, or hold the call this many seconds.
    max_call_s : float
        Upper bound on a call's life after the answer (hang up then).
    start_timeout_s : float
        How long to wait for the workers to come up.
    log_level : int
        pjsip log level inside the workers (routed to their ``logging``).
    **channel_options
        Passed to each worker's :class:`UASCallChannel` (e.g. ``response_timeout_s``,
        ``no_answer_timeout_s``, ``rtp_timeout_s``, ``outbound_proxy``, ``gateway``); ``host``, ``transport``
        and ``port`` set up the worker's endpoint (a non-zero ``port`` gives worker ``i``
        ``port + i``).

    Use it as a context manager (or call :meth:`close`); the workers also stop when the
    parent exits. :meth:`run` can be called many times. After Ctrl-C (KeyboardInterrupt)
    during :meth:`run`, the calls in progress are hung up, the workers shut down cleanly
    and ``run`` returns what finished (the rest marked ``error='cancelled'``,
    ``pool.interrupted`` True).
    """

    def __init__(self, *, workers: int = 2, calls_per_worker: int = 4, hold: str | float = "verdict",
                 max_call_s: float = 60.0, start_timeout_s: float = 60.0, log_level: int = 1,
                 **channel_options: Any) -> None:
        owner = "CallPool"
        self.workers = check_int_range(workers, "workers", owner, 1, 256)
        self.calls_per_worker = check_int_range(calls_per_worker, "calls_per_worker", owner, 1, 4)
        self.hold = _check_hold(hold, owner)
        self.max_call_s = check_real_range(max_call_s, "max_call_s", owner, 1.0, 3600.0)
        self.start_timeout_s = check_real_range(start_timeout_s, "start_timeout_s", owner, 1.0, 600.0)
        self.log_level = check_int_range(log_level, "log_level", owner, 0, 6)
        known = {"host", "port", "transport", "outbound_proxy", "registrar", "username", "password",
                 "realm", "gateway", "response_timeout_s", "no_answer_timeout_s", "rtp_timeout_s"}
        unknown = set(channel_options) - known
        if unknown:
            raise ParameterError(
                f"CallPool got unknown channel option(s) {sorted(unknown)}; known: {sorted(known)}."
            )
        self.channel_options = dict(channel_options)
        self._procs: list[Any] = []
        self._tasks: list[multiprocessing.queues.Queue[Any]] = []  # one per worker
        self._results: multiprocessing.queues.Queue[Any] | None = None
        self._stop: multiprocessing.synchronize.Event | None = None
        self._started = False
        self.interrupted = False
        self._late_results: list[CallResult] = []
        self.ports: list[int] = []
        self.worker_stats: list[dict] = []

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> CallPool:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CallPool workers={self.workers} calls_per_worker={self.calls_per_worker} started={self._started}>"

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers (e.g. to read their CPU time from /proc)."""
        return [p.pid for p in self._procs if p.pid is not None]

    @property
    def capacity(self) -> int:
        """Calls the pool can hold at once."""
        return self.workers * self.calls_per_worker

    def start(self) -> CallPool:
        """Start the workers and wait until each has its endpoint and channels."""
        if self._started:
            return self
        from .._extras import require

        require("sip", "CallPool")  # in this process, before any worker starts
        from ._pool_worker import _worker_main

        ctx = mp.get_context("spawn")
        self._tasks = [ctx.Queue() for _ in range(self.workers)]
        self._results = ctx.Queue()
        self._stop = ctx.Event()
        self._started = True
        self.interrupted = False
        try:
            for i in range(self.workers):
                conf = {
                    "worker": i,
                    "calls": self.calls_per_worker,
                    "channel_options": self.channel_options,
                    "max_call_s": self.max_call_s,
                    "log_level": self.log_level,
                    "rtp_port": 10000 + 400 * (i % 100),
                    "parent_pid": os.getpid(),
                }
                p = ctx.Process(target=_worker_main, args=(conf, self._tasks[i], self._results, self._stop),
                                daemon=True, name=f"lsdlab-callpool-{i}")
                p.start()
                self._procs.append(p)
            ports: dict[int, int] = {}
            end = time.monotonic() + self.start_timeout_s
            while len(ports) < self.workers:
                try:
                    msg = self._results.get(timeout=0.2)
                except queue.Empty:
                    dead = [i for i, p in enumerate(self._procs) if not p.is_alive() and i not in ports]
                    if dead:
                        raise SipError(
                            f"CallPool worker {dead[0]} exited during start-up (exit code "
                            f"{self._procs[dead[0]].exitcode}). Workers are started with "
                            f"multiprocessing 'spawn': in a script, create the pool under "
                            f"`if __name__ == '__main__':`."
                        ) from None
                    if time.monotonic() > end:
                        raise SipError(f"CallPool workers did not start within {self.start_timeout_s} s.") from None
                    continue
                if msg[0] == "error":
                    raise SipError(f"CallPool worker {msg[1]} failed to start: {msg[2]}")
                if msg[0] == "ready":
                    ports[msg[1]] = msg[2]
            self.ports = [ports[i] for i in range(self.workers)]
        except BaseException:
            self.close()
            raise
        log.info("call pool up: %d workers on ports %s", self.workers, self.ports)
        return self

    def close(self, timeout_s: float = 15.0) -> None:
        """Hang up every call, stop the workers (exit code 0) and wait for them."""
        if not self._procs:
            self._started = False
            return
        # start() creates the queues and the event before the first worker
        assert self._stop is not None and self._tasks and self._results is not None
        self._stop.set()
        for q in self._tasks:
            for _ in range(self.calls_per_worker):
                with contextlib.suppress(Exception):
                    q.put(None)
        end = time.monotonic() + timeout_s
        msgs: list = []
        while any(p.is_alive() for p in self._procs) and time.monotonic() < end:
            msgs += self._drain()
            time.sleep(0.05)
        msgs += self._drain()
        self.worker_stats = [m[2] for m in sorted((m for m in msgs if m[0] == "stats"), key=lambda m: m[1])]
        self._late_results = [m[1] for m in msgs if m[0] == "result"]  # calls cut short by close()
        for p in self._procs:
            p.join(timeout=max(0.1, end - time.monotonic()))
            if p.is_alive():
                log.warning("CallPool worker %s did not stop; terminating it", p.name)
                p.terminate()
                p.join(5)
        self.exitcodes = [p.exitcode for p in self._procs]
        for q in (*self._tasks, self._results):
            with contextlib.suppress(Exception):
                q.close()
                q.join_thread()
        self._procs = []
        self._started = False

    def _drain(self) -> list:
        assert self._results is not None  # only called by close() once start() made the queues
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except (queue.Empty, OSError, ValueError):
                return out

    # -- running jobs ----------------------------------------------------------------
    def run(self, jobs: Iterable[Any], *, progress: bool = True, desc: str = "calls") -> list[CallResult]:
        """Place every job; return one :class:`CallResult` per job, in job order.

        A job is a destination string, a ``(call_to, options)`` pair (options: the keyword
        arguments of :meth:`UASCallChannel.call`, e.g. ``live_speaker_detect`` and
        ``lsd_timeout_milliseconds``) or a :class:`CallJob`. Up to ``workers *
        calls_per_worker`` calls are up at once.
        """
        items: Sequence[CallJob] = [_as_job(j, i) for i, j in enumerate(jobs)]
        if not self._started:
            self.start()
        assert self._tasks and self._results is not None  # made by start()
        from tqdm.auto import tqdm

        results: dict[int, CallResult] = {}
        running: dict[int, tuple[int, float]] = {}  # job index -> (worker, started)
        todo = list(range(len(items)))[::-1]  # jobs not handed to a worker yet (popped from the end)
        held: list[set[int]] = [set() for _ in self._procs]  # jobs handed to each worker
        self.retried = 0
        bar = tqdm(total=len(items), desc=desc, unit="call", disable=not progress)
        try:
            while len(results) < len(items):
                self._dispatch(items, todo, held)
                try:
                    msg = self._results.get(timeout=0.2)
                except queue.Empty:
                    self._check_workers(items, results, running, held, todo, bar)
                    continue
                kind = msg[0]
                if kind == "start":
                    running[msg[1]] = (msg[2], time.time())
                elif kind == "result":
                    r: CallResult = msg[1]
                    running.pop(r.index, None)
                    for h in held:
                        h.discard(r.index)
                    if r.index not in results:
                        results[r.index] = r
                        bar.update()
                        if r.error:
                            bar.set_postfix_str(f"last error: {r.error[:40]}", refresh=False)
        except KeyboardInterrupt:
            self.interrupted = True
            log.warning("CallPool.run interrupted: hanging up %d call(s) and stopping the workers", len(running))
            self.close()
            for r in self._late_results:  # the calls that were up, hung up by close()
                results.setdefault(r.index, r)
        finally:
            bar.close()
        return [results.get(i) or CallResult(index=i, call_to=j.call_to, tag=j.tag, error="cancelled")
                for i, j in enumerate(items)]

    def _dispatch(self, items, todo: list[int], held: list[set[int]]) -> None:
        """Hand jobs to live workers with a free channel (the least busy first)."""
        while todo:
            free = [w for w, p in enumerate(self._procs) if p.is_alive() and len(held[w]) < self.calls_per_worker]
            if not free:
                return
            w = min(free, key=lambda k: len(held[k]))
            i = todo.pop()
            j = items[i]
            held[w].add(i)
            self._tasks[w].put((i, j.call_to, j.options, self.hold if j.hold is None else j.hold, j.tag))

    def _check_workers(self, items, results, running, held, todo, bar) -> None:
        """A dead worker's calls in progress are reported; the jobs it had not started go to others."""
        dead = {i for i, p in enumerate(self._procs) if not p.is_alive()}
        if not dead:
            return
        for w in dead:
            code = self._procs[w].exitcode
            for idx in sorted(held[w]):
                if idx in results:
                    continue
                if idx in running:
                    running.pop(idx)
                    results[idx] = CallResult(
                        index=idx, call_to=items[idx].call_to, tag=items[idx].tag, worker=w,
                        error=f"worker {w} died (exit code {code}) during the call; not retried (the far end "
                              f"may have answered it)")
                    bar.update()
                else:
                    todo.append(idx)  # never started: another worker places it
                    self.retried += 1
            held[w].clear()
        if len(dead) == len(self._procs):
            codes = [p.exitcode for p in self._procs]
            for i, j in enumerate(items):
                if i not in results:
                    results[i] = CallResult(index=i, call_to=j.call_to, tag=j.tag,
                                            error=f"all workers died (exit codes {codes})")
                    bar.update()
            todo.clear()

