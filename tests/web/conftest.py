"""Fixtures of the browser tests: a real ``reftrack serve`` (the embedded default, with its own worker) on a free
loopback port, and Debian's Chromium driven by Playwright for Python.

The browser is never downloaded: the tests use ``/usr/bin/chromium`` and skip, saying so, when it is missing,
except in CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.stacks import write_click_wav
from tests.e2e.support import Proc, Processes, clean_env, cli, read_token, wait_healthy, wait_until
from tests.fixtures.storage import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright

CHROMIUM = Path(os.environ.get("REFTRACK_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
LOGIN_URL = re.compile(r"(http://\S+/auth/login\?ticket=[A-Za-z0-9_\-]+)")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser tests"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Served:
    """A running ``reftrack serve`` and what it printed."""

    base_url: str
    data_dir: Path
    env: dict[str, str]
    serve: Proc
    token: str
    login_url: str

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token or self.token}"}, timeout=60
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_chromium()
    root = tmp_path_factory.mktemp("served")
    logs = root / "logs"
    logs.mkdir()
    processes = Processes(logs, cwd=root)
    try:
        data_dir = root / "data"
        port = free_port()
        env = clean_env({"REFTRACK_DATA_DIR": str(data_dir)})
        serve = processes.start("serve", cli("serve", "--port", str(port)), env)
        base_url = f"http://127.0.0.1:{port}"
        token = read_token(serve)

        def printed_login_url() -> str | None:
            match = LOGIN_URL.search(serve.output())
            return match.group(1) if match else None

        login_url = wait_until(printed_login_url, timeout=60, what="serve to print its sign-in URL", context=serve.tail)
        wait_healthy(base_url, processes, [serve])
        yield Served(base_url=base_url, data_dir=data_dir, env=env, serve=serve, token=token, login_url=login_url)
    finally:
        processes.close()


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two short drum patterns (distinct bytes) and a file that is not audio."""
    folder = tmp_path_factory.mktemp("upload")
    files = {
        "groove-one.wav": write_click_wav(folder / "groove-one.wav", seconds=16.0, seed=1),
        "groove-two.wav": write_click_wav(folder / "groove-two.wav", seconds=12.0, seed=2),
    }
    notes = folder / "notes.txt"
    notes.write_text("not audio\n")
    files["notes.txt"] = notes
    return files


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests put their screenshots (printed, so a person can look at them)."""
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"screenshots: {folder}")  # noqa: T201
    return folder


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Playwright gives the browser a new, empty profile of its own and removes it afterwards.
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def local_context(browser: Browser, served: Served) -> Iterator[BrowserContext]:
    """The local user's browser, signed in once through the URL ``reftrack serve`` printed."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(served.login_url)
    page.wait_for_selector("#account-email:has-text('@')")
    page.close()
    try:
        yield context
    finally:
        context.close()
