"""The exported settings file: tuned detector settings, LSD timeout and their evidence.

A settings file is JSON, versioned (``schema_version`` = 1) and strictly validated when
loaded: an unknown key, a missing key, a value of the wrong type or out of range, an unknown
timer mode and a model whose sha256 does not match the model file are all refused with a
:class:`~lsdlab.errors.SettingsError` naming the key path (e.g. ``evidence.machine_recall``)
and the fix. Every problem found is reported at once, one per line.

This module knows nothing of tuning (``lsdlab.tune`` writes these files, ``lsdlab.uas``
reads them); the detector settings inside are validated by the detector's own hook,
``lsdlab.detect.settings_from_dict``, when it is available.

Layout (all keys required, no others allowed)::

    {
      "schema_version": 1,
      "lsdlab_version": "0.1.0",
      "created": "2026-11-26T10:30:00+00:00",          # ISO 8601 with a time zone
      "country": "GB",                                  # the profile's code
      "timer_mode": "TIMEOUT_FROM_ANSWER_DETECT",       # a TimerMode name
      "lsd_timeout_milliseconds": 3500,                 # int in [500, 10000]
      "detector": {"backend": "default", ...},          # 'default' or 'app_amd' + its settings
      "model": {"reference": "builtin:default", "sha256": "<64 hex>"},  # null for app_amd
      "budget": {"abandoned_rate_max": 0.03, "dialer_drop_rate": 0.01, "agent_connect_ms": 300,
                 "delay_limit_ms": 2000, "delay_reference": "speech_onset"},
      "evidence": {"corpus_sha256": "<64 hex>", "counts": {"human": 40, ...},
                   "human_false_positive_rate": 0.0, "human_false_positive_upper95": 0.088,
                   "human_late_rate": 0.0, "machine_recall": 0.9, "fax_recall": 1.0,
                   "decision_time_s": {"human": {"p50": 1.9, "p95": 2.4}, ...},
                   "rules_passed": ["abandoned_within_budget", ...], ...}
    }

A model ``reference`` is ``builtin:NAME`` (the packaged ``lsdlab/detect/models/NAME.skops``),
an absolute path, or a path relative to the settings file's folder.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._hashing import file_sha256
from ._jsonfile import MAX_SETTINGS_BYTES, MAX_SETTINGS_DEPTH, Checker, is_int, json_type, read_json  # noqa: F401  (the limits lived here)
from .errors import SettingsError
from .rules.budget import Budget, DelayReference

if TYPE_CHECKING:  # imported lazily: `import lsdlab` stays light
    from .detect.model import ModelReference
    from .detect.types import TimerMode

__all__ = [
    "SCHEMA_VERSION",
    "DelayReference",
    "ModelReference",
    "Budget",
    "TunedSettings",
    "load_settings",
    "save_settings",
    "resolve_detector_settings",
    "file_sha256",
    "EVIDENCE_REQUIRED_KEYS",
    "EVIDENCE_OPTIONAL_KEYS",
]

#: The one schema version this lsdlab reads and writes.
SCHEMA_VERSION = 1
# The corpus labels (the keys of ``evidence.counts``) and the decisions (the columns of
# ``evidence.confusion``) are lsdlab.corpus.schema.LABELS and lsdlab.detect.types.DECISIONS,
# imported when a file is checked (``import lsdlab`` stays light); the old names
# settingsfile.LABELS/DECISIONS/DECISION_TIME_KEYS still resolve (module __getattr__ below).
#: Extra key of ``evidence.decision_time_s``: humans measured from the end of their greeting.
_AFTER_GREETING_KEY = "human_after_greeting_end"

_TOP_KEYS = (
    "schema_version",
    "lsdlab_version",
    "created",
    "country",
    "timer_mode",
    "lsd_timeout_milliseconds",
    "detector",
    "model",
    "budget",
    "evidence",
)
_BUDGET_KEYS = (
    "abandoned_rate_max",
    "dialer_drop_rate",
    "agent_connect_ms",
    "delay_limit_ms",
    "delay_reference",
)
EVIDENCE_REQUIRED_KEYS = (
    "corpus_sha256",
    "counts",
    "human_false_positive_rate",
    "human_false_positive_upper95",
    "human_late_rate",
    "machine_recall",
    "fax_recall",
    "decision_time_s",
    "rules_passed",
)
EVIDENCE_OPTIONAL_KEYS = (
    "calls",
    "human_abandoned_rate",
    "human_abandoned_upper95",
    "human_missed_2s_rate",
    "silence_live_rate",
    "confusion",
    "reference_fallbacks",
    "rules_failed",
)
# rate key -> the label whose count is its denominator (a rate is null iff that count is 0)
_RATE_DENOMINATORS = {
    "human_false_positive_rate": "human",
    "human_late_rate": "human",
    "human_abandoned_rate": "human",
    "human_missed_2s_rate": "human",
    "machine_recall": "machine",
    "fax_recall": "fax",
    "silence_live_rate": "silence",
}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class TunedSettings:
    """A validated settings file (build with :func:`load_settings` or :meth:`build`).

    ``detector`` and ``evidence`` are plain JSON dicts; treat them as read-only.
    ``model_path`` (the resolved model file), ``detector_settings`` (what the detector's
    ``settings_from_dict`` hook returned, or None when no hook is available) and ``source``
    do not take part in equality.
    """

    schema_version: int
    lsdlab_version: str
    created: str
    country: str
    timer_mode: TimerMode
    lsd_timeout_milliseconds: int
    detector: dict
    model: ModelReference | None
    budget: Budget
    evidence: dict
    model_path: Path | None = field(default=None, compare=False, repr=False)
    detector_settings: Any = field(default=None, compare=False, repr=False)
    source: str = field(default="", compare=False, repr=False)

    def detector_dict(self) -> dict:
        """The detector settings to build the detector from: a copy of ``detector`` whose
        ``model`` is the resolved, checksum-verified model file path (the top-level ``model``
        applies even when ``detector`` does not repeat it)."""
        return _with_model(self.detector, self.model, self.model_path)

    @property
    def backend(self) -> str:
        """The detector backend: 'default' or 'app_amd'."""
        return str(self.detector["backend"])

    def to_dict(self) -> dict:
        """The JSON-ready dict that :func:`save_settings` writes."""
        return {
            "schema_version": self.schema_version,
            "lsdlab_version": self.lsdlab_version,
            "created": self.created,
            "country": self.country,
            "timer_mode": self.timer_mode.name,
            "lsd_timeout_milliseconds": self.lsd_timeout_milliseconds,
            "detector": copy.deepcopy(self.detector),
            "model": None if self.model is None else self.model.to_dict(),
            "budget": self.budget.to_dict(),
            "evidence": copy.deepcopy(self.evidence),
        }

    @classmethod
    def build(
        cls,
        *,
        country: str,
        timer_mode: TimerMode | str,
        lsd_timeout_milliseconds: int,
        detector: dict,
        model: ModelReference | dict | None,
        budget: Budget | dict,
        evidence: dict,
        created: str | None = None,
        base_dir: str | Path | None = None,
        detector_settings_from_dict: Callable[[dict], Any] | None = None,
    ) -> TunedSettings:
        """Assemble and validate new settings (schema version, lsdlab version and time filled in).

        Raises :class:`SettingsError` exactly as :func:`load_settings` does.
        """
        from ._version import __version__
        from .detect.model import ModelReference
        from .detect.types import TimerMode

        d = {
            "schema_version": SCHEMA_VERSION,
            "lsdlab_version": __version__,
            "created": created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "country": country,
            "timer_mode": timer_mode.name if isinstance(timer_mode, TimerMode) else timer_mode,
            "lsd_timeout_milliseconds": lsd_timeout_milliseconds,
            "detector": detector,
            "model": model.to_dict() if isinstance(model, ModelReference) else model,
            "budget": budget.to_dict() if isinstance(budget, Budget) else budget,
            "evidence": evidence,
        }
        return load_settings(
            d, detector_settings_from_dict=detector_settings_from_dict, base_dir=base_dir
        )


# --------------------------------------------------------------------------- helpers


def _with_model(detector: dict, model: ModelReference | None, model_path: Path | None) -> dict:
    """A copy of a detector dict whose ``model`` is the resolved, checksum-verified model file
    (for a backend with a model), never the raw reference."""
    d = copy.deepcopy(detector)
    if model is not None and model_path is not None and d.get("backend", "default") == "default":
        d["model"] = str(model_path)
    return d


# --------------------------------------------------------------------------- loading


def _vocabulary() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(labels, decisions): the corpus's and the detector's, the one vocabulary."""
    from .corpus.schema import LABELS
    from .detect.types import DECISIONS

    return LABELS, DECISIONS


