"""CallPool's worker half: the code that runs inside each spawned pool worker process.

:class:`~lsdlab.uas.pool.CallPool` (the parent half) starts :func:`_worker_main` in each
worker; it creates the worker's endpoint and ``calls_per_worker`` :class:`UASCallChannel`
threads, which take jobs from the worker's task queue and put one
:class:`~lsdlab.uas.pool.CallResult` per job on the shared result queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time

from ._enums import Cause, State
from .pool import CallResult

#: How long a pool channel waits for a free pjsua call slot of its process (NOCHANNELS).
_SLOT_WAIT_S = 30.0
#: The least time between the answer and the pool's hang-up (see _run_call).
_MIN_HOLD_S = 0.05

# channel options that configure the worker's endpoint rather than its channels
_ENDPOINT_KEYS = ("host", "port", "transport")


def _worker_main(conf: dict, tasks, results, stop) -> None:
    """Entry point of a pool worker (spawned): one endpoint, ``calls`` channel threads."""
    import faulthandler

    faulthandler.enable()  # a crash inside pjsua2 then leaves a Python stack on stderr
    from .._signals import exit_when_parent_dies

    exit_when_parent_dies(conf["parent_pid"])  # a killed parent leaves no worker behind
    # Ctrl-C goes to the whole process group: the parent decides, the workers follow `stop`.
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format=f"callpool[{conf['worker']}] %(levelname)s %(name)s: %(message)s")
    w = conf["worker"]
    t_cpu0 = os.times()
    t_wall0 = time.monotonic()
    try:
        from ..sip import EndpointSettings, get_endpoint, shutdown_endpoint
        from ._channel import UASCallChannel

        opts = dict(conf["channel_options"])
        ep_kw = {k: opts.pop(k) for k in _ENDPOINT_KEYS if k in opts}
        if ep_kw.get("port"):
            ep_kw["port"] = int(ep_kw["port"]) + w
        ep = get_endpoint(EndpointSettings(log_level=conf["log_level"], rtp_port=conf["rtp_port"], **ep_kw))
        channels = [UASCallChannel(name=f"pool{w}-{k}", **opts) for k in range(conf["calls"])]
    except BaseException as exc:  # noqa: BLE001 - report and exit cleanly
        with contextlib.suppress(Exception):
            results.put(("error", w, f"{type(exc).__name__}: {exc}"))
        return
    results.put(("ready", w, ep.port))
    n_calls = [0]
    threads = [threading.Thread(target=_channel_loop, args=(w, ch, conf, tasks, results, stop, n_calls),
                                name=f"pool{w}-{k}", daemon=True) for k, ch in enumerate(channels)]
    for t in threads:
        t.start()
    parent = os.getppid()
    try:
        while any(t.is_alive() for t in threads):
            if os.getppid() != parent:  # the parent died without close(): stop too
                stop.set()
            if stop.is_set():
                ep.register_thread()
                for ch in channels:  # unblock call()/waits: every call ends now
                    with contextlib.suppress(Exception):
                        ch.hang_up()
                for t in threads:
                    t.join(5)
                break
            time.sleep(0.1)
    finally:
        cpu = os.times()
        stats = {
            "worker": w,
            "calls": n_calls[0],
            "cpu_s": (cpu.user - t_cpu0.user) + (cpu.system - t_cpu0.system),
            "wall_s": time.monotonic() - t_wall0,
        }
        with contextlib.suppress(Exception):
            results.put(("stats", w, stats))
        channels.clear()
        shutdown_endpoint()


def _channel_loop(w: int, ch, conf: dict, tasks, results, stop, n_calls: list) -> None:
    while not stop.is_set():
        try:
            task = tasks.get(timeout=0.2)
        except queue.Empty:
            continue
        except (EOFError, OSError):
            return
        if task is None:
            return
        idx, call_to, options, hold, tag = task
        results.put(("start", idx, w))
        r = _run_call(w, ch, idx, call_to, options, hold, tag, conf["max_call_s"], stop)
        n_calls[0] += 1
        results.put(("result", r))


def _run_call(w: int, ch, idx: int, call_to: str, options: dict, hold, tag, max_call_s: float, stop) -> CallResult:
    t0 = time.time()
    error = None
    before = ch.Details  # start_call replaces it; still this object = the call never started
    slot_wait_s = 0.0
    try:
        while True:
            st = ch.call(call_to, **options)
            # PJ_ETOOMANY: this process's 4 pjsua call slots are taken, e.g. by a call hung up
            # a moment ago that pjsip has not freed yet. The call was never placed: wait, retry.
            # (Counting busy slots first with pj.Call.lookup() is unsafe: lookup writes into
            # the Call object, which another thread may be deleting; a soak aborted in pjsip.)
            if (st != State.IDLE or ch.cause() != Cause.NOCHANNELS or stop.is_set()
                    or slot_wait_s >= _SLOT_WAIT_S):
                break
            time.sleep(0.05)
            slot_wait_s += 0.05
        if st == State.ANSWERED and not stop.is_set():
            if hold == "far_end":
                limit = max_call_s
            elif hold == "verdict":
                limit = 0.0
            else:
                limit = min(float(hold), max_call_s)
            # Never hang up in the instant of the answer: 40 calls hung up as ch.call() returned,
            # 4 at a time, leaked pjsip ioqueue keys until, after about 29 calls, the worker
            # aborted in makeCall (pj_ioqueue_register_sock2: free_list empty; 3 runs of 3);
            # with 50 ms between the answer and the hang-up, 4 runs of 40-60 calls ran clean.
            limit = max(limit, _MIN_HOLD_S)
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
        if cause == Cause.NOCHANNELS:
            error = (f"NOCHANNELS: no free pjsua call slot in worker {w} for {slot_wait_s:.1f} s "
                     f"(PJ_ETOOMANY, raw cause {d.raw_cause}); the call was not placed")
        elif d.raw_cause == "503":
            error = ("refused: the far end answered 503 Service Unavailable (a SimulatedFarEnd with "
                     "every call slot busy for queue_s; see far.stats()['refusals'])")
    return CallResult(
        index=idx, call_to=call_to, tag=tag, states=tuple(d.states), cause=cause, raw_cause=d.raw_cause,
        far_end_type=d.far_end_type, lsd_reason=d.lsd_reason, lsd_confidence=d.lsd_confidence,
        lsd_decided_at_s=d.lsd_decided_at_s, codec=d.codec, setup_s=d.setup_s, frames=d.frames_received,
        max_frame_gap_ms=d.max_frame_gap_ms, frame_gaps_over_60ms=d.frame_gaps_over_60ms,
        empty_frames=d.empty_frames, max_frame_lag_ms=d.max_frame_lag_ms, audio_start_ms=d.audio_start_ms,
        sip_call_id=d.sip_call_id,
        worker=w, started_at=t0, ended_at=time.time(), slot_wait_s=round(slot_wait_s, 2), error=error,
    )
