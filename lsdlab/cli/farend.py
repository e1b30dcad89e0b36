"""``lsdlab farend serve CORPUS --port P``: the SIP simulated far end for other processes."""

from __future__ import annotations

import signal
import time

from .._validation import int_arg, real_arg

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("farend", help="the simulated far end (SIP answerer playing corpus recordings)")
    sub = p.add_subparsers(dest="farend_command", metavar="SUBCOMMAND")
    s = sub.add_parser("serve", help="answer SIP calls with corpus recordings until interrupted")
    s.add_argument("corpus", help="corpus folder; URIs name its manifest rows by id (sip:machine-043@HOST:PORT), never paths")
    s.add_argument("--port", type=int_arg(0, 65535), default=5070, help="the SIP port callers use (default 5070; 0 = free); workers take free ports of their own")
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--allow-remote", action="store_true", help="required to bind a non-loopback address")
    s.add_argument("--workers", type=int_arg(1, 64), default=1, help="answerer processes (4 calls each); calls to --port go to one with a free slot")
    s.add_argument("--after", choices=("hangup", "silence"), default="hangup", help="when the recording ends")
    s.add_argument("--record-dir", default=None, help="keep per-call recordings and calls-*.jsonl here")
    s.add_argument("--seconds", type=real_arg(0.0, 7 * 86400.0, low_open=True), default=None, help="stop after this many seconds")
    s.set_defaults(func=_serve)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _serve(args) -> int:
    from .._validation import check_output_folder
    from ..farend.sip import SimulatedFarEnd

    if args.record_dir is not None:  # checked before any worker starts: one line, not a traceback later
        check_output_folder(args.record_dir, "--record-dir")
    import tempfile

    from .._leftovers import remove_stale

    remove_stale(tempfile.gettempdir(), "lsdlab-farend-")  # left by far ends that were killed
    far = SimulatedFarEnd(args.corpus, host=args.host, port=args.port, workers=args.workers,
                          after=args.after, record_dir=args.record_dir, allow_remote=args.allow_remote)
    stop = {"now": False}

    def _stop(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    with far:
        print(f"far end listening on {far.host}:{far.port} ({far.capacity} calls at once, "
              f"{len(far.row_ids)} recordings)", flush=True)
        ids = far.row_ids
        if ids:
            print(f"  e.g. sip:{ids[0]}@{far.host}:{far.port}  (plays manifest row {ids[0]}; "
                  f"ids: {ids[0]} .. {ids[-1]})", flush=True)
        print(f"       sip:busy@{far.host}:{far.port}  (486; also reject, unavailable, no_answer; "
              f"the URI grammar: `python -c 'import lsdlab.farend; help(lsdlab.farend)'`)", flush=True)
        t0 = time.monotonic()
        try:
            while not stop["now"] and far.alive():
                if args.seconds is not None and time.monotonic() - t0 >= args.seconds:
                    break
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        n = len(far.calls())
    print(f"served {n} call(s)", flush=True)
    return 143 if stop["now"] else 0  # SIGTERM: 128 + 15 after the clean shutdown
