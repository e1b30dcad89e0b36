"""The one pjsua2 endpoint of a process: creation, threads, logging, codecs, shutdown.

The pjsua2 wheel allows exactly one ``Endpoint`` per process (a second aborts the
interpreter), at most 4 calls, and aborts at exit when pjsua2 objects outlive
``libDestroy``. :func:`get_endpoint` therefore creates the endpoint once (re-running a
notebook cell returns the same one) and registers a clean shutdown with :mod:`atexit`:
owners (call channels, far-end answerers) are asked to drop their pjsua2 objects, calls
are hung up, events pumped, references dropped, ``gc.collect()`` runs, and only then
``libDestroy(PJSUA_DESTROY_NO_NETWORK)``.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import gc
import logging
import os
import queue
import sys
import threading
import time
import weakref
from dataclasses import dataclass, replace
from typing import Any

from .._signals import install_sigterm_exit, no_raise_code
from .._validation import check_choice, check_int_range
from ..errors import ParameterError, SipError

__all__ = [
    "EndpointSettings",
    "SipEndpoint",
    "get_endpoint",
    "current_endpoint",
    "register_thread",
    "shutdown_endpoint",
    "CODECS",
    "parse_codecs",
    "pj_error_text",
]

log = logging.getLogger("lsdlab.sip")
pjlog = logging.getLogger("lsdlab.sip.pjsip")

#: Codec names of the UAS API -> pjsua2 codec ids.
CODECS = {"g711a": "PCMA/8000", "g711u": "PCMU/8000"}
#: pjsua2 codec name (as in stream info) -> UAS API name.
CODEC_API_NAME = {"PCMA": "g711a", "PCMU": "g711u"}

# pjsua2 log level -> logging level
_PJ_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}

# pjlib's socket table ("ioqueue", 64 sockets per process in this wheel) hands a closed
# socket's slot back only PJ_IOQUEUE_KEY_FREE_DELAY (500 ms) after the close; registering a
# socket while every slot is in use or still cooling down trips pj_assert("free_list empty")
# in pj_ioqueue_register_sock2 and aborts the process. Each call opens 2 media sockets (RTP,
# RTCP) when it is placed and closes them when it ends, so calls that end quickly one after
# another (hung up at the answer, 4 at a time) ran out after about 29 calls:
# (64 - the SIP transport's sockets) / 2. Before a call is placed, the endpoint waits until
# the calls that ended in the last _KEY_FREE_WINDOW_S leave room for 4 live calls' sockets.
_IOQUEUE_SLOTS = 64
_KEY_FREE_WINDOW_S = 0.6  # pjlib's 500 ms, plus the time between DISCONNECTED and the close
_SOCKETS_PER_CALL = 2
_SOCKETS_RESERVED = 8  # the SIP transport's and pjlib's own sockets, with a margin
#: calls ended within the window that still leave room for 4 live calls (here 24)
_MAX_COOLING_CALLS = (_IOQUEUE_SLOTS - _SOCKETS_RESERVED) // _SOCKETS_PER_CALL - 4


# pjsua2 2.15's C++ Call keeps its pjsua call id after its call is DISCONNECTED (pjsua frees
# the id for the next call right after that callback), and ~Call() then clears that id's user
# data and hangs the id up. A Call deleted anywhere but inside its own DISCONNECTED callback
# therefore unregisters (and hangs up) whichever call pjsua gave the id to next, and a pjsip
# thread that looked the id up just before (a transaction timer of an older dialog of the same
# id) calls into the freed object: SIGSEGV in Endpoint::on_call_tsx_state, or "AttributeError:
# 'OnCallTsxStateParam' object has no attribute 'onCallTsxState'" (issue 15). pjsua2 has no
# setter for the id, so forget_call_id() writes PJSUA_INVALID_ID into the object's field:
# ``class Call { vptr; Account &acc; pjsua_call_id id; ... }`` (call.hpp), checked on every
# use (the account reference must point at the call's account and the int must be getId()).
#
# Deleting the object inside its DISCONNECTED callback is not enough either: pjsua hands the
# transaction events of a call's previous dialog (its INVITE/BYE transactions finish on timers
# seconds later) to whatever Call holds the same call id now, on pjsip's worker thread, while
# that Call's own DISCONNECTED callback may be running on another thread (a user thread inside
# hangup()). So a finished Call is kept for _CALL_GRACE_S after it is retired (retire_call),
# long enough for any callback already dispatched to it to have run, then dropped.
_CALL_GRACE_S = 2.0
_PTR = ctypes.sizeof(ctypes.c_void_p)
_CALL_ACC_OFFSET = _PTR
_CALL_ID_OFFSET = 2 * _PTR


def pj_error_text(exc: BaseException) -> str:
    """A readable text for a ``pjsua2.Error`` (whose ``str()`` is empty)."""
    try:
        info = exc.info()  # type: ignore[attr-defined]
        if info:
            return str(info).strip()
    except Exception:  # noqa: BLE001 - not a pj.Error
        pass
    reason = getattr(exc, "reason", "")
    status = getattr(exc, "status", "")
    return f"{reason} (status {status})" if reason or status else repr(exc)


def parse_codecs(codecs: str | None, *, owner: str = "start_call") -> list[str]:
    """Turn ``'g711a;g711u'`` into pjsua2 codec ids in priority order.

    ``None`` or ``''`` means the default order (G.711 A-law, then mu-law).
    """
    if codecs is None or (isinstance(codecs, str) and not codecs.strip()):
        return [CODECS["g711a"], CODECS["g711u"]]
    if not isinstance(codecs, str):
        raise ParameterError(
            f"The 'codecs' parameter of {owner} must be a ';'-separated string such as "
            f"'g711a;g711u'. Got {codecs!r} instead."
        )
    out: list[str] = []
    for name in codecs.split(";"):
        key = name.strip().lower()
        if not key:
            continue
        if key not in CODECS:
            raise ParameterError(
                f"The 'codecs' parameter of {owner} names an unknown codec {name.strip()!r}; "
                f"known codecs: {sorted(CODECS)} (g711a = PCMA/8000, g711u = PCMU/8000). "
                f"Got {codecs!r} instead."
            )
        if CODECS[key] not in out:
            out.append(CODECS[key])
    if not out:
        raise ParameterError(
            f"The 'codecs' parameter of {owner} lists no codec. Use e.g. 'g711a;g711u'. "
            f"Got {codecs!r} instead."
        )
    return out


@dataclass(frozen=True)
class EndpointSettings:
    """How the process's SIP endpoint is set up.

    host: address the SIP (UDP) transport and RTP bind to; '127.0.0.1' keeps everything on
    loopback. port: SIP port, 0 = a free port chosen by the system. transport: 'udp' or
    'tcp'. thread_count: pjsua2 worker threads (1 = pjsua2 polls events itself; 0 = the
    owner must call :meth:`SipEndpoint.handle_events`). log_level: pjsip log level routed
    to the ``lsdlab.sip.pjsip`` logger (0 none ... 5 debug). rtp_port: first RTP port tried.
    public_address: address to put in SDP/Contact (for NAT), '' = the bound one.
    handle_sigterm: turn SIGTERM into a normal exit with code 143 (so the clean shutdown runs) when
    nobody else handles it.
    """

    host: str = "127.0.0.1"
    port: int = 0
    transport: str = "udp"
    thread_count: int = 1
    log_level: int = 2
    rtp_port: int = 4000
    public_address: str = ""
    handle_sigterm: bool = True

    def __post_init__(self) -> None:
        owner = "EndpointSettings"
        if not isinstance(self.host, str) or not self.host:
            raise ParameterError(f"The 'host' parameter of {owner} must be an IP address string. Got {self.host!r} instead.")
        check_int_range(self.port, "port", owner, 0, 65535)
        check_choice(self.transport, "transport", owner, ("udp", "tcp"))
        check_int_range(self.thread_count, "thread_count", owner, 0, 4)
        check_int_range(self.log_level, "log_level", owner, 0, 6)
        check_int_range(self.rtp_port, "rtp_port", owner, 1024, 65000)


def _pj():
    try:
        import pjsua2 as pj
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SipError(
            "The SIP layer needs the 'pjsua2-python' package (import pjsua2); install it with "
            "`pip install pjsua2-python` (not the broken 'pjsua2' source package)."
        ) from exc
    return pj


class ThreadTask:
    """A handle on work given to a :class:`TaskLane` (``is_alive``/``join`` as a
    :class:`threading.Thread`'s)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._done = threading.Event()

    def is_alive(self) -> bool:
        return not self._done.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)


