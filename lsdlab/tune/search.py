"""The tuner: search detector settings and the LSD timeout against a country's budget.

A corpus is traced once (:func:`lsdlab.evaluation.traces.load_traces`: one threshold-free
:class:`~lsdlab.detect.CallTrace` per call, cached in memory and on disk); every trial of an
Optuna study then re-scores one candidate setting from the traces (:func:`score`, a few
milliseconds for the demo corpus) by replaying exactly what the streaming detector would
decide. The study maximises the share of machines and faxes detected subject to one
constraint: the exact one-sided 95% upper bound on abandoned live calls (people called
machine/fax, plus people whose decision plus the agent connect time lands after the
country's delay limit) stays within the budget left after the dialer's own drops.

Over-fitting guard: a setting is only *feasible* when it also holds the budget under stress
(``margin_logit``: the machine thresholds lowered by that much in log-odds, so people who came close to
being called machines count as if they had been; ``margin_ms``: every decision that much
later). The exported evidence is then measured without stress, by the real streaming
detector, over all the calls of the evidence corpus.

Backends: ``'default'`` (traces + replay) and ``'app_amd'`` (Asterisk's AMD() re-run over the
corpus each trial; its audio is loaded once).

Trials on workers (``trial_batch``): the study stays in this process, with its one seeded
sampler and in-memory storage; ``trial_batch`` candidates are asked in turn (Optuna's TPE
treats the ones still running as "constant liars", so a batch spreads out), sent at once to
the workers that hold the corpus (its audio or traces, sent once), and told back in trial
order. The result depends on the seed and the batch size alone: the same on a cluster of any
size, in ``jobs`` local processes or in this process. Not chosen: workers each running their
own sampler (seed + k) against a shared Optuna storage (JournalStorage on a shared file, or
optuna-integration's DaskStorage): every sampler then sees whichever trials happened to finish
first, so the trials and the best setting depend on timing, and each trial pays the storage's
round trips (37-120 ms measured). The batch size is never chosen from measured trial times
for the same reason; after the first trials the tuner only says (log level INFO) when trials
cost over ~100 ms and run one at a time although workers are there.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

from .._validation import JOBS_RANGE, check_choice, check_int_range
from ..corpus import Corpus
from ..detect import BACKEND_NAMES, TIMEOUT_RANGE_MS, CallTrace, DetectorSettings, TimerMode
from ..errors import ParameterError
from ..evaluation.metrics import (
    compliance,
    humans_needed,
    upper_bound,
)
from ..evaluation.pareto import RECALLS, TrialRecord, pareto_front  # noqa: F401  (RECALLS: its old home)
from ..evaluation.traces import (  # noqa: F401  (TRACE_FIELDS, default_cache_dir: their old home)
    TRACE_FIELDS,
    call_trace_key,
    default_cache_dir,
    load_traces,
    trace_cache_key,
)
from ..rules import DelayReference, Profile
from .results import TuneResult, _pct, _recalls, _record, infeasible_message
from .scoring import _EPS, Score, _check_score_args, score, score_decisions

__all__ = [
    "Score",
    "TrialRecord",
    "TuneResult",
    "score",
    "score_decisions",
    "load_traces",
    "trace_cache_key",
    "call_trace_key",
    "pareto_front",
    "tune",
    "infeasible_message",
]

logger = logging.getLogger(__name__)

_AMD_SPACE: dict[str, tuple[int, int, int]] = {  # field -> (low, high, step)
    "initial_silence_ms": (1000, 6000, 100),
    "greeting_ms": (500, 5000, 50),
    "after_greeting_silence_ms": (300, 2500, 50),
    "total_analysis_time_ms": (*TIMEOUT_RANGE_MS, 100),
    "minimum_word_length_ms": (60, 400, 20),
    "between_words_silence_ms": (20, 300, 10),
    "maximum_number_of_words": (1, 8, 1),
    "silence_threshold": (64, 1024, 16),
    "maximum_word_length_ms": (1000, 6000, 100),
}


# --------------------------------------------------------------------------- search spaces


def _suggest_default(trial, base: DetectorSettings) -> DetectorSettings:
    use_deadline = trial.suggest_categorical("use_speech_deadline", [False, True])
    deadline = trial.suggest_int("speech_deadline_ms", 500, 5000, step=50)
    # thresholds on P(machine) are searched as 1 - threshold on a log scale: the useful values
    # crowd near 1 (0.99, 0.999, ...), where a uniform search would hardly ever look
    return base.replace(
        machine_threshold=round(1.0 - trial.suggest_float("machine_threshold_complement", 1e-4, 0.5, log=True), 6),
        human_threshold=trial.suggest_float("human_threshold", 0.0, 1.0),
        end_of_turn_silence_ms=trial.suggest_int("end_of_turn_silence_ms", 200, 2000, step=50),
        timeout_machine_threshold=round(1.0 - trial.suggest_float("timeout_machine_threshold_complement", 1e-4, 1.0, log=True), 6),
        timeout_ms=trial.suggest_int("timeout_ms", *TIMEOUT_RANGE_MS, step=100),
        timer_mode=TimerMode[trial.suggest_categorical("timer_mode", [m.name for m in TimerMode])],
        speech_deadline_ms=deadline if use_deadline else None,
    )


def _params_of(s: DetectorSettings) -> dict:
    return {
        "use_speech_deadline": s.speech_deadline_ms is not None,
        "speech_deadline_ms": s.speech_deadline_ms if s.speech_deadline_ms is not None else 1500,
        "machine_threshold_complement": min(0.5, max(1e-4, 1.0 - s.machine_threshold)),
        "human_threshold": s.human_threshold,
        "end_of_turn_silence_ms": s.end_of_turn_silence_ms,
        "timeout_machine_threshold_complement": min(1.0, max(1e-4, 1.0 - s.timeout_machine_threshold)),
        "timeout_ms": s.timeout_ms,
        "timer_mode": s.timer_mode.name,
    }


def _round_to(x: int, step: int, low: int, high: int) -> int:
    return int(min(high, max(low, step * math.floor(x / step))))


def _starting_points(base: DetectorSettings, profile: Profile, agent_connect_ms: int, margin_ms: int) -> list[dict]:
    """Sensible first trials (the defaults, and the defaults bounded by the country's clock)."""
    pts = [_params_of(base)]
    # the detector hears speech a little after it starts, and decides on a 50 ms grid: keep 500 ms in hand
    slack = profile.budget_delay_limit_ms - agent_connect_ms - margin_ms - 500
    ref = profile.budget_delay_reference
    if slack >= 500:
        if ref is DelayReference.SPEECH_ONSET:
            pts.append(_params_of(base.replace(speech_deadline_ms=_round_to(slack, 50, 500, 5000))))
        elif ref is DelayReference.ANSWER:
            pts.append(_params_of(base.replace(timeout_ms=_round_to(slack, 100, *TIMEOUT_RANGE_MS),
                                               timer_mode=TimerMode.TIMEOUT_FROM_ANSWER_DETECT)))
        else:
            pts.append(_params_of(base.replace(speech_deadline_ms=_round_to(slack + 1500, 50, 500, 5000))))
    out = []
    for p in pts:
        if p not in out:
            out.append(p)
    return out


def _suggest_amd(trial, base):
    from ..detect.app_amd import AmdSettings

    vals = {k: trial.suggest_int(k, lo, hi, step=st) for k, (lo, hi, st) in _AMD_SPACE.items()}
    return AmdSettings(**vals) if base is None else base.__class__(**vals)


def _amd_decisions(settings, calls, audio) -> list:
    from ..detect import classify
    from ..evaluation.decisions import Decision

    return [Decision.of(c, classify(y, 8000, settings, frame_length=160)) for c, y in zip(calls, audio)]


def _trial_part(kind: str, settings, calls, data, margin_logit: float) -> tuple[list, list | None]:
    """One candidate's decisions (and stressed decisions) on a slice of the corpus: app_amd
    re-run over the audio, or the default detector replayed from its traces."""
    if kind == "app_amd":
        return _amd_decisions(settings, calls, data), None
    from ..evaluation.runner import decisions_from_traces
    from .scoring import _stress_settings

    sdec = decisions_from_traces(calls, data, _stress_settings(settings, margin_logit)) if margin_logit > 0 else None
    return decisions_from_traces(calls, data, settings), sdec


_WORKER_STATE: dict[str, Any] = {}


def _pool_init(kind: str, calls, data, margin_logit: float, parent_pid: int | None) -> None:
    """A local trial worker: the corpus (audio or traces) given once, when it starts; it dies
    with the tuner and leaves Ctrl-C to it (as the corpus workers do)."""
    from .._workers import _worker_init

    _worker_init(parent_pid)
    _WORKER_STATE.update(kind=kind, calls=calls, data=data, margin_logit=margin_logit)


def _pool_part(args) -> tuple[list, list | None]:
    settings, lo, hi = args
    st = _WORKER_STATE
    return _trial_part(st["kind"], settings, st["calls"][lo:hi], st["data"][lo:hi], st["margin_logit"])


def _dask_part(kind: str, settings, part, margin_logit: float) -> tuple[list, list | None]:
    calls, data = part
    return _trial_part(kind, settings, calls, data, margin_logit)


class _TrialRunner:
    """Runs candidate settings over a corpus held once per worker: in this process, in
    ``jobs`` local worker processes, or on the Dask cluster of ``client`` (the corpus's slices
    sent to every worker once). ``kind``: ``'app_amd'`` (``data``: the calls'
    audio, AMD re-run each trial) or ``'default'`` (``data``: the calls' traces, replayed).

    :meth:`run` takes a batch of candidates and sends every candidate's slices out at once,
    so the workers stay busy across a batch of trials; decisions come back in call order,
    identical wherever they were made."""

    def __init__(self, kind: str, calls: Sequence, data: Sequence, *, jobs: int = 1, client=None,
                 margin_logit: float = 0.0, batch: int = 1) -> None:
        self.kind, self.calls, self.data, self.margin_logit = kind, tuple(calls), list(data), float(margin_logit)
        self._pool = None
        self._parts = None
        self._client = client
        n = len(self.calls)
        workers = max(1, len(client.scheduler_info().get("workers", {}))) if client is not None else jobs
        # slices per candidate: about 4 tasks per worker for each batch (load balance at its tail)
        k = max(1, min(n, -(-4 * workers // max(1, batch))))
        self._bounds = [(i * n // k, (i + 1) * n // k) for i in range(k)]
        if client is not None:
            # every worker holds every slice (as each local worker holds the whole corpus): any
            # worker can take any task, so a slice that costs more does not hold up the batch
            self._parts = client.scatter([(self.calls[lo:hi], self.data[lo:hi]) for lo, hi in self._bounds],
                                         broadcast=True)
        elif jobs > 1 and n >= 8:
            from concurrent.futures import ProcessPoolExecutor

            from .._workers import mp_context

            ctx = mp_context()
            parent = os.getpid() if ctx.get_start_method() == "fork" else None
            self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_pool_init,
                                             initargs=(kind, self.calls, self.data, self.margin_logit, parent))
            self._pool.submit(int).result()  # start the workers now, before any progress bar's thread

    def run(self, candidates: Sequence) -> list[tuple[list, list | None]]:
        """(decisions, stressed decisions or None) of every candidate, in order."""
        k = len(self._bounds)
        if self._client is not None:
            futs = [self._client.submit(_dask_part, self.kind, s, part, self.margin_logit, pure=False)
                    for s in candidates for part in self._parts or []]
            parts = self._client.gather(futs)
        elif self._pool is not None:
            parts = list(self._pool.map(_pool_part, [(s, lo, hi) for s in candidates for lo, hi in self._bounds]))
        else:
            return [_trial_part(self.kind, s, self.calls, self.data, self.margin_logit) for s in candidates]
        out = []
        for i in range(len(candidates)):
            mine = parts[i * k : (i + 1) * k]
            dec = [d for p in mine for d in p[0]]
            sdec = None if mine[0][1] is None else [d for p in mine for d in p[1]]
            out.append((dec, sdec))
        return out

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers (``abort``: now, cancelling queued work) and drop the scattered data."""
        if self._pool is not None:
            from .._workers import _stop_pool

            if abort:
                _stop_pool(self._pool)
            else:
                self._pool.shutdown()
            self._pool = None
        if self._parts is not None and self._client is not None:
            self._client.cancel(self._parts)
            self._parts = None


class _AmdRunner(_TrialRunner):
    """Runs AppAmdDetector over a corpus's audio (loaded once) for one setting: in this
    process, in ``jobs`` worker processes that keep the audio between trials, or on the Dask
    cluster of ``client`` (the audio scattered to the workers once)."""

    def __init__(self, corpus: Corpus, *, jobs: int, client=None, batch: int = 1) -> None:
        from ..evaluation.runner import offline_far_end

        far = offline_far_end(corpus, None, 0.0, 0)  # exactly what run_corpus (and `lsdlab evaluate`) streams
        super().__init__("app_amd", corpus.calls, [far.audio(c.path) for c in corpus.calls], jobs=jobs,
                         client=client, batch=batch)

    def decisions(self, settings) -> list:
        return self.run([settings])[0][0]


# --------------------------------------------------------------------------- the study


def _pick_best(records: list[tuple[TrialRecord, Score]]) -> tuple[TrialRecord, Score]:
    feas = [(r, s) for r, s in records if r.feasible]
    if feas:
        # most machines/faxes caught; then the largest safety margin; then the faster decisions
        return min(feas, key=lambda rs: (-round(rs[0].detect_recall, 9), round(rs[0].stressed_upper95, 9),
                                         round(rs[0].abandoned_upper95, 9),
                                         rs[0].machine_p50_s if rs[0].machine_p50_s is not None else 1e9, rs[0].number))
    return min(records, key=lambda rs: (round(rs[1].constraint, 9), -round(rs[0].detect_recall, 9), rs[0].number))


SAMPLERS = ("tpe", "tpe-independent", "nsga2")
TRIAL_BATCH_MAX = 256
COSTLY_TRIAL_S = 0.1  # above this a trial is worth sending to the workers (the storage/transfer cost is 37-120 ms)


def _hint_batches(backend: str, per_trial_s: float, jobs: int, client) -> None:
    """Say once, after the first trials, when trials are costly and run one at a time although
    workers are there (the batch size is never chosen from timings: the result would then
    depend on the machine's speed)."""
    workers = len(client.scheduler_info().get("workers", {})) if client is not None else jobs
    if workers > 1 and per_trial_s > COSTLY_TRIAL_S:
        logger.info("the %s tuner's trials take %.0f ms each, one at a time; --trial-batch %d would run %d at once on the "
                    "%d workers (the result then depends on the seed and the batch size)", backend, per_trial_s * 1e3,
                    workers, workers, workers)


def _make_sampler(optuna, name: str, seed: int, n_trials: int, extra: dict):
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(10, min(50, n_trials // 5)), **extra)
    return optuna.samplers.TPESampler(seed=seed, multivariate=name == "tpe", **extra,
                                      n_startup_trials=min(10, max(1, n_trials // 4)))


def tune(corpus: Corpus | str | os.PathLike, profile: Profile | str, *, dialer_drop_rate: float | None = None,
         agent_connect_ms: int = 300, n_trials: int = 100, seed: int = 0,
         evidence: Corpus | str | os.PathLike | None = None, backend: str = "default", progress: bool = True,
         jobs: int = 1, margin_logit: float = 0.5, margin_ms: int = 200, base: Any = None,
         cache_dir: str | os.PathLike | None | bool = None, traces: Sequence[CallTrace] | None = None,
         sampler: str = "tpe", client=None, ship_audio: bool = False, trial_batch: int = 1) -> TuneResult:
    """Search detector settings and the LSD timeout that hold a country's abandoned-call budget.

    Parameters
    ----------
    corpus : Corpus or path
        The labelled tuning corpus.
    profile : Profile or str
        The country's rules (a :class:`Profile`, a code such as ``"GB"`` or a profile file).
    dialer_drop_rate : float or None
        The share of live calls the dialer itself drops (no agent free); the detector gets
        the rest of the budget. None (not given): 0.0 is assumed, and the result says so
        (:attr:`TuneResult.warnings`, the tuning record, ``lsdlab report``).
    agent_connect_ms : int
        Time to bridge an agent after a LIVE/UNKNOWN decision.
    n_trials : int
        Optuna trials (TPE sampler with constraints).
    seed : int
        The sampler's seed: the same seed gives the same result.
    evidence : Corpus or path, optional
        Where the final evidence is measured by the streaming detector (default: ``corpus``).
    backend : {'default', 'app_amd'}
    progress : bool
        A tqdm progress bar.
    jobs : int
        Processes for tracing, the evidence run and the app_amd backend's trials (and the
        default backend's, with ``trial_batch`` over 1).
    client : dask.distributed.Client, optional
        Run tracing, the evidence run and the app_amd trials on this Dask cluster instead
        (the study itself stays in this process); ``ship_audio`` as in
        :func:`lsdlab.evaluation.run_corpus`.
    trial_batch : int
        Trials asked from the sampler at a time and run at once (1-256; default 1, one after
        another). With more than 1, the batch's candidates are asked in turn from the one
        seeded sampler, run together on the workers (``jobs`` processes or the cluster of
        ``client``; for the default backend only then, a replay being cheap) and told back in
        trial order: the result depends on ``seed`` and ``trial_batch`` only, never on the
        number of workers or their speed, and ``trial_batch=1`` is the one-at-a-time study.
        Worth it when a trial costs over ~100 ms (the app_amd backend; the default backend on
        thousands of calls) and several workers are there, e.g. the workers' count.
    margin_logit, margin_ms : float, int
        Safety margins a setting must also hold the budget under (see the module docstring).
    base : DetectorSettings or AmdSettings, optional
        Settings whose unsearched fields are kept (default: the backend's defaults).
    cache_dir : path, None or False
        Trace disk cache (see :func:`load_traces`).
    traces : sequence of CallTrace, optional
        Traces of ``corpus`` already made (skips tracing).

    Returns
    -------
    TuneResult
        ``result.feasible`` is False when nothing meets the budget (``result.message`` says
        why); :func:`lsdlab.tune.export` refuses such a result.
    """
    from .._extras import require

    require("tune", "lsdlab.tune.tune (lsdlab tune)")
    import optuna
    from tqdm.auto import tqdm

    from ..corpus import load_corpus
    from ..rules import load_profile

    o = "tune"
    check_choice(backend, "backend", o, BACKEND_NAMES)
    check_choice(sampler, "sampler", o, SAMPLERS)
    sampler_name = sampler
    check_int_range(n_trials, "n_trials", o, 1, 100000)
    check_int_range(seed, "seed", o, 0, 2**32 - 1)
    check_int_range(jobs, "jobs", o, *JOBS_RANGE)
    check_int_range(trial_batch, "trial_batch", o, 1, TRIAL_BATCH_MAX)
    drop_given = dialer_drop_rate is not None
    dialer_drop_rate = 0.0 if dialer_drop_rate is None else dialer_drop_rate
    _check_score_args(dialer_drop_rate, agent_connect_ms, margin_logit, margin_ms, o)
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus, jobs=jobs)
    if evidence is not None and not isinstance(evidence, Corpus):
        evidence = load_corpus(evidence, jobs=jobs)
    ev_corpus = evidence if evidence is not None else corpus

    kw: dict[str, Any] = dict(dialer_drop_rate=float(dialer_drop_rate), agent_connect_ms=int(agent_connect_ms))
    suggest: Any
    if backend == "default":
        base = base if base is not None else DetectorSettings()
        if not isinstance(base, DetectorSettings):
            raise ParameterError(f"The 'base' parameter of tune must be a DetectorSettings for backend 'default'. Got {type(base).__name__} instead.")
        if traces is None:
            traces = load_traces(corpus, base, jobs=jobs, progress=progress, cache_dir=cache_dir, client=client,
                                 ship_audio=ship_audio)
        if len(traces) != len(corpus.calls):
            raise ParameterError(f"The 'traces' parameter of tune needs one trace per call of the corpus: got {len(traces)} "
                                 f"traces for {len(corpus.calls)} calls; trace the same corpus (or leave traces=None).")

        def suggest(trial):
            return _suggest_default(trial, base)

        starts = _starting_points(base, profile, agent_connect_ms, margin_ms)
        # a replay costs milliseconds: the trials run on the workers only when asked in batches
        runner: _TrialRunner | None = None
        if trial_batch > 1:
            runner = _TrialRunner("default", corpus.calls, traces, jobs=jobs, client=client, margin_logit=margin_logit,
                                  batch=trial_batch)
    else:
        from ..detect.app_amd import AmdSettings

        base = base if base is not None else AmdSettings()

        def suggest(trial):
            return _suggest_amd(trial, base)

        d0 = {k: getattr(base, k) for k in _AMD_SPACE}
        d0["total_analysis_time_ms"] = max(500, min(10000, d0["total_analysis_time_ms"]))
        starts = [d0]
        runner = _AmdRunner(corpus, jobs=jobs, client=client, batch=trial_batch)  # its workers start before the bar

    scores: dict[int, Score] = {}
    records: list[TrialRecord] = []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    has_constraint = hasattr(optuna.trial.Trial, "set_constraint")  # optuna >= 5

    def constraints(frozen) -> tuple[float]:
        return (frozen.user_attrs.get("constraint", 1.0),)

    extra = {} if has_constraint else {"constraints_func": constraints}
    aborted = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = _make_sampler(optuna, sampler_name, seed, n_trials, extra)
        study = optuna.create_study(direction="maximize", sampler=sampler)  # type: ignore[arg-type]
        for p in starts[:n_trials]:
            study.enqueue_trial(p)
        bar = tqdm(total=n_trials, desc=f"tune {profile.code}", unit="trial", disable=not progress, leave=False)
        best_so_far = -1.0
        t_start = time.perf_counter()
        try:
            # ask/tell in fixed batches: the candidates of a batch are asked in turn from the one
            # seeded sampler (before any of them is scored), run at once, and told in trial order;
            # the result depends on the seed and the batch size only, not on where or how fast
            # the trials ran
            while len(records) < n_trials:
                batch = [study.ask() for _ in range(min(trial_batch, n_trials - len(records)))]
                candidates = [suggest(t) for t in batch]
                if runner is None:  # the default backend one at a time: replayed here
                    assert traces is not None
                    scored = [score(traces, corpus, s, profile, margin_logit=margin_logit, margin_ms=margin_ms, **kw)
                              for s in candidates]
                else:
                    scored = [score_decisions(dec, profile, settings=s, stressed_decisions=sdec, margin_ms=margin_ms, **kw)
                              for s, (dec, sdec) in zip(candidates, runner.run(candidates))]
                for trial, sc in zip(batch, scored):
                    scores[trial.number] = sc
                    rec = _record(trial.number, dict(trial.params), sc)
                    records.append(rec)
                    if has_constraint:
                        trial.set_constraint("abandoned_upper95_minus_budget", float(sc.constraint))
                    trial.set_user_attr("constraint", float(sc.constraint))
                    study.tell(trial, sc.detect_recall)
                    if rec.feasible and rec.detect_recall > best_so_far:
                        best_so_far = rec.detect_recall
                    bar.set_postfix_str("best machines+faxes " + ("none yet" if best_so_far < 0 else _pct(best_so_far)))
                    bar.update()
                if trial_batch == 1 and len(records) == 3 < n_trials:
                    _hint_batches(backend, (time.perf_counter() - t_start) / len(records), jobs, client)
            aborted = False
        finally:
            bar.close()
            if runner is not None:
                runner.close(abort=aborted)

    best_rec, best = _pick_best([(r, scores[r.number]) for r in records])
    result = TuneResult(
        feasible=False, best=best, evidence=None, evidence_corpus=ev_corpus, tuning_corpus=corpus, profile=profile,
        backend=backend, dialer_drop_rate=float(dialer_drop_rate), agent_connect_ms=int(agent_connect_ms),
        margin_logit=float(margin_logit), margin_ms=int(margin_ms), seed=int(seed), n_trials=int(n_trials), trials=records,
        trial_batch=int(trial_batch),
        best_trial=best_rec.number, message="", study=study, dialer_drop_rate_given=drop_given,
    )
    if not best_rec.feasible:
        result.message = infeasible_message(best, profile, n_trials=n_trials, dialer_drop_rate=dialer_drop_rate,
                                            margin_logit=margin_logit if backend == "default" else 0.0, margin_ms=margin_ms,
                                            drop_assumed=not drop_given)
        return result
    # the evidence: the real streaming detector over every call of the evidence corpus
    from ..evaluation.runner import run_corpus

    decisions = run_corpus(ev_corpus, best.settings, jobs=jobs, progress=progress, client=client, ship_audio=ship_audio)
    ev = compliance(decisions, profile, **kw)
    result.evidence = ev
    if ev_corpus is corpus:
        key = [(d.decision, d.decided_at_s) for d in decisions]
        result.replay_matches_stream = key == [(d.decision, d.decided_at_s) for d in best.decisions]
        if not result.replay_matches_stream:
            logger.warning("the replayed decisions differ from the streaming detector's on %s", corpus.root)
    if not ev.passed:
        f = ev.figures
        result.message = (
            f"NO EXPORT: the best setting (trial {best_rec.number}) holds the {profile.code} budget on the tuning corpus "
            f"but the streaming evidence on {ev_corpus.root} fails {', '.join(ev.rules_failed)}: "
            f"{f.human_abandoned}/{f.counts['human']} people abandoned, 95% upper bound "
            f"{_pct(f.human_abandoned_upper95)} vs {_pct(ev.budget_left)} left."
            + ("" if f.counts["human"] == 0 or upper_bound(0, f.counts["human"]) <= ev.budget_left + _EPS else
               f" The evidence corpus has only {f.counts['human']} human calls: even with 0 abandoned the bound is "
               f"{_pct(upper_bound(0, f.counts['human']))}; at least {humans_needed(ev.budget_left)} are needed.")
            + " Nothing was written."
        )
        return result
    f = ev.figures
    result.feasible = True
    result.message = (
        f"Within the {profile.code} budget: trial {best_rec.number} of {n_trials} detects {_recalls(best.figures)} on the "
        f"tuning corpus. Evidence ({f.calls} calls of {ev_corpus.root}): people called "
        f"machine/fax {f.human_false_positives}/{f.counts['human']} (95% upper bound "
        f"{_pct(f.human_false_positive_upper95)}), late {f.human_late}/{f.counts['human']}, abandoned upper95 "
        f"{_pct(f.human_abandoned_upper95)} vs {_pct(ev.budget_left)} left; {_recalls(f)}."
    )
    return result
