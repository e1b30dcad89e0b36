"""Compliance metrics: from per-call decisions to the figures a regulator asks for.

Pure numpy. The input is one :class:`~lsdlab.evaluation.Decision` per call of a labelled corpus (its
true label, the detector's decision and when it was made, and the call's timing labels); the
output is :class:`Figures` (confusion matrix, rates with exact Clopper-Pearson bounds,
decision-time percentiles) and :class:`Compliance` (the figures checked against a country's
abandoned-call budget).

Definitions (all times in seconds from the moment the call connected):

* **human false positive**: a person decided ``machine`` or ``fax`` (the dialer hangs up).
* **late human**: a person decided ``human`` or ``unknown`` (both are put through to an agent)
  whose decision time plus the agent connect time lands strictly after
  ``reference + delay_limit``. The reference is the country's: ``greeting_end`` uses
  ``greeting_end_s``; ``speech_onset`` uses ``speech_onset_s``; ``answer`` uses ``answer_s``.
  A missing label falls back to the next *earlier* one that is present
  (greeting_end_s -> speech_onset_s -> answer_s -> 0.0, the connect): an earlier clock start
  can only overstate lateness, never hide it. Each fallback is counted in
  ``reference_fallbacks``.
* **abandoned human**: a false positive (when the country counts them) OR late. The two sets
  are disjoint by construction, so each person is counted once and
  ``abandoned_rate = false_positive_rate + late_rate`` (when false positives count).
* **missed within 2 s**: a person not decided ``human``/``unknown`` within 2 s of
  ``greeting_end_s`` (same fallback), independent of the agent connect time.
* **rates** are over all calls of the true class; with no such calls the rate is ``None``
  and the exact 95% interval is the uninformative [0, 1].
* **upper95** is the exact (Clopper-Pearson) one-sided 95% upper confidence bound: with 95%
  confidence the true rate is at most this (the interval [0, upper95]; the claim a regulator
  needs is one-sided: "no more than"). :func:`clopper_pearson` gives the two-sided interval
  (whose upper end is the 97.5% one-sided bound) for reports that want it. With 0 of n
  people abandoned, upper95 = 1 - 0.05 ** (1 / n), so a budget b needs at least
  ln(0.05) / ln(1 - b) people in the evidence corpus (:func:`humans_needed`): 149 for 2%,
  99 for 3%. In :meth:`Figures.to_dict` upper bounds are rounded *up* to 6 decimals, other
  floats to nearest.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..rules import Budget, DelayReference, Profile
from ..settingsfile import EVIDENCE_OPTIONAL_KEYS, EVIDENCE_REQUIRED_KEYS
from .decisions import DECISIONS, LABELS, CallDecision, Decision, reference_time

__all__ = [
    "LABELS",
    "DECISIONS",
    "CallDecision",
    "Figures",
    "RuleResult",
    "Compliance",
    "clopper_pearson",
    "upper_bound",
    "humans_needed",
    "as_decisions",
    "figures",
    "compliance",
    "compliance_for_budget",
    "evidence_dict",
    "LOW_MACHINE_RECALL",
    "rule_words",
    "machine_recall_warning",
]

#: Decisions that put the call through to an agent (the rest hang up).
_PASSED_TO_AGENT = ("human", "unknown")
_EPS = 1e-9  # seconds: comparisons of times tolerate float noise of this size
_MISSED_WINDOW_S = 2.0
#: Below this machine recall (machines decided ``machine`` over machine calls) tuned settings
#: are called what they are, fax detection only: ``lsdlab tune`` prints a WARNING line and
#: ``lsdlab report`` a warning box instead of a green "every rule passed".
LOW_MACHINE_RECALL = 0.05
_REFERENCE_WORDS = {
    DelayReference.SPEECH_ONSET: "from the start of speech",
    DelayReference.GREETING_END: "from the end of the person's greeting",
    DelayReference.ANSWER: "from the answer",
}


def _opt_time(v: Any, name: str, path: str) -> float | None:
    if v is None or (isinstance(v, str) and v.strip() == ""):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ParameterError(f"call {path!r}: {name} must be a number of seconds or empty. Got {v!r} instead.") from None
    if not math.isfinite(x) or x < 0:
        raise ParameterError(f"call {path!r}: {name} must be a finite time >= 0 s. Got {v!r} instead.")
    return x


def _opt_real(v: Any) -> float | None:
    """A confidence carried through as_decisions (a CSV cell is text; anything else: None)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def as_decisions(rows: Iterable[Any]) -> tuple[Decision, ...]:
    """Validate decisions given as :class:`~lsdlab.evaluation.Decision` objects or mappings (e.g. CSV rows).

    Labels and decisions may be strings or enums (``Label``, ``FarEndType``); raises
    :class:`ParameterError` naming the call and the field.
    """
    from ..detect.types import DECISION_NAMES, FarEndType

    out = []
    for i, row in enumerate(rows):
        get = (lambda k, r=row: r.get(k)) if isinstance(row, Mapping) else (lambda k, r=row: getattr(r, k, None))
        path = str(get("path") if get("path") is not None else f"#{i}")
        label = get("label")
        label = getattr(label, "value", label)
        if label not in LABELS:
            raise ParameterError(f"call {path!r}: label must be one of {list(LABELS)}. Got {label!r} instead.")
        decision = get("decision")
        if isinstance(decision, FarEndType):
            decision = DECISION_NAMES[decision]
        if decision not in DECISIONS:
            raise ParameterError(f"call {path!r}: decision must be one of {list(DECISIONS)}. Got {decision!r} instead.")
        at = _opt_time(get("decided_at_s"), "decided_at_s", path)
        if at is None:
            raise ParameterError(f"call {path!r}: decided_at_s is required (the audio time of the verdict).")
        reason = get("reason")
        out.append(
            Decision(
                path=path,
                label=label,
                decision=decision,
                decided_at_s=at,
                reason=reason if isinstance(reason, str) else "",
                confidence=_opt_real(get("confidence")),
                greeting_end_s=_opt_time(get("greeting_end_s"), "greeting_end_s", path),
                speech_onset_s=_opt_time(get("speech_onset_s"), "speech_onset_s", path),
                answer_s=_opt_time(get("answer_s"), "answer_s", path),
            )
        )
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _log_binomials(n: int) -> np.ndarray:
    """``log C(n, j)`` for j = 0..n (each from ``math.lgamma``, exact to a few ulps)."""
    lg = math.lgamma
    top = lg(n + 1)
    return np.array([top - lg(j + 1) - lg(n - j + 1) for j in range(n + 1)])


