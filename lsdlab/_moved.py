"""Old module names kept importable after modules moved (issue 12's reorganisation).

``import lsdlab.evaluate`` still works: it gives the module's new home
(``lsdlab.evaluation.runner``) itself, with a DeprecationWarning naming it. No file is left at
the old path, so a merge follows each move as a rename.
"""

from __future__ import annotations

import importlib
import sys
import warnings

#: old module name -> the module that replaced it
MOVED = {
    "lsdlab.evaluate": "lsdlab.evaluation.runner",
    "lsdlab.train": "lsdlab.evaluation.training",
    "lsdlab.tune.metrics": "lsdlab.evaluation.metrics",
    "lsdlab.tune.profiles": "lsdlab.rules.profiles",
}


class _MovedModules:
    # a meta-path finder and loader by protocol (find_spec; create_module, exec_module), not by
    # subclassing importlib.abc, whose import pulls importlib.resources, tempfile, shutil,
    # random, bz2 and lzma into every lsdlab process (5-9 ms of start-up)
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        import importlib.util

        return importlib.util.spec_from_loader(fullname, self)  # type: ignore[arg-type]  # a loader by protocol

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} has moved to {new}: import from {new} instead (the old name will be removed)",
                      DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._specs = getattr(self, "_specs", {})
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # the import system stamped the old name's spec on the module: give it back its own
        for old, spec in list(getattr(self, "_specs", {}).items()):
            if spec is not None and spec.name == module.__name__:
                module.__spec__ = spec
                del self._specs[old]


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (after the regular finders)."""
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.append(_MovedModules())
