"""The streaming contract of the default detector on real audio.

Frame-size invariance, determinism, the verdict exactly once, end() and push() after it,
the timer modes and the timeout, ringback before the pick-up, machine readiness,
CallTrace.replay against streaming, and a property test over arbitrary finite audio.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _audio import silence, speech, stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lsdlab.audio import tones
from lsdlab.audio.io import load
from lsdlab.detect import (
    AnswerDetected,
    Beep,
    DetectorSettings,
    FarEndType,
    GreetingEnd,
    LiveSpeakerDetector,
    MachineReady,
    Reason,
    SpeechOnset,
    TimerMode,
    Verdict,
    classify,
    trace_audio,
)
from lsdlab.errors import ParameterError

SR = 8000
REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "corpora" / "demo"
NET = TimerMode.TIMEOUT_FROM_NETWORK_CONNECT
ANS = TimerMode.TIMEOUT_FROM_ANSWER_DETECT


def _manifest() -> list[dict]:
    with open(DEMO / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def _pick() -> list[str]:
    """Two calls of each label, plus calls that start with ringback (every country present)."""
    rows = _manifest()
    out: list[str] = []
    for label in ("human", "machine", "fax", "silence"):
        out += [r["path"] for r in rows if r["label"] == label][:2]
    for country in ("US", "GB", "DE", "FR"):
        ring = [r["path"] for r in rows if f"{country} ringback" in r["notes"] and r["path"] not in out]
        out += ring[:1]
    return out


DEMO_CALLS = _pick() if (DEMO / "manifest.csv").is_file() else []


def demo_audio(path: str) -> np.ndarray:
    y, sr = load(DEMO / path)
    assert sr == SR
    return y


def of(det: LiveSpeakerDetector, kind) -> list:
    return [e for e in det.events if isinstance(e, kind)]


def test_demo_corpus_present():
    assert DEMO_CALLS, f"corpora/demo is missing at {DEMO}"


# --------------------------------------------------------------------------- invariance
@pytest.mark.parametrize("path", DEMO_CALLS)
def test_frame_size_invariance(path):
    y = demo_audio(path)
    s = DetectorSettings(timeout_ms=10000)
    ref = stream(y, s, None)
    assert len(of(ref, Verdict)) == 1
    for frame_length in (80, 160, 37, 8000):
        det = stream(y, s, frame_length)
        assert det.events == ref.events, f"frame_length={frame_length}"
        assert det.verdict == ref.verdict


@pytest.mark.parametrize("path", DEMO_CALLS[::3])
def test_int16_and_float_input_agree(path):
    y = demo_audio(path)
    y16 = np.round(y * 32768).clip(-32768, 32767).astype(np.int16)
    assert stream(y16).events == stream(y16.astype(np.float32) / 32768).events


@pytest.mark.parametrize("path", DEMO_CALLS)
def test_deterministic(path):
    y = demo_audio(path)
    a, b = stream(y, None, 160), stream(y.copy(), None, 160)
    assert a.events == b.events


@pytest.mark.parametrize("path", DEMO_CALLS)
def test_classify_equals_streaming(path):
    y = demo_audio(path)
    assert classify(y, SR) == stream(y, None, 160).verdict


# --------------------------------------------------------------------------- verdict exactly once
@pytest.mark.parametrize("path", DEMO_CALLS)
def test_verdict_exactly_once(path):
    y = demo_audio(path)
    det = LiveSpeakerDetector(DetectorSettings(timeout_ms=2000))
    raised = []
    for i in range(0, len(y), 160):
        raised += det.push(y[i : i + 160])
    raised += det.push(y)  # pushing after the verdict raises nothing and no error
    raised += det.end()
    assert len([e for e in raised if isinstance(e, Verdict)]) == 1
    assert len(of(det, Verdict)) == 1
    assert det.verdict.decided_at_s <= 2.0


def test_end_on_a_short_clip_is_a_hangup():
    det = LiveSpeakerDetector()
    assert det.push(silence(0.3)) == []
    out = det.end()
    assert out == [Verdict(at_s=0.3, far_end_type=FarEndType.UNKNOWN, reason=Reason.HANGUP, confidence=0.0)]
    assert det.end() == []  # a second end() is harmless
    assert len(of(det, Verdict)) == 1


def test_end_with_no_audio_at_all():
    det = LiveSpeakerDetector()
    (v,) = det.end()
    assert (v.far_end_type, v.reason, v.decided_at_s) == (FarEndType.UNKNOWN, Reason.HANGUP, 0.0)


def test_end_during_speech_is_a_hangup_at_the_audio_end():
    g = speech("hello")
    det = stream(np.concatenate([silence(0.2), g[: len(g) // 2]]), DetectorSettings(timeout_ms=5000))
    assert det.verdict.reason is Reason.HANGUP
    assert det.verdict.decided_at_s == pytest.approx((int(0.2 * SR) + len(g) // 2) // 80 * 80 / SR)


def test_push_after_end_raises():
    det = LiveSpeakerDetector()
    det.push(silence(0.1))
    det.end()
    with pytest.raises(ParameterError, match=r"LiveSpeakerDetector\.push called after end\(\); create a new detector per call"):
        det.push(silence(0.1))


def test_empty_pushes_are_harmless():
    det = LiveSpeakerDetector(DetectorSettings(timeout_ms=500))
    for _ in range(3):
        assert det.push(np.zeros(0, np.float32)) == []
    det.push(silence(1.0))
    assert det.verdict.decided_at_s == 0.5


# --------------------------------------------------------------------------- timeout and timers
@pytest.mark.parametrize("timeout_ms", [500, 730, 2000, 7000, 10000])
@pytest.mark.parametrize("mode", [NET, ANS])
def test_silence_is_unknown_initial_silence_at_exactly_the_timeout(timeout_ms, mode):
    det = stream(silence(11.0), DetectorSettings(timeout_ms=timeout_ms, timer_mode=mode), 160)
    v = det.verdict
    assert (v.far_end_type, v.reason) == (FarEndType.UNKNOWN, Reason.INITIAL_SILENCE)
    assert v.decided_at_s == pytest.approx(np.ceil(timeout_ms / 10) / 100, abs=1e-9)
    assert len(of(det, Verdict)) == 1


def test_line_noise_is_unknown_at_the_timeout(rng):
    y = (10 ** (-50 / 20) * rng.standard_normal(11 * SR)).astype(np.float32)
    v = stream(y, DetectorSettings(timeout_ms=3000)).verdict
    assert (v.far_end_type, v.reason, v.decided_at_s) == (FarEndType.UNKNOWN, Reason.INITIAL_SILENCE, 3.0)


def _at_rms(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` scaled to an RMS of ``dbfs`` (re full scale 1.0), as float32."""
    return (x * (10 ** (dbfs / 20) / np.sqrt(np.mean(x.astype(np.float64) ** 2)))).astype(np.float32)


