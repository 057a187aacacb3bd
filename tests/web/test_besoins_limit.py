"""`POST /besoins` ("Signaler ce besoin") limited per client address, counted in the database
so that the limit holds across worker processes and machines; on SQLite and PostgreSQL.

Before, each server process counted in its own memory: with two workers an address could
report twice the limit (the two-application and two-worker tests below saw 10, not 5).
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.models import CapitalisationRequest, RateLimitEvent, utcnow
from resource_centre.web.app import create_app
from resource_centre.web.library import NEED_LIMIT_ERROR
from tests.conftest import ROOT, TEST_KNOWLEDGE
from tests.test_consistency import CLI, Server
from tests.web.conftest import csrf_of, login

LIMIT = 5
ADDRESS = "198.51.100.7"
NO_RESULT = "zorglubophone"  # a search with no fiche: the page shows the need form


@pytest.fixture
def web_settings(tmp_path: Path, database_url: str) -> Settings:
    """The settings of tests/web/conftest.py on each test database (PostgreSQL: its
    RESOURCE_CENTRE_SECRET_KEY is in the environment, set by the database_url fixture)."""
    engine = make_engine(database_url)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    engine.dispose()
    return Settings(
        database_url=database_url,
        index_dir=tmp_path / "index",
        data_dir=tmp_path / "data",
        knowledge_dir=TEST_KNOWLEDGE,
        index_poll_seconds=0.05,
        anonymous_reports_per_window=LIMIT,
        anonymous_window_minutes=10,
    )


@pytest.fixture
def two_workers(web_settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Two applications on one database, as two worker processes are (each has its own
    memory), reached from the same client address."""
    apps: list[FastAPI] = [create_app(web_settings), create_app(web_settings)]
    with (
        TestClient(apps[0], raise_server_exceptions=False, client=(ADDRESS, 40000)) as a,
        TestClient(apps[1], raise_server_exceptions=False, client=(ADDRESS, 40001)) as b,
    ):
        yield a, b


def needs(engine) -> int:
    with read_session(engine) as session:
        return session.execute(select(func.count()).select_from(CapitalisationRequest)).scalar_one()


def report(client: TestClient, token: str, message: str):
    data = {"csrf_token": token, "q": NO_RESULT, "theme": "insertion-emploi", "message": message}
    return client.post("/besoins", data=data, follow_redirects=False)


def test_the_limit_per_address_holds_across_workers_and_keeps_what_was_typed(
    two_workers, web_settings
):
    a, b = two_workers
    page = a.get("/fiches", params={"q": NO_RESULT})
    assert "Signaler ce besoin" in page.text
    token = csrf_of(page.text)
    b.cookies = a.cookies  # one browser, its requests served by either worker
    answers = [
        report(a if n % 2 == 0 else b, token, f"Besoin numéro {n}").status_code
        for n in range(LIMIT + 3)
    ]
    assert answers == [303] * LIMIT + [429] * 3
    engine = make_engine(web_settings.database_url)
    assert needs(engine) == LIMIT

    refused = report(b, token, "Une laverie <solidaire> & un jardin")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 600
    assert NEED_LIMIT_ERROR in refused.text
    # The search page again, with the need form and the message typed, escaped once.
    assert f"Recherche « {NO_RESULT} »" in refused.text
    assert (
        'aria-describedby="besoin-aide">Une laverie &lt;solidaire&gt; &amp; un jardin</textarea>'
        in refused.text
    )
    assert '<input type="hidden" name="theme" value="insertion-emploi">' in refused.text
    assert needs(engine) == LIMIT

    # The table keeps no address, only a keyed hash of it.
    with read_session(engine) as session:
        keys = session.execute(select(RateLimitEvent.key)).scalars().all()
    assert len(keys) == LIMIT and all(ADDRESS not in key and len(key) == 32 for key in keys)

    # Once the window has passed, the address may report again.
    with write_session(engine) as session:
        session.execute(update(RateLimitEvent).values(at=utcnow() - timedelta(minutes=11)))
    assert report(a, token, "Après la fenêtre").status_code == 303
    with read_session(engine) as session:  # the old events were deleted on the way
        assert session.execute(select(func.count(RateLimitEvent.id))).scalar_one() == 1
    engine.dispose()


def test_other_addresses_are_counted_apart_and_signed_in_users_alike(
    two_workers, web_settings, make_user
):
    a, _ = two_workers
    token = csrf_of(a.get("/fiches", params={"q": NO_RESULT}).text)
    for n in range(LIMIT):
        assert report(a, token, f"n{n}").status_code == 303
    assert report(a, token, "de trop").status_code == 429

    # A signed-in user behind the same address is limited too (a session is free to open).
    user_app = a.app
    with TestClient(user_app, raise_server_exceptions=False, client=(ADDRESS, 40002)) as same:
        user = _make_user(user_app)
        assert login(same, user).status_code == 303
        token_same = csrf_of(same.get("/fiches", params={"q": NO_RESULT}).text)
        assert report(same, token_same, "connecté").status_code == 429

    # Another address is not affected.
    with TestClient(user_app, raise_server_exceptions=False, client=("203.0.113.9", 40003)) as c:
        other = csrf_of(c.get("/fiches", params={"q": NO_RESULT}).text)
        assert report(c, other, "ailleurs").status_code == 303


