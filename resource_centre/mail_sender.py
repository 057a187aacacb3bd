"""Sending the outbox: one sender at a time, retries with back-off, nothing lost or doubled.

`send_pending` sends the messages that are due. Across processes and machines only the
holder of the `mail_lease` row "outbox" sends (a conditional UPDATE takes it; it lasts
LEASE_SECONDS and is renewed before each message); each message is marked sent in its own
short transaction right after the server accepted it (a security message loses its link
there: see `sent_context`), and a failed one waits min(30 s × 2^(attempts-1), 1 h) before
the next try. With nothing due it only reads.

`MailSender` is the background thread of a server process (started by web/app.py):
it polls every `mail_poll_seconds` and, at most once a minute, builds the weekly digests
(`resource_centre.digests.build_due`, when that module exists).
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from resource_centre import mailer
from resource_centre.config import Settings
from resource_centre.db import read_session, write_session
from resource_centre.models import MailLease, OutboxMessage

log = logging.getLogger(__name__)

LEASE_NAME = "outbox"
LEASE_SECONDS = 60.0
FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0
DIGEST_EVERY_SECONDS = 60.0
STOP_WAIT_SECONDS = mailer.SMTP_TIMEOUT + 5  # a message being sent when the server stops
# What a sent security message keeps in place of its link (see `sent_context`).
LINK_REMOVED = "(lien retiré après envoi)"
# Dates compare as stored (UTC); a released lease is older than any clock.
RELEASED = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SendReport:
    """The outcome of one `send_pending`: messages sent, failed now, and still waiting."""

    sent: int
    failed: int
    waiting: int
    busy: bool = False  # another sender held the lease: nothing was tried here


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_holder() -> str:
    """A name for this sender, unique across machines and processes."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def retry_delay(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure: 30 s, 1 min, 2 min… at most one hour."""
    seconds = FIRST_RETRY_SECONDS * 2 ** max(0, min(attempts - 1, 20))
    return timedelta(seconds=min(seconds, MAX_RETRY_SECONDS))


def _due(now: datetime) -> Any:
    return (col(OutboxMessage.status) == "pending") & (col(OutboxMessage.next_attempt_at) <= now)


