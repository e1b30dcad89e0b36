"""Hostile headers, arguments and files (issue 15 item 7): refused before allocating, in one
clear line naming the file or parameter."""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lsdlab.audio import load as load_audio
from lsdlab.cli import main
from lsdlab.corpus import check
from lsdlab.errors import AudioError, ParameterError, SettingsError

SR = 8000


def _wav(path: Path, seconds: float = 1.0, *, subtype: str = "PCM_16", y=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if y is None:
        t = np.arange(int(seconds * SR)) / SR
        y = 0.1 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, y, SR, subtype=subtype)
    return path


def _claim_rate(path: Path, rate: int) -> Path:
    """Rewrite a WAV header's sample rate (and byte rate) to ``rate``: the data stay 16 KB."""
    b = bytearray(path.read_bytes())
    assert b[12:16] == b"fmt "
    block_align = struct.unpack_from("<H", b, 32)[0]
    struct.pack_into("<I", b, 24, rate)
    struct.pack_into("<I", b, 28, (rate * block_align) & 0xFFFFFFFF)
    path.write_bytes(bytes(b))
    return path


def _manifest(root: Path, rows: list[str]) -> Path:
    (root / "manifest.csv").write_text("\n".join(["path,label,greeting_end_s", *rows]) + "\n", encoding="utf-8")
    return root


# --------------------------------------------------------------------------- audio headers
@pytest.mark.parametrize("rate", [2**31 - 1, 1, 10**7])
def test_absurd_sample_rate_refused_before_allocating(tmp_path, rate):
    p = _claim_rate(_wav(tmp_path / "c" / "m.wav"), rate)
    with pytest.raises(AudioError, match=rf"m\.wav: .*sample rate of {rate} Hz.*\[1000, 384000\]"):
        load_audio(p)
    root = _manifest(tmp_path / "c", ["m.wav,machine,"])
    problems = [str(x) for x in check(root)]
    assert len(problems) == 1 and f"sample rate of {rate} Hz" in problems[0], problems


def test_too_long_audio_refused_by_header(tmp_path, monkeypatch):
    import lsdlab.audio.io

    monkeypatch.setattr(lsdlab.audio.io, "MAX_DURATION_S", 0.5)
    p = _wav(tmp_path / "c" / "long.wav", 1.0)
    with pytest.raises(AudioError, match=r"long\.wav: .*1\.000 s long.*at most 0\.5 s"):
        load_audio(p)
    root = _manifest(tmp_path / "c", ["long.wav,machine,"])
    problems = [str(x) for x in check(root)]
    assert len(problems) == 1 and "at most 0.5 s" in problems[0], problems


def test_nan_samples_named_with_their_file(tmp_path):
    y = np.zeros(SR, np.float32)
    y[100] = np.nan
    y[200] = np.inf
    p = _wav(tmp_path / "c" / "bad.wav", y=y, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"bad\.wav: .*NaN or infinite"):
        load_audio(p)
    root = _manifest(tmp_path / "c", ["bad.wav,machine,"])
    problems = [str(x) for x in check(root)]
    assert len(problems) == 1 and "bad.wav" in problems[0] and "NaN or infinite" in problems[0], problems


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"sr": 0}, r"'sr' parameter of load"),
        ({"sr": 10**9}, r"'sr' parameter of load"),
        ({"sr": -8000}, r"'sr' parameter of load"),
        ({"sr": 8000.5}, r"'sr' parameter of load"),
        ({"channel": "a"}, r"'channel' parameter of load"),
        ({"channel": True}, r"'channel' parameter of load"),
    ],
)
def test_load_parameters_give_parameter_errors(tmp_path, kwargs, pattern):
    p = _wav(tmp_path / "x.wav")
    with pytest.raises(ParameterError, match=pattern):
        load_audio(p, **kwargs)


@pytest.mark.parametrize("frame_length", [0, -5, 1.5, "160", True])
def test_classify_frame_length_must_be_a_positive_int(frame_length):
    from lsdlab.detect import classify

    with pytest.raises(ParameterError, match=r"'frame_length' parameter of classify"):
        classify(np.zeros(SR, np.float32), SR, frame_length=frame_length)


# --------------------------------------------------------------------------- manifests
def test_one_file_named_two_ways_is_a_duplicate(tmp_path):
    root = tmp_path / "c"
    _wav(root / "m.wav")
    _wav(root / "sub" / "n.wav")
    _manifest(root, ["m.wav,machine,", "./m.wav,machine,", "sub/n.wav,machine,", "sub//./n.wav,machine,"])
    problems = [str(x) for x in check(root)]
    assert len(problems) == 2 and all("duplicate" in p for p in problems), problems
    assert "line 2" in problems[0] and "line 4" in problems[1]


