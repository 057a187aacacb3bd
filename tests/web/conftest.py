"""Fixtures for HTTP tests: a real app on a real SQLite file and Whoosh index."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from resource_centre.auth import create_user
from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, migrate, write_session
from resource_centre.models import User
from resource_centre.web.app import create_app
from tests.conftest import TEST_KNOWLEDGE


def build_settings(tmp_path: Path, knowledge: Path = TEST_KNOWLEDGE, **extra: object) -> Settings:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'web.db'}",
        index_dir=tmp_path / "index",
        data_dir=tmp_path / "data",
        knowledge_dir=knowledge,
        index_poll_seconds=0.05,
        **extra,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    report = import_corpus(engine, knowledge)
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


PASSWORD = "mot de passe de test"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{128})"', html)
    assert match, "no csrf_token in the page"
    return match.group(1)


@pytest.fixture
def make_user(app: FastAPI):
    """Create an account: make_user("contributor", regie="regie-du-canal")."""
    counter = iter(range(1000))

    def make(role: str = "contributor", regie: str | None = "regie-du-canal", **extra) -> User:
        email = extra.pop("email", f"{role}{next(counter)}@exemple.org")
        if role != "contributor" and "regie" not in extra and regie == "regie-du-canal":
            regie = None
        with write_session(app.state.engine) as session:
            user = create_user(
                session, email=email, password=PASSWORD, role=role, regie_slug=regie, **extra
            )
        return user

    return make


def login(client: TestClient, user: User, password: str = PASSWORD):
    page = client.get("/connexion", follow_redirects=False)
    if page.status_code == 303:  # already signed in: the sign-in form is not shown
        page = client.get("/mon-compte")
    token = csrf_of(page.text)
    return client.post(
        "/connexion",
        data={"email": user.email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


@pytest.fixture
def login_as(client: TestClient, make_user):
    """Sign the test client in with a new account of `role`; return the user."""

    def sign_in(role: str = "contributor", **extra) -> User:
        user = make_user(role, **extra)
        response = login(client, user)
        assert response.status_code == 303, response.text
        return user

    return sign_in
