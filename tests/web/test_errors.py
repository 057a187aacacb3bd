"""Typed errors: statuses come from `DomainError.kind` (web/errors.py), never from the text."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from resource_centre import auth, catalogue, rendering
from resource_centre.auth import AccountError
from resource_centre.errors import DomainError, Kind
from resource_centre.web import accounts
from resource_centre.web.errors import STATUS_BY_KIND, form_status, status_for
from tests.web.conftest import PASSWORD, csrf_of, login


def test_every_kind_has_a_status():
    assert set(STATUS_BY_KIND) == set(Kind)
    assert status_for(Kind.INVALID) == 400
    assert status_for(Kind.NOT_FOUND) == 404
    assert status_for(Kind.FORBIDDEN) == 403
    assert status_for(Kind.CONFLICT) == 409
    assert status_for(Kind.TOO_MANY) == 429
    assert status_for(Kind.TOO_LARGE) == 413
    assert status_for(Kind.TOO_SLOW) == 503
    assert status_for(Kind.UNAVAILABLE) == 503
    # A form shown again: what was typed must change is 422 (contract §5).
    assert [form_status(k) for k in (Kind.INVALID, Kind.TOO_LARGE, Kind.TOO_SLOW)] == [422] * 3
    assert form_status(Kind.TOO_MANY) == 429 and form_status(Kind.UNAVAILABLE) == 503


def test_domain_exceptions_carry_their_kind_and_keep_their_base():
    assert isinstance(AccountError("x"), ValueError) and AccountError("x").kind == Kind.INVALID
    assert catalogue.CatalogueError("x").kind == Kind.CONFLICT  # the pages answer 409
    assert isinstance(catalogue.CatalogueError("x"), ValueError)
    assert rendering.SectionTooLarge("x").kind == Kind.TOO_LARGE
    slow = rendering.RenderTooSlow("context", 2)
    assert slow.kind == Kind.TOO_SLOW and isinstance(slow, ValueError) and "2 s" in slow.message
    busy = rendering.RenderBusy("context", 2)  # the server, not the text: try again
    assert busy.kind == Kind.UNAVAILABLE and isinstance(busy, rendering.RenderTooSlow)
    assert "réessayez" in busy.message


class Refused(DomainError):
    default_kind = Kind.FORBIDDEN


@pytest.fixture
def raising_client(app: FastAPI):
    """The real app plus two routes that let a DomainError escape."""

    def raise_it(kind: str, message: str = "") -> None:
        raise DomainError(message, kind=Kind(kind))

    def refuse() -> None:
        raise Refused("Vous ne pouvez pas faire cela.")

    app.add_api_route("/essai/{kind}", raise_it)
    app.add_api_route("/api/essai/{kind}", raise_it)
    app.add_api_route("/essai-refus", refuse)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("kind", list(Kind))
def test_an_escaping_domain_error_becomes_json_under_api(raising_client, kind):
    response = raising_client.get(f"/api/essai/{kind.value}", params={"message": "Message."})
    assert response.status_code == STATUS_BY_KIND[kind]
    assert response.json() == {"detail": "Message."}
    assert response.headers["x-content-type-options"] == "nosniff"  # inside our middleware


def test_an_escaping_domain_error_becomes_the_french_page(raising_client):
    page = raising_client.get("/essai/conflict", params={"message": "La fiche a changé."})
    assert page.status_code == 409 and page.headers["content-type"].startswith("text/html")
    assert "La fiche a changé." in page.text and "Conflit" in page.text
    assert "Traceback" not in page.text
    refused = raising_client.get("/essai-refus")  # a subclass: its default kind
    assert refused.status_code == 403 and "Vous ne pouvez pas faire cela." in refused.text
    # Without a message, the French message of the status.
    unavailable = raising_client.get("/api/essai/unavailable")
    assert unavailable.status_code == 503
    assert unavailable.json()["detail"].startswith("Ce service est momentanément indisponible")


def test_sign_in_status_comes_from_the_kind_not_the_wording(client, make_user, monkeypatch):
    user = make_user("contributor")

    def refuse(message: str, kind: Kind):
        def sign_in(*args, **kwargs):
            raise AccountError(message, kind=kind)

        monkeypatch.setattr(accounts, "sign_in", sign_in)

    refuse("Trop de tentatives, mais en fait une erreur ordinaire.", Kind.INVALID)
    assert login(client, user).status_code == 422
    refuse("Un message quelconque.", Kind.TOO_MANY)
    limited = login(client, user)
    assert limited.status_code == 429 and "Un message quelconque." in limited.text


def test_password_change_shows_the_error_on_the_field_the_exception_names(
    client, login_as, monkeypatch
):
    login_as("contributor")
    token = csrf_of(client.get("/mon-compte").text)

    def change_password(*args, **kwargs):
        raise AccountError("Choisissez-en un autre.", kind=Kind.TOO_MANY, field="new_password")

    monkeypatch.setattr(accounts, "change_password", change_password)
    page = client.post(
        "/mon-compte",
        data={"csrf_token": token, "current_password": PASSWORD,
              "new_password": "nouveau mot de passe", "confirm_password": "nouveau mot de passe"},
    )  # fmt: skip
    assert page.status_code == 429
    assert (
        '<p class="error-message" id="new_password-erreur"><span class="visually-hidden">'
        "Erreur : </span>Choisissez-en un autre.</p>" in page.text
    )
    assert 'id="current_password-erreur"' not in page.text


def test_change_password_raises_typed_errors(app, make_user):
    user = make_user("contributor")
    engine = app.state.engine

    def change(**kwargs):
        values = {"current": PASSWORD, "new": "nouveau mot de passe",
                  "confirm": "nouveau mot de passe", "address": "192.0.2.1",
                  "keep_session_id": None, **kwargs}  # fmt: skip
        with pytest.raises(AccountError) as caught:
            auth.change_password(engine, user.id, **values)
        return caught.value

    mismatch = change(confirm="autre chose")
    assert (mismatch.kind, mismatch.field) == (Kind.INVALID, "confirm_password")
    short = change(new="court", confirm="court")
    assert (short.kind, short.field) == (Kind.INVALID, "new_password")
    for _ in range(auth.MAX_FAILURES):
        wrong = change(current="pas le bon mot de passe")
        assert (wrong.kind, wrong.field) == (Kind.INVALID, "current_password")
    limited = change()
    assert (limited.kind, limited.field) == (Kind.TOO_MANY, "current_password")
    assert limited.message == auth.TOO_MANY_ATTEMPTS


def test_create_user_errors_name_their_field(app):
    from resource_centre.db import write_session

    cases = [
        ({"email": "pas-une-adresse"}, "email"),
        ({"role": "roi"}, "role"),
        ({"password": "court"}, "password"),
        ({"regie_slug": "inconnue"}, "regie"),
        ({"regie_slug": None}, "regie"),  # a contributor belongs to a Régie
    ]
    for change, field in cases:
        values = {"email": "a@exemple.org", "password": PASSWORD, "role": "contributor",
                  "regie_slug": "regie-du-canal", **change}  # fmt: skip
        with write_session(app.state.engine) as session, pytest.raises(AccountError) as caught:
            auth.create_user(session, **values)
        assert caught.value.field == field, change
