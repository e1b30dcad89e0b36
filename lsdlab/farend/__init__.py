"""The simulated far end: one scenario definition, an offline player and a SIP answerer."""

from .offline import OfflineFarEnd, call_seed
from .scenario import KINDS, SIP_FAILURES, Scenario, parse_uri_user, render, scenario_for_call

__all__ = [
    "OfflineFarEnd",
    "call_seed","KINDS", "SIP_FAILURES", "Scenario", "parse_uri_user", "render", "scenario_for_call"]

# The SIP far end (imports pjsua2 only inside its worker processes).
from .sip import FarEndCall, SimulatedFarEnd  # noqa: E402

__all__ += ["SimulatedFarEnd", "FarEndCall"]
