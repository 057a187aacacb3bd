"""Per-request session loading, CSRF protection and flash messages.

`SessionMiddleware` puts `user` and the CSRF binding in `request.state`; `csrf_protect` is
a dependency of the whole application, so every unsafe request is checked by default.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
from fastapi import HTTPException, Request
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection, cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resource_centre.auth import (
    ANON_COOKIE,
    SESSION_COOKIE,
    csrf_token,
    csrf_valid,
    load_session,
)
from resource_centre.config import Settings
from resource_centre.errors import DomainError
from resource_centre.web.access_log import loggable_path, route_path
from resource_centre.web.errors import is_api_path
from resource_centre.web.inputs import form_media_type, holds_nul
from resource_centre.web.security import same_origin
from resource_centre.web.urls import path_for

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FLASH_COOKIE = "rc_flash"
CSRF_ERROR = "Le formulaire a expiré ou ne vient pas de ce site. Rechargez la page et réessayez."
# Every form with a NUL (U+0000) anywhere, however it was sent (chunked, with a file part, in
# a charset that spells NUL without the byte): no person types it, and PostgreSQL refuses it.
NUL_REFUSED = (
    "Le formulaire contient un caractère nul (U+0000), qu'aucun champ n'accepte : rien n'a été "
    "enregistré. Revenez à la page précédente, retirez ce caractère et envoyez à nouveau."
)
# Reachable without signing in when the library is private (PUBLIC_READ=false): the
# paths of these named routes, and everything under them.
OPEN_ROUTES = ("login_form", "static", "health")
# Pages reached from an e-mail by someone not signed in, even in a private library:
# password reset (/mot-de-passe-oublie, /mot-de-passe/{token}), invitations, and the
# one-click unsubscription. Literal prefixes: their routes carry a token.
OPEN_PREFIXES = ("/mot-de-passe", "/invitation/", "/desabonnement/")
# Form limits (the attachment route's body limit is larger, its files count capped here).
FORM_MAX_FILES = 15
FORM_MAX_FIELDS = 400
FORM_MAX_PART = 200_000


def _cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies, parsed leniently as browsers do (Starlette's parser): a
    malformed cookie set by another application of the domain spoils none of the others."""
    headers = [value for name, value in scope.get("headers", []) if name == b"cookie"]
    # HTTP/2 clients may split the cookies over several headers.
    return cookie_parser("; ".join(value.decode("latin-1") for value in headers))


def sign_in_path(connection: HTTPConnection, target: str) -> str:
    """The sign-in page, coming back to the local path `target` afterwards."""
    return f"{path_for(connection, 'login_form')}?next={quote(target)}"


