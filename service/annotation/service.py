from __future__ import annotations

import bisect
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.orm import Session

from service.analysis_run.service import analysis_run as analysis_run_service
from service.annotation.formats import (
    FormatError,
    Label,
    Problem,
    Row,
    guess_format,
    json_path,
    read_audacity,
    read_jams,
    tag_text,
    untag_text,
    write_audacity,
    write_jams,
)
from service.annotation.models import TrackAnnotation, TrackRegion
from service.annotation.repository import annotation_repository, region_repository
from service.annotation.schemas import (
    ANNOTATION_TYPES,
    REGION_TYPES,
    AnnotationCreate,
    AnnotationUpdate,
    FileFormat,
    RegionCreate,
    RegionUpdate,
    SnapTo,
)
from service.errors import InvalidInput, NotFound
from service.track.models import Track
from service.track.repository import track_repository
from service.user.models import User

ANNOTATION_NAMESPACE = "tag_open"
REGION_NAMESPACE = "segment_open"
MAX_IMPORT_LABELS = 10_000
MAX_REPORTED_PROBLEMS = 100
# Audacity keeps six decimals and JAMS stores an end as start + duration: a time written at the very end of a
# track can come back a hair past it.
IMPORT_TOLERANCE_S = 1e-6

_SNAP_EVENTS: dict[SnapTo, tuple[str, str]] = {"beat": ("beat", "beat"), "bar": ("downbeat", "bar")}
_ANNOTATION_EXTRAS = ("annotation_type", "title", "content", "color", "tags")
_REGION_EXTRAS = ("region_type", "loop_count", "is_favorite", "color")

M = TypeVar("M", bound=BaseModel)
_Item = TypeVar("_Item", TrackAnnotation, TrackRegion)

TimeCode = Literal["start_after_track", "end_after_track", "end_not_after_start", "start_not_before_end", "no_end"]


@dataclass(frozen=True, slots=True)
class Exported:
    """A label file ready to download."""

    content: str
    media_type: str
    filename: str


@dataclass(frozen=True, slots=True)
class _TimeProblem:
    field: str
    code: TimeCode


def _time_problems(
    start: float, end: float | None, *, duration: float | None, span: bool, blame_start: bool = False
) -> list[_TimeProblem]:
    """What is wrong with a start and end on a track of ``duration`` (``None``, not known: no upper bound).

    ``span`` requires an end (regions); ``blame_start`` names the start when the two are out of order, for an
    update that moved only the start.
    """
    problems = []
    if duration is not None and start > duration:
        problems.append(_TimeProblem("start_time_seconds", "start_after_track"))
    if end is None:
        if span:
            problems.append(_TimeProblem("end_time_seconds", "no_end"))
    elif end <= start:
        if blame_start:
            problems.append(_TimeProblem("start_time_seconds", "start_not_before_end"))
        else:
            problems.append(_TimeProblem("end_time_seconds", "end_not_after_start"))
    elif duration is not None and end > duration:
        problems.append(_TimeProblem("end_time_seconds", "end_after_track"))
    return problems


def _request_message(code: TimeCode, duration: float | None) -> str:
    return {
        "start_after_track": f"is past the end of the track ({duration or 0:.3f} s)",
        "end_after_track": f"is past the end of the track ({duration or 0:.3f} s)",
        "end_not_after_start": "must be after start_time_seconds",
        "start_not_before_end": "must be before end_time_seconds",
        "no_end": "is required",
    }[code]


def _file_message(code: TimeCode, duration: float | None, *, by_path: bool) -> str:
    """The message for a label; ``by_path`` when it is placed at the JAMS value (``.time`` or ``.duration``)."""
    if by_path:
        return {
            "start_after_track": f"is past the end of the track ({duration or 0:.3f} s)",
            "end_after_track": f"time + duration is past the end of the track ({duration or 0:.3f} s)",
            "end_not_after_start": "must be greater than 0",
            "start_not_before_end": "must be greater than 0",
            "no_end": "must be greater than 0 for a region",
        }[code]
    return {
        "start_after_track": f"start is past the end of the track ({duration or 0:.3f} s)",
        "end_after_track": f"end is past the end of the track ({duration or 0:.3f} s)",
        "end_not_after_start": "end before start",
        "start_not_before_end": "end before start",
        "no_end": "a region needs an end after its start, not a point",
    }[code]


