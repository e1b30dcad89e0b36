"""Compliance metrics on hand-computed examples and edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from lsdlab.detect.types import FarEndType, Reason, Verdict
from lsdlab.errors import ParameterError
from lsdlab.settingsfile import EVIDENCE_OPTIONAL_KEYS, EVIDENCE_REQUIRED_KEYS, Budget
from lsdlab.tune import (
    CallDecision,
    DelayReference,
    clopper_pearson,
    compliance,
    compliance_for_budget,
    evidence_dict,
    figures,
    humans_needed,
    load_profile,
    upper_bound,
)

H, M, F, S = "human", "machine", "fax", "silence"


def hum(path, decision, at, *, onset=None, gend=None, answer=None):
    return CallDecision(path, H, decision, at, greeting_end_s=gend, speech_onset_s=onset, answer_s=answer)


# Hand-computed example (agent connect 300 ms, delay limit 2000 ms):
#   call  decision  at    onset  gend  answer | GB (onset+2)      | US (gend+2)   | CA (answer|0 +2)
#   h1    human     1.5   0.5    1.0   -      | 1.8 <= 2.5 ok     | 1.8<=3.0 ok   | 1.8<=2.0 ok
#   h2    machine   2.0   0.4    1.1   -      | false positive    | FP            | FP
#   h3    unknown   2.4   0.3    1.2   -      | 2.7 > 2.3 LATE    | 2.7<=3.2 ok   | 2.7>2.0 LATE
#   h4    human     3.6   0.8    1.5   -      | 3.9 > 2.8 LATE    | 3.9>3.5 LATE  | LATE
#   h5    human     2.0   -      1.4   0.2    | ref answer 0.2 (fallback): 2.3 > 2.2 LATE | 2.3<=3.4 ok | 2.3>2.2 LATE
HUMANS = [
    hum("h1", H, 1.5, onset=0.5, gend=1.0),
    hum("h2", M, 2.0, onset=0.4, gend=1.1),
    hum("h3", "unknown", 2.4, onset=0.3, gend=1.2),
    hum("h4", H, 3.6, onset=0.8, gend=1.5),
    hum("h5", H, 2.0, gend=1.4, answer=0.2),
]
OTHERS = [
    CallDecision("m1", M, M, 3.0),
    CallDecision("m2", M, M, 4.0),
    CallDecision("m3", M, H, 1.0),
    CallDecision("m4", M, "unknown", 7.0),
    CallDecision("f1", F, F, 1.0),
    CallDecision("f2", F, M, 2.0),
    CallDecision("s1", S, "unknown", 5.0),
]
CALLS = HUMANS + OTHERS


def fig(ref, calls=CALLS, **kw):
    kw.setdefault("agent_connect_ms", 300)
    return figures(calls, delay_limit_ms=2000, delay_reference=ref, **kw)


def test_confusion_matrix():
    f = fig("speech_onset")
    assert f.calls == 12
    assert f.counts == {H: 5, M: 4, F: 2, S: 1}
    np.testing.assert_array_equal(
        f.confusion_matrix,
        [[3, 1, 0, 1], [1, 2, 0, 1], [0, 1, 1, 0], [0, 0, 0, 1]],
    )


def test_gb_speech_onset_reference():
    f = fig(DelayReference.SPEECH_ONSET)
    assert f.human_false_positives == 1 and f.human_false_positive_rate == pytest.approx(0.2)
    assert f.late_paths == ("h3", "h4", "h5")
    assert f.human_late_rate == pytest.approx(0.6)
    assert f.human_abandoned == 4 and f.human_abandoned_rate == pytest.approx(0.8)
    assert f.reference_fallbacks == 1  # h5 has no speech_onset_s: clock from answer_s
    assert f.false_positive_paths == ("h2",)


def test_us_greeting_end_reference():
    f = fig("greeting_end")
    assert f.late_paths == ("h4",)
    assert f.human_abandoned == 2 and f.human_abandoned_rate == pytest.approx(0.4)
    assert f.reference_fallbacks == 0


def test_ca_answer_reference():
    f = fig("answer")
    assert f.late_paths == ("h3", "h4", "h5")
    assert f.reference_fallbacks == 4  # only h5 has answer_s; the others start at 0 (connect)


def test_agent_connect_time_matters():
    # with no agent connect time, h5 lands at 2.0 <= 2.2 (GB): no longer late
    f = fig("speech_onset", agent_connect_ms=0)
    assert f.late_paths == ("h3", "h4")


def test_boundary_exactly_at_limit_is_not_late():
    c = [hum("x", H, 1.7, onset=0.0, gend=1.0)]  # 1.7 + 0.3 == 0.0 + 2.0
    assert fig("speech_onset", c).human_late == 0
    c = [hum("x", H, 1.701, onset=0.0, gend=1.0)]
    assert fig("speech_onset", c).human_late == 1


def test_recalls_and_silence():
    f = fig("speech_onset")
    assert f.machine_recall == pytest.approx(0.5)
    assert f.fax_recall == pytest.approx(0.5)
    assert f.silence_live_rate == 0.0
    assert f.missed_machine_paths == ("m3", "m4")


def test_missed_within_2s_of_greeting_end():
    # h2 (called machine) and h4 (3.6 > 1.5 + 2) are missed; h3 at 2.4 <= 3.2 is fine
    f = fig("speech_onset")
    assert f.human_missed_2s == 2 and f.human_missed_2s_rate == pytest.approx(0.4)


def test_decision_time_percentiles():
    f = fig("speech_onset")
    # humans: 1.5 2.0 2.0 2.4 3.6 -> p50 2.0; p95 = 2.4 + 0.8 * 1.2 (linear)
    assert f.decision_time_s[H]["p50"] == pytest.approx(2.0)
    assert f.decision_time_s[H]["p95"] == pytest.approx(3.36)
    # machines: 1 3 4 7 -> p50 3.5; p95 = 4 + 0.85 * 3
    assert f.decision_time_s[M]["p50"] == pytest.approx(3.5)
    assert f.decision_time_s[M]["p95"] == pytest.approx(6.55)
    assert f.decision_time_s[S] == {"p50": 5.0, "p95": 5.0}
    # humans after greeting end: 0.5 0.9 1.2 2.1 0.6 -> p50 0.9
    assert f.decision_time_s["human_after_greeting_end"]["p50"] == pytest.approx(0.9)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 10), (1, 5), (3, 40), (7, 7), (50, 200)])
def test_clopper_pearson_matches_scipy_binomtest(k, n):
    lo, hi = clopper_pearson(k, n)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert lo == pytest.approx(ref.low, abs=1e-12)
    assert hi == pytest.approx(ref.high, abs=1e-12)


def test_beta_quantile_equals_scipys_over_many_counts():
    """The bounds' beta quantile is computed with numpy (scipy.special cost 0.3 s to import):
    it must give scipy's numbers, to 1e-10 and after the 6-decimal rounding up of to_dict."""
    from scipy.stats import beta

    from lsdlab.evaluation.metrics import _beta_ppf, _r6_up

    rng = np.random.default_rng(0)
    cases = [(0, 1), (1, 1), (0, 2), (1, 2), (0, 8200), (8200, 8200), (8199, 8200), (1, 10000), (5000, 10000)]
    cases += [(int(rng.integers(0, n + 1)), int(n)) for n in rng.integers(1, 10001, 60)]
    for k, n in cases:
        for q, a, b in ((0.95, k + 1, n - k), (0.975, k + 1, n - k), (0.025, k, n - k + 1)):
            if a < 1 or b < 1:
                continue
            ours, ref = _beta_ppf(q, a, b), float(beta.ppf(q, a, b))
            assert ours == pytest.approx(ref, rel=1e-10, abs=0), (q, a, b)
            assert _r6_up(ours) == _r6_up(ref), (q, a, b)
            if a == 1 or b == 1:  # the closed forms give scipy's float exactly
                assert ours == ref, (q, a, b)
    with pytest.raises(ParameterError, match="integers a, b >= 1"):
        _beta_ppf(0.95, 1.5, 3)


