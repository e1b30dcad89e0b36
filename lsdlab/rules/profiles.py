"""Country profiles: the rules that bound live speaker detection, one TOML file per country.

The packaged profiles live in ``lsdlab/rules/profiles/*.toml`` (US, GB, CA, DE, FR, AU and
``generic``); a user can pass their own file with the same keys. Loading is strict: an unknown
key, a missing required key or a value of the wrong type is refused with a
:class:`~lsdlab.errors.SettingsError` naming the file and the key.

Keys of a profile file
----------------------
Required:

``code``, ``name`` (strings)
``abandoned_rate_max``
    The statutory maximum share of live-answered calls that may be abandoned, a number in
    (0, 1), or ``"none"`` where there is no statutory rate (then a ``[tuning]`` table says
    what the tuner uses instead).
``abandoned_window``
    The period over which the rate is measured (text), or ``"none"``.
``delay_limit_ms``, ``delay_reference``
    How long a live person may wait for an agent or a message, and from when it is measured:
    ``"greeting_end"`` (US), ``"speech_onset"`` (GB) or ``"answer"`` (CA); both ``"none"``
    where there is no such rule.
``amd_false_positives_count``
    Whether people wrongly classified as machines count as abandoned: true, false or
    ``"unconfirmed"`` (lsdlab then counts them, the cautious reading).
``min_ring_s``
    Minimum ring time in seconds, or ``"none"``.
``message_rules``, ``repeat_call_rules`` (text)
``sources``
    URLs (at least one).
``notes``
    One entry per doubt (at least one).

Optional: ``abandoned_denominator`` (text), ``abandoned_window_days`` (the window as a
whole number of days, 1-366, or ``"none"`` where it has no fixed length, e.g. a calendar
month: ``lsdlab report`` turns the budget into live calls per window with it), ``max_ring_s``, ``unconfirmed`` (names of keys
whose values are unconfirmed), ``[calling_hours]`` (``mon_fri``, ``sat``, ``sun``,
``sat_sun``, ``public_holidays`` -> lists of ``"HH:MM-HH:MM"``; an empty list means no calls)
and ``[tuning]`` (``abandoned_rate_max``, ``delay_limit_ms``, ``delay_reference``, ``reason``:
required exactly when the statutory rate or delay limit is ``"none"``).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from .budget import DelayReference

__all__ = [
    "Profile",
    "TuningDefaults",
    "DelayReference",
    "UNCONFIRMED",
    "load_profile",
    "list_profiles",
    "profile_codes",
]

#: The value of ``amd_false_positives_count`` when no source settles it.
UNCONFIRMED = "unconfirmed"
_NONE = "none"
_REQUIRED = (
    "code",
    "name",
    "abandoned_rate_max",
    "abandoned_window",
    "delay_limit_ms",
    "delay_reference",
    "amd_false_positives_count",
    "min_ring_s",
    "message_rules",
    "repeat_call_rules",
    "sources",
    "notes",
)
_OPTIONAL = ("abandoned_denominator", "abandoned_window_days", "max_ring_s", "unconfirmed", "calling_hours", "tuning")
_TUNING_KEYS = ("abandoned_rate_max", "delay_limit_ms", "delay_reference", "reason")
_DAY_GROUPS = ("mon_fri", "sat", "sun", "sat_sun", "public_holidays")
_HOURS = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class TuningDefaults:
    """What the tuner uses where a country has no statutory rate or delay limit."""

    abandoned_rate_max: float
    delay_limit_ms: int
    delay_reference: DelayReference
    reason: str


@dataclass(frozen=True)
class Profile:
    """One country's rules (see the module docstring for the meaning of each field).

    ``None`` stands for the file's ``"none"``: no such rule was found.
    """

    code: str
    name: str
    abandoned_rate_max: float | None
    abandoned_window: str | None
    delay_limit_ms: int | None
    delay_reference: DelayReference | None
    amd_false_positives_count: bool | str
    min_ring_s: float | None
    message_rules: str
    repeat_call_rules: str
    sources: tuple[str, ...]
    notes: tuple[str, ...]
    abandoned_denominator: str | None = None
    abandoned_window_days: int | None = None
    max_ring_s: float | None = None
    unconfirmed: tuple[str, ...] = ()
    calling_hours: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tuning: TuningDefaults | None = None
    path: str = field(default="", compare=False)

    # -- what the tuner uses
    @property
    def budget_rate_max(self) -> float:
        """The abandoned-rate maximum for tuning: the statutory one, else ``tuning``'s."""
        if self.abandoned_rate_max is not None:
            return self.abandoned_rate_max
        assert self.tuning is not None
        return self.tuning.abandoned_rate_max

    @property
    def budget_delay_limit_ms(self) -> int:
        """The delay limit for tuning: the statutory one, else ``tuning``'s."""
        if self.delay_limit_ms is not None:
            return self.delay_limit_ms
        assert self.tuning is not None
        return self.tuning.delay_limit_ms

    @property
    def budget_delay_reference(self) -> DelayReference:
        """What the delay limit is measured from, for tuning."""
        if self.delay_reference is not None:
            return self.delay_reference
        assert self.tuning is not None
        return self.tuning.delay_reference

    @property
    def counts_amd_false_positives(self) -> bool:
        """True unless the rules explicitly exclude AMD false positives (unconfirmed counts)."""
        return self.amd_false_positives_count is not False

    @property
    def statutory(self) -> bool:
        """True when the country has a statutory abandoned-call rate."""
        return self.abandoned_rate_max is not None


