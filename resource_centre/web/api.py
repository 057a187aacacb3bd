"""The read-only JSON API (contract section 7)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import RouteContext, iter_route_contexts
from pydantic import BaseModel, Field
from sqlmodel import col, select

from resource_centre.errors import DomainError, Kind
from resource_centre.models import Regie, Term, WriteUp
from resource_centre.search import completion
from resource_centre.search.fastread import fast_path_enabled
from resource_centre.search.indexer import IndexUnavailable
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
from resource_centre.search.results import Hit, SearchResults
from resource_centre.search.service import INDEX_UNAVAILABLE
from resource_centre.taxonomy import (
    FACET_LABELS,
    FACETS,
    SECTION_KEYS,
    SLUG_FACETS,
    VOCABULARIES,
    YEAR_RANGE_PARAMS,
)
from resource_centre.web import api_examples as examples
from resource_centre.web.deps import IndexDep, SearchDep, SessionDep
from resource_centre.web.urls import absolute_url_for
from resource_centre.writeups import get_by_slug

router = APIRouter(prefix="/api", tags=["API"])
SlugPath = Annotated[
    str,
    Path(
        description="Identifiant de la fiche (`slug` d'un résultat de `/api/writeups`).",
        openapi_examples={"laverie": {"summary": "Une fiche publiée", "value": examples.SLUG}},
    ),
]


class RegieRef(BaseModel):
    slug: str
    name: str


class WriteUpSummary(BaseModel):
    slug: str
    title: str
    summary: str
    url: str
    regie: RegieRef | None
    region: str | None
    themes: list[str]
    activity: str | None
    audiences: list[str]
    schemes: list[str]
    year_start: int | None
    year_end: int | None
    published_at: date | None
    featured: bool
    score: float | None
    highlights: dict[str, str]
    kind: Literal["fiche", "express"] = Field(
        default="fiche", description="`fiche` (complète) ou `express` (courte)."
    )
    matched_sections: list[str] = Field(
        default_factory=list,
        description=(
            "Les sections de la fiche où se trouvent les mots cherchés (clés : "
            f"{', '.join(f'`{key}`' for key in SEARCHABLE_SECTIONS)}), dans l'ordre de la "
            "fiche ; limitées à `section` quand la recherche l'est. L'extrait "
            "`highlights.body` vient de la première."
        ),
    )


class FacetCount(BaseModel):
    value: str
    label: str
    count: int


class WriteUpList(BaseModel):
    data: list[WriteUpSummary]
    total: int
    page: int
    page_size: int
    suggestion: str | None
    facets: dict[str, list[FacetCount]]
    notices: list[str]
    exact_query: str | None = Field(
        default=None,
        description=(
            "Quand la recherche a été élargie (faute de frappe corrigée, début de mot, "
            "glossaire) : la recherche de ce qui a été tapé exactement (mots entre guillemets)."
        ),
    )


class WriteUpDetail(BaseModel):
    slug: str
    url: str
    title: str
    summary: str
    regie: RegieRef | None
    region: str | None
    themes: list[str]
    activity: str | None
    audiences: list[str]
    schemes: list[str]
    partners: list[str]
    year_start: int | None
    year_end: int | None
    status: str
    featured: bool
    published_at: date | None
    updated_at: datetime
    sections: dict[str, str]
    html: dict[str, str]


class ErrorDetail(BaseModel):
    """Every API error: a French sentence, never a trace."""

    detail: str


class TermOut(BaseModel):
    slug: str
    label: str


class RegieOut(BaseModel):
    slug: str
    name: str
    kind: str
    city: str
    department: str
    region: str


class RegieList(BaseModel):
    data: list[RegieOut]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of `app`, limited to the JSON API (`/api/…`); built once.

    The pages and forms are not an API: only the routes under `/api/` are described.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    routes = [
        route
        for route in iter_route_contexts(app.routes)
        if route.methods and (route.path or "").startswith(f"{router.prefix}/")
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


_SLUG_MARK = "--slug--"


def _fiche_url(request: Request) -> Callable[[str], str]:
    """The absolute URL of a fiche by slug (from RESOURCE_CENTRE_BASE_URL when set); the
    route and the site's origin are looked up once per request."""
    template = absolute_url_for(request, "fiche", slug=_SLUG_MARK)
    return lambda slug: template.replace(_SLUG_MARK, quote(slug, safe=""))


