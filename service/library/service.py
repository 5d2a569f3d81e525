"""The library: tracks together with their analyses, where the track and analysis_run domains meet.

A track knows nothing of its analyses (an analysis belongs to a track, so ``analysis_run`` depends on ``track``,
never the reverse). Whatever needs both lives here: queueing the analysis of a new track, for an upload and for a
library import alike, and reading tracks with their latest analysis, as the API shows them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from service.analysis_run.service import analysis_run as analysis_run_service
from service.errors import NotFound
from service.storage import Storage
from service.track.ingest import NewTrack, TrackFields
from service.track.models import ReferenceTrack
from service.track.schemas import AdminTrackListQuery, TrackListQuery, TrackUpdate
from service.track.service import Ingested, TrackPage
from service.track.service import track as track_service
from service.upload import StreamedUpload
from service.user.models import User


@dataclass(frozen=True, slots=True)
class LibraryPage:
    """A page of tracks with the latest analysis of each that has one, by track id."""

    tracks: list[ReferenceTrack]
    latest: dict[uuid.UUID, AnalysisRun]
    next_cursor: str | None
    count: int


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
    ) -> tuple[Ingested, AnalysisRun | None]:
        """Store an uploaded original and queue its analysis (the task is sent once the session commits); the
        same bytes again return the existing track with its latest analysis."""
        ingested = track_service.ingest(
            session, user=user, upload=upload, fields=fields, storage=storage, origin=origin
        )
        if ingested.created:
            return ingested, analysis_run_service.queue(session, track=ingested.track)
        return ingested, analysis_run_service.latest(session, track=ingested.track)

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

    def get(self, session: Session, *, user: User, track_id: uuid.UUID) -> tuple[ReferenceTrack, AnalysisRun | None]:
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
    ) -> tuple[ReferenceTrack, AnalysisRun | None]:
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
        page = track_service.list_all_tracks(
            session,
            admin=admin,
            query=query,
            latest_status_is=analysis_run_service.latest_status_is,
            ip_address=ip_address,
        )
        return self._with_latest(session, page)

    def _with_latest(self, session: Session, page: TrackPage) -> LibraryPage:
        latest = analysis_run_service.latest_of_tracks(session, tracks=page.tracks)
        return LibraryPage(tracks=page.tracks, latest=latest, next_cursor=page.next_cursor, count=page.count)


library = LibraryService()
