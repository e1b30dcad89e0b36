"""Shared fixtures: a seeded random generator, the shared real-dev corpus."""

from __future__ import annotations

import faulthandler
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent

# A crash inside a C extension (pjsua2 aborts on a broken invariant) kills pytest before it
# can report anything. Record the running test and, on a crash, every thread's Python stack
# in out/; `make test` prints both when pytest dies (scripts/pytest-postmortem.sh).
_OUT = REPO / "out"
_CURRENT = _OUT / "pytest-current.txt"
_CRASH = _OUT / "pytest-crash.txt"


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is not None:
        return
    _OUT.mkdir(exist_ok=True)
    _CURRENT.unlink(missing_ok=True)
    config._lsdlab_crash_file = open(_CRASH, "w")  # noqa: SIM115 - open for the whole session
    faulthandler.enable(file=config._lsdlab_crash_file, all_threads=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    f = getattr(config, "_lsdlab_crash_file", None)
    if f is not None:
        faulthandler.disable()
        f.close()
        _CURRENT.unlink(missing_ok=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart(nodeid: str, location) -> None:
    tmp = _CURRENT.with_suffix(".tmp")
    tmp.write_text(nodeid + "\n")
    os.replace(tmp, _CURRENT)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so every test run sees the same random data."""
    return np.random.default_rng(20261126)


@pytest.fixture
def real_dev() -> Path:
    """``../shared/corpora/real-dev`` beside the repository; skips when it is absent."""
    path = (REPO / ".." / "shared" / "corpora" / "real-dev").resolve()
    if not (path / "manifest.csv").is_file():
        pytest.skip(f"the shared real-dev corpus is not at {path}")
    return path


@pytest.fixture(scope="module")
def far(corpus):
    """A one-worker SimulatedFarEnd over the module's ``corpus`` fixture, closed cleanly after
    the module (modules that need another far end define their own ``far``)."""
    from lsdlab.farend import SimulatedFarEnd

    f = SimulatedFarEnd(corpus)
    f.start()
    try:
        yield f
    finally:
        f.close()
    assert f.exitcodes == [0]
