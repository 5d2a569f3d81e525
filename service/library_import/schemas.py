from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, Field

from service.schemas import Schema

if TYPE_CHECKING:
    from service.library_import.models import LibraryImport

ImportStatus = Literal["queued", "running", "succeeded", "failed"]


class ImportCreate(BaseModel):
    source: str = Field(
        min_length=1,
        max_length=2048,
        description="A folder on the server, under one of the allowed import roots, or s3://bucket/prefix",
        examples=["/srv/music/references", "s3://studio-archive/masters"],
    )


class ImportFileCounts(BaseModel):
    """What became of the source's files so far; ``found`` is null until the source has been listed."""

    found: int | None
    processed: int
    imported: int
    duplicate: int
    not_audio: int
    failed: int


class AnalysisCounts(BaseModel):
    """The latest analysis status of every track the import added or found, for a progress bar."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.running + self.succeeded + self.failed


class ImportFileError(BaseModel):
    path: str
    reason: str


class ImportRead(Schema):
    id: uuid.UUID
    source: str
    status: ImportStatus
    files: ImportFileCounts
    analyses: AnalysisCounts
    errors: list[ImportFileError]
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def build(cls, record: LibraryImport, analyses: AnalysisCounts) -> Self:
        return cls.model_validate(
            {
                "id": record.id,
                "source": record.source,
                "status": record.status,
                "files": ImportFileCounts(
                    found=record.files_found,
                    processed=record.files_processed,
                    imported=record.files_imported,
                    duplicate=record.files_duplicate,
                    not_audio=record.files_not_audio,
                    failed=record.files_failed,
                ),
                "analyses": analyses,
                "errors": record.errors,
                "error_message": record.error_message,
                "created_at": record.created_at,
                "started_at": record.started_at,
                "finished_at": record.finished_at,
            }
        )
