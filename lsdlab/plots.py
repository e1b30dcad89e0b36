"""Plots for reports and notebooks (matplotlib; every function returns a ``Figure``).

The figures are built with :class:`matplotlib.figure.Figure` directly, not pyplot, so they
need no display and keep no global state; in Jupyter a returned figure shows itself.

* :func:`confusion_matrix` - true label against decision.
* :func:`decision_times` - when people were put through, against the country's deadline,
  and every class's decision time.
* :func:`pareto` - the tuner's trials: detection recall against a cost, the front, the choice.
* :func:`call_timeline` - one call's spectrogram with the detector's timeline (speech bursts,
  tones and beeps, onset, greeting end, verdict) and the corpus's timing labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._extras import require
from .errors import ParameterError
from .evaluation.decisions import DECISIONS, LABELS, REFERENCE_CHAINS, reference_time

require("tune", "lsdlab.plots (and lsdlab report)")
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["confusion_matrix", "decision_times", "pareto", "call_timeline", "detector_timeline", "figure_png",
           # notebook plots
           "message_landing", "confusion_matrices", "compare_figures", "Table", "table"]

_COLORS = {"human": "#1f77b4", "machine": "#d62728", "fax": "#9467bd", "silence": "#7f7f7f", "unknown": "#ff7f0e"}


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for embedding in HTML)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _matrix(data: Any) -> np.ndarray:
    if hasattr(data, "confusion_matrix"):
        return np.asarray(data.confusion_matrix, dtype=int)
    if isinstance(data, Mapping):  # {"human": {"human": n, ...}, ...} (evidence.confusion)
        return np.array([[int(data[lab][dec]) for dec in DECISIONS] for lab in LABELS], dtype=int)
    m = np.asarray(data, dtype=int)
    if m.shape != (len(LABELS), len(DECISIONS)):
        raise ParameterError(f"The 'data' parameter of confusion_matrix must be Figures, a confusion dict or a 4x4 array. Got shape {m.shape} instead.")
    return m


def _draw_confusion(ax, m: np.ndarray, *, fontsize: int) -> None:
    """Counts and row shares; the cells that abandon a person (human -> machine/fax) outlined."""
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]}\n{100 * share[i, j]:.0f}%", ha="center", va="center", fontsize=fontsize,
                    color="white" if share[i, j] > 0.6 else "black")
    for j in (1, 2):
        ax.add_patch(_rect(j - 0.5, -0.5, 1, 1, "#d62728"))
    ax.set_xticks(range(len(DECISIONS)), DECISIONS)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("decision")


def confusion_matrix(data: Any, *, title: str = "Confusion matrix") -> Figure:
    """Rows: true label; columns: decision. ``data``: Figures, ``evidence["confusion"]`` or a 4x4 array.

    Cells show the count and the share of the row; the cells that abandon a person (human
    decided machine/fax) are outlined in red.
    """
    fig = Figure(figsize=(5.6, 4.4))
    ax = fig.add_subplot()
    _draw_confusion(ax, _matrix(data), fontsize=10)
    ax.set_ylabel("true label")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _rect(x, y, w, h, color):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=2)


def _get(d: Any, key: str):
    return d.get(key) if isinstance(d, Mapping) else getattr(d, key, None)


def decision_times(decisions: Sequence[Any], *, delay_limit_ms: int, delay_reference: str, agent_connect_ms: int,
                   title: str | None = None) -> Figure:
    """Left: for every person put through to an agent, the time from the country's reference
    (greeting end, speech onset or answer) to the agent's connect, against the delay limit.
    Right: decision time from connect of each class, coloured by decision.

    ``decisions``: :class:`~lsdlab.evaluation.Decision` rows or mappings with ``label``,
    ``decision``, ``decided_at_s`` and the timing labels.
    """
    ref = getattr(delay_reference, "value", delay_reference)
    if ref not in REFERENCE_CHAINS:
        raise ParameterError(f"The 'delay_reference' parameter of decision_times must be one of {', '.join(REFERENCE_CHAINS)}. Got {delay_reference!r} instead.")
    limit = delay_limit_ms / 1000.0
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    waits, fps = [], 0
    for d in decisions:
        if _get(d, "label") != "human":
            continue
        if _get(d, "decision") in ("machine", "fax"):
            fps += 1
            continue
        waits.append(float(_get(d, "decided_at_s")) + agent_connect_ms / 1000.0 - reference_time(d, ref)[0])
    if waits:
        w = np.asarray(waits)
        hi = max(limit * 1.6, float(w.max()) + 0.2)
        bins = np.arange(min(0.0, float(w.min())) - 0.1, hi + 0.1, 0.1)
        ax1.hist(w[w <= limit + 1e-9], bins=bins, color=_COLORS["human"], label="in time")
        ax1.hist(w[w > limit + 1e-9], bins=bins, color="#d62728", label="late (abandoned)")
    ax1.axvline(limit, color="black", linestyle="--", linewidth=1.5)
    ax1.text(limit, ax1.get_ylim()[1] * 0.95, f" limit {limit:g} s", va="top", ha="left", fontsize=9)
    late = sum(1 for x in waits if x > limit + 1e-9)
    ax1.set_title(f"people put through: {len(waits)}, late {late}; called machine/fax: {fps}", fontsize=10)
    ax1.set_xlabel(f"s from {ref.replace('_', ' ')} to agent connected (decision + {agent_connect_ms} ms)")
    ax1.set_ylabel("people")
    ax1.legend(fontsize=8, loc="upper left")
    # right: decision time per class
    for i, lab in enumerate(LABELS):
        rows = [d for d in decisions if _get(d, "label") == lab]
        for dec in DECISIONS:
            t = [float(_get(d, "decided_at_s")) for d in rows if _get(d, "decision") == dec]
            if t:
                y = i + np.linspace(-0.25, 0.25, len(t)) if len(t) > 1 else np.array([float(i)])
                ax2.scatter(t, y, s=9, color=_COLORS[dec], label=dec, alpha=0.8)
    handles, labels = ax2.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax2.legend(uniq.values(), [f"decided {k}" for k in uniq], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax2.set_yticks(range(len(LABELS)), LABELS)
    ax2.set_xlabel("decision time, s from connect")
    return _finish_times(fig, ax2, title)


def _finish_times(fig: Figure, ax, title: str | None) -> Figure:
    """The decision-times panel's title and grid, the figure's title, the layout."""
    ax.set_title("decision time by true label", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


_RECALL_NAMES = {"detect_recall": "machines + faxes detected (%)", "machine_recall": "machines detected (%)",
                 "fax_recall": "faxes detected (%)"}


def pareto(trials: Sequence[Any], *, cost: str = "human_false_positive_rate", chosen: int | None = None,
           title: str | None = None, recall: str = "detect_recall") -> Figure:
    """The tuner's trials: a recall against ``cost``.

    ``trials``: :class:`~lsdlab.evaluation.pareto.TrialRecord` objects or their dicts; ``cost`` is
    ``"human_false_positive_rate"``, ``"abandoned_upper95"`` or ``"machine_p50_s"``;
    ``recall`` is ``"detect_recall"`` (machines and faxes together, the tuner's objective),
    ``"machine_recall"`` or ``"fax_recall"``. Trials within the budget are filled, the others
    hollow; the front (not dominated) is a line; ``chosen`` (a trial number) is a star whose
    legend gives its machine and fax recall separately.
    """
    from .evaluation.pareto import TrialRecord, pareto_front

    if recall not in _RECALL_NAMES:
        raise ParameterError(f"The 'recall' parameter of pareto must be one of {list(_RECALL_NAMES)}. Got {recall!r} instead; "
                             "use machine_recall for machines alone.")
    recs = [t if isinstance(t, TrialRecord) else TrialRecord.from_dict(dict(t)) for t in trials]
    if cost not in ("human_false_positive_rate", "abandoned_upper95", "machine_p50_s", "human_late_rate"):
        raise ParameterError(f"The 'cost' parameter of pareto must be human_false_positive_rate, abandoned_upper95, human_late_rate or machine_p50_s. Got {cost!r} instead.")
    pct = cost != "machine_p50_s"
    k = 100.0 if pct else 1.0
    fig = Figure(figsize=(5.8, 4.4))
    ax = fig.add_subplot()
    pts = [t for t in recs if getattr(t, cost) is not None and getattr(t, recall) is not None]
    feas = [t for t in pts if t.feasible]
    infeas = [t for t in pts if not t.feasible]
    if infeas:
        ax.scatter([k * getattr(t, cost) for t in infeas], [100 * getattr(t, recall) for t in infeas], s=18,
                   facecolors="none", edgecolors="#999999", label="over budget")
    if feas:
        ax.scatter([k * getattr(t, cost) for t in feas], [100 * getattr(t, recall) for t in feas], s=18,
                   color=_COLORS["human"], label="within budget")
    front = pareto_front(pts, cost, feasible_only=bool(feas), recall=recall)
    if front:
        ax.plot([k * getattr(t, cost) for t in front], [100 * getattr(t, recall) for t in front], color="black",
                linewidth=1, drawstyle="steps-post", label="Pareto front" + (" (within budget)" if feas else ""))
    ch = [t for t in pts if t.number == chosen]
    if ch:
        def p(x):
            return "n/a" if x is None else f"{100 * x:.1f}%"
        ax.scatter([k * getattr(ch[0], cost)], [100 * getattr(ch[0], recall)], marker="*", s=220, color="#2ca02c",
                   edgecolors="black", zorder=5,
                   label=f"chosen (trial {chosen}): machines {p(ch[0].machine_recall)}, faxes {p(ch[0].fax_recall)}")
    names = {"human_false_positive_rate": "people called machine/fax (%)", "abandoned_upper95": "abandoned, 95% upper bound (%)",
             "human_late_rate": "people late (%)", "machine_p50_s": "median decision time of machines (s)"}
    ax.set_xlabel(names[cost])
    ax.set_ylabel(_RECALL_NAMES[recall])
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")  # where it hides fewest points: fax-only settings sit at 0% machines
    ax.set_title(title or f"{len(recs)} trials", fontsize=10)
    fig.tight_layout()
    return fig


def detector_timeline(y: np.ndarray, settings: Any = None) -> dict:
    """Run a detector over a whole clip (8 kHz, from connect) and collect its timeline.

    Returns ``{"events": [...], "bursts": [(start_s, end_s), ...], "verdict": Verdict}``
    (bursts only for the default backend).
    """
    from .detect import LiveSpeakerDetector, make_detector

    det = make_detector(settings)
    det.push(np.asarray(y, dtype=np.float32))
    det.end()
    bursts = det.speech_bursts() if isinstance(det, LiveSpeakerDetector) else []
    return {"events": list(det.events), "bursts": bursts, "verdict": det.verdict}


def call_timeline(y: np.ndarray, settings: Any = None, *, call: Any = None, sr: int = 8000, title: str | None = None,
                  deadline_s: float | None = None, max_s: float | None = 12.0) -> Figure:
    """One call's spectrogram above the detector's timeline.

    Parameters
    ----------
    y : array
        The call's audio from connect (8 kHz, as the detector hears it).
    settings : DetectorSettings or AmdSettings, optional
        The detector to run (default settings when None).
    call : corpus Call, optional
        Its timing labels (answer, speech onset, greeting end, beep) are drawn as dashed lines.
    deadline_s : float, optional
        The latest decision time the country allows for this call (drawn in red).
    max_s : float or None
        Show at most this many seconds (extended to the verdict).
    """
    from scipy.signal import spectrogram

    from .detect import Beep, GreetingEnd, SpeechOnset, Tone
    from .detect.types import AnswerDetected

    if sr != 8000:
        raise ParameterError(f"The 'sr' parameter of call_timeline must be 8000 (the detector's rate). Got {sr!r} instead.")
    y = np.asarray(y, dtype=np.float32)
    tl = detector_timeline(y, settings)
    v = tl["verdict"]
    dur = len(y) / sr
    end = dur if max_s is None else min(dur, max(max_s, v.decided_at_s + 1.0))
    fig = Figure(figsize=(11, 4.6))
    ax, axt = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    n = int(end * sr)
    f, t, s = spectrogram(y[:n] if n > 256 else np.pad(y, (0, 512)), fs=sr, nperseg=256, noverlap=192)
    ax.pcolormesh(t, f, 10 * np.log10(s + 1e-12), shading="auto", cmap="magma", vmin=-110, vmax=-30, rasterized=True)
    ax.set_ylabel("Hz")
    labels = []
    if call is not None:
        for k, colour in (("answer_s", "#00bfff"), ("speech_onset_s", "#7fff00"), ("greeting_end_s", "#ffffff"), ("beep_s", "#ffd700")):
            val = getattr(call, k, None)
            if val is not None:
                ax.axvline(val, color=colour, linestyle="--", linewidth=1.3)
                labels.append((val, k.replace("_s", "").replace("_", " ") + " (label)", colour))
    for i, (x, name, colour) in enumerate(labels):
        ax.text(x, 3900 - 330 * i, " " + name, color=colour, fontsize=8, va="top")
    # timeline rows: 2 speech, 1 tones, 0 events
    for s0, s1 in tl["bursts"]:
        axt.barh(2, s1 - s0, left=s0, height=0.6, color=_COLORS["human"])
    for ev in tl["events"]:
        if isinstance(ev, (Tone, Beep)):
            kind = "beep" if isinstance(ev, Beep) else ev.kind
            axt.barh(1, max(ev.duration_s, 0.03), left=ev.at_s, height=0.6, color="#ffbf00" if kind == "beep" else "#9467bd")
            axt.text(ev.at_s, 1.35, kind, fontsize=7)
        elif isinstance(ev, SpeechOnset):
            axt.axvline(ev.at_s, color="#2ca02c", linewidth=1.5)
            axt.text(ev.at_s, 0.05, " onset", fontsize=7, color="#2ca02c")
        elif isinstance(ev, GreetingEnd):
            axt.axvline(ev.at_s, color="#8c564b", linewidth=1.5)
            axt.text(ev.at_s, 0.35, " greeting end", fontsize=7, color="#8c564b")
        elif isinstance(ev, AnswerDetected):
            axt.axvline(ev.at_s, color="#17becf", linewidth=1.5)
            axt.text(ev.at_s, 0.65, " pick-up", fontsize=7, color="#17becf")
    colour = _COLORS.get(v.decision, "black")
    for a in (ax, axt):
        a.axvline(v.decided_at_s, color=colour, linewidth=2.5)
    late = v.decided_at_s > 0.7 * end  # keep the label inside the axes: left of the line near the end
    axt.text(v.decided_at_s, -0.45, f" {v.decision.upper()} ({v.reason.value}) at {v.decided_at_s:.2f} s ", fontsize=8,
             color=colour, fontweight="bold", ha="right" if late else "left")
    if deadline_s is not None:
        for a in (ax, axt):
            a.axvline(deadline_s, color="red", linestyle=":", linewidth=2)
        axt.text(deadline_s, 2.45, " deadline", color="red", fontsize=7)
    axt.set_yticks([0, 1, 2], ["events", "tones", "speech"])
    axt.set_ylim(-0.6, 2.6)
    axt.set_xlim(0, end)
    axt.set_xlabel("s from connect")
    ax.set_title(title or "call", fontsize=10)
    fig.tight_layout()
    return fig


# ======================================================================================
# notebook plots (used by notebooks/*.ipynb)
# ======================================================================================


def _envelope(y: np.ndarray, sr: int, hop_s: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Peak level per ``hop_s`` window in dBFS (floor -80), and the window times."""
    hop = max(1, int(sr * hop_s))
    n = len(y) // hop
    if n == 0:
        return np.zeros(0), np.zeros(0)
    peak = np.abs(np.asarray(y[: n * hop], dtype=np.float64)).reshape(n, hop).max(axis=1)
    return np.arange(n) * hop / sr, 20 * np.log10(np.maximum(peak, 1e-4))


def message_landing(played: np.ndarray, recorded: np.ndarray, *, sr: int = 8000, beep_s: float | None = None,
                    ready_s: float | None = None, message_start_s: float | None = None,
                    title: str | None = None) -> Figure:
    """Where a left message landed on an answering machine, on one timeline from connect.

    Top: the level of what the machine played (its greeting and beep). Bottom: the level of
    what the far end recorded from the caller (the message). ``beep_s`` (the beep's labelled
    start), ``ready_s`` (when the machine was ready and the message's playback began) and
    ``message_start_s`` (its first word) are drawn as lines.
    """
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for ax, y, colour, name in ((ax1, played, _COLORS["machine"], "machine played (greeting, beep)"),
                                (ax2, recorded, _COLORS["human"], "far end recorded (our message)")):
        t, db = _envelope(np.asarray(y, dtype=np.float32), sr)
        ax.fill_between(t, -80, db, color=colour, alpha=0.6, linewidth=0)
        ax.set_ylim(-80, 0)
        ax.set_ylabel("peak dBFS")
        ax.set_title(name, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    marks = ((beep_s, "#b8860b", "beep (label)"), (ready_s, "#2ca02c", "ready: message playback starts"),
             (message_start_s, "black", "first word"))
    for x, colour, name in marks:
        if x is None:
            continue
        ax1.axvline(x, color=colour, linestyle="--", linewidth=1.5, label=f"{name} {x:.2f} s")
        ax2.axvline(x, color=colour, linestyle="--", linewidth=1.5)
    if any(x is not None for x, _, _ in marks):
        ax1.legend(fontsize=8, loc="upper right", framealpha=0.95)
    end = max(len(played), len(recorded)) / sr
    ax2.set_xlim(0, end)
    ax2.set_xlabel("s from connect")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def confusion_matrices(data: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Confusion matrices side by side, one per named run (``{name: Figures or 4x4 array}``)."""
    if not data:
        raise ParameterError("The 'data' parameter of confusion_matrices must name at least one run. Got an empty mapping instead.")
    fig = Figure(figsize=(4.2 * len(data) + 0.4, 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(data)))
    for ax, (name, d) in zip(axes, data.items()):
        _draw_confusion(ax, _matrix(d), fontsize=9)
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel("true label")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


#: (figure attribute, axis label) of the rates :func:`compare_figures` shows; lower is better for the first two.
_COMPARED_RATES = (("human_false_positive_rate", "people called\nmachine/fax"), ("human_late_rate", "people late"),
                   ("machine_recall", "machine\nrecall"), ("fax_recall", "fax recall"),
                   ("silence_live_rate", "silence\ncalled human"))


def compare_figures(figs: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Runs side by side: left, the main rates (%); right, median and p95 decision time per class.

    ``figs``: ``{name: Figures}`` (from :func:`lsdlab.evaluation.figures`), in display order.
    """
    if not figs:
        raise ParameterError("The 'figs' parameter of compare_figures must name at least one run. Got an empty mapping instead.")
    names = list(figs)
    k = len(names)
    width = 0.8 / k
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    fig = Figure(figsize=(12, 4.4))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    x = np.arange(len(_COMPARED_RATES))
    for i, name in enumerate(names):
        vals = [getattr(figs[name], key) for key, _ in _COMPARED_RATES]
        h = [np.nan if v is None else 100 * v for v in vals]
        bars = ax1.bar(x + (i - (k - 1) / 2) * width, np.nan_to_num(h), width, color=palette[i % len(palette)], label=name)
        for b, v in zip(bars, h):
            ax1.text(b.get_x() + b.get_width() / 2, b.get_height() + 1, "n/a" if np.isnan(v) else f"{v:.1f}",
                     ha="center", va="bottom", fontsize=7)
    ax1.set_xticks(x, [lab for _, lab in _COMPARED_RATES], fontsize=8)
    ax1.set_ylabel("%")
    ax1.set_ylim(0, 112)
    ax1.set_title("rates (first two: lower is better; recalls: higher)", fontsize=10)
    ax1.legend(fontsize=8, loc="upper left")
    ax1.grid(axis="y", alpha=0.3)
    classes = ("human", "machine", "fax", "silence")
    y = np.arange(len(classes))
    bar_h = 0.8 / k
    for i, name in enumerate(names):
        dt = figs[name].decision_time_s
        p50 = [dt[c]["p50"] for c in classes]
        p95 = [dt[c]["p95"] for c in classes]
        pos = y + (i - (k - 1) / 2) * bar_h
        ax2.barh(pos, [0 if v is None else v for v in p95], bar_h, color=palette[i % len(palette)], alpha=0.35)
        ax2.barh(pos, [0 if v is None else v for v in p50], bar_h, color=palette[i % len(palette)], label=name)
    ax2.set_yticks(y, classes)
    ax2.invert_yaxis()
    ax2.set_xlabel("decision time from connect, s (solid: median, pale: p95)")
    return _finish_times(fig, ax2, title)


class Table:
    """A small table that shows itself as HTML in Jupyter and as aligned text elsewhere."""

    def __init__(self, rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
        self.header = [str(h) for h in header]
        self.rows = [["" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)) for v in r] for r in rows]

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        cols = [self.header] + self.rows
        w = [max(len(r[i]) for r in cols) for i in range(len(self.header))]
        return "\n".join("  ".join(c.ljust(n) for c, n in zip(r, w)) for r in cols)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> Table:
    """Rows as a :class:`Table` (HTML in notebooks; floats shown with 2 decimals)."""
    return Table(rows, header)
