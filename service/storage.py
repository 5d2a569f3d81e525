"""Object storage: one small interface, a local-disk backend (embedded default) and an S3 backend (S3, R2,
MinIO and anything else that speaks the S3 API, through boto3).

Objects are written from file objects and read to paths, so a large original never sits in memory: boto3's
managed transfer streams it in bounded multipart chunks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends

from service.config import Settings, settings
from service.errors import StorageUnavailable

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

_COPY_CHUNK = 1 << 20


class Storage(Protocol):
    def put(self, key: str, fileobj: IO[bytes], *, content_type: str | None = None) -> None: ...
    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None: ...
    def get_to_path(self, key: str, path: Path) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def url(self, key: str, *, expires_in: int | None = None) -> str | None:
        """A presigned URL that reads the object without credentials, or ``None`` where storage cannot make one."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's file on this machine, to stream ranges of it; ``None`` where objects are not files here."""
        ...

    def local_root(self) -> Path | None:
        """The folder every object is a file under, or ``None``."""
        ...

    def bucket_name(self) -> str | None:
        """The S3 bucket every object is in, or ``None``."""
        ...

    def bucket_reader(self, bucket: str) -> S3Storage | None:
        """A reader of another bucket with this storage's own client, or ``None`` where it has no S3 client."""
        ...

    def copy_from(self, bucket: str, source_key: str, key: str, *, content_type: str | None = None) -> bool:
        """Copy an object of ``bucket`` to ``key`` server-side; ``False`` (nothing done) where storage cannot
        reach that bucket, and the caller uploads the bytes instead."""
        ...

    def check(self) -> None: ...


def _safe_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"invalid object key {key!r}")
    return path


class LocalStorage:
    """Objects as files under a root folder; writes are atomic (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_safe_key(key).parts)

    def put(self, key: str, fileobj: IO[bytes], *, content_type: str | None = None) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(fileobj, out, _COPY_CHUNK)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            self._prune(target.parent)
            raise

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        import io

        self.put(key, io.BytesIO(data), content_type=content_type)

    def get_to_path(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise FileNotFoundError(f"object {key!r} not found")
        shutil.copyfile(source, path)

    def get_bytes(self, key: str) -> bytes:
        source = self._path(key)
        if not source.is_file():
            raise FileNotFoundError(f"object {key!r} not found")
        return source.read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix.rstrip("/"))
        if not folder.exists():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        self._prune(folder.parent)
        return count

    def _prune(self, folder: Path) -> None:
        """Remove empty parent folders up to the root so deleted tracks leave no trace."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def url(self, key: str, *, expires_in: int | None = None) -> str | None:
        return None

    def local_path(self, key: str) -> Path:
        return self._path(key)

    def local_root(self) -> Path:
        return self.root

    def bucket_name(self) -> None:
        return None

    def bucket_reader(self, bucket: str) -> None:
        return None

    def copy_from(self, bucket: str, source_key: str, key: str, *, content_type: str | None = None) -> bool:
        return False

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".healthz"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageUnavailable(f"local storage at {self.root} is not writable: {exc}") from exc


