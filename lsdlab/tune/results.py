"""What the tuner found: the result, its figures in plain words, and why nothing was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._format import format_settings
from ..corpus import Corpus
from ..evaluation.metrics import (
    Compliance,
    Figures,
    _figures_warning,
    humans_needed,
    upper_bound,
)
from ..evaluation.pareto import TrialRecord, pareto_front
from ..rules import Profile
from .scoring import _EPS, Score

__all__ = ["TuneResult", "infeasible_message"]


@dataclass
class TuneResult:
    """What :func:`tune` found.

    Attributes
    ----------
    feasible : bool
        True when ``best`` holds the budget on the tuning corpus (with the margins) AND the
        streaming evidence on the evidence corpus passes every rule. Only then may it be exported.
    best : Score
        The chosen setting scored on the tuning corpus (the best found even when infeasible).
    evidence : Compliance or None
        The streaming detector's figures on the evidence corpus (None when not measured).
    message : str
        A plain statement of the outcome (why it failed, when it did).
    pareto_fp, pareto_time : list of TrialRecord
        Non-dominated trials: detection recall against the human false-positive rate, and
        against the machines' median decision time.
    """

    feasible: bool
    best: Score
    evidence: Compliance | None
    evidence_corpus: Corpus | None
    tuning_corpus: Corpus
    profile: Profile
    backend: str
    dialer_drop_rate: float
    agent_connect_ms: int
    margin_logit: float
    margin_ms: int
    seed: int
    n_trials: int
    trials: list[TrialRecord]
    best_trial: int | None
    message: str
    study: Any = field(default=None, repr=False)
    replay_matches_stream: bool | None = None
    dialer_drop_rate_given: bool = True
    trial_batch: int = 1

    @property
    def warnings(self) -> list[str]:
        """What a user must not miss even when the budget holds, in plain words (empty when none).

        Settings that detect (almost) no machines (machine recall below
        :data:`~lsdlab.evaluation.metrics.LOW_MACHINE_RECALL` on the evidence, or on the tuning
        corpus when no evidence was measured), and a dialer drop rate assumed rather than given.
        """
        out = []
        w = _figures_warning(self.compliance.figures, self.profile.code)
        if w is not None:
            out.append(w)
        if not self.dialer_drop_rate_given:
            out.append(
                f"the dialer's own drops are an assumption, {_pct(self.dialer_drop_rate)} of live calls (--dialer-drop-rate "
                f"was not given), so the detector was given the whole {_pct(self.profile.budget_rate_max)} budget. Calls your "
                f"dialer abandons because no agent is free count against the same budget: give the measured rate."
            )
        return out

    @property
    def settings(self):
        """The chosen detector settings (DetectorSettings or AmdSettings)."""
        return self.best.settings

    @property
    def compliance(self) -> Compliance:
        """The evidence's compliance when measured, else the tuning corpus's."""
        return self.evidence if self.evidence is not None else self.best.compliance

    @property
    def pareto_fp(self) -> list[TrialRecord]:
        """The front of the trials within budget: recall against the human false-positive rate."""
        return pareto_front(self.trials, "human_false_positive_rate", feasible_only=True)

    @property
    def pareto_time(self) -> list[TrialRecord]:
        """The front of the trials within budget: recall against the machines' median decision time."""
        return pareto_front(self.trials, "machine_p50_s", feasible_only=True)

    def summary(self) -> str:
        """Human-readable lines: the outcome, the settings and the Pareto fronts."""
        lines = [self.message]
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines.append("")
        s = self.settings
        lines.append("settings: " + format_settings(s.to_dict(), skip=("backend",)))  # rounded for reading; the file keeps every digit
        for title, key, fmt in (("machines + faxes detected vs human false-positive rate", "human_false_positive_rate", _pct),
                                ("machines + faxes detected vs median machine decision time", "machine_p50_s", _sec)):
            front = pareto_front(self.trials, key, feasible_only=True)
            lines += ["", f"Pareto front of the {sum(t.feasible for t in self.trials)} settings within budget ({title}):"]
            if not front:
                lines.append("  (none)")
            for t in front:
                lines.append(f"  {'>' if t.number == self.best_trial else ' '} trial {t.number:>4}: machines {_pct(t.machine_recall):>6}  "
                             f"faxes {_pct(t.fax_recall):>6}  {key} {fmt(getattr(t, key)):>7}  "
                             f"abandoned upper95 {_pct(t.abandoned_upper95):>7}")
        return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _recalls(f: Figures) -> str:
    """Machine and fax recall, each with its count: never one figure for both."""
    def one(label: str, r: float | None) -> str:
        n, name = f.counts[label], {"machine": "machines", "fax": "faxes"}[label]
        return f"{name} {_pct(r)} ({f.confusion[label][label]}/{n})" if n else f"{name} n/a (no {label} calls)"
    return one("machine", f.machine_recall) + " and " + one("fax", f.fax_recall)


