"""The whole-track analysis: one call from samples to a :class:`~analysis.types.TrackAnalysis`.

Conventions: input samples are float in ``[-1, 1]``, ``(channels, n_samples)`` or ``(n_samples,)``, at ``sr`` Hz.
Features are computed on the mono mix (channel mean, DC offset removed) resampled with soxr to
:data:`ANALYSIS_SR` and share one STFT (:data:`N_FFT`, :data:`HOP_LENGTH`, Hann, centred), so every feature has the
same frame grid (``HOP_LENGTH / ANALYSIS_SR`` ≈ 23.2 ms); only the chroma uses a second, long-window STFT of the
signal decimated to :data:`CHROMA_SR`, mapped onto the same frame centres. The waveform overview uses the original
samples and rate.
"""

from __future__ import annotations

import librosa
import numpy as np
import numpy.typing as npt
import soxr

from analysis._typing import Float32Array
from analysis._validate import as_channels_first, check_sr
from analysis._version import ANALYZER_VERSION
from analysis.key import estimate_key
from analysis.loudness import rms_db
from analysis.spectrum import chroma, mel_db, power_spectrogram, spectral_centroid
from analysis.tempo import ONSET_LATENCY_S, estimate_tempo, onset_strength
from analysis.types import Event, FeatureSeries, TrackAnalysis, WaveformPeaks

__all__ = [
    "ANALYSIS_SR",
    "CHROMA_N_FFT",
    "CHROMA_SR",
    "HOP_LENGTH",
    "N_FFT",
    "WAVEFORM_SAMPLES_PER_PIXEL",
    "analyze",
    "warm_up",
]

ANALYSIS_SR = 22050
N_FFT = 2048
HOP_LENGTH = 512
WAVEFORM_SAMPLES_PER_PIXEL = 256
CHROMA_SR = 11025
CHROMA_N_FFT = 4096
CHROMA_HOP_RATIO = 4

_SILENT_ONSET_ENVELOPE = 1e-4


def analyze(samples: npt.ArrayLike, *, sr: int) -> TrackAnalysis:
    """Analyse a whole track: tempo, beats, key, frame features, beat/onset events and waveform peaks.

    Parameters
    ----------
    samples : np.ndarray, shape (channels, n_samples) or (n_samples,)
        Float audio in ``[-1, 1]`` (up to 64 channels).
    sr : int
        Sampling rate of ``samples`` in Hz (1000 to 768000).

    Returns
    -------
    TrackAnalysis
        With features ``rms`` (dBFS, 1 dim), ``spectral_centroid`` (Hz, 1), ``onset_strength`` (dB per band, 1)
        and ``chroma`` (12, rows C..B), one ``beat`` event per beat (value = beat strength) and one ``onset``
        event per detected onset (value = normalised onset strength).

        Degenerate input is defined, never an error:

        - silence or a constant (DC) signal: ``tempo_bpm=0.0``, ``bpm_confidence=0.0``, no beats or onsets,
          ``key=None``, ``key_confidence=0.0``, ``rms`` at the -120 dBFS floor (the DC offset is removed
          before analysis, so it never counts as level);
        - white noise: some tempo and beats with ``bpm_confidence`` below 0.15, ``key=None`` (flat chroma);
          coloured noise may get a key, with low ``key_confidence``;
        - a steady tone: ``tempo_bpm=0.0`` (a single onset is not a tempo), a key containing its pitch class;
        - clips of a few seconds: tempo from the few beats present, lower confidence; clips shorter than one
          hop give a single frame and no beats;
        - low rates (8 kHz) are upsampled to 22.05 kHz, so features above the source Nyquist are empty.

    Raises
    ------
    AnalysisParameterError
        If ``samples`` is empty, not 1-D/2-D, samples-first, integer, non-finite, or ``sr`` is out of range.
    """
    x = as_channels_first(samples)
    sr = check_sr(sr)
    mono = x[0] if x.shape[0] == 1 else np.add.reduce(x, axis=0) / np.float32(x.shape[0])
    # A DC offset is inaudible; removing it keeps it out of the level, the onsets and the chroma.
    mono = mono - np.float32(mono.mean(dtype=np.float64))
    y = mono if sr == ANALYSIS_SR else soxr.resample(mono, sr, ANALYSIS_SR, quality="HQ").astype(np.float32)
    hop_s = HOP_LENGTH / ANALYSIS_SR

    s_power = power_spectrogram(y, n_fft=N_FFT, hop_length=HOP_LENGTH)
    level_db = rms_db(S_power=s_power, n_fft=N_FFT)
    centroid_hz = spectral_centroid(S_power=s_power, sr=ANALYSIS_SR, n_fft=N_FFT)
    envelope = onset_strength(S_db=mel_db(S_power=s_power, sr=ANALYSIS_SR, n_fft=N_FFT))
    tempo = estimate_tempo(onset_envelope=envelope, sr=ANALYSIS_SR, hop_length=HOP_LENGTH)
    pitch_raw = _pitch_chroma(y, n_frames=s_power.shape[1])
    key = estimate_key(chroma=pitch_raw, profile="shaath")
    peak = pitch_raw.max(axis=0)
    pitch = np.divide(pitch_raw, peak, out=np.zeros_like(pitch_raw), where=peak > 1e-8)

    events = [
        Event(event_type="beat", time_s=float(t), duration_s=None, value=float(v), label=None)
        for t, v in zip(tempo.beat_times_s, tempo.beat_strength, strict=True)
    ]
    events.extend(_onset_events(envelope))
    events.sort(key=lambda event: (event.time_s, event.event_type))

    features = (
        FeatureSeries(
            name="rms",
            hop_s=hop_s,
            values=level_db[:, np.newaxis],
            unit="dBFS",
            description="RMS level of the DC-free mono mix per frame (full-scale sine = -3.01 dBFS, floor -120)",
        ),
        FeatureSeries(
            name="spectral_centroid",
            hop_s=hop_s,
            values=centroid_hz[:, np.newaxis],
            unit="Hz",
            description="Magnitude-weighted mean frequency (brightness); 0 for silent frames",
        ),
        FeatureSeries(
            name="onset_strength",
            hop_s=hop_s,
            values=envelope[:, np.newaxis],
            unit="dB",
            description="Log-mel spectral flux: mean rise in dB across 128 mel bands",
        ),
        FeatureSeries(
            name="chroma",
            hop_s=hop_s,
            values=np.ascontiguousarray(pitch.T),
            unit="",
            description="Pitch-class energy C..B, each frame scaled to a maximum of 1",
        ),
    )
    return TrackAnalysis(
        duration_s=x.shape[1] / sr,
        sample_rate=sr,
        channels=int(x.shape[0]),
        tempo_bpm=tempo.tempo_bpm,
        bpm_confidence=tempo.confidence,
        beat_times_s=tempo.beat_times_s,
        key=key.key,
        key_confidence=key.confidence,
        features=features,
        events=tuple(events),
        waveform=WaveformPeaks.from_samples(x, sample_rate=sr, samples_per_pixel=WAVEFORM_SAMPLES_PER_PIXEL, bits=16),
        analyzer_version=ANALYZER_VERSION,
    )