class TaskLane:
    """One daemon thread, registered with pjlib once, that runs the tasks given to it in order.

    pjsua2's ``Endpoint.libRegisterThread`` mallocs a thread descriptor (about 590 bytes with
    its map entry) that only ``libDestroy`` frees: pjlib has no way to unregister a thread. A
    call channel used to start 2-3 new registered threads per call (RTP watch, media
    consumer, clock-gate opener), so a process grew by about 1.2-1.8 KiB per call for as long
    as its endpoint lived (issue 15's soak). A channel now owns one lane per kind of work
    (:meth:`SipEndpoint.lane`): the same threads serve every call, and their number stays
    what it was after the first call. The thread starts with the first task and ends when the
    lane is closed (by its owner, or at endpoint shutdown).
    """

    def __init__(self, endpoint: SipEndpoint, name: str) -> None:
        self._endpoint = endpoint
        self.name = name
        self._lock = threading.Lock()
        self._q: queue.SimpleQueue | None = None
        self._closed = False

    def run(self, fn, *args: Any, name: str | None = None) -> ThreadTask:
        """Run ``fn(*args)`` on the lane's thread after the tasks before it; a
        :class:`ThreadTask` (``is_alive()``, ``join(timeout)``)."""
        task = ThreadTask(name or self.name)
        with self._lock:
            if self._closed:  # closed (endpoint shut down): a thread of its own, as before
                q = None
            else:
                if self._q is None:
                    self._q = queue.SimpleQueue()
                    threading.Thread(target=self._loop, args=(self._q,), daemon=True, name=self.name).start()
                q = self._q
        if q is None:
            threading.Thread(target=self._run_one, args=(fn, args, task), daemon=True, name=task.name).start()
        else:
            q.put((fn, args, task))
        return task

    @staticmethod
    def _run_one(fn, args: tuple, task: ThreadTask) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a task's failure must not end the lane
            log.exception("%s failed", task.name)
        finally:
            task._done.set()

    def _loop(self, q: queue.SimpleQueue) -> None:
        with contextlib.suppress(SipError):  # shut down meanwhile: the tasks find out themselves
            self._endpoint.register_thread(self.name[:30])
        while True:
            item = q.get()
            if item is None:
                return
            self._run_one(*item)

    def close(self) -> None:
        """The thread ends after the tasks already given; later tasks get threads of their own."""
        with self._lock:
            self._closed = True
            q, self._q = self._q, None
        if q is not None:
            q.put(None)