def _raise_times(problems: list[_TimeProblem], duration: float | None) -> None:
    if problems:
        first = problems[0]
        raise InvalidInput(f"{first.field}: {_request_message(first.code, duration)}", field=first.field)


def _invalid(problems: list[Problem]) -> InvalidInput:
    """One error for a whole file: the first problem as the detail, up to a hundred listed in ``extra``."""
    first = problems[0]
    reported = [{"field": p.field, "detail": p.detail} for p in problems[:MAX_REPORTED_PROBLEMS]]
    return InvalidInput(first.detail, field=first.field, errors=reported, error_count=len(problems))


def _snap_grid(session: Session, *, track: Track, snap: SnapTo) -> list[float]:
    event_type, unit = _SNAP_EVENTS[snap]
    analysis = analysis_run_service.latest_succeeded(session, track_id=track.id, user_id=track.user_id)
    times = [] if analysis is None else analysis_run_service.event_times(session, run=analysis, event_type=event_type)
    if not times:
        raise InvalidInput(f"snap: the track has no analysed {unit}s to snap to", field="snap")
    return times


def _nearest(grid: list[float], t: float) -> float:
    """The grid time closest to ``t``; the earlier one on a tie."""
    i = bisect.bisect_left(grid, t)
    candidates = grid[max(i - 1, 0) : i + 1]
    return min(candidates, key=lambda g: (abs(g - t), g))


def _place(
    session: Session,
    *,
    track: Track,
    start: float,
    end: float | None,
    span: bool,
    snap: SnapTo | None,
    snap_start: bool = True,
    snap_end: bool = True,
    blame_start: bool = False,
) -> tuple[float, float | None]:
    """Validate a start and end on the track, then snap the requested ones to the beat or bar grid."""
    duration = track.duration_seconds
    _raise_times(_time_problems(start, end, duration=duration, span=span, blame_start=blame_start), duration)
    if snap is None or not (snap_start or (snap_end and end is not None)):
        return start, end
    grid = _snap_grid(session, track=track, snap=snap)
    if snap_start:
        start = _nearest(grid, start)
    if snap_end and end is not None:
        end = _nearest(grid, end)
    if end is not None and end <= start:
        field = "start_time_seconds" if blame_start else "end_time_seconds"
        unit = _SNAP_EVENTS[snap][1]
        raise InvalidInput(
            f"{field}: start and end snap to the same {unit} ({start:.3f} s); the span is shorter than one {unit}",
            field=field,
        )
    return start, end


def _filename(track: Track, kind: str, fmt: FileFormat) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", track.title).strip("-.")[:80] or "track"
    return f"{stem}-{kind}.{'txt' if fmt == 'audacity' else 'jams'}"


def _jams_duration(track: Track, rows: Sequence[Row]) -> float:
    if track.duration_seconds is not None:
        return track.duration_seconds
    return max((row.start_s if row.end_s is None else row.end_s for row in rows), default=0.0)


def _export(track: Track, rows: Sequence[Row], *, kind: str, fmt: FileFormat, namespace: str) -> Exported:
    if fmt == "audacity":
        return Exported(write_audacity(rows), "text/plain; charset=utf-8", _filename(track, kind, fmt))
    content = write_jams(
        rows,
        namespace=namespace,
        duration_s=_jams_duration(track, rows),
        title=track.title,
        artist=track.artist or "",
        release=track.album or "",
    )
    return Exported(content, "application/json", _filename(track, kind, fmt))


def _read_labels(fmt: FileFormat, text: str, *, namespace: str) -> list[Label]:
    """The labels of a file, or one :class:`InvalidInput` listing every problem found while reading it."""
    try:
        labels = read_audacity(text) if fmt == "audacity" else read_jams(text, namespace=namespace)
    except FormatError as exc:
        raise _invalid(exc.problems) from exc
    if len(labels) > MAX_IMPORT_LABELS:
        raise InvalidInput(f"body: more than {MAX_IMPORT_LABELS} labels in one file", field="body")
    return labels


_KEYS = {"start_time_seconds": "start", "end_time_seconds": "end"}
_LINE_NAMES = {"start": "start", "end": "end", "text": "label"}


