"""Throughput of a library import end to end: ``reftrack import --wait`` against real deployments.

The script renders ``--tracks`` distinct stereo 44.1 kHz tracks of ``--seconds`` each (drum pattern and chord
progression at a different tempo, key and noise seed per file), 40 % FLAC, 30 % MP3, 20 % Ogg Vorbis and 10 % WAV,
in parallel, and keeps them under ``bench/out/import_tracks/`` for the next run. Then, for each topology:

* ``embedded``: a fresh data folder (SQLite, local object storage, the filesystem broker); ``reftrack serve``
  starts the API and its embedded worker with the default concurrency, and ``reftrack import --wait`` runs
  against the same folder;
* ``production-1``, ``production-2``: a fresh PostgreSQL database, Redis (a dedicated database number, flushed
  first) and local object storage (or moto's S3 server with ``--storage s3``); one ``reftrack worker`` with 1,
  then 2 pool processes; ``reftrack import --wait --user ...`` from a separate process.

It reports tracks per minute end to end (from launching the import to the command's exit), the import phase
alone (scan, hash, upload, insert, as the command reports it), where the workers' time went, the scaling from
1 to 2 worker processes, and the peak resident memory of each worker process.

Worker time comes from the timings each finished analysis records (``parameters.timings_s``: download, decode,
analyse, store, database) and from its ``started_at``/``completed_at``. A pool process is busy from the start
of its first analysis to the end of its last one; whatever part of that the recorded phases do not cover
(claiming the analysis, the final commit, the broker hand-off between two tasks) is reported as "untimed".
Overhead is busy time minus decode and analyse. Peak RSS is sampled with psutil every 0.2 s and also read from
the kernel's high-water mark (``VmHWM``), which sampling cannot miss.

    uv run python bench/import_throughput.py                     # 200 three-minute tracks, writes IMPORT_RESULTS.md
    uv run python bench/import_throughput.py --repeat 3          # each topology three times, interleaved: medians
    uv run python bench/import_throughput.py --tracks 20         # a quick run
    uv run python bench/import_throughput.py --tracks 20 --topologies production-1 --storage s3
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from sqlalchemy import create_engine, select  # noqa: E402

from service.analysis_run.models import AnalysisRun, AnalysisStatus  # noqa: E402
from service.library_import.models import LibraryImport  # noqa: E402
from tests.e2e.support import Proc, Processes, clean_env, cli, run_cli, wait_healthy, wait_until  # noqa: E402
from tests.fixtures.audio import PITCH_CLASSES, click_track, write_audio  # noqa: E402
from tests.fixtures.database import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.fixtures.storage import free_port  # noqa: E402

OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "IMPORT_RESULTS.md"
SR = 44100
# Ten slots, repeated: 4 FLAC, 3 MP3, 2 Ogg Vorbis, 1 WAV.
FORMAT_CYCLE = ("flac", "mp3", "ogg", "flac", "wav", "mp3", "flac", "ogg", "mp3", "flac")
KEYS = tuple(f"{pc} {mode}" for mode in ("major", "minor") for pc in PITCH_CLASSES)
TOPOLOGIES = ("embedded", "production-1", "production-2")
PHASES = ("download", "decode", "analyse", "store", "database")
USER_EMAIL = "bench@example.com"
SAMPLE_S = 0.2
TARGET_OVERHEAD = 0.10


# --- the library -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackSpec:
    index: int
    bpm: float
    key: str
    fmt: str

    @property
    def name(self) -> str:
        return f"track-{self.index:04d}.{self.fmt}"


def track_specs(n: int) -> list[TrackSpec]:
    """``n`` tracks, each with its own tempo (84-174 BPM), key and noise seed (its index)."""
    return [
        TrackSpec(
            index=i,
            bpm=84 + (i * 37) % 90 + 0.25 * (i % 4),
            key=KEYS[(i * 7) % len(KEYS)],
            fmt=FORMAT_CYCLE[i % len(FORMAT_CYCLE)],
        )
        for i in range(n)
    ]


def render(spec: TrackSpec, seconds: float, folder: Path) -> Path:
    target = folder / spec.name
    if target.exists():
        return target
    samples = click_track(bpm=spec.bpm, seconds=seconds, sr=SR, key=spec.key, seed=spec.index)
    partial = folder / f".{spec.name}.{os.getpid()}.partial"
    if spec.fmt == "ogg":
        _write_vorbis(partial, samples)
    else:
        write_audio(partial, samples, SR, spec.fmt)
    partial.rename(target)
    return target


def _write_vorbis(path: Path, samples: Any) -> None:
    # libvorbis allocates its look-ahead buffer on the stack: one write of more than about 90 s of stereo audio
    # overflows it and the process dies with SIGSEGV (libsndfile issue 1095). Blocks of a second are safe.
    import soundfile

    with soundfile.SoundFile(path, "w", SR, samples.shape[0], format="OGG", subtype="VORBIS") as out:
        for start in range(0, samples.shape[1], SR):
            out.write(samples[:, start : start + SR].T)


def build_library(n: int, seconds: float, run_dir: Path) -> tuple[Path, int]:
    """Render the missing tracks into the cache; hard-link exactly ``n`` of them into a folder for this run."""
    cache = OUT / "import_tracks" / f"{seconds:g}s"
    cache.mkdir(parents=True, exist_ok=True)
    specs = track_specs(n)
    missing = [s for s in specs if not (cache / s.name).exists()]
    if missing:
        started = time.perf_counter()
        print(f"rendering {len(missing)} tracks of {seconds:g} s into {cache} ...", flush=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for done, _ in enumerate(pool.map(render, missing, [seconds] * len(missing), [cache] * len(missing)), 1):
                if done % 10 == 0 or done == len(missing):
                    print(f"  {done}/{len(missing)} ({time.perf_counter() - started:.0f} s)", flush=True)
    library = run_dir / "library"
    library.mkdir(parents=True)
    size = 0
    for spec in specs:
        os.link(cache / spec.name, library / spec.name)
        size += (cache / spec.name).stat().st_size
    return library, size


# --- measuring the workers -------------------------------------------------------------------------------


@dataclass
class ProcStats:
    pid: int
    ppid: int
    peak_rss: int = 0
    hwm: int = 0
    cpu_first_s: float | None = None
    cpu_last_s: float = 0.0

    @property
    def cpu_s(self) -> float:
        """CPU time used while sampled (a process already running when sampling began counts from then)."""
        return self.cpu_last_s - (self.cpu_first_s or 0.0)


def _vm_hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples RSS, the RSS high-water mark and CPU time of a process and all its descendants."""

    def __init__(self, root: Callable[[], int | None]) -> None:
        super().__init__(daemon=True)
        self._root = root
        self._stop_event = threading.Event()
        self.stats: dict[int, ProcStats] = {}
        self.machine_busy_s = 0.0
        self._machine_before = _machine_busy_s()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(SAMPLE_S)

    def sample(self) -> None:
        pid = self._root()
        if pid is None:
            return
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in tree:
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    cpu = proc.cpu_times()
                    ppid = proc.ppid()
            except psutil.Error:
                continue
            stats = self.stats.setdefault(proc.pid, ProcStats(pid=proc.pid, ppid=ppid))
            stats.peak_rss = max(stats.peak_rss, rss)
            stats.hwm = max(stats.hwm, _vm_hwm(proc.pid))
            stats.cpu_last_s = cpu.user + cpu.system
            if stats.cpu_first_s is None:
                stats.cpu_first_s = stats.cpu_last_s

    def stop(self) -> None:
        self.sample()
        self.machine_busy_s = _machine_busy_s() - self._machine_before
        self._stop_event.set()
        self.join(timeout=5)


