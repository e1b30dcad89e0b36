"""The ``lsdlab`` command line: every command lives in this package (the top floor; nothing
else in lsdlab imports it). Each module registers its own subcommands.

Every command reports bad input as one clear line (or one line per problem) on stderr
and exits 2; it never shows a traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .._version import __version__
from ..errors import CorpusError, LsdlabError

# Modules that define ``register(subparsers)``; each adds its subcommands.
_COMMAND_MODULES = (
    "lsdlab.cli.farend",
    "lsdlab.cli.corpus",
    "lsdlab.cli.detect",
    "lsdlab.cli.demo",
    "lsdlab.cli.rules",
    "lsdlab.cli.tune",
    "lsdlab.cli.cache",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lsdlab",
        description="Live speaker detection lab: corpora, detector, real SIP calls, country-rule tuning.",
    )
    parser.add_argument("--version", action="version", version=f"lsdlab {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _add_verbose_to_subcommands(parser)
    return parser


_VERBOSE_HELP = "more log output (-vv for debug); before or after the subcommand"


def _add_verbose_to_subcommands(parser: argparse.ArgumentParser) -> None:
    """Let ``-v`` follow any subcommand too (``lsdlab tune ... -v``), counted with the global one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in dict.fromkeys(action.choices.values()):  # aliases share a parser
                if not any("-v" in a.option_strings for a in subparser._actions):
                    subparser.add_argument("-v", "--verbose", dest="sub_verbose", action="count",
                                           default=argparse.SUPPRESS, help=_VERBOSE_HELP)
                _add_verbose_to_subcommands(subparser)


def verbosity(args: argparse.Namespace) -> int:
    """How many ``-v`` were given, before and after the subcommand."""
    return int(args.verbose) + int(getattr(args, "sub_verbose", 0))


# Commands that run no SIP (offline corpus work, the ones taking --jobs): as the program itself,
# they import with the garbage collector paused and freeze its objects after the imports and
# once their output is written (see _quick_start and _quick_exit).
_OFFLINE_COMMANDS = frozenset({"evaluate", "regress", "train", "tune", "report"})


def _one_blas_thread() -> None:
    """numpy's OpenBLAS with one thread, unless the user set ``OPENBLAS_NUM_THREADS``.

    At import OpenBLAS starts a thread per CPU: 65 ms of numpy's 0.17 s import here (median of
    10), paid by every command before its work and by no ``--jobs`` worker in parallel. No
    lsdlab command multiplies matrices large enough to use them (the detector's arrays are a
    few hops long; ``--jobs`` and SIP pools use processes). Only as the program: an
    in-process caller's (a notebook's) environment is left alone."""
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _quick_start(args: argparse.Namespace, argv: list[str] | None) -> None:
    """Before an offline command runs as the program: its heavy imports (numpy, the detector,
    the evaluation), done here with the garbage collector paused, and the objects they made
    frozen (``gc.freeze()``: never walked again).

    Imported, they triggered about 100 collections (25-60 ms of every `lsdlab evaluate`, 5 ms
    now) that find nothing to free: module objects live as long as the process. Only as the
    program (``argv`` None), as :func:`_quick_exit`."""
    if argv is None and getattr(args, "command", None) in _OFFLINE_COMMANDS:
        import gc

        enabled = gc.isenabled()
        gc.disable()
        try:
            import lsdlab.corpus  # noqa: F401
            import lsdlab.evaluation.runner  # noqa: F401
        finally:
            gc.freeze()
            if enabled:
                gc.enable()


def _quick_exit(args: argparse.Namespace, argv: list[str] | None) -> None:
    """Before this process exits: move every object to the collector's permanent generation
    (``gc.freeze()``), so that the interpreter's final collection does not walk them all.

    That collection found nothing to free but took 50-70 ms of every `lsdlab evaluate` (numpy,
    the detector, the model and the corpus are all live objects): time no worker shares, so it
    bounded `--jobs 2`. Only when ``main`` runs as the program (``argv`` None: the console
    script or ``python -m lsdlab``), never when called in-process (tests, notebooks: their
    collector is left alone), and only after an offline command (a SIP command's endpoint shuts
    down through atexit handlers that may rely on collecting cycles)."""
    if argv is None and getattr(args, "command", None) in _OFFLINE_COMMANDS:
        import gc

        gc.freeze()


def main(argv: list[str] | None = None) -> int:
    from .._signals import install_sigterm_exit

    if argv is None:  # as the program, before anything imports numpy
        _one_blas_thread()

    # SIGTERM: a clean exit with code 143 (pools stopped, temp folders removed, SIP shut down)
    install_sigterm_exit()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity(args), 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        _quick_start(args, argv)
        code = int(args.func(args) or 0)
        _quick_exit(args, argv)
        return code
    except CorpusError as exc:
        for p in exc.problems:
            print(f"error: {p}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in corpus {exc.root}", file=sys.stderr)
        return 2
    except LsdlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