def _make_user(app: FastAPI):
    from resource_centre.auth import create_user
    from tests.web.conftest import PASSWORD

    with write_session(app.state.engine) as session:
        return create_user(
            session, email="besoin@exemple.org", password=PASSWORD, role="contributor",
            regie_slug="regie-du-canal",
        )  # fmt: skip


def test_a_refusal_for_a_search_that_now_has_results_still_says_why(two_workers):
    a, _ = two_workers
    token = csrf_of(a.get("/fiches", params={"q": NO_RESULT}).text)
    for n in range(LIMIT):
        assert report(a, token, f"n{n}").status_code == 303
    data = {"csrf_token": token, "q": "laverie", "message": "x"}
    refused = a.post("/besoins", data=data, follow_redirects=False)
    assert refused.status_code == 429
    assert NEED_LIMIT_ERROR in refused.text and 'role="alert"' in refused.text


# --- through `serve --workers 2` ------------------------------------------------------------


class Connection:
    """A kept-alive HTTP connection from a loopback source address: one worker serves it."""

    def __init__(self, port: int, source: str) -> None:
        self.http = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=30, source_address=(source, 0)
        )

    def request(self, method: str, path: str, body: str = "", cookie: str = ""):
        headers = {"Cookie": cookie} if cookie else {}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.http.request(method, path, body=body or None, headers=headers)
        response = self.http.getresponse()
        return response.status, response.read().decode(), response.headers

    def worker(self) -> int:
        status, body, _ = self.request("GET", "/api/health")
        assert status == 200
        return int(re.search(r'"worker":\s*(\d+)', body).group(1))


class Workers:
    """Kept-alive connections from one client address, one per worker of the server."""

    def __init__(self, port: int, source: str) -> None:
        self.port, self.source = port, source
        self.by_worker: dict[int, Connection] = {}
        self.opened: list[Connection] = []

    def _open(self) -> tuple[int, Connection]:
        connection = Connection(self.port, self.source)
        self.opened.append(connection)
        return connection.worker(), connection

    def find_two(self) -> list[int]:
        """Open connections until two workers serve one each (the kernel spreads new
        connections over the processes listening on the port)."""
        for _ in range(200):
            pid, connection = self._open()
            self.by_worker.setdefault(pid, connection)
            if len(self.by_worker) == 2:
                return sorted(self.by_worker)
        pytest.fail("every new connection went to the same worker")

    def on(self, pid: int) -> Connection:
        """A connection served by the worker `pid` now (an idle one may have been closed by
        the server's keep-alive time-out and opened again to the other worker)."""
        if self.by_worker[pid].worker() == pid:
            return self.by_worker[pid]
        for _ in range(200):
            found, connection = self._open()
            if found == pid:
                self.by_worker[pid] = connection
                return connection
        pytest.fail(f"no new connection went to worker {pid}")

    def close(self) -> None:
        for connection in self.opened:
            connection.http.close()


@pytest.mark.slow
def test_the_limit_holds_on_a_real_server_with_two_workers(database_url, tmp_path):
    env = {
        **os.environ,
        "RESOURCE_CENTRE_DATABASE_URL": database_url,
        "RESOURCE_CENTRE_INDEX_DIR": str(tmp_path / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(TEST_KNOWLEDGE),
        "RESOURCE_CENTRE_ANONYMOUS_REPORTS_PER_WINDOW": str(LIMIT),
    }
    env.setdefault("RESOURCE_CENTRE_SECRET_KEY", "cle-de-test-des-besoins-0123456789abcdef")
    subprocess.run([*CLI, "init"], env=env, cwd=ROOT, check=True, capture_output=True)
    server = Server(env, workers=2)
    server.start()
    workers = Workers(server.port, "127.0.0.4")
    try:
        pids = workers.find_two()
        status, page, headers = workers.on(pids[0]).request("GET", f"/fiches?q={NO_RESULT}")
        assert status == 200
        cookie = "; ".join(c.split(";")[0] for c in headers.get_all("set-cookie") or [])
        token, first_cookie = csrf_of(page), cookie
        answers = []
        for n in range(2 * LIMIT):
            body = urlencode({"csrf_token": token, "q": NO_RESULT, "message": f"besoin {n}"})
            worker = workers.on(pids[n % 2])  # the workers take turns
            answers.append(worker.request("POST", "/besoins", body, cookie)[0])
        assert answers == [303] * LIMIT + [429] * LIMIT

        # Another client address is counted apart.
        other = Connection(server.port, "127.0.0.5")
        workers.opened.append(other)
        status, page, headers = other.request("GET", f"/fiches?q={NO_RESULT}")
        cookie = "; ".join(c.split(";")[0] for c in headers.get_all("set-cookie") or [])
        body = urlencode({"csrf_token": csrf_of(page), "q": NO_RESULT, "message": "ailleurs"})
        assert other.request("POST", "/besoins", body, cookie)[0] == 303

        # Twenty reports at once from a third address, over new connections (both workers):
        # the count and the record are one serialised transaction, five pass.
        def at_once(n: int) -> int:
            connection = Connection(server.port, "127.0.0.6")
            try:
                body = urlencode({"csrf_token": token, "q": NO_RESULT, "message": f"m{n}"})
                return connection.request("POST", "/besoins", body, first_cookie)[0]
            finally:
                connection.http.close()

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(at_once, range(20)))
        assert sorted(statuses) == [303] * LIMIT + [429] * (20 - LIMIT)

        engine = make_engine(database_url)
        assert needs(engine) == 2 * LIMIT + 1
        engine.dispose()
    finally:
        workers.close()
        server.stop()
