"""The guided fiche form and the fiche express in a real browser: static/guide.js (word
counts, themes proposed from the activity, list filters, added rows), Enter still saving the
draft, the summary proposed, an express written then grown into a full fiche; axe-core on
each page at 1280 and 390 px."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import axe_serious, open_page, sign_in, unique_word

pytestmark = pytest.mark.browser

REGIE = "regie-des-cerisiers-blancs"


def test_guide_script_helps_without_getting_in_the_way(browser, live_server, make_account):
    from playwright.sync_api import expect

    account = make_account("contributor", regie=REGIE)
    with open_page(browser, base_url=live_server) as page:
        sign_in(page, account)
        page.goto("/contribuer")
        themes = page.locator("#champ-themes input:checked")
        expect(themes).to_have_count(0)
        # The activity ticks its most frequent themes, taken from the published fiches.
        page.select_option("#champ-activity", "laverie-solidaire")
        proposed = page.locator("form.guide-form").get_attribute("data-activity-themes")
        assert '"laverie-solidaire"' in proposed
        expect(themes).not_to_have_count(0)
        ticked = themes.evaluate_all("boxes => boxes.map(b => b.value)")
        assert all(f'"{slug}"' in proposed for slug in ticked)
        # Once the person has touched the themes, they are theirs.
        page.locator(f'#champ-themes input[value="{ticked[0]}"]').uncheck()
        page.select_option("#champ-activity", "jardin")
        expect(themes).to_have_count(len(ticked) - 1)

        # The activity list shrinks to what holds the typed letters (accents folded); the
        # chosen activity and « Aucune » stay, so nothing is unchosen by filtering.
        activities = page.locator("#champ-activity option")
        everything = activities.count()
        page.get_by_label("Filtrer les activités").fill("LAVÉ")
        expect(activities).to_have_count(3)
        expect(page.locator("#champ-activity")).to_have_value("jardin")
        expect(page.locator("#filtre-champ-activity-etat")).to_have_text(
            re.compile(r"^2 sur \d+ activités")  # Laverie, and Jardin (chosen)
        )
        page.get_by_label("Filtrer les activités").press("Enter")  # sends nothing
        expect(page).to_have_url(re.compile(r"/contribuer$"))
        page.get_by_label("Filtrer les activités").fill("")
        expect(activities).to_have_count(everything)

        # The word count follows the typing.
        page.locator("#champ-context").fill("Le quartier compte 1 800 logements et aucune laverie.")
        expect(page.locator("#context-mots")).to_have_text("9 mots — objectif 80 à 200")

        # The long list of schemes filters as one types; ticked boxes stay in sight.
        page.locator("#champ-schemes input[value=aci]").check()
        page.get_by_label("Filtrer les dispositifs").fill("contrat")
        visible = page.locator("#champ-schemes label.checkbox:visible")
        expect(visible).to_have_count(2)
        expect(page.locator("#champ-schemes")).to_contain_text("affichés")
        page.get_by_label("Filtrer les dispositifs").press("Enter")  # filters, sends nothing
        expect(page).to_have_url(re.compile(r"/contribuer$"))

        # A partner row more, focused, with labels of its own.
        rows = page.locator("input[name=partner_name]")
        count = rows.count()
        page.get_by_role("button", name="Ajouter un partenaire").click()
        expect(rows).to_have_count(count + 1)
        expect(page.locator(f"#champ-partner_name-{count + 1}")).to_be_focused()
        page.get_by_label(f"Partenaire {count + 1}", exact=True).fill("Ville de Saint-Denis")
        page.get_by_label(f"Son rôle (partenaire {count + 1})").fill("finance le poste")

        # « Proposer un résumé » fills the empty summary from the context; nothing is saved.
        page.get_by_role("button", name="Proposer un résumé").click()
        expect(page.locator("#champ-summary")).to_have_value(
            "Le quartier compte 1 800 logements et aucune laverie."
        )
        expect(page.locator(".flash")).to_contain_text("Rien n'est encore enregistré")
        expect(page.locator('input[name=partner_role][value="finance le poste"]')).to_have_count(1)

        # Enter in a field still saves the draft, as before the summary button existed.
        title = f"Une laverie {unique_word()}"
        page.locator("#champ-title").fill(title)
        page.locator("#champ-title").press("Enter")
        page.wait_for_url(re.compile(r"/fiches/[a-z0-9-]+/modifier$"))
        expect(page.locator(".flash")).to_contain_text("Brouillon enregistré.")
        expect(page.locator("#champ-title")).to_have_value(title)
        assert page.console_errors == []


@pytest.mark.parametrize("width", [1280, 390])
def test_express_then_grown_into_a_full_fiche(browser, live_server, make_account, width):
    from playwright.sync_api import expect

    account = make_account("contributor", regie=REGIE)
    found: dict[str, list[str]] = {}
    title = f"Un repair café {unique_word()}"
    with open_page(browser, width=width, base_url=live_server, bypass_csp=True) as page:
        sign_in(page, account)
        page.goto("/contribuer")
        page.get_by_role("link", name=re.compile("Fiche express")).click()
        expect(page).to_have_url(re.compile(r"/contribuer\?kind=express$"))
        expect(page.locator("h1")).to_have_text("Fiche express")
        found["express"] = axe_serious(page)

        page.get_by_label("Titre").fill(title)
        page.get_by_label("1. Qu'avez-vous fait ?").fill(
            "Un samedi par mois, des bénévoles réparent avec les habitants."
        )
        page.get_by_label("2. Où et avec qui ?").fill("Aux Cerisiers Blancs, avec le bailleur.")
        page.get_by_label("4. La leçon à retenir").fill("Garder une date fixe.")
        page.get_by_label("6. Nous acceptons d'en dire plus").check()
        page.locator("#champ-themes input[type=checkbox]").first.check()
        page.get_by_role("button", name="Enregistrer le brouillon").click()
        page.wait_for_url(re.compile(r"/fiches/[a-z0-9-]+/modifier$"))
        slug = page.url.rsplit("/", 2)[-2]
        expect(page.locator("h1")).to_have_text("Modifier la fiche express")
        expect(page.locator(".flash")).to_contain_text("écrit à partir de vos réponses")
        expect(page.locator("#champ-summary")).to_have_value(re.compile("^Un samedi par mois"))
        found["express (modifier)"] = axe_serious(page)

        page.get_by_role("link", name="Développer en fiche complète").click()
        expect(page).to_have_url(re.compile(rf"/fiches/{slug}/modifier\?kind=fiche$"))
        expect(page.locator("h1")).to_have_text("Développer la fiche express en fiche complète")
        expect(page.locator("#champ-method")).to_have_value(re.compile("^Un samedi par mois"))
        expect(page.locator("#champ-lessons")).to_have_value("Garder une date fixe.")
        found["fiche complète (développer)"] = axe_serious(page)
        page.locator("#champ-residents").fill("Deux habitantes tiennent l'accueil.")
        page.get_by_role("button", name="Enregistrer le brouillon").click()
        page.wait_for_url(re.compile(rf"/fiches/{slug}/modifier$"))  # the same address
        expect(page.locator("h1")).to_have_text("Modifier la fiche")
        expect(page.locator("#champ-residents")).to_have_value(
            "Deux habitantes tiennent l'accueil."
        )
        found["fiche complète"] = axe_serious(page)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"page {scroll} px wide"
    assert {name: bad for name, bad in found.items() if bad} == {}
