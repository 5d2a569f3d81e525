"""Tests of the result types: waveform peaks serialisation and the JSON summary."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from analysis import AnalysisParameterError, WaveformPeaks, analyze
from tests.fixtures.audio import click_track

HEADER = struct.Struct("<iIiiIi")


def test_waveform_dat_header_parses_back_and_body_matches(rng: np.random.Generator) -> None:
    # given: 1000 stereo samples, 256 per pixel -> 3 full pixels and a remainder
    samples = rng.uniform(-0.9, 0.9, size=(2, 1000)).astype(np.float32)

    # when
    peaks = WaveformPeaks.from_samples(samples, sample_rate=44100, samples_per_pixel=256, bits=16)
    blob = peaks.to_dat()

    # then
    version, flags, sample_rate, spp, length, channels = HEADER.unpack(blob[: HEADER.size])
    assert (version, flags, sample_rate, spp, length, channels) == (2, 0, 44100, 256, 4, 2)
    body = np.frombuffer(blob[HEADER.size :], dtype="<i2").reshape(4, 2, 2)
    assert len(blob) == HEADER.size + 4 * 2 * 2 * 2
    assert np.array_equal(body, peaks.data)
    assert bool(np.all(body[:, :, 0] <= body[:, :, 1]))
    expected_max = np.rint(samples[1, 256:512].max() * 32767)
    assert int(body[1, 1, 1]) == int(expected_max)
    assert int(body[3, 0, 0]) == int(np.rint(samples[0, 768:].min() * 32767))


def test_waveform_8bit_sets_flag_and_uses_int8() -> None:
    # given: a full-scale square wave, one channel
    samples = np.tile(np.array([1.0, -1.0], dtype=np.float32), 256)

    # when
    peaks = WaveformPeaks.from_samples(samples, sample_rate=8000, samples_per_pixel=128, bits=8)
    blob = peaks.to_dat()

    # then
    assert HEADER.unpack(blob[: HEADER.size]) == (2, 1, 8000, 128, 4, 1)
    assert peaks.data.dtype == np.int8
    assert np.frombuffer(blob[HEADER.size :], dtype=np.int8).tolist() == [-127, 127] * 4


def test_waveform_json_matches_audiowaveform_layout() -> None:
    # given
    samples = np.array([[0.5, -0.5, 0.25], [0.0, 0.0, 1.5]], dtype=np.float32)

    # when
    doc = WaveformPeaks.from_samples(samples, sample_rate=48000, samples_per_pixel=2).to_json()

    # then: pixel-major, channel, (min, max); out-of-range input is clipped to full scale
    assert doc == {
        "version": 2,
        "channels": 2,
        "sample_rate": 48000,
        "samples_per_pixel": 2,
        "bits": 16,
        "length": 2,
        "data": [-16384, 16384, 0, 0, 8192, 8192, 32767, 32767],
    }
    assert json.loads(json.dumps(doc)) == doc


@pytest.mark.parametrize(("bits", "spp"), [(12, 256), (16, 0)])
def test_waveform_rejects_bad_parameters(bits: int, spp: int) -> None:
    # given
    samples = np.zeros(10, dtype=np.float32)

    # when / then
    with pytest.raises(AnalysisParameterError):
        WaveformPeaks.from_samples(samples, sample_rate=44100, samples_per_pixel=spp, bits=bits)


def test_summary_is_plain_json() -> None:
    # given
    result = analyze(click_track(bpm=120, seconds=6), sr=44100)

    # when
    summary = result.summary()

    # then: only builtin types, and it round-trips through json unchanged
    assert json.loads(json.dumps(summary)) == summary

    def types_in(value: object) -> set[type]:
        if isinstance(value, dict):
            return {dict}.union(*(types_in(v) for v in value.values()))
        if isinstance(value, list):
            return {list}.union(*(types_in(v) for v in value))
        return {type(value)}

    assert types_in(summary) <= {dict, list, str, int, float, bool, type(None)}
    assert summary["n_beats"] == len(result.beat_times_s)
    assert summary["sample_rate"] == 44100
    assert summary["channels"] == 2
    assert summary["duration_s"] == 6.0
    assert summary["key"] == result.key
    assert {"bpm", "bpm_confidence", "key_confidence", "rms_db_mean"} <= summary.keys()


@pytest.mark.parametrize("bits", [8, 16])
def test_waveform_dat_reads_back_what_it_writes(rng: np.random.Generator, bits: int) -> None:
    # given
    samples = rng.uniform(-1.0, 1.0, size=(3, 1000)).astype(np.float32)
    peaks = WaveformPeaks.from_samples(samples, sample_rate=22050, samples_per_pixel=100, bits=bits)

    # when
    read = WaveformPeaks.from_dat(peaks.to_dat())

    # then
    assert (read.sample_rate, read.samples_per_pixel, read.channels, read.bits) == (22050, 100, 3, bits)
    assert read.data.dtype == peaks.data.dtype
    assert np.array_equal(read.data, peaks.data)
    assert read.to_dat() == peaks.to_dat()
