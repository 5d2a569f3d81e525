from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from service.schemas import Schema


class AnalysisRead(Schema):
    id: uuid.UUID
    track_id: uuid.UUID
    analysis_type: str
    analyzer_version: str | None
    status: Literal["queued", "running", "succeeded", "failed"]
    parameters: dict[str, Any]
    results: dict[str, Any] | None
    error_message: str | None
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
