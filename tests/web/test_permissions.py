"""The permission matrix: every route of the app, every role, decided on the server. A new
route without a row here fails `test_every_route_of_the_app_is_in_the_matrix`."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from resource_centre.db import read_session, write_session
from resource_centre.models import Attachment
from resource_centre.writeups import get_by_slug
from tests.web.conftest import csrf_of

ROLES = ("visitor", "contributor", "other-contributor", "curator", "admin")
DRAFT = "ressourcerie-brouillon"  # regie-du-canal
SUBMITTED = "epicerie-soumise"  # regie-des-trois-quartiers
PUBLISHED = "laverie-solidaire-du-canal"  # regie-du-canal
ARCHIVED = "chantier-archive"  # regie-des-trois-quartiers
SIGN_IN = "sign-in"  # a 303 to /connexion
SIGNED_IN = "signed-in"  # a 303 to /mes-fiches: the sign-in form is not for signed-in users
HOME = "home"  # a 303 to /
# Attachments added by the `attachments` fixture; paths below name them by these keys.
FILES = {"draft_file": DRAFT, "published_file": PUBLISHED}
# The framework's own pages, outside the matrix: OpenAPI schema and its viewer.
FRAMEWORK_PATHS = {"/openapi.json", "/api/docs", "/docs/oauth2-redirect"}

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
    "/curation/glossaire": (SIGN_IN, 403, 403, 200, 200),
    "/curation/glossaire/1": (SIGN_IN, 403, 403, 404, 404),  # the test library has no glossary
    # Public pages and API (PUBLIC_READ=true, the default).
    "/": (200, 200, 200, 200, 200),
    "/fiches": (200, 200, 200, 200, 200),
    "/regies": (200, 200, 200, 200, 200),
    "/regies/regie-du-canal": (200, 200, 200, 200, 200),
    "/glossaire": (200, 200, 200, 200, 200),
    "/flux.atom": (200, 200, 200, 200, 200),
    "/api/writeups": (200, 200, 200, 200, 200),
    f"/api/writeups/{PUBLISHED}": (200, 200, 200, 200, 200),
    "/api/taxonomy": (200, 200, 200, 200, 200),
    "/api/suggest": (200, 200, 200, 200, 200),
    "/fiches/filtres/regie": (200, 200, 200, 200, 200),
    "/api/regies": (200, 200, 200, 200, 200),
    "/api/health": (200, 200, 200, 200, 200),
    "/connexion": (200, SIGNED_IN, SIGNED_IN, SIGNED_IN, SIGNED_IN),
    # E-mail (issue 15): followed searches, the admins' outbox, links sent by e-mail.
    "/suivis": (SIGN_IN, 200, 200, 200, 200),
    "/curation/courriels": (SIGN_IN, 403, 403, 403, 200),
    "/curation/courriels/999.eml": (SIGN_IN, 403, 403, 403, 404),
    "/mot-de-passe-oublie": (200, 200, 200, 200, 200),
    "/mot-de-passe/inconnu": (404, 404, 404, 404, 404),
    "/invitation/inconnu": (404, 404, 404, 404, 404),
    "/desabonnement/inconnu": (404, 404, 404, 404, 404),
    # A draft's attachment is read by whoever may read the draft; a published one by all.
    f"/fiches/{DRAFT}/pieces-jointes/{{draft_file}}": (404, 200, 404, 200, 200),
    f"/fiches/{PUBLISHED}/pieces-jointes/{{published_file}}": (200, 200, 200, 200, 200),
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
    # The entry added first is entry 1, then changed and deleted (curators only).
    ("/curation/glossaire", "glossary-add"): (SIGN_IN, 403, 403, 303, 303),
    ("/curation/glossaire/1", "glossary-save"): (SIGN_IN, 403, 403, 303, 303),
    ("/curation/glossaire/1/supprimer", "glossary-delete"): (SIGN_IN, 403, 403, 303, 303),
    ("/connexion", "wrong-password"): (422, 422, 422, 422, 422),
    ("/mon-compte", "wrong-current-password"): (SIGN_IN, 422, 422, 422, 422),
    ("/contribuer", "new-draft"): (SIGN_IN, 303, 303, 303, 303),
    ("/besoins", "need"): (303, 303, 303, 303, 303),
    ("/suivis", "follow"): (SIGN_IN, 303, 303, 303, 303),
    ("/suivis/999/supprimer", "unfollow-unknown"): (SIGN_IN, 404, 404, 404, 404),
    ("/mon-compte/notifications", "weekly"): (SIGN_IN, 303, 303, 303, 303),
    ("/curation/utilisateurs/inviter", "invite-admin"): (SIGN_IN, 403, 403, 403, 303),
    ("/curation/utilisateurs/annuler-invitation", "invite-cancel-unknown"): (
        SIGN_IN,
        403,
        403,
        403,
        409,
    ),
    ("/mot-de-passe-oublie", "forgot"): (200, 200, 200, 200, 200),
    ("/mot-de-passe/inconnu", "reset-unknown"): (404, 404, 404, 404, 404),
    ("/invitation/inconnu", "invitation-unknown"): (404, 404, 404, 404, 404),
    ("/desabonnement/inconnu", "unsubscribe-unknown"): (404, 404, 404, 404, 404),
    ("/deconnexion", "sign-out"): (HOME, HOME, HOME, HOME, HOME),  # last: it signs out
}
FORMS = {
    "draft-save": {"action": "save", "title": "Titre changé par la matrice"},
    "submitted-save": {"action": "save", "title": "Titre changé par la matrice"},
    "publish": {"action": "publish"},
    "term-add": {"operation": "add", "vocabulary": "themes", "label": "Thème de la matrice"},
    "regie-retire": {"operation": "retire", "slug": "regie-des-hauts-plateaux"},
    "user-create-admin": {"operation": "create", "email": "pirate@exemple.org", "role": "admin"},
    "answer": {"request_id": "999", "slug": PUBLISHED},
    "wrong-password": {"email": "personne@exemple.org", "password": "pas le bon"},
    "wrong-current-password": {
        "current_password": "pas le bon",
        "new_password": "un nouveau mot de passe",
        "confirm_password": "un nouveau mot de passe",
    },
    "new-draft": {"action": "save", "title": "Brouillon de la matrice"},
    "need": {"q": "jardin partagé", "message": "Besoin signalé par la matrice"},
    "glossary-add": {"term": "MTX", "kind": "acronym", "expansions": "sigle de la matrice"},
    "glossary-save": {"term": "MTX", "kind": "acronym", "expansions": "sigle changé"},
    "glossary-delete": {},
    "sign-out": {},
    "follow": {"query": "q=jardin"},
    "unfollow-unknown": {},
    "weekly": {"mail_frequency": "weekly"},
    "invite-admin": {"email": "pirate2@exemple.org", "role": "admin"},
    "invite-cancel-unknown": {"user_id": "999999"},
    "forgot": {"email": "personne@exemple.org"},
    "reset-unknown": {
        "password": "un mot de passe assez long",
        "password_confirm": "un mot de passe assez long",
    },
    "invitation-unknown": {
        "password": "un mot de passe assez long",
        "password_confirm": "un mot de passe assez long",
    },
    "unsubscribe-unknown": {},
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
    if expected == SIGNED_IN:
        return response.status_code == 303 and response.headers["location"] == "/mes-fiches"
    if expected == HOME:
        return response.status_code == 303 and response.headers["location"] == "/"
    return response.status_code == expected


@pytest.fixture
def attachments(app) -> dict[str, int]:
    """One PDF attached to the draft and one to the published fiche: {key of FILES: id}."""
    folder = app.state.settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    ids = {}
    with write_session(app.state.engine) as session:
        for key, slug in FILES.items():
            (folder / f"{key}.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
            attachment = Attachment(
                writeup_id=get_by_slug(session, slug).id, stored_name=f"{key}.pdf",
                original_name=f"{key}.pdf", content_type="application/pdf", size=15,
            )  # fmt: skip
            session.add(attachment)
            session.flush()
            ids[key] = attachment.id
    return ids


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path template) of every route of the app, the framework's pages aside."""
    found = set()
    for route in iter_route_contexts(app.routes):
        if not route.methods or route.path in FRAMEWORK_PATHS:  # a Mount (static) has none
            continue
        found.update((method, route.path) for method in route.methods - {"HEAD"})
    return found


