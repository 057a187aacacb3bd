"""The library in a real browser: search and filters by mouse and by keyboard, without
JavaScript, accessibility (axe-core), and the screenshots of docs/screenshots/."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.browser.conftest import AXE, open_page
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "docs" / "screenshots"
FICHE = "/fiches/laverie-solidaire-quartier-des-tilleuls"
QUERY = "habitants"


def state(url: str) -> set[tuple[str, str]]:
    return set(parse_qsl(urlsplit(url).query))


def result_heading(page: Any) -> str:
    return " ".join(page.locator("#titre-resultats").inner_text().split())


def focused(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {tag: el.tagName.toLowerCase(), id: el.id, type: el.type || "",
                    cls: el.className || "", text: (el.textContent || "").trim(),
                    href: el.getAttribute("href") || "", checked: !!el.checked,
                    outline: style.outlineStyle, shadow: style.boxShadow};
        }"""
    )


def tab_until(page: Any, wanted, limit: int = 150) -> dict[str, Any]:
    """Press Tab until the focused element matches; fail after `limit` presses."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        if wanted(element):
            # Keyboard focus must be visible (our ring: a yellow outline and a dark shadow).
            assert element["outline"] != "none" or element["shadow"] != "none", element
            return element
    pytest.fail("focus never reached the expected element")


def test_search_filter_remove_paginate_open_and_back(page, live_server):
    from playwright.sync_api import expect

    page.goto("/fiches?page_size=5")
    page.get_by_label("Rechercher une fiche").fill(QUERY)
    page.get_by_role("button", name="Rechercher").click()
    expect(page).to_have_url(re.compile(rf"q={QUERY}"))
    assert state(page.url) == {("q", QUERY), ("page_size", "5")}
    total = int(result_heading(page).split()[0])
    assert total > 5

    # Tick two themes: the results refresh in place and each state gets its URL.
    themes = page.locator("#facette-theme input[type=checkbox]")
    first, second = themes.nth(0), themes.nth(1)
    first_value, second_value = first.get_attribute("value"), second.get_attribute("value")
    first.check()
    expect(page).to_have_url(re.compile(rf"theme={first_value}"))
    second.check()
    expect(page).to_have_url(re.compile(rf"theme={second_value}"))
    assert {("theme", first_value), ("theme", second_value)} <= state(page.url)
    expect(page.locator(f"#f-theme-{first_value}")).to_be_checked()
    expect(page.locator(f"#f-theme-{second_value}")).to_be_checked()
    chips = page.locator("a.chip")
    expect(chips).to_have_count(3)  # the text and the two themes
    two_themes = page.url

    # Remove one theme with its chip.
    for i in range(chips.count()):
        href = chips.nth(i).get_attribute("href")
        if ("theme", first_value) not in state(href) and ("theme", second_value) in state(href):
            chips.nth(i).click()
            break
    expect(page.locator("a.chip")).to_have_count(2)
    assert ("theme", first_value) not in state(page.url)
    assert ("theme", second_value) in state(page.url)
    expect(page.locator(f"#f-theme-{first_value}")).not_to_be_checked()
    one_theme = page.url
    assert int(result_heading(page).split()[0]) > 5  # enough for a second page

    # Next page.
    page.locator(".pagination a[rel=next]").first.click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator(".pagination a[aria-current=page]")).to_have_text(re.compile("2"))
    page_two = page.url

    # Open a fiche, then come back with the browser's back button.
    card = page.locator("#resultats .card-title a").first
    title = " ".join(card.inner_text().split())
    card.click()
    expect(page.locator("h1")).to_have_text(title)
    assert (
        page.locator("link[rel=canonical]").get_attribute("href").endswith(urlsplit(page.url).path)
    )
    page.go_back()
    expect(page).to_have_url(page_two)
    expect(page.locator("#resultats .card-title a").first).to_have_text(title)
    page.go_back()
    expect(page).to_have_url(one_theme)
    page.go_back()
    expect(page).to_have_url(two_themes)
    expect(page.locator(f"#f-theme-{first_value}")).to_be_checked()
    assert page.console_errors == []


def test_keyboard_only(page, live_server):
    from playwright.sync_api import expect

    page.goto("/")
    skip = tab_until(page, lambda e: e["tag"] == "a", limit=1)
    assert skip["text"] == "Aller au contenu"
    page.keyboard.press("Enter")
    search = tab_until(page, lambda e: e["id"] == "q")
    assert search["tag"] == "input"
    page.keyboard.type(QUERY)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/fiches\?q={QUERY}"))

    # Two filters, ticked with the space bar; focus stays on the box after the refresh.
    box = tab_until(page, lambda e: e["type"] == "checkbox" and e["id"].startswith("f-theme-"))
    page.keyboard.press("Space")
    expect(page).to_have_url(re.compile(rf"theme={box['id'].removeprefix('f-theme-')}"))
    expect(page.locator(f"#{box['id']}")).to_be_checked()
    expect(page.locator(f"#{box['id']}")).to_be_focused()
    other = tab_until(page, lambda e: e["type"] == "checkbox" and e["id"] != box["id"])
    page.keyboard.press("Space")
    expect(page.locator(f"#{other['id']}")).to_be_checked()
    expect(page.locator("a.chip")).to_have_count(3)

    # The sort menu, changed from the keyboard.
    tab_until(page, lambda e: e["id"] == "sort")
    page.keyboard.press("End")  # last option: by title
    expect(page).to_have_url(re.compile(r"sort=title"))
    expect(page.locator("#sort")).to_be_focused()

    # Remove a chip with Enter.
    chip = tab_until(page, lambda e: e["cls"] == "chip" and "Thèmes" in e["text"])
    page.keyboard.press("Enter")
    expect(page.locator("a.chip")).to_have_count(3 - 1)
    assert chip["href"] == urlsplit(page.url).path + "?" + urlsplit(page.url).query

    # Open a fiche, read its first section's heading, and come back.
    card = tab_until(
        page, lambda e: e["href"].startswith("/fiches/") and "/filtres/" not in e["href"]
    )
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(card["href"]) + "$"))
    expect(page.locator("h1")).to_have_text(card["text"])
    tab_until(page, lambda e: e["href"] == "#context")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#context$"))
    page.go_back()
    page.go_back()
    expect(page).to_have_url(re.compile(r"sort=title"))
    assert page.console_errors == []


def test_filters_work_without_javascript(browser, live_server):
    from playwright.sync_api import expect

    with open_page(browser, base_url=live_server, java_script_enabled=False) as page:
        page.goto("/fiches")
        page.locator("#filtres-panneau > summary").click()  # folded without the script
        value = page.locator("#facette-region input[type=checkbox]").first.get_attribute("value")
        page.locator("#facette-region input[type=checkbox]").first.check()
        page.locator("#facette-theme input[type=checkbox]").first.check()
        page.get_by_role("button", name="Appliquer les filtres").click()
        expect(page).to_have_url(re.compile(rf"region={value}"))
        assert ("region", value) in state(page.url)
        assert any(k == "theme" for k, _ in state(page.url))
        expect(page.locator("a.chip")).to_have_count(2)
        page.locator("#sort").select_option("title")
        page.get_by_role("button", name="Trier").click()
        expect(page).to_have_url(re.compile(r"sort=title"))
        assert ("region", value) in state(page.url)


def test_no_csp_violation_on_any_page(browser, live_server):
    with open_page(browser, base_url=live_server) as page:
        for url in ("/", "/fiches", f"/fiches?q={QUERY}", FICHE, "/regies"):
            page.goto(url)
            page.wait_for_load_state("networkidle")
        page.goto("/fiches")
        page.locator("#facette-theme input[type=checkbox]").first.check()
        page.wait_for_url(re.compile("theme="))
        page.wait_for_load_state("networkidle")
        # Any blocked style, script or image would be reported here.
        assert page.console_errors == []


AXE_PAGES = [
    "/",
    "/fiches",
    f"/fiches?q={QUERY}&theme=lien-social&page_size=5",
    f"/fiches?q={QUERY}&section=lessons",  # "Trouvé dans", the searched section
    "/fiches?q=zzqxwv&region=ile-de-france",
    "/fiches?theme=inconnu&page=abc",
    FICHE,
    "/regies",
    "/regies/regie-du-plateau-des-tilleuls",
    "/page-inconnue",
]


@pytest.mark.parametrize("width", [1280, 390])
def test_axe_finds_no_serious_violation(browser, live_server, width):
    # axe is injected as a script: this context bypasses the CSP (the others keep it).
    found: dict[str, list[str]] = {}
    with open_page(browser, width=width, base_url=live_server, bypass_csp=True) as page:
        for url in AXE_PAGES:
            page.goto(url)
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(
                """async () => {
                    const r = await axe.run(document, {resultTypes: ["violations"]});
                    return r.violations.map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
                }"""
            )
            bad = [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in result
                   if v["impact"] in ("serious", "critical")]  # fmt: skip
            if bad:
                found[url] = bad
    assert found == {}


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots(browser, live_server, width):
    """Write the screenshots of docs/screenshots/ (home, library, fiche)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = 900 if width > 500 else 844
    with open_page(browser, width=width, height=height, base_url=live_server) as page:
        for name, url in (("home", "/"), ("library", f"/fiches?q={QUERY}"), ("fiche", FICHE)):
            page.goto(url)
            page.wait_for_load_state("networkidle")
            path = SCREENSHOTS / f"{name}-{width}.png"
            page.screenshot(path=str(path), animations="disabled", caret="hide")
            assert path.stat().st_size < 600_000
        assert page.console_errors == []


def test_print_stylesheet_keeps_only_the_fiche(browser, live_server):
    with open_page(browser, base_url=live_server) as page:
        page.goto(FICHE)
        page.emulate_media(media="print")
        for hidden in (".site-header", ".site-footer", ".toc", ".related"):
            assert not page.locator(hidden).is_visible(), hidden
        assert page.locator("h1").is_visible()
        assert page.locator("#context").is_visible() and page.locator(".fiche-aside").is_visible()
