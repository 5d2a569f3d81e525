from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service.analysis_run.repository import analysis_run_repository
from service.analysis_run.schemas import AnalysisRead
from service.auth import CurrentUser
from service.config import settings
from service.db import SessionDep
from service.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnprocessableAudio,
    UnsupportedMediaType,
    error_responses,
)
from service.storage import StorageDep
from service.track.models import ReferenceTrack
from service.track.repository import track_repository
from service.track.schemas import TrackList, TrackRead
from service.track.service import TrackFields
from service.track.service import track as track_service
from service.upload import receive_upload

router = APIRouter(prefix="/v1/tracks", tags=["tracks"])


def _read(track: ReferenceTrack, analysis: object | None) -> TrackRead:
    read = TrackRead.model_validate(track)
    read.has_waveform = track.waveform_r2_key is not None
    read.analysis = AnalysisRead.model_validate(analysis) if analysis is not None else None
    return read


_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "wav, aiff, flac, mp3, ogg or m4a"},
                    "title": {"type": "string", "description": "defaults to the file name"},
                    "artist": {"type": "string"},
                    "album": {"type": "string"},
                    "genre": {"type": "string"},
                },
            }
        }
    },
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrackRead,
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        200: {"model": TrackRead, "description": "The same bytes were uploaded before: the existing track"},
        **error_responses(BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, UnprocessableAudio),
    },
)
async def upload_track(
    request: Request, response: Response, session: SessionDep, storage: StorageDep, user: CurrentUser
) -> TrackRead:
    """Upload a reference track (multipart ``file``); its analysis is queued and runs in the background."""
    upload = await receive_upload(request.headers.get("content-type", ""), request.stream(), tmp_dir=settings.tmp_dir)
    try:
        fields = TrackFields(**{k: upload.fields.get(k) for k in ("title", "artist", "album", "genre")})
        ingested = await run_in_threadpool(
            track_service.ingest, session, user=user, upload=upload, fields=fields, storage=storage
        )
        if not ingested.created:
            response.status_code = status.HTTP_200_OK
        return await run_in_threadpool(_read, ingested.track, ingested.analysis)
    finally:
        upload.close()


@router.get("", response_model=TrackList, responses=error_responses(Unauthorized))
def list_tracks(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TrackList:
    """List your tracks, newest first."""
    tracks, count = track_repository.list(session, user_id=user.id, limit=limit, offset=offset)
    latest = analysis_run_repository.latest_for_tracks(session, track_ids=[t.id for t in tracks], user_id=user.id)
    return TrackList(data=[_read(t, latest.get(t.id)) for t in tracks], count=count)


@router.get("/{track_id}", response_model=TrackRead, responses=error_responses(Unauthorized, NotFound))
def get_track(track_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> TrackRead:
    """One track with its latest analysis status."""
    track = track_repository.get(session, user_id=user.id, track_id=track_id)
    if track is None:
        raise NotFound("track not found")
    latest = analysis_run_repository.latest_for_track(session, track_id=track.id, user_id=user.id)
    return _read(track, latest)


@router.get("/{track_id}/analysis", response_model=AnalysisRead, responses=error_responses(Unauthorized, NotFound))
def get_track_analysis(track_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> AnalysisRead:
    """The latest analysis of a track: status, summary results, or the error that stopped it."""
    track = track_repository.get(session, user_id=user.id, track_id=track_id)
    if track is None:
        raise NotFound("track not found")
    latest = analysis_run_repository.latest_for_track(session, track_id=track.id, user_id=user.id)
    if latest is None:
        raise NotFound("track has no analysis")
    return AnalysisRead.model_validate(latest)


@router.delete("/{track_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(Unauthorized, NotFound))
def delete_track(
    request: Request, track_id: uuid.UUID, session: SessionDep, storage: StorageDep, user: CurrentUser
) -> Response:
    """Delete a track with its analyses, annotations and stored files."""
    track_service.delete(
        session,
        user=user,
        track_id=track_id,
        storage=storage,
        ip_address=request.client.host if request.client else None,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
