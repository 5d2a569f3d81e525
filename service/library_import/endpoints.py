"""Library imports: a server folder or an S3 prefix imported in the background, with progress to poll."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, status

from service.config import Settings, get_settings
from service.db import SessionDep
from service.errors import Forbidden, InvalidInput, NotFound, Unauthorized, error_responses
from service.library_import.schemas import ImportCreate, ImportList, ImportRead
from service.library_import.service import library_import as library_import_service
from service.storage import StorageDep
from service.user.auth import CurrentUser

router = APIRouter(prefix="/v1/imports", tags=["imports"])

SettingsDep = Annotated[Settings, Depends(get_settings)]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportRead,
    responses=error_responses(Unauthorized, Forbidden, InvalidInput),
)
def create_import(
    body: Annotated[ImportCreate, Body()], session: SessionDep, user: CurrentUser, cfg: SettingsDep, storage: StorageDep
) -> ImportRead:
    """Import every audio file under a server folder or an s3:// prefix the operator allows (the import roots)
    into your library; it runs in the background. An unfinished import of the same source is returned instead."""
    record = library_import_service.create(session, user=user, source=body.source, cfg=cfg, storage=storage)
    return ImportRead.build(record, library_import_service.analysis_counts(session, import_ids=[record.id]))


@router.get("", response_model=ImportList, responses=error_responses(Unauthorized, InvalidInput))
def list_imports(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ImportList:
    """Your imports, newest first, each with its progress (files by outcome, analyses by status)."""
    page, count = library_import_service.list_imports(session, user=user, limit=limit, offset=offset)
    return ImportList(data=[ImportRead.build(record, analyses) for record, analyses in page], count=count)


@router.get("/{import_id}", response_model=ImportRead, responses=error_responses(Unauthorized, NotFound))
def get_import(import_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> ImportRead:
    """An import's progress: files by outcome, unreadable files with the reason, and analyses by status."""
    found = library_import_service.get(session, user=user, import_id=import_id)
    if found is None:
        raise NotFound("import not found")
    record, analyses = found
    return ImportRead.build(record, analyses)
