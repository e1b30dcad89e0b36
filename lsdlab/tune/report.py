"""``lsdlab report``: one self-contained HTML page that explains and proves a settings file.

Sections: the settings; the budget (with the window it applies to, the dialer's own drops
marked as an assumption when the user did not give them, and the budget and bound as people
per 1,000 live calls or per day); the evidence: what it is (corpus path, counts per source,
licence and language, synthetic vs recorded people, the date, how the calls were made: see
:mod:`lsdlab.tune.provenance`); the evidence's figures with their confidence bounds (the
"reasoned estimate" of AMD false positives Ofcom asks for, explained in words); the confusion matrix;
decision times against the country's deadline; the Pareto front of the tuning (from the
tuning record beside the settings file, or a small study re-run on the corpus); and every
call that went wrong with its spectrogram and the detector's timeline. Plots are PNGs
embedded as base64, so the one file can be mailed to a regulator. Written atomically.

Warnings (a red box under the outcome, and a WARNING line from ``lsdlab report``): settings
that detect (almost) no machines (:data:`lsdlab.evaluation.metrics.LOW_MACHINE_RECALL`), an assumed
dialer drop rate, synthetic people in the evidence, an evidence corpus that cannot be shown.
The outcome is a green "every rule passed" only when the rules pass and nothing warns.
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
.warn{background:#fdecea;border-left:6px solid #c62828;padding:8px 12px;margin:10px 0}.caution{color:#b45309;font-weight:bold}
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


def _reasoned_estimate(ev: dict, budget, country: str, *, assumed_drops: bool = False) -> str:
    from ..evaluation.metrics import clopper_pearson, humans_needed

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
        f"({country}'s {_pct(budget.abandoned_rate_max, 1)} minus the dialer's own drops {_pct(budget.dialer_drop_rate, 1)}"
        + (", an assumption: no rate was given" if assumed_drops else "") + "), "
        + (f"which needs at least {need} live calls with none abandoned.</p>" if need else "which leaves nothing.</p>"),
        "<p>What the bound assumes: the evidence calls are like the campaign's live answers (voices, languages, line "
        "quality, how people answer). It says nothing about calls unlike them; re-measure on your own recordings "
        "(<code>lsdlab evaluate YOUR_CORPUS --settings FILE</code>) before relying on it. The abandoned-call figure below "
        "adds the people put through too late to the false positives, and is bounded the same way.</p>",
    ]
    return "\n".join(parts)


def _evidence_table(ev: dict) -> str:
    from ..evaluation.metrics import clopper_pearson

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
    from ..evaluation.decisions import reference_time

    return reference_time(d, budget.delay_reference)[0] + (budget.delay_limit_ms - budget.agent_connect_ms) / 1000.0


def _now_utc() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _evidence_warning(ev: dict, budget, country: str) -> str | None:
    """The low-machine-recall warning from a settings file's evidence (see metrics.machine_recall_warning)."""
    from ..evaluation.metrics import machine_recall_warning

    counts = ev["counts"]
    conf = ev.get("confusion")

    def detected(label: str, key: str) -> int:
        if conf is not None:
            return int(conf[label][label])
        r = ev.get(key)
        return 0 if r is None else round(r * counts.get(label, 0))

    return machine_recall_warning(country, counts=counts, machines_detected=detected("machine", "machine_recall"),
                                  faxes_detected=detected("fax", "fax_recall"), delay_limit_ms=budget.delay_limit_ms,
                                  delay_reference=budget.delay_reference)


def _drops_assumed(budget, record: dict | None) -> bool:
    """True when the dialer's drop rate was not given by the user (recorded so, or 0 with no record saying)."""
    given = None if record is None else record.get("dialer_drop_rate_given")
    if given is None:
        return budget.dialer_drop_rate == 0.0
    return not given


