"""Who may import from where: API imports read only the operator's import roots, never the service's own storage.

The attack this guards against: a second user imports ``s3://<the service's bucket>/`` (or Alice's folder of
originals in it) and gets copies of every other user's audio. It runs against a real S3 API server and real
folders; the policy's boundary cases run without either.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from service.config import Settings, settings
from service.errors import Forbidden, InvalidInput
from service.library_import.access import ImportPolicy
from service.library_import.models import LibraryImport
from service.storage import LocalStorage, S3Storage
from service.track.models import Track
from tests.fixtures.app import Account, make_client
from tests.fixtures.storage import S3Server, make_s3_storage
from tests.service.library_import.conftest import (
    Library,
    count,
    import_library,
    run_worker_job,
    sent_tasks,
    upload_library,
)

ALICE = uuid.UUID("0a11ce00-0000-4000-8000-000000000001")
BOB = uuid.UUID("0b0b0000-0000-4000-8000-000000000002")

# ------------------------------------------------------------------------------------------- the policy alone


@pytest.fixture
def s3_policy(tmp_path: Path) -> ImportPolicy:
    cfg = Settings(
        data_dir=tmp_path / "data",
        s3_bucket="service-bucket",
        import_s3_roots=["s3://drop/users/{user_id}/", "s3://drop/shared/alice", "s3://service-bucket/inbox/"],
    )
    return ImportPolicy.from_settings(cfg, storage=LocalStorage(tmp_path / "objects"))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (f"s3://drop/users/{ALICE}", f"s3://drop/users/{ALICE}"),
        (f"s3://drop/users/{ALICE}/sets/2024/", f"s3://drop/users/{ALICE}/sets/2024"),
        ("s3://drop/shared/alice", "s3://drop/shared/alice"),
        ("  s3://drop/shared/alice/x  ", "s3://drop/shared/alice/x"),
    ],
)
def test_an_s3_source_under_a_root_is_allowed_in_its_canonical_spelling(
    s3_policy: ImportPolicy, source: str, expected: str
) -> None:
    # when
    allowed = s3_policy.authorise(source, user_id=ALICE)
    # then
    assert allowed == expected


@pytest.mark.parametrize(
    "source",
    [
        f"s3://drop/users/{BOB}/",  # another user's root
        "s3://drop/users/",  # the parent of every user's root
        "s3://drop/",
        "s3://drop",
        "s3://drop/shared/alice2",  # a sibling sharing the root's spelling
        "s3://drop/shared/alice-old/x",
        "s3://drop/shared",
        "s3://other-bucket/shared/alice",
        "s3://service-bucket/",
        f"s3://service-bucket/tracks/{BOB}/",
    ],
)
def test_an_s3_source_outside_every_root_is_forbidden(s3_policy: ImportPolicy, source: str) -> None:
    # when
    with pytest.raises(Forbidden) as refused:
        s3_policy.authorise(source, user_id=ALICE)
    # then
    assert refused.value.message == (
        f"source: {source!r} is outside the S3 prefixes imports may read (REFTRACK_IMPORT_S3_ROOTS)"
    )
    assert refused.value.field == "source"


def test_the_service_bucket_is_forbidden_even_under_an_operator_root(s3_policy: ImportPolicy) -> None:
    # when
    with pytest.raises(Forbidden) as refused:
        s3_policy.authorise("s3://service-bucket/inbox/mine", user_id=ALICE)
    # then
    assert (
        refused.value.message
        == "source: s3://service-bucket is the service's own storage bucket; imports may not read it"
    )


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("s3://drop/shared/alice/../alice2", "source: 'shared/alice/../alice2' is not a valid key prefix"),
        ("s3://drop/shared//alice", "source: 'shared//alice' is not a valid key prefix"),
        ("s3://drop/./shared/alice", "source: './shared/alice' is not a valid key prefix"),
        ("s3://drop/shared/alice/./x", "source: 'shared/alice/./x' is not a valid key prefix"),
        ("s3://DROP/shared/alice", "source: 'DROP' is not an S3 bucket name"),
        ("s3://Drop/shared/alice", "source: 'Drop' is not an S3 bucket name"),
        (
            "s3://drop/shared/alice%2F..%2Falice2",
            "source: percent-encoded characters are not allowed in an s3:// source; write the key as it is",
        ),
        (
            "s3://drop/shared/%61lice",
            "source: percent-encoded characters are not allowed in an s3:// source; write the key as it is",
        ),
    ],
)
def test_dot_segment_percent_and_case_tricks_are_invalid(s3_policy: ImportPolicy, source: str, detail: str) -> None:
    # when
    with pytest.raises(InvalidInput) as refused:
        s3_policy.authorise(source, user_id=ALICE)
    # then
    assert refused.value.message == detail


@pytest.mark.parametrize(
    ("root", "reason"),
    [
        ("drop/users", "does not start with s3://"),
        ("s3://Drop/users/", "is not an S3 bucket name"),
        ("s3://drop/a/../b/", "has an empty, '.' or '..' segment"),
        ("s3://drop/a//b/", "has an empty, '.' or '..' segment"),
        ("s3://drop/{user}/", "has a placeholder other than {user_id}"),
        ("s3://{user_id}/", "is not an S3 bucket name"),
    ],
)
def test_an_ambiguous_s3_root_is_a_settings_error(root: str, reason: str) -> None:
    # when
    with pytest.raises(ValidationError) as invalid:
        Settings(import_s3_roots=[root])
    # then
    assert reason in str(invalid.value)


@pytest.mark.parametrize(
    ("root", "reason"),
    [("music/{user_id}", "is not an absolute path"), ("/srv/{user}", "has a placeholder other than {user_id}")],
)
def test_an_ambiguous_folder_root_is_a_settings_error(root: str, reason: str) -> None:
    # when
    with pytest.raises(ValidationError) as invalid:
        Settings(import_roots=[root])
    # then
    assert f"REFTRACK_IMPORT_ROOTS: {root!r} {reason}" in str(invalid.value)


def test_s3_roots_are_kept_in_one_spelling() -> None:
    # when
    cfg = Settings(import_s3_roots=[" s3://drop/users/{user_id} ", "s3://drop", "s3://drop/a/b///"])
    # then
    assert cfg.import_s3_roots == ["s3://drop/users/{user_id}/", "s3://drop/", "s3://drop/a/b/"]


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    for folder in ("music/" + str(ALICE), "music/" + str(BOB), "drop/alice", "drop/alice2", "private", "data"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "drop/alice/escape").symlink_to(tmp_path / "private", target_is_directory=True)
    return tmp_path


def _folder_policy(folders: Path, roots: list[Path]) -> ImportPolicy:
    cfg = Settings(data_dir=folders / "data", import_roots=roots)
    return ImportPolicy.from_settings(cfg, storage=LocalStorage(folders / "objects"))


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("music/{alice}", "music/{alice}"),
        ("music/{alice}/../{alice}/", "music/{alice}"),
        ("drop/alice/./sets", "drop/alice/sets"),
        ("music/{bob}", None),
        ("music", None),
        ("drop/alice2", None),
        ("drop/alice/../alice2", None),
        ("drop/alice/escape", None),  # a link inside the root to a folder outside it
        ("drop/alice/escape/..", None),
    ],
)
def test_a_folder_source_is_matched_where_it_really_is(folders: Path, source: str, allowed: str | None) -> None:
    # given
    policy = _folder_policy(folders, [folders / "music" / "{user_id}", folders / "drop" / "alice"])
    text = str(folders / source.format(alice=ALICE, bob=BOB))
    # when / then
    if allowed is None:
        with pytest.raises(Forbidden) as refused:
            policy.authorise(text, user_id=ALICE)
        assert refused.value.message == (
            f"source: {text!r} is outside the folders imports may read (REFTRACK_IMPORT_ROOTS)"
        )
    else:
        assert policy.authorise(text, user_id=ALICE) == str(folders / allowed.format(alice=ALICE))


@pytest.mark.parametrize("source", ["objects", f"objects/tracks/{BOB}", "data", "data/tmp", "."])
def test_the_service_storage_is_forbidden_even_under_an_operator_root(folders: Path, source: str) -> None:
    # given: an operator root that holds the data folder and the objects of every user
    policy = _folder_policy(folders, [folders])
    text = str(folders / source)
    # when
    with pytest.raises(Forbidden) as refused:
        policy.authorise(text, user_id=ALICE)
    # then
    assert refused.value.message == f"source: {text!r} is or holds the service's own storage; imports may not read it"


# ----------------------------------------------------------------------------------- over HTTP, real storage


def _keys(bucket: S3Storage, prefix: str = "") -> list[str]:
    return sorted(key for key, _size, _etag in bucket.list_keys(prefix))


def _rows(session: Session) -> dict[str, int]:
    session.expire_all()
    return {
        "tracks": count(session, Track),
        "imports": count(session, LibraryImport),
        "analyses": count(session, AnalysisRun),
    }


@pytest.fixture
def drop(s3_server: S3Server) -> S3Storage:
    """A bucket the operator lets users import from, beside the service's own."""
    return make_s3_storage(s3_server, f"drop-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def alice_originals(
    session_factory: Callable[[], Session],
    s3_storage: S3Storage,
    drop: S3Storage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> list[str]:
    """Alice's library, imported by the operator into the service's bucket: the keys of her originals there."""
    upload_library(drop, library, "operator/alice")
    result = import_library(session_factory, s3_storage, alice, f"s3://{drop.bucket}/operator/alice", tmp_path=tmp_path)
    assert result.summary["imported"] == 4
    originals = _keys(s3_storage, f"tracks/{alice.user.id}/")
    assert len(originals) == 4
    return originals


@pytest.mark.parametrize("service_bucket_is_a_root", [False, True])
@pytest.mark.parametrize("target", ["", "tracks/", "tracks/{alice}/", "tracks/{alice}"])
def test_another_user_cannot_import_the_service_bucket(
    session_factory: Callable[[], Session],
    session: Session,
    s3_storage: S3Storage,
    drop: S3Storage,
    alice: Account,
    bob: Account,
    alice_originals: list[str],
    tmp_path: Path,
    service_bucket_is_a_root: bool,
    target: str,
) -> None:
    # given: S3 imports are on, from the drop bucket (and, by an operator's mistake, from the service's bucket)
    roots = [f"s3://{drop.bucket}/users/{{user_id}}/"]
    if service_bucket_is_a_root:
        roots.append(f"s3://{s3_storage.bucket}/")
    cfg = settings.model_copy(update={"import_s3_roots": roots})
    source = f"s3://{s3_storage.bucket}/{target.format(alice=alice.user.id)}"
    objects_before, rows_before = _keys(s3_storage), _rows(session)
    messages_before = sent_tasks("library.import")
    # when: Bob asks for Alice's originals
    with make_client(session_factory, s3_storage, cfg=cfg, max_upload_bytes=1 << 20) as api:
        response = api.post("/v1/imports", headers=bob.headers, json={"source": source})
    # then: refused, and nothing was recorded, queued or copied
    assert response.status_code == 403, response.text
    if service_bucket_is_a_root:
        detail = f"source: s3://{s3_storage.bucket} is the service's own storage bucket; imports may not read it"
    else:
        detail = f"source: {source!r} is outside the S3 prefixes imports may read (REFTRACK_IMPORT_S3_ROOTS)"
    assert response.json() == {"error": "Forbidden", "detail": detail, "field": "source"}
    assert _keys(s3_storage) == objects_before
    assert _rows(session) == rows_before
    assert sent_tasks("library.import") == messages_before
    assert session.scalars(select(Track).where(Track.user_id == bob.user.id)).all() == []


def test_a_bucket_not_in_the_roots_and_case_tricks_on_the_service_bucket_are_refused(
    session_factory: Callable[[], Session],
    session: Session,
    s3_server: S3Server,
    s3_storage: S3Storage,
    drop: S3Storage,
    bob: Account,
    library: Library,
) -> None:
    # given: another bucket the server's credentials can read, holding audio
    elsewhere = make_s3_storage(s3_server, f"elsewhere-{uuid.uuid4().hex[:12]}")
    upload_library(elsewhere, library, "music")
    cfg = settings.model_copy(update={"import_s3_roots": [f"s3://{drop.bucket}/users/{{user_id}}/"]})
    rows_before = _rows(session)
    # when
    with make_client(session_factory, s3_storage, cfg=cfg, max_upload_bytes=1 << 20) as api:
        other = api.post("/v1/imports", headers=bob.headers, json={"source": f"s3://{elsewhere.bucket}/music"})
        upper = api.post("/v1/imports", headers=bob.headers, json={"source": f"s3://{s3_storage.bucket.upper()}/"})
    # then
    assert other.status_code == 403
    assert other.json()["detail"] == (
        f"source: 's3://{elsewhere.bucket}/music' is outside the S3 prefixes imports may read "
        "(REFTRACK_IMPORT_S3_ROOTS)"
    )
    assert upper.status_code == 422
    assert upper.json()["detail"] == f"source: {s3_storage.bucket.upper()!r} is not an S3 bucket name"
    assert _keys(s3_storage) == []
    assert _rows(session) == rows_before


def test_a_user_imports_their_own_prefix_and_its_analyses_queue_but_not_another_users(
    session_factory: Callable[[], Session],
    session: Session,
    s3_storage: S3Storage,
    drop: S3Storage,
    alice: Account,
    bob: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: per-user roots in the drop bucket, each user's library in their own folder
    upload_library(drop, library, f"users/{alice.user.id}/sets")
    upload_library(drop, library, f"users/{bob.user.id}/sets")
    cfg = settings.model_copy(update={"import_s3_roots": [f"s3://{drop.bucket}/users/{{user_id}}/"]})
    analyses_before = sent_tasks("track.analyze")
    with make_client(session_factory, s3_storage, cfg=cfg, max_upload_bytes=1 << 20) as api:
        # when
        own = api.post(
            "/v1/imports", headers=alice.headers, json={"source": f"s3://{drop.bucket}/users/{alice.user.id}"}
        )
        others = api.post(
            "/v1/imports", headers=alice.headers, json={"source": f"s3://{drop.bucket}/users/{bob.user.id}/sets"}
        )
        # then
        assert own.status_code == 202, own.text
        assert (own.json()["origin"], own.json()["source"]) == ("api", f"s3://{drop.bucket}/users/{alice.user.id}")
        assert others.status_code == 403
        assert others.json()["detail"] == (
            f"source: 's3://{drop.bucket}/users/{bob.user.id}/sets' is outside the S3 prefixes imports may read "
            "(REFTRACK_IMPORT_S3_ROOTS)"
        )
        # when: the worker runs the import
        run_worker_job(own.json()["id"], session_factory, s3_storage, tmp_path, cfg)
        done = api.get(f"/v1/imports/{own.json()['id']}", headers=alice.headers).json()
    # then: her four tracks are hers, their originals are copied, and their analyses are queued and sent
    assert done["status"] == "succeeded"
    assert done["files"] == {"found": 7, "processed": 7, "imported": 4, "duplicate": 1, "not_audio": 1, "failed": 1}
    assert done["analyses"] == {"queued": 4, "running": 0, "succeeded": 0, "failed": 0}
    session.expire_all()
    imported = session.scalars(select(Track)).all()
    assert {t.user_id for t in imported} == {alice.user.id}
    assert len(imported) == 4
    assert _keys(s3_storage) == sorted(t.storage_key for t in imported)
    runs = session.scalars(select(AnalysisRun)).all()
    new_messages = [m for m in sent_tasks("track.analyze") if m not in analyses_before]
    assert sorted(new_messages) == sorted((str(r.id), "analysis.bulk") for r in runs)
    assert len(runs) == 4


@pytest.mark.parametrize(
    ("source", "status"),
    [
        ("shared/alice2", 403),
        ("shared/alice-old", 403),
        ("shared", 403),
        ("shared/alice/../alice2", 422),
        ("shared//alice2", 422),
        ("./shared/alice", 422),
        ("shared/alice%2F..%2Falice2", 422),
    ],
)
def test_sibling_prefixes_and_traversal_do_not_leave_a_fixed_root(
    session_factory: Callable[[], Session],
    session: Session,
    s3_storage: S3Storage,
    drop: S3Storage,
    alice: Account,
    library: Library,
    source: str,
    status: int,
) -> None:
    # given: a root for one folder, and audio in a sibling whose name starts the same
    upload_library(drop, library, "shared/alice2")
    cfg = settings.model_copy(update={"import_s3_roots": [f"s3://{drop.bucket}/shared/alice"]})
    # when
    with make_client(session_factory, s3_storage, cfg=cfg, max_upload_bytes=1 << 20) as api:
        response = api.post("/v1/imports", headers=alice.headers, json={"source": f"s3://{drop.bucket}/{source}"})
    # then
    assert response.status_code == status, response.text
    assert response.json()["error"] == ("Forbidden" if status == 403 else "InvalidInput")
    assert _rows(session) == {"tracks": 0, "imports": 0, "analyses": 0}


def test_an_import_is_authorised_again_when_it_runs(
    session_factory: Callable[[], Session],
    session: Session,
    s3_storage: S3Storage,
    drop: S3Storage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: an import created while the prefix was a root, which the operator has removed since
    upload_library(drop, library, f"users/{alice.user.id}")
    allowed = settings.model_copy(update={"import_s3_roots": [f"s3://{drop.bucket}/users/{{user_id}}/"]})
    revoked = settings.model_copy(update={"import_s3_roots": [f"s3://{drop.bucket}/staff/"]})
    with make_client(session_factory, s3_storage, cfg=allowed, max_upload_bytes=1 << 20) as api:
        created = api.post(
            "/v1/imports", headers=alice.headers, json={"source": f"s3://{drop.bucket}/users/{alice.user.id}"}
        ).json()
        # when
        run_worker_job(created["id"], session_factory, s3_storage, tmp_path, revoked)
        done = api.get(f"/v1/imports/{created['id']}", headers=alice.headers).json()
    # then: it fails with the reason and reads nothing
    assert done["status"] == "failed"
    assert done["error_message"] == (
        f"refused: source: 's3://{drop.bucket}/users/{alice.user.id}' is outside the S3 prefixes imports may read "
        "(REFTRACK_IMPORT_S3_ROOTS)"
    )
    assert done["files"]["found"] is None
    assert done["finished_at"] is not None
    assert _keys(s3_storage) == []
    assert _rows(session) == {"tracks": 0, "imports": 1, "analyses": 0}


def test_the_operators_command_line_keeps_its_full_reach(
    session_factory: Callable[[], Session],
    session: Session,
    s3_storage: S3Storage,
    alice: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: no import roots at all, and audio in the service's own bucket and in a folder
    assert (settings.import_roots, settings.import_s3_roots) == ([], [])
    upload_library(s3_storage, library, "inbox")
    # when
    from_bucket = import_library(
        session_factory, s3_storage, alice, f"s3://{s3_storage.bucket}/inbox", tmp_path=tmp_path
    )
    from_folder = import_library(session_factory, s3_storage, alice, library.root, tmp_path=tmp_path)
    # then
    assert (from_bucket.code, from_bucket.summary["imported"]) == (0, 4)
    assert (from_folder.code, from_folder.summary["duplicates"]) == (0, 5)
    session.expire_all()
    assert [r.origin for r in session.scalars(select(LibraryImport))] == ["cli", "cli"]


# -------------------------------------------------------------------------------------- over HTTP, folders


def test_another_user_cannot_import_the_service_folders_under_an_overlapping_root(
    session_factory: Callable[[], Session],
    session: Session,
    alice: Account,
    bob: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: local storage holding Alice's originals, inside a folder the operator made an import root
    storage = LocalStorage(tmp_path / "objects")
    assert import_library(session_factory, storage, alice, library.root, tmp_path=tmp_path).summary["imported"] == 4
    cfg = settings.model_copy(update={"import_roots": [tmp_path]})
    originals = sorted(p for p in storage.root.rglob("*") if p.is_file())
    rows_before = _rows(session)
    sources = [storage.root, storage.root / "tracks" / str(alice.user.id), tmp_path, settings.resolved_data_dir]
    # when
    with make_client(session_factory, storage, cfg=cfg, max_upload_bytes=1 << 20) as api:
        responses = [api.post("/v1/imports", headers=bob.headers, json={"source": str(s)}) for s in sources]
    # then
    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert [r.json()["detail"] for r in responses[:3]] == [
        f"source: {str(s)!r} is or holds the service's own storage; imports may not read it" for s in sources[:3]
    ]
    assert sorted(p for p in storage.root.rglob("*") if p.is_file()) == originals
    assert _rows(session) == rows_before


def test_per_user_folder_roots(
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    alice: Account,
    bob: Account,
    library: Library,
    tmp_path: Path,
) -> None:
    # given: /music/<user id> per user
    music = tmp_path / "music"
    for account in (alice, bob):
        (music / str(account.user.id)).mkdir(parents=True)
    os.replace(library.root, music / str(alice.user.id) / "library")
    cfg = settings.model_copy(update={"import_roots": [music / "{user_id}"]})
    # when
    with make_client(session_factory, local_storage, cfg=cfg, max_upload_bytes=1 << 20) as api:
        own = api.post("/v1/imports", headers=alice.headers, json={"source": str(music / str(alice.user.id))})
        others = api.post("/v1/imports", headers=bob.headers, json={"source": str(music / str(alice.user.id))})
        parent = api.post("/v1/imports", headers=bob.headers, json={"source": str(music)})
    # then
    assert own.status_code == 202, own.text
    assert (others.status_code, parent.status_code) == (403, 403)
    assert others.json()["detail"] == (
        f"source: {str(music / str(alice.user.id))!r} is outside the folders imports may read (REFTRACK_IMPORT_ROOTS)"
    )
    assert [(r.user_id, r.origin) for r in session.scalars(select(LibraryImport))] == [(alice.user.id, "api")]
    assert session.scalar(select(func.count()).select_from(Track)) == 0
