"""Onsets, tempo, beats, meter and downbeats: :func:`estimate_rhythm` and its building blocks.

Conventions: onset envelopes have one value per spectrogram frame (frame ``i`` at ``i * hop_length / sr``
seconds); tempi are in beats per minute at the beat level; beat and downbeat times are in seconds from the start
of the signal; the time signature is the number of beats per bar (3 or 4, duple meters reported as 4).

:func:`estimate_rhythm` uses :func:`superflux_envelopes`, :func:`tempo_salience` and
:func:`analysis.meter.estimate_meter`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.ndimage
import scipy.sparse

from analysis._mel import mel_filterbank, mel_frequencies
from analysis._numba import njit
from analysis._typing import Float32Array, Float64Array, IntArray
from analysis._validate import check_positive_int, check_sr
from analysis.errors import AnalysisParameterError
from analysis.meter import estimate_meter, pitch_class_frames

__all__ = [
    "BEAT_LATENCY_S",
    "OnsetEnvelopes",
    "Rhythm",
    "TempoSalience",
    "estimate_rhythm",
    "flux_filterbank",
    "superflux_envelopes",
    "superflux_from_mel",
    "tempo_salience",
]

_MIN_BEATS_FOR_FIT = 3

_FLUX_BANDS = 80
_FLUX_FMIN_HZ = 27.5
_FLUX_FMAX_HZ = 11025.0
# log(1 + gamma * X / max X): compresses about 60 dB of range, so quiet bins do not flicker into the flux.
_FLUX_GAMMA = 1000.0
_LOW_BAND_HZ = 200.0
_SALIENCE_WINDOW_S = 8.0
_SALIENCE_HOP_S = 2.0
_DETREND_S = 2.0
_SALIENCE_NFFT = 4096
_SALIENCE_BPM_MIN = 30.0
_SALIENCE_BPM_MAX = 300.0
_SALIENCE_POINTS = 800

# Offset added to decoded beat times. The square-root SuperFlux peak of a drum hit lands within a frame of the
# physical attack (median offset under 1 ms on synthetic drums at n_fft=2048, hop=512, sr=22050), so none.
BEAT_LATENCY_S = 0.0
# Perceptual tempo prior: log-normal around 110 BPM with a standard deviation of 0.7 octave (Moelants' preferred
# tempo, between Parncutt's 100 and van Noorden & Moelants' 120 BPM).
_PRIOR_BPM = 110.0
_PRIOR_OCTAVES = 0.7
# Weight of the Fourier term in the geometric mean with the autocorrelation (Peeters' product uses 0.5; the
# Fourier term alone favours subdivisions, so it gets less).
_DFT_WEIGHT = 0.25
_OCTAVE_NEIGHBOURHOOD = 0.04
# Tempo-by-phase Viterbi: the envelope is upsampled to twice the frame rate; the beat period may drift to
# 1/1.25..1.25 times the global one, with a cost proportional to the relative change of the period per beat
# (Krebs et al. use the same form with lambda = 100), and at most 8 % per beat.
_UPSAMPLE = 2
_TEMPO_RANGE = 1.25
_TEMPO_CHANGE_COST = 100.0
_MAX_PERIOD_STEP = 0.08
_MIN_ONSETS = 4
_SILENT_FLUX = 1e-6
_LOCAL_TEMPO_BEATS = 4
# Octave check for fast music read at half tempo (thrash metal at 170-200 BPM): the doubled tempo is taken when it
# stays in the fast range, the midpoints between the tracked beats carry nearly as much onset strength as the beats
# (75 %) and as much bass onset strength (85 %: the kick drum runs at the doubled rate), and the onsets are dense,
# at least 6 per beat (3 per beat at the doubled tempo), counted as flux peaks above their 1 s moving average.
_FAST_MAX_BPM = 200.0
_HALF_MID_RATIO = 0.75
_HALF_MID_RATIO_LOW = 0.85
_HALF_ONSETS_PER_BEAT = 6.0
_DENSITY_WINDOW_S = 1.0
_STABLE_TOLERANCE = 0.04


@dataclass(frozen=True, slots=True)
class OnsetEnvelopes:
    """Log-filtered spectral flux with vibrato suppression, over all bands and over the bass bands.

    Attributes
    ----------
    full : np.ndarray, shape (n_frames,), float32
        Sum over all 80 mel bands (27.5 Hz to 11.025 kHz) of the rectified flux; frame 0 is 0.
    low : np.ndarray, shape (n_frames,), float32
        The same sum over the bands centred below 200 Hz (kick drum and bass).
    """

    full: Float32Array
    low: Float32Array


@dataclass(frozen=True, slots=True)
class TempoSalience:
    """Periodicity of an onset envelope on a log-spaced tempo grid.

    Attributes
    ----------
    bpm : np.ndarray, shape (n_tempi,), float64
        Tempo grid in BPM, increasing geometrically from 30 to 300.
    dft : np.ndarray, shape (n_tempi,), float64
        Mean magnitude of the windowed local Fourier transform of the envelope at ``bpm / 60`` Hz, scaled to a
        maximum of 1 (0 everywhere for a constant envelope). Peaks at the pulse and its multiples.
    acf : np.ndarray, shape (n_tempi,), float64
        Mean unbiased, normalised local autocorrelation at the lag ``60 / bpm`` s, clipped to ``[0, 1]``. Peaks at
        the pulse period and its multiples (slower tempi).
    """

    bpm: Float64Array
    dft: Float64Array
    acf: Float64Array


def superflux_envelopes(*, S_power: Float32Array, sr: int, n_fft: int) -> OnsetEnvelopes:
    """Compute SuperFlux-style onset envelopes from a power spectrogram.

    The power is mapped to 80 mel bands, log-compressed relative to its maximum (``log(1 + 1000 * X / max X)``,
    so the result does not depend on the level), and each band's rise over the previous frame is measured
    against the maximum of the three neighbouring bands in that frame (maximum filter for vibrato suppression),
    then half-wave rectified and summed over bands.

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram, e.g. from :func:`analysis.spectrum.power_spectrogram`.
    sr : int
        Sampling rate of the analysed signal in Hz.
    n_fft : int
        FFT length used for ``S_power``.

    Returns
    -------
    OnsetEnvelopes
        Full-band and bass-band envelopes, one value per frame; all zeros for a silent spectrogram.

    Raises
    ------
    AnalysisParameterError
        If ``S_power`` is not 2-D with ``1 + n_fft // 2`` rows, or ``sr``/``n_fft`` are invalid.

    References
    ----------
    S. Böck and G. Widmer, "Maximum filter vibrato suppression for onset detection", DAFx 2013.
    """
    sr = check_sr(sr)
    n_fft = check_positive_int(n_fft, name="n_fft")
    if S_power.ndim != 2 or S_power.shape[0] != 1 + n_fft // 2:
        raise AnalysisParameterError(f"S_power must have shape (1 + n_fft // 2, n_frames), got {S_power.shape}")
    basis, low_rows = flux_filterbank(sr=sr, n_fft=n_fft)
    return superflux_from_mel(mel=np.asarray(basis @ np.asarray(S_power, dtype=np.float32)), low_rows=low_rows)


def superflux_from_mel(*, mel: Float32Array, low_rows: int) -> OnsetEnvelopes:
    """Compute the SuperFlux onset envelopes from mel band powers (the second half of :func:`superflux_envelopes`).

    Parameters
    ----------
    mel : np.ndarray, shape (80, n_frames)
        Power in the bands of :func:`flux_filterbank`, e.g. reduced block by block by the front end.
    low_rows : int
        Number of bass bands, the second value of :func:`flux_filterbank`.

    Returns
    -------
    OnsetEnvelopes
        Full-band and bass-band envelopes, one value per frame; all zeros for silence.
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2:
        raise AnalysisParameterError(f"mel must be 2-D (bands, frames), got shape {mel.shape}")
    n_frames = mel.shape[1]
    peak = float(mel.max(initial=0.0))
    if n_frames < 2 or peak <= 0.0 or not np.isfinite(peak):
        zeros = np.zeros(n_frames, dtype=np.float32)
        return OnsetEnvelopes(full=zeros, low=zeros.copy())
    log_mel = np.log1p(mel * np.float32(_FLUX_GAMMA / peak))
    # Maximum over each band and its two neighbours (the vibrato-suppressing reference).
    reference = log_mel.copy()
    np.maximum(reference[1:], log_mel[:-1], out=reference[1:])
    np.maximum(reference[:-1], log_mel[1:], out=reference[:-1])
    flux = np.zeros_like(log_mel)
    np.maximum(log_mel[:, 1:] - reference[:, :-1], 0.0, out=flux[:, 1:])
    return OnsetEnvelopes(full=flux.sum(axis=0, dtype=np.float32), low=flux[:low_rows].sum(axis=0, dtype=np.float32))


