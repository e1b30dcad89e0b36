"""Load: N real calls at concurrency C through CallPool to SimulatedFarEnd, and a soak.

Run: ``.venv/bin/python benchmarks/bench_load.py [--calls 400] [--concurrency 40] [--repeats 3]
[--soak-calls 2000] [--soak-warmup-s 35] [--soak-max-s 1200] [--no-soak] [--quick]``

(a) ``--calls`` calls of corpora/demo (cycled), ``--concurrency`` at once, LSD on, each call
    hung up at its verdict, repeated ``--repeats`` times, each repeat with a fresh far end and
    pool: every call must come back answered with a verdict, or as an error with its cause
    (all errors are listed). Counted: BUSY, NOCHANNELS and other causes, worker crashes (exit
    codes of the pool's and the far end's workers), jobs placed again after a worker died,
    far-end refusals (503) and queueing, whether the far end played the row each call asked
    for (its calls.jsonl by Call-ID), verdict agreement with the offline path (same
    settings, ``OfflineFarEnd(channel=None)``) and with each row's label, set-up time
    (INVITE to 200 OK) p50/p95, frame gaps, RSS/threads/fds of the workers at the start and
    the end of the run, calls/s.
(b) a soak: ``--soak-calls`` short calls in a row (answer, 0.2 s, hang up; no LSD) through one
    pool and one far end, in chunks; memory (RSS), threads, file descriptors and sockets of
    every worker process measured after a warm-up (chunks for at least ``--soak-warmup-s``,
    35 s: see SOAK_WARMUP_S) and after each chunk; stopped (and marked aborted) once it has
    run ``--soak-max-s`` seconds.

``--quick``: 40 calls at 10, one repeat, a 100-call soak (about a minute). ``--churn N``: only N
calls hung up at the answer through one pool worker, to reproduce crashes under churn
(results/load_churn.json; BENCHMARKS.md untouched).
Traffic goes to 127.0.0.1 only. Writes benchmarks/results/load.json (``--out``) and the
``load`` section of BENCHMARKS.md (``--md``). The machine has 2 cores shared with other work:
its load average is sampled every 2 s during each run and recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common  # noqa: E402
from _common import RESULTS, ROOT, command, write_json  # noqa: E402

DEMO = ROOT / "corpora" / "demo"


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class _LoadSampler:
    """The machine's 1-minute load average every ``every_s`` seconds while a run lasts."""

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="loadavg", daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(_loadavg())
            if self._stop.wait(self.every_s):
                return

    def __enter__(self) -> _LoadSampler:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join(5)
        self.samples.append(_loadavg())

    def summary(self) -> dict:
        xs = self.samples or [_loadavg()]
        return {"start": xs[0], "min": min(xs), "mean": round(float(np.mean(xs)), 2), "max": max(xs), "end": xs[-1],
                "samples": len(xs), "every_s": self.every_s}


def _proc(pid: int) -> dict:
    """RSS (MiB), threads, open fds and sockets of one process (from /proc)."""
    out = {"pid": pid}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mib"] = round(int(line.split()[1]) / 1024.0, 1)
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
        fds = os.listdir(f"/proc/{pid}/fd")
        out["fds"] = len(fds)
        socks = 0
        for fd in fds:
            try:
                socks += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            except OSError:
                pass
        out["sockets"] = socks
    except OSError:
        out["gone"] = True
    return out


def _totals(pids: list[int]) -> dict:
    ps = [_proc(p) for p in pids]
    return {k: round(sum(p.get(k, 0) for p in ps), 1) for k in ("rss_mib", "threads", "fds", "sockets")} | {
        "processes": sum(not p.get("gone") for p in ps)}


def _pct(xs, q) -> float | None:
    return float(np.percentile(np.asarray(xs, dtype=float), q)) if len(xs) else None


