"""The engine's input and output: plain frozen dataclasses."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.listening_prompt.engine.base import FloatArray


@dataclass(frozen=True, slots=True)
class Section:
    """A section event of the analysis (its payload's role and loudness)."""

    start_s: float
    duration_s: float
    label: str | None = None
    role: str | None = None
    loudness_lufs: float | None = None

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def name(self) -> str:
        """``B (drop)``: the letter, and the role when it says more than "main"."""
        label = self.label or "?"
        return f"{label} ({self.role})" if self.role and self.role != "main" else label


@dataclass(frozen=True, slots=True)
class Series:
    """A frame series: ``values`` is ``(n_frames, dims)``, frame ``i`` centred on ``i * hop_s``."""

    hop_s: float
    values: FloatArray

    def column(self, dim: int = 0) -> FloatArray:
        column: FloatArray = self.values[:, dim]
        return column

    def span(self, start_s: float, end_s: float) -> slice:
        """Frames centred in ``[start_s, end_s)``; at least the nearest frame when the span is shorter than a hop."""
        n = int(self.values.shape[0])
        first = min(max(math.ceil(start_s / self.hop_s - 1e-9), 0), n)
        last = min(max(math.ceil(end_s / self.hop_s - 1e-9), first), n)
        if last == first and n:
            first = min(max(round(start_s / self.hop_s), 0), n - 1)
            last = first + 1
        return slice(first, last)


@dataclass(frozen=True, slots=True)
class Region:
    """A region the user marked on the track."""

    id: str
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class AnalysisInput:
    """Everything the engine reads from one analysis. ``regions`` are in the user's order."""

    summary: Mapping[str, Any]
    sections: tuple[Section, ...] = ()
    downbeats_s: tuple[float, ...] = ()
    series: Mapping[str, Series] = field(default_factory=dict)
    regions: tuple[Region, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    key: str
    category: str
    name: str
    prompt_text: str
    placement_rule: str | None


@dataclass(frozen=True, slots=True)
class BoundValue:
    """One placeholder's value: ``value`` as measured (rounded for JSON), ``text`` as it appears in the prompt."""

    name: str
    value: float | int | str
    text: str
    unit: str | None


@dataclass(frozen=True, slots=True)
class Placement:
    rule: str
    start_s: float
    end_s: float
    at_s: float
    description: str
    lufs: float | None = None
    section: Section | None = None
    name: str | None = None
    region_id: str | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    template_key: str
    category: str
    name: str
    text: str
    at_s: float
    loop_start_s: float
    loop_end_s: float
    placement_rule: str
    placement: str
    values: tuple[BoundValue, ...]


@dataclass(frozen=True, slots=True)
class Skipped:
    template_key: str
    category: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rendered:
    prompts: tuple[Prompt, ...]
    skipped: tuple[Skipped, ...]