def _rumble(n: int, dbfs: float, seed: int) -> np.ndarray:
    """Loud low-frequency line noise (brown noise in the telephone band): its autocorrelation
    looks voiced, so only the noise floor keeps it from being speech."""
    from scipy.signal import lfilter

    from lsdlab.audio.channel import bandpass

    x = bandpass(lfilter([1.0], [1.0, -0.95], np.random.default_rng(seed).standard_normal(n)).astype(np.float32))
    return _at_rms(x, dbfs - 10 * np.log10(2.0))


@pytest.mark.parametrize("seed", range(6))
def test_loud_line_rumble_before_the_greeting_is_not_a_speech_onset(seed):
    """The floor must follow the line's noise from the first 100 ms, not only after 1.6 s
    (with the old 1.6 s cap at -50 dBFS, every one of these calls had an onset in the noise)."""
    hello = speech("hello")
    hello = hello * np.float32(10 ** (-12 / 20) / np.sqrt(2 * np.mean(hello.astype(np.float64) ** 2)))
    y = np.concatenate([silence(1.2), hello, silence(3.0)])
    det = stream(y + _rumble(len(y), -40.0, seed), DetectorSettings())
    onsets = [e.at_s for e in det.events if isinstance(e, SpeechOnset)]
    start = 1.2 + np.argmax(np.abs(hello) > 0.01) / SR
    assert len(onsets) == 1 and abs(onsets[0] - start) <= 0.15, (onsets, start)
    assert det.verdict.far_end_type is FarEndType.LIVE


