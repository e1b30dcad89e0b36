"""Every validation error of the detector's settings and entry points names what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lsdlab.detect import (
    DetectorSettings,
    LiveSpeakerDetector,
    TimerMode,
    classify,
    make_detector,
    settings_from_dict,
    trace_audio,
    with_call_options,
)
from lsdlab.detect.app_amd import AmdSettings
from lsdlab.errors import LsdlabError, ParameterError, SettingsError

SR = 8000
RANGE = r"must be an int in the range \[500, 10000\]"


# --------------------------------------------------------------------------- DetectorSettings
@pytest.mark.parametrize("value", [499, 10001, 0, -1, 12000])
def test_timeout_ms_out_of_range_names_the_field_and_the_range(value):
    with pytest.raises(ParameterError, match=rf"'timeout_ms' parameter of DetectorSettings {RANGE}\. Got {value} instead"):
        DetectorSettings(timeout_ms=value)


@pytest.mark.parametrize("value", [500, 10000])
def test_timeout_ms_bounds_are_inclusive(value):
    assert DetectorSettings(timeout_ms=value).timeout_ms == value


@pytest.mark.parametrize("value", [2000.5, "7000", True, None, np.nan])
def test_timeout_ms_wrong_type(value):
    with pytest.raises(ParameterError, match=rf"'timeout_ms' parameter of DetectorSettings {RANGE}"):
        DetectorSettings(timeout_ms=value)


def test_timeout_ms_numpy_int_is_accepted():
    assert DetectorSettings(timeout_ms=np.int64(3000)).timeout_ms == 3000


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("machine_threshold", 0.49, r"'machine_threshold' .* range \[0\.5, 1\.0\]\. Got 0\.49"),
        ("machine_threshold", 1.01, r"'machine_threshold' .* range \[0\.5, 1\.0\]"),
        ("machine_threshold", float("nan"), r"'machine_threshold' .* Got nan"),
        ("machine_threshold", "0.9", r"'machine_threshold' .* must be a number"),
        ("human_threshold", -0.1, r"'human_threshold' .* range \[0\.0, 1\.0\]"),
        ("human_threshold", float("inf"), r"'human_threshold' .* Got inf"),
        ("end_of_turn_silence_ms", 99, r"'end_of_turn_silence_ms' .* range \[100, 5000\]\. Got 99"),
        ("end_of_turn_silence_ms", 5001, r"'end_of_turn_silence_ms' .* range \[100, 5000\]"),
        ("end_of_turn_silence_ms", 700.0, r"'end_of_turn_silence_ms' .* must be an int"),
        ("timeout_machine_threshold", 1.5, r"'timeout_machine_threshold' .* range \[0\.0, 1\.0\]"),
        ("initial_silence_ms", 499, r"'initial_silence_ms' .* range \[500, 10000\]\. Got 499"),
        ("initial_silence_ms", 10001, r"'initial_silence_ms' .* range \[500, 10000\]"),
        ("speech_deadline_ms", 199, r"'speech_deadline_ms' .* range \[200, 10000\]\. Got 199"),
        ("speech_deadline_ms", 10001, r"'speech_deadline_ms' .* range \[200, 10000\]"),
        ("initial_silence_result", "human", r"'initial_silence_result' .* one of \['unknown', 'machine'\]\. Got 'human'"),
        ("beep_min_ms", 39, r"'beep_min_ms' .* range \[40, 2000\]\. Got 39"),
        ("beep_min_ms", 2001, r"'beep_min_ms' .* range \[40, 2000\]"),
        ("vad_margin_db", 2.9, r"'vad_margin_db' .* range \[3\.0, 30\.0\]"),
        ("vad_margin_db", 31, r"'vad_margin_db' .* range \[3\.0, 30\.0\]"),
        ("fax_detect", 1, r"'fax_detect' parameter of DetectorSettings must be a bool\. Got 1"),
        ("beep_detect", "yes", r"'beep_detect' .* must be a bool"),
        ("sit_detect", None, r"'sit_detect' .* must be a bool"),
        ("model", "", r"'model' parameter of DetectorSettings must be 'builtin:default' or a path"),
        ("model", 3, r"'model' parameter of DetectorSettings"),
    ],
)
def test_detector_settings_field_errors(field, value, pattern):
    with pytest.raises(ParameterError, match=pattern):
        DetectorSettings(**{field: value})


@pytest.mark.parametrize("value", ["FROM_CONNECT", "", 3, None])
def test_bad_timer_mode(value):
    with pytest.raises(ParameterError, match=r"'timer_mode' parameter of DetectorSettings must be one of \['TIMEOUT_FROM_NETWORK_CONNECT', 'TIMEOUT_FROM_ANSWER_DETECT'\]"):
        DetectorSettings(timer_mode=value)


@pytest.mark.parametrize("mode", list(TimerMode))
def test_timer_mode_from_its_name(mode):
    assert DetectorSettings(timer_mode=mode.name).timer_mode is mode


def test_replace_validates():
    s = DetectorSettings()
    with pytest.raises(ParameterError, match=r"'timeout_ms' .* Got 499"):
        s.replace(timeout_ms=499)
    assert s.replace(timeout_ms=2500).timeout_ms == 2500
    assert s.timeout_ms == 7000  # frozen, unchanged


def test_settings_are_frozen():
    s = DetectorSettings()
    with pytest.raises(AttributeError):
        s.timeout_ms = 3000  # type: ignore[misc]


# --------------------------------------------------------------------------- JSON round trip
def test_settings_json_round_trip():
    s = DetectorSettings(timeout_ms=3500, timer_mode=TimerMode.TIMEOUT_FROM_ANSWER_DETECT, machine_threshold=0.9,
                         initial_silence_ms=2500, initial_silence_result="machine", speech_deadline_ms=2000,
                         beep_min_ms=200, fax_detect=False)
    d = json.loads(s.to_json())
    assert d["backend"] == "default" and d["timer_mode"] == "TIMEOUT_FROM_ANSWER_DETECT"
    assert settings_from_dict(d) == s
    assert DetectorSettings.from_dict(d) == s


def test_amd_settings_round_trip_through_settings_from_dict():
    s = AmdSettings()
    assert settings_from_dict(s.to_dict()) == s


def test_settings_from_dict_unknown_key():
    with pytest.raises(SettingsError, match=r"detector\.timeout_s: unknown key for the 'default' backend; known keys: .*'timeout_ms'"):
        settings_from_dict({"backend": "default", "timeout_s": 5})


def test_settings_from_dict_bad_backend():
    with pytest.raises(SettingsError, match=r"detector\.backend: unknown backend 'webrtc'; use 'default' or 'app_amd'"):
        settings_from_dict({"backend": "webrtc"})


@pytest.mark.parametrize("d", [[1, 2], "timeout_ms=5000", None])
def test_settings_from_dict_not_an_object(d):
    with pytest.raises(SettingsError, match=r"detector settings must be a JSON object"):
        settings_from_dict(d)


def test_settings_from_dict_bad_value_is_a_settings_error_naming_the_field():
    with pytest.raises(SettingsError, match=r"'timeout_ms' parameter of DetectorSettings must be an int in the range \[500, 10000\]\. Got 12000"):
        settings_from_dict({"backend": "default", "timeout_ms": 12000})


def test_from_dict_of_the_wrong_backend():
    with pytest.raises(SettingsError, match=r"detector\.backend is 'app_amd', expected 'default'"):
        DetectorSettings.from_dict({"backend": "app_amd"})


# --------------------------------------------------------------------------- with_call_options
@pytest.mark.parametrize("value", [499, 10001, 12000])
@pytest.mark.parametrize("settings", [None, DetectorSettings(), AmdSettings()], ids=["none", "default", "app_amd"])
def test_with_call_options_timeout_out_of_range(settings, value):
    with pytest.raises(ParameterError, match=rf"'lsd_timeout_milliseconds' parameter of start_call {RANGE}\. Got {value} instead"):
        with_call_options(settings, timeout_ms=value)


def test_with_call_options_applies_timeout_and_mode():
    s = with_call_options(DetectorSettings(), timeout_ms=2500, timer_mode="TIMEOUT_FROM_ANSWER_DETECT")
    assert s.timeout_ms == 2500 and s.timer_mode is TimerMode.TIMEOUT_FROM_ANSWER_DETECT
    a = with_call_options(AmdSettings(), timeout_ms=2500)
    assert a.total_analysis_time_ms == 2500


def test_with_call_options_bad_timer_mode():
    with pytest.raises((ParameterError, ValueError), match=r"TIMEOUT_FROM_NOWHERE"):
        with_call_options(DetectorSettings(), timer_mode="TIMEOUT_FROM_NOWHERE")


def test_make_detector_rejects_other_objects():
    with pytest.raises(ParameterError, match=r"'settings' parameter of make_detector must be DetectorSettings, AmdSettings or a settings dict\. Got str"):
        make_detector("default")


def test_live_speaker_detector_rejects_amd_settings():
    with pytest.raises(ParameterError, match=r"'settings' parameter of LiveSpeakerDetector must be a DetectorSettings\. Got AmdSettings.*make_detector"):
        LiveSpeakerDetector(AmdSettings())


# --------------------------------------------------------------------------- audio entry points
def test_classify_2d_audio():
    with pytest.raises(ParameterError, match=r"'y' parameter of classify must be a 1-D \(mono\) array.*shape \(8000, 2\)"):
        classify(np.zeros((8000, 2), np.float32), SR)


def test_audio_entry_points_name_the_load_pair(tmp_path):
    """The (y, sr) pair from load passed whole gets a hint, not numpy's 'inhomogeneous shape'."""
    from lsdlab.audio import load, save_wav
    from lsdlab.detect.offline import run_offline

    f = tmp_path / "x.wav"
    save_wav(f, np.zeros(800, np.float32), SR)
    pair = load(f)
    with pytest.raises(ParameterError, match=r"'y' parameter of run_offline .*\(y, sr\) pair .*y, sr = load"):
        run_offline(pair)
    with pytest.raises(ParameterError, match=r"'y' parameter of classify .*\(y, sr\) pair"):
        classify(pair, SR)
    with pytest.raises(ParameterError, match=r"'y' parameter of classify must be a 1-D array.*list.*cannot"):
        classify([np.zeros(3), np.zeros(4)], SR)


