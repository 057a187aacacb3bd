"""A real server on the demo corpus, and Debian's Chromium driven by Playwright.

Nothing is downloaded: Chromium is the system one (`apt-get install chromium`), axe-core
comes from `npm ci`. When one of them is missing the browser tests skip with the reason,
unless RESOURCE_CENTRE_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.conftest import DEMO_KNOWLEDGE, ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REQUIRE_ENV = "RESOURCE_CENTRE_REQUIRE_BROWSER"
START_TIMEOUT = 60.0


def missing() -> str | None:
    """Return why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not chromium_path():
        return "Chromium is not installed (apt-get install -y chromium)"
    if not AXE.exists():
        return f"axe-core is missing ({AXE.relative_to(ROOT)}: run `npm ci`)"
    return None


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with the reason, or fail when the browser tests are required (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but the browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def browser_ready() -> None:
    reason = missing()
    if reason is not None:
        skip_or_fail(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).with_name("resource-centre")
    return [str(script)] if script.exists() else [sys.executable, "-m", "resource_centre"]


@pytest.fixture(scope="session")
def live_server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap the demo corpus into temporary directories and serve it with uvicorn."""
    work = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "RESOURCE_CENTRE_DATABASE_URL": f"sqlite:///{work / 'db' / 'resource_centre.db'}",
        "RESOURCE_CENTRE_INDEX_DIR": str(work / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(work / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(DEMO_KNOWLEDGE),
        "RESOURCE_CENTRE_PUBLIC_READ": "true",
    }
    # The working directory is the temporary one, so that no `.env` of the clone is read.
    boot = subprocess.run(
        [*_command(), "bootstrap"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert boot.returncode == 0, boot.stdout + boot.stderr
    port = _free_port()
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [*_command(), "serve", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if server.poll() is not None:
                pytest.fail(f"server exited: {(work / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/fiches", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready: {(work / 'server.log').read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def browser(browser_ready: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def open_page(browser: Any, width: int = 1280, height: int = 900, **options: Any) -> Iterator[Any]:
    """A fresh context and page; console errors (CSP violations included) are collected."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="fr-FR", **options
    )
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda message: message.type == "error" and page.console_errors.append(message.text),
    )
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    with open_page(browser, base_url=live_server) as opened:
        yield opened
    assert opened.console_errors == []
