"""Logs of a real `serve --workers 2`: one access line per request with time, status,
duration and worker; application events with level and time; no secret in the log."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from resource_centre.auth import create_user
from resource_centre.db import make_engine, migrate, write_session
from resource_centre.logs import UTCFormatter
from tests.conftest import ROOT
from tests.test_consistency import Server as ConsistencyServer

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "resource_centre"]
TIME = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"
ACCESS = re.compile(
    TIME + r" INFO \[(\d+)\] resource_centre\.access: (\S+) (\S+) (\d{3}) (\d+\.\d) ms$"
)
PASSWORD = "Secret-Du-Test-42!"


class Server(ConsistencyServer):
    """`resource-centre serve` on the library in `folder`, started at once, output logged."""

    def __init__(self, folder: Path, *options: str, workers: int = 1) -> None:
        env = dict(os.environ)
        env.update(
            RESOURCE_CENTRE_DATABASE_URL=f"sqlite:///{folder / 'db.sqlite'}",
            RESOURCE_CENTRE_INDEX_DIR=str(folder / "index"),
            RESOURCE_CENTRE_DATA_DIR=str(folder / "data"),
        )
        super().__init__(env, workers, options=options)
        self.log_path = folder / f"serve-{self.port}.log"
        self.start(timeout=60)

    def lines_after(self, mark: int, pattern: str, count: int = 1, timeout: float = 5) -> list[str]:
        """Log lines written after byte `mark` that contain `pattern` (waiting for `count`)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                line
                for line in self.log_path.read_bytes()[mark:].decode("utf-8").splitlines()
                if pattern in line
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def mark(self) -> int:
        return self.log_path.stat().st_size


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logging")
    engine = make_engine(f"sqlite:///{path / 'db.sqlite'}")
    migrate(engine)
    with write_session(engine) as session:
        create_user(session, email="journal@exemple.org", password=PASSWORD, role="curator")
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[Server]:
    running = Server(folder, workers=2)
    try:
        deadline = time.monotonic() + 60
        while running.log().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, running.log()
            time.sleep(0.1)
        yield running
    finally:
        running.stop()


