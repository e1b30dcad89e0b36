"""``lsdlab tune`` and ``lsdlab report``: search settings that hold a country's budget, export
them, and report on an exported settings file."""

from __future__ import annotations

import argparse
import os
import sys

from .._validation import JOBS_RANGE, SEED_RANGE, int_arg, real_arg
from .detect import add_cluster_args


def register(sub: argparse._SubParsersAction) -> None:
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
    t.add_argument("--trial-batch", type=int_arg(1, 256), default=1, metavar="B",
                   help="ask B trials at a time from the seeded sampler and run them at once on the workers (--jobs or "
                   "--cluster); worth it when a trial costs over ~100 ms (--backend app_amd, thousands of calls). The "
                   "result depends on --seed and B only, not on the workers (default 1: one trial after another)")
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
    from .._extras import require
    from ..errors import ParameterError
    from .detect import cluster_client

    require("tune", "lsdlab tune")
    from ..rules import load_profile
    from ..tune.search import tune
    from ..tune.settings_export import export

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
                      progress=progress, jobs=args.jobs, margin_logit=args.margin_logit, margin_ms=args.margin_ms,
                      cache_dir=cache, sampler=args.sampler, client=client, ship_audio=args.ship_audio,
                      trial_batch=args.trial_batch)
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
    from ..tune.settings_export import record_path

    manifests = [Path(c) / MANIFEST for c in (args.corpus, args.evidence_corpus) if c]
    outputs = {"--out": args.out, "the tuning record (beside --out)": None if not str(args.out).strip() else record_path(args.out),
               "--amd-conf": args.amd_conf}
    check_output_paths(outputs, inputs={"the corpus manifest": manifests, "the --profile file": [args.profile]})


def _report(args) -> int:
    from .._extras import require
    from ..tune.report import _write

    require("tune", "lsdlab report")
    path, warnings = _write(args.settings, args.out, corpus=args.corpus, max_calls=args.max_calls, n_trials=args.trials,
                            jobs=args.jobs, progress=not args.no_progress and sys.stderr.isatty(),
                            live_calls_per_day=args.live_calls_per_day)
    for w in warnings:
        _warn(w)
    print(f"report written to {path}" + (f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''} above, also in "
                                         "the report)" if warnings else ""))
    return 0
