"""Helpers shared by the benchmarks: where results go, how BENCHMARKS.md sections are replaced."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BENCH_MD = ROOT / "BENCHMARKS.md"


def command() -> str:
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return " ".join([".venv/bin/python", str(script), *[a if " " not in a else repr(a) for a in sys.argv[1:]]])


def write_json(name: str, data: dict) -> Path:
    from lsdlab.audio.io import atomic_path

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def update_section(name: str, body: str) -> None:
    """Replace (or append) the BENCHMARKS.md section between markers for ``name``."""
    from lsdlab.audio.io import atomic_path

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCH_MD.read_text() if BENCH_MD.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with atomic_path(BENCH_MD) as tmp:
        tmp.write_text(text)
