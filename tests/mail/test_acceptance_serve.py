"""Issue 15's acceptance, as users meet it: a real `serve --workers 2` process sending to a
real SMTP server on loopback, driven over HTTP.

- a contributor submits → each curator receives a message within 10 s, with a link to the
  review page; the curator requests changes → the contributor's message holds the comment;
  the curator publishes → a message with the public link;
- the SMTP server is stopped during three events and started again → the three messages
  arrive, once each.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx2 as httpx
import pytest

from resource_centre.auth import create_user
from resource_centre.db import make_engine, write_session
from tests.conftest import ROOT, TEST_KNOWLEDGE
from tests.mail.conftest import SmtpServer, text_of
from tests.soak_support import CLI, Server
from tests.web.test_contribute import COMPLETE, post_form

pytestmark = pytest.mark.slow

ORIGIN = "https://centre.example"
PASSWORD = "un mot de passe assez long"
DELIVERY_WITHIN = 10.0  # seconds, from the action to the message in the SMTP server


class Site:
    """The running server, its database and the people of the test."""

    def __init__(self, server: Server, engine, smtp: SmtpServer) -> None:
        self.server, self.engine, self.smtp = server, engine, smtp
        self.clients: list[httpx.Client] = []

    def browser(self, email: str) -> httpx.Client:
        client = httpx.Client(base_url=self.server.url, timeout=20)
        self.clients.append(client)
        page = client.get("/connexion")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        response = client.post(
            "/connexion",
            data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text[:500]
        return client


@pytest.fixture
def site(tmp_path: Path, database_url: str, smtp_server: SmtpServer) -> Iterator[Site]:
    env = dict(os.environ)
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=database_url,
        RESOURCE_CENTRE_INDEX_DIR=str(tmp_path / "index"),
        RESOURCE_CENTRE_DATA_DIR=str(tmp_path / "data"),
        RESOURCE_CENTRE_KNOWLEDGE_DIR=str(TEST_KNOWLEDGE),
        RESOURCE_CENTRE_SMTP_URL=smtp_server.url,
        RESOURCE_CENTRE_BASE_URL=ORIGIN,
        RESOURCE_CENTRE_SECRET_KEY="acceptance-test-secret-key-0123456789",
    )
    env.pop("RESOURCE_CENTRE_MAIL_POLL_SECONDS", None)  # the default poll, as shipped
    for args in (["init"], ["import", str(TEST_KNOWLEDGE)]):
        subprocess.run([*CLI, *args], env=env, cwd=ROOT, check=True, capture_output=True)
    engine = make_engine(database_url)
    with write_session(engine) as session:
        for email, role in (
            ("contributrice@regie-du-canal.example", "contributor"),
            ("curation-1@reseau.example", "curator"),
            ("curation-2@reseau.example", "admin"),
        ):
            create_user(
                session,
                email=email,
                password=PASSWORD,
                role=role,
                regie_slug="regie-du-canal" if role == "contributor" else None,
                name=email.split("@")[0],
            )
    server = Server(env, ROOT, 2, tmp_path / "server.log")
    server.start()
    site = Site(server, engine, smtp_server)
    try:
        yield site
    finally:
        for client in site.clients:
            client.close()
        server.stop()
        engine.dispose()


def links(message: EmailMessage) -> list[str]:
    return re.findall(r"https://centre\.example/[^\s<>\"]*", text_of(message))


def wait_messages(smtp: SmtpServer, count: int, since: float) -> list[EmailMessage]:
    received = smtp.wait_for(count, timeout=DELIVERY_WITHIN)
    elapsed = time.monotonic() - since
    assert elapsed <= DELIVERY_WITHIN, elapsed
    return received


def curator_act(browser: httpx.Client, slug: str, action: str, comment: str = "") -> None:
    page = browser.get(f"/curation/fiches/{slug}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    response = browser.post(
        f"/curation/fiches/{slug}",
        data={"csrf_token": token.group(1), "action": action, "comment": comment},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]


def submit_fiche(browser: httpx.Client, title: str) -> str:
    response = post_form(browser, "/contribuer", {**COMPLETE, "title": title}, action="save")
    assert response.status_code == 303, response.text[:500]
    slug = response.headers["location"].split("/")[2]
    response = post_form(
        browser, f"/fiches/{slug}/modifier", {**COMPLETE, "title": title}, action="submit"
    )
    assert response.status_code == 303, response.text[:500]
    return slug


def test_submit_request_changes_publish_reach_the_right_people_within_ten_seconds(site: Site):
    contributor = site.browser("contributrice@regie-du-canal.example")
    curator = site.browser("curation-1@reseau.example")

    started = time.monotonic()
    slug = submit_fiche(contributor, "Repair café du Canal")
    received = wait_messages(site.smtp, 2, started)
    assert sorted(str(m["To"]) for m in received) == [
        "curation-1@reseau.example",
        "curation-2@reseau.example",
    ]
    for message in received:
        assert "Repair café du Canal" in str(message["Subject"])
        assert f"{ORIGIN}/curation/fiches/{slug}" in links(message)
    review = curator.get(f"/curation/fiches/{slug}")  # the link leads to the review page
    assert review.status_code == 200 and "Repair café du Canal" in review.text

    site.smtp.clear()
    comment = "Pouvez-vous chiffrer le coût des pièces détachées ?"
    started = time.monotonic()
    curator_act(curator, slug, "request_changes", comment)
    [message] = wait_messages(site.smtp, 1, started)
    assert str(message["To"]) == "contributrice@regie-du-canal.example"
    assert comment in text_of(message)

    response = post_form(
        contributor,
        f"/fiches/{slug}/modifier",
        {**COMPLETE, "title": "Repair café du Canal"},
        action="submit",
    )
    assert response.status_code == 303
    wait_messages(site.smtp, 3, time.monotonic())  # the resubmission reaches both curators
    site.smtp.clear()
    started = time.monotonic()
    curator_act(curator, slug, "publish")
    [message] = wait_messages(site.smtp, 1, started)
    assert str(message["To"]) == "contributrice@regie-du-canal.example"
    assert f"{ORIGIN}/fiches/{slug}" in links(message)
    public = httpx.get(f"{site.server.url}/fiches/{slug}")
    assert public.status_code == 200


def test_three_events_while_the_smtp_server_is_down_arrive_once_each(site: Site):
    contributor = site.browser("contributrice@regie-du-canal.example")
    curator = site.browser("curation-1@reseau.example")
    slug = submit_fiche(contributor, "Atelier vélo de la Passerelle")
    site.smtp.wait_for(2)
    site.smtp.stop()
    site.smtp.clear()
    # Three events, three messages to the contributor, while no server answers.
    curator_act(curator, slug, "comment", "Merci, belle fiche : une photo de l'atelier ?")
    curator_act(curator, slug, "publish")
    curator_act(curator, slug, "archive")
    time.sleep(5)  # the sender tries (and fails) meanwhile
    site.smtp.start()
    # The first retry comes 30 s after a failure (back-off); allow for it.
    received = site.smtp.wait_for(3, timeout=75)
    time.sleep(5)  # anything sent twice would show up now
    received = list(site.smtp.messages)
    subjects = sorted(str(m["Subject"]) for m in received)
    assert len(received) == 3, subjects
    assert len({str(m["Message-ID"]) for m in received}) == 3
    assert {str(m["To"]) for m in received} == {"contributrice@regie-du-canal.example"}
    assert any("commentaire" in s.lower() for s in subjects), subjects
    assert any("publiée" in s for s in subjects), subjects
    assert any("archivée" in s.lower() for s in subjects), subjects
