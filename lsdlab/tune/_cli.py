"""``lsdlab rules list|show``: the country profiles the tuner checks against."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from .._detect_cli import add_cluster_args
from .._validation import JOBS_RANGE, SEED_RANGE, int_arg, real_arg
from ..rules import Profile, list_profiles, load_profile


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="list or show the country rules (abandoned-call budgets)")
    rsub = p.add_subparsers(dest="rules_command", metavar="ACTION")
    lp = rsub.add_parser("list", help="one line per packaged country profile")
    lp.set_defaults(func=_list)
    sp = rsub.add_parser("show", help="everything in one profile, with its sources and notes")
    sp.add_argument("profile", metavar="CODE|FILE", help="a code such as GB, or the path of your own profile .toml")
    sp.set_defaults(func=_show)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
    register_tune(sub)


def _pct(x: float | None) -> str:
    return "none" if x is None else f"{100 * x:g}%"


def _flag(prof: Profile, key: str) -> str:
    return " (unconfirmed)" if key in prof.unconfirmed else ""


def _rate_cell(prof: Profile) -> str:
    if prof.abandoned_rate_max is None:
        return f"none (tune {_pct(prof.budget_rate_max)})"
    return _pct(prof.abandoned_rate_max) + ("?" if "abandoned_rate_max" in prof.unconfirmed else "")


def _delay_cell(prof: Profile) -> str:
    if prof.delay_limit_ms is None:
        return f"none (tune {prof.budget_delay_limit_ms} ms)"
    return f"{prof.delay_limit_ms} ms"


def _ref_cell(prof: Profile) -> str:
    if prof.delay_reference is None:
        return f"({prof.budget_delay_reference.value})"
    return prof.delay_reference.value


def _amd_cell(prof: Profile) -> str:
    v = prof.amd_false_positives_count
    return {True: "yes", False: "no"}.get(v, str(v)) if isinstance(v, bool) else str(v)


def _list(args) -> int:
    rows = [("code", "max abandoned", "delay limit", "measured from", "AMD FP count", "min ring", "name")]
    for prof in list_profiles():
        rows.append(
            (
                prof.code,
                _rate_cell(prof),
                _delay_cell(prof),
                _ref_cell(prof),
                _amd_cell(prof),
                "none" if prof.min_ring_s is None else f"{prof.min_ring_s:g} s",
                prof.name,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
    print("'?' = unconfirmed; 'none (tune ...)' = no statutory rule, the tuner's cautious value. "
          "Details: lsdlab rules show CODE")
    return 0


def _wrap(label: str, text: str, width: int = 100) -> str:
    pad = " " * 22
    return textwrap.fill(text, width=width, initial_indent=f"{label:<22}", subsequent_indent=pad)


def _show(args) -> int:
    prof = load_profile(args.profile)
    out = [f"{prof.code}: {prof.name}", f"{'file':<22}{prof.path}"]
    out.append(_wrap("abandoned rate max", (
        "none (no statutory rate)" if prof.abandoned_rate_max is None else _pct(prof.abandoned_rate_max)
    ) + _flag(prof, "abandoned_rate_max")))
    if prof.abandoned_denominator:
        out.append(_wrap("  of", prof.abandoned_denominator + _flag(prof, "abandoned_denominator")))
    days = "" if prof.abandoned_window_days is None else f" ({prof.abandoned_window_days} day{'s' if prof.abandoned_window_days > 1 else ''})"
    out.append(_wrap("  window", (prof.abandoned_window or "none") + days + _flag(prof, "abandoned_window")))
    if prof.delay_limit_ms is None:
        out.append(_wrap("delay limit", "none (no statutory delay limit)"))
    else:
        assert prof.delay_reference is not None
        out.append(_wrap("delay limit", f"{prof.delay_limit_ms} ms from {prof.delay_reference.value}"
                         + _flag(prof, "delay_limit_ms")))
    out.append(_wrap("AMD false positives", f"count as abandoned: {_amd_cell(prof)}"
                     + _flag(prof, "amd_false_positives_count")))
    ring = "none" if prof.min_ring_s is None else f"{prof.min_ring_s:g} s"
    if prof.max_ring_s is not None:
        ring += f" (max {prof.max_ring_s:g} s)"
    out.append(_wrap("min ring", ring + _flag(prof, "min_ring_s")))
    out.append(_wrap("message rules", prof.message_rules))
    out.append(_wrap("repeat-call rules", prof.repeat_call_rules))
    if prof.calling_hours:
        hours = "; ".join(f"{day}: {', '.join(spans) if spans else 'no calls'}" for day, spans in prof.calling_hours.items())
        out.append(_wrap("calling hours", hours))
    else:
        out.append(_wrap("calling hours", "none given"))
    out.append(_wrap("tuner uses", (
        f"{_pct(prof.budget_rate_max)} of live calls, {prof.budget_delay_limit_ms} ms from "
        f"{prof.budget_delay_reference.value}, AMD false positives "
        f"{'counted' if prof.counts_amd_false_positives else 'not counted'}"
    )))
    if prof.tuning is not None:
        out.append(_wrap("  because", prof.tuning.reason))
    if prof.unconfirmed:
        out.append(_wrap("unconfirmed", ", ".join(prof.unconfirmed)))
    out.append("sources")
    out.extend(f"  - {s}" for s in prof.sources)
    out.append("notes")
    out.extend(textwrap.fill(n, width=100, initial_indent="  - ", subsequent_indent="    ") for n in prof.notes)
    print("\n".join(out))
    return 0


# --------------------------------------------------------------------------- tune / report


def register_tune(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "tune",
        help="search detector settings and the LSD timeout that hold a country's abandoned-call budget; export them",
        description="Trace the corpus once, run an Optuna study (TPE with constraints) over the detector thresholds, "
        "end-of-turn silence, LSD timeout, timer mode and speech deadline, maximising machine and fax recall subject "
        "to: the one-sided 95% upper bound on abandoned live calls <= the country's budget minus the dialer's own drops. "
        "Exports the settings with evidence from the streaming detector; exits 1 and writes nothing when no setting "
        "holds the budget.",
    )
    t.add_argument("corpus", metavar="CORPUS", help="the labelled corpus to tune on (folder holding manifest.csv)")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--country", metavar="CODE", help="a packaged country profile (see `lsdlab rules list`)")
    g.add_argument("--profile", metavar="FILE", help="your own country profile .toml")
    t.add_argument("--dialer-drop-rate", type=real_arg(0.0, 1.0, high_open=True), default=None, metavar="R",
                   help="share of live calls the dialer itself drops when no agent is free, e.g. 0.01; the detector gets "
                   "the rest of the budget (not given: 0.0 is assumed, and the output and report say so)")
    t.add_argument("--agent-connect-ms", type=int_arg(0, 10000), default=300, metavar="MS", help="time to bridge an agent (default 300)")
    t.add_argument("--trials", type=int_arg(1, 100000), default=100, metavar="N", help="Optuna trials (default 100)")
    t.add_argument("--seed", type=int_arg(*SEED_RANGE), default=0, metavar="S", help="sampler seed: same seed, same result (default 0)")
    t.add_argument("--sampler", choices=("tpe", "tpe-independent", "nsga2"), default="tpe",
                   help="Optuna sampler with constraints (default tpe: multivariate TPE)")
    t.add_argument("--evidence-corpus", metavar="CORPUS2", help="measure the exported evidence here (default: CORPUS)")
    t.add_argument("--backend", choices=("default", "app_amd"), default="default",
                   help="detector to tune: lsdlab's (default) or the Asterisk app_amd baseline")
    t.add_argument("--margin-logit", type=real_arg(0.0, 10.0), default=0.5, metavar="M",
                   help="safety margin: the setting must also hold the budget with its machine thresholds M lower in log-odds (default 0.5; 0 = off)")
    t.add_argument("--margin-ms", type=int_arg(0, 5000), default=200, metavar="MS",
                   help="safety margin: ... and with every decision MS later (default 200; 0 = off)")
    t.add_argument("--jobs", type=int_arg(*JOBS_RANGE), default=os.cpu_count() or 1, metavar="N",
                   help="processes for tracing and the evidence run (default: the number of CPUs)")
    add_cluster_args(t)
    t.add_argument("--cache-dir", metavar="DIR", help="trace cache (default ~/.cache/lsdlab/traces)")
    t.add_argument("--no-cache", action="store_true", help="do not read or write the trace cache")
    t.add_argument("--no-progress", action="store_true", help="no progress bar on stderr (it shows only on a terminal anyway)")
    t.add_argument("--out", required=True, metavar="settings.json",
                   help="the settings file to write (for live_speaker_detect=, lsdlab evaluate --settings, lsdlab report)")
    t.add_argument("--amd-conf", metavar="amd.conf", help="also write an Asterisk amd.conf (with --backend app_amd)")
    t.set_defaults(func=_tune)

    r = sub.add_parser("report", help="one self-contained HTML report of a settings file: evidence, bounds, plots, failed calls")
    r.add_argument("settings", metavar="settings.json", help="a settings file written by lsdlab tune")
    r.add_argument("--corpus", metavar="CORPUS", help="the corpus to show calls from (default: the evidence corpus named in the tuning record)")
    r.add_argument("--out", required=True, metavar="report.html", help="the HTML file to write (self-contained: plots embedded)")
    r.add_argument("--max-calls", type=int_arg(0, 1000), default=8, metavar="N", help="at most N wrongly handled calls with spectrograms (default 8)")
    r.add_argument("--trials", type=int_arg(1, 10000), default=60, metavar="N", help="trials of the small study run for the Pareto plot when the settings have no tuning record (default 60)")
    r.add_argument("--live-calls-per-day", type=int_arg(1, 10**9), default=None, metavar="N",
                   help="live (person-answered) calls a day of the campaign: the report turns the budget and the bound "
                   "into people per day and per the country's window (default: per 1,000 live calls)")
    r.add_argument("--jobs", type=int_arg(*JOBS_RANGE), default=os.cpu_count() or 1, metavar="N",
                   help="processes for running the calls (default: the number of CPUs)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar on stderr (it shows only on a terminal anyway)")
    r.set_defaults(func=_report)


def _warn(text: str) -> None:
    """One WARNING line on stdout, in bold yellow on a terminal (not with NO_COLOR set)."""
    line = text if text.startswith("WARNING") else f"WARNING: {text}"
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        line = f"\033[1;33m{line}\033[0m"
    print(line)


class _NoInterruptReport:
    """A logging filter dropping Optuna's report of a trial ended by Ctrl-C ('Trial N failed
    ... KeyboardInterrupt()' with its traceback, then 'Trial N failed with value None.'): the
    command then prints one line ('interrupted') and exits 130."""

    def __init__(self) -> None:
        self.interrupted_trial: str | None = None

    def filter(self, record) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        msg = record.getMessage()
        if isinstance(exc, KeyboardInterrupt):
            self.interrupted_trial = msg.split(" failed", 1)[0]  # 'Trial N'
            return False
        if self.interrupted_trial and msg.startswith(self.interrupted_trial + " failed"):
            return False
        return True


def _quiet_optuna_on_interrupt() -> None:
    import logging

    import optuna

    optuna.logging.get_logger("optuna")  # creates Optuna's own handler, if not there yet
    for h in logging.getLogger("optuna").handlers:
        if not any(isinstance(f, _NoInterruptReport) for f in h.filters):
            h.addFilter(_NoInterruptReport())


def _tune(args) -> int:
    from .._detect_cli import cluster_client
    from .._extras import require
    from ..errors import ParameterError

    require("tune", "lsdlab tune")
    from ..rules import load_profile
    from .export import export
    from .search import tune

    if args.amd_conf and args.backend != "app_amd":
        raise ParameterError("--amd-conf writes Asterisk's amd.conf, which holds app_amd settings; add --backend app_amd or drop --amd-conf.")
    _check_tune_outputs(args)
    _quiet_optuna_on_interrupt()
    profile = load_profile(args.profile if args.profile else args.country)
    progress = not args.no_progress and sys.stderr.isatty()
    cache = False if args.no_cache else args.cache_dir
    with cluster_client(args) as client:
        result = tune(args.corpus, profile, dialer_drop_rate=args.dialer_drop_rate, agent_connect_ms=args.agent_connect_ms,
                      n_trials=args.trials, seed=args.seed, evidence=args.evidence_corpus, backend=args.backend,
                      progress=progress, jobs=max(1, args.jobs), margin_logit=args.margin_logit, margin_ms=args.margin_ms,
                      cache_dir=cache, sampler=args.sampler, client=client, ship_audio=args.ship_audio)
    for line in result.summary().splitlines():
        if line.startswith("WARNING: "):
            _warn(line)
        else:
            print(line)
    if not result.feasible:
        print(f"\nerror: no settings file written ({args.out}).", file=sys.stderr)
        return 1
    path = export(result, args.out, amd_conf=args.amd_conf)
    print(f"\nsettings written to {path}" + (f"; amd.conf written to {args.amd_conf}" if args.amd_conf else ""))
    ev_root = result.evidence_corpus.root if result.evidence_corpus is not None else result.tuning_corpus.root
    print(f"check it: lsdlab evaluate {ev_root} --settings {path}")
    return 0


def _check_tune_outputs(args) -> None:
    """--out, its tuning record and --amd-conf checked before the study starts (one line each)."""
    from pathlib import Path

    from .._validation import check_output_paths
    from ..corpus.load import MANIFEST
    from .export import record_path

    manifests = [Path(c) / MANIFEST for c in (args.corpus, args.evidence_corpus) if c]
    outputs = {"--out": args.out, "the tuning record (beside --out)": None if not str(args.out).strip() else record_path(args.out),
               "--amd-conf": args.amd_conf}
    check_output_paths(outputs, inputs={"the corpus manifest": manifests, "the --profile file": [args.profile]})


def _report(args) -> int:
    from .._extras import require
    from .report import _write

    require("tune", "lsdlab report")
    path, warnings = _write(args.settings, args.out, corpus=args.corpus, max_calls=args.max_calls, n_trials=args.trials,
                            jobs=max(1, args.jobs), progress=not args.no_progress and sys.stderr.isatty(),
                            live_calls_per_day=args.live_calls_per_day)
    for w in warnings:
        _warn(w)
    print(f"report written to {path}" + (f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''} above, also in "
                                         "the report)" if warnings else ""))
    return 0
