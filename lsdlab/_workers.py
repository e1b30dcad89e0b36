"""Local worker processes for per-call work (corpus checks, decisions, traces).

How they start (:func:`mp_context`: forked when no other thread runs, else from a fork server),
how they die with their parent and ignore Ctrl-C (:func:`_worker_init`), how an interrupted run
stops them at once (:func:`_stop_pool`), and the ordered map over them (:func:`map_local`).
Below ``corpus/`` and ``evaluation/`` alike (both send per-call work to the same kind of
workers); :func:`lsdlab.evaluation.map_calls` adds the Dask cluster.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

__all__ = ["mp_context", "map_local", "MAX_CHUNK"]


def _other_threads() -> list:
    """Threads of this process other than the main one and tqdm's progress monitor.

    tqdm starts a monitor thread with its first bar (even a disabled one) and keeps it; it
    only sleeps on an event and takes tqdm's own lock, which a forked worker never touches,
    so it does not make a fork unsafe.
    """
    import sys
    import threading

    # tqdm's module is looked up, not imported: a process that has not imported it runs no
    # monitor, and importing tqdm (with importlib.metadata and email) cost 15 ms of every
    # --jobs run that shows no bar
    tm = sys.modules.get("tqdm._monitor")
    monitor: type | None = getattr(tm, "TMonitor", None)
    return [t for t in threading.enumerate()
            if t is not threading.main_thread() and not (monitor is not None and isinstance(t, monitor))]


def mp_context():
    """How corpus workers start: forked when this process runs no other thread (fast: the
    workers inherit the imported modules and the loaded model, and no ``__main__`` guard is
    needed in scripts); otherwise from a fork server, because a fork copies other threads'
    locks in whatever state they are (a SIP endpoint's pjsua2 threads, a Jupyter kernel's I/O
    threads) and the children can hang. Scripts that run SIP calls and corpus jobs together
    then need the usual ``if __name__ == "__main__":`` guard. Chosen before any progress bar
    starts (tqdm's monitor thread is not counted, see :func:`_other_threads`)."""
    import multiprocessing

    if "fork" in multiprocessing.get_all_start_methods() and not _other_threads():
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    # the fork server dies with this process (and its workers with it): no orphans after a kill
    ctx.set_forkserver_preload(["lsdlab._forkserver_dies_with_parent", "lsdlab.evaluation.runner"])
    from ._kernel import at_kernel_shutdown

    at_kernel_shutdown(_stop_helpers)
    return ctx


def _stop_helpers() -> None:
    """At a Jupyter kernel's shutdown (:mod:`lsdlab._kernel`): stop the fork server, then the
    resource tracker (the fork server holds its pipe open), each waited for, so that ipykernel
    finds neither (the tracker ignores its SIGTERM, the fork server would stay an unreaped
    zombie) and the kernel exits on its own. Both start again if still needed. The ``_stop``
    methods are multiprocessing's own (private, in CPython 3.8-3.13)."""
    from multiprocessing import forkserver, resource_tracker

    for helper in (getattr(forkserver, "_forkserver", None), getattr(resource_tracker, "_resource_tracker", None)):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            stop()


@contextmanager
def _script_hidden_from_workers():
    """While corpus workers start, the caller's ``__main__`` shows no file and no module name.

    A worker started from the fork server (see :func:`mp_context`) re-runs the caller's script
    (or ``-m`` module) before it runs anything, as multiprocessing's spawn preparation does; a
    script that calls ``run_corpus(jobs=2)`` at top level, with no ``if __name__ ==
    "__main__":`` guard, then started its corpus run again inside every worker:
    BrokenProcessPool, or the whole run repeated. The workers need nothing from the script
    (they run lsdlab's own functions on plain data), so the preparation is not told about it.
    A forked worker (no other thread running) copies the process and never re-runs it."""
    import sys

    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _worker_init(parent_pid: int | None) -> None:
    """In each corpus worker: die with the parent (a killed evaluate/tune leaves no workers)
    and ignore Ctrl-C, which a terminal sends to the whole process group: the parent stops
    the pool (one line, not a traceback per worker)."""
    import contextlib
    import signal

    from ._signals import die_with_parent

    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)


def _stop_pool(ex: ProcessPoolExecutor) -> None:
    """End a pool now: queued work cancelled, running workers killed (an interrupted or
    terminated run must not first finish the whole corpus, as shutdown(wait=True) would)."""
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(timeout=5)


MAX_CHUNK = 8  # calls per chunk sent to a local worker (~40 ms of a demo call's work)


def _chunksize(n: int, jobs: int) -> int:
    """Calls per chunk for ``jobs`` local workers: small enough that the last chunk leaves the
    other workers idle briefly (at most ``MAX_CHUNK`` calls: with ``n // (8 * jobs)`` a 2,050-call
    run ended with one worker 0.8-1 s behind the other, 8% of the run), large enough that the
    pool's cost per chunk (well under a millisecond) stays small."""
    return max(1, min(MAX_CHUNK, n // (jobs * 4)))


def map_local(fn, items: list, *, jobs: int, progress: bool, desc: str, chunksize: int | None = None) -> list:
    """``[fn(it) for it in items]``, in order: in this process, or in ``jobs`` local worker
    processes (``progress``: a tqdm bar titled ``desc``; ``chunksize``: items per message to a
    worker, default :func:`_chunksize`'s, sized for calls)."""
    import os

    serial = jobs <= 1 or len(items) < 8
    # the start method is chosen before the progress bar starts its monitor thread: that
    # thread alone must not switch a script to the fork server (which re-imports __main__
    # and so needs an `if __name__ == "__main__":` guard)
    ctx = None if serial else mp_context()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc=desc, unit="call", leave=False)
    try:
        if ctx is None:
            out = []
            for it in items:
                out.append(fn(it))
                if bar is not None:
                    bar.update()
            return out
        # a forked worker's parent is this process; a fork server's worker's parent is the
        # fork server (which itself dies with this process)
        parent = os.getpid() if ctx.get_start_method() == "fork" else None
        # imported here: a run in one process needs no multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ex = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(parent,))
        try:
            out = []
            with _script_hidden_from_workers():  # map() submits every chunk, so every worker starts, in here
                results = ex.map(fn, items, chunksize=chunksize or _chunksize(len(items), jobs))
            for r in results:
                out.append(r)
                if bar is not None:
                    bar.update()
        except BaseException:  # Ctrl-C, SIGTERM (SystemExit) or a failed call: stop the workers now
            _stop_pool(ex)
            raise
        ex.shutdown(wait=True)
        return out
    finally:
        if bar is not None:
            bar.close()
