"""Scale: start-up, detector speed, offline = streaming, --jobs 1/2, Dask, and size (time and memory).

Run:  .venv/bin/python benchmarks/bench_scale.py [--calls 410] [--repeats 5] [--sizes 410,2050,8200] [--markdown]
Writes benchmarks/results/scale.json; --markdown also replaces the "scale" section of BENCHMARKS.md.
``--only jobs,tune_cluster`` (any of PARTS) measures only those parts and keeps the other figures
of the last scale.json; their rows then name the command that measured them.

Every figure is timed from outside or around whole calls, never inside the detector:
- start-up: `lsdlab evaluate` on a one-call corpus, the minimum wall time of ``--repeats``
  runs, and the module import time reported by ``python -X importtime`` (its minimum too);
- speed, one process, one run: x real time per core (CPU time of whole calls, the best of
  ``--repeats`` interleaved passes over every ``--speed-step``-th demo call) of the offline
  path (all events to the end of the call; and in trace mode), ``classify()`` from the file
  (offline path, stops at the verdict), 20 ms streaming pushes and app_amd at 20 ms;
- identity: every call of corpora/demo, real-dev (../shared/corpora/real-dev) and
  .cache/phone-speech (if built: `lsdlab corpus build-phone-speech .cache/phone-speech
  --real-dev ../shared/corpora/real-dev`) and the ``--fresh`` corpora (demo recipe, other
  seeds) through 20 ms streaming and the offline path: verdict, every event and the
  CallTrace arrays compared bit for bit;
- the machine's parallel ceiling at the time (:func:`parallel_ceiling`), before and after;
- --jobs: `lsdlab evaluate CORPUS --jobs 1` and `--jobs 2` run in turn (A B A B ...), the
  ratio taken pair by pair (so a machine whose speed drifts still compares like with like)
  and its median quoted, with each run's CPU seconds (children's rusage); in each round also
  the yardstick: two independent `--jobs 1` processes on the corpus's two halves at once
  (what 2 processes gain over 1 for this very work on this machine in that moment: a
  pure-Python loop measures the cores, not what numpy-heavy calls get from them);
- Dask: the same corpus through ``run_corpus(client=...)`` on a warm LocalCluster (2 worker
  processes, 1 thread each) against ``run_corpus(jobs=2)``, in turn, after one warm-up each;
  plus the scheduler's cost per task: ``client.map`` of a no-op over ``--tasks`` items,
  divided by the count (the reason calls are sent in batches);
- tune on the cluster (:func:`tune_cluster`): `lsdlab tune --backend app_amd` one trial at a
  time (--jobs 1) against --cluster local:2 with and without --trial-batch, and --jobs 2
  --trial-batch, whole-process times in turn;
- size: `lsdlab evaluate --jobs 1` and `lsdlab tune --country US --trials N --jobs 1
  --no-cache` on corpora of ``--sizes`` calls (demo's first 410 copied under new folder
  names), wall time and peak RSS by GNU time.
Before timing, lsdlab's own modules are byte-compiled (``compileall``, into the git-ignored
``__pycache__`` folders), as ``pip install`` leaves an installed package: in an editable
checkout under PYTHONDONTWRITEBYTECODE=1 (as on the project's machines) every process
otherwise compiles about 45 modules again (0.10 s of CPU), time no --jobs worker shares.
``--no-precompile`` measures the checkout as it is.
``--calls N`` takes the first N calls of corpora/demo in manifest order (a reduced run). The
machine's 1-min load average is recorded beside the figures: on a shared machine they are
lower bounds.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, command, update_section, write_json  # noqa: E402

DEMO = ROOT / "corpora" / "demo"
RESULTS_JSON = ROOT / "benchmarks" / "results" / "scale.json"
PARTS = ("startup", "speed", "identity", "jobs", "dask", "tune_cluster", "sizes")
LSDLAB = [sys.executable, "-m", "lsdlab"]


def subset(dst: Path, n: int) -> Path:
    """The first n calls of corpora/demo (manifest order) as a corpus folder (all of it for n >= 410)."""
    with open(DEMO / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    keep = rows[:n]
    for r in keep:
        (dst / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO / r["path"], dst / r["path"])
    with open(dst / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(keep)
    return dst


def replicate(dst: Path, n: int) -> Path:
    """A corpus of n calls: the first 410 of corpora/demo (manifest order), copied as many
    times as needed under new folder names (``copy2-human/...``), manifests concatenated.
    The copies' audio is byte-identical, so the tuner runs below use --no-cache (a content-
    keyed trace cache would trace each recording once)."""
    with open(DEMO / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = list(reader.fieldnames or []), list(reader)[:410]
    out = []
    for k in range(-(-n // len(rows))):
        for r in rows[: n - len(out)]:
            top, rest = r["path"].split("/", 1)
            path = r["path"] if k == 0 else f"copy{k + 1}-{top}/{rest}"
            (dst / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DEMO / r["path"], dst / path)
            out.append({**r, "path": path, "group": r["group"] if k == 0 else f"copy{k + 1}-{r['group']}"})
    with open(dst / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(out)
    return dst


def run_rss(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB, exit code) of one command, by GNU time (the largest resident set
    of the process; run with --jobs 1 so that it is the whole run). ``ok``: accepted exit codes."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name, *argv], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        if p.returncode not in ok:
            raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stderr[-2000:]}")
        return wall, int(tf.read().split()[-1]) / 1024, p.returncode


def sizes_run(tmp: Path, sizes: list[int], trials: int) -> list[dict]:
    """`lsdlab evaluate` and `lsdlab tune` at each corpus size: wall time and peak RSS."""
    rows = []
    for n in sizes:
        corpus = replicate(tmp / f"c{n}", n)
        ev = [*LSDLAB, "evaluate", str(corpus), "--jobs", "1", "--no-progress", "--json"]
        tu = [*LSDLAB, "tune", str(corpus), "--country", "US", "--trials", str(trials), "--jobs", "1", "--no-cache",
              "--no-progress", "--out", str(tmp / f"tuned{n}.json")]
        load0 = os.getloadavg()[0]
        ev_s, ev_mib, _ = run_rss(ev)
        tu_s, tu_mib, rc = run_rss(tu, ok=(0, 1))  # 1: no setting held the budget (a small corpus)
        rows.append({"calls": n, "evaluate_s": round(ev_s, 1), "evaluate_peak_mib": round(ev_mib),
                     "tune_s": round(tu_s, 1), "tune_peak_mib": round(tu_mib), "trials": trials,
                     "tune_exported": rc == 0,
                     "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]})
        print(rows[-1], file=sys.stderr, flush=True)
        shutil.rmtree(corpus)
    return rows


def _clips(corpus: Path) -> list[tuple[str, Path]]:
    """(path, file) of every recording in a manifest (an lsdlab corpus or real-dev's)."""
    with open(corpus / "manifest.csv", newline="") as f:
        return [(r["path"], corpus / r["path"]) for r in csv.DictReader(f)]


def identity(corpora: dict[str, Path]) -> dict:
    """Every recording of each corpus through 20 ms streaming and through the offline path,
    in decision mode and in trace mode: the verdict, every event and the whole CallTrace
    compared (arrays bit for bit); also classify()'s stop-at-verdict run."""
    import numpy as np

    from lsdlab.audio import load as load_audio
    from lsdlab.detect import DetectorSettings, LiveSpeakerDetector, classify
    from lsdlab.detect.offline import run_offline

    s = DetectorSettings()

    def stream(y, trace):
        det = LiveSpeakerDetector(s, trace=trace)
        for i in range(0, len(y), 160):
            det.push(y[i : i + 160])
        det.end()
        return det

    def arrays_equal(a, b):
        ta, tb = a.to_arrays(), b.to_arrays()
        return all(ta[k].dtype == tb[k].dtype and np.array_equal(ta[k], tb[k]) for k in ta)

    out = {}
    for name, corpus in corpora.items():
        n = same = 0
        differ = []
        for path, f in _clips(corpus):
            y = load_audio(f)[0]
            a, b = stream(y, False), run_offline(y, s)
            ta, tb = stream(y, True), run_offline(y, s, trace=True)
            ok = (a.verdict == b.verdict and a.events == b.events and classify(y, 8000, s) == a.verdict
                  and ta.trace == tb.trace and arrays_equal(ta.trace, tb.trace) and ta.events == tb.events)
            n += 1
            same += ok
            if not ok:
                differ.append(path)
        out[name] = {"calls": n, "identical": same, "differ": differ[:20]}
        print(name, out[name], file=sys.stderr, flush=True)
    return out


def speed(corpus: Path, step: int, repeats: int) -> dict:
    """x real time per core (audio seconds over CPU seconds of this process, the best of
    ``repeats`` passes, all in one run, every ``step``-th call of the corpus): 20 ms streaming
    pushes, the offline path (all events to the end; and in trace mode), classify() (the
    offline path, stopping at the verdict, from the audio file), and app_amd at 20 ms."""
    from lsdlab.audio import load as load_audio
    from lsdlab.detect import DetectorSettings, classify, make_detector
    from lsdlab.detect.app_amd import AmdSettings
    from lsdlab.detect.offline import run_offline

    files = [f for _, f in _clips(corpus)][::step]
    audio = [load_audio(f)[0] for f in files]
    secs = sum(len(y) for y in audio) / 8000
    s, amd = DetectorSettings(), AmdSettings()
    make_detector(s)  # the model loaded outside the timing

    def stream(settings):
        for y in audio:
            det = make_detector(settings)
            for i in range(0, len(y), 160):
                det.push(y[i : i + 160])
            det.end()

    runs = {
        "streaming_20ms": lambda: stream(s),
        "offline": lambda: [run_offline(y, s) for y in audio],
        "offline_trace": lambda: [run_offline(y, s, trace=True) for y in audio],
        "classify_from_file": lambda: [classify(load_audio(f)[0], 8000, s) for f in files],
        "app_amd_20ms": lambda: stream(amd),
    }
    best = {k: float("inf") for k in runs}
    load0 = os.getloadavg()[0]
    for _ in range(repeats):  # interleaved, so a change of the machine's load hits all alike
        for k, fn in runs.items():
            t = time.process_time()
            fn()
            best[k] = min(best[k], time.process_time() - t)
    traces = [run_offline(y, s, trace=True).trace for y in audio]
    return {"calls": len(audio), "audio_s": round(secs, 1), "repeats": repeats,
            "trace_kib_per_call": round(sum(t.nbytes for t in traces if t is not None) / len(traces) / 1024, 1),
            "x_realtime": {k: round(secs / v) for k, v in best.items()},
            "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]}


def run_timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall s, CPU s of the child and its children) of one finished command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def startup(corpus: Path, repeats: int) -> dict:
    argv = [*LSDLAB, "evaluate", str(corpus), "--no-progress", "--json"]
    run_timed(argv)  # warm-up: writes the compiled-model cache on a first run
    walls = [run_timed(argv)[0] for _ in range(repeats)]
    imports = []
    for _ in range(repeats):
        p = subprocess.run([sys.executable, "-X", "importtime", "-m", "lsdlab", "evaluate", str(corpus), "--no-progress",
                            "--json"], capture_output=True, text=True, check=True)
        total = 0
        for line in p.stderr.splitlines():  # top-level imports only: "import time: self | cumulative | name"
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
            if m and not m.group(2).startswith(" "):
                total += int(m.group(1))
        imports.append(total / 1e6)
    return {"command": " ".join(["lsdlab", "evaluate", "<1-call corpus>", "--no-progress", "--json"]),
            "wall_s_min": round(min(walls), 3), "wall_s_median": round(statistics.median(walls), 3),
            "imports_s_min": round(min(imports), 3), "runs": repeats}


def _burn(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def parallel_ceiling(repeats: int, n: int = 4_000_000) -> dict:
    """What 2 processes can gain over 1 on this machine right now: the same pure-Python loop
    twice in one process vs once in each of 2 forked processes (on a busy shared machine
    this, not lsdlab, bounds the --jobs 2 speed-up)."""
    import multiprocessing as mp

    ratios = []
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_burn, [1000, 1000])
        for _ in range(repeats):
            t = time.perf_counter()
            _burn(n)
            _burn(n)
            serial = time.perf_counter() - t
            t = time.perf_counter()
            pool.map(_burn, [n, n])
            ratios.append(serial / (time.perf_counter() - t))
    return {"speedup_median": round(statistics.median(ratios), 3), "runs": repeats}


def serial_part(corpus: Path, repeats: int, jobs: int = 1) -> float:
    """What `lsdlab evaluate CORPUS --jobs JOBS` does before its calls start (min wall of
    ``repeats``): the interpreter, the imports, the corpus checks (every file's path, header,
    samples and sha256; on ``jobs`` workers for a corpus of 200 calls or more) and the model,
    in one process, without running a call."""
    code = ("import sys; import lsdlab.cli, lsdlab.evaluation.runner; from lsdlab.corpus import load_corpus; "
            "from lsdlab.detect import make_detector; load_corpus(sys.argv[1], jobs=int(sys.argv[2])); make_detector(None)")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}  # as the program runs
    return min(run_timed([sys.executable, "-c", code, str(corpus), str(jobs)], env)[0] for _ in range(repeats))


