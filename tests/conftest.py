"""Shared fixtures: real SQLite files and PostgreSQL databases, real Whoosh indexes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from resource_centre.config import Settings
from resource_centre.db import make_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
TEST_KNOWLEDGE = ROOT / "tests" / "data" / "knowledge"
DEMO_KNOWLEDGE = ROOT / "knowledge"
ATTACK_CASES = ROOT / "tests" / "data" / "attack-cases"
POSTGRES_ENV = "RESOURCE_CENTRE_TEST_POSTGRES_URL"
# Starlette's test client sends `Host: testserver`: accepted in the tests only (the default
# is BASE_URL's host and the loopback names); tests of the default remove this variable.
os.environ.setdefault("RESOURCE_CENTRE_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1,::1")


def attack_cases(name: str) -> Path:
    """Return the path of one attack-case file carried by the repository (tests/data)."""
    path = ATTACK_CASES / name
    if not path.exists():
        pytest.fail(f"attack cases missing: {path}")
    return path


class PostgresServer:
    """Creates one migrated template database per run and a copy of it per test."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.template = f"rc_tmpl_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []
        self._migrated = False

    def _exec(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def new_database(self) -> str:
        if not self._migrated:
            self._exec(f'CREATE DATABASE "{self.template}"')
            self.created.append(self.template)
            engine = make_engine(self.url.set(database=self.template).render_as_string(False))
            migrate(engine)
            engine.dispose()
            self._migrated = True
        name = f"rc_test_{uuid.uuid4().hex[:12]}"
        self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in reversed(self.created):
            self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        yield None
        return
    server = PostgresServer(url)
    try:
        yield server
    finally:
        server.drop_all()


# With PostgreSQL the secret key must be given (resource_centre/config.py): the PostgreSQL
# tests give this one, to their own settings and to the servers they start.
TEST_SECRET_KEY = "cle-de-test-partagee-par-les-machines-0123456789"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_server,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A fresh, migrated database: a SQLite file, or a new PostgreSQL database (with
    RESOURCE_CENTRE_SECRET_KEY set in the environment for the test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'resource_centre.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        return url
    if postgres_server is None:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (set by CI)")
    monkeypatch.setenv("RESOURCE_CENTRE_SECRET_KEY", TEST_SECRET_KEY)
    return postgres_server.new_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'db' / 'resource_centre.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def make_settings(tmp_path: Path, database_url: str, **extra: object) -> Settings:
    if not database_url.startswith("sqlite"):
        extra.setdefault("RESOURCE_CENTRE_SECRET_KEY", TEST_SECRET_KEY)
    return Settings(
        database_url=database_url,
        index_dir=tmp_path / "index",
        data_dir=tmp_path / "data",
        knowledge_dir=TEST_KNOWLEDGE,
        **extra,
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()
