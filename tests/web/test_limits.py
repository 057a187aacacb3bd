"""Request limits (tests/data/attack-cases/upload-cases.jsonl) and the other bounds of the forms."""

from __future__ import annotations

import re

from sqlalchemy import select

from resource_centre.db import read_session
from resource_centre.models import WriteUp
from tests.web.conftest import PASSWORD, csrf_of, login


def fiche_count(app) -> int:
    with read_session(app.state.engine) as session:
        return len(session.execute(select(WriteUp.id)).all())


def test_too_many_fields_files_or_a_huge_part_are_refused_in_french(client, app, login_as):
    login_as("contributor")
    token = csrf_of(client.get("/contribuer").text)
    before = fiche_count(app)
    many_fields = {
        "csrf_token": token,
        "action": "save",
        "title": "x",
        **{f"f{i}": "v" for i in range(1001)},
    }
    response = client.post(
        "/contribuer", files={"attachments": ("a.csv", b"a;b\n", "text/csv")}, data=many_fields
    )
    assert response.status_code == 400 and "Requête invalide" in response.text
    files = [("attachments", (f"f{i}.csv", b"a;b\n", "text/csv")) for i in range(1001)]
    response = client.post(
        "/contribuer", data={"csrf_token": token, "action": "save", "title": "x"}, files=files
    )
    assert response.status_code == 400 and "Too many" not in response.text
    big_part = {"csrf_token": token, "action": "save", "title": "x", "context": "a" * 1_048_577}
    response = client.post(
        "/contribuer", data=big_part, files={"attachments": ("a.csv", b"a;b\n", "text/csv")}
    )
    assert response.status_code in (400, 413)
    assert fiche_count(app) == before


def test_bodies_over_the_limit_get_413(client):
    token = csrf_of(client.get("/connexion").text)
    response = client.post(
        "/connexion", data={"csrf_token": token, "email": "a" * 1_048_577, "password": "x"}
    )
    assert response.status_code == 413 and "Envoi trop volumineux" in response.text
    response = client.post(
        "/connexion",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    response = client.get(
        "/api/writeups", params={"q": "x"}, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200


def test_html_disguised_as_png_is_never_served_as_html(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    page = client.get("/contribuer")
    data = {"csrf_token": csrf_of(page.text), "action": "save", "title": "Image piégée"}
    fake = "\u0089PNG\r\n\u001a\n<script>alert(1)</script>".encode("latin-1")
    response = client.post(
        "/contribuer",
        data=data,
        files={"attachments": ("x.png", fake, "text/html")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    edit = client.get(response.headers["location"]).text
    link = re.search(r'href="(/fiches/[^"]+/pieces-jointes/\d+)"', edit).group(1)
    served = client.get(link)
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "sandbox"


def test_sign_in_attempts_are_limited_per_address(client, make_user):
    for i in range(10):
        assert (
            login(
                client,
                make_user("contributor", email=f"essai{i}@exemple.org"),
                password="mauvais mot de passe",
            ).status_code
            == 422
        )
    fresh = make_user("contributor", email="autre@exemple.org")
    blocked = login(client, fresh, password=PASSWORD)
    assert blocked.status_code == 429 and "Trop de tentatives" in blocked.text


def test_similar_published_fiches_are_suggested_without_blocking(client, login_as):
    login_as("contributor", regie="regie-des-trois-quartiers")
    page = client.get("/contribuer")
    data = {
        "csrf_token": csrf_of(page.text),
        "action": "preview",
        "title": "Une laverie solidaire",
        "summary": "Contre les impayés",
    }
    response = client.post("/contribuer", data=data)
    assert response.status_code == 200
    assert "Une expérience proche existe déjà : la compléter ?" in response.text
    assert 'href="/fiches/laverie-solidaire-du-canal"' in response.text