def has_due(engine: Engine, now: datetime | None = None) -> bool:
    """Whether some message is due (one indexed read; what an idle poll costs)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(col(OutboxMessage.id)).where(_due(now or utcnow())).limit(1)
        ).first()
    return found is not None


def waiting_count(engine: Engine) -> int:
    """Messages not sent yet, due or not."""
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(col(OutboxMessage.status) == "pending")
        ).scalar_one()
    return int(count)


def recent_messages(engine: Engine, limit: int = 200) -> list[OutboxMessage]:
    """The latest `limit` messages, newest first (the back-office's list)."""
    with read_session(engine) as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
        return list(session.scalars(query))


def outbox_counts(engine: Engine) -> dict[str, int]:
    """Messages sent, waiting, and waiting after a failure ("failing")."""
    failing = (col(OutboxMessage.status) == "pending") & (col(OutboxMessage.attempts) > 0)
    with engine.connect() as conn:
        row = conn.execute(
            select(
                func.count().filter(col(OutboxMessage.status) == "sent"),
                func.count().filter(col(OutboxMessage.status) == "pending"),
                func.count().filter(failing),
            )
        ).one()
    return {"sent": int(row[0]), "pending": int(row[1]), "failing": int(row[2])}


# The lease: only the holder of the row "outbox" sends. Its times are the wall clock's,
# whatever `now` a caller passes for due dates.


def acquire_lease(engine: Engine, holder: str) -> bool:
    """Take (or renew) the lease if it is free, expired or ours; False if someone holds it."""
    for _ in range(2):
        wall = utcnow()
        with write_session(engine) as session:
            taken = session.execute(
                update(MailLease)
                .where(col(MailLease.name) == LEASE_NAME)
                .where((col(MailLease.until) < wall) | (col(MailLease.holder) == holder))
                .values(holder=holder, until=wall + timedelta(seconds=LEASE_SECONDS))
            ).rowcount  # type: ignore[attr-defined]  # a CursorResult
            if taken:
                return True
            exists = session.execute(
                select(col(MailLease.name)).where(col(MailLease.name) == LEASE_NAME)
            ).first()
            if exists is not None:
                return False
        try:  # first use: create the row, then take it as above
            with write_session(engine) as session:
                session.execute(
                    insert(MailLease).values(name=LEASE_NAME, holder="", until=RELEASED)
                )
        except IntegrityError:
            pass  # created meanwhile by another sender
    return False


def renew_lease(engine: Engine, holder: str) -> bool:
    """Extend our lease; False if it is no longer ours (expired and taken over)."""
    wall = utcnow()
    with write_session(engine) as session:
        renewed = session.execute(
            update(MailLease)
            .where(col(MailLease.name) == LEASE_NAME)
            .where(col(MailLease.holder) == holder)
            .where(col(MailLease.until) >= wall)
            .values(until=wall + timedelta(seconds=LEASE_SECONDS))
        ).rowcount  # type: ignore[attr-defined]  # a CursorResult
    return bool(renewed)


def release_lease(engine: Engine, holder: str) -> None:
    """Give the lease back at once (if still ours)."""
    with write_session(engine) as session:
        session.execute(
            update(MailLease)
            .where(col(MailLease.name) == LEASE_NAME)
            .where(col(MailLease.holder) == holder)
            .values(holder="", until=RELEASED)
        )


def send_pending(
    engine: Engine,
    settings: Settings,
    *,
    holder: str,
    limit: int = 100,
    now: datetime | None = None,
    lease_wait: float = 0.0,
) -> SendReport:
    """Send up to `limit` due messages if this sender gets the lease.

    `now` decides which messages are due and their next attempt (tests pass a later time);
    `lease_wait` is how long to wait for another sender to finish (`send-mail`).
    """
    now = now or utcnow()
    if not has_due(engine, now):
        return SendReport(0, 0, waiting_count(engine))
    deadline = time.monotonic() + lease_wait
    while not acquire_lease(engine, holder):
        if time.monotonic() >= deadline:
            return SendReport(0, 0, waiting_count(engine), busy=True)
        time.sleep(0.2)
    try:
        sent, failed = _send_batch(engine, settings, holder, limit, now)
    finally:
        release_lease(engine, holder)
    return SendReport(sent, failed, waiting_count(engine))


def _send_batch(
    engine: Engine, settings: Settings, holder: str, limit: int, now: datetime
) -> tuple[int, int]:
    with engine.connect() as conn:
        ids = [
            int(row_id)
            for row_id in conn.execute(
                select(col(OutboxMessage.id))
                .where(_due(now))
                .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
                .limit(limit)
            ).scalars()
            if row_id is not None
        ]
    sent = failed = 0
    transport: mailer.SmtpTransport | mailer.FileTransport | None = None
    try:
        for position, row_id in enumerate(ids):
            if not renew_lease(engine, holder):
                log.warning("mail lease lost; another sender goes on")
                break
            with read_session(engine) as session:
                message = session.get(OutboxMessage, row_id)
            if message is None or message.status != "pending" or message.next_attempt_at > now:
                continue  # sent or rescheduled meanwhile
            try:
                composed = mailer.compose(message, settings)
                if transport is None:
                    transport = mailer.transport_for(settings)
                transport.send(row_id, composed, message.recipient)
            except mailer.TransportDown as exc:
                # The server cannot be used: the rest of the batch would fail alike.
                rest = ids[position:]
                log.warning(
                    "mail transport unavailable (%d message(s) delayed): %s", len(rest), exc
                )
                failed += _record_failures(engine, rest, str(exc), now)  # described already
                break
            except mailer.MessageRefused as exc:
                log.warning("mail %s refused: %s", row_id, exc)
                failed += _record_failures(engine, [row_id], str(exc), now)
                continue
            except Exception as exc:  # a template error, a broken setting…: logged, retried
                log.exception("mail %s could not be sent", row_id)
                failed += _record_failures(engine, [row_id], mailer.error_text(exc), now)
                continue
            _mark_sent(engine, message)
            sent += 1
    finally:
        if transport is not None:
            transport.close()
    return sent, failed


def sent_context(message: OutboxMessage) -> dict[str, Any]:
    """The context a row keeps once sent: a security message's link (a live password or
    invitation token) is replaced; the message as delivered holds it, the database no more."""
    context = dict(message.context or {})
    if message.security and "link" in context:
        context["link"] = LINK_REMOVED
    return context


def _mark_sent(engine: Engine, message: OutboxMessage) -> None:
    values: dict[str, Any] = {"status": "sent", "sent_at": utcnow(), "last_error": None}
    if message.security:
        values["context"] = sent_context(message)
    with write_session(engine) as session:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id)
            .where(col(OutboxMessage.status) == "pending")
            .values(**values)
        )


def _record_failures(engine: Engine, ids: list[int], error: str, now: datetime) -> int:
    """One more attempt for each message, the next one after its back-off; how many."""
    count = 0
    with write_session(engine) as session:
        for row_id in ids:
            message = session.get(OutboxMessage, row_id)
            if message is None or message.status != "pending":
                continue
            message.attempts += 1
            message.next_attempt_at = now + retry_delay(message.attempts)
            message.last_error = error[: mailer.ERROR_MAX]
            count += 1
    return count


class MailSender:
    """Background thread of a server process: sends due mail, builds due digests."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.poll_seconds = settings.mail_poll_seconds
        self.holder = make_holder()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_digest: float | None = None  # time.monotonic() of the last digest run
        self._digests: Any = None  # the digests module, once imported; False: absent
        self.last_error: str | None = None
        self.last_report: SendReport | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mail-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_SECONDS)

    def notify(self) -> None:
        """Look for due mail now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._build_digests()
            try:
                if has_due(self.engine):
                    self.last_report = send_pending(self.engine, self.settings, holder=self.holder)
                self.last_error = None
            except Exception as exc:  # keep serving; report once and retry at the next poll
                if self.last_error != str(exc):
                    log.exception("mail sender failed")
                self.last_error = str(exc)

    def _build_digests(self) -> None:
        """Call digests.build_due at most once a minute, if that module exists."""
        started = time.monotonic()
        if self._last_digest is not None and started - self._last_digest < DIGEST_EVERY_SECONDS:
            return
        self._last_digest = started
        if self._digests is None:
            try:
                self._digests = importlib.import_module("resource_centre.digests")
            except ImportError:
                self._digests = False
        build_due = getattr(self._digests, "build_due", None) if self._digests else None
        if build_due is None:
            return
        try:
            build_due(self.engine, self.settings)
        except Exception:  # the digests wait for the next minute; mail goes on
            log.exception("weekly digests could not be built")
