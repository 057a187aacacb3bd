"""Issue 15's followed searches in a real browser: a reader searches, clicks « Suivre cette
recherche » (twice: a text and a theme); a contributor's fiche gets published through the
review; /suivis shows it as new; the weekly digest is built, the live server's mail sender
writes it to data/outbox/ID.eml, and the fiche's link in the message, opened in Chromium,
leads to the fiche. axe-core on /suivis and on the message; screenshots of both
(docs/screenshots/follows-1280.png, mail-digest-1280.png and mail-digest-390.png)."""

from __future__ import annotations

import email
import email.policy
import re
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from resource_centre import digests, mailer
from resource_centre.config import Settings
from resource_centre.db import make_engine, read_session
from resource_centre.models import OutboxMessage, User
from tests.browser.conftest import axe_serious, fill_fiche, open_page, sign_in
from tests.conftest import DEMO_KNOWLEDGE, ROOT
from tests.mail.test_follow import clock_forward

pytestmark = pytest.mark.browser

REGIE = "regie-des-trois-ancres"
SCREENSHOTS = ROOT / "docs" / "screenshots"
TITLE = "Une cantine solidaire ouverte aux anciens du quartier"
SUMMARY = (
    "Chaque midi, la Régie sert un repas à 4 € aux habitants de plus de 70 ans, cuisiné par "
    "des salariés en insertion avec les légumes des jardins partagés."
)
EML_WAIT = 20.0  # seconds: the live server's sender polls every 2 s


def publish(team, slug: str) -> None:
    from playwright.sync_api import expect

    team.goto(f"/curation/fiches/{slug}")
    team.get_by_role("button", name="Publier", exact=True).click()
    team.wait_for_url(re.compile(rf"/curation/fiches/{slug}$"))
    expect(team.locator("#etat")).to_contain_text("Publiée")


def follow_search(page, url: str, label: str) -> list[str]:
    """Follow the search at `url`; return the axe-core violations of its page."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("link", name="Flux Atom de cette recherche")).to_be_visible()
    violations = axe_serious(page)
    page.get_by_role("button", name="Suivre cette recherche").click()
    page.wait_for_url("**/suivis")
    expect(page.locator(".flash")).to_contain_text("Recherche suivie")
    expect(page.get_by_role("heading", name=label, exact=True)).to_be_visible()
    return violations


def live_settings(env: dict[str, str], work: Path, live_server: str) -> Settings:
    """The live server's data, with its address as BASE_URL (links made for this server)."""
    return Settings(
        database_url=env["RESOURCE_CENTRE_DATABASE_URL"],
        index_dir=work / "index",
        data_dir=work / "data",
        knowledge_dir=DEMO_KNOWLEDGE,
        base_url=live_server,
    )