def __getattr__(name: str) -> Any:
    # names that moved below this module, still reachable here (imported on first use)
    if name in ("ModelReference", "builtin_model_path"):
        from .detect import model

        return getattr(model, name)
    if name == "DETECTOR_BACKENDS":  # values of detector["backend"]: the detector's backend registry
        from .detect.backends import BACKEND_NAMES

        return BACKEND_NAMES
    if name in ("LABELS", "DECISIONS", "DECISION_TIME_KEYS"):
        labels, decisions = _vocabulary()
        return {"LABELS": labels, "DECISIONS": decisions, "DECISION_TIME_KEYS": labels + (_AFTER_GREETING_KEY,)}[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_evidence(c: Checker, ev: Any) -> None:
    LABELS, DECISIONS = _vocabulary()
    if not c.obj(ev, "evidence"):
        return
    c.keys(ev, "evidence", EVIDENCE_REQUIRED_KEYS, EVIDENCE_OPTIONAL_KEYS)
    if "corpus_sha256" in ev:
        c.string(
            ev["corpus_sha256"],
            "evidence.corpus_sha256",
            pattern=_HEX64,
            fix="write the corpus's sha256 as 64 lower-case hex digits (see `lsdlab corpus stats`)",
        )
    counts: dict | None = None
    if "counts" in ev and c.obj(ev["counts"], "evidence.counts"):
        if c.keys(ev["counts"], "evidence.counts", LABELS):
            good = [c.int_range(ev["counts"][lab], f"evidence.counts.{lab}", 0, 10**9) for lab in LABELS]
            if all(good):
                counts = ev["counts"]
    if "calls" in ev and c.int_range(ev["calls"], "evidence.calls", 0, 10**9) and counts is not None:
        if ev["calls"] != sum(counts.values()):
            c.bad("evidence.calls", f"is {ev['calls']} but evidence.counts sum to {sum(counts.values())}",
                  "make them agree (export the file again)")
    for key, label in _RATE_DENOMINATORS.items():
        if key not in ev:
            continue
        if c.real_range(ev[key], f"evidence.{key}", 0.0, 1.0, nullable=True) and counts is not None:
            if counts[label] == 0 and ev[key] is not None:
                c.bad(f"evidence.{key}", f"is {ev[key]!r} but there are no {label} calls",
                      "write null (no calls of that class: no rate)")
            elif counts[label] > 0 and ev[key] is None:
                c.bad(f"evidence.{key}", f"is null but there are {counts[label]} {label} calls",
                      "write the measured rate")
    for key in ("human_false_positive_upper95", "human_abandoned_upper95"):
        if key in ev:
            c.real_range(ev[key], f"evidence.{key}", 0.0, 1.0)
    dt = ev.get("decision_time_s")
    if "decision_time_s" in ev and c.obj(dt, "evidence.decision_time_s"):
        assert isinstance(dt, dict)
        c.keys(dt, "evidence.decision_time_s", LABELS, (_AFTER_GREETING_KEY,))
        for cls in LABELS + (_AFTER_GREETING_KEY,):
            if cls not in dt:
                continue
            key = f"evidence.decision_time_s.{cls}"
            if c.obj(dt[cls], key) and c.keys(dt[cls], key, ("p50", "p95")):
                low = -3600.0 if cls == _AFTER_GREETING_KEY else 0.0
                for q in ("p50", "p95"):
                    c.real_range(dt[cls][q], f"{key}.{q}", low, 3600.0, nullable=True)
    conf = ev.get("confusion")
    if "confusion" in ev and c.obj(conf, "evidence.confusion"):
        assert isinstance(conf, dict)
        if c.keys(conf, "evidence.confusion", LABELS):
            for lab in LABELS:
                key = f"evidence.confusion.{lab}"
                if c.obj(conf[lab], key) and c.keys(conf[lab], key, DECISIONS):
                    for dec in DECISIONS:
                        c.int_range(conf[lab][dec], f"{key}.{dec}", 0, 10**9)
    if "reference_fallbacks" in ev:
        c.int_range(ev["reference_fallbacks"], "evidence.reference_fallbacks", 0, 10**9)
    for key in ("rules_passed", "rules_failed"):
        if key not in ev:
            continue
        v = ev[key]
        if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
            c.bad(f"evidence.{key}", f"must be a list of rule names (strings), got {json_type(v)} {v!r}",
                  'write e.g. ["abandoned_within_budget"]')


def _check_detector_agrees(c: Checker, d: dict) -> None:
    """Keys the detector settings repeat from the top level must hold the same values."""
    det = d["detector"]
    pairs = (
        ("timeout_ms", "lsd_timeout_milliseconds", d.get("lsd_timeout_milliseconds")),
        ("timer_mode", "timer_mode", d.get("timer_mode")),
        ("model", "model.reference", (d.get("model") or {}).get("reference") if isinstance(d.get("model"), dict) else None),
    )
    for key, top_key, top in pairs:
        if key in det and top is not None and det[key] != top:
            c.bad(
                f"detector.{key}",
                f"is {det[key]!r} but {top_key} is {top!r}",
                f"make them equal (the top-level {top_key} is the one that applies)",
            )


def _parse(
    d: Any,
    *,
    where: str,
    base_dir: Path,
    hook: Callable[[dict], Any] | None,
    source: str,
) -> TunedSettings:
    from .detect.backends import BACKEND_NAMES
    from .detect.model import ModelReference, resolve_model_path
    from .detect.settings import TIMEOUT_RANGE_MS
    from .detect.types import TimerMode

    c = Checker(where)
    if not isinstance(d, dict):
        raise SettingsError(f"{where}: must hold a JSON object at the top level, got {json_type(d)}; export it again with `lsdlab tune`")
    c.keys(d, "", _TOP_KEYS)
    # schema_version first: a different version explains every other difference
    if "schema_version" in d:
        v = d["schema_version"]
        if not is_int(v):
            c.bad("schema_version", f"must be the integer {SCHEMA_VERSION}, got {json_type(v)} {v!r}", f"write {SCHEMA_VERSION}")
        elif v != SCHEMA_VERSION:
            c.bad(
                "schema_version",
                f"version {v} is not supported (this lsdlab reads version {SCHEMA_VERSION})",
                "use the lsdlab version that wrote the file, or export the settings again with this one",
            )
            c.raise_if_any()
    if "lsdlab_version" in d:
        c.string(d["lsdlab_version"], "lsdlab_version", fix='write the version that wrote the file, e.g. "0.1.0"')
    if "created" in d and c.string(d["created"], "created", fix='write an ISO 8601 time, e.g. "2026-11-26T10:30:00+00:00"'):
        try:
            t = datetime.fromisoformat(d["created"])
        except ValueError:
            c.bad("created", f"{d['created']!r} is not an ISO 8601 date and time", 'write e.g. "2026-11-26T10:30:00+00:00"')
        else:
            if t.tzinfo is None:
                c.bad("created", f"{d['created']!r} has no time zone", 'add one, e.g. "+00:00"')
    if "country" in d:
        c.string(d["country"], "country", fix='write the country profile code, e.g. "GB" (see `lsdlab rules list`)')
    timer_mode: TimerMode | None = None
    if "timer_mode" in d:
        v = d["timer_mode"]
        names = [m.name for m in TimerMode]
        if isinstance(v, str) and v in names:
            timer_mode = TimerMode[v]
        else:
            hint = " (DEFAULT means TIMEOUT_FROM_NETWORK_CONNECT)" if v == "DEFAULT" else ""
            c.bad("timer_mode", f"{v!r} is not a timer mode{hint}", f"write one of {names}")
    if "lsd_timeout_milliseconds" in d:
        c.int_range(d["lsd_timeout_milliseconds"], "lsd_timeout_milliseconds", *TIMEOUT_RANGE_MS)
    backend = None
    if "detector" in d and c.obj(d["detector"], "detector"):
        backend = d["detector"].get("backend")
        if backend not in BACKEND_NAMES:
            key = "detector.backend"
            problem = "missing required key" if "backend" not in d["detector"] else f"{backend!r} is not a detector backend"
            c.bad(key, problem, f"write one of {list(BACKEND_NAMES)}")
            backend = None
    model: ModelReference | None = None
    model_ok = False
    if "model" in d and c.obj(d["model"], "model", nullable=True):
        m = d["model"]
        if m is None:
            if backend == "default":
                c.bad("model", "is null but the 'default' detector backend needs a model",
                      'write {"reference": "builtin:default", "sha256": "..."} (null is only for app_amd)')
        elif c.keys(m, "model", ("reference", "sha256")):
            ok1 = c.string(m["reference"], "model.reference",
                           fix='write "builtin:default", or a path relative to the settings file')
            ok2 = c.string(m["sha256"], "model.sha256", pattern=_HEX64,
                           fix="write the model file's sha256 as 64 lower-case hex digits")
            if ok1 and ok2:
                model = ModelReference(m["reference"], m["sha256"])
                model_ok = True
    budget: Budget | None = None
    if "budget" in d and c.obj(d["budget"], "budget") and c.keys(d["budget"], "budget", _BUDGET_KEYS):
        b = d["budget"]
        oks = [
            c.real_range(b["abandoned_rate_max"], "budget.abandoned_rate_max", 0.0, 1.0, low_open=True),
            c.real_range(b["dialer_drop_rate"], "budget.dialer_drop_rate", 0.0, 1.0, high_open=True),
            c.int_range(b["agent_connect_ms"], "budget.agent_connect_ms", 0, 10000),
            c.int_range(b["delay_limit_ms"], "budget.delay_limit_ms", 1, 60000),
        ]
        refs = [r.value for r in DelayReference]
        if b["delay_reference"] not in refs:
            c.bad("budget.delay_reference", f"{b['delay_reference']!r} is not a delay reference", f"write one of {refs}")
            oks.append(False)
        if all(oks):
            if float(b["dialer_drop_rate"]) >= float(b["abandoned_rate_max"]):
                c.bad(
                    "budget.dialer_drop_rate",
                    f"{b['dialer_drop_rate']!r} leaves no budget under abandoned_rate_max {b['abandoned_rate_max']!r}",
                    "lower the dialer's own drop rate below the country's maximum",
                )
            else:
                budget = Budget(
                    abandoned_rate_max=float(b["abandoned_rate_max"]),
                    dialer_drop_rate=float(b["dialer_drop_rate"]),
                    agent_connect_ms=int(b["agent_connect_ms"]),
                    delay_limit_ms=int(b["delay_limit_ms"]),
                    delay_reference=DelayReference(b["delay_reference"]),
                )
    if "evidence" in d:
        _check_evidence(c, d["evidence"])
    if backend is not None:
        _check_detector_agrees(c, d)
    c.raise_if_any()

    # The structure is sound: now the checks that touch files and the detector.
    model_path: Path | None = None
    if model_ok and model is not None:
        model_path = resolve_model_path(model.reference, base_dir)
        if not model_path.is_file():
            c.bad("model.reference", f"{model.reference!r} names {str(model_path)!r}, which does not exist",
                  "put the model file there or correct the reference (relative paths start at the settings file's folder)")
        else:
            actual = file_sha256(model_path)
            if actual != model.sha256:
                c.bad("model.sha256", f"{model.sha256} does not match the file {str(model_path)!r} (its sha256 is {actual})",
                      "use the model the settings were tuned with, or tune again for this model")
    c.raise_if_any()
    detector_settings = None
    if hook is not None:
        try:
            # the hook sees the model it will load: the resolved, checksum-verified file, never
            # the raw reference (which a reader would resolve against its working folder)
            detector_settings = hook(_with_model(d["detector"], model, model_path))
        except (SettingsError, ValueError, TypeError, KeyError) as exc:
            c.bad("detector", f"the detector refused its settings: {exc}", "fix that detector setting or tune again")
            c.raise_if_any()

    assert timer_mode is not None and budget is not None
    return TunedSettings(
        schema_version=SCHEMA_VERSION,
        lsdlab_version=d["lsdlab_version"],
        created=d["created"],
        country=d["country"],
        timer_mode=timer_mode,
        lsd_timeout_milliseconds=int(d["lsd_timeout_milliseconds"]),
        detector=copy.deepcopy(d["detector"]),
        model=model,
        budget=budget,
        evidence=copy.deepcopy(d["evidence"]),
        model_path=model_path,
        detector_settings=detector_settings,
        source=source,
    )


def _detector_hook(explicit: Callable[[dict], Any] | None) -> Callable[[dict], Any] | None:
    if explicit is not None:
        return explicit
    try:
        from .detect import settings_from_dict  # type: ignore[attr-defined]
    except ImportError:
        return None
    return settings_from_dict


def load_settings(
    path_or_dict: str | Path | dict | TunedSettings,
    *,
    detector_settings_from_dict: Callable[[dict], Any] | None = None,
    base_dir: str | Path | None = None,
) -> TunedSettings:
    """Read and strictly validate a settings file (or an already-parsed dict).

    Parameters
    ----------
    path_or_dict : str, Path, dict or TunedSettings
        The settings file, or its parsed content. A TunedSettings is returned unchanged.
    detector_settings_from_dict : callable, optional
        Validates ``detector`` (raising SettingsError); default:
        ``lsdlab.detect.settings_from_dict`` when it exists, else only the backend is checked.
    base_dir : str or Path, optional
        Folder that a relative model reference starts from; default: the settings file's
        folder (for a dict: the current directory).

    Returns
    -------
    TunedSettings

    Raises
    ------
    SettingsError
        Naming every bad key path (``evidence.machine_recall``, ``model.sha256``, ...) and the fix.

    Examples
    --------
    >>> settings = lsdlab.load_settings("gb.json")  # doctest: +SKIP
    >>> settings.timer_mode, settings.lsd_timeout_milliseconds  # doctest: +SKIP
    """
    if isinstance(path_or_dict, TunedSettings):
        return path_or_dict
    hook = _detector_hook(detector_settings_from_dict)
    if isinstance(path_or_dict, dict):
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        return _parse(path_or_dict, where="settings", base_dir=base, hook=hook, source="")
    if not isinstance(path_or_dict, (str, Path)):
        raise SettingsError(
            f"load_settings needs a settings file path or a dict, got {type(path_or_dict).__name__}; "
            "pass the path of a file written by `lsdlab tune`"
        )
    path = Path(path_or_dict)
    d = read_json(path)
    base = Path(base_dir) if base_dir is not None else path.resolve().parent
    return _parse(d, where=f"settings file {str(path)!r}", base_dir=base, hook=hook, source=str(path))


def save_settings(
    obj: TunedSettings | dict,
    path: str | Path,
    *,
    detector_settings_from_dict: Callable[[dict], Any] | None = None,
) -> Path:
    """Validate ``obj`` and write it to ``path`` as JSON, atomically.

    The settings are validated as :func:`load_settings` would read them back from ``path``
    (a relative model reference is checked against ``path``'s folder); invalid settings raise
    :class:`SettingsError` and no file is written or changed.
    """
    from .audio.io import atomic_path

    path = Path(path)
    d = obj.to_dict() if isinstance(obj, TunedSettings) else obj
    hook = _detector_hook(detector_settings_from_dict)
    settings = _parse(
        d, where=f"settings to save to {str(path)!r}", base_dir=path.resolve().parent, hook=hook, source=str(path)
    )
    text = json.dumps(settings.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def resolve_detector_settings(
    obj: Any = None,
    *,
    backend: str | None = None,
    timeout_ms: int | None = None,
    timer_mode: TimerMode | str | None = None,
    owner: str = "--settings",
) -> Any:
    """Detector settings from any accepted form: the one resolver of channel, CLI and report.

    Parameters
    ----------
    obj : None, DetectorSettings, AmdSettings, TunedSettings, dict, str or Path
        None gives the backend's defaults; a settings object is used as it is; a
        TunedSettings (or a tuned settings file, or its dict) gives its detector settings
        with the model resolved against the settings file's folder and its sha256 checked,
        and the file's LSD timeout and timer mode applied; a plain detector-settings file
        (``{"backend": ..., ...}``) has a relative ``model`` resolved against its folder.
    backend : {'default', 'app_amd'}, optional
        The backend asked for; a settings object of another backend is refused.
    timeout_ms, timer_mode : optional
        A call's LSD timeout and timer mode, applied over the settings' own.
    owner : str
        Names the argument in error messages (e.g. ``--settings``, ``live_speaker_detect``).

    Returns
    -------
    DetectorSettings or AmdSettings

    Raises
    ------
    SettingsError
        A settings file that is missing, not a regular file, too large or deep, or invalid.
    ParameterError
        ``obj`` of an unknown type, or settings of a backend other than ``backend``.
    """
    from .detect.backends import (
        DEFAULT_BACKEND,
        get_backend,
        is_detector_settings,
        settings_from_dict,
    )
    from .detect.model import is_builtin, resolve_model_path
    from .errors import ParameterError

    tuned: TunedSettings | None = None
    if obj is None:
        det: Any = get_backend(backend or DEFAULT_BACKEND, owner="--backend").settings_class()
    elif is_detector_settings(obj):
        det = obj
    elif isinstance(obj, TunedSettings):
        tuned = obj
    elif isinstance(obj, dict):
        if "schema_version" in obj:
            tuned = load_settings(obj)
        else:
            det = settings_from_dict(obj)
    elif isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        d = read_json(path)
        if isinstance(d, dict) and "schema_version" in d:
            hook = _detector_hook(None)
            tuned = _parse(d, where=f"settings file {str(path)!r}", base_dir=path.resolve().parent, hook=hook,
                           source=str(path))
        else:
            if isinstance(d, dict) and isinstance(d.get("model"), str) and not is_builtin(d["model"]):
                d = {**d, "model": str(resolve_model_path(d["model"], path.resolve().parent))}
            try:
                det = settings_from_dict(d)
            except SettingsError as exc:
                raise SettingsError(f"settings file {str(path)!r}: {exc}") from None
    else:
        raise ParameterError(
            f"{owner} must be None, DetectorSettings, AmdSettings, TunedSettings, a settings dict or the path "
            f"of a settings file. Got {type(obj).__name__} instead."
        )
    if tuned is not None:
        det = tuned.detector_settings
        if det is None or isinstance(det, dict):
            det = settings_from_dict(tuned.detector_dict())
        det = det.with_call(tuned.lsd_timeout_milliseconds, tuned.timer_mode)
    if backend is not None and backend != det.backend:
        raise ParameterError(f"{owner}: backend {backend} conflicts with settings of the {det.backend!r} backend; "
                             "drop --backend or pass settings of that backend.")
    if timeout_ms is not None or timer_mode is not None:
        det = det.with_call(timeout_ms, timer_mode)
    return det
