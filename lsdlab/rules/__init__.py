"""Country rules: the profiles (one TOML file per country, with its sources) and the budget
vocabulary (:class:`DelayReference`, :class:`Budget`) that tuning, evaluation and settings
files share.

This floor imports only :mod:`lsdlab.errors`: everything above may read the rules.
"""

from __future__ import annotations

from .budget import Budget, DelayReference
from .profiles import (
    UNCONFIRMED,
    Profile,
    TuningDefaults,
    list_profiles,
    load_profile,
    profile_codes,
)

__all__ = [
    "DelayReference",
    "Budget",
    "Profile",
    "TuningDefaults",
    "UNCONFIRMED",
    "load_profile",
    "list_profiles",
    "profile_codes",
]