def _machine_busy_s() -> float:
    """CPU seconds every process on this machine has used since boot (all cores)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@dataclass(frozen=True)
class Analysis:
    status: str
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    timings: dict[str, float]
    worker: str | None


def read_analyses(url: str, dump: Path) -> tuple[list[Analysis], dt.datetime | None]:
    """Every analysis with its timings, and when the import finished its last chunk.

    The analyses are also written to ``dump`` (JSON) for a closer look after the run.
    """
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(AnalysisRun.status, AnalysisRun.started_at, AnalysisRun.completed_at, AnalysisRun.parameters)
            ).all()
            finished = [_aware(f) for f in conn.scalars(select(LibraryImport.finished_at))]
    finally:
        engine.dispose()
    dump.write_text(
        json.dumps(
            [
                {
                    "status": status,
                    "started_at": _iso(started),
                    "completed_at": _iso(completed),
                    "parameters": parameters,
                }
                for status, started, completed, parameters in rows
            ],
            indent=1,
        )
    )
    analyses = [
        Analysis(
            status=status,
            started_at=_aware(started),
            completed_at=_aware(completed),
            timings=dict((parameters or {}).get("timings_s", {})),
            worker=(parameters or {}).get("worker"),
        )
        for status, started, completed, parameters in rows
    ]
    return analyses, max((f for f in finished if f is not None), default=None)


def _iso(value: dt.datetime | None) -> str | None:
    aware = _aware(value)
    return aware.isoformat() if aware is not None else None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns the stored UTC times without their zone.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


@dataclass
class RunResult:
    topology: str
    storage: str
    pool_processes: int
    tracks: int
    library_bytes: int
    import_summary: dict[str, Any]
    wall_s: float
    launched_at: dt.datetime
    import_finished_at: dt.datetime | None
    analyses: list[Analysis]
    procs: dict[int, ProcStats]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    machine_busy_s: float
    notes: list[str] = field(default_factory=list)
    repetition: int = 0
    repetitions: int = 1

    @property
    def label(self) -> str:
        return f"{self.topology} #{self.repetition + 1}" if self.repetitions > 1 else self.topology

    # -- derived figures

    @property
    def succeeded(self) -> list[Analysis]:
        return [a for a in self.analyses if a.status == AnalysisStatus.succeeded]

    @property
    def failed(self) -> int:
        return sum(a.status == AnalysisStatus.failed for a in self.analyses)

    @property
    def tracks_per_minute(self) -> float:
        return len(self.succeeded) / (self.wall_s / 60)

    @property
    def import_s(self) -> float:
        return float(self.import_summary.get("seconds", float("nan")))

    def by_worker(self) -> dict[str, list[Analysis]]:
        groups: dict[str, list[Analysis]] = {}
        for a in self.succeeded:
            groups.setdefault(a.worker or "?", []).append(a)
        return groups

    def busy_s(self) -> float:
        """Per pool process, from the start of its first analysis to the end of its last one; summed."""
        total = 0.0
        for runs in self.by_worker().values():
            start = min(a.started_at for a in runs if a.started_at)
            end = max(a.completed_at for a in runs if a.completed_at)
            total += (end - start).total_seconds()
        return total

    def between_tasks_s(self) -> float:
        """Per pool process, the gaps between one analysis' completion and the start of its next one."""
        total = 0.0
        for runs in self.by_worker().values():
            ordered = sorted(runs, key=lambda a: a.started_at or self.launched_at)
            for before, after in itertools.pairwise(ordered):
                if before.completed_at and after.started_at:
                    total += (after.started_at - before.completed_at).total_seconds()
        return total

    def phase_s(self, phase: str) -> float:
        return sum(a.timings.get(phase, 0.0) for a in self.succeeded)

    def analysis_s(self) -> float:
        return self.phase_s("decode") + self.phase_s("analyse")

    def first_start_s(self) -> float:
        starts = [a.started_at for a in self.succeeded if a.started_at]
        return (min(starts) - self.launched_at).total_seconds() if starts else float("nan")

    def last_completion_s(self) -> float:
        ends = [a.completed_at for a in self.succeeded if a.completed_at]
        return (max(ends) - self.launched_at).total_seconds() if ends else float("nan")

    def pool_stats(self) -> list[ProcStats]:
        pids = {int(w.rsplit("/", 1)[1]) for w in self.by_worker() if "/" in w}
        return [s for pid, s in sorted(self.procs.items()) if pid in pids]

    def main_stats(self) -> list[ProcStats]:
        pool = {s.pid for s in self.pool_stats()}
        return [s for pid, s in sorted(self.procs.items()) if pid not in pool]

    def median_phase(self, phase: str) -> float:
        values = [a.timings[phase] for a in self.succeeded if phase in a.timings]
        return statistics.median(values) if values else float("nan")

    def median_analysis_s(self, *, during_import: bool) -> tuple[int, float]:
        """How many analyses started while the import still ran (or after it), and their median decode+analyse."""
        end = self.import_finished_at or self.launched_at
        values = [
            a.timings["decode"] + a.timings["analyse"]
            for a in self.succeeded
            if a.started_at is not None and "analyse" in a.timings and (a.started_at < end) == during_import
        ]
        return len(values), statistics.median(values) if values else float("nan")

    def median_task_s(self) -> float:
        values = [
            (a.completed_at - a.started_at).total_seconds() for a in self.succeeded if a.completed_at and a.started_at
        ]
        return statistics.median(values) if values else float("nan")


