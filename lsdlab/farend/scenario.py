"""One definition of what the simulated far end does, shared by the offline and SIP paths.

A :class:`Scenario` says how the far end answers (or does not), what it plays from the
moment the call connects, and through what telephone channel. :func:`render` produces the
far-end audio from connect exactly as both paths send it, so the offline path and a SIP
call carry the same samples (up to the network).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from .._validation import check_choice, check_real_range
from ..audio.channel import ChannelSettings, TelephoneChannel
from ..audio.io import SR, load
from ..audio.tones import RINGBACK, ringback
from ..errors import ParameterError

__all__ = ["Scenario", "KINDS", "SIP_FAILURES", "render", "parse_uri_user", "FarEndRequest",
           "URI_EXTRA_KEYS"]

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

    def to_uri_user(self, row_id: str | None = None, **extra: str) -> str:
        """The user part of a SIP URI that makes the SIP far end do this scenario.

        The readable grammar of the :mod:`lsdlab.farend` module docstring: the target (the
        kind for failing kinds, else ``row_id``, the manifest row id of the recording, e.g.
        ``'machine-043'``), then ``;key=value`` for the fields (channel fields only if the
        recording goes through the channel model, which a full Scenario always does).
        ``extra``: ``dtmf`` and ``dtmf_delay_s``. A URI never carries a file path.
        """
        if self.answers:
            if not row_id:
                raise ParameterError(
                    f"A {self.kind!r} scenario's URI names the manifest row id of its recording "
                    f"(e.g. 'machine-043'), never a path. Pass row_id, or use "
                    f"SimulatedFarEnd.uri({self.path!r}) which looks the id up."
                )
            _check_token(row_id, "row_id")
            items = [row_id]
            if self.kind != "recording":
                items.append(f"kind={self.kind}")
        else:
            items = [self.kind]
        for k in ("ring_s", "ringback_s", "ringback_country", "lead_in_s", "after", "silence_after_s", "seed"):
            items.append(f"{k}={getattr(self, k)}")
        c = self.channel
        items += [f"codec={c.codec}", f"noise_dbfs={c.noise_dbfs}", f"packet_loss={c.packet_loss}",
                  f"level_dbfs={c.level_dbfs}"]
        for k, v in extra.items():
            if k not in URI_EXTRA_KEYS:
                raise ParameterError(f"Unknown far-end URI key {k!r}; known extras: {list(URI_EXTRA_KEYS)}.")
            items.append(f"{k}={quote(str(v), safe='.-_')}")
        return ";".join(items)

    def with_(self, **changes) -> Scenario:
        return replace(self, **changes)


#: A row id or kind in a far-end URI: letters, digits, '_', '-', '.' (1-64 characters).
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Keys of the far-end URI grammar that set Scenario fields (value parsers).
_SCENARIO_KEYS = {
    "kind": str, "ring_s": float, "ringback_s": float, "ringback_country": str, "lead_in_s": float,
    "after": str, "silence_after_s": float, "seed": int,
}
#: Keys that switch the channel model on (any of them present) and set its fields.
_CHANNEL_KEYS = ("codec", "noise_dbfs", "packet_loss", "level_dbfs")
#: Keys the SIP far end reads besides the scenario: RFC 2833 digits it sends after connect.
URI_EXTRA_KEYS = ("dtmf", "dtmf_delay_s")
#: ring_s when a URI does not give it (a readable URI rings briefly, like SimulatedFarEnd.uri).
DEFAULT_RING_S = {"ring_then_answer": 3.0, "early_ringback": 3.0}


def _check_token(value: str, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise ParameterError(
            f"The far-end URI's {what} must be 1-64 letters, digits, '_', '-' or '.', starting with a "
            f"letter or digit (a manifest row id like 'machine-043' or a kind like 'busy'). "
            f"Got {_shown(value)} instead."
        )
    return value


def _shown(value) -> str:
    """A URI fragment for an error message: repr'd and cut to 40 characters."""
    r = repr(value)
    return r if len(r) <= 40 else r[:37] + "..."


@dataclass(frozen=True)
class FarEndRequest:
    """A parsed far-end URI user part (see the :mod:`lsdlab.farend` grammar).

    scenario: what to do (``path`` is the manifest path of the row, None for failing kinds);
    row_id: the manifest row id or None; channel: whether the channel model applies;
    extra: ``dtmf``/``dtmf_delay_s``; key: a canonical form (the render-cache key).
    """

    scenario: Scenario
    row_id: str | None
    channel: bool
    extra: dict
    key: str


