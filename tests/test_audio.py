"""The audio layer: G.711 against independent references, tones, channel, file I/O."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile as sf

from lsdlab.audio import (
    ChannelSettings,
    TelephoneChannel,
    alaw_decode,
    alaw_encode,
    atomic_path,
    codec_roundtrip,
    load,
    save_wav,
    tones,
    ulaw_decode,
    ulaw_encode,
)
from lsdlab.errors import AudioError, ParameterError

SR = 8000
ALL16 = np.arange(-32768, 32768, dtype=np.int16)


def _wav_data_chunk(blob: bytes) -> bytes:
    """The raw bytes of a RIFF/WAVE file's data chunk (parsed by hand)."""
    assert blob[:4] == b"RIFF" and blob[8:12] == b"WAVE"
    pos = 12
    while pos < len(blob):
        cid, size = blob[pos : pos + 4], int.from_bytes(blob[pos + 4 : pos + 8], "little")
        if cid == b"data":
            return blob[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


# ---- G.711 -------------------------------------------------------------------------------
@pytest.mark.parametrize("subtype, decode", [("ALAW", alaw_decode), ("ULAW", ulaw_decode)])
def test_g711_decode_matches_libsndfile(subtype, decode):
    codes = np.arange(256, dtype=np.uint8)
    ref = sf.read(io.BytesIO(codes.tobytes()), format="RAW", subtype=subtype, samplerate=SR,
                  channels=1, dtype="int16")[0]
    np.testing.assert_array_equal(decode(codes), ref)


@pytest.mark.parametrize("subtype, encode, decode", [("ALAW", alaw_encode, alaw_decode),
                                                     ("ULAW", ulaw_encode, ulaw_decode)])
def test_g711_encode_against_libsndfile_wav_bytes(subtype, encode, decode):
    """Write every int16 value as a G.711 WAV with libsndfile, compare the raw bytes."""
    buf = io.BytesIO()
    sf.write(buf, ALL16, SR, subtype=subtype, format="WAV")
    ref_codes = np.frombuffer(_wav_data_chunk(buf.getvalue()), dtype=np.uint8)
    ours = encode(ALL16)
    assert len(ref_codes) == len(ours)
    same = ours == ref_codes
    # libsndfile rounds a few negative values at segment/step boundaries the other way
    # (audioop, the Sun reference, agrees with us exactly: test_g711_against_audioop);
    # where the codes differ they must be adjacent quantisation levels.
    assert same.mean() > 0.99
    levels = np.unique(decode(np.arange(256, dtype=np.uint8)))
    i_ours = np.searchsorted(levels, decode(ours[~same]))
    i_ref = np.searchsorted(levels, decode(ref_codes[~same]))
    assert np.all(np.abs(i_ours - i_ref) <= 1)


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_g711_against_audioop(law):
    audioop = pytest.importorskip("audioop")
    raw = ALL16.tobytes()
    enc = np.frombuffer(getattr(audioop, f"lin2{law}")(raw, 2), dtype=np.uint8)
    ours = (alaw_encode if law == "alaw" else ulaw_encode)(ALL16)
    np.testing.assert_array_equal(ours, enc)
    codes = np.arange(256, dtype=np.uint8)
    dec = np.frombuffer(getattr(audioop, f"{law}2lin")(codes.tobytes(), 2), dtype=np.int16)
    np.testing.assert_array_equal((alaw_decode if law == "alaw" else ulaw_decode)(codes), dec)


@pytest.mark.parametrize("codec", ["alaw", "ulaw"])
def test_codec_roundtrip_snr_and_idempotence(codec, rng):
    y = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(SR) / SR)).astype(np.float32)
    out = codec_roundtrip(y, codec)
    snr = 10 * np.log10(np.sum(y**2) / np.sum((out - y) ** 2))
    assert snr > 33  # G.711 gives ~38 dB SNR on a loud sine
    np.testing.assert_array_equal(codec_roundtrip(out, codec), out)


def test_codec_roundtrip_rejects_unknown_codec():
    with pytest.raises(ParameterError, match="'codec' parameter"):
        codec_roundtrip(np.zeros(8, np.float32), "g722")


# ---- tones -------------------------------------------------------------------------------
def _peak_hz(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), 1 << 16))
    return float(np.argmax(spec) * SR / (1 << 16))


