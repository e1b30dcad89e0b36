"""``lsdlab cache info|clear``: what lsdlab keeps in ``~/.cache/lsdlab`` and how to trim it.

Two caches grow with use and nothing trims them by itself:

- ``traces``: one ``.npz`` per call traced for tuning, keyed by the audio's sha256, the
  trace-level settings, the model and the detector's source code. Every change of the
  detector's code, model or those settings starts a new set; the old one is never read
  again.
  (Before 2026-11-29 lsdlab kept one ``.json.gz`` per corpus there instead: never read now,
  they count as traces not used since.)
- ``models``: the compiled arrays of each model file loaded (one ``.npz`` per file sha256).

Both are read-through caches: whatever is removed is rebuilt when next needed. Each entry's
time stamp is renewed whenever it is used, so ``--older-than DAYS`` removes what has not been
used for that long (a stale code version's traces, models no longer used). Only files of the
caches' own names are removed (and the temp files of writes cut short, an hour old or more);
anything else in those folders is left alone and reported. The demo corpus
(``~/.cache/lsdlab/demo-corpus``, fixed in size) is shown, never removed here.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParameterError

_HEX64 = r"[0-9a-f]{64}"
#: cache -> (the relative paths of its entries, of temp files of unfinished writes)
_PATTERNS = {
    # per-call traces, and the whole-corpus .json.gz files of lsdlab before 2026-11-29 (never read now)
    "traces": (re.compile(rf"[0-9a-f]{{2}}/{_HEX64}\.npz|{_HEX64}\.json\.gz"),
               re.compile(rf"(?:[0-9a-f]{{2}}/)?\.{_HEX64}\.(?:npz|json\.gz)\.[^/]+\.tmp")),
    "models": (re.compile(rf"{_HEX64}\.npz"), re.compile(rf"\.{_HEX64}\.npz\.[^/]+\.tmp")),
}
_STALE_TMP_S = 3600.0  # a temp file this old is no write in progress


def cache_dirs() -> dict[str, Path]:
    from ..detect.model import compiled_cache_dir
    from ..evaluation.traces import default_cache_dir

    return {"traces": default_cache_dir(), "models": compiled_cache_dir()}


@dataclass
class _Scan:
    entries: list[tuple[Path, int, float]] = field(default_factory=list)  # (path, bytes, mtime)
    unfinished: list[tuple[Path, int, float]] = field(default_factory=list)
    other: list[Path] = field(default_factory=list)


def _scan(name: str, root: Path) -> _Scan:
    entry, tmp = _PATTERNS[name]
    scan = _Scan()
    if not root.is_dir():
        return scan
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            p = Path(dirpath) / f
            rel = p.relative_to(root).as_posix()
            try:
                st = p.lstat()
            except FileNotFoundError:  # removed meanwhile (another lsdlab clearing)
                continue
            item = (p, st.st_size, st.st_mtime)
            if p.is_symlink():
                scan.other.append(p)
            elif entry.fullmatch(rel):
                scan.entries.append(item)
            elif tmp.fullmatch(rel):
                scan.unfinished.append(item)
            else:
                scan.other.append(p)
    return scan


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _age(now: float, mtime: float) -> str:
    days = (now - mtime) / 86400
    return f"{days:.0f} days" if days >= 1 else f"{(now - mtime) / 3600:.0f} hours"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show or trim lsdlab's caches (traces, compiled models)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    ip = csub.add_parser("info", help="each cache's folder, entries, size and oldest use")
    ip.set_defaults(func=_info)
    cp = csub.add_parser("clear", help="remove cache entries (rebuilt when next needed)")
    cp.add_argument("which", choices=("traces", "models", "all"), help="which cache")
    cp.add_argument("--older-than", metavar="DAYS", type=float, default=None,
                    help="only entries not used for this many days (default: all of them)")
    cp.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")
    cp.set_defaults(func=_clear)
    p.set_defaults(func=_info)


def _info(args) -> int:
    from ..data import demo_corpus_cache

    now = time.time()
    for name, root in cache_dirs().items():
        scan = _scan(name, root)
        size = sum(b for _, b, _ in scan.entries)
        line = f"{name:7s} {root}: {len(scan.entries):,} entries, {_mib(size)}"
        if scan.entries:
            line += f", the least recently used {_age(now, min(m for _, _, m in scan.entries))} ago"
        print(line)
        if scan.unfinished:
            print(f"        {len(scan.unfinished)} temp file(s) of writes cut short ({_mib(sum(b for _, b, _ in scan.unfinished))})")
        if scan.other:
            print(f"        {len(scan.other)} other file(s), not lsdlab's, left alone (e.g. {scan.other[0]})")
    demo = demo_corpus_cache()
    print(f"demo    {demo}: {'built' if (demo / 'manifest.csv').is_file() else 'not built'} (never removed by 'clear')")
    print("Trim with: lsdlab cache clear traces|models|all [--older-than DAYS] [--dry-run]")
    return 0


def _clear(args) -> int:
    days = args.older_than
    if days is not None and not (days >= 0 and days < 1e6):
        raise ParameterError(f"--older-than must be a number of days, 0 or more; got {days}.")
    now = time.time()
    cutoff = now - days * 86400 if days is not None else None
    names = ("traces", "models") if args.which == "all" else (args.which,)
    dirs = cache_dirs()
    code = 0
    for name in names:
        root = dirs[name]
        scan = _scan(name, root)
        doomed = [(p, b) for p, b, m in scan.entries if cutoff is None or m < cutoff]
        doomed += [(p, b) for p, b, m in scan.unfinished if now - m >= _STALE_TMP_S]
        freed = 0
        removed = 0
        failed: list[tuple[Path, OSError]] = []
        for p, b in doomed:
            if args.dry_run:
                removed, freed = removed + 1, freed + b
                continue
            try:
                p.unlink()
            except FileNotFoundError:  # gone meanwhile
                continue
            except OSError as exc:  # read-only, immutable, another user's: say so, go on
                failed.append((p, exc))
                continue
            removed, freed = removed + 1, freed + b
        if not args.dry_run and name == "traces" and root.is_dir():
            for d in root.iterdir():  # the emptied two-letter folders
                if d.is_dir() and not d.is_symlink() and re.fullmatch(r"[0-9a-f]{2}", d.name):
                    try:
                        d.rmdir()
                    except OSError:  # not empty
                        pass
        kept = len(scan.entries) + len(scan.unfinished) - removed
        verb = "would remove" if args.dry_run else "removed"
        print(f"{name}: {verb} {removed:,} file(s), {_mib(freed)}; {kept:,} kept ({root})")
        if scan.other:
            print(f"{name}: {len(scan.other)} other file(s), not lsdlab's, left alone (e.g. {scan.other[0]})")
        if failed:
            first, why = failed[0]
            print(f"error: {name}: could not remove {len(failed)} file(s), e.g. {first}: {why.strerror or why}; "
                  f"check that you own {root} and can write to it.", file=sys.stderr)
            code = 1
    return code
