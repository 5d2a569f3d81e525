"""The library's routes, ``/v1/tracks`` and ``/v1/admin/tracks``: tracks as the API shows them, each with its
latest analysis, and their originals."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.analysis_run.models import AnalysisRun
from service.analysis_run.schemas import AnalysisRead
from service.config import settings
from service.db import SessionDep
from service.errors import (
    BadRequest,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    StorageUnavailable,
    Unauthorized,
    UnprocessableAudio,
    UnsupportedMediaType,
    error_responses,
)
from service.http import REVALIDATE, matches
from service.library.schemas import AdminTrackList, AdminTrackRead, TrackList, TrackRead
from service.library.service import library as library_service
from service.storage import StorageDep
from service.track.ingest import TrackFields
from service.track.models import Track
from service.track.schemas import AdminTrackListQuery, AudioUrlRead, TrackListQuery, TrackUpdate
from service.track.service import AudioFile, AudioRedirect
from service.track.service import track as track_service
from service.upload import receive_upload
from service.user.auth import AdminUser, CurrentUser, client_ip

router = APIRouter(prefix="/v1/tracks", tags=["tracks"])
# Every user's tracks, for admins. The app includes it after the user routes, where it was first declared: its
# place among the operations and its tags (those of the auth router, then "admin") stay as they were.
admin_router = APIRouter()


def _read(track: Track, analysis: AnalysisRun | None) -> TrackRead:
    return TrackRead.build(track, analysis)


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
        200: {
            "model": TrackRead,
            "description": (
                "The same bytes were uploaded before: the existing track, unchanged. `X-Duplicate-Of` names it;"
                " `X-Ignored-Fields` lists the form fields sent that differ from it (change them with PATCH)"
            ),
            "headers": {
                "X-Duplicate-Of": {"description": "The id of the existing track", "schema": {"type": "string"}},
                "X-Ignored-Fields": {
                    "description": "Comma-separated form fields not applied, e.g. `title, artist`",
                    "schema": {"type": "string"},
                },
            },
        },
        **error_responses(BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, UnprocessableAudio),
    },
)
async def upload_track(
    request: Request, response: Response, session: SessionDep, storage: StorageDep, user: CurrentUser
) -> TrackRead:
    """Upload a reference track (multipart ``file``); its analysis is queued and runs in the background. The same
    bytes again answer 200 with the existing track, unchanged, and say so in `X-Duplicate-Of`."""
    upload = await receive_upload(request.headers.get("content-type", ""), request.stream(), tmp_dir=settings.tmp_dir)
    try:
        fields = TrackFields(**{k: upload.fields.get(k) for k in ("title", "artist", "album", "genre")})
        ingested = await run_in_threadpool(
            library_service.ingest, session, user=user, upload=upload, fields=fields, storage=storage
        )
        if not ingested.created:
            response.status_code = status.HTTP_200_OK
            response.headers["X-Duplicate-Of"] = str(ingested.track.id)
            if ingested.ignored:
                response.headers["X-Ignored-Fields"] = ", ".join(ingested.ignored)
        return await run_in_threadpool(_read, ingested.track, ingested.analysis)
    finally:
        upload.close()


@router.get("", response_model=TrackList, responses=error_responses(Unauthorized, InvalidInput))
def list_tracks(session: SessionDep, user: CurrentUser, query: Annotated[TrackListQuery, Query()]) -> TrackList:
    """Your library: filter by BPM, key (optionally with its compatible keys), genre, artist, analysis status or
    text; sort by created_at, title, bpm, duration or loudness (missing values last in either order); page
    with ``next_cursor``. Pages stay consistent while tracks are added: no track is repeated or skipped."""
    page = library_service.list_tracks(session, user=user, query=query)
    return TrackList(
        data=[_read(t, page.latest.get(t.id)) for t in page.tracks], next_cursor=page.next_cursor, count=page.count
    )


@router.get("/{track_id}", response_model=TrackRead, responses=error_responses(Unauthorized, NotFound))
def get_track(track_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> TrackRead:
    """One track with its latest analysis status."""
    return _read(*library_service.get(session, user=user, track_id=track_id))


@router.patch("/{track_id}", response_model=TrackRead, responses=error_responses(Unauthorized, NotFound, InvalidInput))
def update_track(
    track_id: uuid.UUID, changes: Annotated[TrackUpdate, Body()], session: SessionDep, user: CurrentUser
) -> TrackRead:
    """Change a track's title, artist, album, genre, reference flag or metadata; omitted fields are kept."""
    return _read(*library_service.update(session, user=user, track_id=track_id, changes=changes))


_AUDIO_CONTENT = {"audio/*": {"schema": {"type": "string", "format": "binary"}}}
_AUDIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole original", "content": _AUDIO_CONTENT},
    206: {
        "description": "The requested byte range (`Range: bytes=a-b`, `bytes=a-` or `bytes=-n`)",
        "content": _AUDIO_CONTENT,
    },
    307: {"description": "Object storage (S3, R2): redirect to a presigned URL of the original"},
    **error_responses(Unauthorized, NotFound, RangeNotSatisfiable, StorageUnavailable),
}


