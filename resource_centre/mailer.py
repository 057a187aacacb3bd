"""E-mail rendering and transports: an outbox row becomes a French text + HTML message.

`compose` renders templates/emails/NAME.txt and NAME.html (each extends emails/base.*) with
the row's context; links given as site paths become absolute with BASE_URL. A transport
delivers it: `SmtpTransport` (RESOURCE_CENTRE_SMTP_URL: smtp://, smtp+starttls://, smtps://)
or `FileTransport` (no SMTP_URL: data/outbox/ID.eml, for the demo and the back-office).
`resource_centre.mail_sender` decides what to send, when, and records the outcome.
"""

from __future__ import annotations

import base64
import contextlib
import email.policy
import os
import secrets
import smtplib
import socket
import ssl
import threading
from datetime import UTC
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from resource_centre import dates, unsubscribe
from resource_centre.config import SMTP_URL_INVALID, InvalidSmtpUrl, Settings, smtp_url_parts
from resource_centre.models import OutboxMessage

PACKAGE_DIR = Path(__file__).resolve().parent
# As in web/app.py: an installed wheel carries the templates inside the package, a source
# checkout keeps them in the repository's top-level templates/.
TEMPLATES_DIR = next(
    (d for d in (PACKAGE_DIR / "templates", PACKAGE_DIR.parent / "templates") if d.is_dir()),
    PACKAGE_DIR / "templates",
)
SENDER_NAME = "Centre de ressources"
ERROR_MAX = 500  # characters of last_error kept in the outbox row
SMTP_TIMEOUT = 20.0  # seconds per network operation
# Seconds one message may take in all (connection, TLS, sign-in, envelope, data): the
# sender's claim on a message (mail_sender.CLAIM_SECONDS) outlasts it.
MESSAGE_SECONDS = 120.0
# CRLF line ends; headers stored raw (set_raw) are written as they are, never re-encoded.
POLICY = email.policy.SMTP.clone(refold_source="none")


class TransportDown(Exception):
    """The transport cannot deliver anything now (server unreachable, refused sign-in, TLS
    failure…): the other messages of the batch would fail the same way."""


class MessageRefused(Exception):
    """This message failed, the others may go: refused by the server (recipient, sender,
    data), not encodable for it (SMTPUTF8), or lost with the connection after its DATA."""


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


class _SMTP(smtplib.SMTP):
    """smtplib.SMTP noting when a message's DATA began (what failed after it is the
    message's, not the connection's), created first and connected after (so that a
    `_Deadline` can reach its socket)."""

    data_started = False

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        self._host = host  # TLS checks the certificate against it (set by __init__ only)
        code, answer = super().connect(host, port, source_address)
        if code != 220:  # as SMTP(host, port) checks the greeting
            self.close()
            raise smtplib.SMTPConnectError(code, answer)
        return code, answer

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.data_started = True
        return super().data(msg)


class _SMTPS(smtplib.SMTP_SSL, _SMTP):
    """`_SMTP` over TLS from the start (smtps://)."""


class _Deadline:
    """Cuts the connection of a message that takes longer than `seconds` in all: each
    network operation has its own time limit, but a message makes a dozen of them."""

    def __init__(self, transport: SmtpTransport, seconds: float) -> None:
        self.transport = transport
        self.expired = False
        self._over = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.expired = True
            sock = getattr(self.transport.current, "sock", None)
            if sock is not None:  # the plain socket's shutdown: the SSL object stays put
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        with self._lock:
            self._over = True
        self._timer.cancel()


