"""audiowaveform peaks: reading, zoom planning, combining, cropping and bit depth, checked against the analysis."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from analysis.errors import WaveformFormatError
from analysis.types import WaveformPeaks
from service.analysis_run.waveform import Waveform, ZoomPlan, parse_dat, plan_pixels, plan_zoom

LEVELS = [256, 512, 1024, 2048, 4096]


@pytest.fixture
def samples() -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.uniform(-1.0, 1.0, size=(2, 44100 * 3 + 123)) * np.linspace(0.1, 1.0, 44100 * 3 + 123)).astype(
        np.float32
    )


def peaks(samples: np.ndarray, samples_per_pixel: int, bits: int = 16) -> WaveformPeaks:
    return WaveformPeaks.from_samples(samples, sample_rate=44100, samples_per_pixel=samples_per_pixel, bits=bits)


def test_dat_round_trips_and_matches_the_analysis_encoder(samples: np.ndarray) -> None:
    # given
    stored = peaks(samples, 256).to_dat()
    # when
    waveform = parse_dat(stored)
    # then
    assert (waveform.sample_rate, waveform.samples_per_pixel, waveform.bits) == (44100, 256, 16)
    assert (waveform.length, waveform.channels) == (-(-samples.shape[1] // 256), 2)
    assert waveform.to_dat() == stored
    assert waveform.to_json() == peaks(samples, 256).to_json()


def test_version_1_files_are_read_as_mono() -> None:
    # given
    raw = struct.pack("<iIiiI", 1, 1, 8000, 64, 2) + bytes([0xF6, 10, 0xFB, 5])
    # when
    waveform = parse_dat(raw)
    # then
    assert (waveform.bits, waveform.channels, waveform.length) == (8, 1, 2)
    assert waveform.data.reshape(-1).tolist() == [-10, 10, -5, 5]


@pytest.mark.parametrize(
    "raw",
    [b"", struct.pack("<iIiiIi", 3, 0, 44100, 256, 0, 1), struct.pack("<iIiiIi", 2, 0, 44100, 256, 4, 2) + b"\0" * 8],
)
def test_malformed_files_are_refused(raw: bytes) -> None:
    with pytest.raises(WaveformFormatError):
        parse_dat(raw)


@pytest.mark.parametrize("factor", [2, 3, 7, 16])
def test_combining_pixels_equals_peaks_computed_at_the_coarser_zoom(samples: np.ndarray, factor: int) -> None:
    # when
    combined = parse_dat(peaks(samples, 256).to_dat()).combine(factor)
    # then
    expected = peaks(samples, 256 * factor)
    assert combined.samples_per_pixel == 256 * factor
    assert np.array_equal(combined.data, expected.data)


def test_a_window_is_a_slice_of_the_whole_track_at_the_same_zoom(samples: np.ndarray) -> None:
    # given
    waveform = parse_dat(peaks(samples, 256).to_dat())
    whole = waveform.combine(3)
    # when
    window, first = waveform.window(factor=3, start_s=1.0, end_s=2.0)
    # then
    assert first == int(1.0 * 44100 / 768)
    assert window.length == -(-2 * 44100 // 768) - first
    assert np.array_equal(window.data, whole.data[first : first + window.length])
    assert window.start_seconds(first) <= 1.0 < window.start_seconds(first + 1)


def test_eight_bits_rescale_full_scale_to_full_scale(samples: np.ndarray) -> None:
    # given
    data = np.array([[[-32768, 32767]], [[-16384, 16384]], [[-130, 130]], [[0, 0]]], dtype=np.int16)
    waveform = Waveform(sample_rate=44100, samples_per_pixel=256, bits=16, data=data)
    # when
    eight = waveform.to_bits(8)
    # then
    assert eight.bits == 8
    assert eight.data.dtype == np.int8
    assert eight.data.reshape(-1).tolist() == [-127, 127, -64, 64, -1, 1, 0, 0]
    from_samples = peaks(samples, 512, bits=8).data
    rescaled = parse_dat(peaks(samples, 512).to_dat()).to_bits(8).data
    assert np.abs(rescaled.astype(int) - from_samples).max() <= 1


def test_merging_channels_keeps_the_widest_range() -> None:
    # given
    data = np.array([[[-5, 9], [-7, 3]], [[-1, 1], [-2, 4]]], dtype=np.int16)
    # when
    merged = Waveform(sample_rate=100, samples_per_pixel=10, bits=16, data=data).merge_channels()
    # then
    assert merged.data.tolist() == [[[-7, 9]], [[-2, 4]]]


@pytest.mark.parametrize(
    ("zoom", "plan"),
    [
        (None, ZoomPlan(level=256, factor=1)),
        (256, ZoomPlan(level=256, factor=1)),
        (768, ZoomPlan(level=256, factor=3)),
        (1024, ZoomPlan(level=1024, factor=1)),
        (1536, ZoomPlan(level=512, factor=3)),
        (3072, ZoomPlan(level=1024, factor=3)),
        (8192, ZoomPlan(level=4096, factor=2)),
        (300, None),
        (700, None),
        (3000, None),
        (255, None),
    ],
)
def test_zoom_is_served_exactly_from_the_coarsest_level_that_divides_it_else_not_at_all(
    zoom: int | None, plan: ZoomPlan | None
) -> None:
    assert plan_zoom(LEVELS, zoom) == plan


@pytest.mark.parametrize(
    ("samples", "pixels", "plan"),
    [
        # 10 minutes at 44.1 kHz on 1280 pixels: 20671.875 samples per pixel at most -> 4096 * 5 = 20480
        (600 * 44100, 1280, ZoomPlan(level=4096, factor=5)),
        # exactly a stored level
        (1024 * 100, 100, ZoomPlan(level=1024, factor=1)),
        # between levels: the coarsest level with a multiple within 10 % below the target, 768 (256 * 3)
        (800 * 10, 10, ZoomPlan(level=256, factor=3)),
        # 2646 samples per pixel at most: 2560 from 512 * 5, not 256 * 10
        (2646 * 400, 400, ZoomPlan(level=512, factor=5)),
        # 280 at most: no multiple within 10 % but 256 itself
        (280 * 10, 10, ZoomPlan(level=256, factor=1)),
        # a window too short for that many points even at the finest level
        (256 * 10, 1000, ZoomPlan(level=256, factor=1)),
        (0, 10, ZoomPlan(level=256, factor=1)),
    ],
)
def test_pixels_picks_the_coarsest_zoom_with_at_least_that_many_points(
    samples: int, pixels: int, plan: ZoomPlan
) -> None:
    # when
    chosen = plan_pixels(LEVELS, samples=samples, pixels=pixels)
    # then
    assert chosen == plan
    if samples >= 256 * pixels:
        assert math.ceil(samples / chosen.samples_per_pixel) >= pixels