def _codecs(calls) -> dict:
    import soundfile as sf

    # the codec a recording was coded with, so the call carries the samples the offline path reads
    return {c.path: ("g711u;g711a" if sf.info(str(DEMO / c.path)).subtype == "ULAW" else "g711a;g711u")
            for c in calls}


def _per_process(pids: list[int]) -> list[dict]:
    return [_proc(p) for p in pids]


def _row_check(far, picks, res) -> dict:
    """Did the far end play the row each call asked for? Its calls.jsonl, matched by Call-ID."""
    by_id = {c.sip_call_id: c for c in far.calls()}
    wrong, missing = [], []
    for c, r in zip(picks, res):
        if r.error or not r.answered:
            continue
        rec = by_id.get(r.sip_call_id)
        if rec is None:
            missing.append({"index": r.index, "path": c.path, "sip_call_id": r.sip_call_id})
        elif rec.scenario.get("path") != c.path:
            wrong.append({"index": r.index, "asked": c.path, "played": rec.scenario.get("path")})
    return {"far_end_records": len(by_id), "wrong_row": wrong, "no_far_end_record": missing}


#: the decision a row's label calls for (silence: no verdict of any kind)
_EXPECTED = {"human": "human", "machine": "machine", "fax": "fax", "silence": "unknown"}


def _label_agreement(picks, res) -> dict:
    out: dict = {}
    for c, r in zip(picks, res):
        if r.error or not r.answered:
            continue
        lab = c.label.value
        d = out.setdefault(lab, {"calls": 0, "verdict_is_label": 0, "verdicts": Counter()})
        d["calls"] += 1
        d["verdict_is_label"] += r.decision == _EXPECTED[lab]
        d["verdicts"][r.decision] += 1
    return {k: {**v, "verdicts": dict(v["verdicts"])} for k, v in sorted(out.items())}


def _picks(calls, n: int) -> list:
    """``n`` rows of the corpus in a fixed shuffled order (every label, not the manifest's
    first rows), cycled when ``n`` exceeds the corpus."""
    order = np.random.default_rng(20261129).permutation(len(calls))
    return [calls[order[i % len(calls)]] for i in range(n)]


