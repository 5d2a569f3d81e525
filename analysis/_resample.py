"""DC-free resampling in bounded blocks, shared by the front end and the mono mix for key estimation."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import soxr

from analysis._typing import Float32Array

__all__ = ["resample_dc_free"]

_BLOCK = 1 << 20


def resample_dc_free(channel: Float32Array, *, sr: int, target_sr: int) -> Iterator[Float32Array]:
    """Yield one channel at ``target_sr``, its mean removed, in consecutive blocks.

    The mean goes first because a DC step at the ends of the signal would otherwise ring through the resampler
    (and read as a broadband click); streaming keeps the working memory to one block whatever the length.

    Parameters
    ----------
    channel : np.ndarray, shape (n_samples,), float32
        One channel of audio.
    sr, target_sr : int
        Input and output sampling rates in Hz.

    Yields
    ------
    np.ndarray, float32
        Consecutive blocks of the resampled, DC-free channel.
    """
    offset = np.float32(channel.mean(dtype=np.float64))
    stream = soxr.ResampleStream(sr, target_sr, 1, dtype="float32", quality="HQ")
    for i in range(0, max(channel.size, 1), _BLOCK):
        yield stream.resample_chunk(channel[i : i + _BLOCK] - offset, last=i + _BLOCK >= channel.size)
