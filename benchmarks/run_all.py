"""Every benchmark in turn, each writing its section of BENCHMARKS.md (``make bench``).

The held-out synthetic corpus of bench_detect is built first (``lsdlab corpus build-demo DIR
--seed 7``) into out/fresh-seed7 unless it is there already.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, check=True)


def main() -> None:
    fresh = "out/fresh-seed7"  # relative to ROOT, the working folder of every step
    if not (ROOT / fresh / "manifest.csv").is_file():
        run(PY, "-m", "lsdlab", "corpus", "build-demo", fresh, "--seed", "7")
    run(PY, "benchmarks/bench_detect.py", "--fresh", fresh)
    run(PY, "benchmarks/bench_tune.py")
    run(PY, "benchmarks/bench_sip.py", "--update-md", "--no-progress")
    run(PY, "benchmarks/bench_notebooks.py")


if __name__ == "__main__":
    main()
