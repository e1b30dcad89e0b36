"""The SIP layer: the one pjsua2 endpoint of a process and the media bridge.

Both the caller (:mod:`lsdlab.uas`) and the simulated far end's answerer
(:mod:`lsdlab.farend.sip`) build on this package; they never import each other.
Importing it imports ``pjsua2`` (``import lsdlab`` alone does not).
"""

from __future__ import annotations

from .._extras import require as _require

_require("sip", "lsdlab's SIP layer (UASCallChannel, CallPool, SimulatedFarEnd)")

from ._endpoint import (  # noqa: E402
    CODEC_API_NAME,
    CODECS,
    EndpointSettings,
    SipEndpoint,
    current_endpoint,
    get_endpoint,
    parse_codecs,
    pj_error_text,
    register_thread,
    shutdown_endpoint,
)
from ._media import (  # noqa: E402
    CLOCK_GATE,
    FRAME_SAMPLES,
    ClockGate,
    FrameSink,
    FrameSource,
    PortPool,
    audio_format,
    retire_port,
    verify_fast_frames,
)

__all__ = [
    "CODECS",
    "CODEC_API_NAME",
    "EndpointSettings",
    "SipEndpoint",
    "current_endpoint",
    "get_endpoint",
    "parse_codecs",
    "pj_error_text",
    "register_thread",
    "shutdown_endpoint",
    "FRAME_SAMPLES",
    "FrameSink",
    "FrameSource",
    "audio_format",
    "PortPool",
    "retire_port",
    "ClockGate",
    "CLOCK_GATE",
    "verify_fast_frames",
]
