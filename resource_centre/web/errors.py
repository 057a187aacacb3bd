"""HTTP errors: the one place that maps `resource_centre.errors.Kind` to statuses.

`error_response` gives the French error page, or JSON `{"detail": …}` under `/api/`, never a
trace. `install_error_handlers` (called by `app.create_app`) makes a `DomainError` that
escapes a route such a response, with the status of its kind; framework errors (404, 405,
the body limit, validation) get the same pages with French messages.

Routes that re-display a form with the error next to a field choose the status with
`form_status(exc.kind)` and the field with `exc.field`, never from the message text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from types import MappingProxyType

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from resource_centre.errors import DomainError, Kind

log = logging.getLogger(__name__)

# The status of an error that ends the request (an API call, a page that cannot be shown).
STATUS_BY_KIND = MappingProxyType(
    {
        Kind.INVALID: 400,
        Kind.NOT_FOUND: 404,
        Kind.FORBIDDEN: 403,
        Kind.CONFLICT: 409,
        Kind.TOO_MANY: 429,
        Kind.TOO_LARGE: 413,
        Kind.TOO_SLOW: 503,
        Kind.UNAVAILABLE: 503,
    }
)
# The status of a form shown again with the error next to a field, everything typed kept:
# what the user typed must change (invalid, too large, too slow to render) is 422 (contract
# §5); other kinds keep their status (too many attempts 429, the server busy 503...).
_FORM_INPUT_KINDS = frozenset({Kind.INVALID, Kind.TOO_LARGE, Kind.TOO_SLOW})

# Framework errors whose English details are replaced by the French message of the status.
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
    503: ("Service indisponible", "Ce service est momentanément indisponible ; réessayez."),
}


def status_for(kind: Kind) -> int:
    """The HTTP status of an error of `kind` that ends the request."""
    return STATUS_BY_KIND[kind]


def form_status(kind: Kind) -> int:
    """The status of a form re-displayed because of an error of `kind` (422 for bad input)."""
    return 422 if kind in _FORM_INPUT_KINDS else STATUS_BY_KIND[kind]


def is_api_path(path: str) -> bool:
    """API paths answer errors in JSON; pages in French HTML."""
    return path.startswith("/api/") or path == "/openapi.json"


def wants_json(request: Request) -> bool:
    return is_api_path(request.url.path)


def error_response(request: Request, status: int, detail: str | None = None) -> Response:
    """A French error page, or JSON `{"detail": …}` under /api/; never a trace."""
    title, message = ERROR_MESSAGES.get(status, ERROR_MESSAGES[500 if status >= 500 else 400])
    if wants_json(request):
        return JSONResponse({"detail": detail or message}, status_code=status)
    request_id = getattr(request.state, "request_id", "")
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "errors/error.html",
        {"status": status, "title": title, "message": detail or message, "request_id": request_id},
        status_code=status,
    )


def install_error_handlers(app: FastAPI, *, headers: Mapping[str, str], hsts: str) -> None:
    """Register the handlers that turn every error into `error_response`.

    `headers` (and `hsts` over https) are added to the 500 response, which Starlette sends
    from outside every middleware; `web.security` defines them (it imports this module, so
    they are passed in rather than imported).
    """

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        # The message is French and meant for the user; an empty one gives the status's.
        return error_response(request, status_for(exc.kind), exc.message or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if 300 <= exc.status_code < 400 and exc.headers and "Location" in exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=exc.status_code)
        # Our details are French; the frameworks' (status phrase, form and body limits) are
        # English, so they are replaced by the French message of the status.
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
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
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = hsts
        response.headers["X-Request-Id"] = getattr(request.state, "request_id", "")
        return response