def halves(corpus: Path, dst: Path) -> tuple[Path, Path]:
    """The corpus's calls split in two corpora (odd and even manifest rows), for the yardstick
    of :func:`jobs_pairs`: two independent processes, each on one half."""
    with open(corpus / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = list(reader.fieldnames or []), list(reader)
    out = []
    for name, part in (("half1", rows[0::2]), ("half2", rows[1::2])):
        d = dst / name
        for r in part:
            (d / r["path"]).parent.mkdir(parents=True, exist_ok=True)
            os.link(corpus / r["path"], d / r["path"])  # the same bytes, no copy
        with open(d / "manifest.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(part)
        out.append(d)
    return out[0], out[1]


def run_together(argvs: list[list[str]]) -> float:
    """Wall s of several commands started at once, until the last one exits."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a in argvs]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise subprocess.CalledProcessError(max(codes), argvs[codes.index(max(codes))])
    return time.perf_counter() - t0


def jobs_pairs(corpus: Path, repeats: int, ceiling: float | None = None, tmp: Path | None = None) -> dict:
    """`evaluate --jobs 1` and `--jobs 2` in turn; with ``ceiling`` (the machine's 2-process
    speed-up) also the best --jobs 2 could do (Amdahl), pair by pair: the calls' work
    (``--jobs 1`` wall less its start ``serial_1``) shared by 2 processes at the ceiling, after
    the --jobs 2 run's own start ``serial_2`` (its corpus checks already on 2 workers)."""
    a = [*LSDLAB, "evaluate", str(corpus), "--no-progress", "--json", "--jobs", "1"]
    b = [*LSDLAB, "evaluate", str(corpus), "--no-progress", "--json", "--jobs", "2"]
    # the yardstick: two independent `--jobs 1` processes, each on half the calls, at once (no
    # pool, nothing shared: what 2 processes can gain over 1 on this machine for this work now)
    both = None
    if tmp is not None:
        h1, h2 = halves(corpus, tmp)
        both = [[*LSDLAB, "evaluate", str(h), "--no-progress", "--json", "--jobs", "1"] for h in (h1, h2)]
    run_timed(a)
    run_timed(b)
    rows = []
    for _ in range(repeats):
        wa, ca = run_timed(a)
        wb, cb = run_timed(b)
        rows.append({"jobs1_wall_s": round(wa, 3), "jobs1_cpu_s": round(ca, 3), "jobs2_wall_s": round(wb, 3),
                     "jobs2_cpu_s": round(cb, 3), "speedup": round(wa / wb, 3)})
        if both is not None:
            wc = run_together(both)
            rows[-1].update(halves_wall_s=round(wc, 3), halves_speedup=round(wa / wc, 3), jobs2_vs_halves=round(wb / wc, 3))
    out = {"pairs": rows, "speedup_median": round(statistics.median(r["speedup"] for r in rows), 3),
           "speedup_min": min(r["speedup"] for r in rows), "speedup_max": max(r["speedup"] for r in rows)}
    if both is not None:
        out.update(halves_speedup_median=round(statistics.median(r["halves_speedup"] for r in rows), 3),
                   jobs2_vs_halves_median=round(statistics.median(r["jobs2_vs_halves"] for r in rows), 3))
    if ceiling:
        s1, s2 = serial_part(corpus, repeats, 1), serial_part(corpus, repeats, 2)
        bound = statistics.median(r["jobs1_wall_s"] / (s2 + (r["jobs1_wall_s"] - s1) / ceiling) for r in rows)
        out.update(serial_s=round(s2, 3), serial_jobs1_s=round(s1, 3), bound_median=round(bound, 3),
                   ceiling_used=round(ceiling, 3))
    return out


def _noop(x):
    return x


def dask_vs_jobs(corpus_path: Path, repeats: int, tasks: int) -> dict:
    from dask.distributed import Client, LocalCluster

    from lsdlab.corpus import load_corpus as load
    from lsdlab.evaluation import run_corpus

    corpus = load(corpus_path)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, Client(lc) as client:
        start_s = time.perf_counter() - t0
        client.gather(client.map(_noop, range(50), pure=False))  # warm
        t = time.perf_counter()
        client.gather(client.map(_noop, range(tasks), pure=False))
        per_task_ms = (time.perf_counter() - t) / tasks * 1e3
        ref = run_corpus(corpus, jobs=2)  # warm-up of both, and the identity check
        same = run_corpus(corpus, client=client) == ref
        rows = []
        for _ in range(repeats):
            t = time.perf_counter()
            run_corpus(corpus, client=client)
            d = time.perf_counter() - t
            t = time.perf_counter()
            run_corpus(corpus, jobs=2)
            j = time.perf_counter() - t
            rows.append({"dask_s": round(d, 3), "jobs2_s": round(j, 3), "ratio": round(d / j, 3)})
    return {"cluster_start_s": round(start_s, 2), "per_task_ms": round(per_task_ms, 3), "tasks": tasks,
            "decisions_identical": same, "pairs": rows,
            "dask_over_jobs2_median": round(statistics.median(r["ratio"] for r in rows), 3)}


def _tune_outcome(out: Path, stdout: str) -> str:
    """What a tune run decided: its settings file and tuning record (less their time stamps)
    when it exported, else its printed summary (less the progress of time)."""
    import json

    if out.is_file():
        doc, rec = json.loads(out.read_text()), json.loads(out.with_name(out.stem + ".tuning.json").read_text())
        for d in (doc, rec):
            d.pop("created", None)
        rec.pop("trial_batch", None)
        return json.dumps([doc, rec["trials"], rec["best_trial"]], sort_keys=True)
    return stdout


def tune_cluster(corpus: Path, tmp: Path, trials: int, batch: int, repeats: int) -> dict:
    """`lsdlab tune --backend app_amd` (0.5-1 s a trial on the demo corpus): one trial at a time
    in this process (--jobs 1), on a LocalCluster of 2 workers started by the command
    (--cluster local:2) one trial at a time (each trial's calls in slices on both workers)
    and --trial-batch ``batch`` (``batch`` trials at once), and --jobs 2 --trial-batch
    ``batch`` (local worker processes): whole-process wall times, run in turn, ratios taken
    round by round. The batched runs must decide the same (settings file, tuning record)
    wherever they ran."""
    base = [*LSDLAB, "tune", str(corpus), "--country", "US", "--backend", "app_amd", "--trials", str(trials),
            "--seed", "0", "--no-progress"]
    runs = {"serial": ["--jobs", "1"], "cluster": ["--cluster", "local:2"],
            "cluster_batch": ["--cluster", "local:2", "--trial-batch", str(batch)],
            "jobs2_batch": ["--jobs", "2", "--trial-batch", str(batch)]}
    rounds, outcomes = [], {}
    load0 = os.getloadavg()[0]
    for k in range(repeats):
        row = {}
        for name, extra in runs.items():
            out = tmp / f"tune-{name}-{k}.json"
            t0 = time.perf_counter()
            p = subprocess.run([*base, *extra, "--out", str(out)], capture_output=True, text=True)
            row[name] = round(time.perf_counter() - t0, 2)
            if p.returncode not in (0, 1):
                raise RuntimeError(f"tune {' '.join(extra)} exited {p.returncode}:\n{p.stderr[-2000:]}")
            outcomes.setdefault(name, set()).add(_tune_outcome(out, p.stdout))
        rounds.append(row)
        print("tune_cluster", row, file=sys.stderr, flush=True)

    def ratio(name: str) -> float:
        return round(statistics.median(r["serial"] / r[name] for r in rounds), 3)

    return {"trials": trials, "batch": batch, "rounds": rounds, "corpus_calls": len(_clips(corpus)),
            "speedup_median": {name: ratio(name) for name in runs if name != "serial"},
            "batched_runs_identical": len(outcomes["cluster_batch"] | outcomes["jobs2_batch"]) == 1,
            "runs_repeat_themselves": all(len(v) == 1 for v in outcomes.values()),
            "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=410, help="first N calls of corpora/demo (default 410)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=400, help="no-op tasks for the per-task overhead")
    ap.add_argument("--sizes", default="410,2050,8200", help="corpus sizes for evaluate/tune time and memory ('' = none)")
    ap.add_argument("--trials", type=int, default=30, help="tuner trials at each size")
    ap.add_argument("--speed-step", type=int, default=5, help="speed on every N-th demo call")
    ap.add_argument("--no-identity", action="store_true", help="skip the offline/streaming identity over all calls")
    ap.add_argument("--fresh", nargs="*", default=[], metavar="DIR",
                    help="also check the identity on these corpora (e.g. out/fresh-seedN built by "
                         "`lsdlab corpus build-demo out/fresh-seedN --seed N`)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--tune-trials", type=int, default=16, help="app_amd tuner trials for the serial vs cluster runs")
    ap.add_argument("--trial-batch", type=int, default=4, help="--trial-batch of the batched tuner runs")
    ap.add_argument("--jobs-sizes", default="2050", help="also --jobs 1 vs 2 on corpora of these sizes (demo copied; '' = none)")
    ap.add_argument("--only", default="", help=f"measure only these parts ({','.join(PARTS)}), keeping the other "
                    "figures of the last benchmarks/results/scale.json")
    ap.add_argument("--markdown", action="store_true", help="also replace the 'scale' section of BENCHMARKS.md")
    ap.add_argument("--no-precompile", action="store_true",
                    help="do not byte-compile lsdlab first (measure the checkout as it is; see the module doc)")
    a = ap.parse_args()
    if not 1 <= a.calls <= 100000 or not 1 <= a.repeats <= 100:
        ap.error("--calls must be in [1, 100000] and --repeats in [1, 100]")
    for f in a.fresh:
        if not (Path(f) / "manifest.csv").is_file():
            ap.error(f"--fresh {f}: no manifest.csv there; build the corpus first with "
                     f"`lsdlab corpus build-demo {f} --seed N`")
    try:
        sizes = [int(v) for v in a.sizes.split(",") if v.strip()]
    except ValueError:
        ap.error(f"--sizes must be comma-separated call counts, e.g. 410,2050,8200; got {a.sizes!r}")
    try:
        jobs_sizes = [int(v) for v in a.jobs_sizes.split(",") if v.strip()]
    except ValueError:
        ap.error(f"--jobs-sizes must be comma-separated call counts, e.g. 2050; got {a.jobs_sizes!r}")
    if any(not 1 <= n <= 100000 for n in sizes + jobs_sizes) or not 1 <= a.trials <= 1000 or not 1 <= a.speed_step <= 1000:
        ap.error("--sizes and --jobs-sizes in [1, 100000] each, --trials in [1, 1000], --speed-step in [1, 1000]")
    if not 1 <= a.tune_trials <= 1000 or not 1 <= a.trial_batch <= 256:
        ap.error(f"--tune-trials must be in [1, 1000] and --trial-batch in [1, 256]; got {a.tune_trials} and {a.trial_batch}")
    only = [p.strip() for p in a.only.split(",") if p.strip()]
    if any(p not in PARTS for p in only):
        ap.error(f"--only takes parts from {','.join(PARTS)}; got {a.only!r}")
    prev = RESULTS_JSON
    if only and not prev.is_file():
        ap.error(f"--only keeps the other figures of {prev}, which does not exist: run the whole benchmark first")
    want = set(only or PARTS)
    if not a.no_precompile:
        import compileall

        if not compileall.compile_dir(str(ROOT / "lsdlab"), quiet=1):
            sys.exit(f"error: byte-compiling {ROOT / 'lsdlab'} failed (see above); fix the module or pass --no-precompile")
    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lsdlab-bench-scale-") as tmp:
        one = subset(Path(tmp) / "one", 1)
        corpus = subset(Path(tmp) / "corpus", a.calls)
        out: dict = {"command": command(), "calls": min(a.calls, 410), "repeats": a.repeats,
                     "precompiled": not a.no_precompile,
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average_1min_at_start": round(load1, 2)}}
        if only:
            import json

            out = json.loads(prev.read_text())  # the last run's figures; the parts measured now replace theirs
            out.setdefault("part_commands", {})
            for part in only:
                out["part_commands"][part] = {"command": command(), "repeats": a.repeats,
                                              "precompiled": not a.no_precompile,
                                              "load_average_1min_at_start": round(load1, 2)}
        if "startup" in want:
            out["startup"] = startup(one, a.repeats)
        if "speed" in want:
            out["speed"] = speed(DEMO, a.speed_step, a.repeats)
            print("speed", out["speed"], file=sys.stderr, flush=True)
        if "identity" in want and not a.no_identity:
            from lsdlab.corpus.demo import default_real_dev

            corpora = {"demo": DEMO, "real-dev": default_real_dev()}
            ps = ROOT / ".cache" / "phone-speech"
            if (ps / "manifest.csv").is_file():
                corpora["phone-speech"] = ps
            for f in a.fresh:
                corpora[Path(f).name] = Path(f)
            corpora = {k: v for k, v in corpora.items() if (v / "manifest.csv").is_file()}
            out["identity"] = identity(corpora)
        if "jobs" in want:
            out["parallel_ceiling"] = parallel_ceiling(a.repeats)
            ceiling = out["parallel_ceiling"]["speedup_median"]
            out["jobs"] = {"calls": len(_clips(corpus)),
                           **jobs_pairs(corpus, a.repeats, ceiling, Path(tmp) / "halves")}
            out["jobs_sizes"] = []
            for n in jobs_sizes:
                big = replicate(Path(tmp) / f"j{n}", n)
                out["jobs_sizes"].append({"calls": n, **jobs_pairs(big, a.repeats, ceiling, Path(tmp) / f"halves{n}")})
                shutil.rmtree(Path(tmp) / f"halves{n}")
                print("jobs", out["jobs_sizes"][-1], file=sys.stderr, flush=True)
                shutil.rmtree(big)
            out["parallel_ceiling_after"] = parallel_ceiling(a.repeats)
        if "dask" in want and not a.no_dask:
            try:
                out["dask"] = dask_vs_jobs(corpus, a.repeats, a.tasks)
            except ImportError:
                out["dask"] = None
                print("dask is not installed (pip install 'lsdlab[dask]'): no LocalCluster figures", file=sys.stderr)
        if "tune_cluster" in want and not a.no_dask:
            out["tune_cluster"] = tune_cluster(corpus, Path(tmp), a.tune_trials, a.trial_batch, a.repeats)
        if "sizes" in want:
            out["sizes"] = sizes_run(Path(tmp), sizes, a.trials)
        if only:
            for part in only:
                out["part_commands"][part]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
        else:
            out.pop("part_commands", None)
            out["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    path = write_json("scale", out)
    text = markdown(out, out["repeats"])
    print(text)
    print(f"\nwritten to {path}")
    if a.markdown:
        update_section("scale", text)


def markdown(out: dict, repeats: int) -> str:
    s, j, d, sp = out["startup"], out["jobs"], out.get("dask"), out["speed"]
    parts = out.get("part_commands", {})

    def note(part: str) -> str:
        """Where a part's figures came from when a later `--only` run measured them."""
        if part not in parts:
            return ""
        p = parts[part]
        return (f" (measured later by `{p['command']}`, {p['repeats']} rounds, load {p['load_average_1min_at_start']:g}-"
                f"{p.get('load_average_1min_at_end', p['load_average_1min_at_start']):g}"
                f"{', lsdlab byte-compiled first' if p.get('precompiled') else ''})")

    m = out["machine"]
    lines = [
        "## Scale",
        "",
        f"Measured with `{out['command']}` on {m['cpus']} CPUs shared with other work: 1-min load average "
        f"{m['load_average_1min_at_start']} at the start, {m['load_average_1min_at_end']} at the end (beside each "
        "figure below where it was taken separately). Figures under load are lower bounds of what an idle machine gives."
        + (" lsdlab was byte-compiled first, as `pip install` leaves it (see the benchmark's doc)." if out.get("precompiled") else ""),
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| start-up, `lsdlab evaluate` on one call (min of {s.get('runs', repeats)}){note('startup')} | {s['wall_s_min']:.2f} s wall, imports {s['imports_s_min']:.2f} s |",
    ]
    x = sp["x_realtime"]
    la = "-".join(f"{v:g}" for v in sp["load_average_1min"])
    lines += [
        f"| x real time per core, one run, {sp['calls']} demo calls ({sp['audio_s']:.0f} s of audio, best of {sp['repeats']} "
        f"interleaved passes, load {la}){note('speed')}: offline path (whole calls, every event) | **{x['offline']}x** |",
        f"| ... offline path in trace mode (the tuner's traces) | {x['offline_trace']}x |",
        f"| ... `classify()` from the audio file (offline path, stops at the verdict) | {x['classify_from_file']}x |",
        f"| ... streaming, 20 ms pushes | {x['streaming_20ms']}x |",
        f"| ... app_amd, 20 ms pushes | {x['app_amd_20ms']}x |",
    ]
    ident = out.get("identity", {})
    if ident:
        total, same = sum(r["calls"] for r in ident.values()), sum(r["identical"] for r in ident.values())
        first = ["demo", "real-dev", "phone-speech"]
        names = sorted(ident, key=lambda n: (first.index(n) if n in first else 3, len(n), n))
        per = ", ".join(f"{n} {ident[n]['identical']}/{ident[n]['calls']}" for n in names)
        lines.append(f"| offline path = 20 ms streaming (verdict, reason, decision time, every event, CallTrace arrays), "
                     f"every call of each corpus{note('identity')} | **{same}/{total} identical** ({per}) |")
    lines += [
        f"| `evaluate --jobs 2` vs `--jobs 1`, {j.get('calls', out['calls'])} calls, pairwise median{note('jobs')} | {j['speedup_median']:.2f}x faster "
        f"(range {j['speedup_min']:.2f}-{j['speedup_max']:.2f}) |",
    ]

    def bound(js: dict) -> str:
        if "bound_median" not in js:
            return ""
        if "serial_jobs1_s" not in js:  # a result of the bench before the corpus checks ran on the workers
            return (f"; at most {js['bound_median']:.2f}x given {js['serial_s']:.2f} s that no worker shares (interpreter, "
                    f"imports, corpus checks, model) and the machine's {js['ceiling_used']:.2f}x")
        return (f"; at most {js['bound_median']:.2f}x given the machine's {js['ceiling_used']:.2f}x and the "
                f"{js['serial_s']:.2f} s before the calls start (interpreter, imports, model, corpus checks on the 2 "
                f"workers; {js['serial_jobs1_s']:.2f} s with --jobs 1)")

    if "bound_median" in j:
        lines[-1] = lines[-1][:-2] + bound(j) + " |"

    def yardstick(js: dict) -> str:
        if "halves_speedup_median" not in js:
            return ""
        return (f"| ... the yardstick, same rounds: two independent `evaluate --jobs 1` processes on half the calls each, "
                f"at once, vs `--jobs 1` on all ({js['calls']:,} calls; no pool, nothing shared: what 2 processes gain on "
                f"this machine for this work) | {js['halves_speedup_median']:.2f}x faster; `--jobs 2` takes "
                f"{js['jobs2_vs_halves_median']:.2f}x the yardstick's time (1.00: the pool costs nothing) |")

    if yardstick(j):
        lines.append(yardstick(j))
    for js in out.get("jobs_sizes", []):
        w1 = statistics.median(r["jobs1_wall_s"] for r in js["pairs"])
        w2 = statistics.median(r["jobs2_wall_s"] for r in js["pairs"])
        lines.append(f"| ... {js['calls']:,} calls (demo's first 410, copied; start-up amortised) | {js['speedup_median']:.2f}x faster "
                     f"(range {js['speedup_min']:.2f}-{js['speedup_max']:.2f}; median {w1:.1f} s / {w2:.1f} s{bound(js)}) |")
        if yardstick(js):
            lines.append(yardstick(js))
    lines += [
        f"| the machine's own ceiling: a pure-Python loop in 2 processes vs 1 (median, before / after) | "
        f"{out['parallel_ceiling']['speedup_median']:.2f}x / {out['parallel_ceiling_after']['speedup_median']:.2f}x |",
    ]
    if d:
        lines += [
            f"| LocalCluster (2 processes) vs `--jobs 2`, warm, {out['calls']} calls{note('dask')} | {d['dask_over_jobs2_median']:.2f}x the time; "
            f"decisions identical: {d['decisions_identical']} |",
            f"| Dask scheduler cost per task (no-op, {d['tasks']} tasks) | {d['per_task_ms']:.2f} ms; cluster start {d['cluster_start_s']:.1f} s |",
        ]
    tc = out.get("tune_cluster")
    if tc:
        r = tc["speedup_median"]
        serial = statistics.median(x["serial"] for x in tc["rounds"])
        la = "-".join(f"{v:g}" for v in tc["load_average_1min"])
        lines += [
            f"| `tune --backend app_amd --trials {tc['trials']}`, {tc['corpus_calls']} calls, whole process: `--jobs 1` "
            f"(one trial at a time, median of {len(tc['rounds'])}, load {la}){note('tune_cluster')} | {serial:.1f} s |",
            f"| ... `--cluster local:2` (a LocalCluster started by the command; each trial's calls on both workers): "
            f"speed-up over `--jobs 1`, round by round | {r['cluster']:.2f}x |",
            f"| ... `--cluster local:2 --trial-batch {tc['batch']}` ({tc['batch']} trials asked at once, run on the workers) | "
            f"**{r['cluster_batch']:.2f}x** |",
            f"| ... `--jobs 2 --trial-batch {tc['batch']}` (local worker processes) | {r['jobs2_batch']:.2f}x; same "
            f"settings and trials as on the cluster: {tc['batched_runs_identical']}; each run repeats itself: "
            f"{tc['runs_repeat_themselves']} |",
        ]
    for r in out.get("sizes", []):
        la = "-".join(f"{v:g}" for v in r["load_average_1min"])
        lines.append(f"| {r['calls']:,} calls (demo's first 410, copied): `evaluate --jobs 1` / `tune --trials {r['trials']} --jobs 1 "
                     f"--no-cache` (load {la}) | {r['evaluate_s']:.0f} s, peak {r['evaluate_peak_mib']} MiB / "
                     f"{r['tune_s']:.0f} s, peak {r['tune_peak_mib']} MiB |")
    sz = out.get("sizes", [])
    if len(sz) >= 2 and sz[-1]["calls"] > sz[0]["calls"]:
        a, b = sz[0], sz[-1]
        per_call = (b["tune_peak_mib"] - a["tune_peak_mib"]) * 1024 / (b["calls"] - a["calls"])
        lines.append(f"| how `tune`'s peak memory grows ({a['calls']:,} to {b['calls']:,} calls) | about "
                     f"{per_call:.0f} KiB per call above a {a['tune_peak_mib'] - per_call * a['calls'] / 1024:.0f} MiB base "
                     + (f"(a demo call's trace arrays are {sp['trace_kib_per_call']} KiB of it; " if "trace_kib_per_call" in sp else "(")
                     + "`evaluate` stays flat) |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
