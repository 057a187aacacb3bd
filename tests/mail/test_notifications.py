"""Notifications over HTTP, delivered to a real SMTP server on loopback (issue 15).

Each test drives the site as its users do (signed-in clients posting the real forms), then
sends the outbox with `mail_sender.send_pending` to the `smtp_server` of tests/mail/conftest
and reads what arrived: recipients, subjects, links. SQLite and PostgreSQL (`database_url`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.testclient import TestClient

from resource_centre.auth import create_user
from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.mail_sender import send_pending
from resource_centre.models import (
    CapitalisationRequest,
    OutboxMessage,
    PendingNotification,
    User,
    WriteUp,
    utcnow,
)
from resource_centre.radar import SearchLogWriter
from resource_centre.unsubscribe import make_token, read_token
from resource_centre.web.app import create_app
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE
from tests.mail.conftest import SmtpServer, html_of, text_of
from tests.web.conftest import PASSWORD, csrf_of, login
from tests.web.test_contribute import COMPLETE, post_form

ORIGIN = "https://centre.example"  # mail_settings' BASE_URL
PUBLISHED = "laverie-solidaire-du-canal"  # a published fiche of regie-du-canal (test corpus)


@dataclass
class Site:
    """The app on the test's database, its mail settings and SMTP server."""

    app: FastAPI
    settings: Settings
    smtp: SmtpServer
    client: TestClient  # runs the lifespan; anonymous unless signed in
    envelopes: list[list[str]] | None = None  # envelope recipients of the last delivery

    def user(self, role: str = "contributor", *, regie: str | None = None, name: str = "") -> User:
        if role == "contributor" and regie is None:
            regie = "regie-du-canal"
        with write_session(self.app.state.engine) as session:
            count = session.execute(select(User.id)).all()
            user = create_user(
                session, email=f"{role}{len(count)}@exemple.org", password=PASSWORD,
                role=role, regie_slug=regie, name=name,
            )  # fmt: skip
        return user

    def signed_in(self, user: User) -> TestClient:
        """A new browser (its own cookies) signed in as `user`."""
        browser = TestClient(self.app, raise_server_exceptions=False)
        assert login(browser, user).status_code == 303
        return browser

    def last_outbox_id(self) -> int:
        with read_session(self.app.state.engine) as session:
            ids = session.execute(select(OutboxMessage.id)).scalars().all()
        return max(ids, default=0)

    def outbox_after(self, mark: int) -> list[OutboxMessage]:
        with read_session(self.app.state.engine) as session:
            stmt = select(OutboxMessage).where(OutboxMessage.id > mark)
            return list(session.execute(stmt.order_by(OutboxMessage.id)).scalars())

    def deliver(self, count: int) -> list[EmailMessage]:
        """Send what waits and return the `count` messages the SMTP server received."""
        report = send_pending(
            self.app.state.engine, self.settings, holder="test-notifications", lease_wait=10
        )
        assert report.failed == 0, report
        messages = self.smtp.wait_for(count)
        assert len(messages) == count, [m["Subject"] for m in messages]
        self.envelopes = list(self.smtp.recipients)
        self.smtp.clear()
        return messages

    def fiche(self, slug: str) -> WriteUp:
        with read_session(self.app.state.engine) as session:
            found = get_by_slug(session, slug)
        assert found is not None
        return found

    def account(self, user: User) -> User:
        with read_session(self.app.state.engine) as session:
            found = session.get(User, user.id)
        assert found is not None
        return found


