"""The ``reftrack`` command: serve, worker, beat, maintenance, migrate, users, analyze, import, reanalyze."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reftrack_cli.library_import import add_commands as add_import_commands
from service.config import settings
from service.migrate import migrate

if TYPE_CHECKING:
    from datetime import datetime

    from service.user.models import User

log = logging.getLogger("reftrack")


def _configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _issue_login_url(host: str, port: int) -> str | None:
    """A one-time sign-in link for the local user (earlier links stop working), or None without one."""
    from service.db import session_scope
    from service.user.local import LOCAL_USER_EMAIL
    from service.user.repository import user_repository
    from service.user.service import user as user_service

    with session_scope() as session:
        local = user_repository.get_by_email(session, LOCAL_USER_EMAIL)
        if local is None or not local.is_active:
            return None
        ticket = user_service.issue_login_ticket(session, user=local)
    # A wildcard address is where the server listens, not one a browser can open.
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/auth/login?ticket={ticket}"


def _requeue_unfinished() -> int:
    """Re-send analyses left queued or running by a previous embedded run (the task is idempotent)."""
    from service.analysis_run.service import analysis_run as analysis_run_service
    from service.db import session_scope

    with session_scope() as session:
        return analysis_run_service.requeue_unfinished(session)


def _worker_argv(extra: Sequence[str] = ()) -> list[str]:
    from service.queue import ANALYSIS_QUEUE, BULK_QUEUE, MAINTENANCE_QUEUE

    # Order matters on Redis (strict priority): tiny maintenance ticks first, then uploads, then bulk imports.
    argv = ["worker", "--loglevel=INFO", f"--queues={MAINTENANCE_QUEUE},{ANALYSIS_QUEUE},{BULK_QUEUE}"]
    if settings.worker_concurrency:
        argv.append(f"--concurrency={settings.worker_concurrency}")
    return argv + list(extra)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_asgi_app
    from service.user.local import LOCAL_USER_EMAIL, ensure_local_user

    if settings.is_sqlite:
        migrate()
    token = ensure_local_user() if settings.is_embedded else None
    if token is not None:
        print(f"Created the local user {LOCAL_USER_EMAIL}. Its API token (also in {settings.token_file}):")
        print(token, flush=True)
    elif settings.is_embedded and settings.token_file.exists():
        print(f"API token for the local user: {settings.token_file}", flush=True)
    host, port = args.host or settings.host, args.port or settings.port
    url = _issue_login_url(host, port) if settings.is_embedded else None
    if url is not None:
        log.info("serve.login_url %s", url, extra={"url": url})
        print(f"Open the app, signed in as {LOCAL_USER_EMAIL} (this link works once, for an hour):", flush=True)
        print(f"    {url}", flush=True)

    from service.tempfiles import sweep_stale_temp_files

    # Uploads a killed API process was receiving.
    sweep_stale_temp_files(settings.tmp_dir, max_age_s=settings.tmp_max_age_s)
    worker: subprocess.Popen[bytes] | None = None
    if settings.embedded_broker and not args.no_worker:
        requeued = _requeue_unfinished()
        if requeued:
            log.info("serve.requeued", extra={"count": requeued})
        concurrency = settings.worker_concurrency or max(1, (os.cpu_count() or 2) // 2)
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery_app",
            *_worker_argv(),
            f"--concurrency={concurrency}",
            "--without-mingle",
            "--without-gossip",
            # The worker also runs celery beat (the reaper and the outbox relay); its schedule file is
            # settings.beat_schedule_file, under the data directory.
            "--beat",
        ]
        worker = subprocess.Popen(cmd, start_new_session=True)
        print(f"Embedded analysis worker started (pid {worker.pid}, concurrency {concurrency})", flush=True)
        # uvicorn re-raises the SIGTERM that stopped it once it has shut down; with the default handler that
        # kills this process before the ``finally`` below, orphaning the worker. Exit normally instead.
        signal.signal(signal.SIGTERM, _exit_on_signal)
    # The decoder that probes uploads pulls in librosa and scipy: load it now, not on the first upload.
    import analysis.io  # noqa: F401

    try:
        uvicorn.run(create_asgi_app(), host=host, port=port, log_level="info")
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.celery_app import app

    if {"-B", "--beat"} & set(args.celery_args):
        settings.beat_schedule_file.parent.mkdir(parents=True, exist_ok=True)
    app.worker_main(_worker_argv(args.celery_args))
    return 0


def cmd_beat(_: argparse.Namespace) -> int:
    from workers.celery_app import app

    settings.beat_schedule_file.parent.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel=INFO"])
    return 0


def cmd_maintenance(args: argparse.Namespace) -> int:
    # Every model must be mapped before the first flush: failing an analysis writes an outbox event, and the
    # flush then resolves foreign keys to tables (users) no module on this path imports otherwise.
    import service.models  # noqa: F401
    from service.db import session_scope

    if args.job == "sweep":
        from service.tempfiles import sweep_stale_temp_files

        swept = sweep_stale_temp_files(settings.tmp_dir, max_age_s=settings.tmp_max_age_s)
        print(f"temporary files removed: {len(swept.removed)} ({swept.freed_bytes} bytes), kept: {swept.kept}")
        return 0
    if settings.is_sqlite:
        migrate()
    if args.job == "reap":
        from service.analysis_run.reaper import reap_stuck_analyses

        reaped = reap_stuck_analyses(session_scope=session_scope)
        print(f"analyses re-queued: {len(reaped.requeued)}, failed: {len(reaped.failed)}")
        return 0
    from service.outbox.relay import relay_pending_events

    if not settings.outbox_relay_enabled:
        print("error: set REFTRACK_WEBHOOK_URL or REFTRACK_OUTBOX_PUBLISH_TO_BROKER to relay events", file=sys.stderr)
        return 1
    relayed = relay_pending_events(session_scope=session_scope)
    print(f"events published: {len(relayed.published)}, failed: {len(relayed.failed)}")
    return 1 if relayed.failed else 0


def cmd_migrate(_: argparse.Namespace) -> int:
    migrate()
    print("database is at the latest schema revision")
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    from service.db import session_scope
    from service.errors import Conflict
    from service.user.service import user as user_service

    if settings.is_sqlite:
        migrate()
    try:
        with session_scope() as session:
            created = user_service.create(
                session, email=args.email, name=args.name, role="admin" if args.admin else "user"
            )
            token = user_service.issue_token(session, user=created).token
    except Conflict as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"created user {args.email} ({'admin' if args.admin else 'user'}); API token:")
    print(token)
    return 0


def _user_record(user: User) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "created_at": when(user.created_at),
        "last_activity_at": when(user.last_activity_at),
    }


def cmd_users_list(args: argparse.Namespace) -> int:
    from service.db import session_scope
    from service.user.repository import user_repository

    if settings.is_sqlite:
        migrate()
    with session_scope() as session:
        records = [_user_record(u) for u in user_repository.list(session)]
    if args.format == "json":
        print(json.dumps(records, indent=2))
        return 0
    header = ("EMAIL", "NAME", "ROLE", "ACTIVE", "CREATED", "LAST ACTIVE")
    rows = [
        (
            r["email"],
            r["name"] or "-",
            r["role"],
            "yes" if r["is_active"] else "no",
            (r["created_at"] or "-")[:16].replace("T", " "),
            (r["last_activity_at"] or "-")[:16].replace("T", " "),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _set_active(email: str, *, is_active: bool) -> int:
    from service.db import session_scope
    from service.errors import NotFound
    from service.user.service import user as user_service

    if settings.is_sqlite:
        migrate()
    try:
        with session_scope() as session:
            changed = user_service.set_active(session, email=email, is_active=is_active)
            address = changed.email
    except NotFound as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"{'enabled' if is_active else 'disabled'} user {address}")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    return _set_active(args.email, is_active=False)


def cmd_users_enable(args: argparse.Namespace) -> int:
    return _set_active(args.email, is_active=True)


def analyze_file(path: Path) -> dict[str, Any]:
    """Analyse one local file into the JSON-lines record ``reftrack analyze`` prints."""
    from analysis import analyze
    from analysis.errors import AnalysisError
    from analysis.io import load

    try:
        decoded = load(path)
        result = analyze(decoded.samples, sr=decoded.sr)
    except AnalysisError as exc:
        return {"path": str(path), "error": str(exc)}
    except OSError as exc:
        return {"path": str(path), "error": f"cannot read file: {exc.strerror or exc}"}
    except MemoryError:
        return {"path": str(path), "error": "the file is too large to analyse on this machine"}
    summary = result.summary()
    record: dict[str, Any] = {
        "path": str(path),
        "duration_s": round(decoded.info.duration_s, 3),
        "sample_rate": decoded.info.sample_rate,
        "channels": decoded.info.channels,
        "format": decoded.info.format,
        "codec": decoded.info.codec,
        "bit_depth": decoded.info.bit_depth,
        "bpm": summary["bpm"],
        "bpm_confidence": summary["bpm_confidence"],
        "beats": [round(float(b), 3) for b in result.beat_times_s],
        "downbeats": [round(float(b), 3) for b in result.rhythm.downbeat_times_s],
        "time_signature": summary["time_signature"],
        "key": summary["key"],
        "key_confidence": summary["key_confidence"],
        "lufs_integrated": summary["lufs_integrated"],
        "loudness_range_lu": summary["loudness_range_lu"],
        "true_peak_dbtp": summary["true_peak_dbtp"],
        "sections": summary["sections"],
    }
    for name, value in summary.items():
        record.setdefault(name, value)
    return record


def _table_row(record: dict[str, Any]) -> list[str]:
    def number(value: Any, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    bands = record["tonal_balance"]["bands"]
    return [
        Path(record["path"]).name,
        f"{record['duration_s'] // 60:.0f}:{record['duration_s'] % 60:04.1f}",
        f"{number(record['bpm'], '.1f')} {record['time_signature']}/4",
        record["key"] or "-",
        number(record["lufs_integrated"], ".1f"),
        number(record["loudness_range_lu"], ".1f"),
        number(record["true_peak_dbtp"], "+.1f"),
        number(record["stereo"]["width_mean"], ".2f"),
        " ".join(number(band["relative_db"], "+.0f") for band in bands),
        str(len(record["sections"])),
    ]


def print_table(records: list[dict[str, Any]]) -> None:
    """Print a human summary of analysed files, then the files that could not be read."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="reftrack analysis")
    columns = (
        "file",
        "length",
        "tempo",
        "key",
        "LUFS",
        "LRA",
        "dBTP",
        "width",
        "sub low lmid hmid pres air (dB)",
        "sections",
    )
    for column in columns:
        table.add_column(column, no_wrap=True, justify="left" if column in ("file", "key") else "right")
    for record in records:
        if "error" not in record:
            table.add_row(*_table_row(record))
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for record in records:
        if "error" in record:
            console.print(f"[red]{record['path']}[/red]: {record['error']}", highlight=False, soft_wrap=True)


