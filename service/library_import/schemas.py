from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import Schema

if TYPE_CHECKING:
    from service.library_import.models import LibraryImport

# The values of ImportStatus, spelled out so the OpenAPI document lists them inline.
ImportStatusValue = Literal["queued", "running", "succeeded", "failed"]
# Who started the import: a user through the API (reads only the import roots) or the operator's command line.
ImportOrigin = Literal["api", "cli"]

# An import of an S3 prefix, half-way through: 126 tracks so far (117 new, 9 already in the library).
_FILES_EXAMPLE: dict[str, Any] = {
    "found": 248,
    "processed": 131,
    "imported": 117,
    "duplicate": 9,
    "not_audio": 3,
    "failed": 2,
}
_ANALYSES_EXAMPLE: dict[str, Any] = {"queued": 71, "running": 2, "succeeded": 52, "failed": 1}
_ERRORS_EXAMPLE: list[Any] = [
    {
        "path": "masters/2019/Night Drive (bounce).wav",
        "reason": "Night Drive (bounce).wav: truncated WAV file: the header declares 52918272 bytes of audio but "
        "only 31457280 are present",
    },
    {"path": "masters/2021/demo_v3.m4a", "reason": "demo_v3.m4a: empty file (0 bytes)"},
]


class ImportCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"source": "s3://studio-archive/masters"}]})

    source: str = Field(
        min_length=1,
        max_length=2048,
        description=(
            "A folder on the server under one of REFTRACK_IMPORT_ROOTS, or s3://bucket/prefix under one of "
            "REFTRACK_IMPORT_S3_ROOTS; anything else is refused with 403"
        ),
        examples=["/srv/music/references", "s3://studio-archive/masters"],
    )


class ImportFileCounts(BaseModel):
    """What became of the source's files so far; ``found`` is null until the source has been listed."""

    model_config = ConfigDict(json_schema_extra={"examples": [_FILES_EXAMPLE]})

    found: int | None
    processed: int
    imported: int
    duplicate: int
    not_audio: int
    failed: int


class AnalysisCounts(BaseModel):
    """The latest analysis status of every track the import added or found, for a progress bar."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ANALYSES_EXAMPLE]})

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.running + self.succeeded + self.failed


class ImportFileError(BaseModel):
    """A file that could not be imported and why: its path on the server, or its key under an s3:// source."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ERRORS_EXAMPLE[0]]})

    path: str
    reason: str


_IMPORT_EXAMPLE: dict[str, Any] = {
    "id": "45515b76-5eec-4183-a88d-dda678919d1f",
    "source": "s3://studio-archive/masters",
    "origin": "api",
    "status": "running",
    "files": _FILES_EXAMPLE,
    "analyses": _ANALYSES_EXAMPLE,
    "errors": _ERRORS_EXAMPLE,
    "error_message": None,
    "created_at": "2026-04-02T09:40:17.302566+00:00",
    "started_at": "2026-04-02T09:40:17.861094+00:00",
    "finished_at": None,
}


class ImportRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_IMPORT_EXAMPLE]})

    id: uuid.UUID
    source: str
    origin: ImportOrigin
    status: ImportStatusValue
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
                "origin": record.origin,
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


class ImportList(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_IMPORT_EXAMPLE], "count": 1}]})

    data: list[ImportRead]
    count: int = Field(description="How many imports you have in all")
