"""Time `lsdlab tune` on corpora/demo: tracing once, then N Optuna trials, then the streaming evidence.

Run:  .venv/bin/python benchmarks/bench_tune.py [--trials 100] [--country US] [--jobs 2]
Prints one Markdown line for BENCHMARKS.md. The trace cache is bypassed (a cold run).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from lsdlab.corpus import load
from lsdlab.tune import load_traces, tune

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--country", default="US")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    corpus = load(DEMO)
    t0 = time.perf_counter()
    traces = load_traces(corpus, jobs=a.jobs, cache_dir=False)
    t1 = time.perf_counter()
    r = tune(corpus, a.country, n_trials=a.trials, seed=a.seed, traces=traces, jobs=a.jobs, progress=False)
    t2 = time.perf_counter()
    total = t2 - t0
    cmd = f".venv/bin/python benchmarks/bench_tune.py --trials {a.trials} --country {a.country} --jobs {a.jobs}"
    line = (
        f"| tune {a.country}, {a.trials} trials, corpora/demo ({len(corpus)} calls) | {total:.1f} s total: "
        f"trace {t1 - t0:.1f} s, study + streaming evidence {t2 - t1:.1f} s | "
        f"{'within budget' if r.feasible else 'no setting within budget'}, recall {100 * r.best.detect_recall:.1f}% | "
        f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()} | `{cmd}` |"
    )
    print(line)
    from _common import update_section

    update_section(f"tune-{a.country}", "\n".join([
        f"## Tuner speed ({a.country})", "",
        "Goal: 100 trials on the demo corpus in under 2 minutes on this machine (traces cached once, "
        "trials replayed from them, final evidence by the streaming detector).", "",
        "| run | time | outcome | machine | command |", "|---|---|---|---|---|", line]))


if __name__ == "__main__":
    main()
