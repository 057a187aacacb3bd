"""Behind a real nginx terminating TLS: `serve --workers 2` as the systemd unit starts it.

Issue 12: behind an https proxy every form was refused (403: the app saw http while the
browser sent `Origin: https://…`), the proxy's address was every user's (ten failed sign-ins
from anyone locked everybody out), cookies never had `Secure`, and nothing checked `Host`.

Clients connect from distinct loopback addresses (127.0.0.2, .3, …) while nginx reaches the
app from 127.0.0.1, the only trusted proxy: the address the app counts is visibly the
client's, not the proxy's.
"""

from __future__ import annotations

import re
import socket
import ssl

import httpx2 as httpx
import pytest
from sqlalchemy import select

from resource_centre.auth import ADDRESS_MAX_FAILURES
from resource_centre.db import make_engine, read_session
from resource_centre.models import LoginAttempt
from tests.deploy.conftest import CONTRIBUTOR, CURATOR, PASSWORD, Stack, set_cookies

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n" + b"%" + b"0" * (3 * 1024 * 1024) + b"\n%%EOF\n"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{128})"')


def browser_headers(stack: Stack) -> dict[str, str]:
    """What a browser adds to a form it posts to the site it shows."""
    return {"Origin": stack.public, "Sec-Fetch-Site": "same-origin"}


def token_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1)


def sign_in(client, stack: Stack, email: str, password: str, **headers: str):
    page = client.get(f"{stack.public}/connexion")
    assert page.status_code == 200, page.text
    return client.post(
        f"{stack.public}/connexion",
        data={"email": email, "password": password, "csrf_token": token_of(page.text)},
        headers={**browser_headers(stack), **headers},
    )


def attempts(stack: Stack) -> list[tuple[str, str, bool]]:
    engine = make_engine(stack.database_url)
    try:
        with read_session(engine) as session:
            rows = session.execute(
                select(LoginAttempt.email, LoginAttempt.address, LoginAttempt.success)
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]


def test_sign_in_submit_upload_sign_out_over_https(stack: Stack):
    with stack.client("127.0.0.4") as client:
        page = client.get(f"{stack.public}/connexion")
        assert page.http_version == "HTTP/1.1"  # (this client has no HTTP/2; see below)
        assert page.headers["strict-transport-security"].startswith("max-age=")  # https seen
        assert "Secure" in set_cookies(page)["rc_anon"]

        signed_in = sign_in(client, stack, CONTRIBUTOR, PASSWORD)
        assert signed_in.status_code == 303, signed_in.text  # was 403 before issue 12
        cookies = set_cookies(signed_in)
        assert "; Secure" in cookies["rc_session"] and "; Secure" in cookies["rc_flash"]

        form = client.get(f"{stack.public}/contribuer")
        assert form.status_code == 200
        fields = {"csrf_token": token_of(form.text), "action": "save",
                  "title": "Une laverie solidaire derrière nginx"}  # fmt: skip
        form_token = re.search(r'name="form_token" value="([^"]+)"', form.text)
        if form_token:
            fields["form_token"] = form_token.group(1)
        # 3 MiB: over nginx's default body limit (1 MiB), under the example's 102m.
        saved = client.post(
            f"{stack.public}/contribuer", data=fields, headers=browser_headers(stack),
            files=[("attachments", ("compte-rendu.pdf", PDF, "application/pdf"))],
        )  # fmt: skip
        assert saved.status_code == 303, saved.text[:2000]
        edit = client.get(f"{stack.public}{saved.headers['location']}")
        assert edit.status_code == 200
        link = re.search(r'href="(/fiches/[^"]+/pieces-jointes/\d+)"', edit.text)
        assert link, "the attachment is not listed on the edit page"
        download = client.get(f"{stack.public}{link.group(1)}")
        assert download.status_code == 200 and download.content == PDF

        signed_out = client.post(
            f"{stack.public}/deconnexion", data={"csrf_token": token_of(edit.text)},
            headers=browser_headers(stack),
        )  # fmt: skip
        assert signed_out.status_code == 303
        cleared = set_cookies(signed_out)["rc_session"]
        assert "Max-Age=0" in cleared and "; Secure" in cleared
        assert client.get(f"{stack.public}/contribuer").status_code == 303  # signed out