class SmtpTransport:
    """SMTP with the standard library: one connection per batch, reopened when needed.

    URL forms: smtp://host:25 (plain), smtp+starttls://user:password@host:587 (STARTTLS),
    smtps://user:password@host:465 (TLS from the start); user and password URL-encoded.
    Each network operation waits at most `timeout` seconds, a message MESSAGE_SECONDS in all.
    """

    def __init__(self, url: str, timeout: float = SMTP_TIMEOUT) -> None:
        try:
            parts = smtp_url_parts(url)
        except InvalidSmtpUrl:
            raise ValueError(SMTP_URL_INVALID) from None
        self.scheme, self.host, self.port = parts.scheme, parts.host, parts.port
        self.username, self.password = parts.username, parts.password
        self.timeout = timeout
        self.secrets = url_secrets(url)
        self._smtp: _SMTP | _SMTPS | None = None
        self.current: _SMTP | _SMTPS | None = None  # the connection in use, even half open

    def _connect(self) -> _SMTP | _SMTPS:
        context = ssl.create_default_context()
        smtp: _SMTP | _SMTPS
        if self.scheme == "smtps":
            smtp = _SMTPS(timeout=self.timeout, context=context)
        else:
            smtp = _SMTP(timeout=self.timeout)
        self.current = smtp
        try:
            smtp.connect(self.host, self.port)
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
        To header says; None: the header's addresses).

        TransportDown: the server cannot be used (connection, TLS, sign-in; or the connection
        lost before this message began). MessageRefused: this message failed, the next one
        may go (on a new connection if this one was lost).
        """
        deadline = _Deadline(self, MESSAGE_SECONDS)
        try:
            self._send(message, recipient, deadline, retry=True)
        finally:
            deadline.cancel()

    def _send(
        self, message: EmailMessage, recipient: str | None, deadline: _Deadline, retry: bool
    ) -> None:
        reused = self._smtp is not None
        try:
            if self._smtp is None:
                self._smtp = self._connect()
        except Exception as exc:  # refused, unreachable, TLS, sign-in: nothing can go
            self._smtp = self.current = None
            raise TransportDown(self.describe(exc, deadline)) from exc
        smtp = self._smtp
        self.current = smtp
        smtp.data_started = False
        try:
            smtp.send_message(message, to_addrs=[recipient] if recipient else None)
        except (
            smtplib.SMTPRecipientsRefused,
            smtplib.SMTPSenderRefused,
            smtplib.SMTPDataError,
            smtplib.SMTPNotSupportedError,
        ) as exc:  # answered by the server; smtplib reset the transaction: keep the connection
            raise MessageRefused(self.describe(exc, deadline)) from exc
        except OSError as exc:  # SMTPServerDisconnected, a time-out, a reset…
            self._drop()
            if smtp.data_started:  # lost during or after this message's DATA: its failure
                raise MessageRefused(self.describe(exc, deadline)) from exc
            if reused and retry and not deadline.expired:  # the kept connection timed out
                self._send(message, recipient, deadline, retry=False)
                return
            raise TransportDown(self.describe(exc, deadline)) from exc
        except Exception as exc:  # UnicodeEncodeError, ValueError…: this message only
            self._drop()  # where the transaction stopped is unknown: start afresh
            raise MessageRefused(self.describe(exc, deadline)) from exc

    def describe(self, exc: BaseException, deadline: _Deadline | None = None) -> str:
        """A technical error text without the SMTP URL, user name or password."""
        text = error_text(exc, secrets_to_hide=self.secrets)
        if deadline is not None and deadline.expired:
            text = f"TimeoutError: message not sent within {MESSAGE_SECONDS:g} s ({text})"
        return text[:ERROR_MAX]

    def close(self) -> None:
        """End the batch: QUIT, then close the connection."""
        smtp, self._smtp, self.current = self._smtp, None, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def _drop(self) -> None:
        """Close a connection in an unknown state at once, without a QUIT that could wait."""
        smtp, self._smtp, self.current = self._smtp, None, None
        if smtp is not None:
            smtp.close()


class FileTransport:
    """Writes each message to FOLDER/ID.eml (owner-only), replacing it atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, row_id: int) -> Path:
        return eml_path(self.folder, row_id)

    def send(self, row_id: int, message: EmailMessage, recipient: str | None = None) -> None:
        """Write the file (an operator delivers it: `recipient` is its To header);
        TransportDown when the folder cannot be written (full disk, permissions)."""
        content = message.as_bytes()  # a message that cannot be rendered fails alone
        target = self.path_for(row_id)
        tmp = self.folder / f".{row_id}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise TransportDown(error_text(exc)) from exc

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
    text = scrub(" ".join(f"{type(exc).__name__}: {exc}".split()), secrets_to_hide)
    return text[:ERROR_MAX]


def url_secrets(url: str | None) -> tuple[str, ...]:
    """What must never be shown of an SMTP URL: the URL itself, its user and password as
    written (percent-encoded) and decoded; longest first, so that each is hidden whole."""
    if not url:
        return ()
    found = {url, url.strip()}
    userinfo = urlsplit(url.strip()).netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    found.update({userinfo, password, unquote(password)})
    if len(user) >= 3:  # a shorter name would blank out pieces of every word
        found.update({user, unquote(user)})
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def settings_secrets(settings: Settings) -> tuple[str, ...]:
    """`url_secrets` of the configured SMTP URL (none without one)."""
    return url_secrets(settings.smtp_url.get_secret_value() if settings.smtp_url else None)


def scrub(text: str, secrets_to_hide: tuple[str | None, ...]) -> str:
    """`text` with each secret (and its percent-encoded form) replaced by ***."""
    for secret in secrets_to_hide:
        if secret:
            for form in (secret, quote(secret, safe=""), quote(secret)):
                text = text.replace(form, "***")
    return text
