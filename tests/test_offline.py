"""The whole-file offline path gives exactly what 20 ms streaming gives.

Every call of a corpus sample (corpora/demo, real-dev's recordings, and real-dev's phone-speech
built into call-shaped answers) is run both ways; the verdict (far-end type, reason, decision
time, confidence), every event and the whole CallTrace (every array, bit for bit) must match.
The benchmark (benchmarks/bench_scale.py) checks every call of those corpora; this is a sample.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from lsdlab.audio import load
from lsdlab.corpus import load as load_corpus
from lsdlab.detect import DetectorSettings, LiveSpeakerDetector, classify, trace_audio
from lsdlab.detect.model import default_model
from lsdlab.detect.offline import batch_machine_proba, run_offline
from lsdlab.errors import ParameterError

REPO = Path(__file__).resolve().parent.parent
SETTINGS = DetectorSettings()


def _stream(y, settings, *, trace=False, frame=160) -> LiveSpeakerDetector:
    det = LiveSpeakerDetector(settings, trace=trace)
    for i in range(0, len(y), frame):
        det.push(y[i : i + frame])
    det.end()
    return det


def _same_run(a: LiveSpeakerDetector, b: LiveSpeakerDetector, what: str) -> None:
    assert a.verdict == b.verdict, what
    assert a.events == b.events, what
    assert a.n_hops == b.n_hops and a.speech_bursts() == b.speech_bursts(), what
    if a.trace is not None or b.trace is not None:
        assert a.trace is not None and b.trace is not None
        ta, tb = a.trace.to_arrays(), b.trace.to_arrays()
        for k in ta:
            assert ta[k].dtype == tb[k].dtype and np.array_equal(ta[k], tb[k]), f"{what}: trace {k}"
        assert a.trace == b.trace, what


def _check_clip(y, what: str, settings=SETTINGS) -> None:
    _same_run(_stream(y, settings), run_offline(y, settings), what)
    _same_run(_stream(y, settings, trace=True), run_offline(y, settings, trace=True), what + " (trace)")
    stopped = run_offline(y, settings, stop_at_verdict=True)
    assert stopped.verdict == _stream(y, settings).verdict, what


def test_demo_sample_offline_equals_streaming():
    corpus = load_corpus(REPO / "corpora" / "demo")
    calls = corpus.calls[::15]  # every kind of answer: machines with beeps, people, fax, silence
    assert len(calls) >= 30
    for c in calls:
        _check_clip(load(c.audio_path)[0], c.path)


def test_real_dev_sample_offline_equals_streaming(real_dev):
    with open(real_dev / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    sample = rows[::60]  # 30 of 1,756: real greetings and real people's utterances
    assert {r["label"] for r in sample} >= {"machine", "utterance"}
    for r in sample:
        _check_clip(load(real_dev / r["path"])[0], r["path"])


def test_phone_speech_sample_offline_equals_streaming(real_dev, tmp_path):
    from lsdlab.corpus.phone import build_phone_speech

    if not (real_dev / "phone-speech").is_dir():
        pytest.skip(f"real-dev's phone-speech/ is not at {real_dev}")
    corpus = load_corpus(build_phone_speech(tmp_path / "phone-speech", real_dev=real_dev))
    for c in corpus.calls[::10]:
        _check_clip(load(c.audio_path)[0], c.path)


@pytest.mark.parametrize("settings", [
    DetectorSettings(timer_mode="TIMEOUT_FROM_ANSWER_DETECT", timeout_ms=3000, initial_silence_ms=1500),
    DetectorSettings(machine_threshold=0.6, end_of_turn_silence_ms=500, speech_deadline_ms=2500),
    DetectorSettings(vad="silero"),  # speech activity from Silero VAD, sample-clocked
])
def test_offline_equals_streaming_under_other_settings(settings):
    corpus = load_corpus(REPO / "corpora" / "demo")
    for c in corpus.calls[5::40]:
        _check_clip(load(c.audio_path)[0], c.path, settings)


def test_block_length_and_int16_input_do_not_change_anything():
    corpus = load_corpus(REPO / "corpora" / "demo")
    y = load(corpus.calls[3].audio_path)[0]
    y16 = np.round(y * 32767).astype(np.int16)
    ref = _stream(y16, SETTINGS, trace=True, frame=333)  # pieces that split hops
    for chunk in (1, 7, 64, 1000, 10**6):
        _same_run(ref, run_offline(y16, SETTINGS, trace=True, chunk_hops=chunk), f"chunk_hops={chunk}")


def test_classify_and_trace_audio_take_the_offline_path_with_streaming_results():
    corpus = load_corpus(REPO / "corpora" / "demo")
    for c in corpus.calls[1::49]:
        y = load(c.audio_path)[0]
        assert classify(y, 8000, SETTINGS) == classify(y, 8000, SETTINGS, frame_length=160) == _stream(y, SETTINGS).verdict
        assert classify(y, 8000, SETTINGS, stop_at_verdict=False) == _stream(y, SETTINGS).verdict
        assert trace_audio(y, 8000, SETTINGS) == _stream(y, SETTINGS, trace=True).trace
        cut, ref = trace_audio(y, 8000, SETTINGS, max_s=2.5), _stream(y[:20000], SETTINGS, trace=True).trace
        assert ref is not None and ref.ended and not cut.ended
        ref.ended = False
        assert cut == ref


def test_batch_machine_proba_equals_the_one_row_path():
    model = default_model()
    corpus = load_corpus(REPO / "corpora" / "demo")
    X = np.concatenate([_stream(load(c.audio_path)[0], SETTINGS, trace=True).trace.X for c in corpus.calls[::25]])
    X = np.concatenate([X, np.full((1, X.shape[1]), np.nan), X[:50] * 1.7])  # NaN goes right, as one row does
    assert len(X) > 500
    got = batch_machine_proba(model, X)
    want = np.array([model.machine_proba(x) for x in X])
    assert got.dtype == np.float64 and np.array_equal(got, want)


def test_chunk_hops_is_checked():
    with pytest.raises(ParameterError, match="chunk_hops"):
        run_offline(np.zeros(800, np.float32), SETTINGS, chunk_hops=0)
