"""``lsdlab report``: one self-contained HTML page that explains and proves a settings file.

Sections: the settings; the budget; the evidence with its confidence bounds (the "reasoned
estimate" of AMD false positives Ofcom asks for, explained in words); the confusion matrix;
decision times against the country's deadline; the Pareto front of the tuning (from the
tuning record beside the settings file, or a small study re-run on the corpus); and every
call that went wrong with its spectrogram and the detector's timeline. Plots are PNGs
embedded as base64, so the one file can be mailed to a regulator. Written atomically.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from ..errors import ParameterError

__all__ = ["write_report", "render_report"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.8em}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:.92em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#17702a;font-weight:bold}.fail{color:#b00020;font-weight:bold}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;margin:10px 0}
.box{background:#f4f8ff;border-left:4px solid #3a6fd8;padding:8px 12px;margin:10px 0}
img{max-width:100%;height:auto;border:1px solid #eee}.sub{color:#666;font-size:.9em}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _img(fig, alt: str) -> str:
    from ..plots import figure_png

    data = base64.b64encode(figure_png(fig)).decode("ascii")
    fig.clear()
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _table(rows: list[tuple], header: tuple | None = None) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>")
    for r in rows:
        cells = []
        for c in r:
            if isinstance(c, tuple) and len(c) == 2 and c[0] == "html":
                cells.append(f"<td>{c[1]}</td>")
            else:
                cls = ' class="num"' if isinstance(c, (int, float)) and not isinstance(c, bool) else ""
                cells.append(f"<td{cls}>{_e(c)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _reasoned_estimate(ev: dict, budget, country: str) -> str:
    from .metrics import clopper_pearson, humans_needed

    n = int(ev["counts"]["human"])
    rate = ev["human_false_positive_rate"]
    k = round(rate * n) if rate is not None else 0
    up = ev["human_false_positive_upper95"]
    lo2, hi2 = clopper_pearson(k, n) if n else (0.0, 1.0)
    left = budget.budget_left
    need = humans_needed(left)
    parts = [
        f"<p><b>Reasoned estimate of AMD false positives.</b> The evidence corpus holds <b>{n}</b> calls answered by a "
        f"live person. With these settings the detector called <b>{k}</b> of them a machine or fax (the dialer would "
        f"have hung up on them): a measured rate of <b>{_pct(rate, 2)}</b>.</p>",
        f"<p>A measured rate on {n} calls is not the rate the campaign will see: a different set of people would give a "
        f"somewhat different count. The exact (Clopper-Pearson) binomial bound answers the question a regulator asks: "
        f"<i>how high could the true rate be, given what was observed?</i> With 95% confidence the true false-positive "
        f"rate on calls like these is at most <b>{_pct(up, 2)}</b> (one-sided 95% upper bound; the two-sided 95% "
        f"interval is {_pct(lo2, 2)} to {_pct(hi2, 2)}). This bound, not the measured rate, is what lsdlab compares with "
        f"the budget.</p>",
        f"<p>The bound shrinks only with more evidence: with no false positive at all, {n} people give a bound of about "
        f"3/{n} = {_pct(3 / n if n else 1.0, 1)}. The budget left to the detector here is {_pct(left, 2)} "
        f"({country}'s {_pct(budget.abandoned_rate_max, 1)} minus the dialer's own drops {_pct(budget.dialer_drop_rate, 1)}), "
        + (f"which needs at least {need} live calls with none abandoned.</p>" if need else "which leaves nothing.</p>"),
        "<p>What the bound assumes: the evidence calls are like the campaign's live answers (voices, languages, line "
        "quality, how people answer). It says nothing about calls unlike them; re-measure on your own recordings "
        "(<code>lsdlab evaluate YOUR_CORPUS --settings FILE</code>) before relying on it. The abandoned-call figure below "
        "adds the people put through too late to the false positives, and is bounded the same way.</p>",
    ]
    return "\n".join(parts)


def _evidence_table(ev: dict) -> str:
    from .metrics import clopper_pearson

    n_h = ev["counts"]["human"]
    rows = []

    def row(name, key, denom_label, upper_key=None):
        r = ev.get(key)
        n = ev["counts"][denom_label]
        if r is None:
            rows.append((name, f"0/{n}", "n/a", "n/a", "n/a"))
            return
        k = round(r * n)
        lo, hi = clopper_pearson(k, n)
        up = ev.get(upper_key) if upper_key else None
        rows.append((name, f"{k}/{n}", _pct(r, 2), f"{_pct(lo, 2)} - {_pct(hi, 2)}", _pct(up, 2) if up is not None else "-"))

    row("people called machine/fax (false positives)", "human_false_positive_rate", "human", "human_false_positive_upper95")
    row("people put through too late", "human_late_rate", "human")
    if "human_abandoned_rate" in ev:
        row("people abandoned (false positive or late)", "human_abandoned_rate", "human", "human_abandoned_upper95")
    if "human_missed_2s_rate" in ev:
        row("people not decided live/unknown within 2 s of greeting end", "human_missed_2s_rate", "human")
    row("machines detected (recall)", "machine_recall", "machine")
    row("faxes detected (recall)", "fax_recall", "fax")
    if "silence_live_rate" in ev:
        row("silent calls called live", "silence_live_rate", "silence")
    _ = n_h
    return _table(rows, ("figure", "count", "measured", "exact 95% interval (two-sided)", "one-sided 95% upper bound"))


def _decision_time_table(ev: dict) -> str:
    rows = []
    for k, q in ev["decision_time_s"].items():
        def f(v):
            return ("n/a" if v is None else f"{v:.2f}")
        rows.append((k.replace("_", " "), f(q.get("p50")), f(q.get("p95"))))
    return _table(rows, ("decision time (s)", "p50", "p95"))


def _settings_rows(ts) -> list[tuple]:
    rows = [("country", ts.country), ("backend", ts.backend), ("timer mode", ts.timer_mode.name),
            ("LSD timeout", f"{ts.lsd_timeout_milliseconds} ms")]
    for k, v in ts.detector.items():
        if k in ("backend",):
            continue
        if isinstance(v, float):
            v = f"{v:.6g}"
        rows.append((f"detector.{k}", "none" if v is None else str(v)))
    if ts.model is not None:
        rows.append(("model", f"{ts.model.reference} (sha256 {ts.model.sha256[:16]}...)"))
    rows += [("created", ts.created), ("lsdlab version", ts.lsdlab_version)]
    return rows


def _wrong_calls(decisions, fig, max_calls: int) -> list[tuple[Any, str]]:
    fp, late = set(fig.false_positive_paths), set(fig.late_paths)
    out = []
    for d in decisions:
        why = None
        if d.path in fp:
            why = f"person called {d.decision} (abandoned: the dialer hangs up)"
        elif d.path in late:
            why = "person put through too late (abandoned)"
        elif d.label in ("machine", "fax") and d.decision != d.label:
            why = f"{d.label} decided {d.decision} (missed: an agent gets it)"
        elif d.label == "silence" and d.decision == "human":
            why = "silence decided human"
        if why:
            out.append((d, why))
    order = {"person called": 0, "person put": 1, "silence": 3}
    out.sort(key=lambda x: (next((v for k, v in order.items() if x[1].startswith(k)), 2), x[0].path))
    return out[:max_calls] if max_calls >= 0 else out


def _deadline(d, budget) -> float:
    from ..plots import _ref_time

    return _ref_time(d, budget.delay_reference.value) + (budget.delay_limit_ms - budget.agent_connect_ms) / 1000.0


def render_report(settings, *, corpus=None, max_calls: int = 8, n_trials: int = 60, jobs: int = 1,
                  progress: bool = False, record: dict | None = None) -> str:
    """The report's HTML (see the module docstring); ``settings`` is a path or TunedSettings."""
    from .. import load_settings
    from ..corpus import Corpus, load
    from ..evaluate import run_corpus
    from ..plots import call_timeline, confusion_matrix, decision_times, pareto
    from ..settingsfile import resolve_detector_settings
    from .export import load_record
    from .metrics import compliance_for_budget

    ts = load_settings(settings)
    detector = resolve_detector_settings(ts)  # the model resolved beside the file, sha256 checked
    if record is None and isinstance(settings, (str, os.PathLike)):
        record = load_record(settings)
    ev = ts.evidence
    budget = ts.budget
    notes: list[str] = []
    if corpus is None and record is not None:
        p = Path(record["evidence_corpus"]["path"])
        if (p / "manifest.csv").is_file():
            corpus = p
        else:
            notes.append(f"The evidence corpus named in the tuning record ({p}) is not there; pass --corpus to show calls.")
    if corpus is not None and not isinstance(corpus, Corpus):
        corpus = load(corpus)
    decisions = comp = None
    if corpus is not None:
        decisions = run_corpus(corpus, detector, jobs=jobs, progress=progress)
        comp = compliance_for_budget(decisions, budget, country=ts.country)
        if corpus.sha256 != ev["corpus_sha256"]:
            notes.append(f"The corpus shown ({corpus.root}, sha256 {corpus.sha256[:12]}...) is not the evidence corpus "
                         f"(sha256 {ev['corpus_sha256'][:12]}...): the plots and calls below are measured on it, the "
                         "evidence table is the settings file's.")
    elif record is None:
        notes.append("No corpus was given and no tuning record lies beside the settings file: the confusion matrix comes "
                     "from the file's evidence; decision times, the Pareto front and the failed calls need --corpus.")

    passed = [r for r in ev.get("rules_passed", [])]
    failed = [r for r in ev.get("rules_failed", [])]
    h: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>lsdlab report: {_e(ts.country)} settings</title><style>{_CSS}</style></head><body>",
        f"<h1>Live speaker detection settings for {_e(ts.country)}</h1>",
        f"<p class='sub'>{_e(ts.source or 'settings')} &middot; created {_e(ts.created)} &middot; lsdlab {_e(ts.lsdlab_version)}"
        f" &middot; evidence corpus sha256 <code>{_e(ev['corpus_sha256'][:16])}...</code></p>",
    ]
    verdict_ok = not failed
    h.append(
        f"<div class='box'><b>Outcome:</b> <span class='{'pass' if verdict_ok else 'fail'}'>"
        f"{'every rule passed' if verdict_ok else 'rules failed: ' + _e(', '.join(failed))}</span>. "
        f"Abandoned live calls: one-sided 95% upper bound <b>{_pct(ev.get('human_abandoned_upper95', ev['human_false_positive_upper95']), 2)}</b> "
        f"against {_pct(budget.budget_left, 2)} left to the detector. Machines detected {_pct(ev['machine_recall'])}, "
        f"faxes {_pct(ev['fax_recall'])}.</div>"
    )
    for n in notes:
        h.append(f"<div class='note'>{_e(n)}</div>")
    # settings and budget
    h.append("<h2>1. The settings</h2>")
    h.append(_table(_settings_rows(ts), ("setting", "value")))
    if ts.backend == "app_amd":
        h.append("<p>The same values as an Asterisk <code>amd.conf</code>:</p><pre>" + _e(detector.to_amd_conf()) + "</pre>")
    h.append("<h2>2. The budget</h2>")
    h.append(_table([
        ("maximum abandoned live calls", _pct(budget.abandoned_rate_max, 2)),
        ("dialer's own drops", _pct(budget.dialer_drop_rate, 2)),
        ("left to the detector", _pct(budget.budget_left, 2)),
        ("delay limit", f"{budget.delay_limit_ms} ms from {budget.delay_reference.value.replace('_', ' ')}"),
        ("agent connect time", f"{budget.agent_connect_ms} ms"),
    ], ("rule", "value")))
    h.append("<p>A live person counts as abandoned when the detector calls them a machine or fax (the dialer hangs up) "
             "or when the decision plus the agent connect time lands after the delay limit.</p>")
    # evidence
    h.append("<h2>3. The evidence and its confidence bounds</h2>")
    counts = ev["counts"]
    h.append(f"<p>Measured by the streaming detector over all {sum(counts.values())} calls of the evidence corpus "
             f"({', '.join(f'{v} {k}' for k, v in counts.items())}). Reproduce: <code>lsdlab evaluate EVIDENCE_CORPUS "
             f"--settings {_e(Path(ts.source).name if ts.source else 'settings.json')}</code>.</p>")
    h.append(_evidence_table(ev))
    h.append(_reasoned_estimate(ev, budget, ts.country))
    h.append("<p>Rules: " + ", ".join(f"<span class='pass'>{_e(r)}</span>" for r in passed)
             + ("; " + ", ".join(f"<span class='fail'>{_e(r)}</span>" for r in failed) if failed else "") + "</p>")
    h.append(_decision_time_table(ev))
    # confusion
    h.append("<h2>4. Confusion matrix</h2>")
    if comp is not None:
        h.append(_img(confusion_matrix(comp.figures, title=f"{comp.figures.calls} calls of {corpus.root.name}"), "confusion matrix"))
    elif "confusion" in ev:
        h.append(_img(confusion_matrix(ev["confusion"], title="evidence"), "confusion matrix"))
    else:
        h.append("<p>Not available (no corpus and no confusion in the evidence).</p>")
    h.append("<p class='sub'>Red outline: decisions that abandon a person (the dialer hangs up).</p>")
    # decision times
    h.append("<h2>5. Decision times against the deadline</h2>")
    if decisions is not None:
        h.append(_img(decision_times(decisions, delay_limit_ms=budget.delay_limit_ms, delay_reference=budget.delay_reference.value,
                                     agent_connect_ms=budget.agent_connect_ms), "decision times"))
        h.append(f"<p class='sub'>Left: for every person put through, the time from {budget.delay_reference.value.replace('_', ' ')} "
                 f"(the corpus's timing label) until the agent is connected; the dashed line is {ts.country}'s "
                 f"{budget.delay_limit_ms} ms limit. Right: when each call was decided, coloured by the decision.</p>")
    else:
        h.append("<p>Needs --corpus.</p>")
    # pareto
    h.append("<h2>6. The trade-off (Pareto front)</h2>")
    trials, chosen, src = None, None, ""
    if record is not None:
        trials, chosen = record["trials"], record.get("best_trial")
        src = (f"the {len(trials)} trials of the tuning run (seed {record.get('seed')}, tuning corpus "
               f"{Path(record['tuning_corpus']['path']).name})")
    elif corpus is not None and ts.backend == "default":
        try:
            from .profiles import load_profile
            from .search import tune

            res = tune(corpus, load_profile(ts.country), dialer_drop_rate=budget.dialer_drop_rate,
                       agent_connect_ms=budget.agent_connect_ms, n_trials=n_trials, seed=0, progress=progress, jobs=jobs)
            trials, chosen = res.trials, None
            src = f"a fresh study of {n_trials} trials on {corpus.root.name} (no tuning record was found)"
        except Exception as exc:  # the report still shows everything else
            h.append(f"<div class='note'>The small study for the Pareto front failed: {_e(exc)}</div>")
    if trials:
        h.append(f"<p>From {_e(src)}. Each point is one setting tried; filled points hold the budget with the safety margins.</p>")
        h.append(_img(pareto(trials, cost="human_false_positive_rate", chosen=chosen, title="recall vs false positives"), "pareto fp"))
        h.append(_img(pareto(trials, cost="machine_p50_s", chosen=chosen, title="recall vs decision time"), "pareto time"))
    else:
        h.append("<p>Not available.</p>")
    # failed calls
    h.append("<h2>7. The calls that went wrong</h2>")
    if decisions is not None and comp is not None:
        wrong = _wrong_calls(decisions, comp.figures, -1)
        shown = wrong[:max_calls]
        h.append(f"<p>{len(wrong)} call(s) were handled wrongly; {'all are' if len(shown) == len(wrong) else f'the first {len(shown)} are'} "
                 "shown (people first). Top: spectrogram with the corpus's timing labels (dashed). Bottom: what the detector "
                 "heard - speech bursts, tones and beeps, the speech onset, the greeting end - and its verdict (thick line). "
                 "Red dotted: the latest decision the country's rule allows for this call.</p>")
        if wrong:
            h.append(_table([(d.path, d.label, d.decision, f"{d.decided_at_s:.2f} s", d.reason, why) for d, why in wrong],
                            ("call", "label", "decision", "at", "reason", "what went wrong")))
        calls = {c.path: c for c in corpus.calls}
        from ..evaluate import _farend

        far = _farend(corpus, None, 0.0, 0)
        for d, why in shown:
            call = calls[d.path]
            dl = _deadline(d, budget) if d.label == "human" else None
            fig = call_timeline(far.audio(d.path), detector, call=call, deadline_s=dl,
                                title=f"{d.path}: {why}")
            h.append(f"<h3>{_e(d.path)}</h3><p class='sub'>{_e(why)}; {_e(call.notes[:200])}</p>")
            h.append(_img(fig, d.path))
        if not wrong:
            h.append("<p>None.</p>")
    else:
        h.append("<p>Needs --corpus.</p>")
    h.append("<p class='sub'>Written by lsdlab report.</p></body></html>")
    return "\n".join(h)


def write_report(settings: str | os.PathLike, out: str | os.PathLike, *, corpus=None, max_calls: int = 8,
                 n_trials: int = 60, jobs: int = 1, progress: bool = False) -> Path:
    """Write the HTML report of a settings file atomically; returns its path."""
    from .._validation import check_int_range
    from ..audio.io import atomic_path

    check_int_range(max_calls, "max_calls", "write_report", 0, 1000)
    check_int_range(n_trials, "n_trials", "write_report", 1, 10000)
    from .._validation import check_output_paths
    from ..corpus.load import MANIFEST
    from .export import record_path

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ParameterError(f"--out {out}: the report is one HTML file; give a name ending in .html.")
    # checked before the (long) rendering: a bad --out fails now, in one line
    inputs: dict[str, list] = {"the settings file": [settings], "the tuning record": [record_path(settings)],
              "the corpus manifest": [Path(str(getattr(corpus, "root", corpus))) / MANIFEST] if corpus is not None else []}
    check_output_paths({"--out": out}, inputs=inputs)
    text = render_report(settings, corpus=corpus, max_calls=max_calls, n_trials=n_trials, jobs=jobs, progress=progress)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return out