def _window(ts, record: dict | None) -> tuple[str | None, int | None]:
    """The country's budget window (text, days) from the tuning record, else the packaged profile."""
    if record is not None and "abandoned_window" in record:
        return record.get("abandoned_window"), record.get("abandoned_window_days")
    from ..errors import SettingsError
    from ..rules import load_profile

    try:
        prof = load_profile(ts.country)
    except SettingsError:
        return None, None
    return prof.abandoned_window, prof.abandoned_window_days


def _calls_table(budget, upper: float, point: float | None, *, assumed: bool, live_calls_per_day: int | None,
                 window_days: int | None) -> str:
    """The budget and the bound as people: per 1,000 live calls, or per day and per window of N live calls a day."""
    cols: list[tuple[str, float, str]] = []
    if live_calls_per_day is None:
        cols.append(("per 1,000 live calls", 1000.0, "{:,.1f}"))
    else:
        cols.append((f"a day ({live_calls_per_day:,} live calls)", float(live_calls_per_day), "{:,.0f}"))
        if window_days is not None and window_days > 1:
            n = live_calls_per_day * window_days
            cols.append((f"per {window_days}-day window ({n:,} live calls)", float(n), "{:,.0f}"))
    rows = [
        (f"the country's maximum abandoned ({_pct(budget.abandoned_rate_max, 2)})", budget.abandoned_rate_max),
        (f"the dialer's own drops ({_pct(budget.dialer_drop_rate, 2)}{', ASSUMED' if assumed else ''})", budget.dialer_drop_rate),
        (f"left to the detector ({_pct(budget.budget_left, 2)})", budget.budget_left),
        (f"people the detector abandons, one-sided 95% upper bound ({_pct(upper, 2)})", upper),
    ]
    if point is not None:
        rows.append((f"people the detector abandoned on the evidence, measured rate ({_pct(point, 2)})", point))
    out = [(name, *[fmt.format(rate * n) for _, n, fmt in cols]) for name, rate in rows]
    return _table(out, ("people abandoned", *[c[0] for c in cols]))


def _by_table(by: dict[str, dict[str, int]], what: str) -> str:
    from ..evaluation.decisions import LABELS

    labels = [lab for lab in LABELS if any(lab in v for v in by.values())]
    rows = [(k, *[v.get(lab, 0) for lab in labels], sum(v.values())) for k, v in by.items()]
    return _table(rows, (what, *labels, "calls"))


def _evidence_section(prov, ts, *, generated: str, same_as_evidence: bool, rerun: bool) -> list[str]:
    """Section 3: what the evidence is (corpus, provenance, counts, voices, date, how the calls were made)."""
    from .provenance import SYNTHESISER_WORDS, VOICE_KINDS

    h = []
    if prov is None:
        h.append("<div class='warn'><b>What the evidence is cannot be shown:</b> the evidence corpus is not available to this "
                 "report (no --corpus, and no tuning record naming a corpus that is still there). The figures below are the "
                 "settings file's; give the corpus with --corpus to show its sources, licences, languages and voices.</div>")
        h.append(f"<p>Evidence measured {_e(ts.created)} (when the settings were exported); corpus sha256 "
                 f"<code>{_e(ts.evidence['corpus_sha256'])}</code>.</p>")
        return h
    which = "the evidence corpus" if same_as_evidence else "the corpus given to this report (<b>not</b> the settings file's evidence corpus)"
    h.append(_table([
        ("corpus", ("html", f"<code>{_e(prov.root)}</code>")),
        ("what it is", ("html", which)),
        ("sha256 of its manifest and audio", ("html", f"<code>{_e(prov.sha256)}</code>")),
        ("calls", f"{prov.calls} (" + ", ".join(f"{v} {k}" for k, v in prov.counts.items()) + ")"),
        ("evidence measured", f"{ts.created}, by lsdlab tune when the settings were exported"
         + (f"; measured again for this report at {generated}" if rerun else "")),
        ("how the calls were made", "offline: each call's audio file (8 kHz, with the codec, line noise and timing it was "
         "recorded or rendered with; see the manifest's notes) streamed in order through the same streaming detector a live "
         "call runs (lsdlab evaluate); no SIP call, no network jitter or packet loss"),
    ]))
    people = prov.people
    n_h = prov.counts.get("human", 0)
    if n_h:
        parts = ", ".join(f"{people[k]} {k} ({100 * people[k] / n_h:.0f}%)" for k in VOICE_KINDS if people.get(k))
        h.append(f"<p><b>The people (human calls): {n_h}</b>: {_e(parts)}.</p>")
    else:
        h.append("<p><b>No human call</b> in this corpus: nothing here is evidence about live people.</p>")
    w = prov.synthetic_people_warning
    if w is not None:
        h.append(f"<div class='warn'><b>Synthetic people.</b> {_e(w)}</div>")
    voice_rows = [(lab, *[v.get(k, 0) for k in VOICE_KINDS]) for lab, v in prov.voices.items()]
    h.append(_table(voice_rows, ("label", *VOICE_KINDS)))
    h.append("<p class='sub'>How a voice is classed (from the manifest, not the audio): <i>synthetic</i> when the row's "
             f"<code>source</code> or <code>group</code> names a speech synthesiser ({_e(', '.join(SYNTHESISER_WORDS))}); "
             "<i>generated</i> when the source says the signal was generated (tones, noise); <i>recorded</i> for any "
             "other stated source, taken at its word; <i>not stated</i> when the source is empty. A synthesiser not named "
             "that way is counted as recorded: name the engine in <code>source</code>.</p>")
    h.append("<h3>Calls per source</h3>" + _by_table(prov.by_source, "source"))
    h.append("<h3>Calls per licence</h3>" + _by_table(prov.by_licence, "licence"))
    h.append("<h3>Calls per language</h3>" + _by_table(prov.by_language, "language"))
    return h