def tempo_salience(*, onset_envelope: Float32Array, sr: int, hop_length: int) -> TempoSalience:
    """Measure the periodicity of an onset envelope with a local Fourier transform and a local autocorrelation.

    The envelope is detrended (a 2 s moving average is subtracted) and cut into 8 s Hann windows every 2 s (one
    window for shorter signals). The Fourier magnitude peaks at the pulse frequency and its harmonics (faster
    tempi), the autocorrelation at the pulse period and its multiples (slower tempi); their product is sharp only
    at the pulse, which is how :func:`estimate_rhythm` uses them.

    Parameters
    ----------
    onset_envelope : np.ndarray, shape (n_frames,)
        Onset envelope, e.g. ``superflux_envelopes(...).full``.
    sr : int
        Sampling rate of the analysed signal in Hz.
    hop_length : int
        Samples between envelope frames.

    Returns
    -------
    TempoSalience
        Both measures on an 800-point grid from 30 to 300 BPM; all zeros for a constant envelope or one shorter
        than four frames. Autocorrelation lags longer than the window are 0.

    Raises
    ------
    AnalysisParameterError
        If the envelope is not 1-D or ``sr``/``hop_length`` are invalid.

    References
    ----------
    G. Peeters, "Template-based estimation of time-varying tempo", EURASIP J. Advances in Signal Processing, 2007.
    """
    sr = check_sr(sr)
    hop_length = check_positive_int(hop_length, name="hop_length")
    env = np.asarray(onset_envelope, dtype=np.float64)
    if env.ndim != 1:
        raise AnalysisParameterError(f"onset_envelope must be 1-D, got shape {env.shape}")
    fps = sr / hop_length
    bpm = np.geomspace(_SALIENCE_BPM_MIN, _SALIENCE_BPM_MAX, _SALIENCE_POINTS)
    zeros = np.zeros_like(bpm)
    if env.size < 4:
        return TempoSalience(bpm=bpm, dft=zeros, acf=zeros.copy())
    detrended = env - scipy.ndimage.uniform_filter1d(env, size=max(3, round(_DETREND_S * fps)), mode="nearest")
    width = min(env.size, round(_SALIENCE_WINDOW_S * fps))
    hop = max(1, round(_SALIENCE_HOP_S * fps))
    windows = np.lib.stride_tricks.sliding_window_view(detrended, width)[::hop]
    windows = windows - windows.mean(axis=1, keepdims=True)
    n_dft = max(_SALIENCE_NFFT, 2 * width)
    magnitude = np.abs(np.fft.rfft(windows * np.hanning(width), n=n_dft, axis=1)).mean(axis=0)
    power = np.fft.rfft(windows, n=2 * width, axis=1)
    autocorr = np.fft.irfft(power.real**2 + power.imag**2, axis=1)[:, :width]
    energy = autocorr[:, :1]
    autocorr = np.divide(autocorr, energy, out=np.zeros_like(autocorr), where=energy > 1e-12)
    unbiased = (autocorr * (width / np.maximum(width - np.arange(width), 1))).mean(axis=0)
    if float(np.abs(windows).max()) <= 1e-12:
        return TempoSalience(bpm=bpm, dft=zeros, acf=zeros.copy())
    dft = np.interp(bpm / 60.0 / fps * n_dft, np.arange(magnitude.size), magnitude)
    dft /= max(float(dft.max()), 1e-12)
    acf = np.interp(60.0 * fps / bpm, np.arange(width), unbiased, right=0.0)
    return TempoSalience(bpm=bpm, dft=dft, acf=np.clip(acf, 0.0, 1.0))