def test_clopper_pearson_closed_forms():
    assert clopper_pearson(0, 10)[1] == pytest.approx(1 - 0.025 ** (1 / 10))
    assert clopper_pearson(10, 10)[0] == pytest.approx(0.025 ** (1 / 10))
    assert clopper_pearson(0, 0) == (0.0, 1.0)
    with pytest.raises(ParameterError, match="0 <= k <= n"):
        clopper_pearson(3, 2)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 110), (1, 5), (3, 40), (50, 200)])
def test_upper_bound_is_one_sided_exact(k, n):
    ref = binomtest(k, n, alternative="less").proportion_ci(confidence_level=0.95, method="exact")
    assert upper_bound(k, n) == pytest.approx(ref.high, abs=1e-12)
    assert upper_bound(k, n) < clopper_pearson(k, n)[1]  # the two-sided end is the 97.5% bound


def test_upper_bound_closed_form_and_edges():
    assert upper_bound(0, 100) == pytest.approx(1 - 0.05 ** (1 / 100))
    assert upper_bound(0, 0) == 1.0 and upper_bound(4, 4) == 1.0
    with pytest.raises(ParameterError, match="0 <= k <= n"):
        upper_bound(-1, 2)


@pytest.mark.parametrize(("budget", "k", "n"), [(0.02, 0, 149), (0.03, 0, 99), (0.02, 1, 236), (0.05, 0, 59)])
def test_humans_needed(budget, k, n):
    assert humans_needed(budget, abandoned=k) == n
    assert upper_bound(k, n) <= budget < upper_bound(k, n - 1)


