"""What an evidence corpus is made of, from its manifest: the report's "Evidence" section.

Counts of calls per ``source``, ``licence`` and ``language`` (each split by true label), and
for each label the kind of voice, so that a reader of ``lsdlab report`` can see whether the
people in the evidence were real people or a speech synthesiser.

The voice rule (one row at a time, first match wins; it reads the manifest, not the audio):

1. **synthetic**: the row's ``source`` or ``group`` names a speech synthesiser
   (:data:`SYNTHETIC_PATTERN`: espeak, flite, festival, mbrola, piper, coqui, polly, wavenet,
   "TTS", "text-to-speech", "synthetic"/"synthesised" ...);
2. **generated**: the ``source`` says the signal was generated rather than spoken
   (:data:`GENERATED_PATTERN`: "generated", lsdlab's tone generator), e.g. fax tones, noise;
3. **recorded**: any other non-empty ``source``: the row is taken at its source's word to be a
   recording (a public speech collection, a call recording, a voice prompt read by a person);
4. **not stated**: an empty ``source``: nothing tells.

The rule can only be as right as the manifest: a synthesiser it does not know, named in
``source`` without any of those words, is counted as recorded. Name the engine in ``source``
(or ``group``) when you build calls from TTS.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SYNTHESISER_WORDS",
    "SYNTHETIC_PATTERN",
    "GENERATED_PATTERN",
    "VOICE_KINDS",
    "SYNTHETIC_WARN_SHARE",
    "Provenance",
    "voice_kind",
    "provenance",
]

#: The words that mark a synthetic voice (what the report shows a reader).
SYNTHESISER_WORDS = ("espeak", "flite", "festival", "mbrola", "piper", "coqui", "polly", "wavenet", "TTS",
                     "text-to-speech", "synthetic", "synthesis", "synthesised", "synthesized")
#: A row whose ``source`` or ``group`` matches is a synthetic voice (case-insensitive).
SYNTHETIC_PATTERN = re.compile(
    r"espeak|\bflite\b|festival|mbrola|\bpiper\b|coqui|\bpolly\b|wavenet|\btts\b|text[- ]to[- ]speech|synthe(?:tic|sis|si[sz]ed)",
    re.IGNORECASE,
)
#: A row whose ``source`` matches (and is not synthetic) is a generated signal, not a voice.
GENERATED_PATTERN = re.compile(r"\bgenerated\b|lsdlab\.audio\.tones", re.IGNORECASE)
VOICE_KINDS = ("synthetic", "recorded", "generated", "not stated")
#: ``lsdlab report`` shows a warning box when at least this share of the people is synthetic.
SYNTHETIC_WARN_SHARE = 0.5
_NOT_STATED = "(not stated)"


def voice_kind(source: str, group: str = "") -> str:
    """The kind of voice of one manifest row (see the module docstring for the rule).

    Examples
    --------
    >>> voice_kind("espeak-ng (Debian espeak-ng), TTS rendered by lsdlab", "espeak:en-029+m3")
    'synthetic'
    >>> voice_kind("Jakobovski/free-spoken-digit-dataset via real-dev", "fsdd:jackson")
    'recorded'
    >>> voice_kind("lsdlab.audio.tones (generated from ITU-T specifications)")
    'generated'
    >>> voice_kind("")
    'not stated'
    """
    source, group = (source or "").strip(), (group or "").strip()
    if SYNTHETIC_PATTERN.search(source) or SYNTHETIC_PATTERN.search(group):
        return "synthetic"
    if GENERATED_PATTERN.search(source):
        return "generated"
    return "recorded" if source else "not stated"


@dataclass(frozen=True)
class Provenance:
    """A corpus's make-up, from its manifest.

    ``by_source``, ``by_licence``, ``by_language``: value -> true label -> calls (an empty
    manifest cell is ``"(not stated)"``); ``voices``: true label -> voice kind -> calls.
    """

    root: str
    sha256: str
    calls: int
    counts: dict[str, int]
    by_source: dict[str, dict[str, int]]
    by_licence: dict[str, dict[str, int]]
    by_language: dict[str, dict[str, int]]
    voices: dict[str, dict[str, int]]

    @property
    def people(self) -> dict[str, int]:
        """Voice kind -> human calls."""
        return dict(self.voices.get("human", {}))

    @property
    def synthetic_people_share(self) -> float | None:
        """Share of the human calls whose voice is synthetic (None with no human call)."""
        n = self.counts.get("human", 0)
        return None if n == 0 else self.people.get("synthetic", 0) / n

    @property
    def synthetic_people_warning(self) -> str | None:
        """Plain words when at least :data:`SYNTHETIC_WARN_SHARE` of the people are synthetic."""
        share = self.synthetic_people_share
        if share is None or share < SYNTHETIC_WARN_SHARE:
            return None
        n = self.counts["human"]
        k = self.people.get("synthetic", 0)
        who = "All" if k == n else f"{k} of {n} ({100 * share:.0f}%) of"
        return (f"{who} the people in this evidence are synthetic voices (speech synthesisers named in the manifest's "
                f"source), not recorded people. The false-positive bound holds for calls like these; real people speak, "
                f"pause and sound unlike TTS, so measure again on recordings of your own live answers "
                f"(lsdlab evaluate YOUR_CORPUS --settings FILE) before relying on it.")


def _table(calls: Any, key: str) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for c in calls:
        v = (getattr(c, key) or "").strip() or _NOT_STATED
        out.setdefault(v, Counter())[c.label.value] += 1
    return {k: dict(v) for k, v in sorted(out.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))}


def provenance(corpus: Any) -> Provenance:
    """The :class:`Provenance` of a loaded :class:`~lsdlab.corpus.Corpus`."""
    calls = corpus.calls
    counts = Counter(c.label.value for c in calls)
    voices: dict[str, Counter] = {}
    for c in calls:
        voices.setdefault(c.label.value, Counter())[voice_kind(c.source, c.group)] += 1
    return Provenance(
        root=str(corpus.root),
        sha256=corpus.sha256,
        calls=len(calls),
        counts=dict(counts),
        by_source=_table(calls, "source"),
        by_licence=_table(calls, "licence"),
        by_language=_table(calls, "language"),
        voices={lab: {k: v[k] for k in VOICE_KINDS if v[k]} for lab, v in voices.items()},
    )
