"""Small real corpora cut from corpora/demo, for tests that need a corpus folder."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"


def subset_corpus(dst: Path, per_label: dict[str, int]) -> Path:
    """A real corpus folder holding the first rows of each label of corpora/demo."""
    with open(DEMO / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    keep, seen = [], dict.fromkeys(per_label, 0)
    for r in rows:
        if seen.get(r["label"], 10**9) < per_label.get(r["label"], 0):
            seen[r["label"]] += 1
            keep.append(r)
    return copy_rows(dst, keep, list(rows[0]))


def copy_rows(dst: Path, rows: list[dict], fieldnames: list[str]) -> Path:
    """A corpus at ``dst`` of these demo manifest rows (their audio copied)."""
    dst.mkdir(parents=True, exist_ok=True)
    for r in rows:
        (dst / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO / r["path"], dst / r["path"])
    with open(dst / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames)
        w.writeheader()
        w.writerows(rows)
    return dst
