"""The exported settings file: strict loading, atomic validated saving, round trips."""

from __future__ import annotations

import copy
import functools
import hashlib
import json

import pytest

import lsdlab
from lsdlab.detect.types import TimerMode
from lsdlab.errors import SettingsError
from lsdlab.settingsfile import (
    Budget,
    DelayReference,
    ModelReference,
    TunedSettings,
    builtin_model_path,
    file_sha256,
    load_settings,
    save_settings,
)

DETECTOR = {"backend": "default", "speech_threshold_db": -38.5, "end_of_turn_silence_ms": 600}


def accept(d: dict) -> dict:
    """Stand-in for lsdlab.detect.settings_from_dict: these tests are about the file format."""
    if d.get("speech_threshold_db", 0) > 0:
        raise SettingsError("speech_threshold_db must be <= 0 dBFS; got 5")
    return dict(d)


load = functools.partial(load_settings, detector_settings_from_dict=accept)
save = functools.partial(save_settings, detector_settings_from_dict=accept)


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "model.skops"
    p.write_bytes(b"not really skops, but real bytes with a real sha256\n" * 10)
    return p


def _evidence() -> dict:
    return {
        "corpus_sha256": "0123456789abcdef" * 4,
        "counts": {"human": 200, "machine": 120, "fax": 20, "silence": 10},
        "human_false_positive_rate": 0.0,
        "human_false_positive_upper95": 0.018275,
        "human_late_rate": 0.0,
        "machine_recall": 0.9,
        "fax_recall": 1.0,
        "decision_time_s": {
            "human": {"p50": 1.9, "p95": 2.4},
            "machine": {"p50": 3.1, "p95": 4.8},
            "fax": {"p50": 0.9, "p95": 1.2},
            "silence": {"p50": 3.5, "p95": 3.5},
            "human_after_greeting_end": {"p50": 0.62, "p95": 0.8},
        },
        "rules_passed": ["human_evidence", "budget_left_positive", "abandoned_within_budget"],
    }


@pytest.fixture
def good(model_file) -> dict:
    return {
        "schema_version": 1,
        "lsdlab_version": "0.1.0",
        "created": "2026-11-26T10:30:00+00:00",
        "country": "GB",
        "timer_mode": "TIMEOUT_FROM_ANSWER_DETECT",
        "lsd_timeout_milliseconds": 3500,
        "detector": copy.deepcopy(DETECTOR),
        "model": {"reference": model_file.name, "sha256": hashlib.sha256(model_file.read_bytes()).hexdigest()},
        "budget": {
            "abandoned_rate_max": 0.03,
            "dialer_drop_rate": 0.01,
            "agent_connect_ms": 300,
            "delay_limit_ms": 2000,
            "delay_reference": "speech_onset",
        },
        "evidence": _evidence(),
    }


def _write(path, d):
    path.write_text(json.dumps(d, indent=2), encoding="utf-8")
    return path


def test_load_good_file(tmp_path, good, model_file):
    s = load(_write(tmp_path / "gb.json", good))
    assert isinstance(s, TunedSettings)
    assert s.timer_mode is TimerMode.TIMEOUT_FROM_ANSWER_DETECT
    assert s.lsd_timeout_milliseconds == 3500
    assert s.budget == Budget(0.03, 0.01, 300, 2000, DelayReference.SPEECH_ONSET)
    assert s.budget.budget_left == pytest.approx(0.02)
    assert s.model == ModelReference(model_file.name, good["model"]["sha256"])
    assert s.model_path == model_file.resolve()
    # what the detector hook returned: the detector dict with the checked model file
    assert s.detector_settings == {**DETECTOR, "model": str(model_file.resolve())}
    assert s.backend == "default"
    assert s.evidence["machine_recall"] == 0.9
    assert s.to_dict() == good


def test_exported_from_package_root():
    assert lsdlab.load_settings is load_settings
    assert lsdlab.save_settings is save_settings
    assert lsdlab.TunedSettings is TunedSettings
    assert {"load_settings", "save_settings", "TunedSettings"} <= set(lsdlab.__all__)