def _white(n: int, dbfs: float, seed: int) -> np.ndarray:
    """White line noise in the telephone band at ``dbfs`` RMS."""
    from lsdlab.audio.channel import bandpass

    return _at_rms(bandpass(np.random.default_rng(seed).standard_normal(n).astype(np.float32)), dbfs)


def _at_level(y: np.ndarray, dbfs: float) -> np.ndarray:
    from lsdlab.corpus.demo import trim_silence

    a, b = trim_silence(y)
    return _at_rms(y[a:b], dbfs)


def test_quiet_greeting_on_a_noisy_line_is_not_live():
    """Speech 6 dB above white line noise: quiet voiced syllables sit a few dB above the floor.
    Counting only hops 9 dB above it, the 8 s greeting looked like short bursts with long
    pauses and was called LIVE at 3.5 s on every seed; clearly voiced hops that continue a burst
    now count at 5 dB less. Since the floor is the second-lowest block minimum (real lines whose
    noise swings 5-10 dB, tests/test_real_people.py), the margin is about 1 dB thinner here: 1
    seed in 8 is LIVE at P(human) 0.56 (a floor held for 2-3 hops made it 6-7 in 8)."""
    greet = _at_level(np.concatenate([speech("vm-nobodyavail"), speech("vm-intro")]), -34.0)
    y = np.concatenate([silence(0.7), greet, silence(2.0)])
    live = [seed for seed in range(8)
            if stream(y + _white(len(y), -40.0, seed), DetectorSettings()).verdict.far_end_type is FarEndType.LIVE]
    assert len(live) <= 1, live


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("noise_dbfs", [-40.0, -35.0])
def test_loud_rumble_after_hello_does_not_hold_the_turn_open(seed, noise_dbfs):
    """Rumble looks voiced: the smaller margin for voiced hops must not let it extend a
    person's "hello" (counted on their own, its hops delayed LIVE by up to 0.55 s)."""
    hello = _at_level(speech("hello"), -20.0)
    y = np.concatenate([silence(1.0), hello, silence(4.0)])
    v = stream(y + _rumble(len(y), noise_dbfs, seed), DetectorSettings()).verdict
    assert v.far_end_type is FarEndType.LIVE
    assert v.decided_at_s - (1.0 + len(hello) / SR) <= DetectorSettings().end_of_turn_silence_ms / 1000 + 0.1


@pytest.mark.parametrize("seed", range(4))
def test_fax_on_a_rumbling_line_is_fax(seed):
    y = np.concatenate([silence(1.8), tones.cng(4.0, level_dbfs=-6.0)])
    v = stream(y + _rumble(len(y), -35.0, seed), DetectorSettings()).verdict
    assert (v.far_end_type, v.reason) == (FarEndType.FAX_MACHINE, Reason.FAX_CNG)


def test_audio_shorter_than_the_timeout_is_a_hangup():
    v = stream(silence(1.5), DetectorSettings(timeout_ms=2000)).verdict
    assert (v.reason, v.decided_at_s) == (Reason.HANGUP, 1.5)


@pytest.mark.parametrize("result", ["machine", "unknown"])
@pytest.mark.parametrize("initial_silence_ms", [500, 1500, 3000])
def test_initial_silence_ms(initial_silence_ms, result):
    s = DetectorSettings(timeout_ms=7000, initial_silence_ms=initial_silence_ms, initial_silence_result=result)
    v = stream(silence(8.0), s).verdict
    assert v.reason is Reason.INITIAL_SILENCE
    assert v.far_end_type is (FarEndType.ANSWER_MACHINE if result == "machine" else FarEndType.UNKNOWN)
    assert v.decided_at_s == initial_silence_ms / 1000


def test_initial_silence_does_not_fire_once_speech_started():
    y = np.concatenate([silence(0.3), speech("vm-intro"), silence(2.0)])
    s = DetectorSettings(timeout_ms=10000, initial_silence_ms=1000, initial_silence_result="machine")
    det = stream(y, s)
    assert det.verdict.reason is not Reason.INITIAL_SILENCE


