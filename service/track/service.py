from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from analysis.pitch import PITCH_CLASSES
from service.audit.service import audit as audit_service
from service.db import after_commit, utcnow
from service.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    RangeNotSatisfiable,
    StorageUnavailable,
)
from service.outbox.service import outbox as outbox_service
from service.signing import sign, verify
from service.storage import Storage, track_prefix
from service.track.ingest import CONTENT_TYPES, NewTrack, TrackFields
from service.track.models import Track
from service.track.repository import (
    NULLABLE_SORTS,
    SORT_COLUMNS,
    Ordering,
    Position,
    TrackFilters,
    track_repository,
)
from service.track.schemas import MAX_METADATA_BYTES, AdminTrackListQuery, TrackListQuery, TrackUpdate
from service.user.models import User
from service.user.repository import user_repository

if TYPE_CHECKING:
    from analysis import AudioInfo, TrackAnalysis

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------------------
# Keys and the Camelot wheel
# ---------------------------------------------------------------------------------------------------------------

_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "\u266f": 1, "b": -1, "\u266d": -1}
_CAMELOT_CODE = re.compile(r"(1[0-2]|[1-9])([AB])")


def parse_key(name: str) -> str | None:
    """The key as analysis spells it (``"A# minor"``) from a name with sharps or flats, or a Camelot code.

    Returns ``None`` when ``name`` is not a key. Tonic and mode are read in any case: ``"bb Minor"`` is
    ``"A# minor"`` and ``"8a"`` is ``"A minor"``.
    """
    text = " ".join(name.split())
    code = _CAMELOT_CODE.fullmatch(text.upper())
    if code is not None:
        return key_from_camelot(int(code[1]), code[2])
    tonic, _, mode = text.partition(" ")
    mode = mode.lower()
    letter, accidental = tonic[:1].upper(), tonic[1:]
    if mode not in ("major", "minor") or letter not in _NATURALS or accidental not in _ACCIDENTALS:
        return None
    return f"{PITCH_CLASSES[(_NATURALS[letter] + _ACCIDENTALS[accidental]) % 12]} {mode}"


def camelot(key: str) -> tuple[int, str]:
    """Camelot code of a key spelled as :func:`parse_key` returns it: ``"C major"`` is ``(8, "B")``.

    Neighbouring numbers are a fifth apart; ``A`` is minor and ``B`` major, and a minor key shares its number
    with its relative major (``"A minor"`` is ``8A``).
    """
    tonic, mode = key.split(" ")
    pitch = PITCH_CLASSES.index(tonic)
    if mode == "minor":
        pitch = (pitch + 3) % 12
    return (7 * pitch + 7) % 12 + 1, "B" if mode == "major" else "A"


def key_from_camelot(number: int, letter: str) -> str:
    mode = "major" if letter == "B" else "minor"
    return next(f"{tonic} {mode}" for tonic in PITCH_CLASSES if camelot(f"{tonic} {mode}") == (number, letter))


def compatible_keys(key: str) -> frozenset[str]:
    """``key`` and the keys that mix with it: the same Camelot number ±1 and its relative major or minor."""
    number, letter = camelot(key)
    other = "A" if letter == "B" else "B"
    codes = [(number, letter), (number % 12 + 1, letter), ((number - 2) % 12 + 1, letter), (number, other)]
    return frozenset(key_from_camelot(n, m) for n, m in codes)


# ---------------------------------------------------------------------------------------------------------------
# Library pages
# ---------------------------------------------------------------------------------------------------------------

_CURSOR_VERSION = 1
_CURSOR_CHECK_BYTES = 6


@dataclass(frozen=True, slots=True)
class TrackPage:
    tracks: list[Track]
    next_cursor: str | None
    count: int


def _sort_value(track: Track, sort: str) -> Any:
    value = getattr(track, SORT_COLUMNS[sort].key)
    return value.isoformat() if isinstance(value, datetime) else value


