"""``python -m lsdlab.farend._worker``: starts the far end's worker processes.

:class:`~lsdlab.farend.SimulatedFarEnd` runs this module as a subprocess instead of using
multiprocessing, so no child ever re-imports the caller's ``__main__`` (a script without an
``if __name__ == '__main__'`` guard, a REPL and ``python -`` all work). It reads one JSON
object from stdin, ``{"workers": [{"fd": FD, "conf": {...}}, ...]}`` (FD: this worker's end
of a socket pair, passed with ``pass_fds``), imports the heavy modules once, then forks one
worker per entry; each creates its own pjsua2 endpoint after the fork (no pjsua2 state
exists before it), so the workers start together and start-up time hardly grows with their
number. It then waits for them and writes one JSON line per worker to stdout,
``{"worker": i, "exitcode": c}`` (negative: killed by that signal), and exits
(:func:`lsdlab.sip._launcher.fork_workers`).
"""

from __future__ import annotations

import signal
import sys


def main() -> int:
    # Ctrl-C reaches the whole process group; the parent decides when the workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Imported once, here, and shared by every forked worker (no pjsua2 library state yet).
    import numpy  # noqa: F401
    import pjsua2  # noqa: F401
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401

    from ..sip._launcher import fork_workers
    from . import _server
    from .scenario import render  # noqa: F401

    return fork_workers(_server._worker_main)


if __name__ == "__main__":
    sys.exit(main())
