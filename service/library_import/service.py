"""Batch import of whole libraries (a folder or an S3 prefix) and batch re-analysis.

An import walks its source in sorted order and commits one chunk of files at a time: the chunk's tracks, their
queued analyses and the import's counters go in with bulk inserts in one transaction, and the chunk's analysis
tasks are sent on the bulk queue once it commits. Tracks are deduplicated by content hash against the whole
library, and a new track's id derives from (user, hash), so a chunk redone after a crash writes the same
objects again instead of leaving copies behind. Killing an import at any moment and running it again resumes
after the last committed chunk.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.analysis_run.service import analysis_run as analysis_run_service
from service.config import Settings
from service.db import SessionScope, after_commit, utcnow
from service.errors import InvalidInput, ServiceError
from service.library.service import library as library_service
from service.library_import.access import ImportPolicy
from service.library_import.models import FileOutcome, ImportStatus, LibraryImport
from service.library_import.repository import ReanalyzeMode, library_import_repository
from service.library_import.scanner import (
    BucketSource,
    Fetched,
    FolderSource,
    Source,
    SourceFile,
    normalise_source,
    open_source,
    read_tags,
)
from service.library_import.schemas import AnalysisCounts
from service.queue import ANALYZE_TASK, BULK_QUEUE, IMPORT_TASK, enqueue, enqueue_many
from service.storage import Storage
from service.track.ingest import NewTrack
from service.user.models import User

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 50
# A running import whose runner has not committed for this long is taken to be dead and may be resumed.
STALE_AFTER = timedelta(minutes=15)
# The import row keeps the first failures only; the counters stay exact.
MAX_RECORDED_ERRORS = 1000
_TRACK_IDS = uuid.UUID("5b0f8f4e-33d4-4c0b-9a55-7f1c3c6f2a10")
_PERMANENT_S3_ERRORS = frozenset({"NoSuchBucket", "AccessDenied", "AllAccessDisabled", "InvalidBucketName"})

T = TypeVar("T")


class ImportBusy(Exception):
    """Another runner is working on the import right now; try again later."""


class ImportProgress:
    """Hooks an import calls as it goes, for a progress display. The default does nothing."""

    def found(self, count: int) -> None:
        """Another file was listed; ``count`` so far."""

    def listed(self, total: int, done: int) -> None:
        """The source is listed: ``total`` files, of which ``done`` were handled before a resume."""

    def file_done(self, outcome: FileOutcome) -> None:
        """One file was handled."""

    def chunk_committed(self, record: LibraryImport) -> None:
        """A chunk and the import's counters are committed."""


@dataclass
class _Chunk:
    tracks: list[NewTrack] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    duplicates: list[uuid.UUID] = field(default_factory=list)
    not_audio: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    cursor: str = ""
    committed: bool = False

    def mark_committed(self) -> None:
        self.committed = True

    @property
    def size(self) -> int:
        return len(self.tracks) + len(self.duplicates) + self.not_audio + len(self.errors)


@dataclass(frozen=True, slots=True)
class _Workspace:
    """What a runner works with: its transactions, the library's storage, a folder for temporary copies."""

    session_scope: SessionScope
    storage: Storage
    tmp_dir: Path
    cfg: Settings


@dataclass
class _Run:
    """What one runner knows about its import while it works through the source."""

    import_id: uuid.UUID
    user_id: uuid.UUID
    source: Source
    storage: Storage
    tmp_dir: Path
    known: dict[str, uuid.UUID]
    by_url: dict[str, tuple[uuid.UUID, str | None]]
    errors: list[dict[str, str]]
    pending: list[uuid.UUID]
    sent: set[uuid.UUID] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Reanalysis:
    selected: int
    queued: int
    # Queued analyses whose task the broker did not take: they wait for the next `reftrack serve` to resend them.
    unsent: int


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; every stored value is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _reason(exc: BaseException, fetched: Fetched) -> str:
    """The decoder names the file it read, which may be a temporary copy: name the source file instead."""
    return str(exc).replace(fetched.path.name, fetched.file.basename)


def _delete_after_commit(session: Session, storage: Storage, key: str) -> None:
    after_commit(session, lambda: storage.delete(key))


