"""Answering-machine readiness for backends without tone tracking of their own.

``arm_machine_ready`` (the UAS API's ``wait_for_answer_machine``) raises
:class:`~lsdlab.detect.types.MachineReady` once a machine is ready to record: after a beep
and a short silence, or after a long silence. The default backend tracks tones and silence
itself; a backend that does not (app_amd) mixes in :class:`CompanionReadiness`, which runs a
listening-only default detector beside it from the moment it is armed. Kept apart from
:mod:`~lsdlab.detect.base` so the base class never imports one of its subclasses.
"""

from __future__ import annotations

import numpy as np

from .types import Event, MachineReady

__all__ = ["CompanionReadiness"]


class CompanionReadiness:
    """Mixin (before :class:`~lsdlab.detect.base.StreamingDetector` in the bases) that answers
    ``arm_machine_ready`` with a companion default detector listening only for beeps and silence."""

    _companion = None
    _companion_offset_s = 0.0

    def arm_machine_ready(self, *, min_beep_ms: int = 180, post_beep_silence_ms: int = 1000,
                          no_beep_silence_ms: int = 4000) -> list[Event]:
        """Raise :class:`~lsdlab.detect.types.MachineReady` once the machine is ready to record.

        Ready after a beep of at least ``min_beep_ms`` followed by ``post_beep_silence_ms`` of
        silence, or after ``no_beep_silence_ms`` of uninterrupted silence. The listener starts
        now: a beep before this call is not seen.
        """
        from .detector import LiveSpeakerDetector
        from .settings import DetectorSettings

        comp = LiveSpeakerDetector(DetectorSettings(timeout_ms=10000, model="none"), readiness_only=True)
        comp.arm_machine_ready(min_beep_ms=min_beep_ms, post_beep_silence_ms=post_beep_silence_ms,
                               no_beep_silence_ms=no_beep_silence_ms)
        self._companion = comp
        self._companion_offset_s = self.time_s  # type: ignore[attr-defined]
        return []

    def _process(self, hops: np.ndarray) -> list[Event]:
        out = super()._process(hops)  # type: ignore[misc]
        comp = self._companion
        if comp is not None:
            ready = [MachineReady(at_s=round(e.at_s + self._companion_offset_s, 6), after_beep=e.after_beep)
                     for e in comp._run_block(hops) if isinstance(e, MachineReady)]
            if ready:
                self._companion = None
                self.events.extend(ready)  # type: ignore[attr-defined]
                out += ready
        return out
