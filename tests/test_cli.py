"""The command line a new user meets: help on every option, -v anywhere, readable output."""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _subset import DEMO, subset_corpus

from lsdlab._format import format_settings, round_meaningful
from lsdlab.cli import build_parser, main, verbosity

REPO = Path(__file__).resolve().parent.parent


def _all_parsers(parser: argparse.ArgumentParser, prefix: str = "lsdlab"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, f"{prefix} {name}")


def test_every_option_and_positional_has_help():
    missing = []
    for name, parser in _all_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction, argparse._VersionAction)):
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "options without help: " + ", ".join(missing)


@pytest.mark.parametrize("command", ["tune", "train", "evaluate", "regress", "report", "demo", "corpus build-demo"])
def test_help_prints_clean_text(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "%%" not in out
    if command == "tune":
        assert "95% upper bound" in " ".join(out.split())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["corpus", "stats", "DIR"], 0),
        (["-v", "corpus", "stats", "DIR"], 1),
        (["corpus", "stats", "DIR", "-v"], 1),
        (["corpus", "stats", "DIR", "-vv"], 2),
        (["-v", "tune", "C", "--country", "GB", "--out", "x.json", "--verbose"], 2),
        (["rules", "list", "-v"], 1),
        (["demo", "--no-sip", "-v"], 1),
    ],
)
def test_verbose_before_or_after_the_subcommand(argv, expected):
    args = build_parser().parse_args(argv)
    assert verbosity(args) == expected


def test_verbose_after_the_subcommand_turns_on_info_logging():
    # A real process (logging.basicConfig is a no-op under pytest's own handlers).
    code = (
        "import logging, sys\n"
        "from lsdlab import cli\n"
        "rc = cli.main(['rules', 'list', '-v'])\n"
        "print('LEVEL', logging.getLogger().level)\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert f"LEVEL {logging.INFO}" in r.stdout


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.22595035612704045, 0.226),
        (0.5220329726612485, 0.522),
        (0.999685, 0.999685),  # near 1 the digits that matter are the distance to 1
        (0.98387912, 0.9839),
        (0.0005123456, 0.000512),
        (9.0, 9.0),
        (1234.5678, 1235.0),
        (700, 700),
        (True, True),
        (None, None),
        ("builtin:default", "builtin:default"),
    ],
)
def test_round_meaningful(value, shown):
    assert round_meaningful(value) == shown
    assert type(round_meaningful(value)) is type(value)


def test_format_settings_rounds_each_value():
    from lsdlab.detect import DetectorSettings

    s = DetectorSettings(human_threshold=0.22595035612704045, machine_threshold=0.999685)
    line = format_settings(s.to_dict(), skip=("backend",))
    assert "human_threshold=0.226," in line and "machine_threshold=0.999685," in line
    assert "backend" not in line and "0.22595035612704045" not in line


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    if not (DEMO / "manifest.csv").is_file():
        pytest.skip(f"corpora/demo is missing at {DEMO}")
    return subset_corpus(tmp_path_factory.mktemp("c") / "small", {"human": 6, "machine": 6, "fax": 1, "silence": 1})


def test_regress_columns_align_on_long_figure_names(small_corpus, tmp_path, capsys):
    b = tmp_path / "b.json"
    assert main(["regress", str(small_corpus), "--baseline", str(b), "--update", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["regress", str(small_corpus), "--baseline", str(b), "--no-progress"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.split()[:1] in (["ok"], ["WORSE"])]
    assert any(len(ln.split()[1]) > 34 for ln in rows), rows  # a long name such as ...human_after_greeting_end
    assert len({ln.index(" baseline ") for ln in rows}) == 1, "\n".join(rows)


def test_train_reports_each_fold_and_the_final_fit(small_corpus, tmp_path, capsys):
    out = tmp_path / "m.skops"
    assert main(["train", str(small_corpus), "--out", str(out), "--folds", "3", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    for i in (1, 2, 3):
        assert f"fold {i}/3: fitting on" in err and f"fold {i}/3: tested on" in err, err
    assert "final fit on all 12 calls" in err and "final fit done in" in err
    assert out.is_file()
    assert main(["train", str(small_corpus), "--out", str(out), "--folds", "3", "--jobs", "1", "--no-progress"]) == 0
    assert "fold 1/3" not in capsys.readouterr().err


def test_tune_prints_settings_rounded(small_corpus, tmp_path, capsys):
    # 8 TPE trials: the sampled thresholds have 16-17 digits; what is printed must not
    code = main(["tune", str(small_corpus), "--country", "US", "--trials", "8", "--jobs", "1", "--no-cache",
                 "--no-progress", "--out", str(tmp_path / "s.json")])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    settings_lines = [ln for ln in out.splitlines() if ln.startswith(("settings:", "Best found:"))]
    assert settings_lines, out
    for ln in settings_lines:
        assert "human_threshold=" in ln
        assert not re.search(r"=\d+\.\d{7,}", ln), ln