class _LogWriter:  # replaced by a pj.LogWriter subclass at first use
    pass


def _pj_log_level(level: int, msg: str) -> int:
    """The ``logging`` level of a pjsip log line.

    pjsua looks for a free RTP port by binding one port after another from ``rtp_port`` and
    logs every port in use ("RTP socket bind() at 127.0.0.1:4002 error: Address already in
    use") at level 1 before taking the next one: routine on a machine running several
    endpoints, so DEBUG. Running out of ports is reported by a different line (still ERROR).
    """
    if "socket bind()" in msg and "Address already in use" in msg and ("RTP" in msg or "RTCP" in msg):
        return logging.DEBUG
    # the channel's RTP-inactivity watch asks for a call's stream statistics every 50 ms; in the
    # moment a call has no stream yet (or no more) pjsua2 logs this at level 1 and raises, which
    # the watch handles (an unreadable counter never counts as a dead line): routine, DEBUG
    if "pjsua_call_get_stream_stat" in msg and "PJ_EINVAL" in msg:
        return logging.DEBUG
    # makeCall finding every call slot of the process taken (a hung-up call keeps its slot
    # until its BYE is answered): UASCallChannel waits for a slot and tries again every 20 ms,
    # and raises its own SipError when none frees within slot_wait_s. pjsua2 logs each try
    # (two lines): 1,488 ERROR lines in one bench_load run. Routine, DEBUG
    if "PJ_ETOOMANY" in msg and ("pjsua_call_make_call" in msg or "Error making call" in msg):
        return logging.DEBUG
    return _PJ_LEVELS.get(level, logging.DEBUG)


