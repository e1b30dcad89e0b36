"""Running detectors over labelled corpora: decisions, traces and their figures.

corpus -> offline far end -> detector -> per-call decisions -> metrics. Traces (threshold-free
per-call records of the default detector) are cached so that thresholds and timeouts can be
re-scored without touching audio again (the tuner's inner loop).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .._validation import JOBS_RANGE, check_int_range, check_real_range
from .._workers import map_local, mp_context
from ..audio.channel import ChannelSettings
from ..audio.io import atomic_path
from ..corpus import Call, Corpus
from ..detect import (
    CallTrace,
    DetectorSettings,
    LiveSpeakerDetector,
    classify,
    make_detector,
    trace_audio,
)
from ..errors import ParameterError
from ..farend.offline import OfflineFarEnd
from .decisions import Decision

__all__ = ["Decision", "run_corpus", "trace_corpus", "decisions_from_traces", "write_decisions",
           "longest_pauses", "connect", "close_client", "ShippedFarEnd", "offline_far_end", "work_items", "map_calls",
           "mp_context"]


def offline_far_end(corpus: Corpus, channel: ChannelSettings | None = None, lead_in_s: float | tuple[float, float] = 0.0,
                    seed: int = 0, after: str = "hangup") -> OfflineFarEnd:
    """The offline far end that streams ``corpus``'s calls exactly as :func:`run_corpus` does
    (``channel``, ``lead_in_s``, ``seed``, ``after``: as there)."""
    return OfflineFarEnd(corpus.root, channel=channel, lead_in_s=lead_in_s, seed=seed, after=after)


def _one_decision(args) -> Decision:
    far, call, settings = args
    y = far.audio(call.path)
    return Decision.of(call, classify(y, 8000, settings))  # the whole-file offline path


def _one_trace(args) -> CallTrace:
    far, call, settings = args
    return trace_audio(far.audio(call.path), 8000, settings)


def _one_whole_trace(args) -> CallTrace:
    # the whole clip, not only its first 10.5 s: with TIMEOUT_FROM_ANSWER_DETECT a verdict can
    # come later than that, and the replay must equal the streaming run in every case
    far, call, settings = args
    y = far.audio(call.path)
    return trace_audio(y, 8000, settings, max_s=len(y) / 8000 + 1.0)


def _run_batch(fn, items: list) -> list:
    """One cluster task: a batch of calls, so the scheduler's per-task cost is paid once per batch."""
    return [fn(it) for it in items]


