"""Country profiles: every packaged profile loads strictly and carries sources and notes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lsdlab.cli import main
from lsdlab.errors import SettingsError
from lsdlab.rules import DelayReference, Profile, list_profiles, load_profile, profile_codes

PACKAGED = ("US", "GB", "CA", "DE", "FR", "AU", "generic")
PROFILES_DIR = Path(__file__).resolve().parent.parent / "lsdlab" / "rules" / "profiles"


def test_packaged_codes():
    assert set(profile_codes()) == set(PACKAGED)
    assert profile_codes()[-1] == "generic"


@pytest.mark.parametrize("code", PACKAGED)
def test_each_profile_loads_with_sources_and_notes(code):
    prof = load_profile(code)
    assert isinstance(prof, Profile)
    assert prof.code == code
    assert prof.sources and all(s.startswith(("http://", "https://")) for s in prof.sources)
    assert prof.notes and all(n.strip() for n in prof.notes)
    # what the tuner uses is always defined, statutory or not
    assert 0 < prof.budget_rate_max < 1
    assert prof.budget_delay_limit_ms > 0
    assert isinstance(prof.budget_delay_reference, DelayReference)
    assert (prof.tuning is None) == (prof.abandoned_rate_max is not None and prof.delay_limit_ms is not None)


def test_lookup_is_case_insensitive():
    assert load_profile("gb") == load_profile("GB")


@pytest.mark.parametrize(
    ("code", "rate", "delay_ms", "reference", "amd", "min_ring"),
    [
        ("US", 0.03, 2000, DelayReference.GREETING_END, True, 15.0),
        ("GB", 0.03, 2000, DelayReference.SPEECH_ONSET, True, 15.0),
        ("CA", 0.05, 2000, DelayReference.ANSWER, "unconfirmed", None),
        ("DE", None, None, None, "unconfirmed", 15.0),
        ("FR", None, None, None, "unconfirmed", None),
        ("AU", None, None, None, "unconfirmed", None),
    ],
)
def test_profile_facts_match_regulations_doc(code, rate, delay_ms, reference, amd, min_ring):
    prof = load_profile(code)
    assert prof.abandoned_rate_max == rate
    assert prof.delay_limit_ms == delay_ms
    assert prof.delay_reference == reference
    assert prof.amd_false_positives_count == amd
    assert prof.min_ring_s == min_ring


def test_unconfirmed_facts_are_flagged():
    ca = load_profile("CA")
    assert "abandoned_rate_max" in ca.unconfirmed and "abandoned_window" in ca.unconfirmed
    assert any("UNCONFIRMED" in n and "secondary" in n for n in ca.notes)
    gb = load_profile("GB")
    assert any("secondary" in n for n in gb.notes)  # 3% quoted by secondary sources
    assert any("reasoned estimate" in n for n in gb.notes)
    au = load_profile("AU")
    assert any("unconfirmed" in n for n in au.notes)


@pytest.mark.parametrize("code", ["DE", "FR", "AU"])
def test_no_statutory_rate_says_what_tuner_uses(code):
    prof = load_profile(code)
    assert not prof.statutory
    assert prof.tuning is not None and prof.tuning.reason
    assert prof.budget_rate_max == 0.03
    assert prof.budget_delay_reference is DelayReference.SPEECH_ONSET
    assert prof.counts_amd_false_positives  # unconfirmed counts: the cautious reading


def test_calling_hours():
    fr = load_profile("FR")
    assert fr.calling_hours["mon_fri"] == ("10:00-13:00", "14:00-20:00")
    assert fr.calling_hours["sat"] == () and fr.calling_hours["sun"] == ()
    assert load_profile("CA").calling_hours["mon_fri"] == ("09:00-21:30",)
    assert load_profile("AU").calling_hours["sat"] == ("09:00-17:00",)


def test_list_profiles():
    profs = list_profiles()
    assert [p.code for p in profs] == list(profile_codes())


# --------------------------------------------------------------------------- user files


def _gb_text() -> str:
    return (PROFILES_DIR / "GB.toml").read_text(encoding="utf-8")


def test_user_profile_file(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(_gb_text().replace('code = "GB"', 'code = "GB-strict"').replace("0.03", "0.02"), encoding="utf-8")
    prof = load_profile(p)
    assert prof.code == "GB-strict" and prof.abandoned_rate_max == 0.02
    assert load_profile(str(p)) == prof


def _drop_array(text: str, key: str, new: str = "") -> str:
    start = text.index(f"{key} = [")
    end = text.index("]\n", start) + 2
    return text[:start] + new + text[end:]


def _replace_line(text: str, key: str, new: str | None) -> str:
    lines = text.splitlines()
    out = []
    for ln in lines:
        if re.match(rf"^{re.escape(key)}\s*=", ln):
            if new is not None:
                out.append(new)
        else:
            out.append(ln)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t + 'colour = "blue"\n', r"'colour'.*unknown key"),
        (lambda t: _drop_array(t, "sources"), r"'sources'.*missing"),
        (lambda t: _drop_array(t, "notes"), r"'notes'.*missing"),
        (lambda t: _replace_line(t, "abandoned_rate_max", 'abandoned_rate_max = "3%"'), r"'abandoned_rate_max'"),
        (lambda t: _replace_line(t, "abandoned_rate_max", "abandoned_rate_max = 3"), r"'abandoned_rate_max'"),
        (lambda t: _replace_line(t, "delay_limit_ms", "delay_limit_ms = 2.5"), r"'delay_limit_ms'.*integer"),
        (lambda t: _replace_line(t, "delay_reference", 'delay_reference = "greeting"'), r"'delay_reference'"),
        (lambda t: _replace_line(t, "delay_reference", 'delay_reference = "none"'), r"'delay_reference'"),
        (lambda t: _replace_line(t, "amd_false_positives_count", 'amd_false_positives_count = "maybe"'), r"'amd_false_positives_count'"),
        (lambda t: _replace_line(t, "min_ring_s", "min_ring_s = true"), r"'min_ring_s'"),
        (lambda t: t + "[tuning]\nabandoned_rate_max = 0.03\n", r"'tuning'"),
        (lambda t: _replace_line(t, "abandoned_rate_max", 'abandoned_rate_max = "none"'), r"'tuning'.*missing"),
        (lambda t: t + '[calling_hours]\nmon_fri = ["21:00-09:00"]\n', r"'calling_hours.mon_fri'"),
        (lambda t: t + '[calling_hours]\nweekdays = ["09:00-17:00"]\n', r"'calling_hours.weekdays'"),
        (lambda t: _replace_line(t, "unconfirmed", 'unconfirmed = ["colour"]'), r"'unconfirmed'"),
        (lambda t: t.replace("https://www.ofcom", "www.ofcom"), r"'sources'.*not a URL"),
        (lambda t: t + "this is = = not toml\n", r"not valid TOML"),
    ],
)
def test_bad_profile_refused_naming_file_and_key(tmp_path, edit, match):
    p = tmp_path / "bad.toml"
    p.write_text(edit(_gb_text()), encoding="utf-8")
    with pytest.raises(SettingsError, match=match) as info:
        load_profile(p)
    assert "bad.toml" in str(info.value)


def test_bad_profile_empty_notes(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(_drop_array(_gb_text(), "notes", "notes = []\n"), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"bad\.toml.*'notes'.*at least 1"):
        load_profile(p)


def test_unknown_code_and_missing_file(tmp_path):
    with pytest.raises(SettingsError, match=r"'XX' is unknown.*GB"):
        load_profile("XX")
    with pytest.raises(SettingsError, match=r"nope\.toml.*not found"):
        load_profile(tmp_path / "nope.toml")


# --------------------------------------------------------------------------- CLI


def test_cli_rules_list(capsys):
    assert main(["rules", "list"]) == 0
    out = capsys.readouterr().out
    for code in PACKAGED:
        assert re.search(rf"^{code}\s", out, re.M), code
    gb_line = next(ln for ln in out.splitlines() if ln.startswith("GB "))
    assert "3%" in gb_line and "2000 ms" in gb_line and "speech_onset" in gb_line
    ca_line = next(ln for ln in out.splitlines() if ln.startswith("CA "))
    assert "5%?" in ca_line and "answer" in ca_line


def test_cli_rules_show_gb(capsys):
    assert main(["rules", "show", "GB"]) == 0
    out = capsys.readouterr().out
    gb = load_profile("GB")
    assert "2000 ms from speech_onset" in out
    for s in gb.sources:
        assert s in out
    assert "reasoned estimate" in out and "notes" in out and "sources" in out
    assert "72 hours" in out


def test_cli_rules_show_file_and_unknown(tmp_path, capsys):
    p = tmp_path / "mine.toml"
    p.write_text(_gb_text().replace('code = "GB"', 'code = "MINE"'), encoding="utf-8")
    assert main(["rules", "show", str(p)]) == 0
    assert capsys.readouterr().out.startswith("MINE: ")
    assert main(["rules", "show", "XX"]) == 2
    assert "'XX' is unknown" in capsys.readouterr().err


def test_cli_rules_show_unconfirmed_flagged(capsys):
    assert main(["rules", "show", "CA"]) == 0
    out = capsys.readouterr().out
    assert "5% (unconfirmed)" in out


@pytest.mark.parametrize(("code", "days"), [("GB", 1), ("US", 30), ("generic", 1), ("CA", None), ("DE", None)])
def test_budget_window_in_days(code, days):
    assert load_profile(code).abandoned_window_days == days


@pytest.mark.parametrize("bad", ["0", "400", "1.5", '"daily"'])
def test_bad_window_days_is_named(tmp_path, bad):
    p = tmp_path / "mine.toml"
    p.write_text(_gb_text().replace("abandoned_window_days = 1", f"abandoned_window_days = {bad}"), encoding="utf-8")
    with pytest.raises(SettingsError, match="abandoned_window_days"):
        load_profile(p)


def test_cli_rules_show_window_days(capsys):
    assert main(["rules", "show", "US"]) == 0
    assert "(30 days)" in capsys.readouterr().out
