"""Export a tuning result: the settings file, an Asterisk ``amd.conf``, and the tuning record.

Only a result that holds the budget (``TuneResult.feasible``) is exported; anything else is
refused with the tuner's own explanation, and nothing is written. Every file is written
atomically (temp file, then rename).

Files
-----
``settings.json``
    The versioned settings file of :mod:`lsdlab.settingsfile` (what ``lsdlab evaluate
    --settings``, ``lsdlab.load_settings`` and ``start_call(live_speaker_detect=...)`` read).
``settings.tuning.json`` (beside it)
    The tuning record: corpora (paths and sha256), seed, margins, whether the dialer's drop
    rate was given or assumed, the country's budget window, the tuner's warnings and every
    trial's figures, from which ``lsdlab report`` draws the Pareto fronts and its warnings.
    The settings file schema has no room for it, and the settings file stays valid without it.
``amd.conf`` (``amd_conf=``, app_amd backend only)
    Asterisk's ``[general]`` section with the tuned values.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..detect.model import ModelReference, model_reference
from ..errors import ModelError, ParameterError, SettingsError
from ..evaluation.metrics import evidence_dict
from ..settingsfile import TunedSettings, save_settings

__all__ = ["settings_document", "export", "record_path", "tuning_record", "load_record"]

RECORD_VERSION = 1


def record_path(settings_path: str | os.PathLike) -> Path:
    """Where the tuning record of a settings file lives: ``NAME.tuning.json`` beside it."""
    p = Path(settings_path)
    return p.with_name(p.stem + ".tuning.json")


def _model_reference(model: str) -> ModelReference:
    try:
        return model_reference(model)[0]
    except ModelError as exc:
        raise SettingsError(f"detector.model: {exc}; tune with an existing model.") from None


def settings_document(result, *, created: str | None = None) -> TunedSettings:
    """The validated :class:`~lsdlab.settingsfile.TunedSettings` of a feasible tuning result.

    Raises
    ------
    SettingsError
        The result does not hold the budget (its message says why), or has no evidence.
    """
    from ..detect.types import TimerMode

    if not getattr(result, "feasible", False) or result.evidence is None:
        raise SettingsError("refusing to export settings that do not hold the budget:\n" + (result.message or "no evidence"))
    s = result.settings
    det = s.to_dict()
    if result.backend == "default":
        model: ModelReference | None = _model_reference(s.model)
        assert model is not None
        det["model"] = model.reference
        timer_mode = s.timer_mode
        timeout = int(s.timeout_ms)
    else:
        model = None
        timer_mode = TimerMode.TIMEOUT_FROM_NETWORK_CONNECT
        timeout = int(s.total_analysis_time_ms)
    ev = evidence_dict(result.evidence, corpus_sha256=result.evidence_corpus.sha256)
    return TunedSettings.build(
        country=result.profile.code,
        timer_mode=timer_mode,
        lsd_timeout_milliseconds=timeout,
        detector=det,
        model=model,
        budget=result.evidence.budget_dict(),
        evidence=ev,
        created=created,
    )


def tuning_record(result, settings: TunedSettings) -> dict:
    """The JSON-ready tuning record (see the module docstring)."""
    return {
        "record_version": RECORD_VERSION,
        "country": result.profile.code,
        "backend": result.backend,
        "created": settings.created,
        "settings_detector": settings.detector,
        "tuning_corpus": {"path": str(result.tuning_corpus.root), "sha256": result.tuning_corpus.sha256,
                          "calls": len(result.tuning_corpus)},
        "evidence_corpus": {"path": str(result.evidence_corpus.root), "sha256": result.evidence_corpus.sha256,
                            "calls": len(result.evidence_corpus)},
        "seed": result.seed,
        "n_trials": result.n_trials,
        "trial_batch": int(getattr(result, "trial_batch", 1)),
        "dialer_drop_rate": result.dialer_drop_rate,
        "dialer_drop_rate_given": bool(getattr(result, "dialer_drop_rate_given", True)),
        "abandoned_window": result.profile.abandoned_window,
        "abandoned_window_days": result.profile.abandoned_window_days,
        "warnings": list(result.warnings),
        "agent_connect_ms": result.agent_connect_ms,
        "margin_logit": result.margin_logit,
        "margin_ms": result.margin_ms,
        "best_trial": result.best_trial,
        "trials": [t.to_dict() for t in result.trials],
    }


def load_record(settings_path: str | os.PathLike) -> dict | None:
    """The tuning record beside a settings file, or None when absent or unreadable."""
    p = record_path(settings_path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(d, dict) or d.get("record_version") != RECORD_VERSION or not isinstance(d.get("trials"), list):
        return None
    return d


def export(result, path: str | os.PathLike, *, amd_conf: str | os.PathLike | None = None, record: bool = True) -> Path:
    """Write a feasible tuning result as a settings file (and optionally ``amd.conf``).

    Parameters
    ----------
    result : TuneResult
        From :func:`lsdlab.tune.tune`; refused (SettingsError, nothing written) when it does
        not hold the budget.
    path : path
        The settings file to write (JSON).
    amd_conf : path, optional
        Also write Asterisk's amd.conf there (app_amd backend only).
    record : bool
        Also write the tuning record ``NAME.tuning.json`` (used by ``lsdlab report``).

    Returns
    -------
    Path
        The settings file.
    """
    from ..audio.io import atomic_path

    if amd_conf is not None and result.backend != "app_amd":
        raise ParameterError(
            f"amd_conf={str(amd_conf)!r}: an Asterisk amd.conf holds app_amd settings, but these were tuned for the "
            f"{result.backend!r} backend; tune with backend='app_amd' (--backend app_amd) or drop --amd-conf."
        )
    doc = settings_document(result)
    rec = tuning_record(result, doc) if record else None
    path = save_settings(doc, Path(path))
    if amd_conf is not None:
        with atomic_path(amd_conf) as tmp:
            Path(tmp).write_text(result.settings.to_amd_conf(), encoding="utf-8")
    if rec is not None:
        with atomic_path(record_path(path)) as tmp:
            Path(tmp).write_text(json.dumps(rec, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path