@functools.cache
def flux_filterbank(*, sr: int, n_fft: int) -> tuple[scipy.sparse.csr_array, int]:
    """Return the onset detector's mel filter bank and its number of bass bands (centred below 200 Hz).

    80 Slaney mel bands from 27.5 Hz to 11.025 kHz (or Nyquist), as a sparse matrix: each FFT bin feeds at most
    two bands, so ``basis @ S_power`` costs two multiply-adds per bin.
    """
    fmax = min(_FLUX_FMAX_HZ, sr / 2.0)
    basis = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=_FLUX_BANDS, fmin=_FLUX_FMIN_HZ, fmax=fmax)
    centres = mel_frequencies(n_mels=_FLUX_BANDS + 2, fmin=_FLUX_FMIN_HZ, fmax=fmax)[1:-1]
    return scipy.sparse.csr_array(basis), int(np.count_nonzero(centres < _LOW_BAND_HZ))


@dataclass(frozen=True, slots=True)
class Rhythm:
    """Tempo, beat grid and bar structure of a track (the result of :func:`estimate_rhythm`).

    Attributes
    ----------
    tempo_bpm : float
        Global tempo (least-squares fit of the beat times), ``0.0`` when there is no pulse.
    bpm_confidence : float
        In ``[0, 1]``: periodicity of the onsets at the beat period (normalised autocorrelation) times the
        share of the tempo salience that ``tempo_bpm`` holds against ``tempo_alt_bpm``. About 0.3-0.7 for a
        drum loop, 0.05-0.4 for produced music, below 0.1 for noise, 0 without a pulse.
    tempo_alt_bpm : float
        The other metrical reading, half or double ``tempo_bpm`` (whichever is more salient); ``0.0`` when there
        is no pulse.
    tempo_alt_confidence : float
        The periodicity times the alternative's share: ``bpm_confidence + tempo_alt_confidence`` is the
        periodicity, so equal values mean an undecidable octave.
    beat_times_s : np.ndarray, shape (n_beats,), float64
        Beat positions in seconds, increasing.
    beat_strength : np.ndarray, shape (n_beats,), float32
        Onset strength at each beat divided by the largest, in ``[0, 1]``.
    local_tempo_bpm : np.ndarray, shape (n_beats,), float32
        Tempo around each beat: 60 over the median of the eight inter-beat intervals around it.
    downbeat_times_s : np.ndarray, shape (n_bars,), float64
        Times of the beats that start a bar (the first may start an incomplete bar).
    time_signature : int
        Beats per bar: 4 (also for 2/4 and 2/2) or 3.
    meter_confidence : float
        In ``[0, 1]``: how clearly the chosen bar phase and meter stand out (0 with fewer than 8 beats).
    bar_count : int
        Number of downbeats.
    tempo_stability : float
        Fraction of beats whose local tempo is within 4 % of ``tempo_bpm``: 1 for a programmed grid, lower for
        rubato, drifting or changing tempo; ``0.0`` without beats.
    """

    tempo_bpm: float
    bpm_confidence: float
    tempo_alt_bpm: float
    tempo_alt_confidence: float
    beat_times_s: Float64Array
    beat_strength: Float32Array
    local_tempo_bpm: Float32Array
    downbeat_times_s: Float64Array
    time_signature: int
    meter_confidence: float
    bar_count: int
    tempo_stability: float

    def local_tempo_curve(self, *, n_frames: int, hop_s: float) -> Float32Array:
        """Sample the local tempo on a frame grid, e.g. to store it as a feature series.

        Parameters
        ----------
        n_frames : int
            Number of frames; frame ``i`` is at ``i * hop_s`` seconds.
        hop_s : float
            Time between frames in seconds.

        Returns
        -------
        np.ndarray, shape (n_frames,), float32
            Local tempo in BPM, linearly interpolated between beats and held before the first and after the
            last; all zeros without beats.
        """
        if self.beat_times_s.size == 0:
            return np.zeros(n_frames, dtype=np.float32)
        times = np.arange(n_frames, dtype=np.float64) * hop_s
        return np.interp(times, self.beat_times_s, self.local_tempo_bpm).astype(np.float32)