def test_every_route_of_the_app_is_in_the_matrix(app):
    routes = app_routes(app)
    assert ("GET", "/fiches/{slug}") in routes and ("POST", "/curation/radar") in routes
    rows = [("GET", path) for path in GET_MATRIX] + [("POST", path) for path, _ in POST_MATRIX]
    covered = set()
    for method, path in rows:
        concrete = path.format(**dict.fromkeys(FILES, 1))
        for route_method, template in routes:
            # /fiches/{slug} matches /fiches/anything but not /fiches/anything/modifier.
            pattern = "[^/]+".join(map(re.escape, re.split(r"\{[^}]+\}", template)))
            if route_method == method and re.fullmatch(pattern, concrete):
                covered.add((route_method, template))
    missing = sorted(routes - covered)
    assert missing == [], f"add rows to GET_MATRIX or POST_MATRIX for {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_get_routes(client, login_as, attachments, role):
    sign_in(role, login_as)
    wrong = []
    for path, expected in GET_MATRIX.items():
        response = client.get(path.format(**attachments), follow_redirects=False)
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
    with read_session(app.state.engine) as session:
        from resource_centre.models import User

        invited = session.execute(
            select(User).where(User.email == "pirate2@exemple.org")
        ).scalar_one_or_none()
    assert (invited is not None) == (role == "admin")


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