def test_sign_in_limits_count_the_client_not_the_proxy(stack: Stack):
    # An attacker at 127.0.0.2 guesses the curator's password, each time claiming another
    # address in X-Forwarded-For: nginx replaces it with the one it sees.
    with stack.client("127.0.0.2") as attacker:
        for i in range(ADDRESS_MAX_FAILURES):
            wrong = sign_in(attacker, stack, CURATOR, "pas le bon", **{
                "X-Forwarded-For": f"198.51.100.{i}"})  # fmt: skip
            assert wrong.status_code == 422, wrong.text[:500]
        blocked = sign_in(attacker, stack, CURATOR, PASSWORD, **{"X-Forwarded-For": "1.2.3.4"})
        assert blocked.status_code == 429 and "Trop de tentatives" in blocked.text
    # The curator, elsewhere, is not locked out by the attacker (before issue 12 every
    # client was the proxy's 127.0.0.1).
    with stack.client("127.0.0.3") as curator:
        assert sign_in(curator, stack, CURATOR, PASSWORD).status_code == 303
    seen = [(address, success) for email, address, success in attempts(stack) if email == CURATOR]
    assert seen == [("127.0.0.2", False)] * ADDRESS_MAX_FAILURES + [("127.0.0.3", True)]


def test_forwarded_headers_sent_straight_to_serve_are_not_believed(stack: Stack):
    # 127.0.0.5 is not a trusted proxy: its X-Forwarded-* headers change nothing.
    forged = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    with stack.client("127.0.0.5") as client:
        page = client.get(f"{stack.direct}/connexion", headers=forged)
        assert page.status_code == 200
        assert "strict-transport-security" not in page.headers
        assert "Secure" not in set_cookies(page)["rc_anon"]
        wrong = client.post(
            f"{stack.direct}/connexion", headers=forged,
            data={"email": "inconnu@exemple.org", "password": "x",
                  "csrf_token": token_of(page.text)},
        )  # fmt: skip
        assert wrong.status_code == 422
    assert ("inconnu@exemple.org", "127.0.0.5", False) in attempts(stack)
    assert not any(address == "203.0.113.7" for _, address, _ in attempts(stack))


def tls_handshake(stack: Stack, server_name: str | None) -> None:
    """A TLS handshake with nginx, sending `server_name` as SNI (None: no SNI)."""
    context = ssl.create_default_context(cafile=str(stack.cert))
    context.check_hostname = False  # the point is what nginx does with the name
    with (
        socket.create_connection(("127.0.0.1", stack.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name),
    ):
        pass


def test_a_foreign_host_is_refused(stack: Stack):
    # nginx's default server: no certificate for another name or none (a scanner trying
    # addresses), and no answer at all to another `Host` (return 444).
    tls_handshake(stack, "localhost")
    for name in ("evil.example", None):
        with pytest.raises(ssl.SSLError):
            tls_handshake(stack, name)
    with stack.client("127.0.0.6") as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"{stack.public}/fiches", headers={"Host": "evil.example"})
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"http://127.0.0.1:{stack.http_port}/", headers={"Host": "evil.example"})
        # The app's own check, for a name that reaches it another way.
        direct = client.get(f"{stack.direct}/api/writeups", headers={"Host": "evil.example"})
        assert direct.status_code == 400 and direct.json()["detail"]
        assert client.get(f"{stack.public}/fiches").status_code == 200


def test_http2_and_the_redirect_to_https(stack: Stack):
    context = ssl.create_default_context(cafile=str(stack.cert))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", stack.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
    with stack.client("127.0.0.6") as client:
        plain = client.get(f"http://localhost:{stack.http_port}/fiches?q=jardin")
        assert plain.status_code == 301
        assert plain.headers["location"] == "https://localhost/fiches?q=jardin"
