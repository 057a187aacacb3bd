"""The permission matrix: every protected route, every role, decided on the server."""

from __future__ import annotations

import pytest

from resource_centre.db import read_session
from resource_centre.writeups import get_by_slug
from tests.web.conftest import csrf_of

ROLES = ("visitor", "contributor", "other-contributor", "curator", "admin")
DRAFT = "ressourcerie-brouillon"  # regie-du-canal
SUBMITTED = "epicerie-soumise"  # regie-des-trois-quartiers
PUBLISHED = "laverie-solidaire-du-canal"  # regie-du-canal
ARCHIVED = "chantier-archive"  # regie-des-trois-quartiers
SIGN_IN = "sign-in"  # a 303 to /connexion

# route → expected status per role, in the order of ROLES.
GET_MATRIX = {
    "/contribuer": (SIGN_IN, 200, 200, 200, 200),
    "/mes-fiches": (SIGN_IN, 200, 200, 200, 200),
    "/mon-compte": (SIGN_IN, 200, 200, 200, 200),
    f"/fiches/{DRAFT}/modifier": (SIGN_IN, 200, 404, 200, 200),
    f"/fiches/{SUBMITTED}/modifier": (SIGN_IN, 404, 403, 200, 200),
    f"/fiches/{PUBLISHED}/modifier": (SIGN_IN, 200, 403, 200, 200),
    f"/fiches/{ARCHIVED}/modifier": (SIGN_IN, 404, 403, 200, 200),
    f"/fiches/{DRAFT}": (404, 404, 404, 404, 404),
    f"/fiches/{SUBMITTED}": (404, 404, 404, 404, 404),
    f"/fiches/{ARCHIVED}": (404, 404, 404, 404, 404),
    f"/fiches/{PUBLISHED}": (200, 200, 200, 200, 200),
    f"/api/writeups/{DRAFT}": (404, 404, 404, 404, 404),
    "/curation": (SIGN_IN, 403, 403, 200, 200),
    f"/curation/fiches/{SUBMITTED}": (SIGN_IN, 403, 403, 200, 200),
    "/curation/journal": (SIGN_IN, 403, 403, 200, 200),
    "/curation/taxonomie": (SIGN_IN, 403, 403, 200, 200),
    "/curation/radar": (SIGN_IN, 403, 403, 200, 200),
    "/curation/utilisateurs": (SIGN_IN, 403, 403, 403, 200),
}

POST_MATRIX = {
    # route, form → statuses; the state check after each is below.
    (f"/fiches/{DRAFT}/modifier", "draft-save"): (SIGN_IN, 303, 404, 303, 303),
    (f"/fiches/{SUBMITTED}/modifier", "submitted-save"): (SIGN_IN, 404, 403, 303, 303),
    (f"/curation/fiches/{SUBMITTED}", "publish"): (SIGN_IN, 403, 403, 303, 303),
    ("/curation/taxonomie", "term-add"): (SIGN_IN, 403, 403, 303, 303),
    ("/curation/regies", "regie-retire"): (SIGN_IN, 403, 403, 303, 303),
    ("/curation/utilisateurs", "user-create-admin"): (SIGN_IN, 403, 403, 403, 200),
    ("/curation/radar", "answer"): (SIGN_IN, 403, 403, 404, 404),
}
FORMS = {
    "draft-save": {"action": "save", "title": "Titre changé par la matrice"},
    "submitted-save": {"action": "save", "title": "Titre changé par la matrice"},
    "publish": {"action": "publish"},
    "term-add": {"operation": "add", "vocabulary": "themes", "label": "Thème de la matrice"},
    "regie-retire": {"operation": "retire", "slug": "regie-des-hauts-plateaux"},
    "user-create-admin": {"operation": "create", "email": "pirate@exemple.org", "role": "admin"},
    "answer": {"request_id": "999", "slug": PUBLISHED},
}


def sign_in(role, login_as):
    if role == "contributor":
        return login_as("contributor", regie="regie-du-canal")
    if role == "other-contributor":
        return login_as("contributor", regie="regie-des-trois-quartiers")
    if role in ("curator", "admin"):
        return login_as(role)
    return None


def check(response, expected) -> bool:
    if expected == SIGN_IN:
        return response.status_code == 303 and response.headers["location"].startswith("/connexion")
    return response.status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_get_routes(client, login_as, role):
    sign_in(role, login_as)
    wrong = []
    for path, expected in GET_MATRIX.items():
        response = client.get(path, follow_redirects=False)
        if not check(response, expected[ROLES.index(role)]):
            wrong.append((path, response.status_code, expected[ROLES.index(role)]))
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_post_routes_and_nothing_changes_without_the_right(client, app, login_as, role):
    sign_in(role, login_as)
    page = client.get("/connexion" if role == "visitor" else "/mon-compte")
    token = csrf_of(page.text)
    wrong = []
    for (path, form), expected in POST_MATRIX.items():
        want = expected[ROLES.index(role)]
        response = client.post(
            path, data={"csrf_token": token, **FORMS[form]}, follow_redirects=False
        )
        if not check(response, want):
            wrong.append((path, form, response.status_code, want))
    assert wrong == []
    with read_session(app.state.engine) as session:
        draft_title = get_by_slug(session, DRAFT).title
        submitted = get_by_slug(session, SUBMITTED)
    may_edit_draft = role in ("contributor", "curator", "admin")
    assert (draft_title == "Titre changé par la matrice") == may_edit_draft
    curator = role in ("curator", "admin")
    assert (submitted.status == "published") == curator
    assert (submitted.title == "Titre changé par la matrice") == curator


def test_posted_role_or_regie_fields_are_ignored_for_contributors(client, app, login_as):
    user = login_as("contributor", regie="regie-du-canal")
    token = csrf_of(client.get("/mon-compte").text)
    client.post(
        "/mon-compte",
        data={
            "csrf_token": token,
            "role": "admin",
            "current_password": "x",
            "new_password": "y",
            "confirm_password": "y",
        },
    )
    response = client.post(
        "/contribuer",
        data={
            "csrf_token": token,
            "action": "save",
            "title": "Pour une autre Régie",
            "regie": "regie-des-trois-quartiers",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    slug = response.headers["location"].split("/")[2]
    with read_session(app.state.engine) as session:
        from resource_centre.models import User

        assert session.get(User, user.id).role == "contributor"
        assert get_by_slug(session, slug).regie_id == user.regie_id
