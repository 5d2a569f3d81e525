"""What every way into the library (an upload, a library import) hands the track service: an original already
probed as audio and stored under its key, with the fields its owner or its tags gave it.

The track service turns one :class:`NewTrack` into a track (``track.create``), or a chunk of them with a bulk
insert (``track.create_many``), so both ways build the same rows; the library service (``service/library/``)
stores the originals and queues their analyses.
"""

from __future__ import annotations

import uuid
from dataclasses import KW_ONLY, dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Protocol

from service.storage import original_key

if TYPE_CHECKING:
    from analysis import AudioInfo

CONTENT_TYPES = {
    "wav": "audio/wav",
    "aiff": "audio/aiff",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
}
_TITLE_CHARS = 500
_NAME_CHARS = 500
_GENRE_CHARS = 200


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    return value.strip()[:limit] or None


@dataclass(frozen=True, slots=True)
class TrackFields:
    """Title, artist, album and genre as sent with an upload or read from a file's tags."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None

    def cleaned(self) -> TrackFields:
        """Each field stripped and cut to its column's length; blank fields are ``None``."""
        return TrackFields(
            title=_clean(self.title, _TITLE_CHARS),
            artist=_clean(self.artist, _NAME_CHARS),
            album=_clean(self.album, _NAME_CHARS),
            genre=_clean(self.genre, _GENRE_CHARS),
        )


class HashedFile(Protocol):
    """An original's bytes as read once: their SHA-256 and size."""

    @property
    def sha256(self) -> str: ...

    @property
    def size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class NewTrack:
    """The original ``content`` of the new track ``id`` of ``user_id``, probed as ``info``, to be stored at ``key``."""

    id: uuid.UUID
    user_id: uuid.UUID
    info: AudioInfo
    content: HashedFile
    _: KW_ONLY
    filename: str
    fields: TrackFields
    source: str = "upload"
    source_url: str | None = None
    # Added to the track's metadata after the original file name and codec.
    extra_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def _ext(self) -> str:
        # The format the decoder found names the file, else the suffix it came with (``bin`` without one).
        suffix = PurePath(self.filename or "").suffix.lower().lstrip(".")[:8]
        return self.info.format if self.info.format in CONTENT_TYPES else (suffix or "bin")

    @property
    def key(self) -> str:
        return original_key(self.user_id, self.id, self._ext)

    @property
    def content_type(self) -> str | None:
        return CONTENT_TYPES.get(self._ext)

    def values(self) -> dict[str, Any]:
        """The track's columns, as both the ORM object and a bulk insert take them."""
        fields = self.fields.cleaned()
        info = self.info
        return {
            "id": self.id,
            "user_id": self.user_id,
            "title": fields.title or PurePath(self.filename or "untitled").stem[:_TITLE_CHARS] or "untitled",
            "artist": fields.artist,
            "album": fields.album,
            "genre": fields.genre,
            "storage_key": self.key,
            "file_format": info.format,
            "sample_rate": info.sample_rate,
            "channels": info.channels,
            "bit_depth": info.bit_depth,
            "duration_seconds": info.duration_s,
            "size_bytes": self.content.size,
            "content_sha256": self.content.sha256,
            "source": self.source,
            "is_user_upload": self.source == "upload",
            "source_url": self.source_url,
            "metadata_": {"original_filename": self.filename, "codec": info.codec, **self.extra_metadata},
        }