class S3Storage:
    """An S3-compatible bucket. Works with AWS S3, Cloudflare R2 (region ``auto``) and MinIO."""

    def __init__(self, client: S3Client, bucket: str, *, presign_expiry: int = 3600) -> None:
        self.client = client
        self.bucket = bucket
        self.presign_expiry = presign_expiry

    @classmethod
    def from_settings(cls, cfg: Settings) -> S3Storage:
        import boto3
        from botocore.config import Config

        assert cfg.s3_bucket is not None
        client = boto3.client(
            "s3",
            endpoint_url=cfg.s3_endpoint_url,
            aws_access_key_id=cfg.s3_access_key_id,
            aws_secret_access_key=cfg.s3_secret_access_key,
            region_name=cfg.s3_region,
            config=Config(
                connect_timeout=cfg.s3_connect_timeout,
                read_timeout=cfg.s3_read_timeout,
                retries={"max_attempts": cfg.s3_max_attempts, "mode": "standard"},
                s3={"addressing_style": cfg.s3_addressing_style},
                signature_version="s3v4",
                # R2 and several S3-compatible servers reject the newer default CRC checksums on uploads.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        return cls(client, cfg.s3_bucket, presign_expiry=cfg.s3_presign_expiry)

    def put(self, key: str, fileobj: IO[bytes], *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        self.client.upload_fileobj(fileobj, self.bucket, str(_safe_key(key)), ExtraArgs=extra)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=str(_safe_key(key)),
            Body=data,
            ContentType=content_type or "application/octet-stream",
        )

    def get_to_path(self, key: str, path: Path) -> None:
        from botocore.exceptions import ClientError

        name = str(_safe_key(key))
        try:
            self.client.download_file(self.bucket, name, str(path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(f"object {key!r} not found") from exc
            raise

    def get_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        name = str(_safe_key(key))
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=name)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(f"object {key!r} not found") from exc
            raise
        return body.read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        name = str(_safe_key(key))
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=str(_safe_key(key)))

    def delete_prefix(self, prefix: str) -> int:
        # A prefix names a folder, as for LocalStorage: "tracks/1/2" must not match "tracks/1/20/...", and an
        # empty prefix must not match the whole bucket.
        folder = f"{_safe_key(prefix.rstrip('/'))}/"
        deleted = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
            objects: list[ObjectIdentifierTypeDef] = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if objects:
                response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
                if errors := response.get("Errors"):
                    first = errors[0]
                    raise OSError(
                        f"could not delete {len(errors)} objects, e.g. {first.get('Key')}: {first.get('Message')}"
                    )
                deleted += len(objects)
        return deleted

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, int, str | None]]:
        """``(key, size, etag)`` of every object whose key starts with ``prefix``, page by page."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                etag = obj.get("ETag")
                yield obj["Key"], obj.get("Size", 0), etag.strip('"') if etag else None

    def open(self, key: str) -> StreamingBody:
        """A stream of the object's bytes; the caller reads it in chunks and closes it."""
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(f"object {key!r} not found") from exc
            raise

    def copy_from(self, bucket: str, source_key: str, key: str, *, content_type: str | None = None) -> bool:
        """Copy an object of ``bucket`` (reachable with this client) to ``key`` server-side, in parts if large."""
        extra = {"ContentType": content_type, "MetadataDirective": "REPLACE"} if content_type else None
        self.client.copy({"Bucket": bucket, "Key": source_key}, self.bucket, str(_safe_key(key)), ExtraArgs=extra)
        return True

    def local_path(self, key: str) -> None:
        return None

    def local_root(self) -> None:
        return None

    def bucket_name(self) -> str:
        return self.bucket

    def bucket_reader(self, bucket: str) -> S3Storage:
        return S3Storage(self.client, bucket, presign_expiry=self.presign_expiry)

    def url(self, key: str, *, expires_in: int | None = None) -> str | None:
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": str(_safe_key(key))},
            ExpiresIn=expires_in or self.presign_expiry,
        )

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"bucket {self.bucket!r} is not reachable: {exc}") from exc


def build_storage(cfg: Settings) -> Storage:
    if cfg.uses_s3:
        return S3Storage.from_settings(cfg)
    return LocalStorage(cfg.storage_dir)


_storage: Storage | None = None


def get_storage() -> Storage:
    global _storage
    if _storage is None:
        _storage = build_storage(settings)
    return _storage


def set_storage(storage: Storage | None) -> None:
    """Replace the process-wide storage (tests, and a worker after fork)."""
    global _storage
    _storage = storage


StorageDep = Annotated[Storage, Depends(get_storage)]


def original_key(user_id: object, track_id: object, ext: str) -> str:
    return f"tracks/{user_id}/{track_id}/original.{ext}"


def track_prefix(user_id: object, track_id: object) -> str:
    return f"tracks/{user_id}/{track_id}/"


def waveform_key(
    user_id: object, track_id: object, analysis_id: object, *, samples_per_pixel: int | None = None
) -> str:
    """The finest overview is ``waveform.dat``; coarser zoom levels are ``waveform-<samples per pixel>.dat``.

    Each analysis has its own, so a re-analysis in progress never replaces the overviews of the one being served,
    and a request pinned to an earlier analysis still gets that analysis' peaks.
    """
    suffix = "" if samples_per_pixel is None else f"-{samples_per_pixel}"
    return f"tracks/{user_id}/{track_id}/analyses/{analysis_id}/waveform{suffix}.dat"


def thumbnail_key(user_id: object, track_id: object, analysis_id: object) -> str:
    return f"tracks/{user_id}/{track_id}/analyses/{analysis_id}/thumbnail.png"


def legacy_overview_key(key: str) -> str:
    """Where the same overview was stored before each analysis had its own: one set per track, still read for
    analyses made then."""
    head, _, name = key.rpartition("/")
    return f"{head.rsplit('/analyses/', 1)[0]}/{name}"
