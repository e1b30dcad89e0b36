"""One call's decision, the vocabulary of labels and decisions, and the delay-reference rule.

Every floor that reads decisions uses these: the corpus runner writes :class:`Decision` rows,
the metrics count them, the plots and the report draw them. The labels come from the corpus
(:data:`lsdlab.corpus.schema.LABELS`), the decisions from the detector
(:data:`lsdlab.detect.types.DECISIONS`); they are re-exported here, never written again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..corpus.schema import LABELS
from ..detect.types import DECISIONS
from ..errors import ParameterError

__all__ = ["LABELS", "DECISIONS", "Decision", "CallDecision", "REFERENCE_CHAINS", "reference_time"]


@dataclass(frozen=True)
class Decision:
    """One call's outcome: its true label, the detector's decision and when it was made, and
    the call's timing labels (seconds from connect). A row of ``--decisions OUT.csv``; the
    metrics need only ``path``, ``label``, ``decision``, ``decided_at_s`` and the timing labels.

    Attributes
    ----------
    path : str
        The call's recording, relative to the corpus folder.
    label : str
        What answered, one of :data:`LABELS`.
    decision : str
        The detector's decision, one of :data:`DECISIONS`.
    decided_at_s : float
        When the verdict came (audio time from connect).
    reason : str
        The verdict's :class:`~lsdlab.detect.Reason` value ("" when not known).
    confidence : float or None
        The verdict's confidence (None when not known).
    greeting_end_s, speech_onset_s, answer_s, beep_s : float or None
        The call's timing labels (None when the corpus has none).
    """

    path: str
    label: str
    decision: str
    decided_at_s: float
    reason: str = ""
    confidence: float | None = None
    greeting_end_s: float | None = None
    speech_onset_s: float | None = None
    answer_s: float | None = None
    beep_s: float | None = None

    @classmethod
    def of(cls, call: Any, v: Any) -> Decision:
        """From a corpus :class:`~lsdlab.corpus.schema.Call` and the detector's ``Verdict``
        (decision time and confidence rounded to 6 decimals, as the CSV keeps them)."""
        return cls(call.path, getattr(call.label, "value", call.label), v.decision, round(v.decided_at_s, 6),
                   v.reason.value, round(v.confidence, 6), call.greeting_end_s, call.speech_onset_s, call.answer_s,
                   call.beep_s)

    from_call = of  # the name lsdlab.tune.CallDecision had


#: The record the metrics read: the same class (the name ``lsdlab.tune`` has exported).
CallDecision = Decision

#: Per delay reference (a ``DelayReference`` value), the timing labels its clock starts at, in
#: order of preference: a missing label falls back to the next *earlier* one, so lateness can
#: only be overstated, never hidden; with none present the clock starts at the connect (0.0).
REFERENCE_CHAINS: dict[str, tuple[str, ...]] = {
    "greeting_end": ("greeting_end_s", "speech_onset_s", "answer_s"),
    "speech_onset": ("speech_onset_s", "answer_s"),
    "answer": ("answer_s",),
}


def reference_time(d: Any, reference: Any) -> tuple[float, bool]:
    """The delay clock's start for one call and whether it fell back to an earlier label.

    Parameters
    ----------
    d : Decision or mapping
        The call's timing labels (attributes, or keys of a CSV row where "" means missing).
    reference : DelayReference or str
        ``greeting_end``, ``speech_onset`` or ``answer``.

    Returns
    -------
    (float, bool)
        Seconds from connect, and True when the reference's own label was missing.

    Raises
    ------
    ParameterError
        ``reference`` is not a delay reference.
    """
    ref = getattr(reference, "value", reference)
    chain = REFERENCE_CHAINS.get(ref) if isinstance(ref, str) else None
    if chain is None:
        raise ParameterError(f"The delay reference must be one of {list(REFERENCE_CHAINS)}. Got {reference!r} instead.")
    for i, key in enumerate(chain):
        v = d.get(key) if isinstance(d, Mapping) else getattr(d, key, None)
        if v is not None and v != "":
            return float(v), i > 0
    return 0.0, True
