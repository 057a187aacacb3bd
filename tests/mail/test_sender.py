"""Sending the outbox (resource_centre/mail_sender.py) to a real SMTP server: a server that
is down delays mail, never loses or doubles it; one sender at a time; an idle sender only
reads; the .eml files of the file transport."""

from __future__ import annotations

import email
import email.policy
import os
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, event, select

from resource_centre import mail_sender, mailer, outbox
from resource_centre.config import Settings
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.mail_sender import (
    LEASE_NAME,
    MailSender,
    SendReport,
    acquire_lease,
    release_lease,
    retry_delay,
    send_pending,
)
from resource_centre.models import MailLease, OutboxMessage
from tests.conftest import make_settings
from tests.mail.conftest import SmtpServer

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def engine(mail_settings: Settings):
    engine = make_engine(mail_settings.database_url)
    yield engine
    engine.dispose()


def enqueue(engine: Engine, count: int = 1, *, security: bool = False) -> list[int]:
    """Write `count` notices to the outbox, each in its own transaction (its own event)."""
    ids = []
    for number in range(count):
        with write_session(engine) as session:
            row = outbox.enqueue(
                session,
                recipient=f"personne{len(ids)}-{number}@exemple.org",
                subject=f"Avis n° {number + 1}",
                template="notice",
                context={"paragraphs": [f"Événement {number + 1}"], "link": "/fiches"},
                security=security,
            )
            session.flush()
            assert row.id is not None
            ids.append(row.id)
    return ids


def rows(engine: Engine) -> list[OutboxMessage]:
    with read_session(engine) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


def test_server_down_during_three_events_then_up_three_messages_once_each(
    smtp_server, mail_settings, engine
):
    smtp_server.stop()
    enqueue(engine, 3)
    down = send_pending(engine, mail_settings, holder="test")
    assert (down.sent, down.failed, down.waiting) == (0, 1, 3)  # one tried, two delayed
    stored = rows(engine)
    assert [m.status for m in stored] == ["pending"] * 3
    assert [m.attempts for m in stored] == [1, 0, 0]
    assert all(m.last_error and "refused" in m.last_error.lower() for m in stored)
    # Not due again before the back-off: nothing is tried, nothing changes.
    assert send_pending(engine, mail_settings, holder="test").failed == 0

    smtp_server.start()
    later = datetime.now(UTC) + timedelta(seconds=31)
    up = send_pending(engine, mail_settings, holder="test", now=later)
    assert (up.sent, up.failed, up.waiting) == (3, 0, 0)
    received = smtp_server.wait_for(3)
    assert sorted(str(m["Subject"]) for m in received) == ["Avis n° 1", "Avis n° 2", "Avis n° 3"]
    assert len({m["Message-ID"] for m in received}) == 3
    stored = rows(engine)
    assert [m.status for m in stored] == ["sent"] * 3
    assert all(m.sent_at is not None and m.last_error is None for m in stored)

    again = send_pending(engine, mail_settings, holder="test", now=later + timedelta(hours=2))
    assert (again.sent, again.failed, again.waiting) == (0, 0, 0)
    assert len(smtp_server.messages) == 3


def test_a_refused_recipient_waits_and_the_others_go(smtp_server, mail_settings, engine):
    ids = enqueue(engine, 3)
    smtp_server.refused.add("personne1-1@exemple.org")
    report = send_pending(engine, mail_settings, holder="test")
    assert (report.sent, report.failed, report.waiting) == (2, 1, 1)
    assert sorted(str(m["To"]) for m in smtp_server.wait_for(2)) == [
        "personne0-0@exemple.org",
        "personne2-2@exemple.org",
    ]
    refused = rows(engine)[1]
    assert refused.id == ids[1] and refused.status == "pending" and refused.attempts == 1
    assert refused.last_error is not None and "550" in refused.last_error
    smtp_server.refused.clear()
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert send_pending(engine, mail_settings, holder="test", now=later).sent == 1
    assert len(smtp_server.wait_for(3)) == 3


