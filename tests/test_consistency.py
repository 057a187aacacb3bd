"""Index consistency with real processes: several workers, kill -9, reindex under load."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import ROOT, TEST_KNOWLEDGE

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "resource_centre"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`resource-centre serve` on a free loopback port, in its own process group.

    Its output goes to `log` when given (read back with `log()`), else nowhere.
    """

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 1,
        *,
        options: Sequence[str] = (),
        log: Path | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.env = env
        self.workers = workers
        self.options = tuple(options)
        self.log_path = log
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        command = [*CLI, "serve", "--port", str(self.port), "--workers", str(self.workers)]
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                [*command, *self.options], env=self.env, cwd=self.cwd, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        """What the server wrote so far (empty without a log file)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text("utf-8", errors="replace")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
        RESOURCE_CENTRE_INDEX_DIR=str(tmp_path / "index"),
        RESOURCE_CENTRE_DATA_DIR=str(tmp_path / "data"),
        RESOURCE_CENTRE_KNOWLEDGE_DIR=str(TEST_KNOWLEDGE),
    )
    subprocess.run([*CLI, "init"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [*CLI, "import", str(TEST_KNOWLEDGE)], env=env, cwd=ROOT, check=True, capture_output=True
    )
    return env


@pytest.fixture
def server_factory():
    servers: list[Server] = []

    def make(env: dict[str, str], workers: int = 1) -> Server:
        server = Server(env, workers)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


def corpus_with_new_fiche(tmp_path: Path, title: str) -> Path:
    folder = tmp_path / "k2"
    shutil.copytree(TEST_KNOWLEDGE, folder, dirs_exist_ok=True)
    source = (folder / "fiches" / "epicerie-soumise.md").read_text("utf-8")
    text = source.replace("title: Épicerie solidaire en pied d'immeuble", f"title: {title}")
    text = text.replace("status: submitted", "status: published").replace(
        "published_at: null", "published_at: 2026-11-01"
    )
    (folder / "fiches" / "nouvelle-fiche.md").write_text(text, "utf-8")
    return folder


def found(url: str, word: str) -> tuple[bool, int]:
    body = httpx.get(f"{url}/api/writeups", params={"q": word}, timeout=5).json()
    pid = httpx.get(f"{url}/api/health", timeout=5).json()["worker"]
    return any(h["slug"] == "nouvelle-fiche" for h in body["data"]), pid


def test_import_by_another_process_is_found_on_every_worker_within_2s(
    env, tmp_path, server_factory
):
    server = server_factory(env, workers=2)
    folder = corpus_with_new_fiche(tmp_path, "Cuisine partagée zanzibar")
    subprocess.run(
        [*CLI, "import", str(folder)], env=env, cwd=ROOT, check=True, capture_output=True
    )
    committed = time.monotonic()
    workers_seen: dict[int, bool] = {}
    client = httpx.Client(timeout=5)
    while time.monotonic() - committed < 2.0:
        # New connections spread the requests over both workers.
        client.close()
        client = httpx.Client(timeout=5)
        body = client.get(f"{server.url}/api/writeups", params={"q": "zanzibar"}).json()
        health = client.get(f"{server.url}/api/health").json()
        workers_seen[health["worker"]] = any(h["slug"] == "nouvelle-fiche" for h in body["data"])
        if len(workers_seen) == 2 and all(workers_seen.values()):
            break
        time.sleep(0.05)
    client.close()
    elapsed = time.monotonic() - committed
    assert elapsed < 2.0, f"not visible everywhere after {elapsed:.2f}s: {workers_seen}"
    # And it stays visible on every worker afterwards.
    for _ in range(20):
        with httpx.Client(timeout=5) as c:
            assert any(
                h["slug"] == "nouvelle-fiche"
                for h in c.get(f"{server.url}/api/writeups", params={"q": "zanzibar"}).json()[
                    "data"
                ]
            )


def test_kill_9_after_a_commit_loses_nothing(env, tmp_path, server_factory):
    server = server_factory(env)
    folder = corpus_with_new_fiche(tmp_path, "Atelier couture patchwork")
    subprocess.run(
        [*CLI, "import", str(folder)], env=env, cwd=ROOT, check=True, capture_output=True
    )
    server.kill()  # right after the other process committed
    server = server_factory(env)
    deadline = time.monotonic() + 5
    while not found(server.url, "patchwork")[0]:
        assert time.monotonic() < deadline, "fiche lost after kill -9"
        time.sleep(0.1)
    check = subprocess.run([*CLI, "check"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_reindex_while_queries_run_answers_every_query(env, server_factory):
    server = server_factory(env, workers=2)
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def query_loop() -> None:
        nonlocal answered
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                response = client.get(f"{server.url}/api/writeups", params={"q": "jardin"})
                body = response.json()
                if response.status_code != 200 or body["total"] != 1:
                    failures.append(f"{response.status_code} {body.get('total')}")
                answered += 1

    threads = [threading.Thread(target=query_loop) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(3):
        result = subprocess.run(
            [*CLI, "reindex"], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    stop.set()
    for t in threads:
        t.join()
    assert answered > 20 and failures == []
