from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePath

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from service.analysis_run.repository import analysis_run_repository
from service.analysis_run.service import analysis_run as analysis_run_service
from service.audit.service import audit as audit_service
from service.db import after_commit, after_rollback
from service.errors import NotFound, UnprocessableAudio, UnsupportedMediaType
from service.outbox.service import outbox as outbox_service
from service.storage import Storage, original_key, track_prefix
from service.track.models import ReferenceTrack
from service.track.repository import track_repository
from service.upload import StreamedUpload
from service.user.models import User

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    "wav": "audio/wav",
    "aiff": "audio/aiff",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
}


@dataclass(frozen=True, slots=True)
class Ingested:
    track: ReferenceTrack
    analysis: AnalysisRun | None
    created: bool


@dataclass(frozen=True, slots=True)
class TrackFields:
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:limit] or None


def _user_message(exc: Exception, tmp_name: str, filename: str) -> str:
    """The decoder names the file it read; the user knows it by the name they uploaded."""
    return str(exc).replace(PurePath(tmp_name).name, PurePath(filename or "upload").name)


class TrackService:
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
            raise UnprocessableAudio("empty file: the upload contains no bytes")
        existing = self._existing(session, user_id=user.id, sha256=upload.sha256)
        if existing is not None:
            return existing
        try:
            info = probe(Path(upload.file.name))
        except UnsupportedAudioError as exc:
            raise UnsupportedMediaType(_user_message(exc, upload.file.name, filename)) from exc
        except AudioDecodeError as exc:
            raise UnprocessableAudio(_user_message(exc, upload.file.name, filename)) from exc

        track_id = uuid.uuid4()
        suffix = PurePath(filename or "").suffix.lower().lstrip(".")[:8]
        ext = info.format if info.format in CONTENT_TYPES else (suffix or "bin")
        key = original_key(user.id, track_id, ext)
        upload.file.seek(0)
        storage.put(key, upload.file, content_type=CONTENT_TYPES.get(ext))
        after_rollback(session, lambda: storage.delete(key))

        track = ReferenceTrack(
            id=track_id,
            user_id=user.id,
            title=_clean(fields.title, 500) or PurePath(filename or "untitled").stem[:500] or "untitled",
            artist=_clean(fields.artist, 500),
            album=_clean(fields.album, 500),
            genre=_clean(fields.genre, 200),
            r2_key=key,
            file_format=info.format,
            sample_rate=info.sample_rate,
            channels=info.channels,
            bit_depth=info.bit_depth,
            duration_seconds=info.duration_s,
            size_bytes=upload.size,
            content_sha256=upload.sha256,
            source=origin,
            metadata_={"original_filename": filename, "codec": info.codec},
        )
        try:
            with session.begin_nested():
                session.add(track)
                session.flush()
        except IntegrityError:
            # A concurrent upload of the same bytes won the race: keep its track, drop our copy.
            storage.delete(key)
            existing = self._existing(session, user_id=user.id, sha256=upload.sha256)
            if existing is None:
                raise
            return existing
        run = analysis_run_service.queue(session, track=track)
        return Ingested(track=track, analysis=run, created=True)

    def _existing(self, session: Session, *, user_id: uuid.UUID, sha256: str) -> Ingested | None:
        track = track_repository.get_by_sha256(session, user_id=user_id, sha256=sha256)
        if track is None:
            return None
        run = analysis_run_repository.latest_for_track(session, track_id=track.id, user_id=user_id)
        return Ingested(track=track, analysis=run, created=False)

    def delete(
        self, session: Session, *, user: User, track_id: uuid.UUID, storage: Storage, ip_address: str | None = None
    ) -> None:
        """Delete a track, its analyses and annotations, and (once committed) every object it stored."""
        track = track_repository.get(session, user_id=user.id, track_id=track_id)
        if track is None:
            raise NotFound("track not found")
        prefix = track_prefix(track.user_id, track.id)
        keys = [k for k in (track.r2_key, track.waveform_r2_key, track.thumbnail_r2_key) if k]
        session.delete(track)
        outbox_service.add(
            session,
            topic="track.deleted",
            payload={"track_id": str(track_id), "user_id": str(user.id), "objects": keys, "prefix": prefix},
        )
        audit_service.record(
            session,
            user_id=user.id,
            action="track.deleted",
            target_type="track",
            target_id=str(track_id),
            ip_address=ip_address,
        )
        session.flush()

        def remove_objects() -> None:
            for key in keys:
                storage.delete(key)
            storage.delete_prefix(prefix)

        after_commit(session, remove_objects)


track = TrackService()
