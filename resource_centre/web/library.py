"""Public pages of the library (placeholder home until the library issue)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from resource_centre.web.deps import SessionDep, render
from resource_centre.writeups import count_fiches

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> HTMLResponse:
    published = count_fiches(session, status="published")
    return render(request, "library/home.html", {"published": published})


@router.get("/fiches/{slug}", response_class=HTMLResponse, name="fiche")
def fiche(request: Request, slug: str, session: SessionDep) -> HTMLResponse:
    from fastapi import HTTPException

    from resource_centre.writeups import get_by_slug

    writeup = get_by_slug(session, slug)
    if writeup is None or writeup.status != "published":
        raise HTTPException(404)
    return render(request, "library/home.html", {"published": 1})
