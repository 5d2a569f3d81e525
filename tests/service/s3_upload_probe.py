"""Upload a generated stream through ``S3Storage.put`` and report peak memory, for
``tests/service/test_storage.py::test_s3_put_streams_200_mib_with_bounded_memory``.

Run in a fresh interpreter, so that the peak RSS is this upload's::

    python tests/service/s3_upload_probe.py KEY SIZE SEED

The bucket and credentials come from the ``REFTRACK_S3_*`` environment, read by ``Settings`` exactly as in
production. The source is generated on the fly (never more than one 1 MiB block held here) and hashed as it is
read. Prints one JSON object, sizes in bytes:

- ``baseline_hwm`` / ``peak_hwm``: the peak RSS of this address space (``VmHWM``), after imports and client
  construction (before the upload) and after the upload. This is the measure to assert on.
- ``baseline_rss`` / ``peak_rss``: the same from ``getrusage(RUSAGE_SELF).ru_maxrss``, and ``start_rss``, its
  value before any import. ``ru_maxrss`` is per process, not per address space, and survives ``exec``: a child
  that ``subprocess`` starts with vfork+exec (its default on Linux) begins with its parent's peak (pytest's,
  which grows over a session), so ``start_rss`` shows whether these two are this interpreter's own.
- ``current_rss_before``, ``sha256`` of the bytes served, ``size`` (bytes served) and ``seconds``.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import resource
import sys
import time


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _hwm_bytes() -> int:
    with open("/proc/self/status") as status:
        match = re.search(r"^VmHWM:\s+(\d+) kB$", status.read(), re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


_START_RSS = _max_rss_bytes()


import psutil  # noqa: E402
import s3transfer.manager  # noqa: E402  (imported here so the baseline includes the transfer machinery)
import s3transfer.upload  # noqa: E402, F401

from service.config import Settings  # noqa: E402
from service.storage import S3Storage  # noqa: E402

_BLOCK = 1 << 20


class PseudoRandomStream(io.RawIOBase):
    """``size`` deterministic pseudo-random bytes, generated 1 MiB at a time and hashed as they are read.

    ``readinto`` fills the whole buffer (up to the end of the stream): s3transfer reads non-seekable streams
    with one ``read(part_size)`` per part and would send short parts otherwise.
    """

    def __init__(self, size: int, seed: int) -> None:
        self._rng = random.Random(seed)
        self._to_generate = size
        self._block = b""
        self._offset = 0
        self.served = 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if self._offset == len(self._block):
                if self._to_generate == 0:
                    break
                count = min(_BLOCK, self._to_generate)
                self._block = self._rng.randbytes(count)
                self._offset = 0
                self._to_generate -= count
            count = min(len(self._block) - self._offset, len(view) - filled)
            chunk = memoryview(self._block)[self._offset : self._offset + count]
            view[filled : filled + count] = chunk
            self.sha256.update(chunk)
            self._offset += count
            filled += count
        self.served += filled
        return filled


def main(argv: list[str]) -> int:
    key, size, seed = argv[1], int(argv[2]), int(argv[3])
    storage = S3Storage.from_settings(Settings())
    stream = PseudoRandomStream(size, seed)

    baseline = _max_rss_bytes()
    baseline_hwm = _hwm_bytes()
    current_before = psutil.Process().memory_info().rss
    started = time.monotonic()
    storage.put(key, stream, content_type="application/octet-stream")
    seconds = time.monotonic() - started
    peak = _max_rss_bytes()
    peak_hwm = _hwm_bytes()

    report = {
        "baseline_hwm": baseline_hwm,
        "peak_hwm": peak_hwm,
        "start_rss": _START_RSS,
        "baseline_rss": baseline,
        "peak_rss": peak,
        "current_rss_before": current_before,
        "sha256": stream.sha256.hexdigest(),
        "size": stream.served,
        "seconds": round(seconds, 2),
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
