"""Followed searches (« Mes recherches suivies »): library searches an account watches.

A followed search is stored as the *normalised* query string of a `/fiches` URL: parsed by
the search's own parser (`search.request.request_from_params`), then written back in one
canonical order without the page, the page size or unknown parameters, so that two URLs of
the same search are one followed search. "" is the whole library.

What is new for a followed search is the published fiches *first published* in a window of
time that the search finds: the database gives the (usually few) fiches of the window, the
search index says which of them match (`matching_new`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlencode

from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from resource_centre.db import read_session
from resource_centre.errors import DomainError, Kind
from resource_centre.models import FollowedSearch, Regie, User, WriteUp, utcnow
from resource_centre.search.indexer import IndexUnavailable, SearchIndex
from resource_centre.search.request import SearchRequest, query_items, request_from_params
from resource_centre.search.service import SearchService
from resource_centre.taxonomy import (
    FACET_LABELS,
    SECTION_BY_KEY,
    SLUG_FACETS,
    YEAR_FACET,
    year_filter_label,
)
from resource_centre.text import strip_controls

MAX_FOLLOWED = 50  # followed searches per account
MAX_QUERY_CHARS = 1000  # the stored, normalised query string (FollowedSearch.query)
MAX_RAW_QUERY_CHARS = 8000  # what is parsed at all
MAX_FIELDS = 400  # query-string fields parsed at all
MAX_LABEL_CHARS = 300  # FollowedSearch.label
INDEX_WAIT_SECONDS = 5.0  # how long a digest waits for the index to apply the journal
# What is "new" ends this long before now (digests and /suivis): a publication stamped
# before then but still committing is counted next time rather than lost.
SETTLE = timedelta(seconds=60)
SEARCH_PAGE_SIZE = 100  # the largest page a search gives (search.request.MAX_PAGE_SIZE)
WHOLE_LIBRARY = "Toute la bibliothèque"
TOO_MANY = (
    f"Vous suivez déjà {MAX_FOLLOWED} recherches, le maximum : retirez-en une sur la page "
    "« Mes recherches suivies » pour en suivre une nouvelle."
)
TOO_LONG = "Cette recherche est trop longue pour être suivie : raccourcissez le texte cherché."
UNREADABLE = (
    "Cette adresse de recherche n’a pas pu être lue : relancez la recherche puis réessayez."
)
LIBRARY_PATH, FEED_PATH = "/fiches", "/flux.atom"  # site paths (links in e-mails, too)
SEARCH_UNAVAILABLE = (
    "La recherche est momentanément indisponible : les nouveautés de vos recherches suivies "
    "seront affichées à votre prochaine visite."
)

Labels = Mapping[str, Mapping[str, str]]


class FollowError(DomainError):
    """A search that cannot be followed (too long, unreadable, too many followed)."""


class SearchUnavailable(DomainError):
    """The search index cannot answer now (being rebuilt): nothing new can be told."""

    default_kind = Kind.UNAVAILABLE


@dataclass(frozen=True)
class NewFiche:
    """A fiche first published in a window that a followed search finds."""

    slug: str
    title: str
    regie_name: str | None
    summary: str
    first_published_at: datetime
    published_at: date | None = None  # the date the library shows and sorts by


# --- The query string ------------------------------------------------------------------------


def _raw_params(query_string: str) -> dict[str, list[str]]:
    """Decode a query string ("q=x&theme=y", "?q=x" or "/fiches?q=x") into lists of values,
    without control characters."""
    text = (query_string or "").strip()
    if len(text) > MAX_RAW_QUERY_CHARS:
        raise FollowError(TOO_LONG)
    if "?" in text:  # a whole URL or path: only its query string counts
        text = text.split("?", 1)[1]
    text = text.split("#", 1)[0]
    try:
        parsed = parse_qs(text, max_num_fields=MAX_FIELDS, errors="replace")
    except ValueError as exc:  # too many fields
        raise FollowError(UNREADABLE) from exc
    # As the library's own query strings (web.inputs): no control character, encoded or
    # not, in a name or a value. PostgreSQL refuses a NUL in text.
    params: dict[str, list[str]] = {}
    for name, values in parsed.items():
        params.setdefault(strip_controls(name), []).extend(strip_controls(v) for v in values)
    return params


def request_of(query_string: str, known: Mapping[str, set[str]] | None = None) -> SearchRequest:
    """Parse a query string with the library's own parser (`request_from_params`).

    `known` maps each facet to its valid slugs (unknown ones are dropped); None accepts any
    well-formed slug.
    """
    return request_from_params(_raw_params(query_string), known or {})


def canonical_items(request: SearchRequest) -> list[tuple[str, str]]:
    """The query-string items of a search, in the library's canonical order (text,
    sections, facets, years, sort), without page nor page size (`query_items`)."""
    return query_items(replace(request, q=request.q.strip()), paging=False)


def encode(request: SearchRequest) -> str:
    """The canonical query string of a search ("" for the whole library)."""
    return urlencode(canonical_items(request))


def normalise(query_string: str, known: Mapping[str, set[str]] | None = None) -> str:
    """Return the canonical form of a `/fiches` query string; "" is the whole library.

    Raises `FollowError` when the result would be longer than `MAX_QUERY_CHARS`.
    """
    normalised = encode(request_of(query_string, known))
    if len(normalised) > MAX_QUERY_CHARS:
        raise FollowError(TOO_LONG)
    return normalised


def is_whole_library(request: SearchRequest) -> bool:
    """Whether a search keeps every published fiche (no text, filter nor years)."""
    return (
        not request.q.strip()
        and not request.filters
        and request.year_min is None
        and request.year_max is None
    )


def label(request: SearchRequest, labels: Labels) -> str:
    """A French name of a search: « « compost » · Thèmes : Jardins partagés »."""
    parts: list[str] = []
    if request.q.strip():
        parts.append(f"« {' '.join(request.q.split())} »")
    if request.sections:
        headings = ", ".join(SECTION_BY_KEY[key].heading for key in request.sections)
        parts.append(f"dans : {headings}")
    for facet in SLUG_FACETS:
        values = request.filters.get(facet, [])
        if values:
            names = " ou ".join(labels.get(facet, {}).get(v, v) for v in values)
            parts.append(f"{FACET_LABELS.get(facet, facet)} : {names}")
    years = year_filter_label(request.year_min, request.year_max)
    if years:
        parts.append(f"{FACET_LABELS[YEAR_FACET]} : {years}")
    text = strip_controls(" · ".join(parts)) or WHOLE_LIBRARY
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def search_path(query: str) -> str:
    """The site path of a followed search's library page."""
    return f"{LIBRARY_PATH}?{query}" if query else LIBRARY_PATH