def _sec(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f} s"


def _record(number: int, params: dict, sc: Score) -> TrialRecord:
    f = sc.figures
    return TrialRecord(
        number=number,
        params=params,
        detect_recall=sc.detect_recall,
        machine_recall=f.machine_recall,
        fax_recall=f.fax_recall,
        human_false_positive_rate=f.human_false_positive_rate,
        human_late_rate=f.human_late_rate,
        abandoned_upper95=sc.abandoned_upper95,
        stressed_upper95=sc.stressed_upper95,
        machine_p50_s=sc.machine_p50_s,
        feasible=sc.feasible,
    )


def infeasible_message(sc: Score, profile: Profile, *, n_trials: int, dialer_drop_rate: float, where: str = "the tuning corpus",
                       margin_logit: float = 0.0, margin_ms: int = 0, drop_assumed: bool = False) -> str:
    """Plain words: no setting met the budget; the best one's figures; whether the corpus is too small."""
    f = sc.figures
    comp = sc.compliance
    left = comp.budget_left
    n_h = f.counts["human"]
    lines = [
        f"NO SETTING MEETS THE {profile.code} BUDGET on {where} ({n_trials} trials): {profile.code} allows "
        f"{_pct(profile.budget_rate_max)} abandoned live calls; minus the dialer's own drops {_pct(dialer_drop_rate)}"
        + (" (assumed: --dialer-drop-rate not given)" if drop_assumed else "") + " "
        f"leaves {_pct(left)} for the detector (upper end of the one-sided 95% bound)."
    ]
    if left <= _EPS:
        lines.append("The dialer's own drop rate uses the whole budget: lower --dialer-drop-rate.")
    else:
        floor = upper_bound(0, n_h) if n_h else 1.0
        need0 = humans_needed(left)
        if n_h == 0:
            lines.append("The corpus has no human calls, so nothing bounds the abandoned rate: add recordings of live answers.")
        elif floor > left + _EPS:
            lines.append(
                f"The statistical floor makes it impossible with this corpus: it has {n_h} human calls, and even with 0 "
                f"abandoned the 95% upper bound is {_pct(floor)} (about 3/{n_h}), above the {_pct(left)} left. "
                f"At least {need0} human calls are needed (with 0 abandoned); add human calls to the corpus "
                f"(or give a larger --evidence-corpus)."
            )
        elif f.human_abandoned_rate is not None and f.human_abandoned_rate > left + _EPS:
            lines.append(
                f"The best setting abandons {f.human_abandoned} of {n_h} people ({_pct(f.human_abandoned_rate)}): the "
                f"measured rate alone is over the {_pct(left)} left, so more evidence would not help; the detector "
                f"cannot separate these people from machines quickly enough on this corpus."
            )
        elif f.human_abandoned > 0:
            need = humans_needed(left, abandoned=f.human_abandoned)
            lines.append(
                f"With {f.human_abandoned} of {n_h} people abandoned the bound is {_pct(sc.abandoned_upper95)}; "
                f"the budget would need at least {need} human calls at that count, or fewer abandoned."
            )
    best = format_settings(sc.settings.to_dict(), skip=("backend",))
    lines.append(
        f"Best found: {best}. Its figures: {_recalls(f)}; people called machine/fax "
        f"{f.human_false_positives}/{n_h}, late {f.human_late}/{n_h} (after {f.delay_limit_ms} ms from "
        f"{f.delay_reference.value} with {f.agent_connect_ms} ms agent connect); abandoned upper95 "
        f"{_pct(sc.abandoned_upper95)}"
        + (f", under the safety margins (machine thresholds {margin_logit:g} lower in log-odds, decisions {margin_ms} ms later) {_pct(sc.stressed_upper95)}"
           if sc.stressed is not None else "")
        + f" vs {_pct(left)} left. Nothing was written."
    )
    return "\n".join(lines)
