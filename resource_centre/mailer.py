"""E-mail rendering and transports: an outbox row becomes a French text + HTML message.

`compose` renders templates/emails/NAME.txt and NAME.html (each extends emails/base.*) with
the row's context; links given as site paths become absolute with BASE_URL. A transport
delivers it: `SmtpTransport` (RESOURCE_CENTRE_SMTP_URL: smtp://, smtp+starttls://, smtps://)
or `FileTransport` (no SMTP_URL: data/outbox/ID.eml, for the demo and the back-office).
`resource_centre.mail_sender` decides what to send, when, and records the outcome.
"""

from __future__ import annotations

import base64
import email.policy
import os
import secrets
import smtplib
import ssl
from datetime import UTC
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from resource_centre import unsubscribe
from resource_centre.config import Settings
from resource_centre.models import OutboxMessage
from resource_centre.web import dates

PACKAGE_DIR = Path(__file__).resolve().parent
# As in web/app.py: an installed wheel carries the templates inside the package, a source
# checkout keeps them in the repository's top-level templates/.
TEMPLATES_DIR = next(
    (d for d in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates") if d.is_dir()),
    PACKAGE_DIR / "templates",
)
SENDER_NAME = "Centre de ressources"
ERROR_MAX = 500  # characters of last_error kept in the outbox row
SMTP_TIMEOUT = 30.0  # seconds per network operation
# CRLF line ends; headers stored raw (set_raw) are written as they are, never re-encoded.
POLICY = email.policy.SMTP.clone(refold_source="none")
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class TransportDown(Exception):
    """The transport cannot deliver anything now (server unreachable, refused sign-in…):
    the other messages of the batch would fail the same way."""


class MessageRefused(Exception):
    """The server refused this message (its recipient, its sender or its data)."""


@lru_cache(maxsize=4)
def environment(timezone: ZoneInfo = ZoneInfo("Europe/Paris")) -> Environment:
    """The Jinja environment of e-mails: autoescape for .html, none for .txt (cached)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(dates.filters(timezone))
    return env


def absolute(origin: str, path: str) -> str:
    """`path` ("/fiches/x") made absolute on `origin`; an absolute URL is kept as it is."""
    if path.startswith(("http://", "https://")):
        return path
    return f"{origin.rstrip('/')}/{path.lstrip('/')}"


def unsubscribe_url(settings: Settings, recipient: str) -> str:
    """The one-click unsubscription address of `recipient` (RFC 8058)."""
    token = unsubscribe.make_token(settings.secret_key, recipient)
    return absolute(settings.mail_origin, f"/desabonnement/{token}")


def message_id(message: OutboxMessage, settings: Settings) -> str:
    """A Message-ID stable for the row: the same on every attempt and in the .eml file."""
    created = message.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    host = urlsplit(settings.mail_origin).hostname or "localhost"
    return f"<outbox-{message.id}-{int(created.timestamp())}@{host}>"


def compose(message: OutboxMessage, settings: Settings) -> EmailMessage:
    """Render the outbox row `message` as a multipart/alternative French message."""
    origin = settings.mail_origin
    subject = " ".join(message.subject.split())  # never a header line break
    unsubscribe_link = None if message.security else unsubscribe_url(settings, message.recipient)
    context: dict[str, Any] = {
        **(message.context or {}),
        "subject": subject,
        "origin": origin,
        "url": partial(absolute, origin),  # url("/fiches/x") → https://…/fiches/x
        "unsubscribe_url": unsubscribe_link,
        "recipient": message.recipient,
        "security": message.security,
    }
    env = environment(settings.timezone)
    text = env.get_template(f"emails/{message.template}.txt").render(context)
    html = env.get_template(f"emails/{message.template}.html").render(context)

    mail = EmailMessage(policy=POLICY)
    mail["From"] = sender(settings)
    mail["To"] = message.recipient
    mail["Subject"] = subject
    created = message.created_at
    mail["Date"] = format_datetime(created if created.tzinfo else created.replace(tzinfo=UTC))
    mail["Message-ID"] = message_id(message, settings)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no automatic replies
    if unsubscribe_link is not None:
        # Raw, never re-folded: a long URL must not become an RFC 2047 encoded word.
        mail.set_raw("List-Unsubscribe", f"<{unsubscribe_link}>")
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(text, subtype="plain", charset="utf-8")
    mail.add_alternative(html, subtype="html", charset="utf-8")
    return mail


def sender(settings: Settings) -> str | Address:
    """The From header: MAIL_FROM as written when it names someone, else with our name."""
    address = settings.sender_address
    if "<" in address:
        return address
    return Address(display_name=SENDER_NAME, addr_spec=address)


class Transport(Protocol):
    """Delivers composed messages; `close()` ends a batch."""

    def send(self, row_id: int, message: EmailMessage, recipient: str | None = None) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """SMTP with the standard library: one connection per batch, reopened when needed.

    URL forms: smtp://host:25 (plain), smtp+starttls://user:password@host:587 (STARTTLS),
    smtps://user:password@host:465 (TLS from the start); user and password URL-encoded.
    """

    def __init__(self, url: str, timeout: float = SMTP_TIMEOUT) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(
                "RESOURCE_CENTRE_SMTP_URL doit être de la forme smtp://hôte:port, "
                "smtp+starttls://utilisateur:mot-de-passe@hôte:587 ou smtps://…"
            )
        self.scheme = scheme
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORTS[scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.scheme == "smtp+starttls":
                smtp.starttls(context=context)
            if self.username is not None:
                self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        """Sign in; a password with non-ASCII characters goes as UTF-8 with AUTH PLAIN
        (RFC 4616), which smtplib's login() cannot send."""
        user, password = self.username or "", self.password or ""
        if (user + password).isascii():
            smtp.login(user, password)
            return
        smtp.ehlo_or_helo_if_needed()
        if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
            raise smtplib.SMTPNotSupportedError("non-ASCII credentials need AUTH PLAIN")
        credentials = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
        code, answer = smtp.docmd("AUTH", f"PLAIN {credentials}")
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, answer)

    def send(self, row_id: int, message: EmailMessage, recipient: str | None = None) -> None:
        """Deliver `message` to `recipient` alone (the envelope's one RCPT TO, whatever its
        To header says; None: the header's addresses). TransportDown when the server cannot
        be used at all."""
        reused = self._smtp is not None
        try:
            if self._smtp is None:
                self._smtp = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            self._smtp = None
            raise TransportDown(self.describe(exc)) from exc
        try:
            self._smtp.send_message(message, to_addrs=[recipient] if recipient else None)
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            if not reused:
                raise TransportDown(self.describe(exc)) from exc
            self.send(row_id, message, recipient)  # the kept connection had timed out: again
        except (
            smtplib.SMTPRecipientsRefused,
            smtplib.SMTPSenderRefused,
            smtplib.SMTPDataError,
        ) as exc:
            raise MessageRefused(self.describe(exc)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TransportDown(self.describe(exc)) from exc

    def describe(self, exc: BaseException) -> str:
        """A technical error text without the SMTP password."""
        return error_text(exc, secrets_to_hide=(self.password,))

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


class FileTransport:
    """Writes each message to FOLDER/ID.eml (owner-only), replacing it atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, row_id: int) -> Path:
        return eml_path(self.folder, row_id)

    def send(self, row_id: int, message: EmailMessage, recipient: str | None = None) -> None:
        """Write the file (an operator delivers it: `recipient` is its To header)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.path_for(row_id)
        tmp = self.folder / f".{row_id}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(message.as_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        return None


def eml_path(folder: Path, row_id: int) -> Path:
    """Where the file transport writes the message of outbox row `row_id`."""
    return folder / f"{int(row_id)}.eml"


def transport_for(settings: Settings) -> SmtpTransport | FileTransport:
    """SMTP when RESOURCE_CENTRE_SMTP_URL is set, else .eml files in data/outbox/."""
    if settings.smtp_url is not None:
        return SmtpTransport(settings.smtp_url.get_secret_value())
    return FileTransport(settings.outbox_dir)


def error_text(exc: BaseException, secrets_to_hide: tuple[str | None, ...] = ()) -> str:
    """`Type: message` on one line, at most ERROR_MAX characters, secrets blanked out."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    for secret in secrets_to_hide:
        if secret:
            text = text.replace(secret, "***")
    return text[:ERROR_MAX]