def load_run(calls, ref, codecs, *, n: int, concurrency: int, progress: bool) -> dict:
    from bench_sip import compare

    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallPool, Cause, LiveSpeakerDetectionSettings

    workers = math.ceil(concurrency / 4)
    per_worker = math.ceil(concurrency / workers)
    picks = _picks(calls, n)
    sampler = _LoadSampler()
    with sampler:
        t0 = time.monotonic()
        far = SimulatedFarEnd(DEMO, workers=workers)
        far.start()
        far_start_s = time.monotonic() - t0
        try:
            jobs = [(far.uri(c.path, ring_s=0.1), {"live_speaker_detect": LiveSpeakerDetectionSettings.DEFAULT,
                                                    "lsd_timeout_milliseconds": 7000, "codecs": codecs[c.path]})
                    for c in picks]
            t1 = time.monotonic()
            pool = CallPool(workers=workers, calls_per_worker=per_worker, no_answer_timeout_s=20.0)
            pool.start()
            pool_start_s = time.monotonic() - t1
            try:
                procs_start = {"pool": _per_process(pool.pids), "far_end": _per_process(far.pids)}
                # in two halves: the workers' memory after the first (model loaded, caches
                # warm) against the end is the leak check
                half = n // 2
                t2 = time.monotonic()
                res = pool.run(jobs[:half], progress=progress, desc=f"{n} calls at {concurrency}, 1st half")
                wall = time.monotonic() - t2
                procs_half = {"pool": _per_process(pool.pids), "far_end": _per_process(far.pids)}
                t3 = time.monotonic()
                res += pool.run(jobs[half:], progress=progress, desc=f"{n} calls at {concurrency}, 2nd half")
                wall += time.monotonic() - t3
                res = [dataclasses.replace(r, index=i) for i, r in enumerate(res)]
                time.sleep(1.0)  # the last calls' threads and ports settle
                procs_end = {"pool": _per_process(pool.pids), "far_end": _per_process(far.pids)}
                retried = pool.retried
                dead = pool.dead_workers
            finally:
                pool.close()
            far_stats = far.stats()
            rows = _row_check(far, picks, res)
        finally:
            far.close()
    causes = Counter(r.cause.name if r.cause else "NONE" for r in res)
    errors = Counter((r.error or "").split(":")[0].split(" (")[0] for r in res if r.error)
    verdicted = [r for r in res if r.answered and not r.error and r.lsd_reason is not None]
    unaccounted = [r.index for r in res if not r.error and not (r.answered and r.lsd_reason is not None)]
    cmp = compare([c.path for c in picks], res, ref)
    ok = [r for r in res if r.answered and not r.error]
    frames = sum(r.frames for r in ok)
    gaps = sum(r.frame_gaps_over_60ms for r in ok)
    setup = [r.setup_s * 1000.0 for r in ok if r.setup_s is not None]

    def side(procs: dict, k: str) -> dict:
        return {s: round(sum(p.get(k, 0) for p in ps), 1) for s, ps in procs.items()}

    return {
        "calls": n, "concurrency": concurrency, "pool_workers": workers, "calls_per_worker": per_worker,
        "far_workers": workers, "far_capacity": far.capacity,
        "answered_and_verdicted": len(verdicted), "errors": len([r for r in res if r.error]),
        "accounted_for": len(verdicted) + len([r for r in res if r.error]) == n and not unaccounted,
        "errors_by_kind": dict(errors),
        "error_list": [{"index": r.index, "path": c.path, "worker": r.worker, "error": r.error}
                       for c, r in zip(picks, res) if r.error][:100],
        "not_verdicted_without_error": unaccounted,
        "not_verdicted_list": [{"index": r.index, "path": c.path, "worker": r.worker, "cause": r.cause.name if r.cause else None,
                                "raw_cause": r.raw_cause, "states": [x.name for x in r.states], "setup_s": r.setup_s,
                                "frames": r.frames} for c, r in zip(picks, res) if r.index in set(unaccounted)][:50],
        "causes": dict(causes), "busy": causes.get(Cause.BUSY.name, 0), "nochannels": causes.get(Cause.NOCHANNELS.name, 0),
        "slot_waits": sum(r.slot_wait_s > 0 for r in res), "slot_wait_s_max": max((r.slot_wait_s for r in res), default=0),
        "pool_exitcodes": pool.exitcodes, "far_exitcodes": far.exitcodes, "pool_dead_workers": dead,
        "worker_crashes": sum(1 for c in [*pool.exitcodes, *far.exitcodes] if c not in (0, None)),
        "jobs_placed_again": retried, "far_end": {k: v for k, v in far_stats.items() if k != "refusals"},
        "far_end_rows": {"records": rows["far_end_records"], "wrong_row": rows["wrong_row"][:10],
                         "wrong_row_count": len(rows["wrong_row"]), "no_record": rows["no_far_end_record"][:10],
                         "no_record_count": len(rows["no_far_end_record"])},
        "same_verdict": cmp["same_verdict"], "same_verdict_rate": cmp["same_verdict_rate"],
        "mismatches": cmp["mismatches"][:10], "dt_ms_no_hangup": cmp["dt_ms_no_hangup"],
        "verdict_vs_label": _label_agreement(picks, res),
        "setup_ms": {"p50": _pct(setup, 50), "p95": _pct(setup, 95), "max": max(setup, default=None), "n": len(setup)},
        "frames": frames, "frame_gaps_over_60ms": gaps, "gaps_over_60ms_share": gaps / frames if frames else None,
        "calls_with_gaps_over_60ms": sum(r.frame_gaps_over_60ms > 0 for r in ok),
        "max_frame_gap_ms": max((r.max_frame_gap_ms for r in ok), default=None),
        "p95_call_max_gap_ms": _pct([r.max_frame_gap_ms for r in ok], 95),
        "max_frame_lag_ms": max((r.max_frame_lag_ms for r in ok), default=None),
        "processes_start": procs_start, "processes_half": procs_half, "processes_end": procs_end,
        "rss_mib": {"start": side(procs_start, "rss_mib"), "half": side(procs_half, "rss_mib"),
                    "end": side(procs_end, "rss_mib")},
        "threads_end": side(procs_end, "threads"), "fds_end": side(procs_end, "fds"),
        "sockets_end": side(procs_end, "sockets"),
        "far_start_s": round(far_start_s, 2), "pool_start_s": round(pool_start_s, 2), "wall_s": round(wall, 1),
        "calls_per_s": round(n / wall, 2) if wall else None, "loadavg": sampler.summary(),
    }


