"""The embedded default end to end: ``reftrack serve`` with nothing but ``REFTRACK_DATA_DIR`` set runs the API
and its own worker on SQLite, local object storage and the filesystem broker transport."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameManifest
from service.track.models import Track
from service.user.models import User
from tests.e2e.stacks import BPM, KEY, SR, ClickWav
from tests.e2e.support import (
    Proc,
    Processes,
    check_results,
    check_stored_outputs,
    check_track,
    check_waveform,
    clean_env,
    cli,
    printed_login_urls,
    printed_tokens,
    read_token,
    track_objects,
    upload,
    wait_for_status,
    wait_healthy,
)
from tests.fixtures.storage import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SECONDS = 20.0
ALL_OK = {"database": "ok", "storage": "ok", "broker": "ok"}


@dataclass
class Embedded:
    data_dir: Path
    env: dict[str, str]
    processes: Processes
    serve: Proc
    base_url: str
    token: str
    health: dict[str, Any]

    @property
    def objects(self) -> Path:
        return self.data_dir / "objects"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def engine(self) -> Engine:
        return create_engine(f"sqlite:///{self.data_dir / 'reftrack.db'}")

    def restart(self) -> tuple[list[psutil.Process], Proc]:
        """Stop ``serve`` with SIGTERM and start it again; returns the processes the old one left running."""
        leftover = self.processes.terminate(self.serve)
        self.processes.stop(self.serve)
        self.serve, self.base_url = start_serve(self.processes, self.env)
        self.health = wait_healthy(self.base_url, self.processes, [self.serve])
        return leftover, self.serve


def start_serve(processes: Processes, env: dict[str, str]) -> tuple[Proc, str]:
    port = free_port()
    return processes.start("serve", cli("serve", "--port", str(port)), env), f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    root = tmp_path_factory.mktemp("embedded")
    (root / "logs").mkdir()
    processes = Processes(root / "logs", cwd=root)
    data_dir = root / "data"
    env = clean_env({"REFTRACK_DATA_DIR": str(data_dir)})
    try:
        serve, base_url = start_serve(processes, env)
        token = read_token(serve)
        health = wait_healthy(base_url, processes, [serve])
        yield Embedded(data_dir, env, processes, serve, base_url, token, health)
    finally:
        processes.close()


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_upload_is_analysed(embedded: Embedded, click_wav: ClickWav) -> None:
    # given
    wav = click_wav(seconds=SECONDS)
    token_file = embedded.data_dir / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == embedded.token
    assert embedded.health == {"status": "ok", "checks": ALL_OK}

    with embedded.client() as client:
        # when
        response = upload(client, wav)
        assert response.status_code == 202, response.text
        created = response.json()
        assert (created["analysis"]["status"], created["analysis"]["attempts"]) == ("queued", 0)
        track_id = created["id"]
        analysis = wait_for_status(client, track_id, "succeeded", embedded.processes)
        track = client.get(f"/v1/tracks/{track_id}").json()

    # then
    check_track(track, bpm=BPM, key=KEY, seconds=SECONDS)
    check_results(analysis, bpm=BPM, key=KEY, seconds=SECONDS)
    assert analysis["attempts"] == 1
    engine = embedded.engine()
    try:
        check_stored_outputs(engine, analysis["id"], bpm=BPM, seconds=SECONDS)
        with Session(engine) as session:
            row = session.get(Track, uuid.UUID(track_id))
            assert row is not None
            user_id = row.user_id
            assert row.waveform_storage_key == f"tracks/{user_id}/{track_id}/analyses/{analysis['id']}/waveform.dat"
    finally:
        engine.dispose()
    folder = embedded.objects / "tracks" / str(user_id) / track_id
    assert sorted(p.as_posix() for p in files_under(folder)) == track_objects(analysis["id"])
    assert (folder / "original.wav").read_bytes() == wav.read_bytes()
    overviews = folder / "analyses" / analysis["id"]
    check_waveform((overviews / "waveform.dat").read_bytes(), sample_rate=SR, channels=2, frames=int(SECONDS * SR))


def test_corrupt_upload_is_refused_and_leaves_nothing(embedded: Embedded, tmp_path: Path) -> None:
    # given
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    objects_before = files_under(embedded.objects)

    with embedded.client() as client:
        count_before = client.get("/v1/tracks").json()["count"]

        # when
        response = upload(client, corrupt)

        # then
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "UnprocessableAudio"
        assert body["detail"].startswith("broken.wav: "), body  # named as uploaded, not by its temporary file
        assert client.get("/v1/tracks").json()["count"] == count_before
    assert files_under(embedded.objects) == objects_before
    assert sorted(p.name for p in (embedded.data_dir / "tmp").glob("upload-*")) == []


def test_delete_removes_track_folder(embedded: Embedded, click_wav: ClickWav) -> None:
    # given
    wav = click_wav(seconds=6.0, seed=1)
    with embedded.client() as client:
        response = upload(client, wav)
        assert response.status_code == 202, response.text
        track_id = response.json()["id"]
        analysis = wait_for_status(client, track_id, "succeeded", embedded.processes)
        folders = list((embedded.objects / "tracks").glob(f"*/{track_id}"))
        assert len(folders) == 1
        assert sorted(p.as_posix() for p in files_under(folders[0])) == track_objects(analysis["id"])

        # when
        deleted = client.delete(f"/v1/tracks/{track_id}")

        # then
        assert deleted.status_code == 204, deleted.text
        assert client.get(f"/v1/tracks/{track_id}").status_code == 404
    assert not folders[0].exists()
    engine = embedded.engine()
    try:
        with Session(engine) as session:
            aid, tid = uuid.UUID(analysis["id"]), uuid.UUID(track_id)
            assert session.get(Track, tid) is None
            assert session.get(AnalysisRun, aid) is None
            assert session.scalar(select(func.count()).where(FrameManifest.analysis_id == aid)) == 0
            assert session.scalar(select(func.count()).where(AnalysisEvent.track_id == tid)) == 0
    finally:
        engine.dispose()


def test_the_printed_link_signs_the_browser_in_once_and_a_restart_replaces_it(embedded: Embedded) -> None:
    # given
    [before_restart] = printed_login_urls(embedded.serve)
    assert before_restart.startswith(f"{embedded.base_url}/auth/login?ticket=")
    old_path = before_restart.removeprefix(embedded.base_url)
    _, serve = embedded.restart()
    [link] = printed_login_urls(serve)
    assert link.startswith(f"{embedded.base_url}/auth/login?ticket=")

    with httpx.Client(base_url=embedded.base_url, timeout=60) as browser:
        # when
        replaced = browser.get(old_path)
        signed_in = browser.get(link)
        me = browser.get("/v1/users/me")
        used = httpx.get(link, timeout=60)
        refused = browser.post("/v1/auth/tokens")
        allowed = browser.post("/v1/auth/tokens", headers={"X-CSRF-Token": browser.cookies["reftrack_csrf"]})
        signed_out = browser.delete("/v1/auth/session", headers={"X-CSRF-Token": browser.cookies["reftrack_csrf"]})
        after = browser.get("/v1/users/me")

    # then
    assert replaced.status_code == 401
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/")
    assert (me.status_code, me.json()["email"]) == (200, "local@reftrack.localhost")
    assert used.status_code == 401
    assert (refused.status_code, refused.json()["error"]) == (403, "CsrfFailed")
    assert allowed.status_code == 201
    assert signed_out.status_code == 204
    assert after.status_code == 401


def test_restart_keeps_the_user_and_its_token(embedded: Embedded) -> None:
    # given
    token_file = embedded.data_dir / "token"
    token_before = token_file.read_text()

    # when
    leftover, serve = embedded.restart()

    # then
    assert leftover == [], "serve left its embedded worker running after SIGTERM"
    assert printed_tokens(serve) == []
    assert f"API token for the local user: {token_file}" in serve.output()
    assert token_file.read_text() == token_before
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    engine = embedded.engine()
    try:
        with Session(engine) as session:
            assert list(session.scalars(select(User.email))) == ["local@reftrack.localhost"]
    finally:
        engine.dispose()
    with embedded.client() as client:
        assert client.get("/v1/tracks").status_code == 200
