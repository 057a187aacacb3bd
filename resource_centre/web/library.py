"""The public library: home, search and browse, fiches, Régies and the Atom feed."""

from __future__ import annotations

import difflib
import logging
import re
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import and_, func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from resource_centre import following, radar
from resource_centre.auth import single_address
from resource_centre.figure_ranges import FigureRange, shared_cache
from resource_centre.models import Regie, WriteUp
from resource_centre.ratelimit import RateLimiter, allow_shared, shared_limiter
from resource_centre.search.request import SearchRequest
from resource_centre.search.results import FacetValue, Hit, SearchResults
from resource_centre.search.service import SearchService, empty_results
from resource_centre.taxonomy import (
    REGIE_KINDS,
    YEAR_FACET,
    fold,
)
from resource_centre.web import facets as states
from resource_centre.web.deps import SearchDep, SessionDep, current_user, render
from resource_centre.web.feed import feed_response
from resource_centre.web.fiche_view import fiche_context
from resource_centre.web.sessions import set_flash
from resource_centre.web.urls import path_for
from resource_centre.writeups import get_by_slug

router = APIRouter()
log = logging.getLogger(__name__)
CLICK_TOKEN = re.compile(r"[0-9a-f]{16}")

HOME_LATEST = 6
HOME_FEATURED = 3
RELATED = 3
REGIE_FICHES = 50
CLOSEST_THEMES = 5
MAX_SLUG_CHARS = 120
CLICKS_PER_WINDOW = 30  # opened search results counted per address and window
NEED_LIMIT_ERROR = (
    "Trop de besoins signalés depuis votre connexion en peu de temps : réessayez dans "
    "quelques minutes. Merci de votre patience."
)
NEEDS_CAP_ERROR = (
    "Trop de besoins signalés en peu de temps sur le centre de ressources : réessayez dans "
    "quelques minutes. Merci de votre patience."
)


# --- Helpers -------------------------------------------------------------------------------


def _base(request: Request) -> str:
    return request.url_for("library").path


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def _sign_in_redirect(request: Request) -> Response | None:
    """Send visitors to sign-in when the library is private (PUBLIC_READ=false)."""
    if request.app.state.settings.public_read or current_user(request) is not None:
        return None
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(path_for(request, "login", query={"next": target}), status_code=303)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Any:
    response = render(request, template, context, status_code=status)
    if current_user(request) is not None:  # pages of a signed-in user show contact details
        response.headers["Cache-Control"] = "no-store"
    return response


def _quiet_search(search: SearchService, request: SearchRequest) -> SearchResults | None:
    """Run a search that is not the user's own (hints, counts): not logged."""
    results = search.search(request, quiet=True)
    return None if results.unavailable else results


def _figure_ranges(request: Request) -> dict[str, list[FigureRange]]:
    """Each activity's figure ranges, kept by this process (read again once a minute at
    most); none when the database cannot give them (they are a help, not the page)."""
    try:
        return shared_cache(request.app.state, request.app.state.engine).all()
    except SQLAlchemyError:
        log.warning("figure ranges unavailable", exc_info=True)
        return {}


