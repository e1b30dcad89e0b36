"""The media bridge between pjsua2's conference bridge and Python.

:class:`FrameSink` receives the far end's decoded audio as 20 ms int16 frames (160 samples
at 8 kHz) and hands them off the conference clock thread into a queue; :class:`FrameSource`
sends audio we give it (rendered scenario audio, a prompt file) into a call.

``bytes(frame.buf)`` copies a SWIG vector element by element (0.5-0.65 ms per frame); the
fast path reads the ``std::vector``'s begin/end pointers with ctypes (~3 us). It relies on
the libstdc++ vector layout, so :func:`verify_fast_frames` checks it against the slow path
when the endpoint starts and falls back when they differ.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import threading
import time

import numpy as np
import pjsua2 as pj

__all__ = ["FrameSink", "FrameSource", "PortPool", "verify_fast_frames", "audio_format", "FRAME_SAMPLES",
           "retire_port", "ClockGate", "CLOCK_GATE"]

log = logging.getLogger("lsdlab.sip")

#: Samples per conference frame (20 ms at 8 kHz).
FRAME_SAMPLES = 160
FRAME_BYTES = 2 * FRAME_SAMPLES
_SILENCE = bytes(FRAME_BYTES)
_PTR = ctypes.sizeof(ctypes.c_void_p)

# How frames are read and written; set once per process by verify_fast_frames().
_IO = {"read_fast": False, "write_fast": False}
_PROC_TASKS = os.path.isdir("/proc/self/task")


def audio_format():
    """20 ms, 8 kHz, mono, 16-bit PCM."""
    fmt = pj.MediaFormatAudio()
    fmt.init(pj.PJMEDIA_FORMAT_PCM, 8000, 1, 20000, 16)
    return fmt


def _vec_ptrs(vec) -> tuple[int, int]:
    addr = int(vec.this)
    beg = ctypes.c_void_p.from_address(addr).value or 0
    end = ctypes.c_void_p.from_address(addr + _PTR).value or 0
    return beg, end


def _read_fast(frame) -> bytes:
    beg, end = _vec_ptrs(frame.buf)
    if not beg or end <= beg or end - beg > 65536:
        return b""
    return ctypes.string_at(beg, end - beg)


def _read_slow(frame) -> bytes:
    return bytes(frame.buf)


def _write_fast(frame, data: bytes) -> None:
    vec = frame.buf
    vec.resize(len(data))
    beg, _ = _vec_ptrs(vec)
    ctypes.memmove(beg, data, len(data))
    frame.size = len(data)
    frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO


def _write_slow(frame, data: bytes) -> None:
    frame.buf = pj.ByteVector(list(data))
    frame.size = len(data)
    frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO


class PortPool:
    """The endpoint's :class:`FrameSink` and :class:`FrameSource` ports, recycled, never destroyed.

    pjsua2 2.15 cannot destroy an ``AudioMediaPort`` safely while the conference bridge runs:
    the C++ destructor only *queues* the port's removal (the clock thread carries it out on
    its next tick, reading the port's group lock through the port) and frees the port's
    memory at once. The next tick then reads freed memory, corrupting the heap; the process
    dies later somewhere unrelated (seen here as segfaults and aborts inside imports, minutes
    after the last call). So a finished call gives its ports back (:meth:`give`) and the next
    call takes them (:meth:`take`); at shutdown :meth:`retire_all` parks every port for good
    (taken out of pjsua2's media list, so ``~Endpoint`` does not delete it either, and owned
    by C++, so Python never deletes it). The memory stays valid while the bridge and
    ``libDestroy`` still touch it; the cost is a few hundred bytes per port per endpoint.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[type, list] = {}
        self._all: list = []
        self.created = 0

    def take(self, kind: type, name: str):
        """An idle port of ``kind`` (FrameSink or FrameSource), named ``name``."""
        with self._lock:
            free = self._free.setdefault(kind, [])
            port = free.pop() if free else None
            if port is None:
                self.created += 1
                port = kind(f"lsdlab-{kind.__name__.lower()}-{self.created}")
                self._all.append(port)
        port.name = name  # idle ports were reset by give(); new ones start clean
        return port

    def give(self, port) -> None:
        """Take back a port its call no longer uses (idempotent; None is ignored)."""
        if port is None or getattr(port, "_lsdlab_retired", False):
            return
        port.reset()
        with self._lock:
            free = self._free.setdefault(type(port), [])
            if not any(p is port for p in free):
                free.append(port)

    def retire_all(self, endpoint) -> None:
        """At shutdown, before ``libDestroy``: park every port for good (see the class doc)."""
        with self._lock:
            ports, self._all, self._free = self._all, [], {}
        for port in ports:
            retire_port(port, endpoint)

    @property
    def sizes(self) -> dict[str, int]:
        """Ports made so far and ports idle now, per kind (for tests and diagnostics)."""
        with self._lock:
            return {"created": self.created, **{k.__name__: len(v) for k, v in self._free.items()}}


