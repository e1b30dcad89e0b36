"""Audio file I/O: decode anything soundfile reads, resample to 8 kHz, write atomically."""

from __future__ import annotations

import errno
import math
import os
import tempfile
from pathlib import Path
from typing import NoReturn

import numpy as np
import soundfile as sf

from ..errors import AudioError, ParameterError

__all__ = ["SR", "SR_RANGE_HZ", "MAX_DURATION_S", "load", "audio_info", "save_wav", "resample", "valid_audio",
           "atomic_path", "duration_s", "nonfinite_samples", "check_header"]

#: The sample rate every detector works at (narrow-band telephony).
SR = 8000
#: The sample rates an audio file may declare, and ``load`` may resample to (Hz).
SR_RANGE_HZ = (1000, 384000)
#: The longest audio file any loader decodes (seconds): a call, not a day of recordings.
MAX_DURATION_S = 3600.0
#: The most channels a file may declare.
MAX_CHANNELS = 64


def valid_audio(y: np.ndarray, *, name: str = "y", owner: str = "lsdlab") -> np.ndarray:
    """Check that ``y`` is a 1-D array of finite samples; return it as float32 in [-1, 1].

    int16 input is scaled by 1/32768. Raises :class:`ParameterError` otherwise.
    """
    if type(y) is np.ndarray and y.dtype is _F32 and y.ndim == 1:  # a stream's frames: checked in ~1 us
        if y.size and not _all_finite(y):
            _not_finite(y, name, owner)
        return y
    if isinstance(y, tuple) and len(y) == 2 and isinstance(y[1], (int, np.integer)):
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be an array of samples. Got a tuple "
            f"(array, {y[1]}), which looks like the (y, sr) pair from lsdlab.audio.load; "
            f"unpack it first: y, sr = load(path)."
        )
    try:
        y = np.asarray(y)
    except (ValueError, TypeError) as e:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a 1-D array of samples. Got a "
            f"{type(y).__name__} that numpy cannot turn into one ({e})."
        ) from None
    if y.ndim != 1:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a 1-D (mono) array of samples. "
            f"Got an array of shape {y.shape} instead; pass one channel, e.g. y[:, 0]."
        )
    kind = y.dtype.kind
    if y.dtype == np.int16:
        return y.astype(np.float32) / np.float32(32768.0)
    if kind == "i":
        return (y.astype(np.float64) / float(-np.iinfo(y.dtype).min)).astype(np.float32)
    if kind != "f":
        raise ParameterError(
            f"The {name!r} parameter of {owner} must hold float or int16 samples. "
            f"Got dtype {y.dtype} instead."
        )
    y = y.astype(np.float32, copy=False)
    if y.size and not _all_finite(y):
        _not_finite(y, name, owner)
    return y


_F32 = np.dtype(np.float32)


def _all_finite(y: np.ndarray) -> bool:
    """Whether every sample of the float32 array ``y`` is finite. The sum of squares is NaN or
    infinite if any sample is (squares are never negative: no inf - inf); finite samples over
    about 1.8e19 overflow it too, and only then are the samples tested one by one."""
    return math.isfinite(y.dot(y)) or bool(np.isfinite(y).all())


def _not_finite(y: np.ndarray, name: str, owner: str) -> NoReturn:
    bad = int(np.flatnonzero(~np.isfinite(y))[0])
    raise ParameterError(
        f"The {name!r} parameter of {owner} must hold finite samples. Got a NaN or "
        f"infinite value at index {bad}; clean the audio (e.g. np.nan_to_num) first."
    )


