"""The simulated far end: one scenario definition, an offline player and a SIP answerer.

The SIP far end (:class:`SimulatedFarEnd`, ``lsdlab farend serve CORPUS``) plays only the
recordings of its corpus, named by manifest row id; a URI never carries a file path.

Far-end URI grammar (the user part of ``sip:USER@HOST:PORT``)::

    USER   = TARGET *( ";" KEY "=" VALUE )
    TARGET = busy | reject | unavailable | no_answer   486, 603, 480, or ring until the caller gives up
           | ROW-ID                                    answer and play that manifest row

ROW-ID: row ``n`` (1-based, manifest order) of label ``L`` is ``L-nnn``: ``human-001``,
``machine-043``, ``fax-002``, ``silence-001`` (a folder without manifest.csv: its audio files in
path order, ``rec-001``, ...). ``SimulatedFarEnd.row_ids`` lists them; ``far.uri(path)`` gives
the URI of a manifest path. KEYs (all optional):

- ``kind``: ``recording`` (default), ``ring_then_answer`` or ``early_ringback`` (183 + ringback)
- ``ring_s`` (default 0.5 s; 3 s for the two kinds above), ``ringback_s``, ``ringback_country``,
  ``lead_in_s``, ``after`` (``hangup`` or ``silence``), ``silence_after_s``, ``seed``
- ``codec``, ``noise_dbfs``, ``packet_loss``, ``level_dbfs``: any of them puts the recording
  through the telephone-channel model (:class:`~lsdlab.audio.ChannelSettings`); without them it
  is played as it is
- ``dtmf`` (RFC 2833 digits sent after connect; ``#`` written ``%23``), ``dtmf_delay_s``

Examples: ``sip:busy@127.0.0.1:5070``, ``sip:machine-043@127.0.0.1:5070``,
``sip:human-001;ring_s=2;after=silence@127.0.0.1:5070``. Anything else (an unknown id or key,
``path=``) is answered 404 and logged without touching the file system.
"""

from typing import TYPE_CHECKING

from .offline import OfflineFarEnd, call_seed
from .scenario import (
    KINDS,
    SIP_FAILURES,
    FarEndRequest,
    Scenario,
    parse_uri_user,
    render,
)

__all__ = [
    "OfflineFarEnd",
    "call_seed", "KINDS", "SIP_FAILURES", "Scenario", "FarEndRequest", "parse_uri_user", "render"]

__all__ += ["SimulatedFarEnd", "FarEndCall"]

if TYPE_CHECKING:  # for editors and type checkers; at run time __getattr__ imports it on first use
    from .sip import FarEndCall, SimulatedFarEnd


def __getattr__(name: str):
    # The SIP far end (it imports pjsua2 only inside its worker processes), imported on first
    # use: the offline commands (evaluate, tune) use only the offline player, and .sip brings
    # multiprocessing.connection and socket with it.
    if name in ("SimulatedFarEnd", "FarEndCall"):
        from . import sip

        return getattr(sip, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
