"""CallPool: real calls from worker processes (4 per process) against the simulated far end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lsdlab.audio.io import save_wav
from lsdlab.errors import ParameterError, SipError

pytestmark = [pytest.mark.sip, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parent.parent


def _tone_speech(dur_s: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(8000 * dur_s)) / 8000
    carrier = np.sin(2 * np.pi * 180 * t) + 0.5 * np.sin(2 * np.pi * 360 * t) + 0.1 * rng.standard_normal(len(t))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3.5 * t - np.pi / 2))
    return (0.25 * carrier * env).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("poolcorpus")
    save_wav(root / "short.wav", np.concatenate([np.zeros(2400, np.float32), _tone_speech(1.0, 1)]), subtype="PCM_16")
    save_wav(root / "long.wav", _tone_speech(8.0, 2), subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def far(corpus):
    from lsdlab.farend import SimulatedFarEnd

    f = SimulatedFarEnd(corpus, workers=2)
    f.start()
    try:
        yield f
    finally:
        f.close()
    assert f.exitcodes == [0, 0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"calls_per_worker": 5}, r"'calls_per_worker' parameter of CallPool must be an int in the range \[1, 4\]"),
        ({"workers": 0}, r"'workers' parameter of CallPool"),
        ({"hold": "forever"}, r"'hold' parameter of CallPool"),
        ({"hold": -1.0}, r"'hold' parameter of CallPool"),
        ({"speed": 2}, r"unknown channel option\(s\) \['speed'\]"),
    ],
)
def test_bad_pool_settings(kwargs, match):
    from lsdlab.uas import CallPool

    with pytest.raises(ParameterError, match=match):
        CallPool(**kwargs)


@pytest.mark.parametrize(
    ("job", "match"),
    [
        ((1, 2, 3), r"Job 0 is \(1, 2, 3\)"),
        (("sip:a@127.0.0.1", {"live_speaker": 1}), r"unknown key\(s\) \['live_speaker'\]"),
        (("", {}), r"no 'call_to'"),
    ],
)
def test_bad_jobs_are_refused_before_any_call(job, match):
    from lsdlab.uas import CallPool

    pool = CallPool(workers=1)
    with pytest.raises(ParameterError, match=match):
        pool.run([job], progress=False)
    assert pool.pids == []  # nothing was started


def test_pool_causes_hold_modes_and_frame_stats(far):
    from lsdlab.uas import CallJob, CallPool, Cause, State

    jobs = [
        far.uri(scenario="busy"),
        (far.uri(scenario="reject"), {"seconds_timeout": 10}),
        CallJob(far.uri("short.wav", ring_s=0.1), hold="far_end", tag="wait for the far end"),
        CallJob(far.uri("long.wav", ring_s=0.1), hold=0.6),
        (far.uri("long.wav", ring_s=0.1), {"codecs": "g711u"}),  # pool default hold: 'verdict' -> at once
        ("not a destination", {}),  # refused by start_call inside the worker: the job's error
    ]
    with CallPool(workers=1, calls_per_worker=2, no_answer_timeout_s=5.0) as pool:
        r = pool.run(jobs, progress=False)
        assert len(pool.pids) == 1
    assert pool.exitcodes == [0]
    assert [x.cause for x in r[:2]] == [Cause.BUSY, Cause.REJECTED]
    assert [x.raw_cause for x in r[:2]] == ["486", "603"]
    assert not r[0].answered and r[0].states[0] == State.IDLE and r[0].states[-1] == State.IDLE
    assert all(x.answered and x.cause == Cause.NORMAL and x.error is None for x in r[2:5])
    assert r[5].error.startswith("ParameterError") and "call_to" in r[5].error and r[5].states == ()
    assert r[2].tag == "wait for the far end"
    assert r[4].codec == "g711u" and r[3].codec == "g711a"
    by_id = {c.sip_call_id: c for c in far.wait_for_calls(5, timeout_s=10)}
    assert by_id[r[2].sip_call_id].hung_up_by == "far_end"
    assert by_id[r[3].sip_call_id].hung_up_by == "caller"
    held = r[3].ended_at - r[3].started_at
    assert 0.6 < held < 3.0
    assert r[4].ended_at - r[4].started_at < held
    # frame statistics from the media bridge: ~50 frames/s, gaps measured
    assert r[3].frames >= 25 and 15 < r[3].max_frame_gap_ms < 500 and r[3].frame_gaps_over_60ms >= 0


def test_more_than_four_concurrent_calls(far):
    from lsdlab.uas import CallJob, CallPool

    jobs = [CallJob(far.uri("long.wav", ring_s=0.1), hold=2.5) for _ in range(7)]
    with CallPool(workers=2, calls_per_worker=4) as pool:
        r = pool.run(jobs, progress=False)
    assert pool.exitcodes == [0, 0]
    assert all(x.answered and x.error is None for x in r)
    # the most calls up at the same time (a process alone can hold only 4)
    edges = sorted([(x.started_at, 1) for x in r] + [(x.ended_at, -1) for x in r])
    peak = max(np.cumsum([e for _, e in edges]))
    assert peak >= 6
    assert {x.worker for x in r} == {0, 1}


def test_calls_go_to_a_far_end_worker_with_a_free_slot(far):
    """Long and short calls alternate: a far end spreading calls round-robin over its two
    workers gave the fifth long call to a worker holding 4 calls already (486, a BUSY outcome
    that was really the far end's own limit). Now no call comes back BUSY or refused."""
    from lsdlab.uas import CallJob, CallPool, Cause

    jobs = [CallJob(far.uri("long.wav", ring_s=0.1), hold=3.0 if i % 2 == 0 else "verdict") for i in range(14)]
    with CallPool(workers=2, calls_per_worker=4) as pool:
        r = pool.run(jobs, progress=False)
    assert [x.cause for x in r if x.cause != Cause.NORMAL] == []
    assert all(x.answered and x.error is None for x in r), [(x.raw_cause, x.error) for x in r if x.error or not x.answered]
    st = far.stats()
    assert st["refused"] == 0 and st["max_busy"] <= far.capacity


def test_back_to_back_calls_wait_for_a_free_call_slot(far):
    """Four channels hanging up at the answer and calling again at once. Hung up in the very
    instant of the answer, calls leaked pjsip ioqueue keys and after about 29 calls the worker
    aborted (pj_ioqueue_register_sock2: free_list empty); a call just hung up can also still
    hold its pjsua slot (PJ_ETOOMANY, NOCHANNELS). Every call must come back answered."""
    from lsdlab.uas import CallJob, CallPool, Cause

    jobs = [CallJob(far.uri("short.wav", ring_s=0.0), hold=0.0) for _ in range(60)]
    with CallPool(workers=1, calls_per_worker=4) as pool:
        r = pool.run(jobs, progress=False)
    assert [x.cause for x in r if x.cause != Cause.NORMAL] == []
    assert all(x.answered and x.error is None for x in r)


def test_a_pool_worker_waits_out_the_slots_of_calls_hung_up_on_a_dead_far_end(corpus, far):
    """Issue 15: a pool worker's 4 calls hung up on a far end that is gone (SIGKILL: its BYEs
    are never answered) keep their pjsua call slots for 32 s, until pjsip gives up on the BYEs
    (Timer F). The worker's next 4 calls, to a far end that is up, must wait for the slots and
    be answered; the pool gave up after 30 s with a NOCHANNELS error for every call."""
    import threading

    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallJob, CallPool

    with SimulatedFarEnd(corpus, workers=1) as far1, CallPool(workers=1, calls_per_worker=4) as pool:
        def kill_when_up() -> None:
            end = time.monotonic() + 20
            while far1.stats()["busy"] < 4 and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.5)
            os.kill(far1.pids[0], signal.SIGKILL)

        killer = threading.Thread(target=kill_when_up)
        killer.start()
        r1 = pool.run([CallJob(far1.uri("long.wav", ring_s=0.0), hold=2.5) for _ in range(4)], progress=False)
        killer.join()
        assert all(x.answered for x in r1), r1
        t0 = time.monotonic()
        r2 = pool.run([CallJob(far.uri("short.wav", ring_s=0.0), hold=0.5) for _ in range(4)], progress=False)
        took = time.monotonic() - t0
    assert [(x.answered, x.error) for x in r2] == [(True, None)] * 4, r2
    # they waited for pjsip to give up on the BYEs, 32 s after they were sent, and say so truly
    # (the old retry loop counted only its 50 ms sleeps: 11.2-11.7 s reported for that wait)
    waits = [x.slot_wait_s for x in r2]
    assert all(29.0 < w < 40.0 for w in waits) and took - 4.0 < max(waits) < took, (waits, took)


