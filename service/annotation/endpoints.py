"""Annotations and regions of a track: CRUD, snapping, from-sections, Audacity/JAMS import and export.

Annotations and regions are exported and imported separately, each as its own file:
``GET .../annotations/export?format=audacity|jams`` and ``GET .../regions/export?format=...`` (JAMS when
``format`` is left out), and ``POST .../import?format=...`` with the file as the body (text/plain,
application/json) or as the ``file`` part of a multipart form (without ``format``, a JSON object is read as
JAMS and anything else as Audacity labels). Audacity labels carry the times and the text (``[type] title``
for an annotation, ``[type] name`` for a region, the type left out when it is the default); JAMS carries
every field, the ones its namespace (``tag_open`` for annotations, ``segment_open`` for regions) cannot hold
in the sandbox.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.datastructures import UploadFile

from service.annotation.models import TrackAnnotation, TrackRegion
from service.annotation.schemas import (
    AnnotationCreate,
    AnnotationList,
    AnnotationRead,
    AnnotationType,
    AnnotationUpdate,
    FileFormat,
    RegionCreate,
    RegionList,
    RegionRead,
    RegionReorder,
    RegionUpdate,
    SnapTo,
)
from service.annotation.service import Exported
from service.annotation.service import annotation as annotation_service
from service.annotation.service import region as region_service
from service.db import SessionDep
from service.errors import BadRequest, InvalidInput, NotFound, PayloadTooLarge, Unauthorized, error_responses
from service.user.auth import CurrentUser

router = APIRouter(prefix="/v1/tracks", tags=["annotations"])

MAX_IMPORT_BYTES = 5 * 1024 * 1024
# Far beyond any track (11 days), as for the analysis data windows.
MAX_SECONDS = 1_000_000.0

Snap = Annotated[
    SnapTo | None,
    Query(
        description="Move the start and end sent to the nearest beat, or bar (downbeat), of the latest analysis",
    ),
]
ExportFormat = Annotated[FileFormat, Query(alias="format", description="Audacity label track or JAMS (the default)")]
ImportFormat = Annotated[
    FileFormat | None,
    Query(alias="format", description="Audacity label track or JAMS; by default JAMS when the body is a JSON object"),
]


async def import_text(request: Request) -> str:
    """The uploaded label file as text: the raw body, or the ``file`` part of a multipart form."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=8, max_part_size=MAX_IMPORT_BYTES) as form:
            part = form.get("file")
            if isinstance(part, UploadFile):
                data = await part.read(MAX_IMPORT_BYTES + 1)
            elif isinstance(part, str):
                data = part.encode()
            else:
                raise InvalidInput("file: the multipart body has no file part", field="file")
    else:
        buffer = bytearray()
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) > MAX_IMPORT_BYTES:
                break
        data = bytes(buffer)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"label files are limited to {MAX_IMPORT_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("body: the file is not UTF-8 text", field="body") from exc


ImportText = Annotated[str, Depends(import_text)]

_IMPORT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "text/plain": {
            "schema": {"type": "string"},
            "example": "0.000000\t8.000000\tIntro\n8.000000\t8.000000\t[issue] Hats too bright\n",
        },
        "application/json": {"schema": {"type": "object", "description": "a JAMS file"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
    },
}

_EXPORT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The label file, as an attachment",
        "content": {
            "text/plain": {
                "schema": {"type": "string"},
                "example": "0.000000\t8.000000\tIntro\n8.000000\t8.000000\t[issue] Hats too bright\n",
            },
            "application/json": {
                "schema": {"type": "object", "description": "a JAMS file"},
                "example": {
                    "file_metadata": {"title": "Reference", "duration": 24.0, "jams_version": "0.3.4"},
                    "annotations": [
                        {
                            "namespace": "segment_open",
                            "data": [{"time": 0.0, "duration": 8.0, "value": "Intro", "confidence": None}],
                            "sandbox": {"reftrack": [{"region_type": "loop", "position": 0}]},
                        }
                    ],
                },
            },
        },
    }
}


def _file(exported: Exported) -> Response:
    return Response(
        content=exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )


