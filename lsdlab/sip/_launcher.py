"""Worker processes for SIP endpoints, started without multiprocessing.

Each pjsua2 process holds one endpoint and 4 calls, so :class:`~lsdlab.uas.CallPool` and
:class:`~lsdlab.farend.SimulatedFarEnd` run their calls in worker processes. Both start them
the same way: :func:`launch` runs ``python -m MODULE`` (a launcher) with one end of a socket
pair per worker; the launcher imports the heavy modules once, then :func:`fork_workers` forks
one worker per socket before any pjsua2 state exists, so the workers start together.

Nothing re-imports the caller's ``__main__`` (multiprocessing's 'spawn' and 'forkserver'
do): a script without an ``if __name__ == '__main__'`` guard, a REPL and ``python -`` all
work. Every worker talks to the parent only over its own socket: a worker that crashes
(SIGKILL, SIGSEGV) holds no lock another worker or the parent needs, and the parent sees
end-of-file on that worker's socket at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


def launch(module: str, spec: dict, fds: list[int]) -> subprocess.Popen:
    """Start ``python -m module`` with the workers' sockets (``pass_fds``) and ``spec`` as
    JSON on its stdin (``{"workers": [{"fd": FD, "conf": {...}}, ...]}``); its stdout then
    carries one JSON line per worker that ended (see :func:`fork_workers`)."""
    from ..errors import SipError

    env = dict(os.environ)
    pkg_parent = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(k, "1")  # 4 calls per worker need no BLAS thread pools
    p = subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, pass_fds=fds, env=env)
    assert p.stdin is not None
    try:
        p.stdin.write(json.dumps(spec).encode())
        p.stdin.close()
        p.stdin = None  # so that communicate() does not flush it again
    except OSError as exc:
        raise SipError(f"The worker launcher {module} exited at once (code {p.poll()}): {exc}.") from None
    return p


def start_workers(module: str, confs: list[dict]) -> tuple[subprocess.Popen, list]:
    """One socket pair per worker configuration, then :func:`launch`: the launcher process and
    the parent's end of each worker's socket (a ``multiprocessing.connection.Connection``, in
    the order of ``confs``). Every socket is closed again if the launch fails."""
    import multiprocessing.connection as mpc
    import socket

    socks: list[tuple[socket.socket, socket.socket]] = []
    try:
        socks = [socket.socketpair() for _ in confs]
        spec = {"workers": [{"fd": b.fileno(), "conf": conf} for conf, (_, b) in zip(confs, socks)]}
        proc = launch(module, spec, [b.fileno() for _, b in socks])
    except BaseException:
        for a, b in socks:
            a.close()
            b.close()
        raise
    for _, b in socks:
        b.close()  # the launcher holds the workers' ends now
    return proc, [mpc.Connection(a.detach()) for a, _ in socks]


def exit_codes(out: bytes | str | None) -> dict[int, int]:
    """Worker index -> exit code, from the launcher's stdout lines (negative: killed by that signal)."""
    codes: dict[int, int] = {}
    text = out.decode(errors="replace") if isinstance(out, bytes) else (out or "")
    for line in text.splitlines():
        try:
            d = json.loads(line)
            codes[int(d["worker"])] = int(d["exitcode"])
        except (ValueError, KeyError, TypeError):
            continue
    return codes


def fork_workers(entry: Callable[[dict, Any], None]) -> int:
    """In the launcher: read the spec from stdin, fork one worker per entry and run
    ``entry(conf, connection)`` in it, then wait for them all, writing one JSON line per
    worker to stdout, ``{"worker": i, "exitcode": c}``, as each ends. Returns 0."""
    import signal
    from multiprocessing.connection import Connection

    # Ctrl-C reaches the whole process group; the parent decides when the workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    workers = json.load(sys.stdin)["workers"]
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
                entry(w["conf"], Connection(w["fd"]))
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
