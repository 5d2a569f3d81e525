"""A small music library on disk in every common format, with tags, a nested folder, a corrupt file and a text
file in the middle; helpers that run an import in this process against the test database."""

from __future__ import annotations

import base64
import io
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mutagen.easyid3 import EasyID3
from mutagen.flac import FLAC
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reftrack_cli.library_import import run_import
from service.analysis_run.models import AnalysisRun
from service.config import Settings, settings
from service.db import session_scope
from service.library_import.service import ImportProgress
from service.library_import.service import library_import as library_import_service
from service.storage import Storage
from service.track.models import Track
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio

SR = 22050


@dataclass(frozen=True)
class Library:
    root: Path
    audio: dict[str, Path]
    corrupt: Path
    text: Path
    copy: Path


def _clip(folder: Path, name: str, fmt: str, *, bpm: float, seed: int) -> Path:
    samples = click_track(bpm=bpm, seconds=2.0, sr=SR, channels=2, seed=seed)
    return write_audio(folder / name, samples, SR, fmt)


@pytest.fixture(scope="session")
def library_template(tmp_path_factory: pytest.TempPathFactory) -> Library:
    root = tmp_path_factory.mktemp("library")
    nested = root / "Nested" / "Deeper"
    nested.mkdir(parents=True)
    audio = {
        "wav": _clip(root, "a kick.wav", "wav", bpm=120, seed=1),
        "flac": _clip(nested, "b tagged.flac", "flac", bpm=124, seed=2),
        "ogg": _clip(root / "Nested", "d loop.ogg", "ogg", bpm=128, seed=3),
        "mp3": _clip(root, "e tagged.mp3", "mp3", bpm=132, seed=4),
    }
    flac = FLAC(audio["flac"])
    flac.update({"title": "Night Drive", "artist": "The Examples", "album": "Fixtures", "genre": "Techno"})
    flac.save()
    id3 = EasyID3()
    id3.update({"title": "Morning Run", "artist": "Another Band"})
    id3.save(audio["mp3"])
    wav_bytes = audio["wav"].read_bytes()
    corrupt = root / "c broken.wav"
    corrupt.write_bytes(wav_bytes[: len(wav_bytes) // 2])
    text = root / "Nested" / "c notes.txt"
    text.write_text("tracklist for the next set\n" * 20)
    copy = nested / "a kick (copy).wav"
    copy.write_bytes(wav_bytes)
    return Library(root=root, audio=audio, corrupt=corrupt, text=text, copy=copy)


@pytest.fixture
def library(library_template: Library, tmp_path: Path) -> Library:
    """A fresh copy of the library for each test, so a test may add or change files."""
    root = tmp_path / "library"
    shutil.copytree(library_template.root, root)

    def moved(path: Path) -> Path:
        return root / path.relative_to(library_template.root)

    return Library(
        root=root,
        audio={fmt: moved(p) for fmt, p in library_template.audio.items()},
        corrupt=moved(library_template.corrupt),
        text=moved(library_template.text),
        copy=moved(library_template.copy),
    )


@dataclass
class CliRun:
    code: int
    output: str
    summary: dict[str, Any]


class StopAfterChunks(ImportProgress):
    """Stops an import, as a kill would, once ``chunks`` chunks have committed."""

    def __init__(self, chunks: int) -> None:
        self.left = chunks

    def chunk_committed(self, record: object) -> None:
        self.left -= 1
        if self.left == 0:
            raise RuntimeError("killed")


def import_library(
    session_factory: Callable[[], Session],
    storage: Storage,
    account: Account | str,
    *paths: Path | str,
    tmp_path: Path,
    chunk_size: int = 2,
    fmt: str = "json",
    progress_hooks: ImportProgress | None = None,
    wait: bool = False,
    pause: Callable[[], None] | None = None,
) -> CliRun:
    """Run ``reftrack import`` in this process against the test database; the JSON summary is parsed."""
    out = io.StringIO()
    console = Console(file=io.StringIO() if fmt == "json" else out, width=200, force_terminal=False)
    code = run_import(
        [str(p) for p in paths],
        user_email=account if isinstance(account, str) else account.user.email,
        session_scope=lambda: session_scope(session_factory),
        storage=storage,
        console=console,
        out=out,
        fmt=fmt,
        chunk_size=chunk_size,
        tmp_dir=tmp_path / "work",
        progress_hooks=progress_hooks,
        wait=wait,
        pause=pause,
    )
    text = out.getvalue()
    return CliRun(code=code, output=text, summary=json.loads(text) if fmt == "json" and text else {})


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def runs_per_track(session: Session) -> dict[uuid.UUID, int]:
    stmt = select(Track.id, func.count(AnalysisRun.id)).outerjoin(AnalysisRun).group_by(Track.id)
    return dict(session.execute(stmt).all())


def sent_tasks(task: str) -> list[tuple[str, str]]:
    """``(first argument, queue)`` of every ``task`` message waiting in the embedded broker's folder."""
    sent = []
    for message in sorted(settings.queue_dir.glob("*.msg")):
        envelope = json.loads(message.read_text())
        if envelope["headers"].get("task") == task:
            args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
            sent.append((args[0], envelope["properties"]["delivery_info"]["routing_key"]))
    return sent


def run_worker_job(
    import_id: str,
    session_factory: Callable[[], Session],
    storage: Storage,
    tmp_path: Path,
    cfg: Settings,
) -> None:
    """What the ``library.import`` task does with the id it receives."""
    library_import_service.run(
        uuid.UUID(import_id),
        session_scope=lambda: session_scope(session_factory),
        storage=storage,
        tmp_dir=tmp_path / "work",
        cfg=cfg,
        chunk_size=2,
    )


def upload_library(bucket: Storage, library: Library, prefix: str) -> dict[str, Path]:
    """Every file of ``library`` put under ``prefix`` in ``bucket``: each key and the file it holds."""
    keys = {}
    for path in sorted(p for p in library.root.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(library.root).as_posix()}"
        with path.open("rb") as fh:
            bucket.put(key, fh)
        keys[key] = path
    return keys
