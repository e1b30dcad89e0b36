"""CallPool's worker half: ``python -m lsdlab.uas._pool_worker`` and the code of each worker.

:class:`~lsdlab.uas.pool.CallPool` (the parent half) runs this module as a launcher
(:func:`lsdlab.sip._launcher.launch`): it imports the heavy modules once and forks the
workers (:func:`lsdlab.sip._launcher.fork_workers`), so no worker re-imports the caller's
``__main__``. Each worker (:func:`_worker_main`) creates its endpoint and
``calls_per_worker`` :class:`UASCallChannel` threads, which take jobs arriving on the
worker's own socket and send back one :class:`~lsdlab.uas.pool.CallResult` per job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sys
import threading
import time

from ._enums import State
from .pool import CallResult

# channel options that configure the worker's endpoint rather than its channels
_ENDPOINT_KEYS = ("host", "port", "transport")


def main() -> int:
    """The launcher: import once, then fork one worker per socket (see sip._launcher)."""
    # Ctrl-C reaches the whole process group; the parent decides when the workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import numpy  # noqa: F401
    import pjsua2  # noqa: F401

    from .. import detect  # noqa: F401 - the detector's modules, shared by every forked worker
    from ..sip._launcher import fork_workers
    from . import _channel  # noqa: F401

    return fork_workers(_worker_main)


def _worker_main(conf: dict, conn) -> None:
    """One pool worker (forked by the launcher): one endpoint, ``calls`` channel threads.

    Protocol on ``conn`` (a socket to the pool): the pool sends the channel options first,
    then jobs ``(index, call_to, options, hold, tag)`` and finally ``'stop'``; the worker
    sends ``('ready', w, port, pid)`` or ``('error', w, text)``, then ``('start', index, w)``
    before it places each call and ``('result', CallResult)`` after it, and ``('stats', w,
    {...})`` when it stops. End-of-file (the pool's process is gone) stops the worker too.
    """
    import faulthandler

    faulthandler.enable()  # a crash inside pjsua2 then leaves a Python stack on stderr
    # Ctrl-C goes to the whole process group: the parent decides, the workers follow 'stop'.
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format=f"callpool[{conf['worker']}] %(levelname)s %(name)s: %(message)s")
    w = conf["worker"]
    t_cpu0 = os.times()
    t_wall0 = time.monotonic()
    lock = threading.Lock()

    def send(msg) -> None:
        with lock:  # the channel threads share the socket
            conn.send(msg)

    try:
        from ..sip import EndpointSettings, get_endpoint, shutdown_endpoint
        from ._channel import UASCallChannel

        opts = dict(conn.recv())
        ep_kw = {k: opts.pop(k) for k in _ENDPOINT_KEYS if k in opts}
        if ep_kw.get("port"):
            ep_kw["port"] = int(ep_kw["port"]) + w
        ep = get_endpoint(EndpointSettings(log_level=conf["log_level"], rtp_port=conf["rtp_port"], **ep_kw))
        channels = [UASCallChannel(name=f"pool{w}-{k}", **opts) for k in range(conf["calls"])]
    except BaseException as exc:  # noqa: BLE001 - report and exit cleanly
        with contextlib.suppress(Exception):
            send(("error", w, f"{type(exc).__name__}: {exc}"))
        return
    send(("ready", w, ep.port, os.getpid()))
    tasks: queue.Queue = queue.Queue()
    stop = threading.Event()

    def read_jobs() -> None:
        while not stop.is_set():
            try:
                msg = conn.recv()
            except (EOFError, OSError):  # the pool's process is gone: stop (no orphan workers)
                break
            if msg == "stop":
                break
            tasks.put(msg)
        stop.set()

    reader = threading.Thread(target=read_jobs, name=f"pool{w}-jobs", daemon=True)
    reader.start()
    n_calls = [0]
    threads = [threading.Thread(target=_channel_loop, args=(w, ch, conf, tasks, send, stop, n_calls),
                                name=f"pool{w}-{k}", daemon=True) for k, ch in enumerate(channels)]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            if stop.wait(0.1):
                ep.register_thread()
                for ch in channels:  # unblock call()/waits: every call ends now
                    with contextlib.suppress(Exception):
                        ch.hang_up()
                for t in threads:
                    t.join(5)
                break
    finally:
        cpu = os.times()
        stats = {
            "worker": w,
            "calls": n_calls[0],
            "cpu_s": (cpu.user - t_cpu0.user) + (cpu.system - t_cpu0.system),
            "wall_s": time.monotonic() - t_wall0,
        }
        with contextlib.suppress(Exception):
            send(("stats", w, stats))
        channels.clear()
        shutdown_endpoint()


def _channel_loop(w: int, ch, conf: dict, tasks, send, stop, n_calls: list) -> None:
    while not stop.is_set():
        try:
            task = tasks.get(timeout=0.2)
        except queue.Empty:
            continue
        idx, call_to, options, hold, tag = task
        try:
            send(("start", idx, w))  # before the call is placed: a crash after it is reported, never retried
        except OSError:
            return
        r = _run_call(w, ch, idx, call_to, options, hold, tag, conf["max_call_s"], stop)
        n_calls[0] += 1
        with contextlib.suppress(OSError):
            send(("result", r))


def _run_call(w: int, ch, idx: int, call_to: str, options: dict, hold, tag, max_call_s: float, stop) -> CallResult:
    t0 = time.time()
    error = None
    before = ch.Details  # start_call replaces it; still this object = the call never started
    try:
        # the channel waits for one of this process's 4 pjsua call slots itself (up to its
        # slot_wait_s: a call hung up on a dead far end holds its slot 32 s), then raises
        st = ch.call(call_to, **options)
        if st == State.ANSWERED and not stop.is_set():
            if hold == "far_end":
                limit = max_call_s
            elif hold == "verdict":
                limit = 0.0
            else:
                limit = min(float(hold), max_call_s)
            end = time.monotonic() + limit
            while not stop.is_set() and time.monotonic() < end and not ch.wait_for_idle(min(0.2, max(0.0, end - time.monotonic()))):
                pass
        ch.hang_up()
        ch.wait_for_idle(10)
    except Exception as exc:  # noqa: BLE001 - a job's failure is its result
        error = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            ch.hang_up()
    d = ch.Details
    if d is before:
        return CallResult(index=idx, call_to=call_to, tag=tag, worker=w, started_at=t0, ended_at=time.time(),
                          error=error or "the call was not placed")
    if ch.state() != State.IDLE and error is None:
        error = f"the channel did not return to IDLE (it is {ch.state().name})"
    cause = ch.cause()
    if error is None and State.ANSWERED not in d.states:
        if d.raw_cause == "503":
            error = ("refused: the far end answered 503 Service Unavailable (a SimulatedFarEnd with "
                     "every call slot busy for queue_s; see far.stats()['refusals'])")
    return CallResult(
        index=idx, call_to=call_to, tag=tag, states=tuple(d.states), cause=cause, raw_cause=d.raw_cause,
        far_end_type=d.far_end_type, lsd_reason=d.lsd_reason, lsd_confidence=d.lsd_confidence,
        lsd_decided_at_s=d.lsd_decided_at_s, codec=d.codec, setup_s=d.setup_s, frames=d.frames_received,
        max_frame_gap_ms=d.max_frame_gap_ms, frame_gaps_over_60ms=d.frame_gaps_over_60ms,
        empty_frames=d.empty_frames, max_frame_lag_ms=d.max_frame_lag_ms, audio_start_ms=d.audio_start_ms,
        sip_call_id=d.sip_call_id,
        worker=w, started_at=t0, ended_at=time.time(), slot_wait_s=round(d.slot_wait_s, 2), error=error,
    )


if __name__ == "__main__":
    sys.exit(main())
