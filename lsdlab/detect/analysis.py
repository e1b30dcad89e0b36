"""Per-hop signal analysis, batched: level, voicing, spectral peak and tone purity.

Each 10 ms hop is analysed over the 32 ms window that ends with it (256 samples, Hann,
zero-padded to 512 for a 15.6 Hz bin spacing). The analysis of a hop depends only on the
samples up to its end, so results are identical however the audio was pushed.
"""

from __future__ import annotations

import math
import threading

import numpy as np

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
    from scipy import fft as sfft

    return sfft.rfft(frames, NFFT, axis=1)


def _public_irfft(power: np.ndarray) -> np.ndarray:
    from scipy import fft as sfft

    return sfft.irfft(power, NFFT, axis=1)


_POCKETFFT = "scipy.fft._pocketfft.pypocketfft"


def _pocketfft():
    """scipy's pocketfft extension module (the kernels behind ``scipy.fft``), loaded from its
    file in scipy's folder without importing the ``scipy.fft`` package.

    That package costs 0.11-0.2 s to import (scipy 1.17: its array-API layer clones the whole
    numpy namespace, which imports numpy.f2py, numpy.testing and numpy.ma), time every
    ``lsdlab evaluate`` and every fork-server worker paid before its first call and that no
    ``--jobs`` worker shares. The module is registered under its own name, so a later
    ``import scipy.fft`` uses this same module. ImportError when scipy's layout differs.
    """
    import importlib.machinery
    import importlib.util
    import os
    import sys

    mod = sys.modules.get(_POCKETFFT)
    if mod is not None:
        return mod
    spec = importlib.util.find_spec("scipy")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scipy not found")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "fft", "_pocketfft")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, "pypocketfft" + suffix)
        if os.path.isfile(path):
            break
    else:
        raise ImportError(f"no pypocketfft extension in {folder}")
    ext = importlib.util.spec_from_file_location(_POCKETFFT, path)
    if ext is None or ext.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(ext)
    ext.loader.exec_module(mod)
    sys.modules[_POCKETFFT] = mod
    return mod


