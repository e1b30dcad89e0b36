"""lsdlab's cache folder, and the use stamp of what is read from it.

Everything lsdlab caches lives under ``$XDG_CACHE_HOME/lsdlab`` (``~/.cache/lsdlab`` when the
variable is unset or empty): ``traces`` (:mod:`lsdlab.evaluation.traces`), ``models``
(:mod:`lsdlab.detect.model`) and ``demo-corpus`` (:mod:`lsdlab.data`). An entry read from a
cache has its time stamp renewed (:func:`mark_used`), so that ``lsdlab cache clear
--older-than DAYS`` removes what has not been used for that long.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_home", "mark_used"]


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/lsdlab``, else ``~/.cache/lsdlab`` (the variable is read at each call)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lsdlab"


def mark_used(path: str | os.PathLike) -> None:
    """Renew a cache entry's time stamp, now that it was read (a read-only cache keeps its old
    one: the entry was still usable)."""
    try:
        os.utime(path)
    except OSError:
        pass
