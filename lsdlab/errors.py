"""The one error root of lsdlab and its specific subclasses.

Every error a user can provoke is a subclass of :class:`LsdlabError`, so
``except lsdlab.LsdlabError`` catches all of them, and each message names the
parameter or file at fault and says how to fix it.
"""

from __future__ import annotations

__all__ = [
    "LsdlabError",
    "ParameterError",
    "AudioError",
    "CorpusError",
    "SettingsError",
    "ModelError",
    "SipError",
]


class LsdlabError(Exception):
    """Root of every error raised by lsdlab."""


class ParameterError(LsdlabError, ValueError):
    """A parameter has the wrong type or value (the message names it and the fix)."""


class AudioError(LsdlabError):
    """An audio file cannot be read or written, or audio samples are invalid."""


class CorpusError(LsdlabError):
    """A corpus failed validation; ``problems`` lists every problem found."""

    def __init__(self, root: str, problems: list) -> None:
        self.root = root
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"corpus {root!r} has {len(self.problems)} problem(s):\n{lines}")


class SettingsError(LsdlabError, ValueError):
    """A settings object or settings file is invalid (the message names the key)."""


class ModelError(LsdlabError):
    """A model file is missing, corrupt, untrusted or does not match its checksum."""


class SipError(LsdlabError):
    """The SIP stack could not be started or used."""
