"""Security headers and request ids, as one pure ASGI middleware (cheap on every request),
the request body limit, the `Host` check and the origin unsafe requests must come from.

Behind a reverse proxy, `create_app` puts uvicorn's `ProxyHeadersMiddleware` outside all of
these: the client address and scheme of a request from a trusted proxy
(RESOURCE_CENTRE_FORWARDED_ALLOW_IPS) are those it forwards, so everything here (HSTS, the
origin, `Secure` cookies, sign-in limits) sees the browser's, never the proxy's.
"""

from __future__ import annotations

import logging
import re
import secrets
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resource_centre.config import host_name
from resource_centre.web.errors import error_response
from resource_centre.web.urls import site_origin

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'; img-src 'self' data:"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=31536000; includeSubDomains"
HOST_REFUSED = "Ce site ne répond pas à cette adresse."
DEFAULT_PORTS = {"http": 80, "https": 443}


class SecurityHeadersMiddleware:
    """Adds the security headers and an `X-Request-Id` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        https = scope.get("scheme") == "https"  # HSTS only where the browser will honour it

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if https:
                    headers["Strict-Transport-Security"] = HSTS
                headers["X-Request-Id"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuses request bodies over a size limit with the French 413 page (or JSON).

    Uploads (multipart posts to `upload_paths`) get the larger limit. A declared
    Content-Length over the limit is refused before anything is read; a body sent in chunks
    is counted as it arrives and stopped at the limit.
    """

    def __init__(
        self, app: ASGIApp, *, limit: int, upload_limit: int, upload_paths: re.Pattern[str]
    ) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if self.upload_paths.fullmatch(scope["path"]) else self.limit
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (
            not declared.isdigit() or len(declared) > 15 or int(declared) > limit
        ):
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(Request(scope, receive), 413)
        await response(scope, receive, send)


class AllowedHostsMiddleware:
    """Answers 400 (the French error page) to a request whose `Host` is not an accepted name,
    or not a name at all (`host_name` gives "" for `name:@other`, `[::1]x`, `name:x`…).

    Placed inside `SecurityHeadersMiddleware`, so the refusal carries the security headers
    and a request id like every other error; "*" among the names accepts any host.
    """

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.any_host = "*" in hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any_host:
            await self.app(scope, receive, send)
            return
        host = next((v for k, v in scope["headers"] if k == b"host"), b"").decode("latin-1")
        if host_name(host) in self.hosts:
            await self.app(scope, receive, send)
            return
        log.warning("request refused: Host %r is not in RESOURCE_CENTRE_ALLOWED_HOSTS", host[:100])
        response = error_response(Request(scope, receive), 400, HOST_REFUSED)
        await response(scope, receive, send)


def normal_origin(scheme: str, netloc: str) -> str:
    """`scheme://host[:port]` as browsers write it in `Origin`: lower case, default port
    left out."""
    scheme, netloc = scheme.lower(), netloc.lower()
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port
    except ValueError:
        return f"{scheme}://{netloc}"
    if port is not None and port == DEFAULT_PORTS.get(scheme):
        netloc = netloc.rsplit(":", 1)[0]
    return f"{scheme}://{netloc}"


def own_origin(request: Request) -> str:
    """The origin the site's own forms are posted from: RESOURCE_CENTRE_BASE_URL's when set,
    otherwise the request's scheme and `Host` (as forwarded by a trusted proxy)."""
    parts = urlsplit(site_origin(request))
    return normal_origin(parts.scheme, parts.netloc)


def same_origin(request: Request, origin: str) -> bool:
    """Is the `Origin` header value the site's own origin?"""
    parts = urlsplit(origin.strip())
    if not parts.scheme or not parts.netloc:
        return False  # "null" (sandboxed or privacy-sensitive contexts) and anything else
    return normal_origin(parts.scheme, parts.netloc) == own_origin(request)
