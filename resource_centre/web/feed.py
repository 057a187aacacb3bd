"""The Atom feed (`/flux.atom`): the newest fiches, or those of a library search.

Without search parameters the feed lists the newest published fiches. With the parameters of
`/fiches` (contract §6: `q`, `section`, the facets, `year_min`, `year_max`, `sort`), it lists
the fiches `/fiches` shows for them, in the same order, up to `FEED_ENTRIES`: each followed
search is a feed any reader can subscribe to. Parameters are parsed by the library's parser:
unknown values are ignored as on `/fiches`; `page` and `page_size` are not the feed's.
The route itself is in `web/library.py` (name "feed").
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, time
from typing import Any

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from sqlmodel import Session, col, select

from resource_centre import following
from resource_centre.models import Regie, WriteUp
from resource_centre.search.service import SearchService
from resource_centre.web.urls import absolute_url_for, site_origin

FEED_ENTRIES = 50
FEED_TITLE = "Centre de ressources du Mouvement des Régies : nouvelles fiches"
SEARCH_TITLE = "Centre de ressources du Mouvement des Régies : {label}"
UNAVAILABLE = "La recherche est momentanément indisponible : réessayez dans quelques minutes."
RETRY_SECONDS = 60
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Drop the characters XML 1.0 forbids (the feed must stay well-formed)."""
    return _XML_INVALID.sub("", text)


def rfc3339(value: datetime) -> str:
    """An Atom date: "2024-09-15T08:00:00Z"."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _aware(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _newest(session: Session) -> list[Any]:
    return list(
        session.execute(
            select(WriteUp, Regie)
            .outerjoin(Regie, col(WriteUp.regie_id) == Regie.id)
            .where(WriteUp.status == "published")
            .order_by(
                col(WriteUp.published_at).desc(),
                col(WriteUp.updated_at).desc(),
                col(WriteUp.id).desc(),
            )
            .limit(FEED_ENTRIES)
        ).all()
    )


def _in_order(session: Session, slugs: list[str]) -> list[Any]:
    """The published fiches of `slugs` (with their Régie), in the order of `slugs`."""
    if not slugs:
        return []
    rows = session.execute(
        select(WriteUp, Regie)
        .outerjoin(Regie, col(WriteUp.regie_id) == Regie.id)
        .where(WriteUp.status == "published", col(WriteUp.slug).in_(slugs))
    ).all()
    by_slug = {writeup.slug: (writeup, regie) for writeup, regie in rows}
    return [by_slug[slug] for slug in slugs if slug in by_slug]


def _entry(request: Request, origin: str, writeup: WriteUp, regie: Regie | None) -> dict[str, Any]:
    updated = _aware(writeup.updated_at)
    published = (
        datetime.combine(writeup.published_at, time(), tzinfo=UTC)
        if writeup.published_at
        else updated
    )
    return {
        "title": xml_text(writeup.title),
        "summary": xml_text(writeup.summary),
        "themes": writeup.themes,
        "author": xml_text(regie.name) if regie else None,
        "url": absolute_url_for(request, "fiche", slug=writeup.slug, origin=origin),
        "published": rfc3339(published),
        "updated": rfc3339(max(updated, published)),
        "updated_at": max(updated, published),
    }


def feed_response(
    request: Request, session: Session, search: SearchService, params: dict[str, list[str]]
) -> Response:
    """The Atom document of the newest fiches, or of the search `params` describe."""
    origin = site_origin(request)  # once: the same for every link
    wanted = search.parse(params)
    query = following.encode(wanted)
    labels = search.labels()
    home_url = absolute_url_for(request, "home", origin=origin)
    if not query:
        rows = _newest(session)
        title, alternate = FEED_TITLE, home_url
    else:
        results = search.search(replace(wanted, page=1, page_size=FEED_ENTRIES), quiet=True)
        if results.unavailable:
            return PlainTextResponse(
                UNAVAILABLE, status_code=503, headers={"Retry-After": str(RETRY_SECONDS)}
            )
        rows = _in_order(session, [hit.slug for hit in results.hits])
        title = SEARCH_TITLE.format(label=following.label(wanted, labels))
        alternate = f"{absolute_url_for(request, 'library', origin=origin)}?{query}"
    entries = [_entry(request, origin, writeup, regie) for writeup, regie in rows]
    feed_updated = max((e["updated_at"] for e in entries), default=datetime(2024, 1, 1, tzinfo=UTC))
    feed_url = absolute_url_for(request, "feed", origin=origin)
    context = {
        "entries": entries,
        "updated": rfc3339(feed_updated),
        "feed_url": f"{feed_url}?{query}" if query else feed_url,
        "feed_title": xml_text(title),
        "home_url": home_url,
        "alternate_url": alternate,
        "labels": labels,
    }
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "library/feed.xml",
        context,
        media_type="application/atom+xml; charset=utf-8",
    )
