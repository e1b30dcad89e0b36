"""Per-hop signal analysis, batched: level, voicing, spectral peak and tone purity.

Each 10 ms hop is analysed over the 32 ms window that ends with it (256 samples, Hann,
zero-padded to 512 for a 15.6 Hz bin spacing). The analysis of a hop depends only on the
samples up to its end, so results are identical however the audio was pushed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft

from ..audio.io import SR
from .base import HOP

__all__ = ["HopAnalyzer", "HopFeatures", "WIN", "NFFT"]

WIN = 256
NFFT = 512
_FREQS = np.arange(NFFT // 2 + 1) * SR / NFFT
_B0, _B1 = int(np.ceil(280.0 * NFFT / SR)), int(3450.0 * NFFT / SR) + 1  # telephone band bins
_T0, _T1 = int(np.ceil(350.0 * NFFT / SR)), int(2250.0 * NFFT / SR) + 1  # tone search bins
_R0, _R1 = int(np.ceil(370.0 * NFFT / SR)), int(510.0 * NFFT / SR) + 1  # ringback band bins
_V0, _V1 = int(np.ceil(1560.0 * NFFT / SR)), int(1940.0 * NFFT / SR) + 1  # V.21 band bins
_WINDOW = np.hanning(WIN).astype(np.float32)
_WIN_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW.astype(np.float64), NFFT)) ** 2, NFFT)
_LAG_LO, _LAG_HI = SR // 400, SR // 60 + 1  # pitch 60-400 Hz
_WIN_AC_N = (_WIN_AC[_LAG_LO:_LAG_HI] / _WIN_AC[0]).astype(np.float32)
_INV_WIN_AC_N = (1.0 / _WIN_AC_N).astype(np.float32)
_OFFS = np.arange(-3, 4)
_STAT_LAG = 4
_BIN_HZ = SR / NFFT


class HopFeatures:
    """Arrays (one value per hop) of a batch of hops."""

    __slots__ = ("level_db", "voicing", "peak_hz", "purity", "v21_ratio", "rb_ratio", "stationarity")

    def __init__(self, level_db, voicing, peak_hz, purity, v21_ratio, rb_ratio, stationarity=None) -> None:
        self.stationarity = stationarity
        self.rb_ratio = rb_ratio
        self.level_db = level_db
        self.voicing = voicing
        self.peak_hz = peak_hz
        self.purity = purity
        self.v21_ratio = v21_ratio


class HopAnalyzer:
    """Keeps the window history and analyses blocks of hops."""

    def __init__(self) -> None:
        self._hist = np.zeros(WIN - HOP, dtype=np.float32)
        self._prev_shape = np.zeros((_STAT_LAG, _B1 - _B0), dtype=np.float32)

    def __call__(self, hops: np.ndarray) -> HopFeatures:
        """``hops``: (n, 80) float32. Returns the per-hop features of the n hops."""
        n = hops.shape[0]
        x = np.concatenate([self._hist, hops.astype(np.float32, copy=False).ravel()])
        self._hist = x[-(WIN - HOP) :]
        frames = x[_frame_index(n)] * _WINDOW
        spec = sfft.rfft(frames, NFFT, axis=1)
        power = np.square(spec.real) + np.square(spec.imag)
        # level of the hop itself (dBFS, full-scale sine = 0 dB)
        h64 = hops.astype(np.float64)
        level_db = 10.0 * np.log10(np.einsum("ij,ij->i", h64, h64) * (2.0 / HOP) + 1e-12)
        # voicing: normalised autocorrelation peak in the pitch range
        ac = sfft.irfft(power, NFFT, axis=1)
        voicing = np.max(ac[:, _LAG_LO:_LAG_HI] * _INV_WIN_AC_N, axis=1) / (ac[:, 0] + np.float32(1e-12))
        # tone: spectral peak in 350-2250 Hz and the share of band energy around it
        band = power[:, _B0:_B1]
        total = band.sum(axis=1, dtype=np.float64) + 1e-12
        # stationarity: cosine similarity of the band spectrum with the one 40 ms earlier
        # (steady tones ~1.0: dial tone, DTMF; speech rarely stays above 0.995 for 30 ms)
        shape = band / (np.sqrt(np.einsum("ij,ij->i", band, band))[:, None] + np.float32(1e-20))
        shapes = np.concatenate([self._prev_shape, shape])
        self._prev_shape = shapes[-_STAT_LAG:]
        stat = np.einsum("ij,ij->i", shapes[_STAT_LAG:], shapes[:-_STAT_LAG]).tolist()
        k = np.argmax(power[:, _T0:_T1], axis=1) + _T0
        near = power[np.arange(n)[:, None], k[:, None] + _OFFS]
        purity = (near.sum(axis=1, dtype=np.float64) / total).tolist()
        v21 = (power[:, _V0:_V1].sum(axis=1, dtype=np.float64) / total).tolist()
        rb = (power[:, _R0:_R1].sum(axis=1, dtype=np.float64) / total).tolist()
        # peak frequency by parabolic interpolation on log power, only where a tone is possible
        kl = k.tolist()
        nl = near[:, 2:5].tolist()
        peak_hz = []
        for j in range(n):
            if purity[j] >= 0.5:
                a, b, c = (math.log(v + 1e-20) for v in nl[j])
                den = a - 2.0 * b + c
                delta = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
                peak_hz.append((kl[j] + min(max(delta, -0.5), 0.5)) * _BIN_HZ)
            else:
                peak_hz.append(kl[j] * _BIN_HZ)
        return HopFeatures(level_db.tolist(), voicing.tolist(), peak_hz, purity, v21, rb, stat)


_INDEX_CACHE: dict[int, np.ndarray] = {}


def _frame_index(n: int) -> np.ndarray:
    """Indices of the n analysis windows (each WIN samples, HOP apart) in history + hops."""
    idx = _INDEX_CACHE.get(n)
    if idx is None:
        idx = np.arange(n)[:, None] * HOP + np.arange(WIN)[None, :]
        if n <= 64:
            _INDEX_CACHE[n] = idx
    return idx
