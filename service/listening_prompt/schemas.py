from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, computed_field, field_validator

from service.listening_prompt.engine import TemplateError, placeholders_in
from service.schemas import Schema, Timestamp, refuse_null

SORT_ORDER_RANGE = (-1_000_000, 1_000_000)
MAX_PRESET_TEMPLATES = 100
MAX_PRESET_CATEGORIES = 50
MAX_PROMPTS = 100


Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=100)]
Category = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
PromptText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
RuleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", min_length=1, max_length=64)]
SortOrder = Annotated[int, Field(ge=SORT_ORDER_RANGE[0], le=SORT_ORDER_RANGE[1])]

# ----------------------------------------------------------------------------------------------------------------
# Templates

_TEMPLATE_EXAMPLE: dict[str, Any] = {
    "key": "low_end_sidechain",
    "name": "Sidechain pump",
    "description": "How the bass ducks under the kick in the densest passage.",
    "category": "low_end",
    "prompt_text": "At {at}, the low band carries {low_share_pct}% of the energy. Does the bass duck under the kick?",
    "placement_rule": "loudest_section",
    "is_active": True,
    "sort_order": 40,
}


class TemplateCreate(Schema):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_TEMPLATE_EXAMPLE]})

    key: Key
    name: Name
    description: Description | None = None
    category: Category
    prompt_text: PromptText
    placement_rule: RuleName = "whole_track"
    is_active: bool = True
    sort_order: SortOrder = 0


class TemplateUpdate(Schema):
    """Fields left out stay as they are; the key never changes (presets refer to it)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"prompt_text": "Listen at {at}: {low_share_pct}% sits in the low band."}]},
    )

    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    prompt_text: PromptText | None = None
    placement_rule: RuleName | None = None
    is_active: bool | None = None
    sort_order: SortOrder | None = None

    not_null = field_validator("name", "category", "prompt_text", "placement_rule", "is_active", "sort_order")(
        refuse_null
    )


_TEMPLATE_READ_EXAMPLE: dict[str, Any] = {
    "id": "5f0c6b7e-93b1-5a0e-8f53-0a6a8d1c2e11",
    **_TEMPLATE_EXAMPLE,
    "placeholders": ["at", "low_share_pct"],
    "created_at": "2026-11-22T12:00:00Z",
    "updated_at": "2026-11-22T12:00:00Z",
}


class TemplateRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_TEMPLATE_READ_EXAMPLE]})

    id: uuid.UUID
    key: str
    name: str
    description: str | None
    category: str
    prompt_text: str
    placement_rule: str | None
    is_active: bool
    sort_order: int
    created_at: Timestamp
    updated_at: Timestamp

    @computed_field  # type: ignore[prop-decorator]
    @property
    def placeholders(self) -> list[str]:
        """The placeholders of ``prompt_text`` in order of first use."""
        try:
            return list(placeholders_in(self.prompt_text))
        except TemplateError:
            return []


class TemplateList(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_TEMPLATE_READ_EXAMPLE], "count": 1}]})

    data: list[TemplateRead]
    count: int


class PlacementRuleRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "loudest_section",
                    "description": "The section with the highest loudness (the loudest 8-bar passage without "
                    "sections).",
                    "stereo": False,
                },
                {
                    "name": "widest_passage",
                    "description": "The 8 bars (about 15 s without a tempo) with the widest stereo image.",
                    "stereo": True,
                },
            ]
        }
    )

    name: str
    description: str
    stereo: bool = Field(description="Needs a stereo file; skipped for mono and dual-mono tracks")


class PlaceholderRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "width_pct",
                    "description": "Mean stereo width (side share) of the passage",
                    "unit": "%",
                    "stereo": True,
                    "placement_rules": None,
                },
                {
                    "name": "region_name",
                    "description": "Name of the region (or of the section standing in for it)",
                    "unit": None,
                    "stereo": False,
                    "placement_rules": ["region"],
                },
            ]
        }
    )

    name: str
    description: str
    unit: str | None
    stereo: bool = Field(description="Needs a stereo file; skipped for mono and dual-mono tracks")
    placement_rules: list[str] | None = Field(description="The only rules it can be used with; null for any rule")


class VocabularyRead(Schema):
    """What template text may use: the placement rules and placeholders the prompt engine binds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "placement_rules": [
                        {
                            "name": "loudest_section",
                            "description": "The section with the highest loudness.",
                            "stereo": False,
                        }
                    ],
                    "placeholders": [
                        {
                            "name": "lufs",
                            "description": "Integrated loudness of the track",
                            "unit": "LUFS",
                            "stereo": False,
                            "placement_rules": None,
                        }
                    ],
                }
            ]
        }
    )

    placement_rules: list[PlacementRuleRead]
    placeholders: list[PlaceholderRead]


# ----------------------------------------------------------------------------------------------------------------
# Presets


def _unique(values: list[str] | None) -> list[str] | None:
    if values is not None:
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise ValueError(f"{value!r} is listed twice")
            seen.add(value)
    return values