def _make_log_writer(pj):
    base: Any = pj.LogWriter  # pjsua2 is imported lazily (a module passed in), so a variable base

    class LogWriter(base):
        def write(self, entry):  # runs on any pjsip thread
            try:
                msg = entry.msg.rstrip()
                pjlog.log(_pj_log_level(entry.level, msg), "%s", msg)
            except Exception:  # noqa: BLE001 - never raise into C++
                pass

    return LogWriter()


class SipEndpoint:
    """The process's pjsua2 endpoint (use :func:`get_endpoint`, never construct twice).

    Attributes: ``ep`` (the ``pjsua2.Endpoint``), ``settings``, ``host``, ``port`` (the
    bound SIP port), ``transport_id``, ``fast_frames`` (the ctypes frame access verified).
    """

    def __init__(self, settings: EndpointSettings) -> None:
        pj = _pj()
        self.pj = pj
        self.settings = settings
        self._lock = threading.RLock()
        self._owners: weakref.WeakSet = weakref.WeakSet()
        self._keep: dict[int, Any] = {}
        self._parked_calls: list[Any] = []  # finished Calls forget_call_id() could not neutralise
        self._retired_calls: collections.deque = collections.deque()  # (when, Call, Account), see retire_call
        # its own lock, never self._lock: retire_call runs in pjsip callbacks, and shutdown()
        # holds self._lock while it waits for pjsip (hang-ups, libDestroy joining its threads)
        self._retired_lock = threading.Lock()
        self._accounts: dict[Any, Any] = {}
        self._codec_lock = threading.Lock()
        self._closed = False
        self._ended_calls: list[float] = []  # when recent calls ended (their media sockets cool down)
        self._ended_lock = threading.Lock()
        self._pjsua_c: dict[str, Any] = {}  # pjsua C functions via ctypes (None: not exported), see _pjsua_fn
        self.ep = pj.Endpoint()
        # libCreate prints a banner to stdout before any log config applies: silence fd 1.
        with _quiet_stdout():
            self.ep.libCreate()
        try:
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = settings.thread_count
            cfg.uaConfig.maxCalls = 4
            cfg.uaConfig.userAgent = "lsdlab"
            cfg.logConfig.level = settings.log_level
            cfg.logConfig.consoleLevel = settings.log_level
            self._writer = _make_log_writer(pj)
            cfg.logConfig.writer = self._writer
            cfg.logConfig.decor = 0
            cfg.medConfig.clockRate = 8000
            cfg.medConfig.sndClockRate = 8000
            cfg.medConfig.channelCount = 1
            cfg.medConfig.noVad = True
            cfg.medConfig.ecTailLen = 0
            self.ep.libInit(cfg)
            self.ep.audDevManager().setNullDev()
            tcfg = pj.TransportConfig()
            tcfg.port = settings.port
            tcfg.boundAddress = settings.host
            if settings.public_address:
                tcfg.publicAddress = settings.public_address
            ttype = pj.PJSIP_TRANSPORT_UDP if settings.transport == "udp" else pj.PJSIP_TRANSPORT_TCP
            try:
                self.transport_id = self.ep.transportCreate(ttype, tcfg)
            except pj.Error as exc:
                raise SipError(
                    f"Cannot open the SIP {settings.transport.upper()} transport on "
                    f"{settings.host}:{settings.port}: {pj_error_text(exc)}. Choose another "
                    f"'port' (0 = any free port) or 'host'."
                ) from None
            self.ep.libStart()
            name = self.ep.transportGetInfo(self.transport_id).localName
            self.host = settings.public_address or settings.host
            self.port = int(name.rsplit(":", 1)[1])
            self.set_codec_order([CODECS["g711a"], CODECS["g711u"]])
        except BaseException:
            self._destroy_lib()
            raise
        from ._media import PortPool, verify_fast_frames

        #: FrameSink/FrameSource ports, recycled across calls and never destroyed while
        #: the conference bridge runs (see PortPool for why).
        self.ports = PortPool()
        self._lanes: weakref.WeakSet = weakref.WeakSet()
        self.fast_frames = verify_fast_frames(self)
        log.info(
            "SIP endpoint up on %s:%d/%s (threads %d, fast frame access %s)",
            self.host, self.port, settings.transport, settings.thread_count, self.fast_frames,
        )

    # -- threads ---------------------------------------------------------------------
    def register_thread(self, name: str | None = None) -> None:
        """Register the calling Python thread with pjlib (idempotent)."""
        if self._closed:
            raise SipError("The SIP endpoint was shut down; call get_endpoint() for a new one.")
        if not self.ep.libIsThreadRegistered():
            self.ep.libRegisterThread(name or f"py-{threading.current_thread().name}"[:30])

    def lane(self, name: str) -> TaskLane:
        """A :class:`TaskLane` of this endpoint: one registered thread for one kind of per-call
        work (a channel's media consumer, its RTP watch), reused by every call instead of a
        new thread per call (each thread pjlib registers costs ~590 bytes until ``libDestroy``).
        Closed at shutdown; close it sooner when its owner goes away."""
        lane = TaskLane(self, name)
        with self._lock:
            if self._closed:
                lane.close()
            else:
                self._lanes.add(lane)
        return lane

    def handle_events(self, msec: int = 10) -> None:
        """Poll pjsip events (needed only with ``thread_count=0``)."""
        self.ep.libHandleEvents(msec)

    # -- pjlib's socket table ----------------------------------------------------------
    def note_call_ended(self) -> None:
        """A call of this process ended (DISCONNECTED): its 2 media sockets are closing."""
        with self._ended_lock:
            self._ended_calls.append(time.monotonic())

    def wait_for_socket_room(self, timeout_s: float = 5.0) -> float:
        """Block until a new call's media sockets fit in pjlib's socket table (see
        ``_MAX_COOLING_CALLS``); returns the seconds waited (0.0 almost always)."""
        t0 = time.monotonic()
        while True:
            with self._ended_lock:
                now = time.monotonic()
                self._ended_calls = [t for t in self._ended_calls if now - t < _KEY_FREE_WINDOW_S]
                if len(self._ended_calls) < _MAX_COOLING_CALLS:
                    return now - t0
                wait = self._ended_calls[0] + _KEY_FREE_WINDOW_S - now
            if now - t0 > timeout_s:
                return now - t0  # pjlib frees them by then; never wait for ever
            time.sleep(max(0.005, wait))

    # -- pjsua's call slots -------------------------------------------------------------
    def calls_in_use(self) -> set[int] | None:
        """The pjsua call ids whose call slot (one of the process's 4) is taken right now.

        Not the same as the calls not yet DISCONNECTED: pjsua reports a call DISCONNECTED from
        inside our own ``hangup()``, before its BYE is even sent, and frees the call's slot only
        when the BYE's transaction ends: at once when the peer answers it, after 32 s (Timer F)
        when the peer is gone (a killed process). An incoming call meanwhile finds every slot
        taken and gets pjsua's own 486 Busy Here. Read with pjsua's C ``pjsua_enum_calls``
        (exported by the wheel's extension module: the calls whose INVITE session exists, the
        test pjsua applies to a new call); None when this build does not export it.
        """
        fn = self._pjsua_fn("pjsua_enum_calls", [ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_uint)])
        if fn is None:
            return None
        self.register_thread()
        ids = (ctypes.c_int * 32)()
        count = ctypes.c_uint(32)
        if fn(ids, ctypes.byref(count)) != 0:
            return None
        return set(ids[: count.value])

    def call_slots(self) -> tuple[int, set[int], set[int]] | None:
        """pjsua's call slots in this process: ``(how many, the ids of the taken ones, those
        of them held by calls already over)``; None when this build does not export pjsua's C
        functions.

        How many: ``pjsua_call_get_max_count``, 4 in this wheel (``PJSUA_MAX_CALLS`` is
        compiled in as 4; a larger ``maxCalls`` is clamped to it, measured). A call already
        over is DISCONNECTED (``pjsua_call_is_active`` false) but still holds its slot: its
        BYE is not answered yet (see :meth:`calls_in_use`).
        """
        in_use = self.calls_in_use()
        max_count = self._pjsua_fn("pjsua_call_get_max_count", [])
        active = self._pjsua_fn("pjsua_call_is_active", [ctypes.c_int])
        if in_use is None or max_count is None or active is None:
            return None
        return int(max_count()), in_use, {i for i in in_use if not active(i)}

    def _pjsua_fn(self, name: str, argtypes: list) -> Any:
        """pjsua's C function ``name`` (returning int) from the wheel's extension module, via
        ctypes; None when this build does not export it (warned once)."""
        fns = self._pjsua_c
        if name not in fns:
            try:
                import importlib

                lib = ctypes.CDLL(importlib.import_module(f"{self.pj.__name__}._pjsua2").__file__)
                fn = getattr(lib, name)
                fn.restype = ctypes.c_int
                fn.argtypes = argtypes
            except (ImportError, OSError, AttributeError, TypeError):
                log.warning("%s is not exported by this pjsua2 build: call slots held by a pending BYE "
                            "cannot be seen", name)
                fn = None
            fns[name] = fn
        return fns[name]

    # -- ownership -------------------------------------------------------------------
    def add_owner(self, owner: Any) -> None:
        """Register an object whose ``_release_pj()`` drops its pjsua2 objects at shutdown."""
        self._owners.add(owner)

    def keep(self, obj: Any) -> Any:
        """Hold a reference to a pjsua2 object until :meth:`release` or shutdown."""
        self._keep[id(obj)] = obj
        return obj

    def release(self, obj: Any) -> None:
        self._keep.pop(id(obj), None)

    # -- finished calls ------------------------------------------------------------------
    def retire_call(self, call: Any, account: Any) -> None:
        """Take over a pjsua2 ``Call`` whose call is over (DISCONNECTED or never placed).

        Call it once no thread is inside one of ``call``'s methods. The endpoint makes its
        destructor harmless (:meth:`forget_call_id`) and keeps it for ``_CALL_GRACE_S``, so that
        a pjsip callback already on its way to it never finds it deleted; older retired Calls
        are dropped here (at most a few per second of calls are held).
        """
        now = time.monotonic()
        old: list[tuple[float, Any, Any]] = []
        if self.forget_call_id(call, account):
            with self._retired_lock:
                self._retired_calls.append((now, call, account))
                while self._retired_calls and now - self._retired_calls[0][0] > _CALL_GRACE_S:
                    old.append(self._retired_calls.popleft())
        for _, c, acc in old:  # a pjsip thread's write of the id (Call::lookup) cannot have undone it
            if c.getId() != self.pj.PJSUA_INVALID_ID:
                self.forget_call_id(c, acc)
        del old  # the last references: deleted here, their destructors touch no call

    def forget_call_id(self, call: Any, account: Any) -> bool:
        """Make a finished pjsua2 ``Call``'s destructor harmless wherever it runs.

        Call it once the call is DISCONNECTED and no thread is inside one of ``call``'s
        methods (they read the id). The object's id becomes ``PJSUA_INVALID_ID``: its
        destructor then neither unregisters nor hangs up the call that pjsua gave the id to
        next, and its methods fail with an error instead of acting on that call. When the
        object's layout is not the expected one (another pjsua2 build), nothing is written and
        the object is kept until shutdown instead (False is returned; a few hundred bytes).
        """
        try:
            addr = int(call.this)
            acc_ok = ctypes.c_void_p.from_address(addr + _CALL_ACC_OFFSET).value == int(account.this)
            field = ctypes.c_int.from_address(addr + _CALL_ID_OFFSET)
            if acc_ok and field.value == call.getId():
                field.value = self.pj.PJSUA_INVALID_ID
                if call.getId() == self.pj.PJSUA_INVALID_ID:
                    return True
        except Exception:  # noqa: BLE001 - an unexpected object: keep it (below)
            log.debug("forget_call_id(%r) failed", call, exc_info=True)
        with self._retired_lock:
            if not self._parked_calls:
                log.warning("the pjsua2 Call layout is not the expected one: finished calls are kept "
                            "until shutdown (a few hundred bytes each) instead of being deleted")
            self._parked_calls.append(call)
        return False

    # -- accounts --------------------------------------------------------------------
    def account(self, *, key: Any = "local", factory=None):
        """A shared pjsua2 Account for ``key`` (created once by ``factory(endpoint)``).

        pjsua allows only 8 accounts per process, so call channels share them instead of
        creating one each (re-running a notebook cell must not exhaust them).
        """
        with self._lock:
            acc = self._accounts.get(key)
            if acc is None:
                self.register_thread()
                acc = factory(self) if factory else self._local_account()
                self._accounts[key] = acc
            return acc

    def account_config(self, *, user: str = "lsdlab", registrar: str = "", proxy: str = "",
                       username: str = "", password: str = "", realm: str = "*"):
        """An AccountConfig bound to this endpoint's transport and host."""
        pj = self.pj
        cfg = pj.AccountConfig()
        host = self.host if ":" not in self.host else f"[{self.host}]"
        if registrar:
            reg_host = registrar.split("sip:", 1)[-1]
            cfg.idUri = f"sip:{username or user}@{reg_host}"
            cfg.regConfig.registrarUri = registrar if registrar.startswith("sip") else f"sip:{registrar}"
            cfg.regConfig.registerOnAdd = True
        else:
            cfg.idUri = f"sip:{user}@{host}:{self.port}"
        if proxy:
            cfg.sipConfig.proxies.append(proxy if proxy.startswith("sip") else f"sip:{proxy};lr")
        if username:
            cred = pj.AuthCredInfo("digest", realm, username, 0, password)
            cfg.sipConfig.authCreds.append(cred)
        cfg.sipConfig.transportId = self.transport_id
        cfg.mediaConfig.transportConfig.boundAddress = self.settings.host
        cfg.mediaConfig.transportConfig.port = self.settings.rtp_port
        if self.settings.public_address:
            cfg.mediaConfig.transportConfig.publicAddress = self.settings.public_address
        cfg.mediaConfig.lockCodecEnabled = False
        cfg.natConfig.iceEnabled = False
        return cfg

    def _local_account(self):
        pj = self.pj
        acc = pj.Account()
        acc.create(self.account_config())
        return acc

    # -- codecs ----------------------------------------------------------------------
    def set_codec_order(self, codec_ids: list[str]) -> None:
        """Offer exactly ``codec_ids`` (pjsua2 ids such as 'PCMA/8000') in that order."""
        self.register_thread()
        for info in self.ep.codecEnum2():
            if info.codecId.startswith("telephone-event"):
                continue
            self.ep.codecSetPriority(info.codecId, 0)
        for i, cid in enumerate(codec_ids):
            self.ep.codecSetPriority(cid, 255 - i)

    @contextlib.contextmanager
    def codec_order(self, codec_ids: list[str]):
        """Hold the codec order (endpoint-wide in pjsua) while one call is offered."""
        with self._codec_lock:
            self.set_codec_order(codec_ids)
            yield

    # -- shutdown --------------------------------------------------------------------
    def shutdown(self) -> None:
        """Hang up, drop every pjsua2 object, then ``libDestroy`` (idempotent)."""
        global _ENDPOINT
        with self._lock:
            if self._closed:
                return
            t0 = time.monotonic()
            try:
                self.register_thread("lsdlab-shutdown")
            except Exception:  # noqa: BLE001
                pass
            busy = 0
            for owner in list(self._owners):
                try:
                    busy += int(owner._release_pj() or 0)
                except Exception:  # noqa: BLE001 - keep shutting down
                    log.exception("releasing %r failed", owner)
            for lane in list(self._lanes):
                lane.close()
            from ._media import CLOCK_GATE

            try:
                with CLOCK_GATE.held():  # tears every call's media down (see ClockGate)
                    self.ep.hangupAllCalls()
            except Exception:  # noqa: BLE001
                pass
            end = time.monotonic() + (0.3 if busy else 0.02)
            while time.monotonic() < end:
                try:
                    self.ep.libHandleEvents(10)
                except Exception:  # noqa: BLE001
                    break
            # a teardown during the shutdown (onStreamDestroyed) may have closed the gate with
            # no one left to open it (the far end's loop, the channel's opener lane): libDestroy
            # joins the clock thread, so it must not stay parked (up to max_park_s)
            dropped = CLOCK_GATE.open_all()
            if dropped:
                log.debug("shutdown opened the clock gate (%d holds left)", dropped)
            self.ports.retire_all(self)  # set in __init__ before anything can need shutting down
            for acc in self._accounts.values():
                with contextlib.suppress(Exception):
                    acc.shutdown()
            self._accounts.clear()
            self._keep.clear()
            with self._retired_lock:
                self._parked_calls.clear()
                self._retired_calls.clear()
            gc.collect()
            self._destroy_lib()
            self._closed = True
            if _ENDPOINT is self:
                _ENDPOINT = None
            log.info("SIP endpoint shut down in %.3f s", time.monotonic() - t0)

    def _destroy_lib(self) -> None:
        from ._media import CLOCK_GATE

        try:
            self.ep.libDestroy(self.pj.PJSUA_DESTROY_NO_NETWORK)
        except Exception:  # noqa: BLE001
            pass
        CLOCK_GATE.clock_stopped()  # its ports and clock thread are gone with the bridge
        self.ep = None
        gc.collect()

    @property
    def closed(self) -> bool:
        return self._closed


