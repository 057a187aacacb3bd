"""The interactive API documentation (`/api/docs`), served from the app itself.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script: both are
blocked by our CSP (`default-src 'self'`, no inline code), and many servers have no internet.
Here Swagger UI's files come from the `fastapi-offline` package (a pinned dependency that
ships them, MIT and Apache-2.0), mounted under `ASSETS_PATH`; the page is our template
`api_docs.html` and Swagger UI is started by our own file `static/api-docs.js`.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from resource_centre.web.api import openapi_document

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")  # swagger-ui-bundle.js, swagger-ui.css

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH, response_class=HTMLResponse, name="swagger_ui_html")
def api_docs(request: Request) -> HTMLResponse:
    """The Swagger UI page: no inline script, every file from this site."""
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, "api_docs.html", {"openapi_url": request.app.openapi_url}
    )
    return response


def install(app: FastAPI) -> None:
    """Serve the docs page, Swagger UI's files and the API-only OpenAPI document on `app`.

    Create `app` with `docs_url=None` and `redoc_url=None` (FastAPI's pages are replaced).
    """
    app.openapi = partial(openapi_document, app)  # type: ignore[method-assign]  # FastAPI's documented way to replace the document
    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="swagger_ui_assets")
    app.include_router(router)
