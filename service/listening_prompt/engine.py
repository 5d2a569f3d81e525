"""Listening prompts bound to one analysis: where in the track each prompt applies, and the values it quotes.

Pure functions over plain data (the analysis summary, section and downbeat events, frame series and the user's
regions); nothing here reads the database. Conventions: times are in seconds and shown as ``m:ss``; frame ``i`` of a
series is centred on ``i * hop_s``; loudness series are in LUFS, band levels in dBFS, stereo width in ``[0, 1]`` (the
side share of mid-plus-side energy, shown in percent) and correlation in ``[-1, 1]``.

A template's placement rule picks a passage: the point to listen from (``at``) and a span to loop. Every
``{placeholder}`` in its text is bound to a value of the analysis, formatted for people. A template whose rule or any
of whose placeholders has no data for the track (no sections, a mono file, silence, a band above the file's Nyquist
frequency) is skipped with the reason; it is never rendered with a gap. The same input always gives the same output.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BANDS",
    "PLACEHOLDERS",
    "PLACEMENT_RULES",
    "SERIES",
    "AnalysisInput",
    "BoundValue",
    "Placeholder",
    "PlacementRule",
    "Prompt",
    "Region",
    "Rendered",
    "Section",
    "Series",
    "Skipped",
    "TemplateError",
    "TemplateSpec",
    "format_time",
    "placeholders_in",
    "render",
    "series_needed",
    "validate_template",
]

MOMENTARY = "momentary_loudness"
RMS = "rms"
TONAL_BANDS = "tonal_bands"
WIDTH = "stereo_width"
CORRELATION = "stereo_correlation"
CENTROID = "spectral_centroid"
LOCAL_TEMPO = "local_tempo"
SERIES: tuple[str, ...] = (MOMENTARY, RMS, TONAL_BANDS, WIDTH, CORRELATION, CENTROID, LOCAL_TEMPO)

# The producer bands of the analysis (analysis.tonal.BAND_NAMES), in the order of the tonal_bands series.
BANDS: tuple[str, ...] = ("sub", "low", "low_mid", "high_mid", "presence", "air")

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


# ----------------------------------------------------------------------------------------------------------------
# Input and output


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


# ----------------------------------------------------------------------------------------------------------------
# Formatting


def format_time(seconds: float) -> str:
    """``m:ss``, rounded down so that cueing at the shown time never starts after the moment."""
    whole = max(0, math.floor(seconds + 1e-6))
    return f"{whole // 60}:{whole % 60:02d}"


def _signed(value: float, digits: int = 1) -> str:
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _plain(value: float, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _bpm(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _hz(value: float) -> str:
    return f"{value:.0f} Hz" if value < 999.5 else f"{value / 1000.0:.1f} kHz"


def _band_label(name: str, low_hz: float | None = None, high_hz: float | None = None) -> str:
    """``low-mid (250 Hz-2 kHz)``: the band's name as producers write it, with its range when known."""
    label = name.replace("_", "-")
    if low_hz is None or high_hz is None:
        return label
    if high_hz < 1000.0:
        return f"{label} ({low_hz:g}-{high_hz:g} Hz)"
    if low_hz >= 1000.0:
        return f"{label} ({low_hz / 1000.0:g}-{high_hz / 1000.0:g} kHz)"
    return f"{label} ({low_hz:g} Hz-{high_hz / 1000.0:g} kHz)"


def _number(value: float, digits: int = 4) -> float:
    return round(float(value), digits) + 0.0


# ----------------------------------------------------------------------------------------------------------------
# Template text


