"""Real SIP calls on loopback: verdict agreement with the offline path, concurrency, set-up time.

Run: ``.venv/bin/python benchmarks/bench_sip.py [--quick] [--update-md]``

(a) every call of corpora/demo placed through :class:`lsdlab.uas.CallPool` against a
    :class:`lsdlab.farend.SimulatedFarEnd` (both with worker processes), playing each
    recording as it is; the LSD verdict of each call is compared with the offline verdict
    (``OfflineFarEnd(channel=None)``, same settings), including decision-time differences.
(b) a ramp of concurrent calls with LSD running (8 ... 48): frame gaps of the far end's
    audio as it reaches the media bridge, CPU per call (from /proc, caller and far end
    processes separately) and verdict agreement.
(c) call set-up time on loopback (INVITE sent to 200 OK), one call at a time.

Prints Markdown lines for BENCHMARKS.md (``--update-md`` writes its ``sip`` section) and
writes the full results to benchmarks/results/bench_sip.json. The machine has 2 cores shared
with other work: the load average is recorded with every figure.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import ROOT, command, update_section, write_json  # noqa: E402

DEMO = ROOT / "corpora" / "demo"
TOL_S = 0.06
_TICK = os.sysconf("SC_CLK_TCK")


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _cpu_s(pids: list[int]) -> float:
    """utime + stime of the processes, in seconds (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / _TICK


def _pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs, dtype=float), q)) if len(xs) else float("nan")


def _settings():
    from lsdlab.detect import DetectorSettings, TimerMode

    return DetectorSettings(timeout_ms=7000, timer_mode=TimerMode.TIMEOUT_FROM_NETWORK_CONNECT)


def offline_reference(calls) -> dict:
    from lsdlab.detect import classify
    from lsdlab.farend import OfflineFarEnd

    far = OfflineFarEnd(DEMO, channel=None)
    s = _settings()
    out = {}
    for c in calls:
        v = classify(far.audio(c.path), 8000, s)
        out[c.path] = {"far_end_type": v.far_end_type.name, "reason": v.reason.name, "decided_at_s": v.decided_at_s}
    return out


def compare(paths, results, ref) -> dict:
    same, same_reason, diffs, diffs_no_hangup, mismatches, errors = 0, 0, [], [], [], []
    starts, corrected = [], []  # each call's audio start delay; decision-time differences less it
    for p, r in zip(paths, results):
        if r.error or not r.answered:
            errors.append({"path": p, "error": r.error, "cause": r.cause.name if r.cause else None})
            continue
        o = ref[p]
        ok = r.far_end_type.name == o["far_end_type"]
        same += ok
        same_reason += ok and r.lsd_reason is not None and r.lsd_reason.name == o["reason"]
        if not ok:
            mismatches.append({"path": p, "sip": [r.far_end_type.name, r.lsd_reason.name if r.lsd_reason else None,
                                                  r.lsd_decided_at_s], "offline": [o["far_end_type"], o["reason"], o["decided_at_s"]]})
        elif r.lsd_decided_at_s is not None:
            d = (r.lsd_decided_at_s - o["decided_at_s"]) * 1000.0
            diffs.append(d)
            if o["reason"] != "HANGUP":
                diffs_no_hangup.append(d)
                if r.audio_start_ms is not None:
                    starts.append(r.audio_start_ms)
                    corrected.append(d - r.audio_start_ms)
    n = len(paths)
    ad = np.abs(diffs_no_hangup)
    return {
        "calls": n, "errors": errors, "same_verdict": same, "same_verdict_rate": same / n if n else float("nan"),
        "same_reason": int(same_reason), "mismatches": mismatches,
        "dt_ms_all": {"p50": _pct(diffs, 50), "p95": _pct(np.abs(diffs), 95), "max_abs": float(np.max(np.abs(diffs))) if diffs else None},
        "dt_ms_no_hangup": {
            "n": len(diffs_no_hangup), "mean": float(np.mean(diffs_no_hangup)) if diffs_no_hangup else None,
            "p5": _pct(diffs_no_hangup, 5), "p50": _pct(diffs_no_hangup, 50), "p95": _pct(diffs_no_hangup, 95),
            "max_abs": float(ad.max()) if len(ad) else None,
            "within_60ms_rate": float(np.mean(ad <= TOL_S * 1000)) if len(ad) else None,
            "histogram_ms": {f"{lo}..{lo + 20}": int(np.sum((np.asarray(diffs_no_hangup) >= lo) & (np.asarray(diffs_no_hangup) < lo + 20)))
                             for lo in range(-40, 120, 20)},
        },
        "audio_start_ms": {"p50": _pct(starts, 50), "p95": _pct(starts, 95), "max": float(max(starts)) if starts else None},
        "dt_ms_less_audio_start": {
            "n": len(corrected), "p5": _pct(corrected, 5), "p50": _pct(corrected, 50), "p95": _pct(corrected, 95),
            "within_60ms_rate": float(np.mean(np.abs(corrected) <= TOL_S * 1000)) if corrected else None,
        },
        "hangup_verdicts": sum(1 for p in paths if ref[p]["reason"] == "HANGUP"),
    }


