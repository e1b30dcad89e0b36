"""How long each tutorial notebook takes to run top to bottom headless (goal: under 3 minutes).

Each notebook runs under nbclient in the project's "lsdlab" kernel (``make kernel``), real SIP
calls included, exactly as tests/test_notebooks.py runs them; the test checks that they run,
this measures how long they take (wall time is noise on a shared machine, so it is measured
here rather than asserted in a test).

    .venv/bin/python benchmarks/bench_notebooks.py
"""

from __future__ import annotations

import argparse
import os
import time

from _common import ROOT, command, update_section, write_json

GOAL_S = 180.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="lsdlab", help="kernelspec name (default lsdlab; see make kernel)")
    args = ap.parse_args()
    import nbformat
    from nbclient import NotebookClient

    rows, out = [], {}
    load0 = os.getloadavg()[0]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=600, kernel_name=args.kernel, resources={"metadata": {"path": str(path.parent)}})
        t0 = time.monotonic()
        client.execute()
        dt = time.monotonic() - t0
        out[path.stem] = round(dt, 1)
        rows.append(f"| {path.stem} | {dt:.0f} | {'yes' if dt < GOAL_S else 'NO'} |")
        print(f"{path.stem}: {dt:.1f} s", flush=True)
    write_json("bench_notebooks", {"seconds": out, "goal_s": GOAL_S, "load_avg_start": load0})
    body = "\n".join([
        "## Notebooks: time to run top to bottom (headless, nbclient)",
        "",
        f"Command: `{command()}` (run {time.strftime('%Y-%m-%d')}, load average {load0:.1f} at the start). "
        "Real SIP calls included (02, 03). Goal: each under 3 minutes.",
        "",
        "| notebook | seconds | under 3 min |",
        "|---|---|---|",
        *rows,
    ])
    update_section("notebooks", body)


if __name__ == "__main__":
    main()