class _LabelReader:
    """Turns the labels of a file into validated create inputs, collecting every problem with its place."""

    def __init__(self, track: Track, *, text_field: str, span: bool) -> None:
        self.duration = track.duration_seconds
        self.text_field = text_field
        self.span = span
        self.problems: list[Problem] = []

    def _key(self, label: Label, field: str) -> str:
        if field in _KEYS:
            return _KEYS[field]
        if field == self.text_field and field not in label.extras:
            return "text"
        return field

    def _problem(self, label: Label, field: str, message: str, *, sub: Sequence[int | str] = ()) -> None:
        key = self._key(label, field)
        path = label.paths.get(key)
        if path is not None:
            self.problems.append(Problem(json_path(sub, base=path), message))
        else:
            self.problems.append(Problem(label.where, f"{_LINE_NAMES.get(key, key)}: {message}"))

    def _clamp(self, t: float) -> float:
        if self.duration is not None and self.duration < t <= self.duration + IMPORT_TOLERANCE_S:
            return self.duration
        return t

    def read(self, label: Label, values: dict[str, Any], model: type[M]) -> M | None:
        """The validated input for one label (``values`` plus its times), or ``None`` with its problems recorded."""
        start = values["start_time_seconds"] = self._clamp(label.start_s)
        end = values["end_time_seconds"] = None if label.end_s is None else self._clamp(label.end_s)
        item: M | None = None
        errors: list[ErrorDetails] = []
        try:
            item = model.model_validate(values)
        except ValidationError as exc:
            errors = exc.errors()
        invalid = {str(e["loc"][0]) for e in errors if e["loc"]}
        for error in errors:
            field, *sub = error["loc"] or ("body",)
            if field == "end_time_seconds" and end is None:
                continue  # a point where a span is needed: reported below in the format's words
            self._problem(label, str(field), error["msg"].removeprefix("Value error, "), sub=sub)
        if "start_time_seconds" in invalid or ("end_time_seconds" in invalid and end is not None):
            return None
        times = _time_problems(start, end, duration=self.duration, span=self.span)
        for problem in times:
            key = self._key(label, problem.field)
            if key in label.paths:
                self.problems.append(
                    Problem(label.paths[key], _file_message(problem.code, self.duration, by_path=True))
                )
            else:
                self.problems.append(Problem(label.where, _file_message(problem.code, self.duration, by_path=False)))
        return None if times or errors else item


def _extras(label: Label, keys: Sequence[str]) -> dict[str, Any]:
    return {key: label.extras[key] for key in keys if key in label.extras}