def feed_path(query: str) -> str:
    """The site path of a followed search's Atom feed."""
    return f"{FEED_PATH}?{query}" if query else FEED_PATH


def label_of(query: str, labels: Labels) -> str:
    """The French name of a stored (normalised) query string."""
    return label(request_of(query), labels)


def display_label(followed: FollowedSearch, labels: Labels) -> str:
    """The one name a followed search is shown under, on /suivis and in the digests.

    Rebuilt with the current facet labels (`labels`) when they name every facet value of
    its query, so that a renamed term shows its new name; otherwise (no labels at hand, or
    a value removed since) the label stored when it was followed, which still names the
    removed value as it was rather than by its slug.
    """
    if labels:
        request = request_of(followed.query)
        if all(
            value in labels.get(facet, {})
            for facet, values in request.filters.items()
            for value in values
        ):
            return label(request, labels)
    return followed.label or label_of(followed.query, {})


# --- Following -------------------------------------------------------------------------------


def follow(
    session: Session, user: User, query: str, *, labels: Labels | None = None
) -> tuple[FollowedSearch, bool]:
    """Follow the search of a `/fiches` query string; return it and whether it is new.

    Idempotent: the same search (once normalised) is followed once. `labels` (facet →
    slug → label) drops unknown slugs and names the search. At most `MAX_FOLLOWED` per
    account (`FollowError` beyond). Adds to the session's transaction (`write_session`).
    """
    assert user.id is not None, "a signed-in account is stored"
    known = {facet: set(values) for facet, values in labels.items()} if labels else None
    request = request_of(query, known)
    normalised = encode(request)
    if len(normalised) > MAX_QUERY_CHARS:
        raise FollowError(TOO_LONG)
    # Lock the account's row: two follows at once neither pass the limit nor collide.
    session.execute(select(User.id).where(User.id == user.id).with_for_update()).first()
    existing = session.execute(
        select(FollowedSearch).where(
            FollowedSearch.user_id == user.id, FollowedSearch.query == normalised
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    count = session.execute(
        select(func.count()).select_from(FollowedSearch).where(FollowedSearch.user_id == user.id)
    ).scalar_one()
    if count >= MAX_FOLLOWED:
        raise FollowError(TOO_MANY, kind=Kind.TOO_MANY)
    now = utcnow()
    followed = FollowedSearch(
        user_id=user.id,
        query=normalised,
        label=label(request, labels or {}),
        created_at=now,
        visited_at=now,
        digest_at=now,
    )
    session.add(followed)
    session.flush()
    return followed, True


def unfollow(session: Session, user: User, followed_id: int) -> bool:
    """Stop following one of the account's searches; False if it is not one of its own."""
    found = session.get(FollowedSearch, followed_id)
    if found is None or found.user_id != user.id:
        return False
    session.delete(found)
    return True


def list_for(session: Session, user: User) -> list[FollowedSearch]:
    """The account's followed searches, oldest first."""
    return list(
        session.execute(
            select(FollowedSearch)
            .where(FollowedSearch.user_id == user.id)
            .order_by(col(FollowedSearch.created_at), col(FollowedSearch.id))
        ).scalars()
    )


# --- What is new -----------------------------------------------------------------------------


def index_in_step(index: SearchIndex, wait: float = INDEX_WAIT_SECONDS) -> bool:
    """Whether the index has applied the journal as it is now (catching up if it can)."""
    deadline = time.monotonic() + wait
    try:
        head = index.latest_journal_id()
        while index.applied_id() < head:
            if time.monotonic() > deadline:
                return False
            # Applies the entries if no other process is applying them (its writer lock).
            index.catch_up(timeout=0.2)
            time.sleep(0.05)
    except IndexUnavailable:
        return False
    return True


def published_between(
    session: Session, since: datetime, until: datetime | None = None
) -> list[NewFiche]:
    """The published fiches first published in (since, until], oldest first."""
    stmt = (
        core_select(  # six columns: more than sqlmodel's typed `select` takes
            col(WriteUp.slug),
            col(WriteUp.title),
            col(Regie.name),
            col(WriteUp.summary),
            col(WriteUp.first_published_at),
            col(WriteUp.published_at),
        )
        .outerjoin(Regie, col(WriteUp.regie_id) == Regie.id)
        .where(col(WriteUp.status) == "published", col(WriteUp.first_published_at) > since)
        .order_by(col(WriteUp.first_published_at), col(WriteUp.id))
    )
    if until is not None:
        stmt = stmt.where(col(WriteUp.first_published_at) <= until)
    return [NewFiche(*row) for row in session.execute(stmt).all()]


def _matching_slugs(
    search: SearchService, request: SearchRequest, dates: Mapping[str, date | None]
) -> set[str]:
    """Which fiches of `dates` (slug → publication date) the search finds.

    Its results are read page by page, newest first, until every wanted fiche is seen or
    the results have gone past the oldest of those still missing.
    """
    wanted = set(dates)
    found: set[str] = set()
    page = 1
    while True:
        paged = replace(request, sort="recent", page=page, page_size=SEARCH_PAGE_SIZE, notices=[])
        results = search.search(paged, quiet=True)
        if results.unavailable:
            raise SearchUnavailable(SEARCH_UNAVAILABLE)
        found.update(hit.slug for hit in results.hits if hit.slug in wanted)
        if found == wanted or len(results.hits) < SEARCH_PAGE_SIZE:
            return found
        if page * SEARCH_PAGE_SIZE >= results.total:
            return found
        last = results.hits[-1].published_at
        missing = wanted - found
        if last is not None and all(_after(dates[slug], last) for slug in missing):
            return found  # sorted by date: the missing ones would have come already
        page += 1


def _after(value: date | None, last: date) -> bool:
    return value is not None and value > last


def matching_new(
    search: SearchService,
    query: str,
    since: datetime,
    until: datetime | None = None,
    *,
    candidates: Sequence[NewFiche] | None = None,
) -> list[NewFiche]:
    """The published fiches first published in (since, until] that the followed search
    `query` finds, oldest first.

    The window's fiches come from the database (or `candidates`, already read, filtered
    here by the window); the search index says which of them match, the query being read
    with the facet values /fiches knows (`SearchService.known`). Raises
    `SearchUnavailable` when the index cannot answer (nothing must be skipped then).
    """
    if candidates is None:
        with read_session(search.engine) as session:
            window = published_between(session, since, until)
    else:
        window = [
            c
            for c in candidates
            if c.first_published_at > since and (until is None or c.first_published_at <= until)
        ]
    if not window:
        return []
    # Read as /fiches reads its URL: a facet value removed or renamed since is ignored,
    # the rest of the search still counts.
    request = request_of(query, search.known())
    if is_whole_library(request):
        return window
    found = _matching_slugs(search, request, {f.slug: f.published_at for f in window})
    return [fiche for fiche in window if fiche.slug in found]
