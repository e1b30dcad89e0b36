"""The simulated far end over real SIP: an answerer that plays corpus recordings.

:class:`SimulatedFarEnd` starts one or more CHILD processes (multiprocessing 'spawn'), each
owning its own pjsua2 endpoint on consecutive UDP ports, so the caller's process keeps its
own endpoint and its 4 call slots. A call's Request-URI user part is a
:class:`~lsdlab.farend.scenario.Scenario` (``Scenario.to_uri_user()``): the answerer rings,
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

import heapq
import ipaddress
import itertools
import json
import logging
import multiprocessing as mp
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from .._validation import check_choice, check_int_range, check_real_range
from ..audio.channel import ChannelSettings
from ..errors import ParameterError, SipError
from .scenario import KINDS, SIP_FAILURES, Scenario, parse_uri_user

if TYPE_CHECKING:
    from ..sip import FrameSink, FrameSource

__all__ = ["SimulatedFarEnd", "FarEndCall"]

log = logging.getLogger("lsdlab.farend.sip")

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
#: Extra (non-scenario) keys the SIP far end reads from the URI user part.
_EXTRA_KEYS = ("dtmf", "dtmf_delay_s", "as_is")


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


def _free_udp_ports(host: str, n: int) -> int:
    """A base port such that base .. base+n-1 are free on ``host`` (best effort)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            base = s.getsockname()[1]
        if base + n > 65000:
            continue
        socks = []
        try:
            for i in range(n):
                t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(t)
                t.bind((host, base + i))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    raise SipError(f"Could not find {n} consecutive free UDP ports on {host}; pass 'port' explicitly.")


