"""Placeholders: the values of the analysis a template quotes."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from service.listening_prompt.engine.base import (
    BANDS,
    CENTROID,
    CORRELATION,
    DROP_CONTEXT_S,
    LOCAL_TEMPO,
    MOMENTARY,
    RMS,
    TONAL_BANDS,
    WIDTH,
    Unavailable,
)
from service.listening_prompt.engine.data import Placement, Section
from service.listening_prompt.engine.formatting import (
    _band_label,
    _bpm,
    _hz,
    _number,
    _opt_float,
    _plain,
    _signed,
    format_time,
)

if TYPE_CHECKING:
    from service.listening_prompt.engine.track import _Track


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


def _band_in_passage(ctx: _Context, band: str) -> tuple[int, dict[str, Any], npt.NDArray[np.float64]]:
    """The band's index and summary, and the mean power of every band over the passage."""
    index, summary = ctx.track.band(band)
    return index, summary, ctx.track.band_powers(ctx.placement.start_s, ctx.placement.end_s)


def _ph_band_delta(ctx: _Context, band: str) -> tuple[float, str]:
    index, summary, powers = _band_in_passage(ctx, band)
    level = 10.0 * math.log10(max(float(powers[index]), 1e-12))
    delta = level - float(summary["level_dbfs"])
    return _number(delta, 2), _signed(delta)


def _ph_band_share(ctx: _Context, band: str) -> tuple[float, str]:
    index, _, powers = _band_in_passage(ctx, band)
    available = [i for i, b in enumerate(ctx.track.bands()) if b.get("level_dbfs") is not None]
    total = float(np.sum(powers[available]))
    if total <= 1e-12:
        raise Unavailable("the passage is silent")
    share = 100.0 * float(powers[index]) / total
    return _number(share, 2), _plain(share)


def _ph_band_width(ctx: _Context, band: str) -> tuple[float, str]:
    for entry in (ctx.track.summary.get("stereo") or {}).get("bands") or []:
        if isinstance(entry, dict) and entry.get("name") == band and _opt_float(entry.get("width")) is not None:
            value = 100.0 * float(entry["width"])
            return _number(value, 2), _plain(value)
    raise Unavailable(f"the analysis has no stereo width for the {_band_label(band)} band")


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
                    partial(_ph_band_delta, band=band),
                    frozenset({TONAL_BANDS}),
                ),
                Placeholder(
                    f"{band}_share_pct",
                    f"Share of the passage's energy in the {label} band",
                    "%",
                    partial(_ph_band_share, band=band),
                    frozenset({TONAL_BANDS}),
                ),
                Placeholder(
                    f"{band}_width_pct",
                    f"Stereo width (side share) of the {label} band over the track",
                    "%",
                    partial(_ph_band_width, band=band),
                    stereo=True,
                ),
            ]
        )
    return {item.name: item for item in items}


PLACEHOLDERS: Mapping[str, Placeholder] = _placeholders()
