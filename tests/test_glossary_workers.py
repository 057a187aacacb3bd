"""A curator edits a glossary entry over HTTP and, within 2 s, the search of every worker of
a real `serve --workers 2` uses it.

The search says what a glossary term added in the JSON `notices` of `/api/writeups`
("Recherche élargie : ACI = …"): the test waits for the new long form there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import DEMO_KNOWLEDGE, ROOT, TEST_KNOWLEDGE
from tests.test_consistency import CLI, Server

pytestmark = pytest.mark.slow
EMAIL = "curation@glossaire.example"
PASSWORD = "mot de passe des workers"
NEW_FORM = "chantier zanzibar"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
        RESOURCE_CENTRE_INDEX_DIR=str(tmp_path / "index"),
        RESOURCE_CENTRE_DATA_DIR=str(tmp_path / "data"),
        RESOURCE_CENTRE_KNOWLEDGE_DIR=str(TEST_KNOWLEDGE),
    )
    folder = tmp_path / "k"
    shutil.copytree(TEST_KNOWLEDGE, folder)
    shutil.copy(DEMO_KNOWLEDGE / "glossary.yaml", folder / "glossary.yaml")
    for command in (["init"], ["import", str(folder)]):
        subprocess.run([*CLI, *command], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [*CLI, "create-user", "--email", EMAIL, "--role", "curator"],
        env=env, cwd=ROOT, check=True, capture_output=True, input=f"{PASSWORD}\n", text=True,
    )  # fmt: skip
    return env


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    server = Server(env, workers=2, log=tmp_path / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{128})"', page)
    assert match, "no csrf_token in the page"
    return match.group(1)


def each_worker(url: str, seen: dict[int, bool], check) -> None:
    """One search on a new connection (connections spread over the workers), its worker."""
    with httpx.Client(base_url=url, timeout=5) as client:
        body = client.get("/api/writeups", params={"q": "ACI"}).json()
        worker = client.get("/api/health").json()["worker"]
    seen[worker] = check(body["notices"])


def until_every_worker(url: str, check, limit: float) -> float:
    """Seconds until both workers' searches pass `check`; fails after `limit`."""
    started = time.monotonic()
    seen: dict[int, bool] = {}
    log = []
    while not (len(seen) == 2 and all(seen.values())):
        assert time.monotonic() - started < limit, f"after {limit} s: {seen} {log}"
        each_worker(url, seen, check)
        log.append((round(time.monotonic() - started, 2), dict(seen)))
        time.sleep(0.02)
    return time.monotonic() - started


def test_an_entry_edited_over_http_reaches_every_worker_within_2s(server):
    # Both workers have searched with the glossary (their background reads are running).
    until_every_worker(
        server.url, lambda n: any("ACI = atelier et chantier d'insertion" in x for x in n), 10
    )
    with httpx.Client(base_url=server.url, timeout=10) as curator:
        token = csrf(curator.get("/connexion").text)
        signed = curator.post("/connexion", data={"email": EMAIL, "password": PASSWORD,
                                                  "csrf_token": token})  # fmt: skip
        assert signed.status_code == 303, signed.text
        listing = curator.get("/curation/glossaire").text
        entry_id = re.search(
            r'href="/curation/glossaire/(\d+)">Modifier<span[^>]*> « ACI »', listing
        )
        assert entry_id, "no ACI entry on the curators' page"
        page = f"/curation/glossaire/{entry_id.group(1)}"
        token = csrf(curator.get(page).text)
        saved = curator.post(page, data={
            "csrf_token": token, "term": "ACI", "kind": "acronym",
            "expansions": f"atelier et chantier d'insertion\n{NEW_FORM}",
            "definition": "Chantier d'insertion (définition modifiée).",
        })  # fmt: skip
        assert saved.status_code == 303, saved.text
    elapsed = until_every_worker(server.url, lambda n: any(NEW_FORM in x for x in n), 2.0)
    # And every worker keeps using it.
    for _ in range(10):
        seen: dict[int, bool] = {}
        each_worker(server.url, seen, lambda n: any(NEW_FORM in x for x in n))
        assert all(seen.values()), seen
    print(f"edited entry used by both workers after {elapsed:.2f} s")
