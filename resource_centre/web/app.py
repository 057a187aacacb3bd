"""The application factory: middleware, routers, error handlers (`web.errors`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from resource_centre import dates
from resource_centre.config import Settings
from resource_centre.db import make_engine
from resource_centre.mail_sender import MailSender
from resource_centre.radar import SearchLogWriter
from resource_centre.search.indexer import SearchIndex
from resource_centre.search.service import SearchService
from resource_centre.search.sync import IndexSync
from resource_centre.storage import StorageUnavailable, open_store
from resource_centre.taxonomy import year_range_label
from resource_centre.web import (
    accounts,
    api,
    api_docs,
    contribute,
    curate,
    facet_page,
    follow_pages,
    glossary_pages,
    library,
    mail_pages,
    notify_pages,
    password_pages,
)
from resource_centre.web.access_log import AccessLogMiddleware
from resource_centre.web.errors import install_error_handlers
from resource_centre.web.inputs import InputCleaningMiddleware
from resource_centre.web.security import (
    HSTS,
    SECURITY_HEADERS,
    AllowedHostsMiddleware,
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
)
from resource_centre.web.sessions import SessionMiddleware, csrf_protect
from resource_centre.web.urls import template_path_for

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent.parent
# An installed wheel carries the templates inside the package (setup.py maps them there); a
# source checkout (editable install, tests) keeps them in the repository's top-level templates/.
TEMPLATES_DIR = next(
    (d for d in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates") if d.is_dir()),
    PACKAGE_DIR / "templates",
)
STATIC_DIR = PACKAGE_DIR / "static"
MAX_BODY_BYTES = 1024 * 1024  # larger only on the attachment route


def make_templates(timezone: ZoneInfo = ZoneInfo("Europe/Paris")) -> Jinja2Templates:
    """Jinja2 with autoescape on for every template, whatever its extension; the date filters
    (`date`, `datetime`, `iso`: `dates.py`) show times in `timezone`."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["path_for"] = template_path_for
    env.globals["year_range_label"] = year_range_label
    env.filters.update(dates.filters(timezone))
    return Jinja2Templates(env=env)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for `settings` (read from the environment when None)."""
    settings = settings or Settings()
    settings.secret_key  # noqa: B018 - refuses to start without a key on PostgreSQL
    attachment_store = open_store(settings)  # a malformed RESOURCE_CENTRE_S3_URL stops here
    engine = make_engine(settings.database_url)
    index = SearchIndex(settings.index_dir, engine)
    sync = IndexSync(index, poll_seconds=settings.index_poll_seconds, gc_freeze=settings.gc_freeze)
    search_log = SearchLogWriter(engine, retention_days=settings.log_retention_days)
    search = SearchService(engine, index, log=search_log)
    mail_sender = MailSender(engine, settings)  # sends the outbox (one sender at a time)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            index.ensure()
            index.catch_up(timeout=5)
        except Exception:  # the site still serves; the sync thread retries
            log.exception("index not ready at start-up")
        try:
            if await to_thread.run_sync(attachment_store.ensure):
                log.info("attachment storage created: %s", attachment_store.location)
        except StorageUnavailable:  # the library still serves; attachments answer 503
            log.exception("attachment storage not ready at start-up")
        sync.start()
        mail_sender.start()
        # Requests run in a thread pool, but one process computes on one core (the GIL):
        # measured at 10,000 fiches, 20 clients on two workers, 4 threads instead of
        # anyio's 40 served 179 requests/s instead of 108, p95 240 ms instead of 411, and a
        # publication was visible in 0.96 s instead of 2.0 s (the sync thread gets its turn).
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        try:
            yield
        finally:
            mail_sender.stop()
            sync.stop()
            search.close()
            search_log.stop()
            engine.dispose()

    app = FastAPI(
        title="Centre de ressources — API",
        description="Fiches de capitalisation du Mouvement des Régies (lecture seule).",
        version="1.0",
        docs_url=None,  # web.api_docs serves /api/docs from our own files
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        dependencies=[Depends(csrf_protect)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.index = index
    app.state.sync = sync
    app.state.mail_sender = mail_sender
    app.state.search = search
    app.state.search_log = search_log
    app.state.attachments = attachment_store
    app.state.templates = make_templates(settings.timezone)
    app.add_middleware(SessionMiddleware, settings=settings, engine=engine)
    app.add_middleware(InputCleaningMiddleware)  # inside the body limit: reads bounded bodies
    app.add_middleware(
        BodyLimitMiddleware, limit=MAX_BODY_BYTES, upload_limit=contribute.MAX_UPLOAD_BODY,
        upload_paths=contribute.UPLOAD_PATHS,
    )  # fmt: skip
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(AllowedHostsMiddleware, hosts=settings.accepted_hosts)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(AccessLogMiddleware)  # outermost: times the whole request
    # Outside even that: client address and scheme from a trusted proxy's X-Forwarded-For
    # and -Proto, for every layer (uvicorn's own middleware; `serve` leaves it off there).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(library.router)
    app.include_router(facet_page.router)
    app.include_router(api.router)
    api_docs.install(app)  # /api/docs, its files, the API-only OpenAPI document
    app.include_router(accounts.router)
    app.include_router(contribute.router)
    app.include_router(curate.router)
    app.include_router(glossary_pages.router)
    app.include_router(mail_pages.router)
    app.include_router(notify_pages.router)
    app.include_router(password_pages.router)
    app.include_router(follow_pages.router)
    install_error_handlers(app, headers=SECURITY_HEADERS, hsts=HSTS)
    return app
