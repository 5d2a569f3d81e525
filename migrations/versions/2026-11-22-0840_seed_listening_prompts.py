"""seed listening prompt templates

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:40:00

The starter library of guided-listening prompts. Placeholders in braces are bound to analysis values by the
prompt engine; ``placement_rule`` names where in the track a prompt applies.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (key, name, category, placement_rule, prompt_text, description)
TEMPLATES = [
    (
        "low_end_kick_bass",
        "Kick and bass balance",
        "low_end",
        "loudest_section",
        "Listen to the kick and bass together at {at}. The low band (60-250 Hz) sits {low_delta_db} dB relative "
        "to the track average here: does the kick punch through, or do the two blur into one note?",
        "Focuses on the relationship between kick and bass in the densest passage.",
    ),
    (
        "low_end_sub_weight",
        "Sub weight",
        "low_end",
        "first_drop",
        "At {at}, the sub band (20-60 Hz) carries {sub_share_pct}% of the energy. Listen on headphones or a sub: "
        "is the fundamental steady, or does it swell and vanish between notes?",
        "Sub-bass consistency in the first drop.",
    ),
    (
        "low_end_mono",
        "Mono low end",
        "low_end",
        "widest_passage",
        "Switch to mono at {at}. The low end should barely change: width below 250 Hz is {low_width} here.",
        "Checks the low end for phase problems by comparing stereo and mono.",
    ),
    (
        "dynamics_drop_impact",
        "Drop impact",
        "dynamics",
        "first_drop",
        "The drop at {at} is {drop_gain_lu} LU louder (short-term) than the 8 seconds before it. Does it feel like "
        "a lift, or has the build already used up the headroom?",
        "Contrast between a build and its drop.",
    ),
    (
        "dynamics_crest",
        "Transient punch",
        "dynamics",
        "loudest_section",
        "Crest factor here is {crest_db} dB. Listen to the snare at {at}: is the attack still sharp, or flattened "
        "by limiting?",
        "Transient preservation in the loudest section.",
    ),
    (
        "dynamics_range",
        "Loudness range",
        "dynamics",
        "whole_track",
        "This track has a loudness range of {lra_lu} LU and integrates at {lufs} LUFS. Listen from the quietest "
        "passage ({quiet_at}) to the loudest ({loud_at}): is the journey as big as it sounds?",
        "Macro dynamics across the whole track.",
    ),
    (
        "dynamics_true_peak",
        "Peaks and clipping",
        "dynamics",
        "loudest_section",
        "True peak reaches {true_peak_dbtp} dBTP. Listen closely at {at} for crunch or distortion on the loudest hits.",
        "Inter-sample peaks and audible clipping.",
    ),
    (
        "stereo_width",
        "Stereo width",
        "stereo",
        "widest_passage",
        "The widest passage starts at {at} (side/mid {width_pct}%). Which elements move out to the sides, and "
        "what stays in the centre?",
        "Where the stereo image opens up.",
    ),
    (
        "stereo_correlation",
        "Phase correlation",
        "stereo",
        "lowest_correlation",
        "L/R correlation drops to {correlation} at {at}. Listen in mono: does anything disappear or get thin?",
        "Mono compatibility of the most decorrelated passage.",
    ),
    (
        "stereo_centre",
        "Centre focus",
        "stereo",
        "loudest_section",
        "At {at}, listen only to the centre: the kick, bass, snare and lead vocal should be anchored there. "
        "Is anything drifting?",
        "Checks the phantom centre.",
    ),
    (
        "tonal_overall",
        "Tonal balance overview",
        "tonal_balance",
        "whole_track",
        "Compared with its own average, this track's {hot_band} band is {hot_band_delta_db} dB hot. Listen at "
        "{at}: is that a deliberate character or a build-up?",
        "The most prominent band across the track.",
    ),
    (
        "tonal_low_mid",
        "Low-mid mud",
        "tonal_balance",
        "loudest_section",
        "Low-mids (250 Hz-2 kHz) carry {low_mid_share_pct}% of the energy at {at}. Listen for boxiness or mud "
        "where guitars, keys and vocals overlap.",
        "Low-mid congestion in dense passages.",
    ),
    (
        "tonal_presence",
        "Presence and harshness",
        "tonal_balance",
        "loudest_section",
        "Listen to the 2-6 kHz range at {at}: presence sits {presence_delta_db} dB relative to the average. Is it "
        "forward and clear, or fatiguing at high volume?",
        "Harshness in the ear's most sensitive range.",
    ),
    (
        "tonal_air",
        "Air and sheen",
        "tonal_balance",
        "quietest_section",
        "In the quieter passage at {at}, listen above 12 kHz: air is {air_delta_db} dB relative to the average. "
        "Does the top end breathe, or hiss?",
        "Top-end openness.",
    ),
    (
        "arrangement_intro",
        "Intro to first change",
        "arrangement",
        "first_section_change",
        "The first section change arrives at {at}. What is added or removed to mark it, and how early could you "
        "feel it coming?",
        "How the arrangement signals its first transition.",
    ),
    (
        "arrangement_build",
        "Build-up tension",
        "arrangement",
        "build",
        "The build from {at} rises {build_gain_lu} LU over {build_seconds} s. Which elements create the tension: "
        "risers, filter sweeps, drum rolls, or removal?",
        "Tension tools in a build.",
    ),
    (
        "arrangement_breakdown",
        "Breakdown contrast",
        "arrangement",
        "quietest_section",
        "The breakdown at {at} is {breakdown_drop_lu} LU below the track's loudest section. What carries the energy "
        "while the drums are out?",
        "Energy management in breakdowns.",
    ),
    (
        "arrangement_sections",
        "Section map",
        "arrangement",
        "whole_track",
        "This track has {n_sections} sections. Listen to the first 8 bars of each: what single change defines "
        "each one?",
        "A guided walk through the structure.",
    ),
    (
        "groove_tempo",
        "Tempo and pocket",
        "groove",
        "whole_track",
        "The tempo is {bpm} BPM. Tap along from {at}: do the hats and percussion push ahead or sit behind the beat?",
        "Micro-timing against the beat grid.",
    ),
    (
        "groove_downbeat",
        "The one",
        "groove",
        "first_drop",
        "Count the bars from {at}. Which element lands hardest on the downbeat, and what plays in between?",
        "How the downbeat is emphasised.",
    ),
    (
        "groove_stability",
        "Tempo stability",
        "groove",
        "whole_track",
        "Tempo stability is {tempo_stability}. If it is low, listen for tempo changes, live drift or half-time "
        "passages around {at}.",
        "Tempo drift and feel changes.",
    ),
    (
        "vocal_presence",
        "Lead presence",
        "vocal_lead",
        "loudest_section",
        "At {at}, the lead must cut through the densest part of the mix. Can you understand every word without "
        "turning it up?",
        "Lead vocal or lead instrument intelligibility.",
    ),
    (
        "vocal_space",
        "Lead and space",
        "vocal_lead",
        "quietest_section",
        "In the sparse passage at {at}, listen to the reverb and delay tails on the lead: do they define the space "
        "or cloud it?",
        "Ambience around the lead in sparse passages.",
    ),
    (
        "reference_compare",
        "A/B against your mix",
        "reference",
        "region",
        "Loop the region {region_name} ({at}) and switch to your own mix at matched loudness ({lufs} LUFS). Note "
        "the first difference you hear in the low end, then the top end.",
        "A loudness-matched comparison of a chosen region.",
    ),
]


def upgrade() -> None:
    table = sa.table(
        "listening_prompt_templates",
        sa.column("id", sa.Uuid()),
        sa.column("key", sa.String()),
        sa.column("name", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("category", sa.String()),
        sa.column("prompt_text", sa.Text()),
        sa.column("placement_rule", sa.String()),
        sa.column("is_active", sa.Boolean()),
        sa.column("sort_order", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"reftrack:listening_prompt_template:{key}"),
                "key": key,
                "name": name,
                "description": description,
                "category": category,
                "prompt_text": text,
                "placement_rule": rule,
                "is_active": True,
                "sort_order": index * 10,
                "created_at": now,
                "updated_at": now,
            }
            for index, (key, name, category, rule, text, description) in enumerate(TEMPLATES)
        ],
    )


def downgrade() -> None:
    keys = [row[0] for row in TEMPLATES]
    table = sa.table("listening_prompt_templates", sa.column("key", sa.String()))
    op.execute(table.delete().where(table.c.key.in_(keys)))