def bench_agreement(calls, ref, *, workers: int, progress: bool) -> dict:
    import soundfile as sf

    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallPool, LiveSpeakerDetectionSettings

    t0 = time.monotonic()
    load0 = _loadavg()
    # Offer the codec a recording was coded with (mu-law files over PCMU, A-law over PCMA), so
    # the call carries exactly the samples the offline path reads; only timing differs.
    codecs = {c.path: ("g711u;g711a" if sf.info(str(DEMO / c.path)).subtype == "ULAW" else "g711a;g711u")
              for c in calls}
    retried = 0
    # the far end's workers are picked round-robin when a URI is made, not by load: twice
    # as many far-end workers as calls in flight/4, and calls refused as busy (a worker's
    # 4 call slots full: 486) are placed again
    with SimulatedFarEnd(DEMO, workers=2 * workers) as far:
        def job(c):
            return (far.uri(c.path, ring_s=0.1), {"live_speaker_detect": LiveSpeakerDetectionSettings.DEFAULT,
                                                  "lsd_timeout_milliseconds": 7000, "codecs": codecs[c.path]})

        with CallPool(workers=workers, calls_per_worker=4, no_answer_timeout_s=20.0) as pool:
            res = pool.run([job(c) for c in calls], progress=progress, desc="agreement")
            for _ in range(3):
                again = [i for i, r in enumerate(res) if r.raw_cause == "486"]
                if not again:
                    break
                retried += len(again)
                for i, r in zip(again, pool.run([job(calls[i]) for i in again], progress=False)):
                    res[i] = r
    out = compare([c.path for c in calls], res, ref)
    out.update(wall_s=time.monotonic() - t0, concurrent=workers * 4, loadavg=[load0, _loadavg()], busy_retries=retried,
               max_frame_gap_ms=max((r.max_frame_gap_ms for r in res), default=0.0),
               pool_exitcodes=pool.exitcodes, far_exitcodes=far.exitcodes)
    return out


