"""``lsdlab rules list|show``: the country profiles the tuner checks against."""

from __future__ import annotations

import argparse
import textwrap

from ..rules import Profile, list_profiles, load_profile


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="list or show the country rules (abandoned-call budgets)")
    rsub = p.add_subparsers(dest="rules_command", metavar="ACTION")
    lp = rsub.add_parser("list", help="one line per packaged country profile")
    lp.set_defaults(func=_list)
    sp = rsub.add_parser("show", help="everything in one profile, with its sources and notes")
    sp.add_argument("profile", metavar="CODE|FILE", help="a code such as GB, or the path of your own profile .toml")
    sp.set_defaults(func=_show)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _pct(x: float | None) -> str:
    return "none" if x is None else f"{100 * x:g}%"


def _flag(prof: Profile, key: str) -> str:
    return " (unconfirmed)" if key in prof.unconfirmed else ""


def _rate_cell(prof: Profile) -> str:
    if prof.abandoned_rate_max is None:
        return f"none (tune {_pct(prof.budget_rate_max)})"
    return _pct(prof.abandoned_rate_max) + ("?" if "abandoned_rate_max" in prof.unconfirmed else "")


def _delay_cell(prof: Profile) -> str:
    if prof.delay_limit_ms is None:
        return f"none (tune {prof.budget_delay_limit_ms} ms)"
    return f"{prof.delay_limit_ms} ms"


def _ref_cell(prof: Profile) -> str:
    if prof.delay_reference is None:
        return f"({prof.budget_delay_reference.value})"
    return prof.delay_reference.value


def _amd_cell(prof: Profile) -> str:
    v = prof.amd_false_positives_count
    return {True: "yes", False: "no"}.get(v, str(v)) if isinstance(v, bool) else str(v)


def _list(args) -> int:
    rows = [("code", "max abandoned", "delay limit", "measured from", "AMD FP count", "min ring", "name")]
    for prof in list_profiles():
        rows.append(
            (
                prof.code,
                _rate_cell(prof),
                _delay_cell(prof),
                _ref_cell(prof),
                _amd_cell(prof),
                "none" if prof.min_ring_s is None else f"{prof.min_ring_s:g} s",
                prof.name,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
    print("'?' = unconfirmed; 'none (tune ...)' = no statutory rule, the tuner's cautious value. "
          "Details: lsdlab rules show CODE")
    return 0


def _wrap(label: str, text: str, width: int = 100) -> str:
    pad = " " * 22
    return textwrap.fill(text, width=width, initial_indent=f"{label:<22}", subsequent_indent=pad)


def _show(args) -> int:
    prof = load_profile(args.profile)
    out = [f"{prof.code}: {prof.name}", f"{'file':<22}{prof.path}"]
    out.append(_wrap("abandoned rate max", (
        "none (no statutory rate)" if prof.abandoned_rate_max is None else _pct(prof.abandoned_rate_max)
    ) + _flag(prof, "abandoned_rate_max")))
    if prof.abandoned_denominator:
        out.append(_wrap("  of", prof.abandoned_denominator + _flag(prof, "abandoned_denominator")))
    days = "" if prof.abandoned_window_days is None else f" ({prof.abandoned_window_days} day{'s' if prof.abandoned_window_days > 1 else ''})"
    out.append(_wrap("  window", (prof.abandoned_window or "none") + days + _flag(prof, "abandoned_window")))
    if prof.delay_limit_ms is None:
        out.append(_wrap("delay limit", "none (no statutory delay limit)"))
    else:
        assert prof.delay_reference is not None
        out.append(_wrap("delay limit", f"{prof.delay_limit_ms} ms from {prof.delay_reference.value}"
                         + _flag(prof, "delay_limit_ms")))
    out.append(_wrap("AMD false positives", f"count as abandoned: {_amd_cell(prof)}"
                     + _flag(prof, "amd_false_positives_count")))
    ring = "none" if prof.min_ring_s is None else f"{prof.min_ring_s:g} s"
    if prof.max_ring_s is not None:
        ring += f" (max {prof.max_ring_s:g} s)"
    out.append(_wrap("min ring", ring + _flag(prof, "min_ring_s")))
    out.append(_wrap("message rules", prof.message_rules))
    out.append(_wrap("repeat-call rules", prof.repeat_call_rules))
    if prof.calling_hours:
        hours = "; ".join(f"{day}: {', '.join(spans) if spans else 'no calls'}" for day, spans in prof.calling_hours.items())
        out.append(_wrap("calling hours", hours))
    else:
        out.append(_wrap("calling hours", "none given"))
    out.append(_wrap("tuner uses", (
        f"{_pct(prof.budget_rate_max)} of live calls, {prof.budget_delay_limit_ms} ms from "
        f"{prof.budget_delay_reference.value}, AMD false positives "
        f"{'counted' if prof.counts_amd_false_positives else 'not counted'}"
    )))
    if prof.tuning is not None:
        out.append(_wrap("  because", prof.tuning.reason))
    if prof.unconfirmed:
        out.append(_wrap("unconfirmed", ", ".join(prof.unconfirmed)))
    out.append("sources")
    out.extend(f"  - {s}" for s in prof.sources)
    out.append("notes")
    out.extend(textwrap.fill(n, width=100, initial_indent="  - ", subsequent_indent="    ") for n in prof.notes)
    print("\n".join(out))
    return 0
