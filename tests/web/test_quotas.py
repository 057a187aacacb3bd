"""Quotas over HTTP: uploads per account, new fiches per day, anonymous writes per address;
on SQLite and PostgreSQL."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, read_session
from resource_centre.models import Attachment, CapitalisationRequest, SearchClick, WriteUp
from resource_centre.web.library import CLICKS_PER_WINDOW
from tests.conftest import TEST_KNOWLEDGE
from tests.web.conftest import csrf_of
from tests.web.test_contribute import post_form

MB = 1024 * 1024


@pytest.fixture
def web_settings(tmp_path: Path, database_url: str) -> Settings:
    """The web fixtures of tests/web/conftest.py, on each test database, small quotas."""
    engine = make_engine(database_url)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    engine.dispose()
    return Settings(
        database_url=database_url,
        index_dir=tmp_path / "index",
        data_dir=tmp_path / "data",
        knowledge_dir=TEST_KNOWLEDGE,
        index_poll_seconds=0.05,
        upload_quota_mb=1,
        drafts_per_day=3,
        anonymous_reports_per_window=5,
    )


def count(app, model, *where) -> int:
    with read_session(app.state.engine) as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def pdf(size: int) -> bytes:
    return b"%PDF-" + b"0" * (size - 5)


def test_upload_quota_up_to_the_limit_then_a_french_error_that_keeps_the_form(
    client, app, login_as
):
    user = login_as("contributor")
    first = post_form(
        client,
        "/contribuer",
        {"title": "Pièces jusqu'à la limite"},
        files=[("attachments", ("rapport.pdf", pdf(MB - 1), "application/pdf"))],
    )
    assert first.status_code == 303, first.text
    edit = first.headers["location"]
    exact = post_form(  # 1 byte more: exactly the quota
        client, edit, {"title": "Pièces jusqu'à la limite"},
        files=[("attachments", ("un.csv", b"a", "text/csv"))],
    )  # fmt: skip
    assert exact.status_code == 303, exact.text
    past = post_form(  # one byte past the quota
        client, edit, {"title": "Titre changé", "context": "Mon texte tapé"},
        files=[("attachments", ("deux.csv", b"b", "text/csv"))],
    )  # fmt: skip
    assert past.status_code == 422
    assert "sur les 1 Mo permis par compte" in past.text
    assert 'value="Titre changé"' in past.text and "Mon texte tapé" in past.text
    assert count(app, Attachment, Attachment.uploaded_by == user.id) == 2
    with read_session(app.state.engine) as session:
        assert (
            session.execute(
                select(func.sum(Attachment.size)).where(Attachment.uploaded_by == user.id)
            ).scalar_one()
            == MB
        )
    # Without a file, the fiche can still be saved.
    assert post_form(client, edit, {"title": "Titre changé"}).status_code == 303
    # Another account has its own quota.
    client.cookies.clear()
    login_as("contributor")
    other = post_form(
        client, "/contribuer", {"title": "Autre compte"},
        files=[("attachments", ("a.pdf", pdf(MB // 2), "application/pdf"))],
    )  # fmt: skip
    assert other.status_code == 303, other.text


def test_uploads_are_written_owner_only(client, app, login_as):
    login_as("contributor")
    response = post_form(
        client, "/contribuer", {"title": "Fichier privé"},
        files=[("attachments", ("a.pdf", pdf(100), "application/pdf"))],
    )  # fmt: skip
    assert response.status_code == 303, response.text
    with read_session(app.state.engine) as session:
        stored = session.execute(select(Attachment.stored_name)).scalar_one()
    path = app.state.settings.uploads_dir / stored
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_new_fiches_per_day_up_to_the_limit_then_a_french_error(client, app, login_as):
    user = login_as("contributor")
    slugs = []
    for n in range(3):
        response = post_form(client, "/contribuer", {"title": f"Brouillon numéro {n}"})
        assert response.status_code == 303, response.text
        slugs.append(response.headers["location"].split("/")[2])
    fourth = post_form(
        client, "/contribuer", {"title": "Le quatrième du jour", "context": "Tout mon texte"}
    )
    assert fourth.status_code == 422
    assert "fiches en 24 heures (3 au plus)" in fourth.text
    assert 'value="Le quatrième du jour"' in fourth.text and "Tout mon texte" in fourth.text
    assert count(app, WriteUp, WriteUp.author_id == user.id) == 3
    # Existing drafts can still be edited.
    assert post_form(client, f"/fiches/{slugs[0]}/modifier", {"title": "Repris"}).status_code == 303


def test_reported_needs_are_limited_per_address_with_a_french_429(client, app):
    token = csrf_of(client.get("/connexion").text)
    for n in range(5):
        response = client.post(
            "/besoins", data={"csrf_token": token, "q": f"besoin {n}"}, follow_redirects=False
        )
        assert response.status_code == 303, response.text
    sixth = client.post("/besoins", data={"csrf_token": token, "q": "de trop"})
    assert sixth.status_code == 429
    assert "Trop de besoins signalés" in sixth.text
    assert count(app, CapitalisationRequest) == 5


def test_reported_needs_have_a_global_cap_across_addresses(client, app):
    """Whatever the address (or the worker process), 10 × the limit in one window."""
    from resource_centre.db import write_session

    with write_session(app.state.engine) as session:
        session.add_all(CapitalisationRequest(query=f"ancien {n}") for n in range(50))
    token = csrf_of(client.get("/connexion").text)
    response = client.post("/besoins", data={"csrf_token": token, "q": "un de plus"})
    assert response.status_code == 429
    assert count(app, CapitalisationRequest) == 50


def test_clicks_are_logged_up_to_the_limit_per_address(client, app):
    token = "0123456789abcdef"
    for _ in range(CLICKS_PER_WINDOW + 5):
        page = client.get(f"/fiches/laverie-solidaire-du-canal?s={token}")
        assert page.status_code == 200  # the page is always served
    app.state.search_log.flush()
    deadline = time.monotonic() + 5  # the log thread may be writing its own batch
    while count(app, SearchClick) < CLICKS_PER_WINDOW and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count(app, SearchClick) == CLICKS_PER_WINDOW
