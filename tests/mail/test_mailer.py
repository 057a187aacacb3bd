"""Composing messages (resource_centre/mailer.py): French text + HTML, absolute links,
List-Unsubscribe (RFC 8058) on notifications only, stable Message-ID, safe headers."""

from __future__ import annotations

import email
import email.policy
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import ValidationError

from resource_centre import mailer, outbox
from resource_centre.config import InvalidSmtpUrl, Settings
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.mailer import (
    MessageRefused,
    SmtpTransport,
    compose,
    error_text,
    transport_for,
)
from resource_centre.models import OutboxMessage
from resource_centre.unsubscribe import read_token
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return make_settings(tmp_path, sqlite_url, base_url="https://centre.example")


def stored(settings: Settings, **fields: object) -> OutboxMessage:
    """Enqueue a message in the real database and read it back (JSON round trip)."""
    values: dict = {
        "recipient": "Camille@Exemple.org",
        "subject": "Votre fiche « Jardins partagés » est publiée",
        "template": "notice",
        "context": {
            "paragraphs": ["Bonjour,", "La fiche <Jardins> & co est en ligne."],
            "link": "/fiches/jardins-partages",
            "link_label": "Lire la fiche",
        },
    }
    values.update(fields)
    engine = make_engine(settings.database_url)
    with write_session(engine) as session:
        row = outbox.enqueue(session, **values)
        session.flush()
        row_id = row.id
    with read_session(engine) as session:
        message = session.get(OutboxMessage, row_id)
    engine.dispose()
    assert message is not None
    return message


def parts(mail: EmailMessage) -> tuple[str, str]:
    """The text and HTML alternatives, after a round trip through bytes."""
    parsed = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_text_and_html_alternatives_in_french(settings):
    text, html = parts(compose(stored(settings), settings))
    assert "La fiche <Jardins> & co est en ligne." in text  # no escaping in the text part
    assert "La fiche &lt;Jardins&gt; &amp; co est en ligne." in html  # escaped in HTML
    assert '<html lang="fr">' in html
    assert "<h1" in html and "Jardins partagés" in html
    assert "Vous recevez ce message à l'adresse camille@exemple.org" in text
    assert "Gérer mes notifications" in text and "Gérer mes notifications" in html


def test_links_are_absolute_from_base_url(settings):
    text, html = parts(compose(stored(settings), settings))
    assert "Lire la fiche : https://centre.example/fiches/jardins-partages" in text
    assert 'href="https://centre.example/fiches/jardins-partages"' in html
    assert 'href="https://centre.example/mon-compte"' in html
    assert 'href="/' not in html  # no site path left relative


def test_without_base_url_links_point_at_the_local_server(tmp_path, sqlite_url):
    local = make_settings(tmp_path, sqlite_url)
    text, _ = parts(compose(stored(local), local))
    assert "http://127.0.0.1:8000/fiches/jardins-partages" in text


def test_notifications_carry_one_click_list_unsubscribe(settings):
    mail = compose(stored(settings), settings)
    raw = mail.as_bytes()
    header = mail["List-Unsubscribe"]
    assert header.startswith("<https://centre.example/desabonnement/") and header.endswith(">")
    # Written plainly on one line (not as an RFC 2047 encoded word), as mail readers need it.
    assert f"List-Unsubscribe: {header}\r\n".encode() in raw
    token = header[1:-1].rsplit("/", 1)[1]
    assert read_token(settings.secret_key, token) == "camille@exemple.org"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(mail)
    assert header[1:-1] in text and header[1:-1] in html


def test_security_messages_have_no_unsubscribe(settings):
    mail = compose(stored(settings, security=True), settings)
    assert mail["List-Unsubscribe"] is None
    assert mail["List-Unsubscribe-Post"] is None
    text, html = parts(mail)
    assert "desabonnement" not in text and "desabonnement" not in html
    assert "Si vous n'êtes pas à l'origine de cette demande" in text