@functools.lru_cache(maxsize=4096)
def _beta_ppf(q: float, a: int, b: int) -> float:
    """``scipy.stats.beta.ppf(q, a, b)`` for 0 < q < 1 and integers a, b >= 1 (all that exact
    binomial bounds need), computed here with numpy.

    For integer parameters the regularized incomplete beta function is a binomial tail,
    ``I_x(a, b) = P(Binomial(a + b - 1, x) >= a)``; its inverse is found by bisection on x to
    the float's resolution (64 halvings). The tail is summed as a share of all n + 1 terms
    (each in log space, scaled by the largest), so it keeps its relative precision; the result
    equals scipy's ``beta.ppf`` to 1.5e-11 relative at worst over 6,700 (k, n) up to 10,000
    (the test suite holds 1e-10 and equal 6-decimal rounding; a = 1 or b = 1, the bound with
    no errors among n, has a closed form that gives scipy's float exactly), far inside the
    6 decimals :meth:`Figures.to_dict` keeps.

    Why not scipy: importing ``scipy.special`` (scipy 1.17) costs about 0.3 s of wall time
    and 0.4 s of CPU, the largest import left in ``lsdlab evaluate``/``regress``/``tune``
    and time no ``--jobs`` worker shares, to compute a handful of quantiles per run. Results
    are cached (the tuner asks for the same bounds trial after trial).
    """
    if not (isinstance(a, int) and isinstance(b, int) and a >= 1 and b >= 1 and 0.0 < q < 1.0):
        raise ParameterError(f"_beta_ppf needs integers a, b >= 1 and 0 < q < 1. Got q={q!r}, a={a!r}, b={b!r}.")
    if a == 1:  # I_x(1, b) = 1 - (1 - x)**b; written as scipy computes it (the same float, tested)
        return -math.expm1(math.log1p(-q) / b)
    if b == 1:  # I_x(a, 1) = x**a
        return q ** (1.0 / a)
    n = a + b - 1
    logc = _log_binomials(n)
    j = np.arange(n + 1, dtype=np.float64)
    rest = n - j
    lo, hi = 0.0, 1.0
    for _ in range(64):
        x = 0.5 * (lo + hi)
        if x <= lo or x >= hi:
            break
        t = logc + j * math.log(x) + rest * math.log1p(-x)
        w = np.exp(t - t.max())
        if w[a:].sum() / w.sum() < q:  # I_x(a, b) < q: the quantile lies above x
            lo = x
        else:
            hi = x
    return 0.5 * (lo + hi)


