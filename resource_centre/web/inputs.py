"""Control characters and oversized numbers stopped at the edge, before any handler.

PostgreSQL refuses a NUL in text and both databases refuse integers beyond their columns:
without this, such input reached the database and answered 500. One pure ASGI middleware
cleans what every route receives:

- a path holding a control character is no page of ours: a French 404;
- query strings lose their C0 control characters except tab, line feed and carriage return
  (and DEL), then go on: searches and filters answer 200 (the attack files' queries, NUL
  included, must); so do form bodies (urlencoded, and multipart without files), except a
  form holding a NUL, which goes on whole: `web.sessions.csrf_protect` parses every form
  and refuses it (no person types U+0000, so nothing they send is silently changed).

Multipart bodies with files or over 1 MiB (the fiche form with attachments) stream on
untouched; the fiche form strips its text fields itself (`web.forms`). Numbers are bounded where they are parsed
(`parse_id`, `DbId`, `FormId`, `QueryId` in `web.deps`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resource_centre.text import CONTROL, strip_controls
from resource_centre.web.errors import error_response

# A control character in a query string or urlencoded body: raw, or percent-encoded.
_ENCODED_CONTROL = re.compile(
    rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|%(?:0[0-8bcBC]|1[0-9a-fA-F]|7[fF])"
)
_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
MAX_MULTIPART_CLEANED = 1024 * 1024  # larger multipart bodies (uploads) stream on untouched


def form_media_type(content_type: str) -> str:
    """The form media type of a Content-Type header ("" for any other), compared as HTTP
    says (case-insensitive, parameters and spaces ignored), as Starlette parses it."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media if media in (_URLENCODED, _MULTIPART) else ""


def holds_nul(fields: Iterable[tuple[str, Any]]) -> bool:
    """Does a field name or text value of a form hold a NUL (U+0000)?"""
    return any(
        "\x00" in name or (isinstance(value, str) and "\x00" in value) for name, value in fields
    )


def _clean_pairs(pairs: list[tuple[str, str]]) -> bytes:
    cleaned = [(strip_controls(k), strip_controls(v)) for k, v in pairs]
    return urlencode(cleaned).encode("ascii")


def clean_query_string(raw: bytes) -> bytes:
    """The query string without control characters (unchanged bytes when there are none)."""
    if not _ENCODED_CONTROL.search(raw):
        return raw
    return _clean_pairs(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


class InputCleaningMiddleware:
    """Strips control characters from query strings and form fields (a form holding a NUL
    is left whole, for the CSRF check to refuse); 404 for a path holding one.

    Must sit inside the body-size limit: a form body is read whole before it is cleaned.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if CONTROL.search(scope["path"]):
            await error_response(Request(scope, receive), 404)(scope, receive, send)
            return
        scope["query_string"] = clean_query_string(scope.get("query_string", b""))
        headers = Headers(scope=scope)
        content_type = form_media_type(headers.get("content-type", ""))
        length = headers.get("content-length", "")
        small = (
            length.isascii() and length.isdigit() and len(length) <= 12
            and int(length) <= MAX_MULTIPART_CLEANED
        )  # fmt: skip
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or not (
            content_type == _URLENCODED or (content_type == _MULTIPART and small)
        ):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except HTTPException as exc:  # the body limit (413), met while reading a chunked body
            await error_response(Request(scope, receive), exc.status_code)(scope, receive, send)
            return
        pairs: list[tuple[str, str]] | None = None
        if not _ENCODED_CONTROL.search(body):
            pass  # nothing to clean: the body goes on as it came
        elif content_type == _URLENCODED:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        else:
            pairs = await _multipart_text_fields(scope, body)
        if pairs is not None and not holds_nul(pairs):  # a NUL: left for csrf_protect
            body = _clean_pairs(pairs)
            _set_header(scope, b"content-type", _URLENCODED.encode())
            _set_header(scope, b"content-length", str(len(body)).encode())
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when the client goes away

    return replay


async def _multipart_text_fields(scope: Scope, body: bytes) -> list[tuple[str, str]] | None:
    """The fields of a multipart form of text fields only (to be re-encoded as urlencoded).

    None (the body goes on unchanged) when it holds a file or does not parse: the route's
    own parsing then answers as it always does.
    """

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(Headers(scope=scope), stream()).parse()
    except Exception:
        return None
    try:
        items = form.multi_items()
        if any(isinstance(value, UploadFile) for _, value in items):
            return None
        return [(name, str(value)) for name, value in items]
    finally:
        await form.close()


def _set_header(scope: Scope, name: bytes, value: bytes) -> None:
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k != name] + [(name, value)]
