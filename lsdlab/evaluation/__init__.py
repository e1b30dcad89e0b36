"""Evaluation: a detector run over a labelled corpus, and what its decisions measure.

corpus -> offline far end -> detector -> per-call decisions -> figures and compliance.

* :mod:`~lsdlab.evaluation.runner` - the corpus runner (local processes or a Dask cluster).
* :mod:`~lsdlab.evaluation.traces` - per-call traces and their disk cache (re-scored by the tuner).
* :mod:`~lsdlab.evaluation.metrics` - figures (confusion, rates with exact bounds, decision
  times) and their check against an abandoned-call budget.
* :mod:`~lsdlab.evaluation.training` - the cadence model's training set and fit (imported on
  its own: it needs scikit-learn).

This floor sits below the tuner: ``lsdlab.tune`` and ``lsdlab.plots`` build on it, it never
imports them.
"""

from __future__ import annotations

from .metrics import (
    CallDecision,
    Compliance,
    Figures,
    RuleResult,
    as_decisions,
    clopper_pearson,
    compliance,
    compliance_for_budget,
    evidence_dict,
    figures,
    humans_needed,
    upper_bound,
)
from .pareto import TrialRecord, pareto_front
from .runner import (
    Decision,
    ShippedFarEnd,
    close_client,
    connect,
    decisions_from_traces,
    longest_pauses,
    map_calls,
    mp_context,
    offline_far_end,
    run_corpus,
    trace_corpus,
    work_items,
    write_decisions,
)
from .traces import call_trace_key, load_traces, trace_cache_key

__all__ = [
    "Decision",
    "CallDecision",
    "run_corpus",
    "trace_corpus",
    "decisions_from_traces",
    "write_decisions",
    "longest_pauses",
    "offline_far_end",
    "work_items",
    "map_calls",
    "mp_context",
    "connect",
    "close_client",
    "ShippedFarEnd",
    "load_traces",
    "TrialRecord",
    "pareto_front",
    "trace_cache_key",
    "call_trace_key",
    "Figures",
    "Compliance",
    "RuleResult",
    "clopper_pearson",
    "upper_bound",
    "humans_needed",
    "as_decisions",
    "figures",
    "compliance",
    "compliance_for_budget",
    "evidence_dict",
]
