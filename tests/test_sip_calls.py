"""Real SIP calls over 127.0.0.1: UASCallChannel against the simulated far end (child process)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lsdlab.audio.io import load, save_wav
from lsdlab.audio.tones import beep
from lsdlab.errors import LsdlabError, ParameterError

pytestmark = [pytest.mark.sip, pytest.mark.timeout(120)]


def _speech_like(dur_s: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(8000 * dur_s)) / 8000
    carrier = np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t) + 0.1 * rng.standard_normal(len(t))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3.5 * t - np.pi / 2))
    return (0.25 * carrier * env).astype(np.float32)


def _loud_s(y: np.ndarray) -> float:
    """Seconds of 20 ms frames with RMS above 0.1."""
    n = len(y) // 160
    rms = np.sqrt(np.mean(y[: n * 160].reshape(n, 160) ** 2, axis=1))
    return float(np.sum(rms > 0.1)) * 0.02


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    z = lambda s: np.zeros(int(8000 * s), np.float32)  # noqa: E731
    save_wav(root / "hello.wav", np.concatenate([z(0.3), _speech_like(0.8), z(3.0)]), subtype="PCM_16")
    # a voicemail greeting: long speech, a 1 kHz beep, then silence
    save_wav(root / "machine.wav", np.concatenate([z(0.3), _speech_like(4.0, 1), z(0.3), beep(1000, 0.5), z(6.0)]),
             subtype="PCM_16")
    save_wav(root / "tone.wav", np.concatenate([z(0.2), 0.3 * np.sin(2 * np.pi * 1000 * np.arange(8000 * 2) / 8000)]).astype(np.float32),
             subtype="PCM_16")
    save_wav(root / "message.wav", (0.3 * np.sin(2 * np.pi * 700 * np.arange(8000 * 1) / 8000)).astype(np.float32),
             subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def ch():
    from lsdlab import UASCallChannel

    return UASCallChannel(response_timeout_s=2.0, no_answer_timeout_s=3.0)


@pytest.fixture(autouse=True)
def _idle(ch):
    yield
    ch.hang_up()


def test_state_sequence_and_hangup(ch, far):
    assert ch.state() == ch.State.IDLE
    assert ch.start_call(far.uri("hello.wav")) is True
    assert ch.state() in (ch.State.CALL_OUTGOING, ch.State.RING_OUTGOING)
    assert ch.wait_for_answer(10)
    # every transition is kept in Details.states (polling could miss a short CALL_OUTGOING)
    assert ch.Details.states == [ch.State.IDLE, ch.State.CALL_OUTGOING, ch.State.RING_OUTGOING, ch.State.ANSWERED]
    assert ch.cause() == ch.Cause.NORMAL
    time.sleep(0.5)
    assert ch.hang_up() == ch.State.IDLE
    assert ch.Details.states[-1] == ch.State.IDLE
    assert ch.Details.max_frame_gap_ms > 0
    assert ch.cause() == ch.Cause.NORMAL
    assert ch.Details.frames_received > 10
    rec = far.call_by_id(ch.Details.sip_call_id)
    assert rec.connected and rec.hung_up_by == "caller"


def test_far_end_hangs_up_after_recording(ch, far):
    assert ch.call(far.uri("hello.wav"), seconds_timeout=10) == ch.State.ANSWERED
    assert ch.wait_for_idle(15)
    assert ch.cause() == ch.Cause.NORMAL
    assert far.call_by_id(ch.Details.sip_call_id).hung_up_by == "far_end"


@pytest.mark.parametrize(
    ("scenario", "cause", "raw"),
    [("busy", "BUSY", "486"), ("reject", "REJECTED", "603"), ("unavailable", "NOANSWER", "480")],
)
def test_failure_causes(ch, far, scenario, cause, raw):
    st = ch.call(far.uri(scenario=scenario), seconds_timeout=10)
    assert st == ch.State.IDLE
    assert ch.cause() == ch.Cause[cause]
    assert ch.Details.raw_cause == raw


def test_no_answer_by_our_timer(ch, far):
    t0 = time.monotonic()
    assert ch.start_call(far.uri(scenario="no_answer"))
    assert ch.wait_for_outgoing_call(0.5) == ch.State.RING_OUTGOING  # still ringing
    assert ch.wait_for_idle(10)
    assert ch.cause() == ch.Cause.NOANSWER
    assert 2.5 < time.monotonic() - t0 < 8
    # raw_cause is what the far end said on the wire, not the 603 we gave pjsua for our CANCEL:
    # pjsua ends the call before the far end's 487 arrives, so nothing; the local reason says why
    assert ch.Details.raw_cause == ""
    assert "no_answer_timeout_s" in ch.Details.local_reason


def test_local_failure_has_no_pjsip_number_as_raw_cause(ch):
    assert ch.start_call("sip:nobody@127.0.0.1:99999") is False  # makeCall itself refuses the URI
    assert ch.state() == ch.State.IDLE
    assert ch.Details.raw_cause == ""  # nothing went on the wire
    assert "could not be placed" in ch.Details.local_reason


def test_call_seconds_timeout_cancels(ch, far):
    t0 = time.monotonic()
    assert ch.call(far.uri(scenario="no_answer"), seconds_timeout=1.0) == ch.State.IDLE
    assert ch.cause() == ch.Cause.NOANSWER
    assert time.monotonic() - t0 < 3


def test_unreachable_port_times_out_fast(ch):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port nobody answers on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t0 = time.monotonic()
        assert ch.start_call(f"sip:nobody@127.0.0.1:{port}") is False
        assert ch.cause() == ch.Cause.TIMEOUT
        assert ch.state() == ch.State.IDLE
        assert time.monotonic() - t0 < 4


@pytest.mark.parametrize(("codecs", "name"), [("g711a;g711u", "g711a"), ("g711u;g711a", "g711u"), ("g711u", "g711u")])
def test_codec_negotiation(ch, far, codecs, name):
    assert ch.call(far.uri("hello.wav"), codecs=codecs, seconds_timeout=10) == ch.State.ANSWERED
    assert ch.Details.codec == name
    ch.hang_up()
    assert far.call_by_id(ch.Details.sip_call_id).codec == {"g711a": "PCMA", "g711u": "PCMU"}[name]


def test_far_end_killed_mid_greeting_is_a_dead_line(corpus):
    """SIGKILL of the far end mid-greeting: no verdict on the dead line's silence, and the call
    ends after rtp_timeout_s with cause OUTOFORDER (it stayed ANSWERED forever before)."""
    import os
    import signal

    from lsdlab import UASCallChannel
    from lsdlab.farend import SimulatedFarEnd

    _need_detector()
    ch = UASCallChannel(rtp_timeout_s=2.0)
    far = SimulatedFarEnd(corpus).start()
    try:
        assert ch.start_call(far.uri("machine.wav", after="silence"),
                             live_speaker_detect=ch.LiveSpeakerDetectionSettings.DEFAULT,
                             lsd_timeout_milliseconds=10000)
        assert ch.wait_for_answer(10)
        time.sleep(0.8)  # 0.3 s of silence, then 0.5 s into the (4 s) greeting
        assert ch.Details.lsd_verdict is None
        os.kill(far.pids[0], signal.SIGKILL)
        t_kill = time.monotonic()
        assert ch.wait_for_idle(6)
        assert 1.8 < time.monotonic() - t_kill < 3.5
        assert ch.cause() == ch.Cause.OUTOFORDER
        assert ch.Details.far_end_type == ch.CallFarEndType.UNKNOWN
        assert "no RTP" in ch.Details.local_reason
        assert ch.Details.raw_cause == "200"
    finally:
        far.close()


def test_dtmf_both_ways(ch, far):
    assert ch.call(far.uri("hello.wav", dtmf="4711#", dtmf_delay_s=0.3), seconds_timeout=10) == ch.State.ANSWERED
    assert ch.DTMFDetector.get_digits(end="#", seconds_timeout=8) == "4711#"
    assert ch.DTMFPlayer.play("12*9")
    ch.hang_up()
    assert far.call_by_id(ch.Details.sip_call_id).dtmf_digits == "12*9"


def test_file_player_message_reaches_far_end(ch, far, corpus):
    assert ch.call(far.uri("hello.wav", after="silence"), seconds_timeout=10) == ch.State.ANSWERED
    assert ch.FilePlayer.play(corpus / "message.wav") is True
    assert ch.FilePlayer.cause() == ch.FilePlayer.Cause.NORMAL
    ch.hang_up()
    rec = far.call_by_id(ch.Details.sip_call_id)
    y, _ = load(rec.recording)
    spec = np.abs(np.fft.rfft(y))
    f = np.fft.rfftfreq(len(y), 1 / 8000)
    assert abs(f[np.argmax(spec)] - 700) < 5  # our 700 Hz message is what the far end recorded
    assert _loud_s(y) > 0.95  # the whole 1 s message arrived


def test_file_recorder_records_far_end(ch, far, tmp_path):
    assert ch.call(far.uri("tone.wav"), seconds_timeout=10) == ch.State.ANSWERED
    out = tmp_path / "rec.wav"
    assert ch.FileRecorder.record(out, seconds_timeout=1.5)
    assert ch.FileRecorder.audio_detected_in_recording()
    y, _ = load(out)
    assert 1.2 < len(y) / 8000 < 1.8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"call_to": "0441908273800"}, "call_from"),
        ({"call_to": "tel:441908273800", "call_from": "441908000000"}, "gateway"),
        ({"call_to": "sip:x@127.0.0.1", "codecs": "g729"}, "g729"),
        ({"call_to": "sip:x@127.0.0.1", "lsd_timeout_milliseconds": 12000}, "lsd_timeout_milliseconds"),
        ({"call_to": "sip:x@127.0.0.1", "lsd_timeout_milliseconds": 100}, "lsd_timeout_milliseconds"),
        ({"call_to": "not a number"}, "call_to"),
        ({"call_to": "sip:x@127.0.0.1", "live_speaker_detect": 3}, "live_speaker_detect"),
    ],
)
def test_bad_inputs(ch, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        ch.start_call(**kwargs)
    assert ch.state() == ch.State.IDLE


def test_wrong_state_errors(ch, far):
    with pytest.raises(ch.Hangup):
        ch.FilePlayer.play("x.wav")
    with pytest.raises(ch.Hangup):
        ch.wait_for_answer_machine()
    assert ch.start_call(far.uri(scenario="no_answer"))
    # start_call returns on the first response (100 Trying or 180 Ringing)
    with pytest.raises(ch.Error, match="(CALL|RING)_OUTGOING"):
        ch.start_call(far.uri("hello.wav"))
    with pytest.raises(ch.Error, match="ANSWERED"):
        ch.DTMFPlayer.play("1")
    assert issubclass(ch.Error, LsdlabError) and issubclass(ch.Hangup, LsdlabError)
    ch.hang_up()
    assert ch.cause() == ch.Cause.NORMAL


def test_channel_recreated_reuses_endpoint(ch):
    from lsdlab import UASCallChannel
    from lsdlab.sip import get_endpoint

    ep = get_endpoint()
    for _ in range(12):  # re-running a notebook cell: no second endpoint, no account leak
        UASCallChannel()
    assert get_endpoint() is ep


def test_ports_are_recycled_not_destroyed(ch, far):
    """pjsua2 2.15 frees a destroyed AudioMediaPort before the bridge carries out its queued
    removal (heap corruption, crashes minutes later), so calls recycle their ports."""
    from lsdlab.sip import get_endpoint

    pool = get_endpoint().ports
    for _ in range(2):
        assert ch.call(far.uri("hello.wav"), seconds_timeout=10) == ch.State.ANSWERED
        ch.hang_up()
    created = pool.sizes["created"]
    for _ in range(3):
        assert ch.call(far.uri("hello.wav"), seconds_timeout=10) == ch.State.ANSWERED
        time.sleep(0.3)
        ch.hang_up()
        assert ch.Details.frames_received >= 5  # a recycled sink still hands its call's audio on
    assert pool.sizes["created"] == created


def test_calls_register_no_new_pjlib_threads(ch, far, monkeypatch):
    """pjsua2's libRegisterThread mallocs a thread descriptor (~590 bytes) that only libDestroy
    frees. The channel started 2-3 new registered threads per call (RTP watch, media consumer,
    clock-gate opener): every process grew by ~1.2-1.8 KiB per call (issue 15's soak). Once
    the threads for one call at a time exist, further calls register none."""
    import pjsua2 as pj

    registered: list[str] = []
    real = pj.Endpoint.libRegisterThread

    def counting(self, name):
        registered.append(name)
        return real(self, name)

    monkeypatch.setattr(pj.Endpoint, "libRegisterThread", counting)
    for _ in range(2):  # warm-up: the reused threads come into being
        assert ch.call(far.uri("hello.wav"), seconds_timeout=10) == ch.State.ANSWERED
        ch.hang_up()
    warm = len(registered)
    threads = {t.name for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}
    for _ in range(6):
        assert ch.call(far.uri("hello.wav"), seconds_timeout=10) == ch.State.ANSWERED
        time.sleep(0.2)
        ch.hang_up()
        assert ch.Details.frames_received >= 5  # the reused consumer still hands the audio on
    assert registered[warm:] == [], f"6 calls registered {len(registered) - warm} new pjlib threads"
    # and the channel's threads are the same ones (its lanes), none left over per call
    now = {t.name for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}
    assert now <= threads, f"threads that came with the calls: {sorted(now - threads)}"


def test_a_finished_call_deleted_late_leaves_the_next_call_on_its_id_alone(far):
    """Issue 15 (pool workers died of SIGSEGV in Endpoint::on_call_tsx_state under churn): a
    pjsua2 Call whose call is over but which is deleted later (after pjsua gave its call id to
    the next call; before, hang_up() itself often held the last reference) cleared the user
    data of that id and hung it up: the next call was torn down behind its channel's back, and
    a pjsip thread could call into the freed object. Its destructor must now be harmless."""
    import gc

    from lsdlab import UASCallChannel

    a = UASCallChannel(response_timeout_s=2.0, name="late-a")
    b = UASCallChannel(response_timeout_s=2.0, name="late-b")
    assert a.call(far.uri("hello.wav"), seconds_timeout=10) == a.State.ANSWERED
    late = a._ctx.pjcall  # a reference that outlives the call (as a thread inside one of its methods has)
    call_id = late.getId()
    assert a.hang_up() == a.State.IDLE
    for _ in range(8):  # the next call that pjsua gives the same call id
        assert b.call(far.uri("hello.wav"), seconds_timeout=10) == b.State.ANSWERED
        if b._ctx.pjcall.getId() == call_id:
            break
        assert b.hang_up() == b.State.IDLE
    else:
        pytest.fail(f"pjsua never gave call id {call_id} again in 8 calls")
    sip_call_id = b.Details.sip_call_id
    del late
    gc.collect()
    time.sleep(1.0)
    assert sip_call_id not in {c.sip_call_id for c in far.calls()}, "deleting the old Call ended the next call"
    assert b.state() == b.State.ANSWERED
    assert b.hang_up() == b.State.IDLE and b.cause() == b.Cause.NORMAL
    assert far.call_by_id(sip_call_id).hung_up_by == "caller"


def test_a_finished_call_outlives_callbacks_already_on_their_way(ch, far):
    """Issue 15: pjsua hands transaction events of a call id's previous dialog to the Call that
    holds the id now, on pjsip's thread, while that Call's DISCONNECTED callback may run on
    ours (inside hang_up): a Call deleted at once was called into after it was freed (SIGSEGV
    in Endpoint::on_call_tsx_state). A finished Call is kept a moment, with no call id left."""
    import weakref

    assert ch.call(far.uri("hello.wav"), seconds_timeout=10) == ch.State.ANSWERED
    ref = weakref.ref(ch._ctx.pjcall)
    assert ch.hang_up() == ch.State.IDLE  # IDLE comes inside the DISCONNECTED callback, before its end
    end = time.monotonic() + 1.0
    while ref() is not None and ref().getId() != ch._pj.PJSUA_INVALID_ID and time.monotonic() < end:
        time.sleep(0.01)
    call = ref()
    assert call is not None, "the finished Call was deleted at once"
    assert call.getId() == ch._pj.PJSUA_INVALID_ID  # its destructor touches no call id
    del call


def test_the_clock_thread_waits_while_hang_up_tears_the_media_down(ch, far):
    """Issue 15 (soak: pool and far-end workers aborted, exit code -6, ``pj_ioqueue_sendto:
    Assertion `key && op_key && data && length'``): pjsua 2.15 closes a call's RTP transport
    inside ``Call.hangup()`` while the conference clock thread may be half-way through sending
    that call's RTP (transport_send_rtp then reads the ioqueue key transport_destroy has just
    set to NULL). No conference tick may run while hangup() tears the media down; the window
    is made measurable by holding the hangup() call 0.1 s (5 ticks of 20 ms)."""
    import threading

    from lsdlab.sip import FrameSink, get_endpoint

    ep = get_endpoint()
    probe = ep.ports.take(FrameSink, "tick-probe")  # unconnected: still called every tick
    try:
        assert ch.call(far.uri("hello.wav"), seconds_timeout=10) == ch.State.ANSWERED
        time.sleep(0.2)
        probe.start()
        windows: list[tuple[float, float]] = []
        me = threading.get_ident()
        real = ch._pj_call

        def slow(ctx, fn):  # only this thread's hangup(), not the RTP watcher's reads
            if threading.get_ident() != me or windows:
                return real(ctx, fn)

            def held(call):
                t0 = time.monotonic()
                time.sleep(0.1)
                try:
                    return fn(call)
                finally:
                    windows.append((t0, time.monotonic()))
            return real(ctx, held)

        ch._pj_call = slow
        try:
            assert ch.hang_up() == ch.State.IDLE
        finally:
            del ch._pj_call
        time.sleep(0.1)
        ticks, t0, t1, inside = _ticks_inside(probe, windows)
        assert not inside, f"conference ticks at {inside} ms into hangup() (of {(t1 - t0) * 1000:.0f} ms)"
    finally:
        ep.ports.give(probe)


def _ticks_inside(probe, windows: list[tuple[float, float]]):
    """Stop the tick probe (a FrameSink) and read its ticks; checks one held window and more
    than 10 ticks. Returns (ticks, window start, window end, ms offsets of the ticks inside)."""
    probe.stop()
    ticks = []
    while not probe.queue.empty():
        ticks.append(probe.queue.get_nowait()[0])
    assert len(windows) == 1 and len(ticks) > 10, (windows, len(ticks))
    t0, t1 = windows[0]
    return ticks, t0, t1, [round((t - t0) * 1000, 1) for t in ticks if t0 <= t <= t1]


def test_the_clock_thread_waits_while_a_bye_from_the_far_end_tears_the_media_down(ch, far, monkeypatch):
    """The same race as above on the other path: the far end hangs up first and its BYE
    reaches this side. pjsua 2.15 tears the call's media down as it answers the BYE, BEFORE
    the DISCONNECTED callback (pjsua_call_on_state_changed > pjsua_media_channel_deinit:
    onStreamDestroyed, pjmedia_stream_destroy, then transport_destroy twice, RTP and RTCP;
    only then onCallState; seen with gdb breakpoints), so a gate closed in that callback came
    too late (issue 15: a far-end worker aborted in pj_ioqueue_sendto with its main thread in
    the DISCONNECTED callback). The gate closes in ``onStreamDestroyed`` and opens once pjsua's
    lock, held through the whole teardown, is free. No conference tick may run inside the
    teardown; the window is made measurable by holding ``onStreamDestroyed`` 0.1 s after the
    channel's own handler (the stream and its transport are destroyed after it returns)."""
    from lsdlab.sip import CLOCK_GATE, FrameSink, get_endpoint

    windows: list[tuple[float, float]] = []
    ep = get_endpoint()
    probe = ep.ports.take(FrameSink, "tick-probe-bye")  # unconnected: still called every tick
    try:
        assert ch.call(far.uri("message.wav", ring_s=0.0), seconds_timeout=10) == ch.State.ANSWERED
        cls = type(ch._ctx.pjcall)
        real = cls.onStreamDestroyed

        def slow(self, prm):
            real(self, prm)
            if not windows:
                t0 = time.monotonic()
                time.sleep(0.1)
                windows.append((t0, time.monotonic()))

        monkeypatch.setattr(cls, "onStreamDestroyed", slow)
        probe.start()
        assert ch.wait_for_idle(10)
        assert far.call_by_id(ch.Details.sip_call_id).hung_up_by == "far_end"
        time.sleep(0.2)
        ticks, t0, t1, inside = _ticks_inside(probe, windows)
        assert not inside, f"conference ticks at {inside} ms into the media teardown (held {(t1 - t0) * 1000:.0f} ms)"
        assert any(t > t1 for t in ticks), "the clock thread did not run again after the teardown"
        assert not CLOCK_GATE.closed
    finally:
        ep.ports.give(probe)


def _need_detector():
    detect = pytest.importorskip("lsdlab.detect")
    try:
        detect.make_detector(detect.DetectorSettings())
    except LsdlabError as exc:
        pytest.skip(f"detector not usable yet: {exc}")


def test_lsd_verdicts(ch, far):
    _need_detector()
    st = ch.call(far.uri("tone.wav", after="silence"), live_speaker_detect=ch.LiveSpeakerDetectionSettings.DEFAULT,
                 lsd_timeout_milliseconds=5000, seconds_timeout=15)
    assert st == ch.State.ANSWERED
    d = ch.Details
    assert d.lsd_verdict is not None and d.far_end_type in ch.CallFarEndType
    assert d.lsd_reason is not None and 0 <= d.lsd_confidence <= 1 and d.lsd_decided_at_s <= 5.1
    ch.hang_up()


def test_wait_for_answer_machine_then_message(ch, far, corpus):
    _need_detector()
    assert ch.call(far.uri("machine.wav", after="silence"), seconds_timeout=10) == ch.State.ANSWERED
    assert ch.wait_for_answer_machine(seconds_timeout=12) is True
    assert ch.FilePlayer.play(corpus / "message.wav")
    ch.hang_up()
    rec = far.call_by_id(ch.Details.sip_call_id)
    y, _ = load(rec.recording)
    tail = y[int(8000 * 4.8):]  # after greeting + beep
    assert _loud_s(tail) > 0.95


_CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from lsdlab.farend import SimulatedFarEnd
    from lsdlab import UASCallChannel
    if __name__ == "__main__":
        far = SimulatedFarEnd(sys.argv[1]).start()
        ch = UASCallChannel()
        ch.call(far.uri("hello.wav", after="silence"), seconds_timeout=10)
        assert ch.state() == ch.State.ANSWERED, ch.state()
        print("ANSWERED", flush=True)
        how = sys.argv[2]
        if how == "exit":
            sys.exit(0)
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        # 'end': fall off the end of the script with the call up and the far end running
""")


@pytest.mark.parametrize("how", ["end", "exit", "sigterm"])
def test_abrupt_end_exits_cleanly(corpus, tmp_path, how):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p = subprocess.run([sys.executable, str(script), str(corpus), how], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "TMPDIR": str(tmp)})
    assert "ANSWERED" in p.stdout, p.stderr
    # SIGTERM: a clean shutdown, then the shell's 128 + 15 (issue 15 item 6)
    assert p.returncode == (143 if how == "sigterm" else 0), p.stderr[-2000:]
    # the far end the script never closed left its temp record folder behind, every time
    assert list(tmp.glob("lsdlab-farend-*")) == []


@pytest.mark.parametrize("value", [0.1, -1, float("nan"), "5"])
def test_rtp_timeout_is_checked(value):
    from lsdlab import UASCallChannel

    with pytest.raises(ParameterError, match="'rtp_timeout_s' parameter of UASCallChannel"):
        UASCallChannel(rtp_timeout_s=value)


_SLOT_CALLER = textwrap.dedent("""
    import json, sys, threading, time
    from lsdlab import UASCallChannel

    # argv: the far end to stop, the far end that stays up, calls, slot_wait_s ('default': not
    # given), call()'s seconds_timeout, hang_up() this long into the first round (0: never)
    uri1, uri2, n, timeout_s, hang_up_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[5]), float(sys.argv[6])
    kw = {} if sys.argv[4] == "default" else {"slot_wait_s": float(sys.argv[4])}
    # no RTP supervision: it would end the calls to the stopped far end by itself
    chans = [UASCallChannel(name=f"c{k}", rtp_timeout_s=None, **kw) for k in range(n)]

    def each(fn):
        out = [None] * n
        def run(k):
            try:
                out[k] = fn(chans[k])
            except Exception as exc:
                out[k] = [type(exc).__name__, str(exc), chans[k].state().name, chans[k].cause().name]
        ts = [threading.Thread(target=run, args=(k,)) for k in range(n)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        return out

    def call(c, uri):
        st = c.call(uri, seconds_timeout=timeout_s)
        r = [st.name, c.cause().name, getattr(c.Details, "slot_wait_s", None), c.Details.local_reason]
        c.hang_up()
        return r

    print(json.dumps(each(lambda c: c.call(uri1, seconds_timeout=10).name)), flush=True)
    sys.stdin.readline()  # the far end of these calls is stopped now: their BYEs go unanswered
    for c in chans:
        c.hang_up()
    if hang_up_s:
        for c in chans:
            threading.Timer(hang_up_s, c.hang_up).start()
    print(json.dumps(each(lambda c: call(c, uri2))), flush=True)
    sys.stdin.readline()  # the stopped far end runs again (it answers the BYEs)
    print(json.dumps(each(lambda c: call(c, uri2))), flush=True)
""")


def _slot_run(corpus, far, tmp_path, *, slot_wait_s: float | None, stopped_s: float, hang_up_s: float = 0.0):
    """A caller process (``_SLOT_CALLER``) places 4 calls (all of its pjsua call slots) to a far
    end that is then stopped (SIGSTOP) and hangs them up: pjsua keeps each slot until the BYE is
    answered. It calls ``far`` 4 times at once; ``stopped_s`` later the stopped far end runs
    again (SIGCONT) and answers the BYEs; then it calls ``far`` 4 times more. Returns the
    results of the two rounds: [state, cause, slot wait, local reason] or, for an exception,
    [type, text, state, cause] per call; and the seconds from the hang-ups to SIGCONT.
    ``hang_up_s``: each channel's ``hang_up()`` that long into the first round."""
    import json

    from lsdlab.farend import SimulatedFarEnd

    script = tmp_path / "slot_caller.py"
    script.write_text(_SLOT_CALLER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with SimulatedFarEnd(corpus) as far1:
        p = subprocess.Popen([sys.executable, str(script), far1.uri("hello.wav", ring_s=0.0, after="silence"),
                              far.uri("hello.wav", ring_s=0.0, after="silence"), "4", str(slot_wait_s or "default"), "2.0", str(hang_up_s)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert json.loads(p.stdout.readline() or "null") == ["ANSWERED"] * 4, p.stderr.read()[-2000:] if p.poll() is not None else ""
            os.kill(far1.pids[0], signal.SIGSTOP)
            t0 = time.monotonic()
            p.stdin.write("go\n")
            p.stdin.flush()
            time.sleep(stopped_s)
            os.kill(far1.pids[0], signal.SIGCONT)
            stopped = time.monotonic() - t0
            first = json.loads(p.stdout.readline() or "null")
            p.stdin.write("go\n")
            p.stdin.flush()
            second = json.loads(p.stdout.readline() or "null")
            _, err = p.communicate(timeout=30)
            assert p.returncode == 0, err[-2000:]
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.kill(far1.pids[0], signal.SIGCONT)
    return first, second, stopped


def test_calls_wait_for_the_slots_of_calls_whose_bye_is_unanswered(corpus, far, tmp_path):
    """Issue 15: a call we hang up keeps its pjsua call slot (one of the process's 4) until the
    far end answers the BYE, 32 s when it never does. 4 calls hung up on a stopped far end,
    then 4 new calls to a far end that is up: each must wait for a slot, and be placed and
    answered once the stopped far end answers the BYEs (3 s later). It came back NOCHANNELS
    after 1 s (a blind retry of makeCall), as if the line had no channels. The wait does not
    eat into call()'s seconds_timeout (2 s here): the far end gets all of it to answer."""
    first, second, stopped = _slot_run(corpus, far, tmp_path, slot_wait_s=None, stopped_s=3.0)
    assert [r[:2] for r in first] == [["ANSWERED", "NORMAL"]] * 4, first
    # they waited for the slots, as long as the far end was stopped (not much longer)
    assert all(stopped - 1.0 < r[2] < stopped + 2.0 for r in first), (stopped, first)
    assert [r[:2] for r in second] == [["ANSWERED", "NORMAL"]] * 4, second


def test_no_free_call_slot_within_slot_wait_s_is_an_error_not_a_line_outcome(corpus, far, tmp_path):
    """When no slot comes free within slot_wait_s, start_call raises SipError saying what holds
    the slots (the channel is IDLE, cause ERROR: never NOCHANNELS, a line's outcome), and the
    channel places its next call once the slots are free."""
    first, second, _ = _slot_run(corpus, far, tmp_path, slot_wait_s=1.0, stopped_s=3.0)
    for typ, text, state, cause in first:
        assert (typ, state, cause) == ("SipError", "IDLE", "ERROR"), first
        assert "slot_wait_s=1 s" in text and "all 4 of this process's pjsua call slots are taken" in text, text
        assert "4 by calls already over whose BYE the far end has not answered" in text, text
    assert [r[:2] for r in second] == [["ANSWERED", "NORMAL"]] * 4, second


def test_hang_up_while_waiting_for_a_call_slot_ends_the_wait(corpus, far, tmp_path):
    """hang_up() from another thread while start_call waits for a slot: the call is never placed,
    call() returns IDLE with cause NORMAL and the reason 'hang_up() on this side' (the old
    1 s retry went on after the hang-up and ended NOCHANNELS); the next calls are answered."""
    first, second, _ = _slot_run(corpus, far, tmp_path, slot_wait_s=None, stopped_s=3.0, hang_up_s=1.0)
    assert [r[:2] for r in first] == [["IDLE", "NORMAL"]] * 4, first
    assert all(0.8 < r[2] < 2.0 and r[3] == "hang_up() on this side" for r in first), first
    assert [r[:2] for r in second] == [["ANSWERED", "NORMAL"]] * 4, second


def test_slot_wait_s_is_checked():
    from lsdlab import UASCallChannel

    with pytest.raises(ParameterError, match="'slot_wait_s' parameter of UASCallChannel"):
        UASCallChannel(slot_wait_s=-1)



_GC_CHILD = textwrap.dedent("""
    import sys
    from lsdlab.sip import get_endpoint
    ep = get_endpoint()
    print("READY", flush=True)
    while True:  # make cyclic garbage: gc (and its callbacks) runs all the time
        a = []; b = [a]; a.append(b)
""")


_WEAKREF_CHILD = textwrap.dedent("""
    import time, weakref
    from lsdlab.sip import get_endpoint
    ep = get_endpoint()
    class Obj:
        pass
    def gone(_ref):  # a weakref callback: an exception raised here is printed and dropped
        t = time.perf_counter()
        while time.perf_counter() - t < 0.005:
            pass
    print("READY", flush=True)
    while True:  # nearly all the time inside the callback
        o = Obj(); r = weakref.ref(o, gone); del o
""")


def _sigterm_ends_child(script, trials: int) -> None:
    """SIGTERM to a fresh run of ``script`` (prints READY, then loops) ends it with code 143 and
    no "Exception ignored", in every one of ``trials`` runs."""
    for trial in range(trials):
        p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "READY"
            time.sleep(0.3)
            p.send_signal(signal.SIGTERM)
            try:
                _, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
                pytest.fail(f"trial {trial}: SIGTERM was ignored: {err[-1500:]}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 143, (trial, p.returncode, err[-1500:])
        assert "Exception ignored" not in err, err[-1500:]


def test_sigterm_exits_143_even_inside_weakref_callbacks(tmp_path):
    """The SIGTERM handler recognised gc callbacks and __del__ by their frames, not a weakref
    callback (nor a library's finaliser under another name): SystemExit raised there was
    printed ("Exception ignored in: <function gone>") and dropped, and SIGTERM ignored."""
    script = tmp_path / "weakref_child.py"
    script.write_text(_WEAKREF_CHILD)
    _sigterm_ends_child(script, trials=3)


def test_sigterm_exits_143_even_during_gc_callbacks(tmp_path):
    """SIGTERM used to be raised inside the gc callback _gc_register_thread ("Exception
    ignored") and so ignored in most trials; it must end the process every time, code 143."""
    script = tmp_path / "gc_child.py"
    script.write_text(_GC_CHILD)
    _sigterm_ends_child(script, trials=6)


def _own_udp_ports() -> set[int]:
    """UDP ports bound by this process (from /proc: its socket inodes in /proc/net/udp)."""
    import os

    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[9] in inodes:
                ports.add(int(cols[1].split(":")[1], 16))
    return ports


def test_normal_call_logs_no_error_when_rtp_ports_are_taken(ch, far, caplog):
    """pjsua steps past RTP ports in use; each one it skipped was logged as an ERROR
    ("RTP socket bind() ... Address already in use") on a call that worked."""
    import logging
    import socket

    from lsdlab.sip import current_endpoint

    ep = current_endpoint()
    # pjsua takes RTP ports upwards from where its last call left off: find that place
    before = _own_udp_ports()
    assert ch.call(far.uri("hello.wav", ring_s=0.1), seconds_timeout=10) == ch.State.ANSWERED
    rtp = [p for p in _own_udp_ports() - before if p >= ep.settings.rtp_port]
    ch.hang_up()
    assert ch.wait_for_idle(5) and rtp
    held = []
    for port in range(max(rtp) + 1, max(rtp) + 33):  # the ports pjsua tries next
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((ep.settings.host, port))
            held.append(s)
        except OSError:
            s.close()
    assert held, "could not take any RTP port for the test"
    try:
        with caplog.at_level(logging.DEBUG, logger="lsdlab"):
            assert ch.call(far.uri("hello.wav", ring_s=0.1), seconds_timeout=10) == ch.State.ANSWERED
            time.sleep(0.3)
            ch.hang_up()
            assert ch.wait_for_idle(5)
    finally:
        for s in held:
            s.close()
    assert any("Address already in use" in r.getMessage() for r in caplog.records)  # it did step past them
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_routine_pjsip_lines_are_debug_real_errors_stay_errors():
    """A stream-statistics read in the moment a call has no stream (the RTP-inactivity watch)
    was logged as ERROR by CallPool workers under load; other level-1 lines stay ERROR."""
    import logging

    from lsdlab.sip._endpoint import _pj_log_level

    stat = ("pjsua_call_get_stream_stat(id, med_idx, &pj_ss) error: Invalid value or argument "
            "(PJ_EINVAL) (status=70004) [../src/pjsua2/call.cpp:927]")
    assert _pj_log_level(1, stat) == logging.DEBUG
    # makeCall finding every call slot taken: the channel waits and retries (its own SipError
    # if none frees), so each try is routine; other level-1 lines, PJ_ETOOMANY elsewhere too, stay ERROR
    make = ("pjsua_call_make_call(acc.getId(), &pj_dst_uri, param.p_opt, this, param.p_msg_data, &id) error: Too "
            "many objects of the specified type (PJ_ETOOMANY) (status=70010) [../src/pjsua2/call.cpp:712]")
    assert _pj_log_level(1, make) == logging.DEBUG
    assert _pj_log_level(1, "Error making call: Too many objects of the specified type (PJ_ETOOMANY) [status=70010]") == logging.DEBUG
    assert _pj_log_level(1, "pjsua_acc_add(...) error: Too many objects (PJ_ETOOMANY)") == logging.ERROR
    assert _pj_log_level(1, "pjsua_call_make_call(...) error: Invalid URI (PJSIP_EINVALIDURI)") == logging.ERROR


def _stalling_sink(ep, state: dict):
    """A FrameSink whose callback, once ``state['stall']`` is set, holds the real conference
    clock thread ``state['stall_s']`` before its checkpoint: the clock thread descheduled
    between two of our ports (inside a stream, for all the gate can tell), as on a loaded
    machine (issue 15). From the endpoint's pool: ports are never destroyed."""
    from lsdlab.sip import FrameSink

    class _Stalling(FrameSink):
        def onFrameReceived(self, frame):
            if state.get("stall"):
                state["stall"] = False
                state["inside"] = True
                time.sleep(state["stall_s"])
                state["inside"] = False
            super().onFrameReceived(frame)

    return ep.ports.take(_Stalling, "stalling-sink")


@contextlib.contextmanager
def _clock_running(ep, port):
    """The conference clock runs while something is connected to the sound device's slot
    (pjsua stops it 1 s after the last call and connection): slot 0 -> ``port``."""
    ep.register_thread()
    snd = ep.ep.audDevManager().getCaptureDevMedia()
    snd.startTransmit(port)
    try:
        time.sleep(0.2)  # the first ticks
        yield
    finally:
        snd.stopTransmit(port)


def test_clock_gate_close_waits_for_a_clock_thread_delayed_past_its_timeout(ch):
    """ClockGate.close() returned after 0.2 s even when the clock thread was still between
    our ports (inside a stream): on a machine at load 12-31 the teardown then ran under it
    and a far-end worker aborted in pj_ioqueue_sendto (issue 15). It must wait as long as
    the clock thread is known to come through our ports."""
    from lsdlab.sip import CLOCK_GATE, get_endpoint

    ep = get_endpoint()
    state = {"stall_s": 0.6}
    port = _stalling_sink(ep, state)
    try:
        with _clock_running(ep, port):
            state["stall"] = True
            end = time.monotonic() + 5
            while not state.get("inside") and time.monotonic() < end:
                time.sleep(0.005)
            assert state.get("inside"), "the clock thread never reached the stalling port"
            t0 = time.monotonic()
            ok = CLOCK_GATE.close(timeout_s=0.2)
            try:
                waited = time.monotonic() - t0
                inside = state["inside"]
            finally:
                CLOCK_GATE.open()
        assert not inside, f"close() returned after {waited:.2f} s with the clock thread still between our ports"
        assert ok and waited > 0.3, (ok, waited)
        assert not CLOCK_GATE.closed
    finally:
        ep.ports.give(port)


def test_clock_gate_second_close_after_a_park_ended_waits_for_a_new_park(ch, monkeypatch):
    """A park ended by max_park_s (a slow teardown under load) let the clock thread run on,
    and a second holder's close() returned at once on the stale 'parked' flag of the first
    park, with the clock thread between our ports (issue 15). 'Parked' must mean parked now."""
    from lsdlab.sip import CLOCK_GATE, get_endpoint

    ep = get_endpoint()
    state = {"stall_s": 0.5}
    port = _stalling_sink(ep, state)
    monkeypatch.setattr(CLOCK_GATE, "max_park_s", 0.3)
    held = 0
    try:
        with _clock_running(ep, port):
            assert CLOCK_GATE.close(timeout_s=1.0)
            held += 1
            state["stall"] = True  # taken on the clock's first pass after the park ends
            end = time.monotonic() + 5
            while not state.get("inside") and time.monotonic() < end:
                time.sleep(0.005)
            assert state.get("inside"), "the park never ended"
            CLOCK_GATE.close(timeout_s=0.2)
            held += 1
            inside = state["inside"]
            for _ in range(held):
                CLOCK_GATE.open()
            held = 0
        assert not inside, "the second close() returned with the clock thread between our ports"
    finally:
        for _ in range(held):
            CLOCK_GATE.open()
        ep.ports.give(port)
    assert not CLOCK_GATE.closed


def _timed_shutdown(tmp_path, setup: str) -> tuple[float, bool]:
    """In a process of its own: an endpoint whose conference clock runs through one of our
    ports, ``setup`` (Python, with ``ep`` and ``CLOCK_GATE``), then ``ep.shutdown()`` timed.
    Returns (shutdown seconds, whether the clock gate was still closed after it)."""
    script = tmp_path / "shutdown.py"
    script.write_text(textwrap.dedent("""
        import time
        from lsdlab.sip import CLOCK_GATE, FrameSink, get_endpoint
        ep = get_endpoint()
        sink = ep.ports.take(FrameSink, "x")
        ep.ep.audDevManager().getCaptureDevMedia().startTransmit(sink)  # the clock runs
        time.sleep(0.3)
    """) + textwrap.dedent(setup) + textwrap.dedent("""
        t = time.monotonic()
        ep.shutdown()
        print("shutdown_s", time.monotonic() - t, "closed", CLOCK_GATE.closed)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    words = out.stdout.split("shutdown_s")[1].split()
    return float(words[0]), words[2] == "True"


def test_endpoint_shutdown_is_not_held_by_a_clock_gate_left_closed(tmp_path):
    """A DISCONNECTED during the endpoint's shutdown can close the gate for its teardown with
    no one left to open it; libDestroy joins the clock thread, so it waited for the park to
    end (1 s on 6c26dfb, 30 s with max_park_s 30 on 9c1b617). The shutdown opens the gate first."""
    shut_s, _ = _timed_shutdown(tmp_path, """
        assert CLOCK_GATE.close()  # parked, never opened
    """)
    assert shut_s < 0.8, f"the endpoint's shutdown took {shut_s:.2f} s with the clock gate left closed"


def test_a_stream_destroyed_inside_libdestroy_does_not_hold_the_shutdown(tmp_path):
    """pjsua's libDestroy tears down the media of calls still up, and pjsua2 calls the Call's
    ``onStreamDestroyed`` (which closes the clock gate) on the way. By then our ports are
    retired and libDestroy joins the clock thread: a close then waited max_wait_s (10 s) for a
    park that never comes. Between the shutdown's open_all() and clock_stopped() a close does
    nothing. The hook is played by a close() at the start of libDestroy."""
    shut_s, closed = _timed_shutdown(tmp_path, """
        cls = type(ep.ep)
        real = cls.libDestroy
        def destroy(self, *a):
            CLOCK_GATE.close()  # what a Call's onStreamDestroyed does inside libDestroy
            return real(self, *a)
        cls.libDestroy = destroy
    """)
    assert shut_s < 0.8, f"the endpoint's shutdown took {shut_s:.2f} s with a close inside libDestroy"
    assert closed is False


_FAR_PROBE = """
import json, sys, threading, time
from multiprocessing import Pipe
from lsdlab.farend import _server
from lsdlab.sip import FrameSink

conf = json.loads(sys.stdin.readline())
mine, theirs = Pipe()
server = _server._Server(conf, theirs)
cls = _server._CALL_CLASSES.get(id(server.pj)) or _server._call_class(server.pj)
_server._CALL_CLASSES[id(server.pj)] = cls
real = cls.onStreamDestroyed
windows = []

def slow(self, prm):  # the far end's own handler, then 0.1 s more inside pjsua's teardown
    real(self, prm)
    if not windows:
        t0 = time.monotonic()
        time.sleep(0.1)
        windows.append((t0, time.monotonic()))

cls.onStreamDestroyed = slow
probe = server.endpoint.ports.take(FrameSink, "tick-probe-far")  # unconnected: still called every tick
probe.start()

def stop():
    sys.stdin.readline()
    mine.send({"cmd": "stop"})

threading.Thread(target=stop, daemon=True).start()
print("port", server.endpoint.port, flush=True)
server.run(theirs)
probe.stop()
ticks = []
while not probe.queue.empty():
    ticks.append(probe.queue.get_nowait()[0])
server.endpoint.ports.give(probe)
server.close()
print("result", json.dumps({"windows": windows, "ticks": ticks}), flush=True)
"""


def test_the_far_end_parks_its_clock_thread_while_a_bye_from_the_caller_tears_its_media_down(ch, far, tmp_path):
    """Issue 15's last abort, on the far end's side: a far-end worker died in pj_ioqueue_sendto
    with its main thread in the DISCONNECTED callback of a call the caller hung up. pjsua 2.15
    tears the media down as it answers the BYE, before that callback, where the worker closed
    the clock gate (too late). A real far-end worker (``_Server``, in a process of its own)
    answers this channel's call; the channel hangs up; the worker's ``onStreamDestroyed`` is
    held 0.1 s after its own handler (inside pjsua's teardown). No conference tick of the
    worker may run in that window."""
    conf = {
        "worker": 0, "corpus_dir": str(far.index.root), "host": "127.0.0.1", "port": 0,
        "record_dir": str(tmp_path), "log_level": 0, "rtp_port": 21000 + (os.getpid() * 7) % 20000,
        "files": far.index.files, "paths": far.index.paths, "max_duration_s": 600.0, "cache_bytes": 1 << 24,
    }
    import json

    proc = subprocess.Popen([sys.executable, "-c", _FAR_PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(json.dumps(conf) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line.startswith("port"), proc.stderr.read()[-2000:] if proc.poll() is not None else line
        port = int(line.split()[1])
        relay = far.uri("hello.wav", ring_s=0.0)
        uri = relay.replace(f"@{far.host}:{far.port}", f"@127.0.0.1:{port}")
        assert uri != relay
        assert ch.call(uri, seconds_timeout=10) == ch.State.ANSWERED
        time.sleep(0.5)
        assert ch.hang_up() == ch.State.IDLE  # the BYE goes to the worker
        time.sleep(0.5)
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    res = json.loads(out.split("result", 1)[1])
    windows, ticks = res["windows"], res["ticks"]
    assert len(windows) == 1 and len(ticks) > 10, (windows, len(ticks), err[-1000:])
    t0, t1 = windows[0]
    inside = [round((t - t0) * 1000, 1) for t in ticks if t0 <= t <= t1]
    assert not inside, f"far-end conference ticks at {inside} ms into the media teardown (held {(t1 - t0) * 1000:.0f} ms)"
    assert any(t > t1 for t in ticks), "the far end's clock thread did not run again after the teardown"