def _query_digest(query: TrackListQuery, filters: TrackFilters, ordering: Ordering) -> str:
    """Ties a cursor to the query that produced it, so a cursor reused with other filters is refused."""
    owner = query.user_id if isinstance(query, AdminTrackListQuery) else None
    described = [
        ordering.sort,
        ordering.descending,
        filters.bpm_min,
        filters.bpm_max,
        sorted(filters.keys) if filters.keys is not None else None,
        filters.genre and filters.genre.lower(),
        filters.artist and filters.artist.lower(),
        filters.status,
        [t.lower() for t in filters.terms],
        str(owner) if owner else None,
    ]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:12]


def encode_cursor(position: Position, *, digest: str) -> str:
    payload = json.dumps([_CURSOR_VERSION, digest, position.value, str(position.track_id)], separators=(",", ":"))
    raw = payload.encode()
    # The checksum catches a cursor edited by hand or cut short in transit. It is not a secret: a forged cursor
    # can only move the starting point within rows the caller may list anyway.
    check = hashlib.sha256(raw).digest()[:_CURSOR_CHECK_BYTES]
    return base64.urlsafe_b64encode(check + raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, digest: str, sort: str) -> Position:
    invalid = InvalidInput("invalid cursor: pass next_cursor from the previous page unchanged", field="cursor")
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        check, raw = blob[:_CURSOR_CHECK_BYTES], blob[_CURSOR_CHECK_BYTES:]
        if hashlib.sha256(raw).digest()[:_CURSOR_CHECK_BYTES] != check:
            raise invalid
        version, cursor_digest, value, track_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise invalid from exc
    if version != _CURSOR_VERSION:
        raise invalid
    if cursor_digest != digest:
        raise InvalidInput(
            "cursor belongs to another query: keep the filters and sort of the first page", field="cursor"
        )
    try:
        return Position(value=_parse_sort_value(value, sort), track_id=uuid.UUID(track_id))
    except (ValueError, TypeError, AttributeError) as exc:
        raise invalid from exc


def _parse_sort_value(value: Any, sort: str) -> Any:
    if value is None and sort in NULLABLE_SORTS:
        return None
    if sort == "created_at" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if sort == "title" and isinstance(value, str):
        return value
    if sort in NULLABLE_SORTS and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"not a {sort} value: {value!r}")


# The condition that a track's latest analysis has a status: the analysis_run domain builds it (it reads that table).
LatestStatusIs = Callable[[str], ColumnElement[bool]]


def _filters(query: TrackListQuery, latest_status_is: LatestStatusIs) -> TrackFilters:
    if query.bpm_min is not None and query.bpm_max is not None and query.bpm_min > query.bpm_max:
        raise InvalidInput("bpm_max: must not be below bpm_min", field="bpm_max")
    keys: frozenset[str] | None = None
    if query.key is not None:
        key = parse_key(query.key)
        if key is None:
            raise InvalidInput(
                f'key: {query.key!r} is not a key: use e.g. "A minor", "C# major", "Bb major" or a Camelot code '
                'such as "8A"',
                field="key",
            )
        keys = compatible_keys(key) if query.compatible else frozenset({key})
    elif query.compatible:
        raise InvalidInput("compatible: needs a key to compare with", field="compatible")
    terms = tuple(query.q.split()) if query.q else ()
    return TrackFilters(
        bpm_min=query.bpm_min,
        bpm_max=query.bpm_max,
        keys=keys,
        genre=(query.genre or "").strip() or None,
        artist=(query.artist or "").strip() or None,
        status=query.status,
        latest_status_is=latest_status_is(query.status) if query.status is not None else None,
        terms=terms,
    )


# ---------------------------------------------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------------------------------------------

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_AUDIO_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class AudioRedirect:
    url: str