class _TrackItemService(ABC, Generic[_Item]):
    """What annotations and regions share: rows on one of the user's tracks, their times checked against it."""

    noun: ClassVar[str]
    span: ClassVar[bool]

    @abstractmethod
    def _find(
        self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID, item_id: uuid.UUID
    ) -> _Item | None: ...

    def _owned(self, session: Session, *, user: User, track_id: uuid.UUID, item_id: uuid.UUID) -> tuple[Track, _Item]:
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        item = self._find(session, user_id=user.id, track_id=track.id, item_id=item_id)
        if item is None:
            raise NotFound(f"{self.noun} not found")
        return track, item

    def _placed(
        self,
        session: Session,
        *,
        user: User,
        track_id: uuid.UUID,
        data: AnnotationCreate | RegionCreate,
        snap: SnapTo | None,
    ) -> tuple[Track, float, float | None]:
        """The track and the new item's times, validated and snapped."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        start, end = _place(
            session, track=track, start=data.start_time_seconds, end=data.end_time_seconds, span=self.span, snap=snap
        )
        return track, start, end

    def _update(
        self,
        session: Session,
        *,
        user: User,
        track_id: uuid.UUID,
        item_id: uuid.UUID,
        data: AnnotationUpdate | RegionUpdate,
        snap: SnapTo | None,
    ) -> _Item:
        track, item = self._owned(session, user=user, track_id=track_id, item_id=item_id)
        changes = data.model_dump(exclude_unset=True)
        start, end = _place(
            session,
            track=track,
            start=changes.get("start_time_seconds", item.start_time_seconds),
            end=changes.get("end_time_seconds", item.end_time_seconds),
            span=self.span,
            snap=snap,
            snap_start="start_time_seconds" in changes,
            snap_end="end_time_seconds" in changes,
            blame_start="end_time_seconds" not in changes,
        )
        # A region's end is never None here: _place refuses a span without one.
        for key, value in {**changes, "start_time_seconds": start, "end_time_seconds": end}.items():
            setattr(item, key, value)
        session.flush()
        return item

    def _delete(self, session: Session, *, user: User, track_id: uuid.UUID, item_id: uuid.UUID) -> None:
        _, item = self._owned(session, user=user, track_id=track_id, item_id=item_id)
        session.delete(item)
        session.flush()


class AnnotationService(_TrackItemService[TrackAnnotation]):
    noun = "annotation"
    span = False

    def list_for_track(
        self,
        session: Session,
        *,
        user: User,
        track_id: uuid.UUID,
        types: Sequence[str] | None = None,
        window_start: float | None = None,
        window_end: float | None = None,
    ) -> list[TrackAnnotation]:
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        if window_start is not None and window_end is not None and window_end < window_start:
            raise InvalidInput("end: must not be before start", field="end")
        return annotation_repository.list(
            session,
            user_id=user.id,
            track_id=track.id,
            types=types,
            window_start=window_start,
            window_end=window_end,
        )

    def get(self, session: Session, *, user: User, track_id: uuid.UUID, annotation_id: uuid.UUID) -> TrackAnnotation:
        return self._owned(session, user=user, track_id=track_id, item_id=annotation_id)[1]

    def _find(
        self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID, item_id: uuid.UUID
    ) -> TrackAnnotation | None:
        return annotation_repository.get(session, user_id=user_id, track_id=track_id, annotation_id=item_id)

    def create(
        self, session: Session, *, user: User, track_id: uuid.UUID, data: AnnotationCreate, snap: SnapTo | None = None
    ) -> TrackAnnotation:
        track, start, end = self._placed(session, user=user, track_id=track_id, data=data, snap=snap)
        annotation = self._new(
            session, track=track, data=data.model_copy(update={"start_time_seconds": start, "end_time_seconds": end})
        )
        session.flush()
        return annotation

    def _new(self, session: Session, *, track: Track, data: AnnotationCreate) -> TrackAnnotation:
        annotation = TrackAnnotation(
            track_id=track.id,
            user_id=track.user_id,
            start_time_seconds=data.start_time_seconds,
            end_time_seconds=data.end_time_seconds,
            annotation_type=data.annotation_type,
            title=data.title,
            content=data.content,
            color=data.color,
            tags=list(data.tags),
        )
        session.add(annotation)
        return annotation

    def update(
        self,
        session: Session,
        *,
        user: User,
        track_id: uuid.UUID,
        annotation_id: uuid.UUID,
        data: AnnotationUpdate,
        snap: SnapTo | None = None,
    ) -> TrackAnnotation:
        """Apply the fields sent, validating the times as they will be; ``snap`` moves only the times sent."""
        return self._update(session, user=user, track_id=track_id, item_id=annotation_id, data=data, snap=snap)

    def delete(self, session: Session, *, user: User, track_id: uuid.UUID, annotation_id: uuid.UUID) -> None:
        self._delete(session, user=user, track_id=track_id, item_id=annotation_id)

    def export(self, session: Session, *, user: User, track_id: uuid.UUID, fmt: FileFormat) -> Exported:
        """Audacity labels carry times and ``[type] title``; JAMS carries every field."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        annotations = annotation_repository.list(session, user_id=user.id, track_id=track.id)
        if fmt == "audacity":
            rows = [
                Row(a.start_time_seconds, a.end_time_seconds, tag_text(a.annotation_type, a.title, default="note"))
                for a in annotations
            ]
        else:
            rows = [
                Row(
                    a.start_time_seconds,
                    a.end_time_seconds,
                    a.title or a.annotation_type,
                    extras={
                        "annotation_type": a.annotation_type,
                        "title": a.title,
                        "content": a.content,
                        "color": a.color,
                        "tags": list(a.tags),
                    },
                )
                for a in annotations
            ]
        return _export(track, rows, kind="annotations", fmt=fmt, namespace=ANNOTATION_NAMESPACE)

    def import_file(
        self, session: Session, *, user: User, track_id: uuid.UUID, text: str, fmt: FileFormat | None = None
    ) -> list[TrackAnnotation]:
        """Create an annotation per label of the file, or none: every label is checked before any is written."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        fmt = fmt or guess_format(text)
        labels = _read_labels(fmt, text, namespace=ANNOTATION_NAMESPACE)
        reader = _LabelReader(track, text_field="title", span=False)
        items: list[AnnotationCreate] = []
        for label in labels:
            if fmt == "audacity":
                kind, title = untag_text(label.text, kinds=ANNOTATION_TYPES, default="note")
                values: dict[str, Any] = {"annotation_type": kind, "title": title or None}
            else:
                values = {"title": label.text or None, **_extras(label, _ANNOTATION_EXTRAS)}
            item = reader.read(label, values, AnnotationCreate)
            if item is not None:
                items.append(item)
        if reader.problems:
            raise _invalid(reader.problems)
        annotations = [self._new(session, track=track, data=item) for item in items]
        session.flush()
        return annotations


def _section_name(label: str | None, role: Any, index: int) -> str:
    """``"A · intro"`` from the section letter and its role, or ``"Section 3"`` when the analysis gave neither."""
    parts = [p.strip() for p in (label, role if isinstance(role, str) else None) if p and p.strip()]
    return (" · ".join(parts) or f"Section {index + 1}")[:200]


class RegionService(_TrackItemService[TrackRegion]):
    noun = "region"
    span = True

    def list_for_track(self, session: Session, *, user: User, track_id: uuid.UUID) -> list[TrackRegion]:
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        return region_repository.list(session, user_id=user.id, track_id=track.id)

    def get(self, session: Session, *, user: User, track_id: uuid.UUID, region_id: uuid.UUID) -> TrackRegion:
        return self._owned(session, user=user, track_id=track_id, item_id=region_id)[1]

    def _find(
        self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID, item_id: uuid.UUID
    ) -> TrackRegion | None:
        return region_repository.get(session, user_id=user_id, track_id=track_id, region_id=item_id)

    def create(
        self, session: Session, *, user: User, track_id: uuid.UUID, data: RegionCreate, snap: SnapTo | None = None
    ) -> TrackRegion:
        """A new region goes to the end of the track's list."""
        track, start, end = self._placed(session, user=user, track_id=track_id, data=data, snap=snap)
        region = self._new(
            session, track=track, data=data.model_copy(update={"start_time_seconds": start, "end_time_seconds": end})
        )
        session.flush()
        return region

    def _new(self, session: Session, *, track: Track, data: RegionCreate, sort_order: int | None = None) -> TrackRegion:
        if sort_order is None:
            sort_order = region_repository.next_sort_order(session, user_id=track.user_id, track_id=track.id)
        region = TrackRegion(
            track_id=track.id,
            user_id=track.user_id,
            name=data.name,
            start_time_seconds=data.start_time_seconds,
            end_time_seconds=data.end_time_seconds,
            region_type=data.region_type,
            loop_count=data.loop_count,
            is_favorite=data.is_favorite,
            color=data.color,
            sort_order=sort_order,
        )
        session.add(region)
        return region

    def update(
        self,
        session: Session,
        *,
        user: User,
        track_id: uuid.UUID,
        region_id: uuid.UUID,
        data: RegionUpdate,
        snap: SnapTo | None = None,
    ) -> TrackRegion:
        """Apply the fields sent, validating the times as they will be; ``snap`` moves only the times sent."""
        return self._update(session, user=user, track_id=track_id, item_id=region_id, data=data, snap=snap)

    def delete(self, session: Session, *, user: User, track_id: uuid.UUID, region_id: uuid.UUID) -> None:
        self._delete(session, user=user, track_id=track_id, item_id=region_id)

    def reorder(
        self, session: Session, *, user: User, track_id: uuid.UUID, region_ids: Sequence[uuid.UUID]
    ) -> list[TrackRegion]:
        """Rewrite the positions from the full list of the track's region ids, in the new order."""
        regions = {r.id: r for r in self.list_for_track(session, user=user, track_id=track_id)}
        seen: set[uuid.UUID] = set()
        for rid in region_ids:
            if rid in seen:
                raise InvalidInput(f"ids: lists {rid} more than once", field="ids")
            seen.add(rid)
        unknown = [rid for rid in region_ids if rid not in regions]
        if unknown:
            raise InvalidInput(f"ids: {unknown[0]} is not a region of this track", field="ids")
        missing = [rid for rid in regions if rid not in seen]
        if missing:
            raise InvalidInput(
                f"ids: leaves out {len(missing)} of the track's regions ({missing[0]} first)", field="ids"
            )
        for position, rid in enumerate(region_ids):
            regions[rid].sort_order = position
        session.flush()
        return [regions[rid] for rid in region_ids]

    def from_sections(self, session: Session, *, user: User, track_id: uuid.UUID) -> list[TrackRegion]:
        """A section region per section of the latest analysis, skipping those already there; the ones created."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        analysis = analysis_run_service.latest_succeeded(session, track_id=track.id, user_id=user.id)
        if analysis is None:
            raise InvalidInput("the track has no finished analysis to take sections from")
        existing = {
            (r.region_type, r.start_time_seconds, r.end_time_seconds)
            for r in region_repository.list(session, user_id=user.id, track_id=track.id)
        }
        sort_order = region_repository.next_sort_order(session, user_id=user.id, track_id=track.id)
        created: list[TrackRegion] = []
        for index, event in enumerate(analysis_run_service.events(session, run=analysis, types=("section",))):
            start = event.time_seconds
            end = start + (event.duration_seconds or 0.0)
            if track.duration_seconds is not None:
                start, end = min(start, track.duration_seconds), min(end, track.duration_seconds)
            if end <= start or ("section", start, end) in existing:
                continue
            existing.add(("section", start, end))
            name = _section_name(event.label, (event.payload or {}).get("role"), index)
            data = RegionCreate(name=name, start_time_seconds=start, end_time_seconds=end, region_type="section")
            created.append(self._new(session, track=track, data=data, sort_order=sort_order))
            sort_order += 1
        session.flush()
        return created

    def export(self, session: Session, *, user: User, track_id: uuid.UUID, fmt: FileFormat) -> Exported:
        """Audacity labels carry times and ``[type] name`` in list order; JAMS carries every field, in time order."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        regions = region_repository.list(session, user_id=user.id, track_id=track.id)
        if fmt == "audacity":
            rows = [
                Row(r.start_time_seconds, r.end_time_seconds, tag_text(r.region_type, r.name, default="loop"))
                for r in regions
            ]
        else:
            # JAMS keeps observations in time order; the list order travels as each region's position.
            ordered = sorted(enumerate(regions), key=lambda p: (p[1].start_time_seconds, p[1].end_time_seconds, p[0]))
            rows = [
                Row(
                    r.start_time_seconds,
                    r.end_time_seconds,
                    r.name,
                    extras={
                        "region_type": r.region_type,
                        "loop_count": r.loop_count,
                        "is_favorite": r.is_favorite,
                        "color": r.color,
                        "position": position,
                    },
                )
                for position, r in ordered
            ]
        return _export(track, rows, kind="regions", fmt=fmt, namespace=REGION_NAMESPACE)

    def import_file(
        self, session: Session, *, user: User, track_id: uuid.UUID, text: str, fmt: FileFormat | None = None
    ) -> list[TrackRegion]:
        """Create a region per label of the file, or none, appended to the list in file (or saved) order."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        fmt = fmt or guess_format(text)
        labels = _read_labels(fmt, text, namespace=REGION_NAMESPACE)
        reader = _LabelReader(track, text_field="name", span=True)
        items: list[tuple[tuple[bool, int, int], RegionCreate]] = []
        for index, label in enumerate(labels):
            if fmt == "audacity":
                kind, name = untag_text(label.text, kinds=REGION_TYPES, default="loop")
                values: dict[str, Any] = {"region_type": kind, "name": name}
            else:
                values = {"name": label.text, **_extras(label, _REGION_EXTRAS)}
            position = _position(label, reader)
            item = reader.read(label, values, RegionCreate)
            if item is not None:
                # Saved positions first, in their order, then the labels without one in file order.
                items.append(((position is None, position or 0, index), item))
        if reader.problems:
            raise _invalid(reader.problems)
        sort_order = region_repository.next_sort_order(session, user_id=user.id, track_id=track.id)
        regions = [
            self._new(session, track=track, data=item, sort_order=sort_order + n)
            for n, (_, item) in enumerate(sorted(items, key=lambda t: t[0]))
        ]
        session.flush()
        return regions


def _position(label: Label, reader: _LabelReader) -> int | None:
    """A region's saved list position (JAMS sandbox), if it has a valid one."""
    position = label.extras.get("position")
    if position is None:
        return None
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        reader.problems.append(Problem(label.paths["position"], "must be a whole number, 0 or more"))
        return None
    return position


annotation = AnnotationService()
region = RegionService()
