"""Per-call traces and their disk cache: a corpus traced once, re-scored many times.

A trace (:class:`~lsdlab.detect.CallTrace`) is the threshold-free record of what the default
detector saw in one call; replaying it under other thresholds and timers gives exactly the
decisions a streaming run would (:func:`lsdlab.evaluation.decisions_from_traces`). The tuner's
inner loop re-scores candidate settings from these traces without touching audio again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from .._cache import cache_home, mark_used
from ..corpus import Corpus
from ..detect import CallTrace, DetectorSettings
from .runner import trace_corpus

__all__ = ["TRACE_FIELDS", "load_traces", "trace_cache_key", "call_trace_key", "default_cache_dir"]

logger = logging.getLogger(__name__)

#: Fields of DetectorSettings that change a call's trace (the rest are replayed).
TRACE_FIELDS = ("vad_margin_db", "vad", "beep_min_ms", "fax_detect", "beep_detect", "sit_detect", "model")


def _code_hash() -> str:
    """Hash of the detector's source: a changed detector must not reuse old traces."""
    from .._version import __version__

    h = hashlib.sha256(__version__.encode())
    root = Path(__file__).resolve().parent.parent / "detect"
    for name in sorted(p.name for p in root.glob("*.py")):
        h.update(name.encode())
        h.update((root / name).read_bytes())
    return h.hexdigest()


def _model_sha(model: str) -> str:
    from .._hashing import file_sha256
    from ..detect.model import resolve_model_path

    p = resolve_model_path(model)
    return file_sha256(p) if p.is_file() else model


def trace_cache_key(corpus: Corpus, settings: DetectorSettings) -> str:
    """A key for all of a corpus's traces: corpus sha256, trace-level settings, model and code
    (the disk cache itself is per call: see :func:`call_trace_key`)."""
    payload = json.dumps({"corpus": corpus.sha256, "base": _trace_base(settings)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _trace_base(settings: DetectorSettings) -> dict:
    """Everything besides the audio that a trace depends on."""
    d = {f: getattr(settings, f) for f in TRACE_FIELDS}
    d["model"] = _model_sha(settings.model)
    return {"settings": d, "code": _code_hash(), "channel": None, "lead_in_s": 0.0, "whole_clip": True, "format": 2}


def call_trace_key(audio_sha256: str, base: dict) -> str:
    """The disk-cache key of one call's trace: (the audio file's sha256, the detector's code
    and version, the trace-level settings with the model's sha256) — ``base`` from
    :func:`_trace_base`. Adding calls to a corpus, or renaming files, re-traces nothing else."""
    payload = json.dumps({"audio": audio_sha256, "base": base}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def default_cache_dir() -> Path:
    return cache_home() / "traces"


def _read_trace(path: Path) -> CallTrace | None:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            trace = CallTrace.from_arrays(z)
        mark_used(path)  # `lsdlab cache clear --older-than` keeps it
        return trace
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError) as exc:
        logger.warning("unreadable cached trace %s (%s); tracing that call again", path, exc)
        return None


def _write_trace(path: Path, trace: CallTrace) -> None:
    import numpy as np

    from ..audio.io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **trace.to_arrays())  # type: ignore[arg-type]


def load_traces(corpus: Corpus, settings: DetectorSettings | None = None, *, jobs: int = 1, progress: bool = False,
                cache_dir: str | os.PathLike | None | bool = None, client=None, ship_audio: bool = False) -> list[CallTrace]:
    """The traces of every call of ``corpus`` (default backend), each from the disk cache if present.

    ``cache_dir``: a folder, None for ``~/.cache/lsdlab/traces`` (``$XDG_CACHE_HOME``), or
    False for no disk cache. The cache holds one ``.npz`` (numeric arrays, read without
    pickle) per call, keyed by :func:`call_trace_key`: the audio's sha256, the trace-level
    settings (:data:`TRACE_FIELDS`, with the model's sha256) and the detector's source code.
    Only calls without a cached trace are traced (``jobs`` processes, or on the Dask cluster
    of ``client``; ``ship_audio``: see :func:`lsdlab.evaluation.run_corpus`).
    """
    from .._hashing import file_sha256
    from .._validation import JOBS_RANGE, check_int_range

    check_int_range(jobs, "jobs", "load_traces", *JOBS_RANGE)  # before the cache is read, not only when a call is traced
    settings = settings if settings is not None else DetectorSettings()
    calls = list(corpus.calls)
    traces: list[CallTrace | None] = [None] * len(calls)
    paths: list[Path | None] = [None] * len(calls)
    if cache_dir is not False:
        folder = Path(cache_dir) if isinstance(cache_dir, (str, os.PathLike)) else default_cache_dir()
        base = _trace_base(settings)
        for i, c in enumerate(calls):
            key = call_trace_key(file_sha256(c.audio_path), base)
            paths[i] = folder / key[:2] / f"{key}.npz"
            traces[i] = _read_trace(paths[i])  # type: ignore[arg-type]
    todo = [i for i, t in enumerate(traces) if t is None]
    if todo:
        made = trace_corpus(corpus, settings, calls=[calls[i] for i in todo], whole_clip=True, jobs=jobs,
                            progress=progress, client=client, ship_audio=ship_audio)
        for i, t in zip(todo, made):
            traces[i] = t
            p = paths[i]
            if p is not None:
                try:
                    _write_trace(p, t)
                except OSError as exc:  # a cache is an optimisation: never fail the tuning for it
                    logger.warning("could not write the trace cache %s: %s", p, exc)
    logger.info("traces of %s: %d from the cache, %d traced", corpus.root, len(calls) - len(todo), len(todo))
    return traces  # type: ignore[return-value]
