"""Parameter checks shared by every entry point (scikit-learn style messages)."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Literal, overload

from .errors import ParameterError


def check_int_range(value: Any, name: str, owner: str, low: int, high: int) -> int:
    """Return ``value`` as int if it is an integer in ``[low, high]``, else raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= int(value) <= high:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be an int in the range "
            f"[{low}, {high}]. Got {value!r} instead."
        )
    return int(value)


@overload
def check_real_range(
    value: Any, name: str, owner: str, low: float, high: float, *, allow_none: Literal[False] = ...
) -> float: ...


@overload
def check_real_range(
    value: Any, name: str, owner: str, low: float, high: float, *, allow_none: bool
) -> float | None: ...


def check_real_range(
    value: Any, name: str, owner: str, low: float, high: float, *, allow_none: bool = False
) -> float | None:
    """Return ``value`` as float if it is a finite real in ``[low, high]``."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(float(value))
        or not low <= float(value) <= high
    ):
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a number in the range "
            f"[{low}, {high}]. Got {value!r} instead."
        )
    return float(value)


def check_choice(value: Any, name: str, owner: str, choices: tuple) -> Any:
    if value not in choices:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be one of {list(choices)}. "
            f"Got {value!r} instead."
        )
    return value


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (same real path, or hard links of one inode)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_output_paths(
    outputs: Mapping[str, Any],
    *,
    inputs: Mapping[str, Iterable[Any]] | None = None,
) -> list[Path]:
    """Check where a command will write, before it does any work; return the paths.

    ``outputs`` maps how each output was given (e.g. ``"--decisions"``, ``"the model's
    report (beside --out)"``) to its path; ``inputs`` maps a description (``"the corpus
    manifest"``) to the input files the command reads. Each output must be a non-empty
    path whose folder exists and takes new files, that is not a folder, a device or a FIFO,
    not one of the inputs and not another output. Raises one-line ParameterErrors.
    """
    seen: list[tuple[str, Path]] = []
    for name, raw in outputs.items():
        if raw is None:
            continue
        if str(raw).strip() == "":
            raise ParameterError(f"{name}: the path is empty; give a file name, e.g. {name} out/result.csv.")
        path = Path(raw)
        if path.is_dir():
            raise ParameterError(f"{name} {path}: is a folder; give a file name inside it, e.g. {path / ('result' + (path.suffix or '.out'))}.")
        if path.exists() and not path.is_file():
            raise ParameterError(f"{name} {path}: exists and is not a regular file (a device, FIFO or socket); give a file path.")
        _check_writable_folder(path.parent, name, path)
        for other_name, other in seen:
            if _same_file(path, other) or os.path.realpath(path) == os.path.realpath(other):
                raise ParameterError(f"{name} {path}: is also {other_name}; the second would overwrite the first; give them different paths.")
        for what, files in (inputs or {}).items():
            for f in files:
                if f is not None and str(f) != "" and _same_file(path, Path(f)):
                    raise ParameterError(f"{name} {path}: is {what} ({f}), an input of this command; writing it would destroy it; choose another path.")
        seen.append((name, path))
    return [p for _, p in seen]


def int_arg(low: int, high: int):
    """An argparse ``type`` accepting an int in ``[low, high]``; anything else is a one-line
    usage error (exit 2) naming the rule and the value, before any work starts."""
    import argparse

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}]; got {text!r}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}]; got {v}")
        return v

    parse.__name__ = "integer"
    return parse


def real_arg(low: float, high: float, *, high_open: bool = False, low_open: bool = False):
    """An argparse ``type`` accepting a finite number in the interval (NaN and inf refused)."""
    import argparse

    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number in {interval}; got {text!r}") from None
        if (not math.isfinite(v) or v < low or v > high or (low_open and v == low) or (high_open and v == high)):
            raise argparse.ArgumentTypeError(f"must be a finite number in {interval}; got {text}")
        return v

    parse.__name__ = "number"
    return parse


#: The range of every --jobs option (worker processes).
JOBS_RANGE = (1, 256)
#: The range of every --seed option.
SEED_RANGE = (0, 2**32 - 1)


def check_output_folder(path: Any, name: str) -> Path:
    """Check a folder a command will write into, before the work: an existing, writable
    folder, or a new one whose parent folder exists (no chain of folders made silently)."""
    if path is None or str(path).strip() == "":
        raise ParameterError(f"{name}: the path is empty; give a folder, e.g. {name} recordings.")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ParameterError(f"{name} {p}: is a file, not a folder; give a folder path.")
    _check_writable_folder(p if p.is_dir() else p.parent, name, p)
    return p


def _check_writable_folder(folder: Path, name: str, shown: Path) -> None:
    """``folder`` exists (not under a file) and takes new files; errors name ``name shown``."""
    if not folder.is_dir():
        up = folder
        while not up.exists() and up != up.parent:
            up = up.parent
        if up.exists() and not up.is_dir():
            raise ParameterError(f"{name} {shown}: is under the file {up}, which is not a folder; choose a path in a folder.")
        raise ParameterError(f"{name} {shown}: the folder {folder} does not exist; create it first (mkdir -p {folder}).")
    try:  # the one sure test that the folder takes new files (permissions, read-only or virtual file systems)
        fd, probe = tempfile.mkstemp(prefix=".lsdlab-probe.", dir=folder)
    except OSError as exc:
        raise ParameterError(f"{name} {shown}: cannot write in the folder {folder} ({exc.strerror}); choose a writable folder.") from None
    os.close(fd)
    os.unlink(probe)
