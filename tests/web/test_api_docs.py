"""The OpenAPI document and the `/api/docs` page, without a browser (the browser test is
`tests/browser/test_browser_api_docs.py`).

The document describes the JSON API only, with typed parameters and an example for every
parameter and every answer; the examples are real (checked against the response models and
against the demo corpus). The page runs no inline code and loads nothing from elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import TypeAdapter
from starlette.testclient import TestClient

from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, migrate
from resource_centre.search.request import SEARCHABLE_SECTIONS, SORTS
from resource_centre.taxonomy import SLUG_FACETS
from resource_centre.web import api_examples
from resource_centre.web.app import create_app
from resource_centre.web.security import CSP
from tests.conftest import DEMO_KNOWLEDGE

INTEGERS = ("year_min", "year_max", "page", "page_size")


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on the demo corpus, which the examples of the document follow."""
    work = tmp_path_factory.mktemp("api-docs")
    settings = Settings(
        database_url=f"sqlite:///{work / 'demo.db'}",
        index_dir=work / "index",
        data_dir=work / "data",
        knowledge_dir=DEMO_KNOWLEDGE,
        index_poll_seconds=0.05,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    engine.dispose()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def spec(demo_client: TestClient) -> dict[str, Any]:
    response = demo_client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_document_describes_the_api_only(spec):
    assert set(spec["paths"]) == {
        "/api/writeups", "/api/writeups/{slug}", "/api/taxonomy", "/api/regies", "/api/health",
        "/api/suggest",
    }  # fmt: skip
    # No form of the HTML pages, and not FastAPI's 422 list, which the API never answers.
    schemas = set(spec["components"]["schemas"])
    assert not {s for s in schemas if s.startswith("Body_") or "ValidationError" in s}
    for path, _method, operation in operations(spec):
        assert "422" not in operation["responses"], path


def test_every_api_route_of_the_app_is_documented(demo_client, spec):
    app: FastAPI = demo_client.app  # type: ignore[assignment]
    routes = {
        (method.lower(), route.path)
        for route in iter_route_contexts(app.routes)
        if route.path and route.path.startswith("/api/") and route.methods
        if route.path != "/api/docs"
        for method in route.methods
        if method != "HEAD"
    }
    assert routes == {(method, path) for path, method, _ in operations(spec)}


def test_parameters_are_typed(spec):
    parameters = {p["name"]: p for p in spec["paths"]["/api/writeups"]["get"]["parameters"]}
    for name in INTEGERS:
        assert parameters[name]["schema"]["type"] == "integer", name
    assert parameters["page"]["schema"]["minimum"] == 1
    assert parameters["page_size"]["schema"]["maximum"] == 100
    assert parameters["sort"]["schema"] == {"type": "string", "enum": list(SORTS)}
    for facet in SLUG_FACETS:
        assert parameters[facet]["schema"]["type"] == "array", facet
        assert parameters[facet]["explode"] is True
    assert parameters["q"]["schema"]["type"] == "string"
    assert parameters["section"]["schema"]["items"]["enum"] == list(SEARCHABLE_SECTIONS)
    assert parameters["section"]["explode"] is True


def test_every_parameter_and_answer_has_an_example(spec):
    for path, method, operation in operations(spec):
        assert operation.get("summary") and operation.get("description"), path
        for parameter in operation.get("parameters", []):
            assert "example" in parameter or parameter.get("examples"), (path, parameter["name"])
            assert parameter.get("description"), (path, parameter["name"])
        for status, answer in operation["responses"].items():
            media = answer.get("content", {}).get("application/json", {})
            assert "example" in media or media.get("examples"), (path, method, status)


def test_the_examples_are_valid_answers(demo_client, spec):
    """Each answer's example fits the route's response model (or the error model)."""
    app: FastAPI = demo_client.app  # type: ignore[assignment]
    models = {
        route.path: route
        for route in iter_route_contexts(app.routes)
        if route.path and route.path in spec["paths"]
    }
    for path, _method, operation in operations(spec):
        route = models[path]
        for status, answer in operation["responses"].items():
            example = answer["content"]["application/json"]["example"]
            model = (
                route.response_model if status == "200" else route.responses[int(status)]["model"]
            )
            TypeAdapter(model).validate_python(example)


def test_the_example_parameters_find_the_example_fiche(demo_client):
    """Tried together (as "Try it out" does), the example values are all accepted and find
    the fiche of the example answers."""
    answer = demo_client.get("/api/writeups", params=api_examples.SEARCH_PARAMETERS).json()
    assert answer["notices"] == []
    assert [hit["slug"] for hit in answer["data"]] == [api_examples.SLUG]
    assert demo_client.get(f"/api/writeups/{api_examples.SLUG}").status_code == 200
    missing = demo_client.get("/api/writeups/pas-de-fiche-ainsi")
    assert (missing.status_code, missing.json()) == (404, api_examples.NOT_FOUND)


def test_typed_parameters_stay_lenient(demo_client):
    """The types document what is kept: anything else is ignored with a notice, never a 4xx."""
    answer = demo_client.get(
        "/api/writeups", params={"page": "deux", "page_size": "0", "sort": "hasard"}
    )
    assert answer.status_code == 200
    assert len(answer.json()["notices"]) == 3


class PageParser(HTMLParser):
    """Collects the scripts, styles and URLs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_code: list[str] = []
        self.urls: list[str] = []
        self.style_elements = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        if tag == "style":
            self.style_elements += 1
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.inline_code.append(f"{tag} {name}={value}")
            if name in ("src", "href", "action") and value is not None:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_code.append(data.strip()[:80])


def test_the_docs_page_runs_no_inline_code_and_loads_only_from_the_app(demo_client):
    response = demo_client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CSP  # the site's own, not relaxed
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    page = PageParser()
    page.feed(response.text)
    assert page.inline_code == [] and page.style_elements == 0
    assert page.scripts and all(script.get("src") for script in page.scripts)
    for url in page.urls:
        assert url.startswith("/") and not url.startswith("//"), url
    sources = {script["src"] for script in page.scripts}
    assert sources == {"/api/docs/assets/swagger-ui-bundle.js", "/static/api-docs.js"}
    # Every file the page names is served by the app itself.
    for url in page.urls:
        if url != "/":
            assert demo_client.get(url).status_code == 200, url
    assert 'data-openapi-url="/openapi.json"' in response.text


def test_swagger_ui_files_are_served_from_the_package(demo_client):
    bundle = demo_client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in bundle.text
    css = demo_client.get("/api/docs/assets/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # The init file keeps Swagger UI off the network: no validator badge from elsewhere.
    init = demo_client.get("/static/api-docs.js").text
    assert "validatorUrl: null" in init
    assert demo_client.get("/api/docs/assets/absent.js").status_code == 404
    # FastAPI's page with inline code is not served any more.
    assert demo_client.get("/docs/oauth2-redirect").status_code == 404
