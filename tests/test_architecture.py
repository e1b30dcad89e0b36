"""The house's import rules (docs/architecture.md), checked on every module of lsdlab/.

Every import is counted: at the top of a module, inside a function (lazy) and under
``TYPE_CHECKING``, because each is an arrow a reader must follow. A module may import its own
area, the base floor, and the areas listed for it in ALLOWED; the named arrows of FORBIDDEN
are reported by name. A new arrow that breaks a rule fails here: move the code to the right
floor, or change the rule in docs/architecture.md and here together, saying why.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "lsdlab"

#: The base floor: helpers every area may use (they import nothing above them).
BASE = {"errors", "_validation", "_cache", "_hashing", "_format", "_signals", "_workers", "_kernel", "_extras", "_leftovers",
        "_forkserver_dies_with_parent", "_jsonfile", "_moved", "_version"}

#: area -> the areas (besides itself and BASE) it may import. Bottom floors first.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "audio": set(),
    "rules": set(),
    "corpus": {"audio"},
    "detect": {"audio"},
    "sip": set(),
    "data": {"corpus"},
    "settingsfile": {"audio", "corpus", "detect", "rules"},
    "farend": {"audio", "sip"},
    "uas": {"audio", "detect", "sip", "settingsfile"},
    "evaluation": {"audio", "corpus", "detect", "farend", "rules", "settingsfile"},
    "plots": {"detect", "evaluation"},
    "tune": {"audio", "corpus", "detect", "evaluation", "plots", "rules", "settingsfile"},
    "cli": {"root", "audio", "corpus", "data", "detect", "evaluation", "farend", "plots", "rules",
            "settingsfile", "sip", "tune", "uas"},
    "root": {"data", "settingsfile", "uas", "cli"},
}

#: The arrows issue 12 names, each with the reason it is forbidden.
FORBIDDEN: dict[tuple[str, str], str] = {
    ("uas", "farend"): "the channel and the simulated far end share sip/ and never import each other",
    ("farend", "uas"): "the channel and the simulated far end share sip/ and never import each other",
    ("detect", "sip"): "the detector knows nothing of SIP",
    ("detect", "tune"): "the detector knows nothing of tuning",
    ("detect", "settingsfile"): "the detector knows nothing of exported settings files",
    ("detect", "corpus"): "the detector knows nothing of corpora",
    ("plots", "tune"): "plots draw from evaluation, never from the tuner",
    ("evaluation", "tune"): "evaluation sits below the tuner",
}

#: Single arrows allowed against the rules, each with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("lsdlab.farend.sip", "lsdlab"): "reads lsdlab.__file__ to put the package on the far-end worker's PYTHONPATH",
    ("lsdlab.__main__", "lsdlab.cli"): "python -m lsdlab runs the command line",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _area(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    head = parts[1]
    if head in BASE:
        return "base"
    if head == "__main__":
        return "root"
    return head


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported lsdlab module) for every import in the file, lazy and TYPE_CHECKING ones too."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "lsdlab"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "lsdlab":
                continue
            if node.module is None or target == "lsdlab":  # from . import x: x may be a module
                out += [(node.lineno, f"{target}.{a.name}") if (PKG.parent / f"{target}.{a.name}".replace(".", "/")).exists()
                        or (PKG.parent / (f"{target}.{a.name}".replace(".", "/") + ".py")).exists()
                        else (node.lineno, target) for a in node.names]
            else:
                out.append((node.lineno, target))
    return out


@functools.lru_cache(maxsize=1)
def _arrows() -> list[tuple[str, int, str]]:
    return [(_module_name(p), line, target) for p in sorted(PKG.rglob("*.py")) for line, target in _imports(p)]


def test_the_walk_sees_every_area_and_lazy_imports():
    arrows = _arrows()
    areas = {_area(m) for m, _, _ in arrows}
    assert set(ALLOWED) - {"base"} <= areas | {"root"}, set(ALLOWED) - areas
    # a lazy import inside a function is seen (settingsfile imports the detector only when checking a file)
    assert any(m == "lsdlab.settingsfile" and t.startswith("lsdlab.detect") for m, _, t in arrows)


def test_no_upward_or_forbidden_arrow():
    bad = []
    for module, line, target in _arrows():
        src, dst = _area(module), _area(target)
        if src == dst or dst == "base" or (module, target) in EXCEPTIONS:
            continue
        if (src, dst) in FORBIDDEN:
            bad.append(f"{module}:{line} imports {target}: {FORBIDDEN[src, dst]}")
        elif dst == "cli":
            bad.append(f"{module}:{line} imports {target}: nothing below the command line imports it")
        elif dst not in ALLOWED.get(src, set()):
            bad.append(f"{module}:{line} imports {target}: {src} may import only "
                       f"{sorted(ALLOWED.get(src, set()) | {'base'})} (docs/architecture.md)")
    assert not bad, "\n".join(bad)


def test_farend_and_evaluation_use_only_the_offline_far_end():
    """evaluation streams corpora through the offline far end, never the SIP answerer."""
    bad = [f"{m}:{line} imports {t}" for m, line, t in _arrows()
           if _area(m) == "evaluation" and _area(t) == "farend" and t != "lsdlab.farend.offline"]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(("src", "dst"), sorted(FORBIDDEN))
def test_every_forbidden_arrow_is_also_outside_allowed(src, dst):
    assert dst not in ALLOWED[src]


def test_the_channel_is_visible_to_editors_without_being_imported():
    """``lsdlab.UASCallChannel`` has a TYPE_CHECKING import beside the lazy __getattr__."""
    tree = ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))
    guarded = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING"]
    names = {a.name for g in guarded for n in ast.walk(g) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "UASCallChannel" in names


def test_the_detector_base_class_imports_no_backend():
    """detect/base.py is the contract every backend follows; a backend imports it, never the other way."""
    backends = {"lsdlab.detect.detector", "lsdlab.detect.app_amd", "lsdlab.detect.settings", "lsdlab.detect.readiness"}
    bad = [f"{m}:{line} imports {t}" for m, line, t in _arrows() if m == "lsdlab.detect.base" and t in backends]
    assert not bad, "\n".join(bad)