# --- team work in a Régie: colleagues read and edit the Régie's drafts ---------------------


@pytest.fixture
def team_client(tmp_path, database_url):
    """An app on each test database (SQLite and PostgreSQL), with the test corpus."""
    from starlette.testclient import TestClient

    from resource_centre.config import Settings
    from resource_centre.corpus import import_corpus
    from resource_centre.db import make_engine
    from resource_centre.web.app import create_app
    from tests.conftest import TEST_KNOWLEDGE

    engine = make_engine(database_url)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    engine.dispose()
    settings = Settings(
        database_url=database_url,
        index_dir=tmp_path / "index",
        data_dir=tmp_path / "data",
        knowledge_dir=TEST_KNOWLEDGE,
        index_poll_seconds=0.05,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_contributors_of_the_same_regie_read_and_edit_its_drafts(team_client):
    from resource_centre.auth import create_user
    from resource_centre.db import write_session
    from tests.web.conftest import PASSWORD, login

    client = team_client
    engine = client.app.state.engine
    with write_session(engine) as session:
        author, colleague, outsider = (
            create_user(session, email=email, password=PASSWORD, role="contributor",
                        regie_slug=regie)
            for email, regie in (
                ("autrice@exemple.org", "regie-du-canal"),
                ("collegue@exemple.org", "regie-du-canal"),
                ("voisine@exemple.org", "regie-des-trois-quartiers"),
            )
        )  # fmt: skip

    def save(slug, title, status=303):
        page = client.get(f"/fiches/{slug}/modifier")
        version = re.search(r'name="version" value="(\d+)"', page.text)
        data = {"csrf_token": csrf_of(client.get("/mes-fiches").text), "action": "save",
                "title": title, "version": version.group(1) if version else ""}  # fmt: skip
        response = client.post(f"/fiches/{slug}/modifier", data=data, follow_redirects=False)
        assert response.status_code == status, response.text
        return response

    assert login(client, author).status_code == 303
    token = csrf_of(client.get("/contribuer").text)
    created = client.post(
        "/contribuer",
        data={"csrf_token": token, "action": "save", "title": "Brouillon écrit à plusieurs"},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    slug = created.headers["location"].split("/")[2]

    client.cookies.clear()
    assert login(client, colleague).status_code == 303
    assert "Brouillon écrit à plusieurs" in client.get("/mes-fiches").text
    assert client.get(f"/fiches/{slug}/modifier").status_code == 200
    save(slug, "Complété par la collègue")
    # …and the Régie's older draft, written by someone else (the test corpus).
    assert client.get(f"/fiches/{DRAFT}/modifier").status_code == 200

    client.cookies.clear()
    assert login(client, outsider).status_code == 303
    assert "Complété par la collègue" not in client.get("/mes-fiches").text
    assert client.get(f"/fiches/{slug}/modifier").status_code == 404
    save(slug, "Changé par une autre Régie", status=404)

    with read_session(engine) as session:
        writeup = get_by_slug(session, slug)
    assert writeup.title == "Complété par la collègue" and writeup.status == "draft"
    assert writeup.author_id == author.id