def _annotations(items: list[TrackAnnotation]) -> AnnotationList:
    return AnnotationList(data=[AnnotationRead.model_validate(a) for a in items], count=len(items))


def _regions(items: list[TrackRegion]) -> RegionList:
    return RegionList(data=[RegionRead.model_validate(r) for r in items], count=len(items))


@router.get(
    "/{track_id}/annotations",
    response_model=AnnotationList,
    responses=error_responses(Unauthorized, NotFound, InvalidInput),
)
def list_annotations(
    track_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    types: Annotated[list[AnnotationType] | None, Query(alias="type", description="Only these types")] = None,
    start: Annotated[
        float | None, Query(ge=0, le=MAX_SECONDS, allow_inf_nan=False, description="Window start, seconds")
    ] = None,
    end: Annotated[
        float | None, Query(ge=0, le=MAX_SECONDS, allow_inf_nan=False, description="Window end, seconds")
    ] = None,
) -> AnnotationList:
    """A track's annotations in time order; with ``start``/``end``, only those overlapping that window."""
    items = annotation_service.list_for_track(
        session, user=user, track_id=track_id, types=types, window_start=start, window_end=end
    )
    return _annotations(items)


@router.post(
    "/{track_id}/annotations",
    status_code=status.HTTP_201_CREATED,
    response_model=AnnotationRead,
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput),
)
def create_annotation(
    track_id: uuid.UUID, data: AnnotationCreate, session: SessionDep, user: CurrentUser, snap: Snap = None
) -> TrackAnnotation:
    """Add a point or span annotation; ``snap`` moves it onto the beat or bar grid."""
    return annotation_service.create(session, user=user, track_id=track_id, data=data, snap=snap)


@router.get(
    "/{track_id}/annotations/export",
    response_model=None,
    response_class=Response,
    responses={**_EXPORT_RESPONSE, **error_responses(Unauthorized, NotFound, InvalidInput)},
)
def export_annotations(
    track_id: uuid.UUID, session: SessionDep, user: CurrentUser, fmt: ExportFormat = "jams"
) -> Response:
    """Download a track's annotations as an Audacity label track or a JAMS file (``tag_open``)."""
    return _file(annotation_service.export(session, user=user, track_id=track_id, fmt=fmt))


@router.post(
    "/{track_id}/annotations/import",
    status_code=status.HTTP_201_CREATED,
    response_model=AnnotationList,
    openapi_extra={"requestBody": _IMPORT_BODY},
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput, PayloadTooLarge),
)
def import_annotations(
    track_id: uuid.UUID, session: SessionDep, user: CurrentUser, text: ImportText, fmt: ImportFormat = None
) -> AnnotationList:
    """Import annotations from a label file: all of them, or none with every problem listed by line or path."""
    return _annotations(annotation_service.import_file(session, user=user, track_id=track_id, fmt=fmt, text=text))


@router.get(
    "/{track_id}/annotations/{annotation_id}",
    response_model=AnnotationRead,
    responses=error_responses(Unauthorized, NotFound),
)
def get_annotation(
    track_id: uuid.UUID, annotation_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> TrackAnnotation:
    """One annotation."""
    return annotation_service.get(session, user=user, track_id=track_id, annotation_id=annotation_id)


@router.patch(
    "/{track_id}/annotations/{annotation_id}",
    response_model=AnnotationRead,
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput),
)
def update_annotation(
    track_id: uuid.UUID,
    annotation_id: uuid.UUID,
    data: AnnotationUpdate,
    session: SessionDep,
    user: CurrentUser,
    snap: Snap = None,
) -> TrackAnnotation:
    """Change an annotation; the times are checked as they will be, and ``snap`` moves the ones sent."""
    return annotation_service.update(
        session, user=user, track_id=track_id, annotation_id=annotation_id, data=data, snap=snap
    )


