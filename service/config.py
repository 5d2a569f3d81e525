"""Settings: one object, read from ``REFTRACK_*`` environment variables (and an optional ``.env``).

With nothing set, reftrack runs the embedded default: a SQLite file and local-disk object storage under
``REFTRACK_DATA_DIR`` and a Celery worker on the same machine fed through a broker transport that needs no
server. Setting a database URL, a broker URL and S3 variables selects the production topology.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "minioadmin", "placeholder"}


# S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens, starting and ending alphanumeric.
S3_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
USER_ID_PLACEHOLDER = "{user_id}"
# A web origin as browsers send it in the Origin header: scheme, host and optional port, nothing after.
_ORIGIN = re.compile(r"(?i:https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?")


def _normalise_s3_root(root: str) -> str:
    """``s3://bucket/prefix/`` of an S3 import root, refusing what would make its boundary ambiguous."""
    text = root.strip()
    if not text.startswith("s3://"):
        raise ValueError(f"REFTRACK_IMPORT_S3_ROOTS: {root!r} does not start with s3://")
    bucket, _, prefix = text.removeprefix("s3://").partition("/")
    if not S3_BUCKET_NAME.fullmatch(bucket):
        raise ValueError(f"REFTRACK_IMPORT_S3_ROOTS: {bucket!r} is not an S3 bucket name (lower case, 3-63 characters)")
    prefix = prefix.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise ValueError(f"REFTRACK_IMPORT_S3_ROOTS: {root!r} has an empty, '.' or '..' segment")
    if "{" in prefix.replace(USER_ID_PLACEHOLDER, "") or "}" in prefix.replace(USER_ID_PLACEHOLDER, ""):
        raise ValueError(f"REFTRACK_IMPORT_S3_ROOTS: {root!r} has a placeholder other than {USER_ID_PLACEHOLDER}")
    return f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFTRACK_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".reftrack")

    database_url: str | None = None
    database_pool_size: int = 5
    database_echo: bool = False

    broker_url: str | None = None
    # Seconds before an unacknowledged Redis/SQS message is handed to another worker; must exceed the
    # longest analysis, since Celery runs tasks with acks_late.
    broker_visibility_timeout: int = 3600
    worker_concurrency: int | None = None
    # Run a tiny analysis in the worker's parent process before it forks, so JIT-compiled code is shared by
    # every pool process instead of each one compiling it on its first task.
    worker_warmup: bool = True
    task_max_retries: int = 5
    # The reaper (a periodic task) re-queues an analysis that has been running this long, since its worker was
    # most likely lost; keep it above the longest analysis, like the visibility timeout. A run that has already
    # used 1 + task_max_retries attempts is marked failed instead.
    analysis_timeout_s: int = Field(default=1800, gt=0)
    # A queued analysis no worker took for this long lost its message (broker restarted without persistence,
    # embedded worker killed). Keep it above the time the deepest expected backlog takes to drain.
    analysis_queued_timeout_s: int = Field(default=6 * 3600, gt=0)
    reaper_interval_s: float = Field(default=60.0, ge=0)
    reaper_batch_size: int = Field(default=100, gt=0)

    # The outbox relay publishes committed events to a webhook and/or the broker's "reftrack.events" topic
    # exchange. Failed events are retried after base * 2^n seconds (capped), counted from their creation.
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    outbox_publish_to_broker: bool = False
    outbox_relay_interval_s: float = Field(default=5.0, ge=0)
    outbox_batch_size: int = Field(default=100, gt=0)
    outbox_backoff_base_s: float = Field(default=5.0, gt=0)
    outbox_backoff_max_s: float = Field(default=3600.0, gt=0)

    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str = "auto"
    s3_addressing_style: Literal["auto", "path", "virtual"] = "path"
    s3_connect_timeout: float = 5.0
    s3_read_timeout: float = 60.0
    s3_max_attempts: int = 5
    s3_presign_expiry: int = 3600

    max_upload_bytes: int = Field(default=1 << 30, gt=0)
    # JSON request bodies (every route but the upload and the label-file imports): refused beyond this.
    max_json_bytes: int = Field(default=1 << 20, gt=0)
    # Where POST /v1/imports may read, as JSON lists: server folders ('["/srv/music"]') and S3 prefixes
    # ('["s3://studio-drop/users/{user_id}/"]'), read with the server's own S3 credentials. "{user_id}" makes a
    # root per user. Empty: that kind of source is refused. The service's own storage is never readable.
    import_roots: list[Path] = Field(default_factory=list)
    import_s3_roots: list[str] = Field(default_factory=list)
    # Tracks per transaction when importing a library or queueing re-analyses.
    import_chunk_size: int = Field(default=50, gt=0)
    token_ttl_days: int = 365
    # Key of the HMAC that signs short-lived audio URLs. Unset: a random key kept in REFTRACK_DATA_DIR/secret_key,
    # enough for one server; set the same value on every API server behind one address.
    secret_key: SecretStr | None = None
    # Lifetime of a signed audio URL when the client asks for none (GET /v1/tracks/{id}/audio/url), and the most
    # it may ask for.
    audio_url_ttl_s: int = Field(default=3600, gt=0)
    audio_url_max_ttl_s: int = Field(default=6 * 3600, gt=0)
    # A browser's cookie session (signed in by the link `reftrack serve` prints, or with a token) lasts this long.
    session_ttl_hours: int = Field(default=14 * 24, gt=0)
    # The one-time sign-in link `reftrack serve` prints works once, for this long or until the next start.
    login_ticket_ttl_s: int = Field(default=3600, gt=0)

    # Origins a browser may call the API from, as a JSON list ('["http://localhost:5173"]'); none by default.
    # Listed origins may send credentials (the session cookie, a bearer token); no other origin gets a CORS header.
    cors_origins: list[str] = Field(default_factory=list)

    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("import_roots")
    @classmethod
    def _check_import_roots(cls, value: list[Path]) -> list[Path]:
        for root in value:
            text = str(root)
            if not root.expanduser().is_absolute():
                raise ValueError(f"REFTRACK_IMPORT_ROOTS: {text!r} is not an absolute path")
            if "{" in text.replace(USER_ID_PLACEHOLDER, "") or "}" in text.replace(USER_ID_PLACEHOLDER, ""):
                raise ValueError(f"REFTRACK_IMPORT_ROOTS: {text!r} has a placeholder other than {USER_ID_PLACEHOLDER}")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_cors_origins(cls, value: list[str]) -> list[str]:
        origins = []
        for origin in value:
            text = origin.strip().rstrip("/")
            if text == "*":
                raise ValueError(
                    "REFTRACK_CORS_ORIGINS: '*' is not allowed, since listed origins may send credentials; "
                    "list each origin"
                )
            if not _ORIGIN.fullmatch(text):
                raise ValueError(
                    f"REFTRACK_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port], no path), "
                    "e.g. http://localhost:5173"
                )
            origins.append(text.lower())
        return origins

    @field_validator("import_s3_roots")
    @classmethod
    def _check_import_s3_roots(cls, value: list[str]) -> list[str]:
        return [_normalise_s3_root(root) for root in value]

    @field_validator("webhook_url")
    @classmethod
    def _empty_webhook_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.environment == "production" and self.s3_secret_access_key in _PLACEHOLDER_SECRETS:
            raise ValueError("REFTRACK_S3_SECRET_ACCESS_KEY is a placeholder; set a real secret in production")
        return self

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'reftrack.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def uses_s3(self) -> bool:
        return self.s3_bucket is not None

    @property
    def embedded_broker(self) -> bool:
        """True when no broker server is configured and the filesystem transport carries the tasks."""
        return not self.broker_url

    @property
    def is_embedded(self) -> bool:
        """The zero-configuration deployment: SQLite, local storage and the in-machine broker."""
        return self.database_url is None and self.embedded_broker and not self.uses_s3

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def outbox_relay_enabled(self) -> bool:
        """True when the outbox has somewhere to publish to."""
        return self.webhook_url is not None or self.outbox_publish_to_broker

    @property
    def beat_schedule_file(self) -> Path:
        return self.resolved_data_dir / "celerybeat-schedule"

    @property
    def queue_dir(self) -> Path:
        return self.resolved_data_dir / "queue"

    @property
    def storage_dir(self) -> Path:
        return self.resolved_data_dir / "objects"

    @property
    def tmp_dir(self) -> Path:
        return self.resolved_data_dir / "tmp"

    @property
    def token_file(self) -> Path:
        return self.resolved_data_dir / "token"

    @property
    def secret_key_file(self) -> Path:
        return self.resolved_data_dir / "secret_key"


def get_settings() -> Settings:
    return settings


settings = Settings()
