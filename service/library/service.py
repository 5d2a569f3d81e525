"""The library: tracks together with their analyses, where the track and analysis_run domains meet.

A track knows nothing of its analyses (an analysis belongs to a track, so ``analysis_run`` depends on ``track``,
never the reverse). Whatever needs both lives here: the way into the library, which stores an original, creates
its track and queues its analysis (one upload, or a library import's chunks with bulk inserts), and reading
tracks with their latest analysis, as the API shows them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from service.analysis_run.service import analysis_run as analysis_run_service
from service.db import after_rollback
from service.errors import NotFound, UnprocessableAudio, UnsupportedMediaType
from service.storage import Storage
from service.track.ingest import NewTrack, TrackFields
from service.track.models import Track
from service.track.schemas import AdminTrackListQuery, TrackListQuery, TrackUpdate
from service.track.service import TrackPage
from service.track.service import track as track_service
from service.upload import StreamedUpload
from service.user.models import User


@dataclass(frozen=True, slots=True)
class Ingested:
    """An upload's track with its analysis: the one just queued, or the latest of a track already there."""

    track: Track
    analysis: AnalysisRun | None
    created: bool
    # For the same bytes uploaded again: the fields sent that differ from the existing track's, left unchanged.
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LibraryPage:
    """A page of tracks with the latest analysis of each that has one, by track id."""

    tracks: list[Track]
    latest: dict[uuid.UUID, AnalysisRun]
    next_cursor: str | None
    count: int


def _user_message(exc: Exception, tmp_name: str, filename: str) -> str:
    """The decoder names the file it read; the user knows it by the name they uploaded."""
    return str(exc).replace(PurePath(tmp_name).name, PurePath(filename or "upload").name)


class LibraryService:
    def ingest(
        self,
        session: Session,
        *,
        user: User,
        upload: StreamedUpload,
        fields: TrackFields,
        storage: Storage,
        origin: str = "upload",
    ) -> Ingested:
        """Store an uploaded original and queue its analysis; the same bytes again return the existing track.

        The file is probed as audio before anything is stored, and an object already written is deleted if
        the transaction does not commit, so a refused or failed upload leaves nothing behind.
        """
        from analysis.errors import AudioDecodeError, UnsupportedAudioError
        from analysis.io import probe

        filename = upload.filename
        if upload.size == 0:
            raise UnprocessableAudio("empty file: the upload contains no bytes", field="file")
        existing = self._existing(session, user=user, upload=upload, fields=fields)
        if existing is not None:
            return existing
        try:
            info = probe(Path(upload.file.name))
        except UnsupportedAudioError as exc:
            raise UnsupportedMediaType(_user_message(exc, upload.file.name, filename), field="file") from exc
        except AudioDecodeError as exc:
            raise UnprocessableAudio(_user_message(exc, upload.file.name, filename), field="file") from exc

        new = NewTrack(uuid.uuid4(), user.id, info, upload, filename=filename, fields=fields, source=origin)
        upload.file.seek(0)
        storage.put(new.key, upload.file, content_type=new.content_type)
        after_rollback(session, lambda: storage.delete(new.key))
        try:
            track = track_service.create(session, new=new)
        except IntegrityError:
            # A concurrent upload of the same bytes won the race: keep its track, drop our copy.
            storage.delete(new.key)
            existing = self._existing(session, user=user, upload=upload, fields=fields)
            if existing is None:
                raise
            return existing
        # The task is sent once the session commits.
        return Ingested(track=track, analysis=analysis_run_service.queue(session, track=track), created=True)

    def _existing(
        self, session: Session, *, user: User, upload: StreamedUpload, fields: TrackFields
    ) -> Ingested | None:
        found = track_service.existing(session, user_id=user.id, sha256=upload.sha256, fields=fields)
        if found is None:
            return None
        track, ignored = found
        return Ingested(
            track=track, analysis=analysis_run_service.latest(session, track=track), created=False, ignored=ignored
        )

    def create_many(
        self,
        session: Session,
        *,
        new: Sequence[NewTrack],
        also_analyse: Sequence[tuple[uuid.UUID, uuid.UUID]] = (),
        sent: set[uuid.UUID] | None = None,
    ) -> list[uuid.UUID]:
        """The tracks of a chunk of originals, with bulk inserts; their analyses, and one of each existing
        ``(track_id, user_id)`` in ``also_analyse``, go on the bulk queue. Returns the queued analyses' ids.

        The tracks must be new (deduplicated by the caller): one already there fails the whole insert.
        """
        track_service.create_many(session, new=new)
        tracks = [(n.id, n.user_id) for n in new] + list(also_analyse)
        return analysis_run_service.queue_many(session, tracks=tracks, sent=sent)

    def get(self, session: Session, *, user: User, track_id: uuid.UUID) -> tuple[Track, AnalysisRun | None]:
        """One of the user's tracks with its latest analysis; raises ``NotFound``."""
        track = track_service.get(session, user=user, track_id=track_id)
        return track, analysis_run_service.latest(session, track=track)

    def latest_analysis(self, session: Session, *, user: User, track_id: uuid.UUID) -> AnalysisRun:
        """The latest analysis of one of the user's tracks; raises ``NotFound`` for the track or its analysis."""
        _track, latest = self.get(session, user=user, track_id=track_id)
        if latest is None:
            raise NotFound("track has no analysis")
        return latest

    def update(
        self, session: Session, *, user: User, track_id: uuid.UUID, changes: TrackUpdate
    ) -> tuple[Track, AnalysisRun | None]:
        """Apply the fields present in ``changes``, then return the track with its latest analysis."""
        track = track_service.update(session, user=user, track_id=track_id, changes=changes)
        return track, analysis_run_service.latest(session, track=track)

    def list_tracks(self, session: Session, *, user: User, query: TrackListQuery) -> LibraryPage:
        """One page of the user's library, each track with its latest analysis."""
        page = track_service.list_tracks(
            session, user=user, query=query, latest_status_is=analysis_run_service.latest_status_is
        )
        return self._with_latest(session, page)

    def list_all_tracks(
        self, session: Session, *, admin: User, query: AdminTrackListQuery, ip_address: str | None = None
    ) -> LibraryPage:
        """Like :meth:`list_tracks` over every user's tracks, for an admin; each page read is audited."""
        status_is = analysis_run_service.latest_status_is
        page = track_service.list_all_tracks(
            session, admin=admin, query=query, latest_status_is=status_is, ip_address=ip_address
        )
        return self._with_latest(session, page)

    def _with_latest(self, session: Session, page: TrackPage) -> LibraryPage:
        latest = analysis_run_service.latest_of_tracks(session, tracks=page.tracks)
        return LibraryPage(tracks=page.tracks, latest=latest, next_cursor=page.next_cursor, count=page.count)


library = LibraryService()
