"""The sender in its real places: the web app's lifespan thread, and `send-mail`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from starlette.testclient import TestClient
from typer.testing import CliRunner

from resource_centre.cli import app as cli
from resource_centre.db import make_engine, write_session
from resource_centre.models import OutboxMessage
from resource_centre.web.app import create_app
from tests.mail.test_sender import cli_env, enqueue, rows
from tests.web.conftest import build_settings


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
        assert "2 courriel(s) n'ont pas pu être envoyés" in down.output
        assert "2 courriel(s) en attente." in down.output
        assert [m.attempts for m in rows(engine)] == [1, 1]

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


def test_send_mail_refuses_a_malformed_smtp_url(mail_settings):
    broken = mail_settings.model_copy(update={"smtp_url": None})
    env = {k: v for k, v in cli_env(broken).items() if k.startswith("RESOURCE_CENTRE_")}
    env["RESOURCE_CENTRE_SMTP_URL"] = "http://mail.example"
    result = CliRunner().invoke(cli, ["send-mail"], env=env)
    assert result.exit_code == 1
    assert "RESOURCE_CENTRE_SMTP_URL doit être de la forme" in result.output


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
