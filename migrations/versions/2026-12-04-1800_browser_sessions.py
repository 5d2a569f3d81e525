"""browser sessions and one-time sign-in tickets; uploads marked as such

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:00:00

A browser signs in with a cookie, not a bearer token. Its session is a row of ``sessions`` like a token's,
told apart by ``kind`` ('token' or 'browser'), so that a cookie value is not accepted as a bearer token nor the
reverse. ``login_tickets`` holds the hashes of the one-time sign-in links ``reftrack serve`` prints.

``reference_tracks.is_user_upload`` was never set: tracks uploaded through the API get true, as new uploads do.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="token", nullable=False))
        batch_op.create_check_constraint(batch_op.f("ck_sessions_kind"), "kind IN ('token', 'browser')")

    op.create_table(
        "login_tickets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_login_tickets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_tickets")),
        sa.UniqueConstraint("ticket_hash", name=op.f("uq_login_tickets_ticket_hash")),
    )
    with op.batch_alter_table("login_tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_tickets_user_id"), ["user_id"], unique=False)

    op.execute("UPDATE reference_tracks SET is_user_upload = true WHERE source = 'upload'")


def downgrade() -> None:
    # is_user_upload keeps its values: the column predates this revision, and true is right for those rows.
    with op.batch_alter_table("login_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_tickets_user_id"))
    op.drop_table("login_tickets")
    # Browser sessions cannot be told from tokens once the column is gone: drop them, they are cookies only.
    op.execute("DELETE FROM sessions WHERE kind = 'browser'")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_sessions_kind"), type_="check")
        batch_op.drop_column("kind")
