"""Sections: boundaries and letters on a synthetic multi-part track, degenerate input, and a dev-corpus song."""

from __future__ import annotations

import itertools
import json
from typing import Any

import librosa
import numpy as np
import pytest
import soxr

from analysis import AnalysisParameterError
from analysis.io import load
from analysis.spectrum import chroma, mel_db, power_spectrogram
from analysis.structure import SECTION_ROLES, Section, segment
from analysis.timbre import mfcc
from tests.fixtures.audio import click_track, white_noise
from tests.fixtures.corpus import DEV_CORPUS

SR = 22050
HOP = 512
N_FFT = 2048
BPM = 120.0
BAR_S = 4 * 60.0 / BPM


def features(y: np.ndarray) -> dict[str, Any]:
    """The frame features segment() takes, on the pipeline's grid (22.05 kHz, n_fft 2048, hop 512)."""
    y = np.asarray(y, dtype=np.float32)
    s_power = power_spectrogram(y, n_fft=N_FFT, hop_length=HOP)
    rms = librosa.feature.rms(S=np.sqrt(s_power), frame_length=N_FFT)[0]
    return {
        "chroma": chroma(S_power=s_power, sr=SR, n_fft=N_FFT, tuning=0.0),
        "mfcc": mfcc(S_db=mel_db(S_power=s_power, sr=SR, n_fft=N_FFT)),
        "rms_db": 20.0 * np.log10(np.maximum(rms, 1e-6)),
        "hop_s": HOP / SR,
        "duration_s": y.size / SR,
    }


def pad(bars: int) -> np.ndarray:
    """A quiet sustained A minor triad without drums: a breakdown."""
    t = np.arange(round(bars * BAR_S * SR)) / SR
    return 0.03 * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63))


@pytest.fixture(scope="module")
def four_parts() -> dict[str, Any]:
    # given: 8 bars each of drums + chords in A minor, the same in D# major, a quiet pad, A minor again
    parts = [
        click_track(bpm=BPM, seconds=8 * BAR_S, sr=SR, channels=1, key="A minor", seed=1)[0],
        click_track(bpm=BPM, seconds=8 * BAR_S, sr=SR, channels=1, key="D# major", seed=2)[0],
        pad(8),
        click_track(bpm=BPM, seconds=8 * BAR_S, sr=SR, channels=1, key="A minor", seed=3)[0],
    ]
    return features(np.concatenate(parts))


TRUE_BOUNDARIES_S = [16.0, 32.0, 48.0]


def starts(sections: tuple[Section, ...]) -> list[float]:
    return [s.start_s for s in sections[1:]]


def assert_tiles(sections: tuple[Section, ...], duration_s: float) -> None:
    assert sections[0].start_s == 0.0
    for a, b in itertools.pairwise(sections):
        assert a.end_s == pytest.approx(b.start_s)
    assert sections[-1].end_s == pytest.approx(duration_s)
    assert all(s.role in SECTION_ROLES for s in sections)
    assert all(0.0 <= s.confidence <= 1.0 for s in sections)


def test_boundaries_on_beats_are_within_a_bar_and_repeats_share_a_letter(four_parts: dict[str, Any]) -> None:
    # when
    sections = segment(**four_parts, beat_times_s=np.arange(0.0, 64.0, 60.0 / BPM))

    # then
    assert_tiles(sections, 64.0)
    assert len(sections) == 4
    assert np.abs(np.array(starts(sections)) - TRUE_BOUNDARIES_S).max() <= BAR_S
    assert [s.label for s in sections] == ["A", "B", "C", "A"]
    assert sections[2].role == "breakdown"
    assert sections[2].loudness_db < sections[1].loudness_db - 10.0


def test_downbeats_put_boundaries_on_bar_starts(four_parts: dict[str, Any]) -> None:
    sections = segment(
        **four_parts,
        beat_times_s=np.arange(0.0, 64.0, 60.0 / BPM),
        downbeat_times_s=np.arange(0.0, 64.0, BAR_S),
    )

    assert starts(sections) == TRUE_BOUNDARIES_S


def test_without_beats_a_fixed_grid_still_finds_the_parts(four_parts: dict[str, Any]) -> None:
    sections = segment(**four_parts, beat_times_s=np.zeros(0))

    assert_tiles(sections, 64.0)
    assert np.abs(np.array(starts(sections)) - TRUE_BOUNDARIES_S).max() <= BAR_S
    assert [s.label for s in sections] == ["A", "B", "C", "A"]


