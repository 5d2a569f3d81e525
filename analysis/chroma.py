"""Tuning estimation and NNLS treble/bass chroma from a long-window spectrogram.

Conventions: ``y`` is mono float audio at ``sr`` Hz; chroma rows are pitch classes C, C#, ..., B; tuning is the
deviation from A4 = 440 Hz in cents, in ``[-50, 50)``. The caller's frame grid has frame ``i`` centred on
``i * hop_length / sr`` seconds, as in :func:`analysis.spectrum.power_spectrogram`.

The signal is decimated to :data:`TONAL_SR` and analysed with a centred :data:`TONAL_N_FFT`-sample Hann window
(2.7 Hz bins, 371 ms), long enough to separate semitones down to about 60 Hz; its hop is eight caller hops
(186 ms at 22050 Hz and hop 512: harmony changes slowly), and each caller frame maps to the long frame with the
nearest centre.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.ndimage
import scipy.sparse
import soxr

from analysis._typing import Float32Array, Float64Array, IntArray
from analysis._validate import check_positive_int, check_sr
from analysis._windows import hann
from analysis.errors import AnalysisParameterError

__all__ = ["TONAL_N_FFT", "TONAL_SR", "TonalChroma", "estimate_tuning", "nnls_chroma"]

TONAL_SR = 11025
TONAL_N_FFT = 4096
_HOP_RATIO = 8
# Bins above 4.4 kHz (past C8) are never used; frames per FFT call bound the temporary buffers to about 8 MB.
_MAX_BIN = 1 + int(4400 * TONAL_N_FFT / TONAL_SR)
_FRAMES_PER_BLOCK = 256

# Log-frequency spectrum: three bins per semitone, the middle one on the (tuned) note, notes C1..B7.
_BINS_PER_SEMITONE = 3
_MIDI_LO = 24
_N_NOTES = 84
# Running standardisation over 18 semitones and a harmonic dictionary with partial amplitudes 0.7 ** (h - 1):
# the defaults of Mauch's NNLS Chroma.
_WHITENING_SEMITONES = 18
_PARTIAL_DECAY = 0.7
_N_PARTIALS = 20
_NNLS_ITERATIONS = 10
_NNLS_BLOCK_FRAMES = 128
# Frames quieter than this (absolute, or relative to the loudest frame) carry no chroma: the standardisation
# would otherwise turn their noise floor into notes.
_SILENCE_DBFS = -70.0
_RELATIVE_FLOOR_DB = -40.0
# Tuning: spectral peaks within 60 dB of the frame maximum, 80 Hz to 2.5 kHz, from at most this many frames.
_TUNING_FMIN_HZ = 80.0
_TUNING_FMAX_HZ = 2500.0
_TUNING_RANGE_DB = 60.0
_TUNING_FRAMES = 300
# Register windows, raised cosines over MIDI notes: bass centred on E2, treble on F#4.
_BASS_CENTRE, _BASS_HALF_WIDTH = 40.0, 18.0
_TREBLE_CENTRE, _TREBLE_HALF_WIDTH = 66.0, 30.0


@dataclass(frozen=True, slots=True)
class TonalChroma:
    """Treble and bass chroma from NNLS approximate transcription, on the long-window frame grid.

    Attributes
    ----------
    treble : np.ndarray, shape (12, n_long_frames), float32
        Non-negative pitch-class salience of the notes around the middle register (about C2..C7), rows C..B; zero
        in silent frames. Not normalised: a frame's sum grows with the number and salience of its notes.
    bass : np.ndarray, shape (12, n_long_frames), float32
        The same for the bass register (about C1..A#3).
    active : np.ndarray, shape (n_long_frames,), bool
        Frames loud enough to be analysed (above -70 dBFS and within 40 dB of the loudest frame).
    frame_index : np.ndarray, shape (n_frames,), int64
        For each frame of the caller's grid, the long frame with the nearest centre: ``treble[:, frame_index]``
        is the treble chroma on the caller's grid.
    hop_s : float
        Hop of the long frames in seconds (frame ``j`` is centred on ``j * hop_s``).
    tuning_cents : float
        Tuning used to place the note bins, in cents from A4 = 440 Hz, in ``[-50, 50)``, to 0.1 cent.
    """

    treble: Float32Array
    bass: Float32Array
    active: npt.NDArray[np.bool_]
    frame_index: IntArray
    hop_s: float
    tuning_cents: float


def estimate_tuning(*, S_mag: Float32Array, sr: int, n_fft: int) -> float:
    """Estimate the tuning offset from A440 from the spectral peaks of a magnitude spectrogram.

    Every local maximum of each frame (80 Hz to 2.5 kHz, within 60 dB of the frame's peak) is located to a
    fraction of a bin by parabolic interpolation of the log magnitude; its deviation from the nearest
    equal-tempered semitone is an angle on a 100-cent circle, and the magnitude-weighted circular mean of these
    angles is the tuning. Inharmonic peaks (drums, noise) spread uniformly round the circle and cancel out.

    Parameters
    ----------
    S_mag : np.ndarray, shape (n_bins, n_frames)
        Magnitude spectrogram (Hann window), bins from 0 Hz, ``n_bins <= 1 + n_fft // 2`` (the top may be cut
        off). Long windows give precise peaks: 4096 samples at 11025 Hz locate a 440 Hz peak to about a cent.
    sr : int
        Sampling rate in Hz.
    n_fft : int
        FFT length used for ``S_mag``.

    Returns
    -------
    float
        Tuning in cents relative to A4 = 440 Hz, in ``[-50, 50)``; ``0.0`` when there are no peaks (silence,
        clips shorter than a window, white noise cancelling to nothing).

    Raises
    ------
    AnalysisParameterError
        If ``S_mag`` is not 2-D with 1 to ``1 + n_fft // 2`` rows.
    """
    sr = check_sr(sr)
    n_fft = check_positive_int(n_fft, name="n_fft")
    if S_mag.ndim != 2 or not 0 < S_mag.shape[0] <= 1 + n_fft // 2:
        raise AnalysisParameterError(f"S_mag must have shape (n_bins <= {1 + n_fft // 2}, n_frames), got {S_mag.shape}")
    k_lo = max(1, int(_TUNING_FMIN_HZ * n_fft / sr))
    k_hi = min(S_mag.shape[0] - 1, int(_TUNING_FMAX_HZ * n_fft / sr))
    if S_mag.shape[1] == 0 or k_hi - k_lo < 3:
        return 0.0
    step = max(1, S_mag.shape[1] // _TUNING_FRAMES)
    log_mag = np.log(np.asarray(S_mag[k_lo - 1 : k_hi + 1, ::step], dtype=np.float64) + 1e-12)
    left, mid, right = log_mag[:-2], log_mag[1:-1], log_mag[2:]
    floor = log_mag.max(axis=0, keepdims=True) - _TUNING_RANGE_DB / 20.0 * np.log(10.0)
    peak = (mid > left) & (mid >= right) & (mid > floor) & (mid > np.log(1e-9))
    rows, cols = np.nonzero(peak)
    if rows.size == 0:
        return 0.0
    a, b, c = left[rows, cols], mid[rows, cols], right[rows, cols]
    curvature = a - 2.0 * b + c
    delta = np.where(curvature < 0.0, 0.5 * (a - c) / np.where(curvature < 0.0, curvature, -1.0), 0.0)
    freqs_hz = (k_lo + rows + delta) * sr / n_fft
    cents = 1200.0 * np.log2(freqs_hz / 440.0)
    resultant = np.sum(np.exp(b) * np.exp(2j * np.pi * cents / 100.0))
    if abs(resultant) <= 1e-12:
        return 0.0
    tuning = float(np.angle(resultant)) / (2.0 * np.pi) * 100.0
    return -50.0 if tuning >= 50.0 else tuning


def nnls_chroma(*, y: Float32Array, sr: int = 22050, hop_length: int = 512, n_frames: int | None = None) -> TonalChroma:
    """Compute tuning-compensated treble and bass chroma by approximate note transcription.

    The steps follow Mauch and Dixon's NNLS Chroma: a long-window magnitude spectrogram of the signal decimated
    to :data:`TONAL_SR` is mapped to a log-frequency spectrum with three bins per semitone centred on the
    estimated tuning (:func:`estimate_tuning`); a median filter along time removes drum hits; a running
    standardisation over 18 semitones whitens it (broadband energy and timbre are removed, peaks kept); then
    each frame is explained as a non-negative sum of harmonic note templates (partials decaying as 0.7 ** (h - 1)),
    which moves the energy of overtones back to their fundamentals. Note saliences are folded into bass and
    treble pitch classes with raised-cosine pitch windows.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono audio, DC-free.
    sr : int
        Sampling rate of ``y`` in Hz.
    hop_length : int
        Hop of the caller's frame grid in samples at ``sr``; the long-window hop is eight times this.
    n_frames : int or None
        Frames of the caller's grid; ``1 + n_samples // hop_length`` if None.

    Returns
    -------
    TonalChroma
        Chroma on the long-window grid, with the map to the caller's grid. Silence gives all-zero chroma, no
        active frames and ``tuning_cents=0.0``; a clip shorter than a window is zero-padded (one frame).

    Raises
    ------
    AnalysisParameterError
        If ``y`` is not 1-D, holds NaN or infinite values, or the sizes are not positive.

    References
    ----------
    M. Mauch and S. Dixon, "Approximate note transcription for the improved identification of difficult chords",
    Proc. ISMIR, 2010.
    D. FitzGerald, "Harmonic/percussive separation using median filtering", Proc. DAFx, 2010.
    """
    sr = check_sr(sr)
    hop_length = check_positive_int(hop_length, name="hop_length")
    if y.ndim != 1:
        raise AnalysisParameterError(f"y must be mono (1-D), got shape {y.shape}")
    n_frames = 1 + y.size // hop_length if n_frames is None else check_positive_int(n_frames, name="n_frames")
    x = np.asarray(y, dtype=np.float32)
    if not np.isfinite(x).all():
        raise AnalysisParameterError("y contains NaN or infinite values")
    low = x if sr == TONAL_SR or x.size == 0 else soxr.resample(x, sr, TONAL_SR, quality="HQ").astype(np.float32)
    long_hop = max(1, round(_HOP_RATIO * hop_length * TONAL_SR / sr))
    magnitude, frame_dbfs = _magnitude_spectrogram(low, hop_length=long_hop)

    active = (frame_dbfs > _SILENCE_DBFS) & (frame_dbfs > frame_dbfs.max(initial=-np.inf) + _RELATIVE_FLOOR_DB)
    frame_index = np.rint(np.arange(n_frames) * hop_length / sr * TONAL_SR / long_hop).astype(np.int64)
    frame_index = np.minimum(frame_index, magnitude.shape[1] - 1)
    hop_s = long_hop / TONAL_SR
    if not active.any():
        zeros = np.zeros((12, magnitude.shape[1]), dtype=np.float32)
        return TonalChroma(
            treble=zeros, bass=zeros.copy(), active=active, frame_index=frame_index, hop_s=hop_s, tuning_cents=0.0
        )

    tuning = round(estimate_tuning(S_mag=magnitude[:, active], sr=TONAL_SR, n_fft=TONAL_N_FFT), 1)
    log_spec = _median3(np.asarray(_log_frequency_matrix(tuning) @ magnitude, dtype=np.float32))
    notes = _transcribe(_standardise(log_spec))
    notes[:, ~active] = 0.0
    treble_fold, bass_fold = _folding_matrices()
    return TonalChroma(
        treble=treble_fold @ notes,
        bass=bass_fold @ notes,
        active=active,
        frame_index=frame_index,
        hop_s=hop_s,
        tuning_cents=tuning,
    )


def _magnitude_spectrogram(y: Float32Array, *, hop_length: int) -> tuple[Float32Array, Float64Array]:
    """Centred Hann STFT magnitude at :data:`TONAL_N_FFT` up to :data:`_MAX_BIN`, and each frame's level in dBFS."""
    n_frames = 1 + y.size // hop_length
    half = TONAL_N_FFT // 2
    window = hann(TONAL_N_FFT).astype(np.float32)
    magnitude = np.empty((_MAX_BIN, n_frames), dtype=np.float32)
    mean_square = np.empty(n_frames, dtype=np.float64)
    for start in range(0, n_frames, _FRAMES_PER_BLOCK):
        count = min(_FRAMES_PER_BLOCK, n_frames - start)
        # Each block's centred frames are cut from a zero-padded copy of just its own samples: no padded copy of
        # the whole signal.
        first = start * hop_length - half
        segment = np.zeros((count - 1) * hop_length + TONAL_N_FFT, dtype=np.float32)
        lo, hi = max(first, 0), min(first + segment.size, y.size)
        if hi > lo:
            segment[lo - first : hi - first] = y[lo:hi]
        block = np.lib.stride_tricks.sliding_window_view(segment, TONAL_N_FFT)[::hop_length][:count] * window
        # Parseval: the windowed mean square, divided by Hann's mean square (3/8), is the frame's mean square.
        mean_square[start : start + count] = np.mean(block * block, axis=1, dtype=np.float64) / 0.375
        spectrum = scipy.fft.rfft(block, axis=1)[:, :_MAX_BIN]
        magnitude[:, start : start + count] = np.abs(spectrum).T
    frame_dbfs = 10.0 * np.log10(np.maximum(mean_square, 1e-20)) + 3.0103
    return magnitude, frame_dbfs


@functools.lru_cache(maxsize=16)
def _log_frequency_matrix(tuning_cents: float) -> scipy.sparse.csr_array:
    """Sparse map from FFT bins to log-frequency bins: triangles at least one FFT bin wide, rows summing to one.

    Cached: callers round the tuning to a tenth of a cent.
    """
    n_bins = _N_NOTES * _BINS_PER_SEMITONE
    midi = _MIDI_LO + (np.arange(n_bins) - _BINS_PER_SEMITONE // 2) / _BINS_PER_SEMITONE
    centres_hz = 440.0 * 2.0 ** ((midi - 69.0 + tuning_cents / 100.0) / 12.0)
    bin_hz = TONAL_SR / TONAL_N_FFT
    widths_hz = np.maximum(centres_hz * (2.0 ** (1.0 / (12 * _BINS_PER_SEMITONE)) - 1.0), bin_hz)
    fft_hz = np.arange(_MAX_BIN) * bin_hz
    weights = np.maximum(0.0, 1.0 - np.abs(fft_hz[np.newaxis, :] - centres_hz[:, np.newaxis]) / widths_hz[:, None])
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return scipy.sparse.csr_array(weights.astype(np.float32))


def _median3(log_spec: Float32Array) -> Float32Array:
    """Median of each bin over three consecutive frames (edges repeat), keeping notes and dropping drum hits."""
    if log_spec.shape[1] < 3:
        return log_spec
    prev = np.concatenate([log_spec[:, :1], log_spec[:, :-1]], axis=1)
    following = np.concatenate([log_spec[:, 1:], log_spec[:, -1:]], axis=1)
    low, high = np.minimum(prev, following), np.maximum(prev, following)
    out: Float32Array = np.minimum(np.maximum(log_spec, low), high)
    return out


def _standardise(log_spec: Float32Array) -> Float32Array:
    """Subtract the running mean over 18 semitones, divide by the running standard deviation, keep the peaks."""
    size = _WHITENING_SEMITONES * _BINS_PER_SEMITONE + 1
    mean = scipy.ndimage.uniform_filter1d(log_spec, size=size, axis=0, mode="nearest")
    mean_square = scipy.ndimage.uniform_filter1d(log_spec**2, size=size, axis=0, mode="nearest")
    std = np.sqrt(np.maximum(mean_square - mean**2, 0.0))
    out: Float32Array = np.where(log_spec > mean, (log_spec - mean) / np.maximum(std, 1e-12), 0.0).astype(np.float32)
    return out


def _transcribe(log_spec: Float32Array) -> Float32Array:
    """Non-negative note saliences whose harmonic templates best explain each frame (multiplicative updates).

    Frames are solved in blocks: each block's products stay in cache, and small matrix products run on one
    thread, which avoids the cost of waking BLAS threads on a busy machine.
    """
    dictionary = _note_dictionary()
    gram = dictionary.T @ dictionary
    diagonal = np.diag(gram)[:, np.newaxis]
    notes = np.empty((_N_NOTES, log_spec.shape[1]), dtype=np.float32)
    for start in range(0, log_spec.shape[1], _NNLS_BLOCK_FRAMES):
        target = dictionary.T @ log_spec[:, start : start + _NNLS_BLOCK_FRAMES]
        block = target / diagonal
        for _ in range(_NNLS_ITERATIONS):
            block *= target / np.maximum(gram @ block, np.float32(1e-12))
        notes[:, start : start + block.shape[1]] = block
    return notes


@functools.cache
def _note_dictionary() -> Float32Array:
    """Harmonic note templates on the log-frequency bins: partial ``h`` of note ``j`` has amplitude 0.7**(h-1)."""
    n_bins = _N_NOTES * _BINS_PER_SEMITONE
    dictionary = np.zeros((n_bins, _N_NOTES), dtype=np.float32)
    harmonics = np.arange(1, _N_PARTIALS + 1)
    offsets = np.rint(12 * _BINS_PER_SEMITONE * np.log2(harmonics)).astype(np.int64)
    amplitudes = (_PARTIAL_DECAY ** (harmonics - 1)).astype(np.float32)
    for note in range(_N_NOTES):
        rows = note * _BINS_PER_SEMITONE + _BINS_PER_SEMITONE // 2 + offsets
        keep = rows < n_bins
        np.add.at(dictionary[:, note], rows[keep], amplitudes[keep])
    return dictionary


def _folding_matrices() -> tuple[Float32Array, Float32Array]:
    """Return the maps from note saliences to treble and bass pitch classes (notes weighted by register)."""
    midi = _MIDI_LO + np.arange(_N_NOTES)
    fold = np.zeros((12, _N_NOTES), dtype=np.float32)
    fold[midi % 12, np.arange(_N_NOTES)] = 1.0

    def window(centre: float, half_width: float) -> Float64Array:
        distance = np.abs(midi - centre) / half_width
        return np.where(distance < 1.0, 0.5 + 0.5 * np.cos(np.pi * distance), 0.0)

    treble = fold * window(_TREBLE_CENTRE, _TREBLE_HALF_WIDTH).astype(np.float32)
    bass = fold * window(_BASS_CENTRE, _BASS_HALF_WIDTH).astype(np.float32)
    return treble, bass
