"""``python -m lsdlab.farend._worker``: starts the far end's worker processes.

:class:`~lsdlab.farend.SimulatedFarEnd` runs this module as a subprocess instead of using
multiprocessing, so no child ever re-imports the caller's ``__main__`` (a script without an
``if __name__ == '__main__'`` guard, a REPL and ``python -`` all work). It reads one JSON
object from stdin, ``{"workers": [{"fd": FD, "conf": {...}}, ...]}`` (FD: this worker's end
of a socket pair, passed with ``pass_fds``), imports the heavy modules once, then forks one
worker per entry; each creates its own pjsua2 endpoint after the fork (no pjsua2 state
exists before it), so the workers start together and start-up time hardly grows with their
number. It then waits for them and writes one JSON line per worker to stdout,
``{"worker": i, "exitcode": c}`` (negative: killed by that signal), and exits.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback


def main() -> int:
    # Ctrl-C reaches the whole process group; the parent decides when the workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec = json.load(sys.stdin)
    workers = spec["workers"]
    # Imported once, here, and shared by every forked worker (no pjsua2 library state yet).
    import numpy  # noqa: F401
    import pjsua2  # noqa: F401
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401

    from .. import sip as _sip  # noqa: F401
    from . import _server
    from .scenario import render  # noqa: F401

    pids: dict[int, int] = {}
    for w in workers:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.dup2(2, 1)  # stdout is the launcher's report channel: keep it clean
                for other in workers:
                    if other["fd"] != w["fd"]:
                        os.close(other["fd"])
                from multiprocessing.connection import Connection

                _server._worker_main(w["conf"], Connection(w["fd"]))
            except BaseException:  # noqa: BLE001 - report, then leave without the parent's atexit
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids[pid] = int(w["conf"]["worker"])
    for w in workers:
        os.close(w["fd"])  # the workers hold the only copies: the parent sees EOF when one dies
    while pids:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        i = pids.pop(pid, None)
        if i is not None:
            print(json.dumps({"worker": i, "exitcode": os.waitstatus_to_exitcode(status)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
