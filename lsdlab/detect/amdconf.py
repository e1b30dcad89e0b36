"""Read and write Asterisk's ``amd.conf`` and ``AMD()`` dialplan arguments.

Asterisk's app_amd reads the ``[general]`` section of ``amd.conf`` (keys compared without
regard to case, values read with ``atoi``) and lets ``AMD(a,b,...)`` override them by
position. This module maps both to the field names of
:class:`lsdlab.detect.app_amd.AmdSettings`. It is stricter than Asterisk where Asterisk is
silently lenient: an unknown key, a section other than ``[general]``, a value that is not
an integer or a line that is not ``key = value`` is an error naming the line, because a
typo that Asterisk would only log is almost always a setting the user believes is in effect.
"""

from __future__ import annotations

import re

from ..errors import SettingsError

__all__ = ["CONF_KEYS", "ARG_ORDER", "parse_amd_conf", "parse_amd_args", "format_amd_conf"]

#: amd.conf key -> AmdSettings field, in the order of Asterisk's sample amd.conf.
CONF_KEYS: dict[str, str] = {
    "total_analysis_time": "total_analysis_time_ms",
    "silence_threshold": "silence_threshold",
    "initial_silence": "initial_silence_ms",
    "after_greeting_silence": "after_greeting_silence_ms",
    "greeting": "greeting_ms",
    "min_word_length": "minimum_word_length_ms",
    "maximum_word_length": "maximum_word_length_ms",
    "between_words_silence": "between_words_silence_ms",
    "maximum_number_of_words": "maximum_number_of_words",
}

#: AMD() application arguments, by position (app_amd.c's AST_DECLARE_APP_ARGS order).
ARG_ORDER: tuple[str, ...] = (
    "initial_silence_ms",
    "greeting_ms",
    "after_greeting_silence_ms",
    "total_analysis_time_ms",
    "minimum_word_length_ms",
    "between_words_silence_ms",
    "maximum_number_of_words",
    "silence_threshold",
    "maximum_word_length_ms",
)

_COMMENTS = {
    "total_analysis_time": "maximum time for the algorithm to decide (ms)",
    "silence_threshold": "a 20 ms frame whose mean |sample| (0-32767) is below this is silence",
    "initial_silence": "maximum silence before the greeting; reached -> MACHINE (ms)",
    "after_greeting_silence": "silence after the greeting; reached -> HUMAN (ms)",
    "greeting": "maximum length of the greeting; reached -> MACHINE (ms)",
    "min_word_length": "minimum duration of voice to count as a word (ms)",
    "maximum_word_length": "maximum duration of one utterance; reached -> MACHINE (ms)",
    "between_words_silence": "minimum silence after a word before a new word (ms)",
    "maximum_number_of_words": "more words than this -> MACHINE (Asterisk 14+ meaning)",
}

_INT = re.compile(r"[+-]?\d+")
_SECTION = re.compile(r"\[([^\]]*)\](.*)")


def _int(raw: str, where: str, key: str) -> int:
    if not _INT.fullmatch(raw):
        raise SettingsError(
            f"{where}: the value of {key!r} must be an integer number, got {raw!r}; "
            f"write e.g. '{key} = 2500' (no units, no quotes)."
        )
    return int(raw)


def _strip_comment(line: str) -> str:
    """Drop a ';' comment (Asterisk allows '\\;' for a literal semicolon)."""
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def parse_amd_conf(text: str, *, source: str = "amd.conf") -> dict[str, tuple[int, int]]:
    """Parse the text of an amd.conf into ``{field: (value, line_number)}``.

    A key given twice keeps its last value, as in Asterisk. Keys are case-insensitive.
    Raises :class:`SettingsError` naming the line for anything Asterisk would not apply.
    """
    if not isinstance(text, str):
        raise SettingsError(
            f"{source}: expected the text of an amd.conf (str), got {type(text).__name__}; "
            f"read the file first, e.g. Path('amd.conf').read_text()."
        )
    out: dict[str, tuple[int, int]] = {}
    section: str | None = None
    in_block = False
    for n, raw_line in enumerate(text.splitlines(), start=1):
        where = f"{source} line {n}"
        line = raw_line
        # ';--' ... '--;' block comments
        if in_block:
            end = line.find("--;")
            if end < 0:
                continue
            line = line[end + 3 :]
            in_block = False
        start = line.find(";--")
        if start >= 0:
            end = line.find("--;", start + 3)
            if end < 0:
                in_block = True
                line = line[:start]
            else:
                line = line[:start] + line[end + 3 :]
        line = _strip_comment(line)
        if not line:
            continue
        if line.startswith("#"):
            raise SettingsError(
                f"{where}: directive {line.split()[0]!r} is not supported; "
                f"paste the included settings into this file."
            )
        m = _SECTION.fullmatch(line)
        if m:
            name, opts = m.group(1).strip(), m.group(2).strip()
            if name.lower() != "general" or opts:
                raise SettingsError(
                    f"{where}: section [{name}]{opts} is not used by app_amd; it reads only "
                    f"a plain [general] section. Rename or remove it."
                )
            section = "general"
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise SettingsError(f"{where}: expected 'key = value', got {raw_line.strip()!r}.")
        key = key.strip().lower()
        value = value[1:] if value.startswith(">") else value  # 'key => value'
        value = value.strip()
        if section is None:
            raise SettingsError(
                f"{where}: {key!r} appears before any section; put it under [general]."
            )
        if key not in CONF_KEYS:
            raise SettingsError(
                f"{where}: unknown amd.conf key {key!r}; the keys are {', '.join(CONF_KEYS)}."
            )
        out[CONF_KEYS[key]] = (_int(value, where, key), n)
    return out


def parse_amd_args(data: str) -> dict[str, tuple[int, int]]:
    """Parse ``AMD()`` arguments (``"2500,1500,,5000"``) into ``{field: (value, position)}``.

    Empty arguments keep the configured value, as in Asterisk; positions count from 1.
    """
    if not isinstance(data, str):
        raise SettingsError(
            f"AMD() arguments must be a str like '2500,1500,800', got {type(data).__name__}."
        )
    parts = [p.strip() for p in data.split(",")] if data.strip() else []
    if len(parts) > len(ARG_ORDER):
        raise SettingsError(
            f"AMD() takes at most {len(ARG_ORDER)} arguments ({', '.join(ARG_ORDER)}); "
            f"got {len(parts)} in {data!r}."
        )
    out: dict[str, tuple[int, int]] = {}
    for i, (field, raw) in enumerate(zip(ARG_ORDER, parts), start=1):
        if raw:
            out[field] = (_int(raw, f"AMD() argument {i}", field), i)
    return out


def format_amd_conf(values: dict[str, int], *, header: str = "") -> str:
    """Write ``{field: value}`` as an amd.conf ``[general]`` section with Asterisk's keys."""
    lines = [f"; {h}" if h else ";" for h in header.splitlines()]
    lines.append("[general]")
    width = max(len(k) for k in CONF_KEYS) + 3 + 6
    for key, field in CONF_KEYS.items():
        lines.append(f"{key} = {values[field]}".ljust(width) + f"; {_COMMENTS[key]}")
    return "\n".join(lines) + "\n"