def hit_to_summary(
    request: Request, hit: Hit, fiche_url: Callable[[str], str] | None = None
) -> WriteUpSummary:
    return WriteUpSummary(
        slug=hit.slug,
        title=hit.title,
        summary=hit.summary,
        url=(fiche_url or _fiche_url(request))(hit.slug),
        regie=RegieRef(slug=hit.regie_slug, name=hit.regie_name or hit.regie_slug)
        if hit.regie_slug
        else None,
        region=hit.region,
        themes=hit.themes,
        activity=hit.activity,
        audiences=hit.audiences,
        schemes=hit.schemes,
        year_start=hit.year_start,
        year_end=hit.year_end,
        published_at=hit.published_at,
        featured=hit.featured,
        score=hit.score,
        highlights=hit.highlights,
        kind="express" if hit.kind == "express" else "fiche",
        matched_sections=hit.matched_sections,
    )


INDEX_UNAVAILABLE_RESPONSE = {
    "model": ErrorDetail,
    "description": (
        "L'index de recherche est momentanément indisponible (il est reconstruit à partir de "
        "la base de données) : aucun résultat ne peut être donné, réessayez dans quelques "
        "secondes. Une réponse 200 avec `total: 0` veut toujours dire « aucune fiche »."
    ),
}


def unavailable(results: SearchResults) -> bool:
    """Whether `results` stand for an unavailable index rather than a search without hits."""
    return results.unavailable


def _search_parameters() -> list[dict[str, Any]]:
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
                    "répété ; `lessons` : les enseignements). Chaque résultat dit où les "
                    "mots ont été trouvés (`matched_sections`)."
                ),
            )  # fmt: skip
        elif name in SLUG_FACETS:
            parameter.update(
                schema={"type": "array", "items": {"type": "string"},
                        "maxItems": MAX_VALUES_PER_FACET},
                style="form", explode=True,
                description=(
                    f"Facette « {FACET_LABELS[name]} » : un ou plusieurs identifiants "
                    "(`slug`, voir `/api/taxonomy` et `/api/regies`), paramètre répété."
                ),
            )  # fmt: skip
        else:
            parameter.update(schema=schemas[name], description=described[name])
        if name in examples.SEARCH_PARAMETERS:
            parameter["example"] = examples.SEARCH_PARAMETERS[name]
        parameters.append(parameter)
    return parameters