class PresetConfiguration(Schema):
    """Which prompts a preset renders: its templates (in this order), categories, a cap and a region."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "templates": ["low_end_kick_bass", "dynamics_drop_impact", "reference_compare"],
                    "max_prompts": 3,
                    "region_id": "0b9f7a52-4c57-4f0e-9d0c-1f5c7e2b8a10",
                },
                {"categories": ["low_end", "stereo"]},
            ]
        },
    )

    templates: list[Key] | None = Field(
        None,
        min_length=1,
        max_length=MAX_PRESET_TEMPLATES,
        description="Template keys, rendered in this order; all active templates when left out",
    )
    categories: list[Category] | None = Field(
        None, min_length=1, max_length=MAX_PRESET_CATEGORIES, description="Only templates of these categories"
    )
    max_prompts: int | None = Field(None, ge=1, le=MAX_PROMPTS, description="At most this many prompts")
    region_id: uuid.UUID | None = Field(
        None, description="One of your regions: where prompts with the placement rule `region` apply"
    )

    distinct = field_validator("templates", "categories")(_unique)


class PresetCreate(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Low end check",
                    "configuration": {"categories": ["low_end"], "max_prompts": 3},
                    "is_default": True,
                }
            ]
        },
    )

    name: Name
    configuration: PresetConfiguration = Field(default_factory=PresetConfiguration)
    is_default: bool = False
    sort_order: SortOrder | None = Field(None, description="Defaults to after your last preset")


class PresetUpdate(Schema):
    """Fields left out stay as they are; ``configuration`` replaces the whole configuration."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_default": True}]})

    name: Name | None = None
    configuration: PresetConfiguration | None = None
    is_default: bool | None = None
    sort_order: SortOrder | None = None

    not_null = field_validator("name", "configuration", "is_default", "sort_order")(refuse_null)


_PRESET_READ_EXAMPLE: dict[str, Any] = {
    "id": "7d1e2c9a-3b4f-4e5d-8a6b-9c0d1e2f3a4b",
    "name": "Low end check",
    "configuration": {"templates": None, "categories": ["low_end"], "max_prompts": 3, "region_id": None},
    "is_default": True,
    "sort_order": 1,
    "created_at": "2026-11-22T12:00:00Z",
    "updated_at": "2026-11-22T12:00:00Z",
}


class PresetRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_PRESET_READ_EXAMPLE]})

    id: uuid.UUID
    name: str
    configuration: PresetConfiguration
    is_default: bool
    sort_order: int
    created_at: Timestamp
    updated_at: Timestamp


class PresetList(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_PRESET_READ_EXAMPLE], "count": 1}]})

    data: list[PresetRead]
    count: int


# ----------------------------------------------------------------------------------------------------------------
# Prompts of a track


_LOOP_EXAMPLE: dict[str, Any] = {"start": 54.857, "end": 91.429}


class PromptLoop(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_LOOP_EXAMPLE]})

    start: float = Field(description="Seconds")
    end: float = Field(description="Seconds")


_SHARE_VALUE_EXAMPLE: dict[str, Any] = {"value": 41.27, "text": "41.3", "unit": "%"}


class PromptValueRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _SHARE_VALUE_EXAMPLE,
                {"value": "Chorus", "text": "the region \u201cChorus\u201d", "unit": None},
            ]
        }
    )

    value: float | int | str = Field(description="As measured (seconds for times)")
    text: str = Field(description="As it appears in the prompt")
    unit: str | None


class PromptRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "template_id": "248b4057-6559-5af0-b346-930a5bb4b99e",
                    "template_key": "low_end_kick_bass",
                    "category": "low_end",
                    "name": "Kick and bass balance",
                    "text": "Listen to the kick and bass together at 0:54. Here the low band (60-250 Hz) sits +1.2 dB "
                    "against its track average and carries 41.3% of the energy: does the kick punch through, or do "
                    "the two blur into one note?",
                    "at_seconds": 54.857,
                    "loop": _LOOP_EXAMPLE,
                    "placement_rule": "loudest_section",
                    "placement": "loudest section C (drop)",
                    "values": {
                        "at": {"value": 54.857, "text": "0:54", "unit": "s"},
                        "low_delta_db": {"value": 1.21, "text": "+1.2", "unit": "dB"},
                        "low_share_pct": _SHARE_VALUE_EXAMPLE,
                    },
                }
            ]
        }
    )

    template_id: uuid.UUID
    template_key: str
    category: str
    name: str
    text: str
    at_seconds: float
    loop: PromptLoop
    placement_rule: str
    placement: str = Field(description="Where the rule placed the prompt, e.g. 'loudest section B (drop)'")
    values: dict[str, PromptValueRead] = Field(description="Every placeholder of the template, in order of use")


class SkippedPromptRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "template_key": "arrangement_build",
                    "category": "arrangement",
                    "reason": "no build: the first drop comes too early in the track",
                }
            ]
        }
    )

    template_key: str
    category: str
    reason: str


class PromptList(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "track_id": "3c2b1a09-8f7e-4d6c-b5a4-3f2e1d0c9b8a",
                    "analysis_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                    "preset_id": None,
                    "data": [
                        {
                            "template_id": "5f0c6b7e-93b1-5a0e-8f53-0a6a8d1c2e11",
                            "template_key": "dynamics_true_peak",
                            "category": "dynamics",
                            "name": "Peaks and clipping",
                            "text": "True peak reaches -0.8 dBTP. Listen closely at 0:55 for crunch or distortion "
                            "on the loudest hits.",
                            "at_seconds": 55.287,
                            "loop": {"start": 55.287, "end": 69.01},
                            "placement_rule": "loudest_section",
                            "placement": "loudest section B (drop)",
                            "values": {
                                "true_peak_dbtp": {"value": -0.81, "text": "-0.8", "unit": "dBTP"},
                                "at": {"value": 55.287, "text": "0:55", "unit": "s"},
                            },
                        }
                    ],
                    "count": 1,
                    "skipped": [
                        {
                            "template_key": "stereo_width",
                            "category": "stereo",
                            "reason": "the track is mono: there is no stereo image to listen to",
                        }
                    ],
                }
            ]
        }
    )

    track_id: uuid.UUID
    analysis_id: uuid.UUID
    preset_id: uuid.UUID | None
    data: list[PromptRead]
    count: int
    skipped: list[SkippedPromptRead]