# --- the topologies --------------------------------------------------------------------------------------


class Moto:
    """moto's S3 server on loopback, for ``--storage s3``."""

    def __init__(self, processes: Processes) -> None:
        self.port = free_port()
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        self.proc = processes.start(
            "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], env
        )
        self.endpoint = f"http://127.0.0.1:{self.port}"
        wait_until(self._up, timeout=30, what="moto server", context=self.proc.tail)

    def _up(self) -> bool:
        import httpx

        try:
            httpx.get(self.endpoint, timeout=1)
        except httpx.HTTPError:
            return False
        return True

    def bucket_env(self) -> dict[str, str]:
        import boto3

        bucket = f"reftrack-bench-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        return {
            "REFTRACK_S3_ENDPOINT_URL": self.endpoint,
            "REFTRACK_S3_BUCKET": bucket,
            "REFTRACK_S3_ACCESS_KEY_ID": "testing",
            "REFTRACK_S3_SECRET_ACCESS_KEY": "bench-not-a-secret",
            "REFTRACK_S3_REGION": "us-east-1",
        }


def _log_has(proc: Proc, needle: str) -> bool:
    if not proc.alive():
        raise AssertionError(f"{proc.name} exited {proc.popen.poll()}\n{proc.tail()}")
    return needle in proc.output()


