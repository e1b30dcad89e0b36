"""``channel.FilePlayer`` and ``channel.FileRecorder``: play a WAV into a call, record the far end."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParameterError
from ._enums import Error, PlayerCause, PlayerState, RecorderCause, RecorderState

if TYPE_CHECKING:
    from ._channel import UASCallChannel


class _FilePlayer:
    """``channel.FilePlayer``: play a WAV file into the call."""

    State = PlayerState
    Cause = PlayerCause

    def __init__(self, ch: UASCallChannel) -> None:
        self._ch = ch
        self._state = PlayerState.IDLE
        self._cause = PlayerCause.NONE

    def state(self) -> PlayerState:
        return self._state

    def cause(self) -> PlayerCause:
        return self._cause

    def play(self, filename: str | os.PathLike, barge_in: bool = False, seconds_timeout: float | None = None) -> bool:
        """Play ``filename`` (mono WAV, 8 kHz preferred; A-law, mu-law or PCM) to the far end.

        Blocks until played (True, cause NORMAL), or stops early (False) on barge-in (far-end
        speech, with ``barge_in=True``), hang-up (cause HANGUP) or timeout. Raises
        :class:`Hangup` if IDLE, :class:`Error` if not ANSWERED or already playing.
        """
        from ..audio.io import load

        ctx = self._ch._require_answered("FilePlayer.play")
        if self._state == PlayerState.PLAYING:
            raise Error("FilePlayer.play: already playing; wait for the current file to finish.")
        y, _ = load(filename, sr=8000)
        src = ctx.source
        if src is None:
            raise Error("FilePlayer.play: the call has no audio stream.")
        ctx.speech.clear()
        self._state = PlayerState.PLAYING
        self._cause = PlayerCause.NONE
        src.play(y)
        end = None if seconds_timeout is None else time.monotonic() + seconds_timeout
        cause = PlayerCause.NORMAL
        while not src.done.wait(0.02):
            if ctx.ended:
                cause = PlayerCause.HANGUP
                break
            if barge_in and ctx.speech.is_set():
                cause = PlayerCause.BARGEIN
                break
            if end is not None and time.monotonic() > end:
                cause = PlayerCause.TIMEOUT
                break
        if cause != PlayerCause.NORMAL:
            src.stop()
        elif not src.finished_normally:
            cause = PlayerCause.HANGUP if ctx.ended else PlayerCause.ABORTED
        else:
            # let the last frames cross the network and the far end's jitter buffer, so a
            # hang_up() right after play() does not cut the end of the message
            time.sleep(0.3)
        self._cause = cause
        self._state = PlayerState.IDLE
        return cause == PlayerCause.NORMAL


class _FileRecorder:
    """``channel.FileRecorder``: record the far end's audio to a WAV file."""

    State = RecorderState
    Cause = RecorderCause

    def __init__(self, ch: UASCallChannel) -> None:
        self._ch = ch
        self._state = RecorderState.IDLE
        self._cause = RecorderCause.NONE
        self._audio = False

    def state(self) -> RecorderState:
        return self._state

    def cause(self) -> RecorderCause:
        return self._cause

    def audio_detected_in_recording(self) -> bool:
        return self._audio

    def record(self, filename: str | os.PathLike, milliseconds_max_silence: int = 0,
               seconds_timeout: float | None = 30, barge_in: bool = False) -> bool:
        """Record until ``seconds_timeout``, ``milliseconds_max_silence`` of silence, or hang-up.

        Writes a 16-bit PCM WAV atomically; returns True if something was recorded.
        """
        from ..audio.io import save_wav

        ctx = self._ch._require_answered("FileRecorder.record")
        if self._state == RecorderState.RECORDING:
            raise Error("FileRecorder.record: already recording.")
        if seconds_timeout is None and not milliseconds_max_silence:
            raise ParameterError("FileRecorder.record needs 'seconds_timeout' or 'milliseconds_max_silence'; got neither.")
        self._state = RecorderState.RECORDING
        frames: list = []
        ctx.rec_frames = frames
        t0 = time.monotonic()
        cause = RecorderCause.TIMEOUT
        try:
            while True:
                time.sleep(0.02)
                if ctx.ended:
                    cause = RecorderCause.HANGUP
                    break
                if seconds_timeout is not None and time.monotonic() - t0 >= seconds_timeout:
                    cause = RecorderCause.TIMEOUT
                    break
                if milliseconds_max_silence and len(frames) * 20 >= milliseconds_max_silence:
                    k = int(milliseconds_max_silence // 20)
                    tail = np.concatenate(frames[-k:]).astype(np.float64)
                    if np.sqrt(np.mean(tail**2)) < 100:
                        cause = RecorderCause.SILENCE
                        break
        finally:
            ctx.rec_frames = None
        y = np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)
        self._audio = bool(len(y)) and float(np.max(np.abs(y))) > 300
        if len(y):
            save_wav(Path(filename), y.astype(np.float32) / 32768.0, subtype="PCM_16")
        self._cause = cause
        self._state = RecorderState.IDLE
        return bool(len(y))
