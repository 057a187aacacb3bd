"""Fixtures for HTTP tests: a real app on a real SQLite file and Whoosh index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, migrate
from resource_centre.web.app import create_app
from tests.conftest import TEST_KNOWLEDGE


def build_settings(tmp_path: Path, **extra: object) -> Settings:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'web.db'}",
        index_dir=tmp_path / "index",
        data_dir=tmp_path / "data",
        knowledge_dir=TEST_KNOWLEDGE,
        index_poll_seconds=0.05,
        **extra,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    report = import_corpus(engine, TEST_KNOWLEDGE)
    assert report.ok, report.problems
    engine.dispose()
    return settings


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return build_settings(tmp_path)


@pytest.fixture
def app(web_settings: Settings) -> FastAPI:
    return create_app(web_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # The context manager runs the lifespan: index created and caught up, sync thread on.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