def test_humans_needed_no_budget():
    assert humans_needed(0.0) is None and humans_needed(-0.01) is None


def test_upper_bounds_in_figures():
    f = fig("speech_onset")
    assert f.human_false_positive_upper95 == pytest.approx(upper_bound(1, 5))
    assert f.human_late_upper95 == pytest.approx(upper_bound(3, 5))
    assert f.human_abandoned_upper95 == pytest.approx(upper_bound(4, 5))


def test_no_humans():
    f = fig("speech_onset", OTHERS)
    assert f.counts[H] == 0
    assert f.human_false_positive_rate is None and f.human_late_rate is None
    assert f.human_abandoned_rate is None
    assert f.human_false_positive_upper95 == 1.0 and f.human_abandoned_upper95 == 1.0
    assert f.decision_time_s[H] == {"p50": None, "p95": None}
    c = compliance(OTHERS, load_profile("GB"), dialer_drop_rate=0.0, agent_connect_ms=300)
    assert not c.passed
    assert "human_evidence" in c.rules_failed and "abandoned_within_budget" in c.rules_failed


def test_zero_calls_of_a_class_and_empty_input():
    f = fig("speech_onset", HUMANS)
    assert f.machine_recall is None and f.fax_recall is None and f.silence_live_rate is None
    assert f.decision_time_s[F] == {"p50": None, "p95": None}
    e = fig("speech_onset", [])
    assert e.calls == 0 and e.confusion_matrix.sum() == 0


def _timely_humans(n):
    return [hum(f"h{i}", H, 1.0, onset=0.4, gend=0.8) for i in range(n)]


def test_all_correct_large_corpus_passes_gb():
    calls = _timely_humans(200) + [CallDecision(f"m{i}", M, M, 3.0) for i in range(50)]
    c = compliance(calls, load_profile("GB"), dialer_drop_rate=0.01, agent_connect_ms=300)
    f = c.figures
    assert f.human_abandoned == 0 and f.human_abandoned_rate == 0.0
    assert f.human_abandoned_upper95 == pytest.approx(1 - 0.05 ** (1 / 200))  # 0.0149
    assert c.budget_left == pytest.approx(0.02)
    assert c.passed, c.rules
    assert f.machine_recall == 1.0


def test_all_correct_small_corpus_fails_on_the_bound_not_the_point():
    # 148 perfect humans: point rate 0, but the 95% upper bound 0.02004 exceeds the 0.02 left;
    # 149 are enough (humans_needed(0.02) == 149)
    c = compliance(_timely_humans(148), load_profile("GB"), dialer_drop_rate=0.01, agent_connect_ms=300)
    assert "abandoned_point_within_budget" in c.rules_passed
    assert c.rules_failed == ["abandoned_within_budget"]
    assert not c.passed
    assert any("too few" in n and "at least 149 human calls" in n for n in c.notes)
    c = compliance(_timely_humans(149), load_profile("GB"), dialer_drop_rate=0.01, agent_connect_ms=300)
    assert c.passed


def test_dialer_drops_use_up_the_budget():
    c = compliance(_timely_humans(500), load_profile("US"), dialer_drop_rate=0.03, agent_connect_ms=300)
    assert "budget_left_positive" in c.rules_failed
    assert c.budget_left == pytest.approx(0.0)


def test_profile_reference_is_used():
    us = compliance(CALLS, load_profile("US"), dialer_drop_rate=0.0, agent_connect_ms=300)
    gb = compliance(CALLS, load_profile("GB"), dialer_drop_rate=0.0, agent_connect_ms=300)
    assert us.figures.human_abandoned == 2 and gb.figures.human_abandoned == 4
    assert any("timing label" in n for n in gb.notes)  # h5's fallback is reported
    assert not any("too few" in n for n in gb.notes)  # more calls would not help a 0.8 point rate


