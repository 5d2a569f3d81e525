"""Known-answer tests of the tonal balance (producer band energies)."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from analysis.errors import AnalysisParameterError
from analysis.spectrum import power_spectrogram
from analysis.tonal_balance import BAND_NAMES, TONAL_FLOOR_DB, band_bins, tonal_balance
from tests.fixtures.audio import sine, white_noise

SR = 44100
N_FFT = 4096
HOP = 1024


def _spectrum(y: np.ndarray) -> np.ndarray:
    return power_spectrogram(np.asarray(y, dtype=np.float32), n_fft=N_FFT, hop_length=HOP)


def test_a_100_hz_sine_is_all_low() -> None:
    # given: a 100 Hz sine peaking at -6 dBFS
    y = sine(freq_hz=100.0, seconds=5.0, sr=SR, peak_dbfs=-6.0)[0]

    # when
    balance = tonal_balance(S_power=_spectrum(y), sr=SR, n_fft=N_FFT)

    # then: the low band holds the energy and reads the sine's RMS level
    assert balance.band_names == BAND_NAMES
    assert balance.available == (True,) * 6
    shares = dict(zip(BAND_NAMES, balance.share_pct, strict=True))
    assert shares["low"] == pytest.approx(100.0, abs=0.05)  # the switch-on and -off clicks leak a little
    assert balance.relative_db[1] == pytest.approx(0.0, abs=0.005)
    assert balance.band_level_dbfs[1] == pytest.approx(-6.0 - 3.0103, abs=0.05)
    assert sum(share for share in balance.share_pct if share is not None) == pytest.approx(100.0, abs=1e-9)
    assert balance.band_db.shape == (1 + 5 * SR // HOP, 6)
    np.testing.assert_allclose(balance.band_db[5:-5, 1], -6.0 - 3.0103, atol=0.05)


def test_white_noise_shares_follow_bandwidth() -> None:
    # given: white noise has equal energy per hertz
    y = white_noise(seconds=5.0, sr=SR, rms_dbfs=-20.0, seed=1)[0]

    # when
    balance = tonal_balance(S_power=_spectrum(y), sr=SR, n_fft=N_FFT)

    # then: each band's share is its width over the 19.98 kHz covered, within 0.5 percentage points
    widths = np.array([40.0, 190.0, 1750.0, 4000.0, 6000.0, 8000.0])
    expected = 100.0 * widths / widths.sum()
    np.testing.assert_allclose(np.array(balance.share_pct, dtype=float), expected, atol=0.5)
    # and the band levels sum (in power) to the noise level within the band range
    total_db = 10 * np.log10(np.sum(10 ** (np.array(balance.band_level_dbfs, dtype=float) / 10)))
    assert total_db == pytest.approx(-20.0 + 10 * np.log10(widths.sum() / (SR / 2)), abs=0.1)


@pytest.mark.parametrize(
    ("source_sr", "expected_available"),
    [
        (8000, (True, True, True, False, False, False)),
        (22050, (True, True, True, True, False, False)),
        (32000, (True, True, True, True, True, False)),
        (44100, (True, True, True, True, True, True)),
    ],
)
def test_bands_above_the_source_nyquist_are_unavailable(source_sr: int, expected_available: tuple[bool, ...]) -> None:
    # given: noise recorded at source_sr, upsampled to the 44.1 kHz analysis grid
    y = white_noise(seconds=3.0, sr=source_sr, rms_dbfs=-20.0, seed=2)[0]
    if source_sr != SR:
        y = soxr.resample(y, source_sr, SR)

    # when
    balance = tonal_balance(S_power=_spectrum(y), sr=SR, n_fft=N_FFT, source_sr=source_sr)

    # then: unavailable bands are None / NaN, never a silence level; the rest still sum to 100 %
    assert balance.available == expected_available
    for band, available in enumerate(expected_available):
        assert (balance.share_pct[band] is None) == (not available)
        assert (balance.relative_db[band] is None) == (not available)
        assert (balance.band_level_dbfs[band] is None) == (not available)
        assert bool(np.all(np.isnan(balance.band_db[:, band]))) == (not available)
    assert sum(share for share in balance.share_pct if share is not None) == pytest.approx(100.0, abs=1e-9)


def test_silence() -> None:
    # given
    y = np.zeros(3 * SR, dtype=np.float32)

    # when
    balance = tonal_balance(S_power=_spectrum(y), sr=SR, n_fft=N_FFT)

    # then
    assert balance.share_pct == (None,) * 6
    assert balance.relative_db == (None,) * 6
    assert balance.band_level_dbfs == (None,) * 6
    assert bool(np.all(balance.band_db == np.float32(TONAL_FLOOR_DB)))


def test_band_bins_at_the_pipeline_grid() -> None:
    # when
    bins = band_bins(sr=SR, n_fft=N_FFT)

    # then: bin k is at k * 10.77 Hz; each band's bins lie in [low, high)
    assert bins == ((2, 6), (6, 24), (24, 186), (186, 558), (558, 1115), (1115, 1858))


def test_wrong_spectrum_shape_is_rejected() -> None:
    # given
    s_power = np.zeros((1025, 10), dtype=np.float32)

    # when / then
    with pytest.raises(AnalysisParameterError, match="S_power must have shape"):
        tonal_balance(S_power=s_power, sr=SR, n_fft=N_FFT)
