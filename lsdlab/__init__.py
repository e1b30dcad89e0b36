"""lsdlab: live speaker (answering-machine) detection, from real SIP calls to country rules."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import _moved, data  # noqa: E402,F401  (lsdlab.data.settings_path etc. without another import)
from ._extras import MissingExtraError  # noqa: E402
from ._version import __version__  # noqa: E402
from .errors import (  # noqa: E402
    AudioError,
    CorpusError,
    LsdlabError,
    ModelError,
    ParameterError,
    SettingsError,
    SipError,
)
from .settingsfile import TunedSettings, load_settings, save_settings  # noqa: E402

if TYPE_CHECKING:  # for editors and type checkers; at run time __getattr__ imports it on first use
    from .uas import UASCallChannel

logging.getLogger(__name__).addHandler(logging.NullHandler())
_moved.install()  # lsdlab.evaluate, lsdlab.train, lsdlab.tune.metrics: their old names still import

__all__ = [
    "__version__",
    "LsdlabError",
    "ParameterError",
    "AudioError",
    "CorpusError",
    "SettingsError",
    "ModelError",
    "SipError",
    "MissingExtraError",
    "TunedSettings",
    "load_settings",
    "save_settings",
    "UASCallChannel",
]


def __getattr__(name: str):
    # Lazy: ``import lsdlab`` must not import pjsua2.
    if name == "UASCallChannel":
        from .uas import UASCallChannel

        return UASCallChannel
    raise AttributeError(f"module 'lsdlab' has no attribute {name!r}")
