"""`lsdlab report`: one self-contained HTML file with every section, written atomically."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from _subset import subset_corpus

from lsdlab.cli import main
from lsdlab.errors import ParameterError
from lsdlab.tune import export, tune, write_report
from lsdlab.tune.settings_export import record_path

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
    for section in ("1. The settings", "2. The budget", "3. Evidence: what the figures were measured on",
                    "4. The evidence and its confidence bounds",
                    "Reasoned estimate of AMD false positives", "5. Confusion matrix",
                    "6. Decision times against the deadline", "7. The trade-off (Pareto front)",
                    "8. The calls that went wrong", "one-sided 95% upper bound"):
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
    assert "need --corpus" in text and "4. The evidence and its confidence bounds" in text
    # no corpus: the report says it cannot tell what the evidence is, and names no placeholder corpus
    assert "What the evidence is cannot be shown" in text and "EVIDENCE_CORPUS" not in text
    assert text.count("data:image/png;base64") == 1  # the confusion matrix from the evidence


def test_report_refuses_a_non_html_name_and_writes_nothing(settings_file, tmp_path):
    with pytest.raises(ParameterError, match=r"\.html"):
        write_report(settings_file, tmp_path / "r.pdf")
    assert list(tmp_path.iterdir()) == []


def test_evidence_section_is_built_from_the_manifest(settings_file, tmp_path):
    import csv
    from collections import Counter

    rec = json.loads(record_path(settings_file).read_text())
    root = Path(rec["evidence_corpus"]["path"])
    with open(root / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    text = html.unescape(write_report(settings_file, tmp_path / "r.html", max_calls=0).read_text())
    ev = text.split("3. Evidence: what the figures were measured on")[1].split("4. The evidence and")[0]
    assert f"<code>{root}</code>" in ev and rec["evidence_corpus"]["sha256"] in ev
    assert "offline: each call's audio file" in ev and "by lsdlab tune when the settings were exported" in ev
    # counts per source, licence and language, as in the manifest (an empty language is "(not stated)")
    for col, title in (("source", "Calls per source"), ("licence", "Calls per licence"), ("language", "Calls per language")):
        table = ev.split(title)[1].split("</table>")[0]
        for value, n in Counter(r[col] or "(not stated)" for r in rows).items():
            assert re.search(rf"<td>{re.escape(value)}</td>.*<td class=\"num\">{n}</td></tr>", table), (col, value, n)
    # the people: espeak/flite rows are synthetic, the rest recorded; a warning box when half or more
    # are synthetic
    humans = [r for r in rows if r["label"] == "human"]
    synth = sum(bool(re.search("espeak|flite", r["source"] + r["group"], re.I)) for r in humans)
    assert 0 < synth < len(humans)
    assert (f"<b>The people (human calls): {len(humans)}</b>: {synth} synthetic ({100 * synth / len(humans):.0f}%), "
            f"{len(humans) - synth} recorded") in ev
    assert ("<div class='warn'><b>Synthetic people.</b>" in ev) == (synth >= 0.5 * len(humans))
    assert f"Reproduce: <code>lsdlab evaluate {root} --settings {settings_file}</code>" in text


def test_report_counts_the_budget_in_live_calls_of_the_window(settings_file, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(settings_file), "--out", str(out), "--max-calls", "0", "--jobs", "1", "--no-progress",
                 "--live-calls-per-day", "5000"]) == 0
    text = out.read_text()
    table = text.split("<th>people abandoned</th>")[1].split("</table>")[0]
    # US: 3% over each 30-day window; 5,000 live calls a day -> 150,000 a window
    assert "<th>a day (5,000 live calls)</th><th>per 30-day window (150,000 live calls)</th>" in table
    assert "<td>the country&#x27;s maximum abandoned (3.00%)</td><td>150</td><td>4,500</td>" in table
    assert "per calling campaign, measured over each 30-day period" in text and "counted over 30 days" in text
    with pytest.raises(ParameterError, match="live_calls_per_day"):
        write_report(settings_file, tmp_path / "x.html", live_calls_per_day=0)


def test_report_on_another_corpus_says_it_is_not_the_evidence(settings_file, tmp_path):
    from lsdlab.tune.report import _write

    other = subset_corpus(tmp_path / "other", {"human": 4, "machine": 3})
    path, warnings = _write(settings_file, tmp_path / "r.html", corpus=other, max_calls=0)
    assert any(w.startswith(f"The corpus given ({other}) is not the evidence corpus") for w in warnings), warnings
    text = path.read_text()
    assert "the corpus given to this report (<b>not</b> the settings file's evidence corpus)" in text
    assert "<b>WARNING:</b> The corpus given" in text and "every rule passed" not in text
