"""The shared STFT pass: its mono spectrogram equals the 22.05 kHz one, and its band energies add up."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soxr

from analysis.frontend import frontend
from analysis.tonal_balance import BAND_EDGES_HZ
from tests.fixtures.audio import click_track, sine


def test_mono_power_matches_a_2048_point_stft_of_the_mono_mix_at_22050() -> None:
    # given
    x = click_track(bpm=120, seconds=8, sr=44100, key="A minor")
    y22 = soxr.resample(x.mean(axis=0), 44100, 22050, quality="HQ")
    reference = np.abs(librosa.stft(y22, n_fft=2048, hop_length=512, pad_mode="constant")) ** 2
    # when
    result = frontend(x, sr=44100, mono={"power": lambda s: s})
    # then: same grid, same power below the resampler's transition band
    power = result.mono["power"]
    assert power.shape == reference.shape
    below = slice(0, 930)  # 10 kHz
    ratio = power[below].sum() / reference[below].sum()
    assert ratio == pytest.approx(1.0, abs=1e-3)
    frames = np.corrcoef(power[below].sum(axis=0), reference[below].sum(axis=0))[0, 1]
    assert frames > 0.99999


@pytest.mark.parametrize("sr", [22050, 44100, 48000, 96000])
def test_frame_grid_is_23_ms_at_every_rate(sr: int) -> None:
    # given
    x = sine(freq_hz=1000.0, seconds=3.0, sr=sr, channels=2)
    # when
    result = frontend(x, sr=sr)
    # then
    assert result.hop_s == pytest.approx(1024 / 44100)
    assert result.n_frames == 1 + (3 * 44100) // 1024
    assert list(result.bands.valid) == [hi <= sr / 2 for _, hi in BAND_EDGES_HZ]


def test_band_energies_of_mid_side_and_cross_for_mono_panned_and_inverted_signals() -> None:
    # given: a 1 kHz tone (the low-mid band, index 2) three ways
    tone = sine(freq_hz=1000.0, seconds=2.0, sr=44100, channels=1)[0]
    centred = np.stack([tone, tone])
    hard_left = np.stack([tone, np.zeros_like(tone)])
    inverted = np.stack([tone, -tone])
    # when
    c, left, inv = (frontend(s, sr=44100).bands for s in (centred, hard_left, inverted))
    # then: all mid, half and half, all side
    frames = slice(5, -5)
    assert np.allclose(c.side[frames, 2], 0.0, atol=1e-3 * c.mid[frames, 2].max())
    assert np.allclose(left.side[frames, 2], left.mid[frames, 2], rtol=1e-4)
    assert np.allclose(inv.mid[frames, 2], 0.0, atol=1e-3 * inv.side[frames, 2].max())
    assert np.allclose(inv.cross[frames, 2], -inv.left[frames, 2], rtol=1e-4)
    assert int(np.argmax(c.mid[frames].sum(axis=0))) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sr": 22050, "n_fft": 2048, "n_mels": 128},
        {"sr": 22050, "n_fft": 2048, "n_mels": 80, "fmin": 27.5, "fmax": 11025.0},
        {"sr": 44100, "n_fft": 4096, "n_mels": 40, "fmin": 30.0, "fmax": 8000.0},
    ],
)
def test_mel_filterbank_equals_librosa(kwargs: dict[str, float]) -> None:
    from analysis._mel import mel_filterbank

    # when
    ours = mel_filterbank(**kwargs)  # type: ignore[arg-type]
    # then
    np.testing.assert_allclose(ours, librosa.filters.mel(**kwargs), atol=1e-7)


def test_mono_reducers_see_every_frame_once_and_in_order() -> None:
    # given: 30 s, more than one block of frames
    x = click_track(bpm=120, seconds=30, sr=44100)
    whole = frontend(x, sr=44100, mono={"power": lambda s: s}).mono["power"]
    # when: reductions to a vector and to a matrix
    result = frontend(x, sr=44100, mono={"total": lambda s: s.sum(axis=0), "low": lambda s: s[:4]})
    # then: the same as reducing the whole spectrogram
    assert result.mono["total"].shape == (result.n_frames,)
    assert np.allclose(result.mono["total"], whole.sum(axis=0), rtol=1e-5)
    assert np.array_equal(result.mono["low"], whole[:4])
    assert frontend(x, sr=44100).mono == {}
