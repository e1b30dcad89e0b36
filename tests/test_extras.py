"""What `pip install lsdlab` gives a dialer host: the core alone works, extras are named when missing.

The slow test builds the wheel, installs it with only its core dependencies into a fresh
virtual environment (on Python 3.13 when this machine has it: the core must run there), and
uses it there as a user would.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _subset import DEMO, subset_corpus

import lsdlab
from lsdlab._extras import EXTRAS, MissingExtraError, missing_modules, require
from lsdlab.data import SHIPPED_COUNTRIES, demo_corpus, message_wav, settings_path
from lsdlab.errors import LsdlabError, ParameterError

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- shipped files
@pytest.mark.parametrize("country", SHIPPED_COUNTRIES)
def test_shipped_settings_are_the_settings_folder(country):
    p = settings_path(country)
    assert p.read_bytes() == (REPO / "settings" / f"{country}.json").read_bytes()
    assert lsdlab.load_settings(p).country == country
    assert settings_path(country.lower()) == p


def test_settings_path_names_the_shipped_countries():
    with pytest.raises(ParameterError, match=r"'country' parameter of settings_path must be one of US, GB.*'FR'.*lsdlab tune"):
        settings_path("FR")


def test_demo_corpus_is_the_checkouts_when_there_is_one():
    if not (DEMO / "manifest.csv").is_file():
        pytest.skip(f"corpora/demo is missing at {DEMO}")
    assert demo_corpus(build=False) == DEMO


def test_message_is_a_short_8khz_mono_wav_of_speech():
    info = sf.info(str(message_wav()))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert 3.0 <= info.duration <= 10.0
    y, _ = sf.read(str(message_wav()), dtype="float32")
    assert 0.5 < np.abs(y).max() <= 1.0  # normalised, not silent
    assert (message_wav().parent / "ATTRIBUTION.md").read_text().count("espeak-ng") >= 1


# --------------------------------------------------------------------------- the error
def test_missing_extra_error_is_an_import_error_and_an_lsdlab_error():
    assert issubclass(MissingExtraError, ImportError) and issubclass(MissingExtraError, LsdlabError)
    assert lsdlab.MissingExtraError is MissingExtraError


def test_this_environment_has_every_extra():
    # make installs lsdlab[all,dev]: nothing may be missing here
    assert {e: missing_modules(e) for e in EXTRAS} == dict.fromkeys(EXTRAS, [])
    require("sip", "x")
    require("tune", "x")


def test_require_names_the_known_extras():
    with pytest.raises(ValueError, match=r"'extra' parameter of missing_modules must be one of \['lab', 'sip', 'tune'\]"):
        require("gpu", "x")


# --------------------------------------------------------------------------- a core-only install
def _python_for_core() -> str:
    """Python 3.13 when this machine has one that runs (the core must work there), else this one."""
    cands = [shutil.which("python3.13") or ""] + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3")))
    for c in cands:
        if c and subprocess.run([c, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
                                capture_output=True).returncode == 0:
            return c
    return sys.executable


CORE_SCRIPT = textwrap.dedent('''
    import importlib.util, json, sys
    import numpy as np, soundfile as sf
    import lsdlab
    from lsdlab.audio.io import load
    from lsdlab.data import settings_path
    from lsdlab.detect import classify

    out = {"python": list(sys.version_info[:2]),
           "absent": [m for m in ("pjsua2", "optuna", "matplotlib", "librosa", "jupyterlab")
                      if importlib.util.find_spec(m) is None]}
    # classify a real recording, given at 16 kHz so that it is resampled (scipy, no librosa)
    y, sr = sf.read(sys.argv[1], dtype="float32")
    from scipy.signal import resample_poly
    sf.write(sys.argv[2], resample_poly(y, 2, 1), 16000, subtype="PCM_16")
    y16, sr16 = load(sys.argv[2])
    out["sr"] = sr16
    out["verdict"] = classify(y16, sr16).far_end_type.name
    s = lsdlab.load_settings(settings_path("GB"))
    out["settings"] = [s.country, s.lsd_timeout_milliseconds]
    out["settings_bytes"] = settings_path("GB").read_text()
    for name, call in (("sip", lambda: lsdlab.UASCallChannel()),
                       ("farend", lambda: __import__("lsdlab.farend", fromlist=["x"]).SimulatedFarEnd(sys.argv[3]).start()),
                       ("tune", lambda: __import__("lsdlab.tune", fromlist=["x"]).tune(sys.argv[3], "GB")),
                       ("plots", lambda: __import__("lsdlab.plots"))):
        try:
            call()
            out[name] = "no error"
        except lsdlab.MissingExtraError as exc:
            out[name] = str(exc)
    print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("core")
    # build from a clean copy of what the wheel is made of (no stale build/ of the checkout)
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    for name in ("lsdlab", "settings"):  # lsdlab/data/settings links to settings/
        shutil.copytree(REPO / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = root / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(wheels)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = wheels.glob("lsdlab-*.whl")
    venv = root / "venv"
    subprocess.run([_python_for_core(), "-m", "venv", str(venv)], check=True, timeout=300)
    # the wheel with its own (core) dependencies: what `pip install lsdlab` gives
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    if not (DEMO / "manifest.csv").is_file():
        pytest.skip(f"corpora/demo is missing at {DEMO}")
    return subset_corpus(tmp_path_factory.mktemp("small") / "c", {"human": 4, "machine": 4, "fax": 1, "silence": 1})


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_core_install_runs_the_detector_and_names_missing_extras(core_venv, small, tmp_path):
    machine = next(p for p in sorted((small / "machine").glob("*.wav")))
    r = subprocess.run([str(core_venv / "bin" / "python"), "-c", CORE_SCRIPT, str(machine), str(tmp_path / "m16.wav"), str(small)],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["absent"] == ["pjsua2", "optuna", "matplotlib", "librosa", "jupyterlab"]
    assert out["sr"] == 8000 and out["verdict"] in ("MACHINE", "ANSWER_MACHINE", "HUMAN", "UNKNOWN", "FAX")
    assert out["settings"][0] == "GB"
    assert out["settings_bytes"] == (REPO / "settings" / "GB.json").read_text()  # a copy in the wheel
    for name, extra in (("sip", "sip"), ("farend", "sip"), ("tune", "tune"), ("plots", "tune")):
        assert f"pip install 'lsdlab[{extra}]'" in out[name], (name, out[name])
    if out["python"] >= [3, 13]:
        assert "3.10-3.12 only" in out["sip"]
    # no far-end worker was started: the error came first
    assert "exited during start-up" not in r.stderr


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_core_install_commands(core_venv, small, tmp_path):
    lsd = str(core_venv / "bin" / "lsdlab")
    r = subprocess.run([lsd, "evaluate", str(small), "--no-progress"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0 and "confusion" in r.stdout, r.stderr
    r = subprocess.run([lsd, "tune", str(small), "--country", "GB", "--out", "s.json", "-v"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 2 and "pip install 'lsdlab[tune]'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "s.json").exists()
    # outside a checkout, with nothing cached: the error says how to build the demo corpus
    empty = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "empty")}
    r = subprocess.run([str(core_venv / "bin" / "python"), "-c", "from lsdlab.data import demo_corpus; demo_corpus(build=False)"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, env=empty)
    assert r.returncode == 1 and "No demo corpus found" in r.stderr, r.stderr
    assert f"lsdlab corpus build-demo {tmp_path / 'empty' / 'lsdlab' / 'demo-corpus'}" in r.stderr
    # lsdlab demo after a wheel install: no checkout, so it finds the demo corpus in the cache
    cache = tmp_path / "cache"
    shutil.copytree(small, cache / "lsdlab" / "demo-corpus")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    r = subprocess.run([lsd, "demo", "--trials", "5", "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert str(cache / "lsdlab" / "demo-corpus") in r.stdout
    assert "pip install 'lsdlab[tune]'" in r.stdout  # the tuning step says what it needs
    assert "skipped:" in r.stdout and "pip install 'lsdlab[sip]'" in r.stdout
