"""Followed searches over HTTP (issue 15): « Suivre cette recherche », /suivis, no longer
following; what is new since the last visit; the normalised query strings."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.testclient import TestClient

from resource_centre import following
from resource_centre.db import read_session, write_session
from resource_centre.following import FollowError
from resource_centre.models import FollowedSearch, User
from resource_centre.search.request import request_from_params
from resource_centre.web.facets import state_items
from resource_centre.writeups import get_by_slug
from tests.web.conftest import csrf_of, login

SEARCH = "q=jardin&theme=agriculture-urbaine"


def signed_in(app: FastAPI, user: User) -> TestClient:
    """A browser of its own (cookies) signed in as `user`."""
    browser = TestClient(app, raise_server_exceptions=False)
    assert login(browser, user).status_code == 303
    return browser


def follows_of(app: FastAPI, user: User) -> list[FollowedSearch]:
    with read_session(app.state.engine) as session:
        return following.list_for(session, user)


def follow(browser: TestClient, query: str, page: str = "/fiches"):
    token = csrf_of(browser.get(page).text)
    return browser.post(
        "/suivis", data={"csrf_token": token, "query": query}, follow_redirects=False
    )


def unfollow(browser: TestClient, followed_id: int):
    token = csrf_of(browser.get("/suivis").text)
    return browser.post(
        f"/suivis/{followed_id}/supprimer", data={"csrf_token": token}, follow_redirects=False
    )


def flash_of(browser: TestClient, response) -> str:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/suivis"
    page = browser.get("/suivis")
    match = re.search(r'<div class="flash([^"]*)" role="status">\s*<p>([^<]*)</p>', page.text)
    assert match, "no flash message"
    kind = "error" if "flash-error" in match.group(1) else "success"
    return match.group(2) if kind == "success" else f"[erreur] {match.group(2)}"


def set_status(app: FastAPI, slug: str, status: str) -> None:
    with write_session(app.state.engine) as session:
        fiche = get_by_slug(session, slug)
        assert fiche is not None
        fiche.status = status


def publish(browser: TestClient, slug: str) -> None:
    """A curator publishes a submitted fiche through the review page."""
    token = csrf_of(browser.get(f"/curation/fiches/{slug}").text)
    response = browser.post(
        f"/curation/fiches/{slug}",
        data={"csrf_token": token, "action": "publish", "comment": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def wait_searchable(browser: TestClient, query: str, slug: str) -> None:
    deadline = time.monotonic() + 5
    while slug not in [h["slug"] for h in browser.get(f"/api/writeups?{query}").json()["data"]]:
        assert time.monotonic() < deadline, f"{slug} not found by {query} within 5 s"
        time.sleep(0.05)


# --- Following and no longer following -------------------------------------------------------


def test_follow_from_the_library_then_unfollow(app, client, login_as):
    user = login_as("contributor")
    page = client.get(f"/fiches?{SEARCH}&page=1&theme=inconnu")
    assert page.status_code == 200
    form = re.search(r'<form class="inline-form" method="post" action="/suivis">(.*?)</form>',
                     page.text, re.S)  # fmt: skip
    assert form, "no « Suivre cette recherche » form on the library page"
    amp = SEARCH.replace("&", "&amp;")
    # The search as the library understood it: no page, no unknown value.
    assert f'name="query" value="{amp}"' in form.group(1)
    assert "Suivre cette recherche" in form.group(1)
    assert 'name="csrf_token"' in form.group(1)
    assert f'href="/flux.atom?{amp}" type="application/atom+xml"' in page.text
    assert (
        f'<link rel="alternate" type="application/atom+xml" title="Flux Atom de cette recherche" href="/flux.atom?{amp}">'
        in page.text
    )

    # Page, page size and unknown parameters are not part of the followed search.
    response = follow(client, f"{SEARCH}&page=3&page_size=50&utm_source=x&theme=inconnu")
    assert flash_of(client, response).startswith("Recherche suivie")
    [followed] = follows_of(app, user)
    assert followed.query == SEARCH
    assert followed.label == "« jardin » · Thèmes : Agriculture urbaine et alimentation"

    # The same search written otherwise is the same followed search.
    response = follow(client, "theme=agriculture-urbaine&q=++jardin+")
    assert flash_of(client, response) == "Vous suivez déjà cette recherche."
    assert [f.id for f in follows_of(app, user)] == [followed.id]

    listing = client.get("/suivis")
    assert listing.status_code == 200
    assert "<h1>Mes recherches suivies</h1>" in listing.text
    assert "« jardin » · Thèmes : Agriculture urbaine et alimentation" in listing.text
    assert f'href="/fiches?{SEARCH.replace("&", "&amp;")}"' in listing.text
    assert f'href="/flux.atom?{SEARCH.replace("&", "&amp;")}"' in listing.text
    assert 'href="/suivis" aria-current="page">Mes suivis</a>' in listing.text
    assert listing.headers["cache-control"] == "no-store"

    assert flash_of(client, unfollow(client, followed.id)) == "Vous ne suivez plus cette recherche."
    assert follows_of(app, user) == []
    empty = client.get("/suivis")
    assert "Vous ne suivez aucune recherche" in empty.text


def test_the_whole_library_can_be_followed(app, client, login_as):
    user = login_as("contributor")
    assert flash_of(client, follow(client, "")).startswith("Recherche suivie")
    assert flash_of(client, follow(client, "page=2")) == "Vous suivez déjà cette recherche."
    [followed] = follows_of(app, user)
    assert (followed.query, followed.label) == ("", "Toute la bibliothèque")


def test_another_accounts_followed_search_is_not_found(app, make_user):
    owner, other = make_user("contributor"), make_user("contributor")
    mine, theirs = signed_in(app, owner), signed_in(app, other)
    follow(mine, SEARCH)
    [followed] = follows_of(app, owner)
    assert unfollow(theirs, followed.id).status_code == 404
    assert unfollow(theirs, 999_999).status_code == 404
    assert unfollow(theirs, 0).status_code == 404
    assert f"/suivis/{followed.id}/supprimer" not in theirs.get("/suivis").text
    assert [f.id for f in follows_of(app, owner)] == [followed.id]  # still there


def test_following_needs_the_csrf_token(app, client, login_as):
    user = login_as("contributor")
    refused = client.post("/suivis", data={"query": SEARCH}, follow_redirects=False)
    assert refused.status_code == 403
    bad = client.post("/suivis", data={"query": SEARCH, "csrf_token": "0" * 128})
    assert bad.status_code == 403
    assert follows_of(app, user) == []
    follow(client, SEARCH)
    [followed] = follows_of(app, user)
    refused = client.post(f"/suivis/{followed.id}/supprimer", follow_redirects=False)
    assert refused.status_code == 403
    assert len(follows_of(app, user)) == 1


def test_visitors_are_asked_to_sign_in(app, client):
    page = client.get(f"/fiches?{SEARCH}")
    assert "Se connecter pour suivre cette recherche" in page.text
    assert 'action="/suivis"' not in page.text
    target = "/connexion?" + urlencode({"next": f"/fiches?{SEARCH}"}).replace("&", "&amp;")
    assert f'href="{target}"' in page.text
    assert (
        client.get("/suivis", follow_redirects=False)
        .headers["location"]
        .startswith("/connexion?next=/suivis")
    )
    token = csrf_of(client.get("/connexion").text)  # a visitor's own, valid token
    response = client.post(
        "/suivis", data={"csrf_token": token, "query": SEARCH}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion")
    with read_session(app.state.engine) as session:
        assert session.execute(select(FollowedSearch)).first() is None


def test_at_most_fifty_followed_searches(app, client, login_as):
    user = login_as("contributor")
    with write_session(app.state.engine) as session:
        for year in range(2000, 2000 + following.MAX_FOLLOWED):
            following.follow(session, user, f"year_min={year}")
    response = follow(client, "q=une+de+trop")
    message = flash_of(client, response)
    assert message == f"[erreur] {following.TOO_MANY}"
    assert len(follows_of(app, user)) == following.MAX_FOLLOWED
    # Following one already followed is still answered kindly.
    assert flash_of(client, follow(client, "year_min=2000")) == "Vous suivez déjà cette recherche."


# --- New since the last visit -----------------------------------------------------------------


def test_suivis_shows_what_is_new_since_the_last_visit_then_not(app, client, login_as, make_user):
    reader = login_as("contributor")
    follow(client, "theme=agriculture-urbaine")
    first = client.get("/suivis").text
    assert "Nouveau depuis votre dernière visite" in first
    assert "Aucune nouvelle fiche depuis le" in first
    assert "Un jardin partagé au pied des immeubles" not in first  # published before

    curator = signed_in(app, make_user("curator"))
    publish(curator, "epicerie-soumise")  # agriculture-urbaine: matches
    set_status(app, "ressourcerie-brouillon", "submitted")
    publish(curator, "ressourcerie-brouillon")  # economie-circulaire: does not
    wait_searchable(client, "theme=agriculture-urbaine", "epicerie-soumise")
    wait_searchable(client, "theme=economie-circulaire", "ressourcerie-brouillon")

    second = client.get("/suivis").text
    new = second.split("Nouveau depuis votre dernière visite", 1)[1]
    assert "1 nouvelle fiche depuis le" in new
    assert '<a href="/fiches/epicerie-soumise">Épicerie solidaire en pied d&#39;immeuble</a>' in new
    assert "ressourcerie-brouillon" not in new
    assert "jardin-partage-des-tilleuls" not in new

    third = client.get("/suivis").text  # seen: no longer new
    assert "epicerie-soumise" not in third
    assert "Aucune nouvelle fiche depuis le" in third
    [followed] = follows_of(app, reader)
    assert followed.visited_at > followed.created_at


# --- The query string ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        SEARCH,
        "year_max=2019&year_min=2022&sort=title&q=caf%C3%A9&section=lessons&section=method",
        "regie=regie-du-canal&theme=b&theme=a&audience=habitants&kind=express&page_size=3",
        "/fiches?q=%22jardin+partag%C3%A9%22+-bailleur#resultats",
        "?sort=nimporte&year_min=abc&page=-1",
        "",
    ],
)
def test_normalised_queries_are_the_librarys_own_urls(raw):
    normalised = following.normalise(raw)
    params = {k: v for k, v in following._raw_params(raw).items()}
    request = request_from_params(params, {})
    expected = [(k, v) for k, v in state_items(request) if k not in ("page", "page_size")]
    assert normalised == urlencode(expected)
    assert following.normalise(normalised) == normalised  # stable


def test_labels_and_bounds():
    labels = {"theme": {"agriculture-urbaine": "Agriculture urbaine"}}
    request = following.request_of("q=compost&theme=agriculture-urbaine&theme=autre&year_min=2020")
    assert following.label(request, labels) == (
        "« compost » · Thèmes : Agriculture urbaine ou autre · Années : à partir de 2020"
    )
    assert following.label(following.request_of(""), labels) == "Toute la bibliothèque"
    assert following.normalise("theme=inconnu", {"theme": {"a"}}) == ""
    with pytest.raises(FollowError):
        following.normalise("q=" + "mot " * 400)
    with pytest.raises(FollowError):
        following.normalise("x=1&" * 1000)
