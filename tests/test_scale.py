"""Scale: --jobs workers forked and identical to serial, Dask decisions identical to serial,
bounded trace memory, a detector start-up without scikit-learn/skops/scipy.signal/stats.

Speed itself is measured by benchmarks/bench_scale.py, never here.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _subset import DEMO, subset_corpus

from lsdlab.corpus import load
from lsdlab.detect import FEATURE_NAMES, CallTrace, DetectorSettings, trace_audio
from lsdlab.detect.model import BUILTIN_MODEL, CompiledModel, load_compiled, load_model
from lsdlab.errors import ParameterError
from lsdlab.evaluation import run_corpus, trace_corpus
from lsdlab.tune.search import tune

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    if not (DEMO / "manifest.csv").is_file():
        pytest.skip(f"corpora/demo is missing at {DEMO}")
    return load(subset_corpus(tmp_path_factory.mktemp("small"), {"human": 4, "machine": 4, "fax": 2, "silence": 2}))


# --------------------------------------------------------------------------- --jobs
def test_workers_are_forked_even_after_a_progress_bar_started(tmp_path):
    """tqdm's monitor thread (started by any bar, even a disabled one) used to force the fork
    server: every worker re-imported lsdlab and reloaded the model."""
    script = tmp_path / "forked.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from tqdm.auto import tqdm
        from lsdlab.evaluation import map_calls

        def parent(_):
            return os.getppid()

        tqdm(total=1, disable=True).close()  # tqdm's monitor thread now runs
        got = set(map_calls(parent, list(range(16)), jobs=2, progress=True, desc="x"))
        print(got == {os.getpid()})
    """))
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "True"


def test_evaluate_as_the_program_freezes_the_collector_at_start_and_exit(small):
    """The interpreter's final collection walked every live object (50-70 ms of every
    `lsdlab evaluate`), and the detector's imports triggered about 100 collections (25-60 ms):
    time no --jobs worker shares. As the program, the command now imports with the collector
    paused and freezes what the imports made, and freezes everything once its output is
    written; an in-process caller's collector is left alone."""
    import gc

    from lsdlab.cli import main

    probe = textwrap.dedent("""
        import atexit, gc, sys
        import lsdlab.cli.detect as d
        run = d._evaluate

        def evaluate(args):  # the command starts with the detector imported and its objects frozen
            print("at start", "lsdlab.detect.analysis" in sys.modules, gc.get_freeze_count() > 0, gc.isenabled())
            return run(args)

        d._evaluate = evaluate
        atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0))  # runs after main() returns
        sys.argv = ["lsdlab", *sys.argv[1:]]
        from lsdlab.cli import main
        sys.exit(main())
    """)
    for argv, frozen in ((["evaluate", str(small.root), "--no-progress", "--json"], True),
                         (["rules", "list"], False)):  # not an offline corpus command: untouched
        p = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout.strip().endswith(f"frozen {frozen}"), (argv, p.stdout[-300:])
        if frozen:
            assert "at start True True True" in p.stdout, p.stdout[-300:]
    before = gc.get_freeze_count()
    assert main(["evaluate", str(small.root), "--no-progress", "--json"]) == 0
    assert gc.get_freeze_count() == before


def test_the_program_runs_numpy_with_one_blas_thread_unless_told(small):
    """OpenBLAS started a thread per CPU at numpy's import (65 ms of every command); as the
    program, lsdlab asks for one unless OPENBLAS_NUM_THREADS is set; in-process, nothing changes."""
    import os

    from lsdlab.cli import main

    probe = textwrap.dedent("""
        import atexit, sys
        from threadpoolctl import threadpool_info

        def report():
            print("blas", sorted({i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"}))

        atexit.register(report)
        sys.argv = ["lsdlab", *sys.argv[1:]]
        from lsdlab.cli import main
        sys.exit(main())
    """)
    argv = ["evaluate", str(small.root), "--no-progress", "--json"]
    for env_value, want in ((None, "blas [1]"), ("2", "blas [2]")):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if env_value is not None:
            env["OPENBLAS_NUM_THREADS"] = env_value
        p = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120, env=env)
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout.strip().endswith(want), p.stdout[-200:]
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    assert main(argv) == 0
    assert os.environ.get("OPENBLAS_NUM_THREADS") == before