def _wait_worker_ready(proc: Proc) -> None:
    wait_until(
        lambda: _log_has(proc, " ready."), timeout=180, what=f"{proc.name}'s worker to be ready", context=proc.tail
    )


def _celery_child(serve: Proc) -> int | None:
    for child in serve.children():
        try:
            if child.ppid() == serve.pid and "celery" in " ".join(child.cmdline()):
                return int(child.pid)
        except psutil.Error:
            continue
    return None


def _run_import(
    name: str, library: Path, env: dict[str, str], run_dir: Path, extra: list[str], sampler: TreeSampler
) -> tuple[dict[str, Any], float, dt.datetime]:
    argv = cli("import", str(library), "--wait", "--format", "json", *extra)
    log = run_dir / f"{name}-import.log"
    launched_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with log.open("wb") as err:
        done = subprocess.run(argv, env=env, cwd=run_dir, stdout=subprocess.PIPE, stderr=err, check=False)
    wall = time.perf_counter() - started
    sampler.stop()
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0 or not out:
        raise RuntimeError(f"reftrack import exited {done.returncode}: {out[-2000:]}\n{log.read_text()[-4000:]}")
    summary: dict[str, Any] = json.loads(out.splitlines()[-1])
    return summary, wall, launched_at


def run_embedded(library: Path, size: int, n: int, run_dir: Path, processes: Processes) -> RunResult:
    data = run_dir / "embedded-data"
    env = clean_env({"REFTRACK_DATA_DIR": str(data)})
    port = free_port()
    serve = processes.start("serve", cli("serve", "--port", str(port)), env)
    wait_healthy(f"http://127.0.0.1:{port}", processes, [serve])
    _wait_worker_ready(serve)
    main_pid = _celery_child(serve)
    result = _measure(
        "embedded",
        main_pid,
        env,
        f"sqlite:///{data / 'reftrack.db'}",
        library=library,
        size=size,
        n=n,
        run_dir=run_dir,
        storage="local",
        notes=["worker procs: the pool processes that ran analyses, at serve's default concurrency"],
    )
    processes.terminate(serve)
    processes.stop(serve)
    return result