class LibraryImportService:
    # ------------------------------------------------------------------------------------------------ create

    def create(self, session: Session, *, user: User, source: str, cfg: Settings, storage: Storage) -> LibraryImport:
        """Record an import of a source the user may read and have a worker run it; an unfinished import of the
        same source is returned instead."""
        normalised = ImportPolicy.from_settings(cfg, storage=storage).authorise(source, user_id=user.id)
        if not normalised.startswith("s3://"):
            try:
                exists = Path(normalised).exists()
            except OSError as exc:
                raise InvalidInput(
                    f"source: cannot read {normalised!r}: {exc.strerror or exc}", field="source"
                ) from exc
            if not exists:
                raise InvalidInput(f"source: no such file or folder {normalised!r}", field="source")
        record, created = self._unfinished_or_new(session, user=user, source=normalised, origin="api")
        if created:
            enqueue(session, IMPORT_TASK, str(record.id), queue=BULK_QUEUE)
        return record

    def start_local(self, session: Session, *, user: User, source: str) -> LibraryImport:
        """The command line's import of ``source``: the one left unfinished by an earlier run, or a new one."""
        record, _created = self._unfinished_or_new(session, user=user, source=normalise_source(source), origin="cli")
        return record

    def _unfinished_or_new(
        self, session: Session, *, user: User, source: str, origin: str
    ) -> tuple[LibraryImport, bool]:
        """The import of ``source`` by ``origin`` left unfinished, or a new queued one (then ``True``)."""
        existing = library_import_repository.unfinished(session, user_id=user.id, source=source, origin=origin)
        if existing is not None:
            return existing, False
        record = LibraryImport(user_id=user.id, source=source, origin=origin, status=ImportStatus.queued)
        session.add(record)
        session.flush()
        return record, True

    def get(self, session: Session, *, user: User, import_id: uuid.UUID) -> tuple[LibraryImport, AnalysisCounts] | None:
        record = library_import_repository.get_for_user(session, user_id=user.id, import_id=import_id)
        if record is None:
            return None
        return record, self.analysis_counts(session, import_ids=[record.id])

    def list_imports(
        self, session: Session, *, user: User, limit: int, offset: int
    ) -> tuple[list[tuple[LibraryImport, AnalysisCounts]], int]:
        """One page of the user's own imports, newest first, each with its analyses by status; and the total."""
        records, count = library_import_repository.list_for_user(session, user_id=user.id, limit=limit, offset=offset)
        counts = library_import_repository.analysis_counts_by_import(session, import_ids=[r.id for r in records])
        return [(r, AnalysisCounts(**counts.get(r.id, {}))) for r in records], count

    def analysis_counts(self, session: Session, *, import_ids: Sequence[uuid.UUID]) -> AnalysisCounts:
        return AnalysisCounts(**library_import_repository.analysis_counts(session, import_ids=import_ids))

    # --------------------------------------------------------------------------------------------------- run

    def run(
        self,
        import_id: uuid.UUID,
        *,
        session_scope: SessionScope,
        storage: Storage,
        tmp_dir: Path,
        cfg: Settings,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: ImportProgress | None = None,
        force: bool = False,
    ) -> LibraryImport | None:
        """Run (or resume) an import to the end; returns the finished import, ``None`` if it no longer exists.

        Raises :class:`ImportBusy` when another runner holds the import, unless ``force`` (the command line,
        whose user knows the earlier run is gone). An exception leaves the import resumable.
        """
        from botocore.exceptions import ClientError

        progress = progress or ImportProgress()
        workspace = _Workspace(session_scope=session_scope, storage=storage, tmp_dir=tmp_dir, cfg=cfg)
        state = self._claim(import_id, workspace, force=force)
        if isinstance(state, LibraryImport) or state is None:
            return state
        run, cursor = state
        try:
            if isinstance(run.source, FolderSource) and not run.source.root.exists():
                return self._fail(session_scope, import_id, f"no such file or folder: {run.source.root}")
            try:
                files = run.source.files(on_file=_counter(progress.found))
            except OSError as exc:
                return self._fail(session_scope, import_id, f"cannot read {run.source.label}: {exc}")
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code not in _PERMANENT_S3_ERRORS:
                    raise
                return self._fail(session_scope, import_id, f"cannot list {run.source.label}: {code}")
            remaining = [f for f in files if cursor is None or f.name > cursor]
            with session_scope() as session:
                record = library_import_repository.get(session, import_id)
                if record is not None:
                    record.files_found = len(files)
                    record.heartbeat_at = utcnow()
            progress.listed(len(files), len(files) - len(remaining))
            for files_in_chunk in _chunks(remaining, chunk_size):
                chunk = self._prepare_chunk(run, files_in_chunk, progress)
                committed = self._commit_chunk(run, chunk, session_scope=session_scope)
                progress.chunk_committed(committed)
            return self._finish(run, session_scope=session_scope)
        except BaseException:
            self._release(session_scope, import_id)
            raise

    def _claim(
        self, import_id: uuid.UUID, workspace: _Workspace, *, force: bool
    ) -> tuple[_Run, str | None] | LibraryImport | None:
        session_scope, storage, cfg = workspace.session_scope, workspace.storage, workspace.cfg
        with session_scope() as session:
            record = library_import_repository.get(session, import_id, for_update=True)
            if record is None:
                log.info("library.import.missing", extra={"import_id": str(import_id)})
                return None
            if record.status in (ImportStatus.succeeded, ImportStatus.failed):
                return record
            now = utcnow()
            heartbeat = record.heartbeat_at
            if (
                not force
                and record.status == ImportStatus.running
                and heartbeat is not None
                and now - _aware(heartbeat) < STALE_AFTER
            ):
                raise ImportBusy(f"import {import_id} is being run elsewhere")
            if record.origin == "api":
                # The roots may have changed since the import was created: it reads only what is allowed now.
                try:
                    ImportPolicy.from_settings(cfg, storage=storage).authorise(record.source, user_id=record.user_id)
                except ServiceError as exc:
                    return self._refuse(record, exc.message, now=now)
            source = open_source(record.source, storage=storage, cfg=cfg)
            if isinstance(source, FolderSource) and record.origin == "api":
                source = FolderSource(source.root, confined=True)
            record.status = ImportStatus.running
            record.started_at = record.started_at or now
            record.heartbeat_at = now
            record.error_message = None
            # Tasks of the last chunk a dead runner committed may never have reached the broker: send those
            # still queued again (an analysis that started or finished meanwhile clearly got its message).
            pending = library_import_repository.queued_runs(
                session, analysis_ids=[uuid.UUID(str(i)) for i in record.pending]
            )
            run = _Run(
                import_id=record.id,
                user_id=record.user_id,
                source=source,
                storage=storage,
                tmp_dir=workspace.tmp_dir,
                known=library_import_repository.tracks_by_sha(session, user_id=record.user_id),
                by_url={},
                errors=list(record.errors),
                pending=pending,
            )
            if isinstance(source, BucketSource):
                # An object listed with the ETag it had when imported is known without downloading it again.
                run.by_url = library_import_repository.tracks_from(
                    session, user_id=record.user_id, url_prefix=source.url(SourceFile(name=source.prefix, size=0))
                )
            # A send that fails half-way leaves the rest pending on the import, to be sent when it resumes.
            enqueue_many(session, ANALYZE_TASK, pending, queue=BULK_QUEUE, sent=run.sent)
            cursor = record.cursor
        return run, cursor

    def _refuse(self, record: LibraryImport, message: str, *, now: datetime) -> LibraryImport:
        record.status = ImportStatus.failed
        record.error_message = f"refused: {message}"[:2000]
        record.finished_at = now
        record.heartbeat_at = None
        log.warning("library.import.refused", extra={"import_id": str(record.id), "error": message})
        return record

    def _prepare_chunk(self, run: _Run, files: list[SourceFile], progress: ImportProgress) -> _Chunk:
        """Hash, deduplicate, probe and store the chunk's files; nothing is written to the database yet."""
        from analysis.errors import AnalysisError, UnsupportedAudioError
        from analysis.io import probe

        chunk = _Chunk(cursor=files[-1].name)
        for file in files:
            url = run.source.url(file)
            if file.refused is not None:
                chunk.errors.append({"path": file.name, "reason": file.refused})
                progress.file_done(FileOutcome.failed)
                continue
            seen = run.by_url.get(url)
            if seen is not None and file.etag is not None and seen[1] == file.etag:
                chunk.duplicates.append(seen[0])
                progress.file_done(FileOutcome.duplicate)
                continue
            try:
                fetched = run.source.fetch(file, tmp_dir=run.tmp_dir)
            except OSError as exc:
                chunk.errors.append({"path": file.name, "reason": f"cannot read file: {exc.strerror or exc}"})
                progress.file_done(FileOutcome.failed)
                continue
            try:
                existing = run.known.get(fetched.sha256)
                if existing is not None:
                    chunk.duplicates.append(existing)
                    progress.file_done(FileOutcome.duplicate)
                    continue
                try:
                    info = probe(fetched.path)
                except AnalysisError as exc:
                    not_audio = isinstance(exc, UnsupportedAudioError) or fetched.size == 0
                    if not_audio and not file.looks_like_audio:
                        chunk.not_audio += 1
                        progress.file_done(FileOutcome.not_audio)
                    else:
                        chunk.errors.append({"path": file.name, "reason": _reason(exc, fetched)})
                        progress.file_done(FileOutcome.failed)
                    continue
                new = NewTrack(
                    uuid.uuid5(_TRACK_IDS, f"{run.user_id}/{fetched.sha256}"),
                    run.user_id,
                    info,
                    fetched,
                    filename=file.basename,
                    fields=read_tags(fetched.path),
                    source="import",
                    source_url=url[:2048],
                    extra_metadata={"source_etag": file.etag} if file.etag is not None else {},
                )
                run.source.store(fetched, storage=run.storage, key=new.key, content_type=new.content_type)
                chunk.stored.append(new.key)
                chunk.tracks.append(new)
                run.known[fetched.sha256] = new.id
                progress.file_done(FileOutcome.imported)
            finally:
                fetched.close()
        return chunk

    def _commit_chunk(self, run: _Run, chunk: _Chunk, *, session_scope: SessionScope) -> LibraryImport:
        try:
            try:
                return self._write_chunk(run, chunk, session_scope=session_scope)
            except IntegrityError:
                # Someone else added one of these tracks meanwhile (an upload of the same bytes, or another
                # import of the same folder). The second attempt sees their rows and takes them as duplicates.
                log.info("library.import.chunk_conflict", extra={"import_id": str(run.import_id)})
                return self._write_chunk(run, chunk, session_scope=session_scope)
        except BaseException:
            # Objects of a chunk that never committed belong to no track. Once it has committed (an interrupt
            # can arrive while the tasks are being sent) they are the originals of its tracks.
            if not chunk.committed:
                for key in chunk.stored:
                    run.storage.delete(key)
            raise

    def _write_chunk(self, run: _Run, chunk: _Chunk, *, session_scope: SessionScope) -> LibraryImport:
        repo = library_import_repository
        with session_scope() as session:
            after_commit(session, chunk.mark_committed)
            raced = repo.tracks_by_sha(session, user_id=run.user_id, shas=[t.content.sha256 for t in chunk.tracks])
            new_tracks = [t for t in chunk.tracks if t.content.sha256 not in raced]
            duplicates = list(chunk.duplicates)
            for new in chunk.tracks:
                winner = raced.get(new.content.sha256)
                if winner is not None:
                    duplicates.append(winner)
                    run.known[new.content.sha256] = winner
                    if winner != new.id:
                        _delete_after_commit(session, run.storage, new.key)

            # A track found again is queued only when it was never analysed: one already queued, running or
            # analysed is left alone (re-analysis is `reftrack reanalyze`'s job).
            statuses = repo.latest_statuses(session, track_ids=set(duplicates))
            created = {t.id for t in new_tracks}
            never_analysed = {d for d in duplicates if d not in statuses and d not in created}
            queued_ids = library_service.create_many(
                session,
                new=new_tracks,
                also_analyse=[(track_id, run.user_id) for track_id in sorted(never_analysed)],
                sent=run.sent,
            )

            candidates = list(dict.fromkeys([t.id for t in new_tracks] + duplicates))
            already = repo.linked(session, import_id=run.import_id, track_ids=candidates)
            repo.add_links(
                session,
                [
                    {
                        "id": uuid.uuid4(),
                        "import_id": run.import_id,
                        "track_id": track_id,
                        "user_id": run.user_id,
                        "created": track_id in created,
                    }
                    for track_id in candidates
                    if track_id not in already
                ],
            )

            errors = (run.errors + chunk.errors)[:MAX_RECORDED_ERRORS] if chunk.errors else run.errors
            pending = [i for i in run.pending if i not in run.sent] + queued_ids
            repo.record_chunk(
                session,
                import_id=run.import_id,
                imported=len(new_tracks),
                duplicate=len(chunk.duplicates) + len(chunk.tracks) - len(new_tracks),
                not_audio=chunk.not_audio,
                failed=len(chunk.errors),
                errors=errors if chunk.errors else None,
                cursor=chunk.cursor,
                pending=[str(i) for i in pending],
                now=utcnow(),
            )
            record = repo.get(session, run.import_id)
            assert record is not None
        run.errors = errors
        run.pending = pending
        return record

    def _finish(self, run: _Run, *, session_scope: SessionScope) -> LibraryImport | None:
        with session_scope() as session:
            record = library_import_repository.get(session, run.import_id, for_update=True)
            if record is None:
                return None
            unsent = [i for i in run.pending if i not in run.sent]
            record.pending = [str(i) for i in unsent]
            if unsent:
                # The broker refused some tasks: keep the import resumable, so a rerun sends them.
                record.heartbeat_at = None
                record.error_message = f"{len(unsent)} analyses could not be sent to the broker; run the import again"
            else:
                record.status = ImportStatus.succeeded
                record.finished_at = utcnow()
                record.heartbeat_at = utcnow()
        log.info("library.import.finished", extra={"import_id": str(run.import_id), "status": record.status})
        return record

    def give_up(self, import_id: uuid.UUID, *, session_scope: SessionScope, message: str) -> LibraryImport | None:
        """Fail an import whose task stopped for good (its failure hook); files already imported stay."""
        return self._fail(session_scope, import_id, message)

    def _fail(self, session_scope: SessionScope, import_id: uuid.UUID, message: str) -> LibraryImport | None:
        with session_scope() as session:
            record = library_import_repository.get(session, import_id, for_update=True)
            if record is None:
                return None
            record.status = ImportStatus.failed
            record.error_message = message[:2000]
            record.finished_at = utcnow()
        log.info("library.import.failed", extra={"import_id": str(import_id), "error": message})
        return record

    def _release(self, session_scope: SessionScope, import_id: uuid.UUID) -> None:
        """Let the next run resume at once instead of waiting for the heartbeat to go stale."""
        try:
            with session_scope() as session:
                record = library_import_repository.get(session, import_id)
                if record is not None and record.status == ImportStatus.running:
                    record.heartbeat_at = None
        except Exception:
            log.exception("library.import.release_failed", extra={"import_id": str(import_id)})

    # ---------------------------------------------------------------------------------------------- reanalyze

    def reanalyze(
        self,
        *,
        session_scope: SessionScope,
        mode: ReanalyzeMode,
        analyzer_version: str,
        user_id: uuid.UUID | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Reanalysis:
        """Queue a new analysis on the bulk queue for every track ``mode`` selects, a chunk per transaction.

        Each chunk is selected again inside its transaction, so a track queued meanwhile is not queued twice.
        The earlier analysis stays where readers find it until the new one succeeds.
        """
        repo = library_import_repository
        with session_scope() as session:
            selected = repo.reanalysis_candidates(
                session, mode=mode, analyzer_version=analyzer_version, user_id=user_id
            )
        queued = done = 0
        sent: set[uuid.UUID] = set()
        if on_progress is not None:
            on_progress(done, len(selected))
        for chunk in _chunks(selected, chunk_size):
            with session_scope() as session:
                still = repo.reanalysis_candidates(
                    session,
                    mode=mode,
                    analyzer_version=analyzer_version,
                    user_id=user_id,
                    track_ids=[track_id for track_id, _ in chunk],
                )
                queued_ids = analysis_run_service.queue_many(session, tracks=still, sent=sent)
            queued += len(queued_ids)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, len(selected))
        return Reanalysis(selected=len(selected), queued=queued, unsent=queued - len(sent))


def _counter(hook: Callable[[int], None]) -> Callable[[], None]:
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        hook(count)

    return tick


library_import = LibraryImportService()
