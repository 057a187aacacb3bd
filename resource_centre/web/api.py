"""The read-only JSON API (contract section 7)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from resource_centre.errors import DomainError, Kind
from resource_centre.models import Regie, Term
from resource_centre.search import completion
from resource_centre.search.fastread import fast_path_enabled
from resource_centre.search.indexer import IndexUnavailable
from resource_centre.search.request import SEARCHABLE_SECTIONS
from resource_centre.search.results import Hit, SearchResults
from resource_centre.search.service import INDEX_UNAVAILABLE
from resource_centre.taxonomy import FACETS, VOCABULARIES
from resource_centre.web import api_examples as examples
from resource_centre.web.api_fiche import RegieRef, WriteUpDetail, detail, detail_json
from resource_centre.web.api_openapi import API_PREFIX, openapi_document, search_parameters
from resource_centre.web.deps import IndexDep, SearchDep, SessionDep, current_user
from resource_centre.web.urls import absolute_url_for
from resource_centre.writeups import get_by_slug

# `openapi_document` is what `web.api_docs` installs; the fiche's model lives in `api_fiche`.
__all__ = ["WriteUpDetail", "openapi_document", "router"]

router = APIRouter(prefix=API_PREFIX, tags=["API"])
SlugPath = Annotated[
    str,
    Path(
        description="Identifiant de la fiche (`slug` d'un résultat de `/api/writeups`).",
        openapi_examples={"laverie": {"summary": "Une fiche publiée", "value": examples.SLUG}},
    ),
]


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
    openapi_extra={"parameters": search_parameters()},
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
        "en HTML (`html`, nettoyé), ses chiffres (`figures`), le « Regard du réseau » "
        "(`network_note`) et ses documents joints (`attachments`). `interview_requested` "
        "n'est donné qu'aux curateurs et aux membres de la Régie de la fiche."
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
def get_writeup(request: Request, slug: SlugPath, session: SessionDep) -> Response:
    """The answer is serialised here: `interview_requested` is left out for callers who may
    not see the review data (`api_fiche.detail_json`)."""
    writeup = get_by_slug(session, slug)
    if writeup is None or writeup.status != "published":
        raise HTTPException(404, "Fiche introuvable.")
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    answer = detail(request, session, writeup, regie)
    body = detail_json(answer, current_user(request), writeup)
    return Response(body, media_type="application/json")


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