def placeholders_in(text: str) -> tuple[str, ...]:
    """The placeholder names of ``text`` in order of first use; ``{{`` and ``}}`` are literal braces.

    Raises
    ------
    TemplateError
        For unbalanced braces, empty or positional fields, attribute or index access, conversions and format specs.
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        message = f"prompt_text: {exc} (write {{{{ and }}}} for literal braces)"
        raise TemplateError(message, field="prompt_text") from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise TemplateError(
                f"prompt_text: {{{name}}} is not a placeholder name (letters, digits and underscores)",
                field="prompt_text",
            )
        if spec or conversion:
            raise TemplateError(
                f"prompt_text: {{{name}}} takes no format specification; values are formatted by the engine",
                field="prompt_text",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def validate_template(prompt_text: str, placement_rule: str | None) -> tuple[str, ...]:
    """Check that the engine can render a template; return its placeholders.

    Raises
    ------
    TemplateError
        Naming ``placement_rule`` for an unknown rule, or ``prompt_text`` for malformed text, unknown placeholders
        or placeholders that the rule cannot bind.
    """
    rule = placement_rule or "whole_track"
    if rule not in PLACEMENT_RULES:
        raise TemplateError(
            f"placement_rule: unknown rule {rule!r}; known rules: {', '.join(sorted(PLACEMENT_RULES))}",
            field="placement_rule",
        )
    names = placeholders_in(prompt_text)
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        raise TemplateError(
            "prompt_text: unknown placeholder"
            + ("s " if len(unknown) > 1 else " ")
            + ", ".join(f"{{{name}}}" for name in unknown)
            + "; see GET /v1/listening-prompts/placeholders",
            field="prompt_text",
        )
    for name in names:
        rules = PLACEHOLDERS[name].rules
        if rules is not None and rule not in rules:
            raise TemplateError(
                f"prompt_text: {{{name}}} needs placement_rule {' or '.join(sorted(rules))}, not {rule!r}",
                field="prompt_text",
            )
    return names


def _substitute(text: str, values: Mapping[str, str]) -> str:
    parts: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(text):
        parts.append(literal)
        if name is not None:
            parts.append(values[name])
    return "".join(parts)


# ----------------------------------------------------------------------------------------------------------------
# The analysis, with what the rules derive from it


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


# ----------------------------------------------------------------------------------------------------------------
# Placement rules


@dataclass(frozen=True, slots=True)
class PlacementRule:
    name: str
    description: str
    place: Callable[[_Track], Placement]
    series: frozenset[str] = frozenset()
    stereo: bool = False


def _whole_track(track: _Track) -> Placement:
    return Placement(
        rule="whole_track",
        start_s=0.0,
        end_s=track.duration_s,
        at_s=0.0,
        description="whole track",
        lufs=_opt_float(track.summary.get("lufs_integrated")),
    )


def _extreme_section(track: _Track, rule: str, *, loudest: bool) -> Placement:
    word = "loudest" if loudest else "quietest"
    sections = track.audible_sections
    if len(sections) >= 2:
        if loudest:
            chosen = max(sections, key=lambda s: (s.loudness_lufs or 0.0, -s.start_s))
        else:
            chosen = min(sections, key=lambda s: (s.loudness_lufs or 0.0, s.start_s))
        return track.section_placement(rule, chosen, f"{word} section")
    start, end, _ = track.best_window(
        lambda a, b: track.loudness(a, b), highest=loudest, empty_reason="the track is silent"
    )
    return track.passage_placement(rule, start, end, f"{word} passage")


def _loudest_section(track: _Track) -> Placement:
    return _extreme_section(track, "loudest_section", loudest=True)


def _quietest_section(track: _Track) -> Placement:
    return _extreme_section(track, "quietest_section", loudest=False)


def _first_drop(track: _Track) -> Placement:
    for section in track.sections:
        if section.role == "drop" and section.start_s >= 1.0:
            return track.section_placement("first_drop", section, "first drop section")
    # No section was labelled a drop: the biggest rise in loudness against the passage before it stands in.
    if len(track.downbeats_s) >= 2:
        candidates = list(track.downbeats_s)
    else:
        candidates = [float(t) for t in np.arange(0.0, track.duration_s, _GRID_S / 2)]
    best: tuple[float, float] | None = None
    for t in candidates:
        if t < DROP_CONTEXT_S / 2 or t > track.duration_s - DROP_CONTEXT_S / 2:
            continue
        after = track.loudness(t, min(t + DROP_CONTEXT_S, track.duration_s))
        if after is None:
            continue
        before = track.loudness(max(0.0, t - DROP_CONTEXT_S), t)
        rise = after - (before if before is not None else AUDIBLE_LUFS)
        if best is None or rise > best[1]:
            best = (t, rise)
    if best is None or best[1] < MIN_RISE_LU:
        raise Unavailable(f"no drop: no section is a drop and the loudness never rises by {MIN_RISE_LU:g} LU or more")
    start = best[0]
    return track.passage_placement(
        "first_drop", start, min(start + track.passage_s, track.duration_s), "biggest rise in loudness"
    )


def _first_section_change(track: _Track) -> Placement:
    if len(track.sections) < 2:
        raise Unavailable("the analysis found a single section: there is no section change")
    before, after = track.sections[0], track.sections[1]
    half = track.passage_s / 2.0
    return Placement(
        rule="first_section_change",
        start_s=max(0.0, after.start_s - half),
        end_s=min(track.duration_s, after.start_s + half),
        at_s=after.start_s,
        description=f"first section change, {before.name} to {after.name}",
        lufs=after.loudness_lufs,
        section=after,
    )


def _build(track: _Track) -> Placement:
    for section in track.sections:
        if section.role == "build":
            return track.section_placement("build", section, "build section")
    try:
        drop = track.placement("first_drop")
    except Unavailable as exc:
        raise Unavailable(f"no build: {exc.reason}") from exc
    start = max(0.0, drop.at_s - track.passage_s)
    if drop.at_s - start < DROP_CONTEXT_S / 2:
        raise Unavailable("no build: the first drop comes too early in the track")
    return track.passage_placement("build", start, drop.at_s, "passage into the first drop")


def _breakdown(track: _Track) -> Placement:
    for section in track.sections:
        if section.role == "breakdown":
            return track.section_placement("breakdown", section, "breakdown section")
    inner = track.audible_sections[1:-1] if len(track.sections) >= 3 else ()
    if inner:
        loudest = max(s.loudness_lufs or 0.0 for s in track.audible_sections)
        quietest = min(inner, key=lambda s: (s.loudness_lufs or 0.0, s.start_s))
        if loudest - (quietest.loudness_lufs or 0.0) >= MIN_BREAKDOWN_CONTRAST_LU:
            return track.section_placement("breakdown", quietest, "quietest inner section")
    raise Unavailable(
        f"no breakdown: no section inside the track is {MIN_BREAKDOWN_CONTRAST_LU:g} LU or more below the loudest"
    )


def _intro(track: _Track) -> Placement:
    if len(track.sections) >= 2:
        return track.section_placement("intro", track.sections[0], "first section")
    return track.passage_placement("intro", 0.0, track.passage_s, "opening passage")


def _outro(track: _Track) -> Placement:
    if len(track.sections) >= 2:
        return track.section_placement("outro", track.sections[-1], "last section")
    start = max(0.0, track.duration_s - track.passage_s)
    return track.passage_placement("outro", start, track.duration_s, "closing passage")


def _window_rule(rule: str, series: str, description: str, *, highest: bool) -> Callable[[_Track], Placement]:
    def place(track: _Track) -> Placement:
        start, end, _ = track.best_window(
            lambda a, b: track.active_mean(series, a, b),
            highest=highest,
            empty_reason="the track has no passage with enough sound to measure",
        )
        return track.passage_placement(rule, start, end, description)

    return place


def _tempo_drift(track: _Track) -> Placement:
    bpm = track.bpm
    if bpm is None:
        raise Unavailable("no tempo was detected")

    def drift(a: float, b: float) -> float | None:
        local = track.active_mean(LOCAL_TEMPO, a, b)
        return None if local is None else abs(local - bpm)

    start, end, _ = track.best_window(
        drift, highest=True, empty_reason="the track has no passage with enough sound to measure"
    )
    return track.passage_placement("tempo_drift", start, end, "largest tempo deviation")


def _region(track: _Track) -> Placement:
    regions = track.data.regions
    if track.region_id is not None:
        chosen = next((r for r in regions if r.id == track.region_id), None)
        if chosen is None:
            raise Unavailable("the chosen region is not on this track")
    elif regions:
        chosen = regions[0]
    else:
        # Without a region of the user's, compare the section where most of the mix plays.
        loudest = track.placement("loudest_section")
        name = f"section {loudest.section.name}" if loudest.section is not None else loudest.description
        return Placement(
            rule="region",
            start_s=loudest.start_s,
            end_s=loudest.end_s,
            at_s=loudest.at_s,
            description=loudest.description,
            lufs=loudest.lufs,
            section=loudest.section,
            name=name,
        )
    start, end = max(0.0, chosen.start_s), min(chosen.end_s, track.duration_s)
    if end <= start:
        raise Unavailable("the region lies outside the track")
    placement = track.passage_placement("region", start, end, f"region {chosen.name}")
    return Placement(
        rule="region",
        start_s=start,
        end_s=end,
        at_s=start,
        description=placement.description,
        lufs=placement.lufs,
        section=placement.section,
        name=chosen.name,
        region_id=chosen.id,
    )


def _rules() -> dict[str, PlacementRule]:
    loudness = frozenset({MOMENTARY})
    rules = [
        PlacementRule("whole_track", "The whole track, from the start.", _whole_track),
        PlacementRule(
            "loudest_section",
            "The section with the highest loudness (the loudest 8-bar passage without sections).",
            _loudest_section,
            loudness,
        ),
        PlacementRule(
            "quietest_section",
            "The audible section with the lowest loudness (the quietest 8-bar passage without sections).",
            _quietest_section,
            loudness,
        ),
        PlacementRule(
            "first_drop",
            "The first section with the role drop, else the biggest rise in loudness against the 8 s before it.",
            _first_drop,
            loudness,
        ),
        PlacementRule(
            "first_section_change", "The start of the second section, looped across the change.", _first_section_change
        ),
        PlacementRule(
            "build", "The first section with the role build, else the 8 bars into the first drop.", _build, loudness
        ),
        PlacementRule(
            "breakdown",
            "The first section with the role breakdown, else the quietest inner section when clearly quieter.",
            _breakdown,
            loudness,
        ),
        PlacementRule("intro", "The first section (the opening 8 bars without sections).", _intro, loudness),
        PlacementRule("outro", "The last section (the closing 8 bars without sections).", _outro, loudness),
        PlacementRule(
            "widest_passage",
            "The 8 bars (about 15 s without a tempo) with the widest stereo image.",
            _window_rule("widest_passage", WIDTH, "widest passage", highest=True),
            frozenset({WIDTH, RMS, MOMENTARY}),
            stereo=True,
        ),
        PlacementRule(
            "narrowest_passage",
            "The 8 bars with the narrowest stereo image among those that carry sound.",
            _window_rule("narrowest_passage", WIDTH, "narrowest passage", highest=False),
            frozenset({WIDTH, RMS, MOMENTARY}),
            stereo=True,
        ),
        PlacementRule(
            "lowest_correlation",
            "The 8 bars with the lowest left/right correlation.",
            _window_rule("lowest_correlation", CORRELATION, "least correlated passage", highest=False),
            frozenset({CORRELATION, RMS, MOMENTARY}),
            stereo=True,
        ),
        PlacementRule(
            "brightest_passage",
            "The 8 bars with the highest spectral centroid.",
            _window_rule("brightest_passage", CENTROID, "brightest passage", highest=True),
            frozenset({CENTROID, RMS, MOMENTARY}),
        ),
        PlacementRule(
            "tempo_drift",
            "The 8 bars whose local tempo strays furthest from the track's tempo.",
            _tempo_drift,
            frozenset({LOCAL_TEMPO, RMS, MOMENTARY}),
        ),
        PlacementRule(
            "region",
            "The region chosen in the preset, else the user's first region of the track, else the loudest section.",
            _region,
            loudness,
        ),
    ]
    return {rule.name: rule for rule in rules}


PLACEMENT_RULES: Mapping[str, PlacementRule] = _rules()


# ----------------------------------------------------------------------------------------------------------------
# Placeholders


@dataclass(frozen=True, slots=True)
class _Context:
    track: _Track
    placement: Placement


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    description: str
    unit: str | None
    compute: Callable[[_Context], tuple[float | int | str, str]]
    series: frozenset[str] = frozenset()
    stereo: bool = False
    rules: frozenset[str] | None = None


def _opt_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _summary_value(ctx: _Context, key: str, missing: str) -> float:
    value = _opt_float(ctx.track.summary.get(key))
    if value is None:
        raise Unavailable(missing)
    return value


def _stereo_value(ctx: _Context, key: str) -> float:
    value = _opt_float((ctx.track.summary.get("stereo") or {}).get(key))
    if value is None:
        raise Unavailable(f"the analysis has no stereo {key.replace('_', ' ')}")
    return value


def _time_value(seconds: float) -> tuple[float, str]:
    return _number(seconds, 3), format_time(seconds)


def _ph_at(ctx: _Context) -> tuple[float, str]:
    return _time_value(ctx.placement.at_s)


def _ph_end(ctx: _Context) -> tuple[float, str]:
    return _time_value(ctx.placement.end_s)


def _ph_loop_seconds(ctx: _Context) -> tuple[float, str]:
    length = ctx.placement.end_s - ctx.placement.start_s
    return _number(length, 3), _plain(length)


def _section_here(ctx: _Context) -> Section:
    section = ctx.placement.section or ctx.track.section_at(ctx.placement.at_s)
    if section is None:
        raise Unavailable("the analysis has no sections")
    return section


def _ph_section_label(ctx: _Context) -> tuple[str, str]:
    label = _section_here(ctx).label
    if not label:
        raise Unavailable("the section has no label")
    return label, label


def _ph_section_role(ctx: _Context) -> tuple[str, str]:
    role = _section_here(ctx).role
    if not role:
        raise Unavailable("the section has no role")
    return role, role


def _ph_bpm(ctx: _Context) -> tuple[float, str]:
    if ctx.track.bpm is None:
        raise Unavailable("no tempo was detected")
    return _number(ctx.track.bpm, 2), _bpm(ctx.track.bpm)


def _ph_key(ctx: _Context) -> tuple[str, str]:
    key = ctx.track.summary.get("key")
    if not isinstance(key, str) or not key:
        raise Unavailable("no key was detected")
    return key, key


def _ph_lufs(ctx: _Context) -> tuple[float, str]:
    value = _summary_value(ctx, "lufs_integrated", "the integrated loudness is undefined (silence or a short clip)")
    return _number(value, 2), _signed(value)


def _ph_lra(ctx: _Context) -> tuple[float, str]:
    value = _summary_value(ctx, "loudness_range_lu", "the loudness range is undefined (silence or a short clip)")
    return _number(value, 2), _plain(value)


def _ph_true_peak(ctx: _Context) -> tuple[float, str]:
    value = _summary_value(ctx, "true_peak_dbtp", "the true peak is undefined (digital silence)")
    return _number(value, 2), _signed(value)


def _ph_crest(ctx: _Context) -> tuple[float, str]:
    value = _summary_value(ctx, "crest_factor_db", "the crest factor is undefined (silence)")
    return _number(value, 2), _plain(value)


def _ph_plr(ctx: _Context) -> tuple[float, str]:
    value = _summary_value(ctx, "plr_db", "the peak-to-loudness ratio is undefined (silence or a short clip)")
    return _number(value, 2), _plain(value)


def _ph_tempo_stability(ctx: _Context) -> tuple[float, str]:
    if ctx.track.bpm is None:
        raise Unavailable("no tempo was detected")
    value = 100.0 * _summary_value(ctx, "tempo_stability", "the tempo stability is undefined")
    return _number(value, 1), f"{value:.0f}"


def _many_sections(ctx: _Context) -> tuple[Section, ...]:
    if len(ctx.track.sections) < 2:
        raise Unavailable("the analysis found a single section")
    return ctx.track.sections


def _ph_n_sections(ctx: _Context) -> tuple[int, str]:
    count = len(_many_sections(ctx))
    return count, str(count)


def _ph_section_map(ctx: _Context) -> tuple[str, str]:
    parts = []
    for section in _many_sections(ctx):
        name = section.label or "?"
        if section.role and section.role != "main":
            name += f" {section.role}"
        parts.append(f"{name} at {format_time(section.start_s)}")
    text = ", ".join(parts)
    return text, text


def _ph_duration(ctx: _Context) -> tuple[float, str]:
    return _time_value(ctx.track.duration_s)


def _ph_width_mean(ctx: _Context) -> tuple[float, str]:
    value = 100.0 * _stereo_value(ctx, "width_mean")
    return _number(value, 2), _plain(value)


def _ph_correlation_mean(ctx: _Context) -> tuple[float, str]:
    value = _stereo_value(ctx, "correlation_mean")
    return _number(value, 3), _signed(value, 2)


def _ph_passage_lufs(ctx: _Context) -> tuple[float, str]:
    if ctx.placement.lufs is None:
        raise Unavailable("the passage is silent")
    return _number(ctx.placement.lufs, 2), _signed(ctx.placement.lufs)


def _passage_mean(ctx: _Context, series: str) -> float:
    value = ctx.track.active_mean(series, ctx.placement.start_s, ctx.placement.end_s)
    if value is None:
        raise Unavailable("the passage has too little sound to measure")
    return value


def _ph_width(ctx: _Context) -> tuple[float, str]:
    value = 100.0 * _passage_mean(ctx, WIDTH)
    return _number(value, 2), _plain(value)


def _ph_correlation(ctx: _Context) -> tuple[float, str]:
    value = _passage_mean(ctx, CORRELATION)
    return _number(value, 3), _signed(value, 2)


def _ph_centroid(ctx: _Context) -> tuple[float, str]:
    value = _passage_mean(ctx, CENTROID)
    return _number(value, 1), _hz(value)


def _ph_local_bpm(ctx: _Context) -> tuple[float, str]:
    if ctx.track.bpm is None:
        raise Unavailable("no tempo was detected")
    value = _passage_mean(ctx, LOCAL_TEMPO)
    return _number(value, 2), _bpm(value)


def _ph_drop_gain(ctx: _Context) -> tuple[float, str]:
    at = ctx.placement.at_s
    if at < 2.0:
        raise Unavailable("the passage starts the track: there is nothing before it to compare with")
    after = ctx.track.loudness(at, min(at + DROP_CONTEXT_S, ctx.track.duration_s))
    before = ctx.track.loudness(max(0.0, at - DROP_CONTEXT_S), at)
    if after is None or before is None:
        raise Unavailable("silence around the passage: there is no loudness change to measure")
    return _number(after - before, 2), _signed(after - before)


def _ph_build_gain(ctx: _Context) -> tuple[float, str]:
    start, end = ctx.placement.start_s, ctx.placement.end_s
    quarter = max((end - start) / 4.0, 1.0)
    first = ctx.track.loudness(start, min(start + quarter, end))
    last = ctx.track.loudness(max(end - quarter, start), end)
    if first is None or last is None:
        raise Unavailable("silence in the passage: there is no loudness change to measure")
    return _number(last - first, 2), _signed(last - first)


def _ph_breakdown_drop(ctx: _Context) -> tuple[float, str]:
    loudest = ctx.track.placement("loudest_section").lufs
    if loudest is None or ctx.placement.lufs is None:
        raise Unavailable("the passage is silent")
    difference = max(0.0, loudest - ctx.placement.lufs)
    return _number(difference, 2), _plain(difference)


def _ph_quiet_at(ctx: _Context) -> tuple[float, str]:
    return _time_value(ctx.track.placement("quietest_section").at_s)


def _ph_loud_at(ctx: _Context) -> tuple[float, str]:
    return _time_value(ctx.track.placement("loudest_section").at_s)


def _pink_reference_db(bands: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Share of each available band under equal energy per octave (pink noise), in dB of the total."""
    octaves = {
        str(b["name"]): math.log2(float(b["high_hz"]) / float(b["low_hz"]))
        for b in bands
        if b.get("relative_db") is not None and b.get("low_hz") and b.get("high_hz")
    }
    total = sum(octaves.values())
    return {name: 10.0 * math.log10(value / total) for name, value in octaves.items()}