#: pjsip keeps every ended call's dialog (its pools: ~32 KB) for 32 s, until the BYE's server
#: transaction ends (RFC 3261 Timer J = 64*T1 on UDP; the caller's side keeps its BYE 5 s,
#: Timer K). Under a steady load each far-end worker therefore holds calls/s x 32 s dialogs,
#: and its memory rises for the first 32 s of any run before it levels off (measured with
#: pjsua_dump: 416 dialogs, 13.7 MB of pools, at 13 calls/s into one worker; all gone 32 s
#: after the last call). A soak shorter than that (the 2,000 calls took 34 s) measured that
#: fill, not a leak: the warm-up runs at least this long, so the baseline has it already.
SOAK_WARMUP_S = 35.0


def soak(calls, *, n: int, concurrency: int, chunk: int, progress: bool, max_s: float,
         warmup_s: float = SOAK_WARMUP_S) -> dict:
    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallJob, CallPool

    workers = math.ceil(concurrency / 4)
    per_worker = math.ceil(concurrency / workers)
    # a fixed set of 20 recordings, so that the warm-up fills the far end's render cache and
    # growth after it means a leak, not the cache filling up (bounded by cache_mb per worker)
    few = calls[:20]
    rows = []
    bad: Counter = Counter()
    failures: list[dict] = []
    slot_waits = 0
    aborted = False
    sampler = _LoadSampler()
    t0 = time.monotonic()
    with sampler, SimulatedFarEnd(DEMO, workers=workers) as far, \
            CallPool(workers=workers, calls_per_worker=per_worker, no_answer_timeout_s=20.0) as pool:
        placed = 0

        def run_chunk(size: int, desc: str) -> int:
            nonlocal placed, slot_waits
            jobs = [CallJob(far.uri(few[(placed + i) % len(few)].path, ring_s=0.0), {}, hold=0.2) for i in range(size)]
            res = pool.run(jobs, progress=progress, desc=desc)
            for r in res:
                slot_waits += r.slot_wait_s > 0
                if r.error or not r.answered:
                    bad[(r.error or (r.cause.name if r.cause else "?")).split(":")[0]] += 1
                    failures.append({"call": placed + r.index, "worker": r.worker, "error": r.error,
                                     "cause": r.cause.name if r.cause else None, "raw_cause": r.raw_cause})
            placed += len(res)
            return len(res)

        # warm-up: at least one chunk and at least warmup_s of calls (see SOAK_WARMUP_S)
        warmup_calls = 0
        while True:
            warmup_calls += run_chunk(chunk, f"soak warm-up {warmup_calls + chunk}")
            if time.monotonic() - t0 >= warmup_s or time.monotonic() - t0 > max_s:
                break
        warmup_wall = time.monotonic() - t0
        time.sleep(1.0)  # let the last calls' ports and threads settle before measuring
        rows.append({"calls_done": 0, "warmup": True, "pool": _totals(pool.pids), "far_end": _totals(far.pids)})
        done = 0
        while done < n:
            if time.monotonic() - t0 > max_s:
                aborted = True  # bounded: the soak stops past --soak-max-s
                break
            done += run_chunk(min(chunk, n - done), f"soak {done + chunk}/{n}")
            time.sleep(1.0)  # let the last calls' ports and threads settle before measuring
            rows.append({"calls_done": done, "warmup": False, "pool": _totals(pool.pids), "far_end": _totals(far.pids)})
        far_stats = far.stats()
    base, last = rows[0], rows[-1]
    growth = {side: {k: round(last[side][k] - base[side][k], 1) for k in ("rss_mib", "threads", "fds", "sockets")}
              for side in ("pool", "far_end")}
    return {"calls": n, "calls_done": done, "aborted": aborted, "max_s": max_s,
            "warmup_calls": warmup_calls, "warmup_s": round(warmup_wall, 1), "warmup_min_s": warmup_s,
            "concurrency": concurrency, "chunk": chunk, "failed": dict(bad),
            "failure_list": failures[:100],
            "calls_that_waited_for_a_call_slot": slot_waits,
            "growth_after_warmup": growth, "samples": rows, "pool_exitcodes": pool.exitcodes,
            "far_exitcodes": far.exitcodes, "far_end": {k: v for k, v in far_stats.items() if k != "refusals"},
            "wall_s": round(time.monotonic() - t0, 1), "loadavg": sampler.summary()}