def render_report(settings, *, corpus=None, max_calls: int = 8, n_trials: int = 60, jobs: int = 1,
                  progress: bool = False, record: dict | None = None, live_calls_per_day: int | None = None,
                  generated_at: str | None = None) -> str:
    """The report's HTML (see the module docstring); ``settings`` is a path or TunedSettings.

    ``live_calls_per_day``: the campaign's live calls a day, to state the budget and the bound
    as people per day and per the country's window (default: per 1,000 live calls);
    ``generated_at``: the time printed as the report's (default: now, UTC).
    """
    return _render(settings, corpus=corpus, max_calls=max_calls, n_trials=n_trials, jobs=jobs, progress=progress,
                   record=record, live_calls_per_day=live_calls_per_day, generated_at=generated_at)[0]


def _render(settings, *, corpus=None, max_calls: int = 8, n_trials: int = 60, jobs: int = 1, progress: bool = False,
            record: dict | None = None, live_calls_per_day: int | None = None,
            generated_at: str | None = None) -> tuple[str, list[str]]:
    """The report's HTML and its warnings (the lines ``lsdlab report`` also prints)."""
    from .._validation import check_int_range
    from ..corpus import Corpus, load_corpus
    from ..evaluation.metrics import compliance_for_budget
    from ..evaluation.runner import run_corpus
    from ..plots import call_timeline, confusion_matrix, decision_times, pareto
    from ..settingsfile import load_settings, resolve_detector_settings
    from .provenance import provenance
    from .settings_export import load_record

    if live_calls_per_day is not None:
        check_int_range(live_calls_per_day, "live_calls_per_day", "render_report", 1, 10**9)
    generated = generated_at or _now_utc()
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
        corpus = load_corpus(corpus, jobs=jobs)
    decisions = comp = prov = None
    same_as_evidence = False
    if corpus is not None:
        decisions = run_corpus(corpus, detector, jobs=jobs, progress=progress)
        comp = compliance_for_budget(decisions, budget, country=ts.country)
        prov = provenance(corpus)
        same_as_evidence = corpus.sha256 == ev["corpus_sha256"]
        if not same_as_evidence:
            notes.append(f"The corpus shown ({corpus.root}, sha256 {corpus.sha256[:12]}...) is not the evidence corpus "
                         f"(sha256 {ev['corpus_sha256'][:12]}...): the plots and calls below are measured on it, the "
                         "evidence table is the settings file's.")
    elif record is None:
        notes.append("No corpus was given and no tuning record lies beside the settings file: the confusion matrix comes "
                     "from the file's evidence; decision times, the Pareto front and the failed calls need --corpus.")

    # what a reader must not miss, most serious first
    warnings: list[str] = []
    w = _evidence_warning(ev, budget, ts.country)
    if w is not None:
        warnings.append(w)
    assumed = _drops_assumed(budget, record)
    if assumed:
        warnings.append(f"The dialer's own drops are an assumption: {_pct(budget.dialer_drop_rate, 2)} of live calls was "
                        f"assumed because no rate was given (lsdlab tune --dialer-drop-rate), so the detector was given the "
                        f"whole {_pct(budget.abandoned_rate_max, 2)} budget. Calls the dialer abandons when no agent is free "
                        "count against the same budget: tune again with your dialer's measured rate.")
    if prov is not None and same_as_evidence and prov.synthetic_people_warning is not None:
        warnings.append(prov.synthetic_people_warning)
    if prov is None:
        warnings.append("The evidence corpus is not available: the report cannot say what the evidence is (give --corpus).")
    elif not same_as_evidence:
        warnings.append(f"The corpus given ({prov.root}) is not the evidence corpus (its sha256 differs): the report cannot "
                        "say what the evidence is; give the corpus the settings were measured on.")

    passed = [r for r in ev.get("rules_passed", [])]
    failed = [r for r in ev.get("rules_failed", [])]
    window_text, window_days = _window(ts, record)
    h: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>lsdlab report: {_e(ts.country)} settings</title><style>{_CSS}</style></head><body>",
        f"<h1>Live speaker detection settings for {_e(ts.country)}</h1>",
        f"<p class='sub'>{_e(ts.source or 'settings')} &middot; settings created {_e(ts.created)} &middot; "
        f"<b>report generated {_e(generated)}</b> &middot; lsdlab {_e(ts.lsdlab_version)}"
        f" &middot; evidence corpus sha256 <code>{_e(ev['corpus_sha256'][:16])}...</code></p>",
    ]
    upper = ev.get("human_abandoned_upper95", ev["human_false_positive_upper95"])
    figures_line = (f"Abandoned live calls: one-sided 95% upper bound <b>{_pct(upper, 2)}</b> against "
                    f"{_pct(budget.budget_left, 2)} left to the detector. Machines detected <b>{_pct(ev['machine_recall'])}</b>, "
                    f"faxes detected <b>{_pct(ev['fax_recall'])}</b>.")
    if failed:
        h.append(f"<div class='warn'><b>Outcome:</b> <span class='fail'>rules failed: {_e(', '.join(failed))}</span>. "
                 f"{figures_line}</div>")
    elif warnings:
        h.append(f"<div class='warn'><b>Outcome:</b> <span class='caution'>the budget rules pass, with {len(warnings)} "
                 f"warning{'s' if len(warnings) > 1 else ''} below</span>. {figures_line}</div>")
    else:
        h.append(f"<div class='box'><b>Outcome:</b> <span class='pass'>every rule passed</span>. {figures_line}</div>")
    for w in warnings:
        h.append(f"<div class='warn'><b>WARNING:</b> {_e(w)}</div>")
    for n in notes:
        h.append(f"<div class='note'>{_e(n)}</div>")
    # settings and budget
    h.append("<h2>1. The settings</h2>")
    h.append(_table(_settings_rows(ts), ("setting", "value")))
    if ts.backend == "app_amd":
        h.append("<p>The same values as an Asterisk <code>amd.conf</code>:</p><pre>" + _e(detector.to_amd_conf()) + "</pre>")
    h.append("<h2>2. The budget</h2>")
    drops: str | tuple[str, str] = _pct(budget.dialer_drop_rate, 2)
    if assumed:
        drops = ("html", f"<span class='fail'>{_e(drops)}: ASSUMED, not given by the user</span>")
    win = "not stated" if window_text is None else window_text
    if window_days is not None:
        win += f"; counted over {window_days} day{'s' if window_days > 1 else ''}"
    h.append(_table([
        ("maximum abandoned live calls", _pct(budget.abandoned_rate_max, 2)),
        ("window the maximum applies to", win),
        ("dialer's own drops", drops),
        ("left to the detector", _pct(budget.budget_left, 2)),
        ("delay limit", f"{budget.delay_limit_ms} ms from {budget.delay_reference.value.replace('_', ' ')}"),
        ("agent connect time", f"{budget.agent_connect_ms} ms"),
    ], ("rule", "value")))
    h.append("<p>A live person counts as abandoned when the detector calls them a machine or fax (the dialer hangs up) "
             "or when the decision plus the agent connect time lands after the delay limit. The rate is counted over "
             f"the live calls of the window ({_e(win)}): in people,</p>")
    h.append(_calls_table(budget, upper, ev.get("human_abandoned_rate"), assumed=assumed,
                          live_calls_per_day=live_calls_per_day, window_days=window_days))
    if live_calls_per_day is None:
        h.append("<p class='sub'>Give the campaign's live calls a day (<code>lsdlab report --live-calls-per-day N</code>) to "
                 "see these as people a day and per window.</p>")
    # what the evidence is
    h.append("<h2>3. Evidence: what the figures were measured on</h2>")
    h.extend(_evidence_section(prov, ts, generated=generated, same_as_evidence=same_as_evidence, rerun=decisions is not None))
    # evidence figures
    h.append("<h2>4. The evidence and its confidence bounds</h2>")
    counts = ev["counts"]
    ev_path = (str(corpus.root) if corpus is not None and same_as_evidence
               else (record["evidence_corpus"]["path"] if record is not None else None))
    settings_arg = str(ts.source) if ts.source else "settings.json"
    repro = (f"Reproduce: <code>lsdlab evaluate {_e(ev_path)} --settings {_e(settings_arg)}</code>." if ev_path is not None else
             f"The evidence corpus's path is not known here (no tuning record): reproduce with <code>lsdlab evaluate CORPUS "
             f"--settings {_e(settings_arg)}</code> on the corpus whose sha256 is <code>{_e(ev['corpus_sha256'][:16])}...</code>.")
    h.append(f"<p>Measured by the streaming detector over all {sum(counts.values())} calls of the evidence corpus "
             f"({', '.join(f'{v} {k}' for k, v in counts.items())}). {repro}</p>")
    h.append(_evidence_table(ev))
    h.append(_reasoned_estimate(ev, budget, ts.country, assumed_drops=assumed))
    h.append("<p>Rules: " + ", ".join(f"<span class='pass'>{_e(r)}</span>" for r in passed)
             + ("; " + ", ".join(f"<span class='fail'>{_e(r)}</span>" for r in failed) if failed else "") + "</p>")
    h.append(_decision_time_table(ev))
    # confusion
    h.append("<h2>5. Confusion matrix</h2>")
    if comp is not None:
        h.append(_img(confusion_matrix(comp.figures, title=f"{comp.figures.calls} calls of {corpus.root.name}"), "confusion matrix"))
    elif "confusion" in ev:
        h.append(_img(confusion_matrix(ev["confusion"], title="evidence"), "confusion matrix"))
    else:
        h.append("<p>Not available (no corpus and no confusion in the evidence).</p>")
    h.append("<p class='sub'>Red outline: decisions that abandon a person (the dialer hangs up).</p>")
    # decision times
    h.append("<h2>6. Decision times against the deadline</h2>")
    if decisions is not None:
        h.append(_img(decision_times(decisions, delay_limit_ms=budget.delay_limit_ms, delay_reference=budget.delay_reference.value,
                                     agent_connect_ms=budget.agent_connect_ms), "decision times"))
        h.append(f"<p class='sub'>Left: for every person put through, the time from {budget.delay_reference.value.replace('_', ' ')} "
                 f"(the corpus's timing label) until the agent is connected; the dashed line is {ts.country}'s "
                 f"{budget.delay_limit_ms} ms limit. Right: when each call was decided, coloured by the decision.</p>")
    else:
        h.append("<p>Needs --corpus.</p>")
    # pareto
    h.append("<h2>7. The trade-off (Pareto front)</h2>")
    trials, chosen, src = None, None, ""
    if record is not None:
        trials, chosen = record["trials"], record.get("best_trial")
        src = (f"the {len(trials)} trials of the tuning run (seed {record.get('seed')}, tuning corpus "
               f"{Path(record['tuning_corpus']['path']).name})")
    elif corpus is not None and ts.backend == "default":
        try:
            from ..rules import load_profile
            from .search import tune

            res = tune(corpus, load_profile(ts.country), dialer_drop_rate=budget.dialer_drop_rate,
                       agent_connect_ms=budget.agent_connect_ms, n_trials=n_trials, seed=0, progress=progress, jobs=jobs)
            trials, chosen = res.trials, None
            src = f"a fresh study of {n_trials} trials on {corpus.root.name} (no tuning record was found)"
        except Exception as exc:  # the report still shows everything else
            h.append(f"<div class='note'>The small study for the Pareto front failed: {_e(exc)}</div>")
    if trials:
        h.append(f"<p>From {_e(src)}. Each point is one setting tried; filled points hold the budget with the safety margins. "
                 "The tuner maximises machines and faxes detected together; the plots show machines alone (faxes are "
                 "detected by their tones almost whatever the thresholds), and the star's legend gives both.</p>")
        h.append(_img(pareto(trials, cost="human_false_positive_rate", chosen=chosen, recall="machine_recall",
                             title="machines detected vs false positives"), "pareto fp"))
        h.append(_img(pareto(trials, cost="machine_p50_s", chosen=chosen, recall="machine_recall",
                             title="machines detected vs decision time"), "pareto time"))
    else:
        h.append("<p>Not available.</p>")
    # failed calls
    h.append("<h2>8. The calls that went wrong</h2>")
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
        from ..evaluation.runner import offline_far_end

        far = offline_far_end(corpus, None, 0.0, 0)
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
    return "\n".join(h), warnings


