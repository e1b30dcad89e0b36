"""The cadence model: a scikit-learn classifier of P(machine) from prefix features.

:class:`CadenceClassifier` follows the scikit-learn estimator contract (parameters stored
untouched in ``__init__``, learned state in trailing-underscore attributes set by ``fit``).
For streaming use it compiles its fitted trees into plain lists, so one prediction costs
tens of microseconds instead of a full ``predict_proba`` call; both paths agree to 1e-9.
Model files are saved and loaded with skops (never pickle), trusting only known types.
"""

from __future__ import annotations

import math
import threading
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._hashing import file_sha256
from ..audio.io import atomic_path
from ..errors import ModelError
from .features import FEATURE_NAMES

__all__ = ["CadenceClassifier", "load_model", "save_model", "default_model", "model_sha256", "BUILTIN_MODEL", "resolve_model_path"]

BUILTIN_MODEL = Path(__file__).resolve().parent / "models" / "default.skops"


#: Monotonic constraints (+1: more of it, more machine-like). Longer speech can only make a
#: machine likelier; silence only a person likelier. Every feature that changes while the line
#: is silent after a turn (time since the onset, the silence run, the pause after the first
#: utterance, the first utterance being done, the speech ratio) moves P(machine) down or not
#: at all, so P(machine) can never climb in the silence after a person's turn: silence is
#: evidence for a person, never for a machine (a real person who said a few words and waited
#: was called a machine 2-3 s into the silence when since_onset_s and silence_run_s were free).
MONOTONIC = {
    "since_onset_s": -1,
    "silence_run_s": -1,
    "speech_total_s": 1,
    "speech_ratio": 1,
    "first_utt_s": 1,
    "first_utt_done": -1,
    "pause_after_first_s": -1,
    "longest_utt_s": 1,
    "last_utt_s": 1,
}


class CadenceClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees over speech-cadence features; classes are 0 (human) and 1 (machine).

    Parameters
    ----------
    max_iter, max_depth, learning_rate, min_samples_leaf, l2_regularization, random_state :
        Passed to :class:`sklearn.ensemble.HistGradientBoostingClassifier`.
    monotonic : bool
        Apply :data:`MONOTONIC` constraints (only when fitted on lsdlab's own features,
        i.e. ``n_features_in_ == len(FEATURE_NAMES)``).
    """

    def __init__(self, *, max_iter=150, max_depth=3, learning_rate=0.08, min_samples_leaf=40,
                 l2_regularization=0.0, monotonic=True, random_state=0):
        self.max_iter = max_iter
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.monotonic = monotonic
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(
                f"Only binary classification is supported: CadenceClassifier needs exactly two classes in y "
                f"(0 human, 1 machine); got {len(self.classes_)} class(es) {self.classes_.tolist()}."
            )
        cst = None
        if self.monotonic and X.shape[1] == len(FEATURE_NAMES):
            cst = [MONOTONIC.get(n, 0) for n in FEATURE_NAMES]
        self.estimator_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter, max_depth=self.max_depth, learning_rate=self.learning_rate,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
            monotonic_cst=cst, early_stopping=False, random_state=self.random_state,
        ).fit(X, y, sample_weight=sample_weight)
        self.n_iter_ = self.estimator_.n_iter_
        self._compile()
        return self

    def __getstate__(self):
        # the compiled trees are derived data: not saved (model files stay small), rebuilt on use
        state = dict(self.__dict__)
        state.pop("trees_", None)
        state.pop("offset_", None)
        state.pop("tree_arrays_", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def _compile(self) -> None:
        est = self.estimator_
        trees = []
        for (pred,) in est._predictors:  # binary: one predictor per iteration
            nodes = pred.nodes
            left = np.where(nodes["is_leaf"].astype(bool), -1, nodes["left"].astype(np.int64)).tolist()
            trees.append((nodes["feature_idx"].astype(int).tolist(), nodes["num_threshold"].astype(float).tolist(),
                          left, nodes["right"].astype(int).tolist(), nodes["value"].astype(float).tolist()))
        self.trees_ = trees
        # the same trees as flat arrays over (tree, node), walked for all trees at once;
        # a leaf points to itself, so walking ``depth`` levels ends on every tree's leaf
        width = max(len(t[0]) for t in trees)
        n = len(trees) * width
        feat, left, right = np.zeros(n, np.intp), np.zeros(n, np.intp), np.zeros(n, np.intp)
        thr, val = np.zeros(n), np.zeros(n)
        depth = 0
        for i, (f, th, lf, rt, v) in enumerate(trees):
            base, k = i * width, len(f)
            feat[base : base + k], thr[base : base + k], val[base : base + k] = f, th, v
            level = [0] * k
            for j in range(k):
                if lf[j] == -1:
                    left[base + j] = right[base + j] = base + j
                else:
                    left[base + j], right[base + j] = base + lf[j], base + rt[j]
                    level[lf[j]] = level[rt[j]] = level[j] + 1
            depth = max(depth, max(level))
        self.tree_arrays_ = (feat, thr, left, right, val, np.arange(len(trees)) * width, depth)
        x0 = np.zeros((1, self.n_features_in_))
        self.offset_ = float(est.decision_function(x0)[0]) - self._tree_sum(x0[0].tolist())

    def _tree_sum(self, x) -> float:
        """Sum of the trees' leaf values for one sample (trees in order, left to right)."""
        feat, thr, left, right, val, idx, depth = self.tree_arrays_
        xa = np.asarray(x, dtype=np.float64)
        for _ in range(depth):
            idx = np.where(xa[feat[idx]] <= thr[idx], left[idx], right[idx])
        # cumsum adds in order, as a loop would: the result does not depend on numpy's
        # pairwise summation
        return float(np.cumsum(val[idx])[-1])

    def _tree_sum_loop(self, x) -> float:
        """The same sum by walking each tree in Python (reference for tests)."""
        s = 0.0
        for feat, thr, left, right, val in self.trees_:
            i = 0
            while left[i] != -1:
                i = left[i] if x[feat[i]] <= thr[i] else right[i]
            s += val[i]
        return s

    def decision_function(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.estimator_.decision_function(X)

    def predict_proba(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.estimator_.predict_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # P(machine) against P(human), by design
        return tags

    def predict(self, X):
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def machine_proba(self, x: list[float]) -> float:
        """P(class 1) for one feature vector, by the compiled trees (fast path)."""
        if "trees_" not in self.__dict__:
            self._compile()
        z = self.offset_ + self._tree_sum(x)
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        ez = math.exp(z)
        return ez / (1.0 + ez)


_TRUSTED = {
    "lsdlab.detect.model.CadenceClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.dummy.DummyClassifier",
    "numpy.random.mtrand.RandomState",
    "numpy.random._mt19937.MT19937",
    "sklearn.ensemble._gb.BaseGradientBoosting",
    "builtins.slice",
    "collections.OrderedDict",
}




def resolve_model_path(ref: str, base_dir: str | Path | None = None) -> Path:
    """'builtin:default' -> the packaged model; a relative path is resolved against ``base_dir``."""
    if ref == "builtin:default":
        return BUILTIN_MODEL
    p = Path(ref)
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


def save_model(model: CadenceClassifier, path: str | Path, *, metadata: dict | None = None) -> Path:
    """Save with skops, atomically; ``metadata`` (JSON-able) goes into a sidecar .json."""
    import json

    import skops.io as sio

    check_is_fitted(model)
    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump(model, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    if metadata is not None:
        meta = dict(metadata, sha256=file_sha256(path), feature_names=list(FEATURE_NAMES))
        with atomic_path(path.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def load_model(path: str | Path) -> CadenceClassifier:
    """Load a skops model file, refusing any type outside lsdlab's and scikit-learn's own."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; train one with `lsdlab train CORPUS --out {path.name}` or use 'builtin:default'.")
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:  # noqa: BLE001 - skops raises many types on corrupt files
        raise ModelError(f"{path}: not a readable skops model file ({exc}); re-train or re-download it.") from None
    bad = sorted(set(untrusted) - _TRUSTED)
    if bad:
        raise ModelError(f"{path}: refusing to load untrusted types {bad}; lsdlab only loads its own CadenceClassifier models.")
    try:
        model = sio.load(str(path), trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{path}: cannot load the model ({exc}).") from None
    if not isinstance(model, CadenceClassifier) or not hasattr(model, "estimator_"):
        raise ModelError(f"{path}: holds a {type(model).__name__}, not a fitted lsdlab CadenceClassifier.")
    if getattr(model, "n_features_in_", None) != len(FEATURE_NAMES):
        raise ModelError(f"{path}: the model expects {getattr(model, 'n_features_in_', '?')} features, this lsdlab computes {len(FEATURE_NAMES)}; re-train it.")
    model._compile()
    return model


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> CadenceClassifier:
    return load_model(path)


def default_model(ref: str = "builtin:default") -> CadenceClassifier:
    """The model named by a settings reference (cached per file version)."""
    p = resolve_model_path(ref)
    if not p.is_file():
        raise ModelError(f"model {ref!r} ({p}) not found; for the built-in one run `lsdlab train corpora/demo --out {BUILTIN_MODEL}`.")
    with _LOAD_LOCK:  # skops loading is not thread-safe; calls in threads share one load
        return _cached(str(p), p.stat().st_mtime_ns)


_LOAD_LOCK = threading.Lock()


#: The sha256 of a model file (settings files record it).
model_sha256 = file_sha256
