"""The offline far end: the same recordings and channel model as the SIP far end, no network.

Streams a corpus call's far-end audio (from connect) in frames, faster than real time.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..audio.channel import ChannelSettings
from .scenario import Scenario, render

__all__ = ["OfflineFarEnd", "call_seed"]


def call_seed(path: str, seed: int = 0) -> int:
    """A per-call seed derived from the manifest path (stable across runs and machines)."""
    return (zlib.crc32(path.encode("utf-8")) + 7919 * int(seed)) & 0x7FFFFFFF


class OfflineFarEnd:
    """Plays a corpus's calls offline.

    Parameters
    ----------
    corpus_root : path
        The corpus folder (paths of calls are relative to it).
    channel : ChannelSettings or None
        Telephone-channel impairments; None plays the recordings as they are (a corpus
        that was rendered through a channel already, like corpora/demo).
    lead_in_s : float or (low, high)
        Silence after connect before the recording (a pair draws it per call), to make clips
        that start at once (e.g. greetings) call-shaped.
    after : str
        When the recording ends: 'hangup' (the audio stops, as most machines do) or
        'silence' (the line stays up, silent, e.g. a machine recording after its greeting;
        10.5 s of line noise are appended, longer than any LSD timeout).
    seed : int
        Seed of the per-call channel noise and lead-in draws.
    """

    def __init__(self, corpus_root, *, channel: ChannelSettings | None = None,
                 lead_in_s: float | tuple[float, float] = 0.0, after: str = "hangup", seed: int = 0) -> None:
        from .._validation import check_choice

        self.corpus_root = corpus_root
        self.channel = channel
        self.lead_in_s = lead_in_s
        self.after = check_choice(after, "after", "OfflineFarEnd", ("hangup", "silence"))
        self.seed = seed

    def scenario(self, path: str) -> Scenario:
        cs = call_seed(path, self.seed)
        if isinstance(self.lead_in_s, tuple):
            lo, hi = self.lead_in_s
            lead = float(np.random.default_rng(cs).uniform(lo, hi))
        else:
            lead = float(self.lead_in_s)
        return Scenario(kind="recording", path=path, lead_in_s=round(lead, 3), after=self.after,
                        silence_after_s=10.5, channel=self.channel or ChannelSettings(), seed=cs)

    def audio(self, path: str) -> np.ndarray:
        """The far end's audio from connect (8 kHz float32)."""
        return render(self.scenario(path), self.corpus_root, channel=self.channel is not None,
                      tail=self.after == "silence")