@pytest.mark.parametrize("sr", [0, -8000, 8000.5, "8000", None])
def test_classify_bad_sr(sr):
    with pytest.raises(ParameterError, match=r"'sr' parameter of classify must be a positive int\. Got"):
        classify(np.zeros(8000, np.float32), sr)


def test_classify_resamples_other_rates():
    v = classify(np.zeros(16000 * 3, np.float32), 16000, DetectorSettings(timeout_ms=2000))
    assert v.decided_at_s == 2.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("index", [0, 1234, 7999])
def test_classify_non_finite_samples_name_the_index(bad, index):
    y = np.zeros(8000, np.float32)
    y[index] = bad
    with pytest.raises(ParameterError, match=rf"'y' parameter of classify must hold finite samples\. Got a NaN or infinite value at index {index}"):
        classify(y, SR)


def test_push_non_finite_names_the_frame_and_index():
    det = LiveSpeakerDetector(DetectorSettings())
    frame = np.zeros(160, np.float32)
    frame[17] = np.nan
    with pytest.raises(ParameterError, match=r"'frame' parameter of LiveSpeakerDetector\.push must hold finite samples.*index 17"):
        det.push(frame)


@pytest.mark.parametrize("dtype", ["U4", "complex64", "object"])
def test_push_wrong_dtype(dtype):
    det = LiveSpeakerDetector(DetectorSettings())
    with pytest.raises(ParameterError, match=r"'frame' parameter of LiveSpeakerDetector\.push must hold float or int16 samples"):
        det.push(np.zeros(160, dtype=dtype))


def test_trace_audio_validates_like_classify():
    with pytest.raises(ParameterError, match=r"'y' parameter of trace_audio must hold finite samples.*index 5"):
        trace_audio(np.r_[np.zeros(5, np.float32), np.float32(np.inf)], SR)


def test_arm_machine_ready_validates():
    det = LiveSpeakerDetector(DetectorSettings())
    with pytest.raises(ParameterError, match=r"'min_beep_ms' parameter of arm_machine_ready must be an int in the range \[10, 10000\]\. Got 5"):
        det.arm_machine_ready(min_beep_ms=5)
    with pytest.raises(ParameterError, match=r"'no_beep_silence_ms' parameter of arm_machine_ready"):
        det.arm_machine_ready(no_beep_silence_ms=50)
    with pytest.raises(ParameterError, match=r"'post_beep_silence_ms' parameter of arm_machine_ready"):
        det.arm_machine_ready(post_beep_silence_ms=-1)


def test_errors_share_the_root():
    assert issubclass(ParameterError, LsdlabError) and issubclass(SettingsError, LsdlabError)