def write_report(settings: str | os.PathLike, out: str | os.PathLike, *, corpus=None, max_calls: int = 8,
                 n_trials: int = 60, jobs: int = 1, progress: bool = False, live_calls_per_day: int | None = None) -> Path:
    """Write the HTML report of a settings file atomically; returns its path."""
    return _write(settings, out, corpus=corpus, max_calls=max_calls, n_trials=n_trials, jobs=jobs, progress=progress,
                  live_calls_per_day=live_calls_per_day)[0]


def _write(settings: str | os.PathLike, out: str | os.PathLike, *, corpus=None, max_calls: int = 8, n_trials: int = 60,
           jobs: int = 1, progress: bool = False, live_calls_per_day: int | None = None) -> tuple[Path, list[str]]:
    """:func:`write_report`, also returning the report's warnings (printed by ``lsdlab report``)."""
    from .._validation import check_int_range, check_output_paths
    from ..audio.io import atomic_path
    from ..corpus.load import MANIFEST
    from .settings_export import record_path

    check_int_range(max_calls, "max_calls", "write_report", 0, 1000)
    check_int_range(n_trials, "n_trials", "write_report", 1, 10000)

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ParameterError(f"--out {out}: the report is one HTML file; give a name ending in .html.")
    # checked before the (long) rendering: a bad --out fails now, in one line
    inputs: dict[str, list] = {"the settings file": [settings], "the tuning record": [record_path(settings)],
              "the corpus manifest": [Path(str(getattr(corpus, "root", corpus))) / MANIFEST] if corpus is not None else []}
    check_output_paths({"--out": out}, inputs=inputs)
    text, warnings = _render(settings, corpus=corpus, max_calls=max_calls, n_trials=n_trials, jobs=jobs, progress=progress,
                             live_calls_per_day=live_calls_per_day)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return out, warnings
