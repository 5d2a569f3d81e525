"""Shared array type aliases for the analysis package."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Float32Array", "Float64Array", "FloatArray", "Int8Array", "Int16Array", "IntArray"]

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]
FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Int16Array = npt.NDArray[np.int16]
Int8Array = npt.NDArray[np.int8]