def _measure(
    topology: str,
    worker_pid: int,
    env: dict[str, str],
    database_url: str,
    *,
    library: Path,
    size: int,
    n: int,
    run_dir: Path,
    storage: str,
    import_args: tuple[str, ...] = (),
    pool_processes: int | None = None,
    notes: list[str] | None = None,
) -> RunResult:
    """Import the library against a running worker while sampling its processes, then read what was analysed.

    ``pool_processes`` defaults to the number of processes that ran analyses.
    """
    sampler = TreeSampler(lambda: worker_pid)
    load_before = os.getloadavg()
    sampler.start()
    summary, wall, launched_at = _run_import(topology, library, env, run_dir, list(import_args), sampler)
    load_after = os.getloadavg()
    analyses, import_finished_at = read_analyses(database_url, run_dir / f"{topology}-analyses.json")
    return RunResult(
        topology=topology,
        storage=storage,
        pool_processes=pool_processes or len({a.worker for a in analyses if a.status == AnalysisStatus.succeeded}),
        tracks=n,
        library_bytes=size,
        import_summary=summary,
        wall_s=wall,
        launched_at=launched_at,
        import_finished_at=import_finished_at,
        analyses=analyses,
        procs=sampler.stats,
        load_before=load_before,
        load_after=load_after,
        machine_busy_s=sampler.machine_busy_s,
        notes=notes or [],
    )


def run_production(
    concurrency: int,
    library: Path,
    size: int,
    n: int,
    run_dir: Path,
    processes: Processes,
    args: argparse.Namespace,
    moto: Moto | None,
) -> RunResult:
    import redis

    name = f"production-{concurrency}"
    redis.Redis.from_url(args.redis_url).flushdb()
    database_url = create_postgres_database(args.postgres_admin_url, prefix="reftrack_bench_import")
    try:
        env = clean_env(
            {
                "REFTRACK_ENVIRONMENT": "production",
                "REFTRACK_DATA_DIR": str(run_dir / f"{name}-data"),
                "REFTRACK_DATABASE_URL": database_url,
                "REFTRACK_BROKER_URL": args.redis_url,
                **(moto.bucket_env() if moto is not None else {}),
            }
        )
        run_cli(cli("migrate"), env, run_dir)
        run_cli(cli("users", "create", USER_EMAIL), env, run_dir)
        worker = processes.start(
            name, cli("worker", f"--concurrency={concurrency}", "--without-mingle", "--without-gossip"), env
        )
        _wait_worker_ready(worker)
        result = _measure(
            name,
            worker.pid,
            env,
            database_url,
            library=library,
            size=size,
            n=n,
            run_dir=run_dir,
            storage="s3 (moto)" if moto is not None else "local",
            import_args=("--user", USER_EMAIL),
            pool_processes=concurrency,
        )
        processes.terminate(worker)
        processes.stop(worker)
    finally:
        drop_postgres_database(database_url, args.postgres_admin_url)
    return result


# --- the report ------------------------------------------------------------------------------------------


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole > 0 else "-"


def _mib(value: int) -> str:
    return f"{value / 2**20:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in rows)]


def scaling_pairs(results: list[RunResult]) -> list[tuple[RunResult, RunResult]]:
    """production-1 and production-2 of the same repetition."""
    runs = {(r.topology, r.repetition): r for r in results}
    return [
        (runs[("production-1", k)], runs[("production-2", k)])
        for k in sorted({r.repetition for r in results})
        if ("production-1", k) in runs and ("production-2", k) in runs
    ]


