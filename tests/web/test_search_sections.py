"""Search in one section through HTTP (issue 13, part 6), on SQLite and PostgreSQL: the
`section` parameter of `/api/writeups` and `/fiches`, `kind` and `matched_sections` of the
API's hits, "Trouvé dans : …" on the cards, "Chercher dans les enseignements seulement", and
links that keep the section. Also the URL helpers (`web.facets`) and the database's section
texts (`DatabaseBodies.sections`)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from resource_centre.search.request import SearchRequest
from resource_centre.search.results import FacetValue
from resource_centre.search.service import DatabaseBodies
from resource_centre.web import facets as states
from tests.web.test_hostile_inputs import hostile_app  # noqa: F401  (the module's app per database)
from tests.web.test_library import Page, get_page

LAVERIE = "laverie-solidaire-du-canal"
JARDIN = "jardin-partage-des-tilleuls"
VELO = "atelier-velo-des-hauts-plateaux"


@pytest.fixture
def client(hostile_app: FastAPI) -> Iterator[TestClient]:  # noqa: F811
    test_client = TestClient(hostile_app, raise_server_exceptions=False)
    try:
        yield test_client
    finally:
        test_client.close()


def api(client: TestClient, *pairs: tuple[str, str]) -> dict:
    response = client.get("/api/writeups", params=list(pairs))
    assert response.status_code == 200, response.text
    return response.json()


def items(url: str) -> list[tuple[str, str]]:
    parts = urlsplit(url)
    assert parts.path == "/fiches", url
    return parse_qsl(parts.query, keep_blank_values=True)


# --- API ---------------------------------------------------------------------------------------


def test_api_hits_say_their_kind_and_where_the_words_are(client: TestClient) -> None:
    body = api(client, ("q", "paiement"))
    (hit,) = body["data"]
    assert hit["slug"] == LAVERIE and hit["kind"] == "fiche"
    assert hit["matched_sections"] == ["lessons"]
    assert "le <mark>paiement</mark> d" in hit["highlights"]["body"]
    body = api(client, ("q", "insertion"))
    by_slug = {h["slug"]: h["matched_sections"] for h in body["data"]}
    assert by_slug[LAVERIE] == ["method", "results"]
    assert by_slug[JARDIN] == ["method"]
    # Without text, nothing is matched.
    assert all(h["matched_sections"] == [] for h in api(client)["data"])


def test_api_section_limits_the_text_matching(client: TestClient) -> None:
    body = api(client, ("q", "paiement"), ("section", "lessons"))
    assert [h["slug"] for h in body["data"]] == [LAVERIE] and body["notices"] == []
    # "linge" is only in the context of the laverie.
    assert api(client, ("q", "linge"), ("section", "lessons"))["total"] == 0
    (hit,) = api(client, ("q", "linge"), ("section", "context"))["data"]
    assert hit["matched_sections"] == ["context"]
    assert hit["highlights"]["body"].startswith("Beaucoup de familles lavaient leur <mark>linge")


def test_api_matched_sections_keep_to_the_searched_sections(client: TestClient) -> None:
    body = api(client, ("q", "insertion"), ("section", "results"), ("section", "method"))
    by_slug = {h["slug"]: h for h in body["data"]}
    assert set(by_slug) == {LAVERIE, JARDIN, VELO}
    assert by_slug[LAVERIE]["matched_sections"] == ["method", "results"]
    body = api(client, ("q", "insertion"), ("section", "results"))
    assert [h["slug"] for h in body["data"]] == [LAVERIE]
    assert body["data"][0]["matched_sections"] == ["results"]
    assert "salariés en <mark>insertion</mark>" in body["data"][0]["highlights"]["body"]


@pytest.mark.parametrize("value", ["enseignements", "\x00", "9" * 30, "<b>x</b>", "lesson s"])
def test_api_unknown_section_is_a_french_notice(client: TestClient, value: str) -> None:
    body = api(client, ("q", "paiement"), ("section", value), ("section", "context"))
    assert body["total"] == 0  # "paiement" is in the lessons, not in the context
    if value == "\x00":  # the app strips control characters from query strings: blank
        assert body["notices"] == []
    else:
        assert len(body["notices"]) == 1 and "n’existe pas" in body["notices"][0]


def test_api_control_characters_are_stripped_from_section_values(client: TestClient) -> None:
    body = api(client, ("q", "paiement"), ("section", "less\x00ons\x07"))
    assert body["total"] == 1 and body["notices"] == []


def test_api_residents_is_accepted_and_matches_nothing_yet(client: TestClient) -> None:
    body = api(client, ("q", "paiement"), ("section", "residents"))
    assert body["total"] == 0 and body["notices"] == []


def test_openapi_documents_the_section_parameter_and_hit_fields(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    parameters = {p["name"]: p for p in spec["paths"]["/api/writeups"]["get"]["parameters"]}
    schema = parameters["section"]["schema"]
    assert schema["type"] == "array" and "lessons" in schema["items"]["enum"]
    assert "residents" in schema["items"]["enum"] and parameters["section"]["explode"] is True
    fields = spec["components"]["schemas"]["WriteUpSummary"]["properties"]
    assert fields["kind"]["enum"] == ["fiche", "express"]
    assert fields["matched_sections"]["type"] == "array"


# --- the database's section texts ----------------------------------------------------------------


def test_database_bodies_give_one_section_as_plain_text(hostile_app: FastAPI) -> None:  # noqa: F811
    bodies = DatabaseBodies(hostile_app.state.engine)
    texts = bodies.sections(
        {JARDIN: "method", LAVERIE: "lessons", VELO: "objectives", "inconnue": "lessons"}
    )
    assert set(texts) == {JARDIN, LAVERIE}  # no objectives for the vélo, no such fiche
    assert texts[LAVERIE].startswith("Les impayés ont failli fermer la laverie")
    assert "chantier d'insertion" in texts[JARDIN]
    assert "|" not in texts[JARDIN] and "###" not in texts[JARDIN]  # plain text, not Markdown
    assert bodies.sections({LAVERIE: "bogus"}) == {} and bodies.sections({}) == {}
    assert bodies.sections({LAVERIE: "lessons"}) == {LAVERIE: texts[LAVERIE]}  # cached


def test_database_bodies_cache_follows_the_version(hostile_app: FastAPI) -> None:  # noqa: F811
    bodies = DatabaseBodies(hostile_app.state.engine)
    assert bodies._section_text("s", "lessons", 1, "**Avant**") == "Avant"
    assert bodies._section_text("s", "lessons", 1, "ignoré : déjà lu") == "Avant"
    assert bodies._section_text("s", "lessons", 2, "_Après_") == "Après"


# --- the library page ------------------------------------------------------------------------


def card_found(page: Page) -> list[str]:
    return [
        " ".join(part.split())
        for part in page.html.split('<p class="card-found hint">')[1:]
        for part in [part.split("</p>")[0]]
    ]


def test_cards_say_where_the_words_were_found(client: TestClient) -> None:
    page = get_page(client, "/fiches?q=insertion")
    assert sorted(card_found(page)) == sorted(
        ["Trouvé dans : Démarche", "Trouvé dans : Démarche, Résultats", "Trouvé dans : Démarche"]
    )
    assert card_found(get_page(client, "/fiches")) == []  # no text, no "Trouvé dans"


def test_the_library_offers_to_search_the_lessons_only(client: TestClient) -> None:
    page = get_page(client, "/fiches?q=laverie&theme=modele-economique&sort=title")
    (link,) = [a for a in page.find("a") if a.get("href", "").count("section=")]
    assert items(link["href"]) == [
        ("q", "laverie"), ("section", "lessons"), ("theme", "modele-economique"),
        ("sort", "title"),
    ]  # fmt: skip
    assert "Chercher dans les enseignements seulement" in page.text
    # Without text there is nothing to limit.
    assert "enseignements seulement" not in get_page(client, "/fiches?theme=aci").text


def test_an_active_section_is_shown_and_can_be_removed(client: TestClient) -> None:
    page = get_page(client, "/fiches?q=laverie&section=lessons&theme=modele-economique")
    assert "La recherche ne porte que sur la section Enseignements des fiches." in page.text
    assert "Chercher dans les enseignements seulement" not in page.text
    assert card_found(page) == ["Trouvé dans : Enseignements"]
    scope = Page(page.html.split('<p class="search-scope">')[1].split("</p>")[0])
    (whole,) = scope.find("a")
    assert "Chercher dans toute la fiche" in scope.text
    assert items(whole["href"]) == [("q", "laverie"), ("theme", "modele-economique")]
    chip = [a for a in page.find("a", class_="chip") if "section" not in a["href"]]
    assert any("q=laverie" in a["href"] for a in chip)
    assert "Recherche limitée à : Enseignements" in page.text


def test_the_filter_form_and_the_header_search_keep_the_section(client: TestClient) -> None:
    page = get_page(client, "/fiches?q=laverie&section=lessons&section=context")
    hidden = [a for a in page.find("input", type="hidden") if a.get("name") == "section"]
    # Twice each: in the filter form (facets, years, sort) and in the header's search box.
    assert sorted(a["value"] for a in hidden) == ["context", "context", "lessons", "lessons"]
    assert "les sections Contexte, Enseignements des fiches" in page.text


def test_pagination_keeps_the_section(client: TestClient) -> None:
    page = get_page(client, "/fiches?q=laverie+OR+parcelles&section=lessons&page_size=1")
    assert "2 fiches" in page.text
    pages = [a["href"] for a in page.find("a") if "page=2" in a.get("href", "")]
    assert pages and all(("section", "lessons") in items(u) for u in pages)


def test_zero_results_offer_to_search_the_whole_fiche(client: TestClient) -> None:
    page = get_page(client, "/fiches?q=linge&section=lessons")
    assert "Aucune fiche ne correspond" in page.text
    assert "Retirer « Recherche limitée à : Enseignements » (1 fiche)" in page.text


# --- URL helpers ---------------------------------------------------------------------------------


def state() -> SearchRequest:
    return SearchRequest(
        q="impayés",
        sections=("lessons", "context"),
        filters={"theme": ["insertion-emploi"]},
        sort="title",
        page=2,
        page_size=1,
    )


def test_state_items_put_the_sections_after_the_text() -> None:
    assert states.state_items(state()) == [
        ("q", "impayés"), ("section", "context"), ("section", "lessons"),
        ("theme", "insertion-emploi"), ("sort", "title"), ("page", "2"), ("page_size", "1"),
    ]  # fmt: skip


def test_facet_links_sort_and_pagination_keep_the_sections() -> None:
    request = state()
    facets = {"theme": [FacetValue("lien-social", "Lien social", 1)]}
    (facet,) = [f for f in states.decorate("/fiches", request, facets) if f.options]
    assert ("section", "lessons") in items(facet.options[0].toggle_url)
    pagination = states.pagination("/fiches", request, total=5)
    for url in [
        pagination.previous_url,
        pagination.next_url,
        *(p.url for p in pagination.links if p),
    ]:
        assert url and ("section", "context") in items(url) and ("section", "lessons") in items(url)
    assert ("section", "lessons") in items(states.with_query("/fiches", request, "impayes"))


def test_the_section_chip_removes_the_sections_only() -> None:
    chips = states.chips("/fiches", state(), {"theme": {"insertion-emploi": "Insertion"}})
    (chip,) = [c for c in chips if c.name == "section"]
    assert chip.label == "Recherche limitée à : Contexte, Enseignements"
    assert ("section", "lessons") not in items(chip.remove_url)
    assert ("q", "impayés") in items(chip.remove_url)
    text_chip = next(c for c in chips if c.name == "q")
    assert ("section", "lessons") in items(text_chip.remove_url)
    assert states.section_names(["residents", "lessons"]) == "Place des habitants, Enseignements"
