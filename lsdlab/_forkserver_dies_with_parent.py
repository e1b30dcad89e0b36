"""Imported only by the multiprocessing fork server (``set_forkserver_preload``): the fork
server, and through its own death signal every worker it forks, then ends with the process
that started it, instead of lingering after a killed ``lsdlab evaluate`` or ``tune``."""

from __future__ import annotations

import os

from ._signals import die_with_parent

die_with_parent(os.getppid())
