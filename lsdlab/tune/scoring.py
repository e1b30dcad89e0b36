"""Scoring: one candidate setting's decisions checked against a country's budget, nominally
and under the safety margins (the tuner's inner loop, milliseconds per trial from traces)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_int_range, check_real_range
from ..corpus import Call, Corpus
from ..detect import CallTrace, DetectorSettings
from ..errors import ParameterError
from ..evaluation.metrics import (
    Compliance,
    compliance,
)
from ..rules import Profile

__all__ = ["Score", "score", "score_decisions"]

_EPS = 1e-12


@dataclass(frozen=True)
class Score:
    """One setting scored on a corpus (see :func:`score`).

    ``compliance`` is the nominal check (exact settings, the given agent connect time);
    ``stressed`` the same under the safety margins. ``feasible``: both within the budget.
    """

    settings: Any
    compliance: Compliance
    stressed: Compliance | None
    decisions: tuple = field(repr=False)

    @property
    def figures(self):
        return self.compliance.figures

    @property
    def detect_recall(self) -> float:
        """Machines and faxes decided as such, over all machine and fax calls (0 if none)."""
        f = self.figures
        n = f.counts["machine"] + f.counts["fax"]
        if n == 0:
            return 0.0
        return (f.confusion["machine"]["machine"] + f.confusion["fax"]["fax"]) / n

    @property
    def abandoned_upper95(self) -> float:
        return self.figures.human_abandoned_upper95

    @property
    def stressed_upper95(self) -> float:
        return self.abandoned_upper95 if self.stressed is None else self.stressed.figures.human_abandoned_upper95

    @property
    def constraint(self) -> float:
        """<= 0 when feasible: the worse upper bound (nominal or stressed) minus the budget left."""
        return max(self.abandoned_upper95, self.stressed_upper95) - self.compliance.budget_left

    @property
    def feasible(self) -> bool:
        f = self.figures
        return f.counts["human"] > 0 and self.compliance.budget_left > _EPS and self.constraint <= _EPS

    @property
    def machine_p50_s(self) -> float | None:
        """Median decision time over the machine calls (s from connect)."""
        return self.figures.decision_time_s["machine"]["p50"]


def _lower_logit(p: float, m: float) -> float:
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    z = math.log(p / (1.0 - p)) - m
    return 1.0 / (1.0 + math.exp(-z))


def _stress_settings(settings: Any, margin_logit: float) -> Any:
    """The machine thresholds lowered by ``margin_logit`` in log-odds (0.95 -> 0.92 for 0.5)."""
    if margin_logit <= 0 or not isinstance(settings, DetectorSettings):
        return settings
    return settings.replace(
        machine_threshold=max(0.5, _lower_logit(settings.machine_threshold, margin_logit)),
        timeout_machine_threshold=max(0.0, _lower_logit(settings.timeout_machine_threshold, margin_logit)),
    )


def _check_score_args(dialer_drop_rate: Any, agent_connect_ms: Any, margin_logit: Any, margin_ms: Any, owner: str) -> None:
    check_real_range(dialer_drop_rate, "dialer_drop_rate", owner, 0.0, 1.0)
    check_int_range(agent_connect_ms, "agent_connect_ms", owner, 0, 10000)
    check_real_range(margin_logit, "margin_logit", owner, 0.0, 5.0)
    check_int_range(margin_ms, "margin_ms", owner, 0, 5000)


def score_decisions(decisions: Sequence, profile: Profile, *, settings: Any = None, stressed_decisions: Sequence | None = None,
                    dialer_drop_rate: float = 0.0, agent_connect_ms: int = 300, margin_ms: int = 0) -> Score:
    """Score already-made decisions (e.g. from AppAmdDetector runs) against ``profile``."""
    comp = compliance(decisions, profile, dialer_drop_rate=dialer_drop_rate, agent_connect_ms=agent_connect_ms)
    stressed = None
    sd = decisions if stressed_decisions is None else stressed_decisions
    if margin_ms > 0 or stressed_decisions is not None:
        stressed = compliance(sd, profile, dialer_drop_rate=dialer_drop_rate,
                              agent_connect_ms=min(10000, agent_connect_ms + margin_ms))
    return Score(settings=settings, compliance=comp, stressed=stressed, decisions=tuple(decisions))


def score(traces: Sequence[CallTrace], calls: Corpus | Sequence[Call], settings: DetectorSettings, profile: Profile, *,
          dialer_drop_rate: float = 0.0, agent_connect_ms: int = 300, margin_logit: float = 0.0,
          margin_ms: int = 0) -> Score:
    """Re-score one setting from cached traces (milliseconds; no audio is touched).

    Parameters
    ----------
    traces : sequence of CallTrace
        From :func:`load_traces` (same order as ``calls``).
    calls : Corpus or sequence of Call
        The labelled calls the traces belong to.
    settings : DetectorSettings
        The candidate (its trace-level fields must be those the traces were made with).
    profile : Profile
        The country's rules.
    dialer_drop_rate, agent_connect_ms
        The dialer's own abandoned share and its time to bridge an agent.
    margin_logit, margin_ms
        Safety margins for the stressed check (0: no stress check).

    Returns
    -------
    Score
        ``score(...).compliance.figures`` holds every figure; ``.feasible`` says whether the
        setting holds the budget (also under the margins).
    """
    from ..evaluation.runner import decisions_from_traces

    _check_score_args(dialer_drop_rate, agent_connect_ms, margin_logit, margin_ms, "score")
    if not isinstance(settings, DetectorSettings):
        raise ParameterError(f"The 'settings' parameter of score must be a DetectorSettings. Got {type(settings).__name__} instead.")
    calls = calls.calls if isinstance(calls, Corpus) else tuple(calls)
    if len(calls) != len(traces):
        raise ParameterError(f"score needs one trace per call: got {len(traces)} traces for {len(calls)} calls; trace the same corpus.")
    dec = decisions_from_traces(calls, traces, settings)
    sdec = None
    if margin_logit > 0:
        sdec = decisions_from_traces(calls, traces, _stress_settings(settings, margin_logit))
    return score_decisions(dec, profile, settings=settings, stressed_decisions=sdec, dialer_drop_rate=dialer_drop_rate,
                           agent_connect_ms=agent_connect_ms, margin_ms=margin_ms)
