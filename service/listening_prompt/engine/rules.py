"""Placement rules: where in the track a template applies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from service.listening_prompt.engine.base import (
    _GRID_S,
    AUDIBLE_LUFS,
    CENTROID,
    CORRELATION,
    DROP_CONTEXT_S,
    LOCAL_TEMPO,
    MIN_BREAKDOWN_CONTRAST_LU,
    MIN_RISE_LU,
    MOMENTARY,
    RMS,
    WIDTH,
    Unavailable,
)
from service.listening_prompt.engine.data import Placement
from service.listening_prompt.engine.formatting import _opt_float

if TYPE_CHECKING:
    from service.listening_prompt.engine.track import _Track


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
        return replace(loudest, rule="region", name=name)
    start, end = max(0.0, chosen.start_s), min(chosen.end_s, track.duration_s)
    if end <= start:
        raise Unavailable("the region lies outside the track")
    placement = track.passage_placement("region", start, end, f"region {chosen.name}")
    return replace(placement, name=chosen.name, region_id=chosen.id)


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