def _hot_band(ctx: _Context) -> tuple[dict[str, Any], float]:
    bands = ctx.track.bands()
    reference = _pink_reference_db(bands)
    if not reference:
        raise Unavailable("the analysis has no tonal balance (silence)")
    best: tuple[dict[str, Any], float] | None = None
    for band in bands:
        name = str(band.get("name"))
        if name in reference:
            excess = float(band["relative_db"]) - reference[name]
            if best is None or excess > best[1]:
                best = (band, excess)
    if best is None:
        raise Unavailable("the analysis has no tonal balance (silence)")
    return best


def _ph_hot_band(ctx: _Context) -> tuple[str, str]:
    band, _ = _hot_band(ctx)
    return str(band["name"]), _band_label(str(band["name"]), band.get("low_hz"), band.get("high_hz"))


def _ph_hot_band_delta(ctx: _Context) -> tuple[float, str]:
    _, excess = _hot_band(ctx)
    return _number(excess, 2), _signed(excess)


def _ph_region_name(ctx: _Context) -> tuple[str, str]:
    if ctx.placement.region_id is not None and ctx.placement.name is not None:
        return ctx.placement.name, f"the region \u201c{ctx.placement.name}\u201d"
    name = ctx.placement.name or ctx.placement.description
    return name, name


