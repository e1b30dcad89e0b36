"""The ``app_amd`` backend: a faithful re-implementation of Asterisk's AMD() application.

Users migrating from Asterisk get the verdicts their dialplan gets today, from the same
``amd.conf`` (:meth:`AmdSettings.from_amd_conf`) or the same ``AMD(...)`` arguments
(:meth:`AmdSettings.from_amd_args`); the benchmarks use it as the baseline.

Which Asterisk
--------------
The state machine follows ``isAnsweringMachine()`` in ``apps/app_amd.c`` of Asterisk 14 and
later (read at asterisk/asterisk commit 5bda46030049; the detection loop is the same in
current releases, which only add an optional audio file to play while detecting), and the
silence test of ``__ast_dsp_silence_noise()`` in ``main/dsp.c``. Per received frame:

1. ``iTotalTime += framelength``; if ``iTotalTime >= totalAnalysisTime`` -> NOTSURE/TOOLONG
   (before the frame's audio is looked at).
2. The frame is silent when ``sum(|s|) / len`` (C integer division over the int16 samples)
   is ``< silenceThreshold``. A silent frame adds ``len / 8`` ms to the DSP's run of
   consecutive silence (``totalsilence``); a voiced frame resets that run to 0.
3. Silent frame: ``silenceDuration = run``; if ``run >= betweenWordsSilence`` the state
   becomes "in silence" and the consecutive voice is reset; then, still in the initial
   silence and ``run >= initialSilence`` -> MACHINE/INITIALSILENCE; in the greeting and
   ``run >= afterGreetingSilence`` -> HUMAN/HUMAN.
4. Voiced frame: consecutive and total voice grow by the frame length; a word is counted
   when the consecutive voice reaches ``minimumWordLength`` *coming from the silence
   state* (the state starts "in word", so speech at the very first frame is not counted
   as a word); then, in this order: consecutive voice ``>= maximumWordLength`` ->
   MACHINE/MAXWORDLENGTH; words ``> maximumNumberOfWords`` -> MACHINE/MAXWORDS; in the
   greeting and total voice ``>= greeting`` -> MACHINE/LONGGREETING; finally the first
   time the consecutive voice reaches ``minimumWordLength`` the greeting starts (so the
   LONGGREETING test only applies from the next frame on). The total voice counts every
   voiced frame since the call started, short blips before the greeting included.

Interpretations (where the C code depends on things a pure detector does not have)
----------------------------------------------------------------------------------
- Frames: Asterisk uses whatever frame the channel delivers (20 ms for G.711 at the usual
  ptime). This backend always uses 20 ms frames of 160 samples, built from two 80-sample
  hops of :class:`~lsdlab.detect.base.StreamingDetector`, so the result does not depend on
  how the caller slices the audio. A trailing partial frame at :meth:`end` is not analysed.
- Samples: float input is turned into the int16 values Asterisk would read
  (``round(x * 32768)``, clipped); int16 input is used exactly.
- Time: Asterisk 14+ also gives up (NOTSURE/TOOLONG, or NOAUDIODATA when no audio frame
  came at all) when the *wall clock* passes ``totalAnalysisTime``, and counts the waiting
  time of CNG/NULL frames. On a continuous stream of 20 ms voice frames the audio clock and
  the wall clock agree; here every clock is the sample count, so those branches collapse
  into the audio-time TOOLONG test and NOAUDIODATA cannot happen.
- maximumNumberOfWords: Asterisk 13 and earlier tested ``words >= maximumNumberOfWords``
  with a compiled default of 3; Asterisk 14 changed the test to ``words > ...`` and the
  default (and sample amd.conf) to 2. Both give MACHINE on the 3rd word with defaults.
  This backend follows 14+: **default 2, MACHINE when more words than that**. Users of an
  Asterisk 13 amd.conf should subtract 1 from ``maximum_number_of_words``.
- Verdict timing: every decision is made at the end of the 20 ms frame that triggered it,
  so ``decided_at_s`` is a multiple of 0.02 s. ``AMDSTATUS``/``AMDCAUSE`` are kept as
  :attr:`AppAmdDetector.amd_status` / :attr:`AppAmdDetector.amd_cause` (same strings as
  Asterisk, e.g. ``"MAXWORDS-3-2"``).
- Confidence: app_amd has none. Rule decisions (MACHINE, HUMAN) report 1.0; NOTSURE and
  HANGUP report 0.0.
- HANGUP: :meth:`end` before a decision gives FarEndType.UNKNOWN / Reason.HANGUP
  (``AMDSTATUS=HANGUP``, empty cause).

Mapping: MACHINE -> ANSWER_MACHINE, HUMAN -> LIVE, NOTSURE and HANGUP -> UNKNOWN; causes map
to the ``Reason.AMD_*`` members.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields
from dataclasses import replace as _dc_replace
from typing import Any, ClassVar

import numpy as np

from .._validation import check_int_range
from ..errors import ParameterError, SettingsError
from .amdconf import format_amd_conf, parse_amd_args, parse_amd_conf
from .base import HOP, StreamingDetector
from .readiness import CompanionReadiness
from .types import Event, FarEndType, GreetingEnd, Reason, SpeechOnset

__all__ = ["AmdSettings", "AppAmdDetector", "FRAME_MS", "FRAME_SAMPLES"]

logger = logging.getLogger(__name__)

#: Asterisk frame used by this backend: 20 ms = 160 samples at 8 kHz.
FRAME_SAMPLES = 2 * HOP
FRAME_MS = FRAME_SAMPLES // 8  # Asterisk's framelength: samples / DEFAULT_SAMPLES_PER_MS

_MS_MAX = 60_000
#: field -> (low, high) accepted by AmdSettings.
_RANGES: dict[str, tuple[int, int]] = {
    "initial_silence_ms": (1, _MS_MAX),
    "greeting_ms": (1, _MS_MAX),
    "after_greeting_silence_ms": (1, _MS_MAX),
    "total_analysis_time_ms": (1, _MS_MAX),
    "minimum_word_length_ms": (1, _MS_MAX),
    "between_words_silence_ms": (1, _MS_MAX),
    "maximum_number_of_words": (0, 1000),
    "silence_threshold": (0, 32767),
    "maximum_word_length_ms": (1, _MS_MAX),
}


@dataclass(frozen=True)
class AmdSettings:
    """The nine parameters of Asterisk's AMD(), in lsdlab units.

    Defaults are Asterisk 14+'s compiled defaults (equal to its sample amd.conf).

    Parameters
    ----------
    initial_silence_ms : int
        Silence before the greeting that makes a MACHINE (``initial_silence``).
    greeting_ms : int
        Voice in the greeting that makes a MACHINE (``greeting``).
    after_greeting_silence_ms : int
        Silence after the greeting that makes a HUMAN (``after_greeting_silence``).
    total_analysis_time_ms : int
        Audio time after which the answer is NOTSURE (``total_analysis_time``).
    minimum_word_length_ms : int
        Consecutive voice that counts as a word (``min_word_length``).
    between_words_silence_ms : int
        Silence that ends a word (``between_words_silence``).
    maximum_number_of_words : int
        More words than this make a MACHINE (``maximum_number_of_words``; Asterisk 14+
        meaning, see the module docstring).
    silence_threshold : int
        A frame whose mean absolute int16 sample is below this is silent (0-32767).
    maximum_word_length_ms : int
        Consecutive voice that makes a MACHINE (``maximum_word_length``).
    """

    backend: ClassVar[str] = "app_amd"

    initial_silence_ms: int = 2500
    greeting_ms: int = 1500
    after_greeting_silence_ms: int = 800
    total_analysis_time_ms: int = 5000
    minimum_word_length_ms: int = 100
    between_words_silence_ms: int = 50
    maximum_number_of_words: int = 2
    silence_threshold: int = 256
    maximum_word_length_ms: int = 5000

    def __post_init__(self) -> None:
        for name, (low, high) in _RANGES.items():
            object.__setattr__(
                self, name, check_int_range(getattr(self, name), name, "AmdSettings", low, high)
            )

    @property
    def timeout_ms(self) -> int:
        """Audio time by which a verdict is certain: total_analysis_time_ms, rounded up to
        a whole 20 ms frame (equal to it for the default 5000)."""
        return FRAME_MS * math.ceil(self.total_analysis_time_ms / FRAME_MS)

    # -- dict / JSON -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict: ``{"backend": "app_amd", <field>: value, ...}``
        (the same layout as the default backend's settings, see lsdlab.detect.settings)."""
        return {"backend": self.backend, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AmdSettings:
        """Build settings from a dict; missing keys take the defaults.

        ``"backend"`` may be present and must then be ``"app_amd"``; any other unknown key,
        or a value out of range, raises :class:`SettingsError` naming it.
        """
        if not isinstance(d, dict):
            raise SettingsError(
                f"AmdSettings.from_dict expects a dict of settings, got {type(d).__name__}."
            )
        d = dict(d)
        backend = d.pop("backend", cls.backend)
        if backend != cls.backend:
            raise SettingsError(
                f"detector.backend is {backend!r}, expected {cls.backend!r} for AmdSettings."
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise SettingsError(
                f"unknown AmdSettings key(s) {', '.join(map(repr, unknown))}; the keys are "
                f"{', '.join(sorted(known))}."
            )
        try:
            return cls(**d)
        except ParameterError as exc:
            raise SettingsError(str(exc)) from None

    def with_call(self, timeout_ms: int | None = None, timer_mode: Any = None) -> AmdSettings:
        """These settings with a call's LSD timeout applied (None: keep this setting's own).

        ``timeout_ms`` becomes ``total_analysis_time_ms`` (AMD()'s whole analysis window);
        ``timer_mode`` is accepted for the common signature and ignored: AMD() always starts
        its clock at the answer.
        """
        if timeout_ms is None:
            return self
        from .settings import check_timeout_ms

        check_timeout_ms(timeout_ms, "start_call", "lsd_timeout_milliseconds")
        return _dc_replace(self, total_analysis_time_ms=int(timeout_ms))

    # -- Asterisk formats -------------------------------------------------------------
    def to_amd_conf(self) -> str:
        """An Asterisk amd.conf ``[general]`` section with these values."""
        return format_amd_conf(
            asdict(self),
            header="Answering Machine Detection Configuration\n"
            "written by lsdlab (backend app_amd, Asterisk 14+ semantics)",
        )

    @classmethod
    def from_amd_conf(cls, text: str, *, source: str = "amd.conf") -> AmdSettings:
        """Parse the text of an Asterisk amd.conf; keys it omits keep Asterisk's defaults.

        Raises :class:`SettingsError` naming the key and line of an unknown key, a
        non-integer value or a value out of range.
        """
        parsed = parse_amd_conf(text, source=source)
        return cls._from_parsed(parsed, lambda n: f"{source} line {n}", cls.conf_key)

    def to_amd_args(self) -> str:
        """The equivalent ``AMD(...)`` dialplan arguments (all nine, in Asterisk's order)."""
        from .amdconf import ARG_ORDER

        return ",".join(str(getattr(self, f)) for f in ARG_ORDER)

    @classmethod
    def from_amd_args(cls, data: str, *, base: AmdSettings | None = None) -> AmdSettings:
        """Apply ``AMD(...)`` arguments (e.g. ``"2500,1500,800"``) over ``base``
        (default: Asterisk's defaults), as the application does over amd.conf."""
        parsed = parse_amd_args(data)
        start = base if base is not None else cls()
        return cls._from_parsed(parsed, lambda i: f"AMD() argument {i}", lambda f: f, start=start)

    @staticmethod
    def conf_key(field: str) -> str:
        """The amd.conf key of a field (``"initial_silence_ms"`` -> ``"initial_silence"``)."""
        from .amdconf import CONF_KEYS

        return next(k for k, v in CONF_KEYS.items() if v == field)

    @classmethod
    def _from_parsed(cls, parsed, where, keyname, *, start: AmdSettings | None = None):
        values = asdict(start or cls())
        for field, (value, pos) in parsed.items():
            low, high = _RANGES[field]
            if not low <= value <= high:
                raise SettingsError(
                    f"{where(pos)}: {keyname(field)} = {value} is out of range; it must be an "
                    f"integer in [{low}, {high}]."
                )
            values[field] = value
        return cls(**values)


_STATUS_TYPE = {
    "MACHINE": FarEndType.ANSWER_MACHINE,
    "HUMAN": FarEndType.LIVE,
    "NOTSURE": FarEndType.UNKNOWN,
}
_CAUSE_REASON = {
    "INITIALSILENCE": Reason.AMD_INITIAL_SILENCE,
    "HUMAN": Reason.AMD_HUMAN,
    "LONGGREETING": Reason.AMD_LONG_GREETING,
    "MAXWORDS": Reason.AMD_MAX_WORDS,
    "MAXWORDLENGTH": Reason.AMD_MAX_WORD_LENGTH,
    "TOOLONG": Reason.AMD_TOO_LONG,
}


class AppAmdDetector(CompanionReadiness, StreamingDetector):
    """Asterisk's AMD() as a streaming lsdlab detector.

    Parameters
    ----------
    settings : AmdSettings, optional
        The AMD parameters (default: Asterisk's defaults).

    Notes
    -----
    ``push`` accepts audio of any length; analysis runs on 20 ms frames. After the verdict
    the detector keeps accepting audio and raises nothing more. See the module docstring
    for the exact rules and where they were interpreted.

    Examples
    --------
    >>> import numpy as np
    >>> det = AppAmdDetector()
    >>> _ = det.push(np.zeros(8000 * 3, dtype=np.int16))  # 3 s of dead air
    >>> det.verdict.far_end_type.value, det.verdict.reason.value, det.verdict.decided_at_s
    ('ANSWER_MACHINE', 'AMD_INITIAL_SILENCE', 2.5)
    >>> det.amd_status, det.amd_cause
    ('MACHINE', 'INITIALSILENCE-2500-2500')
    """

    backend: ClassVar[str] = "app_amd"

    def __init__(self, settings: AmdSettings | None = None) -> None:
        super().__init__()
        if settings is None:
            settings = AmdSettings()
        if not isinstance(settings, AmdSettings):
            raise ParameterError(
                f"The 'settings' parameter of AppAmdDetector must be an AmdSettings or None. "
                f"Got {type(settings).__name__} instead; build one with AmdSettings(...) or "
                f"AmdSettings.from_amd_conf(text)."
            )
        self.settings = settings
        #: Asterisk's AMDSTATUS / AMDCAUSE once decided (e.g. "MACHINE", "MAXWORDS-3-2").
        self.amd_status: str | None = None
        self.amd_cause: str | None = None
        self._half_sum: int | None = None  # sum |s| of the first hop of the current frame
        # isAnsweringMachine() locals
        self._in_initial_silence = True
        self._in_greeting = False
        self._voice_ms = 0
        self._silence_ms = 0
        self._total_ms = 0
        self._words = 0
        self._in_silence_state = False  # currentState == STATE_IN_SILENCE (starts IN_WORD)
        self._consecutive_voice_ms = 0
        self._dsp_total_silence_ms = 0  # ast_dsp's totalsilence

    @property
    def timeout_ms(self) -> int:
        """Audio time (ms) by which the verdict is certain (see AmdSettings.timeout_ms)."""
        return self.settings.timeout_ms

    # -- StreamingDetector hooks ---------------------------------------------------------
    def _hop(self, x: np.ndarray) -> list[Event]:
        if self.verdict is not None:
            return []
        s = np.rint(x.astype(np.float64) * 32768.0)
        np.clip(s, -32768.0, 32767.0, out=s)
        hop_sum = int(np.abs(s).sum())
        if self._half_sum is None:
            self._half_sum = hop_sum
            return []
        frame_sum = self._half_sum + hop_sum
        self._half_sum = None
        end_s = (self.n_hops + 1) * HOP / self.sr
        return self._frame(frame_sum, end_s)

    def _on_end(self) -> list[Event]:
        if self.verdict is None:
            self.amd_status, self.amd_cause = "HANGUP", ""
        return []

    # -- the app_amd loop body, one frame ------------------------------------------------
    def _frame(self, abs_sum: int, end_s: float) -> list[Event]:
        st = self.settings
        framelength = FRAME_MS
        self._total_ms += framelength
        if self._total_ms >= st.total_analysis_time_ms:
            return [self._amd("NOTSURE", "TOOLONG", f"TOOLONG-{self._total_ms}", end_s)]

        # ast_dsp_silence(): mean |s| (integer division) below the threshold is silence
        if abs_sum // FRAME_SAMPLES < st.silence_threshold:
            self._dsp_total_silence_ms += FRAME_SAMPLES // 8
            dspsilence = self._dsp_total_silence_ms
        else:
            self._dsp_total_silence_ms = 0
            dspsilence = 0

        if dspsilence > 0:
            self._silence_ms = dspsilence
            if self._silence_ms >= st.between_words_silence_ms:
                self._in_silence_state = True
                self._consecutive_voice_ms = 0
            if self._in_initial_silence and self._silence_ms >= st.initial_silence_ms:
                cause = f"INITIALSILENCE-{self._silence_ms}-{st.initial_silence_ms}"
                return [self._amd("MACHINE", "INITIALSILENCE", cause, end_s)]
            if self._silence_ms >= st.after_greeting_silence_ms and self._in_greeting:
                cause = f"HUMAN-{self._silence_ms}-{st.after_greeting_silence_ms}"
                greeting_end = GreetingEnd(at_s=round(end_s - self._silence_ms / 1000, 6))
                return [greeting_end, self._amd("HUMAN", "HUMAN", cause, end_s)]
            return []

        out: list[Event] = []
        self._consecutive_voice_ms += framelength
        self._voice_ms += framelength
        if self._consecutive_voice_ms >= st.minimum_word_length_ms and self._in_silence_state:
            self._words += 1
            logger.debug("app_amd: word %d detected at %.2f s", self._words, end_s)
            self._in_silence_state = False
        if self._consecutive_voice_ms >= st.maximum_word_length_ms:
            cause = f"MAXWORDLENGTH-{self._consecutive_voice_ms}"
            return [self._amd("MACHINE", "MAXWORDLENGTH", cause, end_s)]
        if self._words > st.maximum_number_of_words:
            cause = f"MAXWORDS-{self._words}-{st.maximum_number_of_words}"
            return [self._amd("MACHINE", "MAXWORDS", cause, end_s)]
        if self._in_greeting and self._voice_ms >= st.greeting_ms:
            cause = f"LONGGREETING-{self._voice_ms}-{st.greeting_ms}"
            return [self._amd("MACHINE", "LONGGREETING", cause, end_s)]
        if self._voice_ms >= st.minimum_word_length_ms:
            self._silence_ms = 0
        if self._consecutive_voice_ms >= st.minimum_word_length_ms and not self._in_greeting:
            self._in_initial_silence = False
            self._in_greeting = True
            onset = round(end_s - self._consecutive_voice_ms / 1000, 6)
            out.append(SpeechOnset(at_s=onset))
        return out

    def _amd(self, status: str, cause_name: str, cause: str, end_s: float):
        self.amd_status, self.amd_cause = status, cause
        logger.debug("app_amd: AMDSTATUS=%s AMDCAUSE=%s at %.2f s", status, cause, end_s)
        confidence = 0.0 if status == "NOTSURE" else 1.0
        return self._decide(_STATUS_TYPE[status], _CAUSE_REASON[cause_name], confidence, at_s=end_s)
