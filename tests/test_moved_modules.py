"""Modules that moved keep their old import names, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from lsdlab._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_name_imports_the_new_module_with_a_warning(old):
    new = MOVED[old]
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        "assert old is new, (old, new)\n"
        f"assert new.__spec__.name == {new!r}, new.__spec__.name\n"
        "msgs = [str(x.message) for x in w if issubclass(x.category, DeprecationWarning)]\n"
        f"assert any({new!r} in m for m in msgs), msgs\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def test_new_modules_keep_the_public_names_users_import():
    runner = importlib.import_module("lsdlab.evaluation.runner")
    for name in ("run_corpus", "trace_corpus", "decisions_from_traces", "write_decisions", "longest_pauses",
                 "offline_far_end", "map_calls", "connect", "close_client"):
        assert callable(getattr(runner, name)), name
    import lsdlab.tune

    for name in ("figures", "compliance", "humans_needed", "upper_bound", "load_traces", "pareto_front", "tune"):
        assert getattr(lsdlab.tune, name) is not None, name


def test_load_corpus_is_the_corpus_loader_and_load_its_old_name():
    import lsdlab.corpus as corpus

    assert corpus.load_corpus is corpus.load and corpus.load_corpus.__name__ == "load_corpus"


def test_tune_export_is_the_function_and_its_module_has_its_own_name():
    import lsdlab.tune as tune
    import lsdlab.tune.settings_export as module

    assert callable(tune.export) and tune.export is module.export and tune.export.__module__ == module.__name__
    from lsdlab.tune.export import record_path  # code written for the old module name still runs

    assert record_path is module.record_path and tune.export is module.export  # and shadows nothing
