"""The labelled-corpus format: a folder with ``manifest.csv`` and audio files.

Each audio file is the far end's audio from the moment the call connected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Label", "LABELS", "REQUIRED_COLUMNS", "TIMING_COLUMNS", "PASSTHROUGH_COLUMNS", "Call", "Problem"]


class Label(str, Enum):
    """What answered the call."""

    HUMAN = "human"
    MACHINE = "machine"
    FAX = "fax"
    SILENCE = "silence"


#: The corpus labels, in the order reports and confusion matrices list them.
LABELS: tuple[str, ...] = tuple(lab.value for lab in Label)


REQUIRED_COLUMNS = ("path", "label")
#: Timing labels in seconds from connect; which labels they apply to.
TIMING_COLUMNS = {
    "greeting_end_s": ("human",),  # required for human
    "speech_onset_s": ("human", "machine"),
    "beep_s": ("machine",),
    "answer_s": ("human", "machine", "fax", "silence"),
}
PASSTHROUGH_COLUMNS = ("group", "source", "licence", "language", "notes")


@dataclass(frozen=True)
class Call:
    """One labelled call of a corpus (one manifest row)."""

    path: str
    label: Label
    audio_path: str  # absolute path of the audio file
    duration_s: float
    greeting_end_s: float | None = None
    speech_onset_s: float | None = None
    beep_s: float | None = None
    answer_s: float | None = None
    group: str = ""
    source: str = ""
    licence: str = ""
    language: str = ""
    notes: str = ""
    line: int = 0  # manifest line number (1 = header)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def group_key(self) -> str:
        """The group for splits: the ``group`` column, or the path when empty."""
        return self.group or self.path


@dataclass(frozen=True)
class Problem:
    """One validation problem, naming the file, the manifest line and the fix."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"
