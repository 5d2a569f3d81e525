"""``/docs`` and ``/redoc`` render in a real browser that can reach nothing but this service."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from service.app import create_app, wrap
from tests.fixtures.storage import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package 'chromium')")


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: str


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(wrap(create_app(), max_bytes=1 << 20), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def render(url: str) -> Rendered:
    """The page's DOM once its scripts have run, in headless Chromium whose every other host is unreachable."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    console = "\n".join(line for line in done.stderr.splitlines() if ":CONSOLE" in line)
    return Rendered(dom=done.stdout, console=console)


def test_swagger_ui_renders_every_operation_offline(base_url: str) -> None:
    # when
    page = render(f"{base_url}/docs")
    # then
    assert 'class="swagger-ui' in page.dom
    assert page.dom.count('class="opblock-summary-path"') >= 40
    assert 'data-path="/v1/auth/session"' in page.dom
    assert "Content Security Policy" not in page.console


def test_redoc_renders_the_document_offline(base_url: str) -> None:
    # when
    page = render(f"{base_url}/redoc")
    # then
    assert "Sign a browser in with an API token" in page.dom
    assert page.dom.count("operation-type") >= 40
    # The only thing refused: ReDoc's footer logo, which it loads from its CDN and hides when it cannot.
    refused = [line for line in page.console.splitlines() if "Content Security Policy" in line]
    assert all("https://cdn.redoc.ly/redoc/logo-mini.svg" in line for line in refused), refused