def estimate_rhythm(
    *,
    S_power: Float32Array | None = None,
    flux_mel: Float32Array | None = None,
    pitch_classes: Float32Array | None = None,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
) -> Rhythm:
    """Estimate tempo, beats, downbeats, meter and tempo stability from a power spectrogram.

    1. Onsets: SuperFlux-style log-mel spectral flux (:func:`superflux_envelopes`).
    2. Tempo: the local Fourier transform and autocorrelation of the flux (:func:`tempo_salience`) are combined
       as ``dft**0.25 * acf**0.75`` (Peeters' hybrid, sharp only at the pulse: Fourier peaks sit at its
       multiples, autocorrelation peaks at its sub-multiples), times a log-normal prior around 110 BPM with a
       0.7-octave spread (Moelants' preferred tempo). After a first beat tracking pass, the tempo is doubled
       when the doubled tempo is at most 200 BPM, the midpoints between the beats carry about as much onset
       strength (75 %) and bass onset strength (85 %) as the beats, and the onsets are dense (at least 6 per
       beat): fast metal whose kick drum runs at the doubled rate. Half/double readings stay genuinely ambiguous
       on other material (drum'n'bass with sparse kicks is reported at half tempo): the other reading is
       returned as ``tempo_alt_bpm`` with its share of the confidence.
    3. Beats: Viterbi decoding of a tempo-by-phase state space (beat period within 1/1.25..1.25 of the global
       tempo, at twice the frame rate) whose beat states earn the standardised square-root flux, so the beat
       grid follows tempo drift but keeps the metrical level (Krebs, Böck & Widmer's bar-pointer model reduced
       to one beat per bar). Beat times are shifted by :data:`BEAT_LATENCY_S`.
    4. Meter and downbeats: :func:`analysis.meter.estimate_meter` on the beats.

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames), optional
        Power spectrogram of the mono mix (:func:`analysis.spectrum.power_spectrogram`). Or, instead, its two
        reductions, which a caller can compute block by block without holding the spectrogram:
    flux_mel : np.ndarray, shape (80, n_frames), optional
        ``flux_filterbank(sr=sr, n_fft=n_fft)[0] @ S_power``.
    pitch_classes : np.ndarray, shape (12, n_frames), optional
        ``analysis.meter.pitch_class_frames(S_power, sr=sr, n_fft=n_fft)``.
    sr : int
        Sampling rate of the analysed signal in Hz.
    n_fft : int
        FFT length of the spectrogram.
    hop_length : int
        Samples between frames of the spectrogram.

    Returns
    -------
    Rhythm
        Degenerate input is defined, never an error. Silence, DC, a steady tone, anything with fewer than four
        onsets, and spectrograms of fewer than four frames: ``tempo_bpm=0.0``, all confidences 0, no beats or
        downbeats, ``time_signature=4``, ``bar_count=0``, ``tempo_stability=0.0``. White noise: some tempo and
        beats with ``bpm_confidence`` below 0.1. Clips of a few seconds: tempo and beats from the beats present;
        under eight beats ``time_signature=4`` with ``meter_confidence=0.0``.

    Raises
    ------
    AnalysisParameterError
        If neither ``S_power`` nor both reductions are given, ``S_power`` does not have ``1 + n_fft // 2`` rows,
        or the sizes are invalid.

    References
    ----------
    G. Peeters, "Template-based estimation of time-varying tempo", EURASIP J. Advances in Signal Processing, 2007.
    D. Moelants, "Preferred tempo reconsidered", ICMPC 2002.
    F. Krebs, S. Böck and G. Widmer, "An efficient state-space model for joint tempo and meter tracking",
    ISMIR 2015.
    """
    sr = check_sr(sr)
    hop_length = check_positive_int(hop_length, name="hop_length")
    n_fft = check_positive_int(n_fft, name="n_fft")
    if S_power is not None:
        if S_power.ndim != 2 or S_power.shape[0] != 1 + n_fft // 2:
            raise AnalysisParameterError(f"S_power must have shape (1 + n_fft // 2, n_frames), got {S_power.shape}")
        flux_mel = flux_filterbank(sr=sr, n_fft=n_fft)[0] @ np.asarray(S_power, dtype=np.float32)
        pitch_classes = pitch_class_frames(S_power, sr=sr, n_fft=n_fft)
    elif flux_mel is None or pitch_classes is None:
        raise AnalysisParameterError("pass S_power, or both flux_mel and pitch_classes")
    envelopes = superflux_from_mel(mel=flux_mel, low_rows=flux_filterbank(sr=sr, n_fft=n_fft)[1])
    env = envelopes.full.astype(np.float64)
    fps = sr / hop_length
    if _count_onsets(env) < _MIN_ONSETS:
        return _no_rhythm()
    salience = tempo_salience(onset_envelope=envelopes.full, sr=sr, hop_length=hop_length)
    score = _tempo_score(salience)
    best = int(np.argmax(score))
    if score[best] <= 0.0:
        return _no_rhythm()
    tempo = float(salience.bpm[best])
    alt_tempo, alt_score = _octave_alternative(salience, score, tempo)
    share = float(score[best] / (score[best] + alt_score))
    periodicity = float(salience.acf[best])

    beat_frames = _track_beats(env, fps=fps, tempo_bpm=tempo)
    if 2.0 * tempo <= _FAST_MAX_BPM and _reads_half_tempo(
        env, envelopes.low.astype(np.float64), beat_frames / _UPSAMPLE, fps=fps, tempo_bpm=tempo
    ):
        double = int(np.argmin(np.abs(np.log2(salience.bpm / (2.0 * tempo)))))
        alt_tempo, tempo = tempo, 2.0 * tempo
        share = float(score[double] / max(score[double] + score[best], 1e-12))
        periodicity = float(salience.acf[double])
        beat_frames = _track_beats(env, fps=fps, tempo_bpm=tempo)
    if beat_frames.size < 2:
        return _no_rhythm()
    times = beat_frames / (fps * _UPSAMPLE) + BEAT_LATENCY_S
    if times.size >= 3:
        slope = float(np.polyfit(np.arange(times.size, dtype=np.float64), times, deg=1)[0])
        if 0.5 * 60.0 / tempo < slope < 2.0 * 60.0 / tempo:
            alt_tempo *= 60.0 / slope / tempo
            tempo = 60.0 / slope
    frames = np.minimum(np.round(beat_frames / _UPSAMPLE).astype(np.int64), env.size - 1)
    keep = np.concatenate([[True], np.diff(frames) > 0])
    frames, times = frames[keep], times[keep]
    peaks = scipy.ndimage.maximum_filter1d(env, size=3, mode="constant")[frames]
    strength = (peaks / max(float(peaks.max()), 1e-12)).astype(np.float32)
    local = _local_tempo(times)
    stability = float(np.mean(np.abs(local / tempo - 1.0) <= _STABLE_TOLERANCE)) if local.size else 0.0

    meter = estimate_meter(
        beat_frames=frames,
        pitch_classes=pitch_classes,
        low_envelope=envelopes.low,
        full_envelope=envelopes.full,
    )
    downbeats = times[meter.first_downbeat :: meter.time_signature]
    return Rhythm(
        tempo_bpm=round(tempo, 2),
        bpm_confidence=round(periodicity * share, 3),
        tempo_alt_bpm=round(alt_tempo, 2),
        tempo_alt_confidence=round(periodicity * (1.0 - share), 3),
        beat_times_s=times.astype(np.float64),
        beat_strength=strength,
        local_tempo_bpm=local.astype(np.float32),
        downbeat_times_s=downbeats.astype(np.float64),
        time_signature=meter.time_signature,
        meter_confidence=meter.confidence,
        bar_count=int(downbeats.size),
        tempo_stability=round(stability, 3),
    )