_RETIRED: list = []


def retire_port(port, endpoint) -> None:
    """Park an ``AudioMediaPort`` for good without destroying it (see :class:`PortPool`).

    It stops reacting to frames, leaves pjsua2's media list (so ``~Endpoint`` does not
    delete it) and is disowned (C++ holds the Python object, so Python never deletes the
    C++ one). Call from a thread registered with pjlib.
    """
    if port is None or getattr(port, "_lsdlab_retired", False):
        return
    port._lsdlab_retired = True
    if hasattr(port, "reset"):
        port.reset()
    port.active = False  # a port without reset() (the start-up probe) checks this flag
    try:
        endpoint.ep.mediaRemove(port)
    except Exception:  # noqa: BLE001 - not in the list
        log.debug("mediaRemove(%r) failed", port, exc_info=True)
    try:
        port.__disown__()
    except Exception:  # noqa: BLE001
        log.debug("disowning %r failed", port, exc_info=True)
    _RETIRED.append(port)


class ClockGate:
    """Parks the conference clock thread in one of our port callbacks while pjsua tears a
    call's media down, so that it is never half-way through sending that call's RTP.

    Why: pjsua 2.15 closes a call's RTP transport (``pjsua_media_channel_deinit``, run inside
    ``Call.hangup()``, and, when the BYE comes from the peer or pjsip ends the call, as the BYE
    is answered, BEFORE the DISCONNECTED callback) while the conference clock thread may be
    inside the call's stream sending a frame: ``transport_send_rtp`` (UDP, under
    the SRTP wrapper) passes its "started" check, the transport is destroyed, and it then
    reads the ioqueue key that ``transport_destroy`` has just set to NULL; pjlib aborts the
    process (``pj_ioqueue_sendto: Assertion `key && op_key && data && length' failed``,
    exit code -6; stack: clock_thread > clock_callback > get_frame > put_frame >
    put_frame_imp > transport_send_rtp > transport_send_rtp > pj_ioqueue_sendto). The stream
    sends RTP every 20 ms even when nothing transmits to it (silence for the conference's
    empty frames), so disconnecting our ports first does not help. Fixed upstream after
    2.15 (pjproject pull request 5016: the key is read once and NULL checked).

    How: every :class:`FrameSink` and :class:`FrameSource` calls :meth:`checkpoint` on the
    clock thread each tick (pjsua2 calls them 50 times a second, connected or not). While the
    gate is closed, the checkpoint parks the clock thread until it opens; :meth:`close`
    returns once the clock thread is parked, that is outside any stream. Sends after the
    tear-down stop at the transport's "started" check, as they always did.

    Where: around our own ``hangup()`` (:meth:`held_if`), and in every ``Call``'s
    ``onStreamDestroyed`` (:meth:`close_for_teardown`), which pjsua calls on every teardown
    path right before it destroys the stream and then its RTP and RTCP transports (seen with
    gdb: ``pjsua_media_channel_deinit`` > ``onStreamDestroyed`` > ``pjmedia_stream_destroy`` >
    ``transport_destroy`` x2, then ``onCallState``; issue 15: a gate closed in the
    DISCONNECTED callback came after the transport was gone, and a far-end worker aborted with
    its main thread in that callback). The caller opens that hold once the teardown is over.

    The waits hold under load (issue 15: with the far-end workers at nice 19, 0.2 s close
    timeouts and 1 s parks ended under 2-4 holders, and a worker aborted): :meth:`close`
    waits for the park as long as the clock thread is known to come through our ports (a
    :class:`FrameSink` is in the bridge, :meth:`port_added`, and the clock thread still runs,
    :meth:`_clock_ticking`), so a clock thread descheduled inside a stream for longer than
    ``timeout_s`` is waited for, up to ``max_wait_s``; a stopped clock is not waited for (it
    cannot race). A park lasts as long as the gate is closed (up to ``max_park_s``, a bound
    against a forgotten :meth:`open`, never reached by a teardown). ``parked`` is true only
    while the clock thread is inside the park, so a second holder's :meth:`close` never
    mistakes an ended park for a current one. A bound that expires is counted and logged:
    the race is then back (never a deadlock).

    Closed by as many holders as need it (a counter). :meth:`close` on the clock thread
    itself (never done here) does not wait.
    """

    def __init__(self, max_park_s: float = 10.0, max_wait_s: float = 10.0) -> None:
        self.max_park_s = max_park_s
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition(threading.Lock())
        self._holders = 0
        self.destroying = False  # between open_all() and clock_stopped(): close() does nothing
        self.closed = False  # read on the clock thread without the lock (a plain bool)
        self.parked = False  # the clock thread is inside the park now (under _cond)
        self._clock_ident = 0  # the thread that calls checkpoint() (0: none seen yet)
        self._clock_tid = 0  # its native thread id (for _clock_ticking)
        self._last_tick = 0.0
        self.ticking_ports = 0  # our ports the clock calls every tick, connected or not (FrameSinks)
        self.closes = 0  # statistics, for tests and diagnostics
        self.close_timeouts = 0  # close() returned without the park (the race was open)
        self.idle_closes = 0  # close() found no clock running through our ports (no race)
        self.slow_closes = 0  # close() waited longer than its timeout_s for the park
        self.park_timeouts = 0  # a park ended by max_park_s while the gate was closed
        self.teardown_closes = 0  # close_for_teardown() calls (streams destroyed)
        self.unheld_teardowns = 0  # ... of them with no other hold (not inside our hangup())
        self.max_close_wait_s = 0.0
        self.max_park_wait_s = 0.0

    def close(self, timeout_s: float = 0.2) -> bool:
        """Close the gate and wait until the clock thread is parked (True); past ``timeout_s``
        keep waiting while the clock thread is known to come through our ports, up to
        ``max_wait_s``. True also when no clock runs through our ports (nothing to park);
        False when a running clock did not park. Every close needs its :meth:`open`."""
        t0 = time.monotonic()
        with self._cond:
            if self.destroying:
                return True  # libDestroy runs (open_all): it joins the clock thread; never park it
            self._holders += 1
            self.closes += 1
            self.closed = True
            if threading.get_ident() == self._clock_ident:
                return True  # on the clock thread: it is not inside a stream now
            ok = self._cond.wait_for(lambda: self.parked, timeout_s)
            while not ok and self._clock_ticking() and time.monotonic() - t0 < self.max_wait_s:
                ok = self._cond.wait_for(lambda: self.parked, 0.05)
                if ok:
                    self.slow_closes += 1
            waited = time.monotonic() - t0
            self.max_close_wait_s = max(self.max_close_wait_s, waited)
            if not ok and not self._clock_ticking():
                ok = True  # no clock runs through our ports (pjsua stopped it): nothing can race
                self.idle_closes += 1
            elif not ok:
                self.close_timeouts += 1
        if not ok:
            log.warning("The conference clock thread did not park within %.1f s (ClockGate.close; "
                        "max_wait_s %.1f s): the media teardown runs anyway and may abort the process in "
                        "pj_ioqueue_sendto.", waited, self.max_wait_s)
        return ok

    def close_for_teardown(self) -> bool:
        """:meth:`close` from a ``Call``'s ``onStreamDestroyed``: pjsua is about to destroy the
        call's stream and RTP transport on this thread (with its lock held when the teardown
        is not our ``hangup()``'s). Counts the teardowns and those no other hold covered (a
        BYE from the peer, pjsip's own end of a call: the ones a gate closed only around our
        ``hangup()`` and in the DISCONNECTED callback missed). Every call needs its :meth:`open`
        once the teardown is over."""
        with self._cond:
            self.teardown_closes += 1
            if not self._holders:
                self.unheld_teardowns += 1
        return self.close()

    def _clock_ticking(self) -> bool:
        """Whether the clock thread will come through :meth:`checkpoint` again: a port it calls
        every tick is in the bridge and the thread that last called it still runs. pjsua stops
        the clock (its null sound device closes 1 s after the last call) and starts a new
        thread with the next call; a waiting :meth:`close` must not outlast it. Without
        ``/proc`` (not Linux): a checkpoint within the last second."""
        if not self.ticking_ports or not self._clock_tid:
            return False
        if _PROC_TASKS:
            return os.path.exists(f"/proc/self/task/{self._clock_tid}")
        return time.monotonic() - self._last_tick < 1.0

    def port_added(self) -> None:
        """A port the clock thread calls every tick, connected or not, joined the bridge (a
        :class:`FrameSink`: the conference writes to every port, silence when nothing sends):
        from now on the clock thread is known to come through :meth:`checkpoint`."""
        with self._cond:
            self.ticking_ports += 1

    def clock_stopped(self) -> None:
        """The conference bridge is gone (``libDestroy``): no clock comes through our ports
        until new ones join a new bridge."""
        with self._cond:
            self.ticking_ports = 0
            self._clock_ident = self._clock_tid = 0
            self.destroying = False

    def open_all(self) -> int:
        """Open the gate whoever holds it (the endpoint's shutdown, before ``libDestroy``: it
        joins the clock thread, which must not be parked then; every teardown is over once
        the shutdown's last ``libHandleEvents`` returned). Returns the holds dropped. Until
        :meth:`clock_stopped`, :meth:`close` is a no-op: an ``onStreamDestroyed`` inside
        ``libDestroy`` must not park the clock thread libDestroy joins (our ports are retired
        by then: a close would wait ``max_wait_s`` for a park that never comes)."""
        with self._cond:
            n, self._holders = self._holders, 0
            self.closed = False
            self.destroying = True
            self._cond.notify_all()
        return n

    def open(self) -> None:
        """Undo one :meth:`close`; the clock thread runs on once the last holder opened."""
        with self._cond:
            if self._holders <= 0:
                return
            self._holders -= 1
            if self._holders == 0:
                self.closed = False
                self._cond.notify_all()

    @contextlib.contextmanager
    def held(self, timeout_s: float = 0.2):
        """``with CLOCK_GATE.held(): call.hangup(prm)``: closed around the block."""
        self.close(timeout_s)
        try:
            yield
        finally:
            self.open()

    def held_if(self, media_live: bool):
        """:meth:`held` around a hang-up when the call still has media to tear down, else a
        no-op context (the channel's and the far end's hang-ups share this rule)."""
        return self.held() if media_live else contextlib.nullcontext()

    def checkpoint(self) -> None:
        """On the clock thread, in every port callback: park while the gate is closed."""
        self._clock_ident = threading.get_ident()
        self._clock_tid = threading.get_native_id()
        self._last_tick = time.monotonic()
        if not self.closed:
            return
        t0 = time.monotonic()
        with self._cond:
            self.parked = True
            self._cond.notify_all()
            ok = self._cond.wait_for(lambda: self._holders == 0, self.max_park_s)
            self.parked = False
            self.max_park_wait_s = max(self.max_park_wait_s, time.monotonic() - t0)
            if not ok:
                self.park_timeouts += 1
        if not ok:
            log.warning("The conference clock thread was parked %.0f s (ClockGate.max_park_s) and runs on "
                        "with the gate still closed: a ClockGate.close() without its open()?", self.max_park_s)


