"""Key, tuning and chroma: synthetic progressions with known answers, degenerate input, and the dev corpus."""

from __future__ import annotations

import json
import math

import mir_eval
import numpy as np
import numpy.typing as npt
import pytest

from analysis.chroma import TONAL_N_FFT, TONAL_SR, estimate_tuning, nnls_chroma
from analysis.errors import AnalysisParameterError
from analysis.io import load
from analysis.key import PITCH_CLASSES, estimate_key
from tests.fixtures.audio import click_track, sine, white_noise
from tests.fixtures.corpus import DEV_CORPUS

SR = 22050
HOP = 512


ALL_KEYS = [f"{tonic} {mode}" for mode in ("major", "minor") for tonic in PITCH_CLASSES]


def _chords(key: str, *, seconds: float = 8.0, sr: int = SR, seed: int = 0) -> npt.NDArray[np.float32]:
    """I-IV-V-I (major) or i-iv-V-i (minor) over drums, mono, one chord per 2 s bar at 120 BPM."""
    mono: npt.NDArray[np.float32] = click_track(bpm=120, seconds=seconds, sr=sr, channels=1, key=key, seed=seed)[0]
    return mono


def _drums(*, seconds: float, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Kick (a 150 -> 50 Hz sweep) on beats 1 and 3, a noise snare on 2 and 4, hats on every eighth, at 120 BPM."""
    y = np.zeros(round(seconds * SR))
    t = np.arange(round(0.2 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 * t + 100 * 0.03 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.1)
    for eighth, start in enumerate(range(0, y.size, round(0.25 * SR))):
        hit = 0.1 * np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t / 0.01)
        if eighth % 4 == 0:
            hit += kick
        elif eighth % 4 == 2:
            hit += 0.5 * rng.standard_normal(t.size) * np.exp(-t / 0.05)
        y[start : start + t.size] += hit[: y.size - start]
    out: npt.NDArray[np.float32] = (0.8 * y / np.abs(y).max()).astype(np.float32)
    return out


@pytest.mark.parametrize("key", ALL_KEYS)
def test_key_of_a_chord_progression_in_every_key(key: str) -> None:
    # given
    y = _chords(key, seed=PITCH_CLASSES.index(key.split()[0]))

    # when
    result = estimate_key(y=y, sr=SR)

    # then
    assert result.key == key
    assert result.confidence >= 0.5
    assert result.runner_up_key is not None
    assert result.runner_up_key != key
    assert result.score > result.runner_up_score
    assert result.tuning_cents == pytest.approx(0.0, abs=3.0)


@pytest.mark.parametrize("cents", [-40.0, -12.0, 30.0, 45.0])
def test_tuning_of_a_detuned_chord_track(cents: float) -> None:
    # given: a progression rendered at 22050 Hz but declared at a rate higher by `cents` (every pitch rises),
    # rounded to a whole number of Hz
    declared_sr = round(SR * 2.0 ** (cents / 1200.0))
    expected = 1200.0 * math.log2(declared_sr / SR)
    y = _chords("E minor", seconds=8.0)

    # when
    result = estimate_key(y=y, sr=declared_sr)

    # then: the tuning is found and compensated, so the key is unchanged
    assert result.tuning_cents == pytest.approx(expected, abs=5.0)
    assert result.key == "E minor"


@pytest.mark.parametrize("cents", [-25.0, 0.0, 17.0])
def test_tuning_of_a_steady_tone(cents: float) -> None:
    # given
    y = sine(freq_hz=440.0 * 2.0 ** (cents / 1200.0), seconds=3.0, sr=SR)[0]

    # when
    result = nnls_chroma(y=y, sr=SR)

    # then
    assert result.tuning_cents == pytest.approx(cents, abs=2.0)


def test_estimate_tuning_from_a_spectrogram_of_harmonic_peaks() -> None:
    # given: a 220 Hz tone with 4 harmonics, 10 cents sharp, analysed with the long window
    f0 = 220.0 * 2.0 ** (10.0 / 1200.0)
    t = np.arange(TONAL_SR * 2) / TONAL_SR
    y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 5))
    frames = np.lib.stride_tricks.sliding_window_view(y, TONAL_N_FFT)[::1024]
    s_mag = np.abs(np.fft.rfft(frames * np.hanning(TONAL_N_FFT), axis=1)).T.astype(np.float32)

    # when
    tuning = estimate_tuning(S_mag=s_mag, sr=TONAL_SR, n_fft=TONAL_N_FFT)

    # then
    assert tuning == pytest.approx(10.0, abs=1.0)


def test_chroma_is_on_the_callers_frame_grid() -> None:
    # given: 8 s of A minor: bars 1 and 4 are A minor (A C E), bar 2 D minor (D F A), bar 3 E major (E G# B)
    y = _chords("A minor")
    n_frames = 1 + y.size // HOP

    # when
    result = estimate_key(y=y, sr=SR, hop_length=HOP, n_frames=n_frames)

    # then
    assert result.chroma.shape == (12, n_frames)
    assert result.chroma.dtype == np.float32
    assert float(result.chroma.min()) >= 0.0
    assert result.chroma.max(axis=0).tolist() == [1.0] * n_frames
    bar_frames = round(2.0 * SR / HOP)
    middle = slice(bar_frames // 4, 3 * bar_frames // 4)
    strongest = [
        {PITCH_CLASSES[i] for i in np.argsort(result.chroma[:, bar * bar_frames :][:, middle].mean(axis=1))[-3:]}
        for bar in range(4)
    ]
    assert strongest == [{"A", "C", "E"}, {"D", "F", "A"}, {"E", "G#", "B"}, {"A", "C", "E"}]


def test_confidence_orders_chords_above_drums_and_noise(rng: np.random.Generator) -> None:
    # given: chords over drums, the drums alone, and white noise
    chords = _chords("G major", seconds=12.0)
    drums = _drums(seconds=12.0, rng=rng)
    noise = white_noise(seconds=12.0, sr=SR, seed=5)[0]

    # when
    on_chords = estimate_key(y=chords, sr=SR)
    on_drums = estimate_key(y=drums, sr=SR)
    on_noise = estimate_key(y=noise, sr=SR)

    # then
    assert on_chords.key == "G major"
    assert on_chords.confidence >= 0.5
    assert (on_drums.key, on_drums.confidence) == (None, 0.0)
    assert (on_noise.key, on_noise.confidence, on_noise.runner_up_key) == (None, 0.0, None)


@pytest.mark.parametrize("seconds", [2.0, 10.0, 60.0])
@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
def test_noise_has_no_key(seconds: float, colour: str, rng: np.random.Generator) -> None:
    # given: noise with a 1/f**alpha power spectrum
    n = round(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    spectrum[1:] /= np.arange(1, spectrum.size) ** (alpha / 2.0)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    y = (0.1 * noise / noise.std()).astype(np.float32)

    # when
    result = estimate_key(y=y, sr=SR)

    # then
    assert (result.key, result.confidence, result.score) == (None, 0.0, 0.0)
    assert result.scores.tolist() == [0.0] * 24


@pytest.mark.parametrize(
    "y",
    [np.zeros(SR * 3, dtype=np.float32), np.full(SR * 3, 1e-6, dtype=np.float32), np.zeros(1, dtype=np.float32)],
    ids=["silence", "below-70-dBFS", "one-sample"],
)
def test_silence_has_no_key_and_zero_chroma(y: npt.NDArray[np.float32]) -> None:
    # when
    result = estimate_key(y=y, sr=SR)

    # then
    n_frames = 1 + y.size // HOP
    assert (result.key, result.confidence, result.tuning_cents, result.runner_up_key) == (None, 0.0, 0.0, None)
    assert result.chroma.shape == (12, n_frames)
    assert not result.chroma.any()


@pytest.mark.parametrize(("seconds", "key"), [(0.05, None), (0.5, None), (2.0, "A minor")])
def test_short_clips(seconds: float, key: str | None) -> None:
    # given: the first chord (A minor) of the progression, for a fraction of a bar
    y = _chords("A minor", seconds=seconds)

    # when
    result = estimate_key(y=y, sr=SR)

    # then: too few frames to tell a chord from noise below 1 s; one chord is enough for its key above
    assert result.chroma.shape == (12, 1 + y.size // HOP)
    assert 0.0 <= result.confidence <= 1.0
    if key is None:
        assert result.key in {None, "A minor", "C major", "E minor"}
    else:
        assert result.key == key


def test_other_sampling_rates_give_the_same_key() -> None:
    # given
    y = _chords("C# major", sr=44100)

    # when
    result = estimate_key(y=y, sr=44100, hop_length=1024)

    # then
    assert result.key == "C# major"
    assert result.chroma.shape == (12, 1 + y.size // 1024)


def test_precomputed_chroma() -> None:
    # given: a D major scale, one pitch class per frame, tonic and fifth twice as long
    scale = [2, 2, 4, 6, 7, 9, 9, 11, 1, 2, 9]
    chroma = np.zeros((12, len(scale)), dtype=np.float32)
    chroma[scale, np.arange(len(scale))] = 1.0

    # when
    result = estimate_key(chroma=chroma)

    # then
    assert result.key == "D major"
    assert result.tuning_cents == 0.0
    assert result.chroma.shape == (12, len(scale))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"y": np.zeros(10, np.float32), "chroma": np.zeros((12, 2), np.float32)}, "exactly one"),
        ({"chroma": np.zeros((13, 2), np.float32)}, "shape"),
        ({"chroma": np.zeros((12, 2), np.float32), "profile": "bogus"}, "unknown key profile"),
        ({"y": np.zeros((2, 10), np.float32)}, "mono"),
        ({"y": np.array([0.0, np.nan], np.float32)}, "NaN"),
        ({"y": np.zeros(10, np.float32), "sr": 10}, "between"),
        ({"y": np.zeros(10, np.float32), "hop_length": 0}, "hop_length"),
        ({"y": np.zeros(10, np.float32), "n_frames": 0}, "n_frames"),
    ],
)
def test_invalid_arguments_raise(kwargs: dict[str, object], message: str) -> None:
    # when / then
    with pytest.raises(AnalysisParameterError, match=message):
        estimate_key(**kwargs)  # type: ignore[arg-type]


@pytest.mark.skipif(not (DEV_CORPUS / "manifest.json").is_file(), reason=f"dev corpus not found at {DEV_CORPUS}")
def test_dev_corpus_key_accuracy() -> None:
    # given: every track of the dev corpus with a key annotation (30 s excerpts and short clips)
    items = [item for item in json.loads((DEV_CORPUS / "manifest.json").read_text()) if item.get("key")]

    # when
    scores = []
    for item in items:
        audio = load(DEV_CORPUS / item["file"])
        result = estimate_key(y=audio.samples.mean(axis=0), sr=audio.sr)
        scores.append(mir_eval.key.weighted_score(item["key"], result.key) if result.key else 0.0)

    # then: MIREX weighted score well above Essentia's 63.2 (84.2 when this test was written)
    assert len(scores) == 19
    assert 100.0 * float(np.mean(scores)) >= 75.0