def _band_delta(band: str) -> Callable[[_Context], tuple[float | int | str, str]]:
    def compute(ctx: _Context) -> tuple[float | int | str, str]:
        index, summary = ctx.track.band(band)
        power = float(ctx.track.band_powers(ctx.placement.start_s, ctx.placement.end_s)[index])
        level = 10.0 * math.log10(max(power, 1e-12))
        delta = level - float(summary["level_dbfs"])
        return _number(delta, 2), _signed(delta)

    return compute


def _band_share(band: str) -> Callable[[_Context], tuple[float | int | str, str]]:
    def compute(ctx: _Context) -> tuple[float | int | str, str]:
        index, _ = ctx.track.band(band)
        powers = ctx.track.band_powers(ctx.placement.start_s, ctx.placement.end_s)
        available = [i for i, b in enumerate(ctx.track.bands()) if b.get("level_dbfs") is not None]
        total = float(np.sum(powers[available]))
        if total <= 1e-12:
            raise Unavailable("the passage is silent")
        share = 100.0 * float(powers[index]) / total
        return _number(share, 2), _plain(share)

    return compute


def _band_width(band: str) -> Callable[[_Context], tuple[float | int | str, str]]:
    def compute(ctx: _Context) -> tuple[float | int | str, str]:
        for entry in (ctx.track.summary.get("stereo") or {}).get("bands") or []:
            if isinstance(entry, dict) and entry.get("name") == band and _opt_float(entry.get("width")) is not None:
                value = 100.0 * float(entry["width"])
                return _number(value, 2), _plain(value)
        raise Unavailable(f"the analysis has no stereo width for the {_band_label(band)} band")

    return compute