def _no_rhythm() -> Rhythm:
    return Rhythm(
        tempo_bpm=0.0,
        bpm_confidence=0.0,
        tempo_alt_bpm=0.0,
        tempo_alt_confidence=0.0,
        beat_times_s=np.zeros(0, dtype=np.float64),
        beat_strength=np.zeros(0, dtype=np.float32),
        local_tempo_bpm=np.zeros(0, dtype=np.float32),
        downbeat_times_s=np.zeros(0, dtype=np.float64),
        time_signature=4,
        meter_confidence=0.0,
        bar_count=0,
        tempo_stability=0.0,
    )


def _count_onsets(env: Float64Array) -> int:
    """Count local maxima of the flux above a tenth of its maximum (a steady tone has one, at its start)."""
    peak = float(env.max(initial=0.0))
    if env.size < 4 or peak < _SILENT_FLUX:
        return 0
    inner = env[1:-1]
    is_peak = (inner > env[:-2]) & (inner >= env[2:]) & (inner > 0.1 * peak)
    return int(np.count_nonzero(is_peak))


def _tempo_score(salience: TempoSalience) -> Float64Array:
    prior = np.exp(-0.5 * (np.log2(salience.bpm / _PRIOR_BPM) / _PRIOR_OCTAVES) ** 2)
    hybrid: Float64Array = salience.dft**_DFT_WEIGHT * salience.acf ** (1.0 - _DFT_WEIGHT)
    return hybrid * prior


