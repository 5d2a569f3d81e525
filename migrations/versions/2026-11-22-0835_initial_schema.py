"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 08:35:32.905373
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "listening_prompt_templates",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("prompt_text", sa.Text(), nullable=False),
        sa.Column("placement_rule", sa.String(length=64), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_prompt_templates")),
        sa.UniqueConstraint("key", name=op.f("uq_listening_prompt_templates_key")),
    )
    with op.batch_alter_table("listening_prompt_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listening_prompt_templates_category_sort_order"), ["category", "sort_order"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_published_at_created_at"), ["published_at", "created_at"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=16), server_default="user", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "audit_log",
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_log_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action_created_at"), ["action", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_user_id_created_at"), ["user_id", "created_at"], unique=False)

    op.create_table(
        "listening_prompt_presets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_listening_prompt_presets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_prompt_presets")),
    )
    with op.batch_alter_table("listening_prompt_presets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listening_prompt_presets_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_listening_prompt_presets_user_id_sort_order_created_at_id"),
            ["user_id", "sort_order", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "reference_tracks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("artist", sa.String(length=500), nullable=True),
        sa.Column("album", sa.String(length=500), nullable=True),
        sa.Column("genre", sa.String(length=200), nullable=True),
        sa.Column("bpm", sa.Double(), nullable=True),
        sa.Column("key", sa.String(length=32), nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        sa.Column("r2_key", sa.String(length=1024), nullable=False),
        sa.Column("waveform_r2_key", sa.String(length=1024), nullable=True),
        sa.Column("thumbnail_r2_key", sa.String(length=1024), nullable=True),
        sa.Column("file_format", sa.String(length=16), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("bit_depth", sa.Integer(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("is_reference", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("is_user_upload", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("source_url", sa.String(length=2048), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reference_tracks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_tracks")),
        sa.UniqueConstraint("user_id", "content_sha256", name=op.f("uq_reference_tracks_user_id_content_sha256")),
    )
    with op.batch_alter_table("reference_tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reference_tracks_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reference_tracks_user_id_created_at"), ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "sessions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "track_analyses",
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("analysis_type", sa.String(length=32), nullable=False),
        sa.Column("analyzer_version", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_track_analyses_status")
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["reference_tracks.id"],
            name=op.f("fk_track_analyses_track_id_reference_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_track_analyses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_track_analyses")),
    )
    with op.batch_alter_table("track_analyses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_analyses_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_track_analyses_track_id"), ["track_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_track_analyses_track_id_created_at"), ["track_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_track_analyses_user_id"), ["user_id"], unique=False)

    op.create_table(
        "track_annotations",
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("start_time_seconds", sa.Float(), nullable=False),
        sa.Column("end_time_seconds", sa.Float(), nullable=True),
        sa.Column("annotation_type", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "annotation_type IN ('note', 'marker', 'issue', 'praise')",
            name=op.f("ck_track_annotations_annotation_type"),
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["reference_tracks.id"],
            name=op.f("fk_track_annotations_track_id_reference_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_track_annotations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_track_annotations")),
    )
    with op.batch_alter_table("track_annotations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_annotations_track_id"), ["track_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_track_annotations_track_id_start_time_seconds"),
            ["track_id", "start_time_seconds"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_track_annotations_user_id"), ["user_id"], unique=False)

    op.create_table(
        "track_regions",
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("start_time_seconds", sa.Float(), nullable=False),
        sa.Column("end_time_seconds", sa.Float(), nullable=False),
        sa.Column("region_type", sa.String(length=16), nullable=False),
        sa.Column("loop_count", sa.Integer(), nullable=True),
        sa.Column("is_favorite", sa.Boolean(), nullable=False),
        sa.Column("color", sa.String(length=32), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("region_type IN ('loop', 'section', 'compare')", name=op.f("ck_track_regions_region_type")),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["reference_tracks.id"],
            name=op.f("fk_track_regions_track_id_reference_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_track_regions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_track_regions")),
    )
    with op.batch_alter_table("track_regions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_track_regions_track_id"), ["track_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_track_regions_track_id_sort_order_created_at_id"),
            ["track_id", "sort_order", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_track_regions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "user_references",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("collection_name", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("is_favorite", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["reference_tracks.id"],
            name=op.f("fk_user_references_track_id_reference_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_references_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_references")),
        sa.UniqueConstraint(
            "user_id", "collection_name", "track_id", name=op.f("uq_user_references_user_id_collection_name_track_id")
        ),
    )
    with op.batch_alter_table("user_references", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_references_track_id"), ["track_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_references_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_user_references_user_id_collection_name_sort_order_created_at_id"),
            ["user_id", "collection_name", "sort_order", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "analysis_events",
        sa.Column("analysis_id", sa.Uuid(), nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("time_seconds", sa.Float(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["track_analyses.id"],
            name=op.f("fk_analysis_events_analysis_id_track_analyses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["reference_tracks.id"],
            name=op.f("fk_analysis_events_track_id_reference_tracks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_analysis_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_events")),
    )
    with op.batch_alter_table("analysis_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analysis_events_analysis_id"), ["analysis_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_analysis_events_analysis_id_event_type_time_seconds"),
            ["analysis_id", "event_type", "time_seconds"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_analysis_events_track_id"), ["track_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_analysis_events_user_id"), ["user_id"], unique=False)

    op.create_table(
        "analysis_frame_manifests",
        sa.Column("analysis_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("frame_rate", sa.Float(), nullable=False),
        sa.Column("hop_seconds", sa.Float(), nullable=False),
        sa.Column("n_frames", sa.Integer(), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("dtype", sa.String(length=16), nullable=False),
        sa.Column("encoding", sa.String(length=32), nullable=False),
        sa.Column("scale", sa.Float(), nullable=True),
        sa.Column("offset", sa.Float(), nullable=True),
        sa.Column("chunk_frames", sa.Integer(), nullable=False),
        sa.Column("n_chunks", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["track_analyses.id"],
            name=op.f("fk_analysis_frame_manifests_analysis_id_track_analyses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_analysis_frame_manifests_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_frame_manifests")),
        sa.UniqueConstraint("analysis_id", "feature", name=op.f("uq_analysis_frame_manifests_analysis_id_feature")),
    )
    with op.batch_alter_table("analysis_frame_manifests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analysis_frame_manifests_analysis_id"), ["analysis_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_analysis_frame_manifests_user_id"), ["user_id"], unique=False)

    op.create_table(
        "analysis_frame_data",
        sa.Column("manifest_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("start_frame", sa.Integer(), nullable=False),
        sa.Column("n_frames", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["analysis_frame_manifests.id"],
            name=op.f("fk_analysis_frame_data_manifest_id_analysis_frame_manifests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_analysis_frame_data_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_frame_data")),
        sa.UniqueConstraint("manifest_id", "chunk_index", name=op.f("uq_analysis_frame_data_manifest_id_chunk_index")),
    )
    with op.batch_alter_table("analysis_frame_data", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analysis_frame_data_manifest_id"), ["manifest_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_analysis_frame_data_user_id"), ["user_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("analysis_frame_data", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analysis_frame_data_user_id"))
        batch_op.drop_index(batch_op.f("ix_analysis_frame_data_manifest_id"))

    op.drop_table("analysis_frame_data")
    with op.batch_alter_table("analysis_frame_manifests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analysis_frame_manifests_user_id"))
        batch_op.drop_index(batch_op.f("ix_analysis_frame_manifests_analysis_id"))

    op.drop_table("analysis_frame_manifests")
    with op.batch_alter_table("analysis_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analysis_events_user_id"))
        batch_op.drop_index(batch_op.f("ix_analysis_events_track_id"))
        batch_op.drop_index(batch_op.f("ix_analysis_events_analysis_id_event_type_time_seconds"))
        batch_op.drop_index(batch_op.f("ix_analysis_events_analysis_id"))

    op.drop_table("analysis_events")
    with op.batch_alter_table("user_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_references_user_id_collection_name_sort_order_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_user_references_user_id"))
        batch_op.drop_index(batch_op.f("ix_user_references_track_id"))

    op.drop_table("user_references")
    with op.batch_alter_table("track_regions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_regions_user_id"))
        batch_op.drop_index(batch_op.f("ix_track_regions_track_id_sort_order_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_track_regions_track_id"))

    op.drop_table("track_regions")
    with op.batch_alter_table("track_annotations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_annotations_user_id"))
        batch_op.drop_index(batch_op.f("ix_track_annotations_track_id_start_time_seconds"))
        batch_op.drop_index(batch_op.f("ix_track_annotations_track_id"))

    op.drop_table("track_annotations")
    with op.batch_alter_table("track_analyses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_track_analyses_user_id"))
        batch_op.drop_index(batch_op.f("ix_track_analyses_track_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_track_analyses_track_id"))
        batch_op.drop_index(batch_op.f("ix_track_analyses_status"))

    op.drop_table("track_analyses")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_user_id"))

    op.drop_table("sessions")
    with op.batch_alter_table("reference_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reference_tracks_user_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_reference_tracks_user_id"))

    op.drop_table("reference_tracks")
    with op.batch_alter_table("listening_prompt_presets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listening_prompt_presets_user_id_sort_order_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_listening_prompt_presets_user_id"))

    op.drop_table("listening_prompt_presets")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_user_id_created_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action_created_at"))

    op.drop_table("audit_log")
    op.drop_table("users")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_published_at_created_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("listening_prompt_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listening_prompt_templates_category_sort_order"))

    op.drop_table("listening_prompt_templates")
