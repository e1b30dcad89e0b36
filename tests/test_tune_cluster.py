"""Optuna trials asked in fixed batches and run on the workers (``trial_batch``, ``--trial-batch``):
the same seed and batch size give the same trials, best trial and exported settings, on a Dask
LocalCluster with 2 workers, in local worker processes and in this process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _subset import subset_corpus

from lsdlab.cli import main
from lsdlab.corpus import load
from lsdlab.errors import ParameterError
from lsdlab.tune import load_profile, tune
from lsdlab.tune.settings_export import record_path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = subset_corpus(tmp_path_factory.mktemp("tc"), {"human": 12, "machine": 12, "fax": 2, "silence": 2})
    return load(root)


@pytest.fixture(scope="module")
def lenient(tmp_path_factory) -> Path:
    """A user's own profile with a budget app_amd can meet on 12 people (so settings are exported)."""
    text = Path(load_profile("US").path).read_text()
    prof = tmp_path_factory.mktemp("prof") / "lenient.toml"
    prof.write_text(text.replace('code = "US"', 'code = "LENIENT"').replace("abandoned_rate_max = 0.03", "abandoned_rate_max = 0.95"))
    return prof


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            distributed.Client(lc, set_as_default=False) as c:
        yield c


def _trials(result) -> list[dict]:
    return [r.to_dict() for r in result.trials]


def _asked_before_told(result, batch: int) -> bool:
    """Every batch's trials were all asked before the first of them was told (a batch, not a
    one-at-a-time study)."""
    ts = sorted(result.study.trials, key=lambda t: t.number)
    groups = [ts[i : i + batch] for i in range(0, len(ts), batch)]
    return all(max(t.datetime_start for t in g) <= min(t.datetime_complete for t in g) for g in groups)


@pytest.mark.slow
def test_app_amd_trial_batches_on_a_local_cluster_are_deterministic(small, client):
    from distributed import get_task_stream

    kw = dict(backend="app_amd", n_trials=8, seed=7, trial_batch=4, progress=False, margin_ms=0)
    with get_task_stream(client=client) as ts:
        a = tune(small, "US", client=client, **kw)
    b = tune(small, "US", client=client, **kw)
    serial = tune(small, "US", jobs=1, **kw)
    pooled = tune(small, "US", jobs=2, **kw)
    # the trials ran on the cluster's workers: 8 candidates, each in slices
    parts = [t for t in ts.data if t["key"].startswith("_dask_part")]
    assert len(parts) >= 8 and len(parts) % 8 == 0
    assert {t["worker"] for t in parts} == set(client.scheduler_info()["workers"])
    assert _asked_before_told(a, 4)
    assert _trials(a) == _trials(b) == _trials(serial) == _trials(pooled)
    assert a.best_trial == b.best_trial == serial.best_trial
    assert a.best.decisions == serial.best.decisions
    # a batch asks 4 candidates before any is scored: another study than one trial at a time
    one = tune(small, "US", jobs=1, **{**kw, "trial_batch": 1})
    assert [r.params for r in one.trials][:2] == [r.params for r in a.trials][:2]  # the enqueued start, the first draw
    assert [r.params for r in one.trials] != [r.params for r in a.trials]


@pytest.mark.slow
def test_default_backend_trial_batches_on_a_local_cluster_equal_this_process(small, client):
    from distributed import get_task_stream

    from lsdlab.evaluation import load_traces

    traces = load_traces(small, cache_dir=False)
    kw = dict(n_trials=9, seed=3, trial_batch=3, traces=traces, progress=False)
    with get_task_stream(client=client) as ts:
        a = tune(small, "US", client=client, **kw)
    assert any(t["key"].startswith("_dask_part") for t in ts.data)  # the replays ran on the workers
    here = tune(small, "US", jobs=1, **kw)
    assert _trials(a) == _trials(here) and a.best_trial == here.best_trial
    assert _asked_before_told(a, 3)
    with get_task_stream(client=client) as ts:  # one at a time: the replays stay in this process
        tune(small, "US", client=client, **{**kw, "trial_batch": 1, "n_trials": 3})
    assert not any(t["key"].startswith("_dask_part") for t in ts.data)


@pytest.mark.slow
def test_cli_trial_batch_on_local_cluster_exports_the_same_settings_twice(small, lenient, tmp_path, capsys):
    outs = []
    for name, extra in (("a", ["--cluster", "local:2"]), ("b", ["--cluster", "local:2"]), ("c", ["--jobs", "1"])):
        out = tmp_path / f"{name}.json"
        rc = main(["tune", str(small.root), "--profile", str(lenient), "--backend", "app_amd", "--trials", "6",
                   "--trial-batch", "3", "--seed", "11", "--no-progress", "--out", str(out), *extra])
        assert rc == 0, capsys.readouterr()
        outs.append(out)
    docs = [json.loads(p.read_text()) for p in outs]
    recs = [json.loads(record_path(p).read_text()) for p in outs]
    for d in docs:
        d.pop("created", None)
    for r in recs:
        r.pop("created", None)
    assert docs[0] == docs[1] == docs[2]
    assert recs[0]["trials"] == recs[1]["trials"] == recs[2]["trials"]
    assert recs[0]["best_trial"] == recs[1]["best_trial"] == recs[2]["best_trial"]
    assert recs[0]["trial_batch"] == 3


@pytest.mark.parametrize("bad", [0, 257, 2.5, "4"])
def test_trial_batch_must_be_an_int_in_range(small, bad):
    with pytest.raises(ParameterError, match=r"'trial_batch' parameter of tune must be an int in the range \[1, 256\]"):
        tune(small, "US", n_trials=2, trial_batch=bad, backend="app_amd", progress=False)


@pytest.mark.parametrize("bad", ["0", "x"])
def test_cli_trial_batch_is_checked_before_any_work(small, tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as exc:  # argparse's usage error
        main(["tune", str(small.root), "--country", "US", "--trial-batch", bad, "--out", str(tmp_path / "s.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--trial-batch" in err and "[1, 256]" in err
    assert not (tmp_path / "s.json").exists()


def test_costly_one_at_a_time_trials_suggest_a_batch(small, monkeypatch, caplog):
    """Trials that cost over COSTLY_TRIAL_S, run one at a time beside idle workers: one INFO line
    naming --trial-batch (the batch size itself is never taken from timings)."""
    import logging

    import lsdlab.tune.search as search

    monkeypatch.setattr(search, "COSTLY_TRIAL_S", 0.0)  # every trial counts as costly
    with caplog.at_level(logging.INFO, logger="lsdlab.tune.search"):
        tune(small, "US", backend="app_amd", n_trials=4, jobs=2, progress=False, margin_ms=0)
    hints = [r.getMessage() for r in caplog.records if "--trial-batch" in r.getMessage()]
    assert len(hints) == 1 and "--trial-batch 2" in hints[0], hints
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lsdlab.tune.search"):
        tune(small, "US", backend="app_amd", n_trials=4, jobs=2, trial_batch=2, progress=False, margin_ms=0)
        tune(small, "US", backend="app_amd", n_trials=4, jobs=1, progress=False, margin_ms=0)  # no workers
    assert not [r for r in caplog.records if "--trial-batch" in r.getMessage()]
