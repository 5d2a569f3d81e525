"""The analysis, with what the rules derive from it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from service.listening_prompt.engine.base import (
    _GRID_S,
    _MIN_ACTIVE_SHARE,
    _PASSAGE_RANGE_S,
    ACTIVE_RANGE_DB,
    AUDIBLE_LUFS,
    MOMENTARY,
    PASSAGE_BARS,
    PASSAGE_SECONDS,
    RMS,
    TONAL_BANDS,
    FloatArray,
    Unavailable,
)
from service.listening_prompt.engine.data import AnalysisInput, Placement, Section, Series
from service.listening_prompt.engine.formatting import _band_label
from service.listening_prompt.engine.rules import PLACEMENT_RULES


def _energy_mean(values: FloatArray) -> float | None:
    """Power mean in dB of the audible values (above the absolute gate), or ``None`` when too few are audible."""
    if values.size == 0:
        return None
    audible = values[values > AUDIBLE_LUFS].astype(np.float64)
    if audible.size < _MIN_ACTIVE_SHARE * values.size or audible.size == 0:
        return None
    return 10.0 * math.log10(float(np.mean(10.0 ** (audible / 10.0))))


class _Track:
    """One analysis and the passages found in it, computed once per render call."""

    def __init__(self, data: AnalysisInput, *, region_id: str | None) -> None:
        self.data = data
        self.summary = data.summary
        self.region_id = region_id
        self.duration_s = float(self.summary.get("duration_s") or 0.0)
        bpm = float(self.summary.get("bpm") or 0.0)
        self.bpm = bpm if bpm > 0.0 else None
        beats_per_bar = int(self.summary.get("time_signature") or 4)
        passage = PASSAGE_BARS * beats_per_bar * 60.0 / bpm if self.bpm else PASSAGE_SECONDS
        if not _PASSAGE_RANGE_S[0] <= passage <= _PASSAGE_RANGE_S[1]:
            passage = PASSAGE_SECONDS
        self.passage_s = min(passage, self.duration_s)
        self.sections = tuple(s for s in data.sections if s.duration_s > 0.0)
        self.audible_sections = tuple(s for s in self.sections if s.role != "silence" and s.loudness_lufs is not None)
        self.downbeats_s = tuple(sorted(t for t in data.downbeats_s if 0.0 <= t < self.duration_s))
        self._placements: dict[str, Placement | Unavailable] = {}
        self._masks: dict[str, npt.NDArray[np.bool_]] = {}

    # -- data access

    @property
    def silent(self) -> bool:
        return self.summary.get("momentary_max_lufs") is None

    def stereo_problem(self) -> str | None:
        if int(self.summary.get("channels") or 0) < 2:
            return "the track is mono: there is no stereo image to listen to"
        stereo = self.summary.get("stereo") or {}
        if stereo.get("width_mean") is None or stereo.get("side_to_mid_db") is None:
            return "the two channels are identical (dual mono): there is no stereo image to listen to"
        return None

    def series(self, name: str) -> Series:
        found = self.data.series.get(name)
        if found is None or found.values.ndim != 2 or found.values.shape[0] == 0:
            raise Unavailable(f"the analysis has no {name.replace('_', ' ')} series")
        return found

    def active(self, name: str) -> npt.NDArray[np.bool_]:
        """Frames of series ``name`` that carry sound: within 60 dB of the loudest frame of the mono mix."""
        if name not in self._masks:
            target = self.series(name)
            rms = self.series(RMS)
            level = rms.column()
            peak = float(np.max(level))
            loud = level > max(peak - ACTIVE_RANGE_DB, -100.0)
            index = np.rint(np.arange(target.values.shape[0]) * target.hop_s / rms.hop_s).astype(np.int64)
            self._masks[name] = loud[np.clip(index, 0, level.size - 1)]
        return self._masks[name]

    def bands(self) -> list[dict[str, Any]]:
        bands = (self.summary.get("tonal_balance") or {}).get("bands") or []
        return [b for b in bands if isinstance(b, dict)]

    def band(self, name: str) -> tuple[int, dict[str, Any]]:
        for index, band in enumerate(self.bands()):
            if band.get("name") == name:
                if band.get("level_dbfs") is None:
                    label = _band_label(name, band.get("low_hz"), band.get("high_hz"))
                    raise Unavailable(f"the {label} band has no level (above the file's Nyquist frequency, or silent)")
                return index, band
        raise Unavailable(f"the analysis has no {_band_label(name)} band")

    def section_at(self, t: float) -> Section | None:
        found = None
        for section in self.sections:
            if section.start_s <= t + 1e-6:
                found = section
        return found

    # -- measurements over a span

    def loudness(self, start_s: float, end_s: float) -> float | None:
        series = self.series(MOMENTARY)
        return _energy_mean(series.column()[series.span(start_s, end_s)])

    def active_mean(self, name: str, start_s: float, end_s: float, *, dim: int = 0) -> float | None:
        series = self.series(name)
        span = series.span(start_s, end_s)
        values = series.column(dim)[span]
        active = self.active(name)[span]
        if values.size == 0 or active.sum() < _MIN_ACTIVE_SHARE * values.size:
            return None
        return float(np.mean(values[active], dtype=np.float64))

    def band_powers(self, start_s: float, end_s: float) -> npt.NDArray[np.float64]:
        series = self.series(TONAL_BANDS)
        if series.values.shape[1] != len(self.bands()):
            raise Unavailable("the tonal band series does not match the analysis summary")
        levels = series.values[series.span(start_s, end_s)].astype(np.float64)
        powers: npt.NDArray[np.float64] = np.mean(10.0 ** (levels / 10.0), axis=0)
        return powers

    # -- passages

    def window_starts(self, length_s: float) -> list[float]:
        last = self.duration_s - length_s
        if last <= 1e-6:
            return [0.0]
        if len(self.downbeats_s) >= 2:
            starts = [t for t in self.downbeats_s if t <= last + 1e-6]
            if starts:
                return starts
        return [float(t) for t in np.arange(0.0, last + 1e-6, _GRID_S)]

    def best_window(
        self, score: Callable[[float, float], float | None], *, highest: bool, empty_reason: str
    ) -> tuple[float, float, float]:
        """The passage (start, end) with the highest or lowest score; the earliest wins a tie."""
        length = self.passage_s
        best: tuple[float, float, float] | None = None
        for start in self.window_starts(length):
            end = min(start + length, self.duration_s)
            value = score(start, end)
            if value is None or not math.isfinite(value):
                continue
            if best is None or (value > best[2] if highest else value < best[2]):
                best = (start, end, value)
        if best is None:
            raise Unavailable(empty_reason)
        return best

    def placement(self, rule: str) -> Placement:
        cached = self._placements.get(rule)
        if cached is None:
            try:
                cached = PLACEMENT_RULES[rule].place(self)
            except Unavailable as exc:
                cached = exc
            self._placements[rule] = cached
        if isinstance(cached, Unavailable):
            raise cached
        return cached

    def section_placement(self, rule: str, section: Section, description: str) -> Placement:
        end = min(section.end_s, self.duration_s) if self.duration_s > 0 else section.end_s
        return Placement(
            rule=rule,
            start_s=section.start_s,
            end_s=end,
            at_s=section.start_s,
            description=f"{description} {section.name}",
            lufs=section.loudness_lufs,
            section=section,
        )

    def passage_placement(self, rule: str, start_s: float, end_s: float, description: str) -> Placement:
        return Placement(
            rule=rule,
            start_s=start_s,
            end_s=end_s,
            at_s=start_s,
            description=description,
            lufs=self.loudness(start_s, end_s),
            section=self.section_at(start_s),
        )
