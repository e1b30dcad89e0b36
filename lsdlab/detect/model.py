"""The cadence model: a scikit-learn classifier of P(machine) from prefix features.

:class:`CadenceClassifier` follows the scikit-learn estimator contract (parameters stored
untouched in ``__init__``, learned state in trailing-underscore attributes set by ``fit``).
For streaming use it compiles its fitted trees into flat arrays, so one prediction costs
tens of microseconds instead of a full ``predict_proba`` call; both paths agree to 1e-9.
Model files are saved and loaded with skops (never pickle), trusting only known types.

Inference needs only those arrays: :func:`default_model` returns a :class:`CompiledModel`
read from a ``.npz`` cache (numbers only, loaded without pickle) keyed by the model file's
sha256, so a detector starts without importing scikit-learn or skops. The estimator itself
is loaded from the skops file when something asks for more than ``machine_proba``.
This module imports neither library at import time; ``CadenceClassifier`` is resolved on
first use (it lives in :mod:`lsdlab.detect._estimator`, published under this module's name,
the one model files record).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._cache import cache_home, mark_used
from .._hashing import file_sha256
from ..audio.io import atomic_path
from ..errors import ModelError
from .features import FEATURE_NAMES

if TYPE_CHECKING:
    from ._estimator import CadenceClassifier

__all__ = ["CadenceClassifier", "CompiledModel", "load_model", "save_model", "default_model", "model_sha256",
           "BUILTIN_MODEL", "BUILTIN_REFERENCE", "ModelReference", "builtin_model_path", "is_builtin",
           "resolve_model_path", "model_reference", "compiled_cache_dir"]

logger = logging.getLogger(__name__)

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


def __getattr__(name: str) -> Any:
    # Lazy: importing the detector must not import scikit-learn (about 0.5 s).
    if name == "CadenceClassifier":
        from ._estimator import CadenceClassifier

        return CadenceClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _tree_sum(arrays: tuple, x) -> float:
    """Sum of the trees' leaf values for one sample (trees in order, left to right)."""
    feat, thr, left, right, val, idx, depth = arrays
    xa = np.asarray(x, dtype=np.float64)
    # every node's next node for this sample, in one pass over all nodes (fewer numpy calls
    # than gathering feature, threshold and both children per level); then ``depth`` steps
    nxt = np.where(xa[feat] <= thr, left, right)
    for _ in range(depth):
        idx = nxt[idx]
    # cumsum adds in order, as a loop would: the result does not depend on numpy's
    # pairwise summation
    return float(np.cumsum(val[idx])[-1])


def _proba(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


#: Version of the compiled-array layout (a change invalidates the .npz caches).
_COMPILED_FORMAT = 1
_ARRAY_NAMES = ("feat", "thr", "left", "right", "val", "root")


class CompiledModel:
    """A fitted :class:`CadenceClassifier` reduced to what inference needs: its trees as flat
    arrays and the offset. ``machine_proba`` gives exactly the estimator's fast-path value
    (the same arrays and arithmetic). Any other attribute (``predict_proba``,
    ``get_params``, ``estimator_`` ...) loads the estimator from the skops file ``path``
    (``sha256``) and is taken from it.
    """

    def __init__(self, arrays: tuple, offset: float, *, path: str | Path, sha256: str) -> None:
        self.tree_arrays_ = arrays
        self.offset_ = float(offset)
        self.path = str(path)
        self.sha256 = sha256
        self.n_features_in_ = len(FEATURE_NAMES)
        self._estimator: CadenceClassifier | None = None

    def machine_proba(self, x) -> float:
        """P(class 1) for one feature vector, by the compiled trees."""
        return _proba(self.offset_ + _tree_sum(self.tree_arrays_, x))

    def _tree_sum(self, x) -> float:
        return _tree_sum(self.tree_arrays_, x)

    @property
    def estimator(self) -> CadenceClassifier:
        """The full estimator, loaded from the skops file on first use."""
        if self._estimator is None:
            with _LOAD_LOCK:
                est = load_model(self.path)
            if file_sha256(self.path) != self.sha256:
                raise ModelError(f"{self.path} changed since its compiled trees were loaded (sha256 {self.sha256[:12]}...); "
                                 f"reload it with default_model().")
            self._estimator = est
        return self._estimator

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "_estimator":
            raise AttributeError(name)
        return getattr(self.estimator, name)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_estimator"] = None  # workers load it again if they need it
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    @classmethod
    def of(cls, model: CadenceClassifier, *, path: str | Path, sha256: str) -> CompiledModel:
        if "tree_arrays_" not in model.__dict__:
            model._compile()
        m = cls(model.tree_arrays_, model.offset_, path=path, sha256=sha256)
        m._estimator = model
        return m

    def save(self, path: str | Path) -> None:
        """Write the arrays as an uncompressed .npz (numbers only), atomically."""
        feat, thr, left, right, val, root, depth = self.tree_arrays_
        arrays = dict(feat=feat, thr=thr, left=left, right=right, val=val, root=root)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()},  # type: ignore[arg-type]
                     depth=np.int64(depth), offset=np.float64(self.offset_), format=np.int64(_COMPILED_FORMAT),
                     sha256=np.array(self.sha256), n_features=np.int64(self.n_features_in_))

    @classmethod
    def load(cls, npz: str | Path, *, path: str | Path, sha256: str) -> CompiledModel:
        """Read arrays written by :meth:`save` for the model file ``path`` with ``sha256``; a
        ValueError when the file is not such a cache (the caller then rebuilds it)."""
        with np.load(npz, allow_pickle=False) as z:
            if int(z["format"]) != _COMPILED_FORMAT or str(z["sha256"]) != sha256 or int(z["n_features"]) != len(FEATURE_NAMES):
                raise ValueError(f"{npz} is not the compiled form of {path} (sha256 {sha256[:12]}...)")
            feat, thr, left, right, val, root = (z[k] for k in _ARRAY_NAMES)
            depth, offset = int(z["depth"]), float(z["offset"])
        n = len(feat)
        if not (len(thr) == len(left) == len(right) == len(val) == n) or n == 0:
            raise ValueError(f"{npz}: arrays of different lengths")
        ints = [np.ascontiguousarray(a, dtype=np.intp) for a in (feat, left, right, root)]
        if any(a.min() < 0 or a.max() >= n for a in ints[1:]) or ints[0].max() >= len(FEATURE_NAMES) or ints[0].min() < 0:
            raise ValueError(f"{npz}: node or feature index out of range")
        arrays = (ints[0], np.ascontiguousarray(thr, np.float64), ints[1], ints[2], np.ascontiguousarray(val, np.float64),
                  ints[3], depth)
        return cls(arrays, offset, path=path, sha256=sha256)


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


