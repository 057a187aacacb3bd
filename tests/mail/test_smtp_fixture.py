"""The SMTP test server itself: receives, stops, restarts on the same port."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest


def _send(url_port: int, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "a@exemple.org"
    message["To"] = "b@exemple.org"
    message["Subject"] = subject
    message.set_content("Bonjour é")
    with smtplib.SMTP("127.0.0.1", url_port, timeout=5) as smtp:
        smtp.send_message(message)


def test_stop_and_start_on_the_same_port(smtp_server) -> None:
    _send(smtp_server.port, "un")
    assert [m["Subject"] for m in smtp_server.wait_for(1)] == ["un"]
    assert smtp_server.recipients == [["b@exemple.org"]]
    port = smtp_server.port
    smtp_server.stop()
    with pytest.raises(OSError):
        _send(port, "perdu")
    smtp_server.start()
    assert smtp_server.port == port
    _send(port, "deux")
    received = smtp_server.wait_for(2)
    assert [m["Subject"] for m in received] == ["un", "deux"]
    assert received[1].get_content().strip() == "Bonjour é"
    smtp_server.clear()
    assert smtp_server.messages == []