def test_symlink_leading_outside_the_corpus_refused(tmp_path):
    outside = _wav(tmp_path / "secret.wav")
    root = tmp_path / "c"
    root.mkdir()
    (root / "link.wav").symlink_to(outside)
    _wav(root / "inside.wav")
    (root / "alias.wav").symlink_to(root / "inside.wav")
    _manifest(root, ["link.wav,machine,", "alias.wav,machine,"])
    problems = [str(x) for x in check(root)]
    assert len(problems) == 1 and "link.wav" in problems[0] and "outside the corpus" in problems[0], problems


# --------------------------------------------------------------------------- settings files
def _settings_error(path) -> str:
    from lsdlab.settingsfile import load_settings

    with pytest.raises(SettingsError) as info:
        load_settings(path)
    return str(info.value)


def test_deeply_nested_settings_refused(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    msg = _settings_error(p)
    assert "nested" in msg and "deep.json" in msg


def test_huge_settings_file_refused(tmp_path):
    p = tmp_path / "huge.json"
    p.write_text('{"x": "' + "a" * (5 * 2**20) + '"}')
    assert "too large" in _settings_error(p)


def test_settings_from_a_device_refused():
    assert "not a regular file" in _settings_error("/dev/zero")


def test_settings_from_a_fifo_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(_settings_error(fifo)), daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader so the test process can end
        with open(fifo, "w") as f:
            f.write("{}")
        t.join(5)
        pytest.fail("reading a FIFO as a settings file hung")
    assert "not a regular file" in out[0]


@pytest.mark.parametrize("argv_settings", ["deep", "/dev/zero"])
def test_evaluate_refuses_hostile_settings_in_one_line(tmp_path, capsys, argv_settings):
    if argv_settings == "deep":
        p = tmp_path / "deep.json"
        p.write_text("[" * 100_000 + "]" * 100_000)
        argv_settings = str(p)
    _wav(tmp_path / "c" / "m.wav")
    root = _manifest(tmp_path / "c", ["m.wav,machine,"])
    code = main(["evaluate", str(root), "--no-progress", "--settings", argv_settings])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# --------------------------------------------------------------------------- numeric CLI options
@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "C", "--jobs", "0"],
        ["evaluate", "C", "--jobs", "-3"],
        ["regress", "C", "--baseline", "b.json", "--jobs", "0"],
        ["train", "C", "--out", "m.skops", "--jobs", "-1"],
        ["train", "C", "--out", "m.skops", "--folds", "100000"],
        ["tune", "C", "--country", "GB", "--out", "s.json", "--jobs", "0"],
        ["tune", "C", "--country", "GB", "--out", "s.json", "--trials", "0"],
        ["tune", "C", "--country", "GB", "--out", "s.json", "--dialer-drop-rate", "nan"],
        ["tune", "C", "--country", "GB", "--out", "s.json", "--agent-connect-ms", "-1"],
        ["report", "s.json", "--out", "r.html", "--jobs", "0"],
        ["evaluate", "C", "--lead-in", "nan"],
        ["farend", "serve", "C", "--seconds", "-5"],
    ],
    ids=lambda a: " ".join(a[:1] + a[-2:]),
)
def test_numeric_cli_options_are_range_checked(tmp_path, capsys, monkeypatch, argv):
    _wav(tmp_path / "C" / "m.wav")
    c = _manifest(tmp_path / "C", ["m.wav,machine,"])
    argv = [str(c) if a == "C" else a for a in argv]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert "must be" in err and argv[-2] in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C"]


@pytest.mark.parametrize(
    ("where", "pattern"),
    [("afile/rec", r"under the file .*afile"), ("afile", r"is a file, not a folder"), ("no/such/rec", r"does not exist"),
     ("", r"empty")],
    ids=["under-a-file", "a-file", "missing-parents", "empty"],
)
def test_farend_record_dir_checked_before_serving(tmp_path, capsys, where, pattern):
    import re

    _wav(tmp_path / "c" / "m.wav")
    root = _manifest(tmp_path / "c", ["m.wav,machine,"])
    (tmp_path / "afile").write_text("x")
    code = main(["farend", "serve", str(root), "--port", "0", "--seconds", "1",
                 "--record-dir", str(tmp_path / where) if where else ""])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and re.search(pattern, err), err
    assert not (tmp_path / "no").exists()