@contextlib.contextmanager
def _quiet_stdout():
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# The process-wide endpoint. pjsua2 itself is process-global state, so this is the one
# place lsdlab keeps a module-level singleton.
_ENDPOINT: SipEndpoint | None = None
_CREATE_LOCK = threading.Lock()
_ATEXIT_DONE = False




def get_endpoint(settings: EndpointSettings | None = None, **changes: Any) -> SipEndpoint:
    """Return the process's SIP endpoint, creating it on first use.

    Parameters
    ----------
    settings : EndpointSettings, optional
        Used only when the endpoint is created. Passing settings that differ from those of
        the running endpoint raises :class:`~lsdlab.errors.SipError` (pjsua2 allows one
        endpoint per process; shut it down first with :func:`shutdown_endpoint`).
    **changes
        Shortcuts for fields of :class:`EndpointSettings` (e.g. ``port=5070``).

    Examples
    --------
    >>> from lsdlab.sip import get_endpoint
    >>> ep = get_endpoint()           # doctest: +SKIP
    >>> ep is get_endpoint()          # doctest: +SKIP
    True
    """
    global _ENDPOINT, _ATEXIT_DONE
    if changes:
        settings = replace(settings or EndpointSettings(), **changes)
    with _CREATE_LOCK:
        if _ENDPOINT is not None and not _ENDPOINT.closed:
            if settings is not None and settings != _ENDPOINT.settings:
                raise SipError(
                    f"This process already has a SIP endpoint with {_ENDPOINT.settings}; pjsua2 "
                    f"allows only one. Reuse it (call get_endpoint() without settings) or call "
                    f"lsdlab.sip.shutdown_endpoint() first. Got {settings} instead."
                )
            _ENDPOINT.register_thread()
            return _ENDPOINT
        ep = SipEndpoint(settings or EndpointSettings())
        _ENDPOINT = ep
        if not _ATEXIT_DONE:
            atexit.register(shutdown_endpoint)
            gc.callbacks.append(_gc_register_thread)
            _ATEXIT_DONE = True
        if ep.settings.handle_sigterm:
            # exit 143 after the clean shutdown; never raised inside _gc_register_thread (a gc
            # callback, where the exception would be dropped and SIGTERM ignored)
            install_sigterm_exit()
        return ep


