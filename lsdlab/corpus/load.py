"""Loading and validating corpora. ``check`` finds every problem; ``load`` raises them all."""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from .._hashing import file_sha256
from .._workers import map_local
from ..audio.io import check_header, nonfinite_samples
from ..errors import AudioError, CorpusError
from .schema import (
    LABELS,
    PASSTHROUGH_COLUMNS,
    REQUIRED_COLUMNS,
    TIMING_COLUMNS,
    Call,
    Label,
    Problem,
)

__all__ = ["Corpus", "check", "load_corpus", "load", "MANIFEST"]

MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class Corpus:
    """A validated corpus: its folder, its calls in manifest order, and a content hash."""

    root: Path
    calls: tuple[Call, ...]
    sha256: str

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self):
        return iter(self.calls)

    def by_label(self, label: str | Label) -> list[Call]:
        lab = Label(label)
        return [c for c in self.calls if c.label is lab]

    def counts(self) -> dict[str, int]:
        c = Counter(call.label.value for call in self.calls)
        return {lab: c.get(lab, 0) for lab in LABELS}

    def subset(self, calls) -> Corpus:
        """A corpus of some of these calls (same root)."""
        calls = tuple(calls)
        return Corpus(self.root, calls, _hash_calls(self.root, calls))


def _hash_calls(root: Path, calls, sha: dict[str, str] | None = None) -> str:
    """The corpus's content hash: every call's row and its recording's sha256 (``sha``: those
    already computed, by resolved path)."""
    h = hashlib.sha256()
    for c in calls:
        row = [c.path, c.label.value] + [
            "" if getattr(c, k) is None else repr(getattr(c, k)) for k in TIMING_COLUMNS
        ]
        h.update("\x1f".join(row).encode())
        digest = sha.get(c.audio_path) if sha else None
        h.update((digest if digest is not None else file_sha256(c.audio_path)).encode())
    return h.hexdigest()




def _parse_time(raw: str, col: str, mpath: str, line: int, problems: list[Problem]) -> float | None:
    raw = (raw or "").strip()
    if raw == "":
        return None
    try:
        v = float(raw)
    except ValueError:
        problems.append(Problem(mpath, line, f"{col} is {raw!r}, not a number of seconds; write e.g. 1.25 or leave it empty."))
        return None
    if not math.isfinite(v):
        problems.append(Problem(mpath, line, f"{col} is {raw!r}; it must be a finite number of seconds."))
        return None
    if v < 0:
        problems.append(Problem(mpath, line, f"{col} is {v} s, negative; times count from connect (0) onwards."))
        return None
    return v


def _checked_duration(rel: str, apath: Path, info) -> tuple[float | None, list[str]]:
    """The clip's duration from its header, or None and why it is refused: no samples, an
    absurd header (sample rate, channels, duration) or NaN/inf samples."""
    if info.frames <= 0:
        return None, [f"{rel}: decodes to no audio samples; re-export the recording."]
    try:
        check_header(apath, info)  # the header limits every loader applies, before anything is allocated
        n_bad, first = nonfinite_samples(apath, info=info)  # the header read once per file, here
    except AudioError as exc:
        msg = str(exc)
        msg = msg[len(f"{apath}: "):] if msg.startswith(f"{apath}: ") else msg
        return None, [f"{rel}: {msg}"]
    if n_bad:
        return None, [f"{rel}: {n_bad} NaN or infinite sample(s), the first at {first:.3f} s; "
                      "re-export the recording as 16-bit PCM or clean it."]
    return info.frames / float(info.samplerate), []


def _check_file(args: tuple[str, str, str]) -> tuple[str, str | None, float | None, list[str], str | None]:
    """One row's recording, found and checked: ``rel`` (its path as written) under the corpus
    folder ``root`` (``root_real``: resolved). Returns (its resolved path, why its path is
    refused or None, its duration or None, what is wrong with the file, its sha256 when it is
    usable). A path that is absolute, climbs out with ``..`` or is a symlink leading out of
    the corpus is refused before the file is touched. Runs in a corpus worker with ``jobs`` > 1,
    so it depends on nothing but its arguments."""
    rel, root, root_real = args
    apath = (Path(root) / rel).resolve()
    key = str(apath)
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        return key, f"{rel}: the path must be relative to the corpus folder and stay inside it.", None, [], None
    if not apath.is_relative_to(root_real):
        return (key, f"{rel}: a symlink leading outside the corpus (to {apath}); "
                     "copy the recording into the corpus folder instead.", None, [], None)
    if not apath.is_file():
        return key, None, None, [f"{rel}: missing file {apath}; add it or remove the row."], None
    if apath.stat().st_size == 0:
        return key, None, None, [f"{rel}: empty file (0 bytes); re-export the recording or remove the row."], None
    try:
        info = sf.info(key)
    except (sf.LibsndfileError, RuntimeError) as exc:
        return key, None, None, [f"{rel}: undecodable audio ({str(exc).strip()}); convert it to WAV/FLAC/OGG/MP3, e.g. `ffmpeg -i {rel} -ar 8000 -ac 1 fixed.wav` (WebM/Opus renamed to .wav does not work)."], None
    duration, msgs = _checked_duration(rel, apath, info)
    return key, None, duration, msgs, (file_sha256(apath) if duration is not None else None)


