"""Waveform overviews: level consistency, audiowaveform .dat/JSON layout, wavesurfer peaks and the PNG thumbnail."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from analysis import AnalysisParameterError
from analysis.types import WaveformPeaks
from analysis.waveform import DEFAULT_SAMPLES_PER_PIXEL, thumbnail_png, waveform_levels, wavesurfer_peaks
from tests.fixtures.audio import click_track, sine

SR = 44100


@pytest.fixture(scope="module")
def stereo() -> np.ndarray:
    # 5 s plus a remainder that fills no pixel of any level completely
    return click_track(bpm=120, seconds=5.0 + 1234 / SR, sr=SR, channels=2, seed=4)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 2])
def test_levels_equal_peaks_computed_from_the_samples(stereo: np.ndarray, bits: int, channels: int) -> None:
    # given
    x = stereo[:channels]

    # when
    levels = waveform_levels(x, sr=SR, bits=bits)

    # then: every level, reduced from the finest one, equals a direct computation sample for sample
    assert [level.samples_per_pixel for level in levels] == list(DEFAULT_SAMPLES_PER_PIXEL)
    for level in levels:
        direct = WaveformPeaks.from_samples(x, sample_rate=SR, samples_per_pixel=level.samples_per_pixel, bits=bits)
        assert level.length == -(-x.shape[1] // level.samples_per_pixel)
        assert (level.sample_rate, level.channels, level.bits) == (SR, channels, bits)
        assert level.data.dtype == direct.data.dtype
        np.testing.assert_array_equal(level.data, direct.data)


def test_level_k_is_the_min_max_of_level_0_reduced(stereo: np.ndarray) -> None:
    # given
    levels = waveform_levels(stereo, sr=SR, samples_per_pixel=(256, 1024))
    fine, coarse = levels[0].data, levels[1].data

    # when: group four fine pixels per coarse pixel, the last group short
    groups = [fine[p : p + 4] for p in range(0, fine.shape[0], 4)]
    reduced_min = np.stack([g[:, :, 0].min(axis=0) for g in groups])
    reduced_max = np.stack([g[:, :, 1].max(axis=0) for g in groups])

    # then
    np.testing.assert_array_equal(coarse[:, :, 0], reduced_min)
    np.testing.assert_array_equal(coarse[:, :, 1], reduced_max)


def test_a_level_that_is_not_a_multiple_widens_the_range_by_at_most_one_fine_pixel(stereo: np.ndarray) -> None:
    # given: 300 is not a multiple of 256
    finest, level = waveform_levels(stereo, sr=SR, samples_per_pixel=(256, 300))

    # when
    direct = WaveformPeaks.from_samples(stereo, sample_rate=SR, samples_per_pixel=300)
    n = stereo.shape[1]
    expected = []
    for p in range(level.length):
        # every fine pixel that overlaps samples [300 p, 300 (p + 1))
        first, last = (300 * p) // 256, (min(300 * (p + 1), n) - 1) // 256
        span = finest.data[first : last + 1]
        expected.append(np.stack([span[:, :, 0].min(axis=0), span[:, :, 1].max(axis=0)], axis=-1))

    # then: exactly the overlapping fine pixels, so never narrower than the truth
    assert level.length == direct.length
    np.testing.assert_array_equal(level.data, np.stack(expected))
    assert np.all(level.data[:, :, 0] <= direct.data[:, :, 0])
    assert np.all(level.data[:, :, 1] >= direct.data[:, :, 1])


def test_order_of_levels_is_kept_and_duplicates_allowed() -> None:
    x = sine(freq_hz=100.0, seconds=0.5, sr=8000)

    levels = waveform_levels(x, sr=8000, samples_per_pixel=(1024, 128, 1024))

    assert [level.samples_per_pixel for level in levels] == [1024, 128, 1024]
    np.testing.assert_array_equal(levels[0].data, levels[2].data)


def test_full_scale_and_clipping_map_to_the_format_range() -> None:
    # given: a square wave beyond full scale
    x = np.tile(np.array([1.5, -1.5, 1.0, -1.0], dtype=np.float32), 256)

    # when
    (level16,) = waveform_levels(x, sr=8000, samples_per_pixel=(256,), bits=16)
    (level8,) = waveform_levels(x, sr=8000, samples_per_pixel=(256,), bits=8)

    # then
    assert level16.data[:, 0].tolist() == [[-32767, 32767]] * 4
    assert level8.data[:, 0].tolist() == [[-127, 127]] * 4


@pytest.mark.parametrize("bits", [8, 16])
def test_dat_header_and_body_follow_audiowaveform_v2(stereo: np.ndarray, bits: int) -> None:
    # given
    level = waveform_levels(stereo, sr=SR, samples_per_pixel=(512,), bits=bits)[0]

    # when
    dat = level.to_dat()

    # then: int32 version 2, uint32 flags (bit 0 = 8-bit), rate, samples per pixel, uint32 length, channels
    version, flags, rate, spp, length, channels = struct.unpack("<iIiiIi", dat[:24])
    assert (version, flags, rate, spp, length, channels) == (2, 1 if bits == 8 else 0, SR, 512, level.length, 2)
    width = bits // 8
    assert len(dat) == 24 + length * channels * 2 * width
    # body: for each pixel, for each channel, min then max (channels interleaved per pixel)
    body = np.frombuffer(dat[24:], dtype="<i2" if bits == 16 else "i1").reshape(length, channels, 2)
    np.testing.assert_array_equal(body, level.data)
    low, high = (-128, 127) if bits == 8 else (-32768, 32767)
    assert body.min() >= low
    assert body.max() <= high
    assert np.all(body[:, :, 0] <= body[:, :, 1])


def test_json_matches_the_dat_body(stereo: np.ndarray) -> None:
    level = waveform_levels(stereo, sr=SR, samples_per_pixel=(2048,), bits=8)[0]

    doc = level.to_json()

    assert {k: doc[k] for k in ("version", "channels", "sample_rate", "samples_per_pixel", "bits", "length")} == {
        "version": 2,
        "channels": 2,
        "sample_rate": SR,
        "samples_per_pixel": 2048,
        "bits": 8,
        "length": level.length,
    }
    data = doc["data"]
    assert isinstance(data, list)
    assert len(data) == level.length * 2 * 2
    assert data == np.frombuffer(level.to_dat()[24:], dtype="i1").tolist()


def test_wavesurfer_peaks_are_per_channel_floats(stereo: np.ndarray) -> None:
    level = waveform_levels(stereo, sr=SR, samples_per_pixel=(4096,))[0]

    peaks = wavesurfer_peaks(level)

    assert len(peaks) == 2
    assert [len(channel) for channel in peaks] == [2 * level.length, 2 * level.length]
    np.testing.assert_allclose(peaks[1][0::2], level.data[:, 1, 0] / 32767.0, atol=1e-4)
    np.testing.assert_allclose(peaks[1][1::2], level.data[:, 1, 1] / 32767.0, atol=1e-4)
    assert max(max(abs(v) for v in channel) for channel in peaks) <= 1.0


@pytest.mark.parametrize(
    ("samples", "kwargs", "message"),
    [
        (np.array([0.0, np.nan, 0.0]), {}, "NaN"),
        (np.array([0.0, np.inf]), {}, "NaN"),
        (np.zeros(10, dtype=np.int16), {}, "floating"),
        (np.zeros((2, 0)), {}, "non-empty"),
        (np.zeros(10), {"bits": 12}, "bits"),
        (np.zeros(10), {"samples_per_pixel": (256, 0)}, "samples_per_pixel"),
        (np.zeros(10), {"samples_per_pixel": ()}, "at least one"),
    ],
)
def test_invalid_input_raises(samples: np.ndarray, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AnalysisParameterError, match=message):
        waveform_levels(samples, sr=8000, **kwargs)  # type: ignore[arg-type]


def _decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    image.load()
    return np.asarray(image.convert("RGBA"))


@pytest.mark.parametrize(("width", "height"), [(1200, 200), (300, 64), (7, 5)])
def test_thumbnail_decodes_to_the_requested_size(stereo: np.ndarray, width: int, height: int) -> None:
    level = waveform_levels(stereo, sr=SR, samples_per_pixel=(256,))[0]

    png = thumbnail_png(level, width=width, height=height)

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (width, height)


def test_thumbnail_draws_the_mirrored_envelope_on_a_transparent_background() -> None:
    # given: a half-scale sine: min -0.5, max +0.5 in every pixel
    peaks = WaveformPeaks.from_samples(sine(freq_hz=441.0, seconds=1.0, sr=SR, peak_dbfs=-6.0206), sample_rate=SR)

    # when
    rgba = _decode(thumbnail_png(peaks, width=100, height=100, color=(255, 0, 0, 255)))

    # then: rows 25..74 opaque red in every column, rows 0..23 and 76..99 fully transparent
    assert rgba.shape == (100, 100, 4)
    assert np.all(rgba[26:74, :, :] == [255, 0, 0, 255])
    assert np.all(rgba[:24, :, 3] == 0)
    assert np.all(rgba[76:, :, 3] == 0)


def test_thumbnail_of_silence_is_a_centre_line_on_the_background() -> None:
    peaks = WaveformPeaks.from_samples(np.zeros(SR, dtype=np.float32), sample_rate=SR)

    rgba = _decode(thumbnail_png(peaks, width=50, height=10, background=(10, 10, 10, 255)))

    covered = np.flatnonzero(np.any(rgba != [10, 10, 10, 255], axis=(1, 2)))
    assert covered.tolist() == [4, 5]
    assert np.all(rgba[:, :, 3] == 255)


def test_thumbnail_normalize_fills_the_height() -> None:
    peaks = WaveformPeaks.from_samples(sine(freq_hz=441.0, seconds=1.0, sr=SR, peak_dbfs=-40.0), sample_rate=SR)

    quiet = _decode(thumbnail_png(peaks, width=20, height=40))
    full = _decode(thumbnail_png(peaks, width=20, height=40, normalize=True))

    assert np.count_nonzero(quiet[:, 0, 3] == 255) == 0
    assert np.count_nonzero(full[:, 0, 3] == 255) == 40


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"width": 0}, "width"), ({"height": 10_000}, "at most"), ({"color": (1, 2, 3)}, "color")],
)
def test_thumbnail_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    peaks = WaveformPeaks.from_samples(np.zeros(1000, dtype=np.float32), sample_rate=SR)
    with pytest.raises(AnalysisParameterError, match=message):
        thumbnail_png(peaks, **kwargs)  # type: ignore[arg-type]
