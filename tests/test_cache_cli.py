"""``lsdlab cache info|clear``: the trace and compiled-model caches, shown and trimmed.

Real traces of real demo calls and a real model file, in a cache of this test's own
(``XDG_CACHE_HOME``): never the user's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from _subset import subset_corpus

from lsdlab.cli import main
from lsdlab.corpus import load
from lsdlab.evaluation import load_traces

DAY = 86400


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    return root / "lsdlab"


def _age(path: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(path, (t, t))


def _traces(cache: Path) -> list[Path]:
    return sorted((cache / "traces").glob("??/*.npz"))


def test_clear_traces_older_than_removes_only_the_unused(tmp_path, cache, capsys):
    corpus = load(subset_corpus(tmp_path / "c", {"human": 2, "machine": 2}))
    first = load_traces(corpus)
    files = _traces(cache)
    assert len(files) == 4
    for f in files:
        _age(f, 10)
    load_traces(corpus.subset(corpus.calls[:1]))  # used again now: its time stamp renewed
    used = [f for f in files if f.stat().st_mtime > time.time() - DAY]
    assert len(used) == 1
    # what is not lsdlab's is left alone; a write cut short two hours ago is removed, one just begun is not
    (cache / "traces" / "notes.txt").write_text("keep me")
    old_tmp = files[0].parent / f".{files[0].name}.abc123.npz.tmp"
    new_tmp = files[0].parent / f".{files[0].name}.def456.npz.tmp"
    old_tmp.write_bytes(b"x")
    new_tmp.write_bytes(b"x")
    _age(old_tmp, 2 / 24)
    legacy = cache / "traces" / ("ab" * 32 + ".json.gz")  # the whole-corpus format of older lsdlab
    legacy.write_bytes(b"x" * 10)
    _age(legacy, 30)

    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "5 entries" in out and "1 temp file(s)" not in out and "2 temp file(s)" in out
    assert "1 other file(s)" in out and "notes.txt" in out

    assert main(["cache", "clear", "traces", "--older-than", "5", "--dry-run"]) == 0
    assert "would remove 5 file(s)" in capsys.readouterr().out  # 3 unused traces, the legacy file, the old temp
    assert len(_traces(cache)) == 4 and legacy.exists() and old_tmp.exists()

    assert main(["cache", "clear", "traces", "--older-than", "5"]) == 0
    out = capsys.readouterr().out
    assert "removed 5 file(s)" in out and "2 kept" in out
    assert _traces(cache) == used
    assert not legacy.exists() and not old_tmp.exists() and new_tmp.exists()
    assert (cache / "traces" / "notes.txt").read_text() == "keep me"

    # a read-through cache: what was removed is traced again, identical
    again = load_traces(corpus)
    assert len(_traces(cache)) == 4
    assert [t.to_arrays().keys() for t in again] == [t.to_arrays().keys() for t in first]
    for a, b in zip(again, first):
        for k, v in a.to_arrays().items():
            assert (v == b.to_arrays()[k]).all(), k

    assert main(["cache", "clear", "traces"]) == 0  # no --older-than: all of them
    assert "removed 4 file(s)" in capsys.readouterr().out
    assert _traces(cache) == []  # emptied folders go; the write just begun and the note stay
    assert sorted(p.name for p in (cache / "traces").iterdir()) == sorted([new_tmp.parent.name, "notes.txt"])
    assert new_tmp.exists()


def test_clear_models_and_the_rebuild(tmp_path, cache, capsys):
    import numpy as np

    from lsdlab.detect.features import FEATURE_NAMES
    from lsdlab.detect.model import CadenceClassifier, load_compiled, save_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, len(FEATURE_NAMES)))
    y = (X[:, 0] > 0).astype(int)
    path = save_model(CadenceClassifier(max_iter=5).fit(X, y), tmp_path / "m.skops")
    load_compiled(path)
    (npz,) = (cache / "models").glob("*.npz")
    _age(npz, 40)
    load_compiled(path)  # used: renewed
    assert npz.stat().st_mtime > time.time() - DAY
    assert main(["cache", "clear", "models", "--older-than", "30"]) == 0
    assert npz.exists() and "removed 0 file(s)" in capsys.readouterr().out
    assert main(["cache", "clear", "all"]) == 0
    assert not npz.exists()
    load_compiled(path)  # rebuilt from the model file
    assert npz.exists()


def test_a_symlink_in_the_cache_is_left_alone(tmp_path, cache, capsys):
    outside = tmp_path / "precious.npz"
    outside.write_bytes(b"mine")
    (cache / "models").mkdir(parents=True)
    link = cache / "models" / ("cd" * 32 + ".npz")
    link.symlink_to(outside)
    assert main(["cache", "clear", "models"]) == 0
    assert "1 other file(s)" in capsys.readouterr().out
    assert link.is_symlink() and outside.read_bytes() == b"mine"


@pytest.mark.parametrize("days", ["-1", "nan", "inf"])
def test_older_than_must_be_days(cache, capsys, days):
    assert main(["cache", "clear", "all", "--older-than", days]) == 2
    err = capsys.readouterr().err
    assert "--older-than must be a number of days" in err and err.count("\n") == 1


def test_info_on_an_empty_cache(cache, capsys):
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "traces" in out and "0 entries" in out and "lsdlab cache clear" in out


def test_a_file_that_cannot_be_removed_is_named_and_the_rest_go(tmp_path, cache, capsys):
    """An immutable entry (chattr +i; what a read-only or another user's cache gives): one
    error line naming it and the fix, exit 1, and every other entry still removed."""
    import shutil
    import subprocess

    corpus = load(subset_corpus(tmp_path / "c", {"human": 1, "machine": 1}))
    load_traces(corpus)
    stuck, other = _traces(cache)
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs e2fsprogs and root)")
    try:
        assert main(["cache", "clear", "traces"]) == 1
        out, err = capsys.readouterr()
        assert "removed 1 file(s)" in out and not other.exists() and stuck.exists()
        assert err.count("\n") == 1 and f"could not remove 1 file(s), e.g. {stuck}" in err and "can write to it" in err
    finally:
        subprocess.run([chattr, "-i", str(stuck)], check=True)
