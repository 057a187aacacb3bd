"""Weekly digests (issue 15): each followed search lists exactly the fiches first published
since the previous digest that it finds; weekly notifications come with them; two builders
at once make one digest. Through the real app (its mail sender delivers to the loopback SMTP
server), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, select, update
from sqlmodel import Session
from starlette.testclient import TestClient

from resource_centre import digests
from resource_centre.auth import create_user
from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.models import (
    FollowedSearch,
    OutboxMessage,
    PendingNotification,
    User,
    utcnow,
)
from resource_centre.web.app import create_app
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE
from tests.mail.conftest import MAIL_ORIGIN, SmtpServer
from tests.web.conftest import PASSWORD, csrf_of, login
from tests.web.test_contribute import COMPLETE, post_form

THEME = "theme=agriculture-urbaine"
TEXT = "q=jardins"
QUIET = "theme=modele-economique"


@dataclass
class Site:
    app: FastAPI
    settings: Settings
    smtp: SmtpServer

    @property
    def engine(self):
        return self.app.state.engine

    def user(self, role: str = "contributor", *, name: str = "", frequency: str = "") -> User:
        with write_session(self.engine) as session:
            count = len(session.execute(select(User.id)).all())
            user = create_user(
                session, email=f"{role}{count}@exemple.org", password=PASSWORD, role=role,
                regie_slug="regie-du-canal" if role == "contributor" else None, name=name,
            )  # fmt: skip
            if frequency:
                user.mail_frequency = frequency
        return user

    def browser(self, user: User) -> TestClient:
        browser = TestClient(self.app, raise_server_exceptions=False)
        assert login(browser, user).status_code == 303
        return browser

    def digests_of(self, user: User) -> list[OutboxMessage]:
        with read_session(self.engine) as session:
            stmt = select(OutboxMessage).where(
                OutboxMessage.user_id == user.id, OutboxMessage.template == "digest"
            )
            return list(session.execute(stmt.order_by(OutboxMessage.id)).scalars())

    def received(self, recipient: str, count: int = 1, timeout: float = 10) -> list[EmailMessage]:
        """The digests the SMTP server received for `recipient` (waits for `count`)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                m
                for m in list(self.smtp.messages)
                if str(m["To"]) == recipient and str(m["Subject"]).startswith("Votre résumé")
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture
def site(mail_settings: Settings, smtp_server: SmtpServer) -> Iterator[Site]:
    engine = make_engine(mail_settings.database_url)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    engine.dispose()
    app = create_app(mail_settings)
    with TestClient(app, raise_server_exceptions=False):
        yield Site(app, mail_settings, smtp_server)


def follow(browser: TestClient, query: str) -> None:
    token = csrf_of(browser.get("/suivis").text)
    response = browser.post("/suivis", data={"csrf_token": token, "query": query})
    assert response.status_code == 200 and "Recherche suivie" in response.text


