"""sipp (Debian sip-tester), a SIP peer nobody here wrote, as a UAS streaming raw A-law audio."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lsdlab.audio.g711 import alaw_encode

_ANSWER_TEMPLATE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="lsdlab uas {name}">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
{media}
]]></send>
  {ack}
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


def _answer(name: str, ack: str, media: str = "{media}") -> str:
    """A UAS that rings, answers with ``media`` as its SDP, takes the ACK with ``ack`` and ends
    on the caller's BYE."""
    return _ANSWER_TEMPLATE.replace("{name}", name).replace("{ack}", ack).replace("{media}", media)


UAS_XML = _answer("rtp_stream", '<recv request="ACK" crlf="true"><action><exec rtp_stream="{audio},1,8"/></action></recv>',
                  "m=audio [rtpstream_audio_port] RTP/AVP 8\na=rtpmap:8 PCMA/8000")


REPLY_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="lsdlab uas reply">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK"/>
</scenario>
"""


ANSWER_XML = _answer("answer without audio", '<recv request="ACK" crlf="true"/>')

#: SDP media sections of 200 OKs our channel cannot use, or can use but gets no RTP from.
ANSWER_MEDIA = {
    "g729_only": "m=audio [media_port] RTP/AVP 18\na=rtpmap:18 G729/8000",
    "port_0": "m=audio 0 RTP/AVP 8\na=rtpmap:8 PCMA/8000",
    "telephone_event_only": "m=audio [media_port] RTP/AVP 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15",
    "pcma_no_rtp": "m=audio [media_port] RTP/AVP 8\na=rtpmap:8 PCMA/8000",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def sipp_uas(tmp_path: Path, y: np.ndarray) -> Iterator[str]:
    """Run sipp answering one call and streaming ``y`` (8 kHz float) as PCMA; yields its URI."""
    audio = tmp_path / "far.alaw"
    audio.write_bytes(np.asarray(alaw_encode(y)).astype(np.uint8).tobytes())
    with _sipp(tmp_path, UAS_XML.format(audio=audio)) as uri:
        yield uri


@contextlib.contextmanager
def sipp_reply(tmp_path: Path, code: int, reason: str) -> Iterator[str]:
    """Run sipp answering one INVITE with the final response ``code reason``; yields its URI."""
    with _sipp(tmp_path, REPLY_XML.format(code=code, reason=reason)) as uri:
        yield uri


@contextlib.contextmanager
def sipp_answer(tmp_path: Path, media: str) -> Iterator[str]:
    """Run sipp answering one call with SDP ``ANSWER_MEDIA[media]`` and sending no RTP at all."""
    with _sipp(tmp_path, ANSWER_XML.format(media=ANSWER_MEDIA[media])) as uri:
        yield uri


@contextlib.contextmanager
def _sipp(tmp_path: Path, scenario: str) -> Iterator[str]:
    xml = tmp_path / "uas.xml"
    xml.write_text(scenario)
    port = free_port()
    p = subprocess.Popen(["sipp", "-sf", str(xml), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
                          "-m", "1", "-nostdin", "-trace_err", "-error_file", str(tmp_path / "err.log")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        yield f"sip:sipp@127.0.0.1:{port}"
    finally:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def call_until_answered(ch, uri: str, **kw):
    """sipp needs a moment to bind its port: retry the call a few times."""
    st = None
    for _ in range(20):
        st = ch.call(uri, **kw)
        if st == ch.State.ANSWERED:
            break
    return st
