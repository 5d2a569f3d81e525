"""Latency of the analysis data endpoints under concurrent load, against the real app served by uvicorn.

The script builds a throwaway deployment: a temporary data folder with local object storage and a SQLite
database (or the PostgreSQL database given by ``--database-url``, migrated to head). It renders a 10-minute
stereo track, uploads it to the app over HTTP, runs the queued analysis in this process through the worker flow
(``run_analysis``), then fires batches of concurrent requests for random 30-second windows at the features,
events and waveform endpoints and prints p50/p99 latency per endpoint and the overall throughput.

    uv run python bench/api_latency.py
    uv run python bench/api_latency.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/reftrack_bench
    uv run python bench/api_latency.py --requests 200 --concurrency 10 100

Each batch starts ``--requests`` requests per endpoint with at most ``--concurrency`` in flight (all 100 of
them at once by default), so latency includes the time a request waits behind the others; the sequential pass
(one request at a time) shows the service time alone. Requests send ``Accept-Encoding: gzip`` as browsers do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SR = 44100
TARGET_P99_MS = 50.0
WARMUP = 5


@dataclass(frozen=True)
class Target:
    name: str
    request: Callable[[random.Random], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Batch:
    latencies: list[float]
    wall: float
    received: int
    failures: dict[str, int]

    def row(self, name: str) -> str:
        ms = self.latencies or [float("nan")]
        failed = ", ".join(f"{n}x {what}" for what, n in sorted(self.failures.items())) or "-"
        return (
            f"  {name:<18} {statistics.median(ms):8.1f} {percentile(ms, 99):8.1f} {max(ms):8.1f}"
            f" {len(self.latencies) / self.wall:8.0f} {self.received / max(1, len(self.latencies)) / 1024:8.1f}"
            f"  {failed}"
        )


def render_track(path: Path, *, seconds: float, bpm: float = 120.0) -> None:
    """A stereo 16-bit WAV: a kick on every beat, hats on the off-beats, an A minor chord that swells per bar."""
    import soundfile

    n = round(seconds * SR)
    t = np.arange(n) / SR
    period = 60.0 / bpm
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63)) / 3
    bar = (t % (4 * period)) / (4 * period)
    left = 0.25 * chord * (0.4 + 0.6 * np.sin(np.pi * bar))
    right = left.copy()
    rng = np.random.default_rng(0)
    kick_t = np.arange(int(0.2 * SR)) / SR
    kick = 0.6 * np.sin(2 * np.pi * 55 * kick_t) * np.exp(-kick_t / 0.08)
    hat = 0.15 * rng.standard_normal(int(0.03 * SR)) * np.exp(-np.arange(int(0.03 * SR)) / (0.008 * SR))
    for k in range(int(seconds / period) + 1):
        start = round(k * period * SR)
        end = min(n, start + len(kick))
        left[start:end] += kick[: end - start]
        right[start:end] += kick[: end - start]
        off = round((k + 0.5) * period * SR)
        if off < n:
            end = min(n, off + len(hat))
            right[off:end] += hat[: end - off]
    samples = np.clip(np.stack([left, right], axis=1), -1.0, 1.0)
    soundfile.write(path, samples, SR, subtype="PCM_16")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "service.app:create_asgi_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def server_errors(log: Path) -> dict[str, int]:
    """The exceptions the server logged, by their final line."""
    found: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout\w*): ", line):
            key = line[:160]
            found[key] = found.get(key, 0) + 1
    return found


def wait_until_up(base_url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not come up")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def fire(
    base_url: str, headers: dict[str, str], target: Target, *, requests: int, concurrency: int, seed: int
) -> Batch:
    """Send ``requests`` requests, ``concurrency`` in flight; failures are counted, not raised.

    Each request slot has its own client and connection: one httpx client spreading a hundred requests over a
    hundred pooled connections spends more time in its pool than the server spends answering (a trivial
    endpoint drops from about 900 to 80 requests per second on two cores).
    """
    import httpx

    rng = random.Random(seed)
    calls = [target.request(rng) for _ in range(requests)]
    pending: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    for call in calls:
        pending.put_nowait(call)
    latencies: list[float] = []
    failures: dict[str, int] = {}
    received = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=60.0)
        for _ in range(min(concurrency, requests))
    ]

    async def slot(client: httpx.AsyncClient) -> None:
        nonlocal received
        while not pending.empty():
            path, params = pending.get_nowait()
            began = time.perf_counter()
            try:
                response = await client.get(path, params=params)
            except httpx.HTTPError as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                continue
            latencies.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                failures[str(response.status_code)] = failures.get(str(response.status_code), 0) + 1
            received += len(response.content)

    try:
        # Open the connections and warm the server's caches first (statement compilation, lazy imports), so the
        # batch measures steady-state requests and not TCP handshakes or first-call costs.
        await asyncio.gather(*(client.get("/healthz") for client in clients))
        for path, params in calls[:WARMUP]:
            (await clients[0].get(path, params=params)).raise_for_status()
        began = time.perf_counter()
        await asyncio.gather(*(slot(client) for client in clients))
        wall = time.perf_counter() - began
    finally:
        for client in clients:
            await client.aclose()
    return Batch(latencies=latencies, wall=wall, received=received, failures=failures)


def targets(track_id: str, features: list[str], *, duration: float, window: float, max_points: int) -> list[Target]:
    base = f"/v1/tracks/{track_id}"

    def span(rng: random.Random) -> dict[str, Any]:
        start = round(rng.uniform(0.0, duration - window), 3)
        return {"start": start, "end": round(start + window, 3)}

    return [
        Target(
            "features",
            lambda rng: (f"{base}/features/{rng.choice(features)}", {**span(rng), "max_points": max_points}),
        ),
        Target("events", lambda rng: (f"{base}/events", span(rng))),
        Target("waveform (json)", lambda rng: (f"{base}/waveform", {**span(rng), "pixels": max_points})),
        Target(
            "waveform (dat)", lambda rng: (f"{base}/waveform", {**span(rng), "pixels": max_points, "format": "dat"})
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (migrated to head); a temporary SQLite file if omitted")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the generated track")
    parser.add_argument("--requests", type=int, default=100, help="requests per endpoint and batch")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[100], help="requests in flight at once, one batch per value"
    )
    parser.add_argument("--window", type=float, default=30.0, help="window length in seconds")
    parser.add_argument("--max-points", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reftrack-bench-") as tmp:
        data_dir = Path(tmp)
        # Settings are read when ``service`` is first imported: the environment must be in place before.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFTRACK_")}
        env |= {"REFTRACK_DATA_DIR": str(data_dir), "REFTRACK_ENVIRONMENT": "development"}
        if args.database_url:
            env["REFTRACK_DATABASE_URL"] = args.database_url
        os.environ.clear()
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        return run(args, data_dir, env)


def run(args: argparse.Namespace, data_dir: Path, env: dict[str, str]) -> int:
    import httpx

    from service.analysis_run.flows import run_analysis
    from service.analysis_run.models import AnalysisStatus
    from service.config import settings
    from service.db import session_scope
    from service.migrate import migrate
    from service.storage import LocalStorage
    from service.user.service import user as user_service

    migrate(settings.sqlalchemy_url)
    with session_scope() as session:
        account = user_service.create(session, email=f"bench-{uuid.uuid4().hex[:8]}@example.com")
        token = user_service.issue_token(session, user=account).token
    headers = {"Authorization": f"Bearer {token}"}
    backend = "postgresql" if args.database_url else "sqlite"

    audio = data_dir / "bench.wav"
    began = time.perf_counter()
    render_track(audio, seconds=args.minutes * 60)
    print(f"rendered {args.minutes:g} min stereo 44.1 kHz in {time.perf_counter() - began:.1f} s")

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    server = start_server(env, port, log)
    try:
        wait_until_up(base_url, server)
        with audio.open("rb") as fh:
            upload = httpx.post(
                f"{base_url}/v1/tracks", headers=headers, files={"file": (audio.name, fh)}, timeout=300.0
            )
        upload.raise_for_status()
        track_id, analysis_id = upload.json()["id"], upload.json()["analysis"]["id"]
        began = time.perf_counter()
        state = run_analysis(
            uuid.UUID(analysis_id),
            session_scope=session_scope,
            storage=LocalStorage(settings.storage_dir),
            tmp_dir=settings.tmp_dir,
        )
        if state != AnalysisStatus.succeeded:
            raise RuntimeError(f"the analysis {state}")
        print(f"analysed through the worker flow in {time.perf_counter() - began:.1f} s")
        listing = httpx.get(f"{base_url}/v1/tracks/{track_id}/features", headers=headers).json()
        features = [f["name"] for f in listing["data"]]
        duration = args.minutes * 60

        print(
            f"\n{backend}, 1 uvicorn process, {os.cpu_count()} cores; {args.requests} requests per endpoint for"
            f" random {args.window:g} s windows, max_points={args.max_points}"
        )
        batches = [("sequential", 1)] + [(f"{min(c, args.requests)} concurrent", c) for c in args.concurrency if c > 1]
        total_requests = 0
        total_wall = 0.0
        for label, concurrency in batches:
            print(f"\n{label}:")
            print(f"  {'endpoint':<18} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8} {'KB/resp':>8}  failed")
            for number, target in enumerate(
                targets(track_id, features, duration=duration, window=args.window, max_points=args.max_points)
            ):
                batch = asyncio.run(
                    fire(
                        base_url,
                        headers,
                        target,
                        requests=args.requests,
                        concurrency=concurrency,
                        seed=args.seed * 100 + number,
                    )
                )
                total_requests += len(batch.latencies)
                total_wall += batch.wall
                print(batch.row(target.name), flush=True)
        print(f"\noverall: {total_requests} requests in {total_wall:.2f} s, {total_requests / total_wall:.0f} req/s")
        print(f"target: p99 < {TARGET_P99_MS:g} ms")
        for line, count in server_errors(log).items():
            print(f"server logged {count}x {line}")
        httpx.delete(f"{base_url}/v1/tracks/{track_id}", headers=headers).raise_for_status()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
