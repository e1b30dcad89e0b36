"""``channel.DTMFPlayer`` and ``channel.DTMFDetector``: RFC 2833 digits sent and received."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from ..errors import ParameterError
from ._enums import Error, Hangup, State

if TYPE_CHECKING:
    from ._channel import UASCallChannel

_DTMF_RE = re.compile(r"^[0-9A-D*#]{1,32}$")
#: RFC 2833 digits: event duration we ask for (ms) and end packets per digit (pjmedia sends
#: the end-bit packet 3 times, one per 20 ms frame).
_DTMF_DURATION_MS = 160
_DTMF_END_PACKETS = 3


class _DTMFPlayer:
    """``channel.DTMFPlayer``: send RFC 2833 digits."""

    def __init__(self, ch: UASCallChannel) -> None:
        self._ch = ch

    def play(self, digits: str) -> bool:
        """Send ``digits`` (``0-9A-D*#``, at most 32) as RFC 2833 events (160 ms each).

        Blocks until every digit's end packets are sent (about 0.22 s per digit).
        """
        if not isinstance(digits, str) or not _DTMF_RE.match(digits):
            raise ParameterError(
                f"The 'digits' parameter of DTMFPlayer.play must be 1 to 32 of '0-9A-D*#'. "
                f"Got {digits!r} instead."
            )
        ctx = self._ch._require_answered("DTMFPlayer.play")
        pj = self._ch._pj
        prm = pj.CallSendDtmfParam()
        prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
        prm.duration = _DTMF_DURATION_MS
        prm.digits = digits
        try:
            sent = self._ch._pj_call(ctx, lambda c: c.sendDtmf(prm) or True)
        except pj.Error as exc:
            from ..sip import pj_error_text

            raise Error(f"DTMFPlayer.play: {pj_error_text(exc)}") from None
        if not sent:
            raise Hangup("DTMFPlayer.play: the far end hung up.")
        # pjmedia sends each digit as RFC 2833 events every 20 ms frame for its duration,
        # then its end packet 3 times, then the next digit: return only once the last
        # digit's end packets are out (plus a frame of the conference clock and the
        # loopback), so that a hang_up() right after play() cannot cut them off.
        time.sleep(len(digits) * (_DTMF_DURATION_MS + 20 * _DTMF_END_PACKETS) / 1000.0 + 0.08)
        return True


class _DTMFDetector:
    """``channel.DTMFDetector``: digits received from the far end (RFC 2833)."""

    def __init__(self, ch: UASCallChannel) -> None:
        self._ch = ch
        self._taken = 0

    def get_digits(self, clear: bool = False, count: int = 0, seconds_predigits_timeout: float = 0,
                   seconds_interdigit_timeout: float = 5, end: str | None = None,
                   seconds_timeout: float | None = None) -> str:
        """Collect digits; returns when ``count`` digits, the ``end`` digit, a timeout or hang-up.

        ``seconds_predigits_timeout=0`` means wait for the first digit until ``seconds_timeout``.
        Digits already buffered count unless ``clear=True``.
        """
        ch = self._ch
        ctx = ch._ctx
        if ctx is None or (ch._state == State.IDLE and not ctx.digits[self._taken:]):
            raise Hangup("DTMFDetector.get_digits: the channel is IDLE.")
        if clear:
            self._taken = len(ctx.digits)
        t0 = time.monotonic()

        def pending() -> str:
            return ctx.digits[self._taken:]

        def finished() -> bool:
            got = pending()
            now = time.monotonic()
            if count and len(got) >= count:
                return True
            if end and end in got:
                return True
            if ctx.ended:
                return True
            if seconds_timeout is not None and now - t0 >= seconds_timeout:
                return True
            if not got:
                return bool(seconds_predigits_timeout) and now - t0 >= seconds_predigits_timeout
            return now - max(ctx.last_digit_t, t0) >= seconds_interdigit_timeout

        ch._wait(finished, None)
        got = pending()
        if count:
            got = got[:count]
        if end and end in got:
            got = got[: got.index(end) + 1]
        self._taken += len(got)
        return got
