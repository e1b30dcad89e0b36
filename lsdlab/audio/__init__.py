"""Audio: file I/O and resampling, frames and levels, G.711, tones, the telephone channel."""

from .channel import ChannelSettings, TelephoneChannel, bandpass
from .frames import rms_dbfs, set_level
from .g711 import alaw_decode, alaw_encode, codec_roundtrip, ulaw_decode, ulaw_encode
from .io import SR, atomic_path, duration_s, load, resample, save_wav, valid_audio

__all__ = [
    "SR",
    "load",
    "save_wav",
    "resample",
    "valid_audio",
    "atomic_path",
    "duration_s",
    "rms_dbfs",
    "set_level",
    "alaw_encode",
    "alaw_decode",
    "ulaw_encode",
    "ulaw_decode",
    "codec_roundtrip",
    "ChannelSettings",
    "TelephoneChannel",
    "bandpass",
]