def parse_uri_user(user: str, rows: Mapping[str, str] | None = None) -> FarEndRequest:
    """Parse a far-end URI user part; ``rows`` maps row ids to manifest paths.

    Raises :class:`~lsdlab.errors.ParameterError` naming the bad part (never a file: the
    URI names rows of the corpus index only, so nothing outside the corpus can be reached).
    """
    if not isinstance(user, str) or not user or len(user) > 512:
        raise ParameterError(f"A far-end URI user part must be a non-empty string of at most 512 characters. "
                             f"Got {_shown(user)} instead.")
    raw = unquote(user)
    parts = raw.split(";")
    target = _check_token(parts[0], "target (its first item)")
    kv: dict[str, str] = {}
    for item in parts[1:]:
        k, eq, v = item.partition("=")
        if not eq:
            raise ParameterError(f"Far-end URI item {_shown(item)} is not key=value.")
        if k == "path":
            raise ParameterError(
                "Far-end URIs do not take 'path=': name the recording by its manifest row id "
                "(e.g. sip:machine-043@HOST:PORT; SimulatedFarEnd.uri(path) gives it)."
            )
        if k not in _SCENARIO_KEYS and k not in _CHANNEL_KEYS and k not in URI_EXTRA_KEYS:
            known = sorted([*_SCENARIO_KEYS, *_CHANNEL_KEYS, *URI_EXTRA_KEYS])
            raise ParameterError(f"Unknown far-end URI key {_shown(k)}; known: {known}.")
        if k in kv:
            raise ParameterError(f"Far-end URI key {k!r} is given twice.")
        kv[k] = v
    fields_: dict = {}
    for k, conv in _SCENARIO_KEYS.items():
        if k in kv:
            try:
                fields_[k] = conv(kv[k])
            except ValueError:
                raise ParameterError(f"Far-end URI key {k!r} must be a {conv.__name__}. "
                                     f"Got {_shown(kv[k])} instead.") from None
    if target in KINDS:
        if "kind" in fields_:
            raise ParameterError(f"Far-end URI target {target!r} is a kind; 'kind=' goes with a row id.")
        kind, row_id, path = target, None, None
        if kind in ("recording", "ring_then_answer", "early_ringback"):
            raise ParameterError(
                f"Far-end URI target {target!r} needs a recording: name its manifest row id "
                f"instead (e.g. 'machine-043;kind={target}')."
            )
    else:
        kind = fields_.pop("kind", "recording")
        if kind not in ("recording", "ring_then_answer", "early_ringback"):
            raise ParameterError(f"Far-end URI key 'kind' after a row id must be 'recording', "
                                 f"'ring_then_answer' or 'early_ringback'. Got {_shown(kind)} instead.")
        row_id = target
        path = (rows or {}).get(row_id)
        if path is None:
            raise ParameterError(f"Far-end URI names {_shown(row_id)}, which is no row id of this corpus "
                                 f"(ids look like 'human-001', 'machine-043'; see SimulatedFarEnd.row_ids).")
    fields_.pop("kind", None)
    fields_.setdefault("ring_s", DEFAULT_RING_S.get(kind, 0.5))
    channel = any(k in kv for k in _CHANNEL_KEYS)

    def num(v: str | None, default: float | None) -> float | None:
        if v is None:
            return default
        if v in ("None", ""):
            return None
        try:
            return float(v)
        except ValueError:
            raise ParameterError(f"Far-end URI channel value {_shown(v)} is not a number.") from None

    ch = ChannelSettings(
        codec=kv.get("codec", "alaw"),
        noise_dbfs=num(kv.get("noise_dbfs"), -65.0),
        packet_loss=num(kv.get("packet_loss"), 0.0) or 0.0,
        level_dbfs=num(kv.get("level_dbfs"), None),
    )
    sc = Scenario(kind=kind, path=path, channel=ch, **fields_)
    extra = {k: kv[k] for k in URI_EXTRA_KEYS if k in kv}
    if "dtmf" in extra and not re.fullmatch(r"[0-9A-Da-d*#]{1,32}", extra["dtmf"]):
        raise ParameterError(f"Far-end URI key 'dtmf' must be 1-32 DTMF digits (0-9 A-D * #). "
                             f"Got {_shown(extra['dtmf'])} instead.")
    if "dtmf_delay_s" in extra:
        check_real_range(num(extra["dtmf_delay_s"], 0.5), "dtmf_delay_s", "the far-end URI", 0.0, 60.0)
    key = ";".join([target, *(f"{k}={kv[k]}" for k in sorted(kv) if k not in URI_EXTRA_KEYS)])
    return FarEndRequest(scenario=sc, row_id=row_id, channel=channel, extra=extra, key=key)


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