def test_headers_from_to_date_and_a_stable_message_id(settings):
    message = stored(settings)
    first, second = compose(message, settings), compose(message, settings)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].startswith(f"<outbox-{message.id}-")
    assert first["Message-ID"].endswith("@centre.example>")
    other = compose(stored(settings), settings)
    assert other["Message-ID"] != first["Message-ID"]
    assert first["To"] == "camille@exemple.org"
    assert first["From"] == "Centre de ressources <centre-de-ressources@centre.example>"
    assert first["Date"] is not None
    assert first["Subject"] == "Votre fiche « Jardins partagés » est publiée"


def test_mail_from_setting_is_the_sender(tmp_path, sqlite_url):
    named = make_settings(tmp_path, sqlite_url, mail_from="Réseau <veille@regies.example>")
    assert compose(stored(named), named)["From"] == "Réseau <veille@regies.example>"


def test_subject_never_breaks_a_header_line(settings):
    message = stored(settings)
    message.subject = "Fiche\r\nBcc: intrus@exemple.org\nX-Autre: 1"  # not through enqueue
    mail = compose(message, settings)
    raw = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert raw["Bcc"] is None and raw["X-Autre"] is None
    assert raw["Subject"] == "Fiche Bcc: intrus@exemple.org X-Autre: 1"


def test_smtp_url_forms():
    plain = SmtpTransport("smtp://mail.example")
    assert (plain.scheme, plain.host, plain.port, plain.username) == (
        "smtp",
        "mail.example",
        25,
        None,
    )
    tls = SmtpTransport("smtp+starttls://us%40er:p%40ss%3Aw%2F@mail.example:2587")
    assert (tls.port, tls.username, tls.password) == (2587, "us@er", "p@ss:w/")
    assert SmtpTransport("smtps://a:b@mail.example").port == 465
    assert SmtpTransport("smtp+starttls://mail.example").port == 587
    for bad in ("http://mail.example", "smtp://", "mail.example:25"):
        with pytest.raises(ValueError, match="SMTP_URL"):
            SmtpTransport(bad)


def test_transport_follows_the_settings(tmp_path, sqlite_url):
    files = transport_for(make_settings(tmp_path, sqlite_url))
    assert files.path_for(12) == tmp_path / "data" / "outbox" / "12.eml"
    smtp = transport_for(make_settings(tmp_path, sqlite_url, smtp_url="smtps://u:p@h:1465"))
    assert isinstance(smtp, SmtpTransport) and smtp.port == 1465


def test_error_text_is_one_short_line_without_the_password():
    exc = OSError("auth refused for user with s3cr%t\nsecond line " + "x" * 600)
    text = error_text(exc, ("s3cr%t",))
    assert "s3cr%t" not in text and "***" in text
    assert "\n" not in text and len(text) <= 500
    assert text.startswith("OSError: auth refused")


# Review findings (MENDS-C): SMTP_URL and MAIL_FROM checked once, at start; one message's
# SMTP time is bounded.

LEAKY_URL = "smtp+starttls://alice:Tr0ub4dor/3@mail.example:587"  # "/" not encoded
SMTP_URL_REFUSED = (
    "RESOURCE_CENTRE_SMTP_URL n'est pas une adresse SMTP valide : écrivez smtp://hôte:port, "
    "smtp+starttls://utilisateur:motdepasse@hôte:587 ou smtps://… (caractères spéciaux du mot "
    "de passe encodés, par exemple / en %2F)"
)


