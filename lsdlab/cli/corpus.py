"""``lsdlab corpus check|stats|build-demo``."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .._validation import JOBS_RANGE, SEED_RANGE, int_arg
from ..corpus.load import load_corpus
from ..corpus.schema import TIMING_COLUMNS
from ..errors import CorpusError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="check, summarise or build labelled corpora")
    csub = p.add_subparsers(dest="corpus_command", metavar="ACTION")
    c = csub.add_parser("check", help="validate a corpus; report every problem (exit 2 on any)")
    c.add_argument("dir", help="corpus folder (holding manifest.csv)")
    c.add_argument("--jobs", type=int_arg(*JOBS_RANGE), default=1, metavar="N",
                   help="processes checking the recordings of a large corpus (default 1)")
    c.set_defaults(func=_check)
    s = csub.add_parser("stats", help="counts per label, durations, timing-label coverage")
    s.add_argument("dir", help="corpus folder (holding manifest.csv)")
    s.set_defaults(func=_stats)
    b = csub.add_parser("build-demo", help="rebuild the licence-clean demo corpus reproducibly")
    b.add_argument("out", help="output folder (written atomically: built aside, then renamed)")
    b.add_argument("--seed", type=int_arg(*SEED_RANGE), default=20261126, help="seed of every random choice: same seed, byte-identical corpus (default 20261126, the shipped one)")
    b.add_argument("--small", action="store_true", help="a few calls per kind (for tests)")
    b.set_defaults(func=_build_demo)
    ph = csub.add_parser("build-phone-speech",
                         help="call-shaped human answers from real-dev's real telephone speech (evaluation only)")
    ph.add_argument("out", help="output folder (built aside, then renamed; never commit it: no licence)")
    ph.add_argument("--real-dev", default=None, help="the real-dev corpus (default ../shared/corpora/real-dev)")
    ph.add_argument("--seed", type=int_arg(*SEED_RANGE), default=None, help="seed of the lead-ins and noise stitching")
    ph.set_defaults(func=_build_phone_speech)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _check(args) -> int:
    try:
        corpus = load_corpus(args.dir, jobs=args.jobs)  # every problem, each recording read once
    except CorpusError as exc:
        for prob in exc.problems:
            print(f"error: {prob}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in corpus {args.dir}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in corpus.counts().items())
    print(f"ok: {args.dir}: {len(corpus)} calls ({counts})")
    return 0


def _stats(args) -> int:
    corpus = load_corpus(args.dir)
    print(f"corpus {corpus.root}  ({len(corpus)} calls, sha256 {corpus.sha256[:12]})")
    print(f"{'label':<9}{'calls':>6}{'total s':>9}{'min s':>7}{'median':>8}{'max s':>7}  timing labels")
    for label, n in corpus.counts().items():
        calls = corpus.by_label(label)
        if not calls:
            print(f"{label:<9}{0:>6}")
            continue
        d = np.array([c.duration_s for c in calls])
        cover = []
        for col, applies in TIMING_COLUMNS.items():
            if label in applies:
                k = sum(getattr(c, col) is not None for c in calls)
                cover.append(f"{col} {k}/{n}")
        print(f"{label:<9}{n:>6}{d.sum():>9.1f}{d.min():>7.2f}{np.median(d):>8.2f}{d.max():>7.2f}  {', '.join(cover)}")
    return 0


def _build_demo(args) -> int:
    from pathlib import Path

    from ..corpus.demo import build_demo
    from ..errors import ParameterError

    parent = Path(args.out).parent
    if not str(args.out).strip() or not parent.is_dir():
        what = "an empty path" if not str(args.out).strip() else f"the folder {parent} does not exist (or is not a folder)"
        raise ParameterError(f"build-demo {args.out!r}: {what}; give a new or empty folder inside an existing one.")
    # what an abruptly ended build left (a clean end, SIGTERM included, removes its own)
    import tempfile

    from .._leftovers import remove_stale

    remove_stale(tempfile.gettempdir(), "lsdlab-tts-")
    for prefix in (f".{Path(args.out).name}.building-", f".{Path(args.out).name}.old-"):
        remove_stale(parent, prefix)
    out = build_demo(args.out, seed=args.seed, small=args.small)
    print(f"built {out}")
    return 0


def _build_phone_speech(args) -> int:
    from ..corpus.phone import PHONE_SPEECH_SEED, build_phone_speech

    seed = PHONE_SPEECH_SEED if args.seed is None else args.seed
    out = build_phone_speech(args.out, real_dev=args.real_dev, seed=seed)
    print(f"built {out}")
    return 0