#: Corpus checks go to worker processes (``jobs`` > 1) only from this many recordings on. A
#: pool costs 10-15 ms to start and stop (a process's first one 25-35 ms: multiprocessing is
#: imported then), a recording's check 0.2-0.25 ms; measured on 2 CPUs, `evaluate --jobs 2`
#: on 410 calls was 3% faster with the checks on the workers (median of 15 pairs, within the
#: noise), and `load_corpus` on 2,050 calls 18% faster.
PARALLEL_CHECK_MIN = 200


def _validate(root: str | os.PathLike, labels: tuple[str, ...] | None = None,
              jobs: int = 1) -> tuple[list[Call], list[Problem], dict[str, str]]:
    """(calls, problems, sha256 of each usable recording by its resolved path)."""
    root = Path(root)
    problems: list[Problem] = []
    calls: list[Call] = []
    if not root.is_dir():
        return [], [Problem(str(root), None, "not a folder; a corpus is a folder holding manifest.csv and audio files.")], {}
    mpath = root / MANIFEST
    ms = str(mpath)
    if not mpath.is_file():
        return [], [Problem(ms, None, "missing manifest; create manifest.csv with at least the columns path,label (see `lsdlab corpus --help`).")], {}
    try:
        with open(mpath, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        return [], [Problem(ms, None, f"cannot read the manifest as UTF-8 CSV ({exc}); save it as UTF-8 comma-separated text.")], {}
    if not rows:
        return [], [Problem(ms, 1, "the manifest is empty; its first line must be a header with at least path,label.")], {}
    header = [h.strip() for h in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return [], [Problem(ms, 1, f"missing required column(s) {', '.join(missing)} in the header {header}; add them (required: path,label).")], {}
    dup_cols = [c for c, n in Counter(header).items() if n > 1]
    if dup_cols:
        problems.append(Problem(ms, 1, f"column(s) {', '.join(dup_cols)} appear more than once in the header; keep one of each."))
    if "greeting_end_s" not in header and any(
        len(r) > header.index("label") and r[header.index("label")].strip() == "human" for r in rows[1:]
    ):
        problems.append(Problem(ms, 1, "missing column greeting_end_s, required for human calls; add it with the end of each person's first greeting in seconds."))
    # first pass: each row read, and its own problems; then every recording found and checked
    # (path, header, samples, sha256) at once, in ``jobs`` workers for a large corpus; then
    # each row's problems in manifest order, as one pass would give them
    pending: list[tuple[int, dict[str, str] | None, list[Problem]]] = []  # row None: refused
    to_check: list[tuple[str, str, str]] = []
    root_s, root_real = str(root), str(root.resolve())
    for lineno, raw in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) > len(header):
            pending.append((lineno, None, [Problem(ms, lineno, f"{len(raw)} fields but the header has {len(header)}; quote fields that contain commas.")]))
            continue
        parsed = dict(zip(header, [c.strip() for c in raw] + [""] * (len(header) - len(raw))))
        rel = parsed["path"]
        if not rel:
            pending.append((lineno, None, [Problem(ms, lineno, "empty path; give the audio file's path relative to the manifest.")]))
            continue
        if labels is not None and parsed["label"] not in labels:
            continue
        pending.append((lineno, parsed, []))
        to_check.append((rel, root_s, root_real))
    checked = iter(map_local(_check_file, to_check, jobs=jobs if len(to_check) >= PARALLEL_CHECK_MIN else 1,
                             progress=False, desc="check", chunksize=max(1, len(to_check) // (4 * jobs))))
    sha: dict[str, str] = {}
    seen: dict[str, tuple[int, str]] = {}
    for lineno, row, own in pending:
        problems.extend(own)
        if row is None:
            continue
        rel, label = row["path"], row["label"]
        key, path_problem, duration, file_problems, digest = next(checked)
        label_ok = label in LABELS
        if not label_ok:
            problems.append(Problem(ms, lineno, f"{rel}: unknown label {label!r}; use one of {', '.join(LABELS)}."))
        # one recording is one call however it is written: m.wav, ./m.wav, sub//m.wav and a
        # symlink to it inside the corpus are the same file
        if key in seen:
            first_line, first_rel = seen[key]
            same = "" if first_rel == rel else f" as {first_rel!r}, the same file"
            problems.append(Problem(ms, lineno, f"{rel}: duplicate path, already on line {first_line}{same}; "
                                                "each recording appears once."))
            continue
        seen[key] = (lineno, rel)
        if path_problem is not None:
            problems.append(Problem(ms, lineno, path_problem))
        problems.extend(Problem(ms, lineno, m) for m in file_problems)
        if digest is not None:
            sha[key] = digest
        times: dict[str, float | None] = {}
        for col, applies in TIMING_COLUMNS.items():
            v = _parse_time(row.get(col, ""), col, ms, lineno, problems) if col in header else None
            times[col] = v
            if v is not None and label_ok and label not in applies:
                problems.append(Problem(ms, lineno, f"{rel}: {col} is set for a {label!r} call but applies only to {', '.join(applies)}; clear it."))
            if v is not None and duration is not None and v > float(duration) + 1e-6:
                problems.append(Problem(ms, lineno, f"{rel}: {col}={v} s is beyond the clip's duration {duration:.3f} s; fix the time or the file."))
        if label == "human" and times["greeting_end_s"] is None and "greeting_end_s" in header and not row.get("greeting_end_s"):
            problems.append(Problem(ms, lineno, f"{rel}: greeting_end_s is required for human calls; add the end of the person's first greeting in seconds."))
        on, end = times["speech_onset_s"], times["greeting_end_s"]
        if on is not None and end is not None and on > end:
            problems.append(Problem(ms, lineno, f"{rel}: speech_onset_s={on} is after greeting_end_s={end}; the greeting must start before it ends."))
        ans = times["answer_s"]
        for col in ("speech_onset_s", "greeting_end_s", "beep_s"):
            tc = times[col]
            if ans is not None and tc is not None and tc < ans:
                problems.append(Problem(ms, lineno, f"{rel}: {col}={tc} is before answer_s={ans}; nothing is said before the pick-up."))
        if not label_ok or duration is None or any(p.line == lineno for p in problems):
            continue
        extra = {k: v for k, v in row.items() if k not in REQUIRED_COLUMNS and k not in TIMING_COLUMNS and k not in PASSTHROUGH_COLUMNS}
        calls.append(
            Call(
                path=rel,
                label=Label(label),
                audio_path=key,
                duration_s=float(duration),
                greeting_end_s=times["greeting_end_s"],
                speech_onset_s=times["speech_onset_s"],
                beep_s=times["beep_s"],
                answer_s=times["answer_s"],
                line=lineno,
                extra=extra,
                **{k: row.get(k, "") for k in PASSTHROUGH_COLUMNS},  # type: ignore[arg-type]
            )
        )
    if not problems and not calls:
        problems.append(Problem(ms, None, "the manifest lists no calls; add one row per recording."))
    return calls, problems, sha


def _labels(labels) -> tuple[str, ...] | None:
    if labels is None:
        return None
    labels = (labels,) if isinstance(labels, str) else tuple(labels)
    bad = [x for x in labels if x not in LABELS]
    if bad:
        from ..errors import ParameterError

        raise ParameterError(f"The 'labels' parameter must name labels among {LABELS}. Got {bad} instead.")
    return labels


def _jobs(jobs) -> int:
    from .._validation import JOBS_RANGE, check_int_range

    return check_int_range(jobs, "jobs", "load_corpus", *JOBS_RANGE)


def check(root: str | os.PathLike, *, labels=None, jobs: int = 1) -> list[Problem]:
    """Validate a corpus folder; return every problem found (empty when clean).

    ``labels`` restricts the check to rows with those labels (other rows are ignored).
    ``jobs``: as :func:`load_corpus`.
    """
    return _validate(root, _labels(labels), _jobs(jobs))[1]


def load_corpus(root: str | os.PathLike, *, labels=None, jobs: int = 1) -> Corpus:
    """Load a corpus folder, validated; raise one :class:`CorpusError` listing every problem.

    ``labels`` keeps only rows with those labels (e.g. ``('machine',)`` to use the machine
    clips of a folder that also holds rows of other kinds). ``jobs``: local worker processes
    that check the recordings (header, samples, sha256) of a corpus of at least
    ``PARALLEL_CHECK_MIN`` calls; the result (and every problem, in the same order) is the
    same for any ``jobs``.
    """
    calls, problems, sha = _validate(root, _labels(labels), _jobs(jobs))
    if problems:
        raise CorpusError(str(root), problems)
    root = Path(root).resolve()
    return Corpus(root, tuple(calls), _hash_calls(root, calls, sha))


#: The old name of :func:`load_corpus` (kept: scripts import it; beside ``lsdlab.audio.load`` it
#: made every notebook rename one of the two).
load = load_corpus