#: The process's gate (one conference bridge, one clock thread per process).
CLOCK_GATE = ClockGate()


def read_frame(frame) -> bytes:
    return _read_fast(frame) if _IO["read_fast"] else _read_slow(frame)


def write_frame(frame, data: bytes) -> None:
    if _IO["write_fast"]:
        _write_fast(frame, data)
    else:
        _write_slow(frame, data)


class FrameSink(pj.AudioMediaPort):
    """A conference port that queues the audio it receives as int16 frames.

    Frames arrive on the conference clock thread every 20 ms; ``onFrameReceived`` only
    copies the bytes and queues them (a frame with no audio becomes 20 ms of silence, so
    the audio timeline keeps pace with the call). Read them with :meth:`get`.

    Frame-gap statistics (while active; timestamps taken as each frame arrives): ``frames``
    (frames queued), ``max_gap_s`` (largest interval between two consecutive frames),
    ``gaps_over`` (intervals longer than ``gap_threshold_s``, default 60 ms: the conference
    clock or the process fell behind), ``empty_frames`` (callbacks without audio, queued as
    silence), ``max_lag_s`` (longest time a frame waited in the queue before :meth:`get`
    handed it on: how far the consumer, e.g. the detector, fell behind real time).
    """

    def __init__(self, name: str = "sink", *, gap_threshold_s: float = 0.06) -> None:
        super().__init__()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.active = False
        self.gap_threshold_s = gap_threshold_s
        self.frames = 0
        self.max_gap_s = 0.0
        self.gaps_over = 0
        self.empty_frames = 0
        self.max_lag_s = 0.0
        self._last_t = 0.0
        self.errors = 0
        self.name = name
        self.createPort(name[:30], audio_format())
        CLOCK_GATE.port_added()  # put_frame comes every tick from now on, connected or not

    def start(self) -> None:
        self._last_t = 0.0
        self.active = True

    def stop(self) -> None:
        self.active = False

    def reset(self) -> None:
        """Ready for another call (see :class:`PortPool`): inactive, empty, statistics zeroed."""
        self.stop()
        self.drain()
        self.frames = self.gaps_over = self.empty_frames = self.errors = 0
        self.max_gap_s = self.max_lag_s = self._last_t = 0.0

    def onFrameReceived(self, frame) -> None:  # conference clock thread
        try:
            CLOCK_GATE.checkpoint()
            if not self.active:
                return
            now = time.monotonic()
            if self._last_t:
                gap = now - self._last_t
                if gap > self.max_gap_s:
                    self.max_gap_s = gap
                if gap > self.gap_threshold_s:
                    self.gaps_over += 1
            self._last_t = now
            data = read_frame(frame) if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO else b""
            if len(data) != FRAME_BYTES:
                if not data:
                    self.empty_frames += 1
                data = (data + _SILENCE)[:FRAME_BYTES] if data else _SILENCE
            self.frames += 1
            self.queue.put((now, data))
        except Exception:  # noqa: BLE001 - never raise into C++
            self.errors += 1

    def get(self, timeout: float | None = None) -> np.ndarray | None:
        """The next frame (160 int16 samples), or None on timeout."""
        try:
            t, data = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        lag = time.monotonic() - t
        if lag > self.max_lag_s:
            self.max_lag_s = lag
        return np.frombuffer(data, dtype=np.int16)

    def drain(self) -> list[np.ndarray]:
        out = []
        while True:
            try:
                out.append(np.frombuffer(self.queue.get_nowait()[1], dtype=np.int16))
            except queue.Empty:
                return out

    def gap_stats(self) -> dict:
        """The frame-gap statistics as a dict (milliseconds)."""
        return {
            "frames": self.frames,
            "max_gap_ms": round(self.max_gap_s * 1000.0, 2),
            "gaps_over_threshold": self.gaps_over,
            "gap_threshold_ms": round(self.gap_threshold_s * 1000.0, 1),
            "empty_frames": self.empty_frames,
            "max_lag_ms": round(self.max_lag_s * 1000.0, 2),
        }


