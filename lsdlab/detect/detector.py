"""The default streaming live-speaker detector.

Per 10 ms hop: an adaptive noise floor (minimum statistics over 1.6 s), speech activity
(level above the floor by ``vad_margin_db`` and voiced; a clearly voiced hop that continues
a burst needs 5 dB less; or, with ``vad='silero'``, Silero VAD: see .vad), tone tracking (fax CNG/CED, V.21,
beeps, SIT, ringback), speech cadence, and every 50 ms after the first speech the cadence
model's P(machine). Decisions follow fixed rules over those quantities, so a call's
:class:`CallTrace` (threshold-free) can be replayed under other thresholds and timeouts with
exactly the verdict the streaming detector would give (used by the tuner).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..audio.io import SR
from .analysis import HopAnalyzer
from .base import HOP, StreamingDetector
from .features import FEATURE_NAMES, SILENCE_INDEX, SPEECH_INDEX, CadenceTracker
from .model import default_model
from .settings import DetectorSettings
from .types import (
    AnswerDetected,
    Beep,
    Event,
    FarEndType,
    GreetingEnd,
    MachineReady,
    Reason,
    SpeechOnset,
    TimerMode,
    Tone,
    Verdict,
)
from .vad import SileroVad

if TYPE_CHECKING:
    from .model import CadenceClassifier

__all__ = ["LiveSpeakerDetector", "CallTrace", "GRID_HOPS"]

HOP_S = HOP / SR
#: The model is evaluated every GRID_HOPS hops (50 ms) from the speech onset.
GRID_HOPS = 5
_FLOOR_BLOCK = 16
_FLOOR_BLOCKS = 10
_INIT_FLOOR_DB = -50.0
#: Until the 1.6 s window has filled, the floor is capped at _INIT_FLOOR_DB: a tone or speech
#: may start at connect, before any pause showed the line's noise. Tones keep that cap for
#: the whole window (a tone is recognised by its purity, which noise lacks). Speech keeps it
#: only for this many hops, then the minimum so far is its floor: speech is recognised by
#: voicing, which loud low-frequency line noise imitates, and with the 1.6 s cap such noise
#: became a speech onset before anyone spoke (a fax or a person then called LIVE or machine).
#: 100 ms is shorter than the 0.1 s a burst needs to count as the onset.
_INIT_FLOOR_HOPS = 10
_MIN_SPEECH_DB = -60.0
_VOICED = 0.5
#: Once speech has been heard, a hop that is clearly voiced (_WEAK_VOICED) counts as speech
#: at a margin over the floor this much smaller than ``vad_margin_db`` (not below 2 dB). On a
#: line with speech less than 10 dB above the noise, quiet voiced syllables sit 4-9 dB above
#: the floor; without this they sank into it, a greeting looked like short bursts with long
#: pauses and was called LIVE. Such a hop only continues a burst (CadenceTracker.continues),
#: never starts one: loud low-frequency line noise looks voiced too, and on its own it would
#: keep a person's turn from ending.
_WEAK_RELIEF_DB = 5.0
_WEAK_VOICED = 0.6
_TONE_PURITY = 0.85
_TONE_MARGIN_DB = 12.0
_RINGBACK_HOPS = 20
_RING_OFF_MAX_S = 4.5
_STATIONARY = 0.995  # spectral similarity over 40 ms above which a hop is a steady tone
_STAT_RUN = 3  # ... for this many hops in a row (speech almost never)
#: A beep follows the greeting; it does not grow out of a word. At most this many hops of
#: speech may run straight into a tone segment for it to be a beep (a beep's ramp can count as
#: speech). A flat-pitched vowel ("do" in "what can I do for you?", TTS at F0 215 Hz) whose
#: second harmonic held 97% of the energy for 120 ms was taken as a beep mid-sentence.
_BEEP_LEAD_HOPS = 4
#: A hop more than this far below the loudest speech heard on the call is not speech. A real
#: line's noise (phone-speech: -64 to -56 dBFS, voicing 0.4-0.7, after speech at -25 to -5) swung
#: above floor + vad_margin_db and made bursts in the silence after a person's turn, which
#: counted as speech and ended 3 of 164 people as machines 2-3 s into their silence. Speech
#: within one call spans far less than this (a greeting's quietest syllables are 25-30 dB down).
_BELOW_PEAK_DB = 40.0
_SIT_FREQS = ((913.8, 985.2), (1370.6, 1428.5), (1776.7,))
#: "No events", returned by per-hop helpers on their fast path (a tuple: it cannot be changed).
_NO_EVENTS: tuple[Event, ...] = ()


class CallTrace:
    """Threshold-free record of one call, enough to replay any thresholds/timeout exactly.

    At each model evaluation: ``hops`` (int32), ``p_machine`` and the cadence features ``X``
    (one row per evaluation; ``silence_s`` is its silence column). Both stay float64: replays
    compare them with thresholds exactly as the streaming detector does, and float32 features
    moved 14 of 89 P(machine) values of a demo greeting by up to 0.055 (the trees split at
    values float32 rounds across). ``points`` and ``features`` give
    the same as lists ((hop, p_machine, silence_run_s) tuples; feature rows), built on access.
    ``tone``: the first tone decision (hop, FarEndType, Reason, confidence) or None;
    ``onset_hop``/``answer_hop``: first speech and detected pick-up (hop indices, None if
    absent); ``n_hops``: audio length.

    Stored as arrays, a call's trace takes 92 bytes per evaluation (as tuples and lists of Python
    objects it took about 500).
    """

    __slots__ = ("_hops", "_p", "_X", "_buf", "tone", "onset_hop", "onset_known_hop", "ring_hop",
                 "answer_hop", "answer_known_hop", "n_hops", "ended")

    def __init__(self, points=None, features=None, tone: tuple[int, FarEndType, Reason, float] | None = None,
                 onset_hop: int | None = None, onset_known_hop: int | None = None, ring_hop: int | None = None,
                 answer_hop: int = 0, answer_known_hop: int | None = None, n_hops: int = 0, ended: bool = False) -> None:
        pts = list(points or [])
        feats = features if features is not None else []
        self._hops = np.array([int(h) for h, _, _ in pts], dtype=np.int32)
        self._p = np.array([float(q) for _, q, _ in pts], dtype=np.float64)
        self._X = (np.asarray(feats, dtype=np.float64).reshape(len(pts), -1) if len(pts)
                   else np.zeros((0, len(FEATURE_NAMES)), np.float64))
        if len(self._X) != len(pts):
            raise ValueError(f"CallTrace needs one feature row per point: got {len(self._X)} rows for {len(pts)} points.")
        sil = np.array([float(v) for _, _, v in pts], dtype=np.float64)
        if len(pts) and not np.array_equal(self._X[:, SILENCE_INDEX], sil, equal_nan=True):
            raise ValueError("CallTrace points' silence_run_s must equal the silence feature of their rows.")
        self._buf: list | None = None
        self.tone = tone
        self.onset_hop = onset_hop
        self.onset_known_hop = onset_known_hop
        self.ring_hop = ring_hop
        self.answer_hop = answer_hop
        self.answer_known_hop = answer_known_hop
        self.n_hops = n_hops
        self.ended = ended

    # -- storage ----------------------------------------------------------------------
    def add_point(self, hop: int, p: float, x) -> None:
        """Record one model evaluation (the streaming detector calls this)."""
        if self._buf is None:
            self._buf = []
        self._buf.append((hop, p, x))

    def _pack(self) -> None:
        buf, self._buf = self._buf, None
        if not buf:
            return
        X = np.asarray([b[2] for b in buf], dtype=np.float64)
        self._hops = np.concatenate([self._hops, np.fromiter((b[0] for b in buf), np.int32, len(buf))])
        self._p = np.concatenate([self._p, np.fromiter((b[1] for b in buf), np.float64, len(buf))])
        self._X = X if len(self._X) == 0 else np.concatenate([self._X, X])

    @property
    def hops(self) -> np.ndarray:
        if self._buf:
            self._pack()
        return self._hops

    @property
    def p_machine(self) -> np.ndarray:
        if self._buf:
            self._pack()
        return self._p

    @property
    def silence_s(self) -> np.ndarray:
        """The silence run (s) at each evaluation: the silence column of ``X`` (a view)."""
        return self.X[:, SILENCE_INDEX]

    @property
    def X(self) -> np.ndarray:
        if self._buf:
            self._pack()
        return self._X

    @property
    def points(self) -> list[tuple[int, float, float]]:
        """(hop, p_machine, silence_run_s) per model evaluation (a new list on each access)."""
        return list(zip(self.hops.tolist(), self.p_machine.tolist(), self.silence_s.tolist()))

    @property
    def features(self) -> list[list[float]]:
        """The cadence features per model evaluation (a new list on each access)."""
        return self.X.tolist()

    @property
    def nbytes(self) -> int:
        """Bytes held by the trace's arrays."""
        return int(self.hops.nbytes + self._p.nbytes + self._X.nbytes)

    def __len__(self) -> int:
        return len(self.hops)

    def __getstate__(self):
        self._pack()
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def __eq__(self, other) -> bool:
        if not isinstance(other, CallTrace):
            return NotImplemented
        scalars = ("tone", "onset_hop", "onset_known_hop", "ring_hop", "answer_hop", "answer_known_hop", "n_hops", "ended")
        return (all(getattr(self, k) == getattr(other, k) for k in scalars) and np.array_equal(self.hops, other.hops)
                and np.array_equal(self.p_machine, other.p_machine) and np.array_equal(self.silence_s, other.silence_s)
                and self.X.shape == other.X.shape and np.array_equal(self.X, other.X))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"CallTrace({len(self)} points, tone={self.tone!r}, onset_hop={self.onset_hop}, "
                f"answer_hop={self.answer_hop}, n_hops={self.n_hops}, ended={self.ended})")

    # -- plain data (caches: never pickle) --------------------------------------------------
    _SCALARS = ("onset_hop", "onset_known_hop", "ring_hop", "answer_hop", "answer_known_hop", "n_hops")

    def to_dict(self) -> dict:
        """JSON-ready (for caches: plain data, never pickle)."""
        return {
            "points": [list(p) for p in self.points],
            "features": self.features,
            "tone": None if self.tone is None else [self.tone[0], self.tone[1].value, self.tone[2].value, self.tone[3]],
            "onset_hop": self.onset_hop, "onset_known_hop": self.onset_known_hop, "ring_hop": self.ring_hop,
            "answer_hop": self.answer_hop, "answer_known_hop": self.answer_known_hop,
            "n_hops": self.n_hops, "ended": self.ended,
        }

    @classmethod
    def from_dict(cls, d: dict) -> CallTrace:
        tone = d["tone"]
        return cls(
            points=[(int(h), float(p), float(sil)) for h, p, sil in d["points"]],
            features=[[float(v) for v in x] for x in d["features"]],
            tone=None if tone is None else (int(tone[0]), FarEndType(tone[1]), Reason(tone[2]), float(tone[3])),
            onset_hop=d["onset_hop"], onset_known_hop=d["onset_known_hop"], ring_hop=d["ring_hop"],
            answer_hop=int(d["answer_hop"]), answer_known_hop=d["answer_known_hop"],
            n_hops=int(d["n_hops"]), ended=bool(d["ended"]),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Numeric arrays only (for ``np.savez``; read back with :meth:`from_arrays`)."""
        meta = [-1 if getattr(self, k) is None else int(getattr(self, k)) for k in self._SCALARS]
        t = self.tone
        return {
            "hops": self.hops, "p_machine": self.p_machine, "X": self.X,
            "meta": np.array(meta + [int(self.ended)], dtype=np.int64),
            "tone": np.array([] if t is None else [t[0], float(t[3])], dtype=np.float64),
            "tone_kind": np.array("" if t is None else f"{t[1].value}|{t[2].value}"),
        }

    @classmethod
    def from_arrays(cls, a) -> CallTrace:
        t = cls()
        t._hops = np.asarray(a["hops"], dtype=np.int32)
        t._p = np.asarray(a["p_machine"], dtype=np.float64)
        t._X = np.asarray(a["X"], dtype=np.float64)
        n = len(t._hops)
        if not (len(t._p) == n and t._X.shape == (n, len(FEATURE_NAMES))):
            raise ValueError("trace arrays of different lengths")
        meta = [int(v) for v in a["meta"]]
        for k, v in zip(cls._SCALARS, meta):
            setattr(t, k, None if v == -1 and k != "answer_hop" else v)
        t.ended = bool(meta[len(cls._SCALARS)])
        tone, kind = a["tone"], str(a["tone_kind"])
        if kind:
            fet, reason = kind.split("|")
            t.tone = (int(tone[0]), FarEndType(fet), Reason(reason), float(tone[1]))
        return t

    # -- replay ---------------------------------------------------------------------------
    def with_model(self, model: CadenceClassifier) -> CallTrace:
        """The same trace with P(machine) recomputed by another model (no audio needed)."""
        import copy

        out = copy.copy(self)
        out._p = np.array([model.machine_proba(x) for x in self.X], dtype=np.float64)
        return out

    def __copy__(self) -> CallTrace:
        self._pack()
        out = CallTrace.__new__(CallTrace)
        for k in self.__slots__:
            setattr(out, k, getattr(self, k))
        return out

    def _last_point(self, hop: int) -> tuple[float, float, float] | None:
        """(P(machine), silence run, speech so far) of the last model evaluation at or before ``hop``."""
        i = int(np.searchsorted(self.hops, hop, side="right")) - 1
        if i < 0:
            return None
        return float(self._p[i]), float(self._X[i, SILENCE_INDEX]), float(self._X[i, SPEECH_INDEX])

    def replay(self, s: DetectorSettings) -> Verdict:
        """The verdict the streaming detector gives with settings ``s`` (same features)."""
        cands: list[tuple[int, int, FarEndType, Reason, float]] = []
        if self.tone is not None:
            h, fet, reason, conf = self.tone
            cands.append((h, 0, fet, reason, conf))
        p = self.p_machine
        if len(p):
            # the first evaluation where a rule fires (float64 arithmetic, as the streaming loop);
            # a machine needs min_machine_speech_ms of speech, else the LIVE rule may still fire
            machine, live = _model_rules(s, p, self._X[:, SILENCE_INDEX], self._X[:, SPEECH_INDEX])
            hit = machine | live
            i = int(hit.argmax())
            if hit[i]:
                h, pi = int(self._hops[i]), float(p[i])
                if machine[i]:
                    cands.append((h, 1, FarEndType.ANSWER_MACHINE, Reason.MODEL, pi))
                else:
                    cands.append((h, 1, FarEndType.LIVE, Reason.SHORT_GREETING, 1.0 - pi))
        pending = self.ring_hop is not None and self.answer_known_hop is None
        dh, ih = _timers(s, self.ring_hop, self.answer_hop, self.answer_known_hop, pending)
        if ih is not None and (self.onset_known_hop is None or self.onset_known_hop > ih):
            fet = FarEndType.ANSWER_MACHINE if s.initial_silence_result == "machine" else FarEndType.UNKNOWN
            cands.append((ih, 2, fet, Reason.INITIAL_SILENCE, 0.5))
        if dh is not None:
            speech = self.onset_known_hop is not None and self.onset_known_hop <= dh
            cands.append((dh, 3, *_timeout_verdict(s, self._last_point(dh), speech)))
        if s.speech_deadline_ms is not None and self.onset_hop is not None and self.onset_known_hop is not None:
            sh = max(self.onset_hop + _ceil_hops(s.speech_deadline_ms) - 1, self.onset_known_hop)
            cands.append((sh, 3, *_timeout_verdict(s, self._last_point(sh), True)))
        cands.sort(key=lambda c: (c[0], c[1]))
        if not cands or cands[0][0] >= self.n_hops:
            return Verdict(at_s=round(self.n_hops * HOP_S, 6), far_end_type=FarEndType.UNKNOWN, reason=Reason.HANGUP, confidence=0.0)
        h, _, fet, reason, conf = cands[0]
        return Verdict(at_s=round((h + 1) * HOP_S, 6), far_end_type=fet, reason=reason, confidence=float(min(max(conf, 0.0), 1.0)))


def _ceil_hops(ms: int) -> int:
    return -(-int(ms) * SR // (1000 * HOP))


def _timers(s: DetectorSettings, ring_hop: int | None, answer_hop: int, answer_known_hop: int | None,
            pending: bool) -> tuple[int | None, int | None]:
    """(timeout hop, initial-silence hop) given what is known of the pick-up; None = not yet.

    The timeout counts from connect, or (TIMEOUT_FROM_ANSWER_DETECT) from the detected pick-up
    after in-band ringback; while ringback plays the pick-up is pending. A timer that expired
    before any ringback was heard has fired already.
    """
    t_from0 = _ceil_hops(s.timeout_ms) - 1
    i_from0 = None if s.initial_silence_ms is None else _ceil_hops(s.initial_silence_ms) - 1
    if ring_hop is None:
        return t_from0, i_from0
    if s.timer_mode is TimerMode.TIMEOUT_FROM_ANSWER_DETECT:
        if t_from0 < ring_hop:
            dh: int | None = t_from0
        elif pending or answer_known_hop is None:
            dh = None
        else:
            dh = max(answer_hop + t_from0, answer_known_hop)
    else:
        dh = t_from0
    if i_from0 is None:
        ih = None
    elif i_from0 < ring_hop:
        ih = i_from0
    elif pending or answer_known_hop is None:
        ih = None
    else:
        ih = max(answer_hop + i_from0, answer_known_hop)
    return dh, ih


def _floor_of(blocks: list[float]) -> float:
    """The noise floor from the blocks' minima: the second lowest once there are three blocks.
    A line's noise swings by 5-10 dB; one block that caught an unusually quiet stretch set the
    floor so low that the line's own noise counted as speech (real-dev phone-speech)."""
    if len(blocks) < 3:
        return min(blocks)
    lo1 = lo2 = 1e9
    for v in blocks:
        if v < lo1:
            lo1, lo2 = v, lo1
        elif v < lo2:
            lo2 = v
    return lo2


#: A beep's level (ramps excluded) stays within this range. A real speaker's held vowel
#: (phone-speech, a 437 Hz /o/ of purity 0.99 for 130 ms after a 30 ms consonant) swung 6 dB
#: and ended a person's call as a machine at 7 dB; every demo beep found at 7 dB is found at 5.
_BEEP_LEVEL_RANGE_DB = 5.0


def _steady(seg: list) -> bool:
    """A beep is one steady tone: nearly every hop of the segment holds it (FSK does not), its
    level stays within _BEEP_LEVEL_RANGE_DB and its frequency within 1.5% (a sung or nasal vowel glides), and
    it does not continue a word (_BEEP_LEAD_HOPS)."""
    return (seg[3] >= 0.9 * (seg[1] - seg[0] + 1) and seg[6] - seg[5] <= _BEEP_LEVEL_RANGE_DB
            and seg[8] - seg[7] <= max(0.015 * seg[2], 8.0) and seg[9] <= _BEEP_LEAD_HOPS)


def _model_rules(s: DetectorSettings, p, silence, speech):
    """The model's two decision rules at an evaluation, for scalars (the streaming detector)
    or arrays (:meth:`CallTrace.replay`): ``(machine, live)``. A machine verdict needs
    ``machine_threshold`` and ``min_machine_speech_ms`` of speech; LIVE needs the end of a
    turn (``end_of_turn_silence_ms``) and ``human_threshold``; machine is tested first."""
    machine = (p >= s.machine_threshold) & (speech >= s.min_machine_speech_ms / 1000.0 - 1e-9)
    live = (silence >= s.end_of_turn_silence_ms / 1000.0 - 1e-9) & (1.0 - p >= s.human_threshold)
    return machine, live


def _timeout_verdict(s: DetectorSettings, last: tuple[float, float, float] | None, speech: bool):
    """The verdict when a timer expires; ``last``: (P(machine), silence run, speech so far) of the
    last model evaluation. ANSWER_MACHINE only while the far end is still talking (its silence run
    shorter than the end of a turn) after ``min_machine_speech_ms`` of speech: a speaker who
    stopped and waits is never called a machine for it."""
    if not speech:
        fet = FarEndType.ANSWER_MACHINE if (s.initial_silence_result == "machine" and s.initial_silence_ms is not None) else FarEndType.UNKNOWN
        return fet, Reason.INITIAL_SILENCE, 0.0
    if (last is not None and last[0] >= s.timeout_machine_threshold
            and last[1] < s.end_of_turn_silence_ms / 1000.0 - 1e-9
            and last[2] >= s.min_machine_speech_ms / 1000.0 - 1e-9):
        return FarEndType.ANSWER_MACHINE, Reason.TIMEOUT, last[0]
    return FarEndType.UNKNOWN, Reason.TIMEOUT, 0.0


class LiveSpeakerDetector(StreamingDetector):
    """The default backend. ``det = LiveSpeakerDetector(settings); det.push(frame)``.

    Push the far end's audio from connect (8 kHz mono, any frame length: the verdict does not
    depend on it) and read the events each push returns, or ``det.verdict`` once set. It is
    sample-clocked: every time it reports is audio time, never the wall clock.

    Parameters
    ----------
    settings : DetectorSettings, optional
        Thresholds, timers, the model reference and the speech-activity front end; None: the
        defaults (``DetectorSettings()``).
    model : CadenceClassifier, optional
        Overrides ``settings.model`` (used in training and tests).
    trace : bool
        Record a :class:`CallTrace` and never decide (``self.trace``); for tuning and training.
    readiness_only : bool
        Only listen for beeps and silence (``arm_machine_ready``) in audio that starts after
        the greeting began: no verdict, no model; used by backends without tone tracking.

    Raises
    ------
    ParameterError
        Settings of another backend or out of range (the message names the field).
    ModelError
        A model reference that cannot be loaded or whose sha256 does not match.

    See Also
    --------
    lsdlab.detect.classify : a whole clip at once (the offline path, the same verdict).
    lsdlab.detect.offline.run_offline : the whole-file path this detector's streaming equals.
    """

    def __init__(self, settings: DetectorSettings | None = None, *, model: CadenceClassifier | None = None,
                 trace: bool = False, readiness_only: bool = False) -> None:
        super().__init__()
        self.settings = s = settings if settings is not None else DetectorSettings()
        if not isinstance(s, DetectorSettings):
            from ..errors import ParameterError

            raise ParameterError(f"The 'settings' parameter of LiveSpeakerDetector must be a DetectorSettings. Got {type(s).__name__} instead; use make_detector() for other backends.")
        self.trace: CallTrace | None = CallTrace() if trace else None
        self._readiness_only = readiness_only
        if model is None and (trace or readiness_only) and s.model == "none":
            self.model = None  # features only (training), or no decisions at all
        else:
            self.model = model if model is not None else default_model(s.model)
        self._an = HopAnalyzer()
        self._cad = CadenceTracker(HOP_S)
        self._blocks: list[float] = []  # the minimum level of each of the last blocks
        self._blocks_min = 1e9  # min(self._blocks), 1e9 while empty
        self._block_min = 1e9
        self._block_n = 0
        # tones
        self._seg: list | None = None  # see _track_tone
        self._seg_prev_level = 0.0
        self._stat_run = 0  # consecutive hops with a spectrum steady over 40 ms
        self._segs_done: list[tuple[int, int, float]] = []
        self._v21_run = 0
        self._v21_mixed = 0
        self._ring_run = 0
        self._ringback_seen = False
        self._last_ring_hop = -1
        self._tone_decided = False
        # answer / speech
        self.answer_hop = 0
        self._answer_known_hop = 0
        self._answer_pending = False
        self._onset_hop: int | None = None
        self._greeting_end_sent = False
        self._last_point: tuple[float, float, float] | None = None  # (P(machine), silence run, speech) at the last evaluation
        self._last_beep: tuple[int, int] | None = None  # (start_hop, end_hop) of last beep >= min
        self._silence_hops = 0
        self._speech_run = 0  # active hops in a row, up to the last hop
        self._speech_peak = -1e9  # the loudest hop of speech so far (dBFS)
        self._ready_cfg: tuple[int, int, int] | None = None
        self._ready_sent = False
        self._eot_s = s.end_of_turn_silence_ms / 1000.0
        self._weak_margin = max(s.vad_margin_db - _WEAK_RELIEF_DB, 2.0)
        # vad='silero': speech activity from Silero VAD (sample-clocked windows, see .vad)
        self._vad = SileroVad() if s.vad == "silero" else None
        self._vad_speech = False
        self._ring_hop: int | None = None
        self._deadline, self._isil_hop = _timers(s, None, 0, None, False)

    # ------------------------------------------------------------------ public
    def arm_machine_ready(self, *, min_beep_ms: int = 180, post_beep_silence_ms: int = 1000,
                          no_beep_silence_ms: int = 4000) -> list[Event]:
        """Raise :class:`MachineReady` once the machine is ready to record.

        Ready after a beep of at least ``min_beep_ms`` followed by ``post_beep_silence_ms`` of
        silence, or after ``no_beep_silence_ms`` of uninterrupted silence (the logic of the UAS
        ``wait_for_answer_machine``). Returns the event at once if already ready.
        """
        from .._validation import check_int_range

        o = "arm_machine_ready"
        self._ready_cfg = (
            check_int_range(min_beep_ms, "min_beep_ms", o, 10, 10000),
            check_int_range(post_beep_silence_ms, "post_beep_silence_ms", o, 0, 60000),
            check_int_range(no_beep_silence_ms, "no_beep_silence_ms", o, 100, 60000),
        )
        self._ready_sent = False
        ev = self._check_ready(self.n_hops - 1)
        self.events.extend(ev)
        return ev

    def speech_bursts(self) -> list[tuple[float, float]]:
        """The speech bursts found so far, ``[(start_s, end_s), ...]`` (those long enough to
        count as speech; the cadence features and the onset are computed from these)."""
        return [(float(s), float(e)) for s, e in self._cad.real_bursts()]

    # ------------------------------------------------------------------ streaming
    def _run_block(self, hops: np.ndarray) -> list[Event]:
        # ringback matters only until speech is heard (see ring_like in _step)
        f = self._an(hops, ringback=self._onset_hop is None and not self._readiness_only)
        out: list[Event] = []
        lv, vo, pk, pu, v21, rb, st = f.level_db, f.voicing, f.peak_hz, f.purity, f.v21_ratio, f.rb_ratio, f.stationarity
        vad = self._vad.hop_speech(hops).tolist() if self._vad is not None else None
        step = self._step
        for j, (stj, lj, vj, pj, uj, fj, rj) in enumerate(zip(st, lv, vo, pk, pu, v21, rb)):
            if vad is not None:
                self._vad_speech = bool(vad[j])
            self._stat_run = self._stat_run + 1 if stj >= _STATIONARY else 0
            if self._stat_run == _STAT_RUN and self._onset_hop is None:
                # a steady tone: its attack (before the spectrum settled) was not speech
                self._cad.trim_from((self.n_hops - _STAT_RUN - 7) * HOP_S)
            ev = step(lj, vj, pj, uj, fj, rj)
            if ev:
                out += ev
            self.n_hops += 1
        if out:
            self.events.extend(out)
        return out

    def _step(self, level: float, voicing: float, peak: float, purity: float, v21: float, rb: float) -> list[Event]:
        h = self.n_hops
        s = self.settings
        out: list[Event] = []
        # adaptive noise floor: minimum statistics over ~1.6 s (a hop's own level never lifts
        # the floor above it, so comparing with the floor before this hop is the same test)
        # (builtin min()/max() calls cost more than these comparisons, which give the same values)
        block_min = self._block_min
        floor = block_min if block_min < self._blocks_min else self._blocks_min
        tone_floor = floor
        if h < _FLOOR_BLOCK * _FLOOR_BLOCKS or floor >= 1e9:  # early on, or only ringback so far
            tone_floor = _INIT_FLOOR_DB if _INIT_FLOOR_DB < floor else floor
            if h < _INIT_FLOOR_HOPS or floor >= 1e9:
                floor = tone_floor
        loud_db = tone_floor + _TONE_MARGIN_DB
        loud = level > (loud_db if loud_db >= -55.0 else -55.0)
        speech_seen = self._onset_hop is not None or self._readiness_only
        # ---- tones
        tonal = loud and purity >= _TONE_PURITY
        ring_like = loud and rb >= 0.7 and not speech_seen
        # ringback is not line noise: a 2 s US ring must not become the floor (and end early)
        if level < block_min and not (loud and rb >= 0.5 and not speech_seen):
            self._block_min = level
        self._block_n += 1
        if self._block_n == _FLOOR_BLOCK:
            self._blocks.append(self._block_min)
            if len(self._blocks) > _FLOOR_BLOCKS:
                self._blocks.pop(0)
            self._blocks_min = _floor_of(self._blocks)
            self._block_min = 1e9
            self._block_n = 0
        if ring_like:
            self._ring_run += 1
            if self._ring_run >= _RINGBACK_HOPS and not self._ringback_seen:
                self._ringback_seen = True
                self._answer_pending = True
                self._ring_hop = h
                self._deadline, self._isil_hop = _timers(s, h, 0, None, True)
                if self.trace is not None:
                    self.trace.ring_hop = h
            self._last_ring_hop = h
        elif self._ring_run:
            self._ring_run = 0
        if tonal or self._seg is not None:  # else no tone, none open: _track_tone has nothing to do
            out += self._track_tone(h, tonal, peak, speech_seen, level)
        # V.21 FSK: band energy in 1560-1940 Hz; the 1650/1850 Hz alternation makes some hops
        # non-tonal, which tells it from a steady beep in the same band
        if s.fax_detect and loud and v21 >= 0.8:
            self._v21_run += 1
            self._v21_mixed += not tonal
            if self._v21_run >= 15 and self._v21_mixed >= 4:
                out += self._tone_decision(h, FarEndType.FAX_MACHINE, Reason.FAX_V21, 0.95)
        elif self._v21_run:  # (_v21_mixed counts within a run: 0 when _v21_run is)
            self._v21_run = self._v21_mixed = 0
        # ---- speech activity (Silero's or energy+voicing; tones, ringback, steady sounds excluded)
        on_db = floor + s.vad_margin_db
        if self._vad is not None:
            speechy = self._vad_speech
        else:
            weak_db = floor + self._weak_margin
            speechy = (level > (on_db if on_db >= _MIN_SPEECH_DB else _MIN_SPEECH_DB) and voicing >= _VOICED
                       or speech_seen and level > (weak_db if weak_db >= _MIN_SPEECH_DB else _MIN_SPEECH_DB)
                       and voicing >= _WEAK_VOICED and self._cad.continues(h * HOP_S))
        active = (speechy and purity < 0.9 and not ring_like and self._stat_run < _STAT_RUN
                  and level > self._speech_peak - _BELOW_PEAK_DB)
        if active and level > self._speech_peak:
            self._speech_peak = level
        if active:
            self._speech_run += 1
            self._cad.active(h * HOP_S)
            self._silence_hops = 0
        else:
            self._speech_run = 0
            if not tonal and level < on_db + 6.0:
                self._silence_hops += 1
            else:
                self._silence_hops = 0
        # the onset can appear only on an active hop (other hops leave the bursts as they were,
        # or, trim_from, shorter)
        if active and self._onset_hop is None:
            on = self._cad.onset()
            if on is not None:
                self._onset_hop = int(round(on / HOP_S))
                if self._answer_pending:
                    self._set_answer(self._onset_hop, h, out)
                out.append(SpeechOnset(at_s=round(on, 6)))
                if self.trace is not None:
                    self.trace.onset_hop = self._onset_hop
                    self.trace.onset_known_hop = h
        if self._answer_pending and self._ring_run == 0 and self._last_ring_hop >= 0:
            if (h - self._last_ring_hop) * HOP_S >= _RING_OFF_MAX_S:
                self._set_answer(self._last_ring_hop + 1, h, out)
        onset = self._onset_hop
        # ---- greeting end (first end-of-turn silence after speech)
        if onset is not None and not self._greeting_end_sent:
            last_end = self._cad.last_end()
            if last_end is not None and (h + 1) * HOP_S - last_end >= self._eot_s - 1e-9:
                self._greeting_end_sent = True
                out.append(GreetingEnd(at_s=round(last_end, 6)))
        # ---- model on the 50 ms grid from the onset
        if onset is not None and h >= onset and (h - onset) % GRID_HOPS == 0:
            if self.verdict is None or self.trace is not None:
                t = (h + 1) * HOP_S
                x = self._cad.features(t)
                p = self.model.machine_proba(x) if self.model is not None else float("nan")
                sil = x[SILENCE_INDEX]
                self._last_point = (p, sil, x[SPEECH_INDEX])
                if self.trace is not None:
                    self.trace.add_point(h, p, x)
                elif self.verdict is None:
                    machine, live = _model_rules(s, p, sil, x[SPEECH_INDEX])
                    if machine:
                        out.append(self._decide(FarEndType.ANSWER_MACHINE, Reason.MODEL, p, at_s=t))
                    elif live:
                        out.append(self._decide(FarEndType.LIVE, Reason.SHORT_GREETING, 1.0 - p, at_s=t))
        # ---- initial silence and timeout
        if self.verdict is None and self.trace is None and not self._readiness_only:
            if self._isil_hop is not None and h >= self._isil_hop and self._onset_hop is None:
                fet = FarEndType.ANSWER_MACHINE if s.initial_silence_result == "machine" else FarEndType.UNKNOWN
                out.append(self._decide(fet, Reason.INITIAL_SILENCE, 0.5, at_s=(h + 1) * HOP_S))
            elif self._deadline is not None and h >= self._deadline:
                fet, reason, conf = _timeout_verdict(s, self._last_point, self._onset_hop is not None)
                out.append(self._decide(fet, reason, conf, at_s=(h + 1) * HOP_S))
            elif (s.speech_deadline_ms is not None and self._onset_hop is not None
                  and h >= self._onset_hop + _ceil_hops(s.speech_deadline_ms) - 1):
                fet, reason, conf = _timeout_verdict(s, self._last_point, True)
                out.append(self._decide(fet, reason, conf, at_s=(h + 1) * HOP_S))
        # ---- machine readiness
        if self._ready_cfg is not None and not self._ready_sent:
            out += self._check_ready(h)
        return out

    def _set_answer(self, answer_hop: int, now_hop: int, out: list[Event]) -> None:
        self._answer_pending = False
        self.answer_hop = answer_hop
        self._answer_known_hop = now_hop
        self._deadline, self._isil_hop = _timers(self.settings, self._ring_hop, answer_hop, now_hop, False)
        out.append(AnswerDetected(at_s=round(answer_hop * HOP_S, 6)))
        if self.trace is not None:
            self.trace.answer_hop = answer_hop
            self.trace.answer_known_hop = now_hop

    def _track_tone(self, h: int, tonal: bool, peak: float, speech_seen: bool, level: float) -> Sequence[Event]:
        # a segment: [start_hop, last_hop, mean_f, n_hops, gap, level_min, level_max, f_min, f_max,
        #             speech hops running straight into it]
        # (the level range skips the first and the last hop, the beep's ramps)
        seg = self._seg
        if seg is None and not tonal:  # most hops: no tone and none open
            return _NO_EVENTS
        out: list[Event] = []
        if tonal and seg is not None and abs(peak - seg[2]) <= max(0.02 * seg[2], 12.0):
            seg[2] = (seg[2] * seg[3] + peak) / (seg[3] + 1)
            seg[3] += 1
            seg[1] = h
            seg[4] = 0
            if seg[3] >= 3:  # the previous hop is now interior
                pl = self._seg_prev_level
                seg[5] = min(seg[5], pl)
                seg[6] = max(seg[6], pl)
            seg[7] = min(seg[7], peak)
            seg[8] = max(seg[8], peak)
            self._seg_prev_level = level
        else:
            if seg is not None:
                seg[4] += 1
                if seg[4] > 2 or tonal:
                    out += self._end_segment(seg, speech_seen)
                    seg = self._seg = None
            if tonal and seg is None:
                seg = self._seg = [h, h, peak, 1, 0, 1e9, -1e9, peak, peak, self._speech_run]
                self._seg_prev_level = level
        if seg is None or seg[4]:
            return out
        dur = (seg[1] - seg[0] + 1) * HOP_S
        f = seg[2]
        s = self.settings
        if s.fax_detect and abs(f - 1100.0) <= 35.0 and dur >= 0.40 and not speech_seen:
            out += self._tone_decision(h, FarEndType.FAX_MACHINE, Reason.FAX_CNG, 0.97)
        elif s.fax_detect and abs(f - 2100.0) <= 40.0 and dur >= (0.8 if speech_seen else 0.3):
            out += self._tone_decision(h, FarEndType.FAX_MACHINE, Reason.FAX_CED, 0.98)
        elif (s.beep_detect and speech_seen and 390.0 <= f <= 2060.0 and _steady(seg)
              and dur * 1000.0 >= s.beep_min_ms - 1e-6):
            out += self._tone_decision(h, FarEndType.ANSWER_MACHINE, Reason.BEEP, 0.97)
        elif s.sit_detect and len(self._segs_done) >= 2 and dur >= 0.15 and abs(f - 1776.7) <= 30.0:
            (_a0, a1, fa), (b0, b1, fb) = self._segs_done[-2], self._segs_done[-1]
            if (any(abs(fa - x) <= 30 for x in _SIT_FREQS[0]) and any(abs(fb - x) <= 30 for x in _SIT_FREQS[1])
                    and seg[0] - b1 <= 12 and b0 - a1 <= 12):
                out += self._tone_decision(h, FarEndType.ANSWER_MACHINE, Reason.SIT, 0.95)
        return out

    def _end_segment(self, seg: list, speech_seen: bool) -> list[Event]:
        start, end, f = seg[0], seg[1], seg[2]
        dur = (end - start + 1) * HOP_S
        self._segs_done.append((start, end, f))
        if len(self._segs_done) > 4:
            self._segs_done.pop(0)
        out: list[Event] = []
        if dur < 0.04:
            return out
        if abs(f - 1100.0) <= 35.0 and not speech_seen:
            out.append(Tone(at_s=round(start * HOP_S, 6), kind="cng", frequency_hz=round(f, 1), duration_s=round(dur, 3)))
        elif abs(f - 2100.0) <= 40.0:
            out.append(Tone(at_s=round(start * HOP_S, 6), kind="ced", frequency_hz=round(f, 1), duration_s=round(dur, 3)))
        elif speech_seen and 390.0 <= f <= 2060.0 and _steady(seg) and dur * 1000.0 >= self.settings.beep_min_ms - 1e-6:
            out.append(Beep(at_s=round(start * HOP_S, 6), frequency_hz=round(f, 1), duration_s=round(dur, 3)))
            self._last_beep = (start, end)
        elif not speech_seen and 380.0 <= f <= 500.0:
            out.append(Tone(at_s=round(start * HOP_S, 6), kind="ringback", frequency_hz=round(f, 1), duration_s=round(dur, 3)))
        return out

    def _tone_decision(self, h: int, fet: FarEndType, reason: Reason, conf: float) -> list[Event]:
        if self._tone_decided:
            return []
        self._tone_decided = True
        if self.trace is not None:
            if self.trace.tone is None:
                self.trace.tone = (h, fet, reason, conf)
            return []
        if self.verdict is None:
            return [self._decide(fet, reason, conf, at_s=(h + 1) * HOP_S)]
        return []

    def _check_ready(self, h: int) -> list[Event]:
        if self._ready_cfg is None or self._ready_sent or h < 0:
            return []
        min_beep, post_ms, nobeep_ms = self._ready_cfg
        silence_s = self._silence_hops * HOP_S
        b = self._last_beep
        if b is not None and (b[1] - b[0] + 1) * HOP_S * 1000 >= min_beep and silence_s * 1000 >= post_ms - 1e-6 \
                and (h - b[1]) * HOP_S * 1000 >= post_ms - 1e-6:
            self._ready_sent = True
            return [MachineReady(at_s=round((h + 1) * HOP_S, 6), after_beep=True)]
        if silence_s * 1000 >= nobeep_ms - 1e-6:
            self._ready_sent = True
            return [MachineReady(at_s=round((h + 1) * HOP_S, 6), after_beep=False)]
        return []

    def _on_end(self) -> list[Event]:
        out: list[Event] = []
        if self._seg is not None:
            out += self._end_segment(self._seg, self._onset_hop is not None)
            self._seg = None
        if self.trace is not None:
            self.trace.n_hops = self.n_hops
            self.trace.ended = True
            self.verdict = self.trace.replay(self.settings)  # informative only in trace mode
        return out
