"""Analysis data of a track: history, re-analysis, features by window, events, waveforms.

Data endpoints read the latest succeeded analysis, or the one named by ``analysis_id``. Every data response
carries a strong ``ETag`` derived from the analysis id and the request, and answers ``If-None-Match`` with 304.
A response pinned to an analysis id never changes, so it may be cached for good; one that follows the latest
analysis must be revalidated, since a re-analysis replaces it.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any, Literal

import pydantic_core
from fastapi import APIRouter, Query, Request, Response, status

from service.analysis_run import frames
from service.analysis_run.models import AnalysisRun
from service.analysis_run.schemas import (
    EVENT_TYPES,
    AnalysisList,
    AnalysisRead,
    EventList,
    EventRead,
    FeatureList,
    FeatureRead,
    FeatureWindow,
    Reduction,
    WaveformRead,
)
from service.analysis_run.service import analysis_run as analysis_run_service
from service.analysis_run.service import check_start, track_duration, waveform_levels
from service.db import SessionDep
from service.errors import Conflict, InvalidInput, NotFound, Unauthorized, error_responses
from service.http import REVALIDATE, matches
from service.storage import StorageDep
from service.user.auth import CurrentUser

router = APIRouter(prefix="/v1/tracks", tags=["analysis"])

IMMUTABLE = "private, max-age=31536000, immutable"
OCTET_STREAM = "application/octet-stream"

AnalysisIdQuery = Annotated[
    uuid.UUID | None,
    Query(description="Read this succeeded analysis instead of the latest one; the response is then immutable."),
]
# The most channels the analysis accepts, so the most any stored waveform has.
MAX_CHANNELS = 64
# Far beyond any track (11 days), low enough that seconds times any rate stays a finite float.
MAX_SECONDS = 1_000_000.0
StartQuery = Annotated[float, Query(ge=0, le=MAX_SECONDS, allow_inf_nan=False, description="Window start in seconds.")]
EndQuery = Annotated[
    float | None,
    Query(
        ge=0,
        le=MAX_SECONDS,
        allow_inf_nan=False,
        description="Window end in seconds, excluded; the end of the track if omitted.",
    ),
]

_BINARY_RESPONSE = {"schema": {"type": "string", "format": "binary"}}
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "The copy named by If-None-Match is current"}}
# What every data endpoint may answer besides its 200.
_READ_RESPONSES = {**_NOT_MODIFIED, **error_responses(Unauthorized, NotFound, InvalidInput)}


@router.get("/{track_id}/analyses", response_model=AnalysisList, responses=_READ_RESPONSES)
def list_analyses(
    request: Request,
    response: Response,
    track_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AnalysisList | Response:
    """The analyses of a track, newest first: queued, running, succeeded and failed."""
    runs, count = analysis_run_service.list_for_track(
        session, track_id=track_id, user_id=user.id, limit=limit, offset=offset
    )
    body = AnalysisList(data=[AnalysisRead.model_validate(run) for run in runs], count=count)
    headers = {"ETag": etag("analyses", body.model_dump_json()), "Cache-Control": REVALIDATE}
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    response.headers.update(headers)
    return body


@router.post(
    "/{track_id}/analyses",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AnalysisRead,
    responses=error_responses(Unauthorized, NotFound, Conflict),
)
def reanalyse_track(track_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> AnalysisRead:
    """Queue a full re-analysis; the current results stay what the data endpoints read until it succeeds."""
    return AnalysisRead.model_validate(analysis_run_service.reanalyze(session, track_id=track_id, user_id=user.id))


@router.get("/{track_id}/features", response_model=FeatureList, responses=_READ_RESPONSES)
def list_features(
    request: Request,
    response: Response,
    track_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    analysis_id: AnalysisIdQuery = None,
) -> FeatureList | Response:
    """The frame-level feature series of the latest succeeded analysis, with their units and frame rates."""
    run = analysis_run_service.get_succeeded(session, track_id=track_id, user_id=user.id, analysis_id=analysis_id)
    headers = cache_headers(run, pinned=analysis_id is not None, parts=("features",))
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    manifests = analysis_run_service.features(session, run=run)
    response.headers.update(headers)
    return FeatureList(
        analysis_id=run.id,
        analyzer_version=run.analyzer_version,
        waveform_levels=waveform_levels(run),
        data=[FeatureRead.model_validate(m) for m in manifests],
        count=len(manifests),
    )


@router.get(
    "/{track_id}/features/{feature}",
    response_model=FeatureWindow,
    responses={
        200: {
            "description": (
                "JSON, or with `Accept: application/octet-stream` little-endian float32 values, row-major, shaped"
                " as `X-Shape` (`points,dims,2` for minmax, `points,dims` for mean), described by `X-Start`,"
                " `X-Frame-Rate`, `X-Reduce` and `X-Decimation`"
            ),
            "content": {OCTET_STREAM: _BINARY_RESPONSE},
        },
        **_READ_RESPONSES,
    },
)
def get_feature_window(
    request: Request,
    track_id: uuid.UUID,
    feature: str,
    session: SessionDep,
    user: CurrentUser,
    start: StartQuery = 0.0,
    end: EndQuery = None,
    max_points: Annotated[int, Query(ge=1, le=10_000, description="Most points to return.")] = 2000,
    reduce: Annotated[Reduction, Query(description="How frames are combined into a point.")] = "minmax",
    analysis_id: AnalysisIdQuery = None,
) -> Response:
    """Frames of one feature in ``[start, end)``, decimated to at most ``max_points`` points."""
    check_window(start, end)
    run = analysis_run_service.get_succeeded(session, track_id=track_id, user_id=user.id, analysis_id=analysis_id)
    binary = wants_binary(request.headers.get("accept", ""))
    parts = ("feature", feature, start, end, max_points, reduce, "binary" if binary else "json")
    headers = cache_headers(run, pinned=analysis_id is not None, parts=parts) | {"Vary": "Accept"}
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    window = analysis_run_service.feature_window(
        session, run=run, feature=feature, start=start, end=end, max_points=max_points, reduce=reduce
    )
    manifest = window.manifest
    first_time = window.first / manifest.frame_rate
    frame_rate = manifest.frame_rate / window.decimated.factor
    values = window.decimated.values
    if binary:
        headers |= {
            "X-Start": repr(first_time),
            "X-Frame-Rate": repr(frame_rate),
            "X-Shape": ",".join(str(n) for n in values.shape),
            "X-Reduce": reduce,
            "X-Decimation": str(window.decimated.factor),
        }
        return Response(content=values.astype("<f4").tobytes(), media_type=OCTET_STREAM, headers=headers)
    body = {
        "analysis_id": str(run.id),
        "feature": manifest.feature,
        "unit": manifest.unit,
        "reduce": reduce,
        "start": first_time,
        "frame_rate": frame_rate,
        "decimation": window.decimated.factor,
        "points": int(values.shape[0]),
        "dims": manifest.dimensions,
        "shape": list(values.shape),
        # Flat: a nested list per point and dimension would create thousands of lists, and with them collections
        # of the garbage collector's oldest generation, which cost tens of milliseconds on a server's heap.
        "values": frames.round_significant(values, dtype=manifest.dtype).reshape(-1).tolist(),
    }
    return json_response(body, headers)


@router.get("/{track_id}/events", response_model=EventList, responses=_READ_RESPONSES)
def list_events(
    request: Request,
    response: Response,
    track_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    types: Annotated[
        str | None,
        Query(alias="type", description="Comma-separated: beat, downbeat, onset, section. All types if omitted."),
    ] = None,
    start: StartQuery = 0.0,
    end: EndQuery = None,
    analysis_id: AnalysisIdQuery = None,
) -> EventList | Response:
    """Events overlapping ``[start, end)``, ordered by time, then type; a section still running at ``start`` counts."""
    wanted = event_types(types)
    check_window(start, end)
    run = analysis_run_service.get_succeeded(session, track_id=track_id, user_id=user.id, analysis_id=analysis_id)
    check_start(start, track_duration(run))
    headers = cache_headers(run, pinned=analysis_id is not None, parts=("events", *wanted, start, end))
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    events = analysis_run_service.events(session, run=run, types=wanted, start=start, end=end)
    response.headers.update(headers)
    return EventList(analysis_id=run.id, data=[EventRead.model_validate(e) for e in events], count=len(events))


@router.get(
    "/{track_id}/waveform",
    response_model=WaveformRead,
    responses={
        200: {
            "description": (
                "audiowaveform peaks: JSON, or the binary `.dat` version 2 format with `format=dat` (peaks.js:"
                " `waveform.dataUri.arraybuffer` or `.json`; wavesurfer.js: `peaks: [data]` of a `channels=1` JSON"
                " response with `normalize: true`). `X-Start` is the time of the first pixel and `X-Start-Pixel`"
                " its index in the whole track at this zoom"
            ),
            "content": {OCTET_STREAM: _BINARY_RESPONSE},
        },
        **_READ_RESPONSES,
    },
)
def get_waveform(
    request: Request,
    track_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    user: CurrentUser,
    zoom: Annotated[
        int | None,
        Query(
            ge=1,
            le=1 << 24,
            description=(
                "Samples per pixel: a multiple of a stored level (the analysis' `waveform_levels`), served exactly;"
                " any other zoom is refused (422). The finest stored level if neither `zoom` nor `pixels` is given."
            ),
        ),
    ] = None,
    pixels: Annotated[
        int | None,
        Query(
            ge=1,
            le=1 << 16,
            description=(
                "Size the response to a view this many pixels wide: the coarsest zoom (a multiple of a stored level)"
                " that still gives at least this many points for the window (`start`..`end`, the whole track by"
                " default); the finest level for a window too short for that. Not with `zoom`."
            ),
        ),
    ] = None,
    start: StartQuery = 0.0,
    end: EndQuery = None,
    bits: Annotated[int, Query(ge=8, le=16, description="8 or 16.")] = 16,
    format_: Annotated[Literal["json", "dat"], Query(alias="format")] = "json",
    channels: Annotated[
        int | None,
        Query(ge=1, le=MAX_CHANNELS, description="1 merges the channels into one; all stored channels if omitted."),
    ] = None,
    analysis_id: AnalysisIdQuery = None,
) -> Response:
    """Min/max waveform peaks in audiowaveform's formats, as peaks.js and wavesurfer.js load them."""
    if bits not in (8, 16):
        raise InvalidInput("bits must be 8 or 16", field="bits")
    if zoom is not None and pixels is not None:
        raise InvalidInput("give zoom or pixels, not both", field="pixels")
    check_window(start, end)
    run, legacy = analysis_run_service.get_overview_source(
        session, track_id=track_id, user_id=user.id, analysis_id=analysis_id
    )
    parts = ("waveform", zoom, pixels, start, end, bits, format_, channels)
    headers = cache_headers(run, pinned=analysis_id is not None, parts=parts)
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    peaks, first = analysis_run_service.waveform(
        storage, run=run, legacy=legacy, zoom=zoom, pixels=pixels, start=start, end=end, channels=channels, bits=bits
    )
    headers |= {"X-Start": repr(peaks.start_seconds(first)), "X-Start-Pixel": str(first)}
    if format_ == "dat":
        return Response(content=peaks.to_dat(), media_type=OCTET_STREAM, headers=headers)
    return json_response(peaks.to_json(), headers)


