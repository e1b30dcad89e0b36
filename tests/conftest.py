"""Shared fixtures: a seeded random generator, the shared real-dev corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


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