@pytest.mark.parametrize(("tmt", "expected"), [(0.0, FarEndType.ANSWER_MACHINE), (1.0, FarEndType.UNKNOWN)])
@pytest.mark.parametrize("deadline_ms", [200, 1000, 2500])
def test_speech_deadline_ms_counts_from_the_speech_onset(deadline_ms, tmt, expected):
    y = np.concatenate([silence(0.5), speech("vm-intro"), silence(2.0)])
    s = DetectorSettings(timeout_ms=10000, machine_threshold=1.0, human_threshold=1.0, speech_deadline_ms=deadline_ms,
                         timeout_machine_threshold=tmt, min_machine_speech_ms=0)
    det = stream(y, s)
    (onset,) = of(det, SpeechOnset)
    v = det.verdict
    assert (v.reason, v.far_end_type) == (Reason.TIMEOUT, expected)
    assert v.decided_at_s == pytest.approx(onset.at_s + deadline_ms / 1000, abs=0.0101)
    # with the default floor of 3 s of speech, less speech than that is never a machine at a timer
    v3 = stream(y, s.replace(min_machine_speech_ms=3000)).verdict
    assert (v3.reason, v3.far_end_type, v3.decided_at_s) == (Reason.TIMEOUT, FarEndType.UNKNOWN, v.decided_at_s)


def test_timeout_during_speech():
    y = np.concatenate([silence(0.5), speech("vm-intro"), silence(2.0)])
    s = DetectorSettings(timeout_ms=3000, machine_threshold=1.0, human_threshold=1.0, timeout_machine_threshold=1.0)
    v = stream(y, s).verdict
    assert (v.far_end_type, v.reason, v.decided_at_s) == (FarEndType.UNKNOWN, Reason.TIMEOUT, 3.0)


# --------------------------------------------------------------------------- ringback first
@pytest.mark.parametrize("country", ["US", "GB", "DE", "FR"])
def test_ringback_then_speech_answer_detect_mode(country):
    ring_s = 6.0
    y = np.concatenate([tones.ringback(country, ring_s), speech("vm-intro"), silence(6.0)])
    det = stream(y, DetectorSettings(timeout_ms=2000, timer_mode=ANS))
    answers = of(det, AnswerDetected)
    assert len(answers) == 1, answers
    assert abs(answers[0].at_s - ring_s) <= 0.15, f"pick-up detected at {answers[0].at_s} s, speech starts at {ring_s} s"
    v = det.verdict
    assert v.decided_at_s > ring_s, "the 2000 ms timeout expired during the ringback"
    assert v.decided_at_s <= answers[0].at_s + 2.0 + 1e-9
    if v.reason is Reason.TIMEOUT:
        assert v.decided_at_s == pytest.approx(answers[0].at_s + 2.0, abs=1e-6)
    assert v.reason is not Reason.INITIAL_SILENCE


@pytest.mark.parametrize("country", ["US", "GB", "DE", "FR"])
def test_ringback_then_speech_network_connect_mode(country):
    y = np.concatenate([tones.ringback(country, 6.0), speech("vm-intro"), silence(6.0)])
    v = stream(y, DetectorSettings(timeout_ms=2000, timer_mode=NET)).verdict
    assert (v.far_end_type, v.reason, v.decided_at_s) == (FarEndType.UNKNOWN, Reason.INITIAL_SILENCE, 2.0)


@pytest.mark.parametrize("country", ["US", "GB", "DE", "FR"])
def test_ringback_is_not_speech(country):
    det = stream(tones.ringback(country, 9.0), DetectorSettings(timeout_ms=10000, timer_mode=ANS))
    assert not of(det, SpeechOnset)
    assert det.verdict.far_end_type is FarEndType.UNKNOWN


# --------------------------------------------------------------------------- machine readiness
def _armed(y: np.ndarray, **kw) -> LiveSpeakerDetector:
    det = LiveSpeakerDetector(DetectorSettings(timeout_ms=10000))
    assert det.arm_machine_ready(**kw) == []
    for i in range(0, len(y), 160):
        det.push(y[i : i + 160])
    det.end()
    return det


