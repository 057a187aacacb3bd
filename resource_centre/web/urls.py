"""Named routes: the one way to write a URL of the site in Python code and in templates.

`path_for(request, "login")` gives "/connexion" (a path, not an absolute URL, so it stays
right behind a proxy); extra keyword arguments fill the route's path parameters and `query`
adds a query string. Templates call `path_for("login", ...)` (the request is taken from the
template context).

Absolute URLs (feeds, API, canonical links, e-mails) come from `absolute_url_for`: they start
with RESOURCE_CENTRE_BASE_URL when it is set, so a client's `Host` header (accepted with
ALLOWED_HOSTS=* or among several names) never finds its way into a published link.
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


def site_origin(request: HTTPConnection) -> str:
    """`scheme://host[:port]` of absolute links: RESOURCE_CENTRE_BASE_URL when set, otherwise
    the request's scheme and `Host` (as forwarded by a trusted proxy). Cheap: call it once per
    request when building many links."""
    base_url: str | None = request.app.state.settings.base_url
    if base_url:
        return base_url
    url = request.url
    return f"{url.scheme}://{url.netloc}"


def absolute_url_for(
    request: HTTPConnection,
    name: str,
    /,
    *,
    origin: str | None = None,
    query: Mapping[str, Any] | None = None,
    **params: Any,
) -> str:
    """The absolute URL of route `name`: `site_origin` (or `origin` if given) + `path_for`."""
    return (origin or site_origin(request)) + path_for(request, name, query=query, **params)


@pass_context
def template_path_for(
    context: Context, name: str, /, *, query: Mapping[str, Any] | None = None, **params: Any
) -> str:
    """`path_for` for templates: `{{ path_for("login") }}`."""
    return path_for(context["request"], name, query=query, **params)