def _spread(values: list[float], fmt: str) -> str:
    """The median, with the range when there is more than one value."""
    middle = format(statistics.median(values), fmt)
    if len(values) == 1:
        return middle
    return f"{middle} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def summary(results: list[RunResult]) -> list[str]:
    """One row per topology: medians (and ranges) over the repetitions."""
    repetitions = max(r.repetitions for r in results)
    out = [
        "## Summary" + (f" (median and range of {repetitions} runs each)" if repetitions > 1 else ""),
        "",
    ]
    header = [
        "topology",
        "tracks / min (e2e)",
        "import phase s",
        "overhead / analysis",
        "largest overhead (% of analysis)",
        "peak RSS per pool process MiB",
    ]
    rows = []
    for topology in dict.fromkeys(r.topology for r in results):
        runs = [r for r in results if r.topology == topology]
        largest: dict[str, list[float]] = {}
        for r in runs:
            parts = {"database": r.phase_s("database"), "between tasks": r.between_tasks_s()}
            name = max(parts, key=lambda k: parts[k])
            largest.setdefault(name, []).append(100 * parts[name] / r.analysis_s())
        rows.append(
            [
                topology,
                _spread([r.tracks_per_minute for r in runs], ".1f"),
                _spread([r.import_s for r in runs], ".1f"),
                _spread([100 * (r.busy_s() - r.analysis_s()) / r.analysis_s() for r in runs], ".1f") + " %",
                "; ".join(f"{name} {_spread(values, '.1f')} %" for name, values in largest.items()),
                f"{max(s.hwm for r in runs for s in r.pool_stats()) / 2**20:.0f}",
            ]
        )
    out += _table(header, rows)
    ratios = [two.tracks_per_minute / one.tracks_per_minute for one, two in scaling_pairs(results)]
    if ratios:
        out += ["", f"Scaling production 1 -> 2 worker processes: x{_spread(ratios, '.2f')} (linear: x2.00)."]
    out += [
        "",
        f"Targets: overhead under {TARGET_OVERHEAD:.0%} of analysis time; throughput linear in worker processes up to "
        f"the core count ({os.cpu_count()}). Peak RSS is the kernel's high-water mark of each pool process.",
        "",
    ]
    return out


