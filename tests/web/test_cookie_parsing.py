"""Malformed cookies set by other applications of the domain do not sign the user out.

The former parser (http.cookies.SimpleCookie) stopped at the first malformed cookie: the
session cookie sent after one was lost (the "session-among-others" case failed).
"""

from __future__ import annotations

import pytest

from resource_centre.auth import SESSION_COOKIE
from tests.web.conftest import csrf_of

# What other applications on the same domain may leave in the browser's Cookie header.
MALFORMED = [
    'foo="bar; x=y\\"',  # an unterminated quoted value holding a semicolon
    "a b=c",  # a space in the name
    "=novalue",  # no name
    "",  # an empty item (";;")
    "",
    "justaname",
    "café=crème",  # non-ASCII, sent as UTF-8
    'quoted="a\\"b"',
    "x=1=2",
]


def cookie_header(session_token: str, *, first: bool) -> bytes:
    session = f"{SESSION_COOKIE}={session_token}"
    items = [session, *MALFORMED] if first else [*MALFORMED[:3], session, *MALFORMED[3:]]
    return "; ".join(items).encode("utf-8")


@pytest.mark.parametrize("first", [True, False], ids=["session-first", "session-among-others"])
def test_a_signed_in_user_stays_signed_in_despite_malformed_cookies(client, login_as, first):
    user = login_as("contributor")
    token = client.cookies.get(SESSION_COOKIE)
    assert token
    client.cookies.clear()  # only the raw header below is sent
    headers = {"cookie": cookie_header(token, first=first)}

    page = client.get("/mon-compte", headers=headers, follow_redirects=False)
    assert page.status_code == 200, page.headers.get("location")
    assert user.email in page.text

    # The form token bound to the session is read from the same header: a POST passes.
    out = client.post(
        "/deconnexion",
        data={"csrf_token": csrf_of(page.text)},
        headers=headers,
        follow_redirects=False,
    )
    assert out.status_code == 303 and out.headers["location"] == "/"
    client.cookies.clear()
    # Signed out now: the same header no longer opens the account page.
    again = client.get("/mon-compte", headers=headers, follow_redirects=False)
    assert again.status_code == 303 and "/connexion" in again.headers["location"]


def test_a_header_of_only_malformed_cookies_is_a_visitor_not_an_error(client):
    client.cookies.clear()
    headers = {"cookie": "; ".join(MALFORMED).encode("utf-8")}
    page = client.get("/connexion", headers=headers)
    assert page.status_code == 200 and "Se connecter" in page.text