@pytest.mark.parametrize("post_ms", [500, 1000, 2000])
@pytest.mark.parametrize("beep_s", [0.25, 0.6])
def test_machine_ready_after_the_beep(beep_s, post_ms):
    g = speech("vm-isunavail")
    beep_start = 0.3 + len(g) / SR + 0.3
    y = np.concatenate([silence(0.3), g, silence(0.3), tones.beep(1000.0, beep_s), silence(3.0)])
    det = _armed(y, min_beep_ms=180, post_beep_silence_ms=post_ms, no_beep_silence_ms=4000)
    (ready,) = of(det, MachineReady)
    assert ready.after_beep is True
    assert ready.at_s == pytest.approx(beep_start + beep_s + post_ms / 1000, abs=0.03)
    (beep,) = of(det, Beep)
    assert ready.at_s == pytest.approx(beep.at_s + beep.duration_s + post_ms / 1000, abs=0.02)


@pytest.mark.parametrize("no_beep_ms", [2000, 4000])
def test_machine_ready_after_long_silence_without_a_beep(no_beep_ms):
    y = np.concatenate([silence(0.3), speech("vm-isunavail"), silence(6.0)])
    det = _armed(y, min_beep_ms=180, post_beep_silence_ms=1000, no_beep_silence_ms=no_beep_ms)
    (ready,) = of(det, MachineReady)
    assert ready.after_beep is False
    (end,) = of(det, GreetingEnd)
    assert ready.at_s == pytest.approx(end.at_s + no_beep_ms / 1000, abs=0.15)


def test_a_beep_shorter_than_min_beep_ms_does_not_count():
    g = speech("vm-isunavail")
    beep_end = 0.3 + len(g) / SR + 0.3 + 0.15
    y = np.concatenate([silence(0.3), g, silence(0.3), tones.beep(1000.0, 0.15), silence(5.0)])
    det = _armed(y, min_beep_ms=180, post_beep_silence_ms=1000, no_beep_silence_ms=4000)
    assert of(det, Beep), "the 150 ms beep should still be reported as a Beep (beep_min_ms=120)"
    (ready,) = of(det, MachineReady)
    assert ready.after_beep is False
    assert ready.at_s == pytest.approx(beep_end + 4.0, abs=0.05)


def test_arm_machine_ready_when_already_ready_returns_the_event_at_once():
    y = np.concatenate([silence(0.3), speech("vm-isunavail"), silence(0.3), tones.beep(1000.0, 0.3), silence(2.0)])
    det = LiveSpeakerDetector(DetectorSettings(timeout_ms=10000))
    det.push(y)
    (ready,) = det.arm_machine_ready(min_beep_ms=180, post_beep_silence_ms=1000)
    assert ready.after_beep is True and ready.at_s == pytest.approx(len(y) / SR, abs=0.011)
    det.push(silence(2.0))
    assert len(of(det, MachineReady)) == 1  # raised once, not again


def test_machine_ready_is_not_raised_unless_armed():
    y = np.concatenate([silence(0.3), speech("vm-isunavail"), silence(0.3), tones.beep(1000.0, 0.3), silence(6.0)])
    assert not of(stream(y, DetectorSettings(timeout_ms=10000)), MachineReady)


# --------------------------------------------------------------------------- replay == streaming
@pytest.fixture(scope="module")
def traced() -> list[tuple[str, np.ndarray, object]]:
    out = []
    for path in DEMO_CALLS:
        y = demo_audio(path)
        out.append((path, y, trace_audio(y, SR, DetectorSettings())))
    return out


def random_settings(rng: np.random.Generator) -> DetectorSettings:
    return DetectorSettings(
        timeout_ms=int(rng.integers(500, 10001)),
        timer_mode=NET if rng.random() < 0.5 else ANS,
        machine_threshold=float(rng.uniform(0.5, 1.0)),
        human_threshold=float(rng.uniform(0.0, 1.0)),
        end_of_turn_silence_ms=int(rng.integers(100, 2001)),
        timeout_machine_threshold=float(rng.uniform(0.0, 1.0)),
        initial_silence_ms=None if rng.random() < 0.4 else int(rng.integers(500, 6001)),
        speech_deadline_ms=None if rng.random() < 0.5 else int(rng.integers(200, 5001)),
        initial_silence_result="machine" if rng.random() < 0.5 else "unknown",
    )


