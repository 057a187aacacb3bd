"""The access log: one line per HTTP request, with method, path, status and duration.

The path is logged as sent (percent-encoded), never with the query string, and a segment
holding a secret token is masked (under a root path too: `route_path`); no client address,
cookie or e-mail is written (the security log, `auth`, records the addresses of failed
sign-ins). The line's time and worker pid come from the format (`resource_centre.logs`).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resource_centre.logs import ACCESS_LOGGER

MAX_PATH_CHARS = 300
# Path segments that carry a secret (contract section 10): logged as "…". The
# unsubscription token holds the address it unsubscribes.
SECRET_PREFIXES = ("/mot-de-passe/", "/invitation/", "/desabonnement/")

access_log = logging.getLogger(ACCESS_LOGGER)


def route_path(scope: Scope) -> str:
    """The path the routes see: `scope["path"]` without the application's root path
    (uvicorn --root-path /centre puts it in front of the path, as ASGI says)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


def loggable_path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoded: one field, no forged line), without
    the query string; a secret token masked, a very long path cut."""
    path = route_path(scope)  # decoded: what the router matched
    for prefix in SECRET_PREFIXES:
        if path.startswith(prefix):
            root = scope["path"][: len(scope["path"]) - len(path)]
            return quote(root) + prefix + "…"
    raw: bytes | None = scope.get("raw_path")
    text = raw.partition(b"?")[0].decode("ascii", "backslashreplace") if raw else quote(path)
    if len(text) > MAX_PATH_CHARS:
        text = text[:MAX_PATH_CHARS] + "…"
    if not text.isprintable() or " " in text:
        text = text.encode("unicode_escape").decode("ascii").replace(" ", "%20")
    return text


class AccessLogMiddleware:
    """Pure ASGI: one INFO line per HTTP request once its response is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the application fails before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            access_log.info(
                "%s %s %d %.1f ms",
                scope["method"], loggable_path(scope), status, elapsed,
            )  # fmt: skip
