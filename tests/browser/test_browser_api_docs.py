"""`/api/docs` in a real browser under the site's CSP: the interactive docs render and work
with every file from the app itself (no CDN: many servers have no internet), no inline code,
no CSP violation and no console error."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

# Recorded by the page itself: Chromium fires this event for each resource or inline code the
# CSP blocks (the console shows them too, and `page` fails on any console error).
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
OPERATIONS = {
    "/api/writeups",
    "/api/writeups/{slug}",
    "/api/suggest",
    "/api/taxonomy",
    "/api/regies",
    "/api/health",
}


def record_requests(page: Any) -> list[str]:
    """Every URL the page requests, from the moment this is called."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    return requested


def foreign(urls: list[str], base: str) -> list[str]:
    """The URLs whose origin is not the app's (`data:` images are not requests out)."""
    origin = urlsplit(base)[:2]
    return [url for url in urls if not url.startswith("data:") and urlsplit(url)[:2] != origin]


def test_api_docs_render_offline_under_the_csp(page: Any, live_server: str) -> None:
    from playwright.sync_api import expect

    requested = record_requests(page)
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    response = page.goto("/api/docs")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "default-src 'self'" in csp

    # The operations list, from /openapi.json: only the API's routes.
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible(timeout=15_000)
    assert set(operations.all_inner_texts()) == OPERATIONS
    expect(page.locator(".api-docs-fallback")).to_have_count(0)

    # Expand the search: its parameters are typed (integers, `sort` an enum).
    search = page.locator(".opblock", has=page.locator('[data-path="/api/writeups"]'))
    search.locator(".opblock-summary").click()
    rows = search.locator("tr[data-param-name]")
    expect(rows.first).to_be_visible()
    page_row = search.locator('tr[data-param-name="page"]')
    expect(page_row.locator(".parameter__type")).to_contain_text("integer")
    sort_row = search.locator('tr[data-param-name="sort"]')
    expect(sort_row).to_contain_text("Available values : relevance, recent, title")

    # Try it out with the example values: the request goes to the app and finds the fiche.
    search.get_by_role("button", name="Try it out").click()
    expect(sort_row.locator("select")).to_have_value("relevance")
    search.get_by_role("button", name="Execute").click()
    answer = search.locator(".responses-table.live-responses-table")
    expect(answer.locator("tbody .response-col_status")).to_have_text("200", timeout=15_000)
    expect(answer).to_contain_text("laverie-solidaire-quartier-des-tilleuls")

    # The schemas (Swagger UI styles them from script, which the CSP allows: no inline style).
    page.locator("section.models .models-control").click()
    model = page.locator("section.models article[data-json-schema-level='0']").filter(
        has=page.locator(".json-schema-2020-12__title", has_text="WriteUpSummary")
    )
    model.get_by_role("button", name="Expand all").click()
    expect(model).to_contain_text("year_start")

    assert page.evaluate("window.cspViolations") == []
    assert foreign(requested, live_server) == []
    paths = {urlsplit(url).path for url in requested}
    assert {"/api/docs/assets/swagger-ui-bundle.js", "/static/api-docs.js"} <= paths
    assert "/openapi.json" in paths and "/api/writeups" in paths
    # The `page` fixture then checks that the console had no error.
