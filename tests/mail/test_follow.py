"""Followed searches over HTTP (issue 15): « Suivre cette recherche », /suivis, no longer
following; what is new since the last visit; the normalised query strings."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select, update
from starlette.testclient import TestClient

from resource_centre import following
from resource_centre.auth import create_user
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.following import FollowError
from resource_centre.models import FollowedSearch, User, WriteUp
from resource_centre.search.indexer import CURRENT, LOCK_FILE
from resource_centre.search.lock import WriterLock
from resource_centre.search.request import request_from_params
from resource_centre.text import CONTROL
from resource_centre.web.app import create_app
from resource_centre.web.facets import state_items
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE, make_settings
from tests.web.conftest import PASSWORD, csrf_of, login

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
    before = [f.visited_at for f in follows_of(app, user)]
    # Contract §5: the page again, 422, the error in French and the search kept.
    response = follow(client, "q=une+de+trop")
    assert response.status_code == 422
    alert = refusal_of(response.text)
    assert (
        f"La recherche « « une de trop » » n’a pas pu être suivie : {following.TOO_MANY}" in alert
    )
    assert 'href="/fiches?q=une+de+trop">Revenir à cette recherche</a>' in alert
    assert f"{following.MAX_FOLLOWED} recherches suivies" in response.text  # the list, too
    assert len(follows_of(app, user)) == following.MAX_FOLLOWED
    assert [f.visited_at for f in follows_of(app, user)] == before  # a failed POST: no visit
    # Following one already followed is still answered kindly.
    assert flash_of(client, follow(client, "year_min=2000")) == "Vous suivez déjà cette recherche."


def refusal_of(page: str) -> str:
    """The text of the error box of /suivis (one, role="alert")."""
    match = re.search(r'<div class="error-summary" role="alert"[^>]*>(.*?)</div>', page, re.S)
    assert match, "no error box"
    return match.group(1)


@pytest.mark.parametrize(
    ("query", "shown", "reason"),
    [
        ("q=" + "mot+" * 400, "La recherche « « mot mot mot", following.TOO_LONG),
        ("q=" + "a" * 10_000, "La recherche « q=aaaa", following.TOO_LONG),  # over 8,000
        ("x=1&" * 1000, "La recherche « x=1&amp;x=1&amp;x=1", following.UNREADABLE),
    ],
)
def test_a_search_that_cannot_be_followed_is_shown_again_with_why(
    app, client, login_as, query, shown, reason
):
    """Contract §5: a failed form POST shows the page again, 422, the error in French in a
    role="alert" box, with the search that was sent; nothing is followed."""
    user = login_as("contributor")
    response = follow(client, query)
    assert response.status_code == 422
    assert "<h1>Mes recherches suivies</h1>" in response.text
    alert = refusal_of(response.text)
    assert shown in alert and f"n’a pas pu être suivie : {reason}" in alert
    assert len(alert) < 5000  # quoted, never the 10 kB pasted whole
    assert follows_of(app, user) == []


# --- New since the last visit -----------------------------------------------------------------


def test_suivis_shows_what_is_new_since_the_last_visit_then_not(app, client, login_as, make_user):
    reader = login_as("contributor")
    follow(client, "theme=agriculture-urbaine")
    clock_forward(app, 10)  # followed ten minutes ago
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
    # What is new ends `SETTLE` before the visit: published a moment ago, not new yet.
    assert "epicerie-soumise" not in client.get("/suivis").text
    clock_forward(app, 2)  # two minutes later

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


# --- Hostile queries, on SQLite and PostgreSQL -------------------------------------------------


@pytest.fixture
def any_db(tmp_path: Path, database_url: str) -> Iterator[FastAPI]:
    """The app on a fresh SQLite or PostgreSQL database with the test corpus."""
    settings = make_settings(tmp_path, database_url, index_poll_seconds=0.05)
    engine = make_engine(database_url)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    engine.dispose()
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False):
        yield app


THIRTY_DIGITS = "9" * 30
HOSTILE_QUERIES = [
    ("q=%00", ""),
    ("q=%00jardin%01%1F%7F&theme=agriculture-urbaine%00", "q=jardin&theme=agriculture-urbaine"),
    ("q%00=compost", "q=compost"),
    ("q=\x01potager\x1b", "q=potager"),  # raw controls in the field (the edge strips them)
    ("theme=%00%00&regie=%1b", ""),
    (f"year_min={THIRTY_DIGITS}&year_max=-{THIRTY_DIGITS}&page={THIRTY_DIGITS}", ""),
    (f"q=verger&year_min=20{THIRTY_DIGITS}", "q=verger"),
    ("q=" + "%00" * 2600, ""),  # under the raw bound, nothing once cleaned
    ("q=" + "%0B" * 300 + "abeilles" + "%7F" * 300, "q=abeilles"),
    ("q=" + "a" * 10_000, None),  # 10 kB: refused
    ("theme=" + "b" * 10_000, None),
    ("q=" + "mot " * 400, None),  # readable, but too long to follow
]


@pytest.mark.parametrize(("raw", "stored"), HOSTILE_QUERIES)
def test_hostile_queries_are_never_a_server_error(any_db, raw, stored):
    """Control characters (NUL: PostgreSQL refuses it in text), huge numbers and 10 kB values:
    303 or 422, never 500; what is stored holds no control character, query nor label."""
    user = make_account(any_db)
    browser = signed_in(any_db, user)
    response = follow(browser, raw)
    assert response.status_code in (303, 422), response.text[:300]
    if response.status_code == 422:
        assert "<html" in response.text and 'lang="fr"' in response.text
    follows = follows_of(any_db, user)
    if stored is None:
        assert follows == []
    else:
        [followed] = follows
        assert followed.query == stored
        assert followed.label == following.label_of(stored, any_db.state.search.labels())
    for followed in follows:
        assert not CONTROL.search(followed.query) and not CONTROL.search(followed.label)
    assert browser.get("/suivis").status_code == 200


def test_a_nul_in_the_text_is_dropped_from_the_label(any_db):
    user = make_account(any_db)
    browser = signed_in(any_db, user)
    assert follow(browser, "q=jar%00din&theme=agriculture-urbaine").status_code == 303
    [followed] = follows_of(any_db, user)
    assert followed.query == "q=jardin&theme=agriculture-urbaine"
    assert followed.label == "« jardin » · Thèmes : Agriculture urbaine et alimentation"
    # The same search without the NUL is the same followed search.
    assert follow(browser, "theme=agriculture-urbaine&q=jardin").status_code == 303
    assert len(follows_of(any_db, user)) == 1


def make_account(app: FastAPI, role: str = "contributor") -> User:
    with write_session(app.state.engine) as session:
        count = len(session.execute(select(User.id)).all())
        return create_user(
            session, email=f"{role}{count}@exemple.org", password=PASSWORD, role=role,
            regie_slug="regie-du-canal" if role == "contributor" else None,
        )  # fmt: skip


# --- New since the last visit: nothing lost to a publication still committing ----------------


def clock_forward(app: FastAPI | Engine, minutes: float) -> None:
    """As if `minutes` passed: every stored time of the followed searches and every first
    publication moves that far back (Core UPDATEs: the fiches are not re-indexed).

    /suivis counts what is new up to `following.SETTLE` before the visit: a test that
    publishes then visits moves the clock past it."""
    delta = timedelta(minutes=minutes)
    engine = app if isinstance(app, Engine) else app.state.engine
    with write_session(engine) as session:
        for row in session.execute(select(FollowedSearch)).scalars().all():
            session.execute(
                update(FollowedSearch)
                .where(FollowedSearch.id == row.id)
                .values(
                    created_at=row.created_at - delta,
                    visited_at=row.visited_at - delta,
                    digest_at=row.digest_at - delta,
                )
            )
        stamped = session.execute(
            select(WriteUp.id, WriteUp.first_published_at).where(
                WriteUp.first_published_at.is_not(None)  # type: ignore[union-attr]
            )
        ).all()
        for writeup_id, first in stamped:
            session.execute(
                update(WriteUp)
                .where(WriteUp.id == writeup_id)
                .values(first_published_at=first - delta)
            )


def test_a_publication_committing_during_a_visit_is_shown_the_next_time(any_db):
    """A fiche stamped published before a visit of /suivis but committed after it (its
    transaction still running) is not visible to the visit: it must be new at the next one."""
    user = make_account(any_db)
    browser = signed_in(any_db, user)
    assert follow(browser, "").status_code == 303  # the whole library: no search needed
    clock_forward(any_db, 10)
    pages: list[str] = []

    def visit() -> None:
        pages.append(browser.get("/suivis").text)

    with write_session(any_db.state.engine) as publisher:
        fiche = get_by_slug(publisher, "epicerie-soumise")
        assert fiche is not None and fiche.first_published_at is None
        fiche.status = "published"
        publisher.flush()  # stamped now (`first_published_at`), committed below
        assert fiche.first_published_at is not None
        visitor = threading.Thread(target=visit)
        visitor.start()
        time.sleep(0.5)  # the visit reads meanwhile (on SQLite its write waits for ours)
    visitor.join(timeout=30)
    assert len(pages) == 1
    clock_forward(any_db, 2)
    assert following.index_in_step(any_db.state.index)  # else the visit is not stamped
    pages.append(browser.get("/suivis").text)
    shown = ["/fiches/epicerie-soumise" in page for page in pages]
    assert any(shown), "a fiche published during a visit was never shown"
    third = browser.get("/suivis").text  # seen: no longer new
    assert "/fiches/epicerie-soumise" not in third
    assert "Aucune nouvelle fiche depuis le" in third


# --- While the search index is unavailable ------------------------------------------------


def test_while_the_index_is_unavailable_suivis_and_feeds_say_so_in_french(any_db):
    """/suivis: 200 with a French notice, and the visit is not stamped (nothing skipped);
    the feed of a search: 503 in French with Retry-After; the plain feed and following a
    search still work. Never a 500."""
    reader = make_account(any_db)
    browser = signed_in(any_db, reader)
    assert follow(browser, "theme=agriculture-urbaine").status_code == 303
    clock_forward(any_db, 10)
    browser.get("/suivis")
    publish(signed_in(any_db, make_account(any_db, "curator")), "epicerie-soumise")
    assert following.index_in_step(any_db.state.index)
    clock_forward(any_db, 2)
    [before] = follows_of(any_db, reader)

    any_db.state.sync.stop()  # nothing rebuilds the index meanwhile
    index_dir = any_db.state.settings.index_dir
    lock = WriterLock(index_dir / LOCK_FILE)
    assert lock.acquire(timeout=30)
    try:
        (index_dir / CURRENT).unlink()  # a lost index: every generation gone
        for generation in index_dir.glob("gen-*"):
            shutil.rmtree(generation)

        page = browser.get("/suivis")
        assert page.status_code == 200
        assert following.SEARCH_UNAVAILABLE in page.text
        [after] = follows_of(any_db, reader)
        assert after.visited_at == before.visited_at  # told next time, not skipped

        feed = browser.get("/flux.atom?theme=agriculture-urbaine")
        assert feed.status_code == 503
        assert "La recherche est momentanément indisponible" in feed.text
        assert feed.headers["retry-after"].isdigit()
        assert browser.get("/flux.atom").status_code == 200  # the newest: no search

        assert follow(browser, "q=compost").status_code == 303
        assert [f.query for f in follows_of(any_db, reader)][-1] == "q=compost"
        assert browser.get("/suivis").status_code == 200
    finally:
        lock.release()