def test_a_full_far_end_refuses_with_an_error_not_busy(corpus):
    """A far end with every slot taken queues a call for queue_s, then refuses it with 503:
    the pool reports it as an error, never as a BUSY outcome."""
    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallJob, CallPool, Cause

    with SimulatedFarEnd(corpus, workers=1, queue_s=1.0) as far1:
        jobs = [CallJob(far1.uri("long.wav", ring_s=0.1), hold=4.0) for _ in range(5)]
        with CallPool(workers=2, calls_per_worker=4) as pool:
            r = pool.run(jobs, progress=False)
        st = far1.stats()
    assert sum(x.answered for x in r) == 4
    refused = [x for x in r if not x.answered]
    assert len(refused) == 1 and refused[0].cause != Cause.BUSY
    assert refused[0].raw_cause == "503" and refused[0].error.startswith("refused")
    assert st["refused"] == 1 and st["refusals"][0]["sip_call_id"] == refused[0].sip_call_id


SCRIPT = """
import signal, sys, time
from lsdlab.farend import SimulatedFarEnd
from lsdlab.uas import CallJob, CallPool

if __name__ == "__main__":
    # as in a terminal: a shell's background job (CI runners, `cmd &`) starts with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with SimulatedFarEnd(sys.argv[1], workers=1) as far:
        pool = CallPool(workers=2, calls_per_worker=2)
        pool.start()
        print("RUNNING", flush=True)
        jobs = [CallJob(far.uri("long.wav", ring_s=0.1), hold=30.0) for _ in range(6)]
        r = pool.run(jobs, progress=False)
        print("interrupted", pool.interrupted, flush=True)
        print("cancelled", sum(x.error == "cancelled" for x in r), flush=True)
        print("answered", sum(x.answered for x in r), flush=True)
        print("pool_exitcodes", pool.exitcodes, flush=True)
    print("far_exitcodes", far.exitcodes, flush=True)
"""


