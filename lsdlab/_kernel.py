"""What lsdlab stops when a Jupyter kernel is asked to shut down or restart.

On a shutdown request ipykernel signals every child process in its process group (SIGTERM,
then SIGKILL) and waits until none is left before the kernel exits. Children that ignore
SIGTERM (multiprocessing's resource tracker) or that nobody reaps once dead (a fork server,
a CallPool's launcher) are never "left": the kernel waited until Jupyter gave up on it (2.5 s
later by default; a CallPool took 10 s) and killed it with SIGTERM. Its atexit handlers then
never ran (the SIP endpoint's shutdown, multiprocessing's temp folder removal: a ``pymp-*``
folder stayed in the temp folder per kernel), and a CallPool's workers printed a traceback.

:func:`at_kernel_shutdown` registers a clean stop for such children; it runs when the
kernel's shell sets ``exit_now``, which ipykernel does first on a shutdown (or restart)
request, before it looks for children (``exit`` in a cell sets it too). Outside a Jupyter
kernel it does nothing: a script's or the CLI's children end with it (they die with their
parent, and atexit runs).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

__all__ = ["at_kernel_shutdown", "cancel_at_kernel_shutdown"]

log = logging.getLogger(__name__)

_callbacks: list[Callable[[], None]] = []
_lock = threading.Lock()
_hooked_shell: object | None = None


def _kernel_shell() -> object | None:
    """The IPython shell of the Jupyter kernel this process runs, or None (IPython is looked
    up, never imported: a process that has not imported it is no kernel)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None or not shell.has_trait("exit_now"):
        return None
    return shell


def at_kernel_shutdown(fn: Callable[[], None]) -> bool:
    """Call ``fn()`` when this process's Jupyter kernel is asked to shut down or restart.

    Registered once per function (registering it again does nothing; a bound method holds its
    object, as with :func:`atexit.register`: cancel it when the object closes); run in the
    order registered, an exception logged and the next one run. Returns whether this process
    is a kernel (if not, nothing is registered).
    """
    global _hooked_shell
    shell = _kernel_shell()
    if shell is None:
        return False
    with _lock:
        if fn not in _callbacks:
            _callbacks.append(fn)
        if _hooked_shell is not shell:
            shell.observe(_run, names="exit_now")  # type: ignore[attr-defined]
            _hooked_shell = shell
    return True


def cancel_at_kernel_shutdown(fn: Callable[[], None]) -> None:
    """Forget ``fn`` (registered with :func:`at_kernel_shutdown`), as :func:`atexit.unregister`."""
    with _lock:
        while fn in _callbacks:
            _callbacks.remove(fn)


def _run(change: dict) -> None:
    if not change.get("new"):
        return
    with _lock:
        todo = list(_callbacks)
    for fn in todo:
        try:
            fn()
        except Exception:  # noqa: BLE001 - the kernel is going down: stop the others anyway
            log.exception("lsdlab: %s failed at kernel shutdown", getattr(fn, "__qualname__", fn))
