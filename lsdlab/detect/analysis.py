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

__all__ = ["HopAnalyzer", "HopFeatures", "WIN", "NFFT", "FAST_FFT"]

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
_PAD = np.float32(1e-20)
_TINY = np.float32(1e-12)
_STAT_LAG = 4
_BIN_HZ = SR / NFFT
_WIN_STRIDES = (HOP * 4, 4)  # float32 windows WIN long, HOP apart


def _public_rfft(frames: np.ndarray) -> np.ndarray:
    return sfft.rfft(frames, NFFT, axis=1)


def _public_irfft(power: np.ndarray) -> np.ndarray:
    return sfft.irfft(power, NFFT, axis=1)


def _fast_fft_pair():
    """scipy.fft's own pocketfft kernels, called without the dispatch layer.

    ``scipy.fft.rfft``/``irfft`` spend more time in argument handling and backend dispatch
    than in the transform itself for 1-2 rows of 512 points (about 20 of the detector's
    ~100 us per 20 ms frame). The kernels are scipy's private ``pypocketfft`` module, so
    they are used only if they exist and give bit-identical results to the public
    functions on this installation (checked once, here); otherwise the public ones are.
    """
    try:
        from scipy.fft._pocketfft import pypocketfft as pp

        def rfft(frames: np.ndarray) -> np.ndarray:  # frames zero-padded to NFFT
            return pp.r2c(frames, (1,), True, 0, None, 1)

        def irfft(power: np.ndarray) -> np.ndarray:  # 1/n normalisation, as irfft's default
            return pp.c2r(power + 0j, (1,), NFFT, False, 2, None, 1)

        x = np.random.default_rng(0).standard_normal((3, NFFT)).astype(np.float32)
        x[:, WIN:] = 0.0
        a, b = rfft(x), _public_rfft(x[:, :WIN])
        p = (np.square(a.real) + np.square(a.imag)).astype(np.float32)
        if a.dtype == b.dtype and np.array_equal(a, b) and np.array_equal(irfft(p), _public_irfft(p)):
            return rfft, irfft, True
    except Exception:  # noqa: BLE001 - any change of the private API: use the public one
        pass
    return (lambda frames: _public_rfft(frames[:, :WIN])), _public_irfft, False


_rfft, _irfft, FAST_FFT = _fast_fft_pair()

def _c_einsum():
    """np.einsum without optimize= is a Python wrapper that calls this C function as is."""
    import importlib

    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):  # numpy 2.x, 1.x
        try:
            return importlib.import_module(mod).c_einsum
        except (ImportError, AttributeError):
            continue
    return np.einsum