@pytest.mark.parametrize("seed", range(8))
def test_replay_equals_streaming(traced, seed):
    rng = np.random.default_rng(seed)
    s = random_settings(rng)
    for path, y, trace in traced:
        streamed = classify(y, SR, s, frame_length=int(rng.integers(1, 2000)))
        replayed = trace.replay(s)
        assert replayed.far_end_type == streamed.far_end_type, (path, s)
        assert replayed.reason == streamed.reason, (path, s)
        assert replayed.decided_at_s == pytest.approx(streamed.decided_at_s, abs=1e-9), (path, s)
        assert replayed.confidence == pytest.approx(streamed.confidence, abs=1e-9), (path, s)


def test_replay_equals_streaming_for_ringback_and_silence_timers():
    """The timer edge cases: ringback then silence, ringback then speech, in both modes."""
    clips = [
        np.concatenate([tones.ringback("US", 6.0), silence(6.0)]),
        np.concatenate([tones.ringback("GB", 4.0), speech("hello"), silence(5.0)]),
        np.concatenate([tones.ringback("DE", 7.0), speech("vm-intro")]),
        silence(11.0),
    ]
    for y in clips:
        trace = trace_audio(y, SR, DetectorSettings())
        for timeout_ms in (500, 1500, 4000, 10000):
            for mode in (NET, ANS):
                for isil in (None, 700, 2500):
                    s = DetectorSettings(timeout_ms=timeout_ms, timer_mode=mode, initial_silence_ms=isil)
                    assert trace.replay(s) == classify(y, SR, s), s


# --------------------------------------------------------------------------- property test
def _audio(kind: str, n: int, level_db: float, freq: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    amp = 10 ** (level_db / 20)
    t = np.arange(n) / SR
    if kind == "silence":
        return np.zeros(n, np.float32)
    if kind == "noise":
        return (amp * rng.standard_normal(n)).astype(np.float32)
    if kind == "clipped":
        return np.clip(20 * amp * rng.standard_normal(n), -1.0, 1.0).astype(np.float32)
    if kind == "tone":
        return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    if kind == "square":
        return (amp * np.sign(np.sin(2 * np.pi * freq * t))).astype(np.float32)
    if kind == "ringback":
        return np.resize(tones.ringback("US", 6.0), n) * np.float32(amp * 4)
    if kind == "bursts":  # noise switched on and off at a random rate
        gate = np.repeat(rng.random(n // 400 + 1) < 0.5, 400)[:n]
        return (amp * rng.standard_normal(n) * gate).astype(np.float32)
    raise AssertionError(kind)


KINDS = ["silence", "noise", "clipped", "tone", "square", "ringback", "bursts"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(0, 4 * SR), st.floats(-80.0, 0.0),
                  st.floats(60.0, 3900.0), st.integers(0, 2**31 - 1)),
        min_size=1, max_size=4,
    ),
    mix=st.booleans(),
    frame_length=st.integers(1, 4000),
    timeout_ms=st.integers(500, 10000),
    int16=st.booleans(),
)
def test_any_finite_audio_gets_one_verdict_by_the_timeout(parts, mix, frame_length, timeout_ms, int16):
    segs = [_audio(k, n, lv, f, sd) for k, n, lv, f, sd in parts]
    if mix:  # a mixture: all parts summed over the longest one
        n = max(len(s) for s in segs)
        y = np.clip(sum(np.resize(s, n) if len(s) else np.zeros(n, np.float32) for s in segs), -1, 1).astype(np.float32)
    else:
        y = np.concatenate(segs)
    y = y[: 12 * SR]
    if int16:
        y = np.round(y * 32767).astype(np.int16)
    det = LiveSpeakerDetector(DetectorSettings(timeout_ms=timeout_ms, timer_mode=NET))
    raised = []
    for i in range(0, len(y), frame_length):
        raised += det.push(y[i : i + frame_length])
    raised += det.end()
    verdicts = [e for e in raised if isinstance(e, Verdict)]
    assert len(verdicts) == 1 and verdicts[0] == det.verdict
    assert det.verdict.decided_at_s <= timeout_ms / 1000 + 0.01 + 1e-9
    assert det.verdict.decided_at_s <= len(y) / SR + 1e-9 or det.verdict.reason is not Reason.HANGUP
    assert 0.0 <= det.verdict.confidence <= 1.0
    assert all(e.at_s <= len(y) / SR + 1e-9 for e in raised)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3 * SR),
    index=st.data(),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
    frame_length=st.integers(1, 4000),
)
def test_non_finite_samples_get_a_clear_parameter_error(n, index, bad, frame_length):
    y = np.zeros(n, np.float32)
    i = index.draw(st.integers(0, n - 1))
    y[i] = bad
    det = LiveSpeakerDetector(DetectorSettings(timeout_ms=10000))
    with pytest.raises(ParameterError, match=rf"'frame' parameter of LiveSpeakerDetector\.push must hold finite samples\. Got a NaN or infinite value at index {i % frame_length}"):
        for k in range(0, n, frame_length):
            det.push(y[k : k + frame_length])
    with pytest.raises(ParameterError, match=rf"'y' parameter of classify must hold finite samples\. Got a NaN or infinite value at index {i}"):
        classify(y, SR)