@router.get(
    "/writeups",
    response_model=WriteUpList,
    summary="Rechercher des fiches publiées",
    description=(
        "Les mêmes paramètres que la page `/fiches` de la bibliothèque. Une valeur invalide "
        "(nombre mal écrit, facette inconnue, tri inexistant) n'est pas une erreur : elle est "
        "ignorée et expliquée dans `notices`. Les comptes de `facets` tiennent compte des "
        "autres filtres, pas de celui de la facette elle-même."
    ),
    responses={
        200: examples.json_example(examples.WRITEUP_LIST),
        503: {**INDEX_UNAVAILABLE_RESPONSE, **examples.json_example(examples.INDEX_UNAVAILABLE)},
    },
    openapi_extra={"parameters": _search_parameters()},
)
def list_writeups(request: Request, search: SearchDep) -> Response:
    """Same parameters as the library page; bad values are ignored with a notice.

    503 while the index is unavailable, so that "no fiche" and "cannot search" differ. The
    answer is serialised here (the model is built once, not validated again by FastAPI).
    """
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    search_request = search.parse(params)
    results = search.search(search_request, source="api")
    if unavailable(results):
        raise DomainError(INDEX_UNAVAILABLE, kind=Kind.UNAVAILABLE)
    fiche_url = _fiche_url(request)
    answer = WriteUpList(
        data=[hit_to_summary(request, hit, fiche_url) for hit in results.hits],
        total=results.total,
        page=results.page,
        page_size=results.page_size,
        suggestion=results.suggestion,
        exact_query=results.exact_query,
        facets={
            name: [FacetCount(value=f.value, label=f.label, count=f.count) for f in values]
            for name, values in results.facets.items()
            if name in FACETS
        },
        notices=results.notices,
    )
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get(
    "/writeups/{slug}",
    response_model=WriteUpDetail,
    summary="Une fiche",
    description=(
        "Tous les champs d'une fiche publiée, avec ses sections en Markdown (`sections`) et "
        "en HTML (`html`, nettoyé)."
    ),
    responses={
        200: examples.json_example(examples.WRITEUP_DETAIL),
        404: {
            "model": ErrorDetail,
            "description": "Fiche inconnue ou non visible",
            **examples.json_example(examples.NOT_FOUND),
        },
    },
)
def get_writeup(request: Request, slug: SlugPath, session: SessionDep) -> WriteUpDetail:
    writeup = get_by_slug(session, slug)
    if writeup is None or writeup.status != "published":
        raise HTTPException(404, "Fiche introuvable.")
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    return detail(request, writeup, regie)


def detail(request: Request, writeup: WriteUp, regie: Regie | None) -> WriteUpDetail:
    return WriteUpDetail(
        slug=writeup.slug,
        url=absolute_url_for(request, "fiche", slug=writeup.slug),
        title=writeup.title,
        summary=writeup.summary,
        regie=RegieRef(slug=regie.slug, name=regie.name) if regie else None,
        region=regie.region if regie else None,
        themes=writeup.themes,
        activity=writeup.activity,
        audiences=writeup.audiences,
        schemes=writeup.schemes,
        partners=writeup.partners,
        year_start=writeup.year_start,
        year_end=writeup.year_end,
        status=writeup.status,
        featured=writeup.featured,
        published_at=writeup.published_at,
        updated_at=writeup.updated_at,
        sections={k: writeup.sections[k] for k in SECTION_KEYS if writeup.sections.get(k)},
        html={k: writeup.sections_html[k] for k in SECTION_KEYS if writeup.sections_html.get(k)},
    )


@router.get(
    "/taxonomy",
    response_model=dict[str, list[TermOut]],
    summary="Les vocabulaires",
    description=(
        "Les valeurs possibles des facettes (thèmes, activités, publics, dispositifs, "
        "régions), dans l'ordre de la bibliothèque."
    ),
    responses={200: examples.json_example(examples.TAXONOMY)},
)
def taxonomy(session: SessionDep) -> dict[str, list[TermOut]]:
    result: dict[str, list[TermOut]] = {v.name: [] for v in VOCABULARIES}
    terms = session.execute(
        select(Term).where(col(Term.retired).is_(False)).order_by(col(Term.position), Term.slug)
    ).scalars()
    for term in terms:
        result.setdefault(term.vocabulary, []).append(TermOut(slug=term.slug, label=term.label))
    return result


@router.get(
    "/regies",
    response_model=RegieList,
    summary="Les Régies du réseau",
    description="Les Régies de Quartier et de Territoire, par ordre alphabétique.",
    name="api_regies",
    responses={200: examples.json_example(examples.REGIES)},
)
def regies(session: SessionDep) -> RegieList:
    rows = session.execute(
        select(Regie).where(col(Regie.retired).is_(False)).order_by(Regie.name)
    ).scalars()
    return RegieList(
        data=[
            RegieOut(
                slug=r.slug,
                name=r.name,
                kind=r.kind,
                city=r.city,
                department=r.department,
                region=r.region,
            )
            for r in rows
        ]
    )


