"""Known-answer and degenerate-input tests of the rhythm estimator (analysis.tempo)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from analysis import AnalysisParameterError
from analysis.spectrum import power_spectrogram
from analysis.tempo import Rhythm, estimate_rhythm, superflux_envelopes, tempo_salience
from tests.fixtures.audio import click_track, sine, white_noise
from tests.fixtures.corpus import DEV_CORPUS as DEV_CORPUS_ROOT
from tests.fixtures.metrics import beat_f_measure

SR = 22050
N_FFT = 2048
HOP = 512
BEAT_TOLERANCE_S = 0.030
CORPUS = DEV_CORPUS_ROOT


def rhythm_of(y: npt.NDArray[np.float32]) -> Rhythm:
    return estimate_rhythm(
        S_power=power_spectrogram(y, n_fft=N_FFT, hop_length=HOP), sr=SR, n_fft=N_FFT, hop_length=HOP
    )


def mono_clicks(bpm: float, seconds: float = 20.0) -> npt.NDArray[np.float32]:
    mono: npt.NDArray[np.float32] = click_track(bpm=bpm, seconds=seconds, sr=SR, channels=1, seed=1)[0]
    return mono


@pytest.mark.parametrize("bpm", [75.0, 90.0, 120.0, 128.0, 140.0])
def test_tempo_and_beats_of_a_click_track(bpm: float) -> None:
    # given: 20 s of kick/snare/hat drums in 4/4, beats exactly on k * 60 / bpm (the grid runs to the end)
    y = mono_clicks(bpm)
    reference = np.arange(0.0, 20.0 + 1e-9, 60.0 / bpm)

    # when
    rhythm = rhythm_of(y)

    # then
    assert rhythm.tempo_bpm == pytest.approx(bpm, rel=0.01)
    assert rhythm.tempo_alt_bpm in (pytest.approx(bpm / 2, rel=0.04), pytest.approx(bpm * 2, rel=0.04))
    assert beat_f_measure(rhythm.beat_times_s, reference, BEAT_TOLERANCE_S) >= 0.95
    assert rhythm.bpm_confidence > rhythm.tempo_alt_confidence
    assert rhythm.tempo_stability == 1.0
    assert rhythm.time_signature == 4
    assert rhythm.beat_times_s.shape == rhythm.beat_strength.shape == rhythm.local_tempo_bpm.shape
    assert float(rhythm.beat_strength.max()) == 1.0
    np.testing.assert_allclose(rhythm.local_tempo_bpm, bpm, rtol=0.03)


def test_fast_drum_and_bass_is_reported_at_half_tempo_with_the_double_as_alternative() -> None:
    # given: the 4/4 drum pattern (kick 1 and 3, snare 2 and 4, eighth hats) at 174 BPM
    y = mono_clicks(174.0)
    reference = np.arange(0.0, 20.0 + 1e-9, 60.0 / 174.0)

    # when
    rhythm = rhythm_of(y)

    # then: a known limitation, documented in estimate_rhythm: the half-time reading wins (its beats fall on
    # every other beat of the 174 grid), and the DAW tempo is the alternative
    assert rhythm.tempo_bpm == pytest.approx(87.0, rel=0.01)
    assert rhythm.tempo_alt_bpm == pytest.approx(174.0, rel=0.02)
    assert rhythm.tempo_alt_confidence > 0.2
    off_grid = np.abs(rhythm.beat_times_s[:, np.newaxis] - reference[np.newaxis, :]).min(axis=1)
    assert float(off_grid.max()) <= BEAT_TOLERANCE_S
    assert rhythm.beat_times_s.size == pytest.approx(reference.size / 2, abs=1)


def thrash_drums(bpm: float, seconds: float = 20.0) -> npt.NDArray[np.float32]:
    """Kick on every beat, a light snare on every other beat and sixteenth-note picked notes (fast metal)."""
    rng = np.random.default_rng(0)
    y = np.zeros(int(seconds * SR))
    t = np.arange(int(0.15 * SR)) / SR
    kick = np.sin(2 * np.pi * 60.0 * t) * np.exp(-t / 0.04) + 0.5 * rng.standard_normal(t.size) * np.exp(-t / 0.005)
    snare = 0.3 * rng.standard_normal(t.size) * np.exp(-t / 0.05)
    pick = 0.3 * np.sin(2 * np.pi * 330.0 * t[: int(0.06 * SR)]) * np.exp(-t[: int(0.06 * SR)] / 0.02)
    for k in range(int(seconds * bpm / 60.0)):
        start = int(k * 60.0 / bpm * SR)
        for sound, at in [(kick, start), *[(pick, int((k + q / 4) * 60.0 / bpm * SR)) for q in range(4)]]:
            y[at : at + sound.size] += sound[: max(0, y.size - at)]
        if k % 2:
            y[start : start + snare.size] += snare[: max(0, y.size - start)]
    out: npt.NDArray[np.float32] = (0.5 * y / np.abs(y).max()).astype(np.float32)
    return out


@pytest.mark.parametrize("bpm", [170.0, 180.0, 190.0])
def test_fast_metal_with_dense_onsets_is_reported_at_the_fast_tempo(bpm: float) -> None:
    # given: kick on every beat and dense picking, whose salience peaks at half tempo
    y = thrash_drums(bpm)
    reference = np.arange(0.0, 20.0 + 1e-9, 60.0 / bpm)

    # when
    rhythm = rhythm_of(y)

    # then: the octave check doubles the half-tempo reading; the half tempo is the alternative
    assert rhythm.tempo_bpm == pytest.approx(bpm, rel=0.01)
    assert rhythm.tempo_alt_bpm == pytest.approx(bpm / 2, rel=0.02)
    assert beat_f_measure(rhythm.beat_times_s, reference, BEAT_TOLERANCE_S) >= 0.95


@pytest.mark.parametrize("sr", [22050, 44100])
def test_tempo_does_not_depend_on_the_frame_rate(sr: int) -> None:
    # given: the same drums analysed at the shared rate and at twice the frame rate
    y = click_track(bpm=100.0, seconds=15.0, sr=sr, channels=1, seed=2)[0]
    s_power = power_spectrogram(y, n_fft=N_FFT * sr // SR, hop_length=HOP)

    # when
    rhythm = estimate_rhythm(S_power=s_power, sr=sr, n_fft=N_FFT * sr // SR, hop_length=HOP)

    # then
    assert rhythm.tempo_bpm == pytest.approx(100.0, rel=0.01)
    assert beat_f_measure(rhythm.beat_times_s, np.arange(0.0, 15.01, 0.6), BEAT_TOLERANCE_S) >= 0.95


def test_confidence_of_a_click_track_exceeds_that_of_noise() -> None:
    # given
    clicks = rhythm_of(mono_clicks(120.0))
    noise = rhythm_of(white_noise(seconds=20.0, sr=SR, seed=3)[0])

    # then
    assert noise.bpm_confidence < 0.1
    assert clicks.bpm_confidence > 2 * noise.bpm_confidence
    assert 0.0 <= noise.tempo_alt_confidence <= 1.0


def test_local_tempo_curve_follows_a_tempo_change() -> None:
    # given: 15 s at 120 BPM then 15 s at 100 BPM
    y = np.concatenate([mono_clicks(120.0, 15.0), mono_clicks(100.0, 15.0)])

    # when
    rhythm = rhythm_of(y)
    curve = rhythm.local_tempo_curve(n_frames=1 + y.size // HOP, hop_s=HOP / SR)

    # then
    assert curve.shape == (1 + y.size // HOP,)
    assert curve.dtype == np.float32
    assert float(np.median(curve[: int(10 * SR / HOP)])) == pytest.approx(120.0, rel=0.03)
    assert float(np.median(curve[-int(10 * SR / HOP) :])) == pytest.approx(100.0, rel=0.03)
    assert rhythm.tempo_stability < 0.8


@pytest.mark.parametrize(
    "y",
    [
        np.zeros(5 * SR, dtype=np.float32),
        np.full(5 * SR, 0.3, dtype=np.float32),
        sine(freq_hz=440.0, seconds=5.0, sr=SR)[0],
        np.zeros(100, dtype=np.float32),
    ],
    ids=["silence", "dc", "steady-tone", "shorter-than-a-hop"],
)
def test_no_pulse_gives_the_documented_empty_rhythm(y: npt.NDArray[np.float32]) -> None:
    # when
    rhythm = rhythm_of(y)

    # then
    assert (rhythm.tempo_bpm, rhythm.bpm_confidence, rhythm.tempo_alt_bpm, rhythm.tempo_alt_confidence) == (
        0.0,
        0.0,
        0.0,
        0.0,
    )
    assert (rhythm.time_signature, rhythm.bar_count, rhythm.tempo_stability, rhythm.meter_confidence) == (
        4,
        0,
        0.0,
        0.0,
    )
    assert rhythm.beat_times_s.shape == rhythm.downbeat_times_s.shape == rhythm.local_tempo_bpm.shape == (0,)
    assert rhythm.local_tempo_curve(n_frames=3, hop_s=0.1).tolist() == [0.0, 0.0, 0.0]


def test_a_two_second_clip_still_gets_its_tempo() -> None:
    # when
    rhythm = rhythm_of(mono_clicks(120.0, 2.0))

    # then
    assert rhythm.tempo_bpm == pytest.approx(120.0, rel=0.04)
    assert rhythm.meter_confidence == 0.0
    assert rhythm.time_signature == 4


def test_salience_peaks_at_the_pulse() -> None:
    # given
    envelopes = superflux_envelopes(S_power=power_spectrogram(mono_clicks(120.0), n_fft=N_FFT), sr=SR, n_fft=N_FFT)

    # when
    salience = tempo_salience(onset_envelope=envelopes.full, sr=SR, hop_length=HOP)

    # then: the Fourier term peaks at a multiple of the pulse, the autocorrelation at the pulse or a sub-multiple
    assert salience.bpm.shape == salience.dft.shape == salience.acf.shape == (800,)
    assert float(salience.dft.max()) == 1.0
    product = salience.dft * salience.acf
    assert float(salience.bpm[np.argmax(product)]) == pytest.approx(120.0, rel=0.02)
    assert envelopes.full.shape == envelopes.low.shape == (1 + 20 * SR // HOP,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"S_power": np.zeros((10, 20), dtype=np.float32)}, "1 \\+ n_fft // 2"),
        ({"S_power": np.zeros(1025, dtype=np.float32)}, "shape"),
        ({"S_power": np.zeros((1025, 20), dtype=np.float32), "sr": 10}, "between"),
        ({"S_power": np.zeros((1025, 20), dtype=np.float32), "hop_length": 0}, "positive"),
    ],
)
def test_invalid_arguments_raise_parameter_error(kwargs: dict[str, object], message: str) -> None:
    # when / then
    with pytest.raises(AnalysisParameterError, match=message):
        estimate_rhythm(**kwargs)  # type: ignore[arg-type]


def _corpus_item(name: str) -> dict[str, object]:
    if not (CORPUS / "manifest.json").is_file():
        pytest.skip(f"dev corpus not available at {CORPUS}")
    items = {Path(item["file"]).name: item for item in json.loads((CORPUS / "manifest.json").read_text())}
    if name not in items:
        pytest.skip(f"{name} is not in the dev corpus manifest")
    return dict(items[name])


@pytest.mark.parametrize("name", ["gtzan_disco.00000.wav", "ballroom_Waltz_Media-105901.wav"])
def test_real_tracks_from_the_dev_corpus(name: str) -> None:
    # given: a 30 s excerpt at 22.05 kHz (GTZAN) or 44.1 kHz (ballroom) with human beat annotations
    from analysis.io import load  # only this corpus test decodes files

    item = _corpus_item(name)
    decoded = load(CORPUS / str(item["file"]))
    mono = decoded.samples.mean(axis=0)
    if decoded.sr != SR:
        import soxr

        mono = soxr.resample(mono, decoded.sr, SR, quality="HQ").astype(np.float32)
    reference = np.loadtxt(CORPUS / str(item["beats"]), ndmin=1)

    # when
    rhythm = rhythm_of(mono)

    # then: loose sanity (the tempo at the annotated level or an octave of it, most beats within 70 ms)
    ratio = rhythm.tempo_bpm / float(item["bpm"])  # type: ignore[arg-type]
    assert min(abs(ratio - f) for f in (0.5, 1.0, 2.0)) <= 0.04
    assert beat_f_measure(rhythm.beat_times_s, reference, 0.07) >= 0.6
