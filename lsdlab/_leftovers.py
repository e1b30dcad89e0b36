"""Temp folders left by runs that ended abruptly (SIGKILL, a power cut): removed on the next start.

A clean end (including Ctrl-C and SIGTERM, see :mod:`lsdlab._signals`) removes its own temp
folders. What a killed run left behind is removed by the next run of the same command, once
it is old enough that no live run can still be using it: a folder's modification time
changes whenever a file is added to it, and a build or far end adds files all the time.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

__all__ = ["STALE_AFTER_S", "remove_stale"]

logger = logging.getLogger(__name__)

#: A temp folder untouched this long belongs to a run that is over.
STALE_AFTER_S = 24 * 3600.0


def remove_stale(folder: str | os.PathLike, prefix: str, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove this user's folders ``folder/prefix*`` unmodified for ``older_than_s``; return them."""
    removed: list[Path] = []
    base = Path(folder)
    now = time.time()
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for p in entries:
        if not p.name.startswith(prefix):
            continue
        try:
            st = p.lstat()
        except OSError:
            continue
        if p.is_symlink() or not p.is_dir() or st.st_uid != os.getuid() or now - st.st_mtime < older_than_s:
            continue
        shutil.rmtree(p, ignore_errors=True)
        if not p.exists():
            logger.info("removed %s, left by an earlier run that ended abruptly", p)
            removed.append(p)
    return removed
