"""Settings: the embedded default with nothing set, production chosen by environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings


def test_nothing_set_is_the_embedded_default(tmp_path: Path) -> None:
    # when
    cfg = Settings(_env_file=None, data_dir=tmp_path)
    # then
    assert cfg.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / 'reftrack.db'}"
    assert cfg.is_sqlite is True
    assert cfg.uses_s3 is False
    assert cfg.embedded_broker is True
    assert cfg.celery_broker_url == "filesystem://"
    assert cfg.max_upload_bytes == 1 << 30


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@db:5432/reftrack",
        "postgresql://u:p@db:5432/reftrack",
        "postgresql+psycopg://u:p@db:5432/reftrack",
    ],
)
def test_postgres_urls_are_normalised_to_psycopg(url: str) -> None:
    # when
    cfg = Settings(_env_file=None, database_url=url)
    # then
    assert cfg.sqlalchemy_url == "postgresql+psycopg://u:p@db:5432/reftrack"
    assert cfg.is_sqlite is False


def test_production_is_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("REFTRACK_DATABASE_URL", "postgres://db/reftrack")
    monkeypatch.setenv("REFTRACK_BROKER_URL", "redis://cache:6379/0")
    monkeypatch.setenv("REFTRACK_S3_BUCKET", "tracks")
    monkeypatch.setenv("REFTRACK_S3_ENDPOINT_URL", "https://acct.r2.cloudflarestorage.com")
    # when
    cfg = Settings(_env_file=None)
    # then
    assert cfg.uses_s3 is True
    assert cfg.embedded_broker is False
    assert cfg.celery_broker_url == "redis://cache:6379/0"
    assert cfg.s3_region == "auto"
    assert cfg.s3_addressing_style == "path"


def test_placeholder_secret_is_refused_in_production() -> None:
    # when / then
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=None, environment="production", s3_bucket="b", s3_secret_access_key="changeme")
