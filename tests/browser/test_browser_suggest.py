"""Suggestions as you type and long facets in a real browser (issue 13, parts 3 and 7):
the combobox by keyboard and by mouse, what a screen reader is told, axe-core with the list
open, the search box without JavaScript, and typing to filter the Régie facet."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import AXE, open_page

pytestmark = pytest.mark.browser

FICHE = "/fiches/laverie-solidaire-quartier-des-tilleuls"
TITLE = "Une laverie solidaire au cœur du Plateau des Tilleuls"

AXE_ALL = """async () => {
    const r = await axe.run(document, {resultTypes: ["violations"]});
    return r.violations.map(v => ({id: v.id, impact: v.impact,
        nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
}"""


def type_and_wait(page: Any, text: str) -> Any:
    """Type into the search box as a person does; return the open listbox."""
    from playwright.sync_api import expect

    box = page.get_by_role("combobox", name="Rechercher une fiche")
    box.fill("")
    box.press_sequentially(text, delay=40)
    listbox = page.get_by_role("listbox", name="Suggestions")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    return listbox


def active_option(page: Any) -> str:
    """The text of the option the combobox points at (aria-activedescendant), or ""."""
    return page.evaluate(
        """() => {
            const id = document.getElementById("q").getAttribute("aria-activedescendant");
            const el = id && document.getElementById(id);
            return el && el.getAttribute("aria-selected") === "true" ? el.textContent : "";
        }"""
    )


@pytest.mark.parametrize("start", ["/", "/fiches?q=habitants"])
def test_type_lave_and_pick_the_fiche_with_the_keyboard(page, start):
    from playwright.sync_api import expect

    page.goto(start)
    listbox = type_and_wait(page, "lave")
    box = page.locator("#q")
    assert box.get_attribute("aria-controls") == listbox.get_attribute("id")
    assert box.get_attribute("aria-autocomplete") == "list"
    options = listbox.get_by_role("option")
    expect(options.first).to_contain_text(TITLE)
    # A polite live region says how many suggestions there are.
    count = options.count()
    status = page.locator("#recherche [role=status]")
    expect(status).to_have_text(re.compile(rf"^{count} suggestions? "))
    assert status.get_attribute("aria-live") == "polite"
    # Down moves through the options (focus stays in the box); Up goes back.
    page.keyboard.press("ArrowDown")
    assert TITLE in active_option(page)
    page.keyboard.press("ArrowDown")
    assert TITLE not in active_option(page) or count == 1
    page.keyboard.press("ArrowUp")
    assert TITLE in active_option(page)
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(FICHE) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)


def test_escape_closes_enter_searches_and_a_click_opens(page):
    from playwright.sync_api import expect

    page.goto("/fiches")
    type_and_wait(page, "lave")
    box = page.locator("#q")
    page.keyboard.press("Escape")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("listbox", name="Suggestions")).to_be_hidden()
    assert box.input_value() == "lave" and box.get_attribute("aria-activedescendant") is None
    # Without a chosen option, Enter searches the text as before.
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/fiches\?q=lave$"))
    # A click on an option opens it.
    page.goto("/")
    listbox = type_and_wait(page, "jard")
    option = listbox.get_by_role("option").filter(has_text="Filtre").first
    label = option.locator(".suggest-label").inner_text()
    option.click()
    expect(page).to_have_url(re.compile(r"/fiches\?activity="))
    assert label.split(" : ", 1)[1] in page.locator("a.chip").first.inner_text()


def test_axe_with_the_suggestions_open(browser, live_server):
    with open_page(browser, base_url=live_server, bypass_csp=True) as page:
        for start in ("/", "/fiches"):
            page.goto(start)
            type_and_wait(page, "lave")
            page.keyboard.press("ArrowDown")
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate(AXE_ALL)
            assert violations == [], (start, violations)
        assert page.console_errors == []


def test_without_javascript_the_box_is_a_plain_search_box(browser, live_server):
    from playwright.sync_api import expect

    with open_page(browser, base_url=live_server, java_script_enabled=False) as page:
        page.goto("/")
        box = page.get_by_role("searchbox", name="Rechercher une fiche")
        assert box.get_attribute("role") is None and box.get_attribute("aria-expanded") is None
        box.fill("lave")
        box.press("Enter")
        expect(page).to_have_url(re.compile(r"/fiches\?q=lave$"))
        expect(page.get_by_role("link", name=TITLE)).to_be_visible()


def test_typing_filters_a_long_facet(page):
    from playwright.sync_api import expect

    page.goto("/fiches")
    facet = page.locator("#facette-regie")
    values = facet.locator(".facet-values li")
    total = values.count()
    assert total > 15
    box = facet.get_by_role("searchbox", name=re.compile("Filtrer la liste"))
    expect(box).to_be_visible()
    box.press_sequentially("tilleul", delay=20)
    shown = facet.locator(".facet-values li:visible")
    expect(shown).to_have_count(1)
    expect(shown.first).to_contain_text("Plateau des Tilleuls")
    expect(facet.locator("[role=status]")).to_have_text("1 valeur affichée")
    # Enter in the box does not send the filters form.
    url = page.url
    box.press("Enter")
    assert page.url == url
    # Ticking the value found filters the results; the typed text stays after the refresh.
    shown.first.locator("input[type=checkbox]").check()
    expect(page).to_have_url(re.compile(r"regie=regie-du-plateau-des-tilleuls"))
    expect(page.locator("#filtre-regie")).to_have_value("tilleul")
    expect(page.locator("#facette-regie .facet-values li:visible")).to_have_count(1)
    page.locator("#filtre-regie").fill("")
    expect(page.locator("#facette-regie .facet-values li[hidden]")).to_have_count(0)
    expect(page.locator("#facette-regie [role=status]")).to_have_text("")


def test_without_javascript_a_long_facet_links_to_every_value(browser, live_server):
    from playwright.sync_api import expect

    with open_page(browser, base_url=live_server, java_script_enabled=False) as page:
        page.goto("/fiches?q=habitants")
        page.locator("#filtres-panneau > summary").click()  # opened by site.js on wide screens
        facet = page.locator("#facette-regie")
        expect(facet).to_be_visible()
        expect(facet.locator(".facet-filter")).to_be_hidden()
        link = facet.get_by_role("link", name=re.compile(r"^Voir les \d+ valeurs"))
        link.click()
        expect(page).to_have_url(re.compile(r"/fiches/filtres/regie\?q=habitants$"))
        boxes = page.locator("input[type=checkbox][name=regie]")
        assert boxes.count() > 15
        boxes.nth(0).check()
        page.get_by_role("button", name="Appliquer le filtre").click()
        expect(page).to_have_url(re.compile(r"/fiches\?q=habitants&regie="))
        expect(page.locator("a.chip")).to_have_count(2)
