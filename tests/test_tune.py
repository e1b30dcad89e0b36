"""The tuner (lsdlab.tune.search), its export and the `lsdlab tune` command, on corpora/demo."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _subset import subset_corpus

from lsdlab import load_settings
from lsdlab.cli import main
from lsdlab.corpus import load
from lsdlab.detect import DetectorSettings, make_detector, settings_from_dict
from lsdlab.errors import ParameterError, SettingsError
from lsdlab.evaluation import load_traces, pareto_front
from lsdlab.tune import export, humans_needed, load_profile, score, tune, upper_bound
from lsdlab.tune.settings_export import record_path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "corpora" / "demo"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "trace-cache"


@pytest.fixture(scope="module")
def demo():
    return load(DEMO)


@pytest.fixture(scope="module")
def traces(demo, cache_dir):
    return load_traces(demo, jobs=2, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def us_result(demo, traces):
    return tune(demo, "US", n_trials=40, seed=0, traces=traces, jobs=2, progress=False)


# --------------------------------------------------------------------------- tuning


def test_us_meets_budget_and_evidence_is_streamed(us_result, demo):
    r = us_result
    assert r.feasible, r.message
    ev = r.evidence
    assert ev is not None and ev.passed
    assert ev.figures.calls == len(demo)
    assert ev.figures.human_abandoned_upper95 <= ev.budget_left
    assert r.replay_matches_stream is True  # the replayed trials equal the streaming detector
    assert r.best.detect_recall > 0.5
    assert "Within the US budget" in r.message


def test_gb_meets_budget_or_says_the_floor(demo, traces):
    r = tune(demo, "GB", n_trials=40, seed=0, traces=traces, jobs=2, progress=False)
    n_h = demo.counts()["human"]
    if upper_bound(0, n_h) > 0.03:
        assert not r.feasible
        assert "statistical floor" in r.message and f"{humans_needed(0.03)} human calls are needed" in r.message
    else:
        assert r.feasible, r.message
        f = r.evidence.figures
        assert f.human_abandoned_upper95 <= 0.03
        assert f.delay_reference.value == "speech_onset"
        assert r.best.detect_recall > 0.0


def test_deterministic_for_a_seed(demo, traces):
    a = tune(demo, "US", n_trials=15, seed=7, traces=traces, progress=False)
    b = tune(demo, "US", n_trials=15, seed=7, traces=traces, progress=False)
    c = tune(demo, "US", n_trials=15, seed=8, traces=traces, progress=False)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.settings == b.settings and a.best_trial == b.best_trial
    assert [t.params for t in a.trials] != [t.params for t in c.trials]


def test_score_is_cheap_and_matches_the_stream(demo, traces):
    from lsdlab.evaluation import run_corpus

    prof = load_profile("US")
    s = DetectorSettings(machine_threshold=0.97, timeout_ms=4000)
    t0 = time.perf_counter()
    sc = score(traces, demo, s, prof, agent_connect_ms=300)
    assert time.perf_counter() - t0 < 1.0
    sub = demo.subset(demo.calls[::10])
    streamed = run_corpus(sub, s)
    replayed = [d for d in sc.decisions][::10]
    assert [(d.decision, d.decided_at_s) for d in streamed] == [(d.decision, d.decided_at_s) for d in replayed]
    with pytest.raises(ParameterError, match="one trace per call"):
        score(traces[:3], demo, s, prof)


def test_stress_margin_is_stricter(demo, traces):
    prof = load_profile("GB")
    s = DetectorSettings(speech_deadline_ms=1500, timeout_machine_threshold=0.6)
    plain = score(traces, demo, s, prof)
    stressed = score(traces, demo, s, prof, margin_logit=0.5, margin_ms=200)
    assert stressed.stressed_upper95 >= plain.abandoned_upper95
    assert stressed.constraint >= plain.constraint


def test_pareto_front_is_not_dominated(us_result):
    for key in ("human_false_positive_rate", "machine_p50_s"):
        front = pareto_front(us_result.trials, key)
        assert front
        for t in front:
            for u in us_result.trials:
                if getattr(u, key) is None:
                    continue
                dominated = (u.detect_recall >= t.detect_recall and getattr(u, key) <= getattr(t, key)
                             and (u.detect_recall > t.detect_recall or getattr(u, key) < getattr(t, key)))
                assert not dominated, (t, u)
    assert all(t.feasible for t in us_result.pareto_fp)


# --------------------------------------------------------------------------- refusal


def test_refuses_an_impossible_budget_and_writes_nothing(tmp_path, cache_dir, capsys):
    out = tmp_path / "s.json"
    # 3% minus 2.9% of dialer drops leaves 0.1%: 2995 people would be needed even with none abandoned
    rc = main(["tune", str(DEMO), "--country", "US", "--dialer-drop-rate", "0.029", "--trials", "5", "--jobs", "2",
               "--cache-dir", str(cache_dir), "--no-progress", "--out", str(out)])
    err = capsys.readouterr()
    assert rc == 1
    assert not out.exists() and not record_path(out).exists()
    assert "NO SETTING MEETS THE US BUDGET" in err.out
    assert "statistical floor" in err.out and f"{humans_needed(0.001)} human calls are needed" in err.out
    assert "no settings file written" in err.err


def test_export_refuses_an_infeasible_result(demo, traces, tmp_path):
    r = tune(demo, "US", dialer_drop_rate=0.029, n_trials=3, seed=0, traces=traces, progress=False)
    assert not r.feasible
    with pytest.raises(SettingsError, match="refusing to export"):
        export(r, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_floor_message_for_a_small_corpus(tmp_path, cache_dir):
    root = subset_corpus(tmp_path / "small", {"human": 30, "machine": 10, "fax": 2})
    r = tune(root, "GB", n_trials=5, seed=0, progress=False, cache_dir=cache_dir)
    assert not r.feasible
    assert "statistical floor" in r.message and "it has 30 human calls" in r.message
    assert f"{humans_needed(0.03)} human calls are needed" in r.message


# --------------------------------------------------------------------------- export


def test_export_round_trips_and_reproduces(us_result, tmp_path, capsys):
    out = tmp_path / "us.json"
    export(us_result, out)
    ts = load_settings(out)
    # the detector settings hold the resolved, checksum-verified model file (issue 12's bug)
    assert ts.country == "US" and ts.detector_settings == us_result.settings.replace(model=str(ts.model_path))
    assert ts.lsd_timeout_milliseconds == us_result.settings.timeout_ms
    assert ts.timer_mode is us_result.settings.timer_mode
    assert ts.evidence["corpus_sha256"] == us_result.evidence_corpus.sha256
    det = make_detector(settings_from_dict(ts.detector_dict()))
    assert det.settings == us_result.settings.replace(model=str(ts.model_path))  # the checksum-verified file
    rec = json.loads(record_path(out).read_text())
    assert rec["best_trial"] == us_result.best_trial and len(rec["trials"]) == 40
    # `lsdlab evaluate EVIDENCE --settings FILE` reproduces the evidence exactly
    capsys.readouterr()
    assert main(["evaluate", str(DEMO), "--settings", str(out), "--json", "--jobs", "2", "--no-progress"]) == 0
    got = json.loads(capsys.readouterr().out)
    fig = got["figures"]
    for k, v in ts.evidence.items():
        if k in fig:
            assert fig[k] == v, k
    assert got["compliance"]["rules_passed"] == ts.evidence["rules_passed"]
    assert got["corpus_sha256"] == ts.evidence["corpus_sha256"]


def test_amd_conf_needs_app_amd(us_result, tmp_path):
    with pytest.raises(ParameterError, match="app_amd"):
        export(us_result, tmp_path / "s.json", amd_conf=tmp_path / "amd.conf")
    assert not (tmp_path / "s.json").exists()


def test_app_amd_backend_exports_amd_conf(tmp_path, capsys):
    from lsdlab.detect.app_amd import AmdSettings

    root = subset_corpus(tmp_path / "c", {"human": 12, "machine": 12, "fax": 2, "silence": 2})
    text = (Path(load_profile("US").path)).read_text()
    prof = tmp_path / "lenient.toml"  # a user's own profile: a budget app_amd can meet on 12 people
    prof.write_text(text.replace('code = "US"', 'code = "LENIENT"').replace("abandoned_rate_max = 0.03", "abandoned_rate_max = 0.95"))
    out, conf = tmp_path / "amd.json", tmp_path / "amd.conf"
    rc = main(["tune", str(root), "--profile", str(prof), "--backend", "app_amd", "--trials", "4", "--jobs", "1",
               "--no-progress", "--out", str(out), "--amd-conf", str(conf)])
    assert rc == 0, capsys.readouterr()
    ts = load_settings(out)
    assert ts.backend == "app_amd" and ts.model is None
    amd = AmdSettings.from_amd_conf(conf.read_text())
    assert amd == ts.detector_settings
    assert ts.lsd_timeout_milliseconds == amd.total_analysis_time_ms


@pytest.mark.parametrize("bad", [{"n_trials": 0}, {"backend": "asterisk"}, {"dialer_drop_rate": 1.5}, {"margin_logit": -1}])
def test_bad_arguments_are_named(demo, traces, bad):
    kw = dict(n_trials=2, progress=False, traces=traces)
    kw.update(bad)
    name = next(iter(bad))
    with pytest.raises(ParameterError, match=name):
        tune(demo, "US", **kw)


def test_trace_cache_is_reused(tmp_path):
    root = load(subset_corpus(tmp_path / "c", {"human": 3, "machine": 3}))
    a = load_traces(root, cache_dir=tmp_path / "cache")
    files = list((tmp_path / "cache").rglob("*.npz"))
    assert len(files) == 6  # one per call
    b = load_traces(root, cache_dir=tmp_path / "cache")
    assert [t.points for t in a] == [t.points for t in b] and a == b
    other = load_traces(root, DetectorSettings(vad_margin_db=12.0), cache_dir=tmp_path / "cache")
    assert len(other) == len(root) and len(list((tmp_path / "cache").rglob("*.npz"))) == 12


def test_adding_a_call_traces_only_that_call(tmp_path, caplog):
    """The trace cache is per call (audio sha256, detector code, trace settings): a corpus that
    gains a call re-traces that call only, and the cached traces equal fresh ones."""
    small = load(subset_corpus(tmp_path / "a", {"human": 2, "machine": 2}))
    load_traces(small, cache_dir=tmp_path / "cache")
    bigger = load(subset_corpus(tmp_path / "b", {"human": 3, "machine": 2}))  # another folder, one call more
    with caplog.at_level("INFO", logger="lsdlab.evaluation.traces"):
        got = load_traces(bigger, cache_dir=tmp_path / "cache")
    assert "4 from the cache, 1 traced" in caplog.text
    assert got == load_traces(bigger, cache_dir=False)
