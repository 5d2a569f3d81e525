"""``reftrack import`` and ``reftrack reanalyze``: batch work on whole libraries, run in this process.

The commands only parse arguments and pick the defaults (the configured database, storage and local user);
:func:`run_import` and :func:`run_reanalyze` do the work with whatever session scope, storage and console
they are given, so they can run against any database.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from service.config import settings
from service.migrate import migrate

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, Task, TaskID
    from rich.text import Text

    from service.db import SessionScope
    from service.library_import.models import FileOutcome, LibraryImport
    from service.library_import.repository import ReanalyzeMode
    from service.library_import.schemas import AnalysisCounts
    from service.library_import.service import ImportProgress
    from service.storage import Storage

POLL_SECONDS = 1.0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``import`` and ``reanalyze`` to the ``reftrack`` command."""
    importing = subparsers.add_parser(
        "import",
        help="import folders or an s3://bucket/prefix into the library and queue every new track's analysis",
        description=(
            "Walk each PATH (a folder, a file or s3://bucket/prefix), add every audio file not already in the "
            "library and queue its analysis on the bulk queue. Run it again after an interruption to resume."
        ),
    )
    importing.add_argument("paths", nargs="+", metavar="PATH")
    importing.add_argument("--user", default=None, metavar="EMAIL", help="owner of the tracks (default: local user)")
    importing.add_argument(
        "--wait",
        action="store_true",
        help="wait until every analysis has finished (needs a worker: reftrack serve or reftrack worker)",
    )
    importing.add_argument("--format", choices=("table", "json"), default="table")
    importing.add_argument("--chunk-size", type=int, default=None, help="files per transaction (default 50)")
    importing.set_defaults(func=cmd_import)

    reanalyze = subparsers.add_parser(
        "reanalyze",
        help="queue new analyses on the bulk queue for stale, failed or all tracks",
        description="Earlier results stay readable until each new analysis succeeds.",
    )
    which = reanalyze.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--stale",
        dest="mode",
        action="store_const",
        const="stale",
        help="tracks last analysed by another analyzer version",
    )
    which.add_argument(
        "--failed", dest="mode", action="store_const", const="failed", help="tracks whose latest analysis failed"
    )
    which.add_argument("--all", dest="mode", action="store_const", const="all", help="every track")
    reanalyze.add_argument("--user", default=None, metavar="EMAIL", help="only this user's tracks (default: all)")
    reanalyze.add_argument("--format", choices=("table", "json"), default="table")
    reanalyze.add_argument("--chunk-size", type=int, default=None, help="analyses per transaction (default 50)")
    reanalyze.set_defaults(func=cmd_reanalyze)


def _console(fmt: str) -> Console:
    from rich.console import Console

    # A JSON summary owns standard output; progress goes to standard error.
    return Console(stderr=fmt == "json", width=None if sys.stdout.isatty() else 160)


def cmd_import(args: argparse.Namespace) -> int:
    from service.db import session_scope
    from service.storage import get_storage
    from service.user.local import LOCAL_USER_EMAIL, ensure_local_user

    if settings.is_sqlite:
        migrate()
    console = _console(args.format)
    if args.user is None and ensure_local_user() is not None:
        console.print(f"created the local user {LOCAL_USER_EMAIL}; its API token is in {settings.token_file}")
    return run_import(
        args.paths,
        user_email=args.user or LOCAL_USER_EMAIL,
        session_scope=session_scope,
        storage=get_storage(),
        console=console,
        out=sys.stdout,
        fmt=args.format,
        wait=args.wait,
        chunk_size=args.chunk_size or settings.import_chunk_size,
    )


def cmd_reanalyze(args: argparse.Namespace) -> int:
    from service.db import session_scope

    if settings.is_sqlite:
        migrate()
    return run_reanalyze(
        args.mode,
        user_email=args.user,
        session_scope=session_scope,
        console=_console(args.format),
        out=sys.stdout,
        fmt=args.format,
        chunk_size=args.chunk_size or settings.import_chunk_size,
    )


# ---------------------------------------------------------------------------------------------------- import


