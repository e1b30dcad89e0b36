"""G.711 A-law and mu-law coding (ITU-T G.711), vectorised with numpy.

Samples are float in [-1, 1) or int16; codes are uint8 as sent on the wire
(A-law with the even-bit inversion, mu-law inverted), so the bytes can be
streamed as RTP payload types 8 (PCMA) and 0 (PCMU).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["alaw_encode", "alaw_decode", "ulaw_encode", "ulaw_decode", "codec_roundtrip"]


def _to_int16(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype == np.int16:
        return y
    return np.clip(np.round(np.asarray(y, dtype=np.float64) * 32768.0), -32768, 32767).astype(
        np.int16
    )


def _alaw_decode_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    mag = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, mag, -mag).astype(np.int16)


def _ulaw_decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -mag, mag).astype(np.int16)


_ALAW_DEC = _alaw_decode_table()
_ULAW_DEC = _ulaw_decode_table()


def _alaw_encode_int(x: np.ndarray) -> np.ndarray:
    # Sun g711.c linear2alaw, vectorised.
    x = x.astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    mag = np.where(x >= 0, x, -x - 1)
    seg_end = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    seg = np.searchsorted(seg_end, mag, side="left")
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, aval)
    return (aval ^ mask).astype(np.uint8)


def _ulaw_encode_int(x: np.ndarray) -> np.ndarray:
    # Sun g711.c linear2ulaw (14-bit), vectorised.
    x = x.astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(x), 8159) + 0x21
    seg_end = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    seg = np.searchsorted(seg_end, mag, side="left")
    uval = (np.minimum(seg, 7) << 4) | ((mag >> (seg + 1)) & 0x0F)
    uval = np.where(seg >= 8, 0x7F, uval)
    return (uval ^ mask).astype(np.uint8)


@functools.cache
def _encode_table(codec: str) -> np.ndarray:
    """Every int16 sample's code: encoding through a 64k lookup table keeps the encoder exact
    and fast. Built on first use, not at import (4-5 ms that every lsdlab process paid)."""
    all16 = np.arange(-32768, 32768, dtype=np.int32)
    return _alaw_encode_int(all16) if codec == "alaw" else _ulaw_encode_int(all16)


def alaw_encode(y: np.ndarray) -> np.ndarray:
    """Encode float [-1, 1) or int16 samples to A-law bytes (uint8)."""
    return _encode_table("alaw")[_to_int16(y).astype(np.int32) + 32768]


def ulaw_encode(y: np.ndarray) -> np.ndarray:
    """Encode float [-1, 1) or int16 samples to mu-law bytes (uint8)."""
    return _encode_table("ulaw")[_to_int16(y).astype(np.int32) + 32768]


def alaw_decode(codes: np.ndarray) -> np.ndarray:
    """Decode A-law bytes to int16 samples."""
    return _ALAW_DEC[np.asarray(codes, dtype=np.uint8)]


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    """Decode mu-law bytes to int16 samples."""
    return _ULAW_DEC[np.asarray(codes, dtype=np.uint8)]


def codec_roundtrip(y: np.ndarray, codec: str) -> np.ndarray:
    """Pass float samples through G.711 ``codec`` ('alaw' or 'ulaw'); returns float32."""
    if codec == "alaw":
        out = alaw_decode(alaw_encode(y))
    elif codec == "ulaw":
        out = ulaw_decode(ulaw_encode(y))
    else:
        from ..errors import ParameterError

        raise ParameterError(
            f"The 'codec' parameter must be 'alaw' or 'ulaw'. Got {codec!r} instead."
        )
    return (out.astype(np.float32) / 32768.0).astype(np.float32)
