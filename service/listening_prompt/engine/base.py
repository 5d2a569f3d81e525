"""Series names, thresholds and the engine's errors."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analysis.tonal_balance import BAND_NAMES

MOMENTARY = "momentary_loudness"
RMS = "rms"
TONAL_BANDS = "tonal_bands"
WIDTH = "stereo_width"
CORRELATION = "stereo_correlation"
CENTROID = "spectral_centroid"
LOCAL_TEMPO = "local_tempo"
SERIES: tuple[str, ...] = (MOMENTARY, RMS, TONAL_BANDS, WIDTH, CORRELATION, CENTROID, LOCAL_TEMPO)

# The producer bands of the analysis, in the order of the tonal_bands series.
BANDS: tuple[str, ...] = BAND_NAMES

PASSAGE_BARS = 8
PASSAGE_SECONDS = 15.0
# Eight bars at very slow or very fast tempi make passages too long or too short to loop: use 15 s instead.
_PASSAGE_RANGE_S = (8.0, 24.0)
AUDIBLE_LUFS = -70.0
ACTIVE_RANGE_DB = 60.0
DROP_CONTEXT_S = 8.0
MIN_RISE_LU = 1.0
MIN_BREAKDOWN_CONTRAST_LU = 3.0
# A passage needs this share of frames that carry sound to be compared with others.
_MIN_ACTIVE_SHARE = 0.5
_GRID_S = 1.0
STEREO_CATEGORIES = frozenset({"stereo"})

FloatArray = npt.NDArray[np.float32]


class Unavailable(Exception):
    """The analysis has no data for a rule or a placeholder; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemplateError(ValueError):
    """A template that cannot be rendered by this engine; ``field`` names the offending template field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
