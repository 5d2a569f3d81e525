"""The web app measured: first waveform paint in Chromium, and 20 simulated users browsing track pages.

The script starts ``reftrack serve`` (the embedded default: SQLite, local storage, its own worker) in a
temporary folder, uploads a 10-minute stereo track over HTTP and waits for its analysis. Then:

1. **First paint in Chromium** (Debian's ``/usr/bin/chromium`` through Playwright, never a downloaded browser):
   five times, a new browser profile signs in with the API token and opens the track page. The time is from
   navigation start to the first paint of both waveforms (the page sets ``window.reftrackFirstPaint`` right
   after it draws). The bytes and requests are those the browser transferred until then, from Resource
   Timing. The same is then measured warm (a reload with the assets cached).
2. **20 simultaneous users**: the requests the page made in (1), replayed by 20 users at once against the
   same server. Each user has its own cookie session, keeps at most 6 requests in flight as a browser does,
   and opens the track page ``--views`` times (the app's versioned assets only the first time: they are cached
   as immutable). Prints p50/p99 latency per kind of request and the errors.
   The audio is asked for as the media element does with ``preload=metadata``: its first 64 KiB.

    uv run python bench/web_app.py
    uv run python bench/web_app.py --users 20 --views 10 --seconds 600
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.api_latency import free_port, percentile, render_track

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN_LINE = re.compile(r"^(rt_[A-Za-z0-9_\-]+)$", re.MULTILINE)
BROWSER_CONNECTIONS = 6
AUDIO_PROBE_BYTES = 64 * 1024


def start_serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFTRACK_")}
    env |= {"REFTRACK_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "reftrack_cli.main", "serve", "--port", str(port)],
            cwd=data_dir.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise RuntimeError(f"timed out waiting for {what}")


def upload(base_url: str, token: str, path: Path) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=600) as api:
        with path.open("rb") as f:
            created = api.post("/v1/tracks", files={"file": (path.name, f, "audio/wav")}, data={"title": "Ten minutes"})
        created.raise_for_status()
        track_id = created.json()["id"]

        def analysed() -> dict[str, Any] | None:
            track: dict[str, Any] = api.get(f"/v1/tracks/{track_id}").json()
            if track["analysis"]["status"] == "failed":
                raise RuntimeError(f"the analysis failed: {track['analysis']}")
            return track if track["analysis"]["status"] == "succeeded" else None

        result: dict[str, Any] = wait_for("the analysis", analysed, 600)
        return result


def first_paint(base_url: str, token: str, track_id: str, runs: int) -> tuple[list[dict[str, Any]], list[str]]:
    """``runs`` cold page loads and one warm one; returns their figures and the URLs the page asked for."""
    from playwright.sync_api import sync_playwright

    figures: list[dict[str, Any]] = []
    urls: list[str] = []
    measure = """() => {
        const paint = window.reftrackFirstPaint;
        const nav = performance.getEntriesByType('navigation')[0];
        const resources = performance.getEntriesByType('resource').filter((e) => e.startTime <= paint.at);
        const all = [nav, ...resources];
        const waves = resources.filter((e) => e.name.includes('/waveform?'));
        return {
            ms: paint.at,
            requests: all.length,
            bytes: all.reduce((n, e) => n + e.transferSize, 0),
            waveform_bytes: waves.reduce((n, e) => n + e.transferSize, 0),
            waveform_requests: waves.length,
        };
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for run in range(runs + 1):
            warm = run == runs
            if not warm:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                signed_in = context.request.post(f"{base_url}/v1/auth/session", data={"token": token})
                assert signed_in.ok, signed_in.text()
                page = context.new_page()
                page.goto(f"{base_url}/#/tracks/{track_id}")
            else:
                page.reload()
            page.wait_for_selector("body[data-waveform=drawn]", timeout=60_000)
            result = page.evaluate(measure)
            result["warm"] = warm
            if not urls:
                # Everything the page asks for on opening, the requests that follow the first paint included.
                page.wait_for_load_state("networkidle")
                urls = page.evaluate(
                    "() => [performance.getEntriesByType('navigation')[0].name,"
                    " ...performance.getEntriesByType('resource').map((e) => e.name)]"
                )
            figures.append(result)
            if warm:
                context.close()
            elif run < runs - 1:
                context.close()
        browser.close()
    return figures, urls


def kind(url: str) -> str:
    path = urlsplit(url).path
    if path.startswith("/app/"):
        return "app asset"
    path = re.sub(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "/{id}", path)
    if "/features/" in path:
        return "/v1/tracks/{id}/features/{name}"
    return path


async def browse(base_url: str, token: str, urls: list[str], users: int, views: int) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    received = 0

    async def user() -> None:
        nonlocal received
        limits = httpx.Limits(max_connections=BROWSER_CONNECTIONS)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
            signed_in = await client.post("/v1/auth/session", json={"token": token})
            signed_in.raise_for_status()
            gate = asyncio.Semaphore(BROWSER_CONNECTIONS)

            async def get(url: str) -> None:
                nonlocal received
                async with gate:
                    started = time.perf_counter()
                    headers = {"Accept-Encoding": "gzip"}
                    if url.endswith("/audio"):
                        # A media element with preload=metadata reads the start of the file.
                        headers = {"Range": f"bytes=0-{AUDIO_PROBE_BYTES - 1}"}
                    try:
                        response = await client.get(url, headers=headers)
                        received += len(response.content)
                        if response.status_code >= 400:
                            errors[f"{response.status_code} {kind(url)}"] += 1
                    except httpx.HTTPError as exc:
                        errors[f"{type(exc).__name__} {kind(url)}"] += 1
                    latencies[kind(url)].append((time.perf_counter() - started) * 1000)

            for view in range(views):
                # The page, then what it asks for; from the second view on, the browser has the versioned
                # assets in its cache (immutable) and asks for them no more.
                rest = [u for u in urls[1:] if view == 0 or kind(u) != "app asset"]
                await get(urls[0])
                await asyncio.gather(*(get(u) for u in rest))

    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(users)))
    return {"latencies": latencies, "errors": errors, "wall": time.perf_counter() - started, "received": received}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the track (default 10 minutes)")
    parser.add_argument("--runs", type=int, default=5, help="cold first paints to take the median of")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--views", type=int, default=10, help="track page views per user")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="reftrack-web-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log = root / "serve.log"
        serve = start_serve(data_dir, port, log)
        try:
            token = wait_for("the token", lambda: (m := TOKEN_LINE.search(log.read_text())) and m.group(1), 120)
            wait_for("the service", lambda: _healthy(base_url), 120)
            audio = root / "ten-minutes.wav"
            render_track(audio, seconds=args.seconds)
            track = upload(base_url, token, audio)
            print(f"track: {args.seconds:.0f} s, {audio.stat().st_size / 1e6:.0f} MB WAV, analysed")

            figures, urls = first_paint(base_url, token, track["id"], args.runs)
            cold = [f for f in figures if not f["warm"]]
            warm = next(f for f in figures if f["warm"])
            print(f"\nfirst waveform paint in Chromium, 1280x800 (cold: new profile; median of {len(cold)})")
            print(f"  {'':<6} {'ms':>7} {'requests':>9} {'KB':>8} {'waveform requests':>18} {'waveform KB':>12}")
            for name, rows in (("cold", cold), ("warm", [warm])):
                print(
                    f"  {name:<6} {statistics.median(r['ms'] for r in rows):7.0f}"
                    f" {statistics.median(r['requests'] for r in rows):9.0f}"
                    f" {statistics.median(r['bytes'] for r in rows) / 1024:8.1f}"
                    f" {statistics.median(r['waveform_requests'] for r in rows):18.0f}"
                    f" {statistics.median(r['waveform_bytes'] for r in rows) / 1024:12.1f}"
                )
            cold_ms = ", ".join(f"{r['ms']:.0f}" for r in cold)
            print(f"  cold runs (ms): {cold_ms}")
            if os.environ.get("BENCH_VERBOSE"):
                print("\n".join(urls))

            result = asyncio.run(browse(base_url, token, urls, args.users, args.views))
            total = sum(len(v) for v in result["latencies"].values())
            later = sum(kind(u) != "app asset" for u in urls)
            rate = total / result["wall"]
            print(
                f"\n{args.users} simultaneous users, {args.views} track page views each ({len(urls)} requests on"
                f" the first view, {later} after): {total} requests in {result['wall']:.1f} s ({rate:.0f}/s),"
                f" {result['received'] / 1e6:.1f} MB"
            )
            print(f"  {'request':<42} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
            for name, ms in sorted(result["latencies"].items()):
                print(
                    f"  {name:<42} {len(ms):5d} {statistics.median(ms):8.1f} {percentile(ms, 99):8.1f} {max(ms):8.1f}"
                )
            print(f"  errors: {dict(result['errors']) or 'none'}")
            return 1 if result["errors"] else 0
        finally:
            os.killpg(serve.pid, 15)
            serve.wait(timeout=60)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