def _octave_alternative(salience: TempoSalience, score: Float64Array, tempo: float) -> tuple[float, float]:
    """Return the more salient of half and double ``tempo`` (best score within 4 %) and its score."""
    best_tempo, best_score = 2.0 * tempo, 0.0
    for factor in (0.5, 2.0):
        near = np.abs(np.log2(salience.bpm / (tempo * factor))) <= np.log2(1.0 + _OCTAVE_NEIGHBOURHOOD)
        if np.any(near):
            i = int(np.flatnonzero(near)[np.argmax(score[near])])
            if score[i] > best_score:
                best_tempo, best_score = float(salience.bpm[i]), float(score[i])
    return best_tempo, best_score


def _reads_half_tempo(
    env: Float64Array, low: Float64Array, beat_frames: Float64Array, *, fps: float, tempo_bpm: float
) -> bool:
    """Tell whether beats tracked at ``tempo_bpm`` look like every other beat of a fast pulse (see the constants)."""
    if beat_frames.size < _MIN_BEATS_FOR_FIT:
        return False
    on = np.minimum(np.round(beat_frames).astype(np.int64), env.size - 1)
    mid = np.minimum(np.round(0.5 * (beat_frames[:-1] + beat_frames[1:])).astype(np.int64), env.size - 1)
    for envelope, ratio in ((env, _HALF_MID_RATIO), (low, _HALF_MID_RATIO_LOW)):
        peaks = scipy.ndimage.maximum_filter1d(np.sqrt(envelope), size=3, mode="constant")
        if float(peaks[mid].mean()) < ratio * float(peaks[on].mean()):
            return False
    root = np.sqrt(env)
    local = scipy.ndimage.uniform_filter1d(root, size=max(3, round(_DENSITY_WINDOW_S * fps)), mode="nearest")
    inner = root[1:-1]
    n_onsets = np.count_nonzero((inner > root[:-2]) & (inner >= root[2:]) & (inner > local[1:-1]))
    return bool(n_onsets / (env.size / fps / 60.0) >= _HALF_ONSETS_PER_BEAT * tempo_bpm)