def test_jobs_decisions_and_traces_equal_serial(small):
    assert run_corpus(small, jobs=2) == run_corpus(small, jobs=1)
    assert trace_corpus(small, jobs=2) == trace_corpus(small, jobs=1)


@pytest.mark.parametrize("fn", ["run_corpus", "trace_corpus", "load_traces"])
@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2", True])
def test_corpus_runs_refuse_bad_jobs(small, tmp_path, fn, jobs):
    """As load_corpus and tune do: a ParameterError naming the function and the range (it was a
    bare TypeError for "2" or 1.5, and 0 or -1 ran in this process), before any cache is read."""
    from lsdlab.evaluation import load_traces

    call = {"run_corpus": run_corpus, "trace_corpus": trace_corpus,
            "load_traces": lambda c, jobs: load_traces(c, jobs=jobs, cache_dir=tmp_path / "cache")}[fn]
    with pytest.raises(ParameterError, match=rf"'jobs' parameter of {fn} must be an int in the range \[1, 256\]\. Got"):
        call(small, jobs=jobs)
    assert not (tmp_path / "cache").exists()


def test_app_amd_tuner_in_worker_processes_equals_serial(small):
    from lsdlab.detect.app_amd import AmdSettings
    from lsdlab.tune.search import _AmdRunner

    pooled, serial = _AmdRunner(small, jobs=2), _AmdRunner(small, jobs=1)
    try:
        assert pooled._pool is not None  # the trials' calls run in worker processes that keep the audio
        for s in (AmdSettings(), AmdSettings(greeting_ms=900, maximum_number_of_words=2)):
            assert pooled.decisions(s) == serial.decisions(s)
    finally:
        pooled.close()
    a = tune(small, "US", backend="app_amd", n_trials=3, seed=0, jobs=2, progress=False, margin_ms=0)
    b = tune(small, "US", backend="app_amd", n_trials=3, seed=0, jobs=1, progress=False, margin_ms=0)
    assert [r.to_dict() for r in a.trials] == [r.to_dict() for r in b.trials]
    assert a.best.decisions == b.best.decisions


# --------------------------------------------------------------------------- Dask
@pytest.mark.slow
def test_dask_local_cluster_decisions_equal_serial(small):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            distributed.Client(lc) as client:
        serial = run_corpus(small, jobs=1)
        assert run_corpus(small, client=client, batch_size=3) == serial
        assert run_corpus(small, client=client, ship_audio=True) == serial
        assert trace_corpus(small, client=client, batch_size=5) == trace_corpus(small, jobs=1)


def test_cluster_needs_a_valid_spec():
    pytest.importorskip("distributed")
    from lsdlab.evaluation import connect

    with pytest.raises(ParameterError, match="local:N"):
        connect("localhost:two")
    with pytest.raises(ParameterError, match=r"range \[1, 256\]"):
        connect("local:0")


def test_ship_audio_needs_a_cluster(small, capsys):
    from lsdlab.cli import main

    assert main(["evaluate", str(small.root), "--ship-audio", "--no-progress"]) == 2
    assert "--ship-audio" in capsys.readouterr().err


# --------------------------------------------------------------------------- memory
def _demo_clips(n: int) -> list[np.ndarray]:
    paths = sorted((DEMO / "human").glob("*.wav"))[:n] + sorted((DEMO / "machine").glob("*.wav"))[:n]
    if len(paths) < 2 * n:
        pytest.skip("corpora/demo is missing")
    return [sf.read(p, dtype="float32")[0] for p in paths]


