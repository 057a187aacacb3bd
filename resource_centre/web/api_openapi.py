"""The OpenAPI document of the JSON API (`web.api`): built once, limited to `/api/…`, with the
search parameters the route reads itself and the answers' examples as written."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import RouteContext, iter_route_contexts

from resource_centre.search.request import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_VALUES_PER_FACET,
    SEARCHABLE_SECTIONS,
    SORTS,
    YEAR_HIGHEST,
    YEAR_LOWEST,
)
from resource_centre.taxonomy import (
    FACET_LABELS,
    FICHE_KINDS,
    KIND_LABELS,
    SLUG_FACETS,
    YEAR_RANGE_PARAMS,
)
from resource_centre.web import api_examples as examples

API_PREFIX = "/api"


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of `app`, limited to the JSON API (`/api/…`); built once.

    The pages and forms are not an API: only the routes under `/api/` are described.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    routes = [
        route
        for route in iter_route_contexts(app.routes)
        if route.methods and (route.path or "").startswith(f"{API_PREFIX}/")
    ]
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=routes,
        tags=app.openapi_tags,
        servers=app.servers,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    _drop_framework_422(document)
    _restore_examples(document, routes)
    app.openapi_schema = document
    return document


_FRAMEWORK_422 = "#/components/schemas/HTTPValidationError"


def _drop_framework_422(document: dict[str, Any]) -> None:
    """Remove the 422 answer FastAPI adds to every route with parameters: the API never gives
    it (its routes read the query string themselves, a slug is any text, `web.errors` answers
    a bad path with 404 and any error as `{"detail": "…"}`), so the document would lie."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == _FRAMEWORK_422:
                del operation["responses"]["422"]
    if _FRAMEWORK_422 not in json.dumps(document.get("paths", {})):
        schemas = document.get("components", {}).get("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def _restore_examples(document: dict[str, Any], routes: list[RouteContext]) -> None:
    """Put the answers' examples back as written: FastAPI drops every None from the
    document, examples included, and `"year_end": null` is part of an answer."""
    for route in routes:
        for status, answer in (route.responses or {}).items():
            media = answer.get("content", {}).get("application/json", {})
            if "example" not in media:
                continue
            for method in route.methods or ():
                operation = document["paths"][route.path].get(method.lower())
                if operation is not None:
                    content = operation["responses"][str(status)]["content"]
                    content["application/json"]["example"] = jsonable_encoder(media["example"])


def _facet_parameter(name: str) -> dict[str, Any]:
    """A facet's parameter: repeated slugs; the formats of fiche are a closed list."""
    items: dict[str, Any] = {"type": "string"}
    if name == "kind":
        items["enum"] = list(FICHE_KINDS)
        kinds = ", ".join(f"`{kind}` ({KIND_LABELS[kind].lower()})" for kind in FICHE_KINDS)
        description = f"Facette « {FACET_LABELS[name]} » : {kinds} ; paramètre répété."
    else:
        description = (
            f"Facette « {FACET_LABELS[name]} » : un ou plusieurs identifiants "
            "(`slug`, voir `/api/taxonomy` et `/api/regies`), paramètre répété."
        )
    return {
        "schema": {"type": "array", "items": items, "maxItems": MAX_VALUES_PER_FACET},
        "style": "form",
        "explode": True,
        "description": description,
    }


def search_parameters() -> list[dict[str, Any]]:
    """The query parameters of `/api/writeups`, for OpenAPI: the route reads the query string
    itself (`SearchService.parse`), so FastAPI does not validate each of them again. Their
    types and bounds are those the parser keeps; other values are ignored with a notice."""
    year_bounds = {"minimum": YEAR_LOWEST, "maximum": YEAR_HIGHEST}
    schemas: dict[str, dict[str, Any]] = {
        "q": {"type": "string"},
        "year_min": {"type": "integer", **year_bounds},
        "year_max": {"type": "integer", **year_bounds},
        "sort": {"type": "string", "enum": list(SORTS)},
        "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        "page_size": {
            "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
            "default": DEFAULT_PAGE_SIZE,
        },
    }  # fmt: skip
    described = {
        "q": "Texte libre : mots, « phrases entre guillemets », -exclusion, OR.",
        "year_min": "Fiches dont la période d'action finit cette année-là ou après.",
        "year_max": "Fiches dont la période d'action commence cette année-là ou avant.",
        "sort": (
            "`relevance` (pertinence, par défaut quand `q` est donné), `recent` (les plus "
            "récentes d'abord, par défaut sans `q`) ou `title` (ordre alphabétique)."
        ),
        "page": "Page de résultats, à partir de 1.",
        "page_size": f"Fiches par page, de 1 à {MAX_PAGE_SIZE}.",
    }
    names = ["q", "section", *SLUG_FACETS, *YEAR_RANGE_PARAMS, "sort", "page", "page_size"]
    parameters: list[dict[str, Any]] = []
    for name in names:
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
        if name == "section":
            parameter.update(
                schema={"type": "array", "uniqueItems": True,
                        "items": {"type": "string", "enum": list(SEARCHABLE_SECTIONS)}},
                style="form", explode=True,
                description=(
                    "Ne chercher le texte de `q` que dans ces sections des fiches (paramètre "
                    "répété ; `lessons` : les enseignements, `residents` : la place des "
                    "habitants). Chaque résultat dit où les mots ont été trouvés "
                    "(`matched_sections`)."
                ),
            )  # fmt: skip
        elif name in SLUG_FACETS:
            parameter.update(_facet_parameter(name))
        else:
            parameter.update(schema=schemas[name], description=described[name])
        if name in examples.SEARCH_PARAMETERS:
            parameter["example"] = examples.SEARCH_PARAMETERS[name]
        parameters.append(parameter)
    return parameters