# --------------------------------------------------------------------------- model references
# A model is named by a reference: ``builtin:NAME`` (the packaged ``models/NAME.skops``), an
# absolute path, or a path relative to a folder (a settings file's). This is the one place
# references are parsed, resolved and hashed; settings files, the tuner's export and the trace
# cache all go through it.

#: ``builtin:NAME``: a packaged model (``lsdlab/detect/models/NAME.skops``).
BUILTIN_REFERENCE = re.compile(r"^builtin:([A-Za-z0-9_.-]+)$")


@dataclass(frozen=True)
class ModelReference:
    """The model a settings file uses: where it is and its sha256 (lower-case hex)."""

    reference: str
    sha256: str

    def to_dict(self) -> dict:
        return {"reference": self.reference, "sha256": self.sha256}


def builtin_model_path(name: str = "default") -> Path:
    """The packaged model ``lsdlab/detect/models/NAME.skops`` (it may not exist)."""
    return BUILTIN_MODEL.parent / f"{name}.skops"


def is_builtin(ref: str) -> bool:
    """True for a ``builtin:NAME`` reference."""
    return BUILTIN_REFERENCE.match(ref) is not None


def resolve_model_path(ref: str, base_dir: str | Path | None = None) -> Path:
    """The model file a reference names: ``builtin:NAME`` -> the packaged model; ``~`` expanded;
    a relative path resolved against ``base_dir`` (when given, else left relative)."""
    m = BUILTIN_REFERENCE.match(ref)
    if m:
        return builtin_model_path(m.group(1))
    p = Path(ref).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


def model_reference(ref: str, base_dir: str | Path | None = None) -> tuple[ModelReference, Path]:
    """The :class:`ModelReference` to record for a model, and its file.

    A ``builtin:NAME`` reference is kept as it is; a path becomes absolute. Raises
    :class:`~lsdlab.errors.ModelError` when the file does not exist.
    """
    path = resolve_model_path(ref, base_dir).resolve()
    if not path.is_file():
        raise ModelError(f"model {ref!r} names {str(path)!r}, which does not exist")
    return ModelReference(ref if is_builtin(ref) else str(path), file_sha256(path)), path


def save_model(model: CadenceClassifier, path: str | Path, *, metadata: dict | None = None) -> Path:
    """Save with skops, atomically; ``metadata`` (JSON-able) goes into a sidecar .json."""
    import json

    import skops.io as sio
    from sklearn.utils.validation import check_is_fitted

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

    from ._estimator import CadenceClassifier

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


def compiled_cache_dir() -> Path:
    """Where compiled models are cached: ``$XDG_CACHE_HOME/lsdlab/models`` (``~/.cache/...``)."""
    return cache_home() / "models"


def load_compiled(path: str | Path, *, cache_dir: str | Path | None = None) -> CompiledModel:
    """The :class:`CompiledModel` of the skops file ``path``: from ``<cache>/<sha256>.npz``
    when present and valid, else by loading the file with :func:`load_model` (all its checks)
    and writing that cache. The cache is an optimisation: any problem with it falls back to
    the skops file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; train one with `lsdlab train CORPUS --out {path.name}` or use 'builtin:default'.")
    sha = file_sha256(path)
    npz = Path(cache_dir) if cache_dir is not None else compiled_cache_dir()
    npz = npz / f"{sha}.npz"
    if npz.is_file():
        try:
            compiled = CompiledModel.load(npz, path=path, sha256=sha)
            mark_used(npz)  # `lsdlab cache clear --older-than` keeps it
            return compiled
        except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as exc:
            logger.warning("compiled model cache %s unusable (%s); rebuilding it from %s", npz, exc, path)
    model = CompiledModel.of(load_model(path), path=path, sha256=sha)
    try:
        npz.parent.mkdir(parents=True, exist_ok=True)
        model.save(npz)
    except OSError as exc:
        logger.warning("could not write the compiled model cache %s: %s", npz, exc)
    return model


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> CompiledModel:
    return load_compiled(path)


def default_model(ref: str = "builtin:default") -> CompiledModel:
    """The model named by a settings reference, compiled for inference (cached per file version)."""
    p = resolve_model_path(ref)
    if not p.is_file():
        raise ModelError(f"model {ref!r} ({p}) not found; for the built-in one run `lsdlab train corpora/demo --out {BUILTIN_MODEL}`.")
    with _LOAD_LOCK:  # skops loading is not thread-safe; calls in threads share one load
        return _cached(str(p), p.stat().st_mtime_ns)


_LOAD_LOCK = threading.RLock()


#: The sha256 of a model file (settings files record it).
model_sha256 = file_sha256