def bench_concurrency(n: int, calls, ref, *, hold_s: float, progress: bool) -> dict:
    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallJob, CallPool, LiveSpeakerDetectionSettings

    workers = math.ceil(n / 4)
    picks = [calls[i % len(calls)] for i in range(n)]
    with SimulatedFarEnd(DEMO, workers=workers, after="silence") as far:
        far_pids = far.pids
        jobs = [CallJob(far.uri(c.path, ring_s=0.1), {"live_speaker_detect": LiveSpeakerDetectionSettings.DEFAULT,
                                                      "lsd_timeout_milliseconds": 7000}, hold=hold_s) for c in picks]
        with CallPool(workers=workers, calls_per_worker=4, no_answer_timeout_s=30.0) as pool:
            time.sleep(1.0)  # let start-up work (imports) settle before measuring
            pool_pids = pool.pids
            c0, f0, t0, load0 = _cpu_s(pool_pids), _cpu_s(far_pids), time.monotonic(), _loadavg()
            res = pool.run(jobs, progress=progress, desc=f"{n} concurrent")
            c1, f1, t1, load1 = _cpu_s(pool_pids), _cpu_s(far_pids), time.monotonic(), _loadavg()
    ok = [r for r in res if r.answered and not r.error]
    edges = sorted([(r.started_at, 1) for r in ok] + [(r.ended_at, -1) for r in ok])
    peak = int(max(np.cumsum([e for _, e in edges]))) if edges else 0
    call_s = sum(r.ended_at - r.started_at for r in ok)
    frames = sum(r.frames for r in ok)
    gaps = sum(r.frame_gaps_over_60ms for r in ok)
    cmp = compare([c.path for c in picks], res, ref)
    return {
        "calls": n, "answered": len(ok), "peak_concurrent": peak, "errors": [r.error for r in res if r.error],
        "max_frame_gap_ms": max((r.max_frame_gap_ms for r in ok), default=None),
        "p95_call_max_gap_ms": _pct([r.max_frame_gap_ms for r in ok], 95),
        "gaps_over_60ms": gaps, "frames": frames, "gaps_over_60ms_share": gaps / frames if frames else None,
        "empty_frames": sum(r.empty_frames for r in ok),
        "max_frame_lag_ms": max((r.max_frame_lag_ms for r in ok), default=None),
        "caller_cpu_s": c1 - c0, "farend_cpu_s": f1 - f0, "call_seconds": call_s, "wall_s": t1 - t0,
        "caller_cpu_pct_of_core_per_call": 100.0 * (c1 - c0) / call_s if call_s else None,
        "farend_cpu_pct_of_core_per_call": 100.0 * (f1 - f0) / call_s if call_s else None,
        "total_cpu_pct_of_machine": 100.0 * ((c1 - c0) + (f1 - f0)) / ((t1 - t0) * (os.cpu_count() or 1)),
        "same_verdict": cmp["same_verdict"], "same_verdict_rate": cmp["same_verdict_rate"],
        "dt_ms_max_abs": cmp["dt_ms_no_hangup"]["max_abs"],
        "loadavg": [load0, load1], "pool_exitcodes": pool.exitcodes, "far_exitcodes": far.exitcodes,
    }