def _pitch_chroma(y: Float32Array, *, n_frames: int) -> Float32Array:
    """Raw chroma on the shared frame grid from a long-window STFT of the signal decimated to 11025 Hz.

    The shared 2048-sample STFT has 10.8 Hz bins, too coarse for bass notes; a 4096-sample window at 11025 Hz
    (2.7 Hz bins) resolves them. Its hop is :data:`CHROMA_HOP_RATIO` shared hops (harmony changes slowly), and
    each shared frame takes the long frame with the nearest centre.
    """
    y_low = soxr.resample(y, ANALYSIS_SR, CHROMA_SR, quality="HQ").astype(np.float32)
    hop_low = HOP_LENGTH * CHROMA_HOP_RATIO * CHROMA_SR // ANALYSIS_SR
    s_long = power_spectrogram(y_low, n_fft=CHROMA_N_FFT, hop_length=hop_low)
    raw = chroma(S_power=s_long, sr=CHROMA_SR, n_fft=CHROMA_N_FFT, normalize=False)
    nearest = np.minimum(np.rint(np.arange(n_frames) / CHROMA_HOP_RATIO).astype(np.int64), raw.shape[1] - 1)
    return np.ascontiguousarray(raw[:, nearest])


def _onset_events(envelope: Float32Array) -> list[Event]:
    peak = float(envelope.max(initial=0.0))
    if peak < _SILENT_ONSET_ENVELOPE:
        return []
    frames = librosa.onset.onset_detect(
        onset_envelope=envelope, sr=ANALYSIS_SR, hop_length=HOP_LENGTH, units="frames", backtrack=False
    )
    return [
        Event(
            event_type="onset",
            time_s=float(frame * HOP_LENGTH / ANALYSIS_SR + ONSET_LATENCY_S),
            duration_s=None,
            value=float(envelope[frame] / peak),
            label=None,
        )
        for frame in np.asarray(frames, dtype=np.int64)
    ]


def warm_up() -> None:
    """Run :func:`analyze` once on four seconds of clicks, so that lazily compiled code is ready.

    librosa's beat tracker is compiled by numba on first use (several seconds); a long-lived process that
    calls this once at start-up, before it forks workers, pays that cost once for all of them.
    """
    sr = 22050
    clicks = np.zeros(4 * sr, dtype=np.float32)
    clicks[:: sr // 2] = 1.0
    analyze(clicks, sr=sr)
