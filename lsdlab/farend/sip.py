"""The simulated far end over real SIP: an answerer that plays corpus recordings.

:class:`SimulatedFarEnd` (this module: the parent half, in the caller's process) starts one
or more worker processes (forked by ``python -m lsdlab.farend._worker``), each owning its own
pjsua2 endpoint on its own UDP port, so the caller's process keeps its own endpoint and its 4
call slots; the workers' answerer is :mod:`lsdlab.farend._server`. A call's Request-URI user
part is a :class:`~lsdlab.farend.scenario.Scenario` (``Scenario.to_uri_user()``): the answerer rings,
answers (or fails the call) and plays ``render(scenario)`` -- the same samples as the
offline far end -- then hangs up or stays silent. It records what it receives on each call
to a WAV file, collects RFC 2833 DTMF digits and reports each call in ``calls.jsonl``.

Examples
--------
>>> from lsdlab.farend import SimulatedFarEnd          # doctest: +SKIP
>>> with SimulatedFarEnd("corpora/demo") as far:        # doctest: +SKIP
...     uri = far.uri("calls/human_001.wav")
...     busy = far.uri(scenario="busy")
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import logging
import multiprocessing.connection as mpc
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._kernel import at_kernel_shutdown, cancel_at_kernel_shutdown
from .._validation import check_choice, check_int_range, check_real_range
from ..audio.channel import ChannelSettings
from ..errors import ParameterError, SipError
from ._index import build_index
from .scenario import _CHANNEL_KEYS, KINDS, Scenario

__all__ = ["SimulatedFarEnd", "FarEndCall"]

log = logging.getLogger("lsdlab.farend.sip")

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class FarEndCall:
    """What the far end saw on one call (one line of ``calls.jsonl``)."""

    seq: int
    worker: int
    sip_call_id: str
    scenario: dict
    status: int  # the final status the far end sent (200, 486, ...) or 0 if none
    connected: bool
    codec: str  # 'PCMA', 'PCMU' or ''
    dtmf_digits: str
    recording: str | None  # WAV of the audio received from the caller (from connect)
    recording_s: float
    samples_sent: int
    duration_s: float
    hung_up_by: str  # 'far_end' or 'caller'
    extra: dict = field(default_factory=dict)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SimulatedFarEnd:
    """A SIP answerer that plays corpus recordings (as they are, or through the channel model).

    It answers on one SIP port (:attr:`port`) with a capacity of 4 calls per worker process
    (:attr:`capacity`): a small UDP relay in this process hands each new INVITE to a worker
    with a free call slot and queues it while every slot is taken (up to ``queue_s``, then
    503 "far end full", counted in :meth:`stats`); replies and in-dialog requests then flow
    between the caller and that worker directly. The workers start together, forked from
    one ``python -m lsdlab.farend._worker`` process that imports the heavy modules once
    (start-up time hardly grows with ``workers``; nothing re-imports ``__main__``, so a
    script, a REPL or ``python -`` needs no ``if __name__ == '__main__'`` guard).

    It plays only its corpus: URIs name manifest row ids (``sip:machine-043@HOST:PORT``; the
    grammar is in the :mod:`lsdlab.farend` docstring), never paths.

    Parameters
    ----------
    corpus_dir : path
        Root of the corpus; ``uri(path)`` takes manifest paths (relative to it).
    host : str
        Address to bind. Only loopback unless ``allow_remote=True``.
    port : int
        The SIP port callers use (0 = a free port). The workers take free ports of their own
        (:attr:`ports`; ``uri(worker=i)`` calls worker ``i`` directly, bypassing the relay).
    after : {'hangup', 'silence'}
        Default behaviour when the recording ends.
    channel : ChannelSettings or None
        Default telephone impairments (codec model, noise, packet loss). None (the default)
        plays the recordings as they are, exactly like ``OfflineFarEnd(channel=None)``, for
        corpora rendered through a channel already (like corpora/demo); the call's own
        G.711 coding on the wire is then the only change to the samples.
    workers : int
        Answerer processes (each serves at most 4 calls at once).
    record_dir : path, optional
        Where per-call recordings and ``calls.jsonl`` go (default: a temporary directory
        removed by :meth:`close`).
    allow_remote : bool
        Required to bind a non-loopback address.
    start_timeout_s : float
        How long to wait for the workers to come up (all together).
    max_duration_s : float
        Longest recording a worker decodes (by its header, before decoding); longer ones get 404.
    cache_mb : float
        Bound on each worker's cache of rendered audio, in MiB.
    queue_s : float
        How long an INVITE waits for a free slot before the far end refuses it (503).
    """

    #: Calls one worker process can hold (pjsua's compiled-in limit).
    SLOTS_PER_WORKER = 4

    def __init__(
        self,
        corpus_dir: str | os.PathLike,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        after: str = "hangup",
        channel: ChannelSettings | None = None,
        workers: int = 1,
        record_dir: str | os.PathLike | None = None,
        allow_remote: bool = False,
        start_timeout_s: float = 30.0,
        log_level: int = 1,
        max_duration_s: float = 300.0,
        cache_mb: float = 64.0,
        queue_s: float = 20.0,
    ) -> None:
        owner = "SimulatedFarEnd"
        self.corpus_dir = Path(corpus_dir)
        if not self.corpus_dir.is_dir():
            raise ParameterError(
                f"The 'corpus_dir' parameter of {owner} must be an existing directory. "
                f"Got {str(corpus_dir)!r} instead."
            )
        if not _is_loopback(host) and not allow_remote:
            raise ParameterError(
                f"The 'host' parameter of {owner} is {host!r}, not a loopback address: binding it "
                f"exposes the answerer to the network. Pass allow_remote=True (CLI: --allow-remote) "
                f"if that is what you want."
            )
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = check_int_range(port, "port", owner, 0, 65535)
        self.after = check_choice(after, "after", owner, ("hangup", "silence"))
        self.channel = channel
        if channel is not None and not isinstance(channel, ChannelSettings):
            raise ParameterError(f"The 'channel' parameter of {owner} must be a ChannelSettings. Got {channel!r} instead.")
        self.workers = check_int_range(workers, "workers", owner, 1, 64)
        self.start_timeout_s = check_real_range(start_timeout_s, "start_timeout_s", owner, 1.0, 600.0)
        self.max_duration_s = check_real_range(max_duration_s, "max_duration_s", owner, 1.0, 3600.0)
        self.cache_mb = check_real_range(cache_mb, "cache_mb", owner, 1.0, 4096.0)
        self.queue_s = check_real_range(queue_s, "queue_s", owner, 0.0, 30.0)
        self.log_level = log_level
        self._record_dir_given = record_dir is not None
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self.index = build_index(self.corpus_dir)
        self._launcher: subprocess.Popen | None = None
        self._conns: list[Any] = []
        self._front: _Front | None = None
        self.pids: list[int] = []
        self.ports: list[int] = []
        self.exitcodes: list[int | None] = []
        self._started = False

    @property
    def row_ids(self) -> list[str]:
        """The ids of the recordings this far end serves (``'human-001'``, ...), in manifest order."""
        return list(self.index.files)

    @property
    def capacity(self) -> int:
        """Calls the far end holds at once (4 per worker)."""
        return self.SLOTS_PER_WORKER * self.workers

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> SimulatedFarEnd:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> SimulatedFarEnd:
        """Start the workers (all at once) and the relay; wait until every worker listens."""
        if self._started:
            return self
        from .._extras import require

        require("sip", "SimulatedFarEnd")  # in this process, before any worker starts
        if self.record_dir is None:
            self.record_dir = Path(tempfile.mkdtemp(prefix="lsdlab-farend-"))
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self._started = True
        # a script that ends (normally, sys.exit, SIGTERM) without close() still stops the
        # workers and removes the temp record folder (it was left in /tmp every time)
        atexit.register(self.close)
        at_kernel_shutdown(self.close)  # in Jupyter, before ipykernel signals the workers
        try:
            # the relay's port first, so that a taken port fails before any process starts
            self._front = _Front(self.host, self.port, self.queue_s, self.SLOTS_PER_WORKER)
            confs = [{
                "worker": i,
                "corpus_dir": str(self.index.root),
                "host": self.host,
                "port": 0,
                "record_dir": str(self.record_dir.resolve()),
                "log_level": self.log_level,
                "rtp_port": 20000 + (os.getpid() * 7 + 200 * i) % 30000,
                "files": self.index.files,
                "paths": self.index.paths,
                "max_duration_s": self.max_duration_s,
                "cache_bytes": int(self.cache_mb * 1024 * 1024),
            } for i in range(self.workers)]
            from ..sip._launcher import start_workers

            self._launcher, self._conns = start_workers("lsdlab.farend._worker", confs)
            ready: dict[int, dict] = {}
            end = time.monotonic() + self.start_timeout_s
            while len(ready) < self.workers:
                left = end - time.monotonic()
                if left <= 0:
                    raise SipError(f"Far-end workers {sorted(set(range(self.workers)) - set(ready))} did not "
                                   f"start within {self.start_timeout_s} s (start_timeout_s).")
                waiting = {id(c): i for i, c in enumerate(self._conns) if i not in ready}
                for c in mpc.wait([self._conns[i] for i in waiting.values()], timeout=min(left, 0.5)):
                    i = waiting[id(c)]
                    try:
                        msg = self._conns[i].recv()
                    except EOFError:
                        raise SipError(f"Far-end worker {i} exited during start-up; its stderr above says "
                                       f"why (launcher exit code {self._launcher.poll()}).") from None
                    if msg.get("error"):
                        raise SipError(f"Far-end worker {i} failed to start: {msg['error']}")
                    ready[i] = msg
            self.ports = [int(ready[i]["port"]) for i in range(self.workers)]
            self.pids = [int(ready[i]["pid"]) for i in range(self.workers)]
            self._front.start(self.host, self.ports, self._conns)
            self.port = self._front.port
        except BaseException:
            self.close()
            raise
        log.info("simulated far end on %s port %d (workers on %s)", self.host, self.port, self.ports)
        return self

    def close(self) -> None:
        """Stop the relay and the workers (hang up their calls, clean shutdown); remove temp files."""
        atexit.unregister(self.close)
        cancel_at_kernel_shutdown(self.close)
        if self._front is not None:
            self._front.close()
        for conn in self._conns:
            try:
                conn.send({"cmd": "stop"})
            except (OSError, ValueError):
                pass
        codes: dict[int, int] = {}
        if self._launcher is not None:
            try:
                out, _ = self._launcher.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self._launcher.kill()  # the workers then see their sockets close and stop
                out, _ = self._launcher.communicate(timeout=5)
            from ..sip._launcher import exit_codes

            codes = exit_codes(out)
        if self._launcher is not None or self._conns:
            self.exitcodes = [codes.get(i) for i in range(len(self._conns))]
        for conn in self._conns:
            conn.close()
        self._conns = []
        self._launcher = None
        if self._started and not self._record_dir_given and self.record_dir is not None:
            shutil.rmtree(self.record_dir, ignore_errors=True)
            self.record_dir = None
        self._started = False

    def alive(self) -> bool:
        """True while every worker runs (the relay notices a worker's end at once)."""
        return (self._started and self._front is not None and self._launcher is not None
                and self._front.alive_workers() == self.workers)

    def stats(self) -> dict:
        """The relay's counters: calls routed, queued for a slot, refused (503), slots busy now,
        the most busy at once, and workers that died."""
        return self._front.snapshot() if self._front is not None else {}

    # -- URIs ------------------------------------------------------------------------
    def uri(
        self,
        path: str | os.PathLike | None = None,
        *,
        scenario: str | Scenario = "recording",
        ring_s: float | None = None,
        ringback_s: float | None = None,
        after: str | None = None,
        channel: ChannelSettings | None = None,
        seed: int = 0,
        dtmf: str = "",
        dtmf_delay_s: float = 0.5,
        worker: int | None = None,
    ) -> str:
        """The SIP URI that makes the far end do ``scenario`` (with ``path`` if it answers).

        ``path`` is a manifest path of the corpus (the URI carries its row id, e.g.
        ``sip:machine-043@127.0.0.1:5070``). ``scenario`` is a kind of
        :data:`~lsdlab.farend.scenario.KINDS` or a full :class:`Scenario` (its ``path`` a
        manifest path). ``ring_s`` defaults to 0.5 s (3 s for 'ring_then_answer' and
        'early_ringback'). ``dtmf``: RFC 2833 digits the far end sends ``dtmf_delay_s``
        after connect. ``channel`` None (and the far end's ``channel`` None) plays the
        recording as it is, without the channel model (as ``OfflineFarEnd(channel=None)``);
        a full :class:`Scenario` always goes through its own ``channel``. ``worker``: call
        that worker's own port instead of the relay (at most 4 calls at once there).
        """
        if not self._started:
            raise SipError("The far end is not running; use it as a context manager or call start().")
        owner = "SimulatedFarEnd.uri"
        if isinstance(scenario, Scenario):
            sc = scenario
            with_channel = True
        else:
            check_choice(scenario, "scenario", owner, KINDS)
            with_channel = channel is not None or self.channel is not None
            if ring_s is None:
                ring_s = 3.0 if scenario in ("ring_then_answer", "early_ringback") else 0.5
            kw: dict[str, Any] = {
                "kind": scenario,
                "path": None if path is None else os.fspath(path),
                "ring_s": ring_s,
                "after": after or self.after,
                "channel": channel or self.channel or ChannelSettings(),
                "seed": seed,
            }
            if ringback_s is not None:
                kw["ringback_s"] = ringback_s
            sc = Scenario(**kw)
        row_id = self.index.id_for(sc.path) if sc.answers and sc.path is not None else None
        if dtmf and (not isinstance(dtmf, str) or len(dtmf) > 32
                     or any(ch not in "0123456789ABCD*#" for ch in dtmf)):
            raise ParameterError(
                f"The 'dtmf' parameter of SimulatedFarEnd.uri must be at most 32 of "
                f"'0-9A-D*#'. Got {dtmf!r} instead."
            )
        extra = {"dtmf": dtmf, "dtmf_delay_s": str(dtmf_delay_s)} if dtmf else {}
        user = sc.to_uri_user(row_id, **extra)
        if not with_channel:  # the recording as it is: no channel keys in the URI
            user = ";".join(x for x in user.split(";") if x.partition("=")[0] not in _CHANNEL_KEYS)
        if worker is None:
            port = self.port
        else:
            check_int_range(worker, "worker", owner, 0, self.workers - 1)
            port = self.ports[worker]
        return f"sip:{user}@{self.host}:{port}"

    # -- results ---------------------------------------------------------------------
    def calls(self) -> list[FarEndCall]:
        """Every finished call so far (all workers), in order of completion."""
        out: list[FarEndCall] = []
        if self.record_dir is None:
            return out
        for f in sorted(self.record_dir.glob("calls-*.jsonl")):
            for line in f.read_text().splitlines():
                if line.strip():
                    out.append(FarEndCall(**json.loads(line)))
        out.sort(key=lambda c: (c.extra.get("ended_at", 0.0), c.worker, c.seq))
        return out

    def wait_for_calls(self, n: int, *, timeout_s: float = 10.0) -> list[FarEndCall]:
        """Wait until at least ``n`` calls have finished; return them all."""
        end = time.monotonic() + timeout_s
        while True:
            c = self.calls()
            if len(c) >= n or time.monotonic() > end:
                return c
            time.sleep(0.05)

    def last_call(self, *, timeout_s: float = 10.0) -> FarEndCall:
        """The most recently finished call (waits up to ``timeout_s`` for one)."""
        c = self.wait_for_calls(1, timeout_s=timeout_s)
        if not c:
            raise SipError(f"The far end has finished no call within {timeout_s} s.")
        return c[-1]

    def call_by_id(self, sip_call_id: str, *, timeout_s: float = 10.0) -> FarEndCall:
        """The far end's record of the call with this SIP Call-ID (waits for it to end)."""
        end = time.monotonic() + timeout_s
        while True:
            for c in self.calls():
                if c.sip_call_id == sip_call_id:
                    return c
            if time.monotonic() > end:
                raise SipError(f"The far end has no finished call with Call-ID {sip_call_id!r} after {timeout_s} s.")
            time.sleep(0.05)


_HEADER_NAMES = {b"call-id": b"call-id", b"i": b"call-id", b"via": b"via", b"v": b"via", b"from": b"from",
                 b"f": b"from", b"to": b"to", b"t": b"to", b"cseq": b"cseq"}


def _sip_headers(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The start line and the (canonical name, raw line) pairs of the headers we relay on."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    out = []
    for line in head[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in _HEADER_NAMES:
            out.append((_HEADER_NAMES[name], line))
    return head[0], out


def _call_id(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, line in headers:
        if name == b"call-id":
            return line.split(b":", 1)[1].strip()
    return None


def _response(headers: list[tuple[bytes, bytes]], code: int, reason: str) -> bytes:
    """A stateless SIP response to the request with these headers (RFC 3261 8.2.6)."""
    lines = [f"SIP/2.0 {code} {reason}".encode()]
    for name, line in headers:
        if name == b"to" and b";tag=" not in line.lower():
            line += b";tag=lsdlab-relay"
        lines.append(line)
    lines += [b"Content-Length: 0", b"", b""]
    return b"\r\n".join(lines)


class _Front:
    """The far end's SIP port: routes each new INVITE to a worker with a free call slot.

    Stateless apart from a Call-ID -> (worker, caller) map: requests of an unknown Call-ID
    other than INVITE are dropped; requests of a known one go to its worker; responses
    from a worker go back to the caller. The workers' 200 OK carry their own Contact, so ACK,
    BYE and re-INVITEs go to the worker directly. The workers report each call's start and
    end on their control sockets; a slot counts as busy from routing until the end report.
    """

    def __init__(self, host: str, port: int, queue_s: float, slots: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise SipError(f"The 'port' parameter of SimulatedFarEnd: cannot bind UDP {host}:{port} "
                           f"({exc.strerror}); pass another port or 0 for a free one.") from None
        self.port = self.sock.getsockname()[1]
        self.queue_s = queue_s
        self.slots = slots
        self.lock = threading.Lock()
        self.busy: list[set[bytes]] = []
        self.dead: set[int] = set()
        self.route: dict[bytes, list] = {}  # call-id -> [worker, caller addr, routed at, ended at or 0]
        # calls whose INVITE got its final response (relayed from the worker): a copy of that
        # INVITE arriving later is a retransmission the worker no longer matches to the call
        self.answered: set[bytes] = set()
        self.counts_dropped = 0
        self.pending: dict[bytes, list] = {}  # call-id -> [packet, headers, caller addr, queued at]
        self.counts = {"routed": 0, "queued": 0, "refused": 0, "max_busy": 0}
        self.refusals: list[dict] = []
        self.confirmed: set[bytes] = set()  # calls whose worker reported their start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, host: str, ports: list[int], conns: list) -> None:
        # the workers listen on this host; a wildcard bind is reached on loopback
        wh = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
        self.workers = [(wh, p) for p in ports]
        self.by_port = {p: i for i, p in enumerate(ports)}
        self.local = {wh, host}
        self.conns = conns
        self.busy = [set() for _ in ports]
        self._thread = threading.Thread(target=self._loop, name="lsdlab-farend-relay", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sock.close()

    def alive_workers(self) -> int:
        with self.lock:
            return len(self.busy) - len(self.dead)

    def snapshot(self) -> dict:
        with self.lock:
            return {**self.counts, "late_invites_dropped": self.counts_dropped,
                    "busy": sum(len(b) for b in self.busy), "queued_now": len(self.pending),
                    "dead_workers": sorted(self.dead), "capacity": self.slots * (len(self.busy) - len(self.dead)),
                    "refusals": list(self.refusals)}

    # -- the loop (one thread) -------------------------------------------------------
    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, None)
        for i, c in enumerate(self.conns):
            sel.register(c.fileno(), selectors.EVENT_READ, i)
        last_sweep = time.monotonic()
        while not self._stop.is_set():
            try:
                events = sel.select(0.1)
            except (OSError, ValueError):
                break
            for key, _ in events:
                if key.data is None:
                    try:
                        data, addr = self.sock.recvfrom(65535)
                    except OSError:
                        continue
                    try:
                        self._on_packet(data, addr)
                    except Exception:  # noqa: BLE001 - one odd datagram must not stop the relay
                        log.debug("relay: datagram from %s dropped", addr, exc_info=True)
                else:
                    self._on_worker(key.data, sel)
            now = time.monotonic()
            if self.pending:
                self._assign_pending(now)
            if now - last_sweep > 1.0:
                last_sweep = now
                self._sweep(now)
        sel.close()

    def _on_worker(self, w: int, sel) -> None:
        conn = self.conns[w]
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(conn.fileno())
            with self.lock:
                self.dead.add(w)
                lost = len(self.busy[w])
                self.busy[w].clear()
            if not self._stop.is_set():
                log.error("far-end worker %d ended unexpectedly with %d call(s) up", w, lost)
            return
        cid = str(msg.get("id", "")).encode()
        with self.lock:
            if msg.get("ev") == "start":
                self.busy[w].add(cid)
                self.confirmed.add(cid)
                self.route.setdefault(cid, [w, None, time.monotonic(), 0.0])
                self._note_busy()
            elif msg.get("ev") == "end":
                self.busy[w].discard(cid)
                self.confirmed.discard(cid)
                r = self.route.get(cid)
                if r is not None:
                    r[3] = time.monotonic()

    def _note_busy(self) -> None:
        n = sum(len(b) for b in self.busy)
        if n > self.counts["max_busy"]:
            self.counts["max_busy"] = n

    def _on_packet(self, data: bytes, addr) -> None:
        start, headers = _sip_headers(data)
        cid = _call_id(headers)
        if cid is None:
            return
        if addr[1] in self.by_port and (addr[0] in self.local or _is_loopback(addr[0])):  # a worker's reply
            final_to_invite = (start.startswith(b"SIP/2.0 ") and start[8:9] in b"23456"
                               and any(n == b"cseq" and line.rstrip().upper().endswith(b"INVITE") for n, line in headers))
            with self.lock:
                r = self.route.get(cid)
                if final_to_invite and r is not None:
                    self.answered.add(cid)
            if r is not None and r[1] is not None:
                self.sock.sendto(data, r[1])
            return
        if start.startswith(b"SIP/2.0"):
            return  # a response from a caller: nothing of ours asked for it
        method = start.split(b" ", 1)[0]
        with self.lock:
            r = self.route.get(cid)
            if r is not None and method == b"INVITE" and (cid in self.answered or r[3]):
                # A copy of the INVITE sent before the caller heard from us (its retransmission
                # timer fires after 0.5 s on a loaded machine), arriving after the final
                # response: the worker's INVITE transaction is over (a 2xx ends it at once), so
                # pjsua would take it for a new call in one of its 4 slots, one the relay does
                # not count (its Call-ID is counted already): the next call routed there then
                # got pjsua's own 486 Busy Here with no 180 first (issue 15). Dropped.
                self.counts_dropped += 1
                return
            if r is not None:
                r[1] = addr
                target = self.workers[r[0]]
            else:
                target = None
        if target is not None:
            self.sock.sendto(data, target)
        elif method == b"INVITE":
            with self.lock:
                p = self.pending.get(cid)
                if p is not None:
                    p[0], p[1], p[2] = data, headers, addr  # a retransmission
                    return
                self.pending[cid] = [data, headers, addr, time.monotonic()]
            self._assign_pending(time.monotonic())
        elif method == b"CANCEL":
            with self.lock:
                p = self.pending.pop(cid, None)
            if p is not None:
                self.sock.sendto(_response(headers, 200, "OK"), addr)
                self.sock.sendto(_response(p[1], 487, "Request Terminated"), addr)

    def _assign_pending(self, now: float) -> None:
        sends = []
        with self.lock:
            for cid in list(self.pending):
                data, headers, addr, t0 = self.pending[cid]
                free = [i for i in range(len(self.busy)) if i not in self.dead and len(self.busy[i]) < self.slots]
                if free:
                    w = min(free, key=lambda i: len(self.busy[i]))
                    del self.pending[cid]
                    self.busy[w].add(cid)
                    self.route[cid] = [w, addr, now, 0.0]
                    self.counts["routed"] += 1
                    if now - t0 > 0.05:
                        self.counts["queued"] += 1
                    self._note_busy()
                    sends.append((data, self.workers[w]))
                elif now - t0 > self.queue_s:
                    del self.pending[cid]
                    alive = len(self.busy) - len(self.dead)
                    reason = f"lsdlab far end full ({self.slots * alive} slots busy for {self.queue_s:g} s)"
                    self.counts["refused"] += 1
                    self.refusals.append({"sip_call_id": cid.decode(errors="replace"), "reason": reason})
                    sends.append((_response(headers, 503, reason), addr))
                else:
                    break  # first come, first served
        for data, target in sends:
            self.sock.sendto(data, target)

    def _sweep(self, now: float) -> None:
        with self.lock:
            for cid, r in list(self.route.items()):
                w, _, t_routed, t_end = r
                if t_end and now - t_end > 40.0:  # past every retransmission of the final response
                    del self.route[cid]
                    self.answered.discard(cid)
                elif not t_end and cid not in self.confirmed and now - t_routed > 10.0:
                    self.busy[w].discard(cid)  # the worker never reported this INVITE: free the slot
                    r[3] = now

