"""Password reset by e-mail, end to end: the app over HTTP, SQLite and PostgreSQL, the outbox
sent by the real sender to a real SMTP server on loopback (tests/mail/conftest.py)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from resource_centre import account_tokens
from resource_centre.account_tokens import LinkInvalid
from resource_centre.auth import create_user
from resource_centre.config import Settings
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.mail_sender import send_pending
from resource_centre.models import AccountToken, LoginAttempt, OutboxMessage, User, utcnow
from resource_centre.web.app import create_app
from tests.conftest import TEST_KNOWLEDGE, make_settings
from tests.mail.conftest import SmtpServer, html_of, text_of
from tests.web.conftest import PASSWORD, csrf_of, login

ORIGIN = "https://centre.example"  # mail_settings' BASE_URL
NEW_PASSWORD = "un tout nouveau mot de passe"
SENT = "Si un compte correspond à cette adresse, nous venons d'y envoyer un lien"
INVALID = "Ce lien n'est plus valable"
CSRF_VALUE = re.compile(r'name="csrf_token" value="[0-9a-f]{128}"')


# --- helpers shared with test_invitations.py ---------------------------------------------


def start_site(settings: Settings) -> Iterator[TestClient]:
    """The app on the test's database with the test corpus (its Régies), lifespan running."""
    engine = make_engine(settings.database_url)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    engine.dispose()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def add_user(client: TestClient, role: str = "contributor", **extra: Any) -> User:
    regie = extra.pop("regie", "regie-du-canal" if role == "contributor" else None)
    with write_session(client.app.state.engine) as session:
        return create_user(session, password=PASSWORD, role=role, regie_slug=regie, **extra)


