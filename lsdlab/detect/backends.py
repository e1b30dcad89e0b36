"""The detector backends: one registry, name -> (settings class, detector class).

Everything that picks a backend (building a detector, reading settings from a dict, the CLI's
``--backend`` choices, a settings file's ``detector.backend``) asks this registry instead of
testing names or classes itself. The classes are imported when first asked for, so this
module imports no backend (and no backend imports it back at import time).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError, SettingsError

__all__ = ["Backend", "BACKEND_NAMES", "DEFAULT_BACKEND", "get_backend", "backends", "backend_of",
           "is_detector_settings", "settings_from_dict"]

#: name -> (module, settings class, detector class, one line for help texts)
_REGISTRY: dict[str, tuple[str, str, str, str]] = {
    "default": ("lsdlab.detect.detector", "DetectorSettings", "LiveSpeakerDetector",
                "lsdlab's detector: tones, speech activity, cadence model"),
    "app_amd": ("lsdlab.detect.app_amd", "AmdSettings", "AppAmdDetector",
                "Asterisk's AMD() re-implemented (the baseline)"),
}
#: Backend names, the default first.
BACKEND_NAMES: tuple[str, ...] = tuple(_REGISTRY)
DEFAULT_BACKEND = "default"


@dataclass(frozen=True)
class Backend:
    """One detector backend: its name, settings class and detector class."""

    name: str
    settings_class: type[Any]
    detector_class: type[Any]
    description: str

    def make(self, settings: Any = None) -> Any:
        """A new detector for ``settings`` (None: this backend's defaults)."""
        return self.detector_class(settings if settings is not None else self.settings_class())


_CACHE: dict[str, Backend] = {}


def get_backend(name: str, *, owner: str = "backend") -> Backend:
    """The backend called ``name``; a :class:`ParameterError` naming the choices otherwise."""
    b = _CACHE.get(name) if isinstance(name, str) else None
    if b is not None:
        return b
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ParameterError(f"The {owner!r} parameter must be one of {list(BACKEND_NAMES)}. Got {name!r} instead.")
    module, settings_cls, detector_cls, text = _REGISTRY[name]
    m = importlib.import_module(module)
    b = _CACHE[name] = Backend(name, getattr(m, settings_cls), getattr(m, detector_cls), text)
    return b


def backends() -> list[Backend]:
    """Every registered backend, the default first."""
    return [get_backend(n) for n in BACKEND_NAMES]


def is_detector_settings(obj: Any) -> bool:
    """True when ``obj`` is the settings object of a registered backend."""
    return any(isinstance(obj, b.settings_class) for b in backends())


def backend_of(settings: Any, *, owner: str = "settings") -> Backend:
    """The backend whose settings class ``settings`` is an instance of."""
    for b in backends():
        if isinstance(settings, b.settings_class):
            return b
    names = ", ".join(b.settings_class.__name__ for b in backends())
    raise ParameterError(f"The {owner!r} parameter must be detector settings ({names}). Got {type(settings).__name__} instead.")


def settings_from_dict(d: dict) -> Any:
    """Detector settings of any backend from their dict (``d['backend']``, default ``'default'``)."""
    if not isinstance(d, dict):
        raise SettingsError(f"detector settings must be a JSON object, got {type(d).__name__}.")
    name = d.get("backend", DEFAULT_BACKEND)
    if not isinstance(name, str) or name not in _REGISTRY:
        choices = " or ".join(repr(n) for n in BACKEND_NAMES)
        raise SettingsError(f"detector.backend: unknown backend {name!r}; use {choices}.")
    try:
        return get_backend(name).settings_class.from_dict(d)
    except ParameterError as exc:
        raise SettingsError(f"detector: {exc}") from None
