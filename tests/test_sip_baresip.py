"""Interop: baresip (Debian baresip 1.0.0), a softphone nobody here wrote, as a second real SIP peer.

Over 127.0.0.1, both directions: UASCallChannel -> baresip auto-answering with a greeting
(verdicts as offline, DTMF both ways, the message after the beep, BYE from either side), and
baresip -> ``lsdlab farend serve`` (what baresip hears is sample-exact; the far end's BYE).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from _baresip import baresip, why_not
from _sipp import free_port

from lsdlab.audio.g711 import codec_roundtrip
from lsdlab.audio.io import load
from lsdlab.audio.tones import beep
from lsdlab.detect import DetectorSettings, TimerMode, classify

pytestmark = [pytest.mark.sip, pytest.mark.timeout(90),
              pytest.mark.skipif(bool(why_not()), reason=why_not() or "baresip usable")]

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"
# Decision times agree within 60 ms once the call's start delay (audio_start_ms) is taken off,
# as in tests/test_sip_lsd.py; measured on human-002 over PCMA: 20-40 ms (40-60 ms without
# the start delay taken off, with or without RTP supervision).
TOL_S = 0.06


def _demo(path: str) -> np.ndarray:
    y, _ = load(DEMO / path, sr=8000)
    return y


def _speech_like(dur_s: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(8000 * dur_s)) / 8000
    carrier = np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t) + 0.1 * rng.standard_normal(len(t))
    return (0.25 * carrier * 0.5 * (1 + np.sin(2 * np.pi * 3.5 * t - np.pi / 2))).astype(np.float32)


@pytest.fixture
def ch():
    from lsdlab import UASCallChannel

    c = UASCallChannel(rtp_timeout_s=3.0)
    yield c
    c.hang_up()


@pytest.mark.parametrize(("path", "codec"), [("human/human-002.wav", "g711a"), ("human/human-002.wav", "g711u"),
                                           ("fax/fax-002.wav", "g711a"), ("fax/fax-001.wav", "g711u")])
def test_verdict_same_as_offline(tmp_path, ch, path, codec):
    """baresip plays a demo greeting: the live verdict is the offline one, within 30 ms."""
    y = _demo(path)
    offline = classify(codec_roundtrip(y, {"g711a": "alaw", "g711u": "ulaw"}[codec]), 8000,
                       DetectorSettings(timeout_ms=7000, timer_mode=TimerMode.TIMEOUT_FROM_NETWORK_CONNECT))
    with baresip(tmp_path, free_port(), greeting=y) as b:
        st = ch.call(b.uri, codecs=codec, seconds_timeout=15,
                     live_speaker_detect=ch.LiveSpeakerDetectionSettings.DEFAULT, lsd_timeout_milliseconds=7000)
        assert st == ch.State.ANSWERED, b.log
        assert ch.Details.codec == codec
        assert ch.Details.far_end_type == offline.far_end_type
        assert ch.Details.lsd_reason == offline.reason
        ch.hang_up()  # Details.audio_start_ms is known once the call's audio ended
        start_s = ch.Details.audio_start_ms / 1000.0  # baresip's audio comes ~20 ms after the answer
        assert abs(ch.Details.lsd_decided_at_s - start_s - offline.decided_at_s) <= TOL_S


def test_dtmf_end_packets_sent_before_play_returns(tmp_path, ch):
    """DTMFPlayer.play then an immediate hang_up: baresip saw every digit's end packet (the
    last digit's end event was lost before)."""
    with baresip(tmp_path, free_port()) as b:
        assert ch.call(b.uri, seconds_timeout=10) == ch.State.ANSWERED
        assert ch.DTMFPlayer.play("123#")
        ch.hang_up()
        assert b.wait_closed(5), b.log
        ends = re.findall(r"received event: '(.)' \(end=1\)", b.log)
        assert "".join(ends) == "123#", b.log


def test_sub_second_call_seen_closed(tmp_path, ch):
    """A call hung up at once: baresip prints no 'terminated' summary for calls under a second
    (the DTMF test above failed on that in CI), yet ``wait_closed`` sees the call end."""
    with baresip(tmp_path, free_port()) as b:
        time.sleep(1.02 - time.time() % 1)  # start just after a wall-clock second ticks
        t0 = time.time()
        assert ch.call(b.uri, seconds_timeout=10) == ch.State.ANSWERED
        ch.hang_up()
        t1 = time.time()
        assert b.wait_closed(5), b.log
        if int(t0) == int(t1):  # baresip's call_duration is time(NULL) - start: 0 here
            time.sleep(0.3)
            assert "terminated" not in b.log, b.log


