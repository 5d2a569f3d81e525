"""Reading feature windows out of chunks, decimating them, and the JSON rounding of their values."""

from __future__ import annotations

import numpy as np
import pytest

from service.analysis_run.frames import (
    assemble,
    chunk_range,
    decimate,
    encode_chunks,
    frame_range,
    round_significant,
)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0.0, None, (0, 100)),
        (1.0, 2.0, (10, 20)),
        (0.3, 0.7, (3, 7)),
        (1.01, 1.09, (11, 11)),
        (9.95, 50.0, (100, 100)),
        (2.5, None, (25, 100)),
    ],
)
def test_frame_range_keeps_frames_whose_time_is_in_the_half_open_window(
    start: float, end: float | None, expected: tuple[int, int]
) -> None:
    assert frame_range(start_s=start, end_s=end, frame_rate=10.0, n_frames=100) == expected


def test_chunk_range_names_only_the_overlapping_chunks() -> None:
    assert chunk_range(0, 2048, chunk_frames=2048) == (0, 0)
    assert chunk_range(2047, 2049, chunk_frames=2048) == (0, 1)
    assert chunk_range(5000, 5001, chunk_frames=2048) == (2, 2)
    assert chunk_range(10, 10, chunk_frames=2048) is None


def test_assemble_reads_across_chunk_boundaries_and_marks_missing_frames() -> None:
    # given
    values = np.arange(50, dtype=np.float32).reshape(25, 2)
    chunks = encode_chunks(values, dtype="float32", chunk_frames=10)
    # when
    window = assemble(((c.start_frame, c.data) for c in chunks[1:]), first=8, stop=22, dtype="float32", dims=2)
    # then
    assert window.shape == (14, 2)
    assert np.isnan(window[:2]).all()
    assert np.array_equal(window[2:], values[10:22])


def test_minmax_keeps_a_one_frame_spike_and_mean_averages() -> None:
    # given
    values = np.zeros((1000, 2), dtype=np.float32)
    values[537, 1] = 9.0
    values[12, 0] = -4.0
    # when
    minmax = decimate(values, max_points=9, reduce="minmax")
    mean = decimate(values, max_points=9, reduce="mean")
    # then
    assert minmax.factor == mean.factor == 112
    assert minmax.values.shape == (9, 2, 2)
    assert minmax.values[537 // 112, 1, 1] == 9.0
    assert minmax.values[0, 0, 0] == -4.0
    assert mean.values.shape == (9, 2)
    assert mean.values[537 // 112, 1] == pytest.approx(9.0 / 112)
    assert mean.values[8, 1] == 0.0


def test_decimation_keeps_its_layout_when_nothing_is_dropped() -> None:
    # given
    values = np.arange(6, dtype=np.float32).reshape(3, 2)
    # when
    minmax = decimate(values, max_points=10, reduce="minmax")
    empty = decimate(values[:0], max_points=10, reduce="minmax")
    # then
    assert minmax.factor == 1
    assert np.array_equal(minmax.values[:, :, 0], values)
    assert np.array_equal(minmax.values[:, :, 1], values)
    assert empty.values.shape == (0, 2, 2)


def test_rounding_gives_back_every_float16_value() -> None:
    # given
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = every[np.isfinite(every)].astype(np.float32)
    # when
    rounded = round_significant(finite, dtype="float16")
    # then
    assert np.array_equal(rounded.astype(np.float16), finite.astype(np.float16))
    assert max(len(repr(v)) for v in rounded.tolist()) <= len("-0.00012345") + 4


def test_rounding_gives_back_float32_values_and_passes_gaps_through() -> None:
    # given
    rng = np.random.default_rng(3)
    values = (rng.standard_normal(10_000) * 10.0 ** rng.integers(-6, 6, 10_000)).astype(np.float32)
    values[:3] = [np.nan, -np.inf, 0.0]
    # when
    rounded = round_significant(values, dtype="float32")
    # then
    assert np.array_equal(rounded.astype(np.float32), values, equal_nan=True)
