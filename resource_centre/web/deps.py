"""Request dependencies: settings, database sessions, the search index, templates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from resource_centre.db import read_session
from resource_centre.models import User
from resource_centre.search.indexer import SearchIndex
from resource_centre.search.service import SearchService
from resource_centre.web.sessions import (
    FLASH_COOKIE,
    page_csrf_token,
    pop_flash,
    set_flash,
    sign_in_path,
)


def get_session(request: Request) -> Iterator[Session]:
    with read_session(request.app.state.engine) as session:
        yield session


# `async` although they do not wait: FastAPI runs a plain `def` dependency in the thread pool,
# a hop per request for an attribute look-up (a fifth of a cached search's time).
async def get_index(request: Request) -> SearchIndex:
    return request.app.state.index


async def get_search(request: Request) -> SearchService:
    return request.app.state.search


# Row ids fit PostgreSQL's INTEGER (int4); larger numbers never name a row, and reaching the
# database with them answered 500 (int4 overflow; SQLite overflows at 2**63).
MAX_DB_ID = 2**31 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]  # a path id out of range: French 404
FormId = Annotated[int, Form(ge=0, le=MAX_DB_ID)]  # out of range: French 422
QueryId = Annotated[int | None, Query(ge=1, le=MAX_DB_ID)]


def parse_id(text: object, *, highest: int = MAX_DB_ID) -> int | None:
    """A non-negative integer written in ASCII digits, at most `highest`; otherwise None.

    `str.isdigit()` accepts "²" and other digits `int()` refuses or reads (Arabic-Indic):
    only 0-9 count here, and the length is checked before converting.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > 10 or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= highest else None


SessionDep = Annotated[Session, Depends(get_session)]
IndexDep = Annotated[SearchIndex, Depends(get_index)]
SearchDep = Annotated[SearchService, Depends(get_search)]


def current_user(request: Request) -> Any:
    """The signed-in user, or None (set by the session middleware of the accounts issue)."""
    return getattr(request.state, "user", None)


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Any:
    """Render a page with the shared context: current user, CSRF token, flash message."""
    templates = request.app.state.templates
    flash = pop_flash(request)
    context = {
        "current_user": current_user(request),
        "csrf_token": page_csrf_token(request),
        "flash": flash,
        "messages": [flash["message"]] if flash else [],
        **context,
    }
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def require_user(request: Request) -> User:
    """The signed-in user; others are sent to the sign-in page."""
    user = current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": sign_in_path(request, target)})
    return user


def require_curator(request: Request) -> User:
    user = require_user(request)
    if user.role not in ("curator", "admin"):
        raise HTTPException(403)
    return user


def require_admin(request: Request) -> User:
    user = require_user(request)
    if user.role != "admin":
        raise HTTPException(403)
    return user


UserDep = Annotated[User, Depends(require_user)]
CuratorDep = Annotated[User, Depends(require_curator)]
AdminDep = Annotated[User, Depends(require_admin)]


def done(request: Request, url: str, message: str) -> Any:
    """After a successful change: wake the index sync, then 303 to `url` with a flash."""
    request.app.state.sync.notify()
    response = RedirectResponse(url, status_code=303)
    set_flash(response, request, message)
    return response
