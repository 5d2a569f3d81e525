"""The track API over HTTP, on SQLite and PostgreSQL, with local storage."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from service.analysis_run.service import analysis_run as analysis_run_service
from service.audit.models import AuditLog
from service.db import session_scope
from service.outbox.models import OutboxEvent
from service.storage import LocalStorage
from service.track.models import Track
from tests.fixtures.app import Account, make_client
from tests.fixtures.audio import click_track, write_audio

FORMATS = ["wav", "aiff", "flac", "ogg", "mp3", "m4a"]


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A short musical clip in every accepted format, plus broken variants of some."""
    folder = tmp_path_factory.mktemp("audio")
    samples = click_track(bpm=120, seconds=6, sr=22050, key="A minor")
    files = {fmt: write_audio(folder / f"clip.{fmt}", samples, 22050, fmt) for fmt in FORMATS}
    other = click_track(bpm=100, seconds=6, sr=22050, key="C major", seed=1)
    files["other"] = write_audio(folder / "other.wav", other, 22050, "wav")
    for fmt in ("wav", "mp3"):
        data = files[fmt].read_bytes()
        truncated = folder / f"truncated.{fmt}"
        truncated.write_bytes(data[: len(data) // 2])
        files[f"truncated_{fmt}"] = truncated
    fake = folder / "fake.wav"
    fake.write_bytes(os.urandom(64 * 1024))
    files["fake"] = fake
    empty = folder / "empty.mp3"
    empty.write_bytes(b"")
    files["empty"] = empty
    return files


def upload(client: TestClient, account: Account, path: Path, **fields: str) -> tuple[int, dict]:
    with path.open("rb") as fh:
        response = client.post(
            "/v1/tracks",
            headers=account.headers,
            files={"file": (path.name, fh, "application/octet-stream")},
            data=fields,
        )
    return response.status_code, response.json()


def stored_files(storage: LocalStorage) -> list[Path]:
    return sorted(p for p in storage.root.rglob("*") if p.is_file()) if storage.root.exists() else []


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_upload_every_format_is_accepted_and_queued(
    client: TestClient,
    alice: Account,
    audio_files: dict[str, Path],
    local_storage: LocalStorage,
    session: Session,
    fmt: str,
) -> None:
    # given
    path = audio_files[fmt]
    # when
    code, body = upload(client, alice, path, title="Clip", artist="Someone")
    # then
    assert code == 202, body
    assert body["title"] == "Clip"
    assert body["artist"] == "Someone"
    assert body["file_format"] == fmt
    assert body["sample_rate"] == 22050
    assert body["channels"] == 2
    assert body["duration_seconds"] == pytest.approx(6.0, abs=0.1)
    assert body["size_bytes"] == path.stat().st_size
    assert body["content_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert body["analysis"]["status"] == "queued"
    assert body["analysis"]["attempts"] == 0
    assert body["is_user_upload"] is True
    assert body["source"] == "upload"
    objects = stored_files(local_storage)
    assert [p.relative_to(local_storage.root).as_posix() for p in objects] == [
        f"tracks/{alice.user.id}/{body['id']}/original.{fmt}"
    ]
    assert objects[0].read_bytes() == path.read_bytes()
    assert count(session, Track) == 1
    assert count(session, AnalysisRun) == 1


def test_same_bytes_twice_return_the_existing_track(
    client: TestClient, alice: Account, audio_files: dict[str, Path], local_storage: LocalStorage, session: Session
) -> None:
    # given
    code, first = upload(client, alice, audio_files["wav"])
    assert code == 202
    # when
    code, second = upload(client, alice, audio_files["wav"], title="Another name")
    # then
    assert code == 200
    assert second["id"] == first["id"]
    assert second["title"] == "clip"
    assert second["analysis"]["id"] == first["analysis"]["id"]
    assert count(session, Track) == 1
    assert count(session, AnalysisRun) == 1
    assert len(stored_files(local_storage)) == 1


def test_same_bytes_again_say_which_track_they_are_and_which_fields_were_not_applied(
    client: TestClient, alice: Account, audio_files: dict[str, Path]
) -> None:
    # given
    path = audio_files["wav"]
    with path.open("rb") as fh:
        first = client.post("/v1/tracks", headers=alice.headers, files={"file": (path.name, fh)}, data={"artist": "A"})
    # when
    with path.open("rb") as fh:
        renamed = client.post(
            "/v1/tracks",
            headers=alice.headers,
            files={"file": (path.name, fh)},
            data={"title": "Another name", "artist": "A", "genre": "House"},
        )
    with path.open("rb") as fh:
        plain = client.post("/v1/tracks", headers=alice.headers, files={"file": (path.name, fh)})
    # then
    assert first.status_code == 202
    assert "x-duplicate-of" not in first.headers
    assert renamed.status_code == 200
    assert renamed.headers["x-duplicate-of"] == first.json()["id"]
    assert renamed.headers["x-ignored-fields"] == "title, genre"
    assert (renamed.json()["title"], renamed.json()["genre"]) == ("clip", None)
    assert plain.status_code == 200
    assert plain.headers["x-duplicate-of"] == first.json()["id"]
    assert "x-ignored-fields" not in plain.headers


def test_same_bytes_from_two_users_are_two_tracks(
    client: TestClient, alice: Account, bob: Account, audio_files: dict[str, Path], session: Session
) -> None:
    # when
    code_a, track_a = upload(client, alice, audio_files["wav"])
    code_b, track_b = upload(client, bob, audio_files["wav"])
    # then
    assert (code_a, code_b) == (202, 202)
    assert track_a["id"] != track_b["id"]
    assert count(session, Track) == 2


@pytest.mark.parametrize(
    ("name", "status", "error", "detail"),
    [
        ("fake", 415, "UnsupportedMediaType", "not a recognised audio file"),
        ("empty", 422, "UnprocessableAudio", "empty file"),
        ("truncated_wav", 422, "UnprocessableAudio", "truncated"),
        ("truncated_mp3", 422, "UnprocessableAudio", "truncated"),
    ],
)
def test_bad_audio_is_refused_and_nothing_is_stored(
    client: TestClient,
    alice: Account,
    audio_files: dict[str, Path],
    local_storage: LocalStorage,
    session: Session,
    name: str,
    status: int,
    error: str,
    detail: str,
) -> None:
    # when
    code, body = upload(client, alice, audio_files[name])
    # then
    assert code == status, body
    assert body["error"] == error
    assert detail in body["detail"]
    assert stored_files(local_storage) == []
    assert count(session, Track) == 0
    assert count(session, AnalysisRun) == 0


def test_oversized_body_is_refused_with_413(
    session_factory: Callable[[], Session],
    local_storage: LocalStorage,
    alice: Account,
    audio_files: dict[str, Path],
    session: Session,
) -> None:
    # given: a limit well under the file's size (the limit allows 64 KiB of multipart framing on top)
    size = audio_files["wav"].stat().st_size
    with make_client(session_factory, local_storage, max_upload_bytes=size - 100 * 1024) as small:
        # when
        code, body = upload(small, alice, audio_files["wav"])
    # then
    assert code == 413
    assert body["error"] == "PayloadTooLarge"
    assert stored_files(local_storage) == []
    assert count(session, Track) == 0


def test_oversized_chunked_body_without_length_is_refused(
    session_factory: Callable[[], Session], local_storage: LocalStorage, alice: Account, session: Session
) -> None:
    # given: a streamed body with no Content-Length, larger than the limit
    def body() -> bytes:
        yield b"x" * (256 * 1024)
        yield b"x" * (256 * 1024)

    with make_client(session_factory, local_storage, max_upload_bytes=128 * 1024) as small:
        # when
        response = small.post(
            "/v1/tracks",
            headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=abc"},
            content=body(),
        )
    # then
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"
    assert count(session, Track) == 0


def test_requests_without_a_valid_token_are_refused(client: TestClient, audio_files: dict[str, Path]) -> None:
    # when
    missing = client.get("/v1/tracks")
    wrong = client.get("/v1/tracks", headers={"Authorization": "Bearer rt_not-a-token"})
    # then
    assert missing.status_code == 401
    assert missing.json() == {"error": "Unauthorized", "detail": "missing bearer token or session cookie"}
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "invalid or expired token"


def test_list_and_get_show_only_your_tracks(
    client: TestClient, alice: Account, bob: Account, audio_files: dict[str, Path]
) -> None:
    # given
    _, first = upload(client, alice, audio_files["wav"])
    _, second = upload(client, alice, audio_files["other"])
    upload(client, bob, audio_files["flac"])
    # when
    listing = client.get("/v1/tracks", headers=alice.headers).json()
    one = client.get(f"/v1/tracks/{first['id']}", headers=alice.headers)
    analysis = client.get(f"/v1/tracks/{first['id']}/analysis", headers=alice.headers)
    # then
    assert listing["count"] == 2
    assert listing["next_cursor"] is None
    assert [t["id"] for t in listing["data"]] == [second["id"], first["id"]]
    assert one.status_code == 200
    assert one.json()["id"] == first["id"]
    assert analysis.status_code == 200
    assert analysis.json()["status"] == "queued"
    assert analysis.json()["id"] == first["analysis"]["id"]
    assert client.get("/v1/tracks", headers=bob.headers).json()["count"] == 1


def test_another_users_track_is_a_404_everywhere(
    client: TestClient,
    alice: Account,
    bob: Account,
    audio_files: dict[str, Path],
    local_storage: LocalStorage,
    session: Session,
) -> None:
    # given
    _, track = upload(client, alice, audio_files["wav"])
    url = f"/v1/tracks/{track['id']}"
    # when
    responses = [
        client.get(url, headers=bob.headers),
        client.get(f"{url}/analysis", headers=bob.headers),
        client.get(f"{url}/audio", headers=bob.headers),
        client.patch(url, headers=bob.headers, json={"title": "taken"}),
        client.delete(url, headers=bob.headers),
    ]
    # then
    assert [r.status_code for r in responses] == [404, 404, 404, 404, 404]
    assert all(r.json() == {"error": "NotFound", "detail": "track not found"} for r in responses)
    assert count(session, Track) == 1
    assert len(stored_files(local_storage)) == 1


def test_unknown_and_malformed_ids(client: TestClient, alice: Account) -> None:
    # when
    unknown = client.get("/v1/tracks/00000000-0000-0000-0000-000000000000", headers=alice.headers)
    malformed = client.get("/v1/tracks/not-a-uuid", headers=alice.headers)
    # then
    assert unknown.status_code == 404
    assert malformed.status_code == 422
    assert malformed.json()["error"] == "ValidationError"
    assert malformed.json()["detail"].startswith("track_id:")


def test_delete_removes_rows_and_objects(
    client: TestClient, alice: Account, audio_files: dict[str, Path], local_storage: LocalStorage, session: Session
) -> None:
    # given
    _, track = upload(client, alice, audio_files["wav"])
    _, kept = upload(client, alice, audio_files["other"])
    # when
    response = client.delete(f"/v1/tracks/{track['id']}", headers=alice.headers)
    # then
    assert response.status_code == 204
    assert client.get(f"/v1/tracks/{track['id']}", headers=alice.headers).status_code == 404
    assert count(session, Track) == 1
    assert count(session, AnalysisRun) == 1
    remaining = [p.relative_to(local_storage.root).as_posix() for p in stored_files(local_storage)]
    assert remaining == [f"tracks/{alice.user.id}/{kept['id']}/original.wav"]
    assert not (local_storage.root / "tracks" / str(alice.user.id) / track["id"]).exists()
    topics = list(session.scalars(select(OutboxEvent.topic)))
    assert topics == ["track.deleted"]
    actions = list(session.scalars(select(AuditLog.action).where(AuditLog.action == "track.deleted")))
    assert actions == ["track.deleted"]


def test_missing_file_part_is_a_bad_request(client: TestClient, alice: Account) -> None:
    # when
    response = client.post("/v1/tracks", headers=alice.headers, files={"title": (None, "x")})
    # then
    assert response.status_code == 400
    assert response.json() == {"error": "BadRequest", "detail": "no 'file' part in the upload", "field": "file"}


def test_a_body_that_is_not_multipart_is_a_bad_request(client: TestClient, alice: Account) -> None:
    # when
    response = client.post("/v1/tracks", headers=alice.headers, json={"file": "song.wav"})
    # then
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest"
    assert "multipart/form-data" in response.json()["detail"]


def test_two_files_in_one_upload_are_refused(
    client: TestClient, alice: Account, audio_files: dict[str, Path], session: Session
) -> None:
    # when
    response = client.post(
        "/v1/tracks",
        headers=alice.headers,
        files=[
            ("file", ("a.wav", audio_files["wav"].read_bytes())),
            ("file", ("b.wav", audio_files["other"].read_bytes())),
        ],
    )
    # then
    assert response.status_code == 400
    assert response.json()["detail"] == "send exactly one file per upload"
    assert count(session, Track) == 0


def queued_analysis_ids() -> list[str]:
    """Analysis ids of the track.analyze messages waiting in the embedded broker's folder."""
    import base64
    import json

    from service.config import settings

    ids = []
    for message in sorted(settings.queue_dir.glob("*.msg")):
        envelope = json.loads(message.read_text())
        if envelope["headers"].get("task") == "track.analyze":
            args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
            ids.append(args[0])
    return ids


def test_analysis_is_enqueued_once_after_commit_and_never_for_refused_uploads(
    client: TestClient, alice: Account, audio_files: dict[str, Path]
) -> None:
    # given
    before = queued_analysis_ids()
    # when
    _, track = upload(client, alice, audio_files["wav"])
    upload(client, alice, audio_files["wav"])
    upload(client, alice, audio_files["fake"])
    # then
    added = [i for i in queued_analysis_ids() if i not in before]
    assert added == [track["analysis"]["id"]]


def test_the_analysis_has_an_etag_that_changes_with_it(
    client: TestClient, alice: Account, audio_files: dict[str, Path], session_factory: Callable[[], Session]
) -> None:
    # given
    _, track = upload(client, alice, audio_files["wav"])
    url = f"/v1/tracks/{track['id']}/analysis"
    queued = client.get(url, headers=alice.headers)
    etag = queued.headers["etag"]
    # when
    unchanged = client.get(url, headers={**alice.headers, "If-None-Match": etag})
    with session_scope(session_factory) as s:
        analysis_run_service.start(s, analysis_id=uuid.UUID(track["analysis"]["id"]))
    running = client.get(url, headers={**alice.headers, "If-None-Match": etag})
    # then
    assert queued.status_code == 200
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert queued.headers["cache-control"] == "private, no-cache"
    assert queued.json()["status"] == "queued"
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert running.status_code == 200
    assert running.json()["status"] == "running"
    assert running.headers["etag"] != etag
    assert (
        client.get(url, headers={**alice.headers, "If-None-Match": f"W/{running.headers['etag']}"}).status_code == 304
    )
