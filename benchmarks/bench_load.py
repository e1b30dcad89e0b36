"""Load: N real calls at concurrency C through CallPool to SimulatedFarEnd, and a soak.

Run: ``.venv/bin/python benchmarks/bench_load.py [--calls 400] [--concurrency 40] [--repeats 3]
[--soak-calls 2000] [--no-soak]``

(a) ``--calls`` calls of corpora/demo (cycled), ``--concurrency`` at once, LSD on, each call
    hung up at its verdict, repeated ``--repeats`` times, each repeat with a fresh far end and
    pool: every call must come back answered with a verdict, or as an error with its cause.
    Counted: BUSY, NOCHANNELS and other causes, errors by kind, worker crashes (exit codes of
    the pool's and the far end's workers), jobs placed again after a worker died, far-end
    refusals (503) and queueing, verdict agreement with the offline path (same settings,
    ``OfflineFarEnd(channel=None)``), frame gaps, start-up times.
(b) a soak: ``--soak-calls`` short calls in a row (answer, 0.2 s, hang up; no LSD) through one
    pool and one far end, in chunks; memory (RSS), threads, file descriptors and sockets of
    every worker process measured after a warm-up chunk and after each chunk.

Traffic goes to 127.0.0.1 only. Writes benchmarks/results/load.json (``--out`` to change).
The machine has 2 cores shared with other work: the load average is recorded.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import RESULTS, ROOT, command, write_json  # noqa: E402

DEMO = ROOT / "corpora" / "demo"


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


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


def load_run(calls, ref, codecs, *, n: int, concurrency: int, progress: bool) -> dict:
    from bench_sip import compare

    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallPool, Cause, LiveSpeakerDetectionSettings

    workers = math.ceil(concurrency / 4)
    per_worker = math.ceil(concurrency / workers)
    picks = [calls[i % len(calls)] for i in range(n)]
    load0 = _loadavg()
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
            t2 = time.monotonic()
            res = pool.run(jobs, progress=progress, desc=f"{n} calls at {concurrency}")
            wall = time.monotonic() - t2
            retried = pool.retried
        finally:
            pool.close()
        far_stats = far.stats()
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
    return {
        "calls": n, "concurrency": concurrency, "pool_workers": workers, "calls_per_worker": per_worker,
        "far_workers": workers, "far_capacity": far.capacity,
        "answered_and_verdicted": len(verdicted), "errors": len([r for r in res if r.error]),
        "errors_by_kind": dict(errors), "error_samples": [r.error for r in res if r.error][:5],
        "not_verdicted_without_error": unaccounted,
        "causes": dict(causes), "busy": causes.get(Cause.BUSY.name, 0), "nochannels": causes.get(Cause.NOCHANNELS.name, 0),
        "slot_waits": sum(r.slot_wait_s > 0 for r in res), "slot_wait_s_max": max((r.slot_wait_s for r in res), default=0),
        "pool_exitcodes": pool.exitcodes, "far_exitcodes": far.exitcodes,
        "worker_crashes": sum(1 for c in [*pool.exitcodes, *far.exitcodes] if c not in (0, None)),
        "jobs_placed_again": retried, "far_end": {k: v for k, v in far_stats.items() if k != "refusals"},
        "same_verdict": cmp["same_verdict"], "same_verdict_rate": cmp["same_verdict_rate"],
        "mismatches": cmp["mismatches"][:10], "dt_ms_no_hangup": cmp["dt_ms_no_hangup"],
        "frames": frames, "frame_gaps_over_60ms": gaps, "gaps_over_60ms_share": gaps / frames if frames else None,
        "max_frame_gap_ms": max((r.max_frame_gap_ms for r in ok), default=None),
        "p95_call_max_gap_ms": _pct([r.max_frame_gap_ms for r in ok], 95),
        "max_frame_lag_ms": max((r.max_frame_lag_ms for r in ok), default=None),
        "far_start_s": round(far_start_s, 2), "pool_start_s": round(pool_start_s, 2), "wall_s": round(wall, 1),
        "calls_per_s": round(n / wall, 2) if wall else None, "loadavg": [load0, _loadavg()],
    }


def soak(calls, *, n: int, concurrency: int, chunk: int, progress: bool) -> dict:
    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallJob, CallPool

    workers = math.ceil(concurrency / 4)
    per_worker = math.ceil(concurrency / workers)
    # a fixed set of 20 recordings, so that the warm-up fills the far end's render cache and
    # growth after it means a leak, not the cache filling up (bounded by cache_mb per worker)
    few = calls[:20]
    picks = [few[i % len(few)] for i in range(n + chunk)]
    rows = []
    bad: Counter = Counter()
    slot_waits = 0
    load0 = _loadavg()
    t0 = time.monotonic()
    with SimulatedFarEnd(DEMO, workers=workers) as far, \
            CallPool(workers=workers, calls_per_worker=per_worker, no_answer_timeout_s=20.0) as pool:
        jobs = [CallJob(far.uri(c.path, ring_s=0.0), {}, hold=0.2) for c in picks]
        done = 0
        for k in range(0, len(jobs), chunk):
            res = pool.run(jobs[k:k + chunk], progress=progress, desc=f"soak {k + chunk}/{len(jobs)}")
            done += len(res)
            for r in res:
                slot_waits += r.slot_wait_s > 0
                if r.error or not r.answered:
                    bad[(r.error or (r.cause.name if r.cause else "?")).split(":")[0]] += 1
            time.sleep(1.0)  # let the last calls' ports and threads settle before measuring
            rows.append({"calls_done": done, "warmup": k == 0, "pool": _totals(pool.pids), "far_end": _totals(far.pids)})
        far_stats = far.stats()
    base, last = rows[0], rows[-1]
    growth = {side: {k: round(last[side][k] - base[side][k], 1) for k in ("rss_mib", "threads", "fds", "sockets")}
              for side in ("pool", "far_end")}
    return {"calls": n, "warmup_calls": chunk, "concurrency": concurrency, "chunk": chunk, "failed": dict(bad),
            "calls_that_waited_for_a_call_slot": slot_waits,
            "growth_after_warmup": growth, "samples": rows, "pool_exitcodes": pool.exitcodes,
            "far_exitcodes": far.exitcodes, "far_end": {k: v for k, v in far_stats.items() if k != "refusals"},
            "wall_s": round(time.monotonic() - t0, 1), "loadavg": [load0, _loadavg()]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=400, help="calls per repeat (default 400)")
    ap.add_argument("--concurrency", type=int, default=40, help="calls at once (default 40; 4 per worker process)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the load run (default 3)")
    ap.add_argument("--soak-calls", type=int, default=2000, help="calls in a row in the soak (default 2000)")
    ap.add_argument("--soak-concurrency", type=int, default=None, help="calls at once in the soak (default --concurrency)")
    ap.add_argument("--soak-chunk", type=int, default=200, help="calls between two measurements (default 200)")
    ap.add_argument("--no-soak", action="store_true", help="skip the soak")
    ap.add_argument("--out", default=str(RESULTS / "load.json"), help="results JSON (default benchmarks/results/load.json)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    for name, lo, hi in (("calls", 1, 100000), ("concurrency", 1, 400), ("repeats", 1, 100), ("soak_calls", 1, 1000000),
                         ("soak_chunk", 1, 100000)):
        v = getattr(args, name)
        if not lo <= v <= hi:
            ap.error(f"--{name.replace('_', '-')} must be in [{lo}, {hi}]; got {v}")
    out = Path(args.out)
    if not out.parent.is_dir():
        ap.error(f"--out {out}: folder {out.parent} does not exist")
    from bench_sip import offline_reference

    from lsdlab.corpus import load

    calls = list(load(DEMO).calls)
    ref = offline_reference(calls)
    codecs = _codecs(calls)
    progress = not args.no_progress
    data: dict = {"command": command(), "cpus": os.cpu_count(), "runs": []}
    for i in range(args.repeats):
        r = load_run(calls, ref, codecs, n=args.calls, concurrency=args.concurrency, progress=progress)
        data["runs"].append(r)
        print(f"run {i + 1}: {r['answered_and_verdicted']}/{r['calls']} answered and verdicted, errors {r['errors_by_kind']}, "
              f"BUSY {r['busy']}, NOCHANNELS {r['nochannels']}, crashes {r['worker_crashes']}, "
              f"same verdict {r['same_verdict']}/{r['calls']}, gaps>60ms {r['frame_gaps_over_60ms']}/{r['frames']}, "
              f"max gap {r['max_frame_gap_ms']} ms, far start {r['far_start_s']} s, load {r['loadavg']}", flush=True)
    if not args.no_soak:
        s = soak(calls, n=args.soak_calls, concurrency=args.soak_concurrency or args.concurrency,
                 chunk=min(args.soak_chunk, args.soak_calls), progress=progress)
        data["soak"] = s
        print(f"soak: {s['calls']} calls after {s['warmup_calls']} warm-up, failed {s['failed']}, growth {s['growth_after_warmup']}, "
              f"exit codes {s['pool_exitcodes']} {s['far_exitcodes']}", flush=True)
    if out.resolve() == (RESULTS / "load.json").resolve():
        path = write_json("load", data)
    else:
        import json

        from lsdlab.audio.io import atomic_path

        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        path = out
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
