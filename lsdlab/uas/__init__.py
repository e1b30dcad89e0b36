"""Real outbound calls: :class:`UASCallChannel` (the UAS call API on pjsua2).

Importing this package imports ``pjsua2`` only when a channel is created.
:class:`CallPool` runs many calls at once from worker processes (4 calls per process).
"""

from __future__ import annotations

from ._channel import Details, UASCallChannel
from ._enums import (
    CallFarEndType,
    Cause,
    Error,
    Hangup,
    LiveSpeakerDetectionSettings,
    PlayerCause,
    PlayerState,
    RecorderCause,
    RecorderState,
    State,
    cause_for_status,
)
from .pool import HOLD_MODES, CallJob, CallPool, CallResult

__all__ = [
    "UASCallChannel",
    "Details",
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
    "cause_for_status",
    "CallPool",
    "CallJob",
    "CallResult",
    "HOLD_MODES",
]
