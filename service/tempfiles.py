"""Temporary files a killed process left behind: found by name and age in ``settings.tmp_dir``, and deleted.

Uploads (``upload-*``), downloads of originals for analysis (``analysis-*``) and import spools (``import-*``)
are written to temporary files that their process deletes when it is done, but not when it is SIGKILLed or
runs out of memory. :func:`sweep_stale_temp_files` runs when ``reftrack serve`` and ``reftrack worker`` start,
periodically on the maintenance queue, and as ``reftrack maintenance sweep``.

A file in use is told apart from a leftover by its age alone (the time it was last written), since the folder
may be shared by processes on several machines: keep ``tmp_max_age_s`` above the longest upload and analysis.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TEMP_PREFIXES", "SweepResult", "sweep_stale_temp_files"]

log = logging.getLogger(__name__)

TEMP_PREFIXES = ("upload-", "analysis-", "import-")


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
