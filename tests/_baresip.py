"""baresip (Debian baresip 1.0.0), a softphone nobody here wrote, as a second real SIP peer.

baresip 1.0.0 quirks handled here: modules live in /usr/lib/baresip/modules; auto-answer is
set on the account line; ``aufile`` is a source only (what baresip hears is recorded by the
``sndfile`` filter into ``snd_path``); source WAVs must be 8 kHz mono 16-bit; its stdin must
be a pipe (commands such as DTMF digits and ``/hangup`` are written to it).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lsdlab.audio.io import save_wav

BARESIP = shutil.which("baresip")
MODULES = Path("/usr/lib/baresip/modules")


def why_not() -> str:
    """'' if baresip can run here, else the reason (for pytest's skip)."""
    if BARESIP is None:
        return "baresip is not installed (Debian 'baresip'; scripts/install-sysdeps.sh installs it as root)"
    missing = [m for m in ("g711.so", "aufile.so", "sndfile.so", "stdio.so", "menu.so", "account.so")
               if not (MODULES / m).is_file()]
    if missing:
        return f"baresip modules missing from {MODULES}: {missing}"
    return ""


class Baresip:
    """One baresip process; ``log`` is its output so far, ``uri`` its SIP address."""

    def __init__(self, proc: subprocess.Popen, port: int, rec_dir: Path) -> None:
        self.proc = proc
        self.port = port
        self.uri = f"sip:bare@127.0.0.1:{port}"
        self.rec_dir = rec_dir
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self._lines)

    def send(self, text: str) -> None:
        """Type ``text`` on baresip's console (digits during a call are sent as DTMF)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def wait_for(self, pattern: str, timeout_s: float = 10.0) -> re.Match | None:
        """The first match of ``pattern`` in the log, waiting up to ``timeout_s``."""
        end = time.monotonic() + timeout_s
        while True:
            m = re.search(pattern, self.log)
            if m or time.monotonic() > end:
                return m
            time.sleep(0.05)

    def wait_closed(self, timeout_s: float = 10.0) -> re.Match | None:
        """Wait until the call's SIP session closed (a BYE either way).

        baresip logs ``session closed: ...`` for every call that ends. Its ``Call ... terminated
        (duration: ...)`` summary is no sign: ``print_summary`` in call.c skips calls that
        lasted under a second, as a DTMF test's call can on a fast machine.
        """
        return self.wait_for(r"session closed", timeout_s)

    def recordings(self) -> list[Path]:
        """What baresip heard: the sndfile filter's decoded WAVs (``dump-*-dec.wav``)."""
        return sorted(self.rec_dir.glob("*dec*.wav"))


@contextlib.contextmanager
def baresip(tmp_path: Path, port: int, *, greeting: np.ndarray | None = None,
            answer: bool = True, codecs: str = "PCMA,PCMU") -> Iterator[Baresip]:
    """Run baresip on 127.0.0.1:``port``; auto-answering and playing ``greeting`` (8 kHz float).

    ``codecs``: what baresip offers when it dials (and accepts), in order.
    """
    conf = tmp_path / "baresip"
    rec = conf / "rec"
    rec.mkdir(parents=True, exist_ok=True)
    src = conf / "greeting.wav"
    # baresip hangs up when its source file ends: the default is 20 s of silence
    save_wav(src, np.zeros(8000 * 20, np.float32) if greeting is None else greeting, subtype="PCM_16")
    (conf / "config").write_text("\n".join([
        "poll_method epoll",
        f"sip_listen 127.0.0.1:{port}",
        "net_interface 127.0.0.1",
        f"rtp_ports {30000 + port % 20000}-{30100 + port % 20000}",
        f"audio_source aufile,{src}",
        "audio_player aufile,/dev/null",
        f"module_path {MODULES}",
        "module stdio.so", "module g711.so", "module aufile.so", "module sndfile.so",
        "module account.so", "module menu.so",
        f"snd_path {rec}",
        "",
    ]))
    mode = ";answermode=auto" if answer else ""
    (conf / "accounts").write_text(f"<sip:bare@127.0.0.1:{port}>;regint=0{mode};audio_codecs={codecs}\n")
    proc = subprocess.Popen([BARESIP or "baresip", "-f", str(conf)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=conf)
    b = Baresip(proc, port, rec)
    try:
        if not b.wait_for(r"baresip is ready", 10):
            raise RuntimeError(f"baresip did not start:\n{b.log}")
        yield b
    finally:
        with contextlib.suppress(OSError, ValueError):
            b.send("q\n")
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
