"""Timbre features: known answers on tones and noise, agreement with librosa, degenerate input."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from analysis import AnalysisParameterError
from analysis.spectrum import mel_db, power_spectrogram
from analysis.timbre import mfcc, spectral_flatness, spectral_rolloff
from tests.fixtures.audio import click_track, sine, white_noise

N_FFT = 2048
HOP = 512


def _spectrogram(y: np.ndarray, *, n_fft: int = N_FFT) -> np.ndarray:
    return power_spectrogram(np.asarray(y, dtype=np.float32), n_fft=n_fft, hop_length=HOP)


@pytest.mark.parametrize("sr", [22050, 44100])
@pytest.mark.parametrize("freq_hz", [440.0, 3000.0])
def test_rolloff_of_a_sine_is_its_frequency(sr: int, freq_hz: float) -> None:
    # given: a steady sine; its Hann main lobe spans three bins around the tone
    s_power = _spectrogram(sine(freq_hz=freq_hz, seconds=2.0, sr=sr)[0])

    # when
    rolloff = spectral_rolloff(S_power=s_power, sr=sr, n_fft=N_FFT)

    # then: every frame away from the edges reads within two bins of the tone
    bin_hz = sr / N_FFT
    inner = rolloff[4:-4]
    assert rolloff.shape == (s_power.shape[1],)
    assert rolloff.dtype == np.float32
    assert np.abs(inner - freq_hz).max() <= 2 * bin_hz


def test_rolloff_of_white_noise_is_85_percent_of_nyquist() -> None:
    # given: white noise has a flat magnitude spectrum
    sr = 22050
    s_power = _spectrogram(white_noise(seconds=3.0, sr=sr, seed=3)[0])

    # when
    rolloff = spectral_rolloff(S_power=s_power, sr=sr, n_fft=N_FFT)

    # then: 85 % of the magnitude lies below 0.85 * Nyquist, give or take the noise of one frame
    assert abs(float(np.median(rolloff[2:-2])) - 0.85 * sr / 2) < 150.0


@pytest.mark.parametrize("roll_percent", [0.5, 0.85, 0.95])
def test_rolloff_agrees_with_librosa_on_music(roll_percent: float) -> None:
    # given
    sr = 22050
    s_power = _spectrogram(click_track(bpm=124, seconds=8.0, sr=sr, channels=1, key="C# minor")[0])

    # when
    ours = spectral_rolloff(S_power=s_power, sr=sr, n_fft=N_FFT, roll_percent=roll_percent)
    reference = librosa.feature.spectral_rolloff(S=np.sqrt(s_power), sr=sr, n_fft=N_FFT, roll_percent=roll_percent)[0]

    # then: identical bins, except where float32 summation order moves a threshold crossing by one bin
    bins_apart = np.abs(ours - reference) / (sr / N_FFT)
    assert bins_apart.max() <= 1.0 + 1e-6
    assert np.count_nonzero(bins_apart > 0.5) <= 2


def test_rolloff_of_silence_is_zero() -> None:
    s_power = np.zeros((1 + N_FFT // 2, 20), dtype=np.float32)

    rolloff = spectral_rolloff(S_power=s_power, sr=22050, n_fft=N_FFT)

    np.testing.assert_array_equal(rolloff, np.zeros(20, dtype=np.float32))


def test_flatness_of_noise_is_high_and_of_a_sine_near_zero() -> None:
    # given
    sr = 22050
    noise = _spectrogram(white_noise(seconds=3.0, sr=sr, seed=5)[0])
    tone = _spectrogram(sine(freq_hz=1000.0, seconds=3.0, sr=sr)[0])

    # when
    noise_flatness = spectral_flatness(S_power=noise)
    tone_flatness = spectral_flatness(S_power=tone)

    # then: an exponentially distributed periodogram has geometric / arithmetic mean exp(-0.5772) = 0.561
    assert abs(float(np.median(noise_flatness[2:-2])) - 0.561) < 0.03
    assert float(tone_flatness[2:-2].max()) < 1e-3
    assert noise_flatness.dtype == np.float32
    assert float(noise_flatness.max()) <= 1.0


def test_flatness_agrees_with_librosa() -> None:
    # given
    sr = 22050
    s_power = _spectrogram(click_track(bpm=100, seconds=6.0, sr=sr, channels=1, seed=2)[0])

    # when
    ours = spectral_flatness(S_power=s_power)
    reference = librosa.feature.spectral_flatness(S=np.sqrt(s_power), power=2.0, amin=1e-10)[0]

    # then
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-6)


def test_flatness_survives_values_outside_the_float32_product_range() -> None:
    # given: bins far above any audio spectrogram, which would overflow a product of four in float32
    s_power = np.full((1025, 3), 1e12, dtype=np.float32)
    s_power[::2, 1] = 1e-12

    # when
    flatness = spectral_flatness(S_power=s_power)

    # then: the flat frames read 1, the half-empty frame matches the direct computation
    floored = np.maximum(s_power[:, 1].astype(np.float64), 1e-10)
    expected = np.exp(np.log(floored).mean()) / floored.mean()
    np.testing.assert_allclose(flatness, [1.0, expected, 1.0], rtol=1e-5)


def test_flatness_of_silence_is_zero() -> None:
    s_power = np.zeros((1025, 7), dtype=np.float32)

    flatness = spectral_flatness(S_power=s_power)

    np.testing.assert_array_equal(flatness, np.zeros(7, dtype=np.float32))


def test_mfcc_shape_and_agreement_with_librosa() -> None:
    # given
    sr = 22050
    s_power = _spectrogram(click_track(bpm=128, seconds=5.0, sr=sr, channels=1)[0])
    s_db = mel_db(S_power=s_power, sr=sr, n_fft=N_FFT)

    # when
    coefficients = mfcc(S_db=s_db)

    # then
    assert coefficients.shape == (13, s_power.shape[1])
    assert coefficients.dtype == np.float32
    reference = librosa.feature.mfcc(S=s_db, n_mfcc=13)
    np.testing.assert_allclose(coefficients, reference, rtol=1e-4, atol=1e-2)


def test_mfcc_of_a_flat_log_mel_is_level_only() -> None:
    # given: every band at -30 dB
    s_db = np.full((128, 4), -30.0, dtype=np.float32)

    # when
    coefficients = mfcc(S_db=s_db, n_mfcc=20)

    # then: c0 = sqrt(n_mels) * level (orthonormal DCT), every other coefficient 0
    assert coefficients.shape == (20, 4)
    np.testing.assert_allclose(coefficients[0], np.full(4, -30.0 * np.sqrt(128.0)), rtol=1e-6)
    np.testing.assert_allclose(coefficients[1:], 0.0, atol=1e-3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: spectral_rolloff(S_power=np.ones((1025, 3), np.float32), sr=22050, n_fft=4096), "bins"),
        (
            lambda: spectral_rolloff(S_power=np.ones((1025, 3), np.float32), sr=22050, n_fft=2048, roll_percent=1.0),
            "roll",
        ),
        (lambda: spectral_rolloff(S_power=np.ones(1025, np.float32), sr=22050, n_fft=2048), "2-D"),
        (lambda: spectral_flatness(S_power=np.ones((1025, 3), np.float32), amin=0.0), "amin"),
        (lambda: mfcc(S_db=np.ones((12, 3), np.float32), n_mfcc=13), "n_mfcc"),
        (lambda: mfcc(S_db=np.ones((128, 3), np.float32), n_mfcc=0), "n_mfcc"),
    ],
)
def test_invalid_arguments_raise(call: object, message: str) -> None:
    with pytest.raises(AnalysisParameterError, match=message):
        call()  # type: ignore[operator]
