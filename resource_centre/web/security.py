"""Security headers and request ids, as one pure ASGI middleware (cheap on every request),
and the request body limit."""

from __future__ import annotations

import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resource_centre.web.errors import error_response

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
