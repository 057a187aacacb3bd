"""Fixtures for the mail tests: a real SMTP server (aiosmtpd) on loopback.

def test_x(smtp_server, mail_settings):
    ...                                   # settings.smtp_url is smtp_server.url
    smtp_server.stop()                    # connections refused from now on
    smtp_server.start()                   # the same port again
    [message] = smtp_server.wait_for(1)   # email.message.EmailMessage objects
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from resource_centre.config import Settings
from tests.conftest import make_settings
from tests.web.conftest import (  # app, client, login_as, make_user: fixtures used here
    app,  # noqa: F401
    build_settings,
    client,  # noqa: F401
    login_as,  # noqa: F401
    make_user,  # noqa: F401
)

MAIL_ORIGIN = "https://centre.example"


def text_of(message: EmailMessage) -> str:
    """The text/plain part of a received message."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    """The text/html part of a received message."""
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Collector:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, _server: Any, _session: Any, envelope: Any, address: str, _options: Any
    ) -> str:
        if address.lower() in self.server.refused:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, _session: Any, envelope: Any) -> str:
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        if self.server.disconnect & {a.lower() for a in envelope.rcpt_tos}:
            server.transport.close()  # the connection drops right after this DATA
            return "421 4.3.0 Closing"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.server._received(parsed, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be stopped and started on the same port.

    `messages` lists what it received (parsed with email.policy.default), `recipients` the
    envelope recipients of each, in the same order; both survive stop() and start().
    `delay` (seconds) slows the acceptance of each message down; addresses in `refused`
    are refused (550) at RCPT TO; a message to an address in `disconnect` is not accepted:
    the server drops the connection after its DATA. `controller_options` may override
    `enable_SMTPUTF8` (True by default).
    """

    def __init__(self, port: int | None = None, **controller_options: Any) -> None:
        self.host = "127.0.0.1"
        self.options = controller_options  # aiosmtpd's: tls_context, ssl_context, authenticator
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.delay = 0.0
        self.refused: set[str] = set()
        self.disconnect: set[str] = set()
        self._lock = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The RESOURCE_CENTRE_SMTP_URL of this server."""
        return f"smtp://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen (again) on the same port."""
        if self._controller is not None:
            return
        deadline = time.monotonic() + 10
        while True:
            controller = Controller(
                _Collector(self),
                hostname=self.host,
                port=self.port,
                **{"enable_SMTPUTF8": True, **self.options},
            )
            try:
                controller.start()
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # the port is still being released
                continue
            self._controller = controller
            return

    def stop(self) -> None:
        """Stop listening: connections are refused until start()."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._lock:
            self.messages.clear()
            self.recipients.clear()

    def _received(self, message: EmailMessage, rcpt_tos: list[str]) -> None:
        with self._lock:
            self.messages.append(message)
            self.recipients.append(rcpt_tos)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least `count` messages arrived; return them all (a copy)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [str(m["Subject"]) for m in self.messages]
                    pytest.fail(
                        f"SMTP server: {len(self.messages)} message(s) received in "
                        f"{timeout:g} s, {count} expected; subjects: {subjects}"
                    )
                self._lock.wait(left)
            return list(self.messages)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server on loopback (stopped at the end of the test)."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_settings(tmp_path: Path, database_url: str, smtp_server: SmtpServer) -> Settings:
    """Settings on the test's database (SQLite and PostgreSQL) sending to `smtp_server`."""
    return make_settings(
        tmp_path,
        database_url,
        smtp_url=smtp_server.url,
        base_url=MAIL_ORIGIN,
        mail_poll_seconds=0.2,
    )


@pytest.fixture
def web_settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    """tests/web's settings (test corpus imported) with mail sent to `smtp_server`."""
    return build_settings(
        tmp_path, smtp_url=smtp_server.url, base_url=MAIL_ORIGIN, mail_poll_seconds=0.5
    )
