"""``lsdlab evaluate``, ``lsdlab train`` and ``lsdlab regress``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from .._validation import JOBS_RANGE, SEED_RANGE, int_arg, real_arg
from ..audio.channel import ChannelSettings
from ..errors import ParameterError, SettingsError

# Regression tolerances: a figure may be worse than the baseline by at most this much.
TOLERANCES = {
    "human_false_positive_rate": 0.0,
    "human_missed_2s_rate": 0.01,
    "machine_recall": 0.01,
    "fax_recall": 0.0,
    "silence_live_rate": 0.0,
    "decision_time_p50_s": 0.05,
    "decision_time_p95_s": 0.10,
}
_HIGHER_IS_WORSE = {"human_false_positive_rate", "human_missed_2s_rate", "silence_live_rate"}


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="run a detector over a labelled corpus; confusion matrix and figures")
    e.add_argument("corpus", metavar="CORPUS", help="corpus folder (holding manifest.csv)")
    _common(e)
    e.add_argument("--decisions", metavar="OUT.csv", help="write one row per call")
    e.add_argument("--json", action="store_true", help="print the figures as JSON")
    e.set_defaults(func=_evaluate)

    t = sub.add_parser("train", help="train the cadence model (group-aware CV report, skops file)")
    t.add_argument("corpora", nargs="+", metavar="CORPUS", help="one or more corpus folders (holding manifest.csv) to train on")
    t.add_argument("--out", required=True, metavar="MODEL.skops", help="the model file to write (a .json report is written beside it)")
    t.add_argument("--folds", type=int_arg(2, 100), default=5, help="cross-validation folds; calls of one group stay on one side (default 5, at least 2)")
    t.add_argument("--seed", type=int_arg(*SEED_RANGE), default=0, help="seed of the model and of the channel rendering: same seed, same model file (default 0)")
    t.add_argument("--channel", action="store_true", help="render calls through the telephone channel with a 0.2-1.2 s lead-in (for raw, not call-shaped clips)")
    t.add_argument("--allow-unlicensed", action="store_true", help="also train on audio whose licence does not allow redistribution (private models only)")
    t.add_argument("--jobs", type=int_arg(*JOBS_RANGE), default=os.cpu_count() or 1, metavar="N", help="processes for tracing the calls (default: the number of CPUs)")
    add_cluster_args(t)
    t.add_argument("--no-progress", action="store_true", help="no progress bar and no per-fold lines on stderr")
    t.set_defaults(func=_train)

    r = sub.add_parser("regress", help="fail (exit 1) when a figure is worse than the baseline beyond tolerance")
    r.add_argument("corpus", metavar="CORPUS", help="corpus folder (holding manifest.csv)")
    r.add_argument("--baseline", required=True, metavar="FILE.json", help="the figures to compare with (written by --update)")
    r.add_argument("--update", action="store_true", help="write the current figures as the new baseline")
    _common(r)
    r.set_defaults(func=_regress)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--settings", metavar="FILE", help="a tuned settings file (lsdlab tune) or detector settings JSON")
    p.add_argument("--backend", choices=("default", "app_amd"), default=None, help="detector backend (default: the settings' or 'default')")
    p.add_argument("--channel", action="store_true", help="pass calls through the telephone-channel model (off by default: corpora are call audio already)")
    p.add_argument("--lead-in", type=real_arg(0.0, 30.0), default=0.0, metavar="S", help="seconds of silence added after connect before each recording (0-30, default 0)")
    p.add_argument("--after", choices=("hangup", "silence"), default="hangup",
                   help="when a recording ends: the far end hangs up (default) or the line stays up, silent")
    p.add_argument("--labels", metavar="L1,L2", help="use only rows with these labels (e.g. machine)")
    p.add_argument("--jobs", type=int_arg(*JOBS_RANGE), default=1, metavar="N", help="processes running the calls (default 1)")
    add_cluster_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr (it shows only on a terminal anyway)")


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    """``--cluster`` and ``--ship-audio`` (Dask scale-out; needs ``pip install 'lsdlab[dask]'``)."""
    p.add_argument("--cluster", metavar="ADDRESS|local:N",
                   help="run the calls on a Dask cluster: a scheduler address (tcp://host:8786) or local:N for a "
                        "LocalCluster of N worker processes on this machine (instead of --jobs)")
    p.add_argument("--ship-audio", action="store_true",
                   help="with --cluster: send each call's recording with its task (workers that cannot see the corpus folder)")


@contextlib.contextmanager
def cluster_client(args):
    """The Dask client of ``--cluster`` (None without it), closed afterwards."""
    if getattr(args, "ship_audio", False) and not getattr(args, "cluster", None):
        raise ParameterError("--ship-audio sends recordings to Dask workers; it needs --cluster ADDRESS or --cluster local:N.")
    if not getattr(args, "cluster", None):
        yield None
        return
    import logging

    from ..evaluation.runner import close_client, connect

    if not getattr(args, "verbose", 0):  # Dask logs every scheduler and worker step at INFO
        try:
            import distributed  # noqa: F401 - sets its loggers' levels on import: quieten them after
        except ImportError:
            pass  # connect() says how to install it
        logging.getLogger("distributed").setLevel(logging.WARNING)
    client = connect(args.cluster)
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - no dashboard (bokeh missing): nothing to show
        link = None
    n = len(client.scheduler_info().get("workers", {}))
    print(f"dask: {n} worker(s) at {client.scheduler.address}" + (f"; dashboard {link}" if link else ""), file=sys.stderr)
    try:
        yield client
    finally:
        close_client(client)


def load_any_settings(path: str | None, backend: str | None):
    """(detector settings, TunedSettings or None) from a settings file or a backend name.

    The detector settings come from :func:`lsdlab.settingsfile.resolve_detector_settings`,
    the resolver the call channel and the report use too: a tuned file's model is resolved
    against the file's folder and its sha256 checked.
    """
    from .._jsonfile import read_json
    from ..settingsfile import load_settings, resolve_detector_settings

    if path is None:
        return resolve_detector_settings(None, backend=backend), None
    if not Path(path).exists():
        raise ParameterError(f"--settings {path}: no such file; give a settings file written by `lsdlab tune` or a detector settings JSON.")
    d = read_json(Path(path))
    tuned = load_settings(Path(path)) if isinstance(d, dict) and "schema_version" in d else None
    det = resolve_detector_settings(tuned if tuned is not None else path, backend=backend, owner=f"--settings {path}")
    return det, tuned


def corpus_inputs(corpus) -> dict[str, list]:
    """The files a corpus command reads (for :func:`check_output_paths`): manifest and audio."""
    from ..corpus.load import MANIFEST

    return {"the corpus manifest": [Path(corpus.root) / MANIFEST],
            "an audio file of the corpus": [c.audio_path for c in corpus.calls]}


def settings_inputs(settings_path, det, tuned) -> dict[str, list]:
    """The settings file and model file a command reads (for :func:`check_output_paths`)."""
    model = getattr(tuned, "model_path", None) or getattr(det, "model", None)
    return {"the settings file": [settings_path],
            "the model file": [model if model and not str(model).startswith("builtin:") else None]}


def _run(args, outputs: dict | None = None):
    from .._validation import check_output_paths
    from ..corpus import load_corpus
    from ..evaluation.runner import run_corpus

    corpus = load_corpus(args.corpus, labels=args.labels.split(",") if args.labels else None, jobs=args.jobs)
    det, tuned = load_any_settings(args.settings, args.backend)
    channel = ChannelSettings() if args.channel else None
    if not 0.0 <= args.lead_in <= 30.0:
        raise ParameterError(f"--lead-in must be between 0 and 30 seconds. Got {args.lead_in}.")
    # every output path checked before the work: a bad one fails now, in one line, not after the run
    check_output_paths(outputs or {}, inputs={**corpus_inputs(corpus), **settings_inputs(args.settings, det, tuned)})
    with cluster_client(args) as client:
        decisions = run_corpus(corpus, det, channel=channel, lead_in_s=args.lead_in, after=args.after, jobs=args.jobs,
                               progress=not args.no_progress and sys.stderr.isatty(), client=client,
                               ship_audio=args.ship_audio)
    return corpus, det, tuned, decisions


def _figures(decisions, tuned):
    from ..evaluation.metrics import compliance_for_budget, figures

    if tuned is not None:
        comp = compliance_for_budget(decisions, tuned.budget, country=tuned.country)
        return comp.figures, comp
    return figures(decisions, delay_limit_ms=2000, delay_reference="greeting_end", agent_connect_ms=0), None


def _evaluate(args) -> int:
    from ..evaluation.runner import write_decisions

    corpus, det, tuned, decisions = _run(args, {"--decisions": args.decisions})
    fig, comp = _figures(decisions, tuned)
    if args.decisions is not None:
        write_decisions(args.decisions, decisions)
    if args.json:
        out = {"corpus": str(corpus.root), "corpus_sha256": corpus.sha256, "backend": det.backend, "figures": fig.to_dict()}
        if comp is not None:
            out["compliance"] = comp.to_dict()
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    print(format_figures(fig, corpus=str(corpus.root), backend=det.backend))
    if comp is not None:
        print(f"\nrules ({tuned.country}): passed {', '.join(comp.rules_passed) or '-'}; failed {', '.join(comp.rules_failed) or '-'}")
    if args.decisions:
        print(f"\ndecisions written to {args.decisions}")
    return 0


def format_figures(fig, *, corpus: str = "", backend: str = "default") -> str:
    from ..evaluation.decisions import DECISIONS, LABELS

    d = fig.to_dict()
    lines = [f"corpus {corpus}: {fig.calls} calls, backend {backend}", "", "confusion (rows: truth, columns: decision)"]
    lines.append(f"{'':>9}" + "".join(f"{x:>9}" for x in DECISIONS))
    for lab in LABELS:
        lines.append(f"{lab:>9}" + "".join(f"{fig.confusion[lab][x]:>9}" for x in DECISIONS))

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    lines += [
        "",
        f"humans called machine/fax: {fig.human_false_positives}/{fig.counts['human']} = {pct(fig.human_false_positive_rate)} "
        f"(95% upper bound {pct(fig.human_false_positive_upper95)})",
        f"humans not decided LIVE/UNKNOWN within 2 s of greeting end: {fig.human_missed_2s}/{fig.counts['human']} = {pct(fig.human_missed_2s_rate)}",
        f"humans late (delay limit {fig.delay_limit_ms} ms from {fig.delay_reference.value}, agent {fig.agent_connect_ms} ms): "
        f"{fig.human_late}/{fig.counts['human']} = {pct(fig.human_late_rate)}",
        f"machine recall: {pct(fig.machine_recall)}   fax recall: {pct(fig.fax_recall)}   silence called LIVE: {pct(fig.silence_live_rate)}",
        "",
        "decision time (s)      p50      p95",
    ]
    for k, q in d["decision_time_s"].items():
        p50 = "n/a" if q.get("p50") is None else f"{q['p50']:.2f}"
        p95 = "n/a" if q.get("p95") is None else f"{q['p95']:.2f}"
        lines.append(f"  {k:<18}{p50:>7}  {p95:>7}")
    return "\n".join(lines)


def _train(args) -> int:
    from .._validation import check_output_paths
    from ..corpus import load_corpus
    from ..evaluation.training import (
        build_training_set,
        cross_validate,
        dump_report,
        format_report,
        train_model,
    )

    if args.folds < 2:
        raise ParameterError(f"--folds must be at least 2. Got {args.folds}.")
    corpora = []
    sources = []
    inputs: dict[str, list] = {}
    for c in args.corpora:
        corpus = load_corpus(c, jobs=args.jobs)
        corpora.append((corpus, ChannelSettings() if args.channel else None, (0.2, 1.2) if args.channel else 0.0))
        sources.append({"path": str(corpus.root), "sha256": corpus.sha256, "calls": len(corpus)})
        for what, files in corpus_inputs(corpus).items():
            inputs.setdefault(what, []).extend(files)
    # the model and its report (the .json beside it) checked before the work: `--out m.json`
    # would write the model, then overwrite it with the report
    check_output_paths({"--out": args.out, "the model's report (--out with .json)": Path(args.out).with_suffix(".json")},
                       inputs=inputs)
    with cluster_client(args) as client:
        ts = build_training_set(corpora, allow_unlicensed=args.allow_unlicensed, jobs=args.jobs,
                                progress=not args.no_progress and sys.stderr.isatty(), seed=args.seed, client=client,
                                ship_audio=args.ship_audio)
    params = {"random_state": args.seed}
    say = None if args.no_progress else (lambda line: print(line, file=sys.stderr, flush=True))
    cv = cross_validate(ts, n_splits=args.folds, params=params, progress=say)
    print(format_report(cv))
    t0 = time.monotonic()
    if say:
        say(f"final fit on all {len(ts.calls)} calls ({len(ts.y)} decision points) ...")
    model, meta = train_model(ts, args.out, params=params, cv=cv, sources=sources)
    if say:
        say(f"final fit done in {time.monotonic() - t0:.1f} s")
    print(f"model written to {args.out} ({len(ts.calls)} calls, {len(ts.y)} decision points); report in {Path(args.out).with_suffix('.json')}")
    _ = dump_report
    return 0


def _flat(fig) -> dict:
    d = fig.to_dict()
    out = {k: d[k] for k in ("human_false_positive_rate", "human_missed_2s_rate", "machine_recall", "fax_recall", "silence_live_rate")}
    for cls, q in d["decision_time_s"].items():
        for p in ("p50", "p95"):
            out[f"decision_time_{p}_s.{cls}"] = q.get(p)
    return out


def _regress(args) -> int:
    from ..audio.io import atomic_path

    corpus, det, tuned, decisions = _run(args, {"--baseline": args.baseline} if args.update else None)
    fig, _ = _figures(decisions, tuned)
    cur = _flat(fig)
    base_path = Path(args.baseline)
    if args.update:
        payload = {"corpus_sha256": corpus.sha256, "backend": det.backend, "settings": det.to_dict(),
                   "tolerances": TOLERANCES, "figures": cur}
        with atomic_path(base_path) as tmp:
            tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        print(f"baseline written to {base_path}")
        return 0
    try:
        base = json.loads(base_path.read_text())
        bfig, tol = base["figures"], {**TOLERANCES, **base.get("tolerances", {})}
        if not isinstance(bfig, dict) or not all(isinstance(v, (int, float, type(None))) for v in bfig.values()):
            raise TypeError("'figures' must map figure names to numbers")
    except FileNotFoundError:
        raise ParameterError(f"--baseline {base_path}: no such file; create it with `lsdlab regress {args.corpus} --baseline {base_path} --update`.") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SettingsError(f"{base_path}: not a baseline file written by `lsdlab regress --update` ({exc}).") from None
    if base.get("corpus_sha256") not in (None, corpus.sha256):
        print(f"note: the corpus changed since the baseline (sha256 {base['corpus_sha256'][:12]} -> {corpus.sha256[:12]})")
    worse = []
    width = max((len(k) for k in bfig), default=0)
    for key, b in bfig.items():
        c = cur.get(key)
        if b is None or c is None:
            continue
        root = key.split(".")[0]
        t = tol.get(root, 0.0)
        higher_worse = root in _HIGHER_IS_WORSE or root.startswith("decision_time")
        delta = (c - b) if higher_worse else (b - c)
        status = "WORSE" if delta > t + 1e-9 else "ok"
        print(f"{status:>5}  {key:<{width}}  baseline {b:.4f}  now {c:.4f}  (tolerance {t})")
        if status == "WORSE":
            worse.append(key)
    if worse:
        print(f"regression: {len(worse)} figure(s) worse than the baseline beyond tolerance: {', '.join(worse)}", file=sys.stderr)
        return 1
    print("no regression")
    return 0
