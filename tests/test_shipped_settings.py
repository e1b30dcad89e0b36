"""The tuned settings shipped in settings/ stay valid: they load (the model's sha256 matches the
packaged model), pass their country's rules, and `lsdlab evaluate --settings` reproduces their
evidence on corpora/demo exactly. Retraining the model or changing the detector without
re-exporting them (see settings/README.md) fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsdlab import load_settings
from lsdlab.cli import main

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p for p in (REPO / "settings").glob("*.json") if not p.name.endswith(".tuning.json"))


def test_settings_are_shipped_for_us_and_gb():
    assert {p.stem for p in SHIPPED} >= {"US", "GB"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_settings_reproduce_their_evidence(path, capsys):
    ts = load_settings(path)
    assert ts.country == path.stem
    assert set(ts.evidence["rules_passed"]) >= {"abandoned_within_budget"}
    assert not ts.evidence.get("rules_failed")
    capsys.readouterr()
    assert main(["evaluate", str(REPO / "corpora" / "demo"), "--settings", str(path), "--json", "--jobs", "2", "--no-progress"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["corpus_sha256"] == ts.evidence["corpus_sha256"]
    for k, v in ts.evidence.items():
        if k in got["figures"]:
            assert got["figures"][k] == v, k
    assert got["compliance"]["rules_passed"] == ts.evidence["rules_passed"]
