"""Tuning against country rules: profiles, compliance metrics (the tuner builds on these)."""

from __future__ import annotations

from ..evaluation.metrics import (
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
from ..rules import (
    DelayReference,
    Profile,
    TuningDefaults,
    list_profiles,
    load_profile,
    profile_codes,
)
from .export import export, settings_document  # noqa: E402  (after .search: export is also a module name)
from .report import write_report
from .search import Score, TrialRecord, TuneResult, load_traces, pareto_front, score, tune

__all__ = [
    "DelayReference",
    "Profile",
    "TuningDefaults",
    "load_profile",
    "list_profiles",
    "profile_codes",
    "CallDecision",
    "Figures",
    "Compliance",
    "RuleResult",
    "clopper_pearson",
    "upper_bound",
    "humans_needed",
    "figures",
    "compliance",
    "compliance_for_budget",
    "as_decisions",
    "evidence_dict",
    "tune",
    "TuneResult",
    "TrialRecord",
    "Score",
    "score",
    "load_traces",
    "pareto_front",
    "export",
    "settings_document",
    "write_report",
]
