"""storage key columns: the keys of a track's objects are named for any storage, not for R2

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 01:30:00

``reference_tracks.r2_key``, ``waveform_r2_key`` and ``thumbnail_r2_key`` become ``storage_key``,
``waveform_storage_key`` and ``thumbnail_storage_key``: they hold keys in whichever storage is configured (a
local folder, S3 or R2). No index or constraint names these columns.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RENAMED = (
    ("r2_key", "storage_key"),
    ("waveform_r2_key", "waveform_storage_key"),
    ("thumbnail_r2_key", "thumbnail_storage_key"),
)


def _rename(pairs: Sequence[tuple[str, str]]) -> None:
    # In place on SQLite too (ALTER TABLE ... RENAME COLUMN). A batch that recreates the table drops the old
    # one, and with foreign keys on that deletes, through ON DELETE CASCADE, every row that refers to a track.
    with op.batch_alter_table("reference_tracks", recreate="never") as batch:
        for old, new in pairs:
            batch.alter_column(old, new_column_name=new)


def upgrade() -> None:
    _rename(_RENAMED)


def downgrade() -> None:
    _rename([(new, old) for old, new in _RENAMED])
