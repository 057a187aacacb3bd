"""Host check and reverse-proxy headers, in process (the real nginx: tests/deploy).

The app applies uvicorn's proxy-headers middleware itself with
RESOURCE_CENTRE_FORWARDED_ALLOW_IPS, so Starlette's test client, given a peer address,
shows what a trusted and an untrusted peer can make the app believe.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from starlette.testclient import TestClient

from resource_centre.auth import ANON_COOKIE
from resource_centre.config import Settings, host_name
from resource_centre.db import read_session
from resource_centre.models import LoginAttempt
from resource_centre.web.app import create_app
from tests.web.conftest import build_settings, csrf_of

PROXY = ("127.0.0.1", 40000)  # the default RESOURCE_CENTRE_FORWARDED_ALLOW_IPS
STRANGER = ("192.0.2.10", 40000)
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}
ORIGIN = {"Origin": "https://testserver"}


def attempt_addresses(app) -> list[str]:
    with read_session(app.state.engine) as session:
        return list(session.execute(select(LoginAttempt.address)).scalars())


def failed_sign_in(client: TestClient, headers: dict[str, str]):
    """A wrong password posted with the visitor cookie and token of the sign-in page.

    The cookie is sent by hand: over the test client's plain http the cookie jar would keep
    back a `Secure` cookie, which the browser behind an https proxy does send.
    """
    client.cookies.clear()  # a new visitor: the page gives a new cookie
    page = client.get("/connexion", headers=headers)
    anon = re.search(rf"{ANON_COOKIE}=([^;]+)", page.headers["set-cookie"])
    assert anon, page.headers
    return client.post(
        "/connexion",
        data={
            "email": "personne@exemple.org",
            "password": "faux",
            "csrf_token": csrf_of(page.text),
        },
        headers={**headers, "Cookie": f"{ANON_COOKIE}={anon.group(1)}"},
        follow_redirects=False,
    )


def client_from(app, peer: tuple[str, int], **options) -> TestClient:
    return TestClient(app, client=peer, raise_server_exceptions=False, **options)


def test_a_foreign_host_gets_a_french_400_with_the_security_headers(app):
    with client_from(app, PROXY) as client:
        page = client.get("/fiches", headers={"Host": "evil.example"})
        assert page.status_code == 400
        assert "Ce site ne répond pas à cette adresse." in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-request-id"]
        assert "set-cookie" not in page.headers  # refused before any session is looked at
        api = client.get("/api/writeups", headers={"Host": "evil.example:8000"})
        assert api.status_code == 400
        assert api.json() == {"detail": "Ce site ne répond pas à cette adresse."}
        refused = client.post("/connexion", headers={"Host": "evil.example"})
        assert refused.status_code == 400
        # The names of the tests' settings, whatever the case, port or final dot.
        for host in ("testserver", "LOCALHOST:8000", "[::1]:8000", "127.0.0.1", "localhost."):
            assert client.get("/fiches", headers={"Host": host}).status_code == 200, host


def test_default_hosts_are_base_urls_and_loopback_only(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("RESOURCE_CENTRE_ALLOWED_HOSTS", raising=False)
    assert Settings().accepted_hosts == {"localhost", "127.0.0.1", "::1"}
    settings = build_settings(tmp_path, base_url="https://Centre.Example/")
    assert settings.base_url == "https://centre.example"
    assert settings.accepted_hosts == {"centre.example", "localhost", "127.0.0.1", "::1"}
    listed = Settings(allowed_hosts=" a.example, B.example:443 ,", base_url="https://c.example")
    assert listed.accepted_hosts == {"a.example", "b.example", "c.example"}  # no loopback
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/fiches").status_code == 400  # "testserver" is not a default
        assert client.get("/fiches", headers={"Host": "centre.example"}).status_code == 200
    anything = build_settings(tmp_path / "any", allowed_hosts="*")
    with TestClient(create_app(anything), raise_server_exceptions=False) as client:
        assert client.get("/fiches", headers={"Host": "n.importe.quoi"}).status_code == 200


def test_forwarded_headers_of_an_untrusted_peer_are_not_believed(app):
    with client_from(app, STRANGER) as client:
        page = client.get("/connexion", headers=FORWARDED)
        assert "strict-transport-security" not in page.headers  # still plain http
        assert "Secure" not in page.headers["set-cookie"]
        # The browser's https origin does not match the plain-http request it really is.
        refused = failed_sign_in(client, {**FORWARDED, **ORIGIN})
        assert refused.status_code == 403
        assert failed_sign_in(client, FORWARDED).status_code == 422
    assert attempt_addresses(app) == ["192.0.2.10"]  # not the forwarded 203.0.113.5


def test_a_trusted_proxy_gives_the_scheme_and_client_address(app):
    with client_from(app, PROXY) as client:
        page = client.get("/connexion", headers=FORWARDED)
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert "; Secure" in page.headers["set-cookie"]
        # An https origin behind the proxy: no 403 (the bug of issue 12), and the sign-in
        # limits count the forwarded address, not the proxy's.
        assert failed_sign_in(client, {**FORWARDED, **ORIGIN}).status_code == 422
    assert attempt_addresses(app) == ["203.0.113.5"]


def test_the_origin_expected_is_base_urls_when_set(tmp_path: Path):
    settings = build_settings(tmp_path, base_url="https://centre.example")
    app = create_app(settings)
    with TestClient(app, base_url="http://centre.example", raise_server_exceptions=False) as c:
        good = failed_sign_in(c, {"Origin": "https://centre.example"})
        assert good.status_code == 422  # checked, then refused for the wrong password only
        for origin in ("http://centre.example", "https://centre.example:8443", "null"):
            assert failed_sign_in(c, {"Origin": origin}).status_code == 403, origin


def test_settings_refuse_malformed_addresses():
    for bad in ("centre.example", "https://centre.example/chemin", "ftp://centre.example"):
        with pytest.raises(ValidationError):
            Settings(base_url=bad)
    with pytest.raises(ValidationError):
        Settings(forwarded_allow_ips="10.0.0.1;10.0.0.2")
    ok = Settings(forwarded_allow_ips="10.0.0.0/8, ::1", base_url="")
    assert ok.trusted_proxies == ["10.0.0.0/8", "::1"] and ok.base_url is None
    assert host_name("[::1]:8000") == "::1" and host_name("::1") == "::1"


SLUG = "jardin-partage-des-tilleuls"


def test_absolute_links_use_base_url_whatever_the_host(tmp_path: Path):
    # With any Host accepted, a client's Host must not become the address of the feed,
    # the API's links or a fiche's canonical link (they are copied and cached elsewhere).
    settings = build_settings(tmp_path, base_url="https://centre.example", allowed_hosts="*")
    evil = {"Host": "evil.example"}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        feed = client.get("/flux.atom", headers=evil)
        assert feed.status_code == 200 and "evil.example" not in feed.text
        assert 'type="application/atom+xml" href="https://centre.example/flux.atom"' in feed.text
        assert '<link rel="alternate" type="text/html" href="https://centre.example/"' in feed.text
        assert f"<id>https://centre.example/fiches/{SLUG}</id>" in feed.text
        hits = client.get("/api/writeups", headers=evil).json()["data"]
        assert hits and all(hit["url"].startswith("https://centre.example/fiches/") for hit in hits)
        one = client.get(f"/api/writeups/{SLUG}", headers=evil).json()
        assert one["url"] == f"https://centre.example/fiches/{SLUG}"
        page = client.get(f"/fiches/{SLUG}", headers=evil)
        assert f'<link rel="canonical" href="https://centre.example/fiches/{SLUG}">' in page.text
        assert "evil.example" not in page.text


def test_without_base_url_absolute_links_follow_the_request(app):
    with client_from(app, PROXY) as client:
        one = client.get(f"/api/writeups/{SLUG}", headers={"Host": "localhost:8000"}).json()
        assert one["url"] == f"http://localhost:8000/fiches/{SLUG}"
        hits = client.get("/api/writeups", headers=FORWARDED).json()["data"]
        assert hits[0]["url"].startswith("https://testserver/fiches/")  # the proxy's scheme


MALFORMED_HOSTS = (
    "testserver:@evil.example",
    "testserver:evil",
    "localhost:80:80",
    "[::1]evil",
    "[::1]:8000x",
    "[evil]",
    "testserver/x",
    "test server",
    "testserver@evil.example",
    "",
)


def test_malformed_hosts_are_refused(app):
    for host in MALFORMED_HOSTS:
        assert host_name(host) == "", host
    with client_from(app, PROXY) as client:
        for host in MALFORMED_HOSTS[:-1]:
            page = client.get("/fiches", headers={"Host": host})
            assert page.status_code == 400, host
        for host in ("testserver:", "testserver:8000", "[::1]", "127.0.0.1:80", "localhost"):
            assert client.get("/fiches", headers={"Host": host}).status_code == 200, host


def test_settings_refuse_malformed_host_names():
    for bad in ("centre.example:@evil.com", "a.example, localhost:evil", "[::1]x"):
        with pytest.raises(ValidationError, match="ALLOWED_HOSTS"):
            Settings(allowed_hosts=bad)
    with pytest.raises(ValidationError):
        Settings(base_url="https://centre!example")
    ok = Settings(allowed_hosts="*, centre.example:443, [::1], ::1, 10.0.0.1")
    assert ok.accepted_hosts == {"*", "centre.example", "::1", "10.0.0.1"}


def test_trusted_proxies_are_read_as_uvicorn_reads_them():
    # uvicorn takes an entry it cannot parse strictly as a literal that no client matches.
    for bad in ("10.0.0.1/8", "127.0.0.1, *", "*, ::1", "proxy.example", "unix:/run/x.sock"):
        with pytest.raises(ValidationError, match="FORWARDED_ALLOW_IPS"):
            Settings(forwarded_allow_ips=bad)
    for good in ("*", "10.0.0.0/8, ::1", "127.0.0.1", "fd00::/8", ""):
        assert Settings(forwarded_allow_ips=good).forwarded_allow_ips == good