# --------------------------------------------------------------------------- loading


class _Bad:
    def __init__(self, where: str) -> None:
        self.where = where

    def __call__(self, key: str, problem: str, fix: str) -> SettingsError:
        return SettingsError(f"{self.where}: key {key!r}: {problem}; {fix}")


def _type(v: Any) -> str:
    return type(v).__name__


def _text(bad: _Bad, d: dict, key: str, *, allow_none_word: bool = False) -> str | None:
    v = d[key]
    if not isinstance(v, str) or not v.strip():
        raise bad(key, f"must be a non-empty string, got {_type(v)} {v!r}", "write some text in quotes")
    if allow_none_word and v == _NONE:
        return None
    return v


def _number(bad: _Bad, v: Any, key: str, low: float, high: float, *, allow_none_word: bool, integer: bool = False):
    if allow_none_word and v == _NONE:
        return None
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(v, Integral) if integer else isinstance(v, Real)
    alt = ' or "none"' if allow_none_word else ""
    if isinstance(v, bool) or not ok_type:
        raise bad(key, f"must be {kind}{alt}, got {_type(v)} {v!r}", f"write {kind} in [{low}, {high}]{alt}")
    if not low <= v <= high:
        raise bad(key, f"must be in [{low}, {high}], got {v!r}", f"write {kind} in [{low}, {high}]{alt}")
    return int(v) if integer else float(v)


def _rate(bad: _Bad, v: Any, key: str, *, allow_none_word: bool) -> float | None:
    r = _number(bad, v, key, 0.0, 1.0, allow_none_word=allow_none_word)
    if r is not None and not 0.0 < r < 1.0:
        raise bad(key, f"must be a share strictly between 0 and 1, got {v!r}", "write e.g. 0.03 for 3%")
    return r


def _reference(bad: _Bad, v: Any, key: str, *, allow_none_word: bool) -> DelayReference | None:
    if allow_none_word and v == _NONE:
        return None
    refs = [r.value for r in DelayReference]
    if v not in refs:
        alt = ' or "none"' if allow_none_word else ""
        raise bad(key, f"{v!r} is not a delay reference", f"write one of {refs}{alt}")
    return DelayReference(v)


def _strings(bad: _Bad, v: Any, key: str, *, min_len: int) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
        raise bad(key, f"must be a list of non-empty strings, got {_type(v)} {v!r}", 'write e.g. ["..."]')
    if len(v) < min_len:
        raise bad(key, f"needs at least {min_len} entr{'y' if min_len == 1 else 'ies'}", "add them")
    return tuple(v)


