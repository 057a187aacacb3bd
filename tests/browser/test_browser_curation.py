"""The network team in a real browser: the review queue, a request for changes answered by
the Régie, publication, and the fiche found by the library's search within two seconds.
axe-core on every back-office page, and the screenshots of a review page."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import axe_serious, fill_fiche, open_page, sign_in, unique_word
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

REGIE = "regie-de-la-rive-des-pins"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PUBLISH_DELAY = 2.0  # seconds between "Publier" and the fiche found by the library's search
RESULTS_TABLE = "| Année | Vélos réparés | Adhérents | Heures d'atelier |\n|---|---|---|---|\n| 2022 | 310 | 85 | 420 |\n| 2023 | 540 | 140 | 610 |"


def console_errors(page, *expected: str) -> list[str]:
    """The page's console errors, less the browser's notes about expected HTTP statuses."""
    return [e for e in page.console_errors if not any(f"status of {s}" in e for s in expected)]


def submit_new_fiche(page, title: str, **extra: str) -> None:
    """Write a complete fiche at /contribuer and submit it (the page must be signed in)."""
    page.goto("/contribuer")
    fill_fiche(page, title, extra=extra)
    page.get_by_role("button", name="Soumettre à la relecture").click()
    page.wait_for_url("**/mes-fiches")


def open_from_queue(page, title: str) -> str:
    """Open a fiche waiting for review from the queue; return its slug."""
    from playwright.sync_api import expect

    page.goto("/curation")
    waiting = page.locator("table").filter(has=page.locator("th", has_text="En attente depuis"))
    link = waiting.get_by_role("link", name=title, exact=True)
    expect(link).to_have_count(1)
    link.click()
    page.wait_for_url(re.compile(r"/curation/fiches/[a-z0-9-]+$"))
    expect(page.locator("h1")).to_have_text(f"Relecture : {title}")
    return page.url.rsplit("/", 1)[-1]


def mine_item(page, title: str):
    return page.locator(".mine-item").filter(has=page.get_by_role("heading", name=title))


def test_request_changes_answer_publish_and_find(browser, live_server, make_account):
    from playwright.sync_api import expect

    contributor = make_account("contributor", regie=REGIE, name="Karim Benali")
    curator = make_account("curator", name="Équipe du réseau")
    word = unique_word()
    title = f"Un atelier de réparation de vélos {word}"
    comment = "Précisez le budget de l'atelier et qui l'a financé."

    with (
        open_page(browser, base_url=live_server) as author,
        open_page(browser, base_url=live_server) as team,
        open_page(browser, base_url=live_server) as visitor,
    ):
        sign_in(author, contributor)
        submit_new_fiche(author, title, results=RESULTS_TABLE)
        expect(mine_item(author, title).locator(".status")).to_have_text("En relecture")

        # The curator lands on "Mes fiches", goes to the queue and opens the fiche.
        sign_in(team, curator)
        team.get_by_role("link", name="Espace de curation").click()
        expect(team).to_have_url(re.compile(r"/curation$"))
        expect(team.locator(".subnav a[aria-current=page]")).to_have_text("File de relecture")
        slug = open_from_queue(team, title)
        expect(team.locator("#etat")).to_contain_text("En relecture")
        expect(team.locator("#etat")).to_contain_text("Régie de quartier de la Rive des Pins")
        preview = team.locator("article.fiche-preview")
        expect(preview.get_by_role("heading", name="Contexte")).to_be_visible()
        expect(preview.locator(".prose strong")).to_have_text("aucune laverie")
        expect(preview.get_by_role("region", name="Tableau : Résultats")).to_be_visible()
        # The Markdown heading sits one level below its section's (an h3 here).
        expect(preview.locator("h4")).to_have_text("Les étapes")

        # A request for changes needs a comment.
        team.get_by_role("button", name="Demander des modifications").click()
        expect(team.locator("#erreur")).to_contain_text("Action impossible")
        expect(team.locator("#etat")).to_contain_text("En relecture")
        team.get_by_label("Commentaire pour la Régie").fill(comment)
        team.get_by_role("button", name="Demander des modifications").click()
        team.wait_for_url(re.compile(rf"/curation/fiches/{slug}$"))
        expect(team.locator("#etat")).to_contain_text("Modifications demandées")
        expect(team.locator(".comment")).to_contain_text(comment)
        expect(team.locator(".history")).to_contain_text(
            "modifications demandées par Équipe du réseau"
        )
        assert console_errors(team, "422") == []

        # Still nowhere in the library.
        response = visitor.goto(f"/fiches/{slug}")
        assert response is not None and response.status == 404
        visitor.goto(f"/fiches?q={word}")
        expect(visitor.locator("#titre-resultats")).to_contain_text("Aucune fiche")

        # The contributor reads the comment, completes the fiche and submits it again.
        author.goto("/mes-fiches")
        item = mine_item(author, title)
        expect(item.locator(".status")).to_have_text("Modifications demandées")
        expect(item.locator(".comment")).to_contain_text(comment)
        item.get_by_role("link", name="Modifier et soumettre à nouveau").click()
        expect(author).to_have_url(re.compile(rf"/fiches/{slug}/modifier$"))
        expect(author.locator("#champ-title")).to_have_value(title)
        author.locator("#champ-resources").fill(
            "Un budget de **12 400 €** par an, financé par le contrat de ville et le bailleur."
        )
        author.get_by_role("button", name="Soumettre à la relecture").click()
        author.wait_for_url("**/mes-fiches")
        expect(mine_item(author, title).locator(".status")).to_have_text("En relecture")

        # The curator finds it again in the queue, with the answer, and publishes it.
        assert open_from_queue(team, title) == slug
        expect(team.locator("article.fiche-preview")).to_contain_text("12 400 €")
        started = time.monotonic()
        team.get_by_role("button", name="Publier").click()
        team.wait_for_url(re.compile(rf"/curation/fiches/{slug}$"))
        expect(team.locator("#etat")).to_contain_text("Publiée")

        # The library's search finds it within two seconds of the click on "Publier".
        found = False
        while not found and time.monotonic() - started < PUBLISH_DELAY:
            visitor.goto(f"/fiches?q={word}")
            found = visitor.locator("#resultats .card-title", has_text=title).count() == 1
            if not found:
                time.sleep(0.1)
        elapsed = time.monotonic() - started
        assert found, f"not found by the search {elapsed:.2f} s after the publication"
        expect(visitor.locator("#titre-resultats")).to_contain_text("1 fiche")
        visitor.locator("#resultats .card-title a").click()
        expect(visitor.locator("h1")).to_have_text(title)
        expect(visitor.locator("#resources")).to_contain_text("12 400 €")

        # The contributor sees it published, with a link to its public page.
        author.goto("/mes-fiches")
        item = mine_item(author, title)
        expect(item.locator(".status")).to_have_text("Publiée")
        expect(item.get_by_role("link", name=title, exact=True)).to_have_attribute(
            "href", f"/fiches/{slug}"
        )
        assert console_errors(author) == []
        assert console_errors(visitor, "404") == []


def test_contributor_cannot_open_the_back_office(browser, live_server, make_account):
    contributor = make_account("contributor", regie=REGIE)
    with open_page(browser, base_url=live_server) as page:
        sign_in(page, contributor)
        assert page.get_by_role("link", name="Espace de curation").count() == 0
        for url in ("/curation", "/curation/taxonomie", "/curation/utilisateurs"):
            response = page.goto(url)
            assert response is not None and response.status == 403, url


@pytest.mark.parametrize("width", [1280, 390])
def test_axe_on_back_office_pages(browser, live_server, make_account, width):
    contributor = make_account("contributor", regie=REGIE, reuse=True)
    admin = make_account("admin", name="Administratrice", reuse=True)
    title = f"Une recyclerie de quartier {unique_word()}"
    found: dict[str, list[str]] = {}
    with (
        open_page(browser, width=width, base_url=live_server, bypass_csp=True) as team,
        open_page(browser, width=width, base_url=live_server) as author,
    ):
        sign_in(author, contributor)
        submit_new_fiche(author, title, results=RESULTS_TABLE)
        sign_in(team, admin)
        team.goto("/curation")
        found["/curation"] = axe_serious(team)
        slug = open_from_queue(team, title)
        found["relecture"] = axe_serious(team)
        team.get_by_role("button", name="Demander des modifications").click()
        team.locator("#erreur").wait_for()
        found["relecture (erreur)"] = axe_serious(team)
        team.get_by_role("button", name="Publier").click()
        team.wait_for_url(re.compile(rf"/curation/fiches/{slug}$"))
        found["relecture (publiée)"] = axe_serious(team)

        # A revision proposed by the Régie: the review page shows what changes.
        author.goto(f"/fiches/{slug}/modifier")
        author.locator("#champ-lessons").fill(
            "Associer le bailleur dès le début.\n\nEt les écoles."
        )
        author.get_by_role("button", name="Soumettre à la relecture").click()
        author.wait_for_url("**/mes-fiches")
        team.goto(f"/curation/fiches/{slug}")
        team.locator("pre.diff ins").first.wait_for()
        found["relecture (révision)"] = axe_serious(team)

        for url in (
            "/curation/taxonomie",
            "/curation/journal",
            "/curation/radar",
            "/curation/courriels",
            "/curation/utilisateurs",
        ):
            team.goto(url)
            found[url] = axe_serious(team)
        # The page has two forms asking for an address: creating an account, inviting.
        create = team.locator("form").filter(has=team.get_by_role("button", name="Créer le compte"))
        create.get_by_label("Adresse e-mail").fill(f"nouveau-{unique_word()}@example.org")
        create.get_by_label("Rôle").select_option("curator")
        create.get_by_role("button", name="Créer le compte").click()
        team.locator(".notice").wait_for()
        found["/curation/utilisateurs (compte créé)"] = axe_serious(team)
        invite = team.locator("form").filter(
            has=team.get_by_role("button", name="Envoyer l'invitation", exact=True)
        )
        invite.get_by_label("Adresse e-mail").fill(f"invitee-{unique_word()}@example.org")
        invite.get_by_label("Rôle").select_option("curator")
        invite.get_by_role("button", name="Envoyer l'invitation", exact=True).click()
        team.locator(".flash-success").wait_for()
        assert "Invitation" in team.locator(".flash-success").inner_text()
        found["/curation/utilisateurs (invitation envoyée)"] = axe_serious(team)
        # Nothing sticks out sideways: wide tables scroll inside their own box.
        for url in (
            "/curation",
            "/curation/journal",
            "/curation/taxonomie",
            f"/curation/fiches/{slug}",
        ):
            team.goto(url)
            assert team.evaluate("document.documentElement.scrollWidth") <= width, url
    assert {page: bad for page, bad in found.items() if bad} == {}


@pytest.mark.parametrize("width", [1280, 390])
def test_review_screenshots(browser, live_server, make_account, width):
    """docs/screenshots/review-<width>.png: a submitted fiche as the network team sees it."""
    contributor = make_account("contributor", regie=REGIE, reuse=True)
    curator = make_account("curator", name="Équipe du réseau", reuse=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = 900 if width > 500 else 844
    with (
        open_page(browser, base_url=live_server) as author,
        open_page(browser, width=width, height=height, base_url=live_server) as team,
    ):
        # A title as a Régie would write it (no test marker): the slug comes from the draft.
        sign_in(author, contributor)
        author.goto("/contribuer")
        fill_fiche(author, "Un atelier de réparation de vélos au pied des immeubles")
        author.get_by_role("button", name="Enregistrer le brouillon").click()
        author.wait_for_url("**/modifier")
        slug = author.url.rsplit("/", 2)[-2]
        author.get_by_role("button", name="Soumettre à la relecture").click()
        author.wait_for_url("**/mes-fiches")
        sign_in(team, curator)
        team.goto(f"/curation/fiches/{slug}")
        team.wait_for_load_state("networkidle")
        path = SCREENSHOTS / f"review-{width}.png"
        team.screenshot(path=str(path), animations="disabled", caret="hide")
        assert path.stat().st_size < 600_000
        assert team.evaluate("document.documentElement.scrollWidth") <= width
        assert team.console_errors == []
