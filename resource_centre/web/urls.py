"""Named routes: the one way to write a URL of the site in Python code and in templates.

`path_for(request, "login")` gives "/connexion" (a path, not an absolute URL, so it stays
right behind a proxy); extra keyword arguments fill the route's path parameters and `query`
adds a query string. Templates call `path_for("login", ...)` (the request is taken from the
template context).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.requests import HTTPConnection


def path_for(
    request: HTTPConnection,
    name: str,
    /,
    *,
    query: Mapping[str, Any] | None = None,
    **params: Any,
) -> str:
    """The path of route `name` (with the app's root path), plus `query` if given."""
    path = request.scope.get("root_path", "") + str(request.app.url_path_for(name, **params))
    pairs = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
    return f"{path}?{urlencode(pairs, doseq=True)}" if pairs else path


@pass_context
def template_path_for(
    context: Context, name: str, /, *, query: Mapping[str, Any] | None = None, **params: Any
) -> str:
    """`path_for` for templates: `{{ path_for("login") }}`."""
    return path_for(context["request"], name, query=query, **params)
