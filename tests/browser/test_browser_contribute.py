"""Contributors in a real browser: sign in, write a fiche with an attachment, preview it,
save a draft, come back to it, submit it; the fiche stays out of the public library until a
curator publishes it. Keyboard-only sign-in, and axe-core on the contributors' pages."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.browser.conftest import (
    PDF,
    axe_serious,
    fill_fiche,
    focused,
    open_page,
    sign_in,
    tab_to,
    unique_word,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

REGIE = "regie-des-cerisiers-blancs"
SCREENSHOTS = ROOT / "docs" / "screenshots"
GUIDE = 'Lire [le guide](https://exemple.fr/guide.pdf "<table> et <h3>") : <table> `<h3>`.'
WIDE_TABLE = (
    "| Année | Lavages | Séchages | Passages par mois | Recettes (€) | Charges couvertes |\n"
    "|---|---|---|---|---|---|\n"
    "| 2022 | 10 200 | 7 800 | 1 100 | 26 900 | 63 % |\n"
    "| 2023 | 12 000 | 9 050 | 1 300 | 30 800 | 70 % |"
)


def console_errors(page, expected: str = "status of 422") -> list[str]:
    """The page's console errors, less the browser's note about an expected HTTP status."""
    return [e for e in page.console_errors if expected not in e]


def mine_item(page, title):
    """The entry of "Mes fiches" for one fiche."""
    return page.locator(".mine-item").filter(has=page.get_by_role("heading", name=title))


def test_write_preview_save_come_back_submit(browser, live_server, make_account):
    from playwright.sync_api import expect

    account = make_account("contributor", regie=REGIE, name="Awa Diallo")
    word = unique_word()
    title = f"Une laverie solidaire {word}"
    with open_page(browser, base_url=live_server) as page:
        sign_in(page, account)
        expect(page.locator(".flash")).to_contain_text("Bienvenue, Awa Diallo.")

        page.get_by_role("link", name="Contribuer").click()
        expect(page).to_have_url(re.compile(r"/contribuer$"))
        expect(page.locator("h1")).to_have_text("Écrire une fiche")
        expect(page.locator(".form-page")).to_contain_text("Régie de quartier des Cerisiers Blancs")
        fill_fiche(
            page,
            title,
            extra={
                "results": "| Année | Lavages |\n|---|---|\n| 2023 | 1 200 |",
                "transfer": GUIDE,
            },
        )
        page.locator("#champ-attachments").set_input_files(
            {"name": "bilan-2023.pdf", "mimeType": "application/pdf", "buffer": PDF}
        )

        # Preview: the sections rendered from Markdown, next to what was typed, nothing saved.
        page.get_by_role("button", name="Aperçu").click()
        expect(page).to_have_url(re.compile(r"/contribuer$"))
        context = page.get_by_role("group", name="Aperçu — Contexte")
        expect(context.locator("strong")).to_have_text("aucune laverie")
        method = page.get_by_role("group", name="Aperçu — Démarche")
        expect(method.locator("h3")).to_have_text("Les étapes")
        expect(method.locator("li")).to_have_count(2)
        results = page.get_by_role("group", name="Aperçu — Résultats")
        # A table goes into a region of its own, which scrolls on a phone.
        table = results.get_by_role("region", name="Tableau : Résultats").locator("table")
        expect(table.locator("td").first).to_have_text("2023")
        # Tags written as text stay text, even in an attribute: no region, no heading.
        transfer = page.get_by_role("group", name="Aperçu — Pour essaimer")
        expect(transfer.get_by_role("link", name="le guide")).to_have_attribute(
            "title", "<table> et <h3>"
        )
        expect(transfer.locator("table, h3, h4, .table-scroll")).to_have_count(0)
        expect(page.locator(".preview")).to_have_count(5)  # only the sections written
        expect(page.locator("#champ-title")).to_have_value(title)
        expect(page.locator("#champ-themes input:checked")).to_have_count(1)
        # A page sent back by the server cannot keep the chosen files: the form says so.
        expect(page.locator("#attachments-aide")).to_contain_text("choisissez à nouveau")
        page.locator("#champ-attachments").set_input_files(
            {"name": "bilan-2023.pdf", "mimeType": "application/pdf", "buffer": PDF}
        )

        page.get_by_role("button", name="Enregistrer le brouillon").click()
        page.wait_for_url(re.compile(r"/fiches/[a-z0-9-]+/modifier$"))
        expect(page.locator(".flash")).to_contain_text("Brouillon enregistré.")
        slug = page.url.rsplit("/", 2)[-2]
        assert word in slug
        attachment = page.locator("ul.attachments a")
        expect(attachment).to_have_text("bilan-2023.pdf")
        expect(page.locator("ul.attachments li")).to_contain_text("(moins de 1 Ko)")
        download = page.request.get(attachment.get_attribute("href"))
        assert download.status == 200 and download.body() == PDF

        # Later: back through "Mes fiches".
        page.goto("/")
        page.get_by_role("link", name="Mes fiches").click()
        item = mine_item(page, title)
        expect(item.locator(".status")).to_have_text("Brouillon")
        item.get_by_role("link", name="Modifier").click()
        expect(page).to_have_url(re.compile(rf"/fiches/{slug}/modifier$"))
        expect(page.locator("#champ-title")).to_have_value(title)
        expect(page.locator("#champ-context")).to_have_value(
            "Le quartier n'avait **aucune laverie** à moins de deux kilomètres."
        )
        expect(page.locator("ul.attachments a")).to_have_text("bilan-2023.pdf")
        page.locator("#champ-objectives").fill("Laver le linge de 300 familles par an.")

        page.get_by_role("button", name="Soumettre à la relecture").click()
        page.wait_for_url("**/mes-fiches")
        expect(page.locator(".flash")).to_contain_text("envoyée à l'équipe du réseau")
        item = mine_item(page, title)
        expect(item.locator(".status")).to_have_text("En relecture")
        expect(item).to_contain_text("En attente de relecture")
        expect(item.get_by_role("link")).to_have_count(0)  # no public page, no edit any more
        assert page.console_errors == []

    # The public library does not know it: no search hit, and its address answers 404.
    with open_page(browser, base_url=live_server) as visitor:
        visitor.goto(f"/fiches?q={quote(title)}")
        expect(visitor.locator("#titre-resultats")).to_contain_text(f"pour « {title} »")
        # The other words of the title find demo fiches, but not this one.
        expect(visitor.locator("#resultats .card-title")).not_to_have_text([title])
        expect(visitor.locator("#resultats .cards")).not_to_contain_text(word)
        visitor.goto(f"/fiches?q={word}")
        expect(visitor.locator("#titre-resultats")).to_contain_text("Aucune fiche")
        response = visitor.goto(f"/fiches/{slug}")
        assert response is not None and response.status == 404
        response = visitor.goto(f"/fiches/{slug}/modifier")
        assert response is not None
        assert "/connexion" in visitor.url or response.status in (403, 404)
    # Not even its author sees it in the library before it is published.
    with open_page(browser, base_url=live_server) as page:
        sign_in(page, account)
        response = page.goto(f"/fiches/{slug}")
        assert response is not None and response.status == 404


def test_failed_submit_keeps_input_and_lists_errors(browser, live_server, make_account):
    from playwright.sync_api import expect

    account = make_account("contributor", regie=REGIE)
    title = f"Un jardin partagé {unique_word()}"
    with open_page(browser, base_url=live_server) as page:
        sign_in(page, account)
        page.goto("/contribuer")
        page.locator("#champ-title").fill(title)
        page.locator("#champ-year_start").fill("2O21")
        response_status = []
        page.on("response", lambda r: r.url.endswith("/contribuer") and response_status.append(r))
        page.get_by_role("button", name="Soumettre à la relecture").click()
        summary = page.locator("#erreurs")
        expect(summary).to_be_visible()
        assert response_status and response_status[-1].status == 422
        for field in ("year_start", "summary", "themes", "context", "method", "lessons"):
            expect(summary.locator(f'a[href="#champ-{field}"]')).to_have_count(1)
        expect(page.locator("#champ-title")).to_have_value(title)
        expect(page.locator("#champ-year_start")).to_have_value("2O21")
        expect(page.locator("#champ-year_start")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#year_start-erreur")).to_contain_text("année en chiffres")
        # The error links lead to their field.
        summary.locator('a[href="#champ-context"]').click()
        expect(page).to_have_url(re.compile("#champ-context$"))
        expect(page.locator("#champ-context")).to_be_in_viewport()
        # Nothing was created.
        page.goto("/mes-fiches")
        expect(page.locator("main")).not_to_contain_text(title)
        assert console_errors(page) == []


def test_keyboard_only_sign_in(browser, live_server, make_account):
    from playwright.sync_api import expect

    account = make_account("contributor", regie=REGIE)
    with open_page(browser, base_url=live_server) as page:
        page.goto("/connexion")
        # Sent empty with Enter: the errors are listed and each field says what is wrong.
        email = tab_to(page, lambda e: e["id"] == "champ-email")
        assert email["type"] == "email"
        page.keyboard.press("Enter")
        expect(page.locator("#erreurs")).to_be_visible()
        expect(page.locator("#champ-email")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#champ-password")).to_have_attribute("aria-invalid", "true")

        # The error summary comes before the fields in the tab order, and its link leads there.
        link = tab_to(page, lambda e: e["href"] == "#champ-email")
        assert "Adresse e-mail" in link["text"]
        tab_to(page, lambda e: e["id"] == "champ-email")
        page.keyboard.type(account.email)
        page.keyboard.press("Tab")
        assert focused(page)["id"] == "champ-password"
        page.keyboard.type(account.password)
        button = tab_to(page, lambda e: e["tag"] == "button", limit=1)
        assert button["text"] == "Se connecter"
        page.keyboard.press("Enter")
        page.wait_for_url("**/mes-fiches")
        expect(page.locator("h1")).to_have_text("Mes fiches")

        # Signing out is reachable from the keyboard too.
        tab_to(page, lambda e: e["text"] == "Se déconnecter", limit=15)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/$"))
        expect(page.locator(".flash")).to_contain_text("Vous êtes déconnecté.")
        assert console_errors(page) == []


@pytest.mark.parametrize("width", [1280, 390])
def test_axe_on_contributor_pages(browser, live_server, make_account, width):
    account = make_account("contributor", regie=REGIE, reuse=True)
    found: dict[str, list[str]] = {}

    def check(label: str) -> None:
        found[label] = axe_serious(page)
        # Nothing sticks out sideways (a wide table scrolls inside its own region).
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            found[label].append(f"page {scroll} px wide")

    with open_page(browser, width=width, base_url=live_server, bypass_csp=True) as page:
        page.goto("/connexion")
        check("/connexion")
        page.get_by_role("button", name="Se connecter").click()  # empty: errors shown
        page.locator("#erreurs").wait_for()
        check("/connexion (erreurs)")
        sign_in(page, account)
        check("/mes-fiches (arrivée)")
        page.goto("/contribuer")
        check("/contribuer")
        page.locator("#champ-title").fill(f"Fiche incomplète {unique_word()}")
        page.locator("#champ-year_end").fill("1800")
        page.get_by_role("button", name="Soumettre à la relecture").click()
        page.locator("#erreurs").wait_for()
        check("/contribuer (erreurs)")
        fill_fiche(page, f"Fiche complète {unique_word()}", extra={"results": WIDE_TABLE})
        page.locator("#champ-year_end").fill("")
        page.get_by_role("button", name="Aperçu").click()
        page.locator(".preview").first.wait_for()
        check("/contribuer (aperçu)")
        page.locator("#champ-attachments").set_input_files(
            {"name": "bilan-2023.pdf", "mimeType": "application/pdf", "buffer": PDF}
        )
        page.get_by_role("button", name="Enregistrer le brouillon").click()
        page.wait_for_url("**/modifier")
        check("/fiches/…/modifier")
        page.goto("/mes-fiches")
        check("/mes-fiches")
    assert {url: bad for url, bad in found.items() if bad} == {}


@pytest.mark.parametrize("width", [1280, 390])
def test_contribute_screenshots(browser, live_server, make_account, width):
    """docs/screenshots/contribute-<width>.png: the form of a new fiche, as a contributor sees it."""
    account = make_account("contributor", regie=REGIE, reuse=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = 900 if width > 500 else 844
    with open_page(browser, width=width, height=height, base_url=live_server) as page:
        sign_in(page, account)
        page.goto("/contribuer")
        page.wait_for_load_state("networkidle")
        path = SCREENSHOTS / f"contribute-{width}.png"
        page.screenshot(path=str(path), animations="disabled", caret="hide")
        assert path.stat().st_size < 600_000
        # Nothing sticks out sideways on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.console_errors == []