def _parse_profile(d: dict, where: str, path: str) -> Profile:
    bad = _Bad(where)
    for k in d:
        if k not in _REQUIRED and k not in _OPTIONAL:
            raise bad(k, "unknown key", f"remove it or correct its spelling (allowed: {', '.join(_REQUIRED + _OPTIONAL)})")
    for k in _REQUIRED:
        if k not in d:
            raise bad(k, "missing required key", 'add it (write "none" where the country has no such rule)')
    code = _text(bad, d, "code")
    assert code is not None
    if not _CODE.match(code):
        raise bad("code", f"{code!r} is not a profile code", "use letters, digits, '_' or '-' (e.g. GB)")
    name = _text(bad, d, "name")
    rate = _rate(bad, d["abandoned_rate_max"], "abandoned_rate_max", allow_none_word=True)
    window = _text(bad, d, "abandoned_window", allow_none_word=True)
    window_days = None
    if "abandoned_window_days" in d:
        window_days = _number(bad, d["abandoned_window_days"], "abandoned_window_days", 1, 366, allow_none_word=True,
                              integer=True)
    delay = _number(bad, d["delay_limit_ms"], "delay_limit_ms", 100, 60000, allow_none_word=True, integer=True)
    ref = _reference(bad, d["delay_reference"], "delay_reference", allow_none_word=True)
    if (delay is None) != (ref is None):
        raise bad("delay_reference", f"delay_limit_ms is {d['delay_limit_ms']!r} but delay_reference is {d['delay_reference']!r}",
                  'give both, or write "none" for both')
    amd = d["amd_false_positives_count"]
    if not (isinstance(amd, bool) or amd == UNCONFIRMED):
        raise bad("amd_false_positives_count", f"must be true, false or {UNCONFIRMED!r}, got {amd!r}",
                  f"write true, false or {UNCONFIRMED!r}")
    min_ring = _number(bad, d["min_ring_s"], "min_ring_s", 0, 300, allow_none_word=True)
    max_ring = None
    if "max_ring_s" in d:
        max_ring = _number(bad, d["max_ring_s"], "max_ring_s", 0, 300, allow_none_word=True)
        if max_ring is not None and min_ring is not None and max_ring < min_ring:
            raise bad("max_ring_s", f"{max_ring} is below min_ring_s {min_ring}", "make max_ring_s >= min_ring_s")
    message_rules = _text(bad, d, "message_rules")
    repeat_rules = _text(bad, d, "repeat_call_rules")
    sources = _strings(bad, d["sources"], "sources", min_len=1)
    for s in sources:
        if not s.startswith(("http://", "https://")):
            raise bad("sources", f"{s!r} is not a URL", "write each source as an http(s):// URL")
    notes = _strings(bad, d["notes"], "notes", min_len=1)
    denominator = _text(bad, d, "abandoned_denominator", allow_none_word=True) if "abandoned_denominator" in d else None
    unconfirmed: tuple[str, ...] = ()
    if "unconfirmed" in d:
        unconfirmed = _strings(bad, d["unconfirmed"], "unconfirmed", min_len=0)
        for k in unconfirmed:
            if k not in d or k in ("unconfirmed", "sources", "notes", "code", "name"):
                raise bad("unconfirmed", f"{k!r} is not a rule key of this profile", "list only keys present in the file")
    hours: dict[str, tuple[str, ...]] = {}
    if "calling_hours" in d:
        ch = d["calling_hours"]
        if not isinstance(ch, dict):
            raise bad("calling_hours", f"must be a table, got {_type(ch)}", "write [calling_hours] with mon_fri = [...] etc.")
        for day, spans in ch.items():
            key = f"calling_hours.{day}"
            if day not in _DAY_GROUPS:
                raise bad(key, "unknown day group", f"use one of {list(_DAY_GROUPS)}")
            spans = _strings(bad, spans, key, min_len=0)
            for span in spans:
                m = _HOURS.match(span)
                if not m or (int(m[1]), int(m[2])) >= (int(m[3]), int(m[4])):
                    raise bad(key, f"{span!r} is not a time span", 'write "HH:MM-HH:MM" with start before end')
            hours[day] = spans
    tuning = None
    needs_tuning = rate is None or delay is None
    if "tuning" in d:
        t = d["tuning"]
        if not needs_tuning:
            raise bad("tuning", "is given but the statutory rate and delay limit apply",
                      "remove [tuning] (it is only for countries without a statutory rule)")
        if not isinstance(t, dict):
            raise bad("tuning", f"must be a table, got {_type(t)}", "write a [tuning] table")
        for k in t:
            if k not in _TUNING_KEYS:
                raise bad(f"tuning.{k}", "unknown key", f"use only {list(_TUNING_KEYS)}")
        for k in _TUNING_KEYS:
            if k not in t:
                raise bad(f"tuning.{k}", "missing required key", "add it")
        t_rate = _rate(bad, t["abandoned_rate_max"], "tuning.abandoned_rate_max", allow_none_word=False)
        t_delay = _number(bad, t["delay_limit_ms"], "tuning.delay_limit_ms", 100, 60000, allow_none_word=False, integer=True)
        t_ref = _reference(bad, t["delay_reference"], "tuning.delay_reference", allow_none_word=False)
        reason = _text(bad, t, "reason")
        assert t_rate is not None and t_delay is not None and t_ref is not None and reason is not None
        tuning = TuningDefaults(t_rate, t_delay, t_ref, reason)
    elif needs_tuning:
        raise bad("tuning", "missing: the profile has no statutory rate or delay limit",
                  "add a [tuning] table saying what the tuner should use instead")
    assert name is not None and message_rules is not None and repeat_rules is not None
    return Profile(
        code=code,
        name=name,
        abandoned_rate_max=rate,
        abandoned_window=window,
        abandoned_window_days=window_days,
        delay_limit_ms=delay,
        delay_reference=ref,
        amd_false_positives_count=amd,
        min_ring_s=min_ring,
        message_rules=message_rules,
        repeat_call_rules=repeat_rules,
        sources=sources,
        notes=notes,
        abandoned_denominator=denominator,
        max_ring_s=max_ring,
        unconfirmed=unconfirmed,
        calling_hours=hours,
        tuning=tuning,
        path=path,
    )