def report(results: list[RunResult], args: argparse.Namespace, generated_s: float | None) -> str:
    cpu = platform.processor() or platform.machine()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        cpu,
    )
    first = results[0]
    out = [
        "# Library import throughput",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
        f"`{' '.join(['bench/import_throughput.py', *sys.argv[1:]])}` on {os.cpu_count()} cores ({model}), "
        f"Python {platform.python_version()}.",
        f"Library: {first.tracks} distinct {args.seconds:g}-second stereo 44.1 kHz tracks "
        f"({first.library_bytes / 2**20:.0f} MiB: 40 % FLAC, 30 % MP3, 20 % Ogg Vorbis, 10 % WAV)"
        + (f", rendered in {generated_s:.0f} s." if generated_s is not None else ", rendered earlier (cached)."),
        "Every figure below is measured in this run; none is estimated.",
        "",
        *summary(results),
        "## Throughput",
        "",
    ]
    header = [
        "topology",
        "storage",
        "worker procs",
        "ok / failed",
        "import phase s",
        "first analysis s",
        "last analysis s",
        "e2e wall s",
        "tracks / min",
        "median s / track",
    ]
    rows = [
        [
            r.label,
            r.storage,
            str(r.pool_processes),
            f"{len(r.succeeded)} / {r.failed}",
            f"{r.import_s:.1f}",
            f"{r.first_start_s():.1f}",
            f"{r.last_completion_s():.1f}",
            f"{r.wall_s:.1f}",
            f"{r.tracks_per_minute:.2f}",
            f"{r.median_task_s():.2f}",
        ]
        for r in results
    ]
    out += _table(header, rows)
    out += [
        "",
        "import phase: scan + hash + upload + insert, as `reftrack import` reports it (`seconds`), while the workers "
        "already analyse the first chunks. first/last analysis: from launching the import to the first analysis' "
        "start and the last one's completion. e2e wall: launching `reftrack import --wait` to its exit (it polls "
        "every second). median s / track: started_at to completed_at of one analysis.",
        "",
        "## Where the workers' time went",
        "",
    ]
    header = [
        "topology",
        "busy s",
        "decode+analyse",
        "overhead",
        "overhead / analysis",
        "download",
        "store",
        "database",
        "between tasks",
        "untimed in task",
    ]
    rows = []
    for r in results:
        busy, analysis = r.busy_s(), r.analysis_s()
        timed = sum(r.phase_s(p) for p in PHASES)
        between = r.between_tasks_s()
        target = TARGET_OVERHEAD * analysis
        rows.append(
            [
                r.label,
                f"{busy:.0f}",
                f"{analysis:.0f} s ({_pct(analysis, busy)})",
                f"{busy - analysis:.1f} s ({_pct(busy - analysis, busy)})",
                f"{_pct(busy - analysis, analysis)} {'ok' if busy - analysis < target else 'MISSED'}",
                f"{r.phase_s('download'):.1f}",
                f"{r.phase_s('store'):.1f}",
                f"{r.phase_s('database'):.1f}",
                f"{between:.1f}",
                f"{busy - timed - between:.1f}",
            ]
        )
    out += _table(header, rows)
    out += [
        "",
        f"busy: per pool process, first analysis start to last analysis end, summed. Overhead = busy - (decode + "
        f"analyse); the target is under {TARGET_OVERHEAD:.0%} of analysis time. Overhead columns in seconds, summed "
        "over all analyses: download of the original, storing waveforms and thumbnail, the database write up to its "
        "commit, the gaps between one analysis' end and the next one's start on the same process (commit, ack, "
        "broker hand-off, claim), and the rest (the claim before the download starts and the final commit).",
        "",
    ]
    for r in results:
        parts = {
            "download": r.phase_s("download"),
            "store": r.phase_s("store"),
            "database": r.phase_s("database"),
            "between tasks": r.between_tasks_s(),
        }
        parts["untimed in task"] = r.busy_s() - sum(r.phase_s(p) for p in PHASES) - parts["between tasks"]
        largest = max(parts, key=lambda k: parts[k])
        out.append(
            f"- {r.label}: the largest overhead is {largest}, {parts[largest]:.1f} s "
            f"({_pct(parts[largest], r.busy_s() - r.analysis_s())} of the overhead, "
            f"{_pct(parts[largest], r.analysis_s())} of analysis time)."
        )
    out += [
        "",
        "Median per track (s):",
        "",
    ]
    header = ["topology", *PHASES]
    rows = [[r.label, *(f"{r.median_phase(p):.3f}" for p in PHASES)] for r in results]
    out += _table(header, rows)
    out += ["", "Analyses started while the import was still scanning, hashing and uploading, against the rest:", ""]
    for r in results:
        (n_during, during), (n_after, after) = (r.median_analysis_s(during_import=flag) for flag in (True, False))
        out.append(
            f"- {r.label}: median decode+analyse {during:.2f} s for {n_during} analyses during the import phase, "
            f"{after:.2f} s for the {n_after} after it (x{during / after:.2f})."
        )

    out += ["", "## Scaling", ""]
    pairs = scaling_pairs(results)
    if not pairs:
        out += ["(needs production-1 and production-2)"]
    for one, two in pairs:
        ratio = two.tracks_per_minute / one.tracks_per_minute
        per_track = [r.analysis_s() / len(r.succeeded) for r in (one, two)]
        cores_used = sum(s.cpu_s for s in one.pool_stats()) / one.busy_s()
        out.append(
            f"- {one.label} -> {two.label}: {one.tracks_per_minute:.2f} -> {two.tracks_per_minute:.2f} "
            f"tracks/min end to end, x{ratio:.2f} (linear: x2.00 on {os.cpu_count()} cores). Mean decode+analyse "
            f"per track {per_track[0]:.2f} s alone -> {per_track[1]:.2f} s with two processes side by side "
            f"(x{per_track[1] / per_track[0]:.2f}), so the analysis alone allows at most "
            f"x{2 * per_track[0] / per_track[1]:.2f}. The single pool process kept {cores_used:.2f} cores "
            "busy on average (its FFTs use every core when it is alone)."
        )

    out += ["", "## Memory and CPU per worker process", ""]
    header = ["topology", "process", "peak RSS MiB (sampled)", "peak RSS MiB (VmHWM)", "CPU s", "CPU / busy"]
    rows = []
    for r in results:
        busy_by_pid = {}
        for worker, runs in r.by_worker().items():
            start = min(a.started_at for a in runs if a.started_at)
            end = max(a.completed_at for a in runs if a.completed_at)
            busy_by_pid[int(worker.rsplit("/", 1)[1])] = (end - start).total_seconds()
        for s in r.pool_stats():
            busy = busy_by_pid.get(s.pid, 0.0)
            rows.append(
                [
                    r.label,
                    f"pool {s.pid}",
                    _mib(s.peak_rss),
                    _mib(s.hwm),
                    f"{s.cpu_s:.0f}",
                    f"{s.cpu_s / busy:.2f}" if busy else "-",
                ]
            )
        for s in r.main_stats():
            rows.append([r.label, f"other {s.pid}", _mib(s.peak_rss), _mib(s.hwm), f"{s.cpu_s:.0f}", "-"])
    out += _table(header, rows)
    out += [
        "",
        "pool: the processes that ran analyses (named in each analysis' `parameters.worker`); other: the worker's "
        "main process (and the embedded worker's beat process). CPU / busy above 1.0 means a process used more than "
        "one core (threaded numerical libraries).",
        "",
        "## Conditions",
        "",
    ]
    for r in results:
        out.append(
            f"- {r.label}: load average before {r.load_before[0]:.2f}, after {r.load_after[0]:.2f} (1 min); "
            f"the machine was busy {r.machine_busy_s:.0f} CPU-s of {r.wall_s * (os.cpu_count() or 1):.0f} during the "
            f"run ({_pct(r.machine_busy_s, r.wall_s * (os.cpu_count() or 1))}), the worker processes "
            f"{sum(p.cpu_s for p in r.procs.values()):.0f} CPU-s (the rest: the import command, the database, the "
            "broker and anything else running); "
            f"{r.import_summary.get('imported')} imported, {r.import_summary.get('duplicates')} duplicates, "
            f"{r.import_summary.get('failed')} failed files; analyses {r.import_summary.get('analyses')}."
            + "".join(f" {note}." for note in r.notes)
        )
    return "\n".join(out) + "\n"


