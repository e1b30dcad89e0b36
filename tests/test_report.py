"""`lsdlab report`: one self-contained HTML file with every section, written atomically."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _subset import subset_corpus

from lsdlab.cli import main
from lsdlab.errors import ParameterError
from lsdlab.tune import export, tune, write_report
from lsdlab.tune.export import record_path

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"


@pytest.fixture(scope="module")
def settings_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    root = subset_corpus(d / "corpus", {"human": 110, "machine": 20, "fax": 4, "silence": 2})
    r = tune(root, "US", n_trials=15, seed=0, progress=False, cache_dir=d / "cache")
    assert r.feasible, r.message
    return export(r, d / "us.json")


def test_report_has_every_section(settings_file, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(settings_file), "--out", str(out), "--max-calls", "2", "--jobs", "1", "--no-progress"]) == 0
    text = out.read_text()
    for section in ("1. The settings", "2. The budget", "3. The evidence and its confidence bounds",
                    "Reasoned estimate of AMD false positives", "4. Confusion matrix",
                    "5. Decision times against the deadline", "6. The trade-off (Pareto front)",
                    "7. The calls that went wrong", "one-sided 95% upper bound"):
        assert section in text, section
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(imgs) >= 4  # confusion, times, two Pareto plots (+ one per wrong call)
    assert "http" not in text.split("<body>")[1].split("Reasoned")[0]  # self-contained: no external resources
    assert "<script" not in text and "<link" not in text


def test_report_without_record_or_corpus(settings_file, tmp_path):
    import shutil

    lone = tmp_path / "lone.json"
    shutil.copyfile(settings_file, lone)
    assert not record_path(lone).exists()
    out = write_report(lone, tmp_path / "lone.html")
    text = out.read_text()
    assert "need --corpus" in text and "3. The evidence" in text
    assert text.count("data:image/png;base64") == 1  # the confusion matrix from the evidence


def test_report_refuses_a_non_html_name_and_writes_nothing(settings_file, tmp_path):
    with pytest.raises(ParameterError, match=r"\.html"):
        write_report(settings_file, tmp_path / "r.pdf")
    assert list(tmp_path.iterdir()) == []
