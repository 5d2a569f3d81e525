"""Helpers for the end-to-end tests: real ``reftrack`` processes, bounded waits, and checks of what an analysis
left in the database and in object storage.

Every process runs in its own session with its output in a log file; :class:`Processes` kills each whole
process group (and any descendant that started its own session, such as the embedded worker of
``reftrack serve``) when the test ends, whatever its outcome.
"""

from __future__ import annotations

import math
import os
import re
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameData, FrameManifest

T = TypeVar("T")

STARTUP_TIMEOUT_S = 120.0
ANALYSIS_TIMEOUT_S = 180.0
POLL_S = 0.25
LOG_TAIL_LINES = 40

# What TrackAnalysis.summary() returns, plus the decoder's description of the source the service adds.
SUMMARY_FIELDS = frozenset(
    {
        "duration_s",
        "sample_rate",
        "channels",
        "bpm",
        "bpm_confidence",
        "key",
        "key_confidence",
        "n_beats",
        "n_onsets",
        "rms_db_mean",
        "rms_db_max",
        "spectral_centroid_hz_mean",
        "analyzer_version",
        "source",
    }
)
FEATURES = frozenset(
    {
        "rms",
        "spectral_centroid",
        "spectral_rolloff",
        "spectral_flatness",
        "onset_strength",
        "mfcc",
        "chroma",
        "tonal_bands",
        "stereo_width",
        "stereo_correlation",
        "local_tempo",
        "momentary_loudness",
        "short_term_loudness",
    }
)
# Every analysis stores these in its own folder beside the original: the finest overview, coarser zoom levels
# and a thumbnail.
OVERVIEW_OBJECTS = (
    "thumbnail.png",
    "waveform-1024.dat",
    "waveform-2048.dat",
    "waveform-4096.dat",
    "waveform-512.dat",
    "waveform.dat",
)


def track_objects(analysis_id: str) -> list[str]:
    """A track's stored objects after one analysis, relative to the track's folder, sorted."""
    return sorted(["original.wav", *(f"analyses/{analysis_id}/{name}" for name in OVERVIEW_OBJECTS)])


FEATURE_DIMENSIONS = dict.fromkeys(FEATURES, 1) | {"mfcc": 13, "chroma": 12, "tonal_bands": 6}
ITEM_SIZES = {"float16": 2, "float32": 4}

_TOKEN_LINE = re.compile(r"^(rt_\S+)\s*$", re.MULTILINE)
_DAT_HEADER = struct.Struct("<iIiiIi")
_POLL_ACCESS_LINE = re.compile(r'"GET [^"]*" 200 OK$')


def clean_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``REFTRACK_*`` variable, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFTRACK_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def cli(*args: str) -> list[str]:
    """The argv of ``reftrack ARGS`` run by this interpreter."""
    return [sys.executable, "-m", "reftrack_cli.main", *args]


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, without the access-log lines of successful polls."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"<{path.name}: no log>"
    kept = [line for line in text.splitlines() if not _POLL_ACCESS_LINE.search(line)]
    return "\n".join(kept[-lines:])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    descendants: list[psutil.Process] = field(default_factory=list)
    stopped: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return tail(self.log_path, lines)

    def children(self) -> list[psutil.Process]:
        try:
            children: list[psutil.Process] = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []
        return children

    def remember_descendants(self) -> None:
        """Record the processes below this one, so they can be stopped even once it is gone."""
        known = {p.pid for p in self.descendants}
        self.descendants.extend(p for p in self.children() if p.pid not in known)


