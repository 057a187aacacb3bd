"""`GET /api/suggest` (issue 13, part 3): titles, facet values and glossary terms as typed,
through real HTTP on the app (real SQLite file, real Whoosh index)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from resource_centre.glossary import Glossary, GlossaryItem
from resource_centre.search import completion
from resource_centre.web.app import create_app
from tests.conftest import attack_cases
from tests.web.conftest import build_settings, csrf_of
from tests.web.test_api import attack_queries
from tests.web.test_facet_page import demo_settings

LAVERIE = "/fiches/laverie-solidaire-du-canal"
HIDDEN_TITLES = {  # not published: never suggested
    "ressourcerie": "Ressourcerie de quartier (brouillon)",
    "epicerie": "Épicerie solidaire en pied d'immeuble",
    "chantier": "Chantier d'insertion peinture des halls",
}


def suggest(client: TestClient, q: str) -> list[dict[str, str]]:
    response = client.get("/api/suggest", params={"q": q})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"data"}
    for item in body["data"]:
        assert set(item) == {"label", "url", "type"}, item
        assert item["type"] in ("fiche", "term", "facet")
    assert len(body["data"]) <= completion.MAX_SUGGESTIONS
    return body["data"]


def paths(items: list[dict[str, str]]) -> list[str]:
    return [item["url"].removeprefix("http://testserver") for item in items]


def test_a_word_start_suggests_the_fiche_and_the_facet_value(client):
    items = suggest(client, "lave")
    assert items[0] == {
        "label": "Une laverie solidaire contre les impayés",
        "url": f"http://testserver{LAVERIE}",
        "type": "fiche",
    }
    assert {"label": "Activité : Laverie solidaire", "type": "facet"}.items() <= items[1].items()
    assert paths(items)[1] == "/fiches?activity=laverie"
    # The facet link is a working library state.
    page = client.get(paths(items)[1])
    assert page.status_code == 200 and "laverie solidaire contre les impay" in page.text


@pytest.mark.parametrize("typed", ["LAVE", "lavé", "Lavé ", "  laverie", "laverie imp", "une lav"])
def test_accents_case_and_every_word_a_start(client, typed):
    assert LAVERIE in paths(suggest(client, typed))


@pytest.mark.parametrize("typed", ["verie", "laverie jard", "laveries", "lavex"])
def test_no_match_inside_words_or_without_every_word(client, typed):
    assert LAVERIE not in paths(suggest(client, typed))


@pytest.mark.parametrize("typed", ["", " ", "l", "é", "\x00l", "?", "'", "-", "\u200bl"])
def test_fewer_than_two_letters_give_an_empty_list(client, typed):
    assert suggest(client, typed) == []


def test_unpublished_fiches_are_never_suggested(client):
    for word, title in HIDDEN_TITLES.items():
        labels = [i["label"] for i in suggest(client, word) if i["type"] == "fiche"]
        assert title not in labels, word
        assert title not in [i["label"] for i in suggest(client, title)]


def test_attack_inputs_never_fail(client):
    for text in [*attack_queries(), "lave\x00\x01\x1f", "é" * 500]:
        response = client.get("/api/suggest", params={"q": text})
        assert response.status_code == 200, (text[:40], response.status_code, response.text[:200])
        assert isinstance(response.json()["data"], list)
    assert attack_cases("search-queries.jsonl").exists()


def test_long_input_is_cut_and_fast(client):
    started = time.perf_counter()
    items = suggest(client, "laverie " + "x" * 5000)
    assert time.perf_counter() - started < 1.0
    assert items == []  # "xxx…" (cut at 100 characters) starts no word
    assert completion.clean_query("lave" + "x" * 500) == "lave" + "x" * 96


def test_a_publication_is_suggested_and_an_archive_is_not(client, app, login_as):
    login_as("curator")
    word = "epicerie"
    assert "/fiches/epicerie-soumise" not in paths(suggest(client, word))

    def act(action: str) -> None:
        token = csrf_of(client.get("/curation/fiches/epicerie-soumise").text)
        response = client.post(
            "/curation/fiches/epicerie-soumise",
            data={"csrf_token": token, "action": action},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text

    def wait_until(present: bool) -> None:
        deadline = time.monotonic() + 2  # the contract's 2 seconds
        while ("/fiches/epicerie-soumise" in paths(suggest(client, word))) != present:
            assert time.monotonic() < deadline, f"suggested: {not present} after 2 s"
            time.sleep(0.05)

    act("publish")
    wait_until(True)
    assert suggest(client, "épicerie pied")[0]["label"] == "Épicerie solidaire en pied d'immeuble"
    act("archive")
    wait_until(False)


def test_private_library_needs_sign_in(tmp_path):
    app = create_app(build_settings(tmp_path, public_read=False))
    with TestClient(app, raise_server_exceptions=False) as anonymous:
        response = anonymous.get("/api/suggest", params={"q": "lave"})
    assert response.status_code == 401 and response.json() == {"detail": "Connexion requise."}


def test_openapi_documents_the_route(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/api/suggest"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["q"]
    assert "422" not in operation["responses"]


# --- Ranking, the cap and glossary terms (on the searcher of the real index) -----------------


def run(app: Any, text: str, glossary: Glossary | None = None) -> list[completion.Suggestion]:
    search = app.state.search
    with search.index.searching() as searcher:
        return completion.suggest(
            searcher, text, labels=search.labels(), glossary=glossary or Glossary()
        )


GLOSSARY = Glossary.of(
    [
        GlossaryItem(
            term="QPV",
            kind="acronym",
            expansions=("quartier prioritaire de la politique de la ville",),
            definition="Un quartier où la politique de la ville concentre ses moyens.",
        ),
        GlossaryItem(
            term="aînés",
            kind="synonyms",
            expansions=("aînés", "seniors", "personnes âgées"),
            definition="Les habitants âgés.",
        ),
        GlossaryItem(
            term="deux-roues", kind="synonyms", expansions=("deux-roues", "vélo"), definition=""
        ),
    ]
)


def test_glossary_terms(client, app):
    # An acronym typed in full: its meaning comes first, and leads to a search for it.
    found = run(app, "qpv", GLOSSARY)
    assert found[0].type == "term" and found[0].query == "QPV"
    assert found[0].label == "QPV : quartier prioritaire de la politique de la ville"
    assert found[0].query_string == "q=QPV"
    # Its long form typed: the acronym.
    assert [s.query for s in run(app, "quartier prio", GLOSSARY) if s.type == "term"] == ["QPV"]
    # A word of a group of synonyms, accents ignored: that word, the others shown with it.
    terms = [s for s in run(app, "seni", GLOSSARY) if s.type == "term"]
    assert [(t.label, t.query) for t in terms] == [("seniors (aînés, personnes âgées)", "seniors")]
    terms = [s for s in run(app, "aine", GLOSSARY) if s.type == "term"]
    assert [t.query for t in terms] == ["aînés"]
    # A fiche title and a term together: the fiche first (the term typed only in part).
    found = run(app, "vél", GLOSSARY)
    assert [s.type for s in found][:1] == ["fiche"] and "term" in [s.type for s in found]


def test_the_glossary_of_the_search_service_is_used_when_there_is_one(app):
    assert completion.glossary_of(object()) == Glossary()

    class Failing:
        def glossary(self) -> Glossary:
            raise RuntimeError("base indisponible")

    assert completion.glossary_of(Failing()) == Glossary()
    assert isinstance(completion.glossary_of(app.state.search), Glossary)


def test_titles_that_begin_with_the_text_come_first(client, app):
    # "Atelier vélo itinérant" begins with "atel"; no other published title has the word.
    assert run(app, "atel")[0].label == "Atelier vélo itinérant"
    # Both published titles with "solidaire": the one whose words begin with the text first.
    typed = completion.Typed.of("un jardin")
    assert typed is not None
    assert typed.tier(("un", "jardin", "partage"), ("jardin", "partage")) == 0
    assert typed.tier(("des", "jardins"), ("jardins",)) == 1
    assert typed.tier(("les", "beaux", "jardins"), ("beaux", "jardins")) == 2


def test_at_most_ten_with_room_for_each_kind(client, app):
    many = Glossary.of(
        GlossaryItem(term=f"Insertion {n}", kind="synonyms", expansions=(f"Insertion {n}",))
        for n in range(20)
    )
    found = run(app, "insertion", many)
    assert len(found) == completion.MAX_SUGGESTIONS
    kinds = [s.type for s in found]
    assert kinds.count("facet") >= 2 and kinds.count("term") >= 2
    assert kinds == sorted(kinds, key=["fiche", "facet", "term"].index)


def test_the_demo_glossary_through_http(tmp_path):
    """The glossary stored with the corpus (knowledge/glossary.yaml), read by the search."""
    app = create_app(demo_settings(tmp_path))
    with TestClient(app, raise_server_exceptions=False) as demo:
        items = suggest(demo, "qpv")
        assert items[0]["type"] == "term" and items[0]["label"].startswith("QPV : quartier")
        assert items[0]["url"] == "http://testserver/fiches?q=QPV"
        page = demo.get(items[0]["url"])
        assert page.status_code == 200
        # A group of synonyms typed in full: the fiches first, the term after them.
        kinds = [i["type"] for i in suggest(demo, "vélo")]
        assert kinds[0] == "fiche" and "term" in kinds
        assert any(i["label"].startswith("aînés (") for i in suggest(demo, "aines"))
