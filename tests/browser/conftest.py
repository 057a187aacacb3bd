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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class LiveEnv:
    """Where the live server keeps its data: the CLI run with `env` in `work` acts on it."""

    work: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def live_env(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> LiveEnv:
    work = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "RESOURCE_CENTRE_DATABASE_URL": f"sqlite:///{work / 'db' / 'resource_centre.db'}",
        "RESOURCE_CENTRE_INDEX_DIR": str(work / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(work / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(DEMO_KNOWLEDGE),
        "RESOURCE_CENTRE_PUBLIC_READ": "true",
    }
    return LiveEnv(work=work, env=env)


@pytest.fixture(scope="session")
def live_server(live_env: LiveEnv) -> Iterator[str]:
    """Bootstrap the demo corpus into temporary directories and serve it with uvicorn."""
    work, env = live_env.work, live_env.env
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


# --- accounts, sign-in, axe: shared by the contributor and curation tests ------------------


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    role: str
    regie: str | None


@pytest.fixture(scope="session")
def make_account(live_env: LiveEnv, live_server: str) -> Callable[..., Account]:
    """Create an account with `resource-centre create-user` on the live server's data.

    `reuse=True` hands back the account made earlier with the same role, Régie and name (a
    command takes about 2.5 s): for tests that only look at pages; flows take fresh ones.
    """
    made: dict[tuple[str, str | None, str], Account] = {}

    def make(
        role: str = "contributor", regie: str | None = None, name: str = "", reuse: bool = False
    ) -> Account:
        if reuse and (role, regie, name) in made:
            return made[role, regie, name]
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.org"
        password = f"phrase de passe {uuid.uuid4().hex[:8]}"
        command = [*_command(), "create-user", "--email", email, "--role", role]
        if regie:
            command += ["--regie", regie]
        if name:
            command += ["--name", name]
        done = subprocess.run(
            command, cwd=live_env.work, env=live_env.env, input=password + "\n",
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        account = Account(email=email, password=password, role=role, regie=regie)
        made[role, regie, name] = account
        return account

    return make


def sign_in(page: Any, account: Account) -> None:
    """Sign in through the real form; the server answers with "Mes fiches"."""
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(account.email)
    page.get_by_label("Mot de passe").fill(account.password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/mes-fiches")


AXE_SCRIPT = """async () => {
    const r = await axe.run(document, {resultTypes: ["violations"]});
    return r.violations.map(v => ({id: v.id, impact: v.impact,
        nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
}"""


def axe_serious(page: Any) -> list[str]:
    """Serious and critical axe-core violations of the page (its context must bypass the CSP)."""
    page.add_script_tag(path=str(AXE))
    return [
        f"{v['id']} ({v['impact']}): {v['nodes']}"
        for v in page.evaluate(AXE_SCRIPT)
        if v["impact"] in ("serious", "critical")
    ]


def focused(page: Any) -> dict[str, Any]:
    """What has the keyboard focus, and whether its focus ring shows."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {tag: el.tagName.toLowerCase(), id: el.id, type: el.type || "",
                    text: (el.textContent || "").trim(), href: el.getAttribute("href") || "",
                    outline: style.outlineStyle, shadow: style.boxShadow};
        }"""
    )


def tab_to(page: Any, wanted: Callable[[dict[str, Any]], bool], limit: int = 60) -> dict[str, Any]:
    """Press Tab until the focused element matches (its focus ring visible); fail after `limit`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        if wanted(element):
            assert element["outline"] != "none" or element["shadow"] != "none", element
            return element
    pytest.fail("focus never reached the expected element")


PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def unique_word() -> str:
    """A word no demo fiche contains (letters only, so that search finds it as typed)."""
    return "zq" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8])


def fill_fiche(page: Any, title: str, *, extra: dict[str, str] | None = None) -> None:
    """Fill what a fiche needs to be submitted: title, summary, a theme, required sections."""
    page.locator("#champ-title").fill(title)
    page.locator("#champ-summary").fill(
        "Une laverie tenue par des salariés en insertion, ouverte aux habitants du quartier."
    )
    page.locator("#champ-themes input[type=checkbox]").first.check()
    page.locator("#champ-year_start").fill("2022")
    texts = {
        "context": "Le quartier n'avait **aucune laverie** à moins de deux kilomètres.",
        "method": "### Les étapes\n\n- un diagnostic avec les habitants ;\n- un local loué au bailleur.",
        "lessons": "Associer le bailleur dès le début.",
        **(extra or {}),
    }
    for key, text in texts.items():
        page.locator(f"#champ-{key}").fill(text)
