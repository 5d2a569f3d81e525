"""Level and loudness measurements: RMS, ITU-R BS.1770-4 / EBU R 128 loudness, loudness range and true peak.

Conventions: samples are float in ``[-1, 1]``, channels-first ``(channels, n_samples)`` or mono ``(n_samples,)``, at
their original rate ``sr`` in Hz. Levels are in dBFS relative to a full-scale amplitude of 1.0 with no AES17 offset,
so a full-scale sine reads -3.01 dBFS RMS and 0 dBFS peak. Loudness is in LUFS (LKFS) and loudness differences in
LU (1 LU = 1 dB). A stereo 1 kHz sine of peak level ``A`` dBFS in both channels reads ``A`` LUFS.

Loudness series are sampled every :math:`100` ms (``round(sr / 10)`` samples, as libebur128 does, so ``hop_s`` is
exactly 0.1 s at every common rate); value ``i`` is centred on ``i * hop_s`` seconds and the signal is zero-padded
at both ends, like the centred STFT frames of :mod:`analysis.spectrum`. The gated statistics (integrated loudness,
loudness range, maxima) use complete windows only.

Undefined results are ``None``, never NaN or -inf: digital silence has no peak level, and loudness statistics
whose gated blocks all fall below the -70 LUFS absolute gate (silence, very quiet or too-short input) are not
measurable. Loudness series are floored at :data:`LOUDNESS_FLOOR_LUFS` and RMS series at :data:`RMS_FLOOR_DB`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import soxr

from analysis._typing import Float32Array, Float64Array
from analysis._validate import as_channels_first, check_positive_int, check_sr
from analysis._windows import hann
from analysis.errors import AnalysisParameterError

__all__ = [
    "LOUDNESS_FLOOR_LUFS",
    "RMS_FLOOR_DB",
    "TRUE_PEAK_OVERSAMPLING",
    "Loudness",
    "k_weighting_sos",
    "measure_loudness",
    "rms_db",
]

RMS_FLOOR_DB = -120.0
LOUDNESS_FLOOR_LUFS = -120.0
TRUE_PEAK_OVERSAMPLING = 4

# BS.1770-4 constants.
_LOUDNESS_OFFSET = -0.691
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0
_MOMENTARY_STEPS = 4  # 400 ms in 100 ms steps
_SHORT_TERM_STEPS = 30  # 3 s in 100 ms steps
# EBU Tech 3342 loudness range.
_LRA_RELATIVE_GATE_LU = -20.0
_LRA_LOW_PERCENTILE = 0.10
_LRA_HIGH_PERCENTILE = 0.95

# Analog prototypes of the K-weighting stages (the values libebur128 derives from the 48 kHz tables of BS.1770-4);
# the bilinear transform with pre-warping at f0 reproduces the published 48 kHz coefficients to 1e-8.
_SHELF_F0_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXPONENT = 0.4996667741545416
_HIGHPASS_F0_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773
# Below this rate the 1.68 kHz shelf nears Nyquist; such input is upsampled to it for the loudness only.
_MIN_LOUDNESS_SR = 8000

# BS.1770-4 Annex 2: the 48-tap, 4-phase interpolation filter of the true-peak meter (phase p, tap k).
_TRUE_PEAK_FIR = np.array(
    [
        [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000, -0.0594482421875, 0.1373291015625,
         0.9721679687500, -0.1022949218750, 0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
        [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250, -0.1665039062500, 0.4650878906250,
         0.7797851562500, -0.2003173828125, 0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
        [-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000, -0.2003173828125, 0.7797851562500,
         0.4650878906250, -0.1665039062500, 0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875],
        [-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750, -0.1022949218750, 0.9721679687500,
         0.1373291015625, -0.0594482421875, 0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750],
    ],
    dtype=np.float64,
)  # fmt: skip
# Largest sum of |coefficients| of one phase: no interpolated value exceeds it times the largest |sample| under
# the filter. Inflated slightly so float32 rounding in the kernel cannot break the bound.
_TRUE_PEAK_GAIN_BOUND = float(np.abs(_TRUE_PEAK_FIR).sum(axis=1).max()) * (1.0 + 1e-5)
# Output samples per true-peak block: the unit the branch-and-bound search prunes.
_TRUE_PEAK_BLOCK = 256
# Blocks the true-peak search visits in order of their bound before sweeping the rest in memory order.
_FIRST_BLOCKS = 8

# The K-weighting recursion runs as four independent lanes per channel (instruction-level parallelism), each lane
# but the first preceded by this warm-up. The slowest pole pair (the 38 Hz high-pass, critically damped, time
# constant 4.2 ms) decays by a factor below 1e-20 within the warm-up, far below float64 resolution.
_K_WARM_UP_S = 0.25

# BS.1770-4 channel weights: surround channels +1.5 dB, the LFE channel excluded.
_WEIGHTS_5_0 = (1.0, 1.0, 1.0, 1.41, 1.41)  # L R C Ls Rs
_WEIGHTS_5_1 = (1.0, 1.0, 1.0, 0.0, 1.41, 1.41)  # L R C LFE Ls Rs (WAV / SMPTE order)


@dataclass(frozen=True, slots=True)
class Loudness:
    """Loudness, loudness range and peak levels of a track (ITU-R BS.1770-4, EBU R 128 / Tech 3341 / Tech 3342).

    Attributes
    ----------
    integrated_lufs : float or None
        Gated programme loudness (absolute gate -70 LUFS, relative gate -10 LU); ``None`` when no 400 ms block
        exceeds the absolute gate (silence, input shorter than 400 ms).
    loudness_range_lu : float or None
        EBU Tech 3342 loudness range: the spread between the 10th and 95th percentiles of the short-term loudness
        (3 s windows every 100 ms, gated at -70 LUFS and at -20 LU below their power mean); ``None`` when no
        complete 3 s window exceeds the absolute gate (including input shorter than 3 s).
    momentary_max_lufs : float or None
        Largest momentary (400 ms) loudness over complete windows; ``None`` when below the absolute gate.
    short_term_max_lufs : float or None
        Largest short-term (3 s) loudness over complete windows; ``None`` when below the absolute gate.
    momentary_lufs : np.ndarray, shape (n_frames,), float32
        Momentary loudness, a 400 ms window centred on ``i * hop_s`` (zero-padded at the ends, so the first and
        last two values read low), floored at :data:`LOUDNESS_FLOOR_LUFS`.
    short_term_lufs : np.ndarray, shape (n_frames,), float32
        Short-term loudness, a 3 s window centred on ``i * hop_s``, zero-padded and floored likewise.
    hop_s : float
        Time between series values: ``round(sr / 10) / sr`` (0.1 s at every rate divisible by 10).
    sample_peak_dbfs : float or None
        Largest absolute sample value over all channels, in dBFS; ``None`` for digital silence.
    true_peak_dbtp : float or None
        Largest absolute value of the 4x oversampled signal over all channels (BS.1770-4 Annex 2), never below
        ``sample_peak_dbfs``; ``None`` for digital silence.
    plr_db : float or None
        Peak-to-loudness ratio ``true_peak_dbtp - integrated_lufs``; ``None`` if either is ``None``.
    rms_dbfs : float or None
        RMS level of all samples of all channels (unweighted, DC included); ``None`` for digital silence.
    crest_factor_db : float or None
        Peak-to-RMS ratio ``sample_peak_dbfs - rms_dbfs`` (3.01 dB for a sine); ``None`` for digital silence.
    """

    integrated_lufs: float | None
    loudness_range_lu: float | None
    momentary_max_lufs: float | None
    short_term_max_lufs: float | None
    momentary_lufs: Float32Array
    short_term_lufs: Float32Array
    hop_s: float
    sample_peak_dbfs: float | None
    true_peak_dbtp: float | None
    plr_db: float | None
    rms_dbfs: float | None
    crest_factor_db: float | None


def rms_db(*, S_power: Float32Array, n_fft: int) -> Float32Array:
    """Compute the RMS level of each frame from a Hann-windowed power spectrogram.

    By Parseval's theorem the bins of a frame sum to the energy of the windowed samples; dividing by the window's
    mean square removes the window's attenuation, so a stationary signal reads its true RMS level.

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram from :func:`analysis.spectrum.power_spectrogram` (periodic Hann window).
    n_fft : int
        FFT length used for ``S_power``.

    Returns
    -------
    np.ndarray, shape (n_frames,), float32
        Level in dBFS (see the module conventions), floored at :data:`RMS_FLOOR_DB`. Frames overlapping the
        zero padding at the ends read lower.
    """
    n_fft = check_positive_int(n_fft, name="n_fft")
    power = np.asarray(S_power)
    full_spectrum = 2.0 * power.sum(axis=0, dtype=np.float64) - power[0]
    if n_fft % 2 == 0:
        full_spectrum -= power[-1]
    window = hann(n_fft)
    mean_square = full_spectrum / (n_fft**2) / float(np.mean(window**2))
    floor = 10.0 ** (RMS_FLOOR_DB / 10.0)
    level: Float32Array = (10.0 * np.log10(np.maximum(mean_square, floor))).astype(np.float32)
    return level


def k_weighting_sos(*, sr: int) -> Float64Array:
    """Design the BS.1770-4 K-weighting filter (high shelf, then the RLB high-pass) for a sampling rate.

    The coefficients come from the analog prototypes behind the 48 kHz tables of BS.1770-4 by the bilinear
    transform pre-warped at each stage's corner frequency (as libebur128 does), so they match the published table
    at 48 kHz and are valid at any rate of at least 8 kHz.

    Parameters
    ----------
    sr : int
        Sampling rate in Hz (at least 8000).

    Returns
    -------
    np.ndarray, shape (2, 6), float64
        Second-order sections ``[b0, b1, b2, 1, a1, a2]`` for :func:`scipy.signal.sosfilt`: the shelf, then the
        high-pass (whose numerator is ``[1, -2, 1]`` unnormalised, as in the standard's table).

    Raises
    ------
    AnalysisParameterError
        If ``sr`` is not an integer rate in the supported range, or below 8000 Hz.
    """
    sr = check_sr(sr)
    if sr < _MIN_LOUDNESS_SR:
        raise AnalysisParameterError(f"K-weighting needs sr >= {_MIN_LOUDNESS_SR} Hz, got {sr}")
    k = math.tan(math.pi * _SHELF_F0_HZ / sr)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HIGHPASS_F0_HZ / sr)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def measure_loudness(y: npt.ArrayLike, *, sr: int) -> Loudness:
    """Measure loudness (BS.1770-4 / EBU R 128), loudness range (EBU Tech 3342) and sample and true peak.

    The channels are K-weighted, squared and summed per 100 ms step with the BS.1770-4 channel weights; 400 ms
    blocks overlapping by 75 % are gated at -70 LUFS and then at -10 LU below the mean of the surviving blocks to
    give the integrated loudness. The true peak oversamples 4x with the polyphase FIR of BS.1770-4 Annex 2 by a
    branch-and-bound search: each block of 256 outputs is skipped when the largest sample near it, times the
    largest absolute gain of a filter phase (2.02), cannot exceed the peak found so far (the 8 blocks with the
    largest bounds are visited first, so the peak found is close to the true peak early). No skipped block can
    hold a larger value, so the result is exactly that of oversampling the whole signal; dense, loud material
    just prunes less (at worst the whole signal is filtered).

    Parameters
    ----------
    y : np.ndarray, shape (channels, n_samples) or (n_samples,)
        Float audio in ``[-1, 1]`` at its original rate. Channel weights follow BS.1770-4: 1 or 2 channels weigh
        1.0 each (so a mono file reads 3 LU below the same signal as dual-mono stereo); 5 channels are taken as
        L, R, C, Ls, Rs (surrounds 1.41); 6 channels as L, R, C, LFE, Ls, Rs (WAV/SMPTE order, LFE excluded from
        the loudness); any other count weighs every channel 1.0. Peaks consider every channel, LFE included.
    sr : int
        Sampling rate in Hz. Rates below 8 kHz are upsampled to 8 kHz (soxr) for the loudness only, since the
        K-weighting shelf (1.68 kHz) would otherwise sit at Nyquist; peaks always use the original samples.

    Returns
    -------
    Loudness
        See :class:`Loudness` for units, the loudness series and the ``None`` conventions (digital silence: every
        scalar is ``None`` and the series read :data:`LOUDNESS_FLOOR_LUFS`).

    Raises
    ------
    AnalysisParameterError
        If ``y`` is empty, not 1-D/2-D, samples-first, integer or non-finite, or ``sr`` is out of range.

    References
    ----------
    .. [1] ITU-R BS.1770-4, "Algorithms to measure audio programme loudness and true-peak audio level", 2015.
    .. [2] EBU Tech 3341, "Loudness Metering: 'EBU Mode' metering to supplement EBU R 128", 2016.
    .. [3] EBU Tech 3342, "Loudness Range: a measure to supplement EBU R 128 loudness normalization", 2016.
    """
    samples = as_channels_first(y)
    sr = check_sr(sr)
    kernels = _kernels()
    peak, true_peak, sum_squares = kernels.peaks(
        samples, _TRUE_PEAK_FIR.astype(np.float32), _TRUE_PEAK_BLOCK, _TRUE_PEAK_GAIN_BOUND
    )

    weights = _channel_weights(samples.shape[0])
    loudness_input, loudness_sr = samples, sr
    if sr < _MIN_LOUDNESS_SR:
        loudness_input = np.ascontiguousarray(
            soxr.resample(samples.T, sr, _MIN_LOUDNESS_SR, quality="HQ").T, dtype=np.float32
        )
        loudness_sr = _MIN_LOUDNESS_SR
    step = round(loudness_sr / 10)
    warm_up = math.ceil(_K_WARM_UP_S * loudness_sr)
    energies = kernels.k_weighted_energy(loudness_input, k_weighting_sos(sr=loudness_sr), step, warm_up)
    # (channels, n_steps + 1): the K-weighted energy of each full 100 ms step, then of the partial tail.
    step_energy: Float64Array = weights @ energies
    n_full = step_energy.size - 1

    momentary, momentary_blocks = _windowed(step_energy, n_full=n_full, steps=_MOMENTARY_STEPS, step=step)
    short_term, short_term_blocks = _windowed(step_energy, n_full=n_full, steps=_SHORT_TERM_STEPS, step=step)
    integrated = _integrated(momentary_blocks)
    sample_peak_dbfs = _db20(peak)
    true_peak_dbtp = _db20(max(true_peak, peak))
    rms = math.sqrt(sum_squares / samples.size)
    rms_dbfs = _db20(rms)
    return Loudness(
        integrated_lufs=integrated,
        loudness_range_lu=_loudness_range(short_term_blocks),
        momentary_max_lufs=_gated_max(momentary_blocks),
        short_term_max_lufs=_gated_max(short_term_blocks),
        momentary_lufs=momentary,
        short_term_lufs=short_term,
        hop_s=step / loudness_sr,
        sample_peak_dbfs=sample_peak_dbfs,
        true_peak_dbtp=true_peak_dbtp,
        plr_db=None if true_peak_dbtp is None or integrated is None else true_peak_dbtp - integrated,
        rms_dbfs=rms_dbfs,
        crest_factor_db=None if sample_peak_dbfs is None or rms_dbfs is None else sample_peak_dbfs - rms_dbfs,
    )


def _channel_weights(n_channels: int) -> Float64Array:
    if n_channels == 5:
        return np.array(_WEIGHTS_5_0)
    if n_channels == 6:
        return np.array(_WEIGHTS_5_1)
    return np.ones(n_channels)


def _windowed(step_energy: Float64Array, *, n_full: int, steps: int, step: int) -> tuple[Float32Array, Float64Array]:
    """Centred loudness series (floored, zero-padded) and the mean-square energies of the complete windows."""
    n_frames = n_full + 1
    half = steps // 2
    padded = np.zeros(n_frames + steps + 1)
    padded[half : half + step_energy.size] = step_energy
    cumulative = np.concatenate(([0.0], np.cumsum(padded)))
    # Value i sums steps i - half .. i - half + steps - 1: a window of steps * hop centred on i * hop.
    centred = (cumulative[steps : steps + n_frames] - cumulative[:n_frames]) / (steps * step)
    floor = 10.0 ** ((LOUDNESS_FLOOR_LUFS - _LOUDNESS_OFFSET) / 10.0)
    series = (_LOUDNESS_OFFSET + 10.0 * np.log10(np.maximum(centred, floor))).astype(np.float32)
    full = np.concatenate(([0.0], np.cumsum(step_energy[:n_full])))
    complete = (full[steps:] - full[: max(n_full - steps + 1, 0)]) / (steps * step)
    # Cumulative sums can leave rounding residue of either sign in silent stretches.
    return series, np.maximum(complete, 0.0)


def _energy_to_lufs(energy: float) -> float:
    return _LOUDNESS_OFFSET + 10.0 * math.log10(energy)


def _above_absolute_gate(blocks: Float64Array) -> Float64Array:
    gate = 10.0 ** ((_ABSOLUTE_GATE_LUFS - _LOUDNESS_OFFSET) / 10.0)
    gated: Float64Array = blocks[blocks > gate]
    return gated


def _integrated(blocks: Float64Array) -> float | None:
    gated = _above_absolute_gate(blocks)
    if gated.size == 0:
        return None
    relative_gate = float(np.mean(gated)) * 10.0 ** (_RELATIVE_GATE_LU / 10.0)
    return _energy_to_lufs(float(np.mean(gated[gated > relative_gate])))


def _loudness_range(blocks: Float64Array) -> float | None:
    gated = _above_absolute_gate(blocks)
    if gated.size == 0:
        return None
    relative_gate = float(np.mean(gated)) * 10.0 ** (_LRA_RELATIVE_GATE_LU / 10.0)
    levels = np.sort(10.0 * np.log10(gated[gated > relative_gate]))
    # Tech 3342's reference code: the values at rounded ranks (n - 1) * p of the sorted list, no interpolation.
    n = levels.size
    low = levels[round((n - 1) * _LRA_LOW_PERCENTILE)]
    high = levels[round((n - 1) * _LRA_HIGH_PERCENTILE)]
    return float(high - low)


def _gated_max(blocks: Float64Array) -> float | None:
    gated = _above_absolute_gate(blocks)
    return _energy_to_lufs(float(gated.max())) if gated.size else None


def _db20(amplitude: float) -> float | None:
    return 20.0 * math.log10(amplitude) if amplitude > 0.0 else None


# ---------------------------------------------------------------------------------------------------------------
# Compiled kernels, cached on disk by numba (next to this module): a fresh process loads them instead of compiling.


@dataclass(frozen=True, slots=True)
class _Kernels:
    peaks: Callable[[Float32Array, Float32Array, int, float], tuple[float, float, float]]
    k_weighted_energy: Callable[[Float32Array, Float64Array, int, int], Float64Array]


@functools.cache
def _kernels() -> _Kernels:
    return _Kernels(peaks=_peaks, k_weighted_energy=_k_weighted_energy)


@numba.njit(nogil=True, fastmath=True, cache=True)
def _peaks(x: Any, fir: Any, block: int, gain_bound: float) -> tuple[float, float, float]:
    """Sample peak, true peak (4x polyphase interpolation, by branch and bound) and sum of squares of all channels.

    Output ``m`` of phase ``p`` is ``sum_k fir[p, k] * x[m - k]`` for ``m`` in ``[0, n + 11)`` (zeros outside the
    signal). A block of outputs ``[s, s + block)`` reads samples ``[s - 11, s + block)``, which lie in input blocks
    ``s // block - 1`` and ``s // block``; its values are bounded by ``gain_bound`` times the largest absolute
    sample there. Blocks are visited in decreasing order of that bound until it cannot beat the best so far.
    Maxima of absolute values are taken on the IEEE bit patterns with the sign bit cleared (their integer order
    is the order of the magnitudes), which vectorises where a float maximum does not.
    """
    n_channels, n = x.shape
    taps = 12
    n_in = (n + block - 1) // block
    n_out = (n + taps - 1 + block - 1) // block
    block_max_bits = np.zeros((n_channels, n_in + 1), dtype=np.int32)
    sum_squares = 0.0
    for c in range(n_channels):
        channel = x[c]
        bits = channel.view(np.int32)
        for b in range(n_in):
            top = np.int32(0)
            energy = np.float32(0.0)
            for i in range(b * block, min((b + 1) * block, n)):
                top = max(top, bits[i] & np.int32(0x7FFFFFFF))
                energy += channel[i] * channel[i]
            block_max_bits[c, b] = top
            sum_squares += np.float64(energy)
    block_max = block_max_bits.view(np.float32)
    sample_peak = np.float32(block_max.max())
    bound = np.empty(n_channels * n_out, dtype=np.float64)
    for c in range(n_channels):
        for b in range(n_out):
            near = block_max[c, b]
            if b >= 1:
                near = max(near, block_max[c, b - 1])
            bound[c * n_out + b] = gain_bound * near
    best = sample_peak
    best_bits = block_max_bits.max()
    padded = np.zeros(block + taps - 1, dtype=np.float32)
    out = np.empty(block, dtype=np.float32)
    as_float = np.zeros(1, dtype=np.int32)
    # First the blocks with the largest bounds (where the sample peaks are), so that the best is near the true
    # peak early and prunes well; then all blocks in memory order, which the cache favours.
    visited = np.zeros(bound.size, dtype=np.bool_)
    n_first = min(_FIRST_BLOCKS, bound.size)
    for rank in range(n_first + bound.size):
        if rank < n_first:
            index = 0
            for candidate in range(bound.size):
                if not visited[candidate] and (visited[index] or bound[candidate] > bound[index]):
                    index = candidate
        else:
            index = rank - n_first
        if visited[index] or bound[index] <= best:
            continue
        visited[index] = True
        c, b = divmod(index, n_out)
        first = b * block - (taps - 1)
        if 0 <= first and first + block + taps - 1 <= n:
            window = x[c][first : first + block + taps - 1]
        else:
            for i in range(block + taps - 1):
                j = first + i
                padded[i] = x[c, j] if 0 <= j < n else np.float32(0.0)
            window = padded
        for p in range(fir.shape[0]):
            top_bits = _phase_abs_max_bits(window, fir[p], out)
            if top_bits > best_bits:
                best_bits = top_bits
                as_float[0] = top_bits
                best = as_float.view(np.float32)[0]
    return float(sample_peak), float(best), sum_squares


@numba.njit(nogil=True, fastmath=True, cache=True)
def _phase_abs_max_bits(window: Any, h: Any, out: Any) -> Any:
    """Bit pattern of the largest ``|sum_k h[k] * window[i + 11 - k]|`` over ``i`` in ``[0, out.size)``."""
    m = out.size
    # One view per tap keeps every index a plain loop counter, which LLVM vectorises.
    w0, w1, w2, w3 = window[0:m], window[1 : m + 1], window[2 : m + 2], window[3 : m + 3]
    w4, w5, w6, w7 = window[4 : m + 4], window[5 : m + 5], window[6 : m + 6], window[7 : m + 7]
    w8, w9, w10, w11 = window[8 : m + 8], window[9 : m + 9], window[10 : m + 10], window[11 : m + 11]
    for i in range(m):
        out[i] = (
            h[11] * w0[i] + h[10] * w1[i] + h[9] * w2[i] + h[8] * w3[i] + h[7] * w4[i] + h[6] * w5[i]
            + h[5] * w6[i] + h[4] * w7[i] + h[3] * w8[i] + h[2] * w9[i] + h[1] * w10[i] + h[0] * w11[i]
        )  # fmt: skip
    bits = out.view(np.int32)
    top = np.int32(0)
    for i in range(m):
        top = max(top, bits[i] & np.int32(0x7FFFFFFF))
    return top


@numba.njit(inline="always")
def _k_weight(v: Any, s0: Any, s1: Any, s2: Any, s3: Any, k: Any) -> Any:
    """One sample ``v`` through the shelf and the high-pass (transposed direct form II): output, new state."""
    b0, b1, b2, a1, a2, c0, c1, c2, d1, d2 = k
    y = b0 * v + s0
    z = c0 * y + s2
    return z, b1 * v - a1 * y + s1, b2 * v - a2 * y, c1 * y - d1 * z + s3, c2 * y - d2 * z


@numba.njit(nogil=True, fastmath={"contract"}, cache=True)
def _k_weighted_energy(x: Any, sos: Any, step: int, warm_up: int) -> Any:
    """Sum of the squared K-weighted signal of each channel over each full ``step`` and over the partial tail.

    Returns an array of shape ``(channels, n // step + 1)``. The full steps are split into four contiguous lanes
    filtered in one loop, so the four recursions overlap in the CPU; lanes 1-3 start ``warm_up`` samples early
    from a zero state, which the filter forgets long before their first step. The tail continues lane 3.
    """
    n_channels, n = x.shape
    n_steps = n // step
    out = np.zeros((n_channels, n_steps + 1))
    k = (sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5], sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5])
    per_lane = n_steps // 4
    o1, o2, o3 = per_lane * step, 2 * per_lane * step, 3 * per_lane * step
    warm = min(warm_up, o1)
    for c in range(n_channels):
        s = np.zeros(16)  # per lane: shelf state 1, shelf state 2, high-pass state 1, high-pass state 2
        for i in range(-warm, 0):
            for lane, origin in ((1, o1), (2, o2), (3, o3)):
                q = 4 * lane
                _, s[q], s[q + 1], s[q + 2], s[q + 3] = _k_weight(
                    np.float64(x[c, origin + i]), s[q], s[q + 1], s[q + 2], s[q + 3], k
                )
        p0, p1, p2, p3 = s[0], s[1], s[2], s[3]
        q0, q1, q2, q3 = s[4], s[5], s[6], s[7]
        r0, r1, r2, r3 = s[8], s[9], s[10], s[11]
        t0, t1, t2, t3 = s[12], s[13], s[14], s[15]
        for j in range(per_lane):
            e0 = e1 = e2 = e3 = 0.0
            start = j * step
            for i in range(start, start + step):
                z, p0, p1, p2, p3 = _k_weight(np.float64(x[c, i]), p0, p1, p2, p3, k)
                e0 += z * z
                z, q0, q1, q2, q3 = _k_weight(np.float64(x[c, o1 + i]), q0, q1, q2, q3, k)
                e1 += z * z
                z, r0, r1, r2, r3 = _k_weight(np.float64(x[c, o2 + i]), r0, r1, r2, r3, k)
                e2 += z * z
                z, t0, t1, t2, t3 = _k_weight(np.float64(x[c, o3 + i]), t0, t1, t2, t3, k)
                e3 += z * z
            out[c, j] = e0
            out[c, per_lane + j] = e1
            out[c, 2 * per_lane + j] = e2
            out[c, 3 * per_lane + j] = e3
        # The remaining full steps and the partial tail continue lane 3 (or start from zero for short input).
        for j in range(4 * per_lane, n_steps + 1):
            e = 0.0
            for i in range(j * step, min((j + 1) * step, n)):
                z, t0, t1, t2, t3 = _k_weight(np.float64(x[c, i]), t0, t1, t2, t3, k)
                e += z * z
            out[c, j] = e
    return out