def _fast_fft_pair():
    """scipy.fft's own pocketfft kernels, called without the dispatch layer.

    ``scipy.fft.rfft``/``irfft`` spend more time in argument handling and backend dispatch
    than in the transform itself for 1-2 rows of 512 points (about 20 of the detector's
    ~100 us per 20 ms frame). The kernels are scipy's private ``pypocketfft`` module
    (loaded by :func:`_pocketfft`), so they are used only if they exist and compute the same
    transforms as ``numpy.fft`` (checked once, here, on random rows: the call conventions of a
    private module may change); otherwise the public ``scipy.fft`` functions are. That the
    kernels give bit-identical results to ``scipy.fft.rfft``/``irfft`` on this installation is
    checked by the test suite (importing scipy.fft here would cost the time saved).
    The kernels write into ``out`` when given (the analyzer's preallocated arrays); the
    inverse transform's ``_irfft_c`` takes the power spectrum already as complex64.
    """
    try:
        pp = _pocketfft()

        def rfft(frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:  # frames zero-padded to NFFT
            return pp.r2c(frames, (1,), True, 0, out, 1)

        def irfft_c(power_c: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:  # 1/n normalisation, as irfft's default
            return pp.c2r(power_c, (1,), NFFT, False, 2, out, 1)

        def irfft(power: np.ndarray) -> np.ndarray:
            return irfft_c(power + 0j)

        x = np.random.default_rng(0).standard_normal((3, NFFT)).astype(np.float32)
        x[:, WIN:] = 0.0
        a = rfft(x)
        p = (np.square(a.real) + np.square(a.imag)).astype(np.float32)
        a_out, ac_out = rfft(x, np.empty_like(a)), irfft_c(p + 0j, np.empty((3, NFFT), np.float32))
        ac = irfft(p)
        ref_a, ref_ac = np.fft.rfft(x[:, :WIN].astype(np.float64), NFFT, axis=1), np.fft.irfft(p.astype(np.float64), NFFT, axis=1)
        if (a.dtype == np.complex64 and ac.dtype == np.float32 and np.array_equal(a_out, a) and np.array_equal(ac_out, ac)
                and np.allclose(a, ref_a, rtol=1e-5, atol=1e-4) and np.allclose(ac, ref_ac, rtol=1e-4, atol=1e-3)):
            return rfft, irfft, irfft_c, True
    except Exception:  # noqa: BLE001 - any change of the private module: use the public functions
        pass

    def public_rfft(frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        r = _public_rfft(frames[:, :WIN])
        if out is None:
            return r
        out[...] = r
        return out

    def public_irfft_c(power_c: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        from scipy import fft as sfft

        r = sfft.irfft(power_c, NFFT, axis=1)
        if out is None:
            return r
        out[...] = r
        return out

    return public_rfft, _public_irfft, public_irfft_c, False


_rfft, _irfft, _irfft_c, FAST_FFT = _fast_fft_pair()
if FAST_FFT:  # the kernels themselves, called straight from HopAnalyzer (no Python frame per call)
    _c2r, _r2c = _pocketfft().c2r, _pocketfft().r2c
_AXIS1 = (1,)

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


class _Work:
    """Preallocated arrays, and views into them, for the analysis of blocks of ``n`` hops.

    A 20 ms push analyses 2 hops: there numpy's fixed cost per call (argument parsing, result
    allocation, slicing) outweighs the arithmetic, so every array and view is made once here
    and each step of :meth:`HopAnalyzer.__call__` is one ufunc call writing into its buffer.
    The arithmetic and the memory layout of every operand are those of the plain expressions
    (the same dtypes, contiguity and order of summation): the results are bit-identical.
    """

    __slots__ = ("n", "x", "x_head", "x_tail", "x_new", "windows", "frames", "frames_win", "spec", "spec_f",
                 "sq", "sq_re", "sq_im", "power", "band", "tone_band", "power64", "power64_flat", "band64", "v21_band64",
                 "rb_band64",
                 "power_c", "power_re", "ac", "ac_lags", "ac0", "lagged", "vmax", "ac0_tiny", "h64",
                 "norm", "norm_col", "shapes", "shape_new", "shape_lag", "sh_head", "sh_tail",
                 "k", "k_col", "near_idx", "near_base", "f64", "energy", "level_total", "level", "total",
                 "sums", "sums2", "f32", "voicing", "stat", "arrays")

    def __init__(self, n: int) -> None:
        H = WIN - HOP
        nb = NFFT // 2 + 1
        self.n = n
        self.x = np.zeros(H + n * HOP, np.float32)  # the history, then the block's samples
        self.x_head, self.x_tail = self.x[:H], self.x[n * HOP :]
        self.x_new = self.x[H:].reshape(n, HOP)
        # the n windows (WIN samples, HOP apart) as a strided view of x, no copy, no index array
        self.windows = np.ndarray((n, WIN), np.float32, self.x, 0, _WIN_STRIDES)
        self.frames = np.zeros((n, NFFT), np.float32)  # zero-padded: only [:, :WIN] is written
        self.frames_win = self.frames[:, :WIN]
        self.spec = np.empty((n, nb), np.complex64)
        self.spec_f = self.spec.view(np.float32).reshape(n, nb, 2)  # (re, im) pairs
        self.sq = np.empty((n, nb, 2), np.float32)
        self.sq_re, self.sq_im = self.sq[..., 0], self.sq[..., 1]
        self.power = np.empty((n, nb), np.float32)
        self.band = self.power[:, _B0:_B1]
        self.tone_band = self.power[:, _T0:_T1]
        # the power as float64 (exact): the band sums' ``np.add.reduce(..., dtype=np.float64)``
        # cast each row into a float64 buffer and summed it there; summing these rows adds the
        # same values in the same order, without the buffered cast's cost in every call
        self.power64 = np.empty((n, nb), np.float64)
        self.power64_flat = self.power64.reshape(-1)
        self.band64 = self.power64[:, _B0:_B1]
        self.v21_band64 = self.power64[:, _V0:_V1]
        self.rb_band64 = self.power64[:, _R0:_R1]
        self.power_c = np.zeros((n, nb), np.complex64)  # the power as complex (imaginary part 0.0)
        self.power_re = self.power_c.real
        self.ac = np.empty((n, NFFT), np.float32)
        self.ac_lags = self.ac[:, _LAG_LO:_LAG_HI]
        self.ac0 = self.ac[:, 0]
        self.lagged = np.empty((n, _LAG_HI - _LAG_LO), np.float32)
        self.vmax = np.empty(n, np.float32)
        self.ac0_tiny = np.empty(n, np.float32)
        self.h64 = np.empty((n, HOP), np.float64)
        self.norm_col = np.empty((n, 1), np.float32)
        self.norm = self.norm_col.reshape(n)
        # band spectra normalised: the last _STAT_LAG of the previous blocks, then this block's
        self.shapes = np.zeros((_STAT_LAG + n, _B1 - _B0), np.float32)
        self.shape_new, self.shape_lag = self.shapes[_STAT_LAG:], self.shapes[:n]
        self.sh_head, self.sh_tail = self.shapes[:_STAT_LAG], self.shapes[n:]
        self.k = np.empty(n, np.intp)
        self.k_col = self.k.reshape(n, 1)
        self.near_idx = np.empty((n, len(_OFFS)), np.intp)
        # flat index of the 7 bins around bin _T0 of each row (add the peak's offset in the tone band)
        self.near_base = np.arange(0, n * nb, nb)[:, None] + _OFFS + _T0
        # float64 rows, one tolist() for all: the hop's energy then level; the band total; the
        # sums near the peak, in the V.21 band and in the ringback band, then their ratios to the total
        self.f64 = np.empty((5, n), np.float64)
        self.energy = self.level = self.f64[0]
        self.level_total = self.f64[:2]
        self.total = self.f64[1]
        self.sums, self.sums2 = self.f64[2:], self.f64[2:4]
        self.f32 = np.empty((2, n), np.float32)  # voicing, stationarity
        self.voicing, self.stat = self.f32[0], self.f32[1]
        # everything HopAnalyzer.__call__ uses, in one tuple (unpacked into locals once per call)
        self.arrays = (self.x_new, self.windows, self.frames_win, self.frames, self.spec, self.spec_f, self.sq,
                       self.sq_re, self.sq_im, self.power, self.h64, self.energy, self.power64, self.band64,
                       self.total, self.level_total, self.level, self.power_re, self.power_c, self.ac,
                       self.ac_lags, self.lagged, self.vmax, self.ac0, self.ac0_tiny, self.voicing, self.band,
                       self.norm, self.norm_col, self.shape_new, self.shape_lag, self.stat, self.tone_band,
                       self.k, self.k_col, self.near_base, self.near_idx, self.power64_flat, self.sums,
                       self.v21_band64, self.rb_band64, self.sums2, self.f64, self.f32)


#: Work arrays for long blocks (the offline path's), per thread: every analyzer of the thread
#: uses them in turn (each call writes all their inputs, and keeps its history in its own
#: arrays), so a whole-file run allocates them once, not per block and per call.
_LONG = threading.local()


def _long_work(n: int) -> _Work:
    works = getattr(_LONG, "works", None)
    if works is None:
        works = _LONG.works = {}
    w = works.get(n)
    if w is None:
        if len(works) >= 2:  # a run's full blocks and its last, shorter one
            works.clear()
        w = works[n] = _Work(n)
    return w


class HopAnalyzer:
    """Keeps the window history and analyses blocks of hops.

    The arrays of each block length it meets are made once and reused (see :class:`_Work`):
    per 20 ms push that is about 30 numpy calls into ready buffers instead of about 60 that
    allocate their results, with the same values bit for bit.
    """

    def __init__(self) -> None:
        # the history (the last samples and band spectra) is in the tails of the work arrays
        # used last; between long blocks, in these (zeros at first: silence before the call)
        self._hist = self._cur = _Work(0)
        self._works: dict[int, _Work] = {}

    def __getstate__(self) -> dict:
        # only the history: the work arrays are views of each other, which pickling or copying
        # would turn into separate arrays (their views then written, never read)
        return {"x": self._cur.x_tail.copy(), "shapes": self._cur.sh_tail.copy()}

    def __setstate__(self, state: dict) -> None:
        self.__init__()  # type: ignore[misc]
        self._hist.x_tail[...] = state["x"]
        self._hist.sh_tail[...] = state["shapes"]

    def _work(self, n: int) -> _Work:
        w = self._works.get(n)
        if w is None:
            if n > _LOOP_HOPS:
                return _long_work(n)
            w = _Work(n)
            if len(self._works) < _MAX_WORKS:  # the few push sizes of a stream
                self._works[n] = w
        return w

    def __call__(self, hops: np.ndarray, ringback: bool = True) -> HopFeatures:
        """``hops``: (n, 80) float32. Returns the per-hop features of the n hops.

        ``ringback=False`` skips the ringback-band ratio (all 0.0): the detector stops
        looking for ringback once speech was heard.
        """
        n = hops.shape[0]
        w = self._works.get(n) or self._work(n)
        (x_new, windows, frames_win, frames, spec, spec_f, sq, sq_re, sq_im, power, h64, energy, power64, band64,
         total, level_total, level, power_re, power_c, ac, ac_lags, lagged, vmax, ac0, ac0_tiny, voicing, band,
         norm, norm_col, shape_new, shape_lag, stat, tone_band, k, k_col, near_base, near_idx, power64_flat, sums,
         v21_band64, rb_band64, sums2, f64, f32) = w.arrays
        # (ufuncs take ``out`` positionally here: a little less argument parsing per call)
        prev = self._cur
        w.x_head[...] = prev.x_tail
        w.sh_head[...] = prev.sh_tail
        x_new[...] = hops
        _multiply(windows, _WINDOW, frames_win)
        if FAST_FFT:
            _r2c(frames, _AXIS1, True, 0, spec, 1)
        else:
            _rfft(frames, spec)
        _square(spec_f, sq)
        _add(sq_re, sq_im, power)
        # level of the hop itself (dBFS, full-scale sine = 0 dB): 10 log10(energy * 2 / HOP + 1e-12)
        h64[...] = hops
        _einsum("ij,ij->i", h64, h64, out=energy)
        _multiply(energy, 2.0 / HOP, energy)
        # tone: the band's total energy (+ 1e-12, added to the level's row in the same call)
        power64[...] = power
        _sum(band64, 1, None, total)
        _add(level_total, 1e-12, level_total)
        _log10(level, level)
        _multiply(level, 10.0, level)
        # voicing: normalised autocorrelation peak in the pitch range
        power_re[...] = power
        if FAST_FFT:
            _c2r(power_c, _AXIS1, NFFT, False, 2, ac, 1)
        else:
            _irfft_c(power_c, ac)
        _multiply(ac_lags, _INV_WIN_AC_N, lagged)
        _max(lagged, axis=1, out=vmax)
        _add(ac0, _TINY, ac0_tiny)
        _divide(vmax, ac0_tiny, voicing)
        # stationarity: cosine similarity of the band spectrum with the one 40 ms earlier
        # (steady tones ~1.0: dial tone, DTMF; speech rarely stays above 0.995 for 30 ms)
        _einsum("ij,ij->i", band, band, out=norm)
        _sqrt(norm, norm)
        _add(norm, _PAD, norm)
        _divide(band, norm_col, shape_new)
        _einsum("ij,ij->i", shape_new, shape_lag, out=stat)
        # tone: spectral peak in 350-2250 Hz and the share of band energy around it; the
        # shares of the V.21 and ringback bands
        tone_band.argmax(1, k)
        near = power64_flat[_add(k_col, near_base, near_idx)]
        _sum(near, 1, None, sums[0])
        _sum(v21_band64, 1, None, sums[1])
        if ringback:
            _sum(rb_band64, 1, None, sums[2])
            _divide(sums, total, sums)
            lv, _, pur, v21, rb = f64.tolist()
        else:
            _divide(sums2, total, sums2)
            lv, _, pur, v21, _ = f64.tolist()
            rb = [0.0] * n
        vo, st = f32.tolist()
        # peak frequency: the peak bin's, refined by parabolic interpolation on log power where
        # a tone is possible (few hops: math.log on those only, the same arithmetic per hop)
        if n <= _LOOP_HOPS:
            self._cur = w
            kl = k.tolist()
            nl = near.tolist()
            peak_hz = [_refined(kl[j] + _T0, nl[j][2:5]) if pur[j] >= 0.5 else (kl[j] + _T0) * _BIN_HZ for j in range(n)]
        else:  # a long block's arrays are not kept: its history moves to the small ones
            self._cur = h = self._hist
            h.x_tail[...] = w.x_tail
            h.sh_tail[...] = w.sh_tail
            k = k + _T0
            peak = k * _BIN_HZ  # int * float: the same double product as Python's
            tonal = np.flatnonzero(sums[0] >= 0.5)
            if len(tonal):
                # _refined's arithmetic element-wise, in float64; the logs by math.log (numpy's
                # own log may differ in the last bit)
                v3 = near[tonal, 2:5] + 1e-20
                a, b, c = np.array(list(map(math.log, v3.ravel().tolist()))).reshape(-1, 3).T
                den = a - 2.0 * b + c
                ok = np.abs(den) > 1e-12
                delta = np.where(ok, 0.5 * (a - c) / np.where(ok, den, 1.0), 0.0)
                peak[tonal] = (k[tonal] + np.minimum(np.maximum(delta, -0.5), 0.5)) * _BIN_HZ
            peak_hz = peak.tolist()
        return HopFeatures(lv, vo, peak_hz, pur, v21, rb, st)


#: Up to this many hops per block, the peak frequencies are found in a Python loop (fewer
#: numpy calls for a 20 ms push); longer blocks refine only their tonal hops.
_LOOP_HOPS = 8
#: Work arrays kept per analyzer, one set per block length up to _LOOP_HOPS hops (a stream
#: pushes one or a few frame lengths): 35 KiB for 2 hops (20 ms pushes), 127 KiB for 8, so
#: at most about 0.4 MiB per detector.
_MAX_WORKS = 4


def _refined(k: int, v3: list[float]) -> float:
    """The peak frequency of bin ``k`` refined by a parabola through its log power and its
    two neighbours' (``v3``), moved by at most half a bin."""
    a, b, c = _log(v3[0] + 1e-20), _log(v3[1] + 1e-20), _log(v3[2] + 1e-20)
    den = a - 2.0 * b + c
    delta = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
    return (k + min(max(delta, -0.5), 0.5)) * _BIN_HZ


# the ufunc reductions themselves (ndarray.sum/np.max add a Python layer per call)
_sum = np.add.reduce
_max = np.maximum.reduce
_add, _multiply, _divide, _square, _sqrt, _log10 = np.add, np.multiply, np.divide, np.square, np.sqrt, np.log10
_log = math.log
