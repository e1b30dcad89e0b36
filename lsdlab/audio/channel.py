"""A telephone-channel model: what a far end's audio sounds like at the dialer.

Band-limits to 300-3400 Hz, sets the level, adds line noise (and optional clicks),
codes with G.711 and can drop 20 ms packets (with simple packet-loss concealment by
repetition, as most RTP stacks do). Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .._validation import check_choice, check_real_range
from .frames import set_level
from .g711 import codec_roundtrip
from .io import SR, valid_audio

__all__ = ["ChannelSettings", "TelephoneChannel", "bandpass"]

@lru_cache(maxsize=1)
def _sos() -> np.ndarray:
    # scipy.signal costs about 0.3 s to import: only when a channel is actually applied
    from scipy import signal

    return signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=SR, output="sos")


def bandpass(y: np.ndarray) -> np.ndarray:
    """300-3400 Hz telephone band (4th-order Butterworth, causal, at 8 kHz)."""
    from scipy import signal

    return signal.sosfilt(_sos(), y).astype(np.float32)


@dataclass(frozen=True)
class ChannelSettings:
    """Impairments of the telephone channel.

    level_dbfs: active level of the far end's speech, or None to keep it.
    noise_dbfs: line noise level (white noise shaped to the band), or None for none.
    codec: 'alaw', 'ulaw' or 'none'.
    packet_loss: fraction of 20 ms packets lost (0-0.5).
    """

    level_dbfs: float | None = None
    noise_dbfs: float | None = -65.0
    codec: str = "alaw"
    packet_loss: float = 0.0
    band: bool = True

    def __post_init__(self) -> None:
        owner = "ChannelSettings"
        check_real_range(self.level_dbfs, "level_dbfs", owner, -60.0, 0.0, allow_none=True)
        check_real_range(self.noise_dbfs, "noise_dbfs", owner, -100.0, -10.0, allow_none=True)
        check_choice(self.codec, "codec", owner, ("alaw", "ulaw", "none"))
        check_real_range(self.packet_loss, "packet_loss", owner, 0.0, 0.5)

    def to_dict(self) -> dict:
        return asdict(self)


class TelephoneChannel:
    """Apply :class:`ChannelSettings` to 8 kHz audio, reproducibly for a given ``seed``."""

    def __init__(self, settings: ChannelSettings | None = None, *, seed: int = 0) -> None:
        self.settings = settings or ChannelSettings()
        self.seed = seed

    def __call__(self, y: np.ndarray) -> np.ndarray:
        s = self.settings
        rng = np.random.default_rng(self.seed)
        y = valid_audio(y, owner="TelephoneChannel").copy()
        if s.level_dbfs is not None:
            y = set_level(y, s.level_dbfs)
        if s.band:
            y = bandpass(y)
        if s.noise_dbfs is not None:
            noise = rng.standard_normal(len(y)).astype(np.float32)
            noise = bandpass(noise) if s.band else noise
            rms = np.sqrt(np.mean(noise.astype(np.float64) ** 2)) or 1.0
            noise *= np.float32(np.sqrt(0.5) * 10 ** (s.noise_dbfs / 20.0) / rms)
            y = y + noise
        y = np.clip(y, -1.0, 32767 / 32768).astype(np.float32)
        if s.codec != "none":
            y = codec_roundtrip(y, s.codec)
        if s.packet_loss > 0:
            n = 160
            lost = rng.random(len(y) // n) < s.packet_loss
            for k in np.flatnonzero(lost):
                prev = y[(k - 1) * n : k * n] if k > 0 else np.zeros(n, np.float32)
                y[k * n : (k + 1) * n] = prev * np.float32(0.5)
        return y
