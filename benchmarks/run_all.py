"""Every benchmark in turn, each writing its section of BENCHMARKS.md (``make bench``).

The held-out synthetic corpora of bench_detect are built first (``lsdlab corpus build-demo
out/fresh-seedN --seed N`` for each of FRESH_SEEDS), every time: about 20 s each, and a corpus
left over from an older recipe would otherwise be scored as if it were current.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


#: Seeds of the fresh synthetic corpora (corpora/demo, the training corpus, uses the default seed).
FRESH_SEEDS = (7, 8, 9, 10, 11)


def run(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, check=True)


def main() -> None:
    fresh = []
    (ROOT / "out").mkdir(exist_ok=True)  # build-demo creates no parent folders
    for seed in FRESH_SEEDS:
        folder = f"out/fresh-seed{seed}"  # relative to ROOT, the working folder of every step
        run(PY, "-m", "lsdlab", "corpus", "build-demo", folder, "--seed", str(seed))
        fresh.append(folder)
    run(PY, "benchmarks/bench_detect.py", "--fresh", *fresh)
    run(PY, "benchmarks/bench_real.py")
    run(PY, "benchmarks/bench_tune.py")
    run(PY, "benchmarks/bench_sip.py", "--update-md", "--no-progress")
    run(PY, "benchmarks/bench_notebooks.py")


if __name__ == "__main__":
    main()
