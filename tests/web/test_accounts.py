"""Sign-in, server-side sessions, CSRF, sign-in limits."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from starlette.testclient import TestClient

from resource_centre.db import read_session
from resource_centre.models import User, UserSession
from resource_centre.web.app import create_app
from tests.web.conftest import PASSWORD, build_settings, csrf_of, login


def sessions(app) -> int:
    with read_session(app.state.engine) as session:
        return session.execute(select(func.count()).select_from(UserSession)).scalar_one()


def test_sign_in_sets_a_safe_cookie_and_a_server_side_session(client, app, make_user):
    user = make_user("contributor")
    response = login(client, user)
    assert response.status_code == 303 and response.headers["location"] == "/mes-fiches"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("rc_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http in tests; Secure is added over https
    token = cookie.split(";")[0].split("=", 1)[1]
    with read_session(app.state.engine) as session:
        stored = session.execute(select(UserSession.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0]  # only a hash is stored
    page = client.get("/mon-compte")
    assert page.status_code == 200 and user.email in page.text
    assert page.headers["cache-control"] == "no-store"


def test_secure_flag_over_https(app, make_user):
    with TestClient(app, base_url="https://testserver") as https_client:
        user = make_user("curator")
        response = login(https_client, user)
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("rc_session=")
        )
        assert "Secure" in cookie


def test_sign_in_gives_a_new_session_id_and_sign_out_kills_it(client, app, make_user):
    user = make_user("contributor")
    login(client, user)
    first = client.cookies.get("rc_session")
    login(client, user)  # signing in again replaces the session
    second = client.cookies.get("rc_session")
    assert first != second and sessions(app) == 1
    token = csrf_of(client.get("/mon-compte").text)
    response = client.post("/deconnexion", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and sessions(app) == 0
    # A copy of the old cookie no longer authenticates.
    replay = TestClient(app)
    replay.cookies.set("rc_session", second)
    assert replay.get("/mon-compte", follow_redirects=False).status_code == 303


def test_wrong_password_and_unknown_account_give_the_same_message(client, make_user):
    user = make_user("contributor")
    wrong = login(client, user, password="pas le bon mot de passe")
    token = csrf_of(client.get("/connexion").text)
    unknown = client.post(
        "/connexion",
        data={"email": "personne@exemple.org", "password": "x" * 12, "csrf_token": token},
    )
    assert wrong.status_code == unknown.status_code == 422
    message = "Adresse e-mail ou mot de passe incorrect."
    assert message in wrong.text and message in unknown.text
    assert 'value="' + user.email + '"' in wrong.text  # what was typed is kept


def test_sign_in_attempts_are_limited_per_account(client, make_user):
    user = make_user("contributor")
    for _ in range(10):
        assert login(client, user, password="mauvais mot de passe").status_code == 422
    blocked = login(client, user)  # even the right password is refused for a while
    assert blocked.status_code == 429 and "Trop de tentatives" in blocked.text


def test_post_without_or_with_wrong_csrf_token_is_refused(client, app, make_user):
    user = make_user("contributor")
    no_token = client.post(
        "/connexion", data={"email": user.email, "password": PASSWORD}, follow_redirects=False
    )
    assert no_token.status_code == 403 and "Rechargez la page" in no_token.text
    bad = client.post(
        "/connexion",
        data={"email": user.email, "password": PASSWORD, "csrf_token": "0" * 64},
        follow_redirects=False,
    )
    assert bad.status_code == 403 and sessions(app) == 0
    login(client, user)
    refused = client.post(
        "/mon-compte",
        data={
            "current_password": PASSWORD,
            "new_password": "nouveau mot de passe",
            "confirm_password": "nouveau mot de passe",
        },
    )
    assert refused.status_code == 403
    logout = client.post("/deconnexion", data={}, follow_redirects=False)
    assert logout.status_code == 403 and sessions(app) == 1


def test_foreign_origin_and_cross_site_fetch_are_refused(client, make_user):
    user = make_user("contributor")
    token = csrf_of(client.get("/connexion").text)
    data = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    assert (
        client.post("/connexion", data=data, headers={"Origin": "https://evil.example"}).status_code
        == 403
    )
    assert (
        client.post("/connexion", data=data, headers={"Sec-Fetch-Site": "cross-site"}).status_code
        == 403
    )
    assert (
        client.post(
            "/connexion", data=data, headers={"Origin": "http://testserver"}, follow_redirects=False
        ).status_code
        == 303
    )


def test_password_change_and_hashing(client, app, login_as, caplog):
    caplog.set_level(logging.DEBUG)
    user = login_as("contributor")
    token = csrf_of(client.get("/mon-compte").text)
    mismatch = client.post(
        "/mon-compte",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "nouveau mot de passe",
            "confirm_password": "autre",
        },
    )
    assert mismatch.status_code == 422 and "diffèrent" in mismatch.text
    ok = client.post(
        "/mon-compte",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "nouveau mot de passe",
            "confirm_password": "nouveau mot de passe",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    with read_session(app.state.engine) as session:
        stored = session.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$") and "nouveau" not in stored
    assert PASSWORD not in caplog.text and "nouveau mot de passe" not in caplog.text


def test_private_library_needs_sign_in(tmp_path):
    app = create_app(build_settings(tmp_path, public_read=False))
    with TestClient(app) as client:
        page = client.get("/fiches?q=jardin", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith(
            "/connexion?next=/fiches"
        )
        assert client.get("/api/writeups").status_code == 401
        assert client.get("/connexion").status_code == 200
        assert client.get("/api/health").status_code == 200


def test_next_parameter_cannot_leave_the_site(client, make_user):
    user = make_user("contributor")
    token = csrf_of(client.get("/connexion").text)
    response = client.post(
        "/connexion",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/mes-fiches"


def test_sessions_expire_after_idle_time_and_after_12_hours(client, app, login_as):
    from datetime import timedelta

    from sqlalchemy import update

    from resource_centre.db import write_session
    from resource_centre.models import utcnow

    for column, age in (("last_seen_at", timedelta(hours=3)), ("created_at", timedelta(hours=13))):
        login_as("contributor")
        assert client.get("/mon-compte", follow_redirects=False).status_code == 200
        with write_session(app.state.engine) as session:
            session.execute(update(UserSession).values({column: utcnow() - age}))
        response = client.get("/mon-compte", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/connexion")
        assert sessions(app) == 0  # the expired row is gone


def test_password_change_signs_out_every_other_session_and_keeps_this_one(client, app, make_user):
    user = make_user("contributor")
    other = TestClient(app)
    assert login(other, user).status_code == 303
    assert login(client, user).status_code == 303 and sessions(app) == 2
    token = csrf_of(client.get("/mon-compte").text)
    new = "nouveau mot de passe"
    changed = client.post(
        "/mon-compte",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": new,
              "confirm_password": new},
        follow_redirects=False,
    )  # fmt: skip
    assert changed.status_code == 303
    assert client.get("/mon-compte", follow_redirects=False).status_code == 200
    assert other.get("/mon-compte", follow_redirects=False).status_code == 303
    assert sessions(app) == 1


def test_current_password_check_has_the_sign_in_limit(client, app, login_as):
    login_as("contributor")
    token = csrf_of(client.get("/mon-compte").text)

    def change(current: str):
        return client.post(
            "/mon-compte",
            data={"csrf_token": token, "current_password": current,
                  "new_password": "nouveau mot de passe", "confirm_password": "nouveau mot de passe"},
        )  # fmt: skip

    for _ in range(10):
        wrong = change("pas le bon mot de passe")
        assert wrong.status_code == 422 and "Le mot de passe actuel est incorrect." in wrong.text
    blocked = change(PASSWORD)  # even the right one, for a while
    assert blocked.status_code == 429 and "Trop de tentatives" in blocked.text


def test_hsts_only_over_https(app):
    with TestClient(app, base_url="https://testserver") as https_client:
        page = https_client.get("/connexion")
        assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    with TestClient(app) as http_client:
        assert "strict-transport-security" not in http_client.get("/connexion").headers
