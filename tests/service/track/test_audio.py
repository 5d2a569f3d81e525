"""Playing a track's original: HTTP Range streaming from local storage, a presigned redirect from S3."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.storage import LocalStorage, S3Storage
from service.track.service import AudioFile
from tests.fixtures.app import Account, make_client
from tests.fixtures.audio import click_track, write_audio


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")
    samples = click_track(bpm=120, seconds=3, sr=22050)
    return {fmt: write_audio(folder / f"clip.{fmt}", samples, 22050, fmt) for fmt in ("wav", "flac", "mp3")}


def upload(client: TestClient, account: Account, path: Path) -> str:
    with path.open("rb") as fh:
        response = client.post("/v1/tracks", headers=account.headers, files={"file": (path.name, fh)})
    assert response.status_code == 202, response.text
    track_id: str = response.json()["id"]
    return track_id


@pytest.fixture
def wav_track(client: TestClient, alice: Account, clips: dict[str, Path]) -> str:
    return upload(client, alice, clips["wav"])


def test_without_range_the_whole_file_is_sent(
    client: TestClient, alice: Account, wav_track: str, clips: dict[str, Path]
) -> None:
    # given
    data = clips["wav"].read_bytes()
    # when
    response = client.get(f"/v1/tracks/{wav_track}/audio", headers=alice.headers)
    # then
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(len(data))
    assert "content-range" not in response.headers
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=0-0", (0, 0)),
        ("bytes=1000-", (1000, None)),
        ("bytes=-500", (-500, None)),
        ("bytes=100-99999999", (100, None)),
        ("bytes=-99999999", (0, None)),
        (" bytes=10-19 ", (10, 19)),
    ],
)
def test_a_single_range_is_206_with_exactly_those_bytes(
    client: TestClient,
    alice: Account,
    wav_track: str,
    clips: dict[str, Path],
    header: str,
    span: tuple[int, int | None],
) -> None:
    # given
    data = clips["wav"].read_bytes()
    size = len(data)
    first = span[0] if span[0] >= 0 else size + span[0]
    last = span[1] if span[1] is not None else size - 1
    # when
    response = client.get(f"/v1/tracks/{wav_track}/audio", headers={**alice.headers, "Range": header})
    # then
    assert response.status_code == 206
    assert response.content == data[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "audio/wav"


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{size}", "bytes=-0", "bytes=99999999-"])
def test_an_unsatisfiable_range_is_416_with_the_length(
    client: TestClient, alice: Account, wav_track: str, clips: dict[str, Path], header: str
) -> None:
    # given
    size = clips["wav"].stat().st_size
    # when
    response = client.get(f"/v1/tracks/{wav_track}/audio", headers={**alice.headers, "Range": header.format(size=size)})
    # then
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.json()["error"] == "RangeNotSatisfiable"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-10", "bytes=20-10", "bytes=-", "bytes=abc", "0-10"])
def test_ranges_not_served_are_ignored_and_the_whole_file_is_sent(
    client: TestClient, alice: Account, wav_track: str, clips: dict[str, Path], header: str
) -> None:
    # when
    response = client.get(f"/v1/tracks/{wav_track}/audio", headers={**alice.headers, "Range": header})
    # then
    assert response.status_code == 200
    assert response.content == clips["wav"].read_bytes()


def test_if_range_honours_the_range_only_for_the_current_etag(
    client: TestClient, alice: Account, wav_track: str, clips: dict[str, Path]
) -> None:
    # given
    etag = client.get(f"/v1/tracks/{wav_track}/audio", headers=alice.headers).headers["etag"]
    range_header = {**alice.headers, "Range": "bytes=0-9"}
    # when
    same = client.get(f"/v1/tracks/{wav_track}/audio", headers={**range_header, "If-Range": etag})
    other = client.get(f"/v1/tracks/{wav_track}/audio", headers={**range_header, "If-Range": '"something-else"'})
    # then
    assert same.status_code == 206
    assert same.content == clips["wav"].read_bytes()[:10]
    assert other.status_code == 200
    assert other.content == clips["wav"].read_bytes()


@pytest.mark.parametrize(("fmt", "content_type"), [("flac", "audio/flac"), ("mp3", "audio/mpeg")])
def test_content_type_follows_the_format(
    client: TestClient, alice: Account, clips: dict[str, Path], fmt: str, content_type: str
) -> None:
    # given
    track_id = upload(client, alice, clips[fmt])
    # when
    response = client.get(f"/v1/tracks/{track_id}/audio", headers={**alice.headers, "Range": "bytes=0-3"})
    # then
    assert response.status_code == 206
    assert response.headers["content-type"] == content_type
    assert response.content == clips[fmt].read_bytes()[:4]


def test_another_users_track_is_404_and_no_token_is_401(
    client: TestClient, alice: Account, bob: Account, wav_track: str
) -> None:
    # when
    theirs = client.get(f"/v1/tracks/{wav_track}/audio", headers=bob.headers)
    anonymous = client.get(f"/v1/tracks/{wav_track}/audio")
    # then
    assert theirs.status_code == 404
    assert theirs.json() == {"error": "NotFound", "detail": "track not found"}
    assert anonymous.status_code == 401


def test_a_file_missing_from_storage_is_404(
    client: TestClient, alice: Account, wav_track: str, local_storage: LocalStorage
) -> None:
    # given
    for path in local_storage.root.rglob("original.wav"):
        path.unlink()
    # when
    response = client.get(f"/v1/tracks/{wav_track}/audio", headers=alice.headers)
    # then
    assert response.status_code == 404
    assert response.json()["detail"] == "the track's audio file is missing from storage"


def test_the_file_is_read_in_bounded_chunks(tmp_path: Path) -> None:
    # given: 200 KiB served from byte 10 to the end
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 800
    path.write_bytes(data)
    audio = AudioFile(
        path=path, size=len(data), first=10, last=len(data) - 1, partial=True, content_type="audio/wav", etag='"x"'
    )
    # when
    chunks = list(audio.chunks())
    # then
    assert [len(c) for c in chunks] == [65536, 65536, 65536, 8182]
    assert b"".join(chunks) == data[10:]


# ----------------------------------------------------------------------------------------------------------------
# Object storage
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def s3_client(session_factory: Callable[[], Session], s3_storage: S3Storage) -> Iterator[TestClient]:
    with make_client(session_factory, s3_storage) as c:
        yield c


def test_s3_audio_is_a_307_to_a_presigned_url_that_serves_ranges(
    s3_client: TestClient, alice: Account, bob: Account, clips: dict[str, Path], s3_storage: S3Storage
) -> None:
    # given
    data = clips["wav"].read_bytes()
    track_id = upload(s3_client, alice, clips["wav"])
    # when
    response = s3_client.get(
        f"/v1/tracks/{track_id}/audio", headers={**alice.headers, "Range": "bytes=0-99"}, follow_redirects=False
    )
    theirs = s3_client.get(f"/v1/tracks/{track_id}/audio", headers=bob.headers, follow_redirects=False)
    # then
    assert response.status_code == 307
    location = response.headers["location"]
    assert location.startswith(f"{s3_storage.client.meta.endpoint_url}/{s3_storage.bucket}/tracks/{alice.user.id}/")
    assert "X-Amz-Signature=" in location
    with urllib.request.urlopen(urllib.request.Request(location, headers={"Range": "bytes=0-99"}), timeout=30) as r:
        assert r.status == 206
        assert r.read() == data[:100]
    with urllib.request.urlopen(location, timeout=30) as r:
        assert r.read() == data
    assert theirs.status_code == 404
