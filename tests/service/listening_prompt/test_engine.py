"""The prompt engine on its own: placement rules, placeholders and formatting, without HTTP or a database."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest

from analysis import TrackAnalysis, analyze
from service.listening_prompt import engine
from tests.fixtures.audio import click_track
from tests.service.listening_prompt.conftest import analysis_input, seeded_templates

HOP = 0.1
BAND_LEVELS = (-30.0, -20.0, -22.0, -30.0, -35.0, -40.0)
BAND_EDGES = ((20.0, 60.0), (60.0, 250.0), (250.0, 2000.0), (2000.0, 6000.0), (6000.0, 12000.0), (12000.0, 20000.0))


def template(
    text: str, rule: str | None = "whole_track", *, key: str = "t", category: str = "test"
) -> engine.TemplateSpec:
    return engine.TemplateSpec(key=key, category=category, name=key, prompt_text=text, placement_rule=rule)


def constant(duration: float, value: float, *, dims: int = 1) -> np.ndarray:
    return np.full((round(duration / HOP), dims), value, dtype=np.float32)


def set_span(series: np.ndarray, start: float, end: float, value: float | tuple[float, ...], column: int = 0) -> None:
    rows = slice(math.ceil(start / HOP - 1e-9), math.ceil(end / HOP - 1e-9))
    if isinstance(value, tuple):
        series[rows, :] = value
    else:
        series[rows, column] = value


def track(
    *,
    duration: float = 64.0,
    bpm: float = 120.0,
    sections: tuple[engine.Section, ...] = (),
    series: dict[str, np.ndarray] | None = None,
    regions: tuple[engine.Region, ...] = (),
    **summary: Any,
) -> engine.AnalysisInput:
    """A synthetic analysis: 120 BPM in 4/4 (8 bars = 16 s, a downbeat every 2 s), stereo, steady unless told."""
    powers = [10 ** (level / 10) for level in BAND_LEVELS]
    total = sum(powers)
    base: dict[str, Any] = {
        "duration_s": duration,
        "channels": 2,
        "bpm": bpm,
        "time_signature": 4,
        "tempo_stability": 0.95,
        "key": "A minor",
        "lufs_integrated": -14.04,
        "loudness_range_lu": 5.55,
        "momentary_max_lufs": -10.0,
        "true_peak_dbtp": 0.26,
        "crest_factor_db": 12.34,
        "plr_db": 14.3,
        "tonal_balance": {
            "bands": [
                {
                    "name": name,
                    "low_hz": edges[0],
                    "high_hz": edges[1],
                    "level_dbfs": level,
                    "relative_db": 10 * math.log10(power / total),
                    "share_pct": 100 * power / total,
                }
                for name, edges, level, power in zip(engine.BANDS, BAND_EDGES, BAND_LEVELS, powers, strict=True)
            ]
        },
        "stereo": {
            "width_mean": 0.12,
            "correlation_mean": 0.8,
            "side_to_mid_db": -9.0,
            "bands": [
                {"name": name, "width": 0.01 * (i + 1), "correlation": 0.9} for i, name in enumerate(engine.BANDS)
            ],
        },
    }
    base.update(summary)
    values = {
        engine.MOMENTARY: constant(duration, -14.0),
        engine.RMS: constant(duration, -20.0),
        engine.TONAL_BANDS: np.tile(np.asarray(BAND_LEVELS, dtype=np.float32), (round(duration / HOP), 1)),
        engine.WIDTH: constant(duration, 0.1),
        engine.CORRELATION: constant(duration, 0.8),
        engine.CENTROID: constant(duration, 1500.0),
        engine.LOCAL_TEMPO: constant(duration, bpm),
    }
    values.update(series or {})
    return engine.AnalysisInput(
        summary=base,
        sections=sections,
        downbeats_s=tuple(float(t) for t in np.arange(0.0, duration, 4 * 60.0 / bpm)) if bpm > 0 else (),
        series={name: engine.Series(hop_s=HOP, values=array) for name, array in values.items()},
        regions=regions,
    )


def render_one(spec: engine.TemplateSpec, data: engine.AnalysisInput, **kwargs: Any) -> engine.Prompt:
    rendered = engine.render([spec], data, **kwargs)
    assert rendered.skipped == (), rendered.skipped
    return rendered.prompts[0]


def skip_reason(spec: engine.TemplateSpec, data: engine.AnalysisInput, **kwargs: Any) -> str:
    rendered = engine.render([spec], data, **kwargs)
    assert rendered.prompts == ()
    return rendered.skipped[0].reason


def values(prompt: engine.Prompt) -> dict[str, engine.BoundValue]:
    return {v.name: v for v in prompt.values}


SONG_SECTIONS = (
    engine.Section(0.0, 16.0, "A", "intro", -24.0),
    engine.Section(16.0, 16.0, "B", "drop", -11.0),
    engine.Section(32.0, 16.0, "C", "breakdown", -21.5),
    engine.Section(48.0, 16.0, "B", "drop", -10.5),
)


# ----------------------------------------------------------------------------------------------------------------
# Template text


def test_placeholders_are_listed_in_order_of_first_use_and_double_braces_are_literal() -> None:
    # when
    names = engine.placeholders_in("At {at}, {lufs} LUFS; again {at} and {{not_a_placeholder}}")
    # then
    assert names == ("at", "lufs")


@pytest.mark.parametrize(
    "text", ["Listen at {at", "Listen at at}", "{}", "{0}", "{at.x}", "{at[0]}", "{at:>8}", "{at!r}"]
)
def test_malformed_text_is_refused_naming_prompt_text(text: str) -> None:
    # when
    with pytest.raises(engine.TemplateError) as caught:
        engine.validate_template(text, "whole_track")
    # then
    assert caught.value.field == "prompt_text"


def test_unknown_rule_is_refused_naming_placement_rule() -> None:
    # when
    with pytest.raises(engine.TemplateError) as caught:
        engine.validate_template("At {at}", "loudest_chorus")
    # then
    assert caught.value.field == "placement_rule"
    assert "'loudest_chorus'" in caught.value.message


def test_unknown_placeholders_are_named() -> None:
    # when
    with pytest.raises(engine.TemplateError) as caught:
        engine.validate_template("At {at} the {snare_db} and {vocal_level}", "loudest_section")
    # then
    assert caught.value.field == "prompt_text"
    assert "{snare_db}, {vocal_level}" in caught.value.message


def test_region_name_needs_the_region_rule() -> None:
    # when
    with pytest.raises(engine.TemplateError) as caught:
        engine.validate_template("Loop {region_name}", "loudest_section")
    # then
    assert caught.value.field == "prompt_text"
    # and with the region rule it is fine
    assert engine.validate_template("Loop {region_name}", "region") == ("region_name",)


def test_no_rule_means_whole_track() -> None:
    # when
    prompt = render_one(template("From {at} to {end}", None), track())
    # then
    assert prompt.placement_rule == "whole_track"
    assert prompt.text == "From 0:00 to 1:04"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.0, "0:00"), (9.99, "0:09"), (59.9999999, "1:00"), (65.4, "1:05"), (3601.0, "60:01")]
)
def test_times_are_minutes_and_seconds_rounded_down(seconds: float, text: str) -> None:
    assert engine.format_time(seconds) == text


# ----------------------------------------------------------------------------------------------------------------
# The seeded templates against a real analysis


def test_seeded_templates_cover_every_area_and_validate() -> None:
    # given
    specs = seeded_templates()
    # when
    for spec in specs:
        engine.validate_template(spec.prompt_text, spec.placement_rule)
    # then
    assert Counter(spec.category for spec in specs) == {
        "low_end": 3,
        "dynamics": 4,
        "stereo": 3,
        "tonal_balance": 4,
        "arrangement": 4,
        "groove": 3,
        "vocal_lead": 2,
        "reference": 1,
    }


def _section_events(result: TrackAnalysis) -> list[dict[str, Any]]:
    return [s for s in result.summary()["sections"] if isinstance(s, dict)]


def test_every_seeded_template_renders_against_a_song_with_the_analysis_values(song_analysis: TrackAnalysis) -> None:
    # given
    specs = seeded_templates()
    data = analysis_input(song_analysis)
    summary = data.summary
    sections = _section_events(song_analysis)
    loudest = max(sections, key=lambda s: s["loudness_lufs"])
    quietest = min(sections, key=lambda s: s["loudness_lufs"])
    drop = next(s for s in sections if s["role"] == "drop")
    breakdown = next(s for s in sections if s["role"] == "breakdown")
    # when
    rendered = engine.render(specs, data)
    # then: everything renders, with no placeholder left
    assert rendered.skipped == ()
    assert [p.template_key for p in rendered.prompts] == [s.key for s in specs]
    for prompt in rendered.prompts:
        assert "{" not in prompt.text, prompt.text
        assert "}" not in prompt.text, prompt.text
        assert (
            prompt.loop_start_s <= prompt.at_s <= prompt.loop_end_s or prompt.placement_rule == "first_section_change"
        )
        assert 0.0 <= prompt.loop_start_s < prompt.loop_end_s <= summary["duration_s"] + 1e-3
        for value in prompt.values:
            assert value.text in prompt.text, (prompt.template_key, value)
    by_key = {p.template_key: p for p in rendered.prompts}
    # and the numbers are the analysis's
    dynamics_range = values(by_key["dynamics_range"])
    assert dynamics_range["lufs"].value == round(summary["lufs_integrated"], 2)
    assert dynamics_range["lufs"].text == f"{summary['lufs_integrated']:+.1f}"
    assert dynamics_range["lra_lu"].text == f"{summary['loudness_range_lu']:.1f}"
    assert dynamics_range["loud_at"].value == round(loudest["start_s"], 3)
    assert dynamics_range["quiet_at"].value == round(quietest["start_s"], 3)
    assert values(by_key["dynamics_true_peak"])["true_peak_dbtp"].text == f"{summary['true_peak_dbtp']:+.1f}"
    crest = values(by_key["dynamics_crest"])
    assert crest["crest_db"].text == f"{summary['crest_factor_db']:.1f}"
    assert crest["plr_db"].text == f"{summary['plr_db']:.1f}"
    assert crest["passage_lufs"].value == loudest["loudness_lufs"]
    assert values(by_key["groove_tempo"])["bpm"].value == round(summary["bpm"], 2)
    assert values(by_key["low_end_sub_weight"])["key"].text == summary["key"] == "F minor"
    assert values(by_key["groove_stability"])["tempo_stability_pct"].text == f"{100 * summary['tempo_stability']:.0f}"
    assert values(by_key["arrangement_sections"])["n_sections"].value == len(sections) == 5
    assert values(by_key["arrangement_sections"])["section_map"].text == ", ".join(
        f"{s['label']} {s['role']} at {engine.format_time(s['start_s'])}" for s in sections
    )
    # and the placements follow the sections
    for key in ("low_end_kick_bass", "dynamics_crest", "dynamics_true_peak", "stereo_centre", "vocal_presence"):
        assert by_key[key].at_s == round(loudest["start_s"], 3)
        assert by_key[key].loop_end_s == round(loudest["start_s"] + loudest["duration_s"], 3)
    for key in ("low_end_sub_weight", "dynamics_drop_impact", "groove_downbeat"):
        assert by_key[key].at_s == round(drop["start_s"], 3)
    assert by_key["arrangement_breakdown"].at_s == round(breakdown["start_s"], 3)
    assert values(by_key["arrangement_breakdown"])["breakdown_drop_lu"].text == (
        f"{loudest['loudness_lufs'] - breakdown['loudness_lufs']:.1f}"
    )
    assert by_key["arrangement_intro"].at_s == round(sections[1]["start_s"], 3)
    assert by_key["dynamics_range"].at_s == 0.0
    # and the stereo values are the analysis's per-band widths
    bands = {b["name"]: b for b in summary["stereo"]["bands"]}
    mono = values(by_key["low_end_mono"])
    assert mono["sub_width_pct"].text == f"{100 * bands['sub']['width']:.1f}"
    assert mono["low_width_pct"].text == f"{100 * bands['low']['width']:.1f}"
    assert values(by_key["stereo_width"])["width_mean_pct"].text == f"{100 * summary['stereo']['width_mean']:.1f}"


def test_hot_band_is_the_one_furthest_above_pink_noise(song_analysis: TrackAnalysis) -> None:
    # given
    data = analysis_input(song_analysis)
    bands = data.summary["tonal_balance"]["bands"]
    octaves = {b["name"]: math.log2(b["high_hz"] / b["low_hz"]) for b in bands}
    excess = {b["name"]: b["relative_db"] - 10 * math.log10(octaves[b["name"]] / sum(octaves.values())) for b in bands}
    hot = max(excess, key=lambda name: excess[name])
    # when
    prompt = render_one(template("{hot_band} is {hot_band_delta_db} dB hot"), data)
    # then
    assert values(prompt)["hot_band"].value == hot
    assert values(prompt)["hot_band_delta_db"].text == f"{excess[hot]:+.1f}"


def test_rendering_is_deterministic(song_analysis: TrackAnalysis) -> None:
    # given
    specs = seeded_templates()
    # when
    first = engine.render(specs, analysis_input(song_analysis))
    second = engine.render(specs, analysis_input(song_analysis))
    # then
    assert first == second


def test_stereo_templates_are_skipped_for_a_mono_file() -> None:
    # given
    result = analyze(click_track(bpm=120, seconds=24, sr=22050, channels=1), sr=22050)
    specs = seeded_templates()
    # when
    rendered = engine.render(specs, analysis_input(result))
    # then
    reasons = {s.template_key: s.reason for s in rendered.skipped}
    mono = "the track is mono: there is no stereo image to listen to"
    for key in ("stereo_width", "stereo_correlation", "stereo_centre", "low_end_mono"):
        assert reasons[key] == mono
    rendered_keys = {p.template_key for p in rendered.prompts}
    assert {"dynamics_true_peak", "groove_tempo", "tonal_low_mid"} <= rendered_keys
    assert len(rendered.prompts) + len(rendered.skipped) == len(specs)
    for prompt in rendered.prompts:
        assert "{" not in prompt.text
        assert "}" not in prompt.text


def test_every_template_is_skipped_for_silence() -> None:
    # given
    result = analyze(np.zeros((2, 22050 * 5), dtype=np.float32), sr=22050)
    specs = seeded_templates()
    # when
    rendered = engine.render(specs, analysis_input(result))
    # then
    assert rendered.prompts == ()
    assert [(s.template_key, s.reason) for s in rendered.skipped] == [(s.key, "the track is silent") for s in specs]


def test_dual_mono_skips_stereo_templates() -> None:
    # given
    data = track(stereo={"width_mean": 0.0, "correlation_mean": 1.0, "side_to_mid_db": None, "bands": []})
    # when
    reason = skip_reason(template("At {at}", "loudest_section", category="stereo"), data)
    # then
    assert reason == "the two channels are identical (dual mono): there is no stereo image to listen to"


# ----------------------------------------------------------------------------------------------------------------
# Placement rules on synthetic analyses


def test_section_rules_follow_roles_and_loudness() -> None:
    # given
    data = track(sections=SONG_SECTIONS)
    # when
    placed = {
        rule: render_one(template("{at}-{end}", rule), data)
        for rule in ("loudest_section", "quietest_section", "first_drop", "breakdown", "intro", "outro")
    }
    # then
    assert {rule: (p.at_s, p.loop_start_s, p.loop_end_s) for rule, p in placed.items()} == {
        "loudest_section": (48.0, 48.0, 64.0),
        "quietest_section": (0.0, 0.0, 16.0),
        "first_drop": (16.0, 16.0, 32.0),
        "breakdown": (32.0, 32.0, 48.0),
        "intro": (0.0, 0.0, 16.0),
        "outro": (48.0, 48.0, 64.0),
    }
    assert placed["loudest_section"].placement == "loudest section B (drop)"
    assert placed["breakdown"].placement == "breakdown section C (breakdown)"


def test_first_section_change_loops_across_the_change() -> None:
    # when
    prompt = render_one(template("{at}", "first_section_change"), track(sections=SONG_SECTIONS))
    # then
    assert (prompt.at_s, prompt.loop_start_s, prompt.loop_end_s) == (16.0, 8.0, 24.0)
    assert prompt.placement == "first section change, A (intro) to B (drop)"


def test_breakdown_falls_back_to_the_quietest_inner_section_when_clearly_quieter() -> None:
    # given
    sections = (
        engine.Section(0.0, 16.0, "A", "main", -20.0),
        engine.Section(16.0, 16.0, "B", "main", -12.0),
        engine.Section(32.0, 16.0, "C", "main", -25.0),
        engine.Section(48.0, 16.0, "D", "main", -13.0),
    )
    spec = template("{at} is {breakdown_drop_lu} LU down", "breakdown")
    # when
    prompt = render_one(spec, track(sections=sections))
    # then
    assert prompt.text == "0:32 is 13.0 LU down"
    # and without contrast there is no breakdown
    flat = tuple(engine.Section(s.start_s, s.duration_s, s.label, "main", -12.0) for s in sections)
    assert skip_reason(spec, track(sections=flat)) == (
        "no breakdown: no section inside the track is 3 LU or more below the loudest"
    )


def test_first_drop_without_sections_is_the_biggest_rise_in_loudness() -> None:
    # given
    momentary = constant(64.0, -30.0)
    set_span(momentary, 24.0, 64.0, -12.0)
    spec = template("Into {at}: {drop_gain_lu} LU", "first_drop")
    # when
    prompt = render_one(spec, track(series={engine.MOMENTARY: momentary}))
    # then
    assert prompt.text == "Into 0:24: +18.0 LU"
    assert (prompt.loop_start_s, prompt.loop_end_s) == (24.0, 40.0)
    assert prompt.placement == "biggest rise in loudness"
    # and a steady track has no drop
    assert skip_reason(spec, track()) == "no drop: no section is a drop and the loudness never rises by 1 LU or more"


def test_build_is_the_build_section_else_the_passage_into_the_drop() -> None:
    # given
    momentary = constant(64.0, -20.0)
    set_span(momentary, 8.0, 12.0, -16.0)
    set_span(momentary, 12.0, 16.0, -14.0)
    with_build = (SONG_SECTIONS[0], engine.Section(8.0, 8.0, "D", "build", -17.0), *SONG_SECTIONS[1:])
    intro = engine.Section(0.0, 8.0, "A", "intro", -24.0)
    spec = template("{at}-{end}: {build_gain_lu} LU", "build")
    # when
    section_build = render_one(spec, track(sections=(intro, *with_build[1:]), series={engine.MOMENTARY: momentary}))
    passage_build = render_one(spec, track(sections=SONG_SECTIONS, series={engine.MOMENTARY: momentary}))
    # then
    assert section_build.text == "0:08-0:16: +2.0 LU"
    assert section_build.placement == "build section D (build)"
    assert passage_build.text == "0:00-0:16: +6.0 LU"
    assert passage_build.placement == "passage into the first drop"


def test_widest_narrowest_and_least_correlated_passages_start_on_a_bar() -> None:
    # given
    width = constant(64.0, 0.1)
    set_span(width, 32.0, 48.0, 0.4)
    set_span(width, 8.0, 24.0, 0.02)
    correlation = constant(64.0, 0.8)
    set_span(correlation, 40.0, 56.0, -0.25)
    data = track(series={engine.WIDTH: width, engine.CORRELATION: correlation})
    # when
    widest = render_one(template("{at}: {width_pct}%", "widest_passage"), data)
    narrowest = render_one(template("{at}: {width_pct}%", "narrowest_passage"), data)
    least = render_one(template("{at}: {correlation}", "lowest_correlation"), data)
    # then
    assert (widest.text, widest.loop_end_s) == ("0:32: 40.0%", 48.0)
    assert (narrowest.text, narrowest.loop_end_s) == ("0:08: 2.0%", 24.0)
    assert (least.text, least.loop_end_s) == ("0:40: -0.25", 56.0)


def test_passages_ignore_silent_frames() -> None:
    # given: the quietest-looking width is silence, which must not count as narrow
    width = constant(64.0, 0.2)
    set_span(width, 0.0, 16.0, 0.0)
    set_span(width, 40.0, 56.0, 0.05)
    rms = constant(64.0, -20.0)
    set_span(rms, 0.0, 16.0, -110.0)
    # when
    prompt = render_one(
        template("{at}: {width_pct}%", "narrowest_passage"), track(series={engine.WIDTH: width, engine.RMS: rms})
    )
    # then
    assert prompt.text == "0:40: 5.0%"


def test_brightest_passage_and_tempo_drift() -> None:
    # given
    centroid = constant(64.0, 1500.0)
    set_span(centroid, 16.0, 32.0, 3200.0)
    local = constant(64.0, 120.0)
    set_span(local, 40.0, 56.0, 126.0)
    data = track(series={engine.CENTROID: centroid, engine.LOCAL_TEMPO: local})
    # when
    bright = render_one(template("{at}: {centroid_hz}", "brightest_passage"), data)
    drift = render_one(template("{at}: {local_bpm} against {bpm} BPM", "tempo_drift"), data)
    # then
    assert bright.text == "0:16: 3.2 kHz"
    assert drift.text == "0:40: 126 against 120 BPM"


def test_band_values_compare_the_passage_with_the_track() -> None:
    # given: the low band 6 dB up in the loudest section
    bands = np.tile(np.asarray(BAND_LEVELS, dtype=np.float32), (640, 1))
    set_span(bands, 48.0, 64.0, BAND_LEVELS[1] + 6.0, column=1)
    spec = template("{at}: {low_delta_db} dB, {low_share_pct}% low, {sub_share_pct}% sub", "loudest_section")
    # when
    prompt = render_one(spec, track(sections=SONG_SECTIONS, series={engine.TONAL_BANDS: bands}))
    # then
    powers = [10 ** (level / 10) for level in BAND_LEVELS]
    powers[1] *= 10**0.6
    low, sub = 100 * powers[1] / sum(powers), 100 * powers[0] / sum(powers)
    assert prompt.text == f"0:48: +6.0 dB, {low:.1f}% low, {sub:.1f}% sub"


def test_a_band_above_the_files_nyquist_frequency_is_a_reason_to_skip() -> None:
    # given
    data = track()
    bands = data.summary["tonal_balance"]["bands"]
    bands[5] = {**bands[5], "level_dbfs": None, "relative_db": None, "share_pct": None}
    # when
    reason = skip_reason(template("{air_delta_db}", "quietest_section"), data)
    # then
    assert reason == "the air (12-20 kHz) band has no level (above the file's Nyquist frequency, or silent)"


def test_missing_key_or_tempo_is_a_reason_to_skip() -> None:
    assert skip_reason(template("In {key}"), track(key=None)) == "no key was detected"
    assert skip_reason(template("{bpm} BPM"), track(bpm=0.0)) == "no tempo was detected"
    assert skip_reason(template("{n_sections}"), track()) == "the analysis found a single section"


def test_region_rule_uses_the_chosen_region_else_the_first_else_the_loudest_section() -> None:
    # given
    regions = (engine.Region("r1", "Chorus", 20.0, 28.0), engine.Region("r2", "Verse", 4.0, 12.5))
    spec = template("Loop {region_name} from {at} to {end}", "region")
    # when
    chosen = render_one(spec, track(sections=SONG_SECTIONS, regions=regions), region_id="r2")
    first = render_one(spec, track(sections=SONG_SECTIONS, regions=regions))
    fallback = render_one(spec, track(sections=SONG_SECTIONS))
    # then
    assert chosen.text == "Loop the region \u201cVerse\u201d from 0:04 to 0:12"
    assert values(chosen)["region_name"].value == "Verse"
    assert first.text == "Loop the region \u201cChorus\u201d from 0:20 to 0:28"
    assert fallback.text == "Loop section B (drop) from 0:48 to 1:04"
    assert skip_reason(spec, track(regions=regions), region_id="elsewhere") == "the chosen region is not on this track"


def test_only_the_series_the_templates_read_are_needed() -> None:
    assert engine.series_needed([template("{lufs} LUFS, {bpm} BPM")]) == frozenset()
    assert engine.series_needed([template("{at}", "widest_passage")]) == {engine.WIDTH, engine.RMS, engine.MOMENTARY}
    assert engine.series_needed([template("{low_share_pct}", "first_section_change")]) == {engine.TONAL_BANDS}
    assert engine.series_needed(seeded_templates()) == set(engine.SERIES)
