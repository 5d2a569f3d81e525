"""why an analysis failed, and how many of its attempts lost their worker

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:30:00

``failure_kind`` is ``transient`` when an outage of storage or the database outlasted the retry budget (the
reaper sends such an analysis again later) and ``permanent`` when the input itself cannot be analysed; it is
null for analyses that have not failed. ``lost_attempts`` counts the attempts that ended without a word, their
worker killed or out of memory: that, not ``attempts`` (which also counts retries through an outage), is what
gives up on a file that kills its worker every time. Earlier failures keep a null kind and stay failed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("track_analyses") as batch:
        batch.add_column(sa.Column("failure_kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("lost_attempts", sa.Integer(), server_default="0", nullable=False))
        batch.create_check_constraint("failure_kind", "failure_kind IN ('transient', 'permanent')")


def downgrade() -> None:
    with op.batch_alter_table("track_analyses") as batch:
        batch.drop_constraint(op.f("ck_track_analyses_failure_kind"), type_="check")
        batch.drop_column("lost_attempts")
        batch.drop_column("failure_kind")
