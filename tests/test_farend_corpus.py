"""The SIP far end serves only its corpus: row ids in URIs, no paths, bounded work per URI.

Real calls over 127.0.0.1 (UASCallChannel -> SimulatedFarEnd) and real files; each test
guards one failure found by probing the far end as an attacker would (issue 15, item 2).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import soundfile as sf

from lsdlab.audio.io import save_wav
from lsdlab.errors import ParameterError

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parent.parent


def _tone(dur_s: float, hz: float = 440.0) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * hz * np.arange(int(8000 * dur_s)) / 8000)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("farcorpus")
    (root / "machine").mkdir()
    (root / "human").mkdir()
    save_wav(root / "machine" / "m1.wav", _tone(1.0, 500), subtype="PCM_16")
    save_wav(root / "machine" / "m2.wav", _tone(1.0, 700), subtype="PCM_16")
    save_wav(root / "human" / "h1.wav", _tone(1.0, 300), subtype="PCM_16")
    # a 16 KB WAV whose header says 1 Hz: 8,000 "seconds", 64 M samples once resampled to 8 kHz
    sf.write(str(root / "machine" / "one_hz.wav"), np.zeros(8000, np.int16), 1, subtype="PCM_16")
    (root / "manifest.csv").write_text(
        "path,label\nmachine/m1.wav,machine\nhuman/h1.wav,human\nmachine/m2.wav,machine\n"
        "machine/one_hz.wav,machine\n../outside.wav,machine\n"
    )
    # a file outside the corpus, a symlink leading to it, and a file inside but not in the manifest
    outside = root.parent / f"{root.name}-outside.wav"
    save_wav(outside, _tone(1.0, 900), subtype="PCM_16")
    save_wav(root / "unlisted.wav", _tone(1.0, 1100), subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def ch():
    from lsdlab import UASCallChannel

    return UASCallChannel(response_timeout_s=3.0, no_answer_timeout_s=5.0)


def _call(ch, far, user: str):
    """Place a call to ``sip:USER@far`` and return (state, cause, raw cause, far end's record)."""
    uri = f"sip:{user}@{far.host}:{far.port}"
    before = len(far.calls())
    st = ch.call(uri, seconds_timeout=5)
    if st == ch.State.ANSWERED:
        time.sleep(0.5)  # let some audio flow
    ch.hang_up()
    ch.wait_for_idle(5)
    rec = far.wait_for_calls(before + 1, timeout_s=10)[-1]
    return st, ch.cause(), ch.Details.raw_cause, rec


def test_row_ids_follow_the_manifest_and_skip_rows_outside(far):
    # row n of label L is L-nnn, in manifest order; '../outside.wav' is not served
    assert far.row_ids == ["machine-001", "human-001", "machine-002", "machine-003"]
    assert far.uri("machine/m2.wav").startswith("sip:machine-002;")
    assert far.uri("./machine//m2.wav") == far.uri("machine/m2.wav")  # one spelling of a path


@pytest.mark.parametrize("path", ["../x.wav", "/etc/passwd", "unlisted.wav", "machine/nope.wav"])
def test_uri_refuses_paths_outside_the_manifest(far, path):
    with pytest.raises(ParameterError, match=r"'path' parameter of SimulatedFarEnd.uri must be a recording of"):
        far.uri(path)


def test_readable_uris(ch, far):
    from lsdlab.uas import Cause, State

    st, cause, raw, rec = _call(ch, far, "busy")
    assert (st, cause, raw, rec.status) == (State.IDLE, Cause.BUSY, "486", 486)
    st, cause, raw, rec = _call(ch, far, "machine-002;ring_s=0.1")
    assert st == State.ANSWERED and rec.status == 200 and rec.scenario["path"] == "machine/m2.wav"
    assert rec.samples_sent > 0


def _old_style(path: str) -> str:
    """The URI user part of the old far end, naming a file path (as an attacker would)."""
    return quote(f"kind=recording;path={quote(path, safe='')};as_is=1", safe="")


@pytest.mark.parametrize("which", ["absolute", "dotdot", "symlink", "unlisted"])
def test_urls_naming_files_are_refused(ch, far, corpus, which):
    outside = corpus.parent / f"{corpus.name}-outside.wav"
    link = corpus / "link.wav"
    if not link.exists():
        link.symlink_to(outside)
    user = {
        "absolute": _old_style(str(outside)),
        "dotdot": _old_style(f"../{outside.name}"),
        "symlink": _old_style("link.wav"),
        "unlisted": _old_style("unlisted.wav"),
    }[which]
    st, cause, raw, rec = _call(ch, far, user)
    assert raw == "404" and rec.status == 404 and not rec.connected and rec.samples_sent == 0


def test_log_reveals_nothing_about_files_outside_the_corpus(ch, corpus, capfd):
    from lsdlab.farend import SimulatedFarEnd

    with SimulatedFarEnd(corpus) as far1:  # started here, so that its workers' stderr is captured
        for path in ("/etc/passwd", "/nonexistent/x.wav"):
            _call(ch, far1, _old_style(path))
    err = capfd.readouterr().err
    lines = [ln.split(": ", 2)[-1] for ln in err.splitlines() if "404 for call" in ln]
    assert len(lines) == 2, err[-2000:]
    assert lines[0] == lines[1]  # an existing file and a missing one look the same
    assert "passwd" not in err and "nonexistent" not in err


def test_absurd_header_is_not_decoded(ch, far):
    st, cause, raw, rec = _call(ch, far, "machine-003")  # the 1 Hz WAV: 8,000 s of audio
    assert raw == "404" and rec.status == 404 and rec.samples_sent == 0


def test_render_cache_is_bounded_in_bytes():
    from lsdlab.farend._server import _RenderCache

    cache = _RenderCache(1000)
    for i in range(10):
        cache.put(f"k{i}", np.zeros(200, np.int16))  # 400 bytes each
    assert cache.nbytes <= 1000 and len(cache) == 2
    assert cache.get("k9") is not None and cache.get("k0") is None
    cache.put("big", np.zeros(600, np.int16))  # larger than the bound: not kept
    assert cache.get("big") is None and cache.nbytes <= 1000


SCRIPT = """
from lsdlab.farend import SimulatedFarEnd
from lsdlab import UASCallChannel
import sys
far = SimulatedFarEnd(sys.argv[1] if len(sys.argv) > 1 else {corpus!r}, workers=2)
far.start()
ch = UASCallChannel()
print("STATE", ch.call(far.uri("machine/m1.wav", ring_s=0.1), seconds_timeout=5).name, flush=True)
ch.hang_up()
ch.wait_for_idle(5)
far.close()
print("EXIT", far.exitcodes, flush=True)
"""


@pytest.mark.parametrize("how", ["script", "stdin"])
def test_far_end_without_main_guard(corpus, tmp_path, how):
    code = textwrap.dedent(SCRIPT.format(corpus=str(corpus)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if how == "script":
        script = tmp_path / "no_guard.py"
        script.write_text(code)
        p = subprocess.run([sys.executable, str(script), str(corpus)], capture_output=True, text=True,
                           timeout=120, env=env, cwd=tmp_path)
    else:
        p = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, timeout=120,
                           env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    assert "STATE ANSWERED" in p.stdout and "EXIT [0, 0]" in p.stdout, p.stdout + p.stderr[-3000:]
    assert "Traceback" not in p.stderr


def test_start_time_hardly_grows_with_workers(corpus):
    """Workers are forked from one process that imported everything once: 6 workers start
    about as fast as 1 (each spawned worker importing numpy, scipy and pjsua2 on its own took
    38-55 s for 8 workers on this busy 2-core machine, past the 30 s start timeout)."""
    import time as _time

    from lsdlab.farend import SimulatedFarEnd

    took = {}
    for n in (1, 6):
        t0 = _time.monotonic()
        with SimulatedFarEnd(corpus, workers=n, start_timeout_s=120) as f:
            took[n] = _time.monotonic() - t0
            assert len(set(f.ports)) == n and f.alive()
        assert f.exitcodes == [0] * n
    assert took[6] < 2.0 * took[1] + 3.0, took
