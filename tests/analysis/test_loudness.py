"""Known-answer tests of the RMS level."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import analyze
from analysis.loudness import RMS_FLOOR_DB, rms_db
from analysis.spectrum import power_spectrogram
from tests.fixtures.audio import sine

# A sine's RMS is its peak / sqrt(2): -3.0103 dB below its peak level.
SINE_CREST_DB = 20 * np.log10(np.sqrt(2.0))


@pytest.mark.parametrize("n_fft", [1024, 2048])
@pytest.mark.parametrize("freq_hz", [100.0, 440.0, 3000.0])
def test_rms_of_a_minus_6_dbfs_sine(freq_hz: float, n_fft: int) -> None:
    # given: a sine peaking at -6 dBFS
    y = sine(freq_hz=freq_hz, seconds=2.0, sr=22050, peak_dbfs=-6.0)[0]

    # when
    level = rms_db(S_power=power_spectrogram(y, n_fft=n_fft, hop_length=512), n_fft=n_fft)

    # then: interior frames (away from the zero padding) read -9.03 dBFS within 0.2 dB
    interior = level[n_fft // 512 + 1 : -(n_fft // 512 + 1)]
    assert interior.size == level.size - 2 * (n_fft // 512 + 1)
    np.testing.assert_allclose(interior, -6.0 - SINE_CREST_DB, atol=0.2)


@pytest.mark.parametrize("sr", [8000, 44100, 96000])
def test_pipeline_rms_series_of_a_sine_at_any_rate(sr: int) -> None:
    # given
    x = sine(freq_hz=440.0, seconds=3.0, sr=sr, peak_dbfs=-6.0, channels=2)

    # when
    series = analyze(x, sr=sr).feature("rms")

    # then
    assert series.unit == "dBFS"
    assert series.values.shape == (1 + (3 * 22050) // 512, 1)
    np.testing.assert_allclose(series.values[5:-5, 0], -6.0 - SINE_CREST_DB, atol=0.2)


def test_silence_reads_the_floor() -> None:
    # given
    y = np.zeros(22050, dtype=np.float32)

    # when
    level = rms_db(S_power=power_spectrogram(y), n_fft=2048)

    # then
    assert level.shape == (44,)
    assert bool(np.all(level == np.float32(RMS_FLOOR_DB)))
