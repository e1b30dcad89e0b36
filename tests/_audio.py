"""Real audio for detector tests: Allison's Asterisk prompts (Debian asterisk-core-sounds-en-wav)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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