@router.delete(
    "/{track_id}/annotations/{annotation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(Unauthorized, NotFound),
)
def delete_annotation(
    track_id: uuid.UUID, annotation_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> Response:
    """Delete an annotation."""
    annotation_service.delete(session, user=user, track_id=track_id, annotation_id=annotation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{track_id}/regions", response_model=RegionList, responses=error_responses(Unauthorized, NotFound))
def list_regions(track_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> RegionList:
    """A track's regions in list order."""
    return _regions(region_service.list_for_track(session, user=user, track_id=track_id))


@router.post(
    "/{track_id}/regions",
    status_code=status.HTTP_201_CREATED,
    response_model=RegionRead,
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput),
)
def create_region(
    track_id: uuid.UUID, data: RegionCreate, session: SessionDep, user: CurrentUser, snap: Snap = None
) -> TrackRegion:
    """Add a region at the end of the list; ``snap`` moves it onto the beat or bar grid."""
    return region_service.create(session, user=user, track_id=track_id, data=data, snap=snap)


@router.post(
    "/{track_id}/regions/reorder",
    response_model=RegionList,
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput),
)
def reorder_regions(track_id: uuid.UUID, data: RegionReorder, session: SessionDep, user: CurrentUser) -> RegionList:
    """Put the track's regions in the order given: every region id of the track, each once."""
    return _regions(region_service.reorder(session, user=user, track_id=track_id, region_ids=data.ids))


@router.post(
    "/{track_id}/regions/from-sections",
    response_model=RegionList,
    responses={
        201: {"model": RegionList, "description": "Regions were created"},
        **error_responses(Unauthorized, NotFound, InvalidInput),
    },
)
def regions_from_sections(
    track_id: uuid.UUID, response: Response, session: SessionDep, user: CurrentUser
) -> RegionList:
    """A section region per section of the latest analysis (201), skipping those already there (200 if none new)."""
    created = region_service.from_sections(session, user=user, track_id=track_id)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _regions(created)


@router.get(
    "/{track_id}/regions/export",
    response_model=None,
    response_class=Response,
    responses={**_EXPORT_RESPONSE, **error_responses(Unauthorized, NotFound, InvalidInput)},
)
def export_regions(track_id: uuid.UUID, session: SessionDep, user: CurrentUser, fmt: ExportFormat = "jams") -> Response:
    """Download a track's regions as an Audacity label track or a JAMS file (``segment_open``)."""
    return _file(region_service.export(session, user=user, track_id=track_id, fmt=fmt))


@router.post(
    "/{track_id}/regions/import",
    status_code=status.HTTP_201_CREATED,
    response_model=RegionList,
    openapi_extra={"requestBody": _IMPORT_BODY},
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput, PayloadTooLarge),
)
def import_regions(
    track_id: uuid.UUID, session: SessionDep, user: CurrentUser, text: ImportText, fmt: ImportFormat = None
) -> RegionList:
    """Import regions from a label file, appended to the list: all of them, or none with every problem listed."""
    return _regions(region_service.import_file(session, user=user, track_id=track_id, fmt=fmt, text=text))


@router.get(
    "/{track_id}/regions/{region_id}", response_model=RegionRead, responses=error_responses(Unauthorized, NotFound)
)
def get_region(track_id: uuid.UUID, region_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> TrackRegion:
    """One region."""
    return region_service.get(session, user=user, track_id=track_id, region_id=region_id)


@router.patch(
    "/{track_id}/regions/{region_id}",
    response_model=RegionRead,
    responses=error_responses(BadRequest, Unauthorized, NotFound, InvalidInput),
)
def update_region(
    track_id: uuid.UUID,
    region_id: uuid.UUID,
    data: RegionUpdate,
    session: SessionDep,
    user: CurrentUser,
    snap: Snap = None,
) -> TrackRegion:
    """Change a region; the times are checked as they will be, and ``snap`` moves the ones sent."""
    return region_service.update(session, user=user, track_id=track_id, region_id=region_id, data=data, snap=snap)


@router.delete(
    "/{track_id}/regions/{region_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(Unauthorized, NotFound),
)
def delete_region(track_id: uuid.UUID, region_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> Response:
    """Delete a region."""
    region_service.delete(session, user=user, track_id=track_id, region_id=region_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