@router.get(
    "/{track_id}/waveform.png",
    response_class=Response,
    responses={
        200: {"description": "The waveform thumbnail", "content": {"image/png": _BINARY_RESPONSE}},
        **_READ_RESPONSES,
    },
)
def get_waveform_thumbnail(
    request: Request,
    track_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    user: CurrentUser,
    analysis_id: AnalysisIdQuery = None,
) -> Response:
    """The PNG thumbnail of the whole waveform."""
    run, legacy = analysis_run_service.get_overview_source(
        session, track_id=track_id, user_id=user.id, analysis_id=analysis_id
    )
    headers = cache_headers(run, pinned=analysis_id is not None, parts=("thumbnail",))
    if matches(request, headers["ETag"]):
        return not_modified(headers)
    png = analysis_run_service.thumbnail(storage, run=run, legacy=legacy)
    return Response(content=png, media_type="image/png", headers=headers)


# Shared by the handlers above: caching and validation of the request.


def etag(*parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


def cache_headers(run: AnalysisRun, *, pinned: bool, parts: tuple[object, ...]) -> dict[str, str]:
    return {
        "ETag": etag(str(run.id), *parts),
        "Cache-Control": IMMUTABLE if pinned else REVALIDATE,
        "X-Analysis-Id": str(run.id),
    }


def not_modified(headers: dict[str, str]) -> Response:
    return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)


def wants_binary(accept: str) -> bool:
    """Whether ``Accept`` prefers raw float32 to JSON; JSON wins ties and wildcards."""
    quality = {"application/json": 0.0, OCTET_STREAM: 0.0}
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if media.lower() not in quality:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[media.lower()] = max(quality[media.lower()], q)
    return quality[OCTET_STREAM] > quality["application/json"]


def json_response(body: dict[str, Any], headers: dict[str, str]) -> Response:
    # Serialised directly: validating tens of thousands of numbers against the response model costs more than
    # the rest of the request. NaN and infinities (gaps, silence) become null.
    content = pydantic_core.to_json(body, inf_nan_mode="null")
    return Response(content=content, media_type="application/json", headers=headers)


def check_window(start: float, end: float | None) -> None:
    if end is not None and end <= start:
        raise InvalidInput("end must be after start", field="end")


def event_types(raw: str | None) -> list[str]:
    names = sorted({name.strip() for name in (raw or "").split(",") if name.strip()})
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"unknown event type {', '.join(map(repr, unknown))}; expected {', '.join(EVENT_TYPES)}", field="type"
        )
    return names or list(EVENT_TYPES)
