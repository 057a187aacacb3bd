"""Issue 14's acceptance in a real browser, at 1280 and 390 px: a contributor writes a fiche
express in under 15 fields, a curator publishes it, the library finds it by a search and by
the « Format » facet, then the contributor grows it into a full fiche at the same address and
the curator publishes that revision. axe-core on every page; the screenshots of the express
form and of the published express (docs/screenshots/express-*.png)."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.conftest import axe_serious, open_page, sign_in, unique_word
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

REGIE = "regie-des-trois-ancres"
SCREENSHOTS = ROOT / "docs" / "screenshots"
DEMO_EXPRESS = "derriere-le-comptoir-de-la-laverie-plateau-des-tilleuls"
PUBLISH_DELAY = 2.0  # seconds between « Publier » and the fiche found by the search

# The fields a person fills, by name: every visible control of the form except buttons
# and the filter boxes of the long lists (JavaScript helpers without a name).
VISIBLE_FIELDS = """form => [...form.querySelectorAll('input, textarea, select')]
    .filter(e => e.type !== 'hidden' && e.type !== 'submit' && e.name
                 && e.getClientRects().length > 0)
    .map(e => e.name)"""


def publish(team, slug: str) -> None:
    from playwright.sync_api import expect

    team.goto(f"/curation/fiches/{slug}")
    team.get_by_role("button", name="Publier", exact=True).click()
    team.wait_for_url(re.compile(rf"/curation/fiches/{slug}$"))
    expect(team.locator("#etat")).to_contain_text("Publiée")


def search_until_found(page, url: str, title: str) -> bool:
    """Open `url` until a result card has `title` (at most PUBLISH_DELAY seconds)."""
    started = time.monotonic()
    while time.monotonic() - started < PUBLISH_DELAY:
        page.goto(url)
        if page.locator("#resultats .card-title", has_text=title).count() == 1:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("width", [1280, 390])
def test_express_published_found_then_grown(browser, live_server, make_account, width):
    from playwright.sync_api import expect

    contributor = make_account("contributor", regie=REGIE, name="Régie des Trois Ancres")
    curator = make_account("curator", name="Équipe du réseau")
    word = unique_word()
    title = f"Une boîte à livres tenue par les locataires {word}"
    height = 900 if width > 500 else 844
    found: dict[str, list[str]] = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with (
        open_page(
            browser, width=width, height=height, base_url=live_server, bypass_csp=True
        ) as author,
        open_page(
            browser, width=width, height=height, base_url=live_server, bypass_csp=True
        ) as team,
        open_page(
            browser, width=width, height=height, base_url=live_server, bypass_csp=True
        ) as reader,
    ):
        # 1. The contributor chooses the fiche express and answers its questions.
        sign_in(author, contributor)
        author.goto("/contribuer")
        author.get_by_role("link", name=re.compile("Fiche express")).click()
        expect(author).to_have_url(re.compile(r"/contribuer\?kind=express$"))
        found["express (vide)"] = axe_serious(author)
        names = author.locator("form.guide-form").evaluate(VISIBLE_FIELDS)
        theme_boxes = names.count("themes")
        fields = [n for n in names if n != "themes"] + ["themes"] * bool(theme_boxes)
        assert len(fields) < 15, fields
        author.screenshot(
            path=str(SCREENSHOTS / f"express-{width}.png"), animations="disabled", caret="hide"
        )

        author.get_by_label("Titre").fill(title)
        author.get_by_label("1. Qu'avez-vous fait ?").fill(
            f"Une boîte à livres dans le hall du bâtiment C, relevée chaque semaine par deux "
            f"locataires ({word})."
        )
        author.get_by_label("2. Où et avec qui ?").fill(
            "Au pied des immeubles des Trois Ancres, avec l'amicale des locataires."
        )
        author.get_by_label("3. Qu'est-ce que ça a donné ?").fill(
            "Environ 40 livres échangés par mois ; le hall est moins dégradé."
        )
        author.get_by_label("4. La leçon à retenir").fill(
            "Confier la boîte à des habitants volontaires plutôt qu'à la Régie seule."
        )
        author.get_by_label("5. Un contact").fill("La coordinatrice de la Régie, via le réseau.")
        author.get_by_label("6. Nous acceptons d'en dire plus").check()
        author.locator("#champ-themes input[value=lien-social]").check()
        found["express (rempli)"] = axe_serious(author)
        author.get_by_role("button", name="Soumettre à la relecture").click()
        author.wait_for_url("**/mes-fiches")
        item = author.locator(".mine-item").filter(has=author.get_by_role("heading", name=title))
        expect(item.locator(".status-submitted")).to_have_text("En relecture")
        expect(item.locator(".status-express")).to_have_text("Fiche express")
        found["mes fiches"] = axe_serious(author)

        # 2. The curator sees it in the queue as an express asking for an interview.
        sign_in(team, curator)
        team.goto("/curation")
        row = team.locator("tr", has=team.get_by_role("link", name=title, exact=True))
        expect(row).to_contain_text("Fiche express")
        expect(row).to_contain_text("Entretien souhaité")
        expect(row).to_contain_text(re.compile(r"\d+/10"))
        found["/curation"] = axe_serious(team)
        row.get_by_role("link", name=title, exact=True).click()
        team.wait_for_url(re.compile(r"/curation/fiches/[a-z0-9-]+$"))
        slug = team.url.rsplit("/", 1)[-1]
        expect(team.locator("body")).to_contain_text("Grille de relecture")
        found["relecture"] = axe_serious(team)
        publish(team, slug)
        found["relecture (publiée)"] = axe_serious(team)

        # 3. Found by a search and by the « Format » facet.
        assert search_until_found(reader, f"/fiches?q={word}", title)
        card = reader.locator("#resultats article", has_text=title)
        expect(card).to_contain_text("Fiche express")
        found["recherche"] = axe_serious(reader)
        reader.goto("/fiches")
        facet = reader.locator("#f-kind-express")
        if not facet.is_visible():  # on a phone, the filters are folded
            reader.locator("#filtres-panneau > summary").click()
        facet.check()  # site.js applies a ticked filter at once
        expect(reader).to_have_url(re.compile(r"kind=express"))
        expect(reader.locator("#resultats .card-title", has_text=title)).to_have_count(1)
        found["facette Format"] = axe_serious(reader)
        reader.locator("#resultats .card-title a", has_text=title).click()
        expect(reader.locator("h1")).to_have_text(title)
        expect(reader.locator(".fiche-kind")).to_contain_text("Fiche express")
        found["fiche express"] = axe_serious(reader)
        # The screenshot shows a demo express (this test's title holds a random word).
        reader.goto(f"/fiches/{DEMO_EXPRESS}")
        expect(reader.locator(".fiche-kind")).to_contain_text("Fiche express")
        found["fiche express (démo)"] = axe_serious(reader)
        reader.screenshot(
            path=str(SCREENSHOTS / f"express-fiche-{width}.png"),
            animations="disabled",
            caret="hide",
        )

        # 4. The contributor grows it into a full fiche: a revision of the same address.
        author.goto(f"/fiches/{slug}/modifier")
        author.get_by_role("link", name="Développer en fiche complète").click()
        expect(author).to_have_url(re.compile(rf"/fiches/{slug}/modifier\?kind=fiche$"))
        expect(author.locator("#champ-method")).to_have_value(re.compile("^Une boîte à livres"))
        found["développer"] = axe_serious(author)
        author.locator("#champ-residents").fill(
            "Deux locataires relèvent la boîte chaque lundi ; l'amicale choisit les dons."
        )
        author.locator("#champ-resources").fill("Une étagère de récupération, 0 € d'achat.")
        author.get_by_role("button", name="Soumettre à la relecture").click()
        author.wait_for_url("**/mes-fiches")

        publish(team, slug)
        reader.goto(f"/fiches/{slug}")
        expect(reader.locator("h1")).to_have_text(title)
        expect(reader.locator("main")).to_contain_text("Place des habitants")
        expect(reader.locator("main")).to_contain_text("Deux locataires relèvent la boîte")
        expect(reader.locator(".fiche-kind")).to_have_count(0)  # no longer an express
        found["fiche complète"] = axe_serious(reader)
        assert reader.evaluate("document.documentElement.scrollWidth") <= width
    assert {page: bad for page, bad in found.items() if bad} == {}
