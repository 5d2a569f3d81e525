"""library filters and sorting: loudness on tracks, indexes for each sort key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:40:00

``reference_tracks.loudness_lufs`` holds the integrated loudness of the latest successful analysis, like ``bpm``
and ``key``, so the library can be filtered and sorted by it without reading analysis results.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SORT_COLUMNS = ("title", "bpm", "duration_seconds", "loudness_lufs")


def upgrade() -> None:
    with op.batch_alter_table("reference_tracks") as batch:
        batch.add_column(sa.Column("loudness_lufs", sa.Float(), nullable=True))
    # Backfill from the latest successful analysis of each track.
    op.execute(
        """
        UPDATE reference_tracks SET loudness_lufs = (
            SELECT CAST(json_extract(a.results, '$.lufs_integrated') AS FLOAT) FROM track_analyses a
            WHERE a.track_id = reference_tracks.id AND a.status = 'succeeded'
            ORDER BY a.completed_at DESC LIMIT 1
        )
        """
        if op.get_bind().dialect.name == "sqlite"
        else """
        UPDATE reference_tracks t SET loudness_lufs = (
            SELECT CAST(a.results ->> 'lufs_integrated' AS DOUBLE PRECISION) FROM track_analyses a
            WHERE a.track_id = t.id AND a.status = 'succeeded'
            ORDER BY a.completed_at DESC LIMIT 1
        )
        """
    )
    for column in _SORT_COLUMNS:
        op.create_index(op.f(f"ix_reference_tracks_user_id_{column}"), "reference_tracks", ["user_id", column])


def downgrade() -> None:
    for column in _SORT_COLUMNS:
        op.drop_index(op.f(f"ix_reference_tracks_user_id_{column}"), table_name="reference_tracks")
    with op.batch_alter_table("reference_tracks") as batch:
        batch.drop_column("loudness_lufs")
