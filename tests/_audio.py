"""Real audio for detector tests: Allison's Asterisk prompts (Debian asterisk-core-sounds-en-wav)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lsdlab.detect import DetectorSettings, LiveSpeakerDetector

SR = 8000
SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


def silence(dur_s: float) -> np.ndarray:
    return np.zeros(int(round(dur_s * SR)), np.float32)


def speech(name: str) -> np.ndarray:
    """A real prompt (8 kHz mono PCM) from the Asterisk Allison sound set; skips when absent."""
    path = SOUNDS / f"{name}.wav"
    if not path.is_file():
        pytest.skip(f"the Asterisk sound {path} is not installed (apt-get install asterisk-core-sounds-en-wav)")
    y, sr = sf.read(path, dtype="float32")
    assert sr == SR
    return y


def stream(y: np.ndarray, s: DetectorSettings | None = None, frame_length: int | None = 160,
           *, end: bool = True) -> LiveSpeakerDetector:
    """Push ``y`` in ``frame_length`` pieces (None: all at once) into a default-backend detector."""
    det = LiveSpeakerDetector(s)
    if frame_length is None:
        det.push(y)
    else:
        for i in range(0, len(y), frame_length):
            det.push(y[i : i + frame_length])
    if end:
        det.end()
    return det
