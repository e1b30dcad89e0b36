"""Call-progress, fax and signalling tones generated from their specifications.

Frequencies and cadences: ITU-T E.180 / Q.35 (ringback, busy, dial), national variants
(US 440+480 Hz 2 s on 4 s off; GB 400+450 Hz 0.4/0.2/0.4/2.0 s; EU 425 Hz 1 s on 4 s off),
ITU-T T.30 (CNG 1100 Hz 0.5 s on 3 s off; CED 2100 Hz 2.6-4.0 s), ITU-T V.21 channel 2
(1650/1850 Hz FSK at 300 bit/s, HDLC flags 0x7E as the preamble), SIT (Telcordia
SR-2275: 913.8/1370.6/1776.7 Hz segments), DTMF (ITU-T Q.23).
"""

from __future__ import annotations

import numpy as np

from .io import SR

__all__ = [
    "sine",
    "dual_tone",
    "cadence",
    "RINGBACK",
    "ringback",
    "cng",
    "ced",
    "v21_preamble",
    "beep",
    "sit",
    "dtmf",
    "DTMF_FREQS",
]


def sine(freq_hz: float, dur_s: float, *, sr: int = SR, level_dbfs: float = -10.0, phase: float = 0.0) -> np.ndarray:
    """A sine of ``freq_hz`` for ``dur_s`` at ``level_dbfs`` (0 dBFS = full-scale sine)."""
    n = int(round(dur_s * sr))
    t = np.arange(n) / sr
    amp = 10 ** (level_dbfs / 20.0)
    return (amp * np.sin(2 * np.pi * freq_hz * t + phase)).astype(np.float32)


def dual_tone(f1: float, f2: float, dur_s: float, *, sr: int = SR, level_dbfs: float = -13.0) -> np.ndarray:
    """Two sines, each at ``level_dbfs``."""
    return sine(f1, dur_s, sr=sr, level_dbfs=level_dbfs) + sine(f2, dur_s, sr=sr, level_dbfs=level_dbfs)


def cadence(tone: np.ndarray, pattern_s: tuple[float, ...], total_s: float, *, sr: int = SR) -> np.ndarray:
    """Repeat on/off ``pattern_s`` (on, off, on, off, ...) cutting ``tone`` for the on parts."""
    out = np.zeros(int(round(total_s * sr)), dtype=np.float32)
    pos = 0
    i = 0
    while pos < len(out):
        seg = int(round(pattern_s[i % len(pattern_s)] * sr))
        if i % 2 == 0:
            n = min(seg, len(out) - pos, len(tone))
            out[pos : pos + n] = tone[:n]
        pos += seg
        i += 1
    return out


#: Ringback tones per country: (frequencies in Hz, on/off cadence in s).
RINGBACK: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "US": ((440.0, 480.0), (2.0, 4.0)),
    "CA": ((440.0, 480.0), (2.0, 4.0)),
    "GB": ((400.0, 450.0), (0.4, 0.2, 0.4, 2.0)),
    "AU": ((400.0, 450.0), (0.4, 0.2, 0.4, 2.0)),
    "DE": ((425.0,), (1.0, 4.0)),
    "FR": ((440.0,), (1.5, 3.5)),
}


def ringback(country: str, total_s: float, *, sr: int = SR, level_dbfs: float = -19.0) -> np.ndarray:
    """Ringback of ``country`` (see :data:`RINGBACK`) for ``total_s`` seconds."""
    freqs, pattern = RINGBACK[country]
    n = int(round(max(pattern) * sr)) + 1
    tone = sum(sine(f, n / sr, sr=sr, level_dbfs=level_dbfs) for f in freqs)
    return cadence(np.asarray(tone, dtype=np.float32), pattern, total_s, sr=sr)


