"""Imported only by the multiprocessing fork server (``set_forkserver_preload``), first.

The fork server, and through its own death signal every worker it forks, ends with the
process that started it, instead of lingering after a killed ``lsdlab evaluate`` or
``tune``. It ignores Ctrl-C (a terminal sends SIGINT to the whole process group), here
already, while it still imports its preload modules, and so do the workers it forks: the
parent alone decides, and stops them (one line, not a traceback per process).
"""

from __future__ import annotations

import contextlib
import os
import signal

from ._signals import die_with_parent

with contextlib.suppress(ValueError, OSError):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
die_with_parent(os.getppid())