def _on_segments(y: np.ndarray, frame: int = 40) -> list[tuple[float, float]]:
    """(start, stop) in seconds of the parts of ``y`` that are not silent."""
    n = len(y) // frame
    on = np.abs(y[: n * frame].reshape(n, frame)).max(axis=1) > 1e-3
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0]))
    return [(a * frame / SR, b * frame / SR) for a, b in zip(edges[::2], edges[1::2])]


@pytest.mark.parametrize("freq", [400.0, 1000.0, 1400.0, 2000.0])
def test_beep_frequency_and_duration(freq):
    y = tones.beep(freq, 0.4, level_dbfs=-12.0)
    assert len(y) == round(0.4 * SR)
    assert abs(_peak_hz(y) - freq) < 2.0
    assert abs(y[0]) < 1e-3 and abs(y[-1]) < 0.02  # raised-cosine edges, no click


@pytest.mark.parametrize("country, freqs, on_off", [
    ("US", (440, 480), [(0.0, 2.0), (6.0, 8.0)]),
    ("GB", (400, 450), [(0.0, 0.4), (0.6, 1.0), (3.0, 3.4), (3.6, 4.0)]),
    ("DE", (425,), [(0.0, 1.0), (5.0, 6.0)]),
    ("FR", (440,), [(0.0, 1.5), (5.0, 6.5)]),
])
def test_ringback_cadence_and_frequencies(country, freqs, on_off):
    total = on_off[-1][1] + 0.5
    y = tones.ringback(country, total)
    segs = _on_segments(y)
    assert len(segs) == len(on_off)
    for (a, b), (ea, eb) in zip(segs, on_off):
        assert abs(a - ea) < 0.01 and abs(b - eb) < 0.01
    first = y[: int(on_off[0][1] * SR)]
    spec = np.abs(np.fft.rfft(first, 1 << 16))
    f = np.fft.rfftfreq(1 << 16, 1 / SR)
    for fr in freqs:
        assert spec[np.abs(f - fr) < 3].max() > 0.3 * spec.max()
    assert _peak_hz(first) == pytest.approx(freqs[0], abs=45)


def test_cng_cadence():
    y = tones.cng(8.0)
    segs = _on_segments(y)
    assert [(round(a, 2), round(b, 2)) for a, b in segs] == [(0.0, 0.5), (3.5, 4.0), (7.0, 7.5)]
    assert abs(_peak_hz(y[: SR // 2]) - 1100) < 2


def test_ced_and_v21_preamble_frequencies():
    assert abs(_peak_hz(tones.ced(3.0)) - 2100) < 2
    v = tones.v21_preamble(1.0)
    spec = np.abs(np.fft.rfft(v, 1 << 16)) ** 2
    f = np.fft.rfftfreq(1 << 16, 1 / SR)
    band = (f > 1500) & (f < 2000)
    assert spec[band].sum() > 0.95 * spec.sum()  # FSK energy sits around 1650/1850 Hz
    assert spec[np.abs(f - 1650) < 60].max() > 0.2 * spec.max()
    assert spec[np.abs(f - 1850) < 60].max() > 0.05 * spec.max()  # flags are 6 marks : 2 spaces


# ---- channel -----------------------------------------------------------------------------
def test_channel_is_deterministic_for_a_seed(rng):
    y = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    s = ChannelSettings(level_dbfs=-20.0, noise_dbfs=-55.0, codec="ulaw", packet_loss=0.05)
    a = TelephoneChannel(s, seed=7)(y)
    b = TelephoneChannel(s, seed=7)(y)
    c = TelephoneChannel(s, seed=8)(y)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_channel_band_limits_to_telephone_band(rng):
    y = (0.1 * rng.standard_normal(4 * SR)).astype(np.float32)
    out = TelephoneChannel(ChannelSettings(noise_dbfs=None, codec="none"), seed=0)(y)
    spec = np.abs(np.fft.rfft(out)) ** 2
    f = np.fft.rfftfreq(len(out), 1 / SR)
    inband = spec[(f > 500) & (f < 3000)].mean()
    assert spec[f < 100].mean() < inband * 10 ** (-30 / 10)
    assert spec[f > 3900].mean() < inband * 10 ** (-20 / 10)


def test_channel_sets_level_and_noise(rng):
    from lsdlab.audio import rms_dbfs

    y = np.zeros(2 * SR, np.float32)
    y[SR:] = tones.sine(1000.0, 1.0, level_dbfs=-3.0)
    out = TelephoneChannel(ChannelSettings(level_dbfs=-25.0, noise_dbfs=-60.0, codec="alaw"), seed=1)(y)
    assert rms_dbfs(out[SR + 400 :]) == pytest.approx(-25.0, abs=0.5)
    assert rms_dbfs(out[: SR - 100]) == pytest.approx(-60.0, abs=2.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"level_dbfs": 3.0}, "'level_dbfs' parameter"),
    ({"codec": "opus"}, "'codec' parameter"),
    ({"packet_loss": 0.9}, "'packet_loss' parameter"),
])
def test_channel_settings_reject_bad_values(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        ChannelSettings(**kwargs)


# ---- file I/O ----------------------------------------------------------------------------
def test_load_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        load(tmp_path / "nope.wav")


def test_load_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load(p)


def test_load_undecodable_webm_named_wav(tmp_path):
    p = tmp_path / "call.wav"
    p.write_bytes(bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01webm" + bytes(200))
    with pytest.raises(AudioError, match=r"call\.wav: cannot decode audio.*WebM"):
        load(p)


@pytest.mark.parametrize("file_sr", [16000, 44100])
def test_load_resamples_stereo_to_8k_mono(tmp_path, file_sr):
    n = file_sr * 2
    t = np.arange(n) / file_sr
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 1000 * t), 0.5 * np.sin(2 * np.pi * 500 * t)], axis=1)
    p = tmp_path / f"s{file_sr}.wav"
    sf.write(p, stereo, file_sr, subtype="PCM_16")
    y, sr = load(p)
    assert sr == SR and y.ndim == 1 and y.dtype == np.float32
    assert abs(len(y) - 2 * SR) <= 1
    assert abs(_peak_hz(y) - 1000) < 3
    y1, _ = load(p, channel=1)
    assert abs(_peak_hz(y1) - 500) < 3
    with pytest.raises(ParameterError, match="'channel' parameter"):
        load(p, channel=2)


