"""Encoding of frame-level feature series into fixed-size chunks of little-endian rows.

A chunk holds ``chunk_frames`` consecutive frames of a ``(n_frames, dims)`` series, row-major, so a client
can fetch any time window by reading only the chunks that overlap it.
"""

from __future__ import annotations

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
