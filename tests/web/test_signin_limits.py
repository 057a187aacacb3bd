"""Sign-in limits: atomic under concurrency, and never a way to lock the owner out.

Each wrong password costs an attacker one argon2 verify at most; "processed" below means the
password hash was actually verified, which the server records as a `login_attempt` row.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.testclient import TestClient

from resource_centre.auth import (
    ACCOUNT_MAX_FAILURES,
    MAX_FAILURES,
    TOO_MANY_ATTEMPTS,
    AccountError,
    authenticate,
    create_user,
)
from resource_centre.config import Settings
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.errors import Kind
from resource_centre.models import LoginAttempt, User
from resource_centre.web.app import create_app
from tests.conftest import ROOT, TEST_KNOWLEDGE
from tests.test_consistency import CLI, Server
from tests.web.conftest import PASSWORD, csrf_of

WRONG = "pas le bon mot de passe"
EMAIL = "curatrice@exemple.org"


def processed(engine, email: str = EMAIL, address: str | None = None) -> int:
    """Attempts whose password was verified (each is recorded before its verify)."""
    with read_session(engine) as session:
        query = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.email == email)
        if address is not None:
            query = query.where(LoginAttempt.address == address)
        return session.execute(query).scalar_one()


def failures(engine, email: str = EMAIL) -> int:
    with read_session(engine) as session:
        return session.execute(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.email == email, LoginAttempt.success.is_(False))
        ).scalar_one()


def outcome(engine, password: str, address: str) -> User | AccountError:
    """The user `authenticate` gives, or the AccountError it raises."""
    try:
        return authenticate(engine, email=EMAIL, password=password, address=address)
    except AccountError as exc:
        return exc


def add_curator(engine, email: str = EMAIL) -> None:
    with write_session(engine) as session:
        create_user(session, email=email, password=PASSWORD, role="curator")


def test_concurrent_wrong_passwords_verify_at_most_ten_and_the_owner_still_signs_in(
    database_url,
):
    engine = make_engine(database_url)
    add_curator(engine)
    barrier = threading.Barrier(40)

    def guess(_: int) -> object:
        barrier.wait()
        return outcome(engine, WRONG, "192.0.2.66")

    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(guess, range(40)))
    assert processed(engine) == MAX_FAILURES
    wrong = [r for r in results if isinstance(r, AccountError) and r.kind == Kind.INVALID]
    assert len(wrong) == MAX_FAILURES
    assert {r.message for r in wrong} == {"Adresse e-mail ou mot de passe incorrect."}
    refused = [r for r in results if isinstance(r, AccountError) and r.kind == Kind.TOO_MANY]
    assert len(refused) == 30 and all(r.message.startswith("Trop de tentatives") for r in refused)
    # The attacker's address is blocked for this account, even with the right password...
    blocked = outcome(engine, PASSWORD, "192.0.2.66")
    assert isinstance(blocked, AccountError) and blocked.kind == Kind.TOO_MANY
    assert blocked.message == TOO_MANY_ATTEMPTS
    # ...but the owner, elsewhere, is not locked out by someone else's failures.
    owner = outcome(engine, PASSWORD, "198.51.100.7")
    assert isinstance(owner, User) and owner.email == EMAIL
    engine.dispose()


@pytest.fixture
def limits_app(database_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    settings = Settings(
        database_url=database_url,
        index_dir=tmp_path / "index",
        data_dir=tmp_path / "data",
        knowledge_dir=TEST_KNOWLEDGE,
        index_poll_seconds=0.05,
    )
    app = create_app(settings)
    yield app


def sign_in(app: FastAPI, address: str, password: str, email: str = EMAIL) -> int:
    with TestClient(app, client=(address, 50000), raise_server_exceptions=False) as client:
        token = csrf_of(client.get("/connexion").text)
        return client.post(
            "/connexion",
            data={"email": email, "password": password, "csrf_token": token},
            follow_redirects=False,
        ).status_code


def test_limit_per_account_and_address_with_a_global_cap(limits_app):
    app = limits_app
    with TestClient(app):  # runs the lifespan once: index built, engine ready
        add_curator(app.state.engine)
    assert sign_in(app, "10.0.0.9", PASSWORD) == 303  # an address the owner knows
    for _ in range(MAX_FAILURES):
        assert sign_in(app, "10.0.0.1", WRONG) == 422
    assert sign_in(app, "10.0.0.1", PASSWORD) == 429  # this address is done for a while
    assert sign_in(app, "10.0.0.2", PASSWORD) == 303  # the owner from elsewhere is not
    # Many addresses together: beyond the account's cap only known addresses are tried.
    for n in range(ACCOUNT_MAX_FAILURES // MAX_FAILURES):
        for _ in range(MAX_FAILURES):
            sign_in(app, f"10.0.1.{n}", WRONG)
    engine = app.state.engine
    assert failures(engine) == ACCOUNT_MAX_FAILURES  # the last address got no turn
    before = processed(engine)
    assert sign_in(app, "10.0.2.1", WRONG) == 429
    assert sign_in(app, "10.0.2.2", PASSWORD) == 429  # a new address waits for the window
    assert processed(engine) == before  # refused without verifying anything
    assert sign_in(app, "10.0.0.9", PASSWORD) == 303  # a known address still signs in
    assert sign_in(app, "10.0.0.2", PASSWORD) == 303


# --- the acceptance case through a real server process ---------------------------------


def _request(
    port: int, source: str, method: str, path: str, body: str = "", cookie: str = ""
) -> tuple[int, str, list[str]]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=60, source_address=(source, 0)
    )
    headers = {"Cookie": cookie} if cookie else {}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        return response.status, text, response.headers.get_all("set-cookie") or []
    finally:
        connection.close()


def _attempt(port: int, source: str, password: str) -> int:
    status, page, cookies = _request(port, source, "GET", "/connexion")
    assert status == 200
    cookie = "; ".join(c.split(";")[0] for c in cookies)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    body = urlencode({"email": EMAIL, "password": password, "csrf_token": token})
    return _request(port, source, "POST", "/connexion", body, cookie)[0]


@pytest.mark.slow
def test_100_concurrent_wrong_sign_ins_on_a_real_server(database_url, tmp_path):
    env = {
        **os.environ,
        "RESOURCE_CENTRE_DATABASE_URL": database_url,
        "RESOURCE_CENTRE_INDEX_DIR": str(tmp_path / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(TEST_KNOWLEDGE),
    }
    subprocess.run(
        [*CLI, "create-user", "--email", EMAIL, "--role", "curator"],
        input=PASSWORD + "\n", env=env, cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    server = Server(env, workers=2)
    server.start()
    try:
        attacker, owner = "127.0.0.2", "127.0.0.3"  # all of 127/8 is loopback on Linux
        engine = make_engine(database_url)
        with ThreadPoolExecutor(100) as pool:
            attacks = [pool.submit(_attempt, server.port, attacker, WRONG) for _ in range(100)]
            deadline = time.monotonic() + 60  # once the attacker has used up the limit...
            while processed(engine, address=attacker) < MAX_FAILURES:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            owner_status = _attempt(server.port, owner, PASSWORD)  # ...the owner signs in
            statuses = [f.result() for f in attacks]
        assert owner_status == 303
        assert statuses.count(422) <= MAX_FAILURES
        assert statuses.count(422) + statuses.count(429) == 100
        assert processed(engine, address=attacker) <= MAX_FAILURES
        engine.dispose()
    finally:
        server.stop()
