"""Known-answer and degenerate-input tests of analyze()."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from analysis import ANALYZER_VERSION, AnalysisParameterError, analyze
from analysis.pipeline import ANALYSIS_SR, HOP_LENGTH
from tests.fixtures.audio import click_track, sine, white_noise
from tests.fixtures.metrics import beat_f_measure

BEAT_TOLERANCE_S = 0.030


@pytest.mark.parametrize("bpm", [90.0, 120.0, 128.0])
def test_tempo_and_beats_of_a_click_track(bpm: float) -> None:
    # given: 20 s of drums at a known tempo, beats exactly on k * 60 / bpm
    seconds = 20.0
    x = click_track(bpm=bpm, seconds=seconds, key="A minor", seed=1)
    reference = np.arange(0.0, seconds - 0.5, 60.0 / bpm)

    # when
    result = analyze(x, sr=44100)

    # then: tempo within 2 %, beats within 30 ms, and a clearly periodic signal
    assert result.tempo_bpm == pytest.approx(bpm, rel=0.02)
    assert beat_f_measure(result.beat_times_s, reference, BEAT_TOLERANCE_S) >= 0.9
    assert result.bpm_confidence >= 0.25
    beat_events = [e for e in result.events if e.event_type == "beat"]
    assert [e.time_s for e in beat_events] == result.beat_times_s.tolist()
    assert all(e.value is not None and 0.0 <= e.value <= 1.0 for e in beat_events)


@pytest.mark.parametrize("key", ["C major", "A minor", "F# minor", "D# major"])
def test_key_of_a_chord_progression(key: str) -> None:
    # given: I-IV-V-I (major) or i-iv-V-i (minor) over drums
    x = click_track(bpm=110, seconds=12, key=key, seed=2)

    # when
    result = analyze(x, sr=44100)

    # then
    assert result.key == key
    assert result.key_confidence >= 0.3


def test_features_share_one_frame_grid() -> None:
    # given: 5 s mono at 48 kHz
    x = click_track(bpm=100, seconds=5, sr=48000, channels=1)

    # when
    result = analyze(x, sr=48000)

    # then
    n_frames = 1 + (5 * ANALYSIS_SR) // HOP_LENGTH
    shapes = {f.name: f.values.shape for f in result.features}
    n_loudness = 1 + int(5 / 0.1)
    assert shapes == {
        "rms": (n_frames, 1),
        "spectral_centroid": (n_frames, 1),
        "spectral_rolloff": (n_frames, 1),
        "spectral_flatness": (n_frames, 1),
        "onset_strength": (n_frames, 1),
        "mfcc": (n_frames, 13),
        "chroma": (n_frames, 12),
        "tonal_bands": (n_frames, 6),
        "stereo_width": (n_frames, 1),
        "stereo_correlation": (n_frames, 1),
        "local_tempo": (n_frames, 1),
        "momentary_loudness": (n_loudness, 1),
        "short_term_loudness": (n_loudness, 1),
    }
    loudness_series = {"momentary_loudness", "short_term_loudness"}
    assert {f.hop_s for f in result.features if f.name not in loudness_series} == {HOP_LENGTH / ANALYSIS_SR}
    assert {f.hop_s for f in result.features if f.name in loudness_series} == {0.1}
    assert all(f.values.dtype == np.float32 for f in result.features)
    assert result.waveform.channels == 1
    assert result.waveform.sample_rate == 48000
    assert result.waveform.length == int(np.ceil(5 * 48000 / 256))
    assert result.analyzer_version == ANALYZER_VERSION
    times = [e.time_s for e in result.events]
    assert times == sorted(times)


def test_spectral_centroid_of_a_sine() -> None:
    # given
    x = sine(freq_hz=1000.0, seconds=2.0, sr=44100)

    # when
    centroid = analyze(x, sr=44100).feature("spectral_centroid").values[5:-5, 0]

    # then: all the magnitude sits around 1 kHz (Hann main lobe is symmetric)
    np.testing.assert_allclose(centroid, 1000.0, rtol=0.01)


@pytest.mark.parametrize(
    "samples",
    [np.zeros((2, 44100 * 5), dtype=np.float32), np.full(44100 * 5, 0.3, dtype=np.float32)],
    ids=["silence", "dc"],
)
def test_silence_and_dc_give_no_tempo_and_no_key(samples: npt.NDArray[np.float32]) -> None:
    # when
    result = analyze(samples, sr=44100)

    # then
    assert (result.tempo_bpm, result.bpm_confidence, result.key, result.key_confidence) == (0.0, 0.0, None, 0.0)
    assert result.beat_times_s.shape == (0,)
    assert [(e.event_type, e.label, (e.payload or {}).get("role")) for e in result.events] == [
        ("section", "A", "silence")
    ]
    summary = result.summary()
    assert summary["rms_db_mean"] == pytest.approx(-120.0, abs=0.5)
    if not samples.any():
        assert (summary["lufs_integrated"], summary["true_peak_dbtp"]) == (None, None)


def test_white_noise_has_low_confidence_and_no_key() -> None:
    # given
    x = white_noise(seconds=10, seed=3)

    # when
    result = analyze(x, sr=44100)

    # then
    assert result.bpm_confidence < 0.15
    assert result.key is None
    assert result.key_confidence == 0.0


def test_steady_tone_has_no_tempo() -> None:
    # given
    x = sine(freq_hz=440.0, seconds=5.0)

    # when
    result = analyze(x, sr=44100)

    # then
    assert (result.tempo_bpm, result.bpm_confidence, len(result.beat_times_s)) == (0.0, 0.0, 0)


@pytest.mark.parametrize(("seconds", "sr"), [(2.0, 44100), (10.0, 8000), (10.0, 96000), (0.01, 44100)])
def test_short_clips_and_extreme_rates_do_not_crash(seconds: float, sr: int) -> None:
    # given
    x = click_track(bpm=120, seconds=seconds, sr=sr)

    # when
    result = analyze(x, sr=sr)

    # then
    assert result.duration_s == pytest.approx(seconds, abs=1.0 / sr)
    assert 0.0 <= result.bpm_confidence <= 1.0
    assert 0.0 <= result.key_confidence <= 1.0
    if seconds >= 2.0:
        assert result.tempo_bpm == pytest.approx(120.0, rel=0.04)
        assert result.key == "A minor"


@pytest.mark.parametrize(
    ("samples", "sr", "message"),
    [
        (np.zeros((2, 0), dtype=np.float32), 44100, "empty"),
        (np.zeros((44100, 2), dtype=np.float32), 44100, "channels-first"),
        (np.array([0.0, np.nan], dtype=np.float32), 44100, "NaN"),
        (np.array([0.0, -np.inf], dtype=np.float32), 44100, "NaN or infinite"),
        (np.array([0.0, 1e20], dtype=np.float32), 44100, "far beyond full scale"),
        (np.zeros(10, dtype=np.int16), 44100, "floating point"),
        (np.zeros(10, dtype=np.float32), 44100.0, "integer"),
        (np.zeros(10, dtype=np.float32), 10, "between"),
        (np.zeros((2, 2, 2), dtype=np.float32), 44100, "shape"),
    ],
)
def test_invalid_input_raises_parameter_error(samples: npt.NDArray[np.generic], sr: int, message: str) -> None:
    # when / then
    with pytest.raises(AnalysisParameterError, match=message):
        analyze(samples, sr=sr)
