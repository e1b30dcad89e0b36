"""A Jupyter kernel that started lsdlab's child processes exits on its own when asked to shut
down (lsdlab._kernel), as a kernel that started none does.

On a shutdown request ipykernel signals the children in its process group until none is left.
Before, a kernel that had run corpus workers (the fork server and its resource tracker, which
ignores SIGTERM), a CallPool or a SimulatedFarEnd (their launcher and workers) was never left
without children: Jupyter killed it with SIGTERM 2.5 s later (exit -15; 10 s for the SIP
pools, whose workers printed a SystemExit traceback), its atexit handlers never ran, and the
fork server's pymp-* folder stayed in the temp folder. Each case runs in a real kernel, shut
down as Jupyter does (a request, then SIGTERM after half the wait), with a wait of 20 s so
that a slow machine never reaches the SIGTERM.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _jupyter import kernel_name

pytestmark = [pytest.mark.notebook, pytest.mark.timeout(180)]

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"

CASES = {
    # a kernel runs threads, so corpus workers come from the fork server
    "corpus-workers": """
from lsdlab._workers import map_local, mp_context
assert mp_context().get_start_method() == "forkserver"
assert map_local(math.sqrt, [float(i) for i in range(20)], jobs=2, progress=False, desc="") == [math.sqrt(i) for i in range(20)]
""",
    "callpool": """
from lsdlab.uas import CallPool
pool = CallPool(workers=1, calls_per_worker=1, host="127.0.0.1").start()  # left open
""",
    "simulated-far-end": f"""
from lsdlab.farend import SimulatedFarEnd
far = SimulatedFarEnd({str(DEMO)!r}, workers=1).start()  # left open
""",
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=[pytest.mark.sip] if c != "corpus-workers" else [])
                                  for c in CASES])
def test_kernel_with_lsdlab_children_exits_on_its_own(tmp_path, case):
    from jupyter_client.manager import start_new_kernel

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marker = tmp_path / "atexit-ran"
    with open(tmp_path / "kernel.err", "w") as err:
        km, kc = start_new_kernel(kernel_name=kernel_name(), env={**os.environ, "TMPDIR": str(tmp)}, stderr=err)
    proc = km.provisioner.process
    try:
        code = f"import atexit, math, pathlib\natexit.register(pathlib.Path({str(marker)!r}).write_text, 'ran')\n"
        reply = kc.execute_interactive(code + CASES[case], timeout=120)
        assert reply["content"]["status"] == "ok", reply["content"]
        if case == "corpus-workers":
            assert any(p.name.startswith("pymp-") for p in tmp.iterdir())  # the fork server's folder, for now
    finally:
        kc.stop_channels()
        km.shutdown_wait_time = 20
        km.shutdown_kernel(now=False)
    log = (tmp_path / "kernel.err").read_text()
    assert proc.returncode == 0, (proc.returncode, log[-3000:])
    assert marker.read_text() == "ran"
    assert sorted(p.name for p in tmp.iterdir()) == []
    assert "Traceback" not in log, log[-3000:]


def test_outside_a_kernel_nothing_is_registered():
    from lsdlab import _kernel

    calls: list[int] = []
    assert _kernel.at_kernel_shutdown(lambda: calls.append(1)) is False
    assert _kernel._callbacks == [] and calls == []
    _kernel.cancel_at_kernel_shutdown(print)  # forgetting what was never registered is fine
