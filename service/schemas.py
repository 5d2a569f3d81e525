from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# The values of service.analysis_run.models.AnalysisStatus, spelled out so the OpenAPI document lists them inline
# (an enum would be a component of its own). Here because the library filters on them as well.
AnalysisStatusValue = Literal["queued", "running", "succeeded", "failed"]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        # Every stored timestamp is UTC, but SQLite hands them back naive: say so, as PostgreSQL does.
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they are stored in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_as_utc)]
"""A stored timestamp, read back in UTC whatever zone the database session hands it in."""


def refuse_null(value: Any, *, message: str = "may be left out, but not null") -> Any:
    """The validator of an update field that may be omitted but not set to null."""
    if value is None:
        raise ValueError(message)
    return value


class ErrorRead(BaseModel):
    """The one error shape of every 4xx and 5xx response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": "ValidationError", "detail": "end: must be after start", "field": "end"},
                {"error": "NotFound", "detail": "track not found"},
            ]
        }
    )

    error: str
    detail: str
    field: str | None = None
    extra: dict[str, Any] | None = None


HEALTHY_EXAMPLE: dict[str, Any] = {"status": "ok", "checks": {"database": "ok", "storage": "ok", "broker": "ok"}}
DEGRADED_EXAMPLE: dict[str, Any] = {
    "status": "degraded",
    "checks": {
        "database": "ok",
        "storage": "ok",
        "broker": "error: OperationalError",
    },
}


class HealthRead(BaseModel):
    """``ok`` when every dependency answers, else ``degraded`` (with a 503)."""

    model_config = ConfigDict(json_schema_extra={"examples": [HEALTHY_EXAMPLE, DEGRADED_EXAMPLE]})

    status: Literal["ok", "degraded"]
    checks: dict[str, str] = Field(
        description='Each dependency (database, storage, broker): "ok", or "error: " and the kind of failure'
    )