def _aware(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def hit_from_writeup(writeup: WriteUp, regie: Regie | None) -> Hit:
    """Return the result card of a fiche read from the database."""
    return Hit(
        slug=writeup.slug,
        title=writeup.title,
        summary=writeup.summary,
        regie_slug=regie.slug if regie else None,
        regie_name=regie.name if regie else None,
        region=regie.region if regie else None,
        themes=list(writeup.themes),
        activity=writeup.activity,
        audiences=list(writeup.audiences),
        schemes=list(writeup.schemes),
        year_start=writeup.year_start,
        year_end=writeup.year_end,
        published_at=writeup.published_at,
        featured=writeup.featured,
        score=None,
        highlights={},
        kind="express" if writeup.kind == "express" else "fiche",
    )


def closest_themes(
    q: str, themes: dict[str, str], counts: dict[str, int], limit: int = CLOSEST_THEMES
) -> list[FacetValue]:
    """Return the themes whose labels look most like the text, else the largest ones."""
    words = [w for w in fold(q).replace("-", " ").split() if len(w) >= 3]
    scored: list[tuple[float, str]] = []
    for slug, label in themes.items():
        label_words = fold(label).replace("-", " ").replace("'", " ").split()
        best = 0.0
        for word in words:
            for candidate in label_words:
                if len(candidate) < 3:
                    continue
                if candidate.startswith(word[:5]) or word.startswith(candidate[:5]):
                    best = max(best, 1.0)
                else:
                    best = max(best, difflib.SequenceMatcher(None, word, candidate).ratio())
        if best >= 0.75:
            scored.append((best, slug))
    scored.sort(key=lambda item: (-item[0], -counts.get(item[1], 0), themes[item[1]]))
    chosen = [slug for _, slug in scored if counts.get(slug, 0) > 0][:limit]
    if not chosen:
        chosen = sorted(counts, key=lambda s: (-counts[s], themes.get(s, s)))[:limit]
    return [FacetValue(s, themes.get(s, s), counts.get(s, 0)) for s in chosen]


# --- Pages ---------------------------------------------------------------------------------


@router.get("/", name="home")
def home(request: Request, session: SessionDep, search: SearchDep) -> Any:
    if (redirect := _sign_in_redirect(request)) is not None:
        return redirect
    featured = [
        hit_from_writeup(w, r)
        for w, r in session.execute(
            select(WriteUp, Regie)
            .outerjoin(Regie, col(WriteUp.regie_id) == Regie.id)
            .where(WriteUp.status == "published", col(WriteUp.featured).is_(True))
            .order_by(col(WriteUp.published_at).desc(), col(WriteUp.id).desc())
            .limit(HOME_FEATURED)
        ).all()
    ]
    shown = {h.slug for h in featured}
    results = search.search(SearchRequest(sort="recent", page_size=HOME_LATEST + len(shown)))
    latest = [h for h in results.hits if h.slug not in shown][:HOME_LATEST]
    labels = search.labels()
    counts = {fv.value: fv.count for fv in results.facets.get("theme", [])}
    base = _base(request)
    themes = [
        {"label": label, "count": counts[slug], "url": states.filter_url(base, "theme", slug)}
        for slug, label in labels.get("theme", {}).items()
        if counts.get(slug)
    ]
    context = {
        "featured": featured,
        "latest": latest,
        "themes": themes,
        "total": results.total,
        "total_words": states.count_words(results.total),
        "regie_count": len(results.facets.get("regie", [])),
        "labels": labels,
        "notices": results.notices,
    }
    return _page(request, "library/home.html", context)


@router.get("/fiches", name="library")
def library(request: Request, search: SearchDep) -> Any:
    if (redirect := _sign_in_redirect(request)) is not None:
        return redirect
    wanted = search.parse(_params(request))
    token = secrets.token_hex(8) if wanted.q.strip() or wanted.filters else ""
    results = search.search(wanted, token=token)
    context = _list_context(request, search, wanted, results, token)
    return _page(request, "library/list.html", context)


def _list_context(
    request: Request,
    search: SearchService,
    wanted: SearchRequest,
    results: SearchResults,
    token: str = "",
) -> dict[str, Any]:
    """What the list page shows of a search (also the page of a refused need report)."""
    labels = search.labels()
    base = _base(request)
    chips = states.chips(base, wanted, labels)
    year_values = sorted(int(fv.value) for fv in results.facets.get(YEAR_FACET, []))
    context: dict[str, Any] = {
        "wanted": wanted,
        "results": results,
        "labels": labels,
        "base": base,
        "q": wanted.q,
        "facets": states.decorate(base, wanted, results.facets),
        "chips": chips,
        "clear_url": states.clear_url(base),
        "sort_options": states.sort_options(wanted),
        "default_sort": "relevance" if wanted.q.strip() else "recent",
        "pagination": states.pagination(base, wanted, results.total),
        "count_words": states.count_words(results.total),
        "suggestion_url": (
            states.with_query(base, wanted, results.suggestion) if results.suggestion else None
        ),
        # A widened query (typo, word start, glossary): what was typed is one click away.
        "exact_url": results.exact_query and states.with_query(base, wanted, results.exact_query),
        "year_first": year_values[0] if year_values else None,
        "year_last": year_values[-1] if year_values else None,
        # The header's search box keeps the filters: a new text searches within them.
        "search_hidden": [
            (k, v) for k, v in states.state_items(wanted) if k not in ("q", "sort", "page")
        ],
        "filters_active": sum(1 for c in chips if c.name != "q"),
        "click_token": token,
        # « Suivre cette recherche » and this search's feed (web/follow_pages.py, web/feed.py).
        "follow_query": following.encode(wanted),
        **states.section_context(base, wanted),
    }
    activities = wanted.filters.get("activity", [])
    if len(activities) == 1:  # the activity's page: its figures, over its published fiches
        context["figure_ranges"] = _figure_ranges(request).get(activities[0], [])
        context["ranges_activity"] = labels.get("activity", {}).get(activities[0], activities[0])
    if results.total == 0:
        context.update(_zero_result_help(search, base, wanted, chips, labels))
    title = f"Recherche « {wanted.q.strip()} »" if wanted.q.strip() else "Bibliothèque des fiches"
    if wanted.page > 1:
        title += f" (page {wanted.page})"
    context["page_title"] = title
    return context


def _zero_result_help(
    search: SearchService,
    base: str,
    wanted: SearchRequest,
    chips: list[states.Chip],
    labels: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """Say which filter to remove (with what it would give) and which themes are close."""
    filters = [c for c in chips if c.name != "q"]
    removals = []
    if len(filters) <= 6:  # a few quick counts; beyond that "Tout effacer" says enough
        for chip in filters:
            found = _quiet_search(search, replace(chip.without, page_size=1))
            removals.append({"chip": chip, "total": found.total if found else None})
    text_only = _quiet_search(search, SearchRequest(q=wanted.q, page_size=1))
    counts = {fv.value: fv.count for fv in text_only.facets.get("theme", [])} if text_only else {}
    if not counts:
        overall = _quiet_search(search, SearchRequest(page_size=1))
        counts = {fv.value: fv.count for fv in overall.facets.get("theme", [])} if overall else {}
    return {
        "removals": removals,
        "text_only_total": text_only.total if text_only and filters and wanted.q.strip() else None,
        "text_only_url": states.url_of(base, SearchRequest(q=wanted.q)),
        "close_themes": [
            {
                "label": fv.label,
                "count": fv.count,
                "url": states.filter_url(base, "theme", fv.value),
            }
            for fv in closest_themes(wanted.q, labels.get("theme", {}), counts)
        ],
    }


def client_address(request: Request) -> str:
    return request.client.host if request.client else "inconnue"


def anonymous_limiter(request: Request, name: str, limit: int, window: float) -> RateLimiter:
    """A per-address limiter of this application, in memory (one per server process)."""
    return shared_limiter(request.app.state, f"anonymous-{name}", limit, window)


def _click_allowed(request: Request) -> bool:
    """At most CLICKS_PER_WINDOW logged clicks per address and window; beyond, the page is
    still served but the click is not logged (the radar is not a target for flooding)."""
    window = request.app.state.settings.anonymous_window_minutes * 60
    limiter = anonymous_limiter(request, "clicks", CLICKS_PER_WINDOW, window)
    return limiter.allow(client_address(request))


@router.get("/fiches/{slug}", name="fiche")
def fiche(request: Request, slug: str, session: SessionDep, search: SearchDep) -> Any:
    if (redirect := _sign_in_redirect(request)) is not None:
        return redirect
    writeup = get_by_slug(session, slug) if len(slug) <= MAX_SLUG_CHARS else None
    if writeup is None or writeup.status != "published":
        raise HTTPException(404, "Cette fiche n'existe pas ou n'est pas publiée.")
    token = request.query_params.get("s", "")
    if CLICK_TOKEN.fullmatch(token) and _click_allowed(request):
        # Opened from a search result: the radar counts it.
        request.app.state.search_log.click(token, writeup.slug)
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    context = fiche_context(request, session, writeup, regie, search.labels(), _base(request))
    context["related"] = search.related(writeup.slug, limit=RELATED)
    return _page(request, "library/fiche.html", context)


@router.get("/regies", name="regies")
def regies(request: Request, session: SessionDep, search: SearchDep) -> Any:
    if (redirect := _sign_in_redirect(request)) is not None:
        return redirect
    rows = session.execute(
        select(Regie, func.count(col(WriteUp.id)))
        .outerjoin(
            WriteUp,
            and_(col(WriteUp.regie_id) == Regie.id, col(WriteUp.status) == "published"),
        )
        .where(col(Regie.retired).is_(False))
        .group_by(col(Regie.id))
    ).all()
    region_labels = search.labels().get("region", {})
    groups: dict[str, dict[str, Any]] = {}
    for regie, count in rows:
        label = region_labels.get(regie.region, regie.region)
        group = groups.setdefault(
            regie.region, {"slug": regie.region, "label": label, "regies": []}
        )
        group["regies"].append(
            {
                "regie": regie,
                "kind": REGIE_KINDS.get(regie.kind, "Régie"),
                "count": count,
                "count_words": states.count_words(count),
            }
        )
    ordered = sorted(groups.values(), key=lambda g: fold(g["label"]))
    for group in ordered:
        group["regies"].sort(key=lambda item: fold(item["regie"].name))
    context = {"groups": ordered, "regie_count": len(rows)}
    return _page(request, "library/regies.html", context)


@router.get("/regies/{slug}", name="regie")
def regie(request: Request, slug: str, session: SessionDep, search: SearchDep) -> Any:
    if (redirect := _sign_in_redirect(request)) is not None:
        return redirect
    found = (
        session.execute(select(Regie).where(Regie.slug == slug)).scalars().first()
        if len(slug) <= MAX_SLUG_CHARS
        else None
    )
    if found is None or found.retired:
        raise HTTPException(404, "Cette Régie n'existe pas.")
    results = _quiet_search(
        search,
        SearchRequest(filters={"regie": [found.slug]}, sort="recent", page_size=REGIE_FICHES),
    )
    hits = results.hits if results else []
    total = results.total if results else 0
    labels = search.labels()
    base = _base(request)
    context = {
        "regie": found,
        "kind": REGIE_KINDS.get(found.kind, "Régie"),
        "region_label": labels.get("region", {}).get(found.region, found.region),
        "region_url": states.filter_url(base, "region", found.region),
        "hits": hits,
        "total": total,
        "count_words": states.count_words(total),
        "library_url": states.filter_url(base, "regie", found.slug),
        "labels": labels,
    }
    return _page(request, "library/regie.html", context)


@router.get("/flux.atom", name="feed")
def feed(request: Request, session: SessionDep, search: SearchDep) -> Any:
    """The Atom feed: the newest fiches, or those of a search (`web/feed.py`)."""
    if (redirect := _sign_in_redirect(request)) is not None:
        return redirect
    return feed_response(request, session, search, _params(request))


# --- "Signaler ce besoin" (from an empty search) --------------------------------------------


def _need_refusal(request: Request) -> str | None:
    """Why a need report is refused now, or None: past `anonymous_reports_per_window` reports
    from the client's address (signed in or not) in the window, or past the global cap.

    Both are counted in the database, so they hold across worker processes and machines;
    the address is the client's as a trusted proxy forwards it. Blocking: a worker thread.
    """
    settings = request.app.state.settings
    engine = request.app.state.engine
    limit, minutes = settings.anonymous_reports_per_window, settings.anonymous_window_minutes
    if limit <= 0:
        return None
    if not radar.needs_below_global_cap(engine, limit, minutes):
        return NEEDS_CAP_ERROR
    allowed = allow_shared(
        engine,
        name="needs",
        key=client_address(request),
        limit=limit,
        window=minutes * 60,
        secret=settings.secret_key,
    )
    return None if allowed else NEED_LIMIT_ERROR


def _refused_need_page(
    request: Request,
    search: SearchService,
    *,
    query: str,
    filters: dict[str, list[str]],
    message: str,
    error: str | None,
    email: str = "",
    email_error: str | None = None,
) -> Response:
    """The search page the report came from, answered 429 (`error`: the refusal above the
    need form) or 422 (`email_error`: next to the address), what the user wrote kept in the
    form (the search is not logged again)."""
    wanted = search.parse({"q": [query], **{k: v for k, v in filters.items() if v}})
    results = _quiet_search(search, wanted) or empty_results(wanted, list(wanted.notices))
    context = _list_context(request, search, wanted, results)
    context.update(
        need_error=error, need_message=message, need_email=email, need_email_error=email_error
    )
    status = 422 if email_error else 429
    response = _page(request, "library/list.html", context, status=status)
    if status == 429:
        minutes = request.app.state.settings.anonymous_window_minutes
        response.headers["Retry-After"] = str(minutes * 60)
    return response


# An address left by an anonymous reporter is checked as every address is
# (`auth.single_address`); the message itself is the real test.
NEED_EMAIL_ERROR = (
    "Cette adresse e-mail ne semble pas valide (par exemple : prenom.nom@exemple.fr). "
    "Laissez le champ vide si vous ne souhaitez pas être prévenu."
)


@router.post("/besoins")
async def report_need(request: Request, search: SearchDep) -> Response:
    """Record a need for a fiche that does not exist yet, and who to tell when a fiche
    answers it: the signed-in user, or the address an anonymous reporter may leave."""
    engine = request.app.state.engine
    form = await request.form()
    raw_query, raw_message, raw_email = form.get("q"), form.get("message"), form.get("email")
    query = raw_query if isinstance(raw_query, str) else ""
    message = raw_message if isinstance(raw_message, str) else ""
    filters = {
        name: [v for v in form.getlist(name) if isinstance(v, str)] for name in radar.NEED_FILTERS
    }
    user = current_user(request)
    email = raw_email.strip() if isinstance(raw_email, str) and user is None else ""
    if email and not single_address(email):
        return await run_in_threadpool(
            _refused_need_page, request, search, query=query, filters=filters, message=message,
            error=None, email=email[:300], email_error=NEED_EMAIL_ERROR,
        )  # fmt: skip
    refusal = await run_in_threadpool(_need_refusal, request)
    if refusal is not None:
        return await run_in_threadpool(
            _refused_need_page, request, search, query=query, filters=filters, message=message,
            error=refusal, email=email,
        )  # fmt: skip
    await run_in_threadpool(
        lambda: radar.report_need(
            engine, query=query, filters=filters, message=message,
            reporter_id=user.id if user is not None else None, reporter_email=email or None,
        )
    )  # fmt: skip
    response = RedirectResponse(path_for(request, "library", query={"q": query}), status_code=303)
    thanks = "Merci : votre besoin est transmis à l'équipe du réseau, qui cherchera une Régie pour en faire une fiche."
    if email or (user is not None and user.mail_frequency != "never"):
        thanks += " Vous recevrez un message quand une fiche y répondra."
    set_flash(response, request, thanks)
    return response