def _set(path: str, value):
    def edit(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        d[last] = value

    return edit


def _del(path: str):
    def edit(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        del d[last]

    return edit


BAD = [
    # unknown keys
    (_set("colour", "blue"), r"colour: unknown key"),
    (_set("budget.margin", 0.1), r"budget\.margin: unknown key"),
    (_set("evidence.accuracy", 0.99), r"evidence\.accuracy: unknown key"),
    (_set("model.url", "http://x"), r"model\.url: unknown key"),
    # missing keys
    (_del("evidence"), r"evidence: missing required key"),
    (_del("timer_mode"), r"timer_mode: missing required key"),
    (_del("budget.agent_connect_ms"), r"budget\.agent_connect_ms: missing"),
    (_del("evidence.machine_recall"), r"evidence\.machine_recall: missing"),
    (_del("evidence.counts.fax"), r"evidence\.counts\.fax: missing"),
    (_del("detector.backend"), r"detector\.backend: missing"),
    # wrong types
    (_set("lsd_timeout_milliseconds", "3500"), r"lsd_timeout_milliseconds: must be an integer"),
    (_set("lsd_timeout_milliseconds", 3500.0), r"lsd_timeout_milliseconds: must be an integer"),
    (_set("evidence.machine_recall", "90%"), r"evidence\.machine_recall: must be a number"),
    (_set("evidence.counts.human", True), r"evidence\.counts\.human: must be an integer"),
    (_set("budget", [0.03]), r"budget: must be an object"),
    (_set("detector", "default"), r"detector: must be an object"),
    (_set("country", 44), r"country: must be a non-empty string"),
    (_set("evidence.rules_passed", "all"), r"evidence\.rules_passed: must be a list"),
    # out of range
    (_set("lsd_timeout_milliseconds", 12000), r"lsd_timeout_milliseconds: must be in \[500, 10000\]"),
    (_set("lsd_timeout_milliseconds", 499), r"lsd_timeout_milliseconds"),
    (_set("evidence.machine_recall", 1.5), r"evidence\.machine_recall: must be a number in \[0.0, 1.0\]"),
    (_set("evidence.human_false_positive_upper95", -0.1), r"evidence\.human_false_positive_upper95"),
    (_set("evidence.human_false_positive_upper95", None), r"evidence\.human_false_positive_upper95"),
    (_set("budget.abandoned_rate_max", 0), r"budget\.abandoned_rate_max"),
    (_set("budget.agent_connect_ms", 20000), r"budget\.agent_connect_ms"),
    (_set("budget.dialer_drop_rate", 0.03), r"budget\.dialer_drop_rate: .*leaves no budget"),
    (_set("evidence.decision_time_s.human.p95", -1.0), r"evidence\.decision_time_s\.human\.p95"),
    (_set("evidence.counts.fax", 0), r"evidence\.fax_recall: .*no fax calls"),
    (_set("evidence.fax_recall", None), r"evidence\.fax_recall: is null but there are 20"),
    # bad vocabulary
    (_set("timer_mode", "DEFAULT"), r"timer_mode: 'DEFAULT' is not a timer mode \(DEFAULT means TIMEOUT_FROM_NETWORK_CONNECT\)"),
    (_set("timer_mode", "from_answer"), r"timer_mode: 'from_answer'.*TIMEOUT_FROM_ANSWER_DETECT"),
    (_set("budget.delay_reference", "onset"), r"budget\.delay_reference: 'onset'.*speech_onset"),
    (_set("detector.backend", "vosk"), r"detector\.backend: 'vosk' is not a detector backend"),
    (_set("created", "yesterday"), r"created: 'yesterday' is not an ISO 8601"),
    (_set("created", "2026-11-26T10:30:00"), r"created: .*no time zone"),
    (_set("evidence.corpus_sha256", "abc"), r"evidence\.corpus_sha256"),
    # model
    (_set("model.sha256", "f" * 64), r"model\.sha256: f{64} does not match the file"),
    (_set("model.sha256", "F" * 64), r"model\.sha256: .*not in the expected form"),
    (_set("model.reference", "elsewhere.skops"), r"model\.reference: 'elsewhere\.skops' names .* which does not exist"),
    (_set("model", None), r"model: is null but the 'default' detector backend needs a model"),
    # schema version
    (_set("schema_version", 2), r"schema_version: version 2 is not supported"),
    (_set("schema_version", "1"), r"schema_version: must be the integer 1"),
    # the detector's own validation (via the hook)
    (_set("detector.speech_threshold_db", 5.0), r"detector: the detector refused its settings: speech_threshold_db"),
]


@pytest.mark.parametrize(("edit", "match"), BAD)
def test_bad_settings_file_refused_by_key(tmp_path, good, edit, match):
    edit(good)
    path = _write(tmp_path / "bad.json", good)
    with pytest.raises(SettingsError, match=match) as info:
        load(path)
    assert "bad.json" in str(info.value)


def test_every_problem_is_reported(tmp_path, good):
    good["colour"] = 1
    good["lsd_timeout_milliseconds"] = 20000
    good["evidence"]["machine_recall"] = 2
    with pytest.raises(SettingsError, match="3 problems") as info:
        load(_write(tmp_path / "bad.json", good))
    msg = str(info.value)
    assert "colour" in msg and "lsd_timeout_milliseconds" in msg and "evidence.machine_recall" in msg


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"schema_version": 1,', r"not valid JSON \(line 1"),
        ("schema_version = 1\n", r"not valid JSON"),
        ("", r"not valid JSON"),
        ("[1, 2]", r"JSON object at the top level"),
        ('{"schema_version": 1, "schema_version": 1}', r"'schema_version' appears twice"),
    ],
)
def test_non_json_refused(tmp_path, text, match):
    p = tmp_path / "bad.json"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=match):
        load(p)