def test_dtmf_from_baresip(tmp_path, ch):
    with baresip(tmp_path, free_port()) as b:
        assert ch.call(b.uri, seconds_timeout=10) == ch.State.ANSWERED
        for d in "4711#":  # one key press each (a held key is one digit on baresip's console)
            time.sleep(0.3)
            b.send(d)
        assert ch.DTMFDetector.get_digits(end="#", seconds_timeout=8) == "4711#"


def test_bye_from_baresip(tmp_path, ch):
    with baresip(tmp_path, free_port()) as b:
        assert ch.call(b.uri, seconds_timeout=10) == ch.State.ANSWERED
        time.sleep(0.3)
        b.send("/hangup\n")
        assert ch.wait_for_idle(5), b.log
        assert ch.cause() == ch.Cause.NORMAL
        assert ch.Details.raw_cause == "200"
        assert ch.Details.local_reason == ""  # the far end ended it


def test_message_after_the_beep(tmp_path, ch):
    """A machine greeting with a beep: wait_for_answer_machine, then our message reaches baresip."""
    z = lambda s: np.zeros(int(8000 * s), np.float32)  # noqa: E731
    greeting = np.concatenate([z(0.3), _speech_like(3.0, 1), z(0.3), beep(1000, 0.5), z(8.0)]).astype(np.float32)
    t = np.arange(8000) / 8000
    message = (0.3 * np.sin(2 * np.pi * 700 * t)).astype(np.float32)
    msg_wav = tmp_path / "message.wav"
    from lsdlab.audio.io import save_wav

    save_wav(msg_wav, message, subtype="PCM_16")
    with baresip(tmp_path, free_port(), greeting=greeting) as b:
        assert ch.call(b.uri, seconds_timeout=10) == ch.State.ANSWERED
        assert ch.wait_for_answer_machine(seconds_timeout=12) is True
        assert ch.FilePlayer.play(msg_wav)
        ch.hang_up()
        assert b.wait_closed(5)
        time.sleep(0.3)
        heard, _ = load(b.recordings()[-1], sr=8000)
    tail = heard[int(8000 * 4.6):]  # after the greeting and the beep
    spec = np.abs(np.fft.rfft(tail))
    assert abs(np.fft.rfftfreq(len(tail), 1 / 8000)[np.argmax(spec)] - 700) < 5
    n = len(tail) // 160
    loud = np.sqrt(np.mean(tail[: n * 160].reshape(n, 160) ** 2, axis=1)) > 0.1
    assert loud.sum() * 0.02 > 0.95  # the whole 1 s message arrived


def test_baresip_calls_farend_serve_sample_exact(tmp_path):
    """baresip dials `lsdlab farend serve`: what it hears is the recording, sample for sample
    (over G.711 mu-law, the law the recording was coded in, as tests/test_sip_lsd.py does:
    re-coding it as A-law changes samples), and the far end's BYE ends baresip's call."""
    import subprocess
    import sys

    from lsdlab.farend import OfflineFarEnd

    path = "human/human-002.wav"
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "lsdlab", "farend", "serve", str(DEMO), "--port", str(port),
                              "--after", "hangup", "--seconds", "60"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()  # 'far end listening on ...' once it answers
        assert "listening" in first, first
        user = "human-002;after=hangup"  # a manifest row id; no channel keys: played as it is
        with baresip(tmp_path, free_port(), answer=False, codecs="PCMU") as b:
            b.send(f"/dial sip:{user}@127.0.0.1:{port}\n")
            assert b.wait_for(r"Call established", 10), b.log
            assert b.wait_closed(30), b.log  # the far end hangs up after the recording
            time.sleep(0.3)
            (rec,) = b.recordings()
            heard, _ = load(rec, sr=8000)
    finally:
        serve.terminate()
        serve.wait(10)
    want = codec_roundtrip(OfflineFarEnd(DEMO, channel=None).audio(path), "ulaw")
    # where the recording starts in what baresip heard: the loudest 100 ms of it, matched
    k = int(np.argmax(np.convolve(want**2, np.ones(800), mode="valid")))
    corr = np.correlate(heard, want[k: k + 800], mode="valid")
    off = int(np.argmax(corr)) - k
    assert 0 <= off and off + len(want) <= len(heard), (off, len(heard), len(want))
    got = heard[off: off + len(want)]
    # baresip's mu-law table decodes the code of zero as 2/32768 (pjmedia and we say 0): so
    # compare the mu-law codes on the wire, and the samples everywhere else
    from lsdlab.audio.g711 import ulaw_encode

    np.testing.assert_array_equal(ulaw_encode(got), ulaw_encode(want))
    nz = want != 0
    np.testing.assert_array_equal(got[nz], want[nz])
    assert np.all(np.abs(got[~nz]) <= 2 / 32768)
