"""The tuner: search settings that hold a country's budget (search, scoring, results), export
them (settings_export) and report on them (report). Re-exports what notebooks use from
lsdlab.evaluation and lsdlab.rules."""

from __future__ import annotations

import sys

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
from ..evaluation.pareto import TrialRecord, pareto_front
from ..evaluation.traces import load_traces
from ..rules import (
    DelayReference,
    Profile,
    TuningDefaults,
    list_profiles,
    load_profile,
    profile_codes,
)
from . import settings_export as _settings_export_module
from .report import write_report
from .results import TuneResult
from .scoring import Score, score
from .search import tune
from .settings_export import export, settings_document

# The exporting module is lsdlab.tune.settings_export, so lsdlab.tune.export is only ever the
# function. Code written for the old module name (from lsdlab.tune.export import record_path)
# still finds the module in sys.modules, without it shadowing the function here.
sys.modules.setdefault(__name__ + ".export", _settings_export_module)

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
