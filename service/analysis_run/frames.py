"""Encoding of frame-level feature series into fixed-size chunks of little-endian rows.

A chunk holds ``chunk_frames`` consecutive frames of a ``(n_frames, dims)`` series, row-major, so a client
can fetch any time window by reading only the chunks that overlap it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_CHUNK_FRAMES = 2048
ENCODINGS = {"float16": "<f2", "float32": "<f4"}


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    start_frame: int
    n_frames: int
    data: bytes


def encode_chunks(
    values: npt.NDArray[np.floating], *, dtype: str = "float16", chunk_frames: int = DEFAULT_CHUNK_FRAMES
) -> list[Chunk]:
    if values.ndim != 2:
        raise ValueError(f"expected (n_frames, dims), got shape {values.shape}")
    if chunk_frames <= 0:
        raise ValueError("chunk_frames must be positive")
    encoded = np.ascontiguousarray(values, dtype=ENCODINGS[dtype])
    return [
        Chunk(index=i, start_frame=start, n_frames=len(block), data=block.tobytes())
        for i, start in enumerate(range(0, len(encoded), chunk_frames))
        for block in (encoded[start : start + chunk_frames],)
    ]


def decode_chunk(data: bytes, *, dtype: str, dims: int) -> npt.NDArray[np.float32]:
    flat = np.frombuffer(data, dtype=ENCODINGS[dtype])
    return flat.reshape(-1, dims).astype(np.float32)


def dtype_for(values: npt.NDArray[np.floating]) -> str:
    """float16 keeps storage small; values float16 cannot hold to ~0.1 % (large Hz values) stay float32."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "float16"
    peak = float(np.max(np.abs(finite)))
    return "float16" if peak <= 2048.0 else "float32"


REDUCTIONS = ("minmax", "mean")
# Float error in ``seconds * frame_rate`` (0.1 s at 10 fps is 1.0000000000000002 frames) must not move a window edge.
_EDGE_TOLERANCE = 1e-6
# Decimal digits a JSON number needs to give back the stored value: 5 for float16, 9 for float32.
_SIGNIFICANT_DIGITS = {"float16": 5, "float32": 9}


@dataclass(frozen=True, slots=True)
class Decimated:
    """``values`` holds one row per point: ``(points, dims, 2)`` (min, max) for ``minmax``, ``(points, dims)`` for
    ``mean``. Point ``j`` summarises frames ``[j * factor, (j + 1) * factor)`` of the window; the last point may
    summarise fewer."""

    values: npt.NDArray[np.float32]
    factor: int
    reduce: str


def frame_range(*, start_s: float, end_s: float | None, frame_rate: float, n_frames: int) -> tuple[int, int]:
    """The frames ``[first, stop)`` whose time ``i / frame_rate`` lies in ``[start_s, end_s)``; ``end_s=None`` is
    the end of the series."""
    first = min(n_frames, max(0, math.ceil(start_s * frame_rate - _EDGE_TOLERANCE)))
    stop = n_frames if end_s is None else min(n_frames, max(0, math.ceil(end_s * frame_rate - _EDGE_TOLERANCE)))
    return first, max(first, stop)


def chunk_range(first: int, stop: int, *, chunk_frames: int) -> tuple[int, int] | None:
    """Indices ``(first, last)``, both included, of the chunks holding frames ``[first, stop)``; ``None`` if empty."""
    if stop <= first:
        return None
    return first // chunk_frames, (stop - 1) // chunk_frames


def assemble(
    chunks: Iterable[tuple[int, bytes]], *, first: int, stop: int, dtype: str, dims: int
) -> npt.NDArray[np.float32]:
    """Frames ``[first, stop)`` as ``(stop - first, dims)`` float32 from ``(start_frame, data)`` chunks.

    Chunks may start before ``first`` or run past ``stop``; frames no chunk covers are NaN, so a damaged series
    shows a gap instead of failing the request.
    """
    out = np.full((stop - first, dims), np.nan, dtype=np.float32)
    for start_frame, data in chunks:
        block = decode_chunk(data, dtype=dtype, dims=dims)
        lo = max(first, start_frame)
        hi = min(stop, start_frame + len(block))
        if hi > lo:
            out[lo - first : hi - first] = block[lo - start_frame : hi - start_frame]
    return out


def decimate(values: npt.NDArray[np.float32], *, max_points: int, reduce: str) -> Decimated:
    """Reduce ``(n, dims)`` frames to at most ``max_points`` points of ``factor = ceil(n / max_points)`` frames.

    ``minmax`` keeps each point's minimum and maximum, so a one-frame peak survives any decimation; ``mean``
    averages. Both apply even when ``factor`` is 1, so a reduction always returns the same layout. A point holding
    a NaN frame is NaN.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduce!r}")
    if max_points < 1:
        raise ValueError("max_points must be positive")
    n, dims = values.shape
    factor = max(1, -(-n // max_points))
    if n == 0:
        shape = (0, dims, 2) if reduce == "minmax" else (0, dims)
        return Decimated(values=np.zeros(shape, dtype=np.float32), factor=factor, reduce=reduce)
    if factor == 1:
        same = values.astype(np.float32, copy=False)
        stacked = np.stack((same, same), axis=-1) if reduce == "minmax" else same
        return Decimated(values=np.ascontiguousarray(stacked), factor=1, reduce=reduce)
    starts = np.arange(0, n, factor, dtype=np.intp)
    if reduce == "minmax":
        low = np.minimum.reduceat(values, starts, axis=0)
        high = np.maximum.reduceat(values, starts, axis=0)
        reduced = np.stack((low, high), axis=-1).astype(np.float32)
    else:
        sums = np.add.reduceat(values.astype(np.float64), starts, axis=0)
        counts = np.diff(np.append(starts, n)).astype(np.float64)
        reduced = (sums / counts[:, np.newaxis]).astype(np.float32)
    return Decimated(values=np.ascontiguousarray(reduced), factor=factor, reduce=reduce)


def round_significant(values: npt.NDArray[np.float32], *, dtype: str) -> npt.NDArray[np.float64]:
    """Round to the significant digits that give back a value of the stored ``dtype``, for compact JSON numbers.

    Float16 series need 5 digits, so ``0.1235`` is sent instead of ``0.12353515625``; the result is float64, which
    prints exactly those digits. Zero, NaN and infinities pass through.
    """
    digits = _SIGNIFICANT_DIGITS[dtype]
    x = values.astype(np.float64)
    finite = np.isfinite(x) & (x != 0.0)
    if not finite.any():
        return x
    magnitude = np.zeros_like(x)
    magnitude[finite] = np.floor(np.log10(np.abs(x[finite])))
    exponent = digits - 1 - magnitude
    # Scale by exact powers of ten only: a correctly rounded product or quotient of exact numbers is the double
    # nearest the decimal, which prints as that decimal.
    up = np.power(10.0, np.maximum(exponent, 0.0))
    down = np.power(10.0, np.maximum(-exponent, 0.0))
    rounded = np.rint(x * up / down) * down / up
    return np.where(finite, rounded, x)