# --- main ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=200, help="tracks in the library (default 200)")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of each track (default 180)")
    parser.add_argument("--topologies", default=",".join(TOPOLOGIES), help=f"comma-separated subset of {TOPOLOGIES}")
    parser.add_argument("--storage", choices=("local", "s3"), default="local", help="production object storage")
    parser.add_argument("--postgres-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="a Redis database for this only")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the Markdown report")
    parser.add_argument("--keep", action="store_true", help="keep the run's data folders (objects, SQLite, logs)")
    parser.add_argument("--render-only", action="store_true", help="render the library into the cache and stop")
    parser.add_argument("--repeat", type=int, default=1, help="run every topology this many times, interleaved")
    args = parser.parse_args()
    topologies = [t.strip() for t in args.topologies.split(",") if t.strip()]
    unknown = set(topologies) - set(TOPOLOGIES)
    if unknown:
        parser.error(f"unknown topologies: {sorted(unknown)}")

    run_dir = OUT / "import_runs" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    cached = all((OUT / "import_tracks" / f"{args.seconds:g}s" / s.name).exists() for s in track_specs(args.tracks))
    started = time.perf_counter()
    library, size = build_library(args.tracks, args.seconds, run_dir)
    generated_s = None if cached else time.perf_counter() - started
    if args.render_only:
        shutil.rmtree(run_dir)
        print(f"{args.tracks} tracks ready ({size / 2**20:.0f} MiB)")
        return 0

    processes = Processes(run_dir, run_dir)
    results: list[RunResult] = []
    # A stray signal must still stop every process this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        moto = Moto(processes) if args.storage == "s3" and any(t != "embedded" for t in topologies) else None
        for repetition, topology in itertools.product(range(args.repeat), topologies):
            print(f"{topology} (run {repetition + 1}): importing {args.tracks} tracks ...", flush=True)
            folder = run_dir / f"run{repetition + 1}"
            folder.mkdir(exist_ok=True)
            if topology == "embedded":
                result = run_embedded(library, size, args.tracks, folder, processes)
            else:
                concurrency = int(topology.rsplit("-", 1)[1])
                result = run_production(concurrency, library, size, args.tracks, folder, processes, args, moto)
            result.repetition, result.repetitions = repetition, args.repeat
            results.append(result)
            print(
                f"{result.label}: {len(result.succeeded)} analysed in {result.wall_s:.1f} s, "
                f"{result.tracks_per_minute:.2f} tracks/min",
                flush=True,
            )
    finally:
        processes.close()
        if not args.keep:
            for data in run_dir.glob("*/*-data"):
                shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(run_dir / "library", ignore_errors=True)
    if not results:
        return 1
    text_report = report(results, args, generated_s)
    print(text_report)
    args.out.write_text(text_report)
    print(f"written to {args.out} (logs in {run_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
