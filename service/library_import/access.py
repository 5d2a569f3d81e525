"""Who may import from where. An import the API creates reads with the server's own file permissions and S3
credentials, so its source is authorised, never trusted: a folder only under ``REFTRACK_IMPORT_ROOTS``, an
``s3://`` prefix only under ``REFTRACK_IMPORT_S3_ROOTS`` (either may hold ``{user_id}``, making the root that
user's own), and never anything of the service's own storage, even where an operator root overlaps it.

Roots are matched segment by segment on the canonical spelling of the source, so ``drop/alice`` does not admit
``drop/alice2``, and ``..``, ``//`` and ``.`` segments, percent-encoded keys and upper-case bucket names are
refused before any matching. ``reftrack import`` (the operator) is not subject to any of this.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from service.config import USER_ID_PLACEHOLDER, Settings
from service.errors import Forbidden, InvalidInput
from service.library_import.scanner import normalise_source, parse_bucket_source
from service.storage import Storage

__all__ = ["ImportPolicy"]

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _segments(prefix: str) -> tuple[str, ...]:
    return tuple(part for part in prefix.strip("/").split("/") if part)


def _overlaps(path: Path, other: Path) -> bool:
    return path.is_relative_to(other) or other.is_relative_to(path)


@dataclass(frozen=True, slots=True)
class ImportPolicy:
    """The import roots and the service's own storage areas, as one deployment's settings and storage give them."""

    folder_roots: tuple[str, ...]
    s3_roots: tuple[str, ...]
    protected_folders: tuple[Path, ...]
    protected_buckets: frozenset[str]

    @classmethod
    def from_settings(cls, cfg: Settings, *, storage: Storage) -> ImportPolicy:
        protected = [cfg.resolved_data_dir, cfg.storage_dir, cfg.tmp_dir]
        root = storage.local_root()
        if root is not None:
            protected.append(root.expanduser().resolve())
        # The storage writes at the top of its bucket, so the whole bucket is the service's.
        buckets = {b.lower() for b in (cfg.s3_bucket, storage.bucket_name()) if b}
        return cls(
            folder_roots=tuple(str(root) for root in cfg.import_roots),
            s3_roots=tuple(cfg.import_s3_roots),
            protected_folders=tuple(dict.fromkeys(protected)),
            protected_buckets=frozenset(buckets),
        )

    def folder_roots_for(self, user_id: uuid.UUID) -> list[Path]:
        return [
            Path(root.replace(USER_ID_PLACEHOLDER, str(user_id))).expanduser().resolve() for root in self.folder_roots
        ]

    def s3_roots_for(self, user_id: uuid.UUID) -> list[tuple[str, tuple[str, ...]]]:
        """``(bucket, prefix segments)`` of each S3 root; a placeholder stands for one whole user id."""
        roots = []
        for root in self.s3_roots:
            bucket, _, prefix = root.removeprefix("s3://").partition("/")
            roots.append((bucket, _segments(prefix.replace(USER_ID_PLACEHOLDER, str(user_id)))))
        return roots

    def authorise(self, source: str, *, user_id: uuid.UUID) -> str:
        """The canonical spelling of ``source`` if the user may import it; raises ``Forbidden`` or ``InvalidInput``."""
        text = source.strip()
        if text.startswith("s3://"):
            return self._authorise_bucket(text, user_id=user_id)
        if not Path(text).is_absolute():
            raise InvalidInput("source: give an absolute server path or s3://bucket/prefix", field="source")
        return self._authorise_folder(text, user_id=user_id)

    def _authorise_folder(self, text: str, *, user_id: uuid.UUID) -> str:
        if not self.folder_roots:
            raise Forbidden(
                "imports from server folders are disabled: no import roots are configured (REFTRACK_IMPORT_ROOTS)",
                field="source",
            )
        # Resolving follows every link and removes every "..", so the folder is compared where it really is.
        path = Path(normalise_source(text))
        if not any(path.is_relative_to(root) for root in self.folder_roots_for(user_id)):
            raise Forbidden(
                f"source: {text!r} is outside the folders imports may read (REFTRACK_IMPORT_ROOTS)", field="source"
            )
        if any(_overlaps(path, protected) for protected in self.protected_folders):
            raise Forbidden(
                f"source: {text!r} is or holds the service's own storage; imports may not read it", field="source"
            )
        return str(path)

    def _authorise_bucket(self, text: str, *, user_id: uuid.UUID) -> str:
        if _PERCENT_ESCAPE.search(text):
            raise InvalidInput(
                "source: percent-encoded characters are not allowed in an s3:// source; write the key as it is",
                field="source",
            )
        bucket, prefix = parse_bucket_source(text)
        if not self.s3_roots:
            raise Forbidden(
                "imports from S3 are disabled: no S3 import roots are configured (REFTRACK_IMPORT_S3_ROOTS)",
                field="source",
            )
        segments = _segments(prefix)
        if not any(
            bucket == root_bucket and segments[: len(root_segments)] == root_segments
            for root_bucket, root_segments in self.s3_roots_for(user_id)
        ):
            raise Forbidden(
                f"source: {text!r} is outside the S3 prefixes imports may read (REFTRACK_IMPORT_S3_ROOTS)",
                field="source",
            )
        if bucket.lower() in self.protected_buckets:
            raise Forbidden(
                f"source: s3://{bucket} is the service's own storage bucket; imports may not read it", field="source"
            )
        return f"s3://{bucket}/{prefix}"
