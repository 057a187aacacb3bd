"""The admins' outbox page /curation/courriels and its .eml downloads, over HTTP."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from starlette.testclient import TestClient

from resource_centre import account_tokens, outbox
from resource_centre.auth import create_user
from resource_centre.db import write_session
from resource_centre.mailer import eml_path
from resource_centre.web.app import create_app
from tests.mail.conftest import SmtpServer
from tests.mail.test_sender import enqueue, rows
from tests.web.conftest import PASSWORD, build_settings, login

LINK_REMOVED = "(lien retiré après envoi)"  # mail_sender.LINK_REMOVED


@pytest.fixture
def web_settings(tmp_path):
    """No SMTP_URL: the app writes .eml files in data/outbox/ (the `make run` default)."""
    return build_settings(tmp_path, base_url="https://centre.example", mail_poll_seconds=0.2)


def wait_sent(engine, count: int) -> None:
    deadline = time.monotonic() + 10
    while sum(m.status == "sent" for m in rows(engine)) < count:
        assert time.monotonic() < deadline, rows(engine)
        time.sleep(0.05)


def test_admins_see_the_outbox_and_download_each_message(client, app, login_as):
    ids = enqueue(app.state.engine, 2)
    wait_sent(app.state.engine, 2)
    login_as("admin")
    page = client.get("/curation/courriels")
    assert page.status_code == 200
    html = page.text
    assert "<caption>Les 200 derniers courriels, les plus récents d'abord</caption>" in html
    assert "Aucun serveur SMTP n'est configuré" in html
    assert "personne0-0@exemple.org" in html and "Avis n° 2" in html
    assert html.count("<td>Envoyé") == 2
    assert 'aria-current="page">Courriels</a>' in html  # the back-office menu
    download = client.get(f"/curation/courriels/{ids[0]}.eml")
    assert download.status_code == 200
    assert download.headers["content-type"] == "message/rfc822"
    assert download.headers["content-disposition"] == (
        f'attachment; filename="courriel-{ids[0]}.eml"'
    )
    parsed = email.message_from_bytes(download.content, policy=email.policy.default)
    assert parsed["To"] == "personne0-0@exemple.org" and parsed["Subject"] == "Avis n° 1"
    assert f'href="/curation/courriels/{ids[1]}.eml"' in html
    assert client.get("/curation/courriels/999999.eml").status_code == 404


def test_only_admins_reach_the_outbox(client, app, login_as):
    [row_id] = enqueue(app.state.engine)
    wait_sent(app.state.engine, 1)
    anonymous = client.get("/curation/courriels", follow_redirects=False)
    assert anonymous.status_code == 303 and "/connexion" in anonymous.headers["location"]
    assert (
        client.get(f"/curation/courriels/{row_id}.eml", follow_redirects=False).status_code == 303
    )
    login_as("curator")
    assert client.get("/curation/courriels").status_code == 403
    assert client.get(f"/curation/courriels/{row_id}.eml").status_code == 403
    assert "Courriels</a>" not in client.get("/curation").text  # not in a curator's menu


def test_with_smtp_a_failure_shows_the_server_error_and_next_attempt(tmp_path, smtp_server):
    secret = "mot-de-passe-smtp-42"
    settings = build_settings(
        tmp_path,
        smtp_url=f"smtp://robot:{secret}@127.0.0.1:{smtp_server.port}",
        mail_poll_seconds=0.2,
    )
    smtp_server.stop()
    application = create_app(settings)
    with TestClient(application) as client:
        engine = application.state.engine
        [row_id] = enqueue(engine)
        deadline = time.monotonic() + 10
        while rows(engine)[0].attempts == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with write_session(engine) as session:
            admin = create_user(session, email="admin@exemple.org", password=PASSWORD, role="admin")
        assert login(client, admin).status_code == 303
        html = client.get("/curation/courriels").text
    assert f"<strong>127.0.0.1:{smtp_server.port}</strong>" in html
    assert "En attente, après un échec" in html
    assert "1 en attente, dont 1 après un échec" in html
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in html
    assert secret not in html and "robot" not in html
    assert ">Fichier</th>" not in html and f"{row_id}.eml" not in html


def test_a_security_message_is_delivered_but_never_shown_to_admins(client, app, login_as):
    """Review finding: a sent reset link stayed in the outbox row and in the admins'
    download, so any admin could open another account. The .eml file written by the file
    transport is the delivery (an operator hands it over) and keeps it; the row and the
    back-office do not."""
    engine = app.state.engine
    settings = app.state.settings
    with write_session(engine) as session:
        create_user(session, email="camille@exemple.org", password=PASSWORD, role="curator")
    assert account_tokens.request_reset(engine, "camille@exemple.org")
    [notice] = enqueue(engine)  # an ordinary message beside it
    wait_sent(engine, 2)
    reset = next(m for m in rows(engine) if m.security)
    assert reset.context["link"] == LINK_REMOVED and "/mot-de-passe/" not in str(reset.context)
    ordinary = next(m for m in rows(engine) if not m.security)
    assert ordinary.context["link"] == "/fiches"  # other messages keep their context
    # The file on disk still delivers a working link.
    raw = eml_path(settings.outbox_dir, reset.id or 0).read_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage) and parsed["To"] == "camille@exemple.org"
    body = parsed.get_body(("plain",))
    assert body is not None
    delivered = str(body.get_content())
    [token] = set(re.findall(r"/mot-de-passe/([A-Za-z0-9_-]{43})", delivered))
    assert client.get(f"/mot-de-passe/{token}").status_code == 200

    login_as("admin")
    html = client.get("/curation/courriels").text
    assert "message de sécurité (contenu non affiché)" in html
    assert f"{reset.id}.eml" not in html and f'href="/curation/courriels/{notice}.eml"' in html
    refused = client.get(f"/curation/courriels/{reset.id}.eml")
    assert refused.status_code == 403 and token not in refused.text
    assert "son contenu n&#39;est pas affiché" in refused.text
    assert client.get(f"/curation/courriels/{notice}.eml").status_code == 200


# Review findings (MENDS-C).

ECHOED_PASSWORD = "Tr0ub4dor/3"  # in the URL as Tr0ub4dor%2F3


def echo_credentials(_server: Any, _session: Any, _envelope: Any, _mechanism: str, _data: Any):
    """A server that repeats the credentials in its refusal (some do, in some forms)."""
    return AuthResult(
        success=False,
        handled=False,
        message=f"535 5.7.8 refused alice:Tr0ub4dor%2F3 ({ECHOED_PASSWORD}) "
        "for smtp://alice:Tr0ub4dor%2F3@mail.example",
    )


def admin_page(application, client) -> str:
    with write_session(application.state.engine) as session:
        admin = create_user(session, email="admin@exemple.org", password=PASSWORD, role="admin")
    assert login(client, admin).status_code == 303
    return client.get("/curation/courriels").text


def test_the_smtp_password_is_in_no_error_log_or_page(tmp_path, caplog):
    """Review finding: error texts could carry the SMTP URL or its password (percent-encoded
    or not) into the outbox's last_error, the logs and this page."""
    server = SmtpServer(authenticator=echo_credentials, auth_require_tls=False)
    server.start()
    try:
        settings = build_settings(
            tmp_path,
            smtp_url=f"smtp://alice:Tr0ub4dor%2F3@127.0.0.1:{server.port}",
            mail_poll_seconds=0.2,
        )
        application = create_app(settings)
        with caplog.at_level(logging.WARNING), TestClient(application) as client:
            engine = application.state.engine
            enqueue(engine)
            deadline = time.monotonic() + 10
            while rows(engine)[0].attempts == 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            html = admin_page(application, client)
    finally:
        server.stop()
    [message] = rows(engine)
    assert message.last_error is not None and "535" in message.last_error
    assert "535" in html and f"<strong>127.0.0.1:{server.port}</strong>" in html
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "535" in logged  # the failure was logged
    for text in (message.last_error, html, logged):
        assert "Tr0ub4dor" not in text