@dataclass(frozen=True, slots=True)
class SignedAudio:
    """A credential-free way to the original until ``expires`` (Unix seconds): a presigned ``url`` from object
    storage, or the ``user_id`` and ``signature`` of a URL the service answers itself."""

    expires: int
    url: str | None = None
    user_id: uuid.UUID | None = None
    signature: str | None = None


def _audio_message(*, user_id: uuid.UUID, track_id: uuid.UUID, expires: int) -> str:
    return f"audio:{user_id}:{track_id}:{expires}"


@dataclass(frozen=True, slots=True)
class AudioFile:
    """The bytes ``first``..``last`` (inclusive) of a local original; ``partial`` when answering a Range."""

    path: Path
    size: int
    first: int
    last: int
    partial: bool
    content_type: str
    etag: str

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def chunks(self) -> Iterator[bytes]:
        """The range in bounded chunks, so a long original is never held in memory."""
        with self.path.open("rb") as fh:
            fh.seek(self.first)
            remaining = self.length
            while remaining > 0:
                data = fh.read(min(_AUDIO_CHUNK, remaining))
                if not data:
                    return
                remaining -= len(data)
                yield data


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a ``Range`` header asks for, or ``None`` to send the whole file.

    One range is served (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``); anything else (several ranges, another
    unit, a malformed or reversed range) is ignored, as RFC 9110 allows, and the whole file is sent. Raises
    :class:`RangeNotSatisfiable` when the range starts past the end or asks for an empty suffix.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match[1] == match[2] == "":
        return None
    first, last = match[1], match[2]
    unsatisfiable = RangeNotSatisfiable(
        f"range {header.strip()!r} is outside the file's {size} bytes", headers={"Content-Range": f"bytes */{size}"}
    )
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise unsatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise unsatisfiable
    end = min(int(last), size - 1) if last else size - 1
    return start, end