# --------------------------------------------------------------------------- fast paths
def test_fast_fft_kernels_are_in_use_and_bit_identical(rng):
    """The analyzer calls scipy's pocketfft kernels directly (20 us less per frame) only
    because they give exactly what scipy.fft.rfft/irfft give; check that on real audio."""
    from lsdlab.detect import analysis as A

    assert A.FAST_FFT, "scipy's pocketfft kernels are not usable here; the analyzer fell back to scipy.fft"
    y = load(DEMO / "human" / "human-004.wav")[0][:8000]
    frames = np.zeros((96, A.NFFT), dtype=np.float32)
    for j in range(96):
        frames[j, : A.WIN] = y[j * 80 : j * 80 + A.WIN] * A._WINDOW
    for rows in (frames[:1], frames[:2], frames):
        spec = A._rfft(rows)
        np.testing.assert_array_equal(spec, A._public_rfft(rows[:, : A.WIN]))
        power = np.square(spec.real) + np.square(spec.imag)
        np.testing.assert_array_equal(A._irfft(power), A._public_irfft(power))


def test_fft_kernels_load_without_the_scipy_fft_package_and_stay_scipys_own():
    """The kernels' module is loaded from its file (scipy.fft's package import cost 0.1-0.2 s
    of every process) and registered under its own name: a later `import scipy.fft` uses that
    same module and works as usual."""
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import lsdlab.detect.analysis as A
        assert A.FAST_FFT
        assert "scipy.fft" not in sys.modules, sorted(m for m in sys.modules if m.startswith("scipy"))
        import scipy.fft
        from scipy.fft._pocketfft import pypocketfft as pp
        assert pp is sys.modules["scipy.fft._pocketfft.pypocketfft"] and A._r2c is pp.r2c and A._c2r is pp.c2r
        x = np.random.default_rng(0).standard_normal(512)
        assert np.allclose(scipy.fft.irfft(scipy.fft.rfft(x)), x)
        print("OK")
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "OK"