class FrameSource(pj.AudioMediaPort):
    """A conference port that sends the audio given to :meth:`play`, then silence.

    ``done`` (a :class:`threading.Event`) is set when the audio has been sent completely or
    :meth:`stop` was called; ``finished_normally`` says which.
    """

    def __init__(self, name: str = "source") -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._data = b""
        self._pos = 0
        self.done = threading.Event()
        self.done.set()
        self.finished_normally = False
        self.samples_sent = 0
        self.errors = 0
        self.name = name
        self.createPort(name[:30], audio_format())

    def play(self, y) -> None:
        """Start sending ``y`` (int16 samples, or float in [-1, 1]) from the next frame."""
        y = np.asarray(y)
        if y.dtype != np.int16:
            y = np.clip(np.round(np.asarray(y, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)
        with self._lock:
            self._data = y.astype("<i2").tobytes()
            self._pos = 0
            self.finished_normally = False
            self.done.clear()

    def stop(self) -> None:
        with self._lock:
            self._data = b""
            self._pos = 0
            self.done.set()

    def reset(self) -> None:
        """Ready for another call (see :class:`PortPool`): silent, counters zeroed."""
        self.stop()
        with self._lock:
            self.finished_normally = False
            self.samples_sent = 0
            self.errors = 0

    @property
    def playing(self) -> bool:
        return not self.done.is_set()

    def onFrameRequested(self, frame) -> None:  # conference clock thread
        try:
            CLOCK_GATE.checkpoint()
            with self._lock:
                if self._pos < len(self._data):
                    chunk = self._data[self._pos : self._pos + FRAME_BYTES]
                    self._pos += len(chunk)
                    self.samples_sent += len(chunk) // 2
                    if self._pos >= len(self._data):
                        self._data = b""
                        self._pos = 0
                        self.finished_normally = True
                        self.done.set()
                    if len(chunk) < FRAME_BYTES:
                        chunk = chunk + _SILENCE[len(chunk) :]
                else:
                    chunk = _SILENCE
            write_frame(frame, chunk)
        except Exception:  # noqa: BLE001 - never raise into C++
            self.errors += 1


def verify_fast_frames(endpoint, *, timeout_s: float = 1.0) -> bool:
    """Check the ctypes frame accessors against the SWIG copies; choose the path to use.

    A :class:`FrameSource` sends a known pattern through the conference bridge to a probe
    port that reads each frame both ways. Returns True when the fast paths are in use.
    """
    pattern = (np.arange(FRAME_SAMPLES * 10, dtype=np.int64) * 37 % 20000 - 10000).astype(np.int16)
    results: list[tuple[bytes, bytes]] = []

    class _Probe(pj.AudioMediaPort):
        def onFrameReceived(self, frame):
            try:
                if self.active and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and len(results) < 8:
                    results.append((_read_fast(frame), _read_slow(frame)))
            except Exception:  # noqa: BLE001
                results.append((b"x", b"y"))

    _IO["write_fast"] = True
    src = endpoint.ports.take(FrameSource, "lsdlab-verify-src")
    probe = _Probe()
    probe.active = True
    probe.createPort("lsdlab-verify-probe", audio_format())
    try:
        src.play(pattern)
        src.startTransmit(probe)
        end = time.monotonic() + timeout_s
        while len(results) < 6 and time.monotonic() < end:
            time.sleep(0.01)
        src.stopTransmit(probe)
    finally:
        endpoint.ports.give(src)
        retire_port(probe, endpoint)  # never destroyed while the bridge runs (PortPool)
        del src, probe
    got = list(results)
    read_ok = bool(got) and all(f == s and len(s) == FRAME_BYTES for f, s in got)
    sent = pattern.tobytes()
    write_ok = read_ok and all(s in sent for _, s in got if any(s))
    write_ok = write_ok and any(any(s) for _, s in got)
    _IO["read_fast"] = read_ok
    _IO["write_fast"] = write_ok
    if not (read_ok and write_ok):
        log.warning(
            "ctypes frame access did not match the SWIG copy (read %s, write %s, %d frames); "
            "using the slow path (about 0.6 ms per frame).", read_ok, write_ok, len(got),
        )
    return read_ok and write_ok
