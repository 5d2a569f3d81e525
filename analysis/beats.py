"""Beat tracking by dynamic programming over beat times and beat periods.

Conventions: an onset envelope has one value per frame (frame ``i`` at ``i * hop_length / sr`` seconds); beat
periods are in frames; tempi are in beats per minute; beats are returned as increasing integer frame indices into the
envelope.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.ndimage

from analysis._typing import FloatArray, IntArray
from analysis._validate import check_positive_int, check_sr
from analysis.errors import AnalysisParameterError

__all__ = ["track_beats"]

# Tempo may drift this far (as a ratio) from the global tempo; octave changes are never tracked.
_TEMPO_RANGE = 1.25
# Penalty per beat for a change of beat period, per unit of |log(period ratio)|, in envelope standard deviations.
_CHANGE_COST = 5.0
# Penalty per beat for a period away from the global one, per unit of log(period ratio) squared.
_DEVIATION_COST = 500.0
# Consecutive periods may differ by at most this log ratio (20 %).
_MAX_LOG_CHANGE = 0.2
# Gaussian smoothing of the envelope, in frames: tolerates one frame of onset jitter.
_SMOOTH_FRAMES = 1.0
# A frame is "active" when its envelope reaches this fraction of the envelope's 99th percentile.
_ACTIVE_FRACTION = 0.1


def track_beats(
    *,
    onset_envelope: FloatArray,
    sr: int,
    hop_length: int,
    tempo_bpm: float,
    tempo_range: float = _TEMPO_RANGE,
    trim: bool = True,
) -> IntArray:
    """Find the beat sequence that best fits an onset envelope and a global tempo.

    Every beat at frame ``t`` with period ``p`` (frames since the previous beat) scores the smoothed, standardised
    envelope at ``t``, minus a penalty for ``p`` away from the global period and a penalty for changing the period
    from one beat to the next. The best sequence is found exactly by dynamic programming over (frame, period)
    states, with periods within ``tempo_range`` of the global one. This is Ellis' beat tracker with the tempo made
    a state, so the beats follow slow tempo drift (live music) instead of one fixed period, like the tempo
    transitions of Krebs, Böck and Widmer's state space.

    Parameters
    ----------
    onset_envelope : np.ndarray, shape (n_frames,)
        Non-negative onset strength, e.g. the ``broadband`` envelope of :func:`analysis.tempo.spectral_flux`.
    sr : int
        Sampling rate of the analysed signal in Hz.
    hop_length : int
        Samples between envelope frames.
    tempo_bpm : float
        Global tempo in BPM (> 0).
    tempo_range : float
        The beat period may range from ``1 / tempo_range`` to ``tempo_range`` times the global period (> 1).
    trim : bool
        Drop beats before the first and after the last active frame (envelope below 10 % of its 99th percentile),
        so leading and trailing silence gets no beats.

    Returns
    -------
    np.ndarray, shape (n_beats,), int64
        Beat frames, increasing. Empty when the envelope is all zero or too short to hold two beats.

    Raises
    ------
    AnalysisParameterError
        If the envelope is not 1-D or holds negative or non-finite values, or the tempo parameters are out of range.

    References
    ----------
    D. P. W. Ellis, "Beat tracking by dynamic programming", J. New Music Research 36(1), 2007.
    F. Krebs, S. Böck and G. Widmer, "An efficient state-space model for joint tempo and meter tracking",
    ISMIR 2015.
    """
    sr = check_sr(sr)
    hop_length = check_positive_int(hop_length, name="hop_length")
    env = np.asarray(onset_envelope, dtype=np.float64)
    if env.ndim != 1:
        raise AnalysisParameterError(f"onset_envelope must be 1-D, got shape {env.shape}")
    if not np.isfinite(env).all() or (env.size and float(env.min()) < 0.0):
        raise AnalysisParameterError("onset_envelope must be finite and non-negative")
    if not (np.isfinite(tempo_bpm) and tempo_bpm > 0.0):
        raise AnalysisParameterError(f"tempo_bpm must be positive, got {tempo_bpm}")
    if not (np.isfinite(tempo_range) and tempo_range > 1.0):
        raise AnalysisParameterError(f"tempo_range must be greater than 1, got {tempo_range}")
    empty = np.zeros(0, dtype=np.int64)
    period = 60.0 * sr / hop_length / tempo_bpm
    std = float(env.std())
    if env.size < 2 or std <= 0.0 or period >= env.size:
        return empty
    score = scipy.ndimage.gaussian_filter1d(env / std, _SMOOTH_FRAMES, mode="constant")
    periods = np.arange(max(1, int(np.floor(period / tempo_range))), int(np.ceil(period * tempo_range)) + 1)
    periods = periods[periods < env.size]
    if periods.size == 0:
        return empty
    period_cost = _DEVIATION_COST * np.log(periods / period) ** 2
    beats = _viterbi(score, periods.astype(np.int64), period_cost, _CHANGE_COST, _MAX_LOG_CHANGE)
    if trim and beats.size:
        active = np.flatnonzero(env >= _ACTIVE_FRACTION * np.percentile(env, 99))
        half = period / 2.0
        beats = beats[(beats >= active[0] - half) & (beats <= active[-1] + half)]
    return beats.astype(np.int64)


@numba.njit(cache=True, nogil=True)  # type: ignore[untyped-decorator]
def _viterbi(
    score: FloatArray, periods: IntArray, period_cost: FloatArray, change_cost: float, max_change: float
) -> IntArray:  # pragma: no cover - compiled
    """Best beat sequence over (frame, period) states; see :func:`track_beats`."""
    n = score.size
    m = periods.size
    log_p = np.log(periods.astype(np.float64))
    longest = periods[m - 1]
    cum = np.full((n, m), -np.inf)
    back = np.full((n, m), -1, dtype=np.int64)
    for t in range(n):
        for j in range(m):
            prev = t - periods[j]
            # A sequence may start anywhere within the first (longest) period.
            best = 0.0 if t < longest else -np.inf
            arg = -1
            if prev >= 0:
                for k in range(m):
                    change = abs(log_p[j] - log_p[k])
                    if change > max_change:
                        continue
                    candidate = cum[prev, k] - change_cost * change
                    if candidate > best:
                        best = candidate
                        arg = prev * m + k
            cum[t, j] = best + score[t] - period_cost[j]
            back[t, j] = arg
    best = -np.inf
    state = -1
    for t in range(max(0, n - longest), n):
        for j in range(m):
            if cum[t, j] > best:
                best = cum[t, j]
                state = t * m + j
    out = np.empty(n // max(1, periods[0]) + 2, dtype=np.int64)
    count = 0
    while state >= 0 and count < out.size:
        out[count] = state // m
        count += 1
        state = back[state // m, state % m]
    return out[:count][::-1].copy()
