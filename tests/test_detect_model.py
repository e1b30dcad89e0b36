"""The cadence model: the scikit-learn contract, the compiled fast path, skops files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from lsdlab.detect import FEATURE_NAMES, DetectorSettings, LiveSpeakerDetector, trace_audio
from lsdlab.detect.model import (
    BUILTIN_MODEL,
    CadenceClassifier,
    default_model,
    load_model,
    model_sha256,
    save_model,
)
from lsdlab.errors import ModelError

REPO = Path(__file__).resolve().parent.parent
NF = len(FEATURE_NAMES)


def cadence_like(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random feature vectors in the features' ranges, labelled by a noisy cadence rule."""
    since = rng.uniform(0.05, 8.0, n)
    sil = rng.uniform(0.0, 3.0, n) * (rng.random(n) < 0.6)
    total = since * rng.uniform(0.1, 1.0, n)
    n_utt = rng.integers(1, 8, n).astype(float)
    first = np.minimum(total, rng.uniform(0.1, 5.0, n))
    X = np.column_stack([since, sil, total, total / since, n_utt, first, (sil > 0.35).astype(float),
                         rng.uniform(0, 2, n), np.maximum(first, rng.uniform(0.1, 5, n)), rng.uniform(0.1, 4, n)])
    y = ((first > 1.6) | (n_utt > 3) | (rng.random(n) < 0.05)).astype(int)
    return X, y


@pytest.fixture(scope="module")
def fitted() -> tuple[CadenceClassifier, np.ndarray]:
    X, y = cadence_like(np.random.default_rng(7), 3000)
    return CadenceClassifier(max_iter=30).fit(X, y), X


# --------------------------------------------------------------------------- contract
# HistGradientBoosting bins each feature on the unweighted rows, so fitting with integer
# sample weights is not the same as repeating rows; scikit-learn marks this very check as an
# expected failure for its own HistGradientBoostingClassifier.
EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": (
        "histogram binning ignores sample_weight (as in sklearn's HistGradientBoostingClassifier)"
    ),
}


