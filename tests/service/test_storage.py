"""Object storage: both backends through the same contract (``LocalStorage`` on ``tmp_path``, ``S3Storage``
against moto's S3 API server on loopback), then what is particular to each, and a 200 MiB streamed upload
with bounded memory."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.config import Settings
from service.errors import StorageUnavailable
from service.storage import LocalStorage, S3Storage, Storage, original_key, track_prefix, waveform_key
from tests.fixtures.storage import S3Server, free_port, make_s3_storage

MiB = 1 << 20
REPO_ROOT = Path(__file__).resolve().parents[2]
UPLOAD_PROBE = Path(__file__).with_name("s3_upload_probe.py")


def _payload(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes covering every byte value (so no text-mode or encoding mangling goes unnoticed)."""
    return bytes(range(256)) + random.Random(seed).randbytes(size - 256)


def _bucket_name() -> str:
    return f"reftrack-{uuid.uuid4().hex[:12]}"


def _s3_settings(server: S3Server, bucket: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "s3_endpoint_url": server.endpoint_url,
        "s3_bucket": bucket,
        "s3_access_key_id": server.access_key_id,
        "s3_secret_access_key": server.secret_access_key,
        "s3_region": server.region,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def s3(s3_server: S3Server) -> S3Storage:
    return make_s3_storage(s3_server, _bucket_name())


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    if request.param == "local":
        local: LocalStorage = request.getfixturevalue("local_storage")
        return local
    s3_storage: S3Storage = request.getfixturevalue("s3")
    return s3_storage


class FailingSource(io.RawIOBase):
    """Serves ``good_bytes`` bytes, then raises ``error`` on the next read, like a client that disconnects."""

    def __init__(self, good_bytes: int, error: BaseException) -> None:
        self._left = good_bytes
        self._error = error
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left == 0:
            raise self._error
        count = min(len(buffer), self._left)
        buffer[:count] = b"\xab" * count
        self._left -= count
        self.served += count
        return count


def _files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# Both backends
# ----------------------------------------------------------------------------------------------------------------


def test_put_from_file_object_then_get_bytes_round_trips(storage: Storage) -> None:
    # given: larger than the local copy chunk (1 MiB), and not a multiple of it
    data = _payload(3 * MiB + 17)
    key = original_key(7, 1, "wav")

    # when
    storage.put(key, io.BytesIO(data), content_type="audio/wav")

    # then
    assert storage.get_bytes(key) == data


def test_put_from_file_object_then_get_to_path_round_trips(storage: Storage, tmp_path: Path) -> None:
    # given
    data = _payload(3 * MiB + 17, seed=1)
    key = original_key(7, 1, "flac")
    storage.put(key, io.BytesIO(data))
    target = tmp_path / "downloaded.flac"

    # when
    storage.get_to_path(key, target)

    # then
    assert target.read_bytes() == data


def test_put_from_real_file_round_trips(storage: Storage, tmp_path: Path) -> None:
    # given
    source = tmp_path / "upload.wav"
    data = _payload(MiB + 1, seed=2)
    source.write_bytes(data)
    key = original_key(7, 1, "wav")

    # when
    with source.open("rb") as f:
        storage.put(key, f)

    # then
    assert storage.get_bytes(key) == data


def test_put_bytes_then_get_bytes_round_trips(storage: Storage) -> None:
    # given
    data = _payload(4096, seed=3)
    key = waveform_key(7, 1, 3)

    # when
    storage.put_bytes(key, data)

    # then
    assert storage.get_bytes(key) == data


def test_empty_object_round_trips(storage: Storage, tmp_path: Path) -> None:
    # given
    key = waveform_key(7, 1, 3)

    # when
    storage.put(key, io.BytesIO(b""))

    # then
    assert storage.exists(key) is True
    assert storage.get_bytes(key) == b""
    storage.get_to_path(key, tmp_path / "empty")
    assert (tmp_path / "empty").read_bytes() == b""


def test_exists_is_true_only_for_stored_objects(storage: Storage) -> None:
    # given
    storage.put_bytes(original_key(7, 1, "wav"), b"RIFF")

    # when
    present = storage.exists(original_key(7, 1, "wav"))
    missing = storage.exists(original_key(7, 1, "mp3"))
    folder = storage.exists("tracks/7/1")

    # then
    assert present is True
    assert missing is False
    assert folder is False


def test_delete_removes_the_object_and_is_idempotent(storage: Storage) -> None:
    # given
    key = original_key(7, 1, "wav")
    storage.put_bytes(key, b"RIFF")
    storage.put_bytes(waveform_key(7, 1, 3), b"peaks")

    # when
    storage.delete(key)
    storage.delete(key)
    storage.delete(original_key(8, 9, "wav"))  # never existed

    # then
    assert storage.exists(key) is False
    assert storage.exists(waveform_key(7, 1, 3)) is True
    with pytest.raises(FileNotFoundError):
        storage.get_bytes(key)


@pytest.mark.parametrize("prefix", [track_prefix(7, 1), "tracks/7/1"], ids=["trailing-slash", "no-slash"])
def test_delete_prefix_removes_exactly_one_tracks_objects(storage: Storage, prefix: str) -> None:
    # given
    doomed = [original_key(7, 1, "wav"), waveform_key(7, 1, 3), "tracks/7/1/stems/drums.wav"]
    kept = [
        original_key(7, 2, "wav"),  # sibling track
        original_key(7, 10, "wav"),  # sibling whose id starts with the same digit
        waveform_key(7, 10, 3),
        original_key(8, 1, "wav"),  # same track id, other user
    ]
    for index, key in enumerate(doomed + kept):
        storage.put_bytes(key, f"object {index}".encode())

    # when
    deleted = storage.delete_prefix(prefix)

    # then
    assert deleted == 3
    assert [storage.exists(key) for key in doomed] == [False, False, False]
    assert [storage.get_bytes(key) for key in kept] == [b"object 3", b"object 4", b"object 5", b"object 6"]


def test_delete_prefix_of_missing_track_returns_zero(storage: Storage) -> None:
    # given
    storage.put_bytes(original_key(7, 2, "wav"), b"RIFF")

    # when
    deleted = storage.delete_prefix(track_prefix(7, 1))

    # then
    assert deleted == 0
    assert storage.exists(original_key(7, 2, "wav")) is True


def test_delete_prefix_twice_returns_count_then_zero(storage: Storage) -> None:
    # given
    storage.put_bytes(original_key(7, 1, "wav"), b"RIFF")
    storage.put_bytes(waveform_key(7, 1, 3), b"peaks")

    # when
    first = storage.delete_prefix(track_prefix(7, 1))
    second = storage.delete_prefix(track_prefix(7, 1))

    # then
    assert (first, second) == (2, 0)


def test_put_overwrites_with_shorter_content(storage: Storage, tmp_path: Path) -> None:
    # given
    key = original_key(7, 1, "wav")
    storage.put(key, io.BytesIO(b"a much longer first version"))

    # when
    storage.put(key, io.BytesIO(b"v2"))

    # then
    assert storage.get_bytes(key) == b"v2"
    storage.get_to_path(key, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"v2"


def test_get_bytes_of_missing_key_raises_file_not_found(storage: Storage) -> None:
    # given
    key = original_key(7, 1, "wav")

    # when / then
    with pytest.raises(FileNotFoundError, match=r"tracks/7/1/original\.wav"):
        storage.get_bytes(key)


def test_get_to_path_of_missing_key_raises_file_not_found_and_writes_nothing(storage: Storage, tmp_path: Path) -> None:
    # given
    key = original_key(7, 1, "wav")
    target = tmp_path / "never.wav"

    # when / then
    with pytest.raises(FileNotFoundError, match=r"tracks/7/1/original\.wav"):
        storage.get_to_path(key, target)
    assert target.exists() is False


_INVALID_KEYS = ["../x", "/abs", "", "tracks/../../x", "."]

_OPERATIONS: dict[str, Callable[[Storage, str, Path], object]] = {
    "put": lambda s, key, _: s.put(key, io.BytesIO(b"x")),
    "put_bytes": lambda s, key, _: s.put_bytes(key, b"x"),
    "get_bytes": lambda s, key, _: s.get_bytes(key),
    "get_to_path": lambda s, key, tmp: s.get_to_path(key, tmp / "out"),
    "exists": lambda s, key, _: s.exists(key),
    "delete": lambda s, key, _: s.delete(key),
    "delete_prefix": lambda s, key, _: s.delete_prefix(key),
}


@pytest.mark.parametrize("operation", list(_OPERATIONS))
@pytest.mark.parametrize("key", _INVALID_KEYS)
def test_invalid_keys_raise_value_error(storage: Storage, tmp_path: Path, key: str, operation: str) -> None:
    # given
    run = _OPERATIONS[operation]

    # when / then
    with pytest.raises(ValueError, match="invalid object key"):
        run(storage, key, tmp_path)


def test_check_passes(storage: Storage) -> None:
    # when
    result = storage.check()  # type: ignore[func-returns-value]

    # then
    assert result is None


# ----------------------------------------------------------------------------------------------------------------
# LocalStorage
# ----------------------------------------------------------------------------------------------------------------


def test_local_put_leaves_no_temporary_files(local_storage: LocalStorage) -> None:
    # given
    key = original_key(7, 1, "wav")

    # when
    local_storage.put(key, io.BytesIO(_payload(2 * MiB + 5)))
    local_storage.put(key, io.BytesIO(b"second"))

    # then
    assert _files_under(local_storage.root) == ["tracks/7/1/original.wav"]
    assert local_storage.local_path(key).read_bytes() == b"second"


@pytest.mark.parametrize(
    "error",
    [OSError("client went away"), KeyboardInterrupt()],
    ids=["OSError", "KeyboardInterrupt"],
)
def test_local_put_failing_mid_copy_keeps_previous_content_and_no_temporary_file(
    local_storage: LocalStorage, error: BaseException
) -> None:
    # given: 2 MiB served (two copy chunks written to the temporary file) before the source fails
    key = original_key(7, 1, "wav")
    local_storage.put_bytes(key, b"previous version")
    source = FailingSource(good_bytes=2 * MiB, error=error)

    # when
    with pytest.raises(type(error)) as raised:
        local_storage.put(key, source)

    # then
    assert raised.value is error
    assert source.served == 2 * MiB
    assert local_storage.get_bytes(key) == b"previous version"
    assert _files_under(local_storage.root) == ["tracks/7/1/original.wav"]


def test_local_put_failing_mid_copy_of_new_key_stores_nothing(local_storage: LocalStorage) -> None:
    # given
    key = original_key(7, 1, "wav")
    source = FailingSource(good_bytes=MiB + 3, error=OSError("client went away"))

    # when
    with pytest.raises(OSError, match="client went away"):
        local_storage.put(key, source)

    # then
    assert source.served == MiB + 3
    assert local_storage.exists(key) is False
    assert _files_under(local_storage.root) == []


def test_local_delete_of_last_object_prunes_empty_folders_up_to_root(local_storage: LocalStorage) -> None:
    # given
    local_storage.put_bytes(original_key(7, 1, "wav"), b"RIFF")
    local_storage.put_bytes(waveform_key(7, 1, 3), b"peaks")
    local_storage.put_bytes("tracks/7/1/stems/drums.wav", b"RIFF")
    root = local_storage.root

    # when: the stems folder empties first, then the track folder
    local_storage.delete("tracks/7/1/stems/drums.wav")
    after_stem = sorted(p.name for p in (root / "tracks/7/1").iterdir())
    local_storage.delete(original_key(7, 1, "wav"))
    after_original = sorted(p.name for p in (root / "tracks/7/1").iterdir())
    local_storage.delete(waveform_key(7, 1, 3))

    # then
    assert after_stem == ["analyses", "original.wav"]
    assert after_original == ["analyses"]
    assert root.is_dir() is True
    assert list(root.iterdir()) == []


def test_local_delete_of_last_object_keeps_folders_of_sibling_tracks(local_storage: LocalStorage) -> None:
    # given
    local_storage.put_bytes(original_key(7, 1, "wav"), b"one")
    local_storage.put_bytes(original_key(7, 2, "wav"), b"two")
    root = local_storage.root

    # when
    local_storage.delete(original_key(7, 1, "wav"))

    # then
    assert sorted(p.name for p in (root / "tracks/7").iterdir()) == ["2"]
    assert _files_under(root) == ["tracks/7/2/original.wav"]


def test_local_delete_prefix_prunes_empty_folders_up_to_root(local_storage: LocalStorage) -> None:
    # given
    local_storage.put_bytes(original_key(7, 1, "wav"), b"RIFF")
    local_storage.put_bytes(waveform_key(7, 1, 3), b"peaks")

    # when
    deleted = local_storage.delete_prefix(track_prefix(7, 1))

    # then
    assert deleted == 2
    assert list(local_storage.root.iterdir()) == []


def test_local_keys_map_to_files_under_root(local_storage: LocalStorage) -> None:
    # given
    key = original_key(7, 1, "wav")

    # when
    local_storage.put_bytes(key, b"RIFF")

    # then
    assert local_storage.local_path(key) == local_storage.root / "tracks" / "7" / "1" / "original.wav"
    assert (local_storage.root / "tracks/7/1/original.wav").read_bytes() == b"RIFF"


def test_local_put_of_escaping_key_writes_nothing_outside_root(local_storage: LocalStorage, tmp_path: Path) -> None:
    # given
    before = sorted(p.name for p in tmp_path.iterdir())

    # when
    with pytest.raises(ValueError, match="invalid object key"):
        local_storage.put_bytes("../escaped", b"x")

    # then
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "escaped").exists() is False


def test_local_url_is_none(local_storage: LocalStorage) -> None:
    # given
    key = original_key(7, 1, "wav")
    local_storage.put_bytes(key, b"RIFF")

    # when
    url = local_storage.url(key, expires_in=60)

    # then
    assert url is None


def test_local_check_creates_root_and_leaves_no_probe(tmp_path: Path) -> None:
    # given
    storage = LocalStorage(tmp_path / "not-yet")

    # when
    storage.check()

    # then
    assert storage.root.is_dir() is True
    assert list(storage.root.iterdir()) == []


def test_local_check_on_unusable_root_raises_storage_unavailable(tmp_path: Path) -> None:
    # given: the root is a regular file, so it can be neither created nor written into (even as root)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    storage = LocalStorage(blocker)

    # when / then
    with pytest.raises(StorageUnavailable, match="is not writable"):
        storage.check()


# ----------------------------------------------------------------------------------------------------------------
# S3Storage
# ----------------------------------------------------------------------------------------------------------------


def test_s3_url_is_a_presigned_get_that_downloads_the_exact_bytes(s3: S3Storage) -> None:
    # given
    data = _payload(MiB + 7, seed=4)
    key = original_key(7, 1, "wav")
    s3.put(key, io.BytesIO(data), content_type="audio/wav")

    # when
    url = s3.url(key)
    assert url is not None
    with urllib.request.urlopen(url, timeout=30) as response:
        status = response.status
        content_type = response.headers["Content-Type"]
        body = response.read()

    # then
    assert status == 200
    assert content_type == "audio/wav"
    assert body == data
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert "X-Amz-Expires=3600" in url
    assert "X-Amz-Signature=" in url


def test_only_local_storage_has_files_to_stream_and_only_s3_storage_has_a_bucket(storage: Storage) -> None:
    # given
    key = original_key(7, 1, "wav")
    storage.put_bytes(key, b"RIFF")

    # when
    path, root, bucket = storage.local_path(key), storage.local_root(), storage.bucket_name()

    # then
    if isinstance(storage, LocalStorage):
        assert (path, root, bucket) == (storage.root / "tracks" / "7" / "1" / "original.wav", storage.root, None)
        assert path is not None
        assert path.read_bytes() == b"RIFF"
    else:
        assert isinstance(storage, S3Storage)
        assert (path, root, bucket) == (None, None, storage.bucket)


def test_local_storage_neither_reads_nor_copies_from_a_bucket(s3: S3Storage, local_storage: LocalStorage) -> None:
    # given
    s3.put_bytes("music/a.wav", b"RIFF")

    # when
    copied = local_storage.copy_from(s3.bucket, "music/a.wav", original_key(7, 1, "wav"))

    # then
    assert (copied, local_storage.bucket_reader(s3.bucket)) == (False, None)
    assert local_storage.exists(original_key(7, 1, "wav")) is False


def test_s3_storage_reads_another_bucket_and_copies_from_it_with_its_own_client(
    s3_server: S3Server, s3: S3Storage
) -> None:
    # given
    other = make_s3_storage(s3_server, _bucket_name())
    other.put_bytes("music/a.wav", b"RIFF")

    # when
    reader = s3.bucket_reader(other.bucket)
    copied = s3.copy_from(other.bucket, "music/a.wav", original_key(7, 1, "wav"), content_type="audio/wav")

    # then
    assert (reader.client, reader.bucket) == (s3.client, other.bucket)
    assert [key for key, _, _ in reader.list_keys()] == ["music/a.wav"]
    assert copied is True
    assert s3.get_bytes(original_key(7, 1, "wav")) == b"RIFF"
    head = s3.client.head_object(Bucket=s3.bucket, Key=original_key(7, 1, "wav"))
    assert head["ContentType"] == "audio/wav"


def test_s3_url_honours_expires_in(s3: S3Storage) -> None:
    # given
    key = original_key(7, 1, "wav")
    s3.put_bytes(key, b"RIFF")

    # when
    url = s3.url(key, expires_in=60)

    # then
    assert url is not None
    assert "X-Amz-Expires=60&" in url


def test_s3_presigned_url_of_missing_object_is_404(s3: S3Storage) -> None:
    # given
    url = s3.url(original_key(7, 1, "wav"))
    assert url is not None

    # when
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(url, timeout=30)

    # then
    assert raised.value.code == 404
    raised.value.close()


@pytest.mark.parametrize("key", _INVALID_KEYS)
def test_s3_url_of_invalid_key_raises_value_error(s3: S3Storage, key: str) -> None:
    # when / then
    with pytest.raises(ValueError, match="invalid object key"):
        s3.url(key)


def test_s3_put_sets_content_type(s3: S3Storage) -> None:
    # given
    s3.put(original_key(7, 1, "wav"), io.BytesIO(b"RIFF"), content_type="audio/wav")
    s3.put_bytes(waveform_key(7, 1, 3), b"peaks")

    # when
    original = s3.client.head_object(Bucket=s3.bucket, Key=original_key(7, 1, "wav"))
    waveform = s3.client.head_object(Bucket=s3.bucket, Key=waveform_key(7, 1, 3))

    # then
    assert original["ContentType"] == "audio/wav"
    assert original["ContentLength"] == 4
    assert waveform["ContentType"] == "application/octet-stream"
    assert waveform["ContentLength"] == 5


def test_s3_delete_prefix_across_several_list_pages(s3: S3Storage) -> None:
    # given: more objects than one ListObjectsV2 page (1000) under the track, and a sibling
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda index: s3.put_bytes(f"tracks/7/1/frames/{index:04d}.bin", b"x"), range(1005)))
    s3.put_bytes(original_key(7, 2, "wav"), b"sibling")

    # when
    deleted = s3.delete_prefix(track_prefix(7, 1))

    # then
    listing = s3.client.list_objects_v2(Bucket=s3.bucket)
    assert deleted == 1005
    assert [obj["Key"] for obj in listing["Contents"]] == [original_key(7, 2, "wav")]


