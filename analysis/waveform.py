"""Waveform overviews: min/max peaks at several zoom levels, and a PNG thumbnail.

Conventions: samples are float in ``[-1, 1]``, ``(channels, n_samples)`` or ``(n_samples,)``, at ``sr`` Hz (the
original rate: overviews are drawn from the samples as decoded, not from the analysis resampling). Peaks use BBC
audiowaveform's model (:class:`~analysis.types.WaveformPeaks`): each pixel holds the (min, max) of
``samples_per_pixel`` consecutive samples per channel, quantised to int16 (full scale 32767) or int8 (127).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image

from analysis._typing import FloatArray
from analysis._validate import MAX_CHANNELS, check_positive_int, check_sr
from analysis.errors import AnalysisParameterError
from analysis.types import WaveformPeaks

__all__ = ["DEFAULT_SAMPLES_PER_PIXEL", "thumbnail_png", "waveform_levels", "wavesurfer_peaks"]

DEFAULT_SAMPLES_PER_PIXEL: tuple[int, ...] = (256, 512, 1024, 2048, 4096)

_MAX_THUMBNAIL_SIDE = 8192
_PNG_COMPRESS_LEVEL = 6
_RGBA = tuple[int, int, int, int]


def waveform_levels(
    y: npt.ArrayLike,
    *,
    sr: int,
    samples_per_pixel: Sequence[int] = DEFAULT_SAMPLES_PER_PIXEL,
    bits: int = 16,
) -> tuple[WaveformPeaks, ...]:
    """Compute min/max waveform peaks at several zoom levels in one pass over the samples.

    Only the finest level reads the samples; every coarser level is reduced from the finest level's float
    min/max. When a level's ``samples_per_pixel`` is a multiple of the finest one this is exact: the result equals
    :meth:`WaveformPeaks.from_samples` at that level, sample for sample. Otherwise each pixel takes the finest
    pixels that overlap it, so its range may include up to one finest pixel of samples on either side (a
    slightly wider, never narrower, min/max).

    Parameters
    ----------
    y : np.ndarray, shape (channels, n_samples) or (n_samples,)
        Float audio in ``[-1, 1]`` (values outside are clipped) at its original rate.
    sr : int
        Sampling rate of ``y`` in Hz (stored in each level's header).
    samples_per_pixel : sequence of int
        Zoom levels, each > 0; the result keeps this order. Duplicates are allowed.
    bits : int
        ``16`` (int16 data, -32768..32767) or ``8`` (int8 data, -128..127) for every level.

    Returns
    -------
    tuple of WaveformPeaks
        One per entry of ``samples_per_pixel``, each with ``ceil(n_samples / samples_per_pixel)`` pixels; the
        last pixel of a level covers the remainder.

    Raises
    ------
    AnalysisParameterError
        If the samples are empty, not finite or badly shaped, ``sr`` is out of range, a level is not a positive
        integer, or ``bits`` is not 8 or 16.
    """
    x = _channels_first(y)
    sr = check_sr(sr)
    levels = tuple(check_positive_int(spp, name="samples_per_pixel") for spp in samples_per_pixel)
    if not levels:
        raise AnalysisParameterError("samples_per_pixel must name at least one level")
    if bits not in (8, 16):
        raise AnalysisParameterError(f"bits must be 8 or 16, got {bits}")
    finest = min(levels)
    low, high = _min_max(x, finest)
    # NaN and infinities survive min/max, so checking the finest level checks every sample, at 1/256 of the cost.
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise AnalysisParameterError("samples contain NaN or infinite values")
    n_samples = x.shape[1]
    out: list[WaveformPeaks] = []
    for spp in levels:
        if spp == finest:
            lo, hi = low, high
        else:
            n_pixels = -(-n_samples // spp)
            # The finest pixel holding each coarse pixel's first sample: exact when spp is a multiple of finest.
            starts = (np.arange(n_pixels, dtype=np.int64) * spp) // finest
            lo = np.minimum.reduceat(low, starts, axis=1)
            hi = np.maximum.reduceat(high, starts, axis=1)
            if spp % finest:
                # reduceat stops each pixel before the next start, so the finest pixel straddling the boundary (the
                # last one overlapping this pixel) is folded in separately; folding in a pixel twice is harmless.
                last = np.minimum((np.arange(1, n_pixels + 1, dtype=np.int64) * spp - 1) // finest, low.shape[1] - 1)
                lo = np.minimum(lo, low[:, last])
                hi = np.maximum(hi, high[:, last])
        out.append(_peaks(lo, hi, sr=sr, samples_per_pixel=spp, bits=bits))
    return tuple(out)


def _channels_first(y: npt.ArrayLike) -> FloatArray:
    """Check the shape and dtype like :func:`~analysis._validate.as_channels_first`, without copying or scanning."""
    x = np.asarray(y)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or not 1 <= x.shape[0] <= MAX_CHANNELS or x.shape[1] == 0:
        raise AnalysisParameterError(f"samples must be a non-empty (channels, n_samples) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise AnalysisParameterError(f"samples must be floating point in [-1, 1], got dtype {x.dtype}")
    return np.ascontiguousarray(x)


def _min_max(x: FloatArray, spp: int) -> tuple[FloatArray, FloatArray]:
    """Per-channel min and max of each block of ``spp`` samples, shape ``(channels, ceil(n / spp))`` each."""
    n_channels, n = x.shape
    full = n // spp
    n_pixels = -(-n // spp)
    low = np.empty((n_channels, n_pixels), dtype=x.dtype)
    high = np.empty((n_channels, n_pixels), dtype=x.dtype)
    if full:
        blocks = x[:, : full * spp].reshape(n_channels, full, spp)
        np.min(blocks, axis=2, out=low[:, :full])
        np.max(blocks, axis=2, out=high[:, :full])
    if n_pixels > full:
        tail = x[:, full * spp :]
        low[:, full] = tail.min(axis=1)
        high[:, full] = tail.max(axis=1)
    return low, high


def _peaks(low: FloatArray, high: FloatArray, *, sr: int, samples_per_pixel: int, bits: int) -> WaveformPeaks:
    scale = 32767.0 if bits == 16 else 127.0
    dtype = np.int16 if bits == 16 else np.int8
    data = np.empty((low.shape[1], low.shape[0], 2), dtype=dtype)
    # Same rounding as WaveformPeaks.from_samples, so a reduced level equals one computed from the samples.
    data[:, :, 0] = np.rint(np.clip(low.T.astype(np.float64), -1.0, 1.0) * scale)
    data[:, :, 1] = np.rint(np.clip(high.T.astype(np.float64), -1.0, 1.0) * scale)
    return WaveformPeaks(
        sample_rate=sr, samples_per_pixel=samples_per_pixel, channels=int(low.shape[0]), bits=bits, data=data
    )


def wavesurfer_peaks(peaks: WaveformPeaks, *, decimals: int = 4) -> list[list[float]]:
    """Convert peaks to the ``peaks`` option of wavesurfer.js (one float array per channel).

    wavesurfer.js (v7) takes ``peaks: Array<Float32Array | number[]>``, one array per channel with values in
    ``[-1, 1]``, plus the track ``duration``; it does not read audiowaveform's integer JSON. peaks.js
    (waveform-data.js) reads :meth:`WaveformPeaks.to_json` and :meth:`WaveformPeaks.to_dat` as they are.

    Parameters
    ----------
    peaks : WaveformPeaks
        Peaks at any level.
    decimals : int
        Rounding of the values (4 keeps the JSON small and is finer than a pixel at any height).

    Returns
    -------
    list of list of float
        ``channels`` lists of ``2 * length`` values: min and max of each pixel in turn, divided by the full-scale
        value (32767 or 127), clipped to ``[-1, 1]``.
    """
    scale = 32767.0 if peaks.bits == 16 else 127.0
    values = np.clip(np.asarray(peaks.data, dtype=np.float64) / scale, -1.0, 1.0)
    per_channel = np.round(values.transpose(1, 0, 2).reshape(peaks.channels, -1), decimals)
    return [row.tolist() for row in per_channel]


def thumbnail_png(
    peaks: WaveformPeaks,
    *,
    width: int = 1200,
    height: int = 200,
    color: _RGBA = (94, 200, 255, 255),
    background: _RGBA = (0, 0, 0, 0),
    symmetric: bool = False,
    normalize: bool = False,
) -> bytes:
    """Render a min/max waveform thumbnail of the channels' mix as a PNG image.

    Each image column covers an equal share of the pixels of ``peaks``; it is filled between the lowest minimum
    and the highest maximum of the mix in that share, around a centre line (always at least one pixel, so silence
    shows as a thin line). The mix of several channels is the mean of their minima and of their maxima: exact for
    identical channels, an approximation of the mono mix's peaks otherwise. Edges are anti-aliased.

    Parameters
    ----------
    peaks : WaveformPeaks
        Peaks at any level; the finer, the more detail (256 samples per pixel is plenty for 1200 columns).
    width, height : int
        Image size in pixels (1 to 8192).
    color : tuple of int
        RGBA colour of the waveform.
    background : tuple of int
        RGBA colour of the background; transparent by default.
    symmetric : bool
        Mirror the larger of ``|min|`` and ``|max|`` about the centre line instead of drawing min and max as they
        are.
    normalize : bool
        Scale the waveform so its largest peak fills the height; by default full scale (0 dBFS) fills it, so
        quiet tracks look quiet.

    Returns
    -------
    bytes
        A PNG image of ``width`` x ``height``, 8-bit palette with per-entry alpha (Pillow opens it in mode
        ``"P"``; ``.convert("RGBA")`` gives the colours). A waveform with no pixels gives the centre line only.

    Raises
    ------
    AnalysisParameterError
        If the size is out of range or a colour is not four values in ``0..255``.
    """
    width = check_positive_int(width, name="width")
    height = check_positive_int(height, name="height")
    if width > _MAX_THUMBNAIL_SIDE or height > _MAX_THUMBNAIL_SIDE:
        raise AnalysisParameterError(f"thumbnail size must be at most {_MAX_THUMBNAIL_SIDE}, got {width}x{height}")
    fg = _check_rgba(color, name="color")
    bg = _check_rgba(background, name="background")
    top, bottom = _columns(peaks, width=width)
    if symmetric:
        top = np.maximum(top, -bottom)
        bottom = -top
    if normalize:
        peak = max(float(top.max(initial=0.0)), float(-bottom.min(initial=0.0)))
        if peak > 0.0:
            top, bottom = top / peak, bottom / peak
    # Amplitude +1 maps to the top edge (y = 0), -1 to the bottom edge (y = height), in continuous pixel units.
    half = height / 2.0
    y_top = half - np.clip(top, -1.0, 1.0) * half
    y_bottom = half - np.clip(bottom, -1.0, 1.0) * half
    # At least one pixel tall, centred on the span, so silence and DC draw a visible line.
    centre = (y_top + y_bottom) / 2.0
    y_top = np.minimum(y_top, centre - 0.5)
    y_bottom = np.maximum(y_bottom, centre + 0.5)
    rows = np.arange(height, dtype=np.float32)[:, np.newaxis]
    # Coverage of each pixel row [r, r + 1) by the span [y_top, y_bottom]: 1 inside, fractional at the edges.
    coverage = np.minimum(rows + 1.0, y_bottom.astype(np.float32)) - np.maximum(rows, y_top.astype(np.float32))
    level = np.rint(np.clip(coverage, 0.0, 1.0) * 255.0).astype(np.uint8)
    # A palette image: 256 blends of background and colour, indexed by coverage (a quarter of RGBA's bytes to
    # compress; PNG stores the palette's alpha in a tRNS chunk, which every browser and decoder reads).
    blend = np.linspace(0.0, 1.0, 256)[:, np.newaxis]
    palette = np.rint(np.asarray(bg, dtype=np.float64) * (1.0 - blend) + np.asarray(fg, dtype=np.float64) * blend)
    image = Image.fromarray(level, mode="P")
    image.putpalette(palette.astype(np.uint8).tobytes(), rawmode="RGBA")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _check_rgba(value: _RGBA, *, name: str) -> _RGBA:
    channels = tuple(value)
    if len(channels) != 4 or not all(isinstance(c, int | np.integer) and 0 <= int(c) <= 255 for c in channels):
        raise AnalysisParameterError(f"{name} must be four integers in 0..255 (RGBA), got {value!r}")
    return (int(channels[0]), int(channels[1]), int(channels[2]), int(channels[3]))


def _columns(peaks: WaveformPeaks, *, width: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mix the channels and reduce the pixels to ``width`` columns: (max, min) per column in ``[-1, 1]``."""
    scale = 32767.0 if peaks.bits == 16 else 127.0
    n_pixels = peaks.length
    if n_pixels == 0:
        return np.zeros(width), np.zeros(width)
    data = np.asarray(peaks.data, dtype=np.float64) / scale
    low = data[:, :, 0].mean(axis=1)
    high = data[:, :, 1].mean(axis=1)
    if n_pixels >= width:
        starts = (np.arange(width, dtype=np.int64) * n_pixels) // width
        return np.maximum.reduceat(high, starts), np.minimum.reduceat(low, starts)
    # Fewer pixels than columns: each column shows the pixel under its centre.
    nearest = ((np.arange(width, dtype=np.float64) + 0.5) * n_pixels / width).astype(np.int64)
    return high[nearest], low[nearest]