def publish(curator: TestClient, slug: str) -> None:
    token = csrf_of(curator.get(f"/curation/fiches/{slug}").text)
    response = curator.post(
        f"/curation/fiches/{slug}",
        data={"csrf_token": token, "action": "publish", "comment": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def submit_draft(site: Site, slug: str) -> None:
    with write_session(site.engine) as session:
        fiche = get_by_slug(session, slug)
        assert fiche is not None
        fiche.status = "submitted"


def submitted_fiche(author: TestClient, **fields: object) -> str:
    """A contributor writes a fiche and submits it; return its slug."""
    data = {**COMPLETE, **fields}
    response = post_form(author, "/contribuer", data, action="save")
    assert response.status_code == 303, response.text
    slug = response.headers["location"].split("/")[2]
    response = post_form(author, f"/fiches/{slug}/modifier", data, action="submit")
    assert response.status_code == 303, response.text
    return slug


def wait_searchable(site: Site, query: str, slug: str) -> None:
    client = TestClient(site.app)
    deadline = time.monotonic() + 5
    while slug not in [h["slug"] for h in client.get(f"/api/writeups?{query}").json()["data"]]:
        assert time.monotonic() < deadline, f"{slug} not found by {query} within 5 s"
        time.sleep(0.05)


def build_for(site: Site, user: User) -> int | None:
    """Build `user`'s digest now (a test cannot wait for the settling minute)."""
    return digests.build_for_user(
        site.engine, site.settings, user.id, utcnow(), settle=timedelta(0)
    )


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def sections(row: OutboxMessage) -> dict[str, list[str]]:
    return {s["label"]: s["slugs"] for s in row.context["sections"]}


def test_a_digest_lists_exactly_the_new_fiches_each_search_finds(site: Site) -> None:
    reader = site.user(name="Lise Moreau")
    browser = site.browser(reader)
    for query in (THEME, TEXT, QUIET):
        follow(browser, query)
    curator = site.browser(site.user("curator"))
    # Matches both searches, published after they were followed.
    publish(curator, "epicerie-soumise")
    # Published after too, but found by neither.
    submit_draft(site, "ressourcerie-brouillon")
    publish(curator, "ressourcerie-brouillon")
    # "jardin-partage-des-tilleuls" matches both as well, but was published before.
    wait_searchable(site, THEME, "epicerie-soumise")

    message_id = build_for(site, reader)
    [row] = site.digests_of(reader)
    assert row.id == message_id
    assert row.recipient == reader.email
    assert row.subject == (
        "Votre résumé de la semaine : 1 nouvelle fiche pour vos recherches suivies"
    )
    assert sections(row) == {
        "Thèmes : Agriculture urbaine et alimentation": ["epicerie-soumise"],
        "« jardins »": ["epicerie-soumise"],
    }
    assert row.context["quiet"] == ["Thèmes : Modèle socio-économique et financement"]
    assert row.context["sections"][0]["search_url"] == f"/fiches?{THEME}"

    [mail] = site.received(reader.email)
    text, html = text_and_html(mail)
    fiche = f"{MAIL_ORIGIN}/fiches/epicerie-soumise"
    assert fiche in text and f'href="{fiche}"' in html
    assert "Épicerie solidaire en pied d'immeuble" in text
    assert "Bonjour Lise Moreau" in text
    assert f"{MAIL_ORIGIN}/fiches?{THEME}" in text
    for absent in ("jardin-partage-des-tilleuls", "ressourcerie-brouillon", "laverie"):
        assert absent not in text and absent not in html
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Right after: nothing new, no message.
    assert build_for(site, reader) is None
    assert len(site.digests_of(reader)) == 1
    with read_session(site.engine) as session:
        account = session.get(User, reader.id)
        assert account is not None and account.last_digest_at is not None
        spans = session.execute(
            select(FollowedSearch.digest_at).where(FollowedSearch.user_id == reader.id)
        ).scalars()
        assert set(spans) == {account.last_digest_at}  # the span ends when it was built

    # A fiche published after that digest is in the next one, alone.
    author = site.browser(site.user("contributor"))
    slug = submitted_fiche(
        author, title="Des jardins sur les toits du quartier", themes=["agriculture-urbaine"]
    )
    publish(curator, slug)
    wait_searchable(site, THEME, slug)
    assert build_for(site, reader) is not None
    latest = site.digests_of(reader)[-1]
    assert sections(latest) == {
        "Thèmes : Agriculture urbaine et alimentation": [slug],
        "« jardins »": [slug],
    }
    assert len(site.received(reader.email, 2)) == 2


def test_weekly_notifications_come_in_the_digest_when_it_is_due(site: Site) -> None:
    weekly = site.user("curator", name="Claire Martin", frequency="weekly")
    never = site.user("curator", frequency="never")
    site.browser(never)  # signed in once, follows something, still never mailed
    with write_session(site.engine) as session:
        session.add(FollowedSearch(user_id=never.id, query=THEME, label="x"))
    author = site.browser(site.user("contributor"))
    slug = submitted_fiche(author)
    with read_session(site.engine) as session:
        [pending] = session.execute(
            select(PendingNotification).where(PendingNotification.user_id == weekly.id)
        ).scalars()
    assert site.digests_of(weekly) == []

    now = utcnow()
    assert digests.build_due(site.engine, site.settings, now) == 0  # its week has not passed
    week = now + timedelta(days=7, minutes=1)
    assert digests.build_due(site.engine, site.settings, week) == 1
    [row] = site.digests_of(weekly)
    assert row.subject == "Votre résumé de la semaine : 1 notification"  # follows nothing
    [note] = row.context["notifications"]
    assert note["subject"] == pending.subject
    assert note["url"] == f"/curation/fiches/{slug}"
    with read_session(site.engine) as session:
        assert (
            session.execute(
                select(PendingNotification).where(PendingNotification.user_id == weekly.id)
            ).first()
            is None
        )
    assert site.digests_of(never) == []
    [mail] = site.received(weekly.email)
    text, html = text_and_html(mail)
    assert pending.subject in text
    assert f'href="{MAIL_ORIGIN}/curation/fiches/{slug}"' in html
    # The next one is due a week later, not a minute later.
    assert digests.build_due(site.engine, site.settings, week + timedelta(minutes=1)) == 0


def test_two_builders_at_once_make_one_digest(site: Site) -> None:
    site.app.state.mail_sender.stop()  # this test's builders only
    reader = site.user()
    follow(site.browser(reader), THEME)
    week_ago = utcnow() - timedelta(days=8)
    with write_session(site.engine) as session:
        session.execute(
            update(FollowedSearch)
            .where(FollowedSearch.user_id == reader.id)
            .values(created_at=week_ago, digest_at=week_ago, visited_at=week_ago)
        )
    publish(site.browser(site.user("curator")), "epicerie-soumise")
    wait_searchable(site, THEME, "epicerie-soumise")

    now = utcnow()
    start = threading.Barrier(2)
    results: list[int | BaseException] = []

    def build() -> None:
        engine = make_engine(site.settings.database_url)  # as another process would
        try:
            start.wait()
            results.append(digests.build_due(engine, site.settings, now, settle=timedelta(0)))
        except BaseException as exc:  # reported below
            results.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results, key=str) == [0, 1]  # type: ignore[type-var]
    [row] = site.digests_of(reader)
    # The window starts at the follow's digest_at: the imported fiches (first published
    # when the test imported them) and the one published now.
    assert "epicerie-soumise" in sections(row)["Thèmes : Agriculture urbaine et alimentation"]


def test_the_digest_waits_for_the_index(site: Site) -> None:
    """A fiche published but not yet in the index is never skipped: the build is put off."""
    site.app.state.sync.stop()  # nothing applies the journal in the background now
    reader = site.user()
    follow(site.browser(reader), THEME)
    publish(site.browser(site.user("curator")), "epicerie-soumise")
    # No writer lock held elsewhere: the builder applies the journal itself, then builds.
    assert build_for(site, reader) is not None
    [row] = site.digests_of(reader)
    assert sections(row) == {"Thèmes : Agriculture urbaine et alimentation": ["epicerie-soumise"]}


CARD = re.compile(r'<h3 class="card-title"><a href="/fiches/([a-z0-9-]+)[?"]')


def test_a_removed_facet_value_is_ignored_as_on_the_library(site: Site) -> None:
    """A followed search naming a facet value removed (or renamed) since still finds what
    /fiches shows for the same URL: the unknown value is ignored, the rest still counts."""
    reader = site.user()
    gone = "q=jardins&theme=theme-retire"  # a theme that existed when it was followed
    with write_session(site.engine) as session:
        session.add(FollowedSearch(user_id=reader.id, query=gone, label="« jardins » · ancien"))
    publish(site.browser(site.user("curator")), "epicerie-soumise")
    wait_searchable(site, TEXT, "epicerie-soumise")

    library = site.browser(reader).get(f"/fiches?{gone}&page_size=100")
    assert "theme-retire" in library.text and "est inconnue, elle est ignorée" in library.text
    shown = CARD.findall(library.text)
    assert "epicerie-soumise" in shown

    assert build_for(site, reader) is not None
    [row] = site.digests_of(reader)
    # Exactly the fiches of the digest's window that /fiches shows for this URL.
    assert sections(row) == {"« jardins » · ancien": ["epicerie-soumise"]}
    assert [s for s in shown if s == "epicerie-soumise"] == sections(row)["« jardins » · ancien"]
    # /suivis names it alike: the stored label names the removed value, not its slug.
    page = site.browser(reader).get("/suivis").text
    assert "« jardins » · ancien" in page and "Thèmes : theme-retire" not in page


def test_suivis_and_the_digest_name_a_followed_search_alike(site: Site) -> None:
    """A term renamed after a search was followed: /suivis and the digest both show its
    current name (`following.display_label`), not the one stored when it was followed."""
    reader = site.user()
    browser = site.browser(reader)
    follow(browser, THEME)
    current = "Thèmes : Agriculture urbaine et alimentation"
    with write_session(site.engine) as session:  # as if the term had another name then
        session.execute(
            update(FollowedSearch)
            .where(FollowedSearch.user_id == reader.id)
            .values(label="Thèmes : Ancien nom du thème")
        )
    publish(site.browser(site.user("curator")), "epicerie-soumise")
    wait_searchable(site, THEME, "epicerie-soumise")

    page = browser.get("/suivis").text
    assert '<h2 class="mine-title" id="suivi-' in page and f">{current}</h2>" in page
    assert build_for(site, reader) is not None
    [row] = site.digests_of(reader)
    assert sections(row) == {current: ["epicerie-soumise"]}
    for text in text_and_html(site.received(reader.email)[0]):
        assert "Ancien nom du thème" not in text


@pytest.fixture
def server_clock_in_tokyo() -> Iterator[None]:
    """The process's local time zone far from UTC and from Paris (TZ, then tzset)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_a_notification_is_dated_by_its_local_day_whatever_the_servers_zone(
    site: Site, server_clock_in_tokyo: None
) -> None:
    """The database holds UTC (a naive datetime is UTC): 14 January 23:30 UTC is the 15th
    in Paris (the settings' time zone), never a day read in the server's own local time."""
    late = datetime(2026, 1, 14, 23, 30)  # naive, as SQLite gives it without the ORM's type
    naive = PendingNotification(user_id=1, subject="x", template="x", context={}, at=late)
    assert digests._notification(site.settings, naive)["day"] == "15 janvier 2026"

    reader = site.user(frequency="weekly")
    with write_session(site.engine) as session:
        session.add(
            PendingNotification(
                user_id=reader.id, subject="Tard le soir", template="submitted",
                context={"link": "/mes-fiches"}, at=late.replace(tzinfo=UTC),
            )
        )  # fmt: skip
    assert build_for(site, reader) is not None
    [row] = site.digests_of(reader)
    [note] = row.context["notifications"]
    assert note["day"] == "15 janvier 2026"
    assert note["url"] == "/mes-fiches"
    assert set(row.context) == {"name", "fiche_count", "sections", "quiet", "notifications",
                                "follows_url"}  # fmt: skip
    text, _ = text_and_html(site.received(reader.email)[0])
    assert "15 janvier 2026 : Tard le soir" in text


def short_wait_engine(url: str) -> Engine:
    """Another process's connection that waits at most 1 s for a lock (then fails)."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": 1.0})
    return create_engine(url, connect_args={"options": "-c lock_timeout=1000"})


def test_no_write_lock_is_held_while_searching(site: Site) -> None:
    """The searches run with no transaction held: another connection writes during them
    (its own account row, a new notification) at once; that notification, unread by the
    builder, stays for the next digest."""
    site.app.state.mail_sender.stop()  # this test's builder only
    reader = site.user(frequency="weekly")
    follow(site.browser(reader), THEME)
    with write_session(site.engine) as session:
        session.add(PendingNotification(user_id=reader.id, subject="Avant", template="submitted"))
    publish(site.browser(site.user("curator")), "epicerie-soumise")
    wait_searchable(site, THEME, "epicerie-soumise")

    other = short_wait_engine(site.settings.database_url)
    waited: list[float] = []

    def write_meanwhile() -> None:
        started = time.monotonic()
        with Session(other) as session:
            session.execute(update(User).where(User.id == reader.id).values(name="Lise"))
            session.add(PendingNotification(user_id=reader.id, subject="Pendant", template="x"))
            session.commit()
        waited.append(time.monotonic() - started)

    try:
        message_id = digests.build_for_user(
            site.engine, site.settings, reader.id, utcnow(), settle=timedelta(0),
            searching=write_meanwhile,
        )  # fmt: skip
    finally:
        other.dispose()
    # Done: a lock held by the builder (until the searches end, after this call) would
    # have made it fail after 1 s.
    assert len(waited) == 1
    assert message_id is not None
    [row] = site.digests_of(reader)
    assert [n["subject"] for n in row.context["notifications"]] == ["Avant"]
    assert sections(row) == {"Thèmes : Agriculture urbaine et alimentation": ["epicerie-soumise"]}
    with read_session(site.engine) as session:
        left = session.execute(
            select(PendingNotification.subject).where(PendingNotification.user_id == reader.id)
        ).scalars()
        assert list(left) == ["Pendant"]  # not read by this digest: kept for the next one
        account = session.get(User, reader.id)
        assert account is not None and account.name == "Lise"


def test_a_digest_built_meanwhile_makes_this_one_write_nothing(site: Site) -> None:
    """The claim is on the value read: if another process builds the account's digest while
    this one searches (even with an earlier clock), this one writes nothing, so the
    notifications are never sent twice."""
    site.app.state.mail_sender.stop()
    reader = site.user(frequency="weekly")
    follow(site.browser(reader), THEME)
    with write_session(site.engine) as session:
        session.add(PendingNotification(user_id=reader.id, subject="Une seule fois", template="x"))
    publish(site.browser(site.user("curator")), "epicerie-soumise")
    wait_searchable(site, THEME, "epicerie-soumise")
    now = utcnow()
    other: list[int | None] = []

    def another_process_builds() -> None:
        engine = make_engine(site.settings.database_url)
        try:
            other.append(
                digests.build_for_user(
                    engine,
                    site.settings,
                    reader.id,
                    now - timedelta(seconds=1),
                    settle=timedelta(0),
                )
            )
        finally:
            engine.dispose()

    mine = digests.build_for_user(
        site.engine, site.settings, reader.id, now, settle=timedelta(0),
        searching=another_process_builds,
    )  # fmt: skip
    assert mine is None and other and other[0] is not None
    [row] = site.digests_of(reader)
    assert row.id == other[0]
    assert [n["subject"] for n in row.context["notifications"]] == ["Une seule fois"]
    with read_session(site.engine) as session:
        account = session.get(User, reader.id)
        assert account is not None and account.last_digest_at is not None
        assert as_utc(account.last_digest_at) == now - timedelta(seconds=1)  # the other's


def as_utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives naive UTC ones back)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
