"""Temporary files left by killed processes are swept by age; files in use and anything else are left alone."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from service.tempfiles import spool_hashed, sweep_stale_temp_files
from tests.service.analysis_run.test_reaper import run_cli

MAX_AGE_S = 6 * 3600.0


def write(path: Path, size: int, *, age_s: float) -> Path:
    path.write_bytes(b"\0" * size)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_only_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    # given: leftovers of every kind older than the safe age, and files that must stay
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    write(tmp / "upload-a1b2c3", 100, age_s=MAX_AGE_S + 60)
    write(tmp / "analysis-d4e5f6.wav", 2000, age_s=MAX_AGE_S + 1)
    write(tmp / "import-g7h8i9", 30, age_s=7 * 24 * 3600)
    write(tmp / "upload-in-use", 10, age_s=5)
    write(tmp / "analysis-almost-stale.flac", 10, age_s=MAX_AGE_S - 60)
    write(tmp / "notes.txt", 10, age_s=MAX_AGE_S + 60)
    (tmp / "analysis-folder").mkdir()
    os.symlink(tmp / "notes.txt", tmp / "upload-link")
    os.utime(tmp / "upload-link", (0, 0), follow_symlinks=False)
    # when
    result = sweep_stale_temp_files(tmp, max_age_s=MAX_AGE_S)
    # then
    assert result.removed == ["analysis-d4e5f6.wav", "import-g7h8i9", "upload-a1b2c3"]
    assert (result.kept, result.freed_bytes) == (2, 2130)
    assert sorted(p.name for p in tmp.iterdir()) == [
        "analysis-almost-stale.flac",
        "analysis-folder",
        "notes.txt",
        "upload-in-use",
        "upload-link",
    ]


def test_a_spooled_copy_holds_the_stream_with_its_hash_and_is_removed_on_close(tmp_path: Path) -> None:
    # given: a stream longer than one read
    data = bytes(range(256)) * 5000
    tmp = tmp_path / "tmp"
    # when
    spooled = spool_hashed(io.BytesIO(data), tmp_dir=tmp, prefix="import-")
    # then
    name = Path(spooled.file.name)
    assert (name.parent, name.name.startswith("import-")) == (tmp, True)
    assert (spooled.sha256, spooled.size) == (hashlib.sha256(data).hexdigest(), 1_280_000)
    assert spooled.file.read() == data
    spooled.file.close()
    assert list(tmp.iterdir()) == []


class _BreaksAfterOneChunk:
    def __init__(self) -> None:
        self.reads = 0

    def read(self, size: int, /) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise ConnectionResetError("peer went away")
        return b"x" * size


def test_a_stream_that_fails_midway_leaves_no_spool_behind(tmp_path: Path) -> None:
    # when
    with pytest.raises(ConnectionResetError, match="peer went away"):
        spool_hashed(_BreaksAfterOneChunk(), tmp_dir=tmp_path, prefix="upload-")
    # then
    assert list(tmp_path.iterdir()) == []


def test_a_spool_prefix_the_sweep_does_not_know_is_refused(tmp_path: Path) -> None:
    # when
    with pytest.raises(ValueError, match="'scratch-' is not one of"):
        spool_hashed(io.BytesIO(b"abc"), tmp_dir=tmp_path, prefix="scratch-")
    # then
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_nothing_to_sweep(tmp_path: Path) -> None:
    result = sweep_stale_temp_files(tmp_path / "never-created", max_age_s=MAX_AGE_S)
    assert (result.removed, result.kept, result.freed_bytes) == ([], 0, 0)


def test_sweep_command_removes_stale_files_in_the_data_directory(tmp_path: Path) -> None:
    # given
    data_dir = tmp_path / "data"
    tmp = data_dir / "tmp"
    tmp.mkdir(parents=True)
    write(tmp / "analysis-left-by-a-killed-worker.wav", 4096, age_s=3600)
    write(tmp / "upload-being-received", 512, age_s=1)
    # when
    done = run_cli("maintenance", "sweep", data_dir=data_dir, env={"REFTRACK_TMP_MAX_AGE_S": "600"})
    # then
    assert (done.returncode, done.stdout) == (0, "temporary files removed: 1 (4096 bytes), kept: 1\n"), done.stderr
    assert [p.name for p in tmp.iterdir()] == ["upload-being-received"]


def test_the_periodic_task_sweeps_the_workers_temporary_folder() -> None:
    # given: a leftover older than the configured age and a file in use, in this process's temporary folder
    from service.config import settings
    from workers.maintenance import sweep_temp_files

    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    leftover = write(settings.tmp_dir / "analysis-periodic-leftover.wav", 64, age_s=settings.tmp_max_age_s + 60)
    in_use = write(settings.tmp_dir / "analysis-periodic-in-use.wav", 64, age_s=1)
    try:
        # when: the maintenance queue runs a tick
        sweep_temp_files()
        # then
        assert (leftover.exists(), in_use.exists()) == (False, True)
    finally:
        in_use.unlink(missing_ok=True)
        leftover.unlink(missing_ok=True)