def test_no_statutory_rate_uses_tuning_values_and_says_so():
    c = compliance(CALLS, load_profile("DE"), dialer_drop_rate=0.0, agent_connect_ms=300)
    assert c.abandoned_rate_max == 0.03 and c.delay_reference is DelayReference.SPEECH_ONSET
    assert any("no statutory rate" in n for n in c.notes)


def test_false_positives_not_counted_when_country_excludes_them():
    f = fig("greeting_end", count_false_positives=False)
    assert f.human_false_positives == 1
    assert f.human_abandoned == 1  # only h4 (late)


def test_compliance_for_budget_equals_profile_path():
    budget = Budget(0.03, 0.01, 300, 2000, DelayReference.SPEECH_ONSET)
    a = compliance_for_budget(CALLS, budget, country="GB")
    b = compliance(CALLS, load_profile("GB"), dialer_drop_rate=0.01, agent_connect_ms=300)
    assert a.figures == b.figures and a.rules == b.rules


def test_to_dict_rounds_and_is_json_ready():
    c = compliance(CALLS, load_profile("GB"), dialer_drop_rate=0.01, agent_connect_ms=300)
    d = json.loads(json.dumps(c.to_dict()))
    fd = d["figures"]
    assert fd["human_abandoned_rate"] == 0.8
    hi = upper_bound(1, 5)
    assert fd["human_false_positive_upper95"] >= hi  # upper bounds round up
    assert fd["human_false_positive_upper95"] - hi < 1e-6
    assert fd["human_false_positive_upper95"] == round(fd["human_false_positive_upper95"], 6)
    assert fd["confusion"]["human"] == {"human": 3, "machine": 1, "fax": 0, "unknown": 1}
    assert d["budget"] == {"abandoned_rate_max": 0.03, "dialer_drop_rate": 0.01, "agent_connect_ms": 300,
                           "delay_limit_ms": 2000, "delay_reference": "speech_onset"}


def test_evidence_dict_has_settings_file_keys():
    c = compliance(CALLS, load_profile("GB"), dialer_drop_rate=0.01, agent_connect_ms=300)
    ev = evidence_dict(c, corpus_sha256="a" * 64)
    assert set(EVIDENCE_REQUIRED_KEYS) <= set(ev) <= set(EVIDENCE_REQUIRED_KEYS) | set(EVIDENCE_OPTIONAL_KEYS)
    assert ev["human_late_rate"] == c.figures.to_dict()["human_late_rate"]
    assert ev["rules_passed"] == c.rules_passed


def test_inputs_as_mappings_and_enums():
    rows = [
        {"path": "a.wav", "label": "human", "decision": FarEndType.LIVE, "decided_at_s": "1.0",
         "greeting_end_s": "0.8", "speech_onset_s": "", "answer_s": None},
        {"path": "b.wav", "label": "machine", "decision": "machine", "decided_at_s": 2.5},
    ]
    f = figures(rows, delay_limit_ms=2000, delay_reference="greeting_end", agent_connect_ms=300)
    assert f.counts[H] == 1 and f.machine_recall == 1.0 and f.human_late == 0


def test_from_call_and_verdict():
    from lsdlab.corpus.schema import Call, Label

    call = Call(path="x.wav", label=Label.HUMAN, audio_path="/x.wav", duration_s=3.0, greeting_end_s=0.9, speech_onset_s=0.3)
    v = Verdict(at_s=1.4, far_end_type=FarEndType.LIVE, reason=Reason.SHORT_GREETING, confidence=0.9)
    d = CallDecision.from_call(call, v)
    assert d == CallDecision("x.wav", "human", "human", 1.4, reason="SHORT_GREETING", confidence=0.9,
                             greeting_end_s=0.9, speech_onset_s=0.3)
    # one decision record: the runner's rows and the metrics' input are the same class
    from lsdlab.evaluation import Decision

    assert CallDecision is Decision and Decision.of(call, v) == d