class Processes:
    """Starts processes in their own sessions and always stops every one of them."""

    def __init__(self, log_dir: Path, cwd: Path) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.started: list[Proc] = []
        self._counts: dict[str, int] = {}

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Proc:
        self._counts[name] = self._counts.get(name, 0) + 1
        label = name if self._counts[name] == 1 else f"{name}-{self._counts[name]}"
        log_path = self.log_dir / f"{label}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=self.cwd,
                start_new_session=True,
            )
        proc = Proc(name=label, popen=popen, log_path=log_path)
        self.started.append(proc)
        return proc

    def kill(self, proc: Proc) -> None:
        """SIGKILL the whole process group at once, as a crash or the OOM killer would."""
        proc.remember_descendants()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.popen.wait(timeout=30)

    def terminate(self, proc: Proc, timeout: float = 60.0) -> list[psutil.Process]:
        """SIGTERM the process alone, as ``kill PID`` or a service manager would, and wait for it to exit.

        Returns the descendants still running a moment later: a process that shuts down cleanly leaves none.
        """
        proc.remember_descendants()
        proc.popen.send_signal(signal.SIGTERM)
        try:
            proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{proc.name} did not exit {timeout:.0f} s after SIGTERM\n{proc.tail()}") from None
        alive: list[psutil.Process] = psutil.wait_procs(proc.descendants, timeout=2)[1]
        return alive

    def stop(self, proc: Proc) -> None:
        """SIGKILL the process group, then any descendant that left it (e.g. into its own session)."""
        if proc.stopped:
            return
        proc.remember_descendants()
        if proc.popen.returncode is None:  # not reaped yet, so the group id cannot name anyone else's group
            _signal_group(proc.pid, signal.SIGKILL)
            proc.popen.wait(timeout=30)
        for child in proc.descendants:
            try:
                child.kill()  # psutil checks that the pid still names the same process
            except psutil.Error:
                pass
        psutil.wait_procs(proc.descendants, timeout=10)
        proc.stopped = True

    def close(self) -> None:
        for proc in reversed(self.started):
            self.stop(proc)

    def logs(self) -> str:
        """The tail of every log, for assertion messages."""
        return "\n".join(f"----- {p.name} (pid {p.pid}, exit {p.popen.poll()}) -----\n{p.tail()}" for p in self.started)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_cli(argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120.0) -> str:
    """Run a short ``reftrack`` command to completion; its stdout, or a failure showing its output."""
    done = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        start_new_session=True,
    )
    assert done.returncode == 0, (
        f"{' '.join(argv[2:])} exited {done.returncode}\nstdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    )
    return done.stdout


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    context: Callable[[], str] = lambda: "",
    interval: float = POLL_S,
) -> T:
    """Poll ``check`` until it returns something other than ``None`` (or a falsy value), for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{context()}")
        time.sleep(interval)


def read_token(proc: Proc, *, timeout: float = STARTUP_TIMEOUT_S) -> str:
    """The API token ``reftrack serve`` prints alone on a line on first start."""

    def found() -> str | None:
        match = _TOKEN_LINE.search(proc.output())
        if match is None and not proc.alive():
            raise AssertionError(f"{proc.name} exited {proc.popen.poll()} before printing a token\n{proc.tail()}")
        return match.group(1) if match else None

    return wait_until(found, timeout=timeout, what=f"{proc.name} to print its token", context=proc.tail)


def printed_tokens(proc: Proc) -> list[str]:
    return _TOKEN_LINE.findall(proc.output())


_LOGIN_URL_LINE = re.compile(r"^    (http://\S+/auth/login\?ticket=\S+)\s*$", re.MULTILINE)


def printed_login_urls(proc: Proc) -> list[str]:
    """The one-time sign-in links ``reftrack serve`` printed, each indented on a line of its own."""
    return _LOGIN_URL_LINE.findall(proc.output())


def wait_healthy(base_url: str, procs: Processes, watch: Sequence[Proc]) -> dict[str, Any]:
    """Wait for ``GET /healthz`` to answer 200; fail at once if a watched process exits."""
    last: list[str] = []

    def healthy() -> dict[str, Any] | None:
        for proc in watch:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited {proc.popen.poll()} during startup\n{procs.logs()}")
        try:
            response = httpx.get(f"{base_url}/healthz", timeout=5)
        except httpx.HTTPError as exc:
            last[:] = [repr(exc)]
            return None
        last[:] = [f"{response.status_code} {response.text}"]
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 else None

    body = wait_until(
        healthy,
        timeout=STARTUP_TIMEOUT_S,
        what=f"{base_url}/healthz",
        context=lambda: f"last answer: {last}\n{procs.logs()}",
    )
    for proc in watch:
        proc.remember_descendants()
    return body


def upload(client: httpx.Client, path: Path) -> httpx.Response:
    with open(path, "rb") as body:
        return client.post("/v1/tracks", files={"file": (path.name, body, "audio/wav")})


def analysis_status(client: httpx.Client, track_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/tracks/{track_id}/analysis")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_status(
    client: httpx.Client,
    track_id: str,
    status: str,
    procs: Processes,
    timeout: float = ANALYSIS_TIMEOUT_S,
    interval: float = POLL_S,
) -> dict[str, Any]:
    """Poll the track's analysis until it reaches ``status``; fail fast when it fails instead."""
    seen: list[str] = []

    def reached() -> dict[str, Any] | None:
        body = analysis_status(client, track_id)
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] == "failed" and status != "failed":
            raise AssertionError(f"analysis failed: {body['error_message']}\n{procs.logs()}")
        if body["status"] == "succeeded" and status != "succeeded":
            raise AssertionError(f"analysis finished before reaching {status!r}: {body}\n{procs.logs()}")
        return body if body["status"] == status else None

    return wait_until(
        reached,
        timeout=timeout,
        interval=interval,
        what=f"analysis status {status!r}",
        context=lambda: f"statuses seen: {seen}\n{procs.logs()}",
    )