def _batches(items: list, n_workers: int, batch_size: int | None) -> list[list]:
    if batch_size is None:  # about 4 batches per worker (load balance), at most 64 calls each
        batch_size = max(1, min(64, -(-len(items) // max(1, 4 * n_workers))))
    return [items[i : i + batch_size] for i in range(0, len(items), batch_size)]


def map_calls(fn, items: list, *, jobs: int, progress: bool, desc: str, client=None, batch_size: int | None = None) -> list:
    """``[fn(it) for it in items]``, in order: in this process, in ``jobs`` local worker
    processes (:func:`lsdlab._workers.map_local`), or on a Dask cluster (``client``: a
    ``dask.distributed.Client``)."""
    if client is not None:
        return _map_dask(fn, items, client=client, progress=progress, desc=desc, batch_size=batch_size)
    return map_local(fn, items, jobs=jobs, progress=progress, desc=desc)


def _map_dask(fn, items: list, *, client, progress: bool, desc: str, batch_size: int | None) -> list:
    from dask.distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    batches = _batches(items, n_workers, batch_size)
    futures = client.map(_run_batch, [fn] * len(batches), batches, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    results: list = [None] * len(batches)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc=f"{desc} (dask)", unit="call", leave=False)
    try:
        for fut in as_completed(futures, loop=client.loop):
            i = index[fut.key]
            results[i] = fut.result()
            if bar is not None:
                bar.update(len(batches[i]))
    finally:
        if bar is not None:
            bar.close()
        client.cancel(futures)
    return [r for batch in results for r in batch]


class ShippedFarEnd:
    """An :class:`OfflineFarEnd` whose recordings travel with it (for cluster workers that do
    not see the corpus folder): the files' bytes are written to a private temporary folder on
    the worker the first time a call is rendered there."""

    def __init__(self, far: OfflineFarEnd, files: dict[str, bytes]) -> None:
        self.far = far
        self.files = files
        self._local: OfflineFarEnd | None = None
        self._tmp: Any = None

    def __getstate__(self):
        return {"far": self.far, "files": self.files, "_local": None, "_tmp": None}

    def audio(self, path: str):
        if self._local is None:
            import tempfile
            from pathlib import Path

            tmp = tempfile.TemporaryDirectory(prefix="lsdlab-shipped-")
            self._tmp = tmp
            root = Path(tmp.name)
            for rel, data in self.files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
            f = self.far
            self._local = OfflineFarEnd(root, channel=f.channel, lead_in_s=f.lead_in_s, after=f.after, seed=f.seed)
        return self._local.audio(path)


def work_items(far: OfflineFarEnd, calls: Sequence[Call], settings, *, client, ship_audio: bool) -> list:
    """Work items ``(far end, call, settings)``; with ``ship_audio`` each item's far end carries
    the bytes of its own recording (the workers need not see ``far.corpus_root``)."""
    if client is None or not ship_audio:
        return [(far, c, settings) for c in calls]
    from pathlib import Path

    root = Path(far.corpus_root)
    return [(ShippedFarEnd(far, {c.path: (root / c.path).read_bytes()}), c, settings) for c in calls]


def connect(cluster: str):
    """A ``dask.distributed.Client`` for ``--cluster``: ``local:N`` starts a LocalCluster of N
    worker processes (one thread each) on this machine, anything else is a scheduler address
    (``tcp://host:8786``). Needs the ``dask`` extra: ``pip install 'lsdlab[dask]'``."""
    import re

    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError(
            f"--cluster {cluster} needs Dask's distributed scheduler, which is not installed; "
            "install it with: pip install 'lsdlab[dask]'."
        ) from None
    m = re.fullmatch(r"local:(\d+)", cluster.strip())
    if m:
        n = int(m.group(1))
        low, high = JOBS_RANGE
        if not low <= n <= high:
            raise ParameterError(f"--cluster local:N needs N (worker processes) in the range [{low}, {high}]. Got {n} instead.")
        import logging

        lc = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.WARNING)
        return Client(lc, set_as_default=False)
    if cluster.startswith("local"):
        raise ParameterError(f"--cluster must be 'local:N' (N worker processes) or a scheduler address such as "
                             f"tcp://10.0.0.5:8786. Got {cluster!r} instead.")
    try:
        return Client(cluster, timeout="20s", set_as_default=False)
    except OSError as exc:
        raise ParameterError(f"--cluster {cluster}: no Dask scheduler answered ({exc}); start one with "
                             "`dask scheduler` (and workers with `dask worker ADDRESS`) or use --cluster local:N.") from None


def close_client(client) -> None:
    """Close a client made by :func:`connect` (and its LocalCluster, if it started one)."""
    if client is None:
        return
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def run_corpus(corpus: Corpus, settings=None, *, channel: ChannelSettings | None = None,
               lead_in_s: float | tuple[float, float] = 0.0, seed: int = 0, jobs: int = 1,
               progress: bool = False, after: str = "hangup", client=None, ship_audio: bool = False,
               batch_size: int | None = None) -> list[Decision]:
    """Stream every call through the offline far end into a detector; one Decision per call.

    Decisions are identical whichever way they were made (one process, ``jobs`` processes or
    a Dask cluster).

    Parameters
    ----------
    corpus : Corpus
        The labelled corpus (:func:`lsdlab.corpus.load_corpus`).
    settings : DetectorSettings, AmdSettings, dict or None
        Detector settings of any backend; None: the default backend's defaults.
    channel : ChannelSettings, optional
        Telephone-channel impairments the far end applies (None: the recordings as they are).
    lead_in_s : float or (float, float)
        Silence before each recording (a range: drawn per call from ``seed``).
    seed : int
        Seeds the far end's random choices (lead-in, channel noise).
    jobs : int
        Local worker processes, 1 to 256 (1: in this process).
    progress : bool
        A tqdm progress bar.
    after : {'hangup', 'silence'}
        What follows a recording: the far end hangs up, or the line stays silent.
    client : dask.distributed.Client, optional
        Run the calls on its cluster instead, ``batch_size`` calls per task (default: about 4
        tasks per worker). The workers read the audio from the corpus folder (the same path
        must be visible to them) unless ``ship_audio``, when each call's recording is sent
        with its task. Only the decisions come back.
    ship_audio, batch_size
        See ``client``.

    Returns
    -------
    list of Decision
        One per call, in the corpus's order.

    Raises
    ------
    ParameterError
        Bad settings or arguments (named, with the accepted values).
    ModelError
        The settings' model file is missing or unreadable.
    """
    check_int_range(jobs, "jobs", "run_corpus", *JOBS_RANGE)
    far = offline_far_end(corpus, channel, lead_in_s, seed, after)
    make_detector(settings)  # validate settings (and load the model) once, here: forked workers inherit it
    items = work_items(far, corpus.calls, settings, client=client, ship_audio=ship_audio)
    return map_calls(_one_decision, items, jobs=jobs, progress=progress, desc="evaluate", client=client,
                batch_size=batch_size)


def trace_corpus(corpus: Corpus, settings: DetectorSettings | None = None, *, channel: ChannelSettings | None = None,
                 lead_in_s: float | tuple[float, float] = 0.0, seed: int = 0, jobs: int = 1,
                 progress: bool = False, after: str = "hangup", client=None, ship_audio: bool = False,
                 batch_size: int | None = None, calls: Sequence[Call] | None = None,
                 whole_clip: bool = False) -> list[CallTrace]:
    """The :class:`CallTrace` of every call (default backend), for fast re-scoring
    (``jobs``, ``client``, ``ship_audio``, ``batch_size``: as :func:`run_corpus`).

    ``calls``: only these calls of the corpus (default: all). ``whole_clip``: trace each
    recording to its end, not only its first 10.5 s (what the tuner's replay needs: a verdict
    timed from the answer can come later; :func:`lsdlab.evaluation.load_traces` uses it).
    """
    check_int_range(jobs, "jobs", "trace_corpus", *JOBS_RANGE)
    far = offline_far_end(corpus, channel, lead_in_s, seed, after)
    LiveSpeakerDetector(settings, trace=True)  # load the model once, here: forked workers inherit it
    items = work_items(far, corpus.calls if calls is None else list(calls), settings, client=client,
                       ship_audio=ship_audio)
    return map_calls(_one_whole_trace if whole_clip else _one_trace, items, jobs=jobs, progress=progress,
                     desc="trace", client=client, batch_size=batch_size)


def decisions_from_traces(corpus: Corpus | Sequence[Call], traces: Sequence[CallTrace],
                          settings: DetectorSettings) -> list[Decision]:
    """Decisions under ``settings`` replayed from traces (equal to a streaming run)."""
    calls = corpus.calls if isinstance(corpus, Corpus) else corpus
    return [Decision.of(c, t.replay(settings)) for c, t in zip(calls, traces)]


def longest_pauses(far: OfflineFarEnd, calls: Sequence[Call], *, within_s: float = 3.0) -> list[float | None]:
    """Per call, the longest pause between the detector's own speech bursts (the ones its
    cadence features see) that starts within ``within_s`` (0-10) seconds of the first speech,
    in the first 10 s of the call audio ``far`` makes: 0.0 for a single burst, None when no speech is found.

    A LIVE verdict needs ``end_of_turn_silence_ms`` of silence after speech, so a machine's
    greeting that pauses that long is where it can be called LIVE; comparing these pauses in a
    synthetic corpus and in real greetings shows whether the corpus is fair to the detector.
    """
    within_s = check_real_range(within_s, "within_s", "longest_pauses", 0.0, 10.0)
    out: list[float | None] = []
    for c in calls:
        det = LiveSpeakerDetector(DetectorSettings(timeout_ms=10000, model="none"), trace=True)
        det.push(far.audio(c.path))
        det.end()
        b = det.speech_bursts()
        gaps = [s1 - e0 for (_s0, e0), (s1, _e1) in zip(b, b[1:]) if e0 - b[0][0] <= within_s]
        out.append(None if not b else max(gaps, default=0.0))
    return out


_COLUMNS = list(Decision.__dataclass_fields__)


def write_decisions(path: str | os.PathLike, decisions: Sequence[Decision]) -> None:
    """Write decisions as CSV, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_COLUMNS)
        w.writeheader()
        for d in decisions:
            w.writerow({k: ("" if v is None else v) for k, v in asdict(d).items()})