def _track_beats(env: Float64Array, *, fps: float, tempo_bpm: float) -> IntArray:
    """Decode beat positions, in frames of the upsampled envelope, with the tempo-by-phase Viterbi decoder."""
    n = env.size
    # Square-root compression keeps a few loud accents (crashes, drops) from outweighing many regular beats.
    upsampled = np.interp(np.arange(n * _UPSAMPLE) / _UPSAMPLE, np.arange(n), np.sqrt(env))
    spread = float(upsampled.std())
    if spread <= 0.0:
        return np.zeros(0, dtype=np.int64)
    reward = (upsampled - upsampled.mean()) / spread
    period = 60.0 * fps * _UPSAMPLE / tempo_bpm
    shortest = max(2, int(np.floor(period / _TEMPO_RANGE)))
    longest = max(shortest + 1, int(np.ceil(period * _TEMPO_RANGE)))
    max_step = max(1, int(np.ceil(_MAX_PERIOD_STEP * longest)))
    beats: IntArray = _kernels().viterbi(reward, shortest, longest, _TEMPO_CHANGE_COST, max_step)
    return beats


def _local_tempo(times: Float64Array) -> Float64Array:
    if times.size < 2:
        return np.zeros(times.size, dtype=np.float64)
    intervals = np.diff(times)
    # Interval k spans beats k and k + 1; beat k takes the median of intervals k - 4 .. k + 3.
    padded = np.concatenate([intervals[:1], intervals])
    smoothed = scipy.ndimage.median_filter(padded, size=2 * _LOCAL_TEMPO_BEATS, mode="nearest", origin=-1)
    out: Float64Array = 60.0 / smoothed
    return out