def _gc_register_thread(phase: str, info: dict) -> None:
    """Before a garbage collection, register the collecting thread with pjlib.

    A cycle holding a pjsua2 object may be collected on any Python thread (an executor's
    helper thread, a notebook's comm thread); its C++ destructor then calls pjlib, which aborts
    the process from an unregistered thread. Threads pjlib created (the conference clock,
    pjsua's worker) are left alone: re-registering one would replace its identity while it
    holds a group lock (pjlib then asserts in grp_lock_unset_owner_thread).
    """
    if phase != "start" or isinstance(threading.current_thread(), threading._DummyThread):
        return  # threads that pjlib started itself are registered already: never re-register them
    ep = _ENDPOINT
    if ep is None or ep._closed or ep.ep is None:
        return
    try:
        if not ep.ep.libIsThreadRegistered():
            ep.ep.libRegisterThread(f"gc-{threading.get_ident()}"[:30])
    except Exception:  # noqa: BLE001 - never let a GC callback raise
        pass


no_raise_code(_gc_register_thread.__code__)


def current_endpoint() -> SipEndpoint | None:
    """The running endpoint, or None (never creates one)."""
    return _ENDPOINT if _ENDPOINT is not None and not _ENDPOINT.closed else None


def register_thread(name: str | None = None) -> None:
    """Register the calling thread with the running endpoint (for executors' initializer)."""
    ep = current_endpoint()
    if ep is None:
        raise SipError("No SIP endpoint is running; call lsdlab.sip.get_endpoint() first.")
    ep.register_thread(name)


def shutdown_endpoint() -> None:
    """Shut the process's endpoint down cleanly (registered with :mod:`atexit`)."""
    ep = _ENDPOINT
    if ep is not None:
        ep.shutdown()