class TrackService:
    def create(self, session: Session, *, new: NewTrack) -> Track:
        """The track of a stored original.

        Raises ``IntegrityError`` when the user already has a track of these bytes; the session stays usable.
        """
        track = Track(**new.values())
        with session.begin_nested():
            session.add(track)
            session.flush()
        return track

    def create_many(self, session: Session, *, new: Sequence[NewTrack]) -> None:
        """:meth:`create` for a chunk of originals, with one bulk insert.

        The tracks must be new (deduplicated by the caller): one already there fails the whole insert.
        """
        track_repository.add_many(session, [n.values() for n in new])

    def existing(
        self, session: Session, *, user_id: uuid.UUID, sha256: str, fields: TrackFields
    ) -> tuple[Track, tuple[str, ...]] | None:
        """The user's track already holding these bytes, unchanged, with the sent fields that differ from its own
        (``title``, ``artist``, ``album``, ``genre``)."""
        track = track_repository.get_by_sha256(session, user_id=user_id, sha256=sha256)
        if track is None:
            return None
        sent = fields.cleaned()
        ignored = tuple(
            name
            for name in ("title", "artist", "album", "genre")
            if (value := getattr(sent, name)) is not None and value != getattr(track, name)
        )
        return track, ignored

    def get(self, session: Session, *, user: User, track_id: uuid.UUID) -> Track:
        """One of the user's tracks; raises ``NotFound``."""
        return track_repository.get_or_404(session, user_id=user.id, track_id=track_id)

    def list_tracks(
        self, session: Session, *, user: User, query: TrackListQuery, latest_status_is: LatestStatusIs
    ) -> TrackPage:
        """One page of the user's library: filtered, sorted, keyset-paginated by (sort value, id)."""
        filters, ordering, after, digest = self._page_request(query, latest_status_is)
        tracks = track_repository.page(
            session, user_id=user.id, filters=filters, ordering=ordering, limit=query.limit + 1, after=after
        )
        count = track_repository.count(session, user_id=user.id, filters=filters)
        return self._page(tracks, query=query, ordering=ordering, digest=digest, count=count)

    def list_all_tracks(
        self,
        session: Session,
        *,
        admin: User,
        query: AdminTrackListQuery,
        latest_status_is: LatestStatusIs,
        ip_address: str | None = None,
    ) -> TrackPage:
        """Like :meth:`list_tracks` over every user's tracks, for an admin; each page read is audited."""
        filters, ordering, after, digest = self._page_request(query, latest_status_is)
        tracks = track_repository.page_all_users(
            session, owner_id=query.user_id, filters=filters, ordering=ordering, limit=query.limit + 1, after=after
        )
        count = track_repository.count_all_users(session, owner_id=query.user_id, filters=filters)
        audit_service.record(
            session,
            user_id=admin.id,
            action="admin.access",
            target_type="track",
            ip_address=ip_address,
            details={"resource": "tracks", "user_id": str(query.user_id) if query.user_id else None},
        )
        session.flush()
        return self._page(tracks, query=query, ordering=ordering, digest=digest, count=count)

    def _page_request(
        self, query: TrackListQuery, latest_status_is: LatestStatusIs
    ) -> tuple[TrackFilters, Ordering, Position | None, str]:
        filters = _filters(query, latest_status_is)
        order = query.order or ("desc" if query.sort == "created_at" else "asc")
        ordering = Ordering(sort=query.sort, descending=order == "desc")
        digest = _query_digest(query, filters, ordering)
        after = decode_cursor(query.cursor, digest=digest, sort=query.sort) if query.cursor is not None else None
        return filters, ordering, after, digest

    def _page(
        self, tracks: list[Track], *, query: TrackListQuery, ordering: Ordering, digest: str, count: int
    ) -> TrackPage:
        # One row more than the page was read, to know whether another page follows without counting.
        more = len(tracks) > query.limit
        tracks = tracks[: query.limit]
        next_cursor = None
        if more:
            last = tracks[-1]
            next_cursor = encode_cursor(
                Position(value=_sort_value(last, ordering.sort), track_id=last.id), digest=digest
            )
        return TrackPage(tracks=tracks, next_cursor=next_cursor, count=count)

    def record_analysis(
        self,
        session: Session,
        *,
        track_id: uuid.UUID,
        result: TrackAnalysis,
        info: AudioInfo,
        waveform_key: str,
        thumbnail_key: str | None,
    ) -> Track | None:
        """Set the track's summary of its latest successful analysis, which the library sorts and filters on.

        ``None`` when the track was deleted meanwhile.
        """
        track = session.get(Track, track_id)
        if track is None:
            return None
        track.bpm = result.tempo_bpm if result.tempo_bpm > 0 else None
        track.key = result.key
        track.loudness_lufs = result.loudness.integrated_lufs
        track.duration_seconds = info.duration_s
        track.sample_rate = info.sample_rate
        track.channels = info.channels
        track.bit_depth = info.bit_depth
        track.file_format = info.format
        track.waveform_storage_key = waveform_key
        track.thumbnail_storage_key = thumbnail_key
        session.flush()
        return track

    def update(self, session: Session, *, user: User, track_id: uuid.UUID, changes: TrackUpdate) -> Track:
        """Apply the fields present in ``changes``; ``metadata`` is merged (a null value removes its key)."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        given = changes.model_fields_set
        if "title" in given and changes.title is not None:
            track.title = changes.title
        if "artist" in given:
            track.artist = changes.artist or None
        if "album" in given:
            track.album = changes.album or None
        if "genre" in given:
            track.genre = changes.genre or None
        if "is_reference" in given and changes.is_reference is not None:
            track.is_reference = changes.is_reference
        if "metadata" in given and changes.metadata is not None:
            merged = dict(track.metadata_ or {})
            for name, value in changes.metadata.items():
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
            if len(json.dumps(merged, separators=(",", ":"))) > MAX_METADATA_BYTES:
                raise InvalidInput(f"metadata: must be at most {MAX_METADATA_BYTES} bytes as JSON", field="metadata")
            track.metadata_ = merged
        session.flush()
        return track

    def audio(
        self,
        session: Session,
        *,
        user: User,
        track_id: uuid.UUID,
        storage: Storage,
        range_header: str | None = None,
        if_range: str | None = None,
    ) -> AudioRedirect | AudioFile:
        """Where to read a track's original: a presigned URL (S3, R2), or the span of a local file to stream."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        return self._audio_of(track, storage=storage, range_header=range_header, if_range=if_range)

    def audio_url(
        self, session: Session, *, user: User, track_id: uuid.UUID, storage: Storage, expires_in: int
    ) -> SignedAudio:
        """A URL that plays the original without credentials for ``expires_in`` seconds: presigned by object
        storage (S3, R2), or signed for ``signed_audio`` (local storage)."""
        track = track_repository.get_or_404(session, user_id=user.id, track_id=track_id)
        expires = int(utcnow().timestamp()) + expires_in
        presigned = storage.url(track.storage_key, expires_in=expires_in)
        if presigned is not None:
            return SignedAudio(expires=expires, url=presigned)
        if storage.local_path(track.storage_key) is None:
            raise StorageUnavailable("storage can neither presign a URL nor serve the file")
        signature = sign(_audio_message(user_id=user.id, track_id=track.id, expires=expires))
        return SignedAudio(expires=expires, user_id=user.id, signature=signature)

    def signed_audio(
        self,
        session: Session,
        *,
        track_id: uuid.UUID,
        user_id: uuid.UUID,
        expires: int,
        signature: str,
        storage: Storage,
        range_header: str | None = None,
        if_range: str | None = None,
    ) -> AudioRedirect | AudioFile:
        """The original behind a URL from ``audio_url``, while its signature is valid and its user active."""
        if not verify(_audio_message(user_id=user_id, track_id=track_id, expires=expires), signature):
            raise Forbidden("the audio URL's signature is not valid; ask for a new URL", field="signature")
        if expires < utcnow().timestamp():
            raise Forbidden("the audio URL has expired; ask for a new URL", field="expires")
        owner = user_repository.get(session, user_id)
        if owner is None or not owner.is_active:
            raise Forbidden("the audio URL's user is disabled", field="user")
        track = track_repository.get_or_404(session, user_id=user_id, track_id=track_id)
        return self._audio_of(track, storage=storage, range_header=range_header, if_range=if_range)

    def _audio_of(
        self, track: Track, *, storage: Storage, range_header: str | None, if_range: str | None
    ) -> AudioRedirect | AudioFile:
        url = storage.url(track.storage_key)
        if url is not None:
            return AudioRedirect(url=url)
        path = storage.local_path(track.storage_key)
        if path is None:
            raise StorageUnavailable("storage can neither presign a URL nor serve the file")
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise NotFound("the track's audio file is missing from storage") from exc
        etag = f'"{track.content_sha256}"'
        # A Range conditional on another version of the file (If-Range) gets the whole current file instead.
        span = parse_range(range_header, size) if if_range is None or if_range.strip() == etag else None
        first, last = span if span is not None else (0, size - 1)
        return AudioFile(
            path=path,
            size=size,
            first=first,
            last=last,
            partial=span is not None,
            content_type=CONTENT_TYPES.get(track.file_format or "", "application/octet-stream"),
            etag=etag,
        )

    def delete(
        self, session: Session, *, user: User, track_id: uuid.UUID, storage: Storage, ip_address: str | None = None
    ) -> None:
        """Delete a track, its analyses and annotations, and (once committed) every object it stored."""
        track = track_repository.get(session, user_id=user.id, track_id=track_id)
        if track is None:
            raise NotFound("track not found")
        prefix = track_prefix(track.user_id, track.id)
        keys = [k for k in (track.storage_key, track.waveform_storage_key, track.thumbnail_storage_key) if k]
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
