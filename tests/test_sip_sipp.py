"""Interop: sipp (a SIP peer nobody here wrote) as the far end streaming G.711 A-law audio."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from _sipp import call_until_answered, sipp_answer, sipp_reply, sipp_uas

from lsdlab.audio.io import load

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60),
              pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (Debian sip-tester) is not installed")]

def test_sipp_far_end_streams_alaw(tmp_path):
    from lsdlab import UASCallChannel

    t = np.arange(8000 * 3) / 8000
    y = (0.3 * np.sin(2 * np.pi * 600 * t)).astype(np.float32)
    out = tmp_path / "rec.wav"
    with sipp_uas(tmp_path, y) as uri:
        ch = UASCallChannel()
        st = call_until_answered(ch, uri, seconds_timeout=10)
        assert st == ch.State.ANSWERED
        assert ch.Details.codec == "g711a"
        assert ch.FileRecorder.record(out, seconds_timeout=1.5)
        ch.hang_up()
    r, _ = load(out)
    spec = np.abs(np.fft.rfft(r))
    assert abs(np.fft.rfftfreq(len(r), 1 / 8000)[np.argmax(spec)] - 600) < 5


@pytest.mark.parametrize(("code", "reason", "cause"), [
    (404, "Not Found", "UNOBTAINABLE"),
    (484, "Address Incomplete", "UNOBTAINABLE"),
    (604, "Does Not Exist Anywhere", "UNOBTAINABLE"),
    (410, "Gone", "CHANGED"),
    (403, "Forbidden", "BARRED"),
    (600, "Busy Everywhere", "BUSY"),
    (503, "Service Unavailable", "CONGESTION"),
    (502, "Bad Gateway", "OUTOFORDER"),
    (500, "Server Internal Error", "FAILED"),
    (420, "Bad Extension", "FAILED"),
])
def test_sip_final_responses_map_to_causes(tmp_path, code, reason, cause):
    """Every SIP failure of uas-api.md's mapping, sent by sipp, ends IDLE with its cause and raw cause."""
    from lsdlab import UASCallChannel

    ch = UASCallChannel()
    with sipp_reply(tmp_path, code, reason) as uri:
        for _ in range(20):  # sipp needs a moment to bind: until it answers, the call times out
            st = ch.call(uri, seconds_timeout=5)
            if ch.Details.raw_cause == str(code):
                break
        assert st == ch.State.IDLE
        assert ch.cause().name == cause
        assert ch.Details.raw_cause == str(code)


@pytest.mark.parametrize(("media", "raw"), [("g729_only", "415"), ("port_0", "415"), ("telephone_event_only", "488")])
def test_answer_without_usable_audio_fails(tmp_path, media, raw):
    """A 200 OK whose SDP we cannot use is never ANSWERED: cause FAILED, raw cause the status of
    the BYE's Reason header pjsip sent on the wire, and a local reason naming the far end's SDP."""
    from lsdlab import UASCallChannel

    ch = UASCallChannel()
    with sipp_answer(tmp_path, media) as uri:
        for _ in range(20):  # sipp needs a moment to bind its port
            st = ch.call(uri, seconds_timeout=5)
            if ch.Details.raw_cause:
                break
        assert st == ch.State.IDLE
        assert ch.State.ANSWERED not in ch.Details.states
        assert ch.cause() == ch.Cause.FAILED
        assert ch.Details.raw_cause == raw
        assert "m=audio" in ch.Details.local_reason and "no audio we can use" in ch.Details.local_reason


def test_answer_without_rtp_is_a_dead_line(tmp_path):
    """sipp answers PCMA and never sends RTP: no verdict on the made-up silence, and the call ends
    after rtp_timeout_s with cause OUTOFORDER."""
    from lsdlab import UASCallChannel

    ch = UASCallChannel(rtp_timeout_s=2.0)
    with sipp_answer(tmp_path, "pcma_no_rtp") as uri:
        for _ in range(20):
            t0 = time.monotonic()
            st = ch.call(uri, seconds_timeout=10, live_speaker_detect=ch.LiveSpeakerDetectionSettings.DEFAULT,
                         lsd_timeout_milliseconds=1000)
            if ch.State.ANSWERED in ch.Details.states:
                break
        assert st == ch.State.IDLE  # call() waited for a verdict that never came: the line died first
        assert 1.8 < time.monotonic() - t0 < 4
        assert ch.cause() == ch.Cause.OUTOFORDER
        assert ch.Details.far_end_type == ch.CallFarEndType.UNKNOWN
        assert ch.Details.raw_cause == "200"
        assert "no RTP" in ch.Details.local_reason and "rtp_timeout_s" in ch.Details.local_reason


def test_redirect_raw_cause_is_what_the_far_end_sent(tmp_path):
    from lsdlab import UASCallChannel

    ch = UASCallChannel()
    with sipp_reply(tmp_path, 302, "Moved Temporarily") as uri:
        for _ in range(20):
            st = ch.call(uri, seconds_timeout=5)
            if ch.Details.raw_cause:
                break
        assert st == ch.State.IDLE
        assert ch.Details.raw_cause == "302"
