"""Honest wording when tuned settings detect (almost) no machines: `lsdlab tune` and `lsdlab report`.

A GB tuning on real demo calls: under GB's 2 s from the start of speech no setting calls a
machine that early without hanging up on people, so the tuner ends with fax detection only.
The tuner's headline, its WARNING lines and the report's warning box must say so, and the
report must never show a green "every rule passed" for it.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import pytest
from _subset import copy_rows, subset_corpus

from lsdlab.cli import main
from lsdlab.evaluation.metrics import LOW_MACHINE_RECALL
from lsdlab.tune import export, load_profile, tune
from lsdlab.tune.provenance import voice_kind
from lsdlab.tune.report import _write
from lsdlab.tune.settings_export import record_path

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"

FAX_ONLY = ("Under GB's rule (2 s from the start of speech) these settings leave every machine to an agent: "
            "AMD gives fax detection only")


@pytest.fixture(scope="module")
def gb(tmp_path_factory):
    d = tmp_path_factory.mktemp("gb")
    root = subset_corpus(d / "corpus", {"human": 110, "machine": 20, "fax": 4, "silence": 2})
    r = tune(root, "GB", n_trials=15, seed=0, progress=False, cache_dir=d / "cache")
    assert r.feasible, r.message
    # the premise of these tests: GB's clock leaves no time to call a machine on these calls
    assert r.evidence.figures.machine_recall < LOW_MACHINE_RECALL, r.message
    return r, export(r, d / "gb.json"), root


def test_tuner_headline_reports_machines_and_faxes_apart(gb):
    r, _, _ = gb
    assert "of machines and faxes" not in r.message
    f = r.evidence.figures
    k = round(f.fax_recall * 4)
    fax = f"faxes {100 * k / 4:.1f}% ({k}/4)"
    assert re.search(rf"detects machines 0\.0% \(0/20\) and {re.escape(fax)} on the tuning corpus", r.message), r.message
    assert f"machines 0.0% (0/20) and {fax}." in r.message  # the evidence, too


def test_tuner_warns_in_words_when_no_machine_is_detected(gb):
    r, _, _ = gb
    assert any(w.startswith(FAX_ONLY) for w in r.warnings), r.warnings
    lines = r.summary().splitlines()
    assert lines[1].startswith("WARNING: " + FAX_ONLY)
    k = round(r.evidence.figures.fax_recall * 4)
    assert f"Machines detected 0/20 = 0.0% (below 5%), faxes detected {k}/4 = {100 * k / 4:.1f}%." in lines[1]
    # the Pareto listing gives machine and fax recall per trial, never one mixed recall
    fronts = [ln for ln in lines if "trial" in ln and "abandoned upper95" in ln]
    assert fronts and all("machines" in ln and "faxes" in ln for ln in fronts)


def test_tuner_says_the_dialer_drop_rate_was_assumed(gb, tmp_path):
    r, settings, root = gb
    assert r.dialer_drop_rate_given is False
    assert any("dialer's own drops are an assumption" in w for w in r.warnings)
    rec = json.loads(record_path(settings).read_text())
    assert rec["dialer_drop_rate_given"] is False and rec["abandoned_window_days"] == 1
    given = tune(root, "GB", dialer_drop_rate=0.0, n_trials=3, seed=0, progress=False, cache_dir=tmp_path / "c")
    assert given.dialer_drop_rate_given is True
    assert not any("assumption" in w for w in given.warnings)


def test_tune_cli_prints_warning_lines(gb, tmp_path, capsys):
    _, _, root = gb
    out = tmp_path / "gb.json"
    rc = main(["tune", str(root), "--country", "GB", "--trials", "15", "--seed", "0", "--jobs", "1", "--no-progress",
               "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and out.exists()
    warns = [ln for ln in text.splitlines() if ln.startswith("WARNING: ")]
    assert any(ln.startswith("WARNING: " + FAX_ONLY) for ln in warns), text
    assert any("--dialer-drop-rate was not given" in ln for ln in warns), text


def test_report_warns_in_a_box_and_never_says_every_rule_passed(gb, tmp_path, capsys):
    _, settings, root = gb
    out = tmp_path / "gb.html"
    assert main(["report", str(settings), "--out", str(out), "--max-calls", "0", "--jobs", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert any(ln.startswith("WARNING: " + FAX_ONLY) for ln in printed.splitlines()), printed
    text = out.read_text()
    assert "every rule passed" not in text
    outcome = text.split("<b>Outcome:</b>")[0].rsplit("<div", 1)[1]
    assert "class='warn'" in outcome  # the outcome itself is in the warning colour
    boxes = [html.unescape(b) for b in re.findall(r"<div class='warn'><b>WARNING:</b> (.*?)</div>", text)]
    assert any(b.startswith(FAX_ONLY) for b in boxes), boxes
    # the dialer's drops: an assumption, said so in the budget table and in a warning box
    assert "0.00%: ASSUMED, not given by the user" in text
    assert any("dialer's own drops are an assumption" in b for b in boxes), boxes
    # GB's window, the time of the report, and the budget in people
    assert "counted over 1 day" in text
    assert re.search(r"report generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text)
    assert "per 1,000 live calls" in text and "<td>30.0</td>" in text
    # Reproduce names the real corpus, not a placeholder
    assert f"lsdlab evaluate {root} --settings {settings}" in text and "EVIDENCE_CORPUS" not in text


def _recorded_corpus(dst: Path) -> Path:
    """Real demo calls whose people are recordings (FSDD speakers, Allison Smith), with machines and faxes."""
    with open(DEMO / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    keep = [r for r in rows if r["label"] == "human" and voice_kind(r["source"], r["group"]) == "recorded"]
    keep += [r for r in rows if r["label"] == "machine"][:20] + [r for r in rows if r["label"] == "fax"][:4]
    return copy_rows(dst, keep, list(rows[0]))


def test_report_is_green_only_when_nothing_warns(tmp_path):
    """Recorded people, a drop rate given, machines detected: no warning, and the outcome is green."""
    root = _recorded_corpus(tmp_path / "rec")
    text = (Path(load_profile("US").path)).read_text()
    prof = tmp_path / "lenient.toml"  # a user's own profile: a budget this small corpus can bound
    prof.write_text(text.replace('code = "US"', 'code = "LENIENT"').replace("abandoned_rate_max = 0.03", "abandoned_rate_max = 0.2"))
    r = tune(root, load_profile(prof), dialer_drop_rate=0.01, n_trials=10, seed=0, progress=False, cache_dir=tmp_path / "c")
    assert r.feasible, r.message
    assert r.warnings == []
    settings = export(r, tmp_path / "lenient.json")
    _, warnings = _write(settings, tmp_path / "r.html", max_calls=0)
    page = (tmp_path / "r.html").read_text()
    assert warnings == []
    assert "<span class='pass'>every rule passed</span>" in page and "<b>WARNING:</b>" not in page
    n = r.evidence.figures.counts["human"]
    assert f"<b>The people (human calls): {n}</b>: {n} recorded (100%)." in page
    assert "ASSUMED" not in page and "(30 days)" not in page and "counted over 30 days" in page


def test_refusal_says_the_drop_rate_was_assumed(tmp_path):
    root = subset_corpus(tmp_path / "small", {"human": 30, "machine": 5, "fax": 1})
    r = tune(root, "GB", n_trials=3, seed=0, progress=False, cache_dir=tmp_path / "c")
    assert not r.feasible
    assert "minus the dialer's own drops 0.0% (assumed: --dialer-drop-rate not given) leaves 3.0%" in r.message
    given = tune(root, "GB", dialer_drop_rate=0.0, n_trials=3, seed=0, progress=False, cache_dir=tmp_path / "c")
    assert "minus the dialer's own drops 0.0% leaves 3.0%" in given.message
