"""The glossary in a real browser: the public page (letters, anchors such as /glossaire#iae)
and the curators' form with the keyboard, axe-core on each, errors included."""

from __future__ import annotations

import pytest

from tests.browser.conftest import axe_serious, open_page, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1280, 390])
def test_public_glossary_letters_anchors_and_axe(browser, live_server, width):
    from playwright.sync_api import expect

    with open_page(browser, width=width, base_url=live_server, bypass_csp=True) as page:
        page.goto("/")
        page.locator("footer").get_by_role("link", name="Glossaire des sigles").click()
        page.wait_for_url("**/glossaire")
        expect(page.locator("h1")).to_have_text("Glossaire")
        page.get_by_role("navigation", name="Lettres du glossaire").get_by_role(
            "link", name="Q", exact=True
        ).click()
        page.wait_for_url("**/glossaire#lettre-q")
        expect(page.locator("#lettre-q dt").first).to_contain_text("QPV")
        page.goto("/")
        page.goto("/glossaire#iae")  # a link from elsewhere lands on the entry
        expect(page.locator("#iae")).to_contain_text("insertion par l'activité économique")
        page.wait_for_function(
            "Math.abs(document.querySelector('#iae').getBoundingClientRect().top) < 200"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert axe_serious(page) == []
        assert page.console_errors == []


def test_curator_edits_an_entry_with_the_keyboard_errors_shown_and_axe(
    browser, live_server, make_account
):
    from playwright.sync_api import expect

    curator = make_account("curator", name="Équipe du réseau", reuse=True)
    found: dict[str, list[str]] = {}
    with open_page(browser, base_url=live_server, bypass_csp=True) as page:
        sign_in(page, curator)
        page.goto("/curation/glossaire")
        found["liste"] = axe_serious(page)
        # An empty form: the errors are listed at the top and next to each field.
        page.get_by_role("button", name="Ajouter au glossaire").click()
        summary = page.locator("#erreurs")
        expect(summary).to_contain_text("Terme : le terme est obligatoire")
        expect(page.locator("#champ-term")).to_have_attribute("aria-invalid", "true")
        found["liste (erreurs)"] = axe_serious(page)
        summary.get_by_role("link", name="Terme").click()
        expect(page.locator("#champ-term")).to_be_focused()

        page.get_by_role("link", name="Modifier « QPV »").click()
        page.wait_for_url("**/curation/glossaire/*")
        found["entrée"] = axe_serious(page)
        # The keyboard alone: term, then the kind's radio group, then the forms.
        page.locator("#champ-term").focus()
        page.keyboard.press("Tab")
        expect(page.get_by_role("radio", name="Sigle", exact=False)).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.locator("#champ-expansions")).to_be_focused()
        page.keyboard.press("Control+End")
        page.keyboard.type("\nquartier de la politique de la ville")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_url("**/curation/glossaire")
        expect(page.locator(".flash")).to_contain_text("« QPV » est enregistré")
        page.goto("/glossaire#qpv")
        expect(page.locator("#qpv + dd")).to_contain_text("quartier de la politique de la ville")
        # The browser notes the 422 of the refused form; nothing else.
        assert [e for e in page.console_errors if "status of 422" not in e] == []
    assert {name: bad for name, bad in found.items() if bad} == {}
