"""Waveform peaks in BBC audiowaveform's formats: read stored levels, crop, combine zooms, convert bits, encode.

A level holds, for each pixel of ``samples_per_pixel`` source samples and each channel, the (min, max) of those
samples as int16 (full scale 32767) or int8 (127): ``data`` has shape ``(length, channels, 2)``. The ``.dat`` and
JSON forms are the analysis' own (:class:`analysis.types.WaveformPeaks`), which peaks.js (waveform-data.js) loads
as served.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.types import WaveformPeaks

_FULL_SCALE = {8: 127.0, 16: 32767.0}
_DTYPES = {8: "i1", 16: "<i2"}
# Float error in ``seconds * sample_rate / samples_per_pixel`` must not move a crop edge by a pixel.
_EDGE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Waveform:
    sample_rate: int
    samples_per_pixel: int
    bits: int
    data: npt.NDArray[np.int16] | npt.NDArray[np.int8]

    @property
    def length(self) -> int:
        return int(self.data.shape[0])

    @property
    def channels(self) -> int:
        return int(self.data.shape[1])

    def window(self, *, factor: int = 1, start_s: float = 0.0, end_s: float | None = None) -> tuple[Waveform, int]:
        """Zoom out by ``factor`` and keep the pixels covering ``[start_s, end_s)`` (``None``: to the end).

        Output pixels are aligned to the start of the track, so the same zoom always draws the same pixels
        whatever the window; whole pixels are kept, so the crop may start a little before ``start_s`` and end a
        little after ``end_s``. Returns the waveform and the index of its first pixel in the whole track.
        """
        samples_per_pixel = self.samples_per_pixel * factor
        length = -(-self.length // factor)
        per_second = self.sample_rate / samples_per_pixel
        first = min(length, max(0, math.floor(start_s * per_second + _EDGE_TOLERANCE)))
        stop = length if end_s is None else min(length, math.ceil(end_s * per_second - _EDGE_TOLERANCE))
        stop = max(first, stop)
        return self.crop(first * factor, min(stop * factor, self.length)).combine(factor), first

    @property
    def duration_seconds(self) -> float:
        return self.length * self.samples_per_pixel / self.sample_rate

    def start_seconds(self, pixel: int) -> float:
        """Time of the first sample of ``pixel``."""
        return pixel * self.samples_per_pixel / self.sample_rate

    def crop(self, first: int, stop: int) -> Waveform:
        return Waveform(self.sample_rate, self.samples_per_pixel, self.bits, self.data[first:stop])

    def combine(self, factor: int) -> Waveform:
        """Zoom out by an integer ``factor``: each new pixel is the min of the minima and the max of the maxima of
        ``factor`` pixels (the last one takes the remainder), exactly what the samples would give at that zoom."""
        if factor < 1:
            raise ValueError("factor must be positive")
        if factor == 1 or self.length == 0:
            return Waveform(self.sample_rate, self.samples_per_pixel * factor, self.bits, self.data)
        starts = np.arange(0, self.length, factor, dtype=np.intp)
        data = np.empty((len(starts), self.channels, 2), dtype=self.data.dtype)
        data[:, :, 0] = np.minimum.reduceat(self.data[:, :, 0], starts, axis=0)
        data[:, :, 1] = np.maximum.reduceat(self.data[:, :, 1], starts, axis=0)
        return Waveform(self.sample_rate, self.samples_per_pixel * factor, self.bits, data)

    def to_bits(self, bits: int) -> Waveform:
        """Rescale to ``bits`` (8 or 16) full scale: 32767 maps to 127, not to the low byte of the value."""
        if bits not in _FULL_SCALE:
            raise ValueError(f"bits must be 8 or 16, got {bits}")
        if bits == self.bits:
            return self
        target = _DTYPES[bits]
        info = np.iinfo(target)
        scaled = np.rint(self.data.astype(np.float64) * (_FULL_SCALE[bits] / _FULL_SCALE[self.bits]))
        data = np.clip(scaled, info.min, info.max).astype(target)
        return Waveform(self.sample_rate, self.samples_per_pixel, bits, data)

    def merge_channels(self) -> Waveform:
        """One channel whose range spans every channel's: the min of the minima and the max of the maxima."""
        if self.channels == 1:
            return self
        data = np.empty((self.length, 1, 2), dtype=self.data.dtype)
        data[:, 0, 0] = self.data[:, :, 0].min(axis=1, initial=np.iinfo(self.data.dtype).max)
        data[:, 0, 1] = self.data[:, :, 1].max(axis=1, initial=np.iinfo(self.data.dtype).min)
        return Waveform(self.sample_rate, self.samples_per_pixel, self.bits, data)

    def to_dat(self) -> bytes:
        """The audiowaveform binary format, version 2."""
        return self._peaks().to_dat()

    def to_json(self) -> dict[str, Any]:
        """The audiowaveform JSON format, version 2: the header fields and a flat ``data`` list in ``.dat`` order."""
        return self._peaks().to_json()

    def _peaks(self) -> WaveformPeaks:
        return WaveformPeaks(self.sample_rate, self.samples_per_pixel, self.channels, self.bits, self.data)