def form_post(client: TestClient, page: str, path: str, data: dict[str, str]) -> Any:
    """POST `data` to `path` with the CSRF token of the page `page`."""
    token = csrf_of(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def deliver(client: TestClient, smtp_server: SmtpServer, count: int) -> list[EmailMessage]:
    """Send the outbox with the project's sender; wait until `count` messages arrived."""
    app: Any = client.app
    report = send_pending(app.state.engine, app.state.settings, holder="tests-accounts",
                          lease_wait=10)  # fmt: skip
    assert report.failed == 0, report
    return smtp_server.wait_for(count)


def link_in(message: EmailMessage, prefix: str) -> str:
    """The site path of the one link `ORIGIN + prefix + token` of the message (text and
    HTML versions agree)."""
    pattern = re.compile(re.escape(ORIGIN + prefix) + r"([A-Za-z0-9_-]{43})")
    found = set(pattern.findall(text_of(message)))
    assert len(found) == 1, text_of(message)
    assert set(pattern.findall(html_of(message))) == found
    return prefix + found.pop()


def outbox_count(client: TestClient, **where: Any) -> int:
    engine = client.app.state.engine
    with read_session(engine) as session:
        stmt = select(func.count()).select_from(OutboxMessage)
        for name, value in where.items():
            stmt = stmt.where(getattr(OutboxMessage, name) == value)
        return session.execute(stmt).scalar_one()


def password_hash_of(client: TestClient, email: str) -> str:
    with read_session(client.app.state.engine) as session:
        return session.execute(select(User.password_hash).where(User.email == email)).scalar_one()


def signed_in(client: TestClient) -> bool:
    return client.get("/mon-compte", follow_redirects=False).status_code == 200


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def site(mail_settings: Settings) -> Iterator[TestClient]:
    yield from start_site(mail_settings)


def ask_reset(client: TestClient, email: str) -> Any:
    return form_post(client, "/mot-de-passe-oublie", "/mot-de-passe-oublie", {"email": email})


# --- the request page says nothing about accounts ----------------------------------------


def test_known_inactive_invited_and_unknown_addresses_get_the_same_page(site, smtp_server):
    known = add_user(site, email="connue@exemple.org", name="Camille Connue")
    gone = add_user(site, email="partie@exemple.org")
    with write_session(site.app.state.engine) as session:
        session.execute(update(User).where(User.id == gone.id).values(active=False))
        session.add(User(email="invitee@exemple.org", role="curator", active=False,
                         password_hash=account_tokens.INVITED_HASH))  # fmt: skip
    form = site.get("/mot-de-passe-oublie")
    assert form.status_code == 200 and "Adresse e-mail" in form.text
    answers = {
        email: ask_reset(site, email)
        for email in ("connue@exemple.org", "partie@exemple.org", "invitee@exemple.org",
                      "inconnue@exemple.org", " CONNUE@Exemple.org ")
    }  # fmt: skip
    bodies = {CSRF_VALUE.sub("", r.text) for r in answers.values()}
    assert {r.status_code for r in answers.values()} == {200}
    assert len(bodies) == 1, "the page differs with the address"
    assert SENT in answers["inconnue@exemple.org"].text
    assert "valable une heure" in answers["inconnue@exemple.org"].text
    assert "connue@exemple.org" not in answers["connue@exemple.org"].text  # not even echoed
    # Only the active account got messages: two (the address typed twice, any case).
    assert outbox_count(site) == 2
    assert outbox_count(site, recipient="connue@exemple.org", security=True) == 2
    messages = deliver(site, smtp_server, 2)
    assert [m["To"] for m in messages] == ["connue@exemple.org"] * 2
    assert messages[0]["Subject"] == "Réinitialiser votre mot de passe"
    assert messages[0]["List-Unsubscribe"] is None  # a security message
    assert "Camille Connue" in text_of(messages[0]) and "une heure" in text_of(messages[0])
    assert link_in(messages[0], "/mot-de-passe/") != link_in(messages[1], "/mot-de-passe/")
    assert known.email == "connue@exemple.org"


def test_limits_per_email_and_per_address_answer_the_same_for_any_address(site, monkeypatch):
    add_user(site, email="connue@exemple.org")
    for _ in range(3):
        assert ask_reset(site, "connue@exemple.org").status_code == 200
        assert ask_reset(site, "inconnue@exemple.org").status_code == 200
    over = [ask_reset(site, e) for e in ("connue@exemple.org", "inconnue@exemple.org")]
    assert [r.status_code for r in over] == [429, 429]
    assert "Trop de demandes" in over[0].text and "Réessayez dans une heure" in over[0].text
    pages = {CSRF_VALUE.sub("", r.text).replace("inconnue@", "connue@") for r in over}
    assert len(pages) == 1, "the refusal differs with the address"
    assert outbox_count(site) == 3  # the refused fourth request sent nothing
    # Per client address, whatever the e-mail: 10 requests an hour (6 made above).
    answers = [ask_reset(site, f"autre{i}@exemple.org").status_code for i in range(5)]
    assert answers == [200, 200, 429, 429, 429]  # 8 counted above (refusals too)


def test_a_blank_or_malformed_address_is_an_error_next_to_the_field(site):
    blank = ask_reset(site, "  ")
    assert blank.status_code == 422 and "Indiquez votre adresse e-mail." in blank.text
    assert 'aria-invalid="true"' in blank.text
    wrong = ask_reset(site, "pas-une-adresse")
    assert wrong.status_code == 422 and "Cette adresse e-mail n&#39;est pas valide." in wrong.text
    assert 'value="pas-une-adresse"' in wrong.text


def test_the_login_page_links_to_the_reset_page(site):
    page = site.get("/connexion")
    assert 'href="/mot-de-passe-oublie"' in page.text and "Mot de passe oublié ?" in page.text


# --- the link ------------------------------------------------------------------------------


def test_the_link_works_once_and_signs_the_account_out_everywhere(site, smtp_server):
    user = add_user(site, email="camille@exemple.org", name="Camille")
    other = TestClient(site.app, raise_server_exceptions=False)  # another browser, signed in
    assert login(other, user).status_code == 303 and signed_in(other)
    for _ in range(3):  # three failed sign-ins from somewhere
        assert login(TestClient(site.app), user, "mauvais mot de passe").status_code == 422
    assert ask_reset(site, user.email).status_code == 200
    assert ask_reset(site, user.email).status_code == 200  # asked twice: two links
    first, second = (link_in(m, "/mot-de-passe/") for m in deliver(site, smtp_server, 2))

    form = site.get(second)
    assert form.status_code == 200 and 'name="password_confirm"' in form.text
    assert form.headers["cache-control"] == "no-store"
    assert form.headers["referrer-policy"] == "no-referrer"
    token = csrf_of(form.text)
    short = site.post(second, data={"password": "court", "password_confirm": "court",
                                    "csrf_token": token})  # fmt: skip
    assert short.status_code == 422 and "au moins 10 caractères" in short.text
    assert 'id="password-erreur"' in short.text and 'value="court"' not in short.text
    differ = site.post(second, data={"password": NEW_PASSWORD, "password_confirm": "autre chose",
                                     "csrf_token": token})  # fmt: skip
    assert differ.status_code == 422 and "Les deux mots de passe diffèrent." in differ.text
    assert 'id="password_confirm-erreur"' in differ.text
    old_hash = password_hash_of(site, user.email)
    done = site.post(
        second,
        data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/connexion"
    assert "Votre mot de passe est changé : connectez-vous." in site.get("/connexion").text
    assert password_hash_of(site, user.email) != old_hash

    # Used: a second use is refused, and so is the other link sent before.
    for link in (second, first):
        again = site.get(link)
        assert again.status_code == 404 and INVALID in again.text
        assert 'href="/mot-de-passe-oublie"' in again.text
    replay = site.post(second, data={"password": "encore un autre mot", "password_confirm":
                                     "encore un autre mot", "csrf_token": token})  # fmt: skip
    assert replay.status_code == 404 and INVALID in replay.text
    # The other browser is signed out; the old password fails, the new one works.
    assert not signed_in(other)
    assert (
        other.get("/mon-compte", follow_redirects=False)
        .headers["location"]
        .startswith("/connexion")
    )
    assert login(site, user, PASSWORD).status_code == 422
    assert login(site, user, NEW_PASSWORD).status_code == 303 and signed_in(site)
    with read_session(site.app.state.engine) as session:  # the failures were forgotten
        failures = select(func.count()).where(
            LoginAttempt.email == user.email,
            LoginAttempt.success.is_(False),
        )
        assert session.execute(failures).scalar_one() == 1  # the old password, just now


def test_an_expired_link_is_refused(site, smtp_server):
    user = add_user(site, email="lente@exemple.org")
    assert ask_reset(site, user.email).status_code == 200
    [message] = deliver(site, smtp_server, 1)
    link = link_in(message, "/mot-de-passe/")
    raw = link.rsplit("/", 1)[1]
    engine = site.app.state.engine
    with read_session(engine) as session:  # valid 1 h: yes at 59 minutes, no at 61
        created = session.execute(select(AccountToken.created_at)).scalar_one()
        assert account_tokens.peek(session, raw, "reset", now=created + timedelta(minutes=59))
        assert not account_tokens.peek(session, raw, "reset", now=created + timedelta(minutes=61))
    with write_session(engine) as session:
        session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = site.get(link)
    assert page.status_code == 404 and INVALID in page.text
    before = password_hash_of(site, user.email)
    post = site.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD,
                                 "csrf_token": csrf_of(site.get("/connexion").text)})  # fmt: skip
    assert post.status_code == 404 and INVALID in post.text
    assert password_hash_of(site, user.email) == before
    with pytest.raises(LinkInvalid):
        account_tokens.reset_password(engine, raw, NEW_PASSWORD, NEW_PASSWORD)