def cookie_header(
    name: str, value: str, *, secure: bool, max_age: int | None = None, http_only: bool = True
) -> str:
    parts = [f"{name}={value}", "Path=/", "SameSite=Lax"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


class SessionMiddleware:
    """Loads the server-side session of each HTTP request."""

    def __init__(self, app: ASGIApp, *, settings: Settings, engine: Engine) -> None:
        self.app = app
        self.settings = settings
        self.engine = engine
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.max_age = timedelta(hours=settings.session_max_hours)
        self._open_paths: tuple[str, ...] | None = None

    def open_paths(self, connection: HTTPConnection) -> tuple[str, ...]:
        """The route paths (without the root path) of `OPEN_ROUTES` and `OPEN_PREFIXES`
        (looked up once: routes do not change)."""
        if self._open_paths is None:
            app = connection.app
            self._open_paths = (
                tuple(
                    str(app.url_path_for(name, path="/"))
                    if name == "static"
                    else str(app.url_path_for(name))
                    for name in OPEN_ROUTES
                )
                + OPEN_PREFIXES
            )
        return self._open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        token = cookies.get(SESSION_COOKIE)
        info = None
        if token:
            info = await anyio.to_thread.run_sync(
                lambda: load_session(self.engine, token, idle=self.idle, max_age=self.max_age)
            )
        secure = scope.get("scheme") == "https"
        set_cookies: list[str] = []
        if token and info is None:
            set_cookies.append(cookie_header(SESSION_COOKIE, "", secure=secure, max_age=0))
        anon = cookies.get(ANON_COOKIE, "")
        path = scope.get("path", "")  # with the root path, for the way back after sign-in
        routed = route_path(scope)  # without it, as the routes and the prefixes below
        if not (16 <= len(anon) <= 64 and anon.replace("-", "").replace("_", "").isalnum()):
            anon = ""
            # A visitor's forms are bound to this cookie; the JSON API has no forms, and
            # its clients get no cookie.
            if info is None and not is_api_path(routed):
                anon = secrets.token_urlsafe(24)
                set_cookies.append(cookie_header(ANON_COOKIE, anon, secure=secure))
        state = scope.setdefault("state", {})
        state["user"] = info.user if info else None
        state["session_info"] = info
        state["session_token"] = token if info else None
        binding = f"s:{info.csrf_secret}" if info else (f"a:{anon}" if anon else None)
        state["csrf_binding"] = binding  # pages make their token from it (`page_csrf_token`)

        connection = HTTPConnection(scope)
        if (
            info is None
            and not self.settings.public_read
            and not any(routed.startswith(p) for p in self.open_paths(connection))
        ):
            response: Response
            if is_api_path(routed):
                response = JSONResponse({"detail": "Connexion requise."}, status_code=401)
            else:
                target = path + (
                    ("?" + scope["query_string"].decode("latin-1"))
                    if scope.get("query_string")
                    else ""
                )
                response = RedirectResponse(sign_in_path(connection, target), status_code=303)
            for header in set_cookies:
                response.headers.append("set-cookie", header)
            await response(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for header in set_cookies:
                    headers.append("set-cookie", header)
                if info is not None:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_wrapper)


# One-click unsubscription (RFC 8058): a mail client POSTs to the link of a message's
# List-Unsubscribe header without cookie or form token; the signed token in the path is
# the whole authority, and the action (stop e-mails to that address) is harmless.
CSRF_EXEMPT_PREFIX = "/desabonnement/"


def page_csrf_token(request: Request) -> str:
    """A CSRF token for the forms of a page (made when a page is rendered, not for every
    request: an API answer or a redirect needs none)."""
    binding = getattr(request.state, "csrf_binding", None)
    if not binding:
        return ""
    return csrf_token(request.app.state.settings.secret_key, binding)


async def csrf_protect(request: Request) -> AsyncIterator[None]:
    """Refuse an unsafe request without the session's token or from another site (403).

    The parsed form (shared with the route) is closed after the response, so uploaded
    files never outlive their request.
    """
    if request.method in SAFE_METHODS or route_path(request.scope).startswith(CSRF_EXEMPT_PREFIX):
        yield
        return
    settings: Settings = request.app.state.settings
    reason = None
    form = None
    if request.headers.get("sec-fetch-site") == "cross-site":
        reason = "cross-site fetch"
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(request, origin):
        reason = f"foreign origin {origin[:100]!r}"
    token = request.headers.get("x-csrf-token")
    if reason is None and form_media_type(request.headers.get("content-type", "")):
        # Parsed here whatever carries the token (the route gets this same parsed form):
        # the NUL check below must see every form, chunked or with files, in any charset.
        try:
            form = await request.form(
                max_files=FORM_MAX_FILES,
                max_fields=FORM_MAX_FIELDS,
                max_part_size=FORM_MAX_PART,
            )
        except StarletteHTTPException:  # the body limit's 413 too (not FastAPI's class)
            raise
        except Exception as exc:
            raise HTTPException(400) from exc
        if token is None:
            value = form.get("csrf_token")
            token = value if isinstance(value, str) else None
    if reason is None and not csrf_valid(
        settings.secret_key, getattr(request.state, "csrf_binding", None), token
    ):
        reason = "missing or wrong token"
    try:
        if reason:
            path = loggable_path(request.scope)  # percent-encoded: no forged log line
            log.warning("CSRF rejection on %s %s: %s", request.method, path, reason)
            raise HTTPException(403, CSRF_ERROR)
        if form is not None and holds_nul(form.multi_items()) and not _reports_nul_itself(request):
            raise DomainError(NUL_REFUSED)
        yield
    finally:
        if form is not None:
            await form.close()


_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def reports_nul_itself(endpoint: _Endpoint) -> _Endpoint:
    """Mark a route whose form answers a NUL itself (the fiche form: 422, the text kept)."""
    endpoint.reports_nul_itself = True  # type: ignore[attr-defined]  # a function attribute
    return endpoint


def _reports_nul_itself(request: Request) -> bool:
    return bool(getattr(request.scope.get("endpoint"), "reports_nul_itself", False))


# --- Flash messages: a short signed cookie, read once -------------------------------------


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), b"flash:" + payload, hashlib.sha256).hexdigest()[:32]


def set_flash(response: Response, request: Request, message: str, kind: str = "success") -> None:
    payload = base64.urlsafe_b64encode(json.dumps([kind, message]).encode()).decode()
    secret = request.app.state.settings.secret_key
    response.set_cookie(
        FLASH_COOKIE, f"{payload}.{_sign(secret, payload.encode())}", httponly=True,
        samesite="lax", secure=request.url.scheme == "https", max_age=60,
    )  # fmt: skip


def pop_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    payload, signature = raw.rsplit(".", 1)
    secret = request.app.state.settings.secret_key
    if not hmac.compare_digest(_sign(secret, payload.encode()), signature):
        return None
    try:
        kind, message = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except Exception:
        return None
    return {"kind": str(kind), "message": str(message)}