def _placeholders() -> dict[str, Placeholder]:
    loudness = frozenset({MOMENTARY})
    items = [
        Placeholder("at", "Where to listen from (the placement's start), m:ss", "s", _ph_at),
        Placeholder("end", "Where the loop ends, m:ss", "s", _ph_end),
        Placeholder("loop_seconds", "Length of the loop in seconds", "s", _ph_loop_seconds),
        Placeholder("section_label", "Letter of the section at the placement (A, B, ...)", None, _ph_section_label),
        Placeholder("section_role", "Role of the section at the placement (intro, drop, ...)", None, _ph_section_role),
        Placeholder("duration", "Length of the track, m:ss", "s", _ph_duration),
        Placeholder("bpm", "Tempo of the track", "BPM", _ph_bpm),
        Placeholder("key", "Key of the track, e.g. A minor", None, _ph_key),
        Placeholder("lufs", "Integrated loudness of the track", "LUFS", _ph_lufs),
        Placeholder("lra_lu", "Loudness range (EBU R128 LRA) of the track", "LU", _ph_lra),
        Placeholder("true_peak_dbtp", "True peak of the track", "dBTP", _ph_true_peak),
        Placeholder("crest_db", "Crest factor (peak over RMS) of the track", "dB", _ph_crest),
        Placeholder("plr_db", "Peak-to-loudness ratio of the track", "dB", _ph_plr),
        Placeholder("tempo_stability_pct", "Share of beats within 4 % of the track's tempo", "%", _ph_tempo_stability),
        Placeholder("n_sections", "Number of sections (at least two)", None, _ph_n_sections),
        Placeholder("section_map", "Every section: letter, role and start time", None, _ph_section_map),
        Placeholder("width_mean_pct", "Mean stereo width of the track (side share)", "%", _ph_width_mean, stereo=True),
        Placeholder(
            "correlation_mean", "Mean left/right correlation of the track", None, _ph_correlation_mean, stereo=True
        ),
        Placeholder(
            "passage_lufs",
            "Loudness of the placement (the section's, or the passage's momentary loudness)",
            "LUFS",
            _ph_passage_lufs,
            loudness,
        ),
        Placeholder(
            "width_pct",
            "Mean stereo width (side share) of the passage",
            "%",
            _ph_width,
            frozenset({WIDTH, RMS}),
            stereo=True,
        ),
        Placeholder(
            "correlation",
            "Mean left/right correlation of the passage",
            None,
            _ph_correlation,
            frozenset({CORRELATION, RMS}),
            stereo=True,
        ),
        Placeholder(
            "centroid_hz",
            "Mean spectral centroid (brightness) of the passage, with its unit",
            "Hz",
            _ph_centroid,
            frozenset({CENTROID, RMS}),
        ),
        Placeholder(
            "local_bpm", "Mean local tempo of the passage", "BPM", _ph_local_bpm, frozenset({LOCAL_TEMPO, RMS})
        ),
        Placeholder(
            "drop_gain_lu",
            "Loudness of the 8 s from the placement against the 8 s before it",
            "LU",
            _ph_drop_gain,
            loudness,
        ),
        Placeholder(
            "build_gain_lu",
            "Loudness of the loop's last quarter against its first quarter",
            "LU",
            _ph_build_gain,
            loudness,
        ),
        Placeholder(
            "breakdown_drop_lu",
            "How far the placement sits below the loudest section",
            "LU",
            _ph_breakdown_drop,
            loudness,
        ),
        Placeholder("quiet_at", "Start of the quietest section, m:ss", "s", _ph_quiet_at, loudness),
        Placeholder("loud_at", "Start of the loudest section, m:ss", "s", _ph_loud_at, loudness),
        Placeholder("hot_band", "The band furthest above a pink-noise balance, with its range", None, _ph_hot_band),
        Placeholder(
            "hot_band_delta_db", "How far the hot band sits above a pink-noise balance", "dB", _ph_hot_band_delta
        ),
        Placeholder(
            "region_name",
            "Name of the region (or of the section standing in for it)",
            None,
            _ph_region_name,
            rules=frozenset({"region"}),
        ),
    ]
    for band in BANDS:
        label = _band_label(band)
        items.extend(
            [
                Placeholder(
                    f"{band}_delta_db",
                    f"Level of the {label} band in the passage against its track average",
                    "dB",
                    _band_delta(band),
                    frozenset({TONAL_BANDS}),
                ),
                Placeholder(
                    f"{band}_share_pct",
                    f"Share of the passage's energy in the {label} band",
                    "%",
                    _band_share(band),
                    frozenset({TONAL_BANDS}),
                ),
                Placeholder(
                    f"{band}_width_pct",
                    f"Stereo width (side share) of the {label} band over the track",
                    "%",
                    _band_width(band),
                    stereo=True,
                ),
            ]
        )
    return {item.name: item for item in items}


