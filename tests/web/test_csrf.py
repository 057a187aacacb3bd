"""CSRF tokens masked afresh on every response; one-time form tokens bound to their user."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from starlette.testclient import TestClient

from resource_centre.db import read_session
from resource_centre.models import WriteUp
from tests.web.conftest import csrf_of, login


def test_csrf_token_differs_on_every_page_and_each_one_is_accepted(client, make_user):
    login(client, make_user("contributor"))
    pages = [client.get("/fiches?q=jardin") for _ in range(3)]
    assert all(page.status_code == 200 for page in pages)
    tokens = [csrf_of(page.text) for page in pages]
    assert len(set(tokens)) == 3  # no secret repeats from page to page (BREACH)
    # An older page's token still works after newer pages were served.
    response = client.post("/deconnexion", data={"csrf_token": tokens[0]}, follow_redirects=False)
    assert response.status_code == 303


def test_csrf_token_of_another_session_or_tampered_is_refused(client, app, make_user):
    user = make_user("contributor")
    login(client, user)
    mine = csrf_of(client.get("/mon-compte").text)
    stranger = TestClient(app)
    theirs = csrf_of(stranger.get("/connexion").text)
    tampered = mine[:-1] + ("0" if mine[-1] != "0" else "1")
    for token in (theirs, tampered, mine[:64], "zz" * 64):
        refused = client.post("/deconnexion", data={"csrf_token": token}, follow_redirects=False)
        assert refused.status_code == 403 and "Rechargez la page" in refused.text
    assert (
        client.post("/deconnexion", data={"csrf_token": mine}, follow_redirects=False).status_code
        == 303
    )


def test_form_token_issued_to_one_user_is_refused_for_another(app, make_user):
    alice, bob = make_user("contributor"), make_user("contributor")
    with TestClient(app) as alice_client, TestClient(app) as bob_client:
        login(alice_client, alice)
        login(bob_client, bob)
        alice_page = alice_client.get("/contribuer").text
        alice_token = re.search(r'name="form_token" value="([^"]+)"', alice_page).group(1)
        bob_csrf = csrf_of(bob_client.get("/contribuer").text)
        response = bob_client.post(
            "/contribuer",
            data={"csrf_token": bob_csrf, "action": "save", "form_token": alice_token,
                  "title": "Le texte que Bob a tapé"},
            follow_redirects=False,
        )  # fmt: skip
        assert response.status_code == 403
        assert "ouvert par un autre compte" in response.text
        assert 'value="Le texte que Bob a tapé"' in response.text  # nothing typed is lost
        fresh = re.search(r'name="form_token" value="([^"]+)"', response.text).group(1)
        assert fresh != alice_token
        with read_session(app.state.engine) as session:
            count = session.execute(
                select(func.count()).select_from(WriteUp).where(WriteUp.title.like("Le texte%"))
            ).scalar_one()
        assert count == 0
        # Bob resubmits the same page with the token he was just given: saved.
        again = bob_client.post(
            "/contribuer",
            data={"csrf_token": csrf_of(response.text), "action": "save", "form_token": fresh,
                  "title": "Le texte que Bob a tapé"},
            follow_redirects=False,
        )  # fmt: skip
        assert again.status_code == 303
