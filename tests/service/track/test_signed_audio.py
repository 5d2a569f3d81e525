"""Audio a media element can play without credentials: short-lived signed URLs, local storage and S3 alike."""

from __future__ import annotations

import stat
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from service.app import wrap
from service.config import Settings
from service.db import session_scope
from service.signing import sign, signing_key
from service.storage import S3Storage
from service.user.service import user as user_service
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio
from tests.service.track.test_audio import _app_with, upload


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    return write_audio(folder / "clip.wav", click_track(bpm=120, seconds=3, sr=22050), 22050, "wav")


@pytest.fixture
def track_id(client: TestClient, alice: Account, wav: Path) -> str:
    return upload(client, alice, wav)


def signed_url(client: TestClient, account: Account, track_id: str, **params: int) -> dict[str, str]:
    response = client.get(f"/v1/tracks/{track_id}/audio/url", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def test_a_signed_url_plays_without_credentials_with_range(
    client: TestClient, alice: Account, track_id: str, wav: Path
) -> None:
    # given
    data = wav.read_bytes()
    before = datetime.now(UTC)
    body = signed_url(client, alice, track_id)
    # when
    whole = client.get(body["url"])
    part = client.get(body["url"], headers={"Range": "bytes=44-1043"})
    # then
    url = urlsplit(body["url"])
    assert (url.scheme, url.netloc, url.path) == ("http", "testserver", f"/v1/tracks/{track_id}/audio/signed")
    assert set(parse_qs(url.query)) == {"user", "expires", "signature"}
    assert parse_qs(url.query)["user"] == [str(alice.user.id)]
    expires_at = parse_time(body["expires_at"])
    assert before + timedelta(seconds=3599) <= expires_at <= datetime.now(UTC) + timedelta(seconds=3600)
    assert int(parse_qs(url.query)["expires"][0]) == int(expires_at.timestamp())
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/wav"
    assert "content-encoding" not in whole.headers
    assert part.status_code == 206
    assert part.content == data[44:1044]
    assert part.headers["content-range"] == f"bytes 44-1043/{len(data)}"
    max_age = int(part.headers["cache-control"].removeprefix("private, max-age="))
    assert 3590 <= max_age <= 3600


def test_the_lifetime_can_be_asked_for_within_bounds(client: TestClient, alice: Account, track_id: str) -> None:
    # when
    short = signed_url(client, alice, track_id, expires_in=60)
    too_long = client.get(f"/v1/tracks/{track_id}/audio/url", headers=alice.headers, params={"expires_in": 21601})
    # then
    assert parse_time(short["expires_at"]) <= datetime.now(UTC) + timedelta(seconds=60)
    assert too_long.status_code == 422
    assert too_long.json()["field"] == "expires_in"


def test_an_expired_url_is_refused(client: TestClient, alice: Account, track_id: str) -> None:
    # given: a URL signed correctly, but for a time already past
    expires = int(datetime.now(UTC).timestamp()) - 1
    signature = sign(f"audio:{alice.user.id}:{track_id}:{expires}")
    # when
    response = client.get(
        f"/v1/tracks/{track_id}/audio/signed",
        params={"user": str(alice.user.id), "expires": expires, "signature": signature},
    )
    # then
    assert response.status_code == 403
    assert response.json() == {
        "error": "Forbidden",
        "detail": "the audio URL has expired; ask for a new URL",
        "field": "expires",
    }


@pytest.mark.parametrize("tamper", ["expires", "user", "signature", "track"])
def test_a_tampered_url_is_refused(
    client: TestClient, alice: Account, bob: Account, track_id: str, wav: Path, tamper: str
) -> None:
    # given: Bob has a track and a URL for it; each part of it is changed in turn
    bobs_track = upload(client, bob, wav.with_name("clip.wav"))
    url = urlsplit(signed_url(client, bob, bobs_track)["url"])
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    path = url.path
    if tamper == "expires":
        params["expires"] = str(int(params["expires"]) + 3600)
    elif tamper == "user":
        params["user"] = str(alice.user.id)
    elif tamper == "signature":
        params["signature"] = params["signature"][:-2] + ("AA" if not params["signature"].endswith("AA") else "BB")
    else:
        path = path.replace(bobs_track, track_id)
    # when
    response = client.get(path, params=params)
    # then
    assert response.status_code == 403
    assert response.json()["detail"] == "the audio URL's signature is not valid; ask for a new URL"


def test_a_url_for_another_users_track_is_not_issued(
    client: TestClient, alice: Account, bob: Account, track_id: str
) -> None:
    # when
    response = client.get(f"/v1/tracks/{track_id}/audio/url", headers=bob.headers)
    anonymous = client.get(f"/v1/tracks/{track_id}/audio/url")
    # then
    assert response.status_code == 404
    assert anonymous.status_code == 401


def test_a_disabled_users_urls_stop_working(
    client: TestClient, alice: Account, track_id: str, session_factory: Callable[[], Session]
) -> None:
    # given
    url = signed_url(client, alice, track_id)["url"]
    with session_scope(session_factory) as s:
        user_service.set_active(s, email=alice.user.email, is_active=False)
    # when
    response = client.get(url)
    # then
    assert response.status_code == 403
    assert response.json()["detail"] == "the audio URL's user is disabled"


def test_a_deleted_tracks_url_is_404(client: TestClient, alice: Account, track_id: str) -> None:
    # given
    url = signed_url(client, alice, track_id)["url"]
    assert client.delete(f"/v1/tracks/{track_id}", headers=alice.headers).status_code == 204
    # when
    response = client.get(url)
    # then
    assert response.status_code == 404


def test_the_key_is_made_once_in_the_data_directory_when_not_set(tmp_path: Path) -> None:
    # given
    cfg = Settings(_env_file=None, data_dir=tmp_path)
    # when
    first = signing_key(cfg)
    again = signing_key(Settings(_env_file=None, data_dir=tmp_path))
    # then
    key_file = tmp_path / "secret_key"
    assert first == again == key_file.read_bytes().strip()
    assert len(first) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


def test_a_configured_key_is_used_and_changes_the_signatures(tmp_path: Path) -> None:
    # given
    one = Settings(_env_file=None, data_dir=tmp_path, secret_key=SecretStr("k" * 40))
    other = Settings(_env_file=None, data_dir=tmp_path, secret_key=SecretStr("j" * 40))
    # when
    signatures = {sign("audio:x", cfg=one), sign("audio:x", cfg=other)}
    # then
    assert len(signatures) == 2
    assert signing_key(one) == b"k" * 40
    assert not (tmp_path / "secret_key").exists()


# ----------------------------------------------------------------------------------------------------------------
# Object storage
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def s3_client(session_factory: Callable[[], Session], s3_storage: S3Storage) -> Iterator[TestClient]:
    with TestClient(wrap(_app_with(session_factory, s3_storage), max_bytes=1 << 30)) as c:
        yield c


def test_on_s3_the_url_is_presigned_for_the_lifetime_and_serves_ranges(
    s3_client: TestClient, alice: Account, wav: Path, s3_storage: S3Storage
) -> None:
    # given
    data = wav.read_bytes()
    track_id = upload(s3_client, alice, wav)
    # when
    body = signed_url(s3_client, alice, track_id, expires_in=120)
    # then
    url = body["url"]
    assert url.startswith(f"{s3_storage.client.meta.endpoint_url}/{s3_storage.bucket}/tracks/{alice.user.id}/")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["120"]
    assert "X-Amz-Signature" in query
    assert parse_time(body["expires_at"]) <= datetime.now(UTC) + timedelta(seconds=120)
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=0-99"}), timeout=30) as r:
        assert r.status == 206
        assert r.read() == data[:100]
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.read() == data