def cmd_analyze(args: argparse.Namespace) -> int:
    records = []
    for raw in args.paths:
        record = analyze_file(Path(raw))
        records.append(record)
        if args.format == "json":
            print(json.dumps(record), flush=True)
    if args.format == "table":
        print_table(records)
    failures = sum("error" in record for record in records)
    return 1 if failures and failures == len(args.paths) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reftrack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and, in the embedded default, the analysis worker)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--no-worker", action="store_true", help="do not start the embedded worker")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a Celery analysis worker; extra args go to 'celery worker'")
    worker.add_argument("celery_args", nargs=argparse.REMAINDER)
    worker.set_defaults(func=cmd_worker)

    beat = sub.add_parser(
        "beat",
        help="run celery beat, which schedules the reaper and the outbox relay; run exactly one per deployment "
        "(or pass --beat to one 'reftrack worker' instead)",
    )
    beat.set_defaults(func=cmd_beat)

    maintenance = sub.add_parser("maintenance", help="run one periodic job now, in this process")
    maintenance.add_argument(
        "job",
        choices=("reap", "relay", "sweep"),
        help="reap: re-queue or fail stuck analyses; relay: publish pending outbox events; sweep: delete "
        "temporary files older than REFTRACK_TMP_MAX_AGE_S left by killed processes",
    )
    maintenance.set_defaults(func=cmd_maintenance)

    mig = sub.add_parser("migrate", help="upgrade the database schema to the latest revision")
    mig.set_defaults(func=cmd_migrate)

    users = sub.add_parser("users", help="manage users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create a user and print a new API token on the last line")
    create.add_argument("email")
    create.add_argument("--name", default=None)
    create.add_argument("--admin", action="store_true")
    create.set_defaults(func=cmd_users_create)
    listing = users_sub.add_parser("list", help="list users with their role and whether they are active")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(func=cmd_users_list)
    disable = users_sub.add_parser("disable", help="disable a user: their API tokens stop working at once")
    disable.add_argument("email")
    disable.set_defaults(func=cmd_users_disable)
    enable = users_sub.add_parser("enable", help="enable a disabled user again (their unexpired tokens work again)")
    enable.add_argument("email")
    enable.set_defaults(func=cmd_users_enable)

    analyze = sub.add_parser("analyze", help="analyse local files, printing one JSON object per line")
    analyze.add_argument("paths", nargs="+")
    analyze.add_argument("--format", choices=("json", "table"), default="json", help="JSON lines (default) or a table")
    analyze.set_defaults(func=cmd_analyze)
    add_import_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["worker"]:
        # argparse.REMAINDER does not take options right after a sub-command ("worker --concurrency=1" is
        # "unrecognized arguments"), so everything after "worker" goes to "celery worker" untouched.
        args = parser.parse_args(["worker"])
        args.celery_args = raw[1:]
    else:
        args = parser.parse_args(raw)
    _configure_logging("WARNING" if args.command in ("analyze", "import", "reanalyze") else "INFO")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
