"""The read-only JSON API (contract section 7)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel
from sqlmodel import col, select

from resource_centre.errors import DomainError, Kind
from resource_centre.models import Regie, Term, WriteUp
from resource_centre.search.fastread import fast_path_enabled
from resource_centre.search.indexer import IndexUnavailable
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
from resource_centre.web.deps import IndexDep, SearchDep, SessionDep
from resource_centre.writeups import get_by_slug

router = APIRouter(prefix="/api", tags=["API"])


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


_SLUG_MARK = "--slug--"


def _fiche_url(request: Request) -> Callable[[str], str]:
    """The absolute URL of a fiche by slug; the route is looked up once per request."""
    template = str(request.url_for("fiche", slug=_SLUG_MARK))
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
    itself (`SearchService.parse`), so FastAPI does not validate each of them again."""
    text = {"type": "string"}
    many = {"type": "array", "items": {"type": "string"}}
    described = {
        "q": "Texte libre (phrases, -exclusion, OR)",
        "sort": "relevance, recent ou title",
        "page": "Page (à partir de 1)",
        "page_size": "Fiches par page",
    }
    parameters: list[dict[str, Any]] = [
        {"name": "q", "in": "query", "required": False, "schema": text,
         "description": described["q"]},
    ]  # fmt: skip
    for facet in SLUG_FACETS:
        parameters.append(
            {"name": facet, "in": "query", "required": False, "schema": many,
             "style": "form", "explode": True, "description": f"Facette : {FACET_LABELS[facet]}"}
        )  # fmt: skip
    for name in (*YEAR_RANGE_PARAMS, "sort", "page", "page_size"):
        parameter = {"name": name, "in": "query", "required": False, "schema": text}
        if name in described:
            parameter["description"] = described[name]
        parameters.append(parameter)
    return parameters


@router.get(
    "/writeups",
    response_model=WriteUpList,
    summary="Rechercher des fiches publiées",
    responses={503: INDEX_UNAVAILABLE_RESPONSE},
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
    responses={404: {"model": ErrorDetail, "description": "Fiche inconnue ou non visible"}},
)
def get_writeup(request: Request, slug: str, session: SessionDep) -> WriteUpDetail:
    writeup = get_by_slug(session, slug)
    if writeup is None or writeup.status != "published":
        raise HTTPException(404, "Fiche introuvable.")
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    return detail(request, writeup, regie)


def detail(request: Request, writeup: WriteUp, regie: Regie | None) -> WriteUpDetail:
    return WriteUpDetail(
        slug=writeup.slug,
        url=str(request.url_for("fiche", slug=writeup.slug)),
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


@router.get("/taxonomy", response_model=dict[str, list[TermOut]], summary="Les vocabulaires")
def taxonomy(session: SessionDep) -> dict[str, list[TermOut]]:
    result: dict[str, list[TermOut]] = {v.name: [] for v in VOCABULARIES}
    terms = session.execute(
        select(Term).where(col(Term.retired).is_(False)).order_by(col(Term.position), Term.slug)
    ).scalars()
    for term in terms:
        result.setdefault(term.vocabulary, []).append(TermOut(slug=term.slug, label=term.label))
    return result


@router.get("/regies", response_model=RegieList, summary="Les Régies du réseau", name="api_regies")
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


@router.get("/health", response_model=Health, summary="État du service (supervision)")
def health(request: Request, index: IndexDep) -> Health:
    """Whether this worker answers, how far its index has applied the journal, and
    whether its searches take the fast path (Whoosh internals read directly).

    Degraded while the index lags the journal, and for a while after this worker's sync
    applied the same journal range twice (a sign that its searchers miss commits).
    """
    try:
        applied: int | None = index.applied_id()
    except IndexUnavailable:
        applied = None
    latest = index.latest_journal_id()
    sync = getattr(request.app.state, "sync", None)
    repeating = bool(sync is not None and sync.repeating)
    status = "ok" if applied is not None and applied >= latest and not repeating else "degraded"
    return Health(
        status=status, worker=os.getpid(), index_journal_id=applied,
        database_journal_id=latest, search_fast_path=fast_path_enabled(),
    )  # fmt: skip
