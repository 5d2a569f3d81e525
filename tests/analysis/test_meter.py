"""Time signature and downbeats on synthetic bars with known answers (analysis.meter via analysis.tempo)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from analysis import AnalysisParameterError
from analysis.meter import estimate_meter
from analysis.spectrum import power_spectrogram
from analysis.tempo import estimate_rhythm

SR = 22050
N_FFT = 2048
HOP = 512
# Roots (MIDI) of a minor-key progression, one chord per bar: Am, F, C, G.
ROOTS = (57, 53, 48, 55)


def drum_bars(
    *, bpm: float, bars: int, beats_per_bar: int, kick: str, snare: str, hat: str, seed: int = 0
) -> npt.NDArray[np.float32]:
    """Render ``bars`` bars of a drum pattern (16th-note steps, ``x`` = hit) over one decaying chord per bar.

    Every bar starts with a new chord (Am, F, C, G, ...) at ``t = bar * beats_per_bar * 60 / bpm``.
    """
    rng = np.random.default_rng(seed)
    step_s = 60.0 / bpm / 4
    steps = 4 * beats_per_bar
    n = round((bars * steps * step_s + 0.5) * SR)
    out = np.zeros(n)
    t_kick = np.arange(int(0.25 * SR)) / SR
    kick_hit = np.sin(2 * np.pi * (45 * t_kick + 3.3 * (1 - np.exp(-t_kick / 0.03)))) * np.exp(-t_kick / 0.15)
    t_snare = np.arange(int(0.2 * SR)) / SR
    t_hat = np.arange(int(0.05 * SR)) / SR

    def add(sound: npt.NDArray[np.float64], start_s: float, gain: float) -> None:
        start = round(start_s * SR)
        if start < n:
            seg = sound[: n - start]
            out[start : start + seg.size] += gain * seg

    for k in range(bars * steps):
        when = k * step_s
        if kick[k % steps] == "x":
            add(kick_hit, when, 0.9)
        if snare[k % steps] == "x":
            body = 0.4 * np.sin(2 * np.pi * 200 * t_snare) + 0.6 * rng.standard_normal(t_snare.size)
            add(body * np.exp(-t_snare / 0.06), when, 0.5)
        if hat[k % steps] == "x":
            add(np.diff(rng.standard_normal(t_hat.size + 1)) * np.exp(-t_hat / 0.015), when, 0.08)
    bar_s = steps * step_s
    for bar in range(bars):
        start, stop = round(bar * bar_s * SR), min(n, round((bar + 1) * bar_s * SR))
        t = np.arange(stop - start) / SR
        voice = np.zeros(t.size)
        for offset in (0, 3, 7):
            f = 440.0 * 2 ** ((ROOTS[bar % 4] + offset - 69) / 12)
            voice += np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)
        voice += 1.5 * np.sin(2 * np.pi * 440.0 * 2 ** ((ROOTS[bar % 4] - 24 - 69) / 12) * t)
        out[start:stop] += 0.05 * voice * np.minimum(1.0, t / 0.01) * np.exp(-t / 2.0)
    rendered: npt.NDArray[np.float32] = (0.8 * out / np.abs(out).max()).astype(np.float32)
    return rendered


PATTERNS = {
    "rock-4/4": (140.0, 4, "x.......x.x.....", "....x.......x...", "x.x.x.x.x.x.x.x."),
    "house-4/4": (125.0, 4, "x...x...x...x...", "....x.......x...", "..x...x...x...x."),
    "hiphop-4/4": (80.0, 4, "x.....x...x..x..", "....x.......x...", "xxxxxxxxxxxxxxxx"),
    "waltz-3/4": (90.0, 3, "x...........", "....x...x...", "x.x.x.x.x.x."),
    "fast-waltz-3/4": (150.0, 3, "x...........", "....x...x...", "x...x...x..."),
}


@pytest.mark.parametrize("name", list(PATTERNS))
def test_time_signature_and_downbeats_of_synthetic_bars(name: str) -> None:
    # given: 16 bars, each starting with a kick and a chord change
    bpm, beats_per_bar, kick, snare, hat = PATTERNS[name]
    y = drum_bars(bpm=bpm, bars=16, beats_per_bar=beats_per_bar, kick=kick, snare=snare, hat=hat)
    bar_starts = np.arange(17) * beats_per_bar * 60.0 / bpm  # bar 17 starts in the 0.5 s tail

    # when
    rhythm = estimate_rhythm(S_power=power_spectrogram(y, n_fft=N_FFT, hop_length=HOP))

    # then: every reported downbeat is a bar start and (nearly) every bar start is found
    assert rhythm.tempo_bpm == pytest.approx(bpm, rel=0.01)
    assert rhythm.time_signature == beats_per_bar
    assert rhythm.bar_count == rhythm.downbeat_times_s.size
    distance = np.abs(rhythm.downbeat_times_s[:, np.newaxis] - bar_starts[np.newaxis, :]).min(axis=1)
    assert float(distance.max()) <= 0.035
    assert rhythm.bar_count in (16, 17)
    assert 0.0 < rhythm.meter_confidence <= 1.0


def test_too_few_beats_default_to_four_four_with_zero_confidence() -> None:
    # given: five beats
    pitch_classes = np.ones((12, 100), dtype=np.float32)
    low = np.zeros(100, dtype=np.float32)
    low[[10, 30, 50, 70, 90]] = [0.2, 0.3, 1.0, 0.1, 0.5]

    # when
    meter = estimate_meter(
        beat_frames=np.array([10, 30, 50, 70, 90]),
        pitch_classes=pitch_classes,
        low_envelope=low,
        full_envelope=low,
    )

    # then: the bar starts on the strongest bass onset among the first four beats
    assert (meter.time_signature, meter.first_downbeat, meter.confidence) == (4, 2, 0.0)


def test_no_beats_give_the_default_meter() -> None:
    # when
    meter = estimate_meter(
        beat_frames=np.zeros(0, dtype=np.int64),
        pitch_classes=np.zeros((12, 10), dtype=np.float32),
        low_envelope=np.zeros(10, dtype=np.float32),
        full_envelope=np.zeros(10, dtype=np.float32),
    )

    # then
    assert (meter.time_signature, meter.first_downbeat, meter.confidence) == (4, 0, 0.0)


@pytest.mark.parametrize(
    ("beats", "n_env", "message"),
    [
        (np.array([5, 3]), 10, "increasing"),
        (np.array([2, 12]), 10, "inside"),
        (np.array([2, 4]), 9, "share n_frames"),
    ],
)
def test_invalid_meter_arguments_raise(beats: npt.NDArray[np.int64], n_env: int, message: str) -> None:
    # when / then
    with pytest.raises(AnalysisParameterError, match=message):
        estimate_meter(
            beat_frames=beats,
            pitch_classes=np.zeros((12, 10), dtype=np.float32),
            low_envelope=np.zeros(n_env, dtype=np.float32),
            full_envelope=np.zeros(n_env, dtype=np.float32),
        )
