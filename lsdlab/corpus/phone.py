"""Call-shaped human answers from real telephone speech (``lsdlab corpus build-phone-speech``).

``../shared/corpora/real-dev/phone-speech`` holds whole recordings of 41 real speakers reading
digit strings over a real 8 kHz telephone line. Nobody in them answers a call, but their first
words make realistic answer turns: this recipe cuts each recording after its first words and
lets the line's own noise run on, as a person who said a few words and now waits for the
caller. The audio is telephone audio already: no band filter or G.711 pass is added.

For each recording it writes up to three calls (seeded, reproducible):

* ``one``: the first word group alone (a short answer), when it lasts 0.3-2.5 s;
* ``turn``: the first 2-4 word groups, together at most 3.2 s (a multi-word turn, the case that
  must never become a machine verdict in the silence after it);
* ``again``: the ``turn`` call, then after 1.5-4 s of waiting the next word group (a second
  attempt), in one recording of two.

Each call starts with 0.2-1.2 s of the line's noise (the pick-up, then the person speaks), and
the waiting lasts 6 s. The noise is the speaker's line's own: the quietest stretches of the speaker's recordings
(within 3 dB of a recording's 10th-percentile level, 200 ms or more from any word), stitched in
random order with short cross-fades. Word groups come from an energy annotator that is independent of
the detector (20 ms frames more than 10 dB above the recording's 10th-percentile level, gaps
under 0.15 s bridged, groups under 80 ms dropped); ``greeting_end_s`` is the end of the turn's
last group. The recordings carry no licence to redistribute: build the corpus where you
evaluate, never commit it (its manifest's ``licence`` column says so).
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..audio.io import SR, load, save_wav
from ..errors import ParameterError

__all__ = ["build_phone_speech", "word_groups", "PHONE_SPEECH_SEED"]

PHONE_SPEECH_SEED = 20261129
_FRAME = 160  # 20 ms
_MARGIN_DB = 10.0
_BRIDGE_S = 0.15
_MIN_GROUP_S = 0.08
_MIN_ANSWER_S = 0.3
_WAIT_S = 6.0
_MARKER = "PHONE-SPEECH.md"
_COLUMNS = ("path", "label", "greeting_end_s", "speech_onset_s", "group", "source", "licence", "language", "notes")


def word_groups(y: np.ndarray, sr: int = SR) -> list[tuple[float, float]]:
    """Stretches of speech in a telephone recording, ``[(start_s, end_s), ...]``.

    An energy annotator independent of the detector: 20 ms frames more than 10 dB above the
    recording's 10th-percentile frame level are speech; gaps shorter than 0.15 s are bridged and
    groups shorter than 80 ms dropped.
    """
    frame = int(round(0.02 * sr))
    n = len(y) // frame
    if n == 0:
        return []
    e = np.mean(np.asarray(y[: n * frame], np.float64).reshape(n, frame) ** 2, axis=1)
    db = 10 * np.log10(e + 1e-12)
    floor = float(np.percentile(db, 10))
    act = db > floor + _MARGIN_DB
    groups: list[list[int]] = []
    for i in np.flatnonzero(act).tolist():
        if groups and (i - groups[-1][1]) * 0.02 <= _BRIDGE_S + 1e-9:
            groups[-1][1] = i + 1
        else:
            groups.append([i, i + 1])
    return [(s * frame / sr, e_ * frame / sr) for s, e_ in groups if (e_ - s) * 0.02 >= _MIN_GROUP_S - 1e-9]


def _noise_pieces(y: np.ndarray, groups: list[tuple[float, float]]) -> list[np.ndarray]:
    """The recording's own line noise: stretches of at least 200 ms whose every 20 ms frame is
    within 3 dB of the recording's 10th-percentile level and which lie 200 ms or more from any
    word group (the gaps between words also hold breaths, soft consonants and word tails, which
    are not the line's noise). With no such stretch, the quietest tenth of its 20 ms frames."""
    frame = _FRAME
    k = len(y) // frame
    db = 10 * np.log10(np.mean(np.asarray(y[: k * frame], np.float64).reshape(k, frame) ** 2, axis=1) + 1e-12)
    quiet = db <= float(np.percentile(db, 10)) + 3.0
    for s, e in groups:
        quiet[max(int(s / 0.02) - 10, 0): int(e / 0.02) + 10] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.view(np.int8), [0]])))
    pieces = [y[a * frame:b * frame] for a, b in zip(edges[::2], edges[1::2]) if b - a >= 10]
    if not pieces:
        pieces = [y[i * frame:(i + 1) * frame] for i in np.argsort(db)[: max(k // 10, 1)]]
    return [p.astype(np.float32) for p in pieces]


def _rms_db(y: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(y, np.float64) ** 2) + 1e-12))


def _like(pieces: list[np.ndarray], y: np.ndarray) -> list[np.ndarray]:
    """The pieces within 3 dB of the level of ``y``'s own quietest tenth (another recording of
    the same speaker may have come over a noisier line)."""
    frame = _FRAME
    k = len(y) // frame
    db = 10 * np.log10(np.mean(np.asarray(y[: k * frame], np.float64).reshape(k, frame) ** 2, axis=1) + 1e-12)
    ref = float(np.percentile(db, 10))
    near = [p for p in pieces if abs(_rms_db(p) - ref) <= 3.0]
    return near or pieces


def _noise_bed(pieces: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of line noise: ``pieces`` in random order, cross-faded over 10 ms."""
    fade = int(0.01 * SR)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    out = np.zeros(0, np.float32)
    while len(out) < n:
        p = pieces[int(rng.integers(len(pieces)))]
        if len(out) >= fade and len(p) > 2 * fade:
            head = out[-fade:] * (1 - ramp) + p[:fade] * ramp
            out = np.concatenate([out[:-fade], head, p[fade:]])
        else:
            out = np.concatenate([out, p])
    return out[:n]


def _splice(noise: np.ndarray, speech: np.ndarray, at: int) -> np.ndarray:
    """Put ``speech`` over ``noise`` at sample ``at`` (replacing it), with 10 ms cross-fades."""
    out = noise.copy()
    n = min(len(speech), len(out) - at)
    seg = speech[:n].astype(np.float32).copy()
    fade = min(int(0.01 * SR), n // 2)
    if fade:
        r = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        seg[:fade] = seg[:fade] * r + out[at:at + fade] * (1 - r)
        seg[n - fade:] = seg[n - fade:] * r[::-1] + out[at + n - fade:at + n] * (1 - r[::-1])
    out[at:at + n] = seg
    return out


def _turns(groups: list[tuple[float, float]]) -> dict[str, list[int]]:
    """Which word groups make each kind of turn (indices); kinds that do not apply are absent.

    The turn starts at the first group of at least 0.3 s (shorter ones before it are clicks or
    breaths, left out with the audio before them)."""
    out: dict[str, list[int]] = {}
    first = next((i for i, (s, e) in enumerate(groups) if e - s >= _MIN_ANSWER_S), None)
    if first is None:
        return out
    s0 = groups[first][0]
    if groups[first][1] - s0 <= 2.5:
        out["one"] = [first]
    k = first
    while k + 1 < len(groups) and k + 1 - first < 4 and groups[k + 1][1] - s0 <= 3.2:
        k += 1
    if k > first:
        out["turn"] = list(range(first, k + 1))
        if k + 1 < len(groups):
            out["again"] = list(range(first, k + 2))
    return out


def build_phone_speech(out: str | os.PathLike, *, real_dev: str | os.PathLike | None = None,
                       seed: int = PHONE_SPEECH_SEED,
                       progress: Callable[[int, int], None] | None = None) -> Path:
    """Build call-shaped human answers from real-dev's ``phone-speech`` recordings into ``out``.

    Parameters
    ----------
    out : path
        Destination folder, built aside and renamed when complete. An existing ``out`` is
        replaced only if it is a corpus this function built.
    real_dev : path, optional
        The shared real-dev corpus (default: ``../shared/corpora/real-dev`` beside the project).
    seed : int
        Seed of every random choice (lead-ins, noise stitching, which recordings try again).

    Returns
    -------
    Path of the corpus. Raises :class:`ParameterError` when ``phone-speech`` is missing or
    ``out`` is something else.
    """
    from .demo import default_real_dev

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"The 'seed' parameter of build_phone_speech must be a non-negative int. Got {seed!r} instead.")
    rd = Path(real_dev) if real_dev is not None else default_real_dev()
    src = rd / "manifest.csv"
    if not src.is_file() or not (rd / "phone-speech").is_dir():
        raise ParameterError(
            f"The 'real_dev' parameter of build_phone_speech is {str(rd)!r}, which holds no phone-speech/ "
            f"folder and manifest.csv; point it at ../shared/corpora/real-dev."
        )
    out = Path(out)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / _MARKER).is_file())):
        raise ParameterError(
            f"The 'out' parameter of build_phone_speech is {str(out)!r}, which exists and is not a corpus "
            f"this recipe built (no {_MARKER}); refusing to overwrite it. Give a new or empty folder."
        )
    with open(src, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith("phone-speech/")]
    from .._validation import check_output_folder

    check_output_folder(out, "build-phone-speech")  # its parent folder must exist: none made silently
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        _build_into(tmp, rd, rows, seed, progress)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _build_into(root: Path, rd: Path, rows: list[dict], seed: int,
                progress: Callable[[int, int], None] | None) -> None:
    from .demo import write_manifest

    (root / "human").mkdir()
    seeds = np.random.SeedSequence(seed).spawn(len(rows))
    audio = {row["path"]: load(rd / row["path"])[0] for row in rows}
    words = {path: word_groups(y) for path, y in audio.items()}
    noise: dict[str, list[np.ndarray]] = {}  # the speaker's recordings pooled: more noise, less looping
    for row in rows:
        noise.setdefault(row.get("group") or row["path"], []).extend(_noise_pieces(audio[row["path"]], words[row["path"]]))
    out_rows = []
    for k, (row, ss) in enumerate(zip(rows, seeds)):
        rng = np.random.default_rng(ss)
        y, groups = audio[row["path"]], words[row["path"]]
        turns = _turns(groups)
        if "again" in turns and rng.random() >= 0.5:
            del turns["again"]
        stem = Path(row["path"]).stem
        for kind, idx in turns.items():
            lead = float(rng.uniform(0.2, 1.2))
            last = idx[-1] if kind != "again" else idx[-2]
            t0 = groups[idx[0]][0]
            turn = y[int(t0 * SR): int(groups[last][1] * SR)]
            parts = [(lead, turn)]
            end = lead + len(turn) / SR
            note = f"{len(idx) - (kind == 'again')} word group(s) of {stem}, {end - lead:.2f} s"
            if kind == "again":
                gap = float(rng.uniform(1.5, 4.0))
                g = groups[idx[-1]]
                again = y[int(g[0] * SR): int(g[1] * SR)]
                parts.append((end + gap, again))
                note += f"; speaks again at {end + gap:.2f} s after {gap:.1f} s of waiting"
                total = end + gap + len(again) / SR + 2.0
            else:
                total = end + _WAIT_S
            bed = _noise_bed(_like(noise[row.get("group") or row["path"]], y), int(round(total * SR)), rng)
            for t, seg in parts:
                bed = _splice(bed, seg, int(round(t * SR)))
            rel = f"human/{stem}-{kind}.wav"
            save_wav(root / rel, bed, SR, subtype="PCM_16")
            out_rows.append({
                "path": rel, "label": "human", "greeting_end_s": f"{end:.3f}", "speech_onset_s": f"{lead:.3f}",
                "group": row.get("group", ""), "source": row.get("source", ""),
                "licence": row.get("licence", "") or "none stated",
                "language": "en-IN",
                "notes": f"real telephone speech: {note}, then the line's own noise; speaks {lead:.2f} s after the pick-up",
            })
        if progress is not None:
            progress(k + 1, len(rows))
    write_manifest(root, out_rows, _COLUMNS)
    (root / _MARKER).write_text(
        "# Call-shaped real telephone speech\n\nBuilt by `lsdlab corpus build-phone-speech` "
        f"(lsdlab/corpus/phone.py, seed {seed}) from {rd}/phone-speech (the Hyke data: Reda, Panjwani, "
        "Cutrell, NSDR 2011; no licence to redistribute). For evaluation only: do not commit or "
        "train a shipped model on it.\n", encoding="utf-8")