def worker_pids(server: Server) -> set[int]:
    return {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", server.log())}


def test_one_request_one_access_line_with_time_status_duration_and_worker(server):
    mark = server.mark()
    before = datetime.now(UTC)
    response = httpx.get(f"{server.url}/fiches", params={"q": "velo-recherche-marquee"})
    assert response.status_code == 200
    lines = server.lines_after(mark, "resource_centre.access")
    assert len(lines) == 1, lines
    match = ACCESS.match(lines[0])
    assert match, lines[0]
    stamp, pid, method, path, status, duration = match.groups()
    at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(seconds=1)
    assert (method, path, status) == ("GET", "/fiches", "200")
    assert 0 < float(duration) < 60_000
    # The worker that answered, one of the two children, not the parent process.
    assert int(pid) in worker_pids(server) and int(pid) != server.proc.pid
    assert len(worker_pids(server)) == 2
    assert "velo-recherche-marquee" not in server.log()  # never the query string


def test_status_of_errors_and_paths_that_cannot_forge_a_line(server):
    mark = server.mark()
    assert httpx.get(f"{server.url}/fiches/inconnue").status_code == 404
    assert httpx.get(f"{server.url}/x%0A2026-01-01T00:00:00.000Z%20INFO%20faux").status_code == 404
    lines = server.lines_after(mark, "resource_centre.access", count=2)
    matches = [ACCESS.match(line) for line in lines]
    assert [m.group(4, 5) if m else line for m, line in zip(matches, lines, strict=True)] == [
        ("/fiches/inconnue", "404"),
        ("/x%0A2026-01-01T00:00:00.000Z%20INFO%20faux", "404"),
    ]
    assert not any(line.startswith("2026-01-01") for line in server.log().splitlines())


def test_secret_tokens_in_paths_are_masked(server):
    mark = server.mark()
    token = "jeton-secret-0123456789abcdef"
    httpx.get(f"{server.url}/mot-de-passe/{token}")
    httpx.get(f"{server.url}/invitation/{token}")
    lines = server.lines_after(mark, "resource_centre.access", count=2)
    assert [ACCESS.match(line).group(4) for line in lines] == ["/mot-de-passe/…", "/invitation/…"]
    assert token not in server.log()


def test_failed_sign_in_is_a_warning_with_a_time_and_no_secret(server):
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/connexion")
        found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert found
        token = found.group(1)
        cookies = [cookie.value for cookie in client.cookies.jar]
        assert cookies  # the anonymous session the CSRF token is bound to
        mark = server.mark()
        refused = client.post(
            "/connexion",
            data={"email": "journal@exemple.org", "password": PASSWORD + "x", "csrf_token": token},
        )
    assert refused.status_code != 303  # not signed in
    warnings = server.lines_after(mark, "sign-in failed")
    assert len(warnings) == 1, server.log()[mark:]
    assert re.match(TIME + r" WARNING \[\d+\] resource_centre\.auth: ", warnings[0]), warnings
    assert server.lines_after(mark, "POST /connexion")
    log = server.log()
    for secret in (PASSWORD, token, *cookies):
        assert secret not in log


def test_log_level_warning_silences_the_access_log(folder):
    quiet = Server(folder, "--log-level", "WARNING")
    try:
        mark = quiet.mark()
        assert httpx.get(f"{quiet.url}/fiches").status_code == 200
        time.sleep(0.5)
        assert quiet.lines_after(mark, "resource_centre.access", timeout=0) == []
        assert "Uvicorn running" not in quiet.log()  # uvicorn's INFO too
        assert " INFO " not in quiet.log()
    finally:
        quiet.stop()


def test_times_are_utc_whatever_the_machine_zone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    record.created = datetime(2026, 7, 15, 12, 0, 0, 250_000, tzinfo=UTC).timestamp()
    record.msecs = 250.0
    line = UTCFormatter().format(record)
    assert line.startswith(f"2026-07-15T12:00:00.250Z INFO [{os.getpid()}] x: message")


def test_a_refused_form_cannot_forge_a_line(server):
    mark = server.mark()
    forged = "x%0A2026-01-01T00:00:00.000Z%20WARNING%20faux"
    refused = httpx.post(f"{server.url}/fiches/{forged}/modifier", data={"title": "t"})
    assert refused.status_code == 403
    warnings = server.lines_after(mark, "CSRF rejection")
    assert len(warnings) == 1, server.log()[mark:]
    assert f"POST /fiches/{forged}/modifier: missing or wrong token" in warnings[0]
    assert not any(line.startswith("2026-01-01") for line in server.log().splitlines())


def test_debug_leaves_the_s3_clients_chatter_out():
    # At DEBUG botocore logs request bodies (whole attachments) and headers.
    script = (
        "import logging; from resource_centre.logs import configure_cli_logging; "
        "configure_cli_logging('debug'); "
        "[logging.getLogger(n).debug('corps de la requete %s', n) for n in "
        "('botocore.endpoint', 'boto3.resources', 's3transfer.upload', 'urllib3.connectionpool')]; "
        "logging.getLogger('resource_centre.storage').debug('notre ligne'); "
        "logging.getLogger('botocore.hooks').warning('un avertissement')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "notre ligne" in done.stderr and "un avertissement" in done.stderr
    assert "corps de la requete" not in done.stderr, done.stderr


@pytest.mark.parametrize("root_path", ["", "/centre"])
def test_tokens_are_masked_under_a_root_path_too(tmp_path, caplog, root_path):
    """Review findings: behind `uvicorn --root-path /centre` the request's path holds the
    root path and the masking missed; /desabonnement/ (whose token holds an address) was
    never masked. In process: the app's access middleware, a test client with the root
    path as uvicorn sets it."""
    from starlette.testclient import TestClient

    from resource_centre.web.app import create_app
    from tests.web.conftest import build_settings

    app = create_app(build_settings(tmp_path))
    token = "jeton-secret-0123456789abcdef"
    caplog.set_level(logging.INFO, logger="resource_centre.access")
    with TestClient(app, root_path=root_path, raise_server_exceptions=False) as client:
        caplog.clear()
        for prefix in ("/mot-de-passe/", "/invitation/", "/desabonnement/"):
            client.get(f"{root_path}{prefix}{token}")
        client.post(f"{root_path}/desabonnement/{token}")
        client.get(f"{root_path}/fiches")
    lines = [r.getMessage() for r in caplog.records if r.name == "resource_centre.access"]
    paths = [line.split(" ")[1] for line in lines]
    assert paths == [
        f"{root_path}/mot-de-passe/…",
        f"{root_path}/invitation/…",
        f"{root_path}/desabonnement/…",
        f"{root_path}/desabonnement/…",
        f"{root_path}/fiches",
    ], lines
    assert not any(token in r.getMessage() for r in caplog.records)