# Compiled kernel. numba is imported and the kernel compiled (or loaded from its on-disk cache) on first use,
# which keeps numba off the import path of the package; pipeline.warm_up() pays it once per process.


@dataclass(frozen=True, slots=True)
class _Kernels:
    viterbi: Callable[[Float64Array, int, int, float, int], IntArray]


@functools.cache
def _kernels() -> _Kernels:
    # Only the first rhythm estimate pays for importing numba.
    return _Kernels(viterbi=njit(_viterbi, nogil=True, cache=True))


def _viterbi(reward: Any, shortest: int, longest: int, change_cost: float, max_step: int) -> Any:
    """Find the best beat sequence through states (period ``tau``, frames since the last beat ``phi < tau``).

    Each frame ``phi`` advances by one; from ``phi = tau - 1`` the next frame is a beat (``phi = 0``) of a
    period ``tau'`` within ``max_step`` of ``tau``, at a cost of ``change_cost * |tau' / tau - 1|``. Beat
    states earn ``reward[t]``, the others nothing. Returns the frames of the decoded beats.
    """
    n = reward.size
    n_periods = longest - shortest + 1
    neg = -1e300
    score = np.full((n_periods, longest), neg)
    for i in range(n_periods):
        for p in range(shortest + i):
            score[i, p] = 0.0
    new = np.full((n_periods, longest), neg)
    back = np.zeros((n, n_periods), dtype=np.int16)
    for t in range(n):
        r = reward[t]
        for j in range(n_periods):
            tau = shortest + j
            for p in range(tau - 1, 0, -1):
                new[j, p] = score[j, p - 1]
            best = neg
            arg = j
            for i in range(max(0, j - max_step), min(n_periods, j + max_step + 1)):
                value = score[i, shortest + i - 1] - change_cost * abs(tau / (shortest + i) - 1.0)
                if value > best:
                    best = value
                    arg = i
            new[j, 0] = best + r
            back[t, j] = arg
        score, new = new, score
    state = 0
    phase = 0
    top = neg
    for i in range(n_periods):
        for p in range(shortest + i):
            if score[i, p] > top:
                top = score[i, p]
                state = i
                phase = p
    beats = np.empty(n, dtype=np.int64)
    count = 0
    for t in range(n - 1, -1, -1):
        if phase == 0:
            beats[count] = t
            count += 1
            if t > 0:
                state = back[t, state]
                phase = shortest + state - 1
        else:
            phase -= 1
    return beats[:count][::-1].copy()
