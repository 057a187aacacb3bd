"""The sender in its real places: the web app's lifespan thread, and `send-mail`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient
from typer.testing import CliRunner

from resource_centre.cli import app as cli
from resource_centre.db import make_engine, write_session
from resource_centre.mail_sender import MailSender, prune, send_pending
from resource_centre.models import OutboxMessage
from resource_centre.web.app import create_app
from tests.conftest import make_settings
from tests.mail.conftest import free_port
from tests.mail.test_sender import ROOT, cli_env, enqueue, rows
from tests.web.conftest import build_settings

HOUR = timedelta(hours=1)


def test_the_running_app_delivers_within_ten_seconds(tmp_path, smtp_server):
    settings = build_settings(tmp_path, smtp_url=smtp_server.url)
    assert settings.mail_poll_seconds == 2.0  # the default
    application = create_app(settings)
    with TestClient(application) as client:
        assert client.get("/").status_code == 200
        sender = application.state.mail_sender
        enqueue(application.state.engine, 2)
        received = smtp_server.wait_for(2, timeout=10)
        assert sorted(str(m["Subject"]) for m in received) == ["Avis n° 1", "Avis n° 2"]
        deadline = time.monotonic() + 5  # marked sent just after the server's answer
        while [m.status for m in rows(application.state.engine)] != ["sent", "sent"]:
            assert time.monotonic() < deadline, rows(application.state.engine)
            time.sleep(0.05)
    assert sender._thread is not None and not sender._thread.is_alive()  # stopped with the app


def run(settings, *args: str):
    env = {k: v for k, v in cli_env(settings).items() if k.startswith("RESOURCE_CENTRE_")}
    return CliRunner().invoke(cli, ["send-mail", *args], env=env)


def test_send_mail_exit_codes(smtp_server, mail_settings):
    engine = make_engine(mail_settings.database_url)
    try:
        enqueue(engine, 2)
        smtp_server.stop()
        down = run(mail_settings)
        assert down.exit_code == 1, down.output
        assert "0 courriel(s) envoyé(s)." in down.output
        assert "1 courriel(s) n'ont pas pu être envoyés" in down.output
        assert "2 courriel(s) en attente." in down.output
        assert [m.attempts for m in rows(engine)] == [1, 0]  # one tried, the other delayed

        smtp_server.start()
        waiting = run(mail_settings)  # not due yet: nothing tried, nothing failed
        assert waiting.exit_code == 0, waiting.output
        assert "0 courriel(s) envoyé(s)." in waiting.output
        with write_session(engine) as session:  # half a minute later
            session.execute(
                update(OutboxMessage).values(next_attempt_at=datetime.now(UTC) - timedelta(1))
            )
        up = run(mail_settings)
        assert up.exit_code == 0, up.output
        assert "2 courriel(s) envoyé(s)." in up.output
        assert "en attente" not in up.output
        assert len(smtp_server.wait_for(2)) == 2
    finally:
        engine.dispose()


LEAKY_URL = "smtp+starttls://alice:Tr0ub4dor/3@mail.example:587"  # "/" not encoded
SMTP_URL_REFUSED = "RESOURCE_CENTRE_SMTP_URL n'est pas une adresse SMTP valide"


def broken_env(settings, **variables: str) -> dict[str, str]:
    broken = settings.model_copy(update={"smtp_url": None})
    env = {k: v for k, v in cli_env(broken).items() if k.startswith("RESOURCE_CENTRE_")}
    env.update(variables)
    return env


def test_send_mail_refuses_a_malformed_smtp_url_without_repeating_it(mail_settings):
    """Review finding: send-mail printed "Port could not be cast to integer value as
    'Tr0ub4dor'" (a piece of the password)."""
    for url in (LEAKY_URL, "http://mail.example"):
        env = broken_env(mail_settings, RESOURCE_CENTRE_SMTP_URL=url)
        result = CliRunner().invoke(cli, ["send-mail"], env=env)
        assert result.exit_code == 1
        assert SMTP_URL_REFUSED in result.output and "%2F" in result.output
        assert "Tr0ub4dor" not in result.output and "alice" not in result.output
        assert "mail.example" not in result.output


def test_serve_refuses_a_malformed_smtp_url_at_start(mail_settings):
    """The server stops at start with the same message, never the URL (it used to start,
    then log the parsing error with the password at each poll and store it in the outbox)."""
    env = dict(os.environ)
    env.update(broken_env(mail_settings, RESOURCE_CENTRE_SMTP_URL=LEAKY_URL))
    command = [sys.executable, "-m", "resource_centre", "serve", "--port", str(free_port())]
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = proc.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        output = proc.communicate()[0]
        pytest.fail(f"serve started with a malformed SMTP URL: {output[-2000:]}")
    assert proc.returncode != 0
    assert SMTP_URL_REFUSED in output
    assert "Tr0ub4dor" not in output and "alice" not in output


