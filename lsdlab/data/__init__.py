"""Files shipped inside the lsdlab package, found the same way from a checkout or a wheel.

* :func:`settings_path` - the tuned settings for the US and GB rules (``settings/`` of the
  source tree is the source of truth; ``lsdlab/data/settings/*.json`` are links to it, which
  a wheel build turns into copies).
* :func:`message_wav` - a short licence-clean message to leave on an answering machine
  (8 kHz mono; see ``ATTRIBUTION.md`` beside it).
* :func:`demo_corpus` - the demo corpus: the checkout's ``corpora/demo`` when there is one,
  otherwise one built once into the user's cache by the demo-corpus recipe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .._cache import cache_home
from ..errors import ParameterError

__all__ = ["SHIPPED_COUNTRIES", "settings_path", "message_wav", "demo_corpus", "demo_corpus_cache"]

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
#: Countries whose tuned settings ship with lsdlab.
SHIPPED_COUNTRIES = ("US", "GB")


def settings_path(country: str) -> Path:
    """The shipped settings file for ``country`` ('US' or 'GB'), for ``live_speaker_detect=``."""
    code = str(country).upper()
    if code not in SHIPPED_COUNTRIES:
        raise ParameterError(
            f"The 'country' parameter of settings_path must be one of {', '.join(SHIPPED_COUNTRIES)} "
            f"(the settings shipped with lsdlab). Got {country!r} instead; for another country run "
            f"`lsdlab tune CORPUS --country CODE --out settings.json` and pass that file."
        )
    return _HERE / "settings" / f"{code}.json"


def message_wav() -> Path:
    """A 7 s spoken message (8 kHz mono WAV) to play after an answering machine's beep."""
    return _HERE / "message.wav"


def _checkout_demo() -> Path:
    """``corpora/demo`` of the source tree this package was imported from (may not exist)."""
    return _HERE.parents[1] / "corpora" / "demo"


def demo_corpus_cache() -> Path:
    """Where :func:`demo_corpus` builds the demo corpus outside a checkout."""
    return cache_home() / "demo-corpus"


def demo_corpus(*, build: bool = True, progress: Callable[[int, int], None] | None = None) -> Path:
    """The demo corpus folder: the checkout's, or the cached build, or a new build.

    Outside a source checkout (an installed wheel) the corpus is built once with
    :func:`lsdlab.corpus.demo.build_demo` into :func:`demo_corpus_cache` (the same calls as
    ``lsdlab corpus build-demo DIR``; it needs the Debian packages espeak-ng, flite and
    asterisk-core-sounds-en-wav, and synthesises 410 calls). ``build=False`` raises instead; ``progress(done, total)`` is called after each built call.
    """
    for cand in (_checkout_demo(), demo_corpus_cache()):
        if (cand / "manifest.csv").is_file():
            return cand
    cache = demo_corpus_cache()
    if not build:
        raise ParameterError(
            f"No demo corpus found (looked for {_checkout_demo()}/manifest.csv and {cache}/manifest.csv). "
            f"Build it with `lsdlab corpus build-demo {cache}` (needs the Debian packages espeak-ng, flite "
            f"and asterisk-core-sounds-en-wav), or pass a corpus folder."
        )
    from ..corpus.demo import build_demo

    log.warning("building the demo corpus into %s (once: 410 calls)", cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    return Path(build_demo(cache, progress=progress))
