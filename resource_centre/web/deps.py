"""Request dependencies: settings, database sessions, the search index, templates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel import Session

from resource_centre.config import Settings
from resource_centre.db import read_session
from resource_centre.search.indexer import IndexSync, SearchIndex
from resource_centre.web.searching import SearchService


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with read_session(request.app.state.engine) as session:
        yield session


def get_index(request: Request) -> SearchIndex:
    return request.app.state.index


def get_sync(request: Request) -> IndexSync:
    return request.app.state.sync


def get_search(request: Request) -> SearchService:
    return request.app.state.search


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
IndexDep = Annotated[SearchIndex, Depends(get_index)]
SearchDep = Annotated[SearchService, Depends(get_search)]


def current_user(request: Request) -> Any:
    """The signed-in user, or None (set by the session middleware of the accounts issue)."""
    return getattr(request.state, "user", None)


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Any:
    """Render a page with the shared context (the request, the current user…)."""
    templates = request.app.state.templates
    context = {"current_user": current_user(request), **context}
    return templates.TemplateResponse(request, template, context, status_code=status_code)
