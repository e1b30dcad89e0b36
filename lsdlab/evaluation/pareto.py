"""The tuner's trials as figures, and their Pareto front.

A :class:`TrialRecord` is one candidate setting's figures on the tuning corpus (one point of
the Pareto plots); :func:`pareto_front` keeps the trials no other beats on both recall and a
cost. Plots and reports draw these without importing the tuner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._validation import check_choice

__all__ = ["TrialRecord", "RECALLS", "pareto_front"]


@dataclass(frozen=True)
class TrialRecord:
    """One trial's figures (one point of the Pareto plots)."""

    number: int
    params: dict
    detect_recall: float
    machine_recall: float | None
    fax_recall: float | None
    human_false_positive_rate: float | None
    human_late_rate: float | None
    abandoned_upper95: float
    stressed_upper95: float
    machine_p50_s: float | None
    feasible: bool

    def to_dict(self) -> dict:
        def r6(v):
            return (None if v is None else round(float(v), 6))
        return {
            "number": self.number,
            "params": dict(self.params),
            "detect_recall": r6(self.detect_recall),
            "machine_recall": r6(self.machine_recall),
            "fax_recall": r6(self.fax_recall),
            "human_false_positive_rate": r6(self.human_false_positive_rate),
            "human_late_rate": r6(self.human_late_rate),
            "abandoned_upper95": r6(self.abandoned_upper95),
            "stressed_upper95": r6(self.stressed_upper95),
            "machine_p50_s": r6(self.machine_p50_s),
            "feasible": self.feasible,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TrialRecord:
        return cls(**d)


RECALLS = ("detect_recall", "machine_recall", "fax_recall")


def pareto_front(trials: Sequence[TrialRecord], key: str, *, feasible_only: bool = False,
                 recall: str = "detect_recall") -> list[TrialRecord]:
    """Trials not dominated on (higher ``recall``, lower ``key``), sorted by ``key``.

    ``recall``: ``"detect_recall"`` (machines and faxes together: the tuner's objective),
    ``"machine_recall"`` or ``"fax_recall"``. Trials whose ``key`` or ``recall`` is None are
    left out (and those over budget with ``feasible_only``); of equal points the earliest
    trial is kept.
    """
    check_choice(recall, "recall", "pareto_front", RECALLS)
    pts = [t for t in trials if getattr(t, key) is not None and getattr(t, recall) is not None
           and (t.feasible or not feasible_only)]
    pts.sort(key=lambda t: (getattr(t, key), -getattr(t, recall), t.number))
    front: list[TrialRecord] = []
    best = -1.0
    for t in pts:
        if getattr(t, recall) > best + 1e-12:
            front.append(t)
            best = getattr(t, recall)
    return front
