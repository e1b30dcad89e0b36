"""The closed vocabularies of the UAS call API (member names exactly as in uas-api.md)."""

from __future__ import annotations

from enum import Enum

from ..detect.types import FarEndType
from ..errors import LsdlabError

__all__ = [
    "State",
    "Cause",
    "CallFarEndType",
    "LiveSpeakerDetectionSettings",
    "PlayerState",
    "PlayerCause",
    "RecorderState",
    "RecorderCause",
    "Error",
    "Hangup",
]

#: What answered: LIVE, ANSWER_MACHINE, FAX_MACHINE, UNKNOWN (the detector's FarEndType).
CallFarEndType = FarEndType


class State(str, Enum):
    """Channel states. Outbound: IDLE -> CALL_OUTGOING -> RING_OUTGOING -> ANSWERED -> IDLE."""

    WAITING = "WAITING"
    CALL_INCOMING = "CALL_INCOMING"
    RING_INCOMING = "RING_INCOMING"
    ANSWERING = "ANSWERING"
    ANSWERED = "ANSWERED"
    CALL_OUTGOING = "CALL_OUTGOING"
    RING_OUTGOING = "RING_OUTGOING"
    HOLDING = "HOLDING"
    ON_HOLD = "ON_HOLD"
    TRANSFERRING = "TRANSFERRING"
    TRANSFERRED = "TRANSFERRED"
    RECONNECTING = "RECONNECTING"
    ERROR = "ERROR"
    IDLE = "IDLE"


class Cause(str, Enum):
    """Why a call ended (``NORMAL`` while a call is up)."""

    TIMEOUT = "TIMEOUT"
    ERROR = "ERROR"
    NORMAL = "NORMAL"
    BUSY = "BUSY"
    NOANSWER = "NOANSWER"
    UNOBTAINABLE = "UNOBTAINABLE"
    CHANGED = "CHANGED"
    OUTOFORDER = "OUTOFORDER"
    BARRED = "BARRED"
    REJECTED = "REJECTED"
    NOCHANNELS = "NOCHANNELS"
    CONGESTION = "CONGESTION"
    FAILED = "FAILED"
    OTHER = "OTHER"


class LiveSpeakerDetectionSettings(str, Enum):
    """When the ``lsd_timeout_milliseconds`` timer starts."""

    DEFAULT = "DEFAULT"  # = TIMEOUT_FROM_NETWORK_CONNECT
    TIMEOUT_FROM_NETWORK_CONNECT = "TIMEOUT_FROM_NETWORK_CONNECT"
    TIMEOUT_FROM_ANSWER_DETECT = "TIMEOUT_FROM_ANSWER_DETECT"


class PlayerState(str, Enum):
    PLAYING = "PLAYING"
    IDLE = "IDLE"
    ERROR = "ERROR"


class PlayerCause(str, Enum):
    ERROR = "ERROR"
    NORMAL = "NORMAL"
    BARGEIN = "BARGEIN"
    ABORTED = "ABORTED"
    HANGUP = "HANGUP"
    TIMEOUT = "TIMEOUT"
    NONE = "NONE"


class RecorderState(str, Enum):
    RECORDING = "RECORDING"
    IDLE = "IDLE"
    ERROR = "ERROR"


class RecorderCause(str, Enum):
    ERROR = "ERROR"
    BARGEIN = "BARGEIN"
    SILENCE = "SILENCE"
    SIZE = "SIZE"
    ABORTED = "ABORTED"
    HANGUP = "HANGUP"
    TIMEOUT = "TIMEOUT"
    NONE = "NONE"


class Error(LsdlabError):
    """Misuse of a call channel (e.g. a method called in the wrong state)."""


class Hangup(LsdlabError):
    """The far end is gone (the channel is IDLE)."""


#: SIP final status -> Cause (408 and 487 are decided by context).
SIP_CAUSES = {
    486: Cause.BUSY, 600: Cause.BUSY,
    480: Cause.NOANSWER,
    404: Cause.UNOBTAINABLE, 484: Cause.UNOBTAINABLE, 485: Cause.UNOBTAINABLE, 604: Cause.UNOBTAINABLE,
    410: Cause.CHANGED,
    403: Cause.BARRED,
    603: Cause.REJECTED,
    503: Cause.CONGESTION,
    502: Cause.OUTOFORDER,
    500: Cause.FAILED, 488: Cause.FAILED, 606: Cause.FAILED,
}


def cause_for_status(code: int, *, rang: bool) -> Cause:
    """The Cause of a call that ended with SIP status ``code`` (before being answered)."""
    if code in SIP_CAUSES:
        return SIP_CAUSES[code]
    if code == 408:
        return Cause.NOANSWER if rang else Cause.TIMEOUT
    if 200 <= code < 300:
        return Cause.NORMAL
    if 400 <= code < 700:
        return Cause.FAILED
    return Cause.OTHER
