"""Interop: sipp (a SIP peer nobody here wrote) as the far end streaming G.711 A-law audio."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _sipp import call_until_answered, sipp_reply, sipp_uas

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
