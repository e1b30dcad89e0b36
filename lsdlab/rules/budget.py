"""The budget vocabulary of country rules: what a delay limit is measured from, and the
abandoned-call budget a detector is checked against.

A country profile (:mod:`lsdlab.rules.profiles`) states these; a settings file records the
budget its evidence was measured under; the metrics check decisions against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["DelayReference", "Budget"]


class DelayReference(str, Enum):
    """What a country's delay limit is measured from."""

    GREETING_END = "greeting_end"  # US: end of the person's completed greeting
    SPEECH_ONSET = "speech_onset"  # GB: the first sound of the person's speech
    ANSWER = "answer"  # CA: the moment the call is answered


@dataclass(frozen=True)
class Budget:
    """The abandoned-call budget and the inputs used to check it."""

    abandoned_rate_max: float
    dialer_drop_rate: float
    agent_connect_ms: int
    delay_limit_ms: int
    delay_reference: DelayReference

    @property
    def budget_left(self) -> float:
        """The share of live calls the detector may abandon: the maximum minus dialer drops."""
        return self.abandoned_rate_max - self.dialer_drop_rate

    def to_dict(self) -> dict:
        return {
            "abandoned_rate_max": self.abandoned_rate_max,
            "dialer_drop_rate": self.dialer_drop_rate,
            "agent_connect_ms": self.agent_connect_ms,
            "delay_limit_ms": self.delay_limit_ms,
            "delay_reference": self.delay_reference.value,
        }