def test_s3_check_on_missing_bucket_raises_storage_unavailable(s3_server: S3Server) -> None:
    # given: settings for a bucket that was never created
    bucket = _bucket_name()
    storage = S3Storage.from_settings(_s3_settings(s3_server, bucket))

    # when / then
    with pytest.raises(StorageUnavailable, match=f"bucket '{bucket}' is not reachable"):
        storage.check()


def test_s3_check_on_unreachable_endpoint_raises_storage_unavailable(s3_server: S3Server) -> None:
    # given: nothing listens on this loopback port; one attempt so the test does not sit in retry back-off
    server = S3Server(endpoint_url=f"http://127.0.0.1:{free_port()}")
    storage = S3Storage.from_settings(_s3_settings(server, _bucket_name(), s3_max_attempts=1))

    # when / then
    with pytest.raises(StorageUnavailable, match="is not reachable"):
        storage.check()


def test_s3_r2_style_configuration_uses_region_auto_and_path_style(s3_server: S3Server, s3: S3Storage) -> None:
    # given: the fixture configures the client as for Cloudflare R2
    key = original_key(7, 1, "wav")
    s3.put_bytes(key, b"RIFF")

    # when
    url = s3.url(key)

    # then
    assert s3_server.region == "auto"
    assert s3.client.meta.region_name == "auto"
    assert s3.client.meta.config.s3 == {"addressing_style": "path"}
    assert url is not None
    assert url.startswith(f"{s3_server.endpoint_url}/{s3.bucket}/tracks/7/1/original.wav?")
    assert "X-Amz-Credential=testing%2F" in url
    assert "%2Fauto%2Fs3%2Faws4_request" in url
    assert s3.get_bytes(key) == b"RIFF"