def test_nan_refused(tmp_path, good):
    text = json.dumps(good).replace('"machine_recall": 0.9', '"machine_recall": NaN')
    p = tmp_path / "bad.json"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match="NaN is not allowed"):
        load(p)


def test_binary_and_missing_files_refused(tmp_path):
    p = tmp_path / "bad.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SettingsError, match="not UTF-8"):
        load(p)
    with pytest.raises(SettingsError, match="not found"):
        load(tmp_path / "missing.json")


def test_relative_model_resolved_against_settings_folder(tmp_path, good, model_file):
    sub = tmp_path / "exports"
    sub.mkdir()
    good["model"]["reference"] = "../model.skops"
    s = load(_write(sub / "gb.json", good))
    assert s.model_path is not None and s.model_path.resolve() == model_file.resolve()
    # the same dict loaded with the wrong base folder is refused
    with pytest.raises(SettingsError, match=r"model\.reference"):
        load(good, base_dir=sub / "deeper")


def test_absolute_model_reference(tmp_path, good, model_file):
    good["model"]["reference"] = str(model_file)
    elsewhere = tmp_path / "a" / "b"
    elsewhere.mkdir(parents=True)
    assert load(_write(elsewhere / "s.json", good)).model_path == model_file


def test_builtin_model_reference(tmp_path, good):
    good["model"]["reference"] = "builtin:default"
    packaged = builtin_model_path("default")
    assert packaged.name == "default.skops" and packaged.parent.name == "models"
    assert packaged.parent.parent.name == "detect"
    path = _write(tmp_path / "s.json", good)
    if packaged.is_file():
        good["model"]["sha256"] = file_sha256(packaged)
        assert load(_write(path, good)).model_path == packaged
        good["model"]["sha256"] = "0" * 64
        with pytest.raises(SettingsError, match=r"model\.sha256"):
            load(_write(path, good))
    else:
        with pytest.raises(SettingsError, match=r"model\.reference: 'builtin:default' names .*default\.skops"):
            load(path)


def test_app_amd_backend_needs_no_model(tmp_path, good):
    good["detector"] = {"backend": "app_amd", "initial_silence_ms": 2500}
    good["model"] = None
    s = load(_write(tmp_path / "amd.json", good))
    assert s.model is None and s.model_path is None and s.backend == "app_amd"
    assert s.to_dict()["model"] is None


def test_default_hook_is_lsdlab_detect_settings_from_dict(tmp_path, good, monkeypatch):
    import lsdlab.detect

    seen = []

    def fake(d):
        seen.append(d)
        raise SettingsError("unknown detector setting 'speech_threshold_db'")

    monkeypatch.setattr(lsdlab.detect, "settings_from_dict", fake, raising=False)
    with pytest.raises(SettingsError, match=r"detector: the detector refused its settings: unknown detector setting"):
        load_settings(_write(tmp_path / "s.json", good))
    # the hook sees the resolved, checksum-verified model file, not the raw reference
    assert seen == [{**DETECTOR, "model": str((tmp_path / "model.skops").resolve())}]


def test_hook_type_errors_become_settings_errors(tmp_path, good):
    def picky(d):
        raise TypeError("end_of_turn_silence_ms must be an int")

    with pytest.raises(SettingsError, match=r"detector: .*end_of_turn_silence_ms"):
        load_settings(good, detector_settings_from_dict=picky, base_dir=tmp_path)