def _profiles_dir():
    # imported here, not at import: it pulls tempfile, shutil, bz2, lzma (3-8 ms)
    from importlib import resources

    return resources.files("lsdlab.rules") / "profiles"


def profile_codes() -> tuple[str, ...]:
    """Codes of the packaged profiles (countries sorted, ``generic`` last)."""
    stems = [p.name[: -len(".toml")] for p in _profiles_dir().iterdir() if p.name.endswith(".toml")]
    return tuple(sorted(stems, key=lambda s: (s == "generic", s)))


def _load_text(text: str, where: str, path: str) -> Profile:
    if sys.version_info >= (3, 11):  # imported here: commands that read no profile do not pay for it
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{where}: is not valid TOML ({exc}); fix the syntax") from None
    return _parse_profile(d, where, path)


def load_profile(code_or_path: str | os.PathLike) -> Profile:
    """Load a packaged profile by code (``"GB"``, case-insensitive) or a profile file by path.

    Raises
    ------
    SettingsError
        Unknown code, unreadable file, invalid TOML, or a bad key (named with the file).

    Examples
    --------
    >>> from lsdlab.rules import load_profile
    >>> gb = load_profile("GB")
    >>> gb.delay_limit_ms, gb.delay_reference.value
    (2000, 'speech_onset')
    """
    s = os.fspath(code_or_path)
    looks_like_path = isinstance(code_or_path, Path) or os.sep in s or "/" in s or s.endswith(".toml")
    if not looks_like_path:
        codes = profile_codes()
        match = [c for c in codes if c.lower() == s.lower()]
        if not match:
            raise SettingsError(
                f"country profile {s!r} is unknown; use one of {list(codes)} "
                "(see `lsdlab rules list`) or pass the path of your own profile .toml file"
            )
        res = _profiles_dir() / f"{match[0]}.toml"
        where = f"profile file {str(res)!r}"
        prof = _load_text(res.read_text(encoding="utf-8"), where, str(res))
        if prof.code != match[0]:
            raise SettingsError(f"{where}: key 'code': {prof.code!r} differs from the file name; make them agree")
        return prof
    path = Path(s)
    where = f"profile file {s!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{where}: not found; check the path, or give a code such as GB") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: cannot be read ({exc}); give a UTF-8 TOML profile file") from None
    return _load_text(text, where, str(path))


def list_profiles() -> tuple[Profile, ...]:
    """All packaged profiles, in :func:`profile_codes` order."""
    return tuple(load_profile(c) for c in profile_codes())