@parametrize_with_checks([CadenceClassifier(max_iter=8, min_samples_leaf=2)], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_rejects_multiclass_targets_clearly():
    X, _ = cadence_like(np.random.default_rng(0), 60)
    with pytest.raises(ValueError, match=r"Only binary classification is supported: .* got 3 class\(es\) \[0, 1, 2\]"):
        CadenceClassifier().fit(X, np.arange(60) % 3)


def test_unfitted_model_refuses_to_predict():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CadenceClassifier().predict_proba(np.zeros((1, NF)))


def test_params_round_trip():
    m = CadenceClassifier(max_iter=12, learning_rate=0.2)
    assert m.get_params()["max_iter"] == 12
    assert m.set_params(max_iter=5).max_iter == 5


# --------------------------------------------------------------------------- fast path
def test_fast_path_equals_predict_proba_on_random_inputs(fitted, rng):
    model, X = fitted
    Xr, _ = cadence_like(rng, 500)
    Xw = rng.uniform(-5, 50, (200, NF))  # outside the training range too
    for A in (X[:300], Xr, Xw):
        p = model.predict_proba(A)[:, 1]
        fast = np.array([model.machine_proba(list(x)) for x in A])
        np.testing.assert_allclose(fast, p, rtol=0, atol=1e-9)


def test_fast_path_on_exact_thresholds(fitted, rng):
    """Inputs exactly on split thresholds must go the same way as scikit-learn's predictor."""
    model, X = fitted
    model.machine_proba(list(X[0]))  # compiles the trees
    A = X[:400].copy()
    for tree in model.trees_[:20]:
        for feat, thr in zip(tree[0], tree[1]):
            if np.isfinite(thr) and thr != 0.0:
                A[rng.integers(len(A)), feat] = thr
    np.testing.assert_allclose([model.machine_proba(list(x)) for x in A], model.predict_proba(A)[:, 1], rtol=0, atol=1e-9)


def test_default_model_fast_path_on_real_features():
    import soundfile as sf

    path = REPO / "corpora" / "demo" / "machine" / "machine-001.wav"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    audio, sr = sf.read(path, dtype="float32")
    trace = trace_audio(audio, sr, DetectorSettings())
    assert trace.features, "no model evaluations on a machine greeting"
    model = default_model()
    X = np.asarray(trace.features)
    np.testing.assert_allclose([model.machine_proba(x) for x in trace.features], model.predict_proba(X)[:, 1], atol=1e-9)
    np.testing.assert_allclose([p for _, p, _ in trace.points], model.predict_proba(X)[:, 1], atol=1e-9)


def test_with_model_recomputes_points(fitted):
    import soundfile as sf

    path = REPO / "corpora" / "demo" / "machine" / "machine-001.wav"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    audio, sr = sf.read(path, dtype="float32")
    trace = trace_audio(audio, sr, DetectorSettings())
    model, _ = fitted
    other = trace.with_model(model)
    assert [h for h, _, _ in other.points] == [h for h, _, _ in trace.points]
    np.testing.assert_allclose([p for _, p, _ in other.points], model.predict_proba(np.asarray(trace.features))[:, 1], atol=1e-9)


# --------------------------------------------------------------------------- skops files
def test_skops_round_trip(fitted, tmp_path, rng):
    model, _ = fitted
    path = save_model(model, tmp_path / "m.skops", metadata={"note": "test"})
    assert path.is_file() and zipfile.is_zipfile(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["sha256"] == model_sha256(path) and meta["feature_names"] == list(FEATURE_NAMES) and meta["note"] == "test"
    back = load_model(path)
    assert isinstance(back, CadenceClassifier) and back.get_params() == model.get_params()
    Xr, _ = cadence_like(rng, 300)
    np.testing.assert_array_equal(back.predict_proba(Xr), model.predict_proba(Xr))
    np.testing.assert_allclose([back.machine_proba(list(x)) for x in Xr], model.predict_proba(Xr)[:, 1], atol=1e-9)
    assert not list(tmp_path.glob("*.tmp*")), "temporary files left behind"


def test_saved_file_holds_no_compiled_trees(fitted, tmp_path):
    model, _ = fitted
    path = save_model(model, tmp_path / "m.skops")
    state = sio.load(path, trusted=sio.get_untrusted_types(file=path)).__dict__
    assert "trees_" not in state and "tree_arrays_" not in state


def test_builtin_model_loads():
    m = load_model(BUILTIN_MODEL)
    assert m.n_features_in_ == NF
    assert default_model("builtin:default") is default_model("builtin:default")  # cached


def test_load_model_missing(tmp_path):
    with pytest.raises(ModelError, match=r"nope\.skops: no such model file; train one with `lsdlab train CORPUS --out nope\.skops`"):
        load_model(tmp_path / "nope.skops")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_load_model_corrupt(tmp_path, content):
    path = tmp_path / "bad.skops"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"bad\.skops: not a readable skops model file"):
        load_model(path)


def test_load_model_truncated(fitted, tmp_path):
    model, _ = fitted
    good = save_model(model, tmp_path / "good.skops")
    bad = tmp_path / "cut.skops"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelError, match=r"cut\.skops: (not a readable skops model file|cannot load the model)"):
        load_model(bad)


class Payload:
    """Not an estimator: a type no model file of lsdlab's may hold."""

    def __init__(self) -> None:
        self.command = "rm -rf /"


def test_load_model_refuses_untrusted_types(tmp_path):
    path = tmp_path / "payload.skops"
    sio.dump(Payload(), path)
    with pytest.raises(ModelError, match=r"payload\.skops: refusing to load untrusted types \[.*Payload'\]; lsdlab only loads its own CadenceClassifier"):
        load_model(path)