def test_a_message_failing_for_seven_days_shows_as_failed(tmp_path, smtp_server):
    settings = build_settings(tmp_path, smtp_url=smtp_server.url, mail_poll_seconds=0.2)
    smtp_server.stop()
    application = create_app(settings)
    with TestClient(application) as client:
        engine = application.state.engine
        with write_session(engine) as session:
            row = outbox.enqueue(
                session, recipient="lea@exemple.org", subject="Avis ancien", template="notice",
                context={"paragraphs": ["Texte"]},
            )  # fmt: skip
            row.created_at = datetime.now(UTC) - timedelta(days=8)
        deadline = time.monotonic() + 10
        while rows(engine)[0].status != "failed":
            assert time.monotonic() < deadline, rows(engine)
            time.sleep(0.05)
        html = admin_page(application, client)
    assert "<td>Échec" in html and "1 en échec" in html
    assert "ConnectionRefusedError" in html
    # Review finding: the page promised « aucun courriel n'est perdu ni envoyé deux fois ».
    assert "ni envoyé deux fois" not in html
    assert (
        "Aucun courriel n'est perdu ; un courriel peut exceptionnellement partir deux fois" in html
    )
    assert "même Message-ID" in html


def test_the_page_tells_how_long_messages_are_kept(client, app, login_as):
    """The page said « Un courriel n'est jamais supprimé »; sent ones are now pruned."""
    login_as("admin")
    html = client.get("/curation/courriels").text
    assert "n'est jamais supprimé" not in html
    assert "passe en « Échec »" in html and "7 jours après son écriture" in html
    assert "effacés 30 jours plus tard" in html