def churn(calls, *, n: int, chunk: int, progress: bool, max_s: float) -> dict:
    """Calls at the highest churn one process allows: 1 pool worker x 4 channels, each call hung
    up at the answer and the next placed at once, in chunks; RSS of both workers after each
    chunk; stops at the first worker death (a crash under churn, issue 15 item 1)."""
    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallJob, CallPool

    few = calls[:20]
    rows, failures = [], []
    done, t0 = 0, time.monotonic()
    with SimulatedFarEnd(DEMO, workers=1) as far, CallPool(workers=1, calls_per_worker=4) as pool:
        while done < n and time.monotonic() - t0 < max_s:
            jobs = [CallJob(far.uri(few[(done + i) % len(few)].path, ring_s=0.0), {}, hold=0.0) for i in range(chunk)]
            t1 = time.monotonic()
            res = pool.run(jobs, progress=progress, desc=f"churn {done + chunk}/{n}")
            wall = time.monotonic() - t1
            done += len(res)
            failures += [{"call": done - len(res) + r.index, "error": r.error, "cause": r.cause.name if r.cause else None}
                         for r in res if r.error or not r.answered]
            time.sleep(0.5)
            rows.append({"calls_done": done, "calls_per_s": round(len(res) / wall, 1), "pool": _totals(pool.pids),
                         "far_end": _totals(far.pids)})
            if pool.dead_workers or not far.alive():
                break
        dead = pool.dead_workers
    return {"calls": n, "calls_done": done, "chunk": chunk, "failures": failures[:50], "failed": len(failures),
            "pool_exitcodes": pool.exitcodes, "far_exitcodes": far.exitcodes, "pool_dead_workers": dead,
            "samples": rows, "wall_s": round(time.monotonic() - t0, 1), "loadavg": _loadavg()}


