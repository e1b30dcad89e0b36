"""UASCallChannel: outbound SIP calls with live speaker detection on the far end's audio."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import check_real_range
from ..audio.io import SR
from ..detect.types import Reason
from ..errors import ParameterError, SipError
from . import _enums
from ._dtmf import _DTMFDetector, _DTMFPlayer
from ._enums import (
    CallFarEndType,
    Cause,
    Error,
    Hangup,
    LiveSpeakerDetectionSettings,
    State,
    cause_for_status,
)
from ._players import _FilePlayer, _FileRecorder

if TYPE_CHECKING:
    from ..detect import DetectorSettings, StreamingDetector
    from ..detect.app_amd import AmdSettings
    from ..detect.types import Verdict
    from ..sip import FrameSink, FrameSource
    from ..sip._endpoint import ThreadTask

__all__ = ["UASCallChannel", "Details"]


def _close_lanes(lanes: list) -> None:
    for lane in lanes:
        lane.close()

log = logging.getLogger("lsdlab.uas")


class _DefaultTimeout(int):
    """7000, but recognisable as 'not given' (so a tuned file's timeout can apply)."""


_LSD_DEFAULT_MS = _DefaultTimeout(7000)
_PHONE_RE = re.compile(r"^\d+(-\d+)*$")
#: pjlib's PJ_ETOOMANY: makeCall found every pjsua call slot of the process taken.
_PJ_ETOOMANY = 70010
#: The default of ``slot_wait_s``: how long a call waits for a free pjsua call slot. A call we
#: hang up keeps its slot until the far end answers our BYE; a far end that is gone (killed,
#: stopped, unplugged, every packet lost) never does, and pjsip gives up on the BYE after
#: Timer F, 64 x T1 = 32 s after sending it. 40 s covers that with 8 s to spare on a loaded
#: machine (measured: 4 calls hung up on a SIGKILLed far end, the next 4 placed 31.8-31.9 s
#: after the hang-ups).
_SLOT_WAIT_S = 40.0
#: How often the taken call slots are read while waiting for one (seconds).
_SLOT_POLL_S = 0.02
#: How often the RTP receive counter of a connected call is read (seconds).
_RTP_POLL_S = 0.05
#: Far-end frames are passed to the detector only while RTP arrived within this (seconds):
#: frames made up by the jitter buffer on a dead line wait (and are dropped if it stays dead).
_RTP_FRESH_S = 0.15


@dataclass
class Details:
    """What is known about the current or last call (reset by each ``start_call``).

    Every field has its own docstring below; ``ch.Details`` is a fresh object per call, so a
    reference kept from an earlier call keeps that call's figures.
    """

    call_to: str = ""
    """The ``call_to`` given to ``start_call`` (a SIP URI or user part)."""
    call_from: str = ""
    """The ``call_from`` given to ``start_call`` (sent as P-Asserted-Identity), '' if none."""
    sip_uri: str = ""
    """The request URI the INVITE went to."""
    sip_call_id: str = ""
    """The SIP Call-ID of the call ('' if the INVITE never left)."""
    raw_cause: str = ""
    """The SIP status the far end sent on the wire ('486', '603', ...); '' if none came (a
    local timeout, a call ended here, a call never placed)."""
    local_reason: str = ""
    """Why the call ended, in words, when it was decided on this side; '' if not."""
    far_end_type: CallFarEndType = CallFarEndType.UNKNOWN
    """LIVE, ANSWER_MACHINE, FAX_MACHINE or UNKNOWN: the live speaker detector's verdict."""
    lsd_reason: Reason | None = None
    """Why the detector decided (``ch.Reason``: MODEL, SHORT_GREETING, BEEP, FAX_CED, TIMEOUT,
    ...); None until a verdict (or with no LSD)."""
    lsd_confidence: float | None = None
    """The detector's confidence in its verdict, 0-1; None until a verdict."""
    lsd_decided_at_s: float | None = None
    """When the verdict came, in seconds of far-end audio from connect; None until a verdict."""
    lsd_verdict: Verdict | None = None
    """The detector's whole verdict record (type, reason, confidence, time)."""
    lsd_settings: DetectorSettings | AmdSettings | None = None
    """The resolved detector settings this call ran with (None: no LSD)."""
    codec: str = ""
    """The negotiated codec: 'g711a' or 'g711u'."""
    codec_name: str = ""
    """The same as its RTP name: 'PCMA' or 'PCMU'."""
    setup_s: float | None = None
    """Seconds from the INVITE to the 200 OK; None if not answered."""
    socket_wait_s: float = 0.0
    """Seconds waited before the INVITE for pjlib socket slots that calls just ended still hold."""
    slot_wait_s: float = 0.0
    """Seconds waited before the INVITE for one of the process's 4 pjsua call slots (held by
    calls still up, or by calls already over whose BYE the far end has not answered yet)."""
    frames_received: int = 0
    """Far-end audio frames (20 ms) that reached Python."""
    max_frame_gap_ms: float = 0.0
    """The largest interval between far-end frames reaching Python, in ms."""
    frame_gaps_over_60ms: int = 0
    """Intervals between consecutive far-end frames longer than 60 ms."""
    empty_frames: int = 0
    """Frames without audio from the stream (passed on as silence)."""
    max_frame_lag_ms: float = 0.0
    """The longest wait of a frame before the detector took it, in ms."""
    audio_start_ms: int | None = None
    """Audio time from connect to the first far-end frame that is not digital silence (network
    and jitter-buffer delay before the far end's audio); None if it never came."""
    states: list[State] = field(default_factory=list)
    """The channel's states during this call, in order."""


class _CallCtx:
    """Everything about one call attempt (so late callbacks of an old call do no harm)."""

    # set by start_call right after construction (the resolved LSD settings, None = no LSD)
    lsd: DetectorSettings | AmdSettings | None

    def __init__(self, channel: UASCallChannel) -> None:
        self.channel = channel
        # The pjsua2 Call (a SWIG object). Threads other than pjsip's use it only through
        # UASCallChannel._pj_call (which counts them in `users` under `use_lock`); its DISCONNECTED
        # callback sets `pj_gone` and drops it, and whoever holds it last (that callback, or
        # the last such thread) makes its destructor harmless first (see _retire_pjcall).
        self.pjcall: Any = None
        self.use_lock = threading.Lock()
        self.users = 0
        self.pj_gone = False  # the call is over for pjsua (DISCONNECTED, or never placed)
        # makeCall succeeded; both under place_lock, so that a hang-up never comes while makeCall
        # runs and never calls hangup() on a Call never placed (pjsua asserts: the process aborts)
        self.placed = False
        self.place_lock = threading.Lock()
        # set once the DISCONNECTED callback has returned (pjsua frees the call slot right after
        # it) or the call was never placed: the channel's next call waits for it (start_call)
        self.cb_done = threading.Event()
        self.acked = threading.Event()
        self.rang = False
        self.connected = False
        self.ended = False
        self.cause_override: Cause | None = None
        self.t_start = time.monotonic()
        self.sink: FrameSink | None = None
        self.source: FrameSource | None = None
        self.am: Any = None  # the call's pjsua2 AudioMedia (a SWIG object)
        self.det: StreamingDetector | None = None
        self.det_lock = threading.Lock()
        self.consumer: ThreadTask | None = None  # the media consumer (on the channel's 'media' lane)
        self.watcher: ThreadTask | None = None  # the call's timers and RTP watch (_watch)
        self.machine_ready = threading.Event()
        self.speech = threading.Event()
        self.rec_frames: list | None = None
        self.digits = ""
        self.last_digit_t = 0.0
        # what the far end sent: the final response to our INVITE (status, reason, message)
        self.wire_status = 0
        self.wire_reason = ""
        self.wire_msg = ""
        self.local_reason = ""  # our own reason to end the call (timers, dead line, codecs)
        self.med_idx = -1
        self.rtp_pkts = 0
        self.rtp_seen_t = 0.0  # monotonic time the RTP counter last grew (0: never)
        self.connected_t = 0.0
        self.sockets_closing = False  # DISCONNECTED seen: the endpoint was told (note_call_ended)
        self.media_down = False  # our hangup() returned: pjsua has torn the call's media down


def _sdp_media(msg: str) -> str:
    """The media lines of a SIP message's SDP, for error texts ('m=audio 0 RTP/AVP 8; ...')."""
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip().startswith(("m=", "a=rtpmap"))]
    return "; ".join(lines) if lines else "no SDP media lines"


