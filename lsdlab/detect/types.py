"""The closed vocabulary of detection: far-end types, reasons, timer modes, events.

Every event carries ``at_s``: its time on the audio timeline, in seconds from the moment
the call connected (samples pushed / 8000), never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "FarEndType",
    "Reason",
    "TimerMode",
    "Event",
    "SpeechOnset",
    "GreetingEnd",
    "AnswerDetected",
    "Beep",
    "Tone",
    "MachineReady",
    "Verdict",
    "DECISION_NAMES",
    "DECISIONS",
]


class FarEndType(str, Enum):
    """What answered (the values of the UAS API's ``CallFarEndType``)."""

    LIVE = "LIVE"
    ANSWER_MACHINE = "ANSWER_MACHINE"
    FAX_MACHINE = "FAX_MACHINE"
    UNKNOWN = "UNKNOWN"


#: Short names used in decisions files and corpora labels.
DECISION_NAMES = {
    FarEndType.LIVE: "human",
    FarEndType.ANSWER_MACHINE: "machine",
    FarEndType.FAX_MACHINE: "fax",
    FarEndType.UNKNOWN: "unknown",
}
#: The decisions as evaluations and settings files name them (confusion-matrix columns, in order).
DECISIONS: tuple[str, ...] = tuple(DECISION_NAMES.values())


class Reason(str, Enum):
    """Why a verdict was reached."""

    SHORT_GREETING = "SHORT_GREETING"  # short utterance then end-of-turn silence: a person
    LONG_GREETING = "LONG_GREETING"  # continuous speech too long for a person's hello
    MANY_WORDS = "MANY_WORDS"  # many bursts of speech without pausing for a reply
    MODEL = "MODEL"  # the model's probability crossed a threshold
    BEEP = "BEEP"  # an answering-machine beep was heard
    FAX_CNG = "FAX_CNG"  # 1100 Hz calling tone
    FAX_CED = "FAX_CED"  # 2100 Hz answer tone
    FAX_V21 = "FAX_V21"  # V.21 HDLC preamble (1650/1850 Hz FSK)
    SIT = "SIT"  # special information tone (intercept, no circuit, ...)
    INITIAL_SILENCE = "INITIAL_SILENCE"  # nothing said since the pick-up
    TIMEOUT = "TIMEOUT"  # the LSD timeout elapsed without a decision
    HANGUP = "HANGUP"  # the audio ended (call gone) before a decision
    # app_amd backend causes
    AMD_INITIAL_SILENCE = "AMD_INITIAL_SILENCE"
    AMD_HUMAN = "AMD_HUMAN"
    AMD_LONG_GREETING = "AMD_LONG_GREETING"
    AMD_MAX_WORDS = "AMD_MAX_WORDS"
    AMD_MAX_WORD_LENGTH = "AMD_MAX_WORD_LENGTH"
    AMD_TOO_LONG = "AMD_TOO_LONG"


class TimerMode(str, Enum):
    """When the LSD timeout starts (the UAS API's ``LiveSpeakerDetectionSettings``)."""

    TIMEOUT_FROM_NETWORK_CONNECT = "TIMEOUT_FROM_NETWORK_CONNECT"
    TIMEOUT_FROM_ANSWER_DETECT = "TIMEOUT_FROM_ANSWER_DETECT"


@dataclass(frozen=True)
class Event:
    """Base of every detector event."""

    at_s: float


@dataclass(frozen=True)
class SpeechOnset(Event):
    """First sound of speech after the pick-up (the GB 2-second clock starts here)."""


@dataclass(frozen=True)
class GreetingEnd(Event):
    """End of the first greeting (last speech before the end-of-turn silence)."""


@dataclass(frozen=True)
class AnswerDetected(Event):
    """The pick-up, after in-band ringback (TIMEOUT_FROM_ANSWER_DETECT starts its timer here)."""


@dataclass(frozen=True)
class Tone(Event):
    """A recognised tone: kind is 'cng', 'ced', 'v21', 'sit', 'ringback'."""

    kind: str
    frequency_hz: float
    duration_s: float


@dataclass(frozen=True)
class Beep(Event):
    """An answering machine's end-of-greeting beep (``at_s`` is its start)."""

    frequency_hz: float
    duration_s: float


@dataclass(frozen=True)
class MachineReady(Event):
    """The answering machine is ready to record (after beep + silence, or long silence)."""

    after_beep: bool


@dataclass(frozen=True)
class Verdict(Event):
    """The one classification of the far end, raised exactly once per call.

    ``decided_at_s`` equals ``at_s``: the audio time at which the decision was made.
    """

    far_end_type: FarEndType
    reason: Reason
    confidence: float

    @property
    def decided_at_s(self) -> float:
        return self.at_s

    @property
    def decision(self) -> str:
        """'human', 'machine', 'fax' or 'unknown'."""
        return DECISION_NAMES[self.far_end_type]