@pytest.mark.parametrize("subtype", ["ALAW", "ULAW", "PCM_16"])
def test_save_wav_roundtrip(tmp_path, subtype, rng):
    y = (0.2 * rng.standard_normal(SR)).astype(np.float32)
    p = save_wav(tmp_path / "x.wav", y, subtype=subtype)
    info = sf.info(p)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, subtype)
    back, _ = load(p)
    assert np.max(np.abs(back - y)) < 0.02


def test_save_wav_bad_rate_leaves_no_file(tmp_path):
    with pytest.raises(ParameterError, match="'sr' parameter"):
        save_wav(tmp_path / "out.wav", np.zeros(100, np.float32), sr=0)
    assert os.listdir(tmp_path) == []


def test_save_wav_unwritable_place_is_an_audio_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(AudioError, match=r"out\.wav: cannot write the WAV file"):
        save_wav(tmp_path / "afile" / "out.wav", np.zeros(100, np.float32))
    assert os.listdir(tmp_path) == ["afile"]


def test_save_wav_failure_keeps_previous_file(tmp_path):
    target = save_wav(tmp_path / "out.wav", np.zeros(800, np.float32))
    before = target.read_bytes()
    with pytest.raises(ParameterError, match="finite"):
        save_wav(target, np.array([0.0, np.nan], np.float32))
    with pytest.raises(ParameterError, match="'subtype' parameter"):
        save_wav(target, np.zeros(100, np.float32), subtype="FLOAT")
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.wav"]


def test_atomic_path_removes_temp_on_error(tmp_path):
    target = tmp_path / "a.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_save_wav_does_not_create_missing_folders(tmp_path):
    with pytest.raises(AudioError, match=r"folder .*nope.* does not exist"):
        save_wav(tmp_path / "nope" / "deeper" / "out.wav", np.zeros(100, np.float32))
    assert os.listdir(tmp_path) == []


def test_atomic_path_removes_temp_when_the_rename_fails(tmp_path):
    target = tmp_path / "a_folder"
    target.mkdir()
    (target / "x").write_text("keep me")
    with pytest.raises(OSError):
        with atomic_path(target, suffix=".txt") as tmp:
            tmp.write_text("new")
    assert sorted(os.listdir(tmp_path)) == ["a_folder"]
    assert (target / "x").read_text() == "keep me"