def _note_wire_status(pj, ctx: _CallCtx, e) -> None:
    """Keep the far end's final response to our INVITE as it came off the wire.

    pjsua's ``lastStatusCode`` mixes it with pjsip's own codes and with the cause we gave
    when we hung up (603 for our CANCEL), so the call-state event's received message is used.
    """
    if ctx.wire_status or e.type != pj.PJSIP_EVENT_TSX_STATE:
        return
    ts = e.body.tsxState
    code = int(ts.tsx.statusCode)
    if code >= 200 and ts.type == pj.PJSIP_EVENT_RX_MSG and ts.tsx.method == "INVITE" and ts.tsx.role == pj.PJSIP_ROLE_UAC:
        ctx.wire_status = code
        ctx.wire_reason = str(ts.tsx.statusText)
        ctx.wire_msg = str(ts.src.rdata.wholeMsg)


_CALL_CLASSES: dict[int, type] = {}


def _make_pjcall(pj, account, ctx: _CallCtx):
    """A pjsua2 Call for ``ctx`` (one subclass per pjsua2 module, made once: a class per call
    would be a reference cycle holding the call's context until the garbage collector ran)."""
    cls = _CALL_CLASSES.get(id(pj))
    if cls is None:
        cls = _CALL_CLASSES[id(pj)] = _call_class(pj)
    call = cls(account)
    call.lsd_ctx = ctx
    call.lsd_account = account  # checked by SipEndpoint.forget_call_id
    return call


def _call_class(pj) -> type:
    class _Call(pj.Call):
        lsd_ctx: _CallCtx | None = None
        lsd_account: Any = None

        def onCallState(self, prm):
            ctx = self.lsd_ctx
            if ctx is None:
                return
            try:
                _note_wire_status(pj, ctx, prm.e)
            except Exception:  # noqa: BLE001 - never raise into C++
                log.exception("onCallState")
            try:
                ctx.channel._on_call_state(ctx, self)
            except Exception:  # noqa: BLE001 - never raise into C++
                log.exception("onCallState")
            finally:
                if ctx.pj_gone:
                    ctx.cb_done.set()

        def onStreamDestroyed(self, prm):
            # pjsua destroys the stream and its RTP transport right after this returns, on
            # every path (our hangup(), a BYE from the far end: before the DISCONNECTED callback)
            ctx = self.lsd_ctx
            try:
                if ctx is not None:
                    ctx.channel._hold_clock_gate()
            except Exception:  # noqa: BLE001 - never raise into C++
                log.exception("onStreamDestroyed")

        def onCallTsxState(self, prm):
            ctx = self.lsd_ctx
            try:
                code = prm.e.body.tsxState.tsx.statusCode
                if code >= 100 and ctx is not None:
                    ctx.acked.set()
                    with ctx.channel._cv:
                        ctx.channel._cv.notify_all()
            except Exception:  # noqa: BLE001
                pass

        def onCallMediaState(self, prm):
            ctx = self.lsd_ctx
            try:
                if ctx is not None:
                    ctx.channel._on_media(ctx, self)
            except Exception:  # noqa: BLE001
                log.exception("onCallMediaState")

        def onDtmfDigit(self, prm):
            ctx = self.lsd_ctx
            try:
                if ctx is not None:
                    ctx.channel._on_dtmf(ctx, prm.digit)
            except Exception:  # noqa: BLE001
                log.exception("onDtmfDigit")

    return _Call


