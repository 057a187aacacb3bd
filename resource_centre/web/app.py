"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from resource_centre.config import Settings
from resource_centre.db import make_engine
from resource_centre.search.indexer import IndexSync, SearchIndex
from resource_centre.web import accounts, api, contribute, curate, library
from resource_centre.web.inputs import InputCleaningMiddleware
from resource_centre.web.searching import SearchService
from resource_centre.web.security import (
    HSTS,
    SECURITY_HEADERS,
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
)
from resource_centre.web.sessions import SessionMiddleware, csrf_protect
from resource_centre.web.urls import template_path_for

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR.parent / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
MAX_BODY_BYTES = 1024 * 1024  # larger only on the attachment route

FRAMEWORK_STATUSES = frozenset({400, 405, 413})
ERROR_MESSAGES = {
    400: ("Requête invalide", "La requête n'a pas pu être comprise."),
    403: ("Accès refusé", "Vous n'avez pas le droit d'accéder à cette page."),
    404: ("Page introuvable", "Cette page n'existe pas ou n'est pas publiée."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible sur cette page."),
    409: ("Conflit", "Cette action n'est plus possible : la page a changé entre-temps."),
    413: ("Envoi trop volumineux", "Les données envoyées dépassent la taille autorisée."),
    422: ("Données invalides", "Certaines valeurs envoyées ne sont pas valides."),
    429: ("Trop de tentatives", "Réessayez dans quelques minutes."),
    500: ("Erreur du serveur", "Une erreur inattendue s'est produite ; elle a été enregistrée."),
}


def make_templates() -> Jinja2Templates:
    """Jinja2 with autoescape on for every template, whatever its extension."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["path_for"] = template_path_for
    return Jinja2Templates(env=env)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for `settings` (read from the environment when None)."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    index = SearchIndex(settings.index_dir, engine)
    sync = IndexSync(index, poll_seconds=settings.index_poll_seconds)
    search = SearchService(engine, index, retention_days=settings.log_retention_days)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            index.ensure()
            index.catch_up(timeout=5)
        except Exception:  # the site still serves; the sync thread retries
            log.exception("index not ready at start-up")
        sync.start()
        try:
            yield
        finally:
            sync.stop()
            search.log.stop()
            engine.dispose()

    app = FastAPI(
        title="Centre de ressources — API",
        description="Fiches de capitalisation du Mouvement des Régies (lecture seule).",
        version="1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        dependencies=[Depends(csrf_protect)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.index = index
    app.state.sync = sync
    app.state.search = search
    app.state.templates = make_templates()
    app.add_middleware(SessionMiddleware, settings=settings, engine=engine)
    app.add_middleware(InputCleaningMiddleware)  # inside the body limit: reads bounded bodies
    app.add_middleware(
        BodyLimitMiddleware, limit=MAX_BODY_BYTES, upload_limit=contribute.MAX_UPLOAD_BODY,
        upload_paths=contribute.UPLOAD_PATHS,
    )  # fmt: skip
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(library.router)
    app.include_router(api.router)
    app.include_router(accounts.router)
    app.include_router(contribute.router)
    app.include_router(curate.router)
    _install_error_handlers(app)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def error_response(request: Request, status: int, detail: str | None = None) -> Response:
    """A French error page, or JSON `{"detail": …}` under /api/; never a trace."""
    title, message = ERROR_MESSAGES.get(status, ERROR_MESSAGES[500 if status >= 500 else 400])
    if _wants_json(request):
        return JSONResponse({"detail": detail or message}, status_code=status)
    request_id = getattr(request.state, "request_id", "")
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "errors/error.html",
        {"status": status, "title": title, "message": detail or message, "request_id": request_id},
        status_code=status,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if 300 <= exc.status_code < 400 and exc.headers and "Location" in exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=exc.status_code)
        # Our details are French; the frameworks' (status phrase, form and body limits) are
        # English, so they are replaced by the French message of the status.
        detail = exc.detail if isinstance(exc.detail, str) else None
        if detail == HTTPStatus(exc.status_code).phrase or exc.status_code in FRAMEWORK_STATUSES:
            detail = None
        response = error_response(request, exc.status_code, detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if errors and all(e.get("loc", ("",))[0] == "path" for e in errors):
            return error_response(request, 404)  # /…/pieces-jointes/99999999999: no such page
        return error_response(request, 422)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error (request %s)", getattr(request.state, "request_id", "?"),
                  exc_info=exc)  # fmt: skip
        response = error_response(request, 500)
        # Starlette answers this one from its outermost middleware, outside ours: the
        # security headers and the request id are added here.
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = HSTS
        response.headers["X-Request-Id"] = getattr(request.state, "request_id", "")
        return response
