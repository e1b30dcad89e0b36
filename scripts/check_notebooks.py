#!/usr/bin/env python3
"""Fail when a notebook is committed with outputs, execution counts or the wrong kernel.

Usage: ``python scripts/check_notebooks.py [NOTEBOOK_OR_FOLDER ...]`` (default: notebooks/).
Exit 0 when every notebook is clean; exit 1, one line per problem, otherwise. Clean a notebook
in JupyterLab with "Edit > Clear Outputs of All Cells" before committing, or run
``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNEL = "lsdlab"
ROOT = Path(__file__).resolve().parent.parent


def problems(path: Path) -> list[str]:
    """Every reason ``path`` must not be committed as it is (empty when clean)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{path}: not a readable notebook ({exc})"]
    out = []
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != KERNEL:
        out.append(f"{path}: kernelspec name is {kernel!r}; it must be {KERNEL!r} (the project's .venv kernel, `make kernel`)")
    for i, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            out.append(f"{path}: cell {i} has {len(cell['outputs'])} output(s) committed; clear all outputs")
        if cell.get("execution_count") is not None:
            out.append(f"{path}: cell {i} has execution count {cell['execution_count']}; clear all outputs")
    if nb.get("metadata", {}).get("widgets"):
        out.append(f"{path}: saved widget state in the metadata; clear it (JupyterLab: Settings > Save Widget State off)")
    return out


def notebooks(args: list[str]) -> list[Path]:
    paths = [Path(a) for a in args] or [ROOT / "notebooks"]
    found: list[Path] = []
    for p in paths:
        found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts) if p.is_dir() else [p]
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    found = notebooks(args)
    if not found:
        print(f"no notebooks found in {' '.join(args) or ROOT / 'notebooks'}", file=sys.stderr)
        return 1
    bad = [msg for nb in found for msg in problems(nb)]
    for msg in bad:
        print(msg, file=sys.stderr)
    if bad:
        return 1
    print(f"{len(found)} notebook(s) clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
