"""the queue an analysis was sent on, so a re-send keeps its priority

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 13:30:00

Interactive uploads go to ``analysis`` and library imports and re-analyses to ``analysis.bulk``; the reaper
re-sends a lost analysis on the queue it came from, so a bulk backlog never jumps ahead of uploads.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("track_analyses") as batch:
        batch.add_column(sa.Column("queue", sa.String(length=32), server_default="analysis", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("track_analyses") as batch:
        batch.drop_column("queue")
