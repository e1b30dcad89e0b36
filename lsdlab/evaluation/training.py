"""Training the cadence model from labelled corpora (``lsdlab train``).

Every human and machine call is traced (features at each 50 ms decision point after the
first speech); a :class:`~lsdlab.detect.model.CadenceClassifier` learns P(machine) from them,
each call weighted equally. Group-aware cross-validation (calls of one ``group`` never on
both sides) reports call-level figures with the default thresholds. Seeds are fixed, so the
same corpora give the same model file.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from .._version import __version__
from ..audio.channel import ChannelSettings
from ..corpus import Corpus
from ..detect import DetectorSettings
from ..detect.detector import CallTrace
from ..detect.features import SILENCE_INDEX
from ..detect.model import CadenceClassifier, save_model
from ..errors import ParameterError
from .runner import decisions_from_traces, trace_corpus

__all__ = ["TRAINABLE_LICENCES", "TrainingSet", "build_training_set", "cross_validate", "train_model", "format_report"]

#: Licences that allow shipping a model trained on the audio (and reproducing it).
TRAINABLE_LICENCES = ("MIT", "CC0", "CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0",
                      "public-domain", "generated")
#: Decision points later than this after the first speech are not used for training.
HORIZON_S = 8.0
#: A machine call's decision points after this much silence are not used for training: there
#: the machine (its greeting over, or a long pause in it) sounds like a person who stopped
#: talking, and labelling that silence "machine" taught the model that silence after a turn
#: is machine evidence. (The default end-of-turn silence; human rows in silence are kept.)
SILENT_AFTER_S = 0.75


@dataclass
class TrainingSet:
    calls: list  # corpus Calls (human/machine only)
    traces: list[CallTrace]
    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    call_index: np.ndarray  # row -> index into calls
    groups: np.ndarray  # per call

    @property
    def row_groups(self) -> np.ndarray:
        return self.groups[self.call_index]


def _usable(corpus: Corpus, allow_unlicensed: bool) -> Corpus:
    bad = [c for c in corpus.calls if c.licence not in TRAINABLE_LICENCES]
    if bad and not allow_unlicensed:
        lic = sorted({c.licence or "(empty)" for c in bad})
        raise ParameterError(
            f"{len(bad)} call(s) of corpus {corpus.root} have licence(s) {lic} that do not allow "
            f"training a model others can reproduce (e.g. {bad[0].path}); allowed: "
            f"{', '.join(TRAINABLE_LICENCES)}. Remove them, or pass --allow-unlicensed for a private model."
        )
    return corpus.subset(c for c in corpus.calls if c.label.value in ("human", "machine"))


def build_training_set(corpora: list[tuple[Corpus, ChannelSettings | None, tuple[float, float] | float]],
                       *, allow_unlicensed: bool = False, jobs: int = 1, progress: bool = False,
                       seed: int = 0, client=None, ship_audio: bool = False) -> TrainingSet:
    """Trace every human/machine call of the corpora; rows are decision points.

    ``jobs`` local processes, or the Dask cluster of ``client`` (a ``dask.distributed.Client``;
    ``ship_audio``: see :func:`lsdlab.evaluation.run_corpus`)."""
    calls, traces = [], []
    for corpus, channel, lead in corpora:
        sub = _usable(corpus, allow_unlicensed)
        tr = trace_corpus(sub, DetectorSettings(model="none", timeout_ms=10000), channel=channel,
                          lead_in_s=lead, seed=seed, jobs=jobs, progress=progress, client=client,
                          ship_audio=ship_audio)
        calls += list(sub.calls)
        traces += tr
    rows, ys, ws, idx = [], [], [], []
    for i, (c, t) in enumerate(zip(calls, traces)):
        if t.onset_hop is None:
            continue
        machine = c.label.value == "machine"
        keep = (t.hops.astype(np.int64) - t.onset_hop) * 0.01 <= HORIZON_S
        if machine:
            keep &= t.X[:, SILENCE_INDEX] < SILENT_AFTER_S - 1e-9
        n = int(keep.sum())
        if n == 0:
            continue
        label = 1 if machine else 0
        rows.append(t.X[keep])
        ys += [label] * n
        ws += [1.0 / n] * n
        idx += [i] * n
    if not rows:
        raise ParameterError("no speech found in any human or machine call; nothing to train on.")
    y = np.array(ys)
    w = np.array(ws)
    for cls in (0, 1):  # balance the classes
        m = y == cls
        if m.any():
            w[m] *= 0.5 / w[m].sum()
    groups = np.array([f"{c.group_key}" for c in calls])
    return TrainingSet(calls, traces, np.concatenate(rows), y, w * len(w), np.array(idx), groups)


def _call_figures(calls, traces, settings: DetectorSettings) -> dict:
    ds = decisions_from_traces(calls, traces, settings)
    hum = [d for d in ds if d.label == "human"]
    mac = [d for d in ds if d.label == "machine"]
    fp = sum(d.decision in ("machine", "fax") for d in hum)
    late = sum(d.decision in ("human", "unknown") and d.greeting_end_s is not None
               and d.decided_at_s - d.greeting_end_s > 1.5 for d in hum)
    rec = sum(d.decision == "machine" for d in mac)
    return {"humans": len(hum), "human_false_positives": fp, "humans_late_1_5s": late,
            "machines": len(mac), "machines_recognised": rec}


def cross_validate(ts: TrainingSet, *, n_splits: int = 5, params: dict | None = None,
                   settings: DetectorSettings | None = None,
                   progress: Callable[[str], None] | None = None) -> dict:
    """Group-aware CV: point-level AUC and call-level figures with the default thresholds.

    ``progress``, when given, is called with one line as each fold starts and ends.
    """
    settings = settings or DetectorSettings()
    n_groups = len(set(ts.groups.tolist()))
    k = min(n_splits, n_groups)
    if k < 2:
        raise ParameterError(f"cross-validation needs at least 2 groups; the corpora have {n_groups}.")
    gkf = GroupKFold(n_splits=k)
    folds = []
    total = {"humans": 0, "human_false_positives": 0, "humans_late_1_5s": 0, "machines": 0, "machines_recognised": 0}
    call_ids = np.arange(len(ts.calls))
    for i_fold, (tr_calls, te_calls) in enumerate(gkf.split(call_ids, groups=ts.groups), start=1):
        tr_rows = np.isin(ts.call_index, tr_calls)
        te_rows = np.isin(ts.call_index, te_calls)
        t0 = time.monotonic()
        if progress is not None:
            progress(f"fold {i_fold}/{k}: fitting on {len(tr_calls)} calls ({int(tr_rows.sum())} decision points) ...")
        model = CadenceClassifier(**(params or {})).fit(ts.X[tr_rows], ts.y[tr_rows], sample_weight=ts.w[tr_rows])
        auc = None
        if te_rows.any() and len(set(ts.y[te_rows].tolist())) == 2:
            auc = float(roc_auc_score(ts.y[te_rows], model.predict_proba(ts.X[te_rows])[:, 1], sample_weight=ts.w[te_rows]))
        calls = [ts.calls[i] for i in te_calls]
        traces = [ts.traces[i].with_model(model) for i in te_calls]
        f = _call_figures(calls, traces, settings)
        for key in total:
            total[key] += f[key]
        folds.append({"test_calls": len(te_calls), "auc": auc, **f})
        if progress is not None:
            progress(f"fold {i_fold}/{k}: tested on {len(te_calls)} calls, AUC "
                     f"{'n/a' if auc is None else f'{auc:.3f}'} ({time.monotonic() - t0:.1f} s)")
    rep = {
        "folds": folds,
        "n_splits": k,
        "total": total,
        "human_false_positive_rate": total["human_false_positives"] / max(total["humans"], 1),
        "human_late_rate": total["humans_late_1_5s"] / max(total["humans"], 1),
        "machine_recall": total["machines_recognised"] / max(total["machines"], 1),
        "mean_auc": float(np.mean([f["auc"] for f in folds if f["auc"] is not None])) if folds else None,
        "thresholds": settings.to_dict(),
    }
    return rep


def train_model(ts: TrainingSet, out: str | Path, *, params: dict | None = None, cv: dict | None = None,
                sources: list[dict] | None = None) -> tuple[CadenceClassifier, dict]:
    """Fit on every row and save with skops (plus a .json sidecar with the report)."""
    model = CadenceClassifier(**(params or {})).fit(ts.X, ts.y, sample_weight=ts.w)
    meta = {
        "lsdlab_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "params": model.get_params(),
        "training": {"calls": len(ts.calls), "rows": int(len(ts.y)),
                     "human_calls": int(sum(c.label.value == "human" for c in ts.calls)),
                     "machine_calls": int(sum(c.label.value == "machine" for c in ts.calls)),
                     "corpora": sources or []},
        "cross_validation": cv,
    }
    save_model(model, out, metadata=meta)
    return model, meta


def format_report(cv: dict) -> str:
    t = cv["total"]
    lines = [f"group {cv['n_splits']}-fold cross-validation (thresholds: machine {cv['thresholds']['machine_threshold']}, "
             f"human {cv['thresholds']['human_threshold']}, end-of-turn {cv['thresholds']['end_of_turn_silence_ms']} ms)"]
    for i, f in enumerate(cv["folds"]):
        auc = "n/a" if f["auc"] is None else f"{f['auc']:.3f}"
        lines.append(f"  fold {i + 1}: {f['test_calls']} calls, AUC {auc}, humans called machine "
                     f"{f['human_false_positives']}/{f['humans']}, machines recognised {f['machines_recognised']}/{f['machines']}")
    lines.append(f"  all folds: humans called machine {t['human_false_positives']}/{t['humans']} "
                 f"({cv['human_false_positive_rate']:.1%}), humans late >1.5 s {t['humans_late_1_5s']}/{t['humans']} "
                 f"({cv['human_late_rate']:.1%}), machines recognised {t['machines_recognised']}/{t['machines']} "
                 f"({cv['machine_recall']:.1%}), mean AUC {cv['mean_auc']:.3f}")
    return "\n".join(lines)


def dump_report(cv: dict) -> str:
    return json.dumps(cv, indent=2, sort_keys=True)
