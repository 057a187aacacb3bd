"""The JSON API of contract section 7, through real HTTP on the app."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import attack_cases


def test_list_shape_and_only_published(client):
    body = client.get("/api/writeups").json()
    assert set(body) == {
        "data",
        "total",
        "page",
        "page_size",
        "suggestion",
        "exact_query",
        "facets",
        "notices",
    }
    assert body["total"] == 3 and body["page"] == 1 and body["page_size"] == 20
    slugs = {item["slug"] for item in body["data"]}
    assert slugs == {
        "jardin-partage-des-tilleuls",
        "laverie-solidaire-du-canal",
        "atelier-velo-des-hauts-plateaux",
    }
    item = next(i for i in body["data"] if i["slug"] == "jardin-partage-des-tilleuls")
    assert item["regie"] == {
        "slug": "regie-des-trois-quartiers",
        "name": "Régie des Trois Quartiers",
    }
    assert item["region"] == "bourgogne-franche-comte" and item["featured"] is True
    assert item["url"].endswith("/fiches/jardin-partage-des-tilleuls")
    assert set(body["facets"]) == {
        "theme",
        "region",
        "regie",
        "activity",
        "kind",
        "audience",
        "scheme",
        "year",
    }
    assert body["facets"]["kind"] == [{"value": "fiche", "label": "Fiche complète", "count": 3}]
    theme = {f["value"]: f for f in body["facets"]["theme"]}
    assert theme["insertion-emploi"]["count"] == 2
    assert theme["insertion-emploi"]["label"] == "Insertion et emploi"


def test_text_search_highlights_and_facet_filters(client):
    body = client.get("/api/writeups", params={"q": "laveries impayes"}).json()
    assert [i["slug"] for i in body["data"]] == ["laverie-solidaire-du-canal"]
    assert "<mark>" in json.dumps(body["data"][0]["highlights"])
    body = client.get(
        "/api/writeups", params=[("theme", "insertion-emploi"), ("region", "la-reunion")]
    ).json()
    assert [i["slug"] for i in body["data"]] == ["atelier-velo-des-hauts-plateaux"]
    # The region facet ignores its own filter: both regions with insertion fiches are counted.
    regions = {f["value"]: f["count"] for f in body["facets"]["region"]}
    assert regions["ile-de-france"] == 1 and regions["la-reunion"] == 1


def test_bad_parameters_become_notices(client):
    response = client.get(
        "/api/writeups",
        params={"theme": "inconnu", "page": "abc", "page_size": "1000", "year_min": "x"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3 and len(body["notices"]) >= 3
    assert any("inconnu" in n for n in body["notices"])


def test_detail_has_sections_and_html(client):
    body = client.get("/api/writeups/jardin-partage-des-tilleuls").json()
    assert body["sections"]["context"].startswith("Une pelouse")
    assert "<table>" in body["html"]["method"]
    assert body["partners"] == ["Bailleur Habitat 21", "Ville de Dijon"]
    assert body["status"] == "published" and body["published_at"] == "2023-01-10"


@pytest.mark.parametrize(
    "slug", ["ressourcerie-brouillon", "epicerie-soumise", "chantier-archive", "nope"]
)
def test_unpublished_or_unknown_is_404_json(client, slug):
    response = client.get(f"/api/writeups/{slug}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Fiche introuvable."}
    assert slug not in client.get("/api/writeups", params={"q": slug.split("-")[0]}).text


def test_taxonomy_and_regies(client):
    taxonomy = client.get("/api/taxonomy").json()
    assert set(taxonomy) == {"themes", "activities", "audiences", "schemes", "regions"}
    assert {"slug": "jardin", "label": "Jardin partagé"} in taxonomy["activities"]
    regies = client.get("/api/regies").json()["data"]
    assert {r["slug"] for r in regies} == {
        "regie-des-trois-quartiers",
        "regie-du-canal",
        "regie-des-hauts-plateaux",
    }


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    assert "/api/writeups" in spec["paths"] and "/api/writeups/{slug}" in spec["paths"]
    assert client.get("/api/docs").status_code == 200
    # The 503 of an unavailable index is documented, with its JSON shape.
    unavailable = spec["paths"]["/api/writeups"]["get"]["responses"]["503"]
    assert "indisponible" in unavailable["description"]
    schema = unavailable["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert spec["components"]["schemas"][schema]["required"] == ["detail"]


def test_health(client):
    # "degraded" until the sync thread has built the search caches once, then "ok".
    deadline = time.monotonic() + 10
    health = client.get("/api/health").json()
    while health["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.05)
        health = client.get("/api/health").json()
    assert set(health) == {
        "status", "worker", "index_journal_id", "database_journal_id", "search_fast_path"
    }  # fmt: skip
    assert health["status"] == "ok" and isinstance(health["search_fast_path"], bool)


def attack_queries() -> list[str]:
    queries = []
    for line in attack_cases("search-queries.jsonl").read_text("utf-8").splitlines():
        if line.strip():
            queries.append(json.loads(line))
    for line in attack_cases("search-queries-long.jsonl").read_text("utf-8").splitlines():
        if not line.strip():
            continue
        recipe = json.loads(line)
        if "prefix_unit" in recipe:
            n = recipe["times"]
            queries.append(recipe["prefix_unit"] * n + recipe["middle"] + recipe["suffix_unit"] * n)
        else:
            queries.append(recipe["unit"] * recipe["times"])
    return queries


def test_attack_queries_never_fail(client):
    for q in attack_queries():
        # httpx cannot send a lone surrogate or NUL raw: send them percent-encoded.
        response = client.get(
            "/api/writeups",
            params={"q": q.encode("utf-8", "surrogatepass").decode("utf-8", "replace")},
        )
        assert response.status_code == 200, q
        assert "data" in response.json()


def test_errors_are_json_without_trace(client):
    response = client.post("/api/writeups")
    assert response.status_code == 405
    assert set(response.json()) == {"detail"}


def test_the_search_parameters_are_the_facets_of_the_taxonomy(client):
    """OpenAPI needs the facets as parameters of `list_writeups`: they must stay the
    taxonomy's (a facet added there and not here would be missing from the documentation)."""
    from resource_centre.taxonomy import SLUG_FACETS, YEAR_RANGE_PARAMS

    spec = client.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/api/writeups"]["get"]["parameters"]}
    assert names - {"q", "section", "sort", "page", "page_size"} == {
        *SLUG_FACETS,
        *YEAR_RANGE_PARAMS,
    }