def test_ctrl_c_shuts_everything_down_cleanly(corpus, tmp_path):
    script = tmp_path / "run_pool.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, str(script), str(corpus)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, start_new_session=True, cwd=REPO)
    try:
        assert p.stdout.readline().strip() == "RUNNING"
        time.sleep(3.0)  # calls are up
        os.killpg(p.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
    assert p.returncode == 0, out + err[-2000:]
    assert "interrupted True" in out, out + err[-2000:]
    assert "pool_exitcodes [0, 0]" in out
    assert "far_exitcodes [0]" in out
    # the 4 calls that were up come back (hung up at once); the 2 never placed are cancelled
    assert "cancelled 2" in out and "answered 4" in out
    assert "Abort" not in err and "Traceback" not in err


_KILLED_PARENT = """
from lsdlab.uas import CallPool
if __name__ == "__main__":
    import threading, time
    pool = CallPool(workers=1).start()
    # calls in progress to a port where nobody answers: the workers are busy when the parent dies
    threading.Thread(target=pool.run, args=(["sip:nobody@127.0.0.1:9"] * 4,), kwargs={"progress": False},
                     daemon=True).start()
    time.sleep(1.0)
    print("READY", *pool.pids, flush=True)
    time.sleep(600)
"""


def test_pool_workers_die_with_a_killed_parent(tmp_path):
    """SIGKILL to the process holding a CallPool: its workers end within 3 s (they used to
    outlive it by ~20 s)."""
    script = tmp_path / "parent.py"
    script.write_text(_KILLED_PARENT)
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        line = p.stdout.readline().split()
        assert line and line[0] == "READY", p.stderr.read()[-2000:] if p.poll() is not None else line
        workers = [int(x) for x in line[1:]]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        end = time.monotonic() + 3.0
        while time.monotonic() < end and any(os.path.exists(f"/proc/{w}") and _state(w) != "Z" for w in workers):
            time.sleep(0.05)
        left = [w for w in workers if os.path.exists(f"/proc/{w}") and _state(w) != "Z"]
        assert not left, f"pool workers {left} outlived their killed parent"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for w in workers:
            with contextlib.suppress(OSError):
                if _state(w) != "Z":
                    os.kill(w, signal.SIGKILL)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_a_killed_pool_worker_loses_no_call(far):
    """SIGKILL to one pool worker while its 4 calls are up: those 4 come back as errors naming
    the worker (none lost, none reported as a call outcome), the other worker's calls and the
    jobs not yet placed complete on it, and the pool stays usable with the worker left."""
    import threading

    from lsdlab.uas import CallJob, CallPool, Cause

    jobs = [CallJob(far.uri("long.wav", ring_s=0.1), hold=2.0, tag=i) for i in range(12)]
    out: dict = {}
    with CallPool(workers=2, calls_per_worker=4) as pool:
        victim = pool.pids[0]
        t = threading.Thread(target=lambda: out.setdefault("r", pool.run(jobs, progress=False)), daemon=True)
        t.start()
        end = time.monotonic() + 30
        while far.stats()["busy"] < 8 and time.monotonic() < end:
            time.sleep(0.05)
        assert far.stats()["busy"] == 8, far.stats()
        time.sleep(0.5)  # answered, audio flowing
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        t.join(60)
        assert not t.is_alive(), "CallPool.run hung after a worker was killed"
        r = out["r"]
        assert pool.dead_workers == [0]
        again = pool.run([CallJob(far.uri("short.wav", ring_s=0.0), hold="verdict") for _ in range(3)], progress=False)
    assert pool.exitcodes == [-signal.SIGKILL, 0]
    assert len(r) == 12 and [x.tag for x in r] == list(range(12))
    lost = [x for x in r if x.error is not None]
    assert len(lost) == 4, [(x.worker, x.error) for x in r]
    for x in lost:
        assert x.worker == 0 and "worker 0 died (exit code -9) during the call" in x.error
        assert not x.answered and x.cause is None  # no outcome is made up for a call nobody saw end
        assert x.ended_at - killed_at < 5.0  # reported at once, not after the other calls
    done = [x for x in r if x.error is None]
    assert all(x.answered and x.cause == Cause.NORMAL and x.worker == 1 for x in done), done
    assert pool.retried == 0  # nothing was handed to worker 0 beyond the 4 calls it had up
    assert all(x.answered and x.error is None and x.worker == 1 for x in again)


_NO_GUARD = """
import sys
from lsdlab.farend import SimulatedFarEnd
from lsdlab.uas import CallJob, CallPool

print("TOP", flush=True)  # printed again by every process that re-imports this script
with SimulatedFarEnd(sys.argv[1], workers=1) as far:
    with CallPool(workers=2, calls_per_worker=2) as pool:
        r = pool.run([CallJob(far.uri("short.wav", ring_s=0.1)) for _ in range(4)], progress=False)
    print("ANSWERED", sum(x.answered and x.error is None for x in r), flush=True)
    print("EXITCODES", pool.exitcodes, flush=True)
"""


def test_pool_in_a_script_without_a_main_guard(corpus, tmp_path):
    """A script with no `if __name__ == "__main__":` guard: the pool's workers used to be
    spawned by multiprocessing, which re-ran the script in each (starting a far end of its own
    there) and failed; they now start from `python -m lsdlab.uas._pool_worker`."""
    script = tmp_path / "no_guard.py"
    script.write_text(_NO_GUARD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, str(script), str(corpus)], capture_output=True, text=True, env=env,
                       timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("TOP") == 1, p.stdout
    assert "ANSWERED 4" in p.stdout and "EXITCODES [0, 0]" in p.stdout, p.stdout + p.stderr[-2000:]


_HANG_UP_AT_ANSWER = """
import sys, threading
from lsdlab import UASCallChannel
from lsdlab.uas import State

uri, n = sys.argv[1], int(sys.argv[2])
chans = [UASCallChannel(name=f"c{k}") for k in range(4)]
done, waited, answered, other = [0], [], [0], {}
lock = threading.Lock()

def loop(ch):
    while True:
        with lock:
            if done[0] >= n:
                return
            done[0] += 1
        st = ch.call(uri, seconds_timeout=10)
        ch.hang_up()  # in the instant of the answer
        ch.wait_for_idle(10)
        with lock:
            answered[0] += st == State.ANSWERED
            if st != State.ANSWERED:
                k = f"{st.name}/{ch.cause().name}/{ch.Details.raw_cause}/{ch.Details.local_reason}"
                other[k] = other.get(k, 0) + 1
            waited.append(getattr(ch.Details, "socket_wait_s", 0.0))

ts = [threading.Thread(target=loop, args=(c,)) for c in chans]
[t.start() for t in ts]
[t.join() for t in ts]
print("ANSWERED", answered[0], "PACED", sum(w > 0 for w in waited), "OTHER", other, flush=True)
"""


def test_calls_hung_up_at_the_answer_never_exhaust_pjlib_sockets(far, tmp_path):
    """4 channels of one process hanging up each call at its answer and calling again at once:
    each call's 2 media sockets stay in pjlib's 64-slot table for 500 ms after the call, and
    the process used to abort after about 29 calls (pj_ioqueue_register_sock2: Assertion
    `!pj_list_empty(&ioqueue->free_list)' failed; exit -6). The endpoint now paces new calls."""
    script = tmp_path / "hang_up_at_answer.py"
    script.write_text(_HANG_UP_AT_ANSWER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, str(script), far.uri("short.wav", ring_s=0.0), "160"], capture_output=True,
                       text=True, env=env, timeout=150)
    assert "free_list" not in p.stderr, p.stderr[-1500:]
    assert p.returncode == 0, p.stderr[-2000:]
    # any call not answered fails here, a 486 too: the 1-3 spurious 486s seen in CI came from the
    # slots of the far end still held by its calls to the pool worker killed in the test above
    # (see test_a_call_the_far_end_hung_up_holds_its_slot_until_the_bye_is_answered)
    assert "ANSWERED 160" in p.stdout, p.stdout + p.stderr[-1500:]