def test_onset_envelope_is_used_for_activity_when_given(four_parts: dict[str, Any]) -> None:
    # given: an activity curve that is high except during the pad
    frames = four_parts["rms_db"].size
    envelope = np.where((np.arange(frames) * HOP / SR >= 32.0) & (np.arange(frames) * HOP / SR < 48.0), 0.1, 3.0)

    sections = segment(**four_parts, beat_times_s=np.arange(0.0, 64.0, 0.5), onset_envelope=envelope)

    assert [s.role for s in sections][2] == "breakdown"


def test_silence_is_one_section() -> None:
    sections = segment(**features(np.zeros(30 * SR)), beat_times_s=np.zeros(0))

    assert sections == (
        Section(start_s=0.0, duration_s=30.0, label="A", role="silence", confidence=1.0, loudness_db=-120.0),
    )


def test_a_steady_loop_is_one_section() -> None:
    x = click_track(bpm=BPM, seconds=40.0, sr=SR, channels=1, key="A minor")[0]

    sections = segment(**features(x), beat_times_s=np.arange(0.0, 40.0, 0.5))

    assert len(sections) == 1
    assert (sections[0].label, sections[0].role, sections[0].confidence) == ("A", "main", 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_30_second_clip_has_one_to_three_sections(seed: int) -> None:
    # given: drums, then 10 s of noise in the middle
    x = click_track(bpm=BPM, seconds=30.0, sr=SR, channels=1, key="E minor", seed=seed)[0]
    x[10 * SR : 20 * SR] = white_noise(seconds=10.0, sr=SR, seed=seed, rms_dbfs=-12.0)[0]

    sections = segment(**features(x), beat_times_s=np.arange(0.0, 30.0, 0.5))

    assert_tiles(sections, 30.0)
    assert 1 <= len(sections) <= 3
    assert all(s.duration_s >= 8.0 for s in sections)


def test_a_clip_shorter_than_two_sections_is_one_section() -> None:
    x = click_track(bpm=BPM, seconds=12.0, sr=SR, channels=1)[0]

    sections = segment(**features(x), beat_times_s=np.arange(0.0, 12.0, 0.5))

    assert [(s.start_s, s.duration_s, s.label) for s in sections] == [(0.0, 12.0, "A")]


def test_empty_features_give_no_sections() -> None:
    empty = np.zeros((12, 0))

    sections = segment(
        chroma=empty, mfcc=np.zeros((13, 0)), rms_db=np.zeros(0), beat_times_s=np.zeros(0), hop_s=0.02, duration_s=0.0
    )

    assert sections == ()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"chroma": np.zeros((12, 5))}, "chroma"),
        ({"mfcc": np.zeros((1, 10))}, "mfcc"),
        ({"rms_db": np.zeros((2, 5))}, "rms_db"),
        ({"onset_envelope": np.zeros(3)}, "onset_envelope"),
        ({"hop_s": 0.0}, "hop_s"),
        ({"duration_s": -1.0}, "duration_s"),
        ({"min_section_s": 0.0}, "min_section_s"),
        ({"beat_times_s": np.array([1.0, np.nan])}, "finite"),
    ],
)
def test_invalid_arguments_raise(overrides: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "chroma": np.zeros((12, 10)),
        "mfcc": np.zeros((13, 10)),
        "rms_db": np.zeros(10),
        "beat_times_s": np.zeros(0),
        "hop_s": 0.1,
        "duration_s": 1.0,
    }
    arguments.update(overrides)
    with pytest.raises(AnalysisParameterError, match=message):
        segment(**arguments)


@pytest.mark.skipif(not (DEV_CORPUS / "manifest.json").is_file(), reason=f"dev corpus not found at {DEV_CORPUS}")
def test_a_full_song_of_the_dev_corpus_gets_a_plausible_structure() -> None:
    # given: a full rock song (175 s, 140 BPM) with its annotated beat grid
    entry = next(e for e in json.loads((DEV_CORPUS / "manifest.json").read_text()) if "war_of_freedom" in e["file"])
    decoded = load(DEV_CORPUS / entry["file"])
    y = soxr.resample(decoded.samples.mean(axis=0), decoded.sr, SR).astype(np.float32)
    beats = np.loadtxt(DEV_CORPUS / entry["beats"], ndmin=1)

    # when
    sections = segment(**features(y), beat_times_s=beats)

    # then: a handful of sections of plausible length, repeated material, quieter ends than the body
    assert_tiles(sections, y.size / SR)
    assert 4 <= len(sections) <= 12
    assert all(s.duration_s >= 8.0 for s in sections)
    assert len({s.label for s in sections}) < len(sections)
    body = max(s.loudness_db for s in sections)
    assert sections[0].loudness_db < body - 2.0
    assert sections[-1].loudness_db < body - 2.0
