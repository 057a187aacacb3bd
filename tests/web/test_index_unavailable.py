"""While the index is unavailable the API says so (503), pages say so in French (200), and
both answer with results again once the server's sync thread has rebuilt the index."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from resource_centre.search.indexer import CURRENT, LOCK_FILE
from resource_centre.search.lock import WriterLock
from resource_centre.search.service import INDEX_UNAVAILABLE
from tests.conftest import ROOT, TEST_KNOWLEDGE
from tests.test_consistency import CLI, Server

pytestmark = pytest.mark.slow


def wait_for_results(url: str, seconds: float = 30) -> dict:
    """Poll the API until it answers 200 with hits (bounded wait); return the body."""
    deadline = time.monotonic() + seconds
    while True:
        response = httpx.get(f"{url}/api/writeups", params={"q": "jardin"}, timeout=10)
        if response.status_code == 200 and response.json()["total"] > 0:
            return response.json()
        assert time.monotonic() < deadline, (response.status_code, response.text[:300])
        time.sleep(0.1)


def remove_generations(index_dir: Path) -> None:
    """Remove the live link and every generation, as a lost or wiped disk would."""
    (index_dir / CURRENT).unlink()
    for generation in index_dir.glob("gen-*"):
        shutil.rmtree(generation)


def test_api_answers_503_while_the_index_is_unavailable_then_200(database_url, tmp_path):
    index_dir = tmp_path / "index"
    env = {
        **os.environ,
        "RESOURCE_CENTRE_DATABASE_URL": database_url,
        "RESOURCE_CENTRE_INDEX_DIR": str(index_dir),
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(TEST_KNOWLEDGE),
    }
    subprocess.run(
        [*CLI, "import", str(TEST_KNOWLEDGE)], env=env, cwd=ROOT, check=True, capture_output=True
    )
    server = Server(env)
    server.start()
    try:
        before = wait_for_results(server.url)
        # Holding the writer lock keeps the server's sync thread from rebuilding at once,
        # so that the unavailable index is seen for certain; releasing it lets it rebuild.
        lock = WriterLock(index_dir / LOCK_FILE)
        assert lock.acquire(timeout=30)
        try:
            remove_generations(index_dir)
            for params in ({}, {"q": "jardin"}, {"theme": "lien-social", "page": "2"}):
                api = httpx.get(f"{server.url}/api/writeups", params=params, timeout=10)
                assert api.status_code == 503, (params, api.text[:300])
                assert api.headers["content-type"] == "application/json"
                assert api.json() == {"detail": INDEX_UNAVAILABLE}
            page = httpx.get(f"{server.url}/fiches", params={"q": "jardin"}, timeout=10)
            assert page.status_code == 200 and "momentanément indisponible" in page.text
            health = httpx.get(f"{server.url}/api/health", timeout=10).json()
            assert health["status"] == "degraded" and health["index_journal_id"] is None
        finally:
            lock.release()
        after = wait_for_results(server.url)
        assert after["total"] == before["total"]
        assert {h["slug"] for h in after["data"]} == {h["slug"] for h in before["data"]}
        # A search that finds nothing is still 200: "no fiche" differs from "broken".
        nothing = httpx.get(f"{server.url}/api/writeups", params={"q": "zzzqqq"}, timeout=10)
        assert nothing.status_code == 200 and nothing.json()["total"] == 0
        health = httpx.get(f"{server.url}/api/health", timeout=10).json()
        assert isinstance(health["search_fast_path"], bool)
    finally:
        server.stop()