PLACEHOLDERS: Mapping[str, Placeholder] = _placeholders()


# ----------------------------------------------------------------------------------------------------------------
# Rendering


def _needs_stereo(template: TemplateSpec, names: Iterable[str]) -> bool:
    rule = PLACEMENT_RULES.get(template.placement_rule or "whole_track")
    return (
        template.category in STEREO_CATEGORIES
        or (rule is not None and rule.stereo)
        or any(PLACEHOLDERS[name].stereo for name in names if name in PLACEHOLDERS)
    )


def series_needed(templates: Iterable[TemplateSpec]) -> frozenset[str]:
    """The frame series the given templates read, so callers load only those."""
    needed: set[str] = set()
    for template in templates:
        rule = PLACEMENT_RULES.get(template.placement_rule or "whole_track")
        if rule is not None:
            needed |= rule.series
        try:
            names = placeholders_in(template.prompt_text)
        except TemplateError:
            continue
        for name in names:
            placeholder = PLACEHOLDERS.get(name)
            if placeholder is not None:
                needed |= placeholder.series
                # Values measured over a passage found by a rule also read what that rule reads.
                if name in ("breakdown_drop_lu", "loud_at", "quiet_at"):
                    needed |= PLACEMENT_RULES["loudest_section"].series
    if needed & {WIDTH, CORRELATION, CENTROID, LOCAL_TEMPO}:
        needed.add(RMS)
    return frozenset(needed)


