from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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
