"""The Jupyter kernel the tests run notebooks and kernel checks in."""

from __future__ import annotations

import subprocess


def kernel_name() -> str:
    """The project's "lsdlab" kernelspec (``make kernel``) when it runs an interpreter that has
    lsdlab, else ``python3`` (run by this interpreter)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("lsdlab")
    except NoSuchKernel:
        return "python3"
    # the kernelspec must run an interpreter that has lsdlab (a stale one from another clone would not)
    exe = spec.argv[0]
    ok = subprocess.run([exe, "-c", "import lsdlab"], capture_output=True).returncode == 0
    return "lsdlab" if ok else "python3"
