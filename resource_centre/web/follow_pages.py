"""« Mes recherches suivies »: `/suivis`, following a search, no longer following it.

`GET /suivis` lists the account's followed searches, each with what was first published
since the last visit that it finds; the visit then becomes the last one. What is new ends
`following.SETTLE` before the visit, which is stamped at that end: a publication still
committing during a visit is new at the next one, never lost. `POST /suivis`
follows the search of a `/fiches` query string (field `query`), from the « Suivre cette
recherche » button of the library (303 to /suivis; a search that cannot be followed: the
page again, 422, with the error and the search kept); `POST /suivis/{id}/supprimer` stops
following one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import update
from sqlmodel import col

from resource_centre import following
from resource_centre.db import read_session, write_session
from resource_centre.following import (
    FollowError,
    NewFiche,
    SearchUnavailable,
    feed_path,
    index_in_step,
    search_path,
)
from resource_centre.models import FollowedSearch, User, utcnow
from resource_centre.search.service import SearchService
from resource_centre.text import strip_controls
from resource_centre.web.deps import DbId, SearchDep, UserDep, render
from resource_centre.web.sessions import set_flash
from resource_centre.web.urls import path_for

router = APIRouter()

NEW_SHOWN = 20  # new fiches listed per followed search (the others are counted)
FOLLOWED = (
    "Recherche suivie : ses nouvelles fiches apparaîtront ici et dans votre résumé de la semaine."
)
ALREADY = "Vous suivez déjà cette recherche."
UNFOLLOWED = "Vous ne suivez plus cette recherche."
NOT_FOUND = "Cette recherche suivie n’existe pas (ou plus)."
NOT_FOLLOWED = "La recherche « {search} » n’a pas pu être suivie : {reason}"
SHOWN_QUERY_CHARS = 200  # of a search that could not be followed, quoted in the error


def _fiche(fiche: NewFiche) -> dict[str, Any]:
    return {
        "slug": fiche.slug,
        "title": fiche.title,
        "regie_name": fiche.regie_name,
        "summary": fiche.summary,
        "first_published_at": fiche.first_published_at,
    }


@router.get("/suivis", name="follows")
def follows_page(request: Request, user: UserDep, search: SearchDep) -> Any:
    """The account's followed searches, with what is new since its last visit."""
    return _page(request, user, search)


def _page(
    request: Request,
    user: User,
    search: SearchService,
    *,
    refused: dict[str, str] | None = None,
) -> Response:
    """/suivis: 200 (the visit is stamped), or 422 with `refused` (the search that could not
    be followed and why; nothing is stamped: the failed POST changes nothing)."""
    engine = request.app.state.engine
    # What is new ends a little before now, and the visit is stamped at that end: a fiche
    # stamped published before it but still committing now is new at the next visit.
    until = utcnow() - following.SETTLE
    with read_session(engine) as session:
        followed = following.list_for(session, user)
        since = min((f.visited_at for f in followed), default=until)
        candidates = following.published_between(session, since, until) if since < until else []
    labels = search.labels()
    items = []
    unavailable = False
    for item in followed:
        new: list[NewFiche] = []
        if not unavailable:
            try:
                new = following.matching_new(
                    search, item.query, item.visited_at, until, candidates=candidates
                )
            except SearchUnavailable:
                unavailable = True
        newest_first = list(reversed(new))
        items.append(
            {
                "id": item.id,
                "label": following.display_label(item, labels),
                "search_url": search_path(item.query),
                "feed_url": feed_path(item.query),
                "visited_at": item.visited_at,
                "created_at": item.created_at,
                "new": [_fiche(f) for f in newest_first[:NEW_SHOWN]],
                "new_count": len(new),
            }
        )
    # What was shown is no longer new, unless the index has not caught up with the journal
    # yet: a fiche published a moment ago would then be skipped for good.
    stamp = refused is None and not unavailable
    if followed and stamp and (not candidates or index_in_step(search.index, wait=0)):
        with write_session(engine) as session:
            session.execute(
                update(FollowedSearch)
                .where(
                    col(FollowedSearch.user_id) == user.id,
                    col(FollowedSearch.id).in_([f.id for f in followed]),
                    col(FollowedSearch.visited_at) < until,  # never back in time
                )
                .values(visited_at=until)
            )
    context = {
        "items": items,
        "unavailable": following.SEARCH_UNAVAILABLE if unavailable else None,
        "max_followed": following.MAX_FOLLOWED,
        "refused": refused,
    }
    status = 200 if refused is None else 422
    return render(request, "library/follows.html", context, status_code=status)


def _back(request: Request, message: str) -> Response:
    response = RedirectResponse(path_for(request, "follows"), status_code=303)
    set_flash(response, request, message)
    return response


def _refused(query: str, error: FollowError, labels: following.Labels) -> dict[str, str]:
    """What /suivis says of a search that could not be followed: its name when it can be
    read (else the query string as it came, shortened), the reason, and a link back to it
    (its library page has the « Suivre cette recherche » button)."""
    raw = strip_controls(query).strip()
    try:
        request = following.request_of(raw)
    except FollowError:  # unreadable or far too long: quote it as it came
        request = None
    if request is not None:
        shown, search_url = following.label(request, labels), search_path(following.encode(request))
    else:
        shown = " ".join(raw.split())
        shown = shown if len(shown) <= SHOWN_QUERY_CHARS else shown[: SHOWN_QUERY_CHARS - 1] + "…"
        search_url = ""
    return {
        "message": NOT_FOLLOWED.format(search=shown, reason=error.message),
        "search_url": search_url,
    }


@router.post("/suivis", name="follow")
def follow_search(
    request: Request,
    user: UserDep,
    search: SearchDep,
    query: Annotated[str, Form()] = "",
) -> Response:
    """Follow the search of a `/fiches` query string (idempotent). One that cannot be
    followed (too long, unreadable, too many followed): /suivis again, 422, the error
    and the search kept (`following.follow` bounds what it parses)."""
    labels = search.labels()
    try:
        with write_session(request.app.state.engine) as session:
            _, created = following.follow(session, user, query, labels=labels)
    except FollowError as exc:
        return _page(request, user, search, refused=_refused(query, exc, labels))
    return _back(request, FOLLOWED if created else ALREADY)


@router.post("/suivis/{followed_id}/supprimer", name="unfollow")
def unfollow_search(request: Request, user: UserDep, followed_id: DbId) -> Response:
    """Stop following one of the account's searches (another's: 404)."""
    with write_session(request.app.state.engine) as session:
        if not following.unfollow(session, user, followed_id):
            raise HTTPException(404, NOT_FOUND)
    return _back(request, UNFOLLOWED)