# --------------------------------------------------------------------------- saving


def test_round_trip(tmp_path, good):
    s = load(good, base_dir=tmp_path)
    path = save(s, tmp_path / "gb.json")
    back = load(path)
    assert back == s
    assert back.to_dict() == s.to_dict() == good
    assert list(json.loads(path.read_text())) == list(good)  # key order kept
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_save_dict_and_build(tmp_path, good):
    path = save(good, tmp_path / "gb.json")
    assert load(path).to_dict() == good
    built = TunedSettings.build(
        country="GB",
        timer_mode=TimerMode.TIMEOUT_FROM_NETWORK_CONNECT,
        lsd_timeout_milliseconds=5000,
        detector=DETECTOR,
        model=ModelReference(good["model"]["reference"], good["model"]["sha256"]),
        budget=Budget(0.03, 0.01, 300, 2000, DelayReference.SPEECH_ONSET),
        evidence=_evidence(),
        base_dir=tmp_path,
        detector_settings_from_dict=accept,
    )
    assert built.lsdlab_version == lsdlab.__version__ and built.schema_version == 1
    assert built.created.endswith("+00:00")
    assert load(save(built, tmp_path / "built.json")) == built


@pytest.mark.parametrize(("edit", "match"), BAD[:6] + [(_set("model.sha256", "e" * 64), r"model\.sha256")])
def test_save_refuses_invalid_and_writes_nothing(tmp_path, good, edit, match):
    edit(good)
    dest = tmp_path / "never.json"
    with pytest.raises(SettingsError, match=match):
        save(good, dest)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model.skops"]


def test_save_refusal_leaves_existing_file_untouched(tmp_path, good):
    dest = save(good, tmp_path / "gb.json")
    before = dest.read_bytes()
    bad = copy.deepcopy(good)
    bad["lsd_timeout_milliseconds"] = 50
    with pytest.raises(SettingsError, match="lsd_timeout_milliseconds"):
        save(bad, dest)
    assert dest.read_bytes() == before


def test_save_checks_model_from_destination_folder(tmp_path, good):
    s = load(good, base_dir=tmp_path)
    other = tmp_path / "other"
    with pytest.raises(SettingsError, match=r"model\.reference"):
        save(s, other / "gb.json")
    assert not (other / "gb.json").exists()


def test_load_settings_passes_through_tuned_settings(tmp_path, good):
    s = load(good, base_dir=tmp_path)
    assert load_settings(s) is s
    with pytest.raises(SettingsError, match="path or a dict"):
        load_settings(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("timeout_ms", 7000, r"detector\.timeout_ms: is 7000 but lsd_timeout_milliseconds is 3500"),
        ("timer_mode", "TIMEOUT_FROM_NETWORK_CONNECT", r"detector\.timer_mode: .*but timer_mode is 'TIMEOUT_FROM_ANSWER_DETECT'"),
        ("model", "builtin:default", r"detector\.model: is 'builtin:default' but model\.reference is 'model\.skops'"),
    ],
)
def test_detector_must_agree_with_top_level(tmp_path, good, key, value, match):
    good["detector"][key] = value
    with pytest.raises(SettingsError, match=match):
        load(_write(tmp_path / "s.json", good))


def test_with_the_real_detector_settings(tmp_path, good, model_file):
    detect = pytest.importorskip("lsdlab.detect")
    if not hasattr(detect, "settings_from_dict") or not hasattr(detect, "DetectorSettings"):
        pytest.skip("lsdlab.detect has no settings_from_dict yet")
    det = detect.DetectorSettings(
        timeout_ms=3500, timer_mode=TimerMode.TIMEOUT_FROM_ANSWER_DETECT, model=model_file.name
    ).to_dict()
    good["detector"] = det
    s = load_settings(_write(tmp_path / "s.json", good))  # the real hook
    # the detector settings hold the resolved, checksum-verified model, not the raw reference
    assert s.detector_settings == detect.DetectorSettings.from_dict({**det, "model": str(model_file.resolve())})
    assert s.detector_dict()["model"] == str(model_file.resolve())
    good["detector"]["no_such_setting"] = 1
    with pytest.raises(SettingsError, match=r"detector.*no_such_setting"):
        load_settings(_write(tmp_path / "s.json", good))