@dataclass
class ImportSummary:
    imports: list[LibraryImport] = field(default_factory=list)
    seconds: float = 0.0
    analyses: AnalysisCounts | None = None

    def total(self, name: str) -> int:
        return sum(int(getattr(record, name) or 0) for record in self.imports)

    @property
    def failures(self) -> list[dict[str, str]]:
        return [error for record in self.imports for error in record.errors]

    @property
    def tracks_per_minute(self) -> float:
        return self.total("files_imported") / (self.seconds / 60) if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "imports": [
                {
                    "id": str(r.id),
                    "source": r.source,
                    "status": r.status,
                    "error": r.error_message,
                }
                for r in self.imports
            ],
            "files_found": self.total("files_found"),
            "imported": self.total("files_imported"),
            "duplicates": self.total("files_duplicate"),
            "not_audio": self.total("files_not_audio"),
            "failed": self.total("files_failed"),
            "failures": self.failures,
            "seconds": round(self.seconds, 3),
            "tracks_per_minute": round(self.tracks_per_minute, 1),
            "analyses": self.analyses.model_dump() if self.analyses is not None else None,
        }


def _rate_column(unit: str) -> ProgressColumn:
    """Items per second of a progress task (rich's own rate column counts bytes)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("-" if speed is None else f"{speed:,.1f} {unit}/s", style="progress.data.speed")

    return RateColumn()


def _progress(console: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        _rate_column("files"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _import_progress(progress: Progress) -> ImportProgress:
    from service.library_import.service import ImportProgress

    class Bars(ImportProgress):
        def __init__(self) -> None:
            self.scanning: TaskID = progress.add_task("scanning", total=None)
            self.uploading: TaskID = progress.add_task("uploading", total=0)
            self.listed_before = 0

        def found(self, count: int) -> None:
            progress.update(self.scanning, completed=self.listed_before + count)

        def listed(self, total: int, done: int) -> None:
            self.listed_before += total
            progress.update(self.scanning, completed=self.listed_before, total=self.listed_before)
            upload = progress.tasks[self.uploading]
            progress.update(self.uploading, total=(upload.total or 0) + total - done)

        def file_done(self, outcome: FileOutcome) -> None:
            progress.advance(self.uploading)

    return Bars()


def _find_user(session_scope: SessionScope, email: str) -> uuid.UUID | None:
    from service.user.repository import user_repository

    with session_scope() as session:
        user = user_repository.get_by_email(session, email.strip().lower())
        return user.id if user is not None else None


def run_import(
    paths: Sequence[str],
    *,
    user_email: str,
    session_scope: SessionScope,
    storage: Storage,
    console: Console,
    out: IO[str],
    fmt: str = "table",
    wait: bool = False,
    chunk_size: int = 50,
    tmp_dir: Path | None = None,
    progress_hooks: ImportProgress | None = None,
    pause: Callable[[], None] | None = None,
) -> int:
    """Import ``paths`` for the user with ``user_email``, print the summary; the exit status is returned.

    With ``wait``, the analyses are polled until none is queued or running, calling ``pause`` (by default a
    one-second sleep) between polls.
    """
    from service.errors import ServiceError
    from service.library_import.models import ImportStatus
    from service.library_import.service import library_import as library_import_service
    from service.user.repository import user_repository

    started = time.monotonic()
    with session_scope() as session:
        user = user_repository.get_by_email(session, user_email.strip().lower())
        if user is None:
            console.print(f"[red]error:[/red] no user with email {user_email!r}: pass --user EMAIL", highlight=False)
            return 1
        try:
            records = [library_import_service.start_local(session, user=user, source=p) for p in paths]
        except ServiceError as exc:
            console.print(f"[red]error:[/red] {exc.message}", highlight=False)
            return 1
    summary = ImportSummary()
    progress = _progress(console)
    progress.disable = fmt == "json" and not console.is_terminal
    try:
        with progress:
            bars = progress_hooks or _import_progress(progress)
            for record in records:
                finished = library_import_service.run(
                    record.id,
                    session_scope=session_scope,
                    storage=storage,
                    tmp_dir=tmp_dir or settings.tmp_dir,
                    cfg=settings,
                    chunk_size=chunk_size,
                    progress=bars,
                    force=True,
                )
                if finished is not None:
                    summary.imports.append(finished)
            summary.seconds = time.monotonic() - started
            if wait:
                summary.analyses = _wait_for_analyses(
                    progress, session_scope, [r.id for r in summary.imports], pause=pause or _sleep
                )
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume the import", highlight=False)
        return 130
    if fmt == "json":
        out.write(json.dumps(summary.as_json()) + "\n")
        out.flush()
    else:
        _print_import_summary(console, summary)
    return 1 if any(r.status != ImportStatus.succeeded for r in summary.imports) else 0


def _sleep() -> None:
    time.sleep(POLL_SECONDS)


def _wait_for_analyses(
    progress: Progress, session_scope: SessionScope, import_ids: list[uuid.UUID], *, pause: Callable[[], None]
) -> AnalysisCounts:
    from service.library_import.service import library_import as library_import_service

    task = progress.add_task("analysing", total=None)
    while True:
        with session_scope() as session:
            counts = library_import_service.analysis_counts(session, import_ids=import_ids)
        progress.update(task, total=counts.total, completed=counts.succeeded + counts.failed)
        if counts.queued + counts.running == 0:
            return counts
        pause()


def _print_import_summary(console: Console, summary: ImportSummary) -> None:
    from rich.table import Table

    from service.library_import.models import ImportStatus

    table = Table(title="reftrack import", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("files found", str(summary.total("files_found")))
    table.add_row("imported", str(summary.total("files_imported")))
    table.add_row("skipped: already in the library", str(summary.total("files_duplicate")))
    table.add_row("skipped: not audio", str(summary.total("files_not_audio")))
    table.add_row("failed", str(summary.total("files_failed")))
    if summary.analyses is not None:
        table.add_row("analyses succeeded", str(summary.analyses.succeeded))
        table.add_row("analyses failed", str(summary.analyses.failed))
    table.add_row("total time", f"{summary.seconds:.1f} s")
    table.add_row("tracks per minute", f"{summary.tracks_per_minute:.1f}")
    console.print(table)
    for record in summary.imports:
        if record.status != ImportStatus.succeeded:
            console.print(
                f"[red]{record.source}[/red]: {record.error_message or record.status}", highlight=False, soft_wrap=True
            )
    for failure in summary.failures:
        console.print(f"[red]{failure['path']}[/red]: {failure['reason']}", highlight=False, soft_wrap=True)
    shown = len(summary.failures)
    if shown < summary.total("files_failed"):
        console.print(f"... and {summary.total('files_failed') - shown} more failed files", highlight=False)


# ------------------------------------------------------------------------------------------------- reanalyze


def run_reanalyze(
    mode: str,
    *,
    user_email: str | None,
    session_scope: SessionScope,
    console: Console,
    out: IO[str],
    fmt: str = "table",
    chunk_size: int = 50,
) -> int:
    """Queue re-analyses of the tracks ``mode`` selects (of one user, or everyone's); print what was queued."""
    from analysis._version import ANALYZER_VERSION
    from service.library_import.service import library_import as library_import_service

    user_id: uuid.UUID | None = None
    if user_email is not None:
        user_id = _find_user(session_scope, user_email)
        if user_id is None:
            console.print(f"[red]error:[/red] no user with email {user_email!r}", highlight=False)
            return 1
    progress = _progress(console)
    progress.disable = fmt == "json" and not console.is_terminal
    with progress:
        task = progress.add_task("queueing", total=None)
        result = library_import_service.reanalyze(
            session_scope=session_scope,
            mode=cast("ReanalyzeMode", mode),
            analyzer_version=ANALYZER_VERSION,
            user_id=user_id,
            chunk_size=chunk_size,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    record = {
        "mode": mode,
        "analyzer_version": ANALYZER_VERSION,
        "selected": result.selected,
        "queued": result.queued,
        "unsent": result.unsent,
    }
    if fmt == "json":
        out.write(json.dumps(record) + "\n")
        out.flush()
    else:
        console.print(
            f"queued {result.queued} analyses on the bulk queue ({mode}, analyzer {ANALYZER_VERSION})", highlight=False
        )
    if result.unsent:
        console.print(
            f"[red]warning:[/red] the broker refused {result.unsent} of them: they stay queued, and the embedded "
            "`reftrack serve` sends them again when it starts",
            highlight=False,
        )
        return 1
    return 0
