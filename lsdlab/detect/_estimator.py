"""The scikit-learn side of the cadence model (imported only when a model is trained or its
estimator is used: inference goes through :class:`lsdlab.detect.model.CompiledModel`).

The class is published as ``lsdlab.detect.model.CadenceClassifier`` (its ``__module__``), the
name model files record; :mod:`lsdlab.detect.model` resolves it lazily.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .features import FEATURE_NAMES
from .model import MONOTONIC, _proba, _tree_sum

__all__ = ["CadenceClassifier"]


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
        return _tree_sum(self.tree_arrays_, x)

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
        return _proba(self.offset_ + self._tree_sum(x))


CadenceClassifier.__module__ = "lsdlab.detect.model"  # the name model files record
