"""Temporary files a killed process left behind: found by name and age in ``settings.tmp_dir``, and deleted.

Uploads (``upload-*``), downloads of originals for analysis (``analysis-*``) and import spools (``import-*``)
are written to temporary files (see :func:`spool_hashed`) that their process deletes when it is done, but not
when it is SIGKILLed or runs out of memory. :func:`sweep_stale_temp_files` runs when ``reftrack serve`` and
``reftrack worker`` start, periodically on the maintenance queue, and as ``reftrack maintenance sweep``.

A file in use is told apart from a leftover by its age alone (the time it was last written), since the folder
may be shared by processes on several machines: keep ``tmp_max_age_s`` above the longest upload and analysis.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

__all__ = ["TEMP_PREFIXES", "Spooled", "SweepResult", "spool_hashed", "sweep_stale_temp_files"]

log = logging.getLogger(__name__)

TEMP_PREFIXES = ("upload-", "analysis-", "import-")
_SPOOL_CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Spooled:
    """A temporary file holding a copy of a stream, positioned at its start, with its SHA-256 and size.

    Closing ``file`` deletes it.
    """

    file: IO[bytes]
    sha256: str
    size: int


def spool_hashed(source: Readable, *, tmp_dir: Path, prefix: str) -> Spooled:
    """Copy ``source`` once, in bounded chunks, into a new temporary file in ``tmp_dir``, hashing it on the way.

    ``prefix`` is one of :data:`TEMP_PREFIXES`, so that a copy its process could not delete is swept. If reading
    or writing fails, the temporary file is removed and the error raised.
    """
    if not prefix.startswith(TEMP_PREFIXES):
        raise ValueError(f"prefix {prefix!r} is not one of {TEMP_PREFIXES}: a leftover would never be swept")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    target = tempfile.NamedTemporaryFile(dir=tmp_dir, prefix=prefix)
    try:
        digest = hashlib.sha256()
        size = 0
        while chunk := source.read(_SPOOL_CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
        target.flush()
        target.seek(0)
    except BaseException:
        target.close()
        raise
    return Spooled(file=target, sha256=digest.hexdigest(), size=size)


@dataclass(slots=True)
class SweepResult:
    removed: list[str] = field(default_factory=list)
    kept: int = 0
    freed_bytes: int = 0


def sweep_stale_temp_files(tmp_dir: Path, *, max_age_s: float, now: float | None = None) -> SweepResult:
    """Delete the temporary files in ``tmp_dir`` last written over ``max_age_s`` seconds before ``now``.

    Only regular files directly in ``tmp_dir`` whose names start with one of :data:`TEMP_PREFIXES` are
    considered; anything else there is left alone. Safe to run concurrently with itself and with the
    processes writing there.
    """
    result = SweepResult()
    cutoff = (time.time() if now is None else now) - max_age_s
    try:
        entries = list(os.scandir(tmp_dir))
    except FileNotFoundError:
        return result
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIXES):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            if stat.st_mtime >= cutoff:
                result.kept += 1
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue  # its process finished (or another sweep got it) meanwhile
        result.removed.append(entry.name)
        result.freed_bytes += stat.st_size
    if result.removed:
        log.warning(
            "tmp.sweep.removed",
            extra={"folder": str(tmp_dir), "files": sorted(result.removed), "bytes": result.freed_bytes},
        )
    result.removed.sort()
    return result
