"""Scale: start-up, `lsdlab evaluate --jobs 1/2`, and a Dask LocalCluster of 2 workers vs --jobs 2.

Run:  .venv/bin/python benchmarks/bench_scale.py [--calls 410] [--repeats 5] [--markdown]
Writes benchmarks/results/scale.json; --markdown also prints a "Scale" section for BENCHMARKS.md.

Every figure is timed from outside or around whole calls, never inside the detector:
- start-up: `lsdlab evaluate` on a one-call corpus, the minimum wall time of ``--repeats``
  runs, and the module import time reported by ``python -X importtime`` (its minimum too);
- the machine's parallel ceiling at the time (:func:`parallel_ceiling`), before and after;
- --jobs: `lsdlab evaluate CORPUS --jobs 1` and `--jobs 2` run in turn (A B A B ...), the
  ratio taken pair by pair (so a machine whose speed drifts still compares like with like)
  and its median quoted, with each run's CPU seconds (children's rusage);
- Dask: the same corpus through ``run_corpus(client=...)`` on a warm LocalCluster (2 worker
  processes, 1 thread each) against ``run_corpus(jobs=2)``, in turn, after one warm-up each;
  plus the scheduler's cost per task: ``client.map`` of a no-op over ``--tasks`` items,
  divided by the count (the reason calls are sent in batches).
``--calls N`` takes the first N calls of corpora/demo in manifest order (a reduced run).
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


def run_timed(argv: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the child and its children) of one finished command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def jobs_pairs(corpus: Path, repeats: int) -> dict:
    a = [*LSDLAB, "evaluate", str(corpus), "--no-progress", "--json", "--jobs", "1"]
    b = [*LSDLAB, "evaluate", str(corpus), "--no-progress", "--json", "--jobs", "2"]
    run_timed(a)
    run_timed(b)
    rows = []
    for _ in range(repeats):
        wa, ca = run_timed(a)
        wb, cb = run_timed(b)
        rows.append({"jobs1_wall_s": round(wa, 3), "jobs1_cpu_s": round(ca, 3), "jobs2_wall_s": round(wb, 3),
                     "jobs2_cpu_s": round(cb, 3), "speedup": round(wa / wb, 3)})
    return {"pairs": rows, "speedup_median": round(statistics.median(r["speedup"] for r in rows), 3),
            "speedup_min": min(r["speedup"] for r in rows), "speedup_max": max(r["speedup"] for r in rows)}


def _noop(x):
    return x


def dask_vs_jobs(corpus_path: Path, repeats: int, tasks: int) -> dict:
    from dask.distributed import Client, LocalCluster

    from lsdlab.corpus import load
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=410, help="first N calls of corpora/demo (default all 410)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=400, help="no-op tasks for the per-task overhead")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="also replace the 'scale' section of BENCHMARKS.md")
    a = ap.parse_args()
    if not 1 <= a.calls <= 100000 or not 1 <= a.repeats <= 100:
        ap.error("--calls must be in [1, 100000] and --repeats in [1, 100]")
    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lsdlab-bench-scale-") as tmp:
        one = subset(Path(tmp) / "one", 1)
        corpus = subset(Path(tmp) / "corpus", a.calls)
        out: dict = {"command": command(), "calls": min(a.calls, 410), "repeats": a.repeats,
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_average_1min_at_start": round(load1, 2)}}
        out["startup"] = startup(one, a.repeats)
        out["parallel_ceiling"] = parallel_ceiling(a.repeats)
        out["jobs"] = jobs_pairs(corpus, a.repeats)
        out["parallel_ceiling_after"] = parallel_ceiling(a.repeats)
        if not a.no_dask:
            try:
                out["dask"] = dask_vs_jobs(corpus, a.repeats, a.tasks)
            except ImportError:
                out["dask"] = None
                print("dask is not installed (pip install 'lsdlab[dask]'): no LocalCluster figures", file=sys.stderr)
        out["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    path = write_json("scale", out)
    s, j, d = out["startup"], out["jobs"], out.get("dask")
    lines = [
        "## Scale",
        "",
        f"Measured with `{out['command']}` on {os.cpu_count()} CPUs (1-min load average "
        f"{out['machine']['load_average_1min_at_start']} at the start, {out['machine']['load_average_1min_at_end']} at the end).",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| start-up, `lsdlab evaluate` on one call (min of {a.repeats}) | {s['wall_s_min']:.2f} s wall, imports {s['imports_s_min']:.2f} s |",
        f"| `evaluate --jobs 2` vs `--jobs 1`, {out['calls']} calls, pairwise median | {j['speedup_median']:.2f}x faster "
        f"(range {j['speedup_min']:.2f}-{j['speedup_max']:.2f}) |",
        f"| the machine's own ceiling: a pure-Python loop in 2 processes vs 1 (median, before / after) | "
        f"{out['parallel_ceiling']['speedup_median']:.2f}x / {out['parallel_ceiling_after']['speedup_median']:.2f}x |",
    ]
    if d:
        lines += [
            f"| LocalCluster (2 processes) vs `--jobs 2`, warm, {out['calls']} calls | {d['dask_over_jobs2_median']:.2f}x the time; "
            f"decisions identical: {d['decisions_identical']} |",
            f"| Dask scheduler cost per task (no-op, {d['tasks']} tasks) | {d['per_task_ms']:.2f} ms; cluster start {d['cluster_start_s']:.1f} s |",
        ]
    text = "\n".join(lines)
    print(text)
    print(f"\nwritten to {path}")
    if a.markdown:
        update_section("scale", text)


if __name__ == "__main__":
    main()