@router.get("/{track_id}/audio", response_model=None, response_class=Response, responses=_AUDIO_RESPONSES)
def get_track_audio(
    track_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    user: CurrentUser,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Response:
    """The uploaded original, for playback: a redirect to object storage, or streamed with HTTP Range support.
    The app's session cookie authenticates it, so `<audio src>` plays it; other frontends ask for a signed URL
    (`GET /v1/tracks/{track_id}/audio/url`)."""
    audio = track_service.audio(
        session, user=user, track_id=track_id, storage=storage, range_header=range_header, if_range=if_range
    )
    return _audio_response(audio, max_age_s=3600)


@router.get(
    "/{track_id}/audio/url",
    response_model=AudioUrlRead,
    responses=error_responses(Unauthorized, NotFound, InvalidInput, StorageUnavailable),
)
def get_track_audio_url(
    request: Request,
    track_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    user: CurrentUser,
    expires_in: Annotated[
        int | None,
        Query(ge=1, le=settings.audio_url_max_ttl_s, description="Seconds the URL works; defaults to an hour"),
    ] = None,
) -> AudioUrlRead:
    """A short-lived URL that plays the original without credentials, for a media element of a frontend that
    authenticates with a token: presigned by object storage (S3, R2), or signed for this service (local
    storage); both honour HTTP Range. The URL is bound to this user and track; treat it as a secret."""
    ttl = expires_in or settings.audio_url_ttl_s
    signed = track_service.audio_url(session, user=user, track_id=track_id, storage=storage, expires_in=ttl)
    url = signed.url
    if url is None:
        base = str(request.url_for("get_signed_track_audio", track_id=track_id))
        url = f"{base}?{urlencode({'user': signed.user_id, 'expires': signed.expires, 'signature': signed.signature})}"
    return AudioUrlRead(url=url, expires_at=datetime.fromtimestamp(signed.expires, UTC))


@router.get("/{track_id}/audio/signed", response_model=None, response_class=Response, include_in_schema=False)
def get_signed_track_audio(
    track_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    user: Annotated[uuid.UUID, Query()],
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=100)],
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Response:
    """The original behind a URL from `GET /v1/tracks/{track_id}/audio/url`: the URL is its credential."""
    audio = track_service.signed_audio(
        session,
        track_id=track_id,
        user_id=user,
        expires=expires,
        signature=signature,
        storage=storage,
        range_header=range_header,
        if_range=if_range,
    )
    # Cached no longer than the URL works.
    remaining = max(0, min(3600, expires - int(time.time())))
    return _audio_response(audio, max_age_s=remaining)


def _audio_response(audio: AudioRedirect | AudioFile, *, max_age_s: int) -> Response:
    if isinstance(audio, AudioRedirect):
        return RedirectResponse(audio.url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(audio.length),
        "ETag": audio.etag,
        "Cache-Control": f"private, max-age={max_age_s}",
    }
    if audio.partial:
        headers["Content-Range"] = f"bytes {audio.first}-{audio.last}/{audio.size}"
    return StreamingResponse(
        audio.chunks(),
        status_code=status.HTTP_206_PARTIAL_CONTENT if audio.partial else status.HTTP_200_OK,
        media_type=audio.content_type,
        headers=headers,
    )


@router.get(
    "/{track_id}/analysis",
    response_model=AnalysisRead,
    responses={
        304: {"description": "The copy named by If-None-Match is current"},
        **error_responses(Unauthorized, NotFound),
    },
)
def get_track_analysis(request: Request, track_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    """The latest analysis of a track: status, summary results, or the error that stopped it. Its `ETag` changes
    with any of it (status, progress, results), so polling with `If-None-Match` gets 304 until something does."""
    latest = library_service.latest_analysis(session, user=user, track_id=track_id)
    body = AnalysisRead.model_validate(latest).model_dump(mode="json")
    content = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    headers = {"ETag": f'"{hashlib.sha256(content).hexdigest()[:32]}"', "Cache-Control": REVALIDATE}
    if matches(request, headers["ETag"]):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=content, media_type="application/json", headers=headers)


@router.delete("/{track_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(Unauthorized, NotFound))
def delete_track(
    request: Request, track_id: uuid.UUID, session: SessionDep, storage: StorageDep, user: CurrentUser
) -> Response:
    """Delete a track with its analyses, annotations and stored files."""
    track_service.delete(session, user=user, track_id=track_id, storage=storage, ip_address=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.get(
    "/v1/admin/tracks",
    response_model=AdminTrackList,
    tags=["auth", "admin"],
    responses=error_responses(Unauthorized, Forbidden, InvalidInput),
)
def list_all_tracks(
    request: Request, session: SessionDep, admin: AdminUser, query: Annotated[AdminTrackListQuery, Query()]
) -> AdminTrackList:
    """Every user's tracks with their owner, filtered, sorted and paged like the library (admin only, audited)."""
    page = library_service.list_all_tracks(session, admin=admin, query=query, ip_address=client_ip(request))
    return AdminTrackList(
        data=[AdminTrackRead.build(t, page.latest.get(t.id)) for t in page.tracks],
        next_cursor=page.next_cursor,
        count=page.count,
    )