def test_metrics_evidence_goes_into_a_settings_file(tmp_path, good):
    from lsdlab.tune import CallDecision, compliance, evidence_dict, load_profile

    calls = [CallDecision(f"h{i}.wav", "human", "human", 1.2, greeting_end_s=0.9, speech_onset_s=0.4) for i in range(150)]
    calls += [CallDecision("m.wav", "machine", "machine", 3.0), CallDecision("f.wav", "fax", "fax", 1.0)]
    result = compliance(calls, load_profile("GB"), dialer_drop_rate=0.01, agent_connect_ms=300)
    assert result.passed
    good["budget"] = result.budget_dict()
    good["evidence"] = evidence_dict(result, corpus_sha256="ab" * 32)
    s = load(save(good, tmp_path / "gb.json"))
    assert s.evidence["silence_live_rate"] is None and s.evidence["counts"]["silence"] == 0
    assert s.evidence["human_false_positive_upper95"] == result.figures.to_dict()["human_false_positive_upper95"]
    assert s.evidence["rules_passed"] == result.rules_passed
    assert s.budget.delay_reference is DelayReference.SPEECH_ONSET


# --------------------------------------------------------------------------- issue 15 item 3 / issue 12
def _tuned_in_folder(folder, good, *, detector_model: bool):
    """A settings file in ``folder`` naming the real packaged model copied there as model.skops."""
    import shutil

    from lsdlab.detect import DetectorSettings

    folder.mkdir()
    model = folder / "model.skops"
    shutil.copy(builtin_model_path("default"), model)
    det = DetectorSettings(timeout_ms=3500, timer_mode=TimerMode.TIMEOUT_FROM_ANSWER_DETECT).to_dict()
    if detector_model:
        det["model"] = "model.skops"
    else:
        det.pop("model", None)
    good["detector"] = det
    good["model"] = {"reference": "model.skops", "sha256": file_sha256(model)}
    return _write(folder / "settings.json", good), model


@pytest.mark.parametrize("detector_model", [True, False], ids=["detector-names-model", "top-level-model-only"])
def test_detector_settings_hold_the_checked_model_not_a_planted_one(tmp_path, good, monkeypatch, detector_model):
    """A settings file in A/ used from B/ must give A/model.skops (sha256 checked), never ./model.skops."""
    if not builtin_model_path("default").is_file():
        pytest.skip("no packaged model")
    from lsdlab.cli.detect import load_any_settings
    from lsdlab.detect import make_detector

    path, model = _tuned_in_folder(tmp_path / "A", good, detector_model=detector_model)
    planted = tmp_path / "B"
    planted.mkdir()
    (planted / "model.skops").write_bytes(b"a planted model\n")
    monkeypatch.chdir(planted)
    s = load_settings("../A/settings.json")
    assert s.detector_settings.model == str(model.resolve())
    det, tuned = load_any_settings("../A/settings.json", None)
    assert det.model == str(model.resolve()) and tuned is not None
    assert det.timeout_ms == 3500 and det.timer_mode is TimerMode.TIMEOUT_FROM_ANSWER_DETECT
    make_detector(det)  # loads A's model, not the planted bytes


def test_resolve_detector_settings_is_one_function_for_every_form(tmp_path, good, monkeypatch):
    if not builtin_model_path("default").is_file():
        pytest.skip("no packaged model")
    from lsdlab.detect import DetectorSettings
    from lsdlab.settingsfile import resolve_detector_settings

    path, model = _tuned_in_folder(tmp_path / "A", good, detector_model=True)
    monkeypatch.chdir(tmp_path)
    for form in (path, str(path), "A/settings.json", load_settings(path)):
        s = resolve_detector_settings(form)
        assert s.model == str(model.resolve()) and s.timeout_ms == 3500
    assert resolve_detector_settings(path, timeout_ms=1200).timeout_ms == 1200
    assert resolve_detector_settings(None) == DetectorSettings()
    assert resolve_detector_settings(None, backend="app_amd").backend == "app_amd"
    plain = tmp_path / "A" / "plain.json"
    plain.write_text(json.dumps({"backend": "default", "model": "model.skops"}))
    assert resolve_detector_settings("A/plain.json").model == str(model.resolve())
    with pytest.raises(lsdlab.errors.ParameterError, match="backend app_amd conflicts"):
        resolve_detector_settings(path, backend="app_amd")
