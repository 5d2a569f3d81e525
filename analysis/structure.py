"""Song structure: sections with repetition letters and energy roles, from frame features and beats.

Conventions: frame features share one grid, frame ``i`` centred on ``i * hop_s`` seconds (the pipeline's shared
STFT grid); ``chroma`` is ``(12, n_frames)`` (rows C..B, raw or per-frame normalised), ``mfcc`` is
``(n_mfcc, n_frames)`` from :func:`analysis.timbre.mfcc`, ``rms_db`` is ``(n_frames,)`` in dB (dBFS or LUFS-like:
only differences matter, except for :data:`SILENCE_DB`). Times are in seconds.

Method (Foote 2000, with beat-synchronous features as in McFee & Ellis 2014):

1. A grid of beats, extended at the tempo over the parts of the track with no beats (a fixed 0.5 s grid when
   there are fewer than 8 beats), cut into units; features are averaged per unit: MFCCs 1.. (timbre, level-free),
   chroma (harmony), the mean level in dB and an activity measure (onset strength, or MFCC flux).
2. Each feature group is standardised over the track with a floor on its spread (so a steady loop stays steady
   instead of having its noise blown up), clipped at 4 spreads, and weighted so each group counts alike.
3. Foote's checkerboard kernel (untapered, ``min_section_s`` per half) slid along the diagonal of the unit
   self-distance matrix gives a novelty curve: the squared distance between the mean features of the
   ``min_section_s`` before and after each unit. Peaks above an absolute threshold and four times the track's
   lower-quartile novelty, and prominent, become boundaries, strongest first, at least ``min_section_s`` apart
   and from the ends; they sit on grid units (beats), and move to the nearest bar start when downbeats are given.
4. Sections are clustered on their mean features (average linkage, fixed distance threshold); clusters get
   letters in order of first appearance, and neighbours with the same letter merge (the boundary between them
   was a variation, not a change of material). Roles compare each section's level and activity with the
   track's main level (the duration-weighted 75th percentile of the sections).

J. Foote, "Automatic audio segmentation using a measure of audio novelty", ICME 2000.
B. McFee and D. Ellis, "Analyzing song structure with spectral clustering", ISMIR 2014.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.cluster.hierarchy

from analysis._typing import FloatArray
from analysis.errors import AnalysisParameterError

__all__ = ["SECTION_ROLES", "SILENCE_DB", "Section", "segment"]

SECTION_ROLES: frozenset[str] = frozenset({"intro", "build", "drop", "breakdown", "main", "outro", "silence"})
SILENCE_DB = -60.0
"""Sections whose mean level is below this (dB) get the role ``"silence"``."""

_Array = npt.NDArray[np.float64]

_MIN_BEATS = 8
_FIXED_GRID_S = 0.5
_LEVEL_RANGE_DB = 40.0
_MAX_Z = 4.0
# Floors on the spread used to standardise each feature group: below these, variation is treated as noise.
_MFCC_STD_FLOOR = 3.0
_CHROMA_STD_FLOOR = 0.08
_LEVEL_STD_FLOOR_DB = 3.0
_ACTIVITY_STD_FLOOR = 0.25
# Relative weights of the groups in the unit features (timbre, harmony, level, activity).
_WEIGHTS = (1.0, 1.0, 1.5, 1.0)
_NOVELTY_THRESHOLD = 0.35
_RELATIVE_THRESHOLD = 4.0
_MIN_PROMINENCE = 0.5
_LABEL_THRESHOLD = 0.8
_HIGH_LEVEL_DB = -2.5
_LOW_LEVEL_DB = -5.0
_LOW_ACTIVITY = 0.6
_MIN_CONTRAST_DB = 3.0
_BUILD_RISE_DB = 2.0


@dataclass(frozen=True, slots=True)
class Section:
    """One section of a track.

    Attributes
    ----------
    start_s : float
        Start time in seconds.
    duration_s : float
        Length in seconds; sections tile the track without gaps.
    label : str
        Letter of the material: sections with the same letter sound alike (``"A"``, ``"B"``, ... in order of
        first appearance).
    role : str
        Energy role relative to the rest of the track, one of :data:`SECTION_ROLES`: ``"intro"`` / ``"outro"``
        (the first / last section, below the track's main level), ``"drop"`` (at the track's main level and
        activity, when the track has quieter parts), ``"breakdown"`` (clearly quieter or sparser, inside the
        track), ``"build"`` (rising into a drop), ``"main"`` (anything else, and every section of a track
        without contrast) or ``"silence"`` (mean level below :data:`SILENCE_DB`).
    confidence : float
        In ``[0, 1]``: the mean strength of the section's two boundaries (the track's ends count as 1).
    loudness_db : float
        Energy mean of the per-frame levels over the section, in the unit of the levels given (dBFS for RMS).
    """

    start_s: float
    duration_s: float
    label: str
    role: str
    confidence: float
    loudness_db: float

    @property
    def end_s(self) -> float:
        """End time in seconds."""
        return self.start_s + self.duration_s


def segment(
    *,
    chroma: FloatArray,
    mfcc: FloatArray,
    rms_db: FloatArray,
    beat_times_s: FloatArray,
    hop_s: float,
    duration_s: float,
    downbeat_times_s: FloatArray | None = None,
    onset_envelope: FloatArray | None = None,
    min_section_s: float = 8.0,
) -> tuple[Section, ...]:
    """Split a track into sections, label repeated material and give each section an energy role.

    Parameters
    ----------
    chroma : np.ndarray, shape (12, n_frames)
        Pitch-class profile per frame (rows C..B), e.g. from :func:`analysis.spectrum.chroma`.
    mfcc : np.ndarray, shape (n_mfcc, n_frames)
        MFCCs per frame from :func:`analysis.timbre.mfcc` (at least 2 coefficients; coefficient 0 is ignored).
    rms_db : np.ndarray, shape (n_frames,)
        Level per frame in dB (RMS dBFS or short-term loudness); sets the sections' ``loudness_db``.
    beat_times_s : np.ndarray, shape (n_beats,)
        Beat times in seconds (may be empty: ambient tracks use a fixed 0.5 s grid).
    hop_s : float
        Seconds between frames.
    duration_s : float
        Duration of the track in seconds; the last section ends here.
    downbeat_times_s : np.ndarray, shape (n_bars,), optional
        Bar starts in seconds; when given, boundaries are moved to the nearest bar start within half a bar.
    onset_envelope : np.ndarray, shape (n_frames,), optional
        Onset strength per frame (e.g. a spectral-flux onset envelope), the measure of activity
        (density) for the roles; without it the frame-to-frame MFCC change is used.
    min_section_s : float
        Shortest section in seconds (> 0; snapping to a bar start may shorten one by up to half a bar).
        Tracks shorter than twice this are one section.

    Returns
    -------
    tuple of Section
        Sections in time order, tiling ``[0, duration_s]``. Degenerate input is defined:

        - silence (or any steady signal) gives one section, label ``"A"``, confidence 1.0 (role ``"silence"``
          below :data:`SILENCE_DB`, else ``"main"``);
        - a clip of 30 s gives one to three sections with the default ``min_section_s``;
        - no beats (ambient, speech) works on a fixed 0.5 s grid;
        - ``duration_s == 0`` or no frames gives an empty tuple.

    Raises
    ------
    AnalysisParameterError
        If the arrays disagree in shape, hold NaN, or ``hop_s``, ``duration_s`` or ``min_section_s`` are out
        of range.
    """
    pitch, timbre, level, activity, beats, downbeats = _validated(
        chroma=chroma,
        mfcc=mfcc,
        rms_db=rms_db,
        beat_times_s=beat_times_s,
        hop_s=hop_s,
        duration_s=duration_s,
        downbeat_times_s=downbeat_times_s,
        onset_envelope=onset_envelope,
        min_section_s=min_section_s,
    )
    n_frames = level.size
    if n_frames == 0 or duration_s <= 0.0:
        return ()
    grid = _grid(beats, duration_s=duration_s)
    starts = np.searchsorted(np.arange(n_frames) * hop_s, grid[:-1], side="left")
    keep = np.concatenate([starts[:-1] < starts[1:], [starts[-1] < n_frames]])
    grid = np.concatenate([grid[:-1][keep], grid[-1:]])
    starts = starts[keep]
    if starts.size == 0:
        return ()
    counts = np.diff(np.append(starts, n_frames)).astype(np.float64)

    unit_level = _unit_level(level, starts, counts)
    features = _unit_features(pitch, timbre, unit_level, activity, starts, counts)
    n_units = starts.size
    boundaries: list[int] = []
    strengths: list[float] = []
    if duration_s >= 2.0 * min_section_s and n_units >= 4:
        novelty = _novelty(features, half_width=max(2, round(min_section_s / _median_step(grid))))
        boundaries, strengths = _pick_boundaries(novelty, grid=grid, min_section_s=min_section_s)
    times = [0.0, *(float(grid[b]) for b in boundaries), float(duration_s)]
    if downbeats is not None and downbeats.size >= 2 and boundaries:
        times, strengths = _snap_to_bars(times, strengths, downbeats, min_section_s=min_section_s)
    edges = np.searchsorted(grid[:-1], np.asarray(times[1:-1]), side="left")
    unit_edges = np.concatenate([[0], edges, [n_units]]).astype(np.int64)
    labels, unit_edges, times, strengths = _label_and_merge(features, unit_edges, times, strengths)
    frame_edges = np.append(starts, n_frames)[unit_edges]
    loudness = [_energy_mean_db(level[a:b]) for a, b in itertools.pairwise(frame_edges)]
    section_activity = [float(activity[a:b].mean()) for a, b in itertools.pairwise(frame_edges)]
    rises = [_rise_db(unit_level[a:b]) for a, b in itertools.pairwise(unit_edges)]
    roles = _roles(
        loudness_db=loudness,
        activity=section_activity,
        rise_db=rises,
        durations_s=np.diff(times),
    )
    edge_strength = [1.0, *strengths, 1.0]
    return tuple(
        Section(
            start_s=float(times[k]),
            duration_s=float(times[k + 1] - times[k]),
            label=labels[k],
            role=roles[k],
            confidence=round((edge_strength[k] + edge_strength[k + 1]) / 2.0, 3),
            loudness_db=round(loudness[k], 2),
        )
        for k in range(len(times) - 1)
    )


def _validated(
    *,
    chroma: FloatArray,
    mfcc: FloatArray,
    rms_db: FloatArray,
    beat_times_s: FloatArray,
    hop_s: float,
    duration_s: float,
    downbeat_times_s: FloatArray | None,
    onset_envelope: FloatArray | None,
    min_section_s: float,
) -> tuple[_Array, _Array, _Array, _Array, _Array, _Array | None]:
    if not (np.isfinite(hop_s) and hop_s > 0.0):
        raise AnalysisParameterError(f"hop_s must be positive, got {hop_s}")
    if not (np.isfinite(duration_s) and duration_s >= 0.0):
        raise AnalysisParameterError(f"duration_s must be >= 0, got {duration_s}")
    if not (np.isfinite(min_section_s) and min_section_s > 0.0):
        raise AnalysisParameterError(f"min_section_s must be positive, got {min_section_s}")
    level = np.asarray(rms_db, dtype=np.float64)
    if level.ndim != 1:
        raise AnalysisParameterError(f"rms_db must be 1-D, got shape {level.shape}")
    n_frames = level.size
    pitch = np.asarray(chroma, dtype=np.float64)
    timbre = np.asarray(mfcc, dtype=np.float64)
    if pitch.ndim != 2 or pitch.shape[0] != 12 or pitch.shape[1] != n_frames:
        raise AnalysisParameterError(f"chroma must have shape (12, {n_frames}), got {pitch.shape}")
    if timbre.ndim != 2 or timbre.shape[0] < 2 or timbre.shape[1] != n_frames:
        raise AnalysisParameterError(f"mfcc must have shape (n_mfcc >= 2, {n_frames}), got {timbre.shape}")
    if onset_envelope is not None:
        activity = np.asarray(onset_envelope, dtype=np.float64)
        if activity.shape != (n_frames,):
            raise AnalysisParameterError(f"onset_envelope must have shape ({n_frames},), got {activity.shape}")
    else:
        # Activity without an onset envelope: how much the spectral envelope changes from frame to frame.
        flux = np.sqrt((np.diff(timbre[1:], axis=1) ** 2).sum(axis=0)) if n_frames > 1 else np.zeros(0)
        activity = np.concatenate([[0.0], flux]) if n_frames else np.zeros(0)
    beats = np.sort(np.asarray(beat_times_s, dtype=np.float64).reshape(-1))
    downbeats = None
    if downbeat_times_s is not None:
        downbeats = np.sort(np.asarray(downbeat_times_s, dtype=np.float64).reshape(-1))
    arrays = [level, pitch, timbre, activity, beats] + ([downbeats] if downbeats is not None else [])
    if not all(np.isfinite(a).all() for a in arrays):
        raise AnalysisParameterError("features and beat times must be finite")
    return pitch, timbre, level, activity, beats, downbeats


def _grid(beats: _Array, *, duration_s: float) -> _Array:
    """Return unit boundaries from 0 to ``duration_s``: the beats, extended at the tempo where there are none."""
    beats = np.unique(beats[(beats > 0.0) & (beats < duration_s)])
    if beats.size < _MIN_BEATS:
        steps = max(1, round(duration_s / _FIXED_GRID_S))
        return np.linspace(0.0, duration_s, steps + 1)
    period = float(np.median(np.diff(beats)))
    points = [beats]
    # Before the first beat, after the last and inside gaps longer than 1.5 beats: fill in at the beat period.
    lead = np.arange(beats[0] - period, 0.25 * period, -period)[::-1]
    tail = np.arange(beats[-1] + period, duration_s - 0.25 * period, period)
    points.extend([lead, tail])
    gaps = np.flatnonzero(np.diff(beats) > 1.5 * period)
    for g in gaps:
        n_fill = round((beats[g + 1] - beats[g]) / period)
        points.append(np.linspace(beats[g], beats[g + 1], n_fill + 1)[1:-1])
    inner = np.unique(np.concatenate(points))
    inner = inner[(inner > 0.0) & (inner < duration_s)]
    return np.concatenate([[0.0], inner, [duration_s]])


def _median_step(grid: _Array) -> float:
    return float(np.median(np.diff(grid))) if grid.size > 1 else _FIXED_GRID_S


def _unit_level(level: _Array, starts: npt.NDArray[np.intp], counts: _Array) -> _Array:
    # The mean in dB, not in energy: the last frames before a beat already see its attack, and an energy mean
    # would let them lift the whole unit and pull boundaries one beat early.
    db: _Array = np.add.reduceat(level, starts) / counts
    return db


def _energy_mean_db(level: _Array) -> float:
    if level.size == 0:
        return float("nan")
    return float(10.0 * np.log10(max(float(np.mean(10.0 ** (level / 10.0))), 1e-30)))


def _unit_features(
    pitch: _Array,
    timbre: _Array,
    unit_level: _Array,
    activity: _Array,
    starts: npt.NDArray[np.intp],
    counts: _Array,
) -> _Array:
    """Return standardised unit features ``(n_units, dims)``: timbre, harmony, level and activity groups."""
    mean_timbre = (np.add.reduceat(timbre[1:], starts, axis=1) / counts).T
    mean_pitch = (np.add.reduceat(pitch, starts, axis=1) / counts).T
    norm = np.linalg.norm(mean_pitch, axis=1, keepdims=True)
    mean_pitch = np.divide(mean_pitch, norm, out=np.zeros_like(mean_pitch), where=norm > 1e-9)
    mean_activity = np.log1p(np.add.reduceat(activity, starts) / counts / max(float(np.median(activity)), 1e-9))
    # Levels more than _LEVEL_RANGE_DB below the loudest unit all count as silence: a fade to digital silence
    # (-120 dB) is not forty times more different than a breakdown.
    floor_db = float(unit_level.max()) - _LEVEL_RANGE_DB
    level = np.maximum(unit_level, floor_db)
    silent = level <= floor_db + 1.0
    groups = [
        (mean_timbre, _MFCC_STD_FLOOR, _WEIGHTS[0]),
        (mean_pitch, _CHROMA_STD_FLOOR, _WEIGHTS[1]),
        (level[:, np.newaxis], _LEVEL_STD_FLOOR_DB, _WEIGHTS[2]),
        (mean_activity[:, np.newaxis], _ACTIVITY_STD_FLOOR, _WEIGHTS[3]),
    ]
    parts = []
    for values, floor, weight in groups:
        reference = values[~silent] if (~silent).sum() >= 2 else values
        centre = np.median(reference, axis=0)
        spread = np.maximum(reference.std(axis=0), floor)
        standard = np.clip((values - centre) / spread, -_MAX_Z, _MAX_Z)
        # Each group counts as much as any other whatever its number of dimensions.
        parts.append(standard * (weight / np.sqrt(values.shape[1])))
    features: _Array = np.concatenate(parts, axis=1)
    return features


def _novelty(features: _Array, *, half_width: int) -> _Array:
    """Foote novelty along the diagonal of the unit self-distance matrix, in squared standardised units.

    The matrix holds squared Euclidean distances between units (a dissimilarity: Foote's kernel with the sign
    flipped). With an untapered checkerboard kernel, novelty is the mean distance across the two halves minus the
    mean within them, which equals the squared distance between the two halves' mean features: the unit-to-unit
    spread within a section cancels out, so the threshold is absolute, and halves as long as a phrase average
    whole chord cycles (a Gaussian taper would shorten them and let the chords through). Block sums of squared
    distances have a closed form in the blocks' feature sums, so the matrix is never built: O(n * dims).
    """
    n_units = features.shape[0]
    sums = np.zeros((n_units + 1, features.shape[1]))
    np.cumsum(features, axis=0, out=sums[1:])
    norms = np.zeros(n_units + 1)
    np.cumsum((features**2).sum(axis=1), out=norms[1:])
    centre = np.arange(n_units)
    # Left half [lo, centre), right half [centre, hi), both cut at the ends of the track.
    lo = np.maximum(centre - half_width, 0)
    hi = np.minimum(centre + half_width, n_units)
    n_left = (centre - lo).astype(np.float64)
    n_right = (hi - centre).astype(np.float64)
    sum_left, sum_right = sums[centre] - sums[lo], sums[hi] - sums[centre]
    norm_left, norm_right = norms[centre] - norms[lo], norms[hi] - norms[centre]
    # sum over i in A, j in B of |x_i - x_j|^2 = n_B * sum_A |x|^2 + n_A * sum_B |x|^2 - 2 * (sum_A x).(sum_B x)
    across = n_right * norm_left + n_left * norm_right - 2.0 * (sum_left * sum_right).sum(axis=1)
    within_left = 2.0 * (n_left * norm_left - (sum_left**2).sum(axis=1))
    within_right = 2.0 * (n_right * norm_right - (sum_right**2).sum(axis=1))
    across_cells = n_left * n_right
    within_cells = n_left**2 + n_right**2
    mean_across = across / np.maximum(across_cells, 1.0)
    mean_within = (within_left + within_right) / np.maximum(within_cells, 1.0)
    # Too close to an end, one half is too short to compare.
    novelty: _Array = np.where(across_cells >= 0.5 * half_width**2, mean_across - mean_within, 0.0)
    return novelty


def _pick_boundaries(novelty: _Array, *, grid: _Array, min_section_s: float) -> tuple[list[int], list[float]]:
    """Greedy peak picking: strongest first, each at least ``min_section_s`` from the others and the ends.

    A peak must exceed the absolute threshold and a multiple of the track's typical novelty (busy tracks vary
    more between any two bars: four times the lower quartile), and stand out from its surroundings by half its height.
    """
    n_units = novelty.size
    times = grid[:n_units]
    duration = float(grid[-1])
    threshold = max(_NOVELTY_THRESHOLD, _RELATIVE_THRESHOLD * float(np.percentile(novelty, 25)))
    # A change within min_section_s of an end (a fade-out's steepest part) lands on the nearest allowed unit.
    allowed = (times >= min_section_s) & (duration - times >= min_section_s)
    masked = np.where(allowed, novelty, 0.0)
    peaks, prominences = _peaks_with_prominence(masked, height=threshold)
    candidates = peaks[prominences >= _MIN_PROMINENCE * masked[peaks]]
    order = candidates[np.argsort(-masked[candidates], kind="stable")]
    chosen: list[int] = []
    for index in order:
        t = float(times[index])
        if all(abs(t - float(times[c])) >= min_section_s for c in chosen):
            chosen.append(int(index))
    chosen.sort()
    strengths = [_strength(float(novelty[c]), threshold) for c in chosen]
    return chosen, strengths


def _peaks_with_prominence(x: _Array, *, height: float) -> tuple[npt.NDArray[np.intp], _Array]:
    """Find local maxima of at least ``height`` and their topographic prominence.

    A plateau counts once, at its middle: the same as ``scipy.signal.find_peaks(x, height=height, prominence=0)``.

    Written out here because importing ``scipy.signal`` costs seconds of start-up; ``x`` has one value per beat.
    """
    peaks: list[int] = []
    i, n = 1, x.size
    while i < n - 1:
        if x[i - 1] < x[i]:
            j = i
            while j + 1 < n - 1 and x[j + 1] == x[i]:
                j += 1
            if x[j + 1] < x[i]:
                peaks.append((i + j) // 2)
            i = j + 1
        else:
            i += 1
    found = np.array([p for p in peaks if x[p] >= height], dtype=np.intp)
    prominences = np.empty(found.size, dtype=np.float64)
    for k, p in enumerate(found):
        left = p
        base_left = x[p]
        while left > 0 and x[left - 1] <= x[p]:
            left -= 1
            base_left = min(base_left, x[left])
        right = p
        base_right = x[p]
        while right < n - 1 and x[right + 1] <= x[p]:
            right += 1
            base_right = min(base_right, x[right])
        prominences[k] = x[p] - max(base_left, base_right)
    return found, prominences


def _strength(novelty: float, threshold: float) -> float:
    """Map a novelty peak to ``[0, 1)``: 0.5 at the threshold, 2/3 at twice its distance, towards 1 beyond."""
    distance = float(np.sqrt(max(novelty, 0.0)))
    return round(distance / (distance + float(np.sqrt(threshold))), 3)


def _snap_to_bars(
    times: list[float], strengths: list[float], downbeats: _Array, *, min_section_s: float
) -> tuple[list[float], list[float]]:
    bar = float(np.median(np.diff(downbeats)))
    inner: list[float] = []
    kept: list[float] = []
    for t, s in zip(times[1:-1], strengths, strict=True):
        nearest = float(downbeats[np.argmin(np.abs(downbeats - t))])
        snapped = nearest if abs(nearest - t) <= 0.5 * bar else t
        previous = inner[-1] if inner else times[0]
        if snapped - previous >= 0.5 * min_section_s and times[-1] - snapped >= 0.5 * min_section_s:
            inner.append(snapped)
            kept.append(s)
    return [times[0], *inner, times[-1]], kept


def _label_and_merge(
    features: _Array, unit_edges: npt.NDArray[np.int64], times: list[float], strengths: list[float]
) -> tuple[list[str], npt.NDArray[np.int64], list[float], list[float]]:
    """Label the sections, merging neighbours that get the same letter (their boundary was not a change)."""
    while True:
        means = np.stack([features[a:b].mean(axis=0) for a, b in itertools.pairwise(unit_edges)])
        labels = _labels(means)
        same = [k for k in range(1, len(labels)) if labels[k] == labels[k - 1]]
        if not same:
            return labels, unit_edges, times, strengths
        # Drop the weakest repeated boundary only, then relabel: clusters change as sections merge.
        weakest = min(same, key=lambda k: strengths[k - 1])
        unit_edges = np.delete(unit_edges, weakest)
        times = times[:weakest] + times[weakest + 1 :]
        strengths = strengths[: weakest - 1] + strengths[weakest:]


def _labels(section_features: _Array) -> list[str]:
    n = section_features.shape[0]
    if n == 1:
        return ["A"]
    # Features are standardised group by group: a distance under the threshold means "the same material".
    linkage = scipy.cluster.hierarchy.linkage(section_features, method="average", metric="euclidean")
    clusters = scipy.cluster.hierarchy.fcluster(linkage, t=_LABEL_THRESHOLD, criterion="distance")
    if clusters.max() > len(string.ascii_uppercase):
        clusters = scipy.cluster.hierarchy.fcluster(linkage, t=len(string.ascii_uppercase), criterion="maxclust")
    letters: dict[int, str] = {}
    for c in clusters:
        letters.setdefault(int(c), string.ascii_uppercase[len(letters)])
    return [letters[int(c)] for c in clusters]


def _rise_db(unit_level: _Array) -> float:
    """Level of the last third minus the first third of a section, in dB."""
    n = unit_level.size
    if n < 3:
        return 0.0
    third = n // 3
    return float(unit_level[-third:].mean() - unit_level[:third].mean())


def _roles(
    *, loudness_db: list[float], activity: list[float], rise_db: list[float], durations_s: FloatArray
) -> list[str]:
    n = len(loudness_db)
    level = np.asarray(loudness_db)
    audible = level >= SILENCE_DB
    roles = ["silence" if not a else "main" for a in audible]
    if audible.sum() < 2:
        return roles
    weights = np.asarray(durations_s, dtype=np.float64)[audible]
    # The track's main level: the duration-weighted 75th percentile of the audible sections.
    main_level = _weighted_quantile(level[audible], weights, 0.75)
    main_activity = _weighted_quantile(np.asarray(activity)[audible], weights, 0.75)
    contrast = float(level[audible].max() - level[audible].min())
    relative_activity = np.asarray(activity) / max(main_activity, 1e-9)
    high = (level - main_level >= _HIGH_LEVEL_DB) & (relative_activity >= _LOW_ACTIVITY) & audible
    low = ((level - main_level <= _LOW_LEVEL_DB) | (relative_activity < _LOW_ACTIVITY)) & audible
    has_contrast = contrast >= _MIN_CONTRAST_DB or bool(low.any())
    for k in range(n):
        if not audible[k]:
            continue
        if k == 0 and not high[k]:
            roles[k] = "intro"
        elif k == n - 1 and not high[k]:
            roles[k] = "outro"
        elif high[k] and has_contrast:
            roles[k] = "drop"
        elif low[k]:
            roles[k] = "breakdown"
        elif k + 1 < n and high[k + 1] and rise_db[k] >= _BUILD_RISE_DB:
            roles[k] = "build"
    return roles


def _weighted_quantile(values: _Array, weights: _Array, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
    return float(values[order][min(index, values.size - 1)])
