"""CallPool: many concurrent real calls from worker processes, each owning one SIP endpoint.

The pjsua2 wheel allows one endpoint and at most 4 calls per process. :class:`CallPool` starts
``workers`` processes, forked together by ``python -m lsdlab.uas._pool_worker`` (nothing
re-imports the caller's ``__main__``: scripts without an ``if __name__ == '__main__'`` guard,
notebooks and ``python -`` all work); each creates its own endpoint and ``calls_per_worker``
:class:`UASCallChannel` threads that take jobs from its own socket. :meth:`CallPool.run`
places every job and returns one :class:`CallResult` per job, in job order, with a tqdm
progress bar. A worker that crashes costs only the calls it had up (reported as errors).
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
import multiprocessing.connection as mpc
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .._kernel import at_kernel_shutdown, cancel_at_kernel_shutdown
from .._validation import check_choice, check_int_range, check_real_range
from ..errors import ParameterError, SipError
from ._enums import CallFarEndType, Cause, State

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
    worker, no free pjsua call slot within the channel's slot_wait_s (SipError), a 503
    refusal by the far end.
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
    slot_wait_s: float = 0.0  # time spent waiting for a free pjsua call slot first (Details.slot_wait_s)
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
        Concurrent calls per worker, 1-4 (the wheel's limit is 4 per process). A worker's
        calls share one Python interpreter (one GIL) with its conference-clock thread: on a
        machine whose CPUs are saturated, 2 per worker (twice the processes, about 20% more
        CPU) kept the far end's audio free of frame gaps over 60 ms where 4 per worker did not
        (16 or 24 LSD calls each way at once, 5 runs at load average 7-15 on 2 cores: 10 gaps
        vs 531).
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
        ``no_answer_timeout_s``, ``rtp_timeout_s``, ``slot_wait_s``, ``outbound_proxy``, ``gateway``); ``host``, ``transport``
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
                 "realm", "gateway", "response_timeout_s", "no_answer_timeout_s", "rtp_timeout_s", "slot_wait_s"}
        unknown = set(channel_options) - known
        if unknown:
            raise ParameterError(
                f"CallPool got unknown channel option(s) {sorted(unknown)}; known: {sorted(known)}."
            )
        self.channel_options = dict(channel_options)
        self._launcher: subprocess.Popen | None = None
        self._conns: list[Any] = []  # one socket per worker (None once it reached end-of-file)
        self._dead: set[int] = set()  # workers whose socket reached end-of-file
        self._unreachable: set[int] = set()  # workers a job could not be sent to
        self._codes: dict[int, int] = {}  # worker -> exit code, as the launcher reports them
        self._codes_thread: threading.Thread | None = None
        self._pids: list[int] = []
        self._started = False
        self.interrupted = False
        self._late_results: list[CallResult] = []
        self.ports: list[int] = []
        self.worker_stats: list[dict] = []
        self.exitcodes: list[int | None] = []
        self.retried = 0
        self._run_lock = threading.Lock()

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
        return list(self._pids)

    @property
    def capacity(self) -> int:
        """Calls the pool can hold at once."""
        return self.workers * self.calls_per_worker

    @property
    def dead_workers(self) -> list[int]:
        """Workers that ended while the pool was running (crashed or killed); their calls in
        progress came back as errors, and the pool goes on with the others."""
        return sorted(self._dead)

    def start(self) -> CallPool:
        """Start the workers (all at once) and wait until each has its endpoint and channels."""
        if self._started:
            return self
        from .._extras import require

        require("sip", "CallPool")  # in this process, before any worker starts
        from ..sip._launcher import start_workers

        self._started = True
        # in Jupyter, closed before ipykernel signals the workers (lsdlab._kernel): else the
        # kernel waited 10 s for them, was killed, and each worker printed a traceback
        at_kernel_shutdown(self.close)
        self.interrupted = False
        self._dead = set()
        self._unreachable = set()
        self._codes = {}
        try:
            confs = [{
                "worker": i,
                "calls": self.calls_per_worker,
                "max_call_s": self.max_call_s,
                "log_level": self.log_level,
                "rtp_port": 10000 + 400 * (i % 100),
            } for i in range(self.workers)]
            self._launcher, self._conns = start_workers("lsdlab.uas._pool_worker", confs)
            self._codes_thread = threading.Thread(target=self._read_exit_codes, args=(self._launcher,),
                                                  name="lsdlab-callpool-exitcodes", daemon=True)
            self._codes_thread.start()
            for c in self._conns:  # pickled, so any option value the channel accepts goes through
                c.send(self.channel_options)
            ready: dict[int, tuple[int, int]] = {}
            end = time.monotonic() + self.start_timeout_s
            while len(ready) < self.workers:
                left = end - time.monotonic()
                if left <= 0:
                    raise SipError(f"CallPool workers {sorted(set(range(self.workers)) - set(ready))} did not "
                                   f"start within {self.start_timeout_s} s (start_timeout_s).")
                for msg in self._receive(min(left, 0.5)):
                    if msg[0] == "error":
                        raise SipError(f"CallPool worker {msg[1]} failed to start: {msg[2]}")
                    if msg[0] == "ready":
                        ready[msg[1]] = (msg[2], msg[3])
                if self._dead - set(ready):
                    w = min(self._dead - set(ready))
                    raise SipError(f"CallPool worker {w} exited during start-up (exit code {self._exit_code(w)}); "
                                   f"its stderr above says why.")
            self.ports = [ready[i][0] for i in range(self.workers)]
            self._pids = [ready[i][1] for i in range(self.workers)]
        except BaseException:
            self.close()
            raise
        log.info("call pool up: %d workers on ports %s", self.workers, self.ports)
        return self

    def _read_exit_codes(self, launcher: subprocess.Popen) -> None:
        """The launcher writes one JSON line per worker as it ends (see sip._launcher)."""
        from ..sip._launcher import exit_codes

        assert launcher.stdout is not None
        for line in launcher.stdout:
            self._codes.update(exit_codes(line))

    def _exit_code(self, w: int, wait_s: float = 2.0) -> int | None:
        """Worker ``w``'s exit code (negative: killed by that signal), once the launcher reported it."""
        end = time.monotonic() + wait_s
        while w not in self._codes and time.monotonic() < end:
            time.sleep(0.02)
        return self._codes.get(w)

    def _receive(self, timeout_s: float) -> list:
        """Messages from the workers that arrive within ``timeout_s``; a socket at end-of-file
        marks its worker dead."""
        live = {id(c): w for w, c in enumerate(self._conns) if c is not None}
        out: list = []
        if not live:
            time.sleep(timeout_s)
            return out
        for ready in mpc.wait([self._conns[w] for w in live.values()], timeout=timeout_s):
            w = live[id(ready)]
            c = self._conns[w]
            try:
                while True:
                    out.append(c.recv())
                    if not c.poll():
                        break
            except (EOFError, OSError):
                c.close()
                self._conns[w] = None
                self._dead.add(w)
        return out

    def _send(self, w: int, msg: Any) -> bool:
        c = self._conns[w] if w < len(self._conns) else None
        if c is None:
            return False
        try:
            c.send(msg)
            return True
        except (OSError, ValueError):  # the worker is gone; its end-of-file is read next
            return False

    def close(self, timeout_s: float = 15.0) -> None:
        """Hang up every call, stop the workers (exit code 0) and wait for them."""
        cancel_at_kernel_shutdown(self.close)
        if self._launcher is None and not self._conns:
            self._started = False
            return
        for w in range(len(self._conns)):
            self._send(w, "stop")
        end = time.monotonic() + timeout_s
        msgs: list = []
        while any(c is not None for c in self._conns) and time.monotonic() < end:
            msgs += self._receive(min(0.2, max(0.0, end - time.monotonic())))
        self.worker_stats = [m[2] for m in sorted((m for m in msgs if m[0] == "stats"), key=lambda m: m[1])]
        self._late_results = [m[1] for m in msgs if m[0] == "result"]  # calls cut short by close()
        if self._launcher is not None:
            try:
                self._launcher.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("CallPool workers did not stop within %s s; killing them", timeout_s)
                for pid in self._pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                self._launcher.kill()
                self._launcher.wait(5)
            if self._codes_thread is not None:
                self._codes_thread.join(5)
        self.exitcodes = [self._codes.get(i) for i in range(len(self._conns))]
        for c in self._conns:
            if c is not None:
                c.close()
        self._conns = []
        self._launcher = None
        self._started = False

    # -- running jobs ----------------------------------------------------------------
    def run(self, jobs: Iterable[Any], *, progress: bool = True, desc: str = "calls") -> list[CallResult]:
        """Place every job; return one :class:`CallResult` per job, in job order.

        A job is a destination string, a ``(call_to, options)`` pair (options: the keyword
        arguments of :meth:`UASCallChannel.call`, e.g. ``live_speaker_detect`` and
        ``lsd_timeout_milliseconds``) or a :class:`CallJob`. Up to ``workers *
        calls_per_worker`` calls are up at once. A worker that dies (crash, kill) costs only
        the calls it had up: each comes back with an ``error`` naming the worker and its exit
        code; its other jobs go to the remaining workers (:attr:`dead_workers`); with every
        worker dead, the jobs left come back as errors saying so.
        """
        items: Sequence[CallJob] = [_as_job(j, i) for i, j in enumerate(jobs)]
        if not self._run_lock.acquire(blocking=False):
            raise SipError("CallPool.run is already running in another thread: one pool serves one run at "
                           "a time (its workers' messages go to that run). Use one CallPool per thread.")
        try:
            return self._run(items, progress=progress, desc=desc)
        finally:
            self._run_lock.release()

    def _run(self, items: Sequence[CallJob], *, progress: bool, desc: str) -> list[CallResult]:
        if not self._started:
            self.start()
        from tqdm.auto import tqdm

        results: dict[int, CallResult] = {}
        running: dict[int, tuple[int, float]] = {}  # job index -> (worker, started)
        todo = list(range(len(items)))[::-1]  # jobs not handed to a worker yet (popped from the end)
        held: list[set[int]] = [set() for _ in self._conns]  # jobs handed to each worker
        self.retried = 0
        bar = tqdm(total=len(items), desc=desc, unit="call", disable=not progress)
        try:
            while len(results) < len(items):
                self._dispatch(items, todo, held)
                for msg in self._receive(0.2):
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
                self._check_workers(items, results, running, held, todo, bar)
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
            free = [w for w in range(len(self._conns))
                    if w not in self._dead and w not in self._unreachable and len(held[w]) < self.calls_per_worker]
            if not free:
                return
            w = min(free, key=lambda k: len(held[k]))
            i = todo.pop()
            j = items[i]
            if not self._send(w, (i, j.call_to, j.options, self.hold if j.hold is None else j.hold, j.tag)):
                todo.append(i)  # the worker died: no more jobs for it (_receive reads what it sent, then EOF)
                self._unreachable.add(w)
                continue
            held[w].add(i)

    def _check_workers(self, items, results, running, held, todo, bar) -> None:
        """A dead worker's calls in progress are reported; the jobs it had not started go to others."""
        for w in sorted(self._dead):
            if not held[w]:
                continue
            code = self._exit_code(w)
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
            log.warning("CallPool worker %d died (exit code %s); %d worker(s) left", w, code,
                        len(self._conns) - len(self._dead))
        if self._conns and len(self._dead) == len(self._conns):
            codes = [self._exit_code(w, 0.5) for w in range(len(self._conns))]
            for i, j in enumerate(items):
                if i not in results:
                    results[i] = CallResult(index=i, call_to=j.call_to, tag=j.tag,
                                            error=f"all workers died (exit codes {codes}); close() the pool "
                                                  f"and start a new one")
                    bar.update()
            todo.clear()