_STOPPABLE_CALLER = """
import sys, threading
from lsdlab import UASCallChannel

uri, n = sys.argv[1], int(sys.argv[2])
# no RTP supervision: stopped, then resumed, it would take the far end's silence for a dead line
chans = [UASCallChannel(name=f"v{k}", rtp_timeout_s=None) for k in range(n)]
ts = [threading.Thread(target=c.call, args=(uri,), kwargs={"seconds_timeout": 10}) for c in chans]
[t.start() for t in ts]
[t.join() for t in ts]
print("UP", *[c.state().name for c in chans], flush=True)
print("IDLE", *[c.wait_for_idle(60) and c.cause().name for c in chans], flush=True)
"""


def test_a_call_the_far_end_hung_up_holds_its_slot_until_the_bye_is_answered(corpus, tmp_path):
    """Issue 15, the spurious 486: pjsua reports a call DISCONNECTED from inside the far end's
    own hangup(), before the BYE goes out, but keeps the call's slot until the caller answers
    the BYE (32 s when it never does: the pool worker killed in the test above). The worker
    told the relay the slot was free at once; the relay routed new calls there and pjsua
    refused them with its own 486 Busy Here. Here the caller is stopped (SIGSTOP) while the far
    end hangs up its 3 calls: the relay must count those 3 slots busy until the caller, resumed,
    answers the BYEs, and 2 new calls must both be answered (the second waits for a slot)."""
    from lsdlab.farend import SimulatedFarEnd
    from lsdlab.uas import CallJob, CallPool, Cause

    script = tmp_path / "stoppable_caller.py"
    script.write_text(_STOPPABLE_CALLER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with SimulatedFarEnd(corpus, workers=1) as far1:
        victim = subprocess.Popen([sys.executable, str(script), far1.uri("short.wav", ring_s=0.0), "3"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert victim.stdout.readline().split() == ["UP", "ANSWERED", "ANSWERED", "ANSWERED"]
            os.kill(victim.pid, signal.SIGSTOP)  # it can no longer answer the far end's BYEs
            ended = far1.wait_for_calls(3, timeout_s=15)
            assert [c.hung_up_by for c in ended] == ["far_end"] * 3, ended
            time.sleep(0.3)
            assert far1.stats()["busy"] == 3, far1.stats()  # was 0: the slots looked free
            with CallPool(workers=1, calls_per_worker=2) as pool:
                r = pool.run([CallJob(far1.uri("short.wav", ring_s=0.0), hold=1.0) for _ in range(2)],
                             progress=False)
            assert [(x.answered, x.cause, x.error) for x in r] == [(True, Cause.NORMAL, None)] * 2, r
            st = far1.stats()
            assert st["queued"] >= 1 and st["max_busy"] <= far1.capacity and st["refused"] == 0, st
            os.kill(victim.pid, signal.SIGCONT)  # answers the BYEs' next retransmission (<= 4 s)
            out, err = victim.communicate(timeout=30)
            assert victim.returncode == 0 and "IDLE NORMAL NORMAL NORMAL" in out, out + err[-2000:]
            end = time.monotonic() + 5.0
            while far1.stats()["busy"] and time.monotonic() < end:
                time.sleep(0.05)
            assert far1.stats()["busy"] == 0, far1.stats()
        finally:
            if victim.poll() is None:
                os.kill(victim.pid, signal.SIGCONT)
                victim.kill()
                victim.communicate(timeout=10)


def _sip_exchange(sock, data: bytes, dest, *, want, timeout_s: float = 5.0) -> list[bytes]:
    """Send ``data``; the SIP messages received until one satisfies ``want`` (or the timeout)."""
    sock.sendto(data, dest)
    got: list[bytes] = []
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            msg, _ = sock.recvfrom(65535)
        except OSError:
            break
        if msg.startswith(b"SIP/2.0"):
            got.append(msg)
            if want(msg):
                break
    return got


def _header(msg: bytes, name: bytes) -> bytes:
    for line in msg.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        if line.split(b":", 1)[0].strip().lower() == name:
            return line.split(b":", 1)[1].strip()
    return b""


def test_a_late_copy_of_an_answered_invite_is_not_a_new_call(far):
    """Issue 15 item 2 (now and then a 486 Busy Here from the far end, no 180 before it): a copy of
    an INVITE that reaches the far end after its call was answered and ended (a caller's
    retransmission fires after 0.5 s without a response on a loaded machine) was relayed to the
    worker, whose pjsua took it for a new call in one of its 4 slots, a slot the relay did not
    count; the next call routed there got pjsua's own 486. The relay now drops such copies."""
    import socket
    import uuid

    uri = far.uri("short.wav", ring_s=0.0)
    relay = (uri.rsplit("@", 1)[1].split(":")[0], int(uri.rsplit(":", 1)[1]))
    sig = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # absorbs the far end's audio
    try:
        sig.bind(("127.0.0.1", 0))
        rtp.bind(("127.0.0.1", 0))
        me, rtp_port = sig.getsockname()[1], rtp.getsockname()[1]
        cid = uuid.uuid4().hex
        sdp = (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {rtp_port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")

        def request(method: str, ruri: str, cseq: int, to_tag: str = "", body: str = "") -> bytes:
            lines = [f"{method} {ruri} SIP/2.0",
                     f"Via: SIP/2.0/UDP 127.0.0.1:{me};rport;branch=z9hG4bK{uuid.uuid4().hex}",
                     "Max-Forwards: 70", f"From: <sip:probe@127.0.0.1:{me}>;tag=probe",
                     f"To: <{uri}>" + (f";tag={to_tag}" if to_tag else ""), f"Call-ID: {cid}",
                     f"CSeq: {cseq} {method}", f"Contact: <sip:probe@127.0.0.1:{me}>"]
            if body:
                lines.append("Content-Type: application/sdp")
            lines += [f"Content-Length: {len(body)}", "", body]
            return "\r\n".join(lines).encode()

        invite = request("INVITE", uri, 1, body=sdp)
        got = _sip_exchange(sig, invite, relay, want=lambda m: m.startswith(b"SIP/2.0 200"))
        assert got and got[-1].startswith(b"SIP/2.0 200"), got
        ok = got[-1]
        to_tag = _header(ok, b"to").split(b"tag=", 1)[1].split(b";")[0].decode()
        contact = _header(ok, b"contact").decode().strip("<>").split(">")[0]
        worker = ("127.0.0.1", int(contact.rsplit(":", 1)[1].split(";")[0]))
        sig.sendto(request("ACK", contact, 1, to_tag), worker)
        got = _sip_exchange(sig, request("BYE", contact, 2, to_tag), worker,
                            want=lambda m: m.startswith(b"SIP/2.0 200") and b"BYE" in _header(m, b"cseq"))
        assert got and b"BYE" in _header(got[-1], b"cseq"), got
        assert far.call_by_id(cid).connected
        # the late copy of the INVITE: nothing may answer it (the old relay passed it on and the
        # worker rang and answered it as a second call, from a slot the relay did not count)
        late = _sip_exchange(sig, invite, relay, want=lambda m: False, timeout_s=1.5)
        assert not late, [m.split(b"\r\n", 1)[0] for m in late]
        assert far.stats()["late_invites_dropped"] == 1
        # a copy the relay passed on before the answer (the worker was slow) reaches the worker
        # after it: refused at once (482), never rung, answered or counted as a call
        got = _sip_exchange(sig, invite, worker, want=lambda m: int(m.split(b" ", 2)[1]) >= 200)
        codes = [int(m.split(b" ", 2)[1]) for m in got]
        assert codes and codes[-1] == 482 and 180 not in codes and 200 not in codes, codes
        time.sleep(0.3)
        assert [c.sip_call_id for c in far.calls()].count(cid) == 1
    finally:
        sig.close()
        rtp.close()


def test_a_second_run_at_the_same_time_is_refused(far):
    """CallPool.run from two threads at once used to share the workers' messages: each run
    took the other's results (and one of them closed sockets the other still read). The
    second run now fails at once with a clear error; the first one is unharmed."""
    import threading

    from lsdlab.uas import CallJob, CallPool

    with CallPool(workers=1) as pool:
        out: dict = {}
        t = threading.Thread(target=lambda: out.setdefault("r", pool.run(
            [CallJob(far.uri("long.wav", ring_s=0.0), hold=2.0) for _ in range(2)], progress=False)), daemon=True)
        t.start()
        time.sleep(0.5)
        with pytest.raises(SipError, match="already running in another thread.*one CallPool per thread"):
            pool.run([far.uri("short.wav")], progress=False)
        t.join(30)
        again = pool.run([CallJob(far.uri("short.wav", ring_s=0.0))], progress=False)
    assert [x.answered and x.error is None for x in out["r"]] == [True, True]
    assert again[0].answered and again[0].error is None
    assert pool.exitcodes == [0]
