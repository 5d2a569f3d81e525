"""library imports: one row per batch import, and the tracks each import added or found

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 13:00:00

``imports`` records a folder or bucket prefix being imported into a user's library, with counters by file
outcome and where to resume. ``import_tracks`` links an import to the tracks it added (``created``) or found
already in the library, so its analyses can be counted by status for a progress bar.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("files_found", sa.Integer(), nullable=True),
        sa.Column("files_imported", sa.Integer(), nullable=False),
        sa.Column("files_duplicate", sa.Integer(), nullable=False),
        sa.Column("files_not_audio", sa.Integer(), nullable=False),
        sa.Column("files_failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("origin IN ('api', 'cli')", name=op.f("ck_imports_origin")),
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_imports_status")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_imports_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imports_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_imports_user_id_created_at"), ["user_id", "created_at"], unique=False)

    op.create_table(
        "import_tracks",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_import_tracks_import_id_imports"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["reference_tracks.id"],
            name=op.f("fk_import_tracks_track_id_reference_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_import_tracks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_tracks")),
    )
    with op.batch_alter_table("import_tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_tracks_import_id_track_id"), ["import_id", "track_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_import_tracks_track_id"), ["track_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_tracks_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("import_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_tracks_user_id"))
        batch_op.drop_index(batch_op.f("ix_import_tracks_track_id"))
        batch_op.drop_index(batch_op.f("ix_import_tracks_import_id_track_id"))

    op.drop_table("import_tracks")
    with op.batch_alter_table("imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imports_user_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_imports_user_id"))

    op.drop_table("imports")