@dataclass(frozen=True)
class Waveform:
    version: int
    flags: int
    sample_rate: int
    samples_per_pixel: int
    length: int
    channels: int
    values: int


def parse_waveform(data: bytes) -> Waveform:
    """Parse an audiowaveform v2 ``.dat`` file, checking that the body holds exactly the declared values."""
    assert len(data) >= _DAT_HEADER.size, f"waveform is {len(data)} bytes, shorter than its header"
    version, flags, sample_rate, spp, length, channels = _DAT_HEADER.unpack_from(data)
    value_size = 1 if flags & 0x1 else 2
    body = len(data) - _DAT_HEADER.size
    assert body == length * channels * 2 * value_size, (
        f"waveform body is {body} bytes; header declares {length} pixels x {channels} channels x (min, max)"
    )
    return Waveform(version, flags, sample_rate, spp, length, channels, body // value_size)


def check_waveform(data: bytes, *, sample_rate: int, channels: int, frames: int) -> None:
    waveform = parse_waveform(data)
    assert (waveform.version, waveform.flags, waveform.sample_rate, waveform.channels) == (2, 0, sample_rate, channels)
    assert waveform.length == math.ceil(frames / waveform.samples_per_pixel)
    assert waveform.values == waveform.length * channels * 2


def expected_beats(bpm: float, seconds: float) -> int:
    return math.ceil(seconds * bpm / 60.0)


def check_track(track: dict[str, Any], *, bpm: float, key: str, seconds: float) -> None:
    assert track["bpm"] is not None
    assert abs(track["bpm"] - bpm) <= 0.02 * bpm, f"bpm {track['bpm']} is not within 2 % of {bpm}"
    assert track["key"] == key
    assert abs(track["duration_seconds"] - seconds) <= 0.01
    assert (track["file_format"], track["sample_rate"], track["channels"], track["bit_depth"]) == (
        "wav",
        44100,
        2,
        16,
    )
    assert track["has_waveform"] is True


def check_results(analysis: dict[str, Any], *, bpm: float, key: str, seconds: float) -> None:
    results = analysis["results"]
    assert SUMMARY_FIELDS <= set(results), f"results lack {sorted(SUMMARY_FIELDS - set(results))}"
    assert abs(results["duration_s"] - seconds) <= 0.01
    assert (results["sample_rate"], results["channels"], results["key"]) == (44100, 2, key)
    assert abs(results["bpm"] - bpm) <= 0.02 * bpm
    expected = expected_beats(bpm, seconds)
    assert abs(results["n_beats"] - expected) <= 2, f"{results['n_beats']} beats, expected ~{expected}"
    source = results["source"]
    assert (source["format"], source["codec"], source["sample_rate"], source["channels"], source["bit_depth"]) == (
        "wav",
        "pcm_16",
        44100,
        2,
        16,
    )
    assert abs(source["duration_s"] - seconds) <= 0.01
    assert analysis["analyzer_version"] == results["analyzer_version"]
    assert analysis["error_message"] is None


@dataclass(frozen=True)
class StoredOutputs:
    manifests: dict[str, FrameManifest]
    n_manifest_rows: int
    n_beats: int
    n_distinct_beat_times: int
    n_onsets: int


def check_stored_outputs(engine: Engine, analysis_id: str, *, bpm: float, seconds: float) -> StoredOutputs:
    """Check the frame manifests, their chunks and the beat events one analysis wrote."""
    aid = uuid.UUID(analysis_id)
    with Session(engine) as session:
        manifests = list(session.scalars(select(FrameManifest).where(FrameManifest.analysis_id == aid)))
        by_name = {m.feature: m for m in manifests}
        assert len(manifests) == len(by_name), f"duplicate manifests: {sorted(m.feature for m in manifests)}"
        assert set(by_name) == FEATURES
        for name, manifest in by_name.items():
            expected_frames = 1 + seconds / manifest.hop_seconds
            assert abs(manifest.n_frames - expected_frames) <= 1, (
                f"{name}: {manifest.n_frames} frames for {seconds} s at hop {manifest.hop_seconds}"
            )
            assert manifest.dimensions == FEATURE_DIMENSIONS[name]
            assert abs(manifest.frame_rate * manifest.hop_seconds - 1.0) <= 1e-9
            chunks = list(
                session.execute(
                    select(
                        FrameData.chunk_index, FrameData.start_frame, FrameData.n_frames, func.length(FrameData.data)
                    )
                    .where(FrameData.manifest_id == manifest.id)
                    .order_by(FrameData.chunk_index)
                )
            )
            assert [c.chunk_index for c in chunks] == list(range(manifest.n_chunks))
            assert sum(c.n_frames for c in chunks) == manifest.n_frames
            assert [c.start_frame for c in chunks] == [i * manifest.chunk_frames for i in range(len(chunks))]
            item = ITEM_SIZES[manifest.dtype]
            assert [c[3] for c in chunks] == [c.n_frames * manifest.dimensions * item for c in chunks]

        beats = select(AnalysisEvent.time_seconds).where(
            AnalysisEvent.analysis_id == aid, AnalysisEvent.event_type == "beat"
        )
        n_beats = session.scalar(select(func.count()).select_from(beats.subquery())) or 0
        n_distinct = (
            session.scalar(
                select(func.count(func.distinct(AnalysisEvent.time_seconds))).where(
                    AnalysisEvent.analysis_id == aid, AnalysisEvent.event_type == "beat"
                )
            )
            or 0
        )
        n_onsets = (
            session.scalar(
                select(func.count()).where(AnalysisEvent.analysis_id == aid, AnalysisEvent.event_type == "onset")
            )
            or 0
        )
        run = session.get(AnalysisRun, aid)
        assert run is not None
        results = run.results or {}
    expected = expected_beats(bpm, seconds)
    assert abs(n_beats - expected) <= 2, f"{n_beats} beat events for {seconds} s at {bpm} BPM (~{expected})"
    assert n_beats == n_distinct, f"{n_beats} beat events but {n_distinct} distinct beat times"
    assert (n_beats, n_onsets) == (results.get("n_beats"), results.get("n_onsets"))
    return StoredOutputs(by_name, len(manifests), n_beats, n_distinct, n_onsets)
