"""The Makefile's set-up rules, run in a scratch copy (no real .venv is built or touched)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


@pytest.fixture
def scratch(tmp_path) -> Path:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def make(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)


def _version(py: str) -> str:
    return subprocess.run([py, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def _python313() -> str | None:
    for c in [shutil.which("python3.13") or ""] + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3"))):
        if c and subprocess.run([c, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"], capture_output=True).returncode == 0:
            return c
    return None


def test_an_unsupported_python_is_refused_before_venv_exists(scratch):
    py = _python313()
    if py is None:
        pytest.skip("no Python 3.13 on this machine")
    r = make(scratch, f"PY={py}", "demo")
    assert r.returncode == 2
    assert "is Python 3.13" in r.stderr and "needs Python 3.10, 3.11 or 3.12" in r.stderr
    assert "pjsua2-python wheels" in r.stderr and "make PY=python3.12 demo" in r.stderr
    assert not (scratch / ".venv").exists()


def test_a_python_that_does_not_run_is_named(scratch):
    r = make(scratch, "PY=no-such-python3", "test")
    assert r.returncode == 2
    assert "PY=no-such-python3 does not run as a Python interpreter" in r.stderr
    assert not (scratch / ".venv").exists()


def test_venv_of_another_interpreter_is_rebuilt(scratch):
    venv = scratch / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".python-3.13.0").touch()  # left by an earlier run with another Python
    (venv / ".installed").touch()
    r = make(scratch, f"PY={sys.executable}", "-n", "install")
    assert r.returncode == 0, r.stderr
    v = _version(sys.executable)
    assert "rm -rf .venv" in r.stdout
    assert f"{sys.executable} -m venv .venv" in r.stdout
    assert f"touch .venv/.python-{v}" in r.stdout
    assert "pip install -q -e '.[all,vad,dask,dev]'" in r.stdout


def test_venv_of_this_interpreter_is_kept(scratch):
    venv = scratch / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / f".python-{_version(sys.executable)}").touch()
    os.utime(scratch / "pyproject.toml", (1, 1))  # older than the stamps
    (venv / ".installed").touch()
    r = make(scratch, f"PY={sys.executable}", "-n", "install")
    assert r.returncode == 0, r.stderr
    assert "rm -rf" not in r.stdout and "-m venv" not in r.stdout and "pip install" not in r.stdout


def test_lab_passes_allow_root_only_as_root(scratch):
    r = make(scratch, f"PY={sys.executable}", "-n", "lab")
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "jupyter lab" in ln)
    assert ("--allow-root" in line) == (os.geteuid() == 0)


def test_test_fast_leaves_out_sip_notebooks_and_slow_tests(scratch):
    r = make(scratch, f"PY={sys.executable}", "-n", "test-fast")
    assert r.returncode == 0, r.stderr
    assert '-m pytest -q -m "not sip and not notebook and not slow"' in r.stdout


def test_kernel_install_leaves_no_temp_folder(scratch, tmp_path):
    """ipykernel stages the kernelspec in a tempfile.mkdtemp() folder and removes only what it
    put inside (an empty tmpXXXX_kernels was left in /tmp by every install): the rule gives it
    a scratch TMPDIR and removes that. Real ipykernel, run by this interpreter."""
    venv = scratch / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    (venv / "bin" / "python").chmod(0o755)
    os.utime(scratch / "pyproject.toml", (1, 1))
    os.utime(scratch / "Makefile", (1, 1))
    (venv / f".python-{_version(sys.executable)}").touch()
    (venv / ".installed").touch()  # installed: the rule runs only the kernel install
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    r = make(scratch, f"PY={sys.executable}", "kernel", env={**os.environ, "TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stderr
    assert "Installed kernelspec lsdlab" in r.stdout + r.stderr
    assert list(tmp.iterdir()) == []