@pytest.mark.parametrize("estimator", [LogisticRegression(), DummyClassifier()], ids=lambda e: type(e).__name__)
def test_load_model_refuses_other_sklearn_estimators(tmp_path, estimator):
    X, y = cadence_like(np.random.default_rng(1), 200)
    path = tmp_path / "other.skops"
    sio.dump(estimator.fit(X, y), path)
    with pytest.raises(ModelError, match=rf"other\.skops: (holds a {type(estimator).__name__}, not a fitted lsdlab CadenceClassifier|refusing to load untrusted types)"):
        load_model(path)


def test_load_model_refuses_a_model_of_other_features(tmp_path):
    X, y = cadence_like(np.random.default_rng(1), 400)
    path = save_model(CadenceClassifier(max_iter=5).fit(X[:, :4], y), tmp_path / "four.skops")
    with pytest.raises(ModelError, match=r"four\.skops: the model expects 4 features, this lsdlab computes 10; re-train it"):
        load_model(path)


def test_detector_with_a_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match=r"not found"):
        LiveSpeakerDetector(DetectorSettings(model=str(tmp_path / "gone.skops")))


def test_detector_with_a_model_file(fitted, tmp_path, monkeypatch):
    # its compiled arrays are cached in a cache of the test's own: a new model file per run
    # (saved with a time stamp) added a file to the user's ~/.cache/lsdlab/models every run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    model, _ = fitted
    path = save_model(model, tmp_path / "m.skops")
    det = LiveSpeakerDetector(DetectorSettings(model=str(path)))
    assert det.model.get_params() == model.get_params()
    assert len(list((tmp_path / "xdg" / "lsdlab" / "models").glob("*.npz"))) == 1


def test_vectorised_tree_walk_equals_the_python_loop_bit_for_bit(fitted, rng):
    """machine_proba walks all trees at once with numpy; sums must match a plain loop exactly
    (traces and exported settings' evidence are compared for equality)."""
    model, X = fitted
    model.machine_proba(list(X[0]))
    Xr, _ = cadence_like(rng, 300)
    A = np.vstack([X[:300], Xr, rng.uniform(-5, 50, (100, NF))])
    for tree in model.trees_[:30]:  # and values exactly on split thresholds
        for feat, thr in zip(tree[0], tree[1]):
            if np.isfinite(thr):
                A[rng.integers(len(A)), feat] = thr
    for x in A.tolist():
        assert model._tree_sum(x) == model._tree_sum_loop(x)


def test_model_references_are_parsed_resolved_and_hashed_in_detect_model(tmp_path):
    """One owner of model references (issue 12): builtin:NAME, ~ and paths relative to a
    settings file's folder, the recorded reference and its sha256; settings files, the export
    and the trace cache all use it."""
    from lsdlab._hashing import file_sha256
    from lsdlab.detect.model import (
        builtin_model_path,
        is_builtin,
        model_reference,
        resolve_model_path,
    )

    assert resolve_model_path("builtin:default") == BUILTIN_MODEL == builtin_model_path("default")
    assert is_builtin("builtin:default") and not is_builtin("builtin:") and not is_builtin("models/x.skops")
    assert resolve_model_path("m.skops", tmp_path) == tmp_path / "m.skops"
    assert resolve_model_path("m.skops") == Path("m.skops")  # no folder given: left relative
    ref, path = model_reference("builtin:default")
    assert ref.reference == "builtin:default" and ref.sha256 == file_sha256(BUILTIN_MODEL) and path == BUILTIN_MODEL
    (tmp_path / "m.skops").write_bytes(BUILTIN_MODEL.read_bytes())
    ref, path = model_reference("m.skops", tmp_path)
    assert ref.reference == str(tmp_path / "m.skops") and ref.sha256 == file_sha256(BUILTIN_MODEL)
    with pytest.raises(ModelError, match=r"'gone\.skops' names .* which does not exist"):
        model_reference("gone.skops", tmp_path)
    # the settings file's names are the same objects (no second parser)
    import lsdlab.settingsfile as sf
    from lsdlab.detect import model as dm

    assert sf.ModelReference is dm.ModelReference and sf.builtin_model_path is dm.builtin_model_path
    assert not hasattr(sf, "_BUILTIN") and not hasattr(sf, "_resolve_model")