_einsum = _c_einsum()


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

    def __call__(self, hops: np.ndarray, ringback: bool = True) -> HopFeatures:
        """``hops``: (n, 80) float32. Returns the per-hop features of the n hops.

        ``ringback=False`` skips the ringback-band ratio (all 0.0): the detector stops
        looking for ringback once speech was heard.
        """
        n = hops.shape[0]
        x = np.concatenate((self._hist, hops.astype(np.float32, copy=False).ravel()))
        self._hist = x[-(WIN - HOP) :]
        frames = np.zeros((n, NFFT), dtype=np.float32)
        # the n windows (WIN samples, HOP apart) as a strided view of x, no copy, no index array
        np.multiply(np.ndarray((n, WIN), np.float32, x, 0, _WIN_STRIDES), _WINDOW, out=frames[:, :WIN])
        spec = _rfft(frames)
        power = np.square(spec.real)
        power += np.square(spec.imag)
        # level of the hop itself (dBFS, full-scale sine = 0 dB)
        h64 = hops.astype(np.float64)
        level_db = 10.0 * np.log10(_einsum("ij,ij->i", h64, h64) * (2.0 / HOP) + 1e-12)
        # voicing: normalised autocorrelation peak in the pitch range
        ac = _irfft(power)
        voicing = _max(ac[:, _LAG_LO:_LAG_HI] * _INV_WIN_AC_N, axis=1) / (ac[:, 0] + _TINY)
        # tone: spectral peak in 350-2250 Hz and the share of band energy around it
        band = power[:, _B0:_B1]
        total = _sum(band, axis=1, dtype=np.float64) + 1e-12
        # stationarity: cosine similarity of the band spectrum with the one 40 ms earlier
        # (steady tones ~1.0: dial tone, DTMF; speech rarely stays above 0.995 for 30 ms)
        shape = band / (np.sqrt(_einsum("ij,ij->i", band, band))[:, None] + _PAD)
        shapes = np.concatenate([self._prev_shape, shape])
        self._prev_shape = shapes[-_STAT_LAG:]
        stat = _einsum("ij,ij->i", shapes[_STAT_LAG:], shapes[:-_STAT_LAG]).tolist()
        k = power[:, _T0:_T1].argmax(axis=1) + _T0
        near = power.ravel()[k[:, None] + _near_base(n)]
        pur = _sum(near, axis=1, dtype=np.float64) / total
        purity = pur.tolist()
        v21 = (_sum(power[:, _V0:_V1], axis=1, dtype=np.float64) / total).tolist()
        rb = (_sum(power[:, _R0:_R1], axis=1, dtype=np.float64) / total).tolist() if ringback else [0.0] * n
        # peak frequency: the peak bin's, refined by parabolic interpolation on log power where
        # a tone is possible (few hops: math.log on those only, the same arithmetic per hop)
        if n <= _LOOP_HOPS:
            kl = k.tolist()
            peak_hz = [_refined(kl[j], near[j, 2:5].tolist()) if purity[j] >= 0.5 else kl[j] * _BIN_HZ for j in range(n)]
        else:
            peak = k * _BIN_HZ  # int * float: the same double product as Python's
            tonal = np.flatnonzero(pur >= 0.5)
            if len(tonal):
                # _refined's arithmetic element-wise, in float64; the logs by math.log (numpy's
                # own log may differ in the last bit)
                v3 = near[tonal, 2:5].astype(np.float64) + 1e-20
                a, b, c = np.array(list(map(math.log, v3.ravel().tolist()))).reshape(-1, 3).T
                den = a - 2.0 * b + c
                ok = np.abs(den) > 1e-12
                delta = np.where(ok, 0.5 * (a - c) / np.where(ok, den, 1.0), 0.0)
                peak[tonal] = (k[tonal] + np.minimum(np.maximum(delta, -0.5), 0.5)) * _BIN_HZ
            peak_hz = peak.tolist()
        return HopFeatures(level_db.tolist(), voicing.tolist(), peak_hz, purity, v21, rb, stat)


#: Up to this many hops per block, the peak frequencies are found in a Python loop (fewer
#: numpy calls for a 20 ms push); longer blocks refine only their tonal hops.
_LOOP_HOPS = 8


def _refined(k: int, v3: list[float]) -> float:
    """The peak frequency of bin ``k`` refined by a parabola through its log power and its
    two neighbours' (``v3``), moved by at most half a bin."""
    a, b, c = (math.log(v + 1e-20) for v in v3)
    den = a - 2.0 * b + c
    delta = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
    return (k + min(max(delta, -0.5), 0.5)) * _BIN_HZ


# the ufunc reductions themselves (ndarray.sum/np.max add a Python layer per call)
_sum = np.add.reduce
_max = np.maximum.reduce


def _near_base(n: int) -> np.ndarray:
    """Flat index, in n spectrum rows, of the 7 bins around bin 0 of each row (add the peak
    bin); kept for the short blocks of streaming (bounded: n <= _LOOP_HOPS, do not modify)."""
    base = _NEAR_BASE.get(n)
    if base is None:
        base = np.arange(0, n * (NFFT // 2 + 1), NFFT // 2 + 1)[:, None] + _OFFS
        if n <= _LOOP_HOPS:
            _NEAR_BASE[n] = base
    return base


_NEAR_BASE: dict[int, np.ndarray] = {}
