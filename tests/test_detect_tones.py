"""Tone detection of the default detector on generated tones and real speech.

Tones come from :mod:`lsdlab.audio.tones` (built from their ITU-T / Telcordia
specifications); speech is the real Asterisk "Allison" prompts (8 kHz PCM), so the beep
tests place a real spoken greeting before the beep, as an answering machine does.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
from _audio import silence, speech
from scipy import signal

from lsdlab.audio import tones
from lsdlab.audio.channel import ChannelSettings, TelephoneChannel
from lsdlab.audio.io import resample
from lsdlab.detect import (
    Beep,
    DetectorSettings,
    FarEndType,
    LiveSpeakerDetector,
    Reason,
    SpeechOnset,
    Tone,
    Verdict,
)

SR = 8000
BEEP_FREQS = (400.0, 500.0, 1000.0, 1400.0, 2000.0)


def stream(y: np.ndarray, settings: DetectorSettings | None = None, frame_length: int = 160) -> LiveSpeakerDetector:
    """Push ``y`` in frames, then end(); the detector holds every event raised."""
    det = LiveSpeakerDetector(settings if settings is not None else DetectorSettings(timeout_ms=10000))
    for i in range(0, len(y), frame_length):
        det.push(y[i : i + frame_length])
    det.end()
    return det


def beeps(det: LiveSpeakerDetector) -> list:
    return [e for e in det.events if isinstance(e, Beep) or (isinstance(e, Tone) and e.kind == "beep")]


def verdicts(det: LiveSpeakerDetector) -> list[Verdict]:
    return [e for e in det.events if isinstance(e, Verdict)]


def vowel(f0_hz: float, dur_s: float, formants: tuple, *, seed: int = 0, level_dbfs: float = -15.0) -> np.ndarray:
    """A sustained vowel: a glottal pulse train at ``f0_hz`` with 5.5 Hz vibrato and a
    little jitter, through a glottal low-pass and two-pole formant resonators."""
    rng = np.random.default_rng(seed)
    n = int(dur_s * SR)
    t = np.arange(n) / SR
    jitter = 1.0 + 0.004 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n)
    f = f0_hz * (1.0 + 0.02 * np.sin(2 * np.pi * 5.5 * t)) * jitter
    phase = np.cumsum(f) / SR
    x = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(np.float64)
    x = signal.lfilter([1.0], [1.0, -0.97], x)
    for fc, bw in formants:
        r = np.exp(-np.pi * bw / SR)
        x = signal.lfilter([1.0 - r], [1.0, -2.0 * r * np.cos(2 * np.pi * fc / SR), r * r], x)
    x = x / np.sqrt(np.mean(x**2)) * np.sqrt(0.5) * 10 ** (level_dbfs / 20.0)
    return x.astype(np.float32)


VOWELS = {  # (F1, B1), (F2, B2), (F3, B3) in Hz (Peterson & Barney averages)
    "a": ((730, 90), (1090, 110), (2440, 170)),
    "i": ((270, 60), (2290, 100), (3010, 120)),
    "u": ((300, 60), (870, 90), (2240, 120)),
}


# --------------------------------------------------------------------------- fax
def test_fax_cng_is_fax_within_half_a_second():
    det = stream(tones.cng(8.0))
    v = det.verdict
    assert (v.far_end_type, v.reason) == (FarEndType.FAX_MACHINE, Reason.FAX_CNG)
    assert 0.40 <= v.decided_at_s <= 0.6
    cng = [e for e in det.events if isinstance(e, Tone) and e.kind == "cng"]
    assert cng and all(abs(e.frequency_hz - 1100.0) <= 15.0 for e in cng)
    assert all(abs(e.duration_s - 0.5) <= 0.03 for e in cng)


def test_fax_cng_starting_in_its_off_period():
    v = stream(np.concatenate([silence(0.3), tones.cng(8.0, start_on=False)])).verdict
    assert (v.far_end_type, v.reason) == (FarEndType.FAX_MACHINE, Reason.FAX_CNG)
    assert 1.8 + 0.4 <= v.decided_at_s <= 1.8 + 0.6


@pytest.mark.parametrize("phase_reversals", [False, True], ids=["ced", "ansam"])
def test_fax_ced(phase_reversals):
    det = stream(np.concatenate([silence(0.5), tones.ced(3.3, phase_reversals=phase_reversals), silence(1.0)]))
    v = det.verdict
    assert (v.far_end_type, v.reason) == (FarEndType.FAX_MACHINE, Reason.FAX_CED)
    assert 0.5 + 0.3 <= v.decided_at_s <= 0.5 + 0.5
    ced = [e for e in det.events if isinstance(e, Tone) and e.kind == "ced"]
    assert ced and abs(ced[0].frequency_hz - 2100.0) <= 15.0
    assert not beeps(det)


def test_fax_ced_then_v21_is_fax_and_not_a_beep():
    y = np.concatenate([silence(0.2), tones.ced(3.3), silence(0.075), tones.v21_preamble(1.0), silence(1.0)])
    det = stream(y)
    assert det.verdict.far_end_type is FarEndType.FAX_MACHINE
    assert det.verdict.reason in (Reason.FAX_CED, Reason.FAX_V21)
    assert not beeps(det), "the V.21 preamble after CED was reported as an answering-machine beep"


@pytest.mark.parametrize("dur_s", [0.5, 1.0, 2.0])
def test_fax_v21_preamble_alone_is_fax(dur_s):
    det = stream(np.concatenate([silence(0.3), tones.v21_preamble(dur_s), silence(1.0)]))
    v = det.verdict
    assert (v.far_end_type, v.reason) == (FarEndType.FAX_MACHINE, Reason.FAX_V21)
    assert v.decided_at_s <= 0.3 + 0.5
    assert not beeps(det)


@pytest.mark.parametrize("fax_detect", [True, False])
def test_fax_detect_switch(fax_detect):
    v = stream(tones.cng(8.0), DetectorSettings(timeout_ms=5000, fax_detect=fax_detect)).verdict
    assert (v.far_end_type is FarEndType.FAX_MACHINE) is fax_detect


# --------------------------------------------------------------------------- beeps
@pytest.mark.parametrize("greeting", ["hello", "hello-world", "auth-thankyou", "vm-isunavail"])
@pytest.mark.parametrize("freq_hz", BEEP_FREQS)
def test_beep_after_spoken_greeting(greeting, freq_hz):
    g = speech(greeting)
    beep_start = 0.3 + len(g) / SR + 0.2
    y = np.concatenate([silence(0.3), g, silence(0.2), tones.beep(freq_hz, 0.5), silence(2.0)])
    det = stream(y)
    b = beeps(det)
    assert len(b) == 1, b
    assert isinstance(b[0], Beep)
    assert abs(b[0].frequency_hz - freq_hz) <= 15.0
    assert abs(b[0].duration_s - 0.5) <= 0.03
    assert abs(b[0].at_s - beep_start) <= 0.03
    v = det.verdict
    assert (v.far_end_type, v.reason) == (FarEndType.ANSWER_MACHINE, Reason.BEEP)
    # decided while the beep sounds, once it is long enough to be a beep
    assert beep_start + 0.12 - 0.02 <= v.decided_at_s <= beep_start + 0.2


@pytest.mark.parametrize("freq_hz", BEEP_FREQS)
def test_beep_through_the_telephone_channel(freq_hz):
    """A-law, band-limited, line noise at -55 dBFS: the beep is still measured exactly."""
    g = speech("hello-world")
    y = np.concatenate([silence(0.3), g, silence(0.2), tones.beep(freq_hz, 0.4, level_dbfs=-20.0), silence(1.5)])
    y = TelephoneChannel(ChannelSettings(noise_dbfs=-55.0, codec="alaw"), seed=3)(y)
    det = stream(y)
    b = beeps(det)
    assert len(b) == 1, b
    assert abs(b[0].frequency_hz - freq_hz) <= 15.0
    assert abs(b[0].duration_s - 0.4) <= 0.03
    assert det.verdict.reason is Reason.BEEP


@pytest.mark.parametrize(
    ("beep_ms", "beep_min_ms", "counts"),
    [(80, 120, False), (150, 120, True), (150, 200, False), (250, 200, True), (300, 400, False), (450, 400, True)],
)
def test_beep_min_ms_is_respected(beep_ms, beep_min_ms, counts):
    y = np.concatenate([silence(0.3), speech("hello"), silence(0.2), tones.beep(1000.0, beep_ms / 1000), silence(2.0)])
    det = stream(y, DetectorSettings(timeout_ms=10000, beep_min_ms=beep_min_ms))
    assert bool(beeps(det)) is counts
    assert (det.verdict.reason is Reason.BEEP) is counts
    if counts:
        assert abs(beeps(det)[0].duration_s - beep_ms / 1000) <= 0.03


def test_beep_detect_switch_off():
    y = np.concatenate([silence(0.3), speech("hello"), silence(0.2), tones.beep(1000.0, 0.5), silence(2.0)])
    det = stream(y, DetectorSettings(timeout_ms=10000, beep_detect=False))
    assert det.verdict.reason is not Reason.BEEP


def test_a_beep_before_any_speech_is_not_an_answering_machine_beep():
    det = stream(np.concatenate([silence(0.3), tones.beep(1000.0, 0.5), silence(3.0)]))
    assert not beeps(det)
    assert det.verdict.reason is not Reason.BEEP


# --------------------------------------------------------------------------- SIT
@pytest.mark.parametrize("variant", ["IC", "NC", "VC", "RO"])
def test_sit_is_recognised(variant):
    det = stream(np.concatenate([silence(0.3), tones.sit(variant=variant), silence(0.2), speech("privacy-unident"), silence(1.0)]))
    v = det.verdict
    assert v.reason is Reason.SIT
    assert v.decided_at_s <= 0.3 + len(tones.sit(variant=variant)) / SR + 0.05
    assert not beeps(det)


# --------------------------------------------------------------------------- no beep
@pytest.mark.parametrize("country", ["US", "GB", "DE", "FR"])
def test_no_beep_on_ringback_alone(country):
    det = stream(tones.ringback(country, 9.0))
    assert not beeps(det)
    assert det.verdict.far_end_type is FarEndType.UNKNOWN
    assert not [e for e in det.events if isinstance(e, SpeechOnset)]


@pytest.mark.parametrize("country", ["US", "GB", "DE", "FR"])
def test_no_beep_on_ringback_before_the_greeting(country):
    y = np.concatenate([tones.ringback(country, 6.0), speech("vm-isunavail"), silence(3.0)])
    det = stream(y)
    assert not beeps(det)
    assert det.verdict.reason is not Reason.BEEP
    rings = [e for e in det.events if isinstance(e, Tone) and e.kind == "ringback"]
    assert rings, "the ringback was not recognised as ringback"


@pytest.mark.parametrize("digits", ["0123456789*#", "ABCD", "159#"])
@pytest.mark.parametrize("on_s", [0.1, 0.5])
def test_no_beep_on_dtmf_after_speech(digits, on_s):
    y = np.concatenate([silence(0.3), speech("hello"), silence(0.3), tones.dtmf(digits, on_s=on_s, off_s=0.1), silence(1.0)])
    det = stream(y)
    assert not beeps(det)
    assert det.verdict.reason is not Reason.BEEP


@pytest.mark.parametrize("f0_hz", [120.0, 150.0, 180.0, 220.0])
@pytest.mark.parametrize("vowel_name", sorted(VOWELS))
@pytest.mark.parametrize("after_speech", [False, True], ids=["alone", "after-hello"])
def test_no_beep_on_sustained_vowels(f0_hz, vowel_name, after_speech):
    v = vowel(f0_hz, 3.0, VOWELS[vowel_name], seed=int(f0_hz))
    lead = [speech("hello"), silence(0.2)] if after_speech else []
    det = stream(np.concatenate([silence(0.3), *lead, v, silence(1.0)]))
    assert not beeps(det)
    assert det.verdict.reason is not Reason.BEEP
    assert [e for e in det.events if isinstance(e, SpeechOnset)], "the vowel was not heard as speech"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
@pytest.mark.parametrize("after_speech", [False, True], ids=["alone", "after-hello"])
def test_no_beep_on_espeak_sustained_vowel(tmp_path, after_speech):
    wav = tmp_path / "aah.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "aaaaaaaah"], check=True, capture_output=True)
    y, sr = sf.read(wav, dtype="float32")
    y = resample(y, sr, SR)
    lead = [speech("hello"), silence(0.2)] if after_speech else []
    det = stream(np.concatenate([silence(0.3), *lead, y, silence(1.0)]))
    assert not beeps(det)
    assert det.verdict.reason is not Reason.BEEP


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
@pytest.mark.parametrize("codec", ["alaw", "ulaw"])
def test_no_beep_on_a_flat_pitched_vowel_inside_a_sentence(tmp_path, codec):
    """flite's slt voice at a fixed mean F0 of 215 Hz: the /u:/ of "do" holds 97% of its energy
    in one harmonic (415 Hz) for 120 ms, as steady as a beep. It grows out of the words before it,
    and a beep does not; at -18.6 dBFS on this line it used to end the call as a machine at 2.62 s."""
    from lsdlab.corpus.demo import trim_silence

    wav = tmp_path / "hiya.wav"
    subprocess.run(["flite", "-voice", "slt", "--setf", "duration_stretch=0.79", "--setf", "int_f0_target_mean=215",
                    "-t", "Hiya, Maria here, what can I do for you?", "-o", str(wav)], check=True, capture_output=True)
    y, sr = sf.read(wav, dtype="float32")
    y = resample(y, sr, SR)
    a, b = trim_silence(y)
    call = np.concatenate([silence(1.0), y[a:b], silence(3.0)])
    line = TelephoneChannel(ChannelSettings(codec=codec, level_dbfs=-18.6, noise_dbfs=-45.0), seed=0)
    det = stream(line(call))
    assert not beeps(det)
    assert det.verdict.far_end_type is FarEndType.LIVE


@pytest.mark.parametrize("after_speech", [False, True], ids=["alone", "after-hello"])
def test_no_beep_on_dial_tone(after_speech):
    lead = [speech("hello"), silence(0.3)] if after_speech else []
    det = stream(np.concatenate([silence(0.3), *lead, tones.dual_tone(350.0, 440.0, 6.0)]))
    assert not beeps(det)
    assert det.verdict.reason is not Reason.BEEP
    assert len(verdicts(det)) == 1


def test_dial_tone_alone_is_not_a_person():
    # regression: the tone's attack used to count as a short "hello" and the tone as silence
    det = stream(np.concatenate([silence(0.3), tones.dual_tone(350.0, 440.0, 8.0)]))
    assert det.verdict.far_end_type is not FarEndType.LIVE
    assert not any(isinstance(e, SpeechOnset) for e in det.events)