@pytest.mark.integration
def test_s3_put_streams_200_mib_with_bounded_memory(
    s3_server: S3Server, s3: S3Storage, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # given: a fresh interpreter, configured through REFTRACK_S3_*, so that its peak RSS is the upload's.
    # Peak RSS is read from VmHWM, the high-water mark of the child's own address space. ru_maxrss would not do:
    # subprocess starts the child with vfork+exec, and ru_maxrss survives exec, so the child starts with
    # pytest's peak (about 140 MiB here, more in a full run) and an upload below that would measure as 0.
    size = 200 * MiB
    key = original_key(7, 1, "wav")
    env = {
        **os.environ,
        **s3_server.env(s3.bucket),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }

    try:
        # when: the subprocess uploads 200 MiB generated on the fly, hashing it as it is read
        result = subprocess.run(
            [sys.executable, str(UPLOAD_PROBE), key, str(size), "20240601"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        growth = report["peak_hwm"] - report["baseline_hwm"]
        request.node.user_properties.extend([*report.items(), ("hwm_growth", growth)])

        # then: memory stayed bounded by the multipart parts in flight (8 MiB parts, up to 10 threads), and the
        # measure saw the upload at all (at least one 8 MiB part is buffered)
        assert report["size"] == size
        assert 8 * MiB <= growth < 120 * MiB, f"peak RSS grew by {growth / MiB:.1f} MiB during the upload: {report}"
        head = s3.client.head_object(Bucket=s3.bucket, Key=key)
        assert head["ContentLength"] == size
        downloaded = tmp_path / "downloaded.bin"
        s3.get_to_path(key, downloaded)
        assert downloaded.stat().st_size == size
        assert _sha256_file(downloaded) == report["sha256"]
    finally:
        # moto keeps objects in memory for the whole session
        s3.delete(key)