def resample(y: np.ndarray, orig_sr: int, target_sr: int = SR) -> np.ndarray:
    """Polyphase resampling with scipy.signal.resample_poly.

    The same samples as ``librosa.resample(y, res_type='polyphase')`` (up/down ratio reduced
    by the gcd of the rates, output length ``ceil(len(y) * target_sr / orig_sr)``), without
    needing librosa.
    """
    y = np.asarray(y, dtype=np.float32)
    if orig_sr == target_sr:
        return y
    from scipy.signal import resample_poly

    orig_sr, target_sr = int(orig_sr), int(target_sr)
    g = math.gcd(orig_sr, target_sr)
    n_out = int(np.ceil(y.shape[-1] * (float(target_sr) / orig_sr)))
    y_hat = resample_poly(y, target_sr // g, orig_sr // g, axis=-1)
    if y_hat.shape[-1] > n_out:
        y_hat = y_hat[..., :n_out]
    elif y_hat.shape[-1] < n_out:
        y_hat = np.pad(y_hat, [(0, 0)] * (y_hat.ndim - 1) + [(0, n_out - y_hat.shape[-1])])
    return np.asarray(y_hat, dtype=np.float32)


def audio_info(path: str | os.PathLike):
    """The header of an audio file, checked before anything is decoded or allocated.

    The declared sample rate must lie in :data:`SR_RANGE_HZ`, the channels in [1, 64] and the
    duration within :data:`MAX_DURATION_S`: a header claiming 2^31-1 Hz (which would make
    resampling allocate hundreds of GiB) is refused here. Returns soundfile's info.
    Raises :class:`AudioError` naming the file, the rule, the value and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file; check the path.")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); re-export the recording.")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _undecodable(path, exc) from None
    return check_header(path, info)


def check_header(path: str | os.PathLike, info):
    """:func:`audio_info`'s checks of a header already read (``info``: ``soundfile.info(path)``),
    for callers that read it themselves (a corpus check reads each file's header once).
    Returns ``info``; raises :class:`AudioError` as :func:`audio_info` does."""
    path = Path(path)
    low, high = SR_RANGE_HZ
    if not low <= info.samplerate <= high:
        raise AudioError(
            f"{path}: the header declares a sample rate of {info.samplerate} Hz, outside [{low}, {high}] Hz; "
            f"the file is damaged or not audio: re-export it (e.g. `ffmpeg -i in -ar 8000 -ac 1 out.wav`)."
        )
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise AudioError(
            f"{path}: the header declares {info.channels} channels, outside [1, {MAX_CHANNELS}]; "
            f"re-export it as mono (e.g. `ffmpeg -i in -ac 1 out.wav`)."
        )
    seconds = info.frames / float(info.samplerate)
    if seconds > MAX_DURATION_S:
        raise AudioError(
            f"{path}: the audio is {seconds:.3f} s long; lsdlab decodes at most {MAX_DURATION_S:g} s per file; "
            f"cut it into calls (e.g. `ffmpeg -i in -t 60 out.wav`)."
        )
    return info


def _undecodable(path: Path, exc: Exception) -> AudioError:
    return AudioError(
        f"{path}: cannot decode audio ({str(exc).strip()}). Convert it to WAV, FLAC, OGG or MP3 "
        f"(e.g. `ffmpeg -i in -ar 8000 -ac 1 out.wav`); a WebM/Opus or video file "
        f"renamed to .wav does not work."
    )


def load(path: str | os.PathLike, *, sr: int | None = SR, channel: int = 0) -> tuple[np.ndarray, int]:
    """Read an audio file, keep one channel, resample to ``sr`` (None keeps the file's rate).

    Returns ``(y, sr)`` with ``y`` float32 in [-1, 1]. The header is checked first
    (:func:`audio_info`: sample rate, channels, duration). Raises :class:`AudioError`
    naming the file when it is missing, empty, not decodable audio, or holds NaN or
    infinite samples; :class:`ParameterError` for a bad ``sr`` or ``channel``.
    """
    low, high = SR_RANGE_HZ
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not low <= sr <= high):
        raise ParameterError(
            f"The 'sr' parameter of load must be None (keep the file's rate) or an int sample rate in "
            f"[{low}, {high}] Hz. Got {sr!r} instead."
        )
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or channel < 0:
        raise ParameterError(
            f"The 'channel' parameter of load must be a channel index, an int >= 0. Got {channel!r} instead."
        )
    path = Path(path)
    info = audio_info(path)
    if not 0 <= channel < info.channels:
        raise ParameterError(
            f"The 'channel' parameter must be in [0, {info.channels - 1}] for {path} "
            f"({info.channels} channel(s)). Got {channel!r} instead."
        )
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _undecodable(path, exc) from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file decodes to no samples; re-export the recording.")
    y = data[:, channel]
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise AudioError(
            f"{path}: holds {bad.size} NaN or infinite sample(s), the first at {bad[0] / file_sr:.3f} s "
            f"(sample {int(bad[0])}); re-export the recording as 16-bit PCM or clean it (np.nan_to_num)."
        )
    if sr is not None and file_sr != sr:
        y = resample(y, int(file_sr), int(sr))
        file_sr = sr
    return np.ascontiguousarray(y, dtype=np.float32), int(file_sr)


def duration_s(path: str | os.PathLike) -> float:
    """Duration of an audio file in seconds (header only, checked by :func:`audio_info`)."""
    info = audio_info(path)
    return float(info.frames) / float(info.samplerate)


def nonfinite_samples(path: str | os.PathLike, *, blocksize: int = 65536, info=None) -> tuple[int, float | None]:
    """(count, first time in s) of NaN/inf samples in a float-encoded file, read in blocks.

    Integer encodings (PCM, A-law, u-law) cannot hold them: (0, None) without reading.
    ``info``: the file's header already checked by :func:`audio_info` or :func:`check_header`
    (default: read and checked here).
    """
    if info is None:
        info = audio_info(path)
    if info.subtype not in ("FLOAT", "DOUBLE"):
        return 0, None
    count, first, pos = 0, None, 0
    for block in sf.blocks(str(path), blocksize=blocksize, dtype="float32", always_2d=True):
        bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if bad.size and first is None:
            first = (pos + int(bad[0])) / float(info.samplerate)
        count += int(bad.size)
        pos += block.shape[0]
    return count, first


class atomic_path:
    """Context manager yielding a temp path beside ``path``, renamed onto it on success.

    A failure (in the body or in the final rename) leaves the destination untouched (never
    half-written) and removes the temp file. The folder must exist: none is created
    silently (``parents=True`` creates it, for writers that own a whole tree).
    """

    def __init__(self, path: str | os.PathLike, suffix: str | None = None, *, parents: bool = False) -> None:
        self.path = Path(path)
        self.suffix = suffix if suffix is not None else self.path.suffix
        self.parents = parents
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        parent = self.path.parent
        if self.parents:
            parent.mkdir(parents=True, exist_ok=True)
        elif not parent.is_dir():
            what = "is not a folder" if parent.exists() else "does not exist"
            raise FileNotFoundError(errno.ENOENT, f"the folder {parent} {what}; create it first or choose another path",
                                    str(self.path))
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=self.suffix + ".tmp", dir=parent
        )
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; use the usual mode
            os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)  # e.g. the destination is a folder: no .name.XXXX.tmp left behind
            raise


def save_wav(
    path: str | os.PathLike, y: np.ndarray, sr: int = SR, *, subtype: str = "ALAW"
) -> Path:
    """Write mono audio to a WAV file atomically. ``subtype``: 'ALAW', 'ULAW' or 'PCM_16'."""
    y = valid_audio(y, owner="save_wav")
    if subtype not in ("ALAW", "ULAW", "PCM_16"):
        raise ParameterError(
            f"The 'subtype' parameter of save_wav must be 'ALAW', 'ULAW' or 'PCM_16'. "
            f"Got {subtype!r} instead."
        )
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not 1000 <= sr <= 384000:
        raise ParameterError(
            f"The 'sr' parameter of save_wav must be an int sample rate in [1000, 384000] Hz. "
            f"Got {sr!r} instead."
        )
    try:
        with atomic_path(path) as tmp:
            sf.write(str(tmp), np.clip(y, -1.0, 32767 / 32768), int(sr), subtype=subtype, format="WAV")
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"{path}: cannot write the WAV file ({exc}); check the folder and free space.") from None
    return Path(path)
