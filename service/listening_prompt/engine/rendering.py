"""Rendering templates against one analysis."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from service.listening_prompt.engine.base import (
    CENTROID,
    CORRELATION,
    LOCAL_TEMPO,
    RMS,
    STEREO_CATEGORIES,
    WIDTH,
    TemplateError,
    Unavailable,
)
from service.listening_prompt.engine.data import AnalysisInput, BoundValue, Prompt, Rendered, Skipped, TemplateSpec
from service.listening_prompt.engine.formatting import _number
from service.listening_prompt.engine.placeholders import PLACEHOLDERS, _Context
from service.listening_prompt.engine.rules import PLACEMENT_RULES
from service.listening_prompt.engine.template import _substitute, placeholders_in, validate_template
from service.listening_prompt.engine.track import _Track


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
