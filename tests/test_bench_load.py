"""benchmarks/bench_load.py --quick: real calls over 127.0.0.1 into a temp folder (about 40 s).

The full benchmark (400 calls at 40, 3 repeats, a 2,000-call soak) is run by hand; this
checks that the quick one accounts for every call and writes its JSON and its Markdown
section where it is told to, leaving the repository's BENCHMARKS.md alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parent.parent


def test_quick_load_benchmark_accounts_for_every_call(tmp_path):
    md = tmp_path / "BENCH.md"
    md.write_text("# Benchmarks\n\n<!-- load:start -->\nold figures\n<!-- load:end -->\n\nkept\n")
    before = (REPO / "BENCHMARKS.md").read_bytes()
    out = tmp_path / "load.json"
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_load.py"), "--quick", "--no-progress",
                        "--out", str(out), "--md", str(md)], capture_output=True, text=True, timeout=280, cwd=REPO)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    data = json.loads(out.read_text())
    (run,) = data["runs"]
    assert run["calls"] == 40 and run["concurrency"] == 10
    assert run["accounted_for"] and run["not_verdicted_without_error"] == []
    assert run["answered_and_verdicted"] + run["errors"] == 40 and len(run["error_list"]) == run["errors"]
    assert run["busy"] == 0 and run["nochannels"] == 0 and run["worker_crashes"] == 0
    assert run["far_end_rows"]["wrong_row_count"] == 0 and run["far_end_rows"]["no_record_count"] == 0
    assert len(run["verdict_vs_label"]) >= 3  # the shuffled rows reach several labels
    assert run["setup_ms"]["p50"] is not None and run["loadavg"]["samples"] >= 2
    assert set(run["rss_mib"]) == {"start", "half", "end"} and run["threads_end"]["pool"] > 0
    soak = data["soak"]
    assert soak["calls_done"] == 100 and not soak["aborted"] and soak["failed"] == {}
    text = md.read_text()
    assert "old figures" not in text and text.rstrip().endswith("kept")
    assert "bench_load.py --quick" in text and "| 1 | 40 at 10 | yes |" in text
    assert (REPO / "BENCHMARKS.md").read_bytes() == before
