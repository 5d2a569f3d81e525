"""Streaming multipart uploads: the file part goes straight to a temporary file on disk, hashed on the way.

Starlette's form parser spools every file part to its own temporary file, which the service would then copy
again to hash and probe it; a 1 GiB upload would be written to disk twice. Here the one ``file`` part is
written once, in bounded chunks off the event loop, and small text fields are kept in memory.

A body is accepted only when it is complete (it ends with the closing boundary) and every text field is within
its limits and free of NUL characters, which PostgreSQL text cannot hold. Anything else is refused before a byte
is stored, and the temporary file is removed.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.concurrency import run_in_threadpool

from service.errors import BadRequest, InvalidInput

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD = "file"
_MAX_FIELD_BYTES = 64 * 1024
_MAX_FIELDS = 32
_WRITE_BATCH = 1 << 20


@dataclass
class StreamedUpload:
    """A file part already on disk, with its SHA-256 and size, plus the form's text fields."""

    file: IO[bytes]
    filename: str
    sha256: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        self.file.close()

    @classmethod
    def from_fileobj(cls, source: IO[bytes], *, filename: str, tmp_dir: Path) -> StreamedUpload:
        """Spool a local file object the same way, for callers that are not HTTP requests."""
        tmp_dir.mkdir(parents=True, exist_ok=True)
        target = tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="upload-")
        try:
            digest = hashlib.sha256()
            size = 0
            while chunk := source.read(_WRITE_BATCH):
                digest.update(chunk)
                target.write(chunk)
                size += len(chunk)
            target.flush()
            target.seek(0)
        except BaseException:
            target.close()
            raise
        return cls(file=target, filename=filename, sha256=digest.hexdigest(), size=size)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)


class _Receiver:
    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0
        self.filename: str | None = None
        self.fields: dict[str, str] = {}
        self.pending = bytearray()
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
        }

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._part.headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise BadRequest('multipart part without a Content-Disposition "name"')
        self._part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options and self._part.name == FILE_FIELD:
            # A client that sends the audio as a plain text field (curl -F 'file=<song.wav') would otherwise be
            # told that a text field is too large, or that there is no file at all.
            raise BadRequest(
                f"the {FILE_FIELD!r} part has no file name: send the audio as a file part with a filename "
                f'(Content-Disposition: form-data; name="{FILE_FIELD}"; filename="song.wav"), '
                f"e.g. curl -F {FILE_FIELD}=@song.wav",
                field=FILE_FIELD,
            )
        if b"filename" in options:
            self._part.filename = options[b"filename"].decode("utf-8", "replace")
            if "\x00" in self._part.filename:
                raise InvalidInput(f"{FILE_FIELD}: the file name must not contain NUL characters", field=FILE_FIELD)
            if self._part.name != FILE_FIELD:
                raise BadRequest(
                    f"unexpected file field {self._part.name!r}: send the audio as {FILE_FIELD!r}",
                    field=self._part.name,
                )
            if self.filename is not None:
                raise BadRequest("send exactly one file per upload", field=FILE_FIELD)
            self.filename = self._part.filename

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._part.filename is not None:
            self.digest.update(chunk)
            self.size += len(chunk)
            self.pending += chunk
        else:
            if len(self._part.data) + len(chunk) > _MAX_FIELD_BYTES:
                raise BadRequest(
                    f"form field {self._part.name!r} exceeds the {_MAX_FIELD_BYTES // 1024} KiB limit of a text "
                    f"field (only the {FILE_FIELD!r} part, sent with a filename, may be large)",
                    field=self._part.name,
                )
            self._part.data += chunk

    def _on_part_end(self) -> None:
        if self._part.filename is None:
            if len(self.fields) >= _MAX_FIELDS:
                raise BadRequest("too many form fields")
            value = self._part.data.decode("utf-8", "replace")
            if "\x00" in value:
                # PostgreSQL text cannot hold NUL; refuse it here, naming the field, as JSON bodies do.
                raise InvalidInput(f"{self._part.name}: must not contain NUL characters", field=self._part.name)
            self.fields[self._part.name] = value

    def flush(self) -> None:
        self.target.write(self.pending)
        self.pending.clear()


def _malformed(exc: MultipartParseError) -> str:
    # The parser reports a boundary mismatch as byte values ("Expected boundary character 45, got 103").
    if "boundary" in str(exc):
        return "malformed multipart body: a part does not begin with the boundary given in the Content-Type header"
    return f"malformed multipart body: {exc}"


async def receive_upload(content_type: str, stream: AsyncIterator[bytes], *, tmp_dir: Path) -> StreamedUpload:
    """Parse a ``multipart/form-data`` body whose ``file`` part is written to a temporary file in ``tmp_dir``.

    The caller owns the returned upload and must ``close()`` it, which deletes the temporary file.
    """
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data" or b"boundary" not in params:
        raise BadRequest("send the upload as multipart/form-data with the audio in the 'file' field")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    target = tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="upload-")
    try:
        receiver = _Receiver(target)
        parser = MultipartParser(params[b"boundary"], receiver.callbacks())
        try:
            async for chunk in stream:
                parser.write(chunk)
                if len(receiver.pending) >= _WRITE_BATCH:
                    await run_in_threadpool(receiver.flush)
            parser.finalize()
        except MultipartParseError as exc:
            raise BadRequest(_malformed(exc)) from exc
        if parser.state != MultipartState.END:
            # The parser leaves completeness to its caller: a body cut short would otherwise pass as an upload.
            raise BadRequest(
                "malformed multipart body: it ends before the closing boundary (was the upload interrupted?)"
            )
        await run_in_threadpool(receiver.flush)
        await run_in_threadpool(target.flush)
        if receiver.filename is None:
            raise BadRequest(f"no {FILE_FIELD!r} part in the upload", field=FILE_FIELD)
        target.seek(0)
        return StreamedUpload(
            file=target,
            filename=receiver.filename,
            sha256=receiver.digest.hexdigest(),
            size=receiver.size,
            fields=receiver.fields,
        )
    except BaseException:
        target.close()
        raise