def _render_one(template: TemplateSpec, track: _Track) -> Prompt:
    try:
        names = validate_template(template.prompt_text, template.placement_rule)
    except TemplateError as exc:
        raise Unavailable(f"the template cannot be rendered: {exc.message}") from exc
    if track.silent:
        raise Unavailable("the track is silent")
    if _needs_stereo(template, names):
        problem = track.stereo_problem()
        if problem is not None:
            raise Unavailable(problem)
    rule = template.placement_rule or "whole_track"
    placement = track.placement(rule)
    context = _Context(track=track, placement=placement)
    values = []
    for name in names:
        placeholder = PLACEHOLDERS[name]
        value, text = placeholder.compute(context)
        values.append(BoundValue(name=name, value=value, text=text, unit=placeholder.unit))
    return Prompt(
        template_key=template.key,
        category=template.category,
        name=template.name,
        text=_substitute(template.prompt_text, {v.name: v.text for v in values}),
        at_s=_number(placement.at_s, 3),
        loop_start_s=_number(placement.start_s, 3),
        loop_end_s=_number(placement.end_s, 3),
        placement_rule=rule,
        placement=placement.description,
        values=tuple(values),
    )


def render(templates: Sequence[TemplateSpec], data: AnalysisInput, *, region_id: str | None = None) -> Rendered:
    """Render ``templates`` in the given order against one analysis.

    Parameters
    ----------
    templates : sequence of TemplateSpec
        The templates to render; the output keeps their order.
    data : AnalysisInput
        The analysis summary, its section and downbeat events, the frame series of :func:`series_needed` and the
        user's regions of the track.
    region_id : str, optional
        The region the ``region`` rule places prompts on; without it, the first region, else the loudest section.

    Returns
    -------
    Rendered
        The rendered prompts, and the skipped templates with the reason each could not be rendered.
    """
    track = _Track(data, region_id=region_id)
    prompts: list[Prompt] = []
    skipped: list[Skipped] = []
    for template in templates:
        try:
            prompts.append(_render_one(template, track))
        except Unavailable as exc:
            skipped.append(Skipped(template_key=template.key, category=template.category, reason=exc.reason))
    return Rendered(prompts=tuple(prompts), skipped=tuple(skipped))
