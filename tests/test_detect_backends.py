"""One contract, checked on every registered detector backend (as scikit-learn runs one check
suite over every estimator): frame-size invariance, exactly one verdict, determinism,
validation, the call options and readiness. A new backend is checked by registering it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsdlab.audio.io import load
from lsdlab.detect import Verdict, make_detector, settings_from_dict, with_call_options
from lsdlab.detect.backends import (
    BACKEND_NAMES,
    backend_of,
    backends,
    get_backend,
    is_detector_settings,
)
from lsdlab.errors import ParameterError, SettingsError

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"
CLIPS = ("human/human-001.wav", "machine/machine-001.wav", "fax/fax-001.wav")


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    out = {}
    for rel in CLIPS:
        y, sr = load(DEMO / rel)
        assert sr == 8000
        out[rel] = y[: 8 * 8000]
    return out


def _run(backend, y: np.ndarray, frame: int, settings=None) -> list:
    det = backend.make(settings)
    for i in range(0, len(y), frame):
        det.push(y[i : i + frame])
    det.end()
    return list(det.events)


@pytest.fixture(params=BACKEND_NAMES)
def backend(request):
    return get_backend(request.param)


def test_the_registry_names_every_backend_once():
    assert BACKEND_NAMES[0] == "default" and len(set(BACKEND_NAMES)) == len(BACKEND_NAMES) >= 2
    assert [b.name for b in backends()] == list(BACKEND_NAMES)
    with pytest.raises(ParameterError, match=r"must be one of \['default', 'app_amd'\]\. Got 'amd' instead"):
        get_backend("amd")


@pytest.mark.parametrize("rel", CLIPS)
def test_frame_size_does_not_change_any_event(backend, clips, rel):
    ref = _run(backend, clips[rel], 80)
    for frame in (160, 333, 8000):
        assert _run(backend, clips[rel], frame) == ref, (backend.name, rel, frame)


@pytest.mark.parametrize("rel", CLIPS)
def test_exactly_one_verdict_and_nothing_after_end(backend, clips, rel):
    det = backend.make()
    det.push(clips[rel])
    det.end()
    assert sum(isinstance(e, Verdict) for e in det.events) == 1 and det.verdict is not None
    assert det.end() == []  # a second end raises nothing more
    with pytest.raises(ParameterError, match="after end"):
        det.push(clips[rel][:80])


def test_deterministic(backend, clips):
    y = np.concatenate([clips[r] for r in CLIPS])
    assert _run(backend, y, 160) == _run(backend, y, 160)


def test_settings_validate_and_round_trip(backend):
    s = backend.settings_class()
    assert backend_of(s) is backend and is_detector_settings(s) and not is_detector_settings({"backend": backend.name})
    d = s.to_dict()
    assert d["backend"] == backend.name and settings_from_dict(d) == s
    with pytest.raises(SettingsError, match="unknown"):
        settings_from_dict({**d, "no_such_key": 1})
    assert type(make_detector(d)) is backend.detector_class


def test_one_with_call_on_every_backend(backend):
    s = backend.settings_class()
    t = s.with_call(3200, "TIMEOUT_FROM_ANSWER_DETECT")
    assert type(t) is type(s) and t != s and 3200 in t.to_dict().values()
    assert s.with_call() is s and with_call_options(s, timeout_ms=3200, timer_mode="TIMEOUT_FROM_ANSWER_DETECT") == t
    with pytest.raises(ParameterError, match=r"lsd_timeout_milliseconds.*\[500, 10000\]"):
        s.with_call(100)


def test_every_backend_answers_machine_readiness(backend, clips):
    det = backend.make()
    det.push(clips["machine/machine-001.wav"][:8000])
    assert det.arm_machine_ready(min_beep_ms=180, post_beep_silence_ms=1000) == []
    det.push(np.zeros(6 * 8000, dtype=np.float32))  # a long silence: ready without a beep
    assert any(type(e).__name__ == "MachineReady" for e in det.events)


def test_the_command_line_offers_every_backend():
    """The CLI names the backends literally (building the parser must not import the detector);
    this keeps those lists equal to the registry."""
    import argparse

    from lsdlab.cli import build_parser

    def backend_choices(parser) -> list:
        out = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in dict.fromkeys(action.choices.values()):
                    out += backend_choices(sub)
            elif "--backend" in action.option_strings:
                out.append(tuple(action.choices))
        return out

    found = backend_choices(build_parser())
    assert len(found) >= 2 and all(c == BACKEND_NAMES for c in found), found
