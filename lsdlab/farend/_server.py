"""The far end's worker half: the answerer inside each worker process.

``python -m lsdlab.farend._worker`` forks the workers and calls :func:`_worker_main` in each;
:class:`_Server` owns the worker's pjsua2 endpoint and answers, plays and records the calls
that :class:`~lsdlab.farend.sip.SimulatedFarEnd` (the parent half, in the caller's process)
routes to it. Nothing here runs in the caller's process.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError
from .scenario import SIP_FAILURES, FarEndRequest, Scenario, parse_uri_user

if TYPE_CHECKING:
    from ..sip import FrameSink, FrameSource

log = logging.getLogger("lsdlab.farend.sip")  # the name the worker's log lines always had


def _worker_main(conf: dict, conn) -> None:
    """Entry point of a far-end worker process (forked by ``python -m lsdlab.farend._worker``)."""
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
        server = _Server(conf, conn)
    except BaseException as exc:  # noqa: BLE001 - report and exit cleanly
        try:
            conn.send({"error": f"{type(exc).__name__}: {exc}"})
        except OSError:
            pass
        return
    conn.send({"port": server.endpoint.port, "pid": os.getpid()})
    try:
        server.run(conn)
    finally:
        server.close()


class _Rejected(Exception):
    """A URI the far end will not serve; the text is safe to log (names only corpus rows)."""


class _RenderCache:
    """Rendered int16 audio by request key, least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._d: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str):
        y = self._d.get(key)
        if y is not None:
            self._d.move_to_end(key)
        return y

    def put(self, key: str, y) -> None:
        if y.nbytes > self.max_bytes:
            return  # played once, never kept
        old = self._d.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        while self._d and self.nbytes + y.nbytes > self.max_bytes:
            _, gone = self._d.popitem(last=False)
            self.nbytes -= gone.nbytes
        self._d[key] = y
        self.nbytes += y.nbytes

    def __len__(self) -> int:
        return len(self._d)