def test_back_off_doubles_up_to_one_hour(smtp_server, mail_settings, engine):
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 7, 8, 50)] == [
        30,
        60,
        120,
        1920,
        3600,
        3600,
    ]
    smtp_server.stop()
    [row_id] = enqueue(engine)
    now = datetime.now(UTC)
    waits = []
    for _ in range(9):
        assert send_pending(engine, mail_settings, holder="test", now=now).failed == 1
        [message] = rows(engine)
        waits.append((message.next_attempt_at - now).total_seconds())
        now = message.next_attempt_at
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert message.attempts == 9 and message.id == row_id and message.status == "pending"


def test_a_message_not_due_waits(smtp_server, mail_settings, engine):
    enqueue(engine, 2)
    with write_session(engine) as session:
        later = session.get(OutboxMessage, rows(engine)[1].id)
        assert later is not None
        later.next_attempt_at = datetime.now(UTC) + timedelta(minutes=5)
    report = send_pending(engine, mail_settings, holder="test")
    assert (report.sent, report.failed, report.waiting) == (1, 0, 1)
    assert [str(m["Subject"]) for m in smtp_server.wait_for(1)] == ["Avis n° 1"]


def test_only_the_lease_holder_sends(smtp_server, mail_settings, engine):
    enqueue(engine, 2)
    assert acquire_lease(engine, "other-machine:1:ab")
    busy = send_pending(engine, mail_settings, holder="test")
    assert busy.busy and (busy.sent, busy.waiting) == (0, 2)
    assert smtp_server.messages == []
    assert not acquire_lease(engine, "test")
    release_lease(engine, "other-machine:1:ab")
    assert send_pending(engine, mail_settings, holder="test").sent == 2
    with read_session(engine) as session:
        lease = session.get(MailLease, LEASE_NAME)
        assert lease is not None and lease.holder == ""  # released at the end


def test_an_expired_lease_is_taken_over(smtp_server, mail_settings, engine):
    enqueue(engine)
    assert acquire_lease(engine, "crashed:1:ab")
    with write_session(engine) as session:
        lease = session.get(MailLease, LEASE_NAME)
        assert lease is not None
        lease.until = datetime.now(UTC) - timedelta(seconds=1)  # its holder died
    assert send_pending(engine, mail_settings, holder="test").sent == 1


