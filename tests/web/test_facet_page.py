"""Large facets (issue 13, part 7): a facet of more than 15 values has a box to filter it by
typing (JavaScript) and a link to a page listing every value with its count, for the same
search (without JavaScript). On the demo corpus (28 Régies), through real HTTP."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from starlette.testclient import TestClient

from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, migrate
from resource_centre.taxonomy import fold
from resource_centre.web.app import create_app
from resource_centre.web.facets import LARGE_FACET
from tests.conftest import DEMO_KNOWLEDGE
from tests.web.test_api import attack_queries
from tests.web.test_library import Page, assert_inert, get_page

SEARCH = [("q", "habitants"), ("theme", "insertion-emploi"), ("sort", "title")]


def demo_settings(root: Path, **extra: object) -> Settings:
    settings = Settings(
        database_url=f"sqlite:///{root / 'demo.db'}",
        index_dir=root / "index",
        data_dir=root / "data",
        knowledge_dir=DEMO_KNOWLEDGE,
        index_poll_seconds=0.05,
        **extra,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    engine.dispose()
    return settings


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(demo_settings(tmp_path_factory.mktemp("demo")))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def api_facet(client: TestClient, params: list[tuple[str, str]], facet: str) -> dict[str, int]:
    body = client.get("/api/writeups", params=params).json()
    return {f["label"]: f["count"] for f in body["facets"][facet]}


def facet_box(page: Page, facet: str) -> str:
    html = page.html
    start = html.index(f'id="facette-{facet}"')
    return html[start : html.index("</fieldset>", start)]


def kept_fields(page: Page) -> list[tuple[str, str]]:
    """The hidden fields of the page's form of values (not those of the header's search)."""
    source = page.html
    start = source.index('<form class="facet-page"')
    form = Page(source[start : source.index("</form>", start)])
    return [(h["name"], h["value"]) for h in form.find("input", type="hidden")]


def test_a_large_facet_has_a_filter_box_and_a_link_to_every_value(demo):
    params = [("q", "habitants")]
    regies = api_facet(demo, params, "regie")
    assert len(regies) > LARGE_FACET
    page = get_page(demo, "/fiches?" + urlencode(params))
    box = facet_box(page, "regie")
    assert 'class="facet-filter"' in box and 'id="filtre-regie"' in box
    assert page.find("label", for_="filtre-regie")
    filter_input = page.find("input", id="filtre-regie")[0]
    assert "name" not in filter_input  # never sent with the filters form
    link = f'<a href="/fiches/filtres/regie?q=habitants">Voir les {len(regies)} valeurs'
    assert link in box
    # A facet of 15 values or fewer has neither.
    small = [
        name
        for name in ("audience", "activity", "scheme", "theme", "region")
        if 0 < len(api_facet(demo, params, name)) <= LARGE_FACET
    ]
    assert small
    for name in small:
        assert "facet-filter" not in facet_box(page, name) and "/filtres/" not in facet_box(
            page, name
        )


def test_the_page_of_every_value_keeps_the_search(demo):
    chosen = "regie-du-plateau-des-tilleuls"
    params = [*SEARCH, ("regie", chosen), ("page", "3"), ("page_size", "5")]
    page = get_page(demo, "/fiches/filtres/regie?" + urlencode(params))
    assert_inert(page)
    text = page.text
    assert "Régie : toutes les valeurs" in text
    expected = api_facet(demo, [*SEARCH, ("regie", chosen)], "regie")
    # Every value with its count, alphabetically.
    boxes = page.find("input", type="checkbox", name="regie")
    labels = [
        " ".join(page.html.split(f'<label for="v-{b["value"]}">')[1].split("<span")[0].split())
        for b in boxes
    ]
    assert sorted(labels, key=fold) == labels
    assert len(boxes) == len(expected)
    for box, label in zip(boxes, labels, strict=True):
        count = page.html.split(f'<label for="v-{box["value"]}">')[1]
        assert f'<span class="count">{expected[label]}<span' in count, label
    checked = [b["value"] for b in boxes if "checked" in b]
    assert checked == [chosen]
    # The rest of the search as hidden fields of a GET form to the library (not the page).
    form = page.find("form", action="/fiches", method="get", class_="facet-page")
    assert form
    assert [*SEARCH, ("page_size", "5")] == kept_fields(page)
    back = html.unescape(re.search(r'<a href="([^"]+)">← Retour aux résultats', page.html)[1])
    expected_state = {**dict(SEARCH), "regie": chosen, "page_size": "5"}
    assert urlsplit(back).path == "/fiches"
    assert dict(parse_qsl(urlsplit(back).query)) == expected_state


def test_applying_values_from_the_page_filters_the_library(demo):
    page = get_page(demo, "/fiches/filtres/regie?" + urlencode(SEARCH))
    values = [b["value"] for b in page.find("input", type="checkbox", name="regie")][:2]
    submitted = kept_fields(page) + [("regie", v) for v in values]  # what the browser sends
    body = demo.get("/api/writeups", params=submitted).json()
    assert body["total"] > 0 and not body["notices"]
    assert {hit["regie"]["slug"] for hit in body["data"]} <= set(values)
    library = get_page(demo, "/fiches?" + urlencode(submitted))
    assert "Recherche : « habitants »" in library.text


def test_every_slug_facet_has_a_page_and_others_are_404(demo):
    for facet in ("theme", "region", "regie", "activity", "audience", "scheme"):
        assert demo.get(f"/fiches/filtres/{facet}").status_code == 200
    for facet in ("year", "inconnu", "regie%00", "r" * 500):
        response = demo.get(f"/fiches/filtres/{facet}")
        assert response.status_code == 404, facet
        assert "Ce filtre n" in response.text or "introuvable" in response.text.lower()


def test_hostile_search_parameters_are_ignored(demo):
    for text in attack_queries()[:80]:
        for params in ({"q": text}, {"regie": text, "year_min": text, "page_size": text}):
            response = demo.get("/fiches/filtres/regie", params=params)
            assert response.status_code == 200, (text[:40], response.status_code)


def test_private_library_sends_visitors_to_sign_in(tmp_path):
    app = create_app(demo_settings(tmp_path, public_read=False))
    with TestClient(app, raise_server_exceptions=False) as visitor:
        response = visitor.get("/fiches/filtres/regie?q=jardin", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion?next=")


def test_the_sections_of_the_search_are_kept_too(demo):
    page = get_page(demo, "/fiches/filtres/regie?q=habitants&section=lessons")
    assert kept_fields(page) == [("q", "habitants"), ("section", "lessons")]
