"""Where an import reads from: a folder on this machine or an S3 prefix, listed in a stable order, fetched one
file at a time (hashed on the way), with the tags read from each file.

A file's ``name`` is its absolute path (folder) or its object key (bucket). Files are processed in sorted
``name`` order, so an interrupted import resumes after the last file it committed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from service.config import S3_BUCKET_NAME, Settings
from service.errors import InvalidInput
from service.tempfiles import Readable, spool_hashed
from service.track.ingest import TrackFields

if TYPE_CHECKING:
    from service.storage import S3Storage, Storage

_HASH_CHUNK = 1 << 20
# Files that are not audio are skipped quietly, unless their name says they should have been audio.
AUDIO_SUFFIXES = frozenset(
    {".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac"}
)


@dataclass(frozen=True, slots=True)
class SourceFile:
    name: str
    size: int
    etag: str | None = None
    # Why the file is listed but will not be read (a link out of a confined folder): it counts as failed.
    refused: str | None = None

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name.replace(os.sep, "/")).name

    @property
    def looks_like_audio(self) -> bool:
        return PurePosixPath(self.basename).suffix.lower() in AUDIO_SUFFIXES


@dataclass(frozen=True, slots=True)
class Fetched:
    """A source file readable at ``path``, with its SHA-256 and size; ``close()`` removes any temporary copy."""

    file: SourceFile
    path: Path
    sha256: str
    size: int
    spool: IO[bytes] | None = None

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


_LEADS_OUT = "links to a file outside the imported folder: not read"


@dataclass(frozen=True, slots=True)
class FolderSource:
    """A folder (or one file). ``confined`` refuses files whose real path leaves the folder, for imports the API
    runs, and reads each file once through a descriptor, so a link swapped in after the listing is not followed."""

    root: Path
    confined: bool = False

    @property
    def label(self) -> str:
        return str(self.root)

    def url(self, file: SourceFile) -> str:
        return Path(file.name).as_uri()

    def files(self, on_file: Callable[[], None] | None = None) -> list[SourceFile]:
        """Every regular file under the root (or the root itself when it is a file), sorted by path.

        Symbolic links to folders are not followed, so a link back up the tree cannot loop.
        """
        if self.root.is_file():
            return [SourceFile(name=str(self.root), size=self.root.stat().st_size)]
        found: list[SourceFile] = []
        root = self.root.resolve()
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                path = Path(folder, name)
                try:
                    if not path.is_file():
                        continue
                    size = path.stat().st_size
                    leads_out = self.confined and not path.resolve().is_relative_to(root)
                except OSError:
                    continue
                found.append(SourceFile(name=str(path), size=size, refused=_LEADS_OUT if leads_out else None))
                if on_file is not None:
                    on_file()
        return sorted(found, key=lambda f: f.name)

    def fetch(self, file: SourceFile, *, tmp_dir: Path) -> Fetched:
        """Hash the file where it is: no copy is made (a confined folder's file is copied, see the class)."""
        if self.confined:
            return self._fetch_confined(file, tmp_dir=tmp_dir)
        path = Path(file.name)
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return Fetched(file=file, path=path, sha256=digest.hexdigest(), size=size)

    def _fetch_confined(self, file: SourceFile, *, tmp_dir: Path) -> Fetched:
        """Copy the file into a temporary file through one descriptor, checked to be the file inside the root.

        The decoder and the upload then read the copy: a path read three times could be swapped for a link
        out of the folder between the reads.
        """
        real = Path(file.name).resolve()
        if not real.is_relative_to(self.root.resolve()):
            raise PermissionError(_LEADS_OUT)
        # O_NONBLOCK: a FIFO swapped in after the listing must not hang the import.
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            opened = os.fstat(fh.fileno())
            # A folder on the way swapped for a link between resolving and opening shows here.
            if real.resolve() != real or not os.path.samestat(opened, os.stat(real)):
                raise PermissionError("changed while it was being read: not read")
            if not stat.S_ISREG(opened.st_mode):
                raise PermissionError("not a regular file: not read")
            return _spool(file, fh, tmp_dir=tmp_dir)

    def store(self, fetched: Fetched, *, storage: Storage, key: str, content_type: str | None) -> None:
        with fetched.path.open("rb") as fh:
            storage.put(key, fh, content_type=content_type)


def _spool(file: SourceFile, body: Readable, *, tmp_dir: Path) -> Fetched:
    """Stream ``body`` once into a temporary file, hashing it on the way (the decoder needs a file)."""
    spooled = spool_hashed(body, tmp_dir=tmp_dir, prefix="import-")
    return Fetched(
        file=file, path=Path(spooled.file.name), sha256=spooled.sha256, size=spooled.size, spool=spooled.file
    )


@dataclass(frozen=True, slots=True)
class BucketSource:
    bucket: str
    prefix: str
    reader: S3Storage

    @property
    def label(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def url(self, file: SourceFile) -> str:
        return f"s3://{self.bucket}/{file.name}"

    def files(self, on_file: Callable[[], None] | None = None) -> list[SourceFile]:
        found: list[SourceFile] = []
        for key, size, etag in self.reader.list_keys(self.prefix):
            if key.endswith("/"):
                continue
            found.append(SourceFile(name=key, size=size, etag=etag))
            if on_file is not None:
                on_file()
        return sorted(found, key=lambda f: f.name)

    def fetch(self, file: SourceFile, *, tmp_dir: Path) -> Fetched:
        """Stream the object once into a temporary file, hashing it on the way (the decoder needs a file)."""
        body = self.reader.open(file.name)
        try:
            return _spool(file, body, tmp_dir=tmp_dir)
        finally:
            body.close()

    def store(self, fetched: Fetched, *, storage: Storage, key: str, content_type: str | None) -> None:
        # An object already in an S3 service the storage can reach is copied there, not uploaded.
        if storage.copy_from(self.bucket, fetched.file.name, key, content_type=content_type):
            return
        with fetched.path.open("rb") as fh:
            storage.put(key, fh, content_type=content_type)


Source = FolderSource | BucketSource


def parse_bucket_source(source: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix``; the prefix names a folder (``""`` for the whole bucket)."""
    rest = source.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not S3_BUCKET_NAME.fullmatch(bucket):
        raise InvalidInput(f"source: {bucket!r} is not an S3 bucket name", field="source")
    prefix = prefix.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise InvalidInput(f"source: {prefix!r} is not a valid key prefix", field="source")
    return bucket, prefix


def normalise_source(source: str) -> str:
    """The canonical spelling of a source, so the same folder or prefix is recognised again."""
    source = source.strip()
    if "\x00" in source:
        raise InvalidInput("source: must not contain NUL characters", field="source")
    if source.startswith("s3://"):
        bucket, prefix = parse_bucket_source(source)
        return f"s3://{bucket}/{prefix}"
    if not source:
        raise InvalidInput("source: give a folder or an s3://bucket/prefix", field="source")
    try:
        return str(Path(source).expanduser().resolve())
    except (OSError, RuntimeError) as exc:
        raise InvalidInput(f"source: cannot resolve {source!r}: {exc}", field="source") from exc


def open_source(source: str, *, storage: Storage, cfg: Settings) -> Source:
    """Reader for a normalised source. A bucket is read with the storage's own client when it has one."""
    from service.storage import S3Storage

    if not source.startswith("s3://"):
        return FolderSource(Path(source))
    bucket, prefix = parse_bucket_source(source)
    reader = storage.bucket_reader(bucket) or S3Storage.from_settings(cfg.model_copy(update={"s3_bucket": bucket}))
    return BucketSource(bucket=bucket, prefix=f"{prefix}/" if prefix else "", reader=reader)


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON"}


def read_tags(path: Path) -> TrackFields:
    """Title, artist, album and genre from the file's tags (ID3, Vorbis comments, MP4 atoms), where present."""
    import mutagen
    from mutagen.id3 import ID3

    try:
        audio = mutagen.File(path, easy=True)
    except Exception:
        # Tags are a courtesy: a file the decoder accepted is imported even when its tags are unreadable.
        return TrackFields()
    tags = getattr(audio, "tags", None)
    if tags is None:
        return TrackFields()
    values: dict[str, str | None] = {}
    for field, frame_id in _ID3_FRAMES.items():
        if isinstance(tags, ID3):
            frame = tags[frame_id] if frame_id in tags else None
            if frame is None:
                values[field] = None
            elif field == "genre":
                values[field] = _first(list(frame.genres))
            else:
                values[field] = _first(list(frame.text))
        else:
            try:
                values[field] = _first(tags.get(field))
            except (KeyError, ValueError, TypeError):
                values[field] = None
    return TrackFields(**values)
