"""SIGTERM as a normal exit (code 143 = 128 + 15) that runs every clean-up on the way out.

Python runs a signal handler on the main thread between any two bytecodes, and that may be
inside a gc callback, a ``__del__`` or a weakref callback, where an exception is printed
("Exception ignored in ...") and dropped: the process then ignores SIGTERM. The handler here
raises ``SystemExit(143)`` only from ordinary code; inside such a callback it records the
request and has SIGTERM re-delivered a moment later (``_thread.interrupt_main``), when the
main thread is back in ordinary code. Callbacks it cannot recognise by their frames (a
weakref callback, a library's ``__del__`` under another name) report the lost exception to
:func:`sys.unraisablehook`: there the SystemExit of SIGTERM is re-delivered the same way
instead of being printed and dropped. ``finally`` blocks, context managers (temp folders,
process pools) and :mod:`atexit` (the SIP endpoint's shutdown) then all run.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
from types import CodeType, FrameType

__all__ = ["install_sigterm_exit", "no_raise_code", "EXIT_SIGTERM"]

#: The exit code after a clean shutdown on SIGTERM (the shell's 128 + signal number).
EXIT_SIGTERM = 128 + signal.SIGTERM

# Code objects whose frames must never see an exception (callbacks run by the interpreter).
_NO_RAISE: set[CodeType] = set()
_NO_RAISE_NAMES = frozenset({"__del__"})
pending = threading.Event()


def no_raise_code(code: CodeType) -> None:
    """Mark a function's code as a callback the interpreter runs (an exception there is lost)."""
    _NO_RAISE.add(code)


def _in_callback(frame: FrameType | None) -> bool:
    return _below_callbacks(frame) is not frame


def _below_callbacks(frame: FrameType | None) -> FrameType | None:
    """The frame that ordinary code runs in below every interpreter callback on the stack
    (``frame`` itself when there is none; None when no Python frame is below them)."""
    target = frame
    f = frame
    while f is not None:
        if f.f_code in _NO_RAISE or f.f_code.co_name in _NO_RAISE_NAMES:
            target = f.f_back
        f = f.f_back
    return target


def _raise_on_return(target: FrameType, signum: int) -> bool:
    """Raise SystemExit(128 + signum) in ``target`` at its next line (a local trace function),
    i.e. once the callbacks above it have returned. False when a tracer (a debugger, coverage)
    is active: it is left alone.

    Asking again with a signal a moment later is not enough: the main thread hands the GIL
    over, and so runs a pending signal handler, at the same kind of point each time (the entry
    of a callback a busy garbage collector calls again and again), so every re-delivery could
    land in a callback again (SIGTERM ignored in 6 of 20 trials of the gc test here).
    """
    if sys.gettrace() is not None:
        return False

    def local(fr, event, arg):
        if event == "line":
            sys.settrace(None)
            fr.f_trace = None
            raise SystemExit(128 + signum)
        return local

    def global_(fr, event, arg):
        return None  # no tracing of other frames

    target.f_trace_lines = True
    target.f_trace = local
    sys.settrace(global_)
    return True


def _redeliver(signum: int) -> None:
    t = threading.Timer(0.02, _thread.interrupt_main, args=(signum,))  # ask again from ordinary code
    t.daemon = True
    t.start()


def _sigterm(signum: int, frame: FrameType | None) -> None:
    pending.set()
    target = _below_callbacks(frame)
    if target is frame:
        raise SystemExit(128 + signum)
    if target is None or not _raise_on_return(target, signum):
        _redeliver(signum)


_PREVIOUS_HOOK: list = []


def _unraisable(u) -> None:
    """sys.unraisablehook: the SystemExit of SIGTERM raised where the interpreter drops
    exceptions (a weakref callback, a __del__, a gc callback) is asked for again, not lost."""
    exc = u.exc_value
    if (isinstance(exc, SystemExit) and exc.code == EXIT_SIGTERM and pending.is_set()
            and "atexit" not in (u.err_msg or "")):  # the exit itself has begun: no second one
        # The dropping callback has returned: the frame below this hook is the code that
        # triggered it (e.g. the ``del`` that ran a weakref callback). Raise there at its next
        # line. A re-delivered signal alone would land in the same kind of callback again
        # when the program spends nearly all its time in them (1 in 3 clean-clone CI runs).
        target = None
        if threading.current_thread() is threading.main_thread():
            target = _below_callbacks(sys._getframe(1))
        if target is None or not _raise_on_return(target, signal.SIGTERM):
            _redeliver(signal.SIGTERM)
        return
    (_PREVIOUS_HOOK[0] if _PREVIOUS_HOOK else sys.__unraisablehook__)(u)


def install_sigterm_exit() -> bool:
    """Make SIGTERM exit with code 143 after a clean shutdown (main thread only; a handler
    someone else installed is kept). Returns True when this handler is in place."""
    if threading.current_thread() is not threading.main_thread():
        return False
    with contextlib.suppress(ValueError, OSError):
        current = signal.getsignal(signal.SIGTERM)
        if current is _sigterm:
            return True
        if current in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _sigterm)
            if sys.unraisablehook is not _unraisable:
                _PREVIOUS_HOOK[:] = [sys.unraisablehook]
                sys.unraisablehook = _unraisable
            return True
    return False


def die_with_parent(parent_pid: int | None = None) -> bool:
    """Have the kernel kill this process (SIGKILL) when its parent ends (Linux PR_SET_PDEATHSIG).

    Called in corpus workers and in the fork server, so that neither outlives a killed
    ``lsdlab evaluate``/``tune``. ``parent_pid``: exit at once if the parent is already
    gone (it may have died before the call). Returns False where prctl is unavailable.
    """
    import ctypes
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            return False
    except (OSError, AttributeError):
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request took effect
    return True


def exit_when_parent_dies(parent_pid: int, *, interval_s: float = 0.25) -> threading.Thread:
    """Watch the parent from a daemon thread; end this process at once when it is gone.

    For long-lived workers (CallPool): unlike PR_SET_PDEATHSIG, which fires when the parent
    *thread* that started the worker ends, this follows the parent *process*.
    """
    import os
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(1)

    t = threading.Thread(target=watch, name="lsdlab-parent-watch", daemon=True)
    t.start()
    return t
