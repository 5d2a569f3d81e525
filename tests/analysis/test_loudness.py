"""Known-answer tests of the RMS level, BS.1770-4 loudness, EBU Tech 3342 loudness range and true peak."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import analyze
from analysis.io import load
from analysis.loudness import (
    _TRUE_PEAK_FIR,
    LOUDNESS_FLOOR_LUFS,
    RMS_FLOOR_DB,
    k_weighting_sos,
    measure_loudness,
    rms_db,
)
from analysis.spectrum import power_spectrogram
from tests.fixtures.audio import click_track, sine
from tests.fixtures.corpus import DEV_CORPUS

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


# --- BS.1770-4 / EBU R 128 loudness, EBU Tech 3342 loudness range, true peak ---------------------------------


def _tone_sequence(levels_dbfs: list[float], durations_s: list[float], *, sr: int = 48000, channels: int = 2):
    """Stereo (or n-channel) 1 kHz sine segments at the given peak levels, as the EBU test signals are built."""
    parts = [
        sine(freq_hz=1000.0, seconds=seconds, sr=sr, peak_dbfs=level, channels=channels)
        for level, seconds in zip(levels_dbfs, durations_s, strict=True)
    ]
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize(
    ("levels", "durations", "expected_lufs"),
    [
        ([-23.0], [20.0], -23.0),  # Tech 3341 case 1
        ([-33.0], [20.0], -33.0),  # case 2
        ([-36.0, -23.0, -36.0], [10.0, 60.0, 10.0], -23.0),  # case 3: relative gate
        ([-72.0, -36.0, -23.0, -36.0, -72.0], [10.0, 10.0, 60.0, 10.0, 10.0], -23.0),  # case 4: both gates
        ([-26.0, -20.0, -26.0], [20.0, 20.1, 20.0], -23.0),  # case 5
    ],
)
def test_ebu_tech_3341_integrated_loudness(levels: list[float], durations: list[float], expected_lufs: float) -> None:
    # given
    x = _tone_sequence(levels, durations)

    # when
    result = measure_loudness(x, sr=48000)

    # then
    assert result.integrated_lufs == pytest.approx(expected_lufs, abs=0.1)


def test_ebu_tech_3341_case_1_momentary_and_short_term() -> None:
    # given: a stereo 1 kHz sine at -23 dBFS
    x = _tone_sequence([-23.0], [20.0])

    # when
    result = measure_loudness(x, sr=48000)

    # then: every complete window reads -23.0, and the centred series does away from the padded ends
    assert result.momentary_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert result.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert result.hop_s == 0.1
    assert result.momentary_lufs.shape == (201,)
    assert result.short_term_lufs.shape == (201,)
    np.testing.assert_allclose(result.momentary_lufs[2:-2], -23.0, atol=0.1)
    np.testing.assert_allclose(result.short_term_lufs[15:-15], -23.0, atol=0.1)
    assert result.loudness_range_lu == pytest.approx(0.0, abs=0.01)


def test_ebu_tech_3341_case_6_five_channels() -> None:
    # given: L, R, C, Ls, Rs at -28, -28, -24, -30, -30 dBFS
    x = np.concatenate([_tone_sequence([level], [20.0], channels=1) for level in (-28, -28, -24, -30, -30)])

    # when
    result = measure_loudness(x, sr=48000)

    # then
    assert result.integrated_lufs == pytest.approx(-23.0, abs=0.1)


def test_ebu_tech_3341_case_9_short_term_is_constant() -> None:
    # given: 20 periods of 1.34 s at -20 dBFS and 1.66 s at -30 dBFS
    x = _tone_sequence([-20.0, -30.0] * 20, [1.34, 1.66] * 20)

    # when
    result = measure_loudness(x, sr=48000)

    # then: any 3 s window holds one period, so the short-term loudness is -23.0 wherever it is complete
    complete = result.short_term_lufs[15 : 15 + 571]
    np.testing.assert_allclose(complete, -23.0, atol=0.1)
    assert result.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize(
    ("levels", "expected_lu"),
    [
        ([-20.0, -30.0], 10.0),  # Tech 3342 case 1
        ([-20.0, -15.0], 5.0),  # case 2
        ([-40.0, -20.0], 20.0),  # case 3
        ([-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),  # case 4
    ],
)
def test_ebu_tech_3342_loudness_range(levels: list[float], expected_lu: float) -> None:
    # given: 20 s segments of a stereo 1 kHz sine
    x = _tone_sequence(levels, [20.0] * len(levels), sr=44100)

    # when
    result = measure_loudness(x, sr=44100)

    # then
    assert result.loudness_range_lu == pytest.approx(expected_lu, abs=1.0)


@pytest.mark.parametrize("sr", [44100, 48000])
def test_integrated_loudness_agrees_with_pyloudnorm(sr: int) -> None:
    # given
    pyloudnorm = pytest.importorskip("pyloudnorm")
    x = click_track(bpm=124.0, seconds=12.0, sr=sr, key="D minor", seed=3)
    data = x.T.astype(np.float64)

    # when
    result = measure_loudness(x, sr=sr)

    # then: identical to pyloudnorm with the exact BS.1770 filters, within 0.1 LU of its approximate default ones
    assert result.integrated_lufs is not None
    exact = pyloudnorm.Meter(sr, filter_class="DeMan").integrated_loudness(data)
    assert result.integrated_lufs == pytest.approx(exact, abs=1e-6)
    assert result.integrated_lufs == pytest.approx(pyloudnorm.Meter(sr).integrated_loudness(data), abs=0.1)


def _sine_at(*, freq_hz: float, amplitude: float, phase_deg: float, sr: int = 48000, seconds: float = 1.0):
    t = np.arange(round(seconds * sr)) / sr
    y = amplitude * np.sin(2 * np.pi * freq_hz * t + np.deg2rad(phase_deg))
    # 10 ms fades: a tone switched on mid-cycle is a step, whose band-limited overshoot is a real (higher) peak.
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    y *= 0.5 - 0.5 * np.cos(np.pi * fade)
    return np.stack([y, y]).astype(np.float32)


@pytest.mark.parametrize(
    ("freq_hz", "amplitude", "phase_deg", "expected_dbtp"),
    [
        (12000.0, 0.5, 0.0, -6.0),  # Tech 3341 case 15: fs/4
        (12000.0, 0.5, 45.0, -6.0),  # case 16: fs/4, samples 3 dB below the peak
        (8000.0, 0.5, 60.0, -6.0),  # case 17: fs/6
        (6000.0, 0.5, 67.5, -6.0),  # case 18: fs/8
        (12000.0, 1.41, 45.0, 3.0),  # case 19: samples just below full scale, true peak +3 dBTP
    ],
)
def test_ebu_tech_3341_true_peak(freq_hz: float, amplitude: float, phase_deg: float, expected_dbtp: float) -> None:
    # given
    x = _sine_at(freq_hz=freq_hz, amplitude=amplitude, phase_deg=phase_deg)

    # when
    result = measure_loudness(x, sr=48000)

    # then: within the Tech 3341 tolerance of +0.2 / -0.4 dB
    assert result.true_peak_dbtp is not None
    assert expected_dbtp - 0.4 <= result.true_peak_dbtp <= expected_dbtp + 0.2


@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5, 0.75])
def test_true_peak_of_a_band_limited_pulse_between_samples(offset: float) -> None:
    # given: a windowed-sinc pulse band-limited to 0.45 fs whose continuous peak (1.0) lies `offset` samples
    # after a sample, in silence (the spirit of Tech 3341 cases 20-23)
    sr = 48000
    n = np.arange(-64, 65)
    pulse = np.sinc(0.9 * (n - offset)) * np.kaiser(n.size, 8.0)
    y = np.zeros(sr)
    y[sr // 2 - 64 : sr // 2 + 65] = pulse
    x = np.stack([y, 0.5 * y]).astype(np.float32)

    # when
    result = measure_loudness(x, sr=sr)

    # then: 0 dBTP within +0.2 / -0.4 dB, and the sample peak reads low where the peak falls between samples
    assert result.true_peak_dbtp is not None
    assert result.sample_peak_dbfs is not None
    assert -0.4 <= result.true_peak_dbtp <= 0.2
    assert result.sample_peak_dbfs <= result.true_peak_dbtp


def test_true_peak_search_equals_oversampling_everything(rng: np.random.Generator) -> None:
    # given: quiet noise with loud clicks, so that most blocks are pruned and some must be searched
    x = (0.05 * rng.standard_normal((2, 96000))).astype(np.float32)
    x[0, 1000:1003] = [0.9, -0.95, 0.9]
    x[1, 70000:70002] = [-0.97, 0.96]
    x[1, -1] = 0.99

    # when
    result = measure_loudness(x, sr=48000)

    # then: identical to the 4x interpolation of the whole signal with the BS.1770-4 Annex 2 filter
    fir = _TRUE_PEAK_FIR.astype(np.float32)
    full = max(float(np.abs(np.convolve(channel, phase)).max()) for channel in x for phase in fir)
    expected = max(full, float(np.abs(x).max()))
    assert result.true_peak_dbtp == pytest.approx(20 * np.log10(expected), abs=1e-5)


def test_sine_levels_peaks_and_crest_factor() -> None:
    # given: a stereo 997 Hz sine peaking at -6 dBFS
    x = sine(freq_hz=997.0, seconds=5.0, sr=44100, peak_dbfs=-6.0, channels=2)

    # when
    result = measure_loudness(x, sr=44100)

    # then
    assert result.sample_peak_dbfs == pytest.approx(-6.0, abs=0.01)
    assert result.true_peak_dbtp == pytest.approx(-6.0, abs=0.05)
    assert result.rms_dbfs == pytest.approx(-6.0 - SINE_CREST_DB, abs=0.01)
    assert result.crest_factor_db == pytest.approx(SINE_CREST_DB, abs=0.01)
    assert result.integrated_lufs is not None
    assert result.plr_db == pytest.approx(result.true_peak_dbtp - result.integrated_lufs, abs=1e-9)


def test_mono_reads_3_lu_below_the_same_signal_on_two_channels() -> None:
    # given
    x = click_track(bpm=100.0, seconds=6.0, sr=44100, channels=1)

    # when
    mono = measure_loudness(x[0], sr=44100)
    dual = measure_loudness(np.repeat(x, 2, axis=0), sr=44100)

    # then
    assert mono.integrated_lufs is not None
    assert dual.integrated_lufs is not None
    assert dual.integrated_lufs - mono.integrated_lufs == pytest.approx(10 * np.log10(2.0), abs=1e-6)
    assert mono.true_peak_dbtp == dual.true_peak_dbtp


def test_silence_has_no_loudness_or_peak() -> None:
    # given
    x = np.zeros((2, 44100 * 4), dtype=np.float32)

    # when
    result = measure_loudness(x, sr=44100)

    # then
    assert result.integrated_lufs is None
    assert result.loudness_range_lu is None
    assert result.momentary_max_lufs is None
    assert result.short_term_max_lufs is None
    assert result.sample_peak_dbfs is None
    assert result.true_peak_dbtp is None
    assert result.plr_db is None
    assert result.rms_dbfs is None
    assert result.crest_factor_db is None
    assert result.momentary_lufs.shape == (41,)
    assert bool(np.all(result.momentary_lufs == np.float32(LOUDNESS_FLOOR_LUFS)))
    assert bool(np.all(result.short_term_lufs == np.float32(LOUDNESS_FLOOR_LUFS)))


def test_below_the_absolute_gate_and_too_short() -> None:
    # given: a -80 dBFS tone (below the -70 LUFS gate) and a 300 ms tone (shorter than one 400 ms block)
    quiet = sine(freq_hz=1000.0, seconds=5.0, sr=44100, peak_dbfs=-80.0, channels=2)
    short = sine(freq_hz=1000.0, seconds=0.3, sr=44100, peak_dbfs=-20.0, channels=2)

    # when
    quiet_result = measure_loudness(quiet, sr=44100)
    short_result = measure_loudness(short, sr=44100)

    # then: loudness is not measurable, the peaks are
    assert quiet_result.integrated_lufs is None
    assert quiet_result.sample_peak_dbfs == pytest.approx(-80.0, abs=0.01)
    assert short_result.integrated_lufs is None
    assert short_result.loudness_range_lu is None
    assert short_result.momentary_lufs.shape == (4,)
    assert short_result.sample_peak_dbfs == pytest.approx(-20.0, abs=0.01)


@pytest.mark.parametrize("sr", [4000, 8000, 11025, 32000, 96000])
def test_loudness_of_a_sine_at_any_rate(sr: int) -> None:
    # given: a stereo 1 kHz sine at -23 dBFS (rates below 8 kHz are upsampled for the K-weighting)
    x = sine(freq_hz=1000.0, seconds=6.0, sr=sr, peak_dbfs=-23.0, channels=2)

    # when
    result = measure_loudness(x, sr=sr)

    # then
    assert result.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert result.hop_s == pytest.approx(0.1, abs=1e-4)


def test_k_weighting_matches_the_bs1770_table_at_48k() -> None:
    # when
    sos = k_weighting_sos(sr=48000)

    # then: BS.1770-4 Tables 1 and 2
    np.testing.assert_allclose(
        sos[0],
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
        atol=1e-8,
    )
    np.testing.assert_allclose(sos[1], [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621], atol=1e-8)


@pytest.mark.parametrize("name", ["gtzan_pop.00003.wav", "simac_01_H_mikri_Rallou.flac"])
def test_dev_corpus_agrees_with_pyloudnorm(name: str) -> None:
    # given
    pyloudnorm = pytest.importorskip("pyloudnorm")
    path = DEV_CORPUS / "audio" / name
    if not path.exists():
        pytest.skip(f"dev corpus file {path} is absent (the corpus is only on the shared dev machines)")
    decoded = load(path)
    data = decoded.samples.T.astype(np.float64)

    # when
    result = measure_loudness(decoded.samples, sr=decoded.sr)

    # then: identical to pyloudnorm with the exact BS.1770 filters; within 0.1 LU of its approximate default ones
    # (0.09 LU at 22.05 kHz, 0.045 LU at 44.1 kHz on the dev corpus)
    assert result.integrated_lufs is not None
    exact = pyloudnorm.Meter(decoded.sr, filter_class="DeMan").integrated_loudness(data)
    assert result.integrated_lufs == pytest.approx(exact, abs=1e-6)
    assert result.integrated_lufs == pytest.approx(pyloudnorm.Meter(decoded.sr).integrated_loudness(data), abs=0.1)
