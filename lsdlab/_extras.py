"""Optional dependencies ("extras") and the error that names the one a feature needs.

``pip install lsdlab`` installs the core a dialer host needs: the detector, corpora,
evaluation and settings files. The rest comes with extras::

    pip install 'lsdlab[sip]'    # real SIP calls: UASCallChannel, CallPool, SimulatedFarEnd
    pip install 'lsdlab[tune]'   # lsdlab tune, lsdlab report, lsdlab.plots
    pip install 'lsdlab[lab]'    # the notebooks (JupyterLab, ipywidgets, and sip and tune)
    pip install 'lsdlab[all]'

A feature calls :func:`require` before it imports anything from its extra, so a user without
the extra gets one :class:`MissingExtraError` naming the install command, never a bare
``ModuleNotFoundError`` from deep inside (or, for the SIP far end, from a child process).
"""

from __future__ import annotations

import importlib.util
import sys

from .errors import LsdlabError

__all__ = ["EXTRAS", "MissingExtraError", "missing_modules", "require"]

#: extra -> (import name, distribution name) of every module it provides.
EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "sip": (("pjsua2", "pjsua2-python"),),
    "tune": (("optuna", "optuna"), ("matplotlib", "matplotlib")),
    "lab": (("jupyterlab", "jupyterlab"), ("ipywidgets", "ipywidgets")),
}


class MissingExtraError(LsdlabError, ImportError):
    """A feature was called without the optional dependencies ("extra") it needs."""


def missing_modules(extra: str) -> list[tuple[str, str]]:
    """The (import name, distribution) pairs of ``extra`` that cannot be imported here."""
    if extra not in EXTRAS:
        raise ValueError(f"The 'extra' parameter of missing_modules must be one of {sorted(EXTRAS)}. Got {extra!r} instead.")
    return [(mod, dist) for mod, dist in EXTRAS[extra] if importlib.util.find_spec(mod) is None]


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` when a module of ``extra`` is not installed.

    ``feature`` names what the user called (e.g. ``"lsdlab tune"``, ``"SimulatedFarEnd"``).
    """
    missing = missing_modules(extra)
    if not missing:
        return
    names = ", ".join(f"{dist} (import {mod})" for mod, dist in missing)
    hint = ""
    if extra == "sip" and sys.version_info >= (3, 13):
        hint = (f" The pjsua2-python wheels exist for CPython 3.10-3.12 only; this is Python "
                f"{sys.version_info.major}.{sys.version_info.minor}, so use a Python 3.10-3.12 environment for SIP.")
    raise MissingExtraError(
        f"{feature} needs the optional '{extra}' dependencies, which are not installed here "
        f"(missing: {names}). Install them with `pip install 'lsdlab[{extra}]'`.{hint}"
    )
