"""Speech cadence over the call's prefix: bursts, utterances and the model's features.

Times are in seconds on the audio timeline. The features of a prefix are measured from the
detected pick-up (``answer_s``), so they mean the same in both timer modes.
"""

from __future__ import annotations

__all__ = ["FEATURE_NAMES", "SILENCE_INDEX", "SPEECH_INDEX", "CadenceTracker", "MIN_BURST_S", "WORD_GAP_S", "UTT_GAP_S"]

#: Bursts shorter than this are clicks, not speech.
MIN_BURST_S = 0.06
#: The first burst must last this long to count as the speech onset (a steady tone's attack,
#: before it is recognised as a tone, is shorter).
ONSET_MIN_S = 0.1
#: Active hops closer than this belong to one burst (a word or phrase).
WORD_GAP_S = 0.15
#: Bursts closer than this belong to one utterance.
UTT_GAP_S = 0.35

FEATURE_NAMES = (
    "since_onset_s",
    "silence_run_s",
    "speech_total_s",
    "speech_ratio",
    "n_utterances",
    "first_utt_s",
    "first_utt_done",
    "pause_after_first_s",
    "longest_utt_s",
    "last_utt_s",
)
#: Index of the current silence run in the feature vector.
SILENCE_INDEX = FEATURE_NAMES.index("silence_run_s")
#: Index of the speech heard so far in the feature vector.
SPEECH_INDEX = FEATURE_NAMES.index("speech_total_s")


class CadenceTracker:
    """Accumulates speech bursts from per-hop activity flags."""

    __slots__ = ("bursts", "hop_s")

    def __init__(self, hop_s: float) -> None:
        self.bursts: list[list[float]] = []  # [start_s, end_s]
        self.hop_s = hop_s

    def continues(self, t0: float) -> bool:
        """Whether speech in the hop starting at ``t0`` would continue the last burst."""
        b = self.bursts
        return bool(b) and t0 - b[-1][1] <= WORD_GAP_S + 1e-9

    def active(self, t0: float) -> None:
        """The hop starting at ``t0`` holds speech."""
        t1 = t0 + self.hop_s
        b = self.bursts
        if self.continues(t0):
            b[-1][1] = t1
        else:
            if b and b[-1][1] - b[-1][0] < MIN_BURST_S - 1e-9:
                b.pop()  # the previous burst was a click
            b.append([t0, t1])

    def real_bursts(self) -> list[list[float]]:
        return [x for x in self.bursts if x[1] - x[0] >= MIN_BURST_S - 1e-9]

    def onset(self) -> float | None:
        for s, e in self.bursts:
            if e - s >= ONSET_MIN_S - 1e-9:
                return s
        return None

    def trim_from(self, t: float) -> None:
        """Forget activity at or after ``t`` (it was the attack of a steady tone, not speech)."""
        b = self.bursts
        while b and b[-1][0] >= t - 1e-9:
            b.pop()
        if b and b[-1][1] > t:
            b[-1][1] = t

    def last_end(self) -> float | None:
        """The end of the last real burst (the state machine asks every hop: no list built)."""
        for s, e in reversed(self.bursts):
            if e - s >= MIN_BURST_S - 1e-9:
                return e
        return None

    def features(self, t: float) -> list[float]:
        """The model's features at time ``t`` (see :data:`FEATURE_NAMES`)."""
        rb = self.real_bursts()
        if not rb:
            return [0.0] * len(FEATURE_NAMES)
        onset = rb[0][0]
        utts: list[list[float]] = []
        for s, e in rb:
            if utts and s - utts[-1][1] <= UTT_GAP_S + 1e-9:
                utts[-1][1] = e
            else:
                utts.append([s, e])
        since = max(t - onset, 1e-3)
        silence = max(t - rb[-1][1], 0.0)
        total = sum(e - s for s, e in rb)
        ulens = [e - s for s, e in utts]
        first_done = len(utts) > 1 or silence > UTT_GAP_S
        if len(utts) > 1:
            pause1 = utts[1][0] - utts[0][1]
        elif first_done:
            pause1 = silence
        else:
            pause1 = 0.0
        return [
            since,
            silence,
            total,
            total / since,
            float(len(utts)),
            ulens[0],
            1.0 if first_done else 0.0,
            pause1,
            max(ulens),
            ulens[-1],
        ]
