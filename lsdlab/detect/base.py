"""The streaming contract every detector backend follows.

A detector is a pure, synchronous state machine: ``push(frame)`` takes audio of any
length (8 kHz, float in [-1, 1] or int16), cuts it into fixed 10 ms hops internally and
returns the events raised by that audio. All timing counts samples, so pushing a clip in
10 ms, 20 ms or 1 s pieces gives identical events, and the same code runs in a live call
and over a corpus faster than real time.
"""

from __future__ import annotations

import numpy as np

from ..audio.io import SR, valid_audio
from ..errors import ParameterError
from .types import Event, FarEndType, Reason, Verdict

__all__ = ["StreamingDetector", "HOP"]

#: Samples per internal hop (10 ms at 8 kHz).
HOP = 80


class StreamingDetector:
    """Base class: framing, the sample clock, the verdict-exactly-once invariant.

    Subclasses implement ``_hop(x)`` (one 80-sample float32 hop; returns events) and may
    override ``_on_end()``. They call ``self._decide(...)`` to raise the verdict.
    """

    sr = SR

    def __init__(self) -> None:
        self._buf = np.zeros(HOP, dtype=np.float32)
        self._nbuf = 0
        self.n_hops = 0  # hops processed
        self.verdict: Verdict | None = None
        self.events: list[Event] = []
        self.ended = False

    @property
    def time_s(self) -> float:
        """Audio time processed so far, in seconds from connect."""
        return (self.n_hops * HOP) / SR

    def push(self, frame) -> list[Event]:
        """Feed audio (any length); return the events it raised, in time order."""
        if self.ended:
            raise ParameterError(
                f"{type(self).__name__}.push called after end(); create a new detector per call."
            )
        x = valid_audio(frame, name="frame", owner=f"{type(self).__name__}.push")
        out: list[Event] = []
        i = 0
        n = len(x)
        if self._nbuf:
            k = min(HOP - self._nbuf, n)
            self._buf[self._nbuf : self._nbuf + k] = x[:k]
            self._nbuf += k
            i = k
            if self._nbuf == HOP:
                self._nbuf = 0
                out += self._process(self._buf[None, :].copy())
        m = (n - i) // HOP
        if m:
            out += self._process(x[i : i + m * HOP].reshape(m, HOP))
            i += m * HOP
        if i < n:
            r = n - i
            self._buf[:r] = x[i:]
            self._nbuf = r
        return out

    def end(self) -> list[Event]:
        """The audio stream ended (the far end hung up): raise a HANGUP verdict if none yet."""
        if self.ended:
            return []
        self.ended = True
        out = self._on_end()
        if self.verdict is None:
            out.append(self._decide(FarEndType.UNKNOWN, Reason.HANGUP, 0.0))
        self.events.extend(out)
        return out

    def arm_machine_ready(self, *, min_beep_ms: int = 180, post_beep_silence_ms: int = 1000,
                          no_beep_silence_ms: int = 4000) -> list[Event]:
        """Raise :class:`~lsdlab.detect.types.MachineReady` once the machine is ready to record
        (after a beep of at least ``min_beep_ms`` and ``post_beep_silence_ms`` of silence, or
        after ``no_beep_silence_ms`` of silence: the UAS API's ``wait_for_answer_machine``).

        Every backend provides it: the default detector from its own tone tracking, others by
        mixing in :class:`lsdlab.detect.readiness.CompanionReadiness`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no arm_machine_ready; a backend without tone tracking of its own "
            "mixes in lsdlab.detect.readiness.CompanionReadiness (before StreamingDetector in its bases)."
        )

    # -- for subclasses -------------------------------------------------------------
    def _process(self, hops: np.ndarray) -> list[Event]:
        """Process complete hops: the detector's own analysis (a mixin may add listeners)."""
        return self._run_block(hops)

    def _run_block(self, hops: np.ndarray) -> list[Event]:
        """Process complete hops, shape (n, 80); subclasses may batch their analysis here."""
        out: list[Event] = []
        for x in hops:
            out += self._run_hop(x)
        return out

    def _run_hop(self, x: np.ndarray) -> list[Event]:
        ev = self._hop(x)
        self.n_hops += 1
        if ev:
            self.events.extend(ev)
        return ev

    def _hop(self, x: np.ndarray) -> list[Event]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _on_end(self) -> list[Event]:
        return []

    def _decide(self, far_end_type: FarEndType, reason: Reason, confidence: float, at_s: float | None = None) -> Verdict:
        """Create the verdict (exactly once; a second call is a programming error)."""
        assert self.verdict is None, "verdict raised twice"
        v = Verdict(
            at_s=round(self.time_s if at_s is None else at_s, 6),
            far_end_type=far_end_type,
            reason=reason,
            confidence=float(min(max(confidence, 0.0), 1.0)),
        )
        self.verdict = v
        return v
