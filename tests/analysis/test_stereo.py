"""Known-answer tests of the stereo image (width, correlation, balance)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from analysis.errors import AnalysisParameterError
from analysis.stereo import stereo_image
from analysis.tonal_balance import BAND_NAMES
from tests.fixtures.audio import click_track, sine, white_noise

SR = 44100
N_FFT = 4096
HOP = 1024


def _frames(y: np.ndarray) -> np.ndarray:
    n_frames = 1 + y.size // HOP
    padded = np.pad(np.asarray(y, dtype=np.float32), N_FFT // 2)
    padded = np.pad(padded, (0, max(0, N_FFT + (n_frames - 1) * HOP - padded.size)))
    window = scipy.signal.get_window("hann", N_FFT, fftbins=True).astype(np.float32)
    return np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames] * window


def _stft(y: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(scipy.fft.rfft(_frames(y), axis=1).T.astype(np.complex64))


def _image(x: np.ndarray, **kwargs: int):
    return stereo_image(stft_left=_stft(x[0]), stft_right=_stft(x[1]), sr=SR, n_fft=N_FFT, **kwargs)


def test_identical_channels_have_no_width() -> None:
    # given
    x = np.repeat(white_noise(seconds=3.0, sr=SR, seed=4), 2, axis=0)

    # when
    image = _image(x)

    # then
    np.testing.assert_allclose(image.width, 0.0, atol=1e-6)
    np.testing.assert_allclose(image.correlation, 1.0, atol=1e-5)
    assert image.width_mean == pytest.approx(0.0, abs=1e-6)
    assert image.correlation_mean == pytest.approx(1.0, abs=1e-5)
    assert image.negative_correlation_fraction == 0.0
    assert image.balance_db == pytest.approx(0.0, abs=1e-6)
    assert image.band_names == BAND_NAMES
    np.testing.assert_allclose(np.array(image.band_width, dtype=float), 0.0, atol=1e-6)


def test_mono_source() -> None:
    # given
    y = white_noise(seconds=2.0, sr=SR, seed=5)[0]

    # when
    image = stereo_image(stft_left=_stft(y), stft_right=None, sr=SR, n_fft=N_FFT)

    # then
    assert image.width.shape == (1 + y.size // HOP,)
    assert bool(np.all(image.width == 0.0))
    assert bool(np.all(image.correlation == 1.0))
    assert image.side_to_mid_db is None
    assert image.band_width == (0.0,) * 6
    assert image.band_correlation == (1.0,) * 6


def test_hard_panned_left() -> None:
    # given
    y = white_noise(seconds=3.0, sr=SR, seed=6)[0]
    x = np.stack([y, np.zeros_like(y)])

    # when
    image = _image(x)

    # then: mid and side are equal, the correlation of a silent channel is defined as 0
    np.testing.assert_allclose(image.width, 0.5, atol=1e-6)
    assert bool(np.all(image.correlation == 0.0))
    assert image.side_to_mid_db == pytest.approx(0.0, abs=1e-6)
    assert image.balance_db is None
    assert image.band_correlation == (None,) * 6


def test_polarity_inverted_channels_are_all_side() -> None:
    # given
    y = white_noise(seconds=3.0, sr=SR, seed=7)[0]
    x = np.stack([y, -y])

    # when
    image = _image(x)

    # then
    np.testing.assert_allclose(image.width, 1.0, atol=1e-6)
    np.testing.assert_allclose(image.correlation, -1.0, atol=1e-5)
    assert image.negative_correlation_fraction == 1.0
    assert image.side_to_mid_db is None
    np.testing.assert_allclose(np.array(image.band_correlation, dtype=float), -1.0, atol=1e-5)


def test_uncorrelated_noise_is_half_wide() -> None:
    # given
    x = white_noise(seconds=5.0, sr=SR, channels=2, seed=8)

    # when
    image = _image(x)

    # then
    assert image.width_median == pytest.approx(0.5, abs=0.02)
    assert image.correlation_mean == pytest.approx(0.0, abs=0.02)
    assert image.side_to_mid_db == pytest.approx(0.0, abs=0.1)


def test_correlation_equals_the_time_domain_correlation_of_windowed_frames() -> None:
    # given: music with the snare panned left and the hats right
    x = click_track(bpm=120.0, seconds=4.0, sr=SR)

    # when
    image = _image(x)

    # then
    left, right = _frames(x[0]).astype(np.float64), _frames(x[1]).astype(np.float64)
    expected = np.einsum("ij,ij->i", left, right) / np.sqrt(
        np.einsum("ij,ij->i", left, left) * np.einsum("ij,ij->i", right, right)
    )
    np.testing.assert_allclose(image.correlation, expected, atol=1e-4)


def test_width_per_band() -> None:
    # given: a 100 Hz sine in both channels (mono bass) and a 3 kHz sine in the left only
    bass = sine(freq_hz=100.0, seconds=3.0, sr=SR, peak_dbfs=-6.0)[0]
    lead = sine(freq_hz=3000.0, seconds=3.0, sr=SR, peak_dbfs=-12.0)[0]
    x = np.stack([bass + lead, bass])

    # when
    image = _image(x)

    # then
    band_width = dict(zip(BAND_NAMES, image.band_width, strict=True))
    assert band_width["low"] == pytest.approx(0.0, abs=1e-4)
    assert band_width["high_mid"] == pytest.approx(0.5, abs=1e-4)


def test_bands_above_the_source_nyquist_are_none() -> None:
    # given
    x = white_noise(seconds=2.0, sr=SR, channels=2, seed=9)

    # when
    image = _image(x, source_sr=22050)

    # then
    assert image.band_width[4:] == (None, None)
    assert image.band_correlation[4:] == (None, None)
    assert all(value is not None for value in image.band_width[:4])


def test_silence() -> None:
    # given
    x = np.zeros((2, 2 * SR), dtype=np.float32)

    # when
    image = _image(x)

    # then
    assert bool(np.all(image.width == 0.0))
    assert bool(np.all(image.correlation == 0.0))
    assert image.width_mean is None
    assert image.correlation_mean is None
    assert image.negative_correlation_fraction is None
    assert image.side_to_mid_db is None
    assert image.balance_db is None
    assert image.band_width == (None,) * 6


def test_mismatched_stfts_are_rejected() -> None:
    # given
    left = np.zeros((2049, 10), dtype=np.complex64)

    # when / then
    with pytest.raises(AnalysisParameterError, match="differ in shape"):
        stereo_image(stft_left=left, stft_right=left[:, :5], sr=SR, n_fft=N_FFT)
    with pytest.raises(AnalysisParameterError, match="complex"):
        stereo_image(stft_left=np.abs(left), stft_right=left, sr=SR, n_fft=N_FFT)