@pytest.mark.parametrize(
    "url",
    [
        LEAKY_URL,
        "smtps://alice:Tr0ub4dor#3@mail.example",  # "#" not encoded
        "smtp://alice:Tr0ub4dor?3@mail.example",  # "?" not encoded
        "http://mail.example",
        "smtp://",
        "mail.example:25",
        "smtp://mail.example:99999",
        "smtp://mail.example:0",
        "smtp://mail.example/chemin",
        "smtp://:Tr0ub4dor@mail.example",
        "smtp://mail example:25",
    ],
)
def test_a_malformed_smtp_url_is_refused_without_repeating_it(tmp_path, sqlite_url, url):
    """Review finding: an unencoded "/" in the password made send-mail print "Port could not
    be cast to integer value as 'Tr0ub4dor'" and the back-office show "alice" as the host."""
    with pytest.raises(InvalidSmtpUrl) as refused:
        make_settings(tmp_path, sqlite_url, smtp_url=url)
    assert str(refused.value) == SMTP_URL_REFUSED
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    with pytest.raises(ValueError, match="SMTP_URL") as parsing:
        SmtpTransport(url)
    assert "Tr0ub4dor" not in str(parsing.value)


def test_well_formed_smtp_urls_are_accepted(tmp_path, sqlite_url):
    for url in (
        "smtp://127.0.0.1:25",
        "smtp://mail.example",
        "smtp+starttls://alice:Tr0ub4dor%2F3@mail.example:587",
        "SMTPS://us%40er:p%40ss%3Aw%C3%B6rd@mail.example/",
        "smtp://[::1]:2525",
    ):
        settings = make_settings(tmp_path, sqlite_url, smtp_url=url)
        assert settings.smtp_url is not None and settings.smtp_url.get_secret_value() == url
    assert make_settings(tmp_path, sqlite_url, smtp_url=" ").smtp_url is None


@pytest.mark.parametrize(
    "mail_from",
    [
        "centre@regies.example",
        "Centre de ressources <centre@regies.example>",
        '"Régie, quartier Nord" <centre@regies.example>',
        "Réseau des régies <veille@régies.example>",
    ],
)
def test_mail_from_with_one_address_is_accepted(tmp_path, sqlite_url, mail_from):
    settings = make_settings(tmp_path, sqlite_url, mail_from=mail_from)
    assert settings.sender_address == mail_from


@pytest.mark.parametrize(
    "mail_from",
    [
        "centre@regies.example, autre@regies.example",
        "Régie, quartier <centre@regies.example>",  # a comma outside quotes
        "Centre <centre@regies.example>\r\nBcc: intrus@exemple.org",
        "Centre <centre@regies.example>\nX: 1",
        "pas une adresse",
        "Centre <>",
        "centre@",
        "@regies.example",
        "centre@regies.example autre@regies.example",
        "Centre <centre@regies.example> <autre@regies.example>",
    ],
)
def test_mail_from_must_be_one_address(tmp_path, sqlite_url, mail_from):
    """Review finding: MAIL_FROM was not checked (two addresses, a line break…)."""
    with pytest.raises(ValidationError) as refused:
        make_settings(tmp_path, sqlite_url, mail_from=mail_from)
    [error] = refused.value.errors()
    assert error["loc"] == ("mail_from",)
    assert "RESOURCE_CENTRE_MAIL_FROM doit être une seule adresse" in error["msg"]


def test_one_message_has_a_bounded_smtp_time(tmp_path, sqlite_url, smtp_server, monkeypatch):
    """Review finding: only each network operation had a time limit, so one message could
    take several of them; now a message gets MESSAGE_SECONDS in all, then fails alone."""
    monkeypatch.setattr(mailer, "MESSAGE_SECONDS", 0.5)
    smtp_server.delay = 3.0  # the server takes 3 s to accept the message
    settings = make_settings(tmp_path, sqlite_url)
    mail = compose(stored(settings), settings)
    transport = SmtpTransport(smtp_server.url)
    started = time.monotonic()
    with pytest.raises(MessageRefused):  # the message failed, after its DATA
        transport.send(1, mail, "camille@exemple.org")
    assert time.monotonic() - started < 2.0
    transport.close()
    smtp_server.delay = 0
    transport.send(2, mail, "camille@exemple.org")  # the next one goes on a new connection
    transport.close()