class Health(BaseModel):
    status: str
    worker: int
    index_journal_id: int | None
    database_journal_id: int
    search_fast_path: bool


@router.get(
    "/health",
    response_model=Health,
    summary="État du service (supervision)",
    description=(
        "`ok` quand ce processus répond et que son index de recherche est à jour de la base "
        "de données ; `degraded` sinon (l'index rattrape son retard, ou ses caches de "
        "recherche se construisent au démarrage)."
    ),
    responses={200: examples.json_example(examples.HEALTH)},
)
def health(request: Request, index: IndexDep) -> Health:
    """Whether this worker answers, how far its index has applied the journal, and
    whether its searches take the fast path (Whoosh internals read directly).

    Degraded while the index lags the journal, until the sync thread has built the search
    caches once (a worker that says "ok" answers its first searches at full speed), and for
    a while after this worker's sync applied the same journal range twice (a sign that its
    searchers miss commits).
    """
    try:
        applied: int | None = index.applied_id()
    except IndexUnavailable:
        applied = None
    latest = index.latest_journal_id()
    sync = getattr(request.app.state, "sync", None)
    repeating = bool(sync is not None and sync.repeating)
    warming = sync is not None and not getattr(sync, "warmed", True)
    status = (
        "ok"
        if applied is not None and applied >= latest and not repeating and not warming
        else "degraded"
    )
    return Health(
        status=status, worker=os.getpid(), index_journal_id=applied,
        database_journal_id=latest, search_fast_path=fast_path_enabled(),
    )  # fmt: skip


class SuggestionOut(BaseModel):
    label: str
    url: str
    type: Literal["fiche", "term", "facet"]


class SuggestionList(BaseModel):
    data: list[SuggestionOut]


SUGGEST_EXAMPLE = {
    "data": [
        {
            "label": "Une laverie solidaire au cœur du Plateau des Tilleuls",
            "url": f"https://centre.example/fiches/{examples.SLUG}",
            "type": "fiche",
        }
    ]
}


@router.get(
    "/suggest",
    response_model=SuggestionList,
    summary="Suggestions pendant la frappe",
    description=(
        "Au plus 10 suggestions pour un début de texte : titres de fiches publiées "
        "(`fiche`), termes du glossaire (`term`, un lien vers la recherche de ce terme) et "
        "valeurs de facettes (`facet`, un lien vers la bibliothèque filtrée). Chaque mot tapé "
        "doit commencer un mot de la suggestion (accents et majuscules ignorés). Moins de "
        "deux lettres : liste vide."
    ),
    responses={
        200: examples.json_example(SUGGEST_EXAMPLE),
        503: {**INDEX_UNAVAILABLE_RESPONSE, **examples.json_example(examples.INDEX_UNAVAILABLE)},
    },
)
def suggest(
    request: Request,
    search: SearchDep,
    q: Annotated[
        str,
        Query(
            description="Le texte tapé (100 caractères au plus comptent).",
            openapi_examples={"lave": {"summary": "Un début de mot", "value": "lave"}},
        ),
    ] = "",
) -> Response:
    """Suggestions for the search boxes' combobox (`static/combobox.js`)."""
    found: list[completion.Suggestion] = []
    if completion.Typed.of(q) is not None:
        try:
            with search.index.searching() as searcher:
                found = completion.suggest(
                    searcher, q, labels=search.labels(), glossary=completion.glossary_of(search)
                )
        except IndexUnavailable:
            raise DomainError(INDEX_UNAVAILABLE, kind=Kind.UNAVAILABLE) from None
    library, fiche_url = absolute_url_for(request, "library"), _fiche_url(request)
    data = [
        SuggestionOut(
            label=item.label,
            url=fiche_url(item.slug) if item.type == "fiche" else f"{library}?{item.query_string}",
            type=item.type,
        )
        for item in found
    ]
    return Response(SuggestionList(data=data).model_dump_json(), media_type="application/json")