def test_two_senders_in_one_process_never_share_a_message(smtp_server, mail_settings, engine):
    enqueue(engine, 20)
    smtp_server.delay = 0.02
    reports = []
    start = threading.Barrier(2)

    def sender(holder: str) -> None:
        start.wait()
        reports.append(send_pending(engine, mail_settings, holder=holder, lease_wait=0.0))

    threads = [threading.Thread(target=sender, args=(f"thread-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.sent for r in reports) == [0, 20]
    assert [r.busy for r in reports if r.sent == 0] == [True]  # it found the lease taken
    ids = Counter(str(m["Message-ID"]) for m in smtp_server.wait_for(20))
    assert len(ids) == 20 and set(ids.values()) == {1}


def test_idle_sender_only_reads(smtp_server, mail_settings, engine):
    statements: list[str] = []
    watched = make_engine(mail_settings.database_url)
    event.listen(watched, "before_cursor_execute", lambda *args: statements.append(args[2]))
    sender = MailSender(watched, mail_settings)  # polls every 0.2 s
    sender.start()
    try:
        threading.Event().wait(1.5)
    finally:
        sender.stop()
        watched.dispose()
    assert len(statements) >= 3  # it did poll
    # SELECTs, and on SQLite the deferred BEGIN of a read (a writer's is BEGIN IMMEDIATE).
    kinds = Counter(" ".join(sql.split()[:1]).upper() for sql in statements)
    assert set(kinds) <= {"SELECT", "BEGIN"}, kinds
    assert "BEGIN IMMEDIATE" not in statements
    with read_session(engine) as session:
        assert session.get(MailLease, LEASE_NAME) is None  # not even the lease row


def test_sender_thread_delivers_what_is_enqueued(smtp_server, mail_settings, engine):
    sender = MailSender(engine, mail_settings)
    sender.start()
    try:
        enqueue(engine, 2)
        assert len(smtp_server.wait_for(2, timeout=10)) == 2
    finally:
        sender.stop()
    assert [m.status for m in rows(engine)] == ["sent", "sent"]


def cli_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=settings.database_url,
        RESOURCE_CENTRE_DATA_DIR=str(settings.data_dir),
        RESOURCE_CENTRE_INDEX_DIR=str(settings.index_dir),
        RESOURCE_CENTRE_SMTP_URL=settings.smtp_url.get_secret_value() if settings.smtp_url else "",
        RESOURCE_CENTRE_BASE_URL=settings.base_url or "",
    )
    if settings.secret_key_value:
        env["RESOURCE_CENTRE_SECRET_KEY"] = settings.secret_key_value
    return env


@pytest.mark.slow
def test_two_send_mail_processes_at_once_send_each_message_once(smtp_server, mail_settings, engine):
    enqueue(engine, 40)
    smtp_server.delay = 0.05  # two seconds of sending: the processes overlap
    command = [sys.executable, "-m", "resource_centre", "send-mail"]
    procs = [
        subprocess.Popen(
            command,
            env=cli_env(mail_settings),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=90)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    received = smtp_server.wait_for(40)
    threading.Event().wait(0.5)  # anything sent twice would arrive now
    ids = Counter(str(m["Message-ID"]) for m in smtp_server.messages)
    assert len(ids) == 40 and set(ids.values()) == {1}, ids.most_common(3)
    assert len(received) == 40
    assert all(m.status == "sent" for m in rows(engine))
    sent = [
        int(line.split()[0]) for out in outputs for line in out.splitlines() if "envoyé" in line
    ]
    assert len(sent) == 2 and sum(sent) == 40, outputs


def test_file_transport_writes_private_eml_files(tmp_path, sqlite_url):
    settings = make_settings(tmp_path, sqlite_url, base_url="https://centre.example")
    engine = make_engine(sqlite_url)
    try:
        ids = enqueue(engine, 2)
        previous = os.umask(0o022)
        try:
            report = send_pending(engine, settings, holder="test")
        finally:
            os.umask(previous)
        assert (report.sent, report.failed) == (2, 0)
        folder = tmp_path / "data" / "outbox"
        assert sorted(p.name for p in folder.iterdir()) == [f"{i}.eml" for i in ids]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for row_id in ids:
            path = folder / f"{row_id}.eml"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert parsed["Message-ID"].startswith(f"<outbox-{row_id}-")
            assert parsed["List-Unsubscribe"].startswith("<https://centre.example/desabonnement/")
        assert all(m.status == "sent" for m in rows(engine))
    finally:
        engine.dispose()


def test_a_sent_security_message_keeps_no_link_in_the_outbox(smtp_server, mail_settings, engine):
    """Review finding: the live reset/invitation link stayed in the sent row's context."""
    [security] = enqueue(engine, security=True)
    [ordinary] = enqueue(engine)
    assert send_pending(engine, mail_settings, holder="test").sent == 2
    for message in smtp_server.wait_for(2):  # both delivered with their link
        body = message.get_body(("plain",))
        assert body is not None and "https://centre.example/fiches" in body.get_content()
    stored = {m.id: m for m in rows(engine)}
    assert stored[security].status == "sent"
    assert stored[security].context == {
        "paragraphs": ["Événement 1"],
        "link": "(lien retiré après envoi)",
    }
    assert stored[ordinary].context["link"] == "/fiches"


def test_one_envelope_recipient_whatever_the_to_header(smtp_server, mail_settings, engine):
    """Review finding: a recipient such as `a@x, evil@y` made a To header of two addresses
    and smtplib delivered to both; the envelope now names the row's recipient alone."""
    with write_session(engine) as session:
        outbox.enqueue(
            session,
            recipient="victime@exemple.org, pirate@attaquant.example",
            subject="Avis",
            template="notice",
            context={"paragraphs": ["Texte"], "link": "/fiches"},
        )
    report = send_pending(engine, mail_settings, holder="test")
    assert report.sent == 1, rows(engine)[0].last_error
    smtp_server.wait_for(1)
    assert smtp_server.recipients == [["victime@exemple.org"]]


# Review findings (MENDS-C): one message never blocks the others; a slow send is never sent
# twice; the lease and the claims follow the database's clock; untried messages keep their
# attempts.


def enqueue_to(engine: Engine, recipient: str, subject: str = "Avis") -> int:
    with write_session(engine) as session:
        row = outbox.enqueue(
            session,
            recipient=recipient,
            subject=subject,
            template="notice",
            context={"paragraphs": ["Texte"], "link": "/fiches"},
        )
        session.flush()
        assert row.id is not None
        return row.id


def test_a_message_the_server_cannot_take_does_not_block_the_others(mail_settings, engine):
    """Review finding: an address the server cannot take (no SMTPUTF8) was taken for a server
    down, so the whole batch was delayed again and again: 4 rounds, 0 delivered."""
    server = SmtpServer(enable_SMTPUTF8=False)
    server.start()
    try:
        settings = mail_settings.model_copy(update={"smtp_url": SecretStr(server.url)})
        marie = enqueue_to(engine, "marie@régie-quartier.fr", "Pour Marie")
        enqueue(engine, 3)
        now = datetime.now(UTC)
        for _ in range(4):
            send_pending(engine, settings, holder="test", now=now)
            now += timedelta(hours=2)
        received = server.wait_for(3)
        assert sorted(str(m["Subject"]) for m in received) == [
            "Avis n° 1",
            "Avis n° 2",
            "Avis n° 3",
        ]
        stored = {m.id: m for m in rows(engine)}
        assert stored[marie].status == "pending" and stored[marie].attempts == 4
        assert "SMTPUTF8" in (stored[marie].last_error or "")
        assert [m.status for i, m in stored.items() if i != marie] == ["sent"] * 3
    finally:
        server.stop()


def test_a_disconnect_after_one_message_data_fails_that_message_only(
    smtp_server, mail_settings, engine
):
    ids = enqueue(engine, 3)
    smtp_server.disconnect.add("personne1-1@exemple.org")
    report = send_pending(engine, mail_settings, holder="test")
    assert (report.sent, report.failed, report.waiting) == (2, 1, 1)
    assert sorted(str(m["Subject"]) for m in smtp_server.wait_for(2)) == ["Avis n° 1", "Avis n° 3"]
    stored = {m.id: m for m in rows(engine)}
    assert stored[ids[1]].attempts == 1 and stored[ids[1]].status == "pending"
    assert "Disconnected" in (stored[ids[1]].last_error or "")
    assert [stored[ids[0]].attempts, stored[ids[2]].attempts] == [0, 0]


def test_a_slow_send_is_not_sent_again_by_a_sender_taking_over(
    smtp_server, mail_settings, engine, monkeypatch
):
    """Review finding: the lease was renewed only between messages; a sender taking over an
    expired lease during a slow send sent the same message again."""
    monkeypatch.setattr(mail_sender, "LEASE_SECONDS", 1.0)
    enqueue(engine)
    smtp_server.delay = 2.5
    reports: list[SendReport] = []
    first = threading.Thread(
        target=lambda: reports.append(send_pending(engine, mail_settings, holder="first"))
    )
    first.start()
    time.sleep(1.5)  # the first sender's lease has expired; its message is on the wire
    second = send_pending(engine, mail_settings, holder="second")
    first.join(timeout=30)
    assert [r.sent for r in reports] == [1] and second.sent == 0
    smtp_server.wait_for(1)
    time.sleep(3)  # a second delivery would arrive now
    assert len(smtp_server.messages) == 1
    assert [m.status for m in rows(engine)] == ["sent"]


def test_a_claim_outlasts_the_longest_send():
    """A message is claimed for longer than its SMTP time can last (bounded by the mailer)."""
    worst = mailer.MESSAGE_SECONDS + mailer.SMTP_TIMEOUT  # a connection begun at the limit
    assert 2 * worst <= mail_sender.CLAIM_SECONDS


def skewed_clock(monkeypatch, offset: timedelta) -> None:
    """This thread's machine clock is `offset` ahead (other threads keep the right time)."""
    main = threading.current_thread()

    def now() -> datetime:
        wall = datetime.now(UTC)
        return wall + offset if threading.current_thread() is main else wall

    monkeypatch.setattr(mail_sender, "utcnow", now)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)  # several machines share a PostgreSQL only: SQLite is one machine, one clock
def test_a_skewed_clock_cannot_take_a_live_lease(mail_settings, engine, monkeypatch):
    """Review finding: the lease compared each machine's own clock; one five minutes ahead
    took a lease its holder had just renewed. PostgreSQL: the database's clock decides."""
    assert engine.dialect.name == "postgresql"
    assert acquire_lease(engine, "on-time:1:aa")
    skewed_clock(monkeypatch, timedelta(minutes=5))
    assert not acquire_lease(engine, "skewed:1:bb")
    with read_session(engine) as session:
        lease = session.get(MailLease, LEASE_NAME)
        assert lease is not None and lease.holder == "on-time:1:aa"
    release_lease(engine, "on-time:1:aa")
    assert acquire_lease(engine, "skewed:1:bb")  # free: taken whatever the clock


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)  # several machines share a PostgreSQL only: SQLite is one machine, one clock
def test_a_skewed_clock_does_not_see_a_claimed_message_as_due(
    smtp_server, mail_settings, engine, monkeypatch
):
    """The claim of a message being sent is on the database's clock too: a sender whose
    clock is 15 minutes ahead does not take it for due while it is on the wire."""
    assert engine.dialect.name == "postgresql"
    monkeypatch.setattr(mail_sender, "LEASE_SECONDS", 1.0)
    enqueue(engine)
    smtp_server.delay = 2.5
    first = threading.Thread(target=send_pending, args=(engine, mail_settings), kwargs={
        "holder": "first"})  # fmt: skip
    first.start()
    time.sleep(1.5)
    skewed_clock(monkeypatch, timedelta(minutes=15))  # this (main) thread only
    second = send_pending(engine, mail_settings, holder="second")
    first.join(timeout=30)
    assert second.sent == 0
    smtp_server.wait_for(1)
    time.sleep(3)
    assert len(smtp_server.messages) == 1


def test_a_long_outage_counts_attempts_for_the_message_tried_only(
    smtp_server, mail_settings, engine
):
    """Review finding: with the server unreachable, every message of the batch counted an
    attempt, so messages never tried waited ever longer (up to an hour)."""
    smtp_server.stop()
    enqueue(engine, 3)
    now = datetime.now(UTC)
    for _ in range(5):
        report = send_pending(engine, mail_settings, holder="test", now=now)
        assert report.failed == 1
        now = rows(engine)[0].next_attempt_at
    stored = rows(engine)
    assert [m.attempts for m in stored] == [5, 0, 0]
    assert len({m.next_attempt_at for m in stored}) == 1  # the others wait as the tried one
    assert all("refused" in (m.last_error or "").lower() for m in stored)
    smtp_server.start()
    assert send_pending(engine, mail_settings, holder="test", now=now).sent == 3