BAD_TOKENS = [
    "%00",
    "A" * 42 + "%00",
    "%00" * 43,
    "A" * 10_000,
    "%C3%A9" * 43,
    "A" * 42 + "!",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "..%2F..%2Fconnexion",
    "A" * 43,  # well formed, never issued
    "%F0%9F%98%80" * 11,
    "%FF%FE",
]


def test_malformed_tokens_get_a_clean_french_page(site):
    token = csrf_of(site.get("/mot-de-passe-oublie").text)
    data = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "name": "x",
            "csrf_token": token}  # fmt: skip
    for prefix in ("/mot-de-passe/", "/invitation/"):
        for bad in BAD_TOKENS:
            for response in (site.get(prefix + bad), site.post(prefix + bad, data=data)):
                assert response.status_code == 404, (prefix, bad[:20], response.status_code)
                assert INVALID in response.text or "Page introuvable" in response.text
                assert "Traceback" not in response.text
    with read_session(site.app.state.engine) as session:
        for raw in ("\x00" * 43, "é" * 43, "A" * 10_000, "", "A" * 43 + "\n"):
            assert account_tokens.peek(session, raw, "reset") is None
            assert account_tokens.consume(session, raw, "invite") is None


def test_two_uses_at_once_only_one_wins(site):
    user = add_user(site, email="double@exemple.org")
    engine = site.app.state.engine
    with write_session(engine) as session:
        raw = account_tokens.issue(session, user.id, "reset", account_tokens.RESET_LIFETIME)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def use(password: str) -> None:
        barrier.wait()
        try:
            account_tokens.reset_password(engine, raw, password, password)
            outcomes.append(password)
        except LinkInvalid:
            outcomes.append("refused")

    threads = [threading.Thread(target=use, args=(p,)) for p in ("premier essai 111", "second essai 222")]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count("refused") == 1, outcomes
    winner = next(o for o in outcomes if o != "refused")
    assert login(site, SimpleNamespace(email=user.email), winner).status_code == 303


