"""Strict JSON files and the checker that reports every problem at once, each by key path.

The settings file (:mod:`lsdlab.settingsfile`) and the CLI's detector-settings files are read
with :func:`read_json`: a regular file only (never a device or FIFO, which could hang or never
end), bounded in size and nesting, strict JSON (no NaN/Infinity, no repeated key).
"""

from __future__ import annotations

import json
import math
import os
import re
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from .errors import SettingsError

__all__ = ["MAX_SETTINGS_BYTES", "MAX_SETTINGS_DEPTH", "Checker", "read_json", "json_type", "is_int", "is_real"]


def is_int(v: Any) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def is_real(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v))


def json_type(v: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, Integral):
        return "an integer"
    if isinstance(v, Real):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


class Checker:
    """Collects every problem of one settings document, each naming its key path."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def bad(self, key: str, problem: str, fix: str) -> None:
        self.problems.append(f"{key}: {problem}; {fix}")

    def raise_if_any(self) -> None:
        if self.problems:
            if len(self.problems) == 1:
                raise SettingsError(f"{self.where}: {self.problems[0]}")
            lines = "\n".join(f"  {p}" for p in self.problems)
            raise SettingsError(f"{self.where}: {len(self.problems)} problems:\n{lines}")

    # -- structure
    def keys(self, d: dict, key: str, required: tuple, optional: tuple = ()) -> bool:
        """Check ``d``'s keys; return True when none is missing or unknown."""
        ok = True
        prefix = f"{key}." if key else ""
        allowed = set(required) | set(optional)
        for k in d:
            if k not in allowed:
                ok = False
                self.bad(
                    f"{prefix}{k}",
                    "unknown key",
                    f"remove it (allowed keys{' of ' + key if key else ''}: {', '.join(sorted(allowed))})",
                )
        for k in required:
            if k not in d:
                ok = False
                self.bad(f"{prefix}{k}", "missing required key", "add it (see lsdlab.settingsfile)")
        return ok

    def obj(self, v: Any, key: str, *, nullable: bool = False) -> bool:
        if v is None and nullable:
            return True
        if not isinstance(v, dict):
            self.bad(key, f"must be an object, got {json_type(v)}", "write a JSON object {...}")
            return False
        return True

    def int_range(self, v: Any, key: str, low: int, high: int) -> bool:
        if not is_int(v):
            self.bad(key, f"must be an integer, got {json_type(v)} {v!r}", f"write an integer in [{low}, {high}]")
            return False
        if not low <= v <= high:
            self.bad(key, f"must be in [{low}, {high}], got {v!r}", f"write an integer in [{low}, {high}]")
            return False
        return True

    def real_range(
        self,
        v: Any,
        key: str,
        low: float,
        high: float,
        *,
        nullable: bool = False,
        low_open: bool = False,
        high_open: bool = False,
    ) -> bool:
        if v is None and nullable:
            return True
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        what = f"a number in {interval}" + (" or null" if nullable else "")
        if not is_real(v):
            self.bad(key, f"must be {what}, got {json_type(v)} {v!r}", f"write {what}")
            return False
        x = float(v)
        if x < low or x > high or (low_open and x == low) or (high_open and x == high):
            self.bad(key, f"must be {what}, got {v!r}", f"write {what}")
            return False
        return True

    def string(self, v: Any, key: str, *, pattern: re.Pattern | None = None, fix: str = "") -> bool:
        if not isinstance(v, str) or not v.strip():
            self.bad(key, f"must be a non-empty string, got {json_type(v)} {v!r}", fix or "write a string")
            return False
        if pattern is not None and not pattern.match(v):
            self.bad(key, f"{v!r} is not in the expected form", fix)
            return False
        return True


#: The largest settings file read (bytes): an exported file is a few KB.
MAX_SETTINGS_BYTES = 2 * 2**20
#: The deepest nesting of JSON arrays/objects in a settings file (an exported file has 4).
MAX_SETTINGS_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _json_depth(raw: bytes) -> int:
    """The deepest nesting of [ and { in JSON text (brackets inside strings do not count)."""
    import numpy as np

    b = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    step = np.zeros(b.shape, dtype=np.int64)
    step[(b == ord("[")) | (b == ord("{"))] = 1
    step[(b == ord("]")) | (b == ord("}"))] = -1
    return int(np.cumsum(step).max()) if step.size else 0


def read_json(path: Path) -> Any:
    """Read a settings file: a regular file (never a device or FIFO, which could hang or never
    end), at most MAX_SETTINGS_BYTES, nested at most MAX_SETTINGS_DEPTH deep, strict JSON."""
    import stat

    where = f"settings file {str(path)!r}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except FileNotFoundError:
        raise SettingsError(f"{where}: not found; give the path of a settings file written by `lsdlab tune`") from None
    except OSError as exc:
        raise SettingsError(f"{where}: cannot be read ({exc.strerror}); check the path and its permissions") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SettingsError(f"{where}: is not a regular file (a folder, device, FIFO or socket); "
                                "give the path of a settings file written by `lsdlab tune`")
        if st.st_size > MAX_SETTINGS_BYTES:
            raise SettingsError(f"{where}: is too large ({st.st_size} bytes; a settings file is at most "
                                f"{MAX_SETTINGS_BYTES} bytes); give the file written by `lsdlab tune`")
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_SETTINGS_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"{where}: cannot be read ({exc.strerror}); check the path and its permissions") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_SETTINGS_BYTES:
        raise SettingsError(f"{where}: is too large (more than {MAX_SETTINGS_BYTES} bytes); give the file written by `lsdlab tune`")
    depth = _json_depth(raw)
    if depth > MAX_SETTINGS_DEPTH:
        raise SettingsError(f"{where}: is nested {depth} levels deep (at most {MAX_SETTINGS_DEPTH}); "
                            "it is not a settings file: export it again with `lsdlab tune`")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{where}: is not UTF-8 text, so not a JSON settings file; export it again with `lsdlab tune`") from None

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not allowed in a settings file (write a finite number or null)")

    def no_duplicates(pairs: list) -> dict:
        d: dict = {}
        for k, v in pairs:
            if k in d:
                raise ValueError(f"key {k!r} appears twice")
            d[k] = v
        return d

    try:
        return json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{where}: is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "fix the syntax or export the file again with `lsdlab tune`"
        ) from None
    except ValueError as exc:
        raise SettingsError(f"{where}: is not a valid settings file: {exc}") from None
