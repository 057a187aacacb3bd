"""Curation: the state machine by role, index agreement, taxonomy merges, radar."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from resource_centre.db import read_session, write_session
from resource_centre.models import AuditEvent, CapitalisationRequest, Comment, SearchLog, WriteUp
from resource_centre.writeups import get_by_slug
from tests.web.conftest import csrf_of

STATES = ("draft", "submitted", "changes_requested", "published", "archived")
ACTIONS = ("publish", "request_changes", "archive", "feature", "unfeature")
# (state, action) → state after; anything not listed is refused with 409.
ALLOWED = {
    ("submitted", "publish"): "published",
    ("submitted", "request_changes"): "changes_requested",
    ("published", "archive"): "archived",
    ("published", "feature"): "published",
}


def set_state(app, slug: str, status: str, featured: bool = False) -> None:
    with write_session(app.state.engine) as session:
        fiche = get_by_slug(session, slug)
        fiche.status = status
        fiche.featured = featured
        if status == "published" and fiche.published_at is None:
            from datetime import date

            fiche.published_at = date(2024, 1, 1)
    app.state.index.catch_up()


def state_of(app, slug: str) -> WriteUp:
    with read_session(app.state.engine) as session:
        return get_by_slug(session, slug)


def act(client, slug: str, action: str, comment: str = "Merci d'ajouter les chiffres."):
    token = csrf_of(client.get(f"/curation/fiches/{slug}").text)
    return client.post(
        f"/curation/fiches/{slug}",
        data={"csrf_token": token, "action": action, "comment": comment},
        follow_redirects=False,
    )


def wait_indexed(app) -> None:
    deadline = time.monotonic() + 2
    while not app.state.index.check().ok:
        assert time.monotonic() < deadline, "index not in step after 2 s"
        time.sleep(0.05)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_state_machine_for_curators(client, app, login_as, state, action):
    login_as("curator")
    slug = "laverie-solidaire-du-canal"
    set_state(app, slug, state)
    before = state_of(app, slug)
    response = act(client, slug, action)
    after = state_of(app, slug)
    if (state, action) in ALLOWED:
        assert response.status_code == 303, response.text
        assert after.status == ALLOWED[(state, action)]
        with read_session(app.state.engine) as session:
            events = (
                session.execute(select(AuditEvent.action).where(AuditEvent.slug == slug))
                .scalars()
                .all()
            )
        assert action in events
    else:
        assert response.status_code == 409
        assert (
            "impossible" in response.text.lower()
            or "seule" in response.text.lower()
            or "déjà" in response.text
            or "n'est pas" in response.text
        )
        assert (after.status, after.featured, after.version) == (
            before.status,
            before.featured,
            before.version,
        )
    wait_indexed(app)  # database, audit log and index agree after every attempt
    public = client.get("/api/writeups", params={"q": "laverie"}).json()
    assert (slug in [h["slug"] for h in public["data"]]) == (after.status == "published")


def test_request_changes_needs_a_comment(client, app, login_as):
    login_as("curator")
    set_state(app, "laverie-solidaire-du-canal", "submitted")
    response = act(client, "laverie-solidaire-du-canal", "request_changes", comment="  ")
    assert response.status_code == 422 and 'id="comment-erreur"' in response.text
    assert "dites à la Régie ce qu&#39;il faut modifier" in response.text
    assert state_of(app, "laverie-solidaire-du-canal").status == "submitted"


@pytest.mark.parametrize("role", ["visitor", "contributor", "other-contributor"])
@pytest.mark.parametrize("action", ACTIONS)
def test_no_curation_action_without_the_role(client, app, login_as, role, action):
    slug = "laverie-solidaire-du-canal"
    set_state(app, slug, "submitted" if action in ("publish", "request_changes") else "published")
    before = state_of(app, slug)
    if role == "contributor":
        login_as("contributor", regie="regie-du-canal")
    elif role == "other-contributor":
        login_as("contributor", regie="regie-des-trois-quartiers")
    token = csrf_of(client.get("/connexion" if role == "visitor" else "/mon-compte").text)
    response = client.post(
        f"/curation/fiches/{slug}",
        data={"csrf_token": token, "action": action, "comment": "x"},
        follow_redirects=False,
    )
    assert response.status_code in (303, 403)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/connexion")
    after = state_of(app, slug)
    assert (after.status, after.featured, after.version) == (
        before.status,
        before.featured,
        before.version,
    )


def test_full_review_cycle_with_comment_and_resubmission(client, app, login_as, make_user):
    from tests.web.conftest import login

    slug = "epicerie-soumise"
    curator = make_user("curator")
    contributor = make_user("contributor", regie="regie-des-trois-quartiers")
    login(client, curator)
    assert "Épicerie solidaire" in client.get("/curation").text
    assert act(client, slug, "request_changes", "Ajoutez le nombre de familles.").status_code == 303
    login(client, contributor)
    mine = client.get("/mes-fiches").text
    assert "Ajoutez le nombre de familles." in mine and "Modifications demandées" in mine
    page = client.get(f"/fiches/{slug}/modifier").text
    import re

    token = csrf_of(page)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    form = {
        "csrf_token": token,
        "version": version,
        "action": "submit",
        "title": "Épicerie solidaire en pied d'immeuble",
        "summary": "Une épicerie solidaire.",
        "themes": "agriculture-urbaine",
        "context": "Contexte.",
        "method": "Démarche.",
        "lessons": "Enseignements.",
        "results": "120 familles inscrites.",
    }
    assert (
        client.post(f"/fiches/{slug}/modifier", data=form, follow_redirects=False).status_code
        == 303
    )
    assert state_of(app, slug).status == "submitted"
    login(client, curator)
    assert act(client, slug, "publish").status_code == 303
    deadline = time.monotonic() + 2
    while slug not in [
        h["slug"]
        for h in client.get("/api/writeups", params={"q": "familles inscrites"}).json()["data"]
    ]:
        assert time.monotonic() < deadline, "published fiche not searchable within 2 s"
        time.sleep(0.05)
    with read_session(app.state.engine) as session:
        assert session.execute(
            select(Comment).where(Comment.body == "Ajoutez le nombre de familles.")
        ).first()


def test_publishing_a_revision_replaces_the_published_text(client, app, login_as, make_user):
    from tests.web.conftest import login

    with write_session(app.state.engine) as session:
        fiche = get_by_slug(session, "laverie-solidaire-du-canal")
        fiche.pending = {
            "title": fiche.title,
            "summary": "Résumé révisé",
            "regie": "regie-du-canal",
            "themes": fiche.themes,
            "sections": {**fiche.sections, "results": "5 000 lavages"},
        }
        fiche.pending_status = "submitted"
    curator = make_user("curator")
    login(client, curator)
    review = client.get("/curation/fiches/laverie-solidaire-du-canal").text
    assert "<ins>5 000 lavages</ins>" in review and "<del>3 200 lavages" in review
    assert act(client, "laverie-solidaire-du-canal", "publish").status_code == 303
    fiche = state_of(app, "laverie-solidaire-du-canal")
    assert (
        fiche.summary == "Résumé révisé" and fiche.pending is None and fiche.status == "published"
    )
    wait_indexed(app)


def test_merging_two_themes_updates_fiches_facets_and_search(client, app, login_as):
    login_as("curator")
    token = csrf_of(client.get("/curation/taxonomie").text)
    response = client.post(
        "/curation/taxonomie",
        data={
            "csrf_token": token,
            "operation": "merge",
            "vocabulary": "themes",
            "slug": "modele-economique",
            "target": "insertion-emploi",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    fiche = state_of(app, "laverie-solidaire-du-canal")
    assert fiche.themes == ["insertion-emploi"]
    wait_indexed(app)
    body = client.get("/api/writeups", params={"theme": "modele-economique"}).json()
    assert body["notices"] and body["total"] == 3  # unknown value now: ignored with a notice
    facets = {f["value"]: f["count"] for f in client.get("/api/writeups").json()["facets"]["theme"]}
    assert "modele-economique" not in facets and facets["insertion-emploi"] == 2
    found = client.get("/api/writeups", params={"theme": "insertion-emploi", "q": "laverie"}).json()
    assert [h["slug"] for h in found["data"]] == ["laverie-solidaire-du-canal"]


def test_a_value_in_use_cannot_be_deleted(client, app, login_as):
    login_as("curator")
    token = csrf_of(client.get("/curation/taxonomie").text)
    response = client.post(
        "/curation/taxonomie",
        data={
            "csrf_token": token,
            "operation": "delete",
            "vocabulary": "themes",
            "slug": "lien-social",
        },
    )
    assert response.status_code == 409 and "fusionnez-la" in response.text


def test_renaming_a_regie_reaches_search(client, app, login_as):
    login_as("curator")
    token = csrf_of(client.get("/curation/taxonomie").text)
    data = {
        "csrf_token": token,
        "operation": "edit",
        "slug": "regie-du-canal",
        "name": "Régie Belvédère",
        "kind": "quartier",
        "city": "Saint-Denis",
        "department": "Seine-Saint-Denis (93)",
        "region": "ile-de-france",
    }
    assert client.post("/curation/regies", data=data, follow_redirects=False).status_code == 303
    wait_indexed(app)
    assert [
        h["slug"] for h in client.get("/api/writeups", params={"q": "belvedere"}).json()["data"]
    ] == ["laverie-solidaire-du-canal"]


def test_zero_result_search_reaches_the_radar_and_needs_can_be_reported(client, app, login_as):
    client.get("/api/writeups", params={"q": "apiculture ruches"})
    token = csrf_of(client.get("/connexion").text)
    response = client.post(
        "/besoins",
        data={
            "csrf_token": token,
            "q": "apiculture ruches",
            "theme": "agriculture-urbaine",
            "message": "Des ruches sur les toits du bailleur ?",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    app.state.search_log.flush()
    with read_session(app.state.engine) as session:
        need = session.execute(select(CapitalisationRequest)).scalar_one()
        assert need.filters == {"theme": ["agriculture-urbaine"]}
        assert (
            session.execute(select(SearchLog).where(SearchLog.query == "apiculture ruches"))
            .scalar_one()
            .total
            == 0
        )
    login_as("curator")
    radar = client.get("/curation/radar").text
    assert "apiculture ruches" in radar and "Des ruches sur les toits du bailleur ?" in radar
    token = csrf_of(radar)
    answered = client.post(
        "/curation/radar",
        data={"csrf_token": token, "request_id": need.id, "slug": "jardin-partage-des-tilleuls"},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    assert "Traitée par" in client.get("/curation/radar").text


def test_admin_manages_accounts_curator_cannot(client, app, login_as, make_user):
    curator_page = None
    login_as("curator")
    curator_page = client.get("/curation/utilisateurs")
    assert curator_page.status_code == 403
    login_as("admin")
    page = client.get("/curation/utilisateurs")
    token = csrf_of(page.text)
    created = client.post(
        "/curation/utilisateurs",
        data={
            "csrf_token": token,
            "operation": "create",
            "email": "nouvelle@exemple.org",
            "name": "Nouvelle",
            "role": "contributor",
            "regie": "regie-du-canal",
        },
    )
    assert created.status_code == 200 and "affiché une seule fois" in created.text
    target = make_user("contributor", email="partante@exemple.org")
    response = client.post(
        "/curation/utilisateurs",
        data={"csrf_token": token, "operation": "deactivate", "user_id": target.id},
        follow_redirects=False,
    )
    assert response.status_code == 303
    from tests.web.conftest import login

    other = type(client)(app)
    assert login(other, target).status_code == 422  # a deactivated account cannot sign in


def test_opened_results_are_counted_and_searches_without_click_are_shown(client, app, login_as):
    import re

    page = client.get("/fiches", params={"q": "laverie"}).text
    link = re.search(r'href="(/fiches/laverie-solidaire-du-canal\?s=[0-9a-f]{16})"', page).group(1)
    assert client.get(link).status_code == 200
    client.get("/fiches", params={"q": "jardin"})  # results shown, none opened
    app.state.search_log.flush()
    from resource_centre.models import SearchClick

    with read_session(app.state.engine) as session:
        click = session.execute(select(SearchClick)).scalar_one()
    assert click.slug == "laverie-solidaire-du-canal" and link.endswith(click.token)
    login_as("curator")
    radar = client.get("/curation/radar").text
    no_click = radar.split('id="noclick-titre"')[1].split("</section>")[0]
    assert "jardin (1)" in no_click and "laverie" not in no_click


def test_flash_message_after_an_action_is_shown_once(client, app, login_as):
    login_as("curator")
    set_state(app, "laverie-solidaire-du-canal", "published")
    response = act(client, "laverie-solidaire-du-canal", "feature")
    page = client.get(response.headers["location"]).text
    assert "La fiche est mise en avant sur l&#39;accueil." in page and 'role="status"' in page
    again = client.get(response.headers["location"]).text
    assert "La fiche est mise en avant" not in again