def parse_dat(raw: bytes) -> Waveform:
    """Read an audiowaveform ``.dat`` file (version 1 or 2); :class:`analysis.errors.WaveformFormatError` if not one."""
    peaks = WaveformPeaks.from_dat(raw)
    return Waveform(peaks.sample_rate, peaks.samples_per_pixel, peaks.bits, peaks.data)


@dataclass(frozen=True, slots=True)
class ZoomPlan:
    """Read stored level ``level`` and combine ``factor`` of its pixels into one: ``samples_per_pixel`` out."""

    level: int
    factor: int

    @property
    def samples_per_pixel(self) -> int:
        return self.level * self.factor


def plan_zoom(levels: Sequence[int], zoom: int | None) -> ZoomPlan | None:
    """How to serve ``zoom`` samples per pixel from the stored ``levels``; ``None`` when it cannot be served exactly.

    A zoom is served when it is a multiple of a stored level, from the coarsest such level (fewest pixels to
    combine). Any other zoom, finer than every level or between multiples, is not: the caller refuses it rather
    than answer another zoom than was asked. ``None`` asks for the finest level.
    """
    if not levels:
        raise ValueError("no stored levels")
    if zoom is None:
        return ZoomPlan(level=min(levels), factor=1)
    for level in sorted(set(levels), reverse=True):
        if level <= zoom and zoom % level == 0:
            return ZoomPlan(level=level, factor=zoom // level)
    return None


# A sized waveform may have this much more detail than asked when that lets it come from a coarser stored level
# (a smaller file to read and fewer pixels to combine).
_PIXELS_SLACK = 0.9


def plan_pixels(levels: Sequence[int], *, samples: float, pixels: int) -> ZoomPlan:
    """A zoom giving at least ``pixels`` points for a window of ``samples`` samples, and not many more.

    The zoom is a multiple of a stored level not exceeding ``samples / pixels`` samples per pixel: from the
    coarsest level whose multiple comes within 10 % of that, else the largest multiple of any level. A window too
    short for that many points even at the finest level gets the finest.
    """
    if not levels:
        raise ValueError("no stored levels")
    if pixels < 1:
        raise ValueError("pixels must be at least 1")
    target = samples / pixels
    best: tuple[int, int] | None = None
    for level in sorted(set(levels), reverse=True):
        if level > target:
            continue
        factor = int(target // level)
        if level * factor >= _PIXELS_SLACK * target:
            return ZoomPlan(level=level, factor=factor)
        if best is None or level * factor > best[0] * best[1]:
            best = (level, factor)
    if best is None:
        return ZoomPlan(level=min(levels), factor=1)
    return ZoomPlan(level=best[0], factor=best[1])