def _fmt(x, nd=1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def markdown(data: dict) -> str:
    """The ``load`` section of BENCHMARKS.md."""
    runs = data["runs"]
    lines = [
        "## Load: CallPool to SimulatedFarEnd on loopback",
        "",
        f"`{data['command']}` ({data['cpus']} CPUs, shared with other work; load average sampled every 2 s).",
        "",
        "Each repeat: a fresh far end and pool, every call to 127.0.0.1 with LSD on, hung up at its verdict. "
        "*Accounted*: answered with a verdict + errors = calls. *Offline*: same verdict as "
        "`OfflineFarEnd(channel=None)` with the same settings. *Label*: verdict equals the row's label "
        "(silence: no verdict). *Row*: the far end played the row the call asked for (its calls.jsonl by Call-ID). "
        "Rows in a fixed shuffled order. *Set-up*: INVITE to 200 OK, including the far end's 0.1 s of ringing. "
        "*Pool RSS*: all pool workers, after start-up, after the first half of the calls and at the end (leak "
        "check: half > end).",
        "",
        "| run | calls at conc. | accounted | verdicted | errors | BUSY / NOCHANNELS | crashes | offline | label "
        "| wrong row | calls/s | set-up p50 / p95 ms | gaps > 60 ms (calls) | max gap ms | pool RSS MiB start > half > end "
        "| threads / fds end (pool, far) | load avg min-mean-max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(runs, 1):
        lab = r["verdict_vs_label"]
        lab_ok = sum(v["verdict_is_label"] for v in lab.values())
        lab_n = sum(v["calls"] for v in lab.values())
        la = r["loadavg"]
        lines.append(
            f"| {i} | {r['calls']} at {r['concurrency']} | {'yes' if r['accounted_for'] else 'NO'} | "
            f"{r['answered_and_verdicted']} | {r['errors']} | {r['busy']} / {r['nochannels']} | {r['worker_crashes']} | "
            f"{r['same_verdict']}/{r['calls']} | {lab_ok}/{lab_n} | {r['far_end_rows']['wrong_row_count']} | "
            f"{_fmt(r['calls_per_s'], 2)} | {_fmt(r['setup_ms']['p50'])} / {_fmt(r['setup_ms']['p95'])} | "
            f"{r['frame_gaps_over_60ms']}/{r['frames']} ({r['calls_with_gaps_over_60ms']}) | {_fmt(r['max_frame_gap_ms'], 0)} | "
            f"{_fmt(r['rss_mib']['start']['pool'])} > {_fmt(r['rss_mib']['half']['pool'])} > "
            f"{_fmt(r['rss_mib']['end']['pool'])} | "
            f"{r['threads_end']['pool']:.0f}, {r['threads_end']['far_end']:.0f} / {r['fds_end']['pool']:.0f}, "
            f"{r['fds_end']['far_end']:.0f} | {la['min']}-{la['mean']}-{la['max']} |")
    errs = [(i, e) for i, r in enumerate(runs, 1) for e in r["error_list"]]
    lines += ["", f"Errors: {len(errs)}" + ("." if not errs else ":")]
    lines += [f"- run {i} call {e['index']} ({e['path']}, worker {e['worker']}): {e['error']}" for i, e in errs[:20]]
    odd = [(i, e) for i, r in enumerate(runs, 1) for e in r.get("not_verdicted_list", [])]
    if odd:
        lines += ["", "Calls that came back without a verdict and without an error (not accounted for):"]
        lines += [f"- run {i} call {e['index']} ({e['path']}, pool worker {e['worker']}): cause {e['cause']}, raw cause "
                  f"{e['raw_cause'] or '-'}, states {'>'.join(e['states'])}, {e['frames']} frames" for i, e in odd[:20]]
    crashed = [(i, r["pool_exitcodes"], r["far_exitcodes"]) for i, r in enumerate(runs, 1) if r["worker_crashes"]]
    lines += [f"- run {i}: worker exit codes pool {p}, far end {f}" for i, p, f in crashed]
    by_label: dict = {}
    for r in runs:
        for k, v in r["verdict_vs_label"].items():
            d = by_label.setdefault(k, [0, 0])
            d[0] += v["verdict_is_label"]
            d[1] += v["calls"]
    lines += ["", "Verdict = label, all runs: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(by_label.items())) + "."]
    s = data.get("soak")
    if s:
        g = s["growth_after_warmup"]
        la = s["loadavg"]
        lines += [
            "",
            f"Soak: {s['calls_done']} of {s['calls']} calls at {s['concurrency']} after {s['warmup_calls']} warm-up calls "
            f"in {s.get('warmup_s', '-')} s (answer, 0.2 s, hang up; no LSD) in {s['wall_s']} s in all"
            + (f", ABORTED at the {s['max_s']:.0f} s bound" if s["aborted"] else "")
            + f"; failed {s['failed'] or 0}; calls that waited for a call slot {s['calls_that_waited_for_a_call_slot']}; "
            f"exit codes pool {s['pool_exitcodes']}, far end {s['far_exitcodes']}; load average "
            f"{la['min']}-{la['mean']}-{la['max']}.",
            *(["Workers died during the soak: the totals below lost their processes (growth not comparable)."]
              if any(c not in (0, None) for c in [*s["pool_exitcodes"], *s["far_exitcodes"]]) else []),
            "",
            "The warm-up lasts at least 35 s: pjsip keeps each ended call's dialog (~32 KB of pools) for 32 s "
            "(RFC 3261 Timer J on UDP), so memory rises for the first 32 s of any load and then levels off; "
            "growth after the warm-up is what a leak would add.",
            "",
            "| after warm-up, growth | RSS MiB | threads | fds | sockets |",
            "|---|---|---|---|---|",
        ]
        for sd in ("pool", "far_end"):
            lines.append(f"| {sd.replace('_', ' ')} ({s['samples'][0][sd]['processes']} processes) | {g[sd]['rss_mib']} | "
                         f"{g[sd]['threads']} | {g[sd]['fds']} | {g[sd]['sockets']} |")
        lines += ["", f"RSS (MiB, all workers) after the warm-up, then after each {s['chunk']} calls: "
                  + "; ".join(f"{sd.replace('_', ' ')} " + ", ".join(f"{x[sd]['rss_mib']:.0f}" for x in s["samples"])
                              for sd in ("pool", "far_end")) + "."]
        fl = s.get("failure_list") or []
        lines += [f"- soak call {f['call']} (worker {f['worker']}): {f['error'] or f['cause']} (raw cause "
                  f"{f['raw_cause'] or '-'})" for f in fl[:20]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=400, help="calls per repeat (default 400)")
    ap.add_argument("--concurrency", type=int, default=40, help="calls at once (default 40; 4 per worker process)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the load run (default 3)")
    ap.add_argument("--soak-calls", type=int, default=2000, help="calls in a row in the soak (default 2000)")
    ap.add_argument("--soak-concurrency", type=int, default=None, help="calls at once in the soak (default --concurrency)")
    ap.add_argument("--soak-chunk", type=int, default=200, help="calls between two measurements (default 200)")
    ap.add_argument("--soak-max-s", type=float, default=1200.0, help="stop the soak after this many seconds (default 1200)")
    ap.add_argument("--soak-warmup-s", type=float, default=SOAK_WARMUP_S,
                    help=f"the soak's warm-up runs chunks for at least this long (default {SOAK_WARMUP_S:g}: pjsip "
                         f"keeps each ended call's dialog 32 s, so memory rises for the first 32 s of any load)")
    ap.add_argument("--no-soak", action="store_true", help="skip the soak")
    ap.add_argument("--quick", action="store_true",
                    help="40 calls at 10, 1 repeat, a 100-call soak in chunks of 50 (overrides those options)")
    ap.add_argument("--churn", type=int, default=0,
                    help="instead of the runs and the soak: this many calls hung up at the answer through 1 pool "
                         "worker (4 channels), stopping at the first worker death; writes results/load_churn.json")
    ap.add_argument("--out", default=str(RESULTS / "load.json"), help="results JSON (default benchmarks/results/load.json)")
    ap.add_argument("--md", default=str(_common.BENCH_MD), help="Markdown file whose 'load' section is written "
                    "(default BENCHMARKS.md)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    if args.quick:
        args.calls, args.concurrency, args.repeats, args.soak_calls, args.soak_chunk = 40, 10, 1, 100, 50
        args.soak_warmup_s = 0.0  # one warm-up chunk
    for name, lo, hi in (("calls", 1, 100000), ("concurrency", 1, 400), ("repeats", 1, 100), ("soak_calls", 1, 1000000),
                         ("soak_chunk", 1, 100000), ("soak_max_s", 1, 86400), ("soak_warmup_s", 0, 3600)):
        v = getattr(args, name)
        if not lo <= v <= hi:
            ap.error(f"--{name.replace('_', '-')} must be in [{lo}, {hi}]; got {v}")
    out, md = Path(args.out), Path(args.md)
    for opt, path in (("--out", out), ("--md", md)):
        if not path.parent.is_dir():
            ap.error(f"{opt} {path}: folder {path.parent} does not exist")
    from bench_sip import offline_reference

    from lsdlab.corpus import load

    calls = list(load(DEMO).calls)
    progress = not args.no_progress
    if args.churn:
        c = churn(calls, n=args.churn, chunk=min(300, args.churn), progress=progress, max_s=args.soak_max_s)
        path = write_json("load_churn", {"command": command(), "cpus": os.cpu_count(), "churn": c})
        print(f"churn: {c['calls_done']}/{c['calls']} calls, failed {c['failed']}, exit codes pool {c['pool_exitcodes']} "
              f"far end {c['far_exitcodes']}, RSS " + ", ".join(f"{r['far_end']['rss_mib']:.0f}/{r['pool']['rss_mib']:.0f}"
                                                                for r in c["samples"]) + f"; wrote {path}", flush=True)
        return 0
    ref = offline_reference(list({c.path: c for c in _picks(calls, args.calls)}.values()))  # the rows called
    codecs = _codecs(calls)
    data: dict = {"command": command(), "cpus": os.cpu_count(), "runs": []}
    for i in range(args.repeats):
        r = load_run(calls, ref, codecs, n=args.calls, concurrency=args.concurrency, progress=progress)
        data["runs"].append(r)
        print(f"run {i + 1}: {r['answered_and_verdicted']}/{r['calls']} answered and verdicted, errors {r['errors_by_kind']}, "
              f"accounted {r['accounted_for']}, BUSY {r['busy']}, NOCHANNELS {r['nochannels']}, "
              f"crashes {r['worker_crashes']}, wrong row {r['far_end_rows']['wrong_row_count']}, "
              f"same verdict {r['same_verdict']}/{r['calls']}, gaps>60ms {r['frame_gaps_over_60ms']}/{r['frames']}, "
              f"max gap {r['max_frame_gap_ms']} ms, {r['calls_per_s']} calls/s, set-up p50 {_fmt(r['setup_ms']['p50'])} "
              f"p95 {_fmt(r['setup_ms']['p95'])} ms, far start {r['far_start_s']} s, load {r['loadavg']}", flush=True)
    if not args.no_soak:
        s = soak(calls, n=args.soak_calls, concurrency=args.soak_concurrency or args.concurrency,
                 chunk=min(args.soak_chunk, args.soak_calls), progress=progress, max_s=args.soak_max_s,
                 warmup_s=args.soak_warmup_s)
        data["soak"] = s
        print(f"soak: {s['calls_done']}/{s['calls']} calls after {s['warmup_calls']} warm-up (aborted {s['aborted']}), "
              f"failed {s['failed']}, growth {s['growth_after_warmup']}, "
              f"exit codes {s['pool_exitcodes']} {s['far_exitcodes']}", flush=True)
    if out.resolve() == (RESULTS / "load.json").resolve():
        path = write_json("load", data)
    else:
        import json

        from lsdlab.audio.io import atomic_path

        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        path = out
    _common.BENCH_MD = md  # update_section writes the file this names
    _common.update_section("load", markdown(data))
    print(f"wrote {path} and the 'load' section of {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