def bench_setup(calls, n: int, *, progress: bool) -> dict:
    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallJob, CallPool

    with SimulatedFarEnd(DEMO, workers=1) as far:
        jobs = [CallJob(far.uri(calls[i % len(calls)].path, ring_s=0.0), {}, hold="verdict") for i in range(n)]
        with CallPool(workers=1, calls_per_worker=1) as pool:
            load0 = _loadavg()
            res = pool.run(jobs, progress=progress, desc="set-up")
    s = [r.setup_s * 1000.0 for r in res if r.setup_s is not None]
    return {"calls": n, "measured": len(s), "p50_ms": _pct(s, 50), "p95_ms": _pct(s, 95), "max_ms": max(s) if s else None,
            "loadavg": [load0, _loadavg()]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a subset of the corpus, ramp 8 and 16 only")
    ap.add_argument("--ramp", default=None, help="comma-separated concurrency steps (default 8,16,24,32,40,48)")
    ap.add_argument("--hold", type=float, default=8.0, help="seconds each ramp call is held after its answer")
    ap.add_argument("--update-md", action="store_true", help="write the 'sip' section of BENCHMARKS.md")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    progress = not args.no_progress
    from lsdlab.corpus import load

    t_start = time.monotonic()
    corpus = load(DEMO)
    calls = list(corpus.calls)
    if args.quick:
        calls = calls[::8]
    ramp = [int(x) for x in args.ramp.split(",")] if args.ramp else ([8, 16] if args.quick else [8, 16, 24, 32, 40, 48])
    print(f"offline reference for {len(calls)} calls ...", flush=True)
    ref = offline_reference(calls)
    agreement = bench_agreement(calls, ref, workers=3, progress=progress)
    ref_after = offline_reference(calls)
    changed = [p for p in ref if ref[p] != ref_after[p]]
    if changed:
        print(f"WARNING: the offline verdicts of {len(changed)} calls changed during the run "
              f"(the detector or corpus was edited meanwhile); figures are not reliable.", flush=True)
    machines = [c for c in calls if c.label.value == "machine"] or calls
    ramp_out = [bench_concurrency(n, machines, ref, hold_s=args.hold, progress=progress) for n in ramp]
    setup = bench_setup(calls, 10 if args.quick else 40, progress=progress)
    data = {"command": command(), "date": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": args.quick,
            "cpu_count": os.cpu_count(), "agreement": agreement, "offline_changed_during_run": changed,
            "ramp": ramp_out, "setup": setup, "wall_s": time.monotonic() - t_start}
    path = write_json("bench_sip_quick" if args.quick else "bench_sip", data)

    a, dt = agreement, agreement["dt_ms_no_hangup"]
    st, dc = agreement["audio_start_ms"], agreement["dt_ms_less_audio_start"]
    lines = [
        "## Real SIP calls on loopback: agreement with the offline path, concurrency, set-up time",
        "",
        f"Command: `{command()}` (run {data['date'][:10]}, {data['wall_s']:.0f} s, {os.cpu_count()} cores shared "
        f"with other work; load average {a['loadavg'][0]:.1f} at the start). Results: `{path.relative_to(ROOT)}`.",
        "",
        f"- Verdicts SIP vs offline, {a['calls']} demo calls via CallPool (3 workers x 4 calls) against "
        f"SimulatedFarEnd (6 workers), recordings as they are, each over the G.711 law it was coded in: **{100 * a['same_verdict_rate']:.1f}%** same "
        f"far-end type ({a['same_verdict']}/{a['calls']}; same reason {a['same_reason']}); "
        f"{len(a['errors'])} calls failed.",
        f"- Decision time SIP - offline ({dt['n']} calls decided before the recording ended): mean "
        f"{dt['mean']:.0f} ms, p5 {dt['p5']:.0f}, p50 {dt['p50']:.0f}, p95 {dt['p95']:.0f}, max |diff| "
        f"{dt['max_abs']:.0f} ms; **{100 * dt['within_60ms_rate']:.1f}%** within 60 ms. "
        f"({a['hangup_verdicts']} calls end before a decision (HANGUP verdict): over SIP the far end hangs up "
        f"0.2 s after its last frame, so those times differ by that much.)"
        if dt["n"] else "- no decision times to compare",
        (f"- Part of that difference is when the far end's audio started (`audio_start_ms`, connect to the first "
         f"frame that is not digital silence: p50 {st['p50']:.0f} ms, p95 {st['p95']:.0f}, max {st['max']:.0f}). Less each "
         f"call's own start delay: p5 {dc['p5']:.0f}, p50 {dc['p50']:.0f}, p95 {dc['p95']:.0f} ms; "
         f"**{100 * dc['within_60ms_rate']:.1f}%** within 60 ms."
         if dc["n"] else ""),
        "",
        "| concurrent calls (LSD on) | peak up at once | max frame gap (ms) | gaps > 60 ms (share of frames) | "
        "max detector lag (ms) | caller CPU per call (% of a core) | far-end CPU per call (% of a core) | "
        "machine CPU busy | same verdict | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ramp_out:
        lines.append(
            f"| {r['calls']} | {r['peak_concurrent']} | {r['max_frame_gap_ms']} | {r['gaps_over_60ms']} "
            f"({100 * (r['gaps_over_60ms_share'] or 0):.3f}%) | {r['max_frame_lag_ms']} | "
            f"{r['caller_cpu_pct_of_core_per_call']:.2f} | {r['farend_cpu_pct_of_core_per_call']:.2f} | "
            f"{r['total_cpu_pct_of_machine']:.0f}% | {r['same_verdict']}/{r['calls']} | "
            f"{r['loadavg'][0]:.1f} -> {r['loadavg'][1]:.1f} |")
    lines += [
        "",
        f"Call set-up on loopback (INVITE sent to 200 OK, far end answers at once, {setup['measured']} calls "
        f"one at a time): p50 **{setup['p50_ms']:.1f} ms**, p95 {setup['p95_ms']:.1f} ms, max {setup['max_ms']:.1f} ms.",
    ]
    if changed:
        lines.append(f"\nWARNING: {len(changed)} offline verdicts changed during the run (code edited meanwhile).")
    md = "\n".join(lines)
    print("\n" + md + "\n")
    if args.update_md:
        update_section("sip", md)
        print("BENCHMARKS.md section 'sip' updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