def test_whole_file_traces_do_not_grow_caches():
    """Each whole-file push has its own hop count; the analysis used to cache an index array
    per count (about 2 MiB for a 10 s file, up to 64 of them)."""
    clips = _demo_clips(4)
    assert len({len(y) // 80 for y in clips}) >= 6, "the clips must differ in length"
    trace_audio(clips[0], 8000, DetectorSettings())  # warm: the model and the small caches
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for y in clips[1:]:
            trace_audio(y, 8000, DetectorSettings())
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1 << 20, f"{kept / 2**20:.1f} MiB kept after tracing {len(clips) - 1} clips"


def test_traces_are_compact_arrays_and_round_trip():
    y = _demo_clips(1)[1]  # a machine greeting
    t = trace_audio(y, 8000, DetectorSettings())
    assert len(t) > 20
    assert t.hops.dtype == np.int32 and t.p_machine.dtype == np.float64 and t.X.dtype == np.float64
    assert t.nbytes == (4 + 8 + 8 * len(FEATURE_NAMES)) * len(t)
    assert t.points == list(zip(t.hops.tolist(), t.p_machine.tolist(), t.silence_s.tolist()))
    back = CallTrace.from_arrays(t.to_arrays())
    assert back == t and back.replay(DetectorSettings()) == t.replay(DetectorSettings())
    assert CallTrace.from_dict(json.loads(json.dumps(t.to_dict()))) == t


# --------------------------------------------------------------------------- start-up
def test_compiled_model_equals_the_estimator(tmp_path):
    est = load_model(BUILTIN_MODEL)
    first = load_compiled(BUILTIN_MODEL, cache_dir=tmp_path)  # from skops, writes the .npz
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = load_compiled(BUILTIN_MODEL, cache_dir=tmp_path)  # from the .npz
    assert isinstance(again, CompiledModel) and again._estimator is None
    rng = np.random.default_rng(5)
    X = np.abs(rng.normal(1.0, 1.5, size=(300, est.n_features_in_)))
    want = [est.machine_proba(x.tolist()) for x in X]
    assert [first.machine_proba(x.tolist()) for x in X] == want
    assert [again.machine_proba(x.tolist()) for x in X] == want
    np.testing.assert_allclose(again.predict_proba(X)[:, 1], want, atol=1e-9)  # loads the estimator


def test_a_corrupt_compiled_cache_is_rebuilt(tmp_path, caplog):
    m = load_compiled(BUILTIN_MODEL, cache_dir=tmp_path)
    (npz,) = tmp_path.glob("*.npz")
    npz.write_bytes(b"not a zip")
    again = load_compiled(BUILTIN_MODEL, cache_dir=tmp_path)
    assert "unusable" in caplog.text
    assert again.machine_proba([1.0] * len(FEATURE_NAMES)) == m.machine_proba([1.0] * len(FEATURE_NAMES))
    assert np.load(npz, allow_pickle=False)["feat"].size > 0


def test_evaluate_imports_no_sklearn_skops_or_scipy_packages(small, tmp_path):
    """The model runs from its cached arrays, the FFT kernels load without scipy.fft and the
    bounds are computed without scipy.special: scipy.special alone cost 0.3 s of every run."""
    import os

    load_compiled(BUILTIN_MODEL, cache_dir=tmp_path / "lsdlab" / "models")  # what the first run would write
    code = textwrap.dedent(f"""
        import sys
        from lsdlab.cli import main
        assert main(["evaluate", {str(small.root)!r}, "--no-progress", "--json"]) == 0
        heavy = sorted(m for m in ("sklearn", "skops", "scipy.signal", "scipy.stats", "scipy.special", "scipy.fft")
                       if m in sys.modules)
        print("HEAVY", heavy, file=sys.stderr)
        # nor what a run in one process has no use for (each 2-9 ms of start-up): numpy.ma (via
        # np.percentile), the worker pool's multiprocessing, the SIP far end, importlib.resources
        # and tomllib (only country profiles). (tempfile stays: soundfile's ctypes.util imports it.)
        unused = sorted(m for m in ("numpy.ma", "multiprocessing", "concurrent.futures.process", "lsdlab.farend.sip",
                                    "importlib.resources", "tomllib") if m in sys.modules)
        print("UNUSED", unused, file=sys.stderr)
    """)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    assert "HEAVY []" in p.stderr
    assert "UNUSED []" in p.stderr