def _render_request(server: _Server, req: FarEndRequest):
    """The int16 audio of an answering request: checked header, rendered, cached."""
    import numpy as np
    import soundfile as sf

    from .scenario import render

    y = server.render_cache.get(req.key)
    if y is not None:
        return y
    rid = req.row_id
    if rid is None or rid not in server.files:
        raise _Rejected("the request names no row of this corpus")
    try:
        info = sf.info(server.files[rid])
    except Exception:  # noqa: BLE001 - the row's file changed since the index was built
        raise _Rejected(f"row {rid} cannot be read as audio") from None
    sr, frames = int(info.samplerate), int(info.frames)
    if not 4000 <= sr <= 192000:
        raise _Rejected(f"row {rid}: sample rate {sr} Hz is outside 4000-192000 Hz")
    if frames <= 0 or frames / sr > server.max_duration_s:
        raise _Rejected(f"row {rid}: {frames / sr:.1f} s of audio, outside (0, {server.max_duration_s:g}] s "
                        f"(max_duration_s)")
    try:
        y = render(req.scenario, server.corpus_dir, channel=req.channel)
    except Exception as exc:  # noqa: BLE001
        raise _Rejected(f"row {rid} cannot be decoded ({type(exc).__name__})") from None
    y = np.clip(np.round(y.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    server.render_cache.put(req.key, y)
    return y


class _Server:
    """The answerer inside one worker process: a single loop thread drives pjsua2."""

    def __init__(self, conf: dict, conn) -> None:
        from ..sip import EndpointSettings, get_endpoint

        self.conf = conf
        self.conn = conn
        self.gate_holds = 0  # CLOCK_GATE closes by onStreamDestroyed, opened once the teardown is over
        self.files: dict[str, str] = conf["files"]  # row id -> file inside the corpus
        self.rows: dict[str, str] = conf["paths"]  # row id -> manifest path
        self.max_duration_s = float(conf["max_duration_s"])
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
        # SIP Call-IDs of the calls taken so far (most recent last), to recognise a late copy
        # of an INVITE (see _FarCall.begin); bounded
        self.seen_ids: OrderedDict[str, None] = OrderedDict()
        # pjsua call id -> SIP Call-ID of the finished calls whose pjsua call slot is still
        # taken (see finished); the relay hears of the free slot once pjsua has freed it
        self.draining: dict[int, str] = {}
        self.tasks: list = []
        self._tseq = itertools.count()
        self.seq = itertools.count(1)
        self.render_cache = _RenderCache(int(conf["cache_bytes"]))
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
            self.open_gate()
            if self.draining:
                self.report_free_slots()
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

    def open_gate(self) -> None:
        """Open the clock gate as often as ``onStreamDestroyed`` closed it (see _call_class):
        after handle_events and after our own hangup(), inside which every teardown is over
        (all of pjsua's work runs on this loop thread)."""
        from ..sip import CLOCK_GATE

        while self.gate_holds:
            self.gate_holds -= 1
            CLOCK_GATE.open()

    def notify(self, ev: str, sip_call_id: str) -> None:
        """Tell the parent's relay a call slot is taken or free again."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send({"ev": ev, "id": sip_call_id})

    def report_free_slots(self) -> None:
        """Tell the relay about the finished calls whose pjsua call slot is free again."""
        in_use = self.endpoint.calls_in_use()
        for call_id in [k for k in self.draining if in_use is None or k not in in_use]:
            self.notify("end", self.draining.pop(call_id))

    def on_incoming(self, call_id: int) -> None:
        old = self.draining.pop(call_id, None)
        if old is not None:  # pjsua gave the id of a finished call to this one: its slot was free
            self.notify("end", old)
        c = _FarCall(self, call_id)
        self.calls[call_id] = c
        c.begin()

    def finished(self, c: _FarCall) -> None:
        self.calls.pop(c.call_id, None)
        if c.duplicate:  # never a call of its own: no record, no slot report (see begin)
            self.later(0.05, c.release)
            return
        rec = c.record()
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(rec) + "\n")
        # The call is over, but its pjsua call slot may not be free yet: a DISCONNECTED that
        # our own hangup() reported (pjsua reports it before sending the BYE) leaves the slot
        # taken until the caller answers the BYE, 32 s when the caller is gone (a killed pool
        # worker). Reported free at once, the relay routed new calls here, and pjsua refused
        # them with its own 486 Busy Here, no 180 first (issue 15: 1-3 calls BUSY in the test
        # after test_a_killed_pool_worker_loses_no_call). The relay hears of it in run().
        self.draining[c.call_id] = c.sip_call_id
        # drop the pjsua2 objects on the next loop turn (not inside the callback)
        self.later(0.05, c.release)

    def _release_pj(self) -> int:
        n = len(self.calls)
        for c in list(self.calls.values()):
            c.hangup_now()
        return n

    def close(self) -> None:
        from ..sip import CLOCK_GATE

        g = CLOCK_GATE
        if g.close_timeouts or g.park_timeouts or g.slow_closes or g.max_park_wait_s > 1.0:  # timeouts also logged as they happened
            log.warning("clock gate of worker %s: %d closes, %d without the clock parked, %d parks ended by "
                        "max_park_s, %d waited past timeout_s (longest wait %.2f s, longest park %.2f s); "
                        "%d media teardowns, %d of them not inside our hangup()",
                        self.worker, g.closes, g.close_timeouts, g.park_timeouts, g.slow_closes,
                        g.max_close_wait_s, g.max_park_wait_s, g.teardown_closes, g.unheld_teardowns)
        n = self._release_pj()
        end = time.monotonic() + (1.0 if n else 0.0)
        while self.calls and time.monotonic() < end:
            self.endpoint.handle_events(10)
            self.open_gate()
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
        self.am: Any = None  # the call's pjsua2 AudioMedia once media is up
        self.media_down = False  # our hangup() returned: pjsua has torn the media down
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
        self.duplicate = False
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
        from ..sip import CLOCK_GATE

        try:
            # hangup() tears the media down at once: never while the conference clock thread is
            # inside the call's stream (lsdlab.sip.ClockGate: pjlib would abort the worker)
            with CLOCK_GATE.held_if(self.am is not None and not self.media_down):
                self.pjcall.hangup(prm)
                self.media_down = self.am is not None
        except self.pj.Error:
            pass
        finally:
            self.server.open_gate()  # the holds of the teardown inside hangup(), over now

    def begin(self) -> None:
        info = self.pjcall.getInfo()
        self.sip_call_id = info.callIdString
        seen = self.server.seen_ids
        if self.sip_call_id in seen:
            # A copy of an INVITE whose call this worker took already (the caller retransmits
            # after 0.5 s without a response; on a loaded machine the copy arrives after the
            # 200 OK ended the INVITE transaction that would have absorbed it): pjsua took it
            # for a new call, in a slot the relay does not count (the Call-ID is counted once),
            # and the next call routed here got pjsua's own 486 Busy Here (issue 15). Refused
            # at once (RFC 3261 8.2.2.2: a merged request, 482), never reported as a call.
            self.duplicate = True
            log.debug("482 for a late copy of the INVITE of call %s", self.sip_call_id[:40])
            self.answer(482, "Loop Detected")
            return
        seen[self.sip_call_id] = None
        while len(seen) > 4096:
            seen.popitem(last=False)
        self.server.notify("start", self.sip_call_id)
        user = _uri_user(info.localUri)
        try:
            req = parse_uri_user(user, self.server.rows)
            self.scenario = req.scenario
            self.extra = dict(req.extra)
            if req.scenario.answers:
                self.y = _render_request(self.server, req)
        except (ParameterError, _Rejected) as exc:  # a bad URI is the caller's problem: 404
            log.warning("404 for call %s: %s", self.sip_call_id[:40], exc)
            self.answer(404, "Not in this far end's corpus")
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
            # pjsua tore the call's media down before this callback (a BYE from the caller), or
            # inside our hangup(): open the holds of that teardown now, not after record() below
            # (a WAV written with every call's media parked: parks of 5-8 s under load)
            self.server.open_gate()
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
            # (the call's media is gone already: pjsua tore it down before this callback, with
            # the clock gate closed by onStreamDestroyed, or inside our hangup())

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


_CALL_CLASSES: dict[int, type] = {}


def _make_pjcall(pj, account, call_id: int, owner: _FarCall):
    """The pjsua2 Call of an incoming call (one subclass per pjsua2 module, made once: a class
    per call is a reference cycle only the garbage collector's rare full passes free, about
    1 KB each, 260 of them alive after 600 calls in a soak)."""
    cls = _CALL_CLASSES.get(id(pj))
    if cls is None:
        cls = _CALL_CLASSES[id(pj)] = _call_class(pj)
    c = cls(account, call_id)
    c.owner = owner
    c.server = owner.server  # kept after the DISCONNECTED callback drops owner
    return c


def _call_class(pj) -> type:
    class _Call(pj.Call):
        owner: _FarCall | None = None
        server: _Server | None = None

        def onStreamDestroyed(self, prm):
            # pjsua destroys the stream and its RTP transport right after this returns, on this
            # loop thread: when the caller's BYE ends the call, before the DISCONNECTED callback
            # (issue 15: a worker aborted in pj_ioqueue_sendto, its gate closed only in that
            # callback); the loop opens the gate once that is over (_Server.open_gate)
            try:
                if self.server is not None:
                    from ..sip import CLOCK_GATE

                    CLOCK_GATE.close_for_teardown()
                    self.server.gate_holds += 1
            except Exception:  # noqa: BLE001
                log.exception("onStreamDestroyed")

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

    return _Call