class UASCallChannel:
    """An outbound call channel with live speaker detection, on pjsua2.

    Parameters (all keyword-only, all optional)
    ----------
    host, port, transport : the local SIP transport (default 127.0.0.1, a free port, UDP).
        Used when this channel creates the process's endpoint; a running endpoint is reused.
    outbound_proxy, registrar, username, password, realm : for real trunks.
    gateway : 'host[:port]' that turns telephone numbers (digits, ``tel:``) into SIP URIs.
    response_timeout_s : no response at all to the INVITE within this -> cause TIMEOUT.
    no_answer_timeout_s : ringing without answer this long -> CANCEL, cause NOANSWER.
    rtp_timeout_s : an answered call that receives no RTP for this long is a dead line (far
        end crashed or unplugged, or it never sends audio): it is ended with cause
        OUTOFORDER and ``Details.local_reason`` saying so. Meanwhile the detector gets only
        audio that came with RTP, so a dead line's made-up silence never becomes a verdict
        (the verdict stays UNKNOWN). None turns the supervision off. Default 5 s.
    slot_wait_s : how long ``start_call`` waits for one of the process's 4 pjsua call slots
        when every one is taken (by other channels' calls, or by calls already over whose BYE
        the far end has not answered: up to 32 s when it is gone); then it raises SipError
        saying what holds them. Default 40 s.

    ``Details.raw_cause`` is the SIP status the far end sent (e.g. '486', '302', '200' for an
    answered call), '' when none came (also after our own CANCEL: pjsua ends the call before
    the far end's 487 arrives, and the 603 we give pjsua is no status on the wire); calls ended by a decision on
    this side (our timers, a dead line, no usable codec, a local pjsip error) say why in
    ``Details.local_reason``. An answer whose SDP has no codec we can use (e.g. only
    G.729, port 0, or only telephone-event) is never ANSWERED: cause FAILED.

    Examples
    --------
    >>> from lsdlab import UASCallChannel                   # doctest: +SKIP
    >>> ch = UASCallChannel()                               # doctest: +SKIP
    >>> ch.call("sip:100@127.0.0.1:5070",                   # doctest: +SKIP
    ...         live_speaker_detect=ch.LiveSpeakerDetectionSettings.DEFAULT)
    >>> ch.Details.far_end_type                             # doctest: +SKIP
    """

    State = State
    Cause = Cause
    CallFarEndType = CallFarEndType
    Reason = Reason
    LiveSpeakerDetectionSettings = LiveSpeakerDetectionSettings
    Error = Error
    Hangup = Hangup

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        transport: str | None = None,
        outbound_proxy: str = "",
        registrar: str = "",
        username: str = "",
        password: str = "",
        realm: str = "*",
        gateway: str = "",
        response_timeout_s: float = 5.0,
        no_answer_timeout_s: float = 120.0,
        rtp_timeout_s: float | None = 5.0,
        slot_wait_s: float = _SLOT_WAIT_S,
        name: str = "",
    ) -> None:
        from ..sip import EndpointSettings, get_endpoint

        owner = "UASCallChannel"
        self.response_timeout_s = check_real_range(response_timeout_s, "response_timeout_s", owner, 0.2, 120.0)
        self.no_answer_timeout_s = check_real_range(no_answer_timeout_s, "no_answer_timeout_s", owner, 1.0, 3600.0)
        self.rtp_timeout_s = check_real_range(rtp_timeout_s, "rtp_timeout_s", owner, 0.5, 3600.0, allow_none=True)
        self.slot_wait_s = check_real_range(slot_wait_s, "slot_wait_s", owner, 0.0, 3600.0)
        self.gateway = gateway
        self.name = name or f"uas-{id(self):x}"
        changes: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port), ("transport", transport)) if v is not None}
        self._endpoint = get_endpoint(EndpointSettings(**changes) if changes else None)
        self._endpoint.add_owner(self)
        self._pj = self._endpoint.pj
        key = ("uas", registrar, outbound_proxy, username)

        def factory(ep):
            acc = ep.pj.Account()
            acc.create(ep.account_config(user="lsdlab", registrar=registrar, proxy=outbound_proxy,
                                         username=username, password=password, realm=realm))
            return acc

        self._account = self._endpoint.account(key=key, factory=factory)
        # one registered thread per kind of per-call work, reused by every call: a new thread
        # per call cost ~590 bytes for good (pjsua2 frees registrations only at libDestroy)
        self._lanes = {k: self._endpoint.lane(f"{self.name}-{k}") for k in ("watch", "media", "gate")}
        weakref.finalize(self, _close_lanes, list(self._lanes.values()))
        self._cv = threading.Condition(threading.RLock())
        self._state = State.IDLE
        self._cause = Cause.NORMAL
        self._ctx: _CallCtx | None = None
        self._graveyard: list[_CallCtx] = []
        self.Details = Details()
        self.FilePlayer = _FilePlayer(self)
        self.FileRecorder = _FileRecorder(self)
        self.DTMFPlayer = _DTMFPlayer(self)
        self.DTMFDetector = _DTMFDetector(self)

    def __repr__(self) -> str:
        return f"<UASCallChannel {self.name} state={self._state.name} cause={self._cause.name}>"

    # -- state -----------------------------------------------------------------------
    def state(self) -> _enums.State:
        """The channel's current :class:`State`."""
        return self._state

    def cause(self) -> _enums.Cause:
        """Why the last call ended (``NORMAL`` while a call is up)."""
        return self._cause

    def _set_state(self, new: _enums.State, cause: _enums.Cause | None = None) -> None:
        with self._cv:
            old = self._state
            if cause is not None:
                self._cause = cause
            if new != old:
                self._state = new
                self.Details.states.append(new)
                log.info("%s: %s -> %s (cause %s)", self.name, old.name, new.name, self._cause.name)
            self._cv.notify_all()

    def _wait(self, pred, timeout_s: float | None) -> bool:
        end = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cv:
            while not pred():
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(0.1 if left is None else min(left, 0.1))
            return True

    # -- argument handling -----------------------------------------------------------
    def _resolve_destination(self, call_to: str, call_from: str) -> str:
        if not isinstance(call_to, str) or not call_to.strip():
            raise ParameterError(
                f"The 'call_to' parameter of start_call must be a 'sip:' URI, a 'tel:' URI or a "
                f"telephone number. Got {call_to!r} instead."
            )
        to = call_to.strip()
        if to.lower().startswith(("sip:", "sips:")):
            user_host = to.split(":", 1)[1]
            if "@" not in user_host or not user_host.split("@", 1)[1].split(";")[0]:
                raise ParameterError(
                    f"The 'call_to' parameter of start_call must be 'sip:user@host[:port]'. "
                    f"Got {call_to!r} instead."
                )
            return to
        number = to[4:] if to.lower().startswith("tel:") else to
        number = number.lstrip("+") if to.lower().startswith("tel:") else number
        if not _PHONE_RE.match(number):
            raise ParameterError(
                f"The 'call_to' parameter of start_call must be a 'sip:' URI, 'tel:DIGITS' or a "
                f"telephone number (digits with optional single '-'). Got {call_to!r} instead."
            )
        if not call_from or not re.fullmatch(r"[1-9]\d{5,15}", str(call_from)):
            raise ParameterError(
                f"The 'call_from' parameter of start_call is compulsory for telephone-number "
                f"destinations: the full international number without '+' or leading '0' "
                f"(e.g. '441908273800'). Got {call_from!r} instead."
            )
        if not self.gateway:
            raise ParameterError(
                f"Calling the telephone number {call_to!r} needs a SIP trunk: create the channel "
                f"with gateway='host[:port]' (e.g. UASCallChannel(gateway='trunk.example:5060'))."
            )
        return f"sip:{number.replace('-', '')}@{self.gateway}"

    def _resolve_lsd(self, live_speaker_detect, lsd_timeout_milliseconds):
        explicit = not isinstance(lsd_timeout_milliseconds, _DefaultTimeout)
        if explicit:
            from ..detect import check_timeout_ms

            check_timeout_ms(lsd_timeout_milliseconds, "start_call", "lsd_timeout_milliseconds")
        if live_speaker_detect is None:
            return None
        from ..detect import DetectorSettings, TimerMode
        t = int(lsd_timeout_milliseconds)
        lsd = live_speaker_detect
        if isinstance(lsd, LiveSpeakerDetectionSettings) or (isinstance(lsd, str) and lsd in LiveSpeakerDetectionSettings.__members__):
            lsd = LiveSpeakerDetectionSettings(lsd) if not isinstance(lsd, LiveSpeakerDetectionSettings) else lsd
            mode = (TimerMode.TIMEOUT_FROM_ANSWER_DETECT if lsd is LiveSpeakerDetectionSettings.TIMEOUT_FROM_ANSWER_DETECT
                    else TimerMode.TIMEOUT_FROM_NETWORK_CONNECT)
            return DetectorSettings().replace(timeout_ms=t, timer_mode=mode)
        from ..detect.backends import is_detector_settings
        from ..settingsfile import TunedSettings, resolve_detector_settings

        if is_detector_settings(lsd) or isinstance(lsd, (str, os.PathLike, TunedSettings)):
            # the one resolver (CLI and report use it too): settings of any backend, or a file's
            # (model resolved beside the file, sha256 checked, its timeout and timer mode); an
            # explicit timeout overrides (settings.with_call)
            return resolve_detector_settings(lsd, timeout_ms=t if explicit else None, owner="live_speaker_detect")
        raise ParameterError(
            f"The 'live_speaker_detect' parameter of start_call must be None, a constant of "
            f"UASCallChannel.LiveSpeakerDetectionSettings, a DetectorSettings, an AmdSettings, a TunedSettings or "
            f"the path of a tuned settings file. Got {live_speaker_detect!r} instead."
        )

    # -- placing calls ---------------------------------------------------------------
    def start_call(self, call_to: str, call_from: str = "", codecs: str | None = None,
                   live_speaker_detect=None, lsd_timeout_milliseconds: int = _LSD_DEFAULT_MS) -> bool:
        """Start an outbound call; block until the far end acknowledges it.

        Parameters
        ----------
        call_to : str
            The destination: a SIP URI (``sip:user@host:port``) or a user part, sent to the
            channel's default host.
        call_from : str, default ''
            The caller's identity, sent as a P-Asserted-Identity header ('' sends none).
        codecs : str or None
            Codecs to offer, in order of preference, e.g. ``'g711u,g711a'``; None offers both.
        live_speaker_detect : None, a constant of ``LiveSpeakerDetectionSettings``, DetectorSettings, AmdSettings, TunedSettings or path
            Live speaker detection for this call (None: none). A tuned settings file (from
            ``lsdlab tune``) is resolved against its own folder and its model's sha256 checked.
        lsd_timeout_milliseconds : int, default 7000
            The detection timeout, 500-10000 ms (a tuned file's own timeout wins unless given).

        Returns
        -------
        bool
            True once any response arrived (provisional or final: a busy or rejected call
            then shows as state IDLE with its cause); False with cause TIMEOUT when no
            response came within ``response_timeout_s``, or UNOBTAINABLE when the call could
            not be placed; False also when ``hang_up()`` came while it waited for a call slot.

        Raises
        ------
        Error
            Unless the channel is IDLE.
        SipError
            When none of the process's 4 pjsua call slots came free within ``slot_wait_s``
            (the message says what holds them); the channel is then IDLE with cause ERROR.
        ParameterError
            For a bad destination, codec list, settings object or timeout (the message names
            the parameter and the fix).
        """
        from ..sip import parse_codecs, pj_error_text

        self._endpoint.register_thread()
        if self._state != State.IDLE:
            raise Error(f"start_call needs the channel IDLE; it is {self._state.name}. Call hang_up() first.")
        codec_ids = parse_codecs(codecs, owner="start_call")
        uri = self._resolve_destination(call_to, call_from)
        lsd = self._resolve_lsd(live_speaker_detect, lsd_timeout_milliseconds)
        self._bury()
        pj = self._pj
        prev = self._ctx
        ctx = _CallCtx(self)
        ctx.lsd = lsd
        if lsd is not None:  # built here so that a missing model is the caller's exception
            from ..detect import make_detector

            ctx.det = make_detector(lsd)
        with self._cv:
            self._ctx = ctx
            self.Details = Details(call_to=call_to, call_from=call_from or "", sip_uri=uri, lsd_settings=lsd,
                                   states=[State.IDLE])
            self._set_state(State.CALL_OUTGOING, Cause.NORMAL)
        ctx.pjcall = _make_pjcall(pj, self._account, ctx)
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        if call_from:
            h = pj.SipHeader()
            h.hName = "P-Asserted-Identity"
            h.hValue = f"<sip:{call_from}@{self._endpoint.host}>"
            prm.txOption.headers.append(h)
        # calls that ended a moment ago still hold pjlib socket slots (see sip._endpoint)
        self.Details.socket_wait_s = round(self._endpoint.wait_for_socket_room(), 3)
        # This channel's previous call holds one of the process's 4 pjsua call slots until its
        # DISCONNECTED callback has returned, and that callback wakes this thread (IDLE) before
        # it returns: a call placed at once could find every slot taken (PJ_ETOOMANY).
        if prev is not None and prev.pj_gone and prev.cb_done.wait(1.0):
            time.sleep(0.005)  # pjsua frees the slot after media clean-up, just after the callback
        try:
            placed = self._make_call(ctx, uri, prm, codec_ids)
        except SipError as exc:  # no call slot came free within slot_wait_s
            log.warning("%s: %s", self.name, exc)
            self._forget_unplaced(ctx)
            ctx.ended = True
            self.Details.local_reason = f"the call could not be placed: {exc}"
            self._graveyard.append(ctx)
            self._set_state(State.IDLE, Cause.ERROR)
            raise
        except pj.Error as exc:
            text = pj_error_text(exc)
            log.warning("%s: makeCall(%s) failed: %s", self.name, uri, text)
            self._forget_unplaced(ctx)
            ctx.ended = True
            self.Details.raw_cause = ""  # nothing went on the wire; pjsip's status number is no SIP cause
            self.Details.local_reason = f"the call could not be placed: {text}"
            self._graveyard.append(ctx)
            # (PJ_ETOOMANY never comes here: _make_call waits for a call slot, then raises SipError)
            self._set_state(State.IDLE, Cause.UNOBTAINABLE)
            return False
        if not placed:  # hang_up() while it waited for a call slot: never placed, already IDLE
            self._forget_unplaced(ctx)
            return False
        # a fast final response (a 486 within makeCall) may have ended and dropped the call
        # already: then _on_call_state has recorded the Call-ID
        with contextlib.suppress(pj.Error):
            info = self._pj_call(ctx, lambda c: c.getInfo())
            if info is not None and not self.Details.sip_call_id:
                self.Details.sip_call_id = info.callIdString
        ctx.watcher = self._lanes["watch"].run(self._watch, ctx)
        ok = self._wait(lambda: ctx.acked.is_set() or ctx.ended, self.response_timeout_s + 0.5)
        return bool(ok and ctx.acked.is_set() or (ctx.ended and self._cause != Cause.TIMEOUT))

    def call(self, call_to: str, call_from: str = "", seconds_timeout: float | None = 120,
             codecs: str | None = None, live_speaker_detect=None,
             lsd_timeout_milliseconds: int = _LSD_DEFAULT_MS) -> _enums.State:
        """Place a call and block until answered (and, with LSD, classified) or IDLE.

        Parameters
        ----------
        call_to, call_from, codecs, live_speaker_detect, lsd_timeout_milliseconds
            As :meth:`start_call`.
        seconds_timeout : float or None, default 120
            If no answer comes within this, the call is cancelled (cause NOANSWER); None
            waits for ever. Counted from the INVITE: time spent waiting for a pjsua call
            slot first (``Details.slot_wait_s``) does not count.

        Returns
        -------
        State
            ANSWERED (with LSD: once ``Details.far_end_type`` is known) or IDLE (see
            ``ch.Cause`` and ``Details.raw_cause`` for why).

        Raises
        ------
        Error, ParameterError, SipError
            As :meth:`start_call`.
        """
        if not self.start_call(call_to, call_from, codecs, live_speaker_detect, lsd_timeout_milliseconds):
            return self._state
        ctx = self._ctx
        assert ctx is not None

        def done():
            if self._state == State.IDLE or ctx.ended:
                return True
            if self._state == State.ANSWERED:
                return ctx.lsd is None or self.Details.lsd_verdict is not None
            return False

        # from the INVITE (ctx.t_start), not from any wait for a call slot before it: the far end
        # had all of seconds_timeout to answer, or the NOANSWER below would not be its own
        left = None if seconds_timeout is None else max(0.0, seconds_timeout - (time.monotonic() - ctx.t_start))
        if not self._wait(done, left) and self._state in (State.CALL_OUTGOING, State.RING_OUTGOING):
            self._hangup_ctx(ctx, Cause.NOANSWER, f"no answer within {seconds_timeout} s (the 'seconds_timeout' "
                                                  f"of call()): cancelled here")
            self._wait(lambda: self._state == State.IDLE, 5.0)
        self._join_consumer()
        return self._state

    def hang_up(self) -> _enums.State:
        """End the call (cause NORMAL); safe when IDLE. Blocks until IDLE or 60 s."""
        self._endpoint.register_thread()
        ctx = self._ctx
        if ctx is None or self._state == State.IDLE:
            return self._state
        self._hangup_ctx(ctx, Cause.NORMAL, "hang_up() on this side")
        self._wait(lambda: self._state == State.IDLE, 60.0)
        self._join_consumer()
        return self._state

    def wait_for_idle(self, seconds_timeout: float | None = None) -> bool:
        """Block until the channel is IDLE; False on timeout."""
        ok = self._wait(lambda: self._state == State.IDLE, seconds_timeout)
        self._join_consumer()
        return ok

    def _join_consumer(self) -> None:
        ctx = self._ctx
        if ctx is not None and ctx.ended and ctx.consumer is not None:
            ctx.consumer.join(2.0)

    def wait_for_answer(self, seconds_timeout: float | None = None) -> bool:
        """Block until ANSWERED (True) or IDLE / timeout (False)."""
        self._wait(lambda: self._state in (State.ANSWERED, State.IDLE), seconds_timeout)
        return self._state == State.ANSWERED

    def wait_for_outgoing_call(self, seconds_timeout: float | None = None) -> _enums.State:
        """Block until the outgoing call leaves CALL_OUTGOING/RING_OUTGOING; return the state."""
        self._wait(lambda: self._state not in (State.CALL_OUTGOING, State.RING_OUTGOING), seconds_timeout)
        return self._state

    def wait_for_lsd(self, seconds_timeout: float | None = None) -> _enums.CallFarEndType:
        """Block until the LSD verdict is in (or the call ended); return ``far_end_type``."""
        ctx = self._ctx
        self._wait(lambda: self.Details.lsd_verdict is not None or ctx is None or
                   (ctx.ended and (ctx.consumer is None or not ctx.consumer.is_alive())), seconds_timeout)
        return self.Details.far_end_type

    def wait_for_answer_machine(self, milliseconds_min_beep_duration: int = 180,
                                milliseconds_post_beep_silence: int = 1000,
                                milliseconds_no_beep_silence: int = 4000,
                                seconds_timeout: float | None = 10) -> bool:
        """Block until the answering machine is ready to record (after its beep or silence).

        Parameters
        ----------
        milliseconds_min_beep_duration : int, default 180
            The shortest steady tone taken as the machine's beep.
        milliseconds_post_beep_silence : int, default 1000
            Silence needed after the beep.
        milliseconds_no_beep_silence : int, default 4000
            Silence that also means "ready" when no beep comes.
        seconds_timeout : float or None, default 10
            Give up after this long (None: wait for ever).

        Returns
        -------
        bool
            True after a beep of at least ``milliseconds_min_beep_duration`` followed by
            ``milliseconds_post_beep_silence`` of silence, or after
            ``milliseconds_no_beep_silence`` of silence; False on timeout.

        Raises
        ------
        Hangup
            If the channel is IDLE, or the far end hangs up meanwhile.
        Error
            If the call is not ANSWERED.
        """
        ctx = self._require_answered("wait_for_answer_machine")
        from ..detect import DetectorSettings, make_detector

        with ctx.det_lock:
            if ctx.det is None:
                ctx.det = make_detector(DetectorSettings())
            ev = ctx.det.arm_machine_ready(min_beep_ms=int(milliseconds_min_beep_duration),
                                           post_beep_silence_ms=int(milliseconds_post_beep_silence),
                                           no_beep_silence_ms=int(milliseconds_no_beep_silence))
            self._handle_events(ctx, ev or [])
        self._wait(lambda: ctx.machine_ready.is_set() or ctx.ended, seconds_timeout)
        if ctx.machine_ready.is_set():
            return True
        if ctx.ended:
            raise Hangup("The far end hung up while waiting for the answering machine.")
        return False

    # -- internals -------------------------------------------------------------------
    def _require_answered(self, what: str) -> _CallCtx:
        self._endpoint.register_thread()
        if self._state == State.IDLE or self._ctx is None:
            raise Hangup(f"{what}: the channel is IDLE (no call, or the far end hung up).")
        if self._state != State.ANSWERED:
            raise Error(f"{what} needs an ANSWERED call; the channel is {self._state.name}.")
        return self._ctx

    def _hangup_ctx(self, ctx: _CallCtx, cause: _enums.Cause, reason: str = "") -> None:
        if ctx.ended:
            return
        if ctx.cause_override is None:
            ctx.cause_override = cause
            ctx.local_reason = ctx.local_reason or reason
        if not ctx.acked.is_set():
            # pjsip cannot CANCEL before a provisional response and would keep the call 32 s:
            # finish it on our side now; the pjsua2 call is dropped when pjsip gives up.
            self._finish(ctx, cause, "")
        try:
            self._endpoint.register_thread()
            with ctx.place_lock:  # waits while makeCall runs; then ended is set (just above) or placed is
                if not ctx.placed:  # e.g. waiting for a call slot: it will not be placed now
                    return
            prm = self._pj.CallOpParam()
            prm.statusCode = 603 if not ctx.connected and ctx.acked.is_set() else 0
            # hangup() tears the call's media down at once: never while the conference clock
            # thread is inside the call's stream (see lsdlab.sip.ClockGate: pjlib aborts)
            from ..sip import CLOCK_GATE

            with CLOCK_GATE.held_if(ctx.am is not None and not ctx.media_down):
                self._pj_call(ctx, lambda c: c.hangup(prm))
                ctx.media_down = ctx.am is not None
        except Exception:  # noqa: BLE001 - already gone
            pass

    def _hold_clock_gate(self) -> None:
        """In the Call's ``onStreamDestroyed``: pjsua destroys the call's stream and RTP
        transport right after it returns, on this thread; park the conference clock thread
        until that is over (see ``lsdlab.sip.ClockGate``). When the far end's BYE (or pjsip)
        ends the call, this comes before the DISCONNECTED callback, with pjsua's lock held
        through the whole teardown: a helper thread opens the gate once it gets that lock.
        Inside our own hangup() the gate is held around the call already (a second hold)."""
        from ..sip import CLOCK_GATE

        CLOCK_GATE.close_for_teardown()
        self._lanes["gate"].run(self._open_clock_gate)

    def _open_clock_gate(self) -> None:
        from ..sip import CLOCK_GATE

        try:
            ep = self._endpoint
            ep.register_thread()
            ep.ep.transportGetInfo(ep.transport_id)  # takes pjsua's lock: free once the teardown is over
        except Exception:  # noqa: BLE001 - shutting down: open the gate anyway
            log.debug("waiting for pjsua's media clean-up failed", exc_info=True)
        finally:
            CLOCK_GATE.open()

    def _make_call(self, ctx: _CallCtx, uri: str, prm, codec_ids: list[str]) -> bool:
        """makeCall in one of the process's pjsua call slots, waiting for one to come free;
        False when the call was hung up meanwhile (never placed).

        pjsua has 4 call slots per process and frees a slot only when the call's last
        transaction ends: a call we hung up keeps its slot until the far end answers the BYE,
        32 s (Timer F) when it never does (a far end killed or stopped, packets lost). On
        PJ_ETOOMANY this reads the taken slots (``SipEndpoint.call_slots``) every 20 ms and
        tries again as soon as one is free, for up to ``slot_wait_s``; then it raises
        SipError saying what holds them (never a NOCHANNELS outcome, which would read as the
        line's). The codec order is held only while makeCall runs, never while waiting.
        """
        ep = self._endpoint
        t0 = time.monotonic()
        while True:
            try:
                with ep.codec_order(codec_ids), ctx.place_lock:
                    if ctx.ended:  # hang_up() came first
                        return False
                    ctx.t_start = time.monotonic()  # set-up time: INVITE sent -> 200 OK
                    self._pj_call(ctx, lambda c: c.makeCall(uri, prm))
                    ctx.placed = True
                return True
            except self._pj.Error as exc:
                if getattr(exc, "status", 0) != _PJ_ETOOMANY:
                    raise
            waited = time.monotonic() - t0
            if waited >= self.slot_wait_s:
                raise SipError(self._no_slot_text(waited, ep.call_slots()))
            while True:  # every slot taken: wait for one (pjsua gives no event when one frees)
                time.sleep(_SLOT_POLL_S)
                self.Details.slot_wait_s = round(time.monotonic() - t0, 3)
                if ctx.ended or ctx.pj_gone:
                    return False
                slots = ep.call_slots()  # None: this build cannot show them; just try again
                if slots is None or len(slots[1]) < slots[0] or time.monotonic() - t0 >= self.slot_wait_s:
                    break

    def _no_slot_text(self, waited: float, slots: tuple[int, set[int], set[int]] | None) -> str:
        if slots is None:
            held = "every one of this process's pjsua call slots is taken"
        else:
            n, in_use, over = slots
            held = (f"all {n} of this process's pjsua call slots are taken: {len(over)} by calls already over "
                    f"whose BYE the far end has not answered (pjsua frees such a slot when the BYE is answered, "
                    f"or 32 s after it was sent when the far end is gone), {len(in_use) - len(over)} by calls "
                    f"still in progress")
        return (f"no pjsua call slot came free within slot_wait_s={self.slot_wait_s:g} s (waited {waited:.1f} s); "
                f"{held}. Place at most {slots[0] if slots else 4} calls at once per process (CallPool: "
                f"calls_per_worker), or raise slot_wait_s.")

    # -- the pjsua2 Call's lifetime ------------------------------------------------------
    def _pj_call(self, ctx: _CallCtx, fn):
        """``fn(call)`` with the call's pjsua2 Call, from a thread other than pjsip's; None
        once the call is over (pjsua may have given its id to another call).

        The Call is never deleted with its old id while another call may hold that id (see
        ``SipEndpoint.forget_call_id``): when its DISCONNECTED callback comes while threads
        are inside ``fn``, the last of them makes it harmless before dropping it.
        """
        with ctx.use_lock:
            pjcall = ctx.pjcall
            if pjcall is None or ctx.pj_gone:
                return None
            ctx.users += 1
        try:
            return fn(pjcall)
        finally:
            with ctx.use_lock:
                ctx.users -= 1
                last = ctx.users == 0 and ctx.pj_gone
            if last:
                self._retire_pjcall(pjcall)
            del pjcall

    def _retire_pjcall(self, pjcall) -> None:
        pjcall.lsd_ctx = None
        self._endpoint.retire_call(pjcall, pjcall.lsd_account)

    def _forget_pjcall(self, ctx: _CallCtx, pjcall) -> None:
        """In the Call's DISCONNECTED callback: the call is over; hand the Call to the endpoint
        (``SipEndpoint.retire_call``), or, when a thread is still inside one of its methods
        (``_pj_call``), let the last such thread do it as it leaves.
        """
        with ctx.use_lock:
            if ctx.pj_gone:
                return
            ctx.pj_gone = True
            ctx.pjcall = None
            users = ctx.users
        if users == 0:
            self._retire_pjcall(pjcall)

    def _forget_unplaced(self, ctx: _CallCtx) -> None:
        """makeCall failed: a Call that never got a call id is harmless anywhere; drop it."""
        with ctx.use_lock:
            pjcall = ctx.pjcall
            if ctx.pj_gone or pjcall is None or ctx.users:
                return
            with contextlib.suppress(Exception):
                if pjcall.getId() == self._pj.PJSUA_INVALID_ID:
                    ctx.pj_gone = True
                    ctx.pjcall = None
                    pjcall.lsd_ctx = None
                    ctx.cb_done.set()
        # never registered with pjsua: nothing can call into it; dropped here
    def _watch(self, ctx: _CallCtx) -> None:
        try:
            self._endpoint.register_thread()
        except SipError:
            return
        if not self._wait(lambda: ctx.acked.is_set() or ctx.ended, self.response_timeout_s):
            log.info("%s: no response within %.1f s", self.name, self.response_timeout_s)
            self._hangup_ctx(ctx, Cause.TIMEOUT, f"no response to the INVITE within {self.response_timeout_s} s "
                                                 f"(response_timeout_s)")
            return
        if not self._wait(lambda: ctx.connected or ctx.ended, self.no_answer_timeout_s):
            log.info("%s: no answer within %.1f s", self.name, self.no_answer_timeout_s)
            self._hangup_ctx(ctx, Cause.NOANSWER, f"no answer within {self.no_answer_timeout_s} s "
                                                  f"(no_answer_timeout_s): cancelled here")
            return
        if not self._wait(lambda: self._state == State.ANSWERED or ctx.ended, 2.0):
            # answered, but pjsip neither started audio nor ended the call
            self._hangup_ctx(ctx, Cause.FAILED, f"the far end answered with no audio we can use "
                                                f"({_sdp_media(ctx.wire_msg)})")
            return
        if self.rtp_timeout_s is not None:
            self._supervise_rtp(ctx, self.rtp_timeout_s)

    def _rtp_received(self, ctx: _CallCtx) -> int | None:
        """RTP packets received so far on the call's audio stream (None: not readable now)."""
        if ctx.med_idx < 0:
            return None
        try:
            return self._pj_call(ctx, lambda c: int(c.getStreamStat(ctx.med_idx).rtcp.rxStat.pkt))
        except self._pj.Error:
            return None

    def _supervise_rtp(self, ctx: _CallCtx, timeout_s: float) -> None:
        """End an answered call that receives no RTP for ``timeout_s`` (cause OUTOFORDER)."""
        while not ctx.ended:
            n = self._rtp_received(ctx)
            now = time.monotonic()
            if n is None:  # not readable just now (the call is ending): judge nothing
                pass
            elif n > ctx.rtp_pkts:
                ctx.rtp_pkts = n
                ctx.rtp_seen_t = now
            elif now - max(ctx.rtp_seen_t, ctx.connected_t) > timeout_s:
                what = "since the answer" if not ctx.rtp_seen_t else f"after {ctx.rtp_pkts} packets"
                reason = (f"no RTP from the far end for {timeout_s:g} s {what} (rtp_timeout_s): a dead line, "
                          f"ended here")
                log.info("%s: %s", self.name, reason)
                self._hangup_ctx(ctx, Cause.OUTOFORDER, reason)
                # a dead far end never answers our BYE (pjsip would wait 32 s): end it now;
                # the pjsua2 call is dropped when pjsip gives up
                self._finish(ctx, Cause.OUTOFORDER, str(ctx.wire_status) if ctx.wire_status else "")
                return
            self._wait(lambda: ctx.ended, _RTP_POLL_S)  # a poll, cut short when the call ends

    def _finish(self, ctx: _CallCtx, cause: _enums.Cause, raw: str) -> None:
        with self._cv:
            if ctx.ended:
                return
            ctx.ended = True
            if ctx.sink is not None:
                ctx.sink.stop()
            if ctx.source is not None:
                ctx.source.stop()
            if ctx is self._ctx:
                self.Details.raw_cause = raw
                self.Details.local_reason = ctx.local_reason
                self._graveyard.append(ctx)
                self._set_state(State.IDLE, cause)
            self._cv.notify_all()

    def _on_call_state(self, ctx: _CallCtx, pjcall) -> None:
        pj = self._pj
        info = pjcall.getInfo()
        st = info.state
        if ctx is self._ctx and not self.Details.sip_call_id:
            self.Details.sip_call_id = info.callIdString
        if st in (pj.PJSIP_INV_STATE_EARLY, pj.PJSIP_INV_STATE_CONNECTING, pj.PJSIP_INV_STATE_CONFIRMED):
            ctx.acked.set()
        if st == pj.PJSIP_INV_STATE_DISCONNECTED and not ctx.sockets_closing:
            ctx.sockets_closing = True  # its RTP/RTCP sockets now cool down in pjlib
            self._endpoint.note_call_ended()
        if ctx.ended or ctx is not self._ctx:
            if st == pj.PJSIP_INV_STATE_DISCONNECTED:
                self._forget_pjcall(ctx, pjcall)
            return
        if st == pj.PJSIP_INV_STATE_EARLY:
            ctx.rang = True
            if self._state == State.CALL_OUTGOING:
                self._set_state(State.RING_OUTGOING)
        elif st == pj.PJSIP_INV_STATE_CONFIRMED and not ctx.connected:
            ctx.connected = True
            ctx.connected_t = time.monotonic()
            self.Details.setup_s = time.monotonic() - ctx.t_start
            if self._state == State.CALL_OUTGOING:
                self._set_state(State.RING_OUTGOING)  # keep the documented sequence
            if ctx.am is None:
                # the answer's SDP has no audio we can use (no common codec, port 0, only
                # telephone-event): pjsip ends the call itself with a BYE (Reason: SIP
                # ;cause=415 or 488); it is never ANSWERED (see the DISCONNECTED branch)
                return
            self._start_media(ctx)
            self._set_state(State.ANSWERED, Cause.NORMAL)
        elif st == pj.PJSIP_INV_STATE_DISCONNECTED:
            # the status the far end sent; else pjsip's own (a timeout, a transport error)
            code = ctx.wire_status or int(info.lastStatusCode)
            raw = str(ctx.wire_status) if ctx.wire_status else ""
            if not ctx.wire_status and not ctx.local_reason:
                ctx.local_reason = f"pjsip ended the call here: {info.lastStatusCode} {info.lastReason}".strip()
            if ctx.cause_override is not None:
                cause = ctx.cause_override
            elif ctx.connected and ctx.am is None:
                # answered without usable audio: pjsip's BYE carried this status on the wire
                cause = Cause.FAILED
                raw = str(int(info.lastStatusCode))
                ctx.local_reason = (f"the far end answered ({ctx.wire_status}) with no audio we can use "
                                    f"({_sdp_media(ctx.wire_msg)}): ended here by a BYE with 'Reason: SIP "
                                    f";cause={raw}' ({info.lastReason})")
            elif ctx.connected:
                cause = Cause.NORMAL
            else:
                cause = cause_for_status(code, rang=ctx.rang)
            self._finish(ctx, cause, raw)
            self._forget_pjcall(ctx, pjcall)

    def _on_media(self, ctx: _CallCtx, pjcall) -> None:
        pj = self._pj
        from ..sip import CODEC_API_NAME, FrameSink, FrameSource

        info = pjcall.getInfo()
        for i, mi in enumerate(info.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE and ctx.am is None:
                ctx.am = pjcall.getAudioMedia(i)
                ctx.med_idx = i
                ports = self._endpoint.ports  # recycled: never destroyed while the bridge runs
                ctx.sink = ports.take(FrameSink, f"{self.name}-sink")
                ctx.source = ports.take(FrameSource, f"{self.name}-src")
                ctx.am.startTransmit(ctx.sink)
                ctx.source.startTransmit(ctx.am)
                try:
                    name = pjcall.getStreamInfo(i).codecName
                    self.Details.codec_name = name
                    self.Details.codec = CODEC_API_NAME.get(name, name.lower())
                except pj.Error:
                    pass
                if ctx.connected and not ctx.ended and ctx is self._ctx:
                    self._start_media(ctx)
                    if self._state != State.ANSWERED:  # audio came after the answer
                        self._set_state(State.ANSWERED, Cause.NORMAL)

    def _start_media(self, ctx: _CallCtx) -> None:
        if ctx.sink is None or ctx.consumer is not None:
            return
        ctx.sink.drain()
        ctx.sink.start()
        ctx.consumer = self._lanes["media"].run(self._consume, ctx)

    def _consume(self, ctx: _CallCtx) -> None:
        sink = ctx.sink
        assert sink is not None  # _start_media starts this thread only once the sink exists
        with contextlib.suppress(SipError):  # whatever this thread drops last is then safe
            self._endpoint.register_thread()
        loud = 0
        samples = 0  # audio time taken so far, in samples
        start = None  # ... when the first frame that is not digital silence came
        # With RTP supervision, frames reach the detector only while RTP is arriving: the
        # others (the jitter buffer's made-up silence on a dead line) wait in `held` and go
        # to the detector in order once RTP comes again, or are dropped with the call.
        gate = self.rtp_timeout_s is not None
        held: list[np.ndarray] = []
        while True:
            frame = sink.get(timeout=0.05)
            if frame is None:
                if ctx.ended:
                    break
                continue
            if start is None and frame.any():
                start = samples
            samples += len(frame)
            if ctx.rec_frames is not None:
                ctx.rec_frames.append(frame)
            if float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > 600:  # about -35 dBFS
                loud += 1
                if loud >= 5:
                    ctx.speech.set()
            else:
                loud = 0
            if ctx.det is not None:
                if gate and not (ctx.rtp_seen_t and time.monotonic() - ctx.rtp_seen_t <= _RTP_FRESH_S + _RTP_POLL_S):
                    held.append(frame)
                    continue
                todo, held = [*held, frame], []
                for f in todo:
                    with ctx.det_lock:
                        ev = ctx.det.push(f)
                    if ev:
                        self._handle_events(ctx, ev)
        self.Details.frames_received = sink.frames
        self.Details.max_frame_gap_ms = round(sink.max_gap_s * 1000.0, 1)
        self.Details.frame_gaps_over_60ms = sink.gaps_over
        self.Details.empty_frames = sink.empty_frames
        self.Details.max_frame_lag_ms = round(sink.max_lag_s * 1000.0, 1)
        self.Details.audio_start_ms = None if start is None else start * 1000 // SR
        if ctx.det is not None:
            with ctx.det_lock:
                ev = ctx.det.end()
            self._handle_events(ctx, ev)
        with self._cv:
            self._cv.notify_all()

    def _handle_events(self, ctx: _CallCtx, events) -> None:
        from ..detect.types import MachineReady, Verdict

        for e in events:
            if isinstance(e, Verdict) and ctx.lsd is not None and ctx is self._ctx:
                with self._cv:
                    if self.Details.lsd_verdict is None:
                        d = self.Details
                        d.lsd_verdict = e
                        d.far_end_type = CallFarEndType(e.far_end_type)
                        d.lsd_reason = e.reason
                        d.lsd_confidence = e.confidence
                        d.lsd_decided_at_s = e.decided_at_s
                        log.info("%s: LSD %s (%s, %.2f) at %.3f s", self.name, e.far_end_type.name,
                                 e.reason.name, e.confidence, e.decided_at_s)
                    self._cv.notify_all()
            elif isinstance(e, MachineReady):
                ctx.machine_ready.set()
                with self._cv:
                    self._cv.notify_all()

    def _on_dtmf(self, ctx: _CallCtx, digit: str) -> None:
        with self._cv:
            ctx.digits += digit
            ctx.last_digit_t = time.monotonic()
            self._cv.notify_all()

    def _bury(self) -> None:
        """Drop the pjsua2 objects of finished calls (from a registered user thread)."""
        keep: list[_CallCtx] = []
        for ctx in self._graveyard:
            if ctx.consumer is not None and ctx.consumer.is_alive():
                ctx.consumer.join(1.0)
            if ctx.watcher is not None and ctx.watcher.is_alive():
                # it notices the end within its 50 ms poll; joined, its thread serves the next
                # call (else every call could need one more: threads grew during a soak)
                ctx.watcher.join(0.5)
            if ctx.pj_gone:
                self._drop(ctx)
            else:
                keep.append(ctx)  # pjsip still finishing it (e.g. an unanswered INVITE)
        self._graveyard = keep

    def _drop(self, ctx: _CallCtx) -> None:
        # Give the ports back to the endpoint's pool (pjsua2 cannot destroy them safely while
        # the conference bridge runs); a sink whose consumer thread is somehow still reading
        # is parked for good instead, so that no later call shares it.
        from ..sip import retire_port

        ports = self._endpoint.ports
        if ctx.sink is not None and ctx.consumer is not None and ctx.consumer.is_alive():
            ctx.consumer.join(1.0)
        if ctx.consumer is not None and ctx.consumer.is_alive():
            retire_port(ctx.sink, self._endpoint)
        else:
            ports.give(ctx.sink)
        ports.give(ctx.source)
        ctx.am = ctx.sink = ctx.source = None
        if ctx.pj_gone:  # else still pjsip's (only at shutdown: _release_pj drops it after)
            ctx.pjcall = None

    def _release_pj(self) -> int:
        """Endpoint shutdown: hang up and drop every pjsua2 object of this channel."""
        n = 0
        ctx = self._ctx
        if ctx is not None and not ctx.ended:
            n = 1
            self._hangup_ctx(ctx, Cause.NORMAL)
            self._finish(ctx, Cause.NORMAL, "")
        for c in [*self._graveyard, *([ctx] if ctx else [])]:
            if c.consumer is not None and c.consumer.is_alive():
                c.consumer.join(0.5)
            self._drop(c)
            c.pjcall = None  # shutdown: the endpoint hangs up every call and pumps its events
        self._graveyard = []
        self._ctx = None
        self._account = None
        return n