def test_one_delay_reference_rule_for_metrics_plots_and_report():
    """The delay clock's start (with its fallback to earlier labels) is written once: the metrics
    count lateness with it and the report draws each call's deadline with it."""
    from lsdlab.evaluation.decisions import reference_time

    row = {"greeting_end_s": "", "speech_onset_s": "0.4", "answer_s": "0.1"}
    assert reference_time(row, "greeting_end") == (0.4, True)
    assert reference_time(row, "speech_onset") == (0.4, False)
    assert reference_time(CallDecision("a", H, H, 1.0), "answer") == (0.0, True)
    with pytest.raises(ParameterError, match="delay reference"):
        reference_time(row, "onset")


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"path": "a", "label": "person", "decision": "human", "decided_at_s": 1}, "label"),
        ({"path": "a", "label": "human", "decision": "LIVE", "decided_at_s": 1}, "decision"),
        ({"path": "a", "label": "human", "decision": "human", "decided_at_s": None}, "decided_at_s"),
        ({"path": "a", "label": "human", "decision": "human", "decided_at_s": -1}, "decided_at_s"),
        ({"path": "a", "label": "human", "decision": "human", "decided_at_s": 1, "greeting_end_s": "x"}, "greeting_end_s"),
    ],
)
def test_bad_rows_name_the_call_and_field(row, match):
    with pytest.raises(ParameterError, match=rf"'a'.*{match}"):
        figures([row], delay_limit_ms=2000, delay_reference="answer", agent_connect_ms=0)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="delay_reference"):
        figures(CALLS, delay_limit_ms=2000, delay_reference="onset", agent_connect_ms=0)
    with pytest.raises(ParameterError, match="agent_connect_ms"):
        figures(CALLS, delay_limit_ms=2000, delay_reference="answer", agent_connect_ms=-5)
    with pytest.raises(ParameterError, match="dialer_drop_rate"):
        compliance(CALLS, load_profile("GB"), dialer_drop_rate=1.5, agent_connect_ms=300)


# --------------------------------------------------------------------------- low machine recall, in words


def _machines(n: int, detected: int, faxes: int = 2, faxes_detected: int = 2) -> list[CallDecision]:
    return ([CallDecision(f"m{i}", M, M if i < detected else "unknown", 3.0) for i in range(n)]
            + [CallDecision(f"f{i}", F, F if i < faxes_detected else "unknown", 1.0) for i in range(faxes)])


def _warning(calls, ref="speech_onset", country="GB"):
    from lsdlab.evaluation.metrics import _figures_warning

    return _figures_warning(figures(HUMANS + calls, delay_limit_ms=2000, delay_reference=ref, agent_connect_ms=300), country)


def test_no_machine_detected_is_fax_detection_only_in_words():
    assert _warning(_machines(130, 0, 40, 40)) == (
        "Under GB's rule (2 s from the start of speech) these settings leave every machine to an agent: AMD gives fax "
        "detection only. Machines detected 0/130 = 0.0% (below 5%), faxes detected 40/40 = 100.0%.")


def test_almost_no_machine_and_no_fax_detected():
    w = _warning(_machines(100, 4, 2, 0), ref="greeting_end", country="US")
    assert w.startswith("Under US's rule (2 s from the end of the person's greeting) these settings leave almost every "
                        "machine to an agent: AMD gives nothing (no fax detected either).")
    assert "Machines detected 4/100 = 4.0% (below 5%)" in w


def test_machine_recall_at_the_threshold_is_not_warned():
    from lsdlab.evaluation.metrics import LOW_MACHINE_RECALL

    assert LOW_MACHINE_RECALL == 0.05
    assert _warning(_machines(100, 5)) is None
    assert _warning(_machines(100, 4)) is not None


def test_evidence_without_machines_is_warned():
    w = _warning(_machines(0, 0), ref="answer", country="CA")
    assert "holds no answering-machine call" in w and "CA's rule (2 s from the answer)" in w


def test_percentiles_equal_numpy_bit_for_bit():
    """The figures' p50/p95 (computed without np.percentile, whose np.unique imports numpy.ma)
    are numpy's floats exactly, over sizes 1-400, ties, negatives and extreme spreads."""
    from lsdlab.evaluation.metrics import _percentiles

    rng = np.random.default_rng(7)
    cases = [[0.5], [1.0, 2.0], [3.0, 3.0, 3.0], [0.1, 0.2, 0.3]]
    for n in list(range(1, 60)) + [97, 100, 101, 199, 400]:
        for _ in range(12):
            kind = rng.integers(4)
            if kind == 0:
                x = rng.uniform(0, 10, n)
            elif kind == 1:
                x = np.round(rng.uniform(0, 3, n), 2)  # decision times: ties
            elif kind == 2:
                x = rng.normal(0, 1, n) * 10.0 ** rng.integers(-6, 7)
            else:
                x = rng.exponential(1.0, n) * 1e-3 + 1e3
            cases.append(list(x))
    for x in cases:
        got = _percentiles(x)
        for key, q in (("p50", 50), ("p95", 95)):
            want = float(np.percentile(np.asarray(x, dtype=float), q))
            assert got[key] == want, (len(x), key, got[key], want)
    assert _percentiles([]) == {"p50": None, "p95": None}
    nan = _percentiles([1.0, float("nan"), 2.0])
    assert np.isnan(nan["p50"]) and np.isnan(nan["p95"])