def test_send_mail_refuses_a_mail_from_of_two_addresses(mail_settings):
    env = broken_env(mail_settings, RESOURCE_CENTRE_MAIL_FROM="a@regies.example, b@exemple.org")
    result = CliRunner().invoke(cli, ["send-mail"], env=env)
    assert result.exit_code == 1
    assert "RESOURCE_CENTRE_MAIL_FROM doit être une seule adresse" in result.output
    assert "Traceback" not in result.output


def age(engine, row_id: int, **fields: datetime) -> None:
    with write_session(engine) as session:
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == row_id).values(**fields)  # type: ignore[arg-type]
        )


def test_sent_messages_are_pruned_after_thirty_days_with_their_files(tmp_path, sqlite_url):
    """Review finding: sent rows and data/outbox/*.eml files were kept forever."""
    settings = make_settings(tmp_path, sqlite_url, base_url="https://centre.example")
    engine = make_engine(sqlite_url)
    try:
        old, recent, abandoned = enqueue(engine, 3)
        assert send_pending(engine, settings, holder="test").sent == 3
        [waiting] = enqueue(engine)
        long_ago = datetime.now(UTC) - timedelta(days=31)
        age(engine, old, sent_at=long_ago)
        age(engine, abandoned, status="failed", sent_at=None, next_attempt_at=long_ago)
        age(engine, waiting, created_at=long_ago, next_attempt_at=datetime.now(UTC) + HOUR)
        age(engine, recent, sent_at=datetime.now(UTC) - timedelta(days=29))
        assert prune(engine, settings) == 2
        assert [m.id for m in rows(engine)] == [recent, waiting]  # a pending one stays
        assert sorted(p.name for p in settings.outbox_dir.glob("*.eml")) == [f"{recent}.eml"]
        assert prune(engine, settings) == 0
    finally:
        engine.dispose()


def test_the_sender_thread_prunes_at_most_once_an_hour(tmp_path, sqlite_url):
    settings = make_settings(tmp_path, sqlite_url, mail_poll_seconds=0.1)
    engine = make_engine(sqlite_url)
    try:
        first, second = enqueue(engine, 2)
        assert send_pending(engine, settings, holder="test").sent == 2
        age(engine, first, sent_at=datetime.now(UTC) - timedelta(days=31))
        sender = MailSender(engine, settings)
        sender.start()
        try:
            deadline = time.monotonic() + 10
            while len(rows(engine)) == 2:
                assert time.monotonic() < deadline, "not pruned"
                time.sleep(0.05)
            age(engine, second, sent_at=datetime.now(UTC) - timedelta(days=31))
            time.sleep(1.0)  # ten polls
            assert [m.id for m in rows(engine)] == [second]  # not before an hour
        finally:
            sender.stop()
    finally:
        engine.dispose()


def test_send_mail_prunes_and_gives_up_after_seven_days(smtp_server, mail_settings):
    """Review finding: a message failing forever was retried forever; now, seven days after
    it was written, it is marked "failed" (« Échec »), and send-mail says so (code 1)."""
    engine = make_engine(mail_settings.database_url)
    try:
        old_sent, tried, untried, young = enqueue(engine, 4)
        week_ago = datetime.now(UTC) - timedelta(days=7, minutes=1)
        age(engine, old_sent, status="sent", sent_at=datetime.now(UTC) - timedelta(days=31))
        age(engine, tried, created_at=week_ago)
        age(engine, untried, created_at=week_ago)
        smtp_server.stop()
        result = run(mail_settings)
        assert result.exit_code == 1, result.output
        assert "2 courriel(s) abandonné(s) après 7 jours d'échecs" in result.output
        assert "1 courriel(s) en attente." in result.output
        assert (
            "1 ancien(s) courriel(s) effacé(s) (envoyés ou abandonnés il y a plus de 30 jours)."
        ) in result.output
        stored = {m.id: m for m in rows(engine)}
        assert old_sent not in stored
        assert [stored[i].status for i in (tried, untried, young)] == [
            "failed",
            "failed",
            "pending",
        ]
        assert [stored[i].attempts for i in (tried, untried, young)] == [1, 0, 0]
        assert all("refused" in (stored[i].last_error or "").lower() for i in (tried, untried))

        smtp_server.start()
        age(engine, young, next_attempt_at=datetime.now(UTC) - HOUR)
        again = run(mail_settings)
        assert again.exit_code == 0, again.output
        assert "1 courriel(s) envoyé(s)." in again.output
        assert [str(m["Subject"]) for m in smtp_server.wait_for(1)] == ["Avis n° 4"]
        assert [m.status for m in rows(engine)] == ["failed", "failed", "sent"]
    finally:
        engine.dispose()


def test_send_mail_without_smtp_writes_eml_files(mail_settings):
    engine = make_engine(mail_settings.database_url)
    try:
        [row_id] = enqueue(engine)
        files = mail_settings.model_copy(update={"smtp_url": None})
        result = run(files)
        assert result.exit_code == 0, result.output
        assert "1 courriel(s) écrit(s) dans" in result.output
        assert (mail_settings.outbox_dir / f"{row_id}.eml").is_file()
    finally:
        engine.dispose()