def test_analyzer_skipping_ringback_changes_nothing_else():
    from lsdlab.detect.analysis import HopAnalyzer

    y = load(DEMO / "machine" / "machine-001.wav")[0][:16000]
    hops = y[: len(y) // 80 * 80].reshape(-1, 80)
    a, b = HopAnalyzer()(hops), HopAnalyzer()(hops, ringback=False)
    for name in ("level_db", "voicing", "peak_hz", "purity", "v21_ratio", "stationarity"):
        assert getattr(a, name) == getattr(b, name), name
    assert b.rb_ratio == [0.0] * len(hops) and max(a.rb_ratio) > 0.0


def _features(f) -> list[list[float]]:
    return [getattr(f, k) for k in ("level_db", "voicing", "peak_hz", "purity", "v21_ratio", "rb_ratio", "stationarity")]


def test_analyzer_blocks_of_any_length_give_the_features_of_one_pass():
    """The analyzer keeps work arrays per block length (a few short ones per analyzer, the long
    ones per thread) and hands its history (the last samples and band spectra) from one set to
    the next: blocks of every length, more lengths than it keeps, long blocks between short
    ones and another analyzer using the same long arrays in between give, hop for hop, the
    features of the whole clip analysed at once."""
    from lsdlab.detect import analysis as A

    y = load(DEMO / "machine" / "machine-001.wav")[0]
    hops = y[: len(y) // 80 * 80].reshape(-1, 80)
    whole = _features(A.HopAnalyzer()(hops))
    lengths = [2, 1, 3, 2, 100, 2, 5, 7, 9, 2, 64, 64, 1, 4, 6, 8, 2, 2, 70]
    assert len(set(n for n in lengths if n <= A._LOOP_HOPS)) > A._MAX_WORKS
    an, other = A.HopAnalyzer(), A.HopAnalyzer()
    parts: list[list[list[float]]] = []
    i = j = 0
    while i < len(hops):
        n = lengths[j % len(lengths)]
        parts.append(_features(an(hops[i : i + n])))
        other(hops[::-1][i : i + n] * 0.5)  # the same thread's long arrays, other audio
        i += n
        j += 1
    streamed = [sum((p[k] for p in parts), []) for k in range(7)]
    assert streamed == whole


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_detector_continues_as_the_original(how):
    """A detector copied mid-call (deepcopy or pickle) carries the analyzer's history: both
    continue with the same events and trace as one that was never copied."""
    import copy
    import pickle

    y = demo_audio(DEMO_CALLS[0])
    ref = LiveSpeakerDetector(DetectorSettings(), trace=True)
    a = LiveSpeakerDetector(DetectorSettings(), trace=True)
    cut = 160 * 101
    for i in range(0, len(y), 160):
        ref.push(y[i : i + 160])
        if i < cut:
            a.push(y[i : i + 160])
    b = copy.deepcopy(a) if how == "deepcopy" else pickle.loads(pickle.dumps(a))
    for det in (a, b):
        for i in range(cut, len(y), 160):
            det.push(y[i : i + 160])
    ref.end(), a.end(), b.end()
    assert a.events == b.events == ref.events
    assert a.trace == b.trace == ref.trace


def test_streaming_analysis_reuses_its_arrays():
    """A 20 ms push's analysis writes into arrays made once per block length, which removed
    about half of its numpy calls' cost; what it still allocates per call is the Python lists
    it returns and a few index results (about 4 KiB at 2 hops; a spectrum-sized array, as
    every call allocated before, is 4 KiB alone and the old analyzer peaked at 30 KiB)."""
    import tracemalloc

    from lsdlab.detect.analysis import HopAnalyzer

    y = load(DEMO / "machine" / "machine-001.wav")[0]
    hops = y[: len(y) // 80 * 80].reshape(-1, 80)
    an = HopAnalyzer()
    for i in range(0, 40, 2):
        an(hops[i : i + 2])
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        peak = 0
        for i in range(40, 240, 2):
            tracemalloc.reset_peak()
            an(hops[i : i + 2], ringback=i < 120)
            peak = max(peak, tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
    assert peak <= 8 * 1024, f"a 2-hop analysis allocated up to {peak} bytes of temporaries"


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("big", [1e20, -3e30])
def test_finite_frames_whose_sum_of_squares_overflows_are_accepted(big):
    """valid_audio tests a float32 frame by its sum of squares (NaN or inf if any sample is);
    finite samples can overflow it too (numpy warns of the overflow, as the analysis of such
    samples, far outside [-1, 1], does anyway), and then each sample is tested: such a frame is
    valid, and a NaN among them is still reported at its index."""
    from lsdlab.audio.io import valid_audio

    y = np.zeros(1600, np.float32)
    y[100:900] = big
    assert not np.isfinite(y.dot(y))
    assert valid_audio(y, name="frame", owner="LiveSpeakerDetector.push") is y
    y[517] = np.nan
    with pytest.raises(ParameterError, match=r"'frame' parameter of LiveSpeakerDetector\.push must hold finite samples\. "
                                             r"Got a NaN or infinite value at index 517"):
        valid_audio(y, name="frame", owner="LiveSpeakerDetector.push")
