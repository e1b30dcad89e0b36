"""The app_amd backend: Asterisk's AMD() rules, frame by frame.

Expected times below are worked out by hand from apps/app_amd.c (Asterisk 14+) with 20 ms
frames: frame k (1-based) ends at k * 0.02 s, and each decision is taken at the end of the
frame that triggers it. Defaults: initialSilence 2500, greeting 1500,
afterGreetingSilence 800, totalAnalysisTime 5000, minimumWordLength 100,
betweenWordsSilence 50, maximumNumberOfWords 2 (MACHINE on the 3rd word),
silenceThreshold 256, maximumWordLength 5000.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lsdlab.detect.app_amd import AmdSettings, AppAmdDetector
from lsdlab.detect.base import StreamingDetector
from lsdlab.detect.types import FarEndType, GreetingEnd, Reason, SpeechOnset
from lsdlab.errors import ParameterError, SettingsError

SR = 8000
SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def voice(ms: int, rng) -> np.ndarray:
    """A speech-like burst: noise with mean |s| about 1500, far above the 256 threshold."""
    return rng.integers(-3000, 3001, size=ms * SR // 1000).astype(np.int16)


def quiet(ms: int, rng) -> np.ndarray:
    """Line noise with mean |s| about 50, below the threshold."""
    return rng.integers(-100, 101, size=ms * SR // 1000).astype(np.int16)


def build(parts, rng) -> np.ndarray:
    """parts: a string like 's500 v200 s200' (s = silence, v = voice, in ms)."""
    out = []
    for p in parts.split():
        kind, ms = p[0], int(p[1:])
        out.append(voice(ms, rng) if kind == "v" else quiet(ms, rng))
    return np.concatenate(out)


def run(y, settings=None, chunk=None):
    det = AppAmdDetector(settings)
    if chunk is None:
        det.push(y)
    else:
        for i in range(0, len(y), chunk):
            det.push(y[i : i + chunk])
    det.end()
    return det


# -- each cause fires when it should ---------------------------------------------------
CAUSES = [
    # id, settings, audio, type, reason, decided_at_s, AMDCAUSE
    # 125 silent frames: silenceDuration reaches 2500 at frame 125.
    (
        "initial-silence",
        {},
        "s4000",
        FarEndType.ANSWER_MACHINE,
        Reason.AMD_INITIAL_SILENCE,
        2.5,
        "INITIALSILENCE-2500-2500",
    ),
    # word frames 26-45 (greeting starts at frame 30), silence from frame 46: the 40th
    # silent frame (800 ms) is frame 85.
    ("human", {}, "s500 v400 s1500", FarEndType.LIVE, Reason.AMD_HUMAN, 1.70, "HUMAN-800-800"),
    # voice from frame 26: total voice 1500 ms at frame 100.
    (
        "long-greeting",
        {},
        "s500 v3000",
        FarEndType.ANSWER_MACHINE,
        Reason.AMD_LONG_GREETING,
        2.0,
        "LONGGREETING-1500-1500",
    ),
    # words counted at frames 30, 50 and 70 (5th voice frame of each 200 ms burst).
    (
        "max-words",
        {},
        "s500 v200 s200 v200 s200 v200 s200 v200 s200",
        FarEndType.ANSWER_MACHINE,
        Reason.AMD_MAX_WORDS,
        1.40,
        "MAXWORDS-3-2",
    ),
    # consecutive voice reaches 1000 ms at frame 75, before the 1500 ms greeting limit.
    (
        "max-word-length",
        {"maximum_word_length_ms": 1000},
        "s500 v3000",
        FarEndType.ANSWER_MACHINE,
        Reason.AMD_MAX_WORD_LENGTH,
        1.5,
        "MAXWORDLENGTH-1000",
    ),
    # two counted words, then blips shorter than a word, every silence < 800 ms and total
    # voice 560 ms: nothing decides before frame 250 (iTotalTime = 5000).
    (
        "too-long",
        {},
        "s2000 v200 s700 v200 s700 v80 s700 v80 s700 v80 s700",
        FarEndType.UNKNOWN,
        Reason.AMD_TOO_LONG,
        5.0,
        "TOOLONG-5000",
    ),
]


@pytest.mark.parametrize(
    "kw, parts, far_end_type, reason, at_s, cause",
    [c[1:] for c in CAUSES],
    ids=[c[0] for c in CAUSES],
)
def test_each_cause_fires_at_the_hand_computed_frame(
    rng, kw, parts, far_end_type, reason, at_s, cause
):
    det = run(build(parts, rng), AmdSettings(**kw))
    v = det.verdict
    assert (v.far_end_type, v.reason, v.decided_at_s) == (far_end_type, reason, at_s)
    assert det.amd_cause == cause
    status = {
        FarEndType.ANSWER_MACHINE: "MACHINE",
        FarEndType.LIVE: "HUMAN",
        FarEndType.UNKNOWN: "NOTSURE",
    }[far_end_type]
    assert det.amd_status == status
    assert v.confidence == (0.0 if far_end_type is FarEndType.UNKNOWN else 1.0)
    assert det.verdict in det.events and sum(e is det.verdict for e in det.events) == 1


def test_human_reports_speech_onset_and_greeting_end(rng):
    det = run(build("s500 v400 s1500", rng))
    onsets = [e for e in det.events if isinstance(e, SpeechOnset)]
    ends = [e for e in det.events if isinstance(e, GreetingEnd)]
    assert [e.at_s for e in onsets] == [0.5]
    assert [e.at_s for e in ends] == [0.9]


def test_hangup_before_a_decision(rng):
    det = AppAmdDetector()
    det.push(build("s500 v300", rng))
    assert det.verdict is None
    out = det.end()
    assert det.verdict in out
    assert (det.verdict.far_end_type, det.verdict.reason) == (FarEndType.UNKNOWN, Reason.HANGUP)
    assert (det.amd_status, det.amd_cause) == ("HANGUP", "")


def test_keeps_consuming_after_the_verdict(rng):
    det = AppAmdDetector()
    det.push(np.zeros(SR * 3, dtype=np.int16))
    v, n_events = det.verdict, len(det.events)
    assert det.push(build("v3000 s3000", rng)) == []
    assert det.push(np.zeros(37, dtype=np.float32)) == []
    assert det.end() == []
    assert det.verdict is v and len(det.events) == n_events
    assert det.time_s == pytest.approx(9.0, abs=0.01)


# -- tricky sequences, hand-computed from app_amd.c -------------------------------------
def test_blip_shorter_than_a_word_restarts_the_initial_silence(rng):
    # An 80 ms blip (< minimumWordLength) does not start the greeting, but it is a voiced
    # frame for the DSP, which resets its silence run: the 2500 ms count starts again after
    # the blip (frames 26-29), at frame 30, and reaches 2500 at frame 154.
    det = run(build("s500 v80 s3000", rng))
    assert det.verdict.reason is Reason.AMD_INITIAL_SILENCE
    assert det.verdict.decided_at_s == 3.08
    assert not [e for e in det.events if isinstance(e, SpeechOnset)]


@pytest.mark.parametrize(
    "gap_ms, reason, at_s, cause",
    [
        # gap of exactly betweenWordsSilence (3 frames = 60 ms >= 60): words split; words
        # counted at frames 30, 43 and 56.
        (60, Reason.AMD_MAX_WORDS, 1.12, "MAXWORDS-3-2"),
        # 40 ms < 60: one long "word"; total voice reaches 1500 ms (75 voice frames) at
        # frame 25 + 7 * 12 + 5 = 114.
        (40, Reason.AMD_LONG_GREETING, 2.28, "LONGGREETING-1500-1500"),
    ],
)
def test_silence_between_words_exactly_at_the_threshold(rng, gap_ms, reason, at_s, cause):
    s = AmdSettings(between_words_silence_ms=60)
    parts = "s500 " + " ".join(f"v200 s{gap_ms}" for _ in range(20))
    det = run(build(parts, rng), s)
    assert (det.verdict.reason, det.verdict.decided_at_s) == (reason, at_s)
    assert det.amd_cause == cause


def test_speech_from_the_first_frame_is_not_counted_as_a_word(rng):
    # currentState starts STATE_IN_WORD: the first burst (frames 1-10) starts the greeting
    # but is not a word; words are counted at frames 25, 45 and 65.
    det = run(build("v200 s200 v200 s200 v200 s200 v200 s200", rng))
    assert det.verdict.reason is Reason.AMD_MAX_WORDS
    assert det.verdict.decided_at_s == 1.30
    assert det.amd_cause == "MAXWORDS-3-2"
    assert [e.at_s for e in det.events if isinstance(e, SpeechOnset)] == [0.0]


def test_silence_just_short_of_after_greeting_silence_is_not_human(rng):
    # 780 ms (39 frames) of silence after the greeting does not decide; the next burst is
    # word 2 (frames 85-104); the 40th frame of the following silence is frame 144.
    det = run(build("s500 v400 s780 v400 s1500", rng))
    assert (det.verdict.reason, det.verdict.decided_at_s) == (Reason.AMD_HUMAN, 2.88)


@pytest.mark.parametrize(
    "level, reason, at_s",
    [
        (255, Reason.AMD_INITIAL_SILENCE, 2.5),  # mean |s| 255 < 256: silence
        # 256 is not below the threshold: voice from frame 1, greeting from frame 5,
        # 1500 ms of voice at frame 75.
        (256, Reason.AMD_LONG_GREETING, 1.5),
    ],
)
def test_threshold_is_strictly_below_mean_abs(level, reason, at_s):
    y = np.tile(np.array([level, -level], dtype=np.int16), SR * 3)
    det = run(y)
    assert (det.verdict.reason, det.verdict.decided_at_s) == (reason, at_s)


@pytest.mark.parametrize(
    "loud, reason", [(400, Reason.AMD_INITIAL_SILENCE), (600, Reason.AMD_LONG_GREETING)]
)
@pytest.mark.parametrize("offset", [0, 80])
def test_energy_is_averaged_over_the_whole_20ms_frame(loud, reason, offset):
    # 10 ms at |s| = loud then 10 ms of zeros: the 160-sample mean is loud / 2, so 400
    # gives 200 (silence) and 600 gives 300 (voice), whatever the phase.
    half = np.tile(np.array([loud, -loud], dtype=np.int16), 40)
    y = np.tile(np.concatenate([half, np.zeros(80, np.int16)]), 300)[offset:]
    assert run(y).verdict.reason is reason


def test_float_and_int16_input_agree(rng):
    y = build("s500 v200 s60 v200 s60 v900 s500", rng)
    a, b = run(y), run(y.astype(np.float32) / 32768.0)
    assert a.verdict == b.verdict and a.amd_cause == b.amd_cause


# -- frame-size invariance --------------------------------------------------------------
def _clip(name: str) -> np.ndarray:
    import soundfile as sf

    path = SOUNDS / f"{name}.wav"
    if not path.is_file():
        pytest.skip(f"{path} absent (Debian package asterisk-core-sounds-en-wav)")
    y, sr = sf.read(str(path), dtype="int16")
    assert sr == SR
    return y


@pytest.mark.parametrize("name", ["hello", "vm-intro", "tt-weasels"])
def test_frame_size_invariance_on_real_speech(name):
    y = np.concatenate([np.zeros(4000, np.int16), _clip(name), np.zeros(3 * SR, np.int16)])
    runs = [run(y, chunk=c) for c in (80, 160, 296, 8000)]  # 10, 20, 37 ms and 1 s
    ref = runs[0]
    for r in runs[1:]:
        assert r.verdict == ref.verdict
        assert r.events == ref.events
        assert r.amd_cause == ref.amd_cause


@settings(max_examples=25, deadline=None)
@given(
    segs=st.lists(st.tuples(st.booleans(), st.integers(1, 900)), min_size=1, max_size=12),
    chunks=st.lists(st.integers(1, 3000), min_size=1, max_size=6),
    seed=st.integers(0, 2**16),
)
def test_any_audio_gives_one_verdict_by_the_timeout_whatever_the_slicing(segs, chunks, seed):
    rng = np.random.default_rng(seed)
    y = np.concatenate(
        [voice(ms, rng) if v else quiet(ms, rng) for v, ms in segs] + [quiet(6000, rng)]
    )
    whole = run(y)
    det = AppAmdDetector()
    i = k = 0
    while i < len(y):
        n = chunks[k % len(chunks)]
        det.push(y[i : i + n])
        i, k = i + n, k + 1
    det.end()
    assert det.verdict == whole.verdict and det.events == whole.events
    assert det.verdict.decided_at_s <= det.timeout_ms / 1000
    assert det.verdict.far_end_type is not FarEndType.FAX_MACHINE


# -- real speech (Allison prompts) ------------------------------------------------------
@pytest.mark.parametrize("name", ["hello", "goodbye", "vm-goodbye"])
def test_real_short_greeting_then_silence_is_human(name):
    y = _clip(name)
    det = run(np.concatenate([np.zeros(4000, np.int16), y, np.zeros(2 * SR, np.int16)]))
    assert det.verdict.far_end_type is FarEndType.LIVE
    (end,) = [e for e in det.events if isinstance(e, GreetingEnd)]
    assert det.verdict.decided_at_s == pytest.approx(end.at_s + 0.8)
    assert 0.5 < end.at_s <= 0.5 + len(y) / SR + 0.02


@pytest.mark.parametrize("name", ["vm-intro", "demo-congrats", "tt-weasels"])
def test_real_long_prompt_is_machine(name):
    y = _clip(name)
    det = run(np.concatenate([np.zeros(4000, np.int16), y]))
    assert det.verdict.far_end_type is FarEndType.ANSWER_MACHINE
    assert det.verdict.reason in (Reason.AMD_LONG_GREETING, Reason.AMD_MAX_WORDS)
    assert det.verdict.decided_at_s < 3.0


# -- settings ---------------------------------------------------------------------------
def test_defaults_and_backend():
    s = AmdSettings()
    assert s.to_dict() == {
        "backend": "app_amd",
        "initial_silence_ms": 2500,
        "greeting_ms": 1500,
        "after_greeting_silence_ms": 800,
        "total_analysis_time_ms": 5000,
        "minimum_word_length_ms": 100,
        "between_words_silence_ms": 50,
        "maximum_number_of_words": 2,
        "silence_threshold": 256,
        "maximum_word_length_ms": 5000,
    }
    assert AmdSettings.backend == AppAmdDetector.backend == "app_amd"
    assert issubclass(AppAmdDetector, StreamingDetector)
    assert AppAmdDetector().timeout_ms == 5000
    assert AmdSettings(total_analysis_time_ms=5010).timeout_ms == 5020


def test_timeout_not_a_frame_multiple_decides_at_the_next_frame():
    det = run(
        np.tile(np.array([300, -300, 0, 0], np.int16), SR * 2)[: SR * 6],
        AmdSettings(total_analysis_time_ms=1010, initial_silence_ms=5000),
    )
    assert (det.verdict.reason, det.verdict.decided_at_s) == (Reason.AMD_TOO_LONG, 1.02)
    assert det.amd_cause == "TOOLONG-1020"


SETTINGS_FIELDS = [k for k in AmdSettings().to_dict() if k != "backend"]


@pytest.mark.parametrize("field", SETTINGS_FIELDS)
@pytest.mark.parametrize("bad", [-1, 70000, 2.5, True, "100", None])
def test_every_field_is_validated(field, bad):
    with pytest.raises(ParameterError, match=rf"'{field}' parameter of AmdSettings must be an int"):
        AmdSettings(**{field: bad})


@pytest.mark.parametrize(
    "field, low, high",
    [
        ("maximum_number_of_words", 0, 1000),
        ("silence_threshold", 0, 32767),
        ("initial_silence_ms", 1, 60000),
    ],
)
def test_range_edges(field, low, high):
    assert getattr(AmdSettings(**{field: low}), field) == low
    assert getattr(AmdSettings(**{field: high}), field) == high
    with pytest.raises(ParameterError, match=rf"\[{low}, {high}\]"):
        AmdSettings(**{field: high + 1})


def test_dict_round_trip_and_unknown_keys():
    s = AmdSettings(greeting_ms=2000, maximum_number_of_words=4, silence_threshold=300)
    assert AmdSettings.from_dict(s.to_dict()) == s
    assert AmdSettings.from_dict({}) == AmdSettings()
    with pytest.raises(SettingsError, match="unknown AmdSettings key.*'greeting'"):
        AmdSettings.from_dict({"greeting": 1500})
    with pytest.raises(SettingsError, match="expects a dict"):
        AmdSettings.from_dict([("greeting_ms", 1)])
    with pytest.raises(SettingsError, match="backend is 'default', expected 'app_amd'"):
        AmdSettings.from_dict({"backend": "default"})
    with pytest.raises(SettingsError, match="'greeting_ms' parameter of AmdSettings"):
        AmdSettings.from_dict({"greeting_ms": 0})


def test_detector_rejects_wrong_settings_type():
    with pytest.raises(ParameterError, match="'settings' parameter of AppAmdDetector"):
        AppAmdDetector({"greeting_ms": 1500})


def test_nan_audio_is_a_parameter_error():
    with pytest.raises(ParameterError, match="finite"):
        AppAmdDetector().push(np.array([0.0, np.nan], dtype=np.float32))


# -- amd.conf / AMD() -------------------------------------------------------------------
@pytest.mark.parametrize(
    "s",
    [
        AmdSettings(),
        AmdSettings(
            initial_silence_ms=3000,
            greeting_ms=1200,
            maximum_number_of_words=5,
            silence_threshold=180,
            maximum_word_length_ms=4000,
            total_analysis_time_ms=7000,
        ),
    ],
)
def test_amd_conf_round_trip(s):
    text = s.to_amd_conf()
    assert "[general]" in text and "min_word_length = " in text
    assert AmdSettings.from_amd_conf(text) == s
    assert AmdSettings.from_amd_args(s.to_amd_args()) == s


USER_CONF = """\
; my amd.conf
;-- an old block comment
maximum_number_of_words = 9
--;
[General]
Total_Analysis_Time = 4000\t; per campaign
silence_threshold=200
initial_silence => 2000
greeting = 1000   ; first value
greeting = 1100   ; Asterisk keeps the last one
"""


def test_amd_conf_asterisk_syntax():
    s = AmdSettings.from_amd_conf(USER_CONF)
    assert (s.total_analysis_time_ms, s.silence_threshold, s.initial_silence_ms, s.greeting_ms) == (
        4000,
        200,
        2000,
        1100,
    )
    assert s.maximum_number_of_words == 2  # only in a comment
    assert s.after_greeting_silence_ms == 800  # omitted: Asterisk's default


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "[general]\ninitial_silence = 2500\nmax_words = 3\n",
            r"line 3: unknown amd.conf key 'max_words'",
        ),
        ("[general]\ngreeting = 1.5s\n", r"line 2: the value of 'greeting' must be an integer"),
        ("[general]\ngreeting = 0\n", r"line 2: greeting = 0 is out of range"),
        (
            "[general]\n\nsilence_threshold = 40000\n",
            r"line 3: silence_threshold = 40000 is out of range",
        ),
        ("greeting = 1500\n", r"line 1: 'greeting' appears before any section"),
        ("[general]\n[amd]\n", r"line 2: section \[amd\] is not used"),
        ("[general](!)\n", r"line 1: section \[general\]\(!\) is not used"),
        ("#include other.conf\n", r"line 1: directive '#include' is not supported"),
        ("[general]\ngreeting\n", r"line 2: expected 'key = value'"),
    ],
)
def test_amd_conf_errors_name_the_line(text, match):
    with pytest.raises(SettingsError, match=match):
        AmdSettings.from_amd_conf(text)


def test_amd_conf_source_name_in_errors():
    with pytest.raises(SettingsError, match=r"^/etc/asterisk/amd.conf line 2"):
        AmdSettings.from_amd_conf("[general]\nfoo=1\n", source="/etc/asterisk/amd.conf")
    with pytest.raises(SettingsError, match="expected the text of an amd.conf"):
        AmdSettings.from_amd_conf(b"[general]\n")


def test_amd_args_like_the_dialplan():
    base = AmdSettings.from_amd_conf("[general]\ngreeting = 1100\n")
    s = AmdSettings.from_amd_args("3000,,,7000", base=base)
    assert (s.initial_silence_ms, s.greeting_ms, s.total_analysis_time_ms) == (3000, 1100, 7000)
    assert AmdSettings.from_amd_args("") == AmdSettings()


@pytest.mark.parametrize(
    "args, match",
    [
        ("1,2,3,4,5,6,7,8,9,10", r"at most 9 arguments"),
        ("2500,abc", r"AMD\(\) argument 2: the value of 'greeting_ms' must be an integer"),
        (",,,,,,,99999", r"AMD\(\) argument 8: silence_threshold = 99999 is out of range"),
    ],
)
def test_amd_args_errors(args, match):
    with pytest.raises(SettingsError, match=match):
        AmdSettings.from_amd_args(args)


def test_app_amd_backend_supports_machine_readiness():
    # regression: wait_for_answer_machine on a call with app_amd settings raised AttributeError
    from lsdlab.audio import tones
    from lsdlab.detect import make_detector
    from lsdlab.detect.types import MachineReady

    vm = _clip("vm-intro").astype(np.float32) / 32768
    y = np.concatenate([np.zeros(4000, np.float32), vm, np.zeros(4000, np.float32),
                        tones.beep(1000.0, 0.4), np.zeros(24000, np.float32)])
    det = make_detector(AmdSettings())
    i = 0
    while det.verdict is None:
        det.push(y[i : i + 160])
        i += 160
    assert det.verdict.far_end_type is FarEndType.ANSWER_MACHINE
    det.arm_machine_ready(min_beep_ms=180, post_beep_silence_ms=1000)
    ready = [e for e in det.push(y[i:]) if isinstance(e, MachineReady)]
    beep_end_s = (4000 + len(vm) + 4000 + 3200) / 8000
    assert len(ready) == 1 and ready[0].after_beep
    assert beep_end_s + 1.0 <= ready[0].at_s <= beep_end_s + 1.1