class SimulatedFarEnd:
    """A SIP answerer that plays corpus recordings (as they are, or through the channel model).

    Parameters
    ----------
    corpus_dir : path
        Root of the corpus; ``uri(path)`` takes paths relative to it (as in the manifest).
    host : str
        Address to bind. Only loopback unless ``allow_remote=True``.
    port : int
        SIP port of the first worker (0 = a free port); worker ``i`` uses ``port + i``.
    after : {'hangup', 'silence'}
        Default behaviour when the recording ends.
    channel : ChannelSettings or None
        Default telephone impairments (codec model, noise, packet loss). None (the default)
        plays the recordings as they are, exactly like ``OfflineFarEnd(channel=None)``, for
        corpora rendered through a channel already (like corpora/demo); the call's own
        G.711 coding on the wire is then the only change to the samples.
    workers : int
        Answerer processes (each serves at most 4 calls at once); ``uri()`` round-robins.
    record_dir : path, optional
        Where per-call recordings and ``calls.jsonl`` go (default: a temporary directory
        removed by :meth:`close`).
    allow_remote : bool
        Required to bind a non-loopback address.
    start_timeout_s : float
        How long to wait for the workers to come up.
    """

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
        self.log_level = log_level
        self._record_dir_given = record_dir is not None
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        self.ports: list[int] = []
        self._rr = itertools.count()
        self._started = False

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> SimulatedFarEnd:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> SimulatedFarEnd:
        """Start the worker processes and wait until each listens."""
        if self._started:
            return self
        from .._extras import require

        require("sip", "SimulatedFarEnd")  # in this process, before any worker starts
        if self.record_dir is None:
            self.record_dir = Path(tempfile.mkdtemp(prefix="lsdlab-farend-"))
        self.record_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0 and self.workers > 1:
            base = _free_udp_ports(self.host, self.workers)
        else:
            base = self.port
        ctx = mp.get_context("spawn")
        self._started = True
        try:
            for i in range(self.workers):
                parent_conn, child_conn = ctx.Pipe()
                conf = {
                    "worker": i,
                    "corpus_dir": str(self.corpus_dir.resolve()),
                    "host": self.host,
                    "port": (base + i) if base else 0,
                    "record_dir": str(self.record_dir.resolve()),
                    "log_level": self.log_level,
                    "rtp_port": 20000 + (os.getpid() * 7 + 200 * i) % 30000,
                }
                p = ctx.Process(target=_worker_main, args=(conf, child_conn), daemon=True,
                                name=f"lsdlab-farend-{i}")
                p.start()
                child_conn.close()
                self._procs.append(p)
                self._conns.append(parent_conn)
            for i, conn in enumerate(self._conns):
                if not conn.poll(self.start_timeout_s):
                    raise SipError(f"Far-end worker {i} did not start within {self.start_timeout_s} s.")
                try:
                    msg = conn.recv()
                except EOFError:
                    self._procs[i].join(2)
                    raise SipError(
                        f"Far-end worker {i} exited during start-up (exit code "
                        f"{self._procs[i].exitcode}). Workers are started with multiprocessing "
                        f"'spawn': in a script, create SimulatedFarEnd under "
                        f"`if __name__ == '__main__':`."
                    ) from None
                if msg.get("error"):
                    raise SipError(f"Far-end worker {i} failed to start: {msg['error']}")
                self.ports.append(int(msg["port"]))
        except BaseException:
            self.close()
            raise
        log.info("simulated far end on %s ports %s", self.host, self.ports)
        return self

    def close(self) -> None:
        """Stop the workers (hang up their calls, clean shutdown) and remove temp files."""
        for conn in self._conns:
            try:
                conn.send({"cmd": "stop"})
            except (OSError, ValueError):
                pass
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        self.exitcodes = [p.exitcode for p in self._procs]
        for conn in self._conns:
            conn.close()
        self._procs.clear()
        self._conns.clear()
        if self._started and not self._record_dir_given and self.record_dir is not None:
            shutil.rmtree(self.record_dir, ignore_errors=True)
            self.record_dir = None
        self._started = False

    def alive(self) -> bool:
        return bool(self._procs) and all(p.is_alive() for p in self._procs)

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

        ``scenario`` is a kind of :data:`~lsdlab.farend.scenario.KINDS` or a full
        :class:`Scenario`. ``ring_s`` defaults to 0.5 s (3 s for 'ring_then_answer' and
        'early_ringback'). ``dtmf``: RFC 2833 digits the far end sends ``dtmf_delay_s``
        after connect. ``channel`` None (and the far end's ``channel`` None) plays the
        recording as it is, without the channel model (as ``OfflineFarEnd(channel=None)``);
        a full :class:`Scenario` always goes through its own ``channel``.
        """
        if not self._started:
            raise SipError("The far end is not running; use it as a context manager or call start().")
        as_is = False
        if isinstance(scenario, Scenario):
            sc = scenario
        else:
            as_is = channel is None and self.channel is None
            check_choice(scenario, "scenario", "SimulatedFarEnd.uri", KINDS)
            if ring_s is None:
                ring_s = 3.0 if scenario in ("ring_then_answer", "early_ringback") else 0.5
            kw: dict[str, Any] = {
                "kind": scenario,
                "path": None if path is None else Path(path).as_posix(),
                "ring_s": ring_s,
                "after": after or self.after,
                "channel": channel or self.channel or ChannelSettings(),
                "seed": seed,
            }
            if ringback_s is not None:
                kw["ringback_s"] = ringback_s
            sc = Scenario(**kw)
        if sc.answers:
            full = self.corpus_dir / str(sc.path)
            if not full.is_file():
                raise ParameterError(
                    f"The 'path' parameter of SimulatedFarEnd.uri must name a recording under "
                    f"{self.corpus_dir}; {full} does not exist. Got {str(path)!r} instead."
                )
        if dtmf and (not isinstance(dtmf, str) or len(dtmf) > 32
                     or any(ch not in "0123456789ABCD*#" for ch in dtmf)):
            raise ParameterError(
                f"The 'dtmf' parameter of SimulatedFarEnd.uri must be at most 32 of "
                f"'0-9A-D*#'. Got {dtmf!r} instead."
            )
        user = unquote(sc.to_uri_user())
        if dtmf:
            user += f";dtmf={dtmf};dtmf_delay_s={dtmf_delay_s}"
        if as_is and sc.answers:
            user += ";as_is=1"
        i = (next(self._rr) % len(self.ports)) if worker is None else worker
        return f"sip:{quote(user, safe='')}@{self.host}:{self.ports[i]}"

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


# ======================================================================================
# The worker process
# ======================================================================================


def _worker_main(conf: dict, conn) -> None:
    """Entry point of a far-end worker process (spawned)."""
    import faulthandler
    import signal

    faulthandler.enable()  # a crash inside pjsua2 then leaves a Python stack on stderr

    # Ctrl-C in a terminal reaches the whole process group: the parent stops the workers
    # (close() -> 'stop'), so a worker must not die of KeyboardInterrupt half-way (exit 1).
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    logging.basicConfig(level=logging.WARNING, format=f"farend[{conf['worker']}] %(levelname)s %(name)s: %(message)s")
    try:
        server = _Server(conf)
    except BaseException as exc:  # noqa: BLE001 - report and exit cleanly
        try:
            conn.send({"error": f"{type(exc).__name__}: {exc}"})
        except OSError:
            pass
        return
    conn.send({"port": server.endpoint.port})
    try:
        server.run(conn)
    finally:
        server.close()


def _render_cached(cache: dict, user: str, sc: Scenario, corpus_dir: str, *, channel: bool = True):
    import numpy as np

    from .scenario import render

    y = cache.get(user)
    if y is None:
        y = render(sc, corpus_dir, channel=channel)
        y = np.clip(np.round(y.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
        if len(cache) > 64:
            cache.pop(next(iter(cache)))
        cache[user] = y
    return y


class _Server:
    """The answerer inside one worker process: a single loop thread drives pjsua2."""

    def __init__(self, conf: dict) -> None:
        from ..sip import EndpointSettings, get_endpoint

        self.conf = conf
        self.worker = conf["worker"]
        self.corpus_dir = conf["corpus_dir"]
        self.record_dir = Path(conf["record_dir"])
        self.jsonl = self.record_dir / f"calls-{self.worker:03d}.jsonl"
        self.endpoint = get_endpoint(EndpointSettings(
            host=conf["host"], port=conf["port"], thread_count=0, log_level=conf["log_level"],
            rtp_port=conf["rtp_port"],
        ))
        self.endpoint.add_owner(self)
        self.pj = self.endpoint.pj
        self.calls: dict[int, _FarCall] = {}
        self.tasks: list = []
        self._tseq = itertools.count()
        self.seq = itertools.count(1)
        self.render_cache: dict = {}
        server = self
        pj: Any = self.pj  # the pjsua2 module: its SWIG classes are untyped

        class _Account(pj.Account):
            def onIncomingCall(self, prm):
                try:
                    server.on_incoming(prm.callId)
                except Exception:  # noqa: BLE001
                    log.exception("incoming call failed")

        def factory(ep):
            acc = _Account()
            acc.create(ep.account_config(user="farend"))
            return acc

        self.account = self.endpoint.account(key="farend", factory=factory)

    # scheduling on the loop thread
    def later(self, delay_s: float, fn, *args) -> None:
        heapq.heappush(self.tasks, (time.monotonic() + delay_s, next(self._tseq), fn, args))

    def run(self, conn) -> None:
        while True:
            self.endpoint.handle_events(5)
            now = time.monotonic()
            while self.tasks and self.tasks[0][0] <= now:
                _, _, fn, args = heapq.heappop(self.tasks)
                try:
                    fn(*args)
                except Exception:  # noqa: BLE001
                    log.exception("far-end task failed")
            for c in list(self.calls.values()):
                c.poll()
            try:
                if conn.poll():
                    msg = conn.recv()
                    if msg.get("cmd") == "stop":
                        return
            except (EOFError, OSError):
                return  # the parent is gone

    def on_incoming(self, call_id: int) -> None:
        c = _FarCall(self, call_id)
        self.calls[call_id] = c
        c.begin()

    def finished(self, c: _FarCall) -> None:
        self.calls.pop(c.call_id, None)
        rec = c.record()
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(rec) + "\n")
        # drop the pjsua2 objects on the next loop turn (not inside the callback)
        self.later(0.05, c.release)

    def _release_pj(self) -> int:
        n = len(self.calls)
        for c in list(self.calls.values()):
            c.hangup_now()
        return n

    def close(self) -> None:
        n = self._release_pj()
        end = time.monotonic() + (1.0 if n else 0.0)
        while self.calls and time.monotonic() < end:
            self.endpoint.handle_events(10)
        for c in list(self.calls.values()):
            c.release()
        self.calls.clear()
        for _, _, fn, args in self.tasks:  # finished calls whose ports still wait for release
            if getattr(fn, "__name__", "") == "release":
                fn(*args)
        self.tasks.clear()
        self.account = None
        self.endpoint.shutdown()


class _FarCall:
    """One incoming call: scenario, media ports, recording (all on the loop thread)."""

    def __init__(self, server: _Server, call_id: int) -> None:
        self.server = server
        self.pj = server.pj
        self.call_id = call_id
        self.seq = next(server.seq)
        self.t0 = time.monotonic()
        self.pjcall = _make_pjcall(self.pj, server.account, call_id, self)
        self.scenario: Scenario | None = None
        self.extra: dict[str, str] = {}
        self.status = 0
        self.connected = False
        self.media_up = False
        self.playing_main = False
        self.codec = ""
        self.dtmf = ""
        self.sip_call_id = ""
        self.source: FrameSource | None = None
        self.sink: FrameSink | None = None
        self.audio: list = []
        self.hung_up_by = "caller"
        self.done_at: float | None = None
        self.ended = False
        self.after_scheduled = False
        self.y = None

    # -- SIP actions -----------------------------------------------------------------
    def answer(self, code: int, reason: str = "") -> None:
        if self.ended:
            return
        prm = self.pj.CallOpParam()
        prm.statusCode = code
        if reason:
            prm.reason = reason
        try:
            self.pjcall.answer(prm)
            if code >= 200:
                self.status = code
        except self.pj.Error as exc:
            from ..sip import pj_error_text

            log.warning("answer %d failed: %s", code, pj_error_text(exc))

    def hangup_now(self, by: str = "far_end") -> None:
        if self.ended:
            return
        self.hung_up_by = by
        prm = self.pj.CallOpParam()
        prm.statusCode = 603 if not self.connected else 200
        try:
            self.pjcall.hangup(prm)
        except self.pj.Error:
            pass

    def begin(self) -> None:
        info = self.pjcall.getInfo()
        self.sip_call_id = info.callIdString
        user = _uri_user(info.localUri)
        try:
            raw = unquote(user)
            for item in raw.split(";"):
                k, _, v = item.partition("=")
                if k in _EXTRA_KEYS:
                    self.extra[k] = unquote(v)
            self.scenario = parse_uri_user(user)
            if self.scenario.answers:
                self.y = _render_cached(self.server.render_cache, user, self.scenario, self.server.corpus_dir,
                                        channel=self.extra.get("as_is") != "1")
        except Exception as exc:  # noqa: BLE001 - a bad URI is the caller's problem: 404
            log.warning("cannot serve %r: %s", user, exc)
            self.answer(404, "Unknown lsdlab scenario")
            return
        sc = self.scenario
        if sc.kind in SIP_FAILURES:
            self.answer(SIP_FAILURES[sc.kind])
            return
        if sc.kind == "early_ringback":
            self.answer(183)
            self.server.later(sc.ring_s, self.answer, 200)
            return
        self.answer(180)
        if sc.kind == "no_answer":
            self.server.later(600.0, self.answer, 480)  # never ring forever
            return
        self.server.later(sc.ring_s, self.answer, 200)

    # -- callbacks (loop thread) -----------------------------------------------------
    def on_state(self) -> None:
        info = self.pjcall.getInfo()
        st = info.state
        pj = self.pj
        if st == pj.PJSIP_INV_STATE_CONFIRMED and not self.connected:
            self.connected = True
            self.connected_at = time.monotonic()
            self._maybe_start_main()
            if self.extra.get("dtmf"):
                self.server.later(float(self.extra.get("dtmf_delay_s", 0.5)), self._send_dtmf)
        elif st == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            if not self.status:
                self.status = int(info.lastStatusCode)
            if self.sink is not None:
                self.sink.stop()
                self.audio += self.sink.drain()
            self.server.finished(self)
            # Drop the pjsua2 Call now, inside its DISCONNECTED callback: its C++ destructor
            # clears the user data of its call id and hangs that id up, so destroyed later
            # (after pjsua reused the id for a new incoming call) it would reject that call.
            self.pjcall.owner = None
            self.pjcall = None

    def on_media(self) -> None:
        info = self.pjcall.getInfo()
        pj = self.pj
        for i, mi in enumerate(info.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE and not self.media_up:
                from ..sip import FrameSink, FrameSource

                am = self.pjcall.getAudioMedia(i)
                self.am = am
                ports = self.server.endpoint.ports  # recycled: never destroyed while the bridge runs
                self.source = ports.take(FrameSource, f"far-src-{self.seq}")
                self.sink = ports.take(FrameSink, f"far-sink-{self.seq}")
                self.source.startTransmit(am)
                am.startTransmit(self.sink)
                self.media_up = True
                try:
                    self.codec = self.pjcall.getStreamInfo(i).codecName
                except pj.Error:
                    pass
                if self.scenario is not None and self.scenario.kind == "early_ringback" and not self.connected:
                    from ..audio.tones import ringback

                    rb = ringback(self.scenario.ringback_country, max(self.scenario.ring_s, 0.1) + 1.0)
                    self.source.play(rb)
                self._maybe_start_main()

    def on_dtmf(self, digit: str) -> None:
        self.dtmf += digit

    def _send_dtmf(self) -> None:
        if not self.ended and self.connected:
            try:
                self.pjcall.dialDtmf(self.extra["dtmf"])
            except self.pj.Error as exc:
                from ..sip import pj_error_text

                log.warning("dialDtmf failed: %s", pj_error_text(exc))

    def _maybe_start_main(self) -> None:
        if self.connected and self.media_up and not self.playing_main and self.y is not None:
            self.playing_main = True
            # media_up is set only once on_media has made both ports
            assert self.sink is not None and self.source is not None
            self.sink.start()
            self.source.play(self.y)

    def poll(self) -> None:
        """Periodic work: collect recorded frames, act when the recording has been sent."""
        if self.sink is not None and self.sink.active:
            self.audio += self.sink.drain()
        if (self.playing_main and not self.after_scheduled and self.source is not None
                and self.source.done.is_set() and self.source.finished_normally):
            self.after_scheduled = True
            sc = self.scenario
            assert sc is not None  # the main audio (y) is rendered from the scenario
            delay = 0.2 if sc.after == "hangup" else sc.silence_after_s
            self.server.later(delay, self.hangup_now)

    # -- results ---------------------------------------------------------------------
    def record(self) -> dict:
        import numpy as np

        path = None
        rec_s = 0.0
        if self.audio:
            from ..audio.io import save_wav

            y = np.concatenate(self.audio).astype(np.float32) / 32768.0
            rec_s = len(y) / 8000.0
            path = str(self.server.record_dir / f"w{self.server.worker:02d}-call{self.seq:05d}.wav")
            save_wav(path, y, subtype="PCM_16")
        return {
            "seq": self.seq,
            "worker": self.server.worker,
            "sip_call_id": self.sip_call_id,
            "scenario": self.scenario.to_dict() if self.scenario else {},
            "status": self.status,
            "connected": self.connected,
            "codec": self.codec,
            "dtmf_digits": self.dtmf,
            "recording": path,
            "recording_s": rec_s,
            "samples_sent": int(self.source.samples_sent) if self.source is not None else 0,
            "duration_s": time.monotonic() - self.t0,
            "hung_up_by": self.hung_up_by,
            "extra": {**self.extra, "ended_at": time.time()},
        }

    def release(self) -> None:
        # back to the endpoint's pool (pjsua2 cannot destroy ports safely while the bridge runs)
        ports = self.server.endpoint.ports
        ports.give(self.source)
        ports.give(self.sink)
        self.source = self.sink = None
        self.am = None
        if self.pjcall is not None:
            self.pjcall.owner = None
        self.pjcall = None


def _uri_user(uri: str) -> str:
    s = uri.strip()
    if "<" in s:
        s = s[s.index("<") + 1 : s.index(">")] if ">" in s else s[s.index("<") + 1 :]
    for scheme in ("sips:", "sip:"):
        if s.lower().startswith(scheme):
            s = s[len(scheme) :]
    return s.split("@", 1)[0] if "@" in s else ""


def _make_pjcall(pj, account, call_id: int, owner: _FarCall):
    class _Call(pj.Call):
        def onCallState(self, prm):
            try:
                if self.owner is not None:
                    self.owner.on_state()
            except Exception:  # noqa: BLE001
                log.exception("onCallState")

        def onCallMediaState(self, prm):
            try:
                if self.owner is not None:
                    self.owner.on_media()
            except Exception:  # noqa: BLE001
                log.exception("onCallMediaState")

        def onDtmfDigit(self, prm):
            try:
                if self.owner is not None:
                    self.owner.on_dtmf(prm.digit)
            except Exception:  # noqa: BLE001
                log.exception("onDtmfDigit")

    c = _Call(account, call_id)
    c.owner = owner
    return c