@pytest.fixture
def site(mail_settings: Settings, smtp_server: SmtpServer) -> Iterator[Site]:
    engine = make_engine(mail_settings.database_url)
    report = import_corpus(engine, TEST_KNOWLEDGE)
    assert report.ok, report.problems
    engine.dispose()
    app = create_app(mail_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(app, mail_settings, smtp_server, client)


def curator_act(browser: TestClient, slug: str, action: str, comment: str = "") -> None:
    token = csrf_of(browser.get(f"/curation/fiches/{slug}").text)
    response = browser.post(
        f"/curation/fiches/{slug}",
        data={"csrf_token": token, "action": action, "comment": comment},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def new_submitted_fiche(browser: TestClient, title: str) -> str:
    """A contributor writes a fiche and submits it; return its slug."""
    response = post_form(browser, "/contribuer", {**COMPLETE, "title": title}, action="save")
    assert response.status_code == 303, response.text
    slug = response.headers["location"].split("/")[2]
    response = post_form(browser, f"/fiches/{slug}/modifier", {**COMPLETE, "title": title},
                         action="submit")  # fmt: skip
    assert response.status_code == 303, response.text
    return slug


def by_recipient(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    return {str(m["To"]).lower(): m for m in messages}


# --- the workflow --------------------------------------------------------------------------


def test_a_submission_reaches_every_curator_with_the_review_link(site: Site) -> None:
    first = site.user("curator", name="Claire Martin")
    second = site.user("admin")
    retired = site.user("curator")
    with write_session(site.app.state.engine) as session:
        account = session.get(User, retired.id)
        assert account is not None
        account.active = False
    author = site.user("contributor", name="Awa Diallo")
    mark = site.last_outbox_id()

    slug = new_submitted_fiche(site.signed_in(author), "Un repair café au pied des tours")

    rows = site.outbox_after(mark)
    assert sorted(r.recipient for r in rows) == sorted([first.email, second.email])
    messages = by_recipient(site.deliver(2))
    assert set(messages) == {first.email, second.email}  # not the author, not the retired
    review = f"{ORIGIN}/curation/fiches/{slug}"
    for message in messages.values():
        assert message["Subject"] == "Nouvelle fiche à relire : Un repair café au pied des tours"
        assert review in text_of(message)
        assert f'href="{review}"' in html_of(message)
        assert "Awa Diallo (Régie de quartier du Canal)" in text_of(message)
        assert author.email not in message.as_string()  # no other person's address
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The link leads the curator to the review page.
    page = site.signed_in(first).get(review.removeprefix(ORIGIN))
    assert page.status_code == 200 and "Un repair café au pied des tours" in page.text


def test_changes_publication_comment_and_archive_reach_the_fiche_contributors(
    site: Site,
) -> None:
    curator = site.user("curator", name="Claire Martin")
    author = site.user("contributor", name="Awa Diallo")
    colleague = site.user("contributor", name="Yanis Benali")
    bystander = site.user("contributor")  # same Régie, never touched the fiche
    other_curator = site.user("curator")
    writer, reviewer = site.signed_in(author), site.signed_in(curator)
    title = "Une laverie solidaire au cœur du quartier"
    response = post_form(writer, "/contribuer", {**COMPLETE, "title": title}, action="save")
    slug = response.headers["location"].split("/")[2]
    helper = site.signed_in(colleague)  # a colleague of the Régie edits the draft
    edited = {**COMPLETE, "title": title, "results": "120 familles accueillies chaque mois."}
    response = post_form(helper, f"/fiches/{slug}/modifier", edited)
    assert response.status_code == 303, response.text
    post_form(writer, f"/fiches/{slug}/modifier", edited, action="submit")
    site.deliver(2)  # the two curators

    # Changes requested: the author and the colleague, with the comment and the form's link.
    comment = "Merci d'ajouter le nombre de salariés en insertion.\nEt le budget annuel."
    mark = site.last_outbox_id()
    curator_act(reviewer, slug, "request_changes", comment)
    assert sorted(r.recipient for r in site.outbox_after(mark)) == sorted(
        [author.email, colleague.email]
    )
    messages = by_recipient(site.deliver(2))
    assert bystander.email not in messages and curator.email not in messages
    message = messages[author.email]
    assert message["Subject"] == f"Modifications demandées : {title}"
    body = text_of(message)
    assert "Merci d'ajouter le nombre de salariés en insertion." in body
    assert "Et le budget annuel." in body
    assert "Claire Martin (équipe du réseau)" in body and curator.email not in body
    assert f"{ORIGIN}/fiches/{slug}/modifier" in body
    assert "Merci d&#39;ajouter le nombre de salariés en insertion." in html_of(message)

    # Submitted again: the curators are told it answers their request, then published.
    post_form(writer, f"/fiches/{slug}/modifier", edited, action="submit")
    again = site.deliver(2)
    assert {str(m["To"]) for m in again} == {curator.email, other_curator.email}
    for message in again:
        assert message["Subject"] == f"Fiche soumise à nouveau : {title}"
        assert "la soumet à nouveau après vos demandes de modifications" in text_of(message)
        assert "nouvelle fiche" not in text_of(message) + html_of(message)
    curator_act(reviewer, slug, "publish")
    messages = by_recipient(site.deliver(2))
    assert set(messages) == {author.email, colleague.email}
    message = messages[author.email]
    assert message["Subject"] == f"Votre fiche est publiée : {title}"
    public = f"{ORIGIN}/fiches/{slug}"
    assert public in text_of(message) and f'href="{public}"' in html_of(message)
    assert site.client.get(public.removeprefix(ORIGIN)).status_code == 200

    # A comment of the network team.
    curator_act(reviewer, slug, "comment", "Bravo, la fiche est très lue !")
    messages = by_recipient(site.deliver(2))
    assert messages[colleague.email]["Subject"] == f"Nouveau commentaire sur {title}"
    assert "Bravo, la fiche est très lue !" in text_of(messages[colleague.email])
    assert f"{ORIGIN}/mes-fiches" in text_of(messages[colleague.email])

    # Archived.
    mark = site.last_outbox_id()
    curator_act(reviewer, slug, "archive")
    messages = by_recipient(site.deliver(2))
    assert messages[author.email]["Subject"] == f"Fiche archivée : {title}"
    assert "n'apparaît plus dans la bibliothèque publique" in text_of(messages[author.email])
    assert {r.template for r in site.outbox_after(mark)} == {"archived"}


def test_a_revision_goes_to_the_curators_but_not_to_the_acting_curator(site: Site) -> None:
    acting = site.user("curator", name="Claire Martin")
    other = site.user("curator")
    author = site.user("contributor", name="Awa Diallo")
    fiche = site.fiche(PUBLISHED)
    data = {**COMPLETE, "title": fiche.title, "summary": "Un résumé revu par la Régie."}
    response = post_form(site.signed_in(author), f"/fiches/{PUBLISHED}/modifier", data,
                         action="submit")  # fmt: skip
    assert response.status_code == 303, response.text
    messages = by_recipient(site.deliver(2))
    assert set(messages) == {acting.email, other.email}
    message = messages[other.email]
    assert message["Subject"] == f"Révision à relire : {fiche.title}"
    assert f"{ORIGIN}/curation/fiches/{PUBLISHED}" in text_of(message)

    # The acting curator publishes the revision: its author hears of it, no curator does.
    mark = site.last_outbox_id()
    curator_act(site.signed_in(acting), PUBLISHED, "publish")
    rows = site.outbox_after(mark)
    assert [r.recipient for r in rows] == [author.email]
    [message] = site.deliver(1)
    assert message["Subject"] == f"Votre révision est publiée : {fiche.title}"

    # A curator who submits a draft is not told of it; the other curator is.
    mark = site.last_outbox_id()
    draft = "ressourcerie-brouillon"
    data = {**COMPLETE, "title": "Une ressourcerie de quartier", "regie": "regie-du-canal"}
    response = post_form(site.signed_in(acting), f"/fiches/{draft}/modifier", data,
                         action="submit")  # fmt: skip
    assert response.status_code == 303, response.text
    assert [r.recipient for r in site.outbox_after(mark)] == [other.email]


# --- reported needs --------------------------------------------------------------------------


def report_need(browser: TestClient, query: str, **fields: str) -> Any:
    page = browser.get("/fiches", params={"q": query})
    assert "Signaler ce besoin" in page.text
    data = {"csrf_token": csrf_of(page.text), "q": query, "message": "Pour notre CA.", **fields}
    return browser.post("/besoins", data=data, follow_redirects=False)


def answer(browser: TestClient, need_id: int, slug: str) -> None:
    token = csrf_of(browser.get("/curation/radar").text)
    response = browser.post(
        "/curation/radar",
        data={"csrf_token": token, "request_id": str(need_id), "slug": slug},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def need_for(site: Site, query: str) -> CapitalisationRequest:
    with read_session(site.app.state.engine) as session:
        stmt = select(CapitalisationRequest).where(CapitalisationRequest.query == query)
        return session.execute(stmt).scalar_one()


def test_a_need_answered_reaches_its_signed_in_reporter(site: Site) -> None:
    curator = site.user("curator")
    reporter = site.user("contributor", regie="regie-des-trois-quartiers", name="Inès")
    response = report_need(site.signed_in(reporter), "xqzw zorblax")
    assert response.status_code == 303, response.text
    need = need_for(site, "xqzw zorblax")
    assert need.reporter_id == reporter.id and need.reporter_email is None

    answer(site.signed_in(curator), need.id or 0, PUBLISHED)
    [message] = site.deliver(1)
    assert str(message["To"]) == reporter.email
    title = site.fiche(PUBLISHED).title
    assert message["Subject"] == f"Une fiche répond à votre besoin : {title}"
    body = text_of(message)
    assert "Bonjour Inès," in body and "« xqzw zorblax »" in body
    assert f"{ORIGIN}/fiches/{PUBLISHED}" in body


def test_an_anonymous_reporter_is_told_once_then_the_address_is_erased(site: Site) -> None:
    curator = site.user("curator")
    visitor = TestClient(site.app, raise_server_exceptions=False)

    # A malformed address: the form again (422), French error, what was typed kept.
    response = report_need(visitor, "xqzw mobilité", email="pas une adresse")
    assert response.status_code == 422
    assert "Cette adresse e-mail ne semble pas valide" in response.text
    assert 'value="pas une adresse"' in response.text and "Pour notre CA." in response.text
    with read_session(site.app.state.engine) as session:
        assert session.execute(select(CapitalisationRequest)).first() is None

    response = report_need(visitor, "xqzw mobilité", email="  Lea.Martin@Exemple.org ")
    assert response.status_code == 303, response.text
    need = need_for(site, "xqzw mobilité")
    assert need.reporter_id is None and need.reporter_email == "lea.martin@exemple.org"

    answer(site.signed_in(curator), need.id or 0, PUBLISHED)
    assert need_for(site, "xqzw mobilité").reporter_email is None  # erased at once
    [message] = site.deliver(1)
    assert str(message["To"]) == "lea.martin@exemple.org"
    body = text_of(message)
    assert f"{ORIGIN}/fiches/{PUBLISHED}" in body and "Votre adresse e-mail a été effacée" in body

    # Answered again: nobody left to tell.
    mark = site.last_outbox_id()
    answer(site.signed_in(curator), need.id or 0, PUBLISHED)
    assert site.outbox_after(mark) == []


# --- preferences -----------------------------------------------------------------------------


def set_frequency(browser: TestClient, value: str) -> Any:
    token = csrf_of(browser.get("/mon-compte").text)
    return browser.post(
        "/mon-compte/notifications",
        data={"csrf_token": token, "mail_frequency": value},
        follow_redirects=False,
    )


def test_preferences_weekly_and_never(site: Site) -> None:
    weekly = site.user("curator", name="Hebdo")
    never = site.user("curator")
    immediate = site.user("admin")
    author = site.user("contributor")
    page = site.signed_in(weekly).get("/mon-compte").text
    assert "Notifications par courriel" in page and "<legend>" in page
    assert 'value="immediate" id="champ-mail_frequency" checked' in page

    browser = site.signed_in(weekly)
    response = set_frequency(browser, "souvent")
    assert response.status_code == 422
    assert "Choisissez l&#39;une des trois possibilités" in response.text
    assert 'value="immediate" id="champ-mail_frequency" checked' in response.text
    response = set_frequency(browser, "weekly")
    assert response.status_code == 303 and response.headers["location"] == "/mon-compte"
    page = browser.get("/mon-compte").text
    assert "un résumé par semaine" in page and 'value="weekly" checked' in page
    assert set_frequency(site.signed_in(never), "never").status_code == 303
    assert site.account(weekly).mail_frequency == "weekly"
    assert site.account(never).mail_frequency == "never"
    # Not due for a digest now: the pending row below must stay for the weekly one.
    with write_session(site.app.state.engine) as session:
        account = session.get(User, weekly.id)
        assert account is not None
        account.last_digest_at = utcnow() - timedelta(minutes=1)

    mark = site.last_outbox_id()
    slug = new_submitted_fiche(site.signed_in(author), "Jardin partagé et compost")
    assert [r.recipient for r in site.outbox_after(mark)] == [immediate.email]
    [message] = site.deliver(1)
    assert str(message["To"]) == immediate.email
    with read_session(site.app.state.engine) as session:
        pending = session.execute(select(PendingNotification)).scalars().all()
    assert [(p.user_id, p.template, p.context["link"]) for p in pending] == [
        (weekly.id, "submitted", f"/curation/fiches/{slug}")
    ]
    assert pending[0].subject == "Nouvelle fiche à relire : Jardin partagé et compost"


def test_one_click_unsubscription_without_cookie_or_form_token(site: Site) -> None:
    curator = site.user("curator")
    author = site.user("contributor")
    new_submitted_fiche(site.signed_in(author), "Une conciergerie solidaire")
    [message] = site.deliver(1)
    header = str(message["List-Unsubscribe"])
    match = re.fullmatch(rf"<{re.escape(ORIGIN)}(/desabonnement/[A-Za-z0-9_\-.]+)>", header)
    assert match, header
    path = match.group(1)
    assert path in text_of(message)

    mail_client = TestClient(site.app, raise_server_exceptions=False)  # no cookie at all
    page = mail_client.get(path)
    assert page.status_code == 200 and "Me désabonner" in page.text
    assert f'action="{path}"' in page.text
    assert site.account(curator).mail_frequency == "immediate"  # GET changes nothing

    # A forged token: French 404 page, nothing changed.
    address, mac = path.removeprefix("/desabonnement/").split(".")
    forged = f"/desabonnement/{address}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}"
    for bad in (forged, "/desabonnement/nimporte-quoi", "/desabonnement/" + "A" * 1200):
        response = mail_client.post(bad, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 404, bad
        assert "Ce lien de désabonnement n&#39;est pas valide" in response.text or (
            "Page introuvable" in response.text
        )
    page = mail_client.get(forged)
    assert page.status_code == 404 and "Ce lien de désabonnement n&#39;est pas valide" in page.text
    assert site.account(curator).mail_frequency == "immediate"

    response = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "Désabonnement enregistré" in response.text
    assert curator.email not in response.text  # the page half-hides the address
    assert site.account(curator).mail_frequency == "never"
    # An address without account: the same answer.
    stranger = make_token(site.settings.secret_key, "Personne@Exemple.org")
    response = mail_client.post(
        f"/desabonnement/{stranger}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200 and "Désabonnement enregistré" in response.text

    mark = site.last_outbox_id()
    new_submitted_fiche(site.signed_in(author), "Une auto-école sociale")
    assert site.outbox_after(mark) == []


def test_a_title_cannot_inject_headers(site: Site) -> None:
    curator = site.user("curator")
    author = site.user("contributor")
    slug = new_submitted_fiche(site.signed_in(author), "Une fiche ordinaire")
    site.deliver(1)
    hostile = "Titre\r\nBcc: victime@exemple.org\nX-Injected: oui " + "très long " * 40
    with write_session(site.app.state.engine) as session:
        writeup = get_by_slug(session, slug)
        assert writeup is not None
        writeup.title = hostile[:200]
    curator_act(site.signed_in(curator), slug, "comment", "Un mot.\r\nBcc: autre@exemple.org")
    [message] = site.deliver(1)
    assert site.outbox_after(0)[-1].recipient == author.email
    assert message["Bcc"] is None and message["X-Injected"] is None
    subject = str(message["Subject"])
    assert subject.startswith("Nouveau commentaire sur Titre Bcc: victime@exemple.org")
    assert "\n" not in subject and "\r" not in subject and len(subject) <= 250
    assert site.envelopes == [[author.email]]  # the SMTP envelope: nobody else
    headers = message.as_string().replace("\r\n", "\n").split("\n\n", 1)[0]
    assert not re.search(r"^(Bcc|X-Injected):", headers, flags=re.MULTILINE | re.IGNORECASE)


# --- unsubscription tokens -------------------------------------------------------------------

KEY = "une-cle-secrete-de-test-assez-longue-0123456789"


def test_unsubscribe_tokens_name_their_address_and_refuse_anything_else() -> None:
    token = make_token(KEY, "  Awa.Diallo@Exemple.org ")
    assert read_token(KEY, token) == "awa.diallo@exemple.org"
    assert token == make_token(KEY, "awa.diallo@exemple.org")  # the same for any case
    assert re.fullmatch(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", token)  # URL-safe, no padding
    assert read_token("une-autre-cle-de-test-tout-aussi-longue-987", token) is None
    address, mac = token.split(".")
    other = make_token(KEY, "autre@exemple.org").split(".")[0]
    hostile: list[Any] = [
        "",
        ".",
        "..",
        "a.b.c",
        f"{other}.{mac}",
        f"{address}.",
        f".{mac}",
        f"{address}.{mac}x",
        f"{address}.{mac[:-1]}",
        f"{address}x.{mac}",
        f"{address}.{mac}.{mac}",
        token.upper(),
        "é.à",
        "\x00.\x00",
        token + "=",
        "=" + token,
        "A" * 5000 + "." + mac,
        f"{address}.{mac[::-1]}",
        None,
        42,
        b"bytes",
    ]
    for bad in hostile:
        assert read_token(KEY, bad) is None, bad
    # A signed string that is not an address is refused too.
    not_an_address = make_token(KEY, "pas-une-adresse")
    assert read_token(KEY, not_an_address) is None


# --- review findings -------------------------------------------------------------------------


def test_a_contributor_whose_regie_lost_the_fiche_hears_only_of_its_publication(
    site: Site,
) -> None:
    """Review finding: recipients followed the audit history, not current rights: a
    contributor of a Régie that no longer holds an unpublished fiche still got its title and
    the curators' comments."""
    curator = site.user("curator", name="Claire Martin")
    author = site.user("contributor", name="Awa Diallo")  # regie-du-canal
    title = "Une fiche partie dans une autre Régie"
    slug = new_submitted_fiche(site.signed_in(author), title)
    site.deliver(1)
    reviewer = site.signed_in(curator)
    moved = post_form(reviewer, f"/fiches/{slug}/modifier",
                      {**COMPLETE, "title": title, "regie": "regie-des-trois-quartiers"})  # fmt: skip
    assert moved.status_code == 303, moved.text
    assert site.fiche(slug).regie_id != site.account(author).regie_id

    mark = site.last_outbox_id()
    curator_act(reviewer, slug, "comment", "Remarque interne sur le budget.")
    curator_act(reviewer, slug, "request_changes", "Précisez les partenaires.")
    assert site.outbox_after(mark) == []  # nothing of an unpublished fiche of another Régie
    again = post_form(reviewer, f"/fiches/{slug}/modifier",
                      {**COMPLETE, "title": title, "regie": "regie-des-trois-quartiers"},
                      action="submit")  # fmt: skip
    assert again.status_code == 303, again.text

    curator_act(reviewer, slug, "publish")  # now public: its author may hear of it
    [message] = site.deliver(1)
    assert str(message["To"]) == author.email
    assert message["Subject"] == f"Votre fiche est publiée : {title}"
    mark = site.last_outbox_id()
    curator_act(reviewer, slug, "archive")  # withdrawn again: not for another Régie
    assert site.outbox_after(mark) == []


def test_a_stranger_address_never_gets_the_text_typed_with_it(site: Site) -> None:
    """Review finding: anyone could type a victim's address with a need; the message then
    carried the stranger's query and message. Only the fiche's title and link go."""
    curator = site.user("curator")
    visitor = TestClient(site.app, raise_server_exceptions=False)
    query = "xqzw texte-du-visiteur"
    response = report_need(visitor, query, email="victime@exemple.org",
                           message="Message libre du visiteur inconnu")  # fmt: skip
    assert response.status_code == 303, response.text
    answer(site.signed_in(curator), need_for(site, query).id or 0, PUBLISHED)
    [row] = site.outbox_after(0)
    assert "query" not in row.context and "message" not in row.context
    [message] = site.deliver(1)
    whole = text_of(message) + html_of(message) + str(message["Subject"])
    assert "texte-du-visiteur" not in whole and "Message libre" not in whole
    assert site.fiche(PUBLISHED).title in text_of(message)
    assert f"{ORIGIN}/fiches/{PUBLISHED}" in text_of(message)


def test_an_unanswered_need_loses_its_address_after_the_log_retention(site: Site) -> None:
    """Review finding: the address of a need never answered was kept forever."""
    engine = site.app.state.engine
    with write_session(engine) as session:
        for query, days in (("ancien besoin", 31), ("besoin recent", 29)):
            session.add(CapitalisationRequest(query=query, filters={}, message="",
                                              reporter_email=f"{days}@exemple.org",
                                              at=utcnow() - timedelta(days=days)))  # fmt: skip
    writer = SearchLogWriter(engine, retention_days=30)
    writer.prune_if_due()  # what each server process runs at start-up, then once a day
    assert need_for(site, "ancien besoin").reporter_email is None
    assert need_for(site, "besoin recent").reporter_email == "29@exemple.org"
    assert need_for(site, "ancien besoin").query == "ancien besoin"  # the need itself stays


def test_one_click_unsubscription_under_a_root_path(site: Site) -> None:
    """Review finding: behind `uvicorn --root-path /centre` the CSRF exemption of
    /desabonnement/ missed (the request's path holds the root path)."""
    curator = site.user("curator")
    token = make_token(site.settings.secret_key, curator.email)
    mail_client = TestClient(site.app, root_path="/centre", raise_server_exceptions=False)
    page = mail_client.get(f"/centre/desabonnement/{token}")
    assert page.status_code == 200
    assert f'action="/centre/desabonnement/{token}"' in page.text  # the page's own form
    assert 'name="csrf_token"' not in page.text.split('action="/centre/desabonnement/')[1]
    done = mail_client.post(f"/centre/desabonnement/{token}",
                            data={"List-Unsubscribe": "One-Click"})  # fmt: skip
    assert done.status_code == 200 and "Désabonnement enregistré" in done.text
    assert site.account(curator).mail_frequency == "never"


# --- review findings: the page's button, anonymous needs, an address that has an account -----


def add_need(site: Site, query: str, address: str) -> int:
    """A need reported anonymously with `address` (as /besoins stores it: lower-cased)."""
    with write_session(site.app.state.engine) as session:
        need = CapitalisationRequest(query=query, filters={}, message="Pour notre CA.",
                                     reporter_email=address)  # fmt: skip
        session.add(need)
        session.flush()
        assert need.id is not None
        return need.id


def test_the_pages_button_redirects_and_forgets_the_needs_address(site: Site) -> None:
    """Contract §5: the page's own form answers 303 to its confirmation (a mail client's
    one-click POST: 200). The address also leaves the needs reported with it anonymously:
    the page promises no more notifications."""
    curator = site.user("curator")
    need_id = add_need(site, "xqzw désabonnement", "lea.martin@exemple.org")
    token = make_token(site.settings.secret_key, "Lea.Martin@Exemple.org")
    mail_client = TestClient(site.app, raise_server_exceptions=False)  # no cookie at all
    page = mail_client.get(f"/desabonnement/{token}")
    assert page.status_code == 200 and "Me désabonner" in page.text
    assert "Désabonnement enregistré" not in page.text

    response = mail_client.post(f"/desabonnement/{token}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/desabonnement/{token}?fait=1"
    done = mail_client.get(response.headers["location"])
    assert done.status_code == 200 and "Désabonnement enregistré" in done.text
    assert "ne recevra plus de notifications" in done.text and "Me désabonner" not in done.text
    assert need_for(site, "xqzw désabonnement").reporter_email is None

    mark = site.last_outbox_id()
    answer(site.signed_in(curator), need_id, PUBLISHED)
    assert site.outbox_after(mark) == []  # nobody left to tell


def test_a_needs_address_that_has_an_account_follows_its_choice(site: Site) -> None:
    """An address left anonymously that is an account's: that account's choice (weekly: the
    digest; never: nothing), never the text typed with the need; only an address without
    account is written to at once, without the « Gérer mes notifications » link."""
    curator = site.signed_in(site.user("curator"))
    weekly, never, immediate = (site.user("contributor") for _ in range(3))
    with write_session(site.app.state.engine) as session:
        for user, frequency in ((weekly, "weekly"), (never, "never")):
            account = session.get(User, user.id)
            assert account is not None
            account.mail_frequency = frequency
    needs = {
        address: add_need(site, f"xqzw besoin {n}", address)
        for n, address in enumerate(
            [weekly.email, never.email, immediate.email, "sans.compte@exemple.org"]
        )
    }
    mark = site.last_outbox_id()
    for need_id in needs.values():
        answer(curator, need_id, PUBLISHED)
    with read_session(site.app.state.engine) as session:
        pending = session.execute(select(PendingNotification)).scalars().all()
        left = session.execute(select(CapitalisationRequest.reporter_email)).scalars().all()
    assert [(p.user_id, p.template) for p in pending] == [(weekly.id, "need_answered")]
    assert "query" not in pending[0].context and "message" not in pending[0].context
    assert set(left) == {None}  # every address used once, then erased
    rows = site.outbox_after(mark)
    assert [(r.recipient, r.user_id) for r in rows] == [
        (immediate.email, immediate.id),
        ("sans.compte@exemple.org", None),
    ]
    assert "query" not in rows[0].context and "message" not in rows[0].context
    messages = by_recipient(site.deliver(2))
    account_text = text_of(messages[immediate.email])
    assert "Gérer mes notifications" in account_text
    assert "Gérer mes notifications" in html_of(messages[immediate.email])
    stranger = messages["sans.compte@exemple.org"]
    for body in (text_of(stranger), html_of(stranger)):
        assert "Gérer mes notifications" not in body and "Ne plus recevoir de courriels" in body
    for body in (account_text, text_of(stranger)):
        assert "\n-- \n" in body.replace("\r\n", "\n")  # the signature separator: "-- "
