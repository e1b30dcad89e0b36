"""One definition of what the simulated far end does, shared by the offline and SIP paths.

A :class:`Scenario` says how the far end answers (or does not), what it plays from the
moment the call connects, and through what telephone channel. :func:`render` produces the
far-end audio from connect exactly as both paths send it, so the offline path and a SIP
call carry the same samples (up to the network).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from .._validation import check_choice, check_real_range
from ..audio.channel import ChannelSettings, TelephoneChannel
from ..audio.io import SR, load
from ..audio.tones import RINGBACK, ringback
from ..errors import ParameterError

__all__ = ["Scenario", "KINDS", "SIP_FAILURES", "render", "parse_uri_user", "scenario_for_call"]

#: Far-end behaviours. Recording kinds answer and play; the others fail the call.
KINDS = (
    "recording",  # ring ring_s, answer (200), play the recording
    "ring_then_answer",  # same, with a longer ring_s by default
    "early_ringback",  # 183 + ringback as early media, answer, in-band ringback, then the recording
    "busy",  # 486 Busy Here
    "reject",  # 603 Decline
    "unavailable",  # 480 Temporarily Unavailable
    "no_answer",  # 180 and ring forever (the caller's timer ends it)
)
#: SIP final responses of the failing kinds.
SIP_FAILURES = {"busy": 486, "reject": 603, "unavailable": 480}


@dataclass(frozen=True)
class Scenario:
    """What the far end does on one call.

    kind: one of :data:`KINDS`. path: the corpus recording (manifest path) for the answering
    kinds. ring_s: ringing before the answer. ringback_s: in-band ringback after connect and
    before the recording (networks that connect early; exercises TIMEOUT_FROM_ANSWER_DETECT).
    after: 'hangup' (as machines do) or 'silence' (stay on the line silent) when the recording
    ends. channel: telephone impairments. seed: for the channel's noise and loss.
    """

    kind: str = "recording"
    path: str | None = None
    ring_s: float = 0.0
    ringback_s: float = 0.0
    ringback_country: str = "US"
    lead_in_s: float = 0.0
    after: str = "hangup"
    silence_after_s: float = 30.0
    channel: ChannelSettings = field(default_factory=ChannelSettings)
    seed: int = 0

    def __post_init__(self) -> None:
        owner = "Scenario"
        check_choice(self.kind, "kind", owner, KINDS)
        check_choice(self.after, "after", owner, ("hangup", "silence"))
        check_choice(self.ringback_country, "ringback_country", owner, tuple(RINGBACK))
        check_real_range(self.ring_s, "ring_s", owner, 0.0, 300.0)
        check_real_range(self.ringback_s, "ringback_s", owner, 0.0, 60.0)
        check_real_range(self.lead_in_s, "lead_in_s", owner, 0.0, 30.0)
        check_real_range(self.silence_after_s, "silence_after_s", owner, 0.0, 3600.0)
        if self.kind in ("recording", "ring_then_answer", "early_ringback") and not self.path:
            raise ParameterError(
                f"A {self.kind!r} scenario needs 'path', the recording to play (a manifest path)."
            )
        if self.kind == "early_ringback" and self.ringback_s == 0.0:
            object.__setattr__(self, "ringback_s", 4.0)

    @property
    def answers(self) -> bool:
        return self.kind in ("recording", "ring_then_answer", "early_ringback")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel"] = self.channel.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Scenario:
        d = dict(d)
        if isinstance(d.get("channel"), dict):
            d["channel"] = ChannelSettings(**d["channel"])
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(f"Unknown Scenario key(s) {sorted(unknown)}; known: {sorted(known)}.")
        return cls(**d)

    def to_uri_user(self) -> str:
        """Encode as the user part of a SIP URI (URL-quoted JSON-free key=value pairs)."""
        items = [f"kind={self.kind}"]
        if self.path:
            items.append("path=" + quote(self.path, safe=""))
        for k in ("ring_s", "ringback_s", "ringback_country", "lead_in_s", "after", "seed"):
            items.append(f"{k}={getattr(self, k)}")
        c = self.channel
        items += [f"codec={c.codec}", f"noise_dbfs={c.noise_dbfs}", f"packet_loss={c.packet_loss}",
                  f"level_dbfs={c.level_dbfs}"]
        return quote(";".join(items), safe="")

    def with_(self, **changes) -> Scenario:
        return replace(self, **changes)


def parse_uri_user(user: str) -> Scenario:
    """Inverse of :meth:`Scenario.to_uri_user`."""
    raw = unquote(user)
    kv: dict[str, str] = {}
    for item in raw.split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            kv[k] = unquote(v)

    def num(v: str) -> float | None:
        return None if v in ("None", "") else float(v)

    ch = ChannelSettings(
        codec=kv.get("codec", "alaw"),
        noise_dbfs=num(kv.get("noise_dbfs", "-65.0")),
        packet_loss=float(kv.get("packet_loss", 0.0)),
        level_dbfs=num(kv.get("level_dbfs", "None")),
    )
    return Scenario(
        kind=kv.get("kind", "recording"),
        path=kv.get("path") or None,
        ring_s=float(kv.get("ring_s", 0.0)),
        ringback_s=float(kv.get("ringback_s", 0.0)),
        ringback_country=kv.get("ringback_country", "US"),
        lead_in_s=float(kv.get("lead_in_s", 0.0)),
        after=kv.get("after", "hangup"),
        seed=int(kv.get("seed", 0)),
        channel=ch,
    )


def render(scenario: Scenario, corpus_root: str | os.PathLike, *, channel: bool = True,
           tail: bool = False) -> np.ndarray:
    """The far end's audio from connect, 8 kHz float32, as both far-end paths send it.

    In-band ringback (``ringback_s``) comes first, then the recording; the channel model
    (impairments of ``scenario.channel``) is applied when ``channel`` is true. Trailing
    silence for ``after='silence'`` is included only with ``tail=True`` (``silence_after_s``
    of it; the SIP far end keeps sending silence itself).
    """
    if not scenario.answers:
        raise ParameterError(f"Scenario kind {scenario.kind!r} does not answer, so it has no audio.")
    assert scenario.path is not None
    y, _ = load(Path(corpus_root) / scenario.path, sr=SR)
    if scenario.lead_in_s > 0:
        y = np.concatenate([np.zeros(int(round(scenario.lead_in_s * SR)), np.float32), y])
    if scenario.ringback_s > 0:
        rb = ringback(scenario.ringback_country, scenario.ringback_s)
        y = np.concatenate([rb, y])
    if tail and scenario.after == "silence":
        y = np.concatenate([y, np.zeros(int(round(scenario.silence_after_s * SR)), np.float32)])
    if channel:
        y = TelephoneChannel(scenario.channel, seed=scenario.seed)(y)
    return y.astype(np.float32)


def scenario_for_call(call, *, channel: ChannelSettings | None = None, seed: int = 0, **kw) -> Scenario:
    """The recording scenario of a corpus :class:`~lsdlab.corpus.Call`."""
    return Scenario(kind="recording", path=call.path, channel=channel or ChannelSettings(), seed=seed, **kw)
