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

from service.listening_prompt.engine.base import (
    BANDS,
    CENTROID,
    CORRELATION,
    LOCAL_TEMPO,
    MOMENTARY,
    RMS,
    SERIES,
    TONAL_BANDS,
    WIDTH,
    TemplateError,
)
from service.listening_prompt.engine.data import (
    AnalysisInput,
    BoundValue,
    Prompt,
    Region,
    Rendered,
    Section,
    Series,
    Skipped,
    TemplateSpec,
)
from service.listening_prompt.engine.formatting import format_time
from service.listening_prompt.engine.placeholders import PLACEHOLDERS, Placeholder
from service.listening_prompt.engine.rendering import render, series_needed
from service.listening_prompt.engine.rules import PLACEMENT_RULES, PlacementRule
from service.listening_prompt.engine.template import placeholders_in, validate_template

__all__ = [
    "BANDS",
    "CENTROID",
    "CORRELATION",
    "LOCAL_TEMPO",
    "MOMENTARY",
    "PLACEHOLDERS",
    "PLACEMENT_RULES",
    "RMS",
    "SERIES",
    "TONAL_BANDS",
    "WIDTH",
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