def cng(total_s: float, *, sr: int = SR, level_dbfs: float = -15.0, start_on: bool = True) -> np.ndarray:
    """Fax calling tone: 1100 Hz, 0.5 s on, 3 s off (T.30)."""
    tone = sine(1100.0, 0.5, sr=sr, level_dbfs=level_dbfs)
    pattern = (0.5, 3.0) if start_on else (0.0, 1.5, 0.5, 3.0 - 1.5)
    return cadence(tone, pattern, total_s, sr=sr)


def ced(dur_s: float = 3.3, *, sr: int = SR, level_dbfs: float = -13.0, phase_reversals: bool = False) -> np.ndarray:
    """Fax answer tone: 2100 Hz (T.30 CED; with 450 ms phase reversals it is V.25 ANSam-like)."""
    y = sine(2100.0, dur_s, sr=sr, level_dbfs=level_dbfs)
    if phase_reversals:
        step = int(0.45 * sr)
        for k in range(1, len(y) // step + 1, 2):
            y[k * step : (k + 1) * step] *= -1
    return y


def v21_preamble(dur_s: float = 1.0, *, sr: int = SR, level_dbfs: float = -13.0) -> np.ndarray:
    """V.21 channel 2 FSK (mark 1650 Hz, space 1850 Hz, 300 bit/s) sending HDLC flags 0x7E."""
    bits_per_s = 300
    n_bits = int(np.ceil(dur_s * bits_per_s))
    flag = [0, 1, 1, 1, 1, 1, 1, 0]
    bits = np.array([flag[i % 8] for i in range(n_bits)])
    samples_per_bit = sr / bits_per_s
    n = int(round(dur_s * sr))
    idx = np.minimum((np.arange(n) / samples_per_bit).astype(int), n_bits - 1)
    freq = np.where(bits[idx] == 1, 1650.0, 1850.0)
    phase = 2 * np.pi * np.cumsum(freq) / sr  # continuous phase
    return (10 ** (level_dbfs / 20.0) * np.sin(phase)).astype(np.float32)


def beep(freq_hz: float = 1000.0, dur_s: float = 0.5, *, sr: int = SR, level_dbfs: float = -12.0) -> np.ndarray:
    """An answering-machine beep with 5 ms raised-cosine edges."""
    y = sine(freq_hz, dur_s, sr=sr, level_dbfs=level_dbfs)
    ramp = min(int(0.005 * sr), len(y) // 2)
    if ramp:
        w = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        y[:ramp] *= w
        y[-ramp:] *= w[::-1]
    return y


def sit(*, sr: int = SR, level_dbfs: float = -13.0, variant: str = "IC") -> np.ndarray:
    """Special information tone: three segments (SR-2275), e.g. 'IC' intercept, 'NC' no circuit."""
    lo = {"IC": (913.8, 1370.6, 1776.7), "NC": (985.2, 1428.5, 1776.7), "VC": (985.2, 1370.6, 1776.7), "RO": (913.8, 1428.5, 1776.7)}[variant]
    durs = (0.274, 0.274, 0.380) if variant in ("IC", "RO") else (0.380, 0.380, 0.380)
    return np.concatenate([sine(f, d, sr=sr, level_dbfs=level_dbfs) for f, d in zip(lo, durs)])


DTMF_FREQS: dict[str, tuple[float, float]] = {
    k: (lo, hi)
    for row, lo in zip(("123A", "456B", "789C", "*0#D"), (697.0, 770.0, 852.0, 941.0))
    for k, hi in zip(row, (1209.0, 1336.0, 1477.0, 1633.0))
}


def dtmf(digits: str, *, sr: int = SR, on_s: float = 0.1, off_s: float = 0.1, level_dbfs: float = -10.0) -> np.ndarray:
    """DTMF digits (Q.23), ``on_s`` each with ``off_s`` gaps."""
    parts = []
    for d in digits:
        f1, f2 = DTMF_FREQS[d]
        parts += [dual_tone(f1, f2, on_s, sr=sr, level_dbfs=level_dbfs), np.zeros(int(off_s * sr), np.float32)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
