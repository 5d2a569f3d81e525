"""``reftrack import`` of folders and S3 prefixes, run in this process against SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import queue as queue_module
from service.analysis_run.flows import run_analysis
from service.analysis_run.models import AnalysisRun
from service.analysis_run.service import analysis_run as analysis_run_service
from service.db import session_scope
from service.library_import.models import ImportTrack, LibraryImport
from service.storage import LocalStorage, S3Storage, original_key
from service.track.models import Track
from tests.fixtures.app import Account
from tests.fixtures.storage import S3Server, make_s3_storage
from tests.service.library_import.conftest import (
    Library,
    StopAfterChunks,
    count,
    import_library,
    runs_per_track,
    sent_tasks,
    upload_library,
)

EXPECTED_TITLES = {"a kick (copy)", "Night Drive", "d loop", "Morning Run"}


def tracks(session: Session) -> dict[str, Track]:
    return {t.title: t for t in session.scalars(select(Track))}


def test_import_of_a_folder_adds_each_audio_file_once_and_reports_the_rest(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # when
    result = import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # then
    assert result.code == 0
    summary = result.summary
    assert {k: summary[k] for k in ("files_found", "imported", "duplicates", "not_audio", "failed")} == {
        "files_found": 7,
        "imported": 4,
        "duplicates": 1,
        "not_audio": 1,
        "failed": 1,
    }
    assert summary["failures"] == [{"path": str(library.corrupt), "reason": summary["failures"][0]["reason"]}]
    assert "c broken.wav: truncated WAV file" in summary["failures"][0]["reason"]
    found = tracks(session)
    assert set(found) == EXPECTED_TITLES
    assert {t.file_format for t in found.values()} == {"wav", "flac", "ogg", "mp3"}
    assert {t.user_id for t in found.values()} == {alice.user.id}
    assert {t.source for t in found.values()} == {"import"}


def test_tags_are_read_and_the_file_name_is_the_title_otherwise(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # when
    import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # then
    found = tracks(session)
    flac = found["Night Drive"]
    assert (flac.artist, flac.album, flac.genre) == ("The Examples", "Fixtures", "Techno")
    mp3 = found["Morning Run"]
    assert (mp3.artist, mp3.album, mp3.genre) == ("Another Band", None, None)
    ogg = found["d loop"]
    assert (ogg.artist, ogg.album, ogg.genre) == (None, None, None)
    assert ogg.metadata_ == {"original_filename": "d loop.ogg", "codec": "vorbis"}
    assert ogg.source_url == library.audio["ogg"].as_uri()


def test_each_new_track_has_one_queued_analysis_sent_on_the_bulk_queue_and_its_original_stored(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given
    before = set(sent_tasks("track.analyze"))
    # when
    import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # then
    runs = list(session.scalars(select(AnalysisRun)))
    assert len(runs) == 4
    assert {r.status for r in runs} == {"queued"}
    assert set(runs_per_track(session).values()) == {1}
    sent = [m for m in sent_tasks("track.analyze") if m not in before]
    assert sorted(sent) == sorted((str(r.id), "analysis.bulk") for r in runs)
    files = {p.as_uri(): p for p in library.root.rglob("*")}
    for track in tracks(session).values():
        source = files[track.source_url or ""]
        assert track.storage_key == original_key(alice.user.id, track.id, track.file_format or "")
        assert local_storage.local_path(track.storage_key).read_bytes() == source.read_bytes()
        assert track.content_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
        assert track.size_bytes == source.stat().st_size


def test_import_row_counts_files_and_links_every_track_found(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # when
    import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # then
    record = session.scalars(select(LibraryImport)).one()
    assert (record.source, record.origin, record.status) == (str(library.root), "cli", "succeeded")
    assert (record.files_found, record.files_imported, record.files_duplicate) == (7, 4, 1)
    assert (record.files_not_audio, record.files_failed) == (1, 1)
    assert record.cursor == str(library.audio["mp3"])
    assert record.pending == []
    assert record.finished_at is not None
    links = list(session.scalars(select(ImportTrack)))
    assert len(links) == 4
    assert {link.created for link in links} == {True}


def test_running_the_import_again_or_over_an_overlapping_folder_adds_nothing(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given
    import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # when
    again = import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    overlapping = import_library(session_factory, local_storage, alice, library.root / "Nested", tmp_path=tmp_path)
    # then
    assert (again.summary["imported"], again.summary["duplicates"], again.summary["failed"]) == (0, 5, 1)
    assert (overlapping.summary["imported"], overlapping.summary["duplicates"]) == (0, 3)
    assert count(session, Track) == 4
    assert count(session, AnalysisRun) == 4
    assert count(session, LibraryImport) == 3


def test_two_paths_in_one_command_share_one_summary(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # when
    result = import_library(
        session_factory, local_storage, alice, library.root / "Nested", library.audio["mp3"], tmp_path=tmp_path
    )
    # then
    assert result.code == 0
    assert (result.summary["files_found"], result.summary["imported"], result.summary["not_audio"]) == (5, 4, 1)
    assert [i["source"] for i in result.summary["imports"]] == [
        str(library.root / "Nested"),
        str(library.audio["mp3"]),
    ]
    assert count(session, Track) == 4


def test_an_interrupted_import_resumes_where_it_stopped_and_analyses_each_track_once(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: an import killed once its first chunk (two files) has committed
    with pytest.raises(RuntimeError, match="killed"):
        import_library(
            session_factory, local_storage, alice, library.root, tmp_path=tmp_path, progress_hooks=StopAfterChunks(1)
        )
    interrupted = session.scalars(select(LibraryImport)).one()
    assert (interrupted.status, interrupted.files_imported, interrupted.heartbeat_at) == ("running", 2, None)
    assert count(session, Track) == 2
    # when
    resumed = import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # then: the same import finished, with the counts of an uninterrupted one
    assert resumed.code == 0
    assert resumed.summary["imports"] == [
        {"id": str(interrupted.id), "source": str(library.root), "status": "succeeded", "error": None}
    ]
    assert (resumed.summary["imported"], resumed.summary["duplicates"], resumed.summary["failed"]) == (4, 1, 1)
    assert count(session, Track) == 4
    assert set(runs_per_track(session).values()) == {1}
    assert count(session, ImportTrack) == 4


def test_a_chunk_whose_tasks_never_reached_the_broker_is_sent_when_the_import_resumes(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a broker that refuses connections while the first import runs
    class DownBroker:
        @contextmanager
        def producer_or_acquire(self) -> Iterator[Any]:
            raise ConnectionRefusedError("broker down")
            yield

    monkeypatch.setattr(queue_module, "producer", lambda: DownBroker())
    first = import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    assert first.code == 1
    record = session.scalars(select(LibraryImport)).one()
    assert record.status == "running"
    assert record.error_message == "4 analyses could not be sent to the broker; run the import again"
    assert len(record.pending) == 4
    monkeypatch.undo()
    started = uuid.UUID(record.pending[0])
    with session_scope(session_factory) as s:
        analysis_run_service.start(s, analysis_id=started)
    before = set(sent_tasks("track.analyze"))
    # when
    second = import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # then: the three still queued are sent, not the one a worker already started
    assert second.code == 0
    sent = [m for m in sent_tasks("track.analyze") if m not in before]
    runs = list(session.scalars(select(AnalysisRun)))
    assert len(runs) == 4
    assert sorted(sent) == sorted((str(r.id), "analysis.bulk") for r in runs if r.id != started)
    session.expire_all()
    finished = session.scalars(select(LibraryImport)).one()
    assert (finished.status, finished.pending, finished.error_message) == ("succeeded", [], None)


def test_a_track_found_again_is_queued_only_if_it_was_never_analysed(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: one imported track analysed and failed, another with its analysis deleted
    import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    found = tracks(session)
    failed_run = session.scalars(select(AnalysisRun).where(AnalysisRun.track_id == found["d loop"].id)).one()
    analysis_run_service.fail(session, analysis_id=failed_run.id, message="could not analyse audio")
    session.delete(session.scalars(select(AnalysisRun).where(AnalysisRun.track_id == found["Night Drive"].id)).one())
    session.commit()
    # when
    import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # then
    per_track = runs_per_track(session)
    assert per_track[found["Night Drive"].id] == 1
    assert per_track[found["d loop"].id] == 1
    assert count(session, AnalysisRun) == 4


def test_unknown_user_and_missing_folder_are_errors(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    tmp_path: Path,
) -> None:
    # when
    missing = import_library(session_factory, local_storage, alice, tmp_path / "nowhere", tmp_path=tmp_path)
    nobody = import_library(
        session_factory, local_storage, "nobody@example.com", tmp_path, tmp_path=tmp_path, fmt="table"
    )
    # then
    assert missing.code == 1
    assert missing.summary["imports"] == [
        {
            "id": missing.summary["imports"][0]["id"],
            "source": str(tmp_path / "nowhere"),
            "status": "failed",
            "error": f"no such file or folder: {tmp_path / 'nowhere'}",
        }
    ]
    assert nobody.code == 1
    assert nobody.output == "error: no user with email 'nobody@example.com': pass --user EMAIL\n"
    assert count(session, Track) == 0


def test_table_output_lists_counts_and_the_unreadable_files(
    session_factory: Callable[[], Session],
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # when
    result = import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path, fmt="table")
    # then
    assert result.code == 0
    lines = [line.strip("│ ").split("│") for line in result.output.splitlines() if "│" in line]
    rows = {cells[0].strip(): cells[-1].strip() for cells in lines if len(cells) == 2}
    assert rows["files found"] == "7"
    assert rows["imported"] == "4"
    assert rows["skipped: already in the library"] == "1"
    assert rows["skipped: not audio"] == "1"
    assert rows["failed"] == "1"
    assert rows["total time"].endswith(" s")
    assert f"{library.corrupt}: c broken.wav: truncated WAV file" in result.output


# ------------------------------------------------------------------------------------------------------- S3


def test_import_from_a_bucket_copies_objects_server_side_and_skips_them_the_second_time(
    session_factory: Callable[[], Session],
    session: Session,
    s3_server: S3Server,
    s3_storage: S3Storage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: the library under a prefix of another bucket, and an object outside the prefix
    source = make_s3_storage(s3_server, f"source-{uuid.uuid4().hex[:12]}")
    keys = upload_library(source, library, "studio/refs")
    source.put_bytes("studio/other/outside.wav", library.audio["wav"].read_bytes())
    # when
    first = import_library(session_factory, s3_storage, alice, f"s3://{source.bucket}/studio/refs/", tmp_path=tmp_path)
    second = import_library(session_factory, s3_storage, alice, f"s3://{source.bucket}/studio/refs", tmp_path=tmp_path)
    # then
    assert first.code == 0
    assert {k: first.summary[k] for k in ("files_found", "imported", "duplicates", "not_audio", "failed")} == {
        "files_found": 7,
        "imported": 4,
        "duplicates": 1,
        "not_audio": 1,
        "failed": 1,
    }
    assert first.summary["failures"][0]["path"] == "studio/refs/c broken.wav"
    assert "c broken.wav: truncated WAV file" in first.summary["failures"][0]["reason"]
    assert (second.summary["imported"], second.summary["duplicates"], second.summary["failed"]) == (0, 5, 1)
    found = tracks(session)
    assert set(found) == EXPECTED_TITLES
    for track in found.values():
        assert track.source_url is not None
        key = track.source_url.removeprefix(f"s3://{source.bucket}/")
        assert s3_storage.get_bytes(track.storage_key) == keys[key].read_bytes()
        assert track.metadata_["source_etag"] == hashlib.md5(keys[key].read_bytes()).hexdigest()
    assert found["Night Drive"].artist == "The Examples"
    assert count(session, AnalysisRun) == 4
    assert [r.source for r in session.scalars(select(LibraryImport))] == [f"s3://{source.bucket}/studio/refs"] * 2


def test_import_from_the_storage_bucket_itself(
    session_factory: Callable[[], Session],
    session: Session,
    s3_storage: S3Storage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given
    keys = upload_library(s3_storage, library, "inbox")
    # when
    result = import_library(session_factory, s3_storage, alice, f"s3://{s3_storage.bucket}/inbox", tmp_path=tmp_path)
    # then
    assert result.summary["imported"] == 4
    for track in tracks(session).values():
        assert track.source_url is not None
        key = track.source_url.removeprefix(f"s3://{s3_storage.bucket}/")
        assert s3_storage.get_bytes(track.storage_key) == keys[key].read_bytes()
        assert s3_storage.exists(key)


def test_a_missing_bucket_fails_the_import_with_the_reason(
    session_factory: Callable[[], Session],
    session: Session,
    s3_storage: S3Storage,
    alice: Account,
    tmp_path: Path,
) -> None:
    # when
    result = import_library(session_factory, s3_storage, alice, "s3://no-such-bucket-here/music", tmp_path=tmp_path)
    # then
    assert result.code == 1
    assert result.summary["imports"][0]["error"] == ("cannot list s3://no-such-bucket-here/music: NoSuchBucket")


def test_wait_follows_the_analyses_until_none_is_queued_or_running(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: a worker that finishes one analysis between two polls
    def worker_step() -> None:
        with session_scope(session_factory) as s:
            queued = s.scalars(select(AnalysisRun.id).where(AnalysisRun.status == "queued").limit(1)).first()
        assert queued is not None
        run_analysis(
            queued, session_scope=lambda: session_scope(session_factory), storage=local_storage, tmp_dir=tmp_path
        )

    # when
    result = import_library(
        session_factory,
        local_storage,
        alice,
        library.audio["flac"],
        library.corrupt,
        library.audio["ogg"],
        tmp_path=tmp_path,
        wait=True,
        pause=worker_step,
    )
    # then
    assert result.code == 0
    assert result.summary["imported"] == 2
    assert result.summary["analyses"] == {"queued": 0, "running": 0, "succeeded": 2, "failed": 0}
    assert {r.status for r in session.scalars(select(AnalysisRun))} == {"succeeded"}
    assert {t.bpm is not None for t in tracks(session).values()} == {True}


def test_ctrl_c_while_a_committed_chunk_is_sent_keeps_its_originals_and_the_rerun_sends_it(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    library: Library,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the user presses Ctrl-C just as the first chunk's tasks go to the broker
    class Interrupted:
        @contextmanager
        def producer_or_acquire(self) -> Iterator[Any]:
            raise KeyboardInterrupt
            yield

    monkeypatch.setattr(queue_module, "producer", lambda: Interrupted())
    interrupted = import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    monkeypatch.undo()
    assert interrupted.code == 130
    first_chunk = list(session.scalars(select(Track)))
    assert len(first_chunk) == 2
    assert all(local_storage.exists(t.storage_key) for t in first_chunk)
    before = set(sent_tasks("track.analyze"))
    # when
    resumed = import_library(session_factory, local_storage, alice, library.root, tmp_path=tmp_path)
    # then
    assert (resumed.code, resumed.summary["imported"]) == (0, 4)
    sent = [m for m in sent_tasks("track.analyze") if m not in before]
    assert sorted(sent) == sorted((str(r.id), "analysis.bulk") for r in session.scalars(select(AnalysisRun)))
    assert all(local_storage.exists(t.storage_key) for t in session.scalars(select(Track)))