def wait_for_eml(path: Path) -> EmailMessage:
    deadline = time.monotonic() + EML_WAIT
    while not path.exists():
        assert time.monotonic() < deadline, f"the live server did not write {path}"
        time.sleep(0.2)
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def html_part(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_follow_a_search_then_read_the_digest(browser, live_server, live_env, make_account):
    from playwright.sync_api import expect

    reader_account = make_account("contributor", regie=REGIE, name="Lise Moreau")
    author_account = make_account("contributor", regie=REGIE, name="Awa Diallo")
    curator_account = make_account("curator", name="Équipe du réseau")
    found: dict[str, list[str]] = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with (
        open_page(browser, base_url=live_server, bypass_csp=True) as reader,
        open_page(browser, base_url=live_server, bypass_csp=True) as author,
        open_page(browser, base_url=live_server, bypass_csp=True) as team,
    ):
        # 1. The reader searches, then follows the search and a theme.
        sign_in(reader, reader_account)
        reader.goto("/fiches")
        reader.locator("#q").fill("cantine")
        reader.locator("#recherche button[type=submit]").click()
        reader.wait_for_url(re.compile(r"/fiches\?q=cantine$"))
        found["/fiches?q=cantine"] = follow_search(reader, reader.url, "« cantine »")
        found["/fiches?theme=alimentation"] = follow_search(
            reader, "/fiches?theme=alimentation", "Thèmes : Alimentation et démocratie alimentaire"
        )
        expect(reader.get_by_text("Aucune nouvelle fiche depuis le")).to_have_count(2)

        # 2. A contributor's fiche is submitted, then published by a curator.
        sign_in(author, author_account)
        author.goto("/contribuer")
        fill_fiche(author, TITLE)
        author.locator("#champ-summary").fill(SUMMARY)
        author.locator("#champ-themes input[value=alimentation]").check()
        author.locator("#champ-context").fill(
            "Beaucoup d'anciens du quartier mangeaient seuls, et mal, depuis la fermeture du "
            "foyer-restaurant ; la cantine du collège était vide le soir."
        )
        author.get_by_role("button", name="Soumettre à la relecture").click()
        author.wait_for_url("**/mes-fiches")
        sign_in(team, curator_account)
        team.goto("/curation")
        team.get_by_role("link", name=TITLE, exact=True).click()
        team.wait_for_url(re.compile(r"/curation/fiches/[a-z0-9-]+$"))
        slug = team.url.rsplit("/", 1)[-1]
        publish(team, slug)

        # 3. /suivis shows it as new for both searches (once the index has it). What is new
        # ends a settling minute before the visit: move the stored times two minutes back.
        settings = live_settings(live_env.env, live_env.work, live_server)
        engine = make_engine(settings.database_url)
        clock_forward(engine, 2)
        deadline = time.monotonic() + 5
        while True:
            reader.goto("/suivis")
            if reader.locator(".follow-new a", has_text=TITLE).count() == 2:
                break
            assert time.monotonic() < deadline, "the new fiche never showed on /suivis"
            reader.reload()
            time.sleep(0.3)
        expect(reader.locator("h1")).to_have_text("Mes recherches suivies")
        found["/suivis"] = axe_serious(reader)
        reader.screenshot(
            path=str(SCREENSHOTS / "follows-1280.png"),
            full_page=True,
            animations="disabled",
            caret="hide",
        )

        with open_page(
            browser, width=390, height=844, base_url=live_server, bypass_csp=True
        ) as phone:
            sign_in(phone, reader_account)
            phone.goto("/suivis")
            expect(phone.get_by_role("heading", name="« cantine »")).to_be_visible()
            found["/suivis (390 px)"] = axe_serious(phone)
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390

        # 4. The weekly digest: built, then written by the live server's mail sender.
        try:
            with read_session(engine) as session:
                reader_id = session.execute(
                    select(User.id).where(User.email == reader_account.email)
                ).scalar_one()
            message_id = digests.build_for_user(
                engine, settings, reader_id, settle=timedelta(0)
            )  # a test cannot wait for the settling minute
            assert message_id is not None
            with read_session(engine) as session:
                row = session.get(OutboxMessage, message_id)
            assert row is not None
        finally:
            engine.dispose()
        assert (
            row.subject
            == "Votre résumé de la semaine : 1 nouvelle fiche pour vos recherches suivies"
        )
        eml = wait_for_eml(live_env.work / "data" / "outbox" / f"{message_id}.eml")
        assert eml["Subject"] == row.subject and eml["To"] == reader_account.email
        assert f"/fiches/{slug}" in html_part(eml)
        # The same message as a site with BASE_URL sends it: links to this server.
        digest_html = html_part(mailer.compose(row, settings))
        assert f'href="{live_server}/fiches/{slug}"' in digest_html

        # 5. The message in Chromium: accessible, photographed, its link leads to the fiche.
        for width, height in ((1280, 900), (390, 844)):
            with open_page(browser, width=width, height=height) as mail:
                mail.set_content(digest_html)
                expect(mail.locator("h1")).to_have_text(row.subject)
                found[f"courriel {width}"] = axe_serious(mail)
                mail.screenshot(
                    path=str(SCREENSHOTS / f"mail-digest-{width}.png"),
                    full_page=True,
                    animations="disabled",
                    caret="hide",
                )
                assert mail.evaluate("document.documentElement.scrollWidth") <= width
        reader.set_content(digest_html)
        links = reader.get_by_role("link", name=TITLE)
        expect(links).to_have_count(2)  # one per followed search
        links.first.click()
        reader.wait_for_url(f"{live_server}/fiches/{slug}")
        expect(reader.locator("h1")).to_have_text(TITLE)
        expect(reader.locator("main")).to_contain_text("depuis la fermeture du foyer-restaurant")
    assert {page: bad for page, bad in found.items() if bad} == {}