def test_a_private_library_still_lets_visitors_reset_and_accept(tmp_path, sqlite_url, smtp_server):
    settings = make_settings(
        tmp_path, sqlite_url, public_read=False, smtp_url=smtp_server.url, base_url=ORIGIN
    )
    with contextmanager(start_site)(settings) as client:
        assert client.get("/fiches", follow_redirects=False).status_code == 303  # private
        for path in ("/mot-de-passe-oublie", "/mot-de-passe/" + "A" * 43, "/invitation/x"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code in (200, 404), (path, response.status_code)
        assert ask_reset(client, "personne@exemple.org").status_code == 200


# --- review findings ---------------------------------------------------------------------


def test_a_password_change_retires_the_reset_links_sent_before(site, smtp_server):
    """Review finding: a reset link mailed before a change of password at /mon-compte
    still worked afterwards."""
    user = add_user(site, email="prudente@exemple.org")
    assert ask_reset(site, user.email).status_code == 200
    link = link_in(deliver(site, smtp_server, 1)[0], "/mot-de-passe/")
    assert login(site, user).status_code == 303
    changed = form_post(site, "/mon-compte", "/mon-compte", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    })  # fmt: skip
    assert changed.status_code == 303 and changed.headers["location"] == "/mon-compte"
    visitor = TestClient(site.app, raise_server_exceptions=False)
    page = visitor.get(link)
    assert page.status_code == 404 and INVALID in page.text


@pytest.mark.parametrize("operations", [("deactivate",), ("deactivate", "activate")])
def test_deactivating_or_reactivating_retires_the_reset_links(site, smtp_server, operations):
    """Review finding: a reset link survived a deactivation and reactivation."""
    user = add_user(site, email="suspendue@exemple.org")
    assert ask_reset(site, user.email).status_code == 200
    link = link_in(deliver(site, smtp_server, 1)[0], "/mot-de-passe/")
    admin = add_user(site, "admin", email="admin@exemple.org")
    assert login(site, admin).status_code == 303
    for operation in operations:
        done = form_post(site, "/curation/utilisateurs", "/curation/utilisateurs",
                         {"operation": operation, "user_id": str(user.id)})  # fmt: skip
        assert done.status_code == 303, done.text
    visitor = TestClient(site.app, raise_server_exceptions=False)
    assert visitor.get(link).status_code == 404
    before = password_hash_of(site, user.email)
    token = csrf_of(visitor.get("/connexion").text)
    post = visitor.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD,
                                    "csrf_token": token})  # fmt: skip
    assert post.status_code == 404 and password_hash_of(site, user.email) == before


@pytest.mark.parametrize(
    "address", ["connue@exemple.org,pirate@attaquant.example", "Nom <connue@exemple.org>",
                "connue@exemple.org;pirate@attaquant.example", '"x"@exemple.org']
)  # fmt: skip
def test_a_reset_is_asked_for_exactly_one_address(site, address):
    """Review finding: a list of addresses passed the check of the request form."""
    add_user(site, email="connue@exemple.org")
    refused = ask_reset(site, address)
    assert (
        refused.status_code == 422 and "Cette adresse e-mail n&#39;est pas valide." in refused.text
    )
    assert outbox_count(site) == 0


def test_under_a_root_path_the_reset_pages_stay_open_and_the_api_answers_json(
    tmp_path, sqlite_url, smtp_server
):
    """Review finding: behind `uvicorn --root-path /centre` the path of the request holds
    the root path; the session middleware must compare the route's path."""
    settings = make_settings(
        tmp_path, sqlite_url, public_read=False, smtp_url=smtp_server.url, base_url=ORIGIN
    )
    engine = make_engine(settings.database_url)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    engine.dispose()
    app = create_app(settings)
    with TestClient(app, root_path="/centre", raise_server_exceptions=False) as client:
        private = client.get("/centre/fiches", follow_redirects=False)
        assert private.status_code == 303
        assert private.headers["location"] == "/centre/connexion?next=/centre/fiches"
        for path in ("/centre/mot-de-passe-oublie", "/centre/connexion"):
            assert client.get(path, follow_redirects=False).status_code == 200, path
        for path in ("/centre/mot-de-passe/" + "A" * 43, "/centre/invitation/" + "A" * 43):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 404 and INVALID in response.text, path
        api = client.get("/centre/api/fiches", follow_redirects=False)
        assert api.status_code == 401 and api.json() == {"detail": "Connexion requise."}
