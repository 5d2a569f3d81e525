"""listening prompt templates bound by the prompt engine

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 12:00:00

Rewrites seeded templates whose text the prompt engine could not bind truthfully: values the analysis measures
per track were worded as if measured at the passage (crest factor, band widths), the 2-6 kHz band was called
presence (the analysis names 6-12 kHz so), tempo stability is a share of beats, and "the build" needs its own
loop. Some gain the values that make them useful (key, band shares, a section map), and some move to a placement
that fits them better (breakdown, brightest passage, tempo drift). Data only; the downgrade restores the seed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# key: ((placement_rule, prompt_text) after this revision, (placement_rule, prompt_text) of the seed)
CHANGES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "low_end_kick_bass": (
        (
            "loudest_section",
            "Listen to the kick and bass together at {at}. Here the low band (60-250 Hz) sits {low_delta_db} dB "
            "against its track average and carries {low_share_pct}% of the energy: does the kick punch through, or "
            "do the two blur into one note?",
        ),
        (
            "loudest_section",
            "Listen to the kick and bass together at {at}. The low band (60-250 Hz) sits {low_delta_db} dB relative "
            "to the track average here: does the kick punch through, or do the two blur into one note?",
        ),
    ),
    "low_end_sub_weight": (
        (
            "first_drop",
            "At {at}, the sub band (20-60 Hz) carries {sub_share_pct}% of the energy. The track is in {key}: listen "
            "on headphones or a sub. Is the root note steady, or does it swell and vanish between notes?",
        ),
        (
            "first_drop",
            "At {at}, the sub band (20-60 Hz) carries {sub_share_pct}% of the energy. Listen on headphones or a sub: "
            "is the fundamental steady, or does it swell and vanish between notes?",
        ),
    ),
    "low_end_mono": (
        (
            "widest_passage",
            "Switch to mono at {at}, the widest passage (side share {width_pct}%). The low end should barely change: "
            "across the track the side share is {sub_width_pct}% in the sub band and {low_width_pct}% in the low "
            "band.",
        ),
        (
            "widest_passage",
            "Switch to mono at {at}. The low end should barely change: width below 250 Hz is {low_width} here.",
        ),
    ),
    "dynamics_drop_impact": (
        (
            "first_drop",
            "Into the drop at {at}, loudness changes by {drop_gain_lu} LU against the 8 seconds before it. Does it "
            "feel like a lift, or has the build already used up the headroom?",
        ),
        (
            "first_drop",
            "The drop at {at} is {drop_gain_lu} LU louder (short-term) than the 8 seconds before it. Does it feel "
            "like a lift, or has the build already used up the headroom?",
        ),
    ),
    "dynamics_crest": (
        (
            "loudest_section",
            "The track's crest factor is {crest_db} dB and its peak-to-loudness ratio {plr_db} dB. Listen to the "
            "snare at {at}, where the track is loudest ({passage_lufs} LUFS): is the attack still sharp, or "
            "flattened by limiting?",
        ),
        (
            "loudest_section",
            "Crest factor here is {crest_db} dB. Listen to the snare at {at}: is the attack still sharp, or flattened "
            "by limiting?",
        ),
    ),
    "stereo_width": (
        (
            "widest_passage",
            "The widest passage starts at {at} (side share {width_pct}%, against {width_mean_pct}% across the "
            "track). Which elements move out to the sides, and what stays in the centre?",
        ),
        (
            "widest_passage",
            "The widest passage starts at {at} (side/mid {width_pct}%). Which elements move out to the sides, and "
            "what stays in the centre?",
        ),
    ),
    "tonal_overall": (
        (
            "loudest_section",
            "Against a pink-noise balance (equal energy per octave), this track's {hot_band} band is the most "
            "prominent, {hot_band_delta_db} dB hot. Listen at {at}: is that a deliberate character or a build-up?",
        ),
        (
            "whole_track",
            "Compared with its own average, this track's {hot_band} band is {hot_band_delta_db} dB hot. Listen at "
            "{at}: is that a deliberate character or a build-up?",
        ),
    ),
    "tonal_presence": (
        (
            "brightest_passage",
            "The brightest passage starts at {at} (spectral centroid {centroid_hz}). There the 2-6 kHz range sits "
            "{high_mid_delta_db} dB against its track average: is it forward and clear, or fatiguing at high volume?",
        ),
        (
            "loudest_section",
            "Listen to the 2-6 kHz range at {at}: presence sits {presence_delta_db} dB relative to the average. Is it "
            "forward and clear, or fatiguing at high volume?",
        ),
    ),
    "tonal_air": (
        (
            "quietest_section",
            "In the quieter passage at {at}, listen above 12 kHz: air sits {air_delta_db} dB against its track "
            "average. Does the top end breathe, or hiss?",
        ),
        (
            "quietest_section",
            "In the quieter passage at {at}, listen above 12 kHz: air is {air_delta_db} dB relative to the average. "
            "Does the top end breathe, or hiss?",
        ),
    ),
    "arrangement_build": (
        (
            "build",
            "The build from {at} to {end} moves {build_gain_lu} LU in loudness. Which elements create the tension: "
            "risers, filter sweeps, drum rolls, or removal?",
        ),
        (
            "build",
            "The build from {at} rises {build_gain_lu} LU over {build_seconds} s. Which elements create the tension: "
            "risers, filter sweeps, drum rolls, or removal?",
        ),
    ),
    "arrangement_breakdown": (
        (
            "breakdown",
            "The breakdown at {at} is {breakdown_drop_lu} LU below the track's loudest section. What carries the "
            "energy while the drums are out?",
        ),
        (
            "quietest_section",
            "The breakdown at {at} is {breakdown_drop_lu} LU below the track's loudest section. What carries the "
            "energy while the drums are out?",
        ),
    ),
    "arrangement_sections": (
        (
            "whole_track",
            "This track has {n_sections} sections: {section_map}. Listen to the first 8 bars of each: what single "
            "change defines each one?",
        ),
        (
            "whole_track",
            "This track has {n_sections} sections. Listen to the first 8 bars of each: what single change defines "
            "each one?",
        ),
    ),
    "groove_tempo": (
        (
            "loudest_section",
            "The tempo is {bpm} BPM. Tap along from {at}, where the full groove plays: do the hats and percussion "
            "push ahead or sit behind the beat?",
        ),
        (
            "whole_track",
            "The tempo is {bpm} BPM. Tap along from {at}: do the hats and percussion push ahead or sit behind the "
            "beat?",
        ),
    ),
    "groove_stability": (
        (
            "tempo_drift",
            "{tempo_stability_pct}% of the beats sit within 4% of {bpm} BPM. The local tempo strays furthest around "
            "{at} ({local_bpm} BPM): listen for tempo changes, live drift or half-time passages there.",
        ),
        (
            "whole_track",
            "Tempo stability is {tempo_stability}. If it is low, listen for tempo changes, live drift or half-time "
            "passages around {at}.",
        ),
    ),
    "vocal_presence": (
        (
            "loudest_section",
            "At {at}, the lead must cut through the densest part of the mix, where the 2-6 kHz range carries "
            "{high_mid_share_pct}% of the energy. Can you understand every word without turning it up?",
        ),
        (
            "loudest_section",
            "At {at}, the lead must cut through the densest part of the mix. Can you understand every word without "
            "turning it up?",
        ),
    ),
    "reference_compare": (
        (
            "region",
            "Loop {region_name} from {at} to {end} and switch to your own mix at matched loudness ({lufs} LUFS). Note "
            "the first difference you hear in the low end, then the top end.",
        ),
        (
            "region",
            "Loop the region {region_name} ({at}) and switch to your own mix at matched loudness ({lufs} LUFS). Note "
            "the first difference you hear in the low end, then the top end.",
        ),
    ),
}


def _table() -> sa.TableClause:
    return sa.table(
        "listening_prompt_templates",
        sa.column("key", sa.String()),
        sa.column("prompt_text", sa.Text()),
        sa.column("placement_rule", sa.String()),
    )


def _apply(version: int) -> None:
    table = _table()
    for key, versions in CHANGES.items():
        rule, text = versions[version]
        _, current = versions[1 - version]
        # A template an admin has edited since keeps the admin's wording.
        op.execute(
            table.update()
            .where(table.c.key == key, table.c.prompt_text == current)
            .values(placement_rule=rule, prompt_text=text)
        )


def upgrade() -> None:
    _apply(0)


def downgrade() -> None:
    _apply(1)
