"""lsdlab.plots: every function returns a matplotlib Figure built from real detector output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from lsdlab import plots
from lsdlab.corpus import load
from lsdlab.detect import DetectorSettings
from lsdlab.errors import ParameterError
from lsdlab.evaluation import TrialRecord, offline_far_end, run_corpus
from lsdlab.evaluation.metrics import figures

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"


@pytest.fixture(scope="module")
def small():
    c = load(DEMO)
    calls = c.by_label("human")[:6] + c.by_label("machine")[:6] + c.by_label("fax")[:2] + c.by_label("silence")[:2]
    return c.subset(calls)


@pytest.fixture(scope="module")
def decisions(small):
    return run_corpus(small, DetectorSettings())


def test_confusion_matrix(decisions):
    fig = figures(decisions, delay_limit_ms=2000, delay_reference="greeting_end", agent_connect_ms=300)
    f = plots.confusion_matrix(fig)
    assert isinstance(f, Figure)
    texts = [t.get_text() for t in f.axes[0].texts]
    assert f"{fig.confusion['human']['human']}\n" in "".join(t[: t.index('\n') + 1] for t in texts)
    assert isinstance(plots.confusion_matrix(fig.to_dict()["confusion"]), Figure)
    with pytest.raises(ParameterError, match="4x4"):
        plots.confusion_matrix(np.zeros((2, 2)))


@pytest.mark.parametrize("ref", ["greeting_end", "speech_onset", "answer"])
def test_decision_times(decisions, ref):
    f = plots.decision_times(decisions, delay_limit_ms=2000, delay_reference=ref, agent_connect_ms=300)
    assert isinstance(f, Figure) and len(f.axes) == 2
    assert "people put through" in f.axes[0].get_title()


def test_decision_times_rejects_bad_reference(decisions):
    with pytest.raises(ParameterError, match="delay_reference"):
        plots.decision_times(decisions, delay_limit_ms=2000, delay_reference="ring", agent_connect_ms=0)


def test_pareto():
    trials = [TrialRecord(i, {}, r, r, 1.0, fp, 0.0, fp + 0.01, fp + 0.02, t, fp < 0.02)
              for i, (r, fp, t) in enumerate([(0.5, 0.0, 1.0), (0.8, 0.01, 2.0), (0.9, 0.05, 3.0), (0.6, 0.05, 4.0)])]
    for cost in ("human_false_positive_rate", "machine_p50_s"):
        f = plots.pareto(trials, cost=cost, chosen=1)
        assert isinstance(f, Figure)
        assert any("chosen" in t.get_text() for t in f.axes[0].get_legend().get_texts())
    assert isinstance(plots.pareto([t.to_dict() for t in trials]), Figure)
    with pytest.raises(ParameterError, match="cost"):
        plots.pareto(trials, cost="price")


def test_pareto_plots_machine_recall_apart_from_faxes():
    # (detect_recall, machine_recall, fax_recall): the tuner's mixed objective is not machines alone
    recalls = [(0.28, 0.05, 1.0), (0.5, 0.4, 0.9), (0.3, 0.1, 1.0)]
    trials = [TrialRecord(i, {}, d, m, f, 0.01 * i, 0.0, 0.02, 0.02, 1.0 + i, True) for i, (d, m, f) in enumerate(recalls)]
    fig = plots.pareto(trials, cost="human_false_positive_rate", chosen=0, recall="machine_recall")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "machines detected (%)"
    ys = sorted(float(y) for coll in ax.collections[:1] for _, y in coll.get_offsets())
    assert ys == pytest.approx([5.0, 10.0, 40.0])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "chosen (trial 0): machines 5.0%, faxes 100.0%" in legend
    assert plots.pareto(trials).axes[0].get_ylabel() == "machines + faxes detected (%)"
    with pytest.raises(ParameterError, match="recall.*machine_recall"):
        plots.pareto(trials, recall="both")


def test_call_timeline_shows_the_detector(small):
    far = offline_far_end(small, None, 0.0, 0)
    call = small.by_label("machine")[0]
    y = far.audio(call.path)
    tl = plots.detector_timeline(y, DetectorSettings())
    assert tl["bursts"] and all(b > a for a, b in tl["bursts"])  # the greeting was heard as speech
    assert tl["verdict"] is not None
    f = plots.call_timeline(y, DetectorSettings(), call=call, deadline_s=2.5, title=call.path)
    assert isinstance(f, Figure) and len(f.axes) == 2
    texts = " ".join(t.get_text() for t in f.axes[1].texts)
    assert tl["verdict"].decision.upper() in texts and "deadline" in texts
    assert len(plots.figure_png(f)) > 1000


def test_call_timeline_app_amd(small):
    from lsdlab.detect.app_amd import AmdSettings

    far = offline_far_end(small, None, 0.0, 0)
    call = small.by_label("human")[0]
    f = plots.call_timeline(far.audio(call.path), AmdSettings(), call=call)
    assert isinstance(f, Figure)
    with pytest.raises(ParameterError, match="sr"):
        plots.call_timeline(far.audio(call.path), sr=16000)