def _counts(k: Any, n: Any, confidence: Any, owner: str) -> tuple[int, int]:
    """``(k, n)`` as ints after checking 0 <= k <= n and 0 < confidence < 1 (errors name ``owner``)."""
    if isinstance(k, bool) or isinstance(n, bool) or not (0 <= int(k) <= int(n)):
        raise ParameterError(f"{owner} needs 0 <= k <= n. Got k={k!r}, n={n!r} instead.")
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"The 'confidence' parameter of {owner} must be in (0, 1). Got {confidence!r} instead.")
    return int(k), int(n)


def clopper_pearson(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for ``k`` successes in ``n`` trials.

    ``n == 0`` gives (0.0, 1.0): no evidence either way.

    Examples
    --------
    >>> lo, hi = clopper_pearson(0, 10)
    >>> round(hi, 4)  # 1 - 0.025 ** (1 / 10)
    0.3085
    """
    k, n = _counts(k, n, confidence, "clopper_pearson")
    if n == 0:
        return 0.0, 1.0
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else float(_beta_ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(_beta_ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def upper_bound(k: int, n: int, *, confidence: float = 0.95) -> float:
    """Exact (Clopper-Pearson) one-sided upper confidence bound on a rate, ``k`` of ``n``.

    ``n == 0`` or ``k == n`` gives 1.0.

    Examples
    --------
    >>> round(upper_bound(0, 100), 4)  # 1 - 0.05 ** (1 / 100)
    0.0295
    """
    k, n = _counts(k, n, confidence, "upper_bound")
    if n == 0 or k == n:
        return 1.0
    return float(_beta_ppf(confidence, k + 1, n - k))


def humans_needed(budget_left: float, *, abandoned: int = 0, confidence: float = 0.95) -> int | None:
    """Fewest live calls with ``abandoned`` of them abandoned whose upper bound fits the budget.

    None when the budget is not positive. Examples: 0.02 -> 149, 0.03 -> 99 (0 abandoned).
    """
    if not (isinstance(budget_left, Real) and math.isfinite(budget_left)) or budget_left <= 0:
        return None
    if budget_left >= 1:
        return max(1, int(abandoned) + 1)
    k = int(abandoned)
    lo = max(k + 1, 1)
    hi = lo
    while upper_bound(k, hi, confidence=confidence) > budget_left:
        lo, hi = hi, hi * 2
    while lo < hi:  # smallest n in (lo, hi] with bound <= budget (bound falls as n grows)
        mid = (lo + hi) // 2
        if upper_bound(k, mid, confidence=confidence) <= budget_left:
            hi = mid
        else:
            lo = mid + 1
    return hi


# --------------------------------------------------------------------------- figures


def _r6(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def _r6_up(x: float) -> float:
    r = round(float(x), 6)
    if r < x - 1e-15:
        r = round(r + 1e-6, 6)
    return r


@dataclass(frozen=True)
class Figures:
    """Measured figures over a set of calls (see the module docstring for definitions)."""

    calls: int
    counts: dict[str, int]
    confusion: dict[str, dict[str, int]]
    agent_connect_ms: int
    delay_limit_ms: int
    delay_reference: DelayReference
    count_false_positives: bool
    human_false_positives: int
    human_false_positive_rate: float | None
    human_false_positive_upper95: float
    human_late: int
    human_late_rate: float | None
    human_late_upper95: float
    human_abandoned: int
    human_abandoned_rate: float | None
    human_abandoned_upper95: float
    human_missed_2s: int
    human_missed_2s_rate: float | None
    machine_recall: float | None
    fax_recall: float | None
    silence_live_rate: float | None
    decision_time_s: dict[str, dict[str, float | None]]
    reference_fallbacks: int
    false_positive_paths: tuple[str, ...] = field(default=(), repr=False)
    late_paths: tuple[str, ...] = field(default=(), repr=False)
    missed_machine_paths: tuple[str, ...] = field(default=(), repr=False)

    @property
    def confusion_matrix(self) -> np.ndarray:
        """Rows: true labels (human, machine, fax, silence); columns: decisions (human, machine, fax, unknown)."""
        return np.array([[self.confusion[lab][dec] for dec in DECISIONS] for lab in LABELS], dtype=int)

    def to_dict(self) -> dict:
        """JSON-ready: floats rounded to 6 decimals (upper bounds rounded up)."""
        return {
            "calls": self.calls,
            "counts": dict(self.counts),
            "confusion": {lab: dict(row) for lab, row in self.confusion.items()},
            "agent_connect_ms": self.agent_connect_ms,
            "delay_limit_ms": self.delay_limit_ms,
            "delay_reference": self.delay_reference.value,
            "count_false_positives": self.count_false_positives,
            "human_false_positives": self.human_false_positives,
            "human_false_positive_rate": _r6(self.human_false_positive_rate),
            "human_false_positive_upper95": _r6_up(self.human_false_positive_upper95),
            "human_late": self.human_late,
            "human_late_rate": _r6(self.human_late_rate),
            "human_late_upper95": _r6_up(self.human_late_upper95),
            "human_abandoned": self.human_abandoned,
            "human_abandoned_rate": _r6(self.human_abandoned_rate),
            "human_abandoned_upper95": _r6_up(self.human_abandoned_upper95),
            "human_missed_2s": self.human_missed_2s,
            "human_missed_2s_rate": _r6(self.human_missed_2s_rate),
            "machine_recall": _r6(self.machine_recall),
            "fax_recall": _r6(self.fax_recall),
            "silence_live_rate": _r6(self.silence_live_rate),
            "decision_time_s": {k: {q: _r6(v) for q, v in d.items()} for k, d in self.decision_time_s.items()},
            "reference_fallbacks": self.reference_fallbacks,
            "false_positive_paths": list(self.false_positive_paths),
            "late_paths": list(self.late_paths),
            "missed_machine_paths": list(self.missed_machine_paths),
        }


def _percentile(s: list[float], q: float) -> float:
    """``np.percentile(s, q)`` of the sorted list ``s`` (numpy's default 'linear' method), the
    same float: the same virtual index ``(n - 1) * (q / 100)`` and the same interpolation
    (from the upper neighbour when the fraction is at least 0.5, as numpy's ``_lerp``). Not
    numpy's function: its ``np.unique`` imports ``numpy.ma`` (7-9 ms) into every command that
    prints figures. Equal to numpy's bit for bit (``tests/test_metrics.py``)."""
    n = len(s)
    v = (n - 1) * (q / 100)
    if v >= n - 1:
        return s[-1]
    lo = math.floor(v)
    t = v - lo
    a, b = s[lo], s[lo + 1]
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t


def _percentiles(x: list[float]) -> dict[str, float | None]:
    if not x:
        return {"p50": None, "p95": None}
    s = sorted(float(v) for v in x)
    if any(math.isnan(v) for v in s):
        return {"p50": math.nan, "p95": math.nan}
    return {"p50": _percentile(s, 50), "p95": _percentile(s, 95)}


def _rate(k: int, n: int) -> float | None:
    return None if n == 0 else k / n


def figures(
    decisions: Iterable[Any],
    *,
    delay_limit_ms: int,
    delay_reference: DelayReference | str,
    agent_connect_ms: int,
    count_false_positives: bool = True,
) -> Figures:
    """Compute every figure from per-call decisions.

    Parameters
    ----------
    decisions : iterable of Decision or mappings
        One per call (see :func:`as_decisions`).
    delay_limit_ms, delay_reference
        The country's delay limit and what it is measured from.
    agent_connect_ms : int
        Time to bridge an agent after a LIVE/UNKNOWN decision.
    count_false_positives : bool
        Whether people called machine/fax count as abandoned (the country's rule).
    """
    from .._validation import check_int_range

    check_int_range(delay_limit_ms, "delay_limit_ms", "figures", 1, 60000)
    check_int_range(agent_connect_ms, "agent_connect_ms", "figures", 0, 10000)
    try:
        ref = DelayReference(delay_reference)
    except ValueError:
        raise ParameterError(
            f"The 'delay_reference' parameter of figures must be one of {[r.value for r in DelayReference]}. "
            f"Got {delay_reference!r} instead."
        ) from None
    calls = as_decisions(decisions)
    counts = {lab: 0 for lab in LABELS}
    confusion = {lab: {dec: 0 for dec in DECISIONS} for lab in LABELS}
    times: dict[str, list[float]] = {lab: [] for lab in LABELS}
    after_greeting: list[float] = []
    fp_paths: list[str] = []
    late_paths: list[str] = []
    missed_machine: list[str] = []
    missed_2s = 0
    fallbacks = 0
    deadline_s = delay_limit_ms / 1000.0
    connect_s = agent_connect_ms / 1000.0
    for c in calls:
        counts[c.label] += 1
        confusion[c.label][c.decision] += 1
        times[c.label].append(c.decided_at_s)
        if c.label == "machine" and c.decision != "machine":
            missed_machine.append(c.path)
        if c.label != "human":
            continue
        ref_t, fell_back = reference_time(c, ref)
        fallbacks += fell_back
        g_t, _ = reference_time(c, DelayReference.GREETING_END)
        if c.greeting_end_s is not None:
            after_greeting.append(c.decided_at_s - c.greeting_end_s)
        if c.decision not in _PASSED_TO_AGENT:
            fp_paths.append(c.path)
            missed_2s += 1
            continue
        if c.decided_at_s > g_t + _MISSED_WINDOW_S + _EPS:
            missed_2s += 1
        if c.decided_at_s + connect_s > ref_t + deadline_s + _EPS:
            late_paths.append(c.path)
    n_h = counts["human"]
    k_fp, k_late = len(fp_paths), len(late_paths)
    k_ab = (k_fp if count_false_positives else 0) + k_late
    decision_time = {lab: _percentiles(times[lab]) for lab in LABELS}
    decision_time["human_after_greeting_end"] = _percentiles(after_greeting)
    return Figures(
        calls=len(calls),
        counts=counts,
        confusion=confusion,
        agent_connect_ms=int(agent_connect_ms),
        delay_limit_ms=int(delay_limit_ms),
        delay_reference=ref,
        count_false_positives=bool(count_false_positives),
        human_false_positives=k_fp,
        human_false_positive_rate=_rate(k_fp, n_h),
        human_false_positive_upper95=upper_bound(k_fp, n_h),
        human_late=k_late,
        human_late_rate=_rate(k_late, n_h),
        human_late_upper95=upper_bound(k_late, n_h),
        human_abandoned=k_ab,
        human_abandoned_rate=_rate(k_ab, n_h),
        human_abandoned_upper95=upper_bound(k_ab, n_h),
        human_missed_2s=missed_2s,
        human_missed_2s_rate=_rate(missed_2s, n_h),
        machine_recall=_rate(confusion["machine"]["machine"], counts["machine"]),
        fax_recall=_rate(confusion["fax"]["fax"], counts["fax"]),
        silence_live_rate=_rate(confusion["silence"]["human"], counts["silence"]),
        decision_time_s=decision_time,
        reference_fallbacks=fallbacks,
        false_positive_paths=tuple(fp_paths),
        late_paths=tuple(late_paths),
        missed_machine_paths=tuple(missed_machine),
    )


# --------------------------------------------------------------------------- compliance


@dataclass(frozen=True)
class RuleResult:
    """One checked rule: its name, whether it passed, and the numbers behind it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Compliance:
    """Figures checked against an abandoned-call budget."""

    country: str
    abandoned_rate_max: float
    dialer_drop_rate: float
    agent_connect_ms: int
    delay_limit_ms: int
    delay_reference: DelayReference
    budget_left: float
    figures: Figures
    rules: tuple[RuleResult, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every rule passed."""
        return all(r.passed for r in self.rules)

    @property
    def rules_passed(self) -> list[str]:
        return [r.name for r in self.rules if r.passed]

    @property
    def rules_failed(self) -> list[str]:
        return [r.name for r in self.rules if not r.passed]

    def budget_dict(self) -> dict:
        """The ``budget`` section of a settings file."""
        return Budget(
            abandoned_rate_max=self.abandoned_rate_max,
            dialer_drop_rate=self.dialer_drop_rate,
            agent_connect_ms=self.agent_connect_ms,
            delay_limit_ms=self.delay_limit_ms,
            delay_reference=self.delay_reference,
        ).to_dict()

    def to_dict(self) -> dict:
        return {
            "country": self.country,
            "passed": self.passed,
            "budget": self.budget_dict(),
            "budget_left": _r6(self.budget_left),
            "rules": [{"name": r.name, "passed": r.passed, "detail": r.detail} for r in self.rules],
            "rules_passed": self.rules_passed,
            "rules_failed": self.rules_failed,
            "notes": list(self.notes),
            "figures": self.figures.to_dict(),
        }


def _check_rates(dialer_drop_rate: Any, agent_connect_ms: Any, owner: str) -> None:
    from .._validation import check_int_range, check_real_range

    check_real_range(dialer_drop_rate, "dialer_drop_rate", owner, 0.0, 1.0)
    check_int_range(agent_connect_ms, "agent_connect_ms", owner, 0, 10000)


def _compliance(
    decisions: Any,
    *,
    country: str,
    rate_max: float,
    delay_limit_ms: int,
    delay_reference: DelayReference,
    count_fp: bool,
    dialer_drop_rate: float,
    agent_connect_ms: int,
    notes: list[str],
) -> Compliance:
    fig = figures(
        decisions,
        delay_limit_ms=delay_limit_ms,
        delay_reference=delay_reference,
        agent_connect_ms=agent_connect_ms,
        count_false_positives=count_fp,
    )
    left = rate_max - dialer_drop_rate
    n_h = fig.counts["human"]
    rules = [
        RuleResult(
            "human_evidence",
            n_h > 0,
            f"{n_h} human calls" + ("" if n_h else ": no evidence on live people, so no bound on abandoned calls"),
        ),
        RuleResult(
            "budget_left_positive",
            left > 1e-12,
            f"budget left {left:.4f} = abandoned_rate_max {rate_max:.4f} - dialer_drop_rate {dialer_drop_rate:.4f}",
        ),
        RuleResult(
            "abandoned_point_within_budget",
            fig.human_abandoned_rate is not None and fig.human_abandoned_rate <= left + 1e-12,
            f"abandoned {fig.human_abandoned}/{n_h} = "
            + ("n/a" if fig.human_abandoned_rate is None else f"{fig.human_abandoned_rate:.4f}")
            + f" vs budget left {left:.4f}",
        ),
        RuleResult(
            "abandoned_within_budget",
            n_h > 0 and fig.human_abandoned_upper95 <= left + 1e-12,
            f"one-sided 95% upper bound of abandoned {fig.human_abandoned_upper95:.4f} vs budget left {left:.4f} "
            f"({fig.human_false_positives} called machine/fax"
            + ("" if count_fp else ", not counted by this country's rule")
            + f", {fig.human_late} late after {delay_limit_ms} ms from {delay_reference.value} "
            f"with {agent_connect_ms} ms agent connect)",
        ),
    ]
    point = fig.human_abandoned_rate
    if point is not None and point <= left + 1e-12 < fig.human_abandoned_upper95:
        # the point rate fits but the evidence is too thin to bound it: say how much is needed
        need = humans_needed(left, abandoned=fig.human_abandoned)
        notes.append(
            f"The point rate fits the budget left ({left:.4f}) but {n_h} human calls are too few to "
            f"bound it: with {fig.human_abandoned} abandoned the one-sided 95% upper bound needs at "
            f"least {need} human calls ({humans_needed(left)} if none is abandoned)."
        )
    if fig.reference_fallbacks:
        notes.append(
            f"{fig.reference_fallbacks} human call(s) lack the {delay_reference.value} timing label; "
            "their delay clock started at an earlier label (or the connect), which can only overstate lateness."
        )
    return Compliance(
        country=country,
        abandoned_rate_max=float(rate_max),
        dialer_drop_rate=float(dialer_drop_rate),
        agent_connect_ms=int(agent_connect_ms),
        delay_limit_ms=int(delay_limit_ms),
        delay_reference=delay_reference,
        budget_left=left,
        figures=fig,
        rules=tuple(rules),
        notes=tuple(notes),
    )


def compliance(
    decisions: Iterable[Any],
    profile: Profile,
    *,
    dialer_drop_rate: float,
    agent_connect_ms: int,
) -> Compliance:
    """Check decisions against a country profile's abandoned-call budget.

    The budget left to the detector is ``profile.budget_rate_max - dialer_drop_rate``; the
    rule ``abandoned_within_budget`` passes when the upper end of the exact 95% interval on
    abandoned live calls (false positives + late) is within it. Where the country has no
    statutory rate, the profile's ``[tuning]`` values are used and a note says so.
    """
    _check_rates(dialer_drop_rate, agent_connect_ms, "compliance")
    notes: list[str] = []
    if profile.tuning is not None:
        notes.append(f"{profile.code}: no statutory rate or delay limit; using the profile's tuning values: {profile.tuning.reason}")
    if profile.amd_false_positives_count == "unconfirmed":
        notes.append(f"{profile.code}: whether AMD false positives count is unconfirmed; they are counted (cautious).")
    if profile.unconfirmed:
        notes.append(f"{profile.code}: unconfirmed values: {', '.join(profile.unconfirmed)} (see `lsdlab rules show {profile.code}`).")
    return _compliance(
        decisions,
        country=profile.code,
        rate_max=profile.budget_rate_max,
        delay_limit_ms=profile.budget_delay_limit_ms,
        delay_reference=profile.budget_delay_reference,
        count_fp=profile.counts_amd_false_positives,
        dialer_drop_rate=float(dialer_drop_rate),
        agent_connect_ms=int(agent_connect_ms),
        notes=notes,
    )


def compliance_for_budget(
    decisions: Iterable[Any],
    budget: Budget,
    *,
    country: str,
    count_false_positives: bool = True,
) -> Compliance:
    """Like :func:`compliance`, from a settings file's ``budget`` (as ``lsdlab evaluate`` needs)."""
    return _compliance(
        decisions,
        country=country,
        rate_max=budget.abandoned_rate_max,
        delay_limit_ms=budget.delay_limit_ms,
        delay_reference=budget.delay_reference,
        count_fp=count_false_positives,
        dialer_drop_rate=budget.dialer_drop_rate,
        agent_connect_ms=budget.agent_connect_ms,
        notes=[],
    )


def evidence_dict(result: Compliance, *, corpus_sha256: str) -> dict:
    """The ``evidence`` section of a settings file, from the same rounded numbers as ``to_dict``."""
    fig = result.figures.to_dict()
    allowed = set(EVIDENCE_REQUIRED_KEYS) | set(EVIDENCE_OPTIONAL_KEYS)
    ev: dict[str, Any] = {"corpus_sha256": corpus_sha256}
    ev.update({k: v for k, v in fig.items() if k in allowed})
    ev["rules_passed"] = result.rules_passed
    ev["rules_failed"] = result.rules_failed
    return ev


def _share(k: int, n: int) -> str:
    return f"{k}/{n} = {100 * k / n:.1f}%" if n else f"{k}/0"


def rule_words(country: str, delay_limit_ms: int, delay_reference: DelayReference | str) -> str:
    """The delay rule in words: ``"GB's rule (2 s from the start of speech)"``."""
    ref = DelayReference(delay_reference)
    return f"{country}'s rule ({delay_limit_ms / 1000:g} s {_REFERENCE_WORDS[ref]})"


def machine_recall_warning(country: str, *, counts: Mapping[str, int], machines_detected: int, faxes_detected: int,
                           delay_limit_ms: int, delay_reference: DelayReference | str) -> str | None:
    """Plain words when settings detect (almost) no machines, else None.

    "Almost none" is a machine recall below :data:`LOW_MACHINE_RECALL`; an evidence corpus with
    no machine call at all also gets a warning (nothing shows that machines are detected).
    ``counts``: calls per true label; ``machines_detected``/``faxes_detected``: machine calls
    decided ``machine``, fax calls decided ``fax``.

    Examples
    --------
    >>> print(machine_recall_warning("GB", counts={"machine": 130, "fax": 40}, machines_detected=0,
    ...                              faxes_detected=40, delay_limit_ms=2000, delay_reference="speech_onset"))
    Under GB's rule (2 s from the start of speech) these settings leave every machine to an agent: AMD gives fax detection only. Machines detected 0/130 = 0.0% (below 5%), faxes detected 40/40 = 100.0%.
    """
    rule = rule_words(country, delay_limit_ms, delay_reference)
    n_m, n_f = int(counts.get("machine", 0)), int(counts.get("fax", 0))
    if n_m == 0:
        return (f"The evidence holds no answering-machine call, so nothing shows that these settings detect machines "
                f"under {rule}: add machine recordings to the corpus and measure again.")
    if machines_detected / n_m >= LOW_MACHINE_RECALL:
        return None
    who = "every machine" if machines_detected == 0 else "almost every machine"
    gives = "fax detection only" if faxes_detected > 0 else "nothing (no fax detected either)"
    return (f"Under {rule} these settings leave {who} to an agent: AMD gives {gives}. Machines detected "
            f"{_share(machines_detected, n_m)} (below {100 * LOW_MACHINE_RECALL:g}%), faxes detected {_share(faxes_detected, n_f)}.")


def _figures_warning(fig: Figures, country: str) -> str | None:
    return machine_recall_warning(country, counts=fig.counts, machines_detected=fig.confusion["machine"]["machine"],
                                  faxes_detected=fig.confusion["fax"]["fax"], delay_limit_ms=fig.delay_limit_ms,
                                  delay_reference=fig.delay_reference)
