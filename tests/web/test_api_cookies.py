"""API clients get no cookie; pages still bind their forms to one (issue 11)."""

from __future__ import annotations

import re


def test_the_json_api_sets_no_cookie_and_pages_still_get_a_form_token(client):
    api = client.get("/api/writeups?q=jardin")
    assert api.status_code == 200 and "set-cookie" not in api.headers
    page = client.get("/connexion")
    assert "rc_anon=" in page.headers["set-cookie"]
    tokens = re.findall(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert tokens and all(len(t) == 128 for t in tokens)
