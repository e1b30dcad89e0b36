"""What the SIP far end may play: the recordings of one corpus, by row id, nothing else.

A corpus folder with ``manifest.csv`` serves its manifest rows; row ``n`` (1-based, in
manifest order) of label ``L`` has the id ``L-nnn`` (``human-001``, ``machine-043``). A folder
without a manifest serves the audio files inside it (sorted by path) as ``rec-001``,
``rec-002``, ... Rows whose file is missing or lies outside the folder (``..``, an absolute
path, a symlink leading out) are left out. Far-end URIs name ids; only the parent process
maps a manifest path to its id, so no text of a URI ever becomes a file path.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ParameterError

__all__ = ["CorpusIndex", "build_index", "AUDIO_SUFFIXES"]

log = logging.getLogger("lsdlab.farend")

#: Audio files a manifest-less folder serves.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")
_LABEL_TOKEN = re.compile(r"[A-Za-z0-9_]{1,32}")


@dataclass(frozen=True)
class CorpusIndex:
    """Row ids of a corpus folder and the files they name (all inside ``root``)."""

    root: Path  # resolved
    files: dict[str, str]  # row id -> absolute file path (inside root)
    paths: dict[str, str]  # row id -> manifest path (relative, as written in the manifest)
    ids: dict[str, str]  # normalised manifest path -> row id
    skipped: int  # manifest rows left out (missing, outside the folder)

    def id_for(self, path: str | os.PathLike) -> str:
        """The row id of a manifest path (``'machine/machine-043.wav'`` -> ``'machine-043'``)."""
        key = _norm(path, self.root)
        rid = self.ids.get(key) if key is not None else None
        if rid is None:
            some = ", ".join(list(self.ids)[:3])
            raise ParameterError(
                f"The 'path' parameter of SimulatedFarEnd.uri must be a recording of the corpus "
                f"{str(self.root)!r} (a manifest path such as {some or 'none: the corpus is empty'}). "
                f"Got {str(path)!r} instead; the far end plays nothing outside its corpus."
            )
        return rid


def _norm(path: str | os.PathLike, root: Path) -> str | None:
    """A manifest path in one spelling (``./a//b.wav`` -> ``a/b.wav``), or None if it leaves root."""
    s = os.fspath(path)
    if not isinstance(s, str) or not s:
        return None
    p = Path(s)
    if p.is_absolute():
        try:
            s = str(Path(os.path.normpath(p)).relative_to(root))
        except ValueError:
            return None
    s = os.path.normpath(s).replace(os.sep, "/")
    if s.startswith("../") or s == ".." or s.startswith("/"):
        return None
    return str(PurePosixPath(s))


def _inside(path: Path, root: Path) -> Path | None:
    """The resolved file if it is a regular file inside root (symlinks followed), else None."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_file():
        return None
    try:
        real.relative_to(root)
    except ValueError:
        return None
    return real


def build_index(corpus_dir: str | os.PathLike) -> CorpusIndex:
    """Index a corpus folder (see the module docstring)."""
    root = Path(corpus_dir).resolve()
    files: dict[str, str] = {}
    paths: dict[str, str] = {}
    ids: dict[str, str] = {}
    skipped = 0
    manifest = root / "manifest.csv"
    if manifest.is_file():
        counts: dict[str, int] = {}
        with open(manifest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or "path" not in reader.fieldnames:
                raise ParameterError(
                    f"{manifest}: the far end needs a 'path' column (and 'label') to serve a corpus; "
                    f"found columns {reader.fieldnames}. Fix the header or check the folder with "
                    f"`lsdlab corpus check`."
                )
            for line, row in enumerate(reader, start=2):
                label = (row.get("label") or "").strip()
                label = label if _LABEL_TOKEN.fullmatch(label) else "row"
                counts[label] = counts.get(label, 0) + 1
                rid = f"{label}-{counts[label]:03d}"
                raw = (row.get("path") or "").strip()
                key = _norm(raw, root)
                real = _inside(root / key, root) if key is not None else None
                if key is None or real is None:
                    skipped += 1
                    log.warning("%s line %d: row %s is not served (its file is missing or outside the corpus)",
                                manifest.name, line, rid)
                    continue
                files[rid], paths[rid] = str(real), raw
                ids.setdefault(key, rid)
    else:
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):  # symlinked folders are not entered
            dirnames.sort()
            for name in filenames:
                if name.lower().endswith(AUDIO_SUFFIXES):
                    found.append(str(PurePosixPath(Path(dirpath, name).relative_to(root).as_posix())))
        for key in sorted(found):
            real = _inside(root / key, root)
            if real is None:
                skipped += 1
                continue
            rid = f"rec-{len(files) + 1:03d}"
            files[rid], paths[rid] = str(real), key
            ids[key] = rid
    return CorpusIndex(root=root, files=files, paths=paths, ids=ids, skipped=skipped)
