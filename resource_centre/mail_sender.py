"""Sending the outbox: one sender at a time, retries with back-off, nothing lost.

`send_pending` sends the messages that are due. Across processes and machines only the
holder of the `mail_lease` row "outbox" sends (a conditional UPDATE takes it for
LEASE_SECONDS, renewed before each message). Each message is then *claimed* in a short
transaction (its next attempt moved CLAIM_SECONDS ahead, longer than one message's SMTP time
can last, see mailer.MESSAGE_SECONDS): a sender taking over an expired lease never sees it
due while it is on the wire. It is marked sent in its own transaction right after the server
accepted it (a security message loses its link there: see `sent_context`). On PostgreSQL the
lease and the claims follow the database's clock, so machines whose clocks differ agree.

A message that fails (refused, not encodable, lost after its DATA) waits
min(30 s × 2^(attempts-1), 1 h) and the others go on; when the server cannot be reached,
only the message tried counts an attempt and every other due message waits as long. A
message still not sent GIVE_UP_AFTER (7 days) after it was written is marked "failed".
`prune` erases sent and failed messages (and their .eml files) KEEP_DAYS (30) days later;
a pending message is never erased. With nothing due the sender only reads.

`MailSender` is the background thread of a server process (started by web/app.py):
it polls every `mail_poll_seconds`; at most once a minute it builds the weekly digests
(`resource_centre.digests.build_due`), once an hour it prunes.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from resource_centre import digests, mailer
from resource_centre.config import Settings
from resource_centre.db import read_session, write_session
from resource_centre.models import MailLease, OutboxMessage

log = logging.getLogger(__name__)

LEASE_NAME = "outbox"
LEASE_SECONDS = 60.0
# A claimed message is not due for anyone else for this long: more than twice what one
# message can take (mailer.MESSAGE_SECONDS, plus a connection begun at that limit).
CLAIM_SECONDS = 600.0
FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0
GIVE_UP_AFTER = timedelta(days=7)  # from the message's creation: status "failed" then
KEEP_DAYS = 30  # sent and failed messages are erased this many days later
PRUNE_EVERY_SECONDS = 3600.0
PRUNE_BATCH = 500
DIGEST_EVERY_SECONDS = 60.0
STOP_WAIT_SECONDS = mailer.SMTP_TIMEOUT + 5  # a message being sent when the server stops
# What a sent (or abandoned) security message keeps in place of its link (`sent_context`).
LINK_REMOVED = "(lien retiré après envoi)"
# Dates compare as stored (UTC); a released lease is older than any clock.
RELEASED = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SendReport:
    """The outcome of one `send_pending`: messages sent, failed now (tried and not sent),
    still waiting, and given up now (status "failed")."""

    sent: int
    failed: int
    waiting: int
    busy: bool = False  # another sender held the lease: nothing was tried here
    abandoned: int = 0


def utcnow() -> datetime:
    """This machine's clock (UTC)."""
    return datetime.now(UTC)


def clock(conn: Connection | Session) -> datetime:
    """The time every sender agrees on: the database's clock on PostgreSQL (machines' own
    clocks may differ), this machine's with SQLite (a single machine)."""
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    if bind.dialect.name == "postgresql":
        value: datetime = conn.execute(select(func.clock_timestamp())).scalar_one()
        return value.astimezone(UTC)
    return utcnow()


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
            select(col(OutboxMessage.id)).where(_due(now or clock(conn))).limit(1)
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
    """Messages sent, pending, pending after a failure ("failing") and given up ("failed");
    read through the (status, next_attempt_at) index, on a table `prune` keeps small."""
    status = col(OutboxMessage.status)
    with engine.connect() as conn:
        by_status = {
            str(name): int(count)
            for name, count in conn.execute(select(status, func.count()).group_by(status))
        }
        failing = conn.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(status == "pending", col(OutboxMessage.attempts) > 0)
        ).scalar_one()
    counts = {name: int(by_status.get(name, 0)) for name in ("sent", "pending", "failed")}
    return {**counts, "failing": int(failing)}


# The lease: only the holder of the row "outbox" sends. Its times are the database's clock
# on PostgreSQL (see `clock`), whatever `now` a caller passes for due dates.


def acquire_lease(engine: Engine, holder: str) -> bool:
    """Take (or renew) the lease if it is free, expired or ours; False if someone holds it."""
    for _ in range(2):
        with write_session(engine) as session:
            current = clock(session)
            taken = session.execute(
                update(MailLease)
                .where(col(MailLease.name) == LEASE_NAME)
                .where((col(MailLease.until) < current) | (col(MailLease.holder) == holder))
                .values(holder=holder, until=current + timedelta(seconds=LEASE_SECONDS))
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
    """Extend our lease; False if it is no longer ours (taken over once expired)."""
    with write_session(engine) as session:
        current = clock(session)
        renewed = session.execute(
            update(MailLease)
            .where(col(MailLease.name) == LEASE_NAME)
            .where(col(MailLease.holder) == holder)
            .values(until=current + timedelta(seconds=LEASE_SECONDS))
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

    `now` decides which messages are due and their next attempt (tests pass a later time;
    None: the clock of `clock`); `lease_wait` is how long to wait for another sender to
    finish (`send-mail`).
    """
    if not has_due(engine, now):
        return SendReport(0, 0, waiting_count(engine))
    deadline = time.monotonic() + lease_wait
    while not acquire_lease(engine, holder):
        if time.monotonic() >= deadline:
            return SendReport(0, 0, waiting_count(engine), busy=True)
        time.sleep(0.2)
    try:
        sent, failed, abandoned = _send_batch(engine, settings, holder, limit, now)
    finally:
        release_lease(engine, holder)
    return SendReport(sent, failed, waiting_count(engine), abandoned=abandoned)


def _send_batch(
    engine: Engine, settings: Settings, holder: str, limit: int, now: datetime | None
) -> tuple[int, int, int]:
    with engine.connect() as conn:
        ids = [
            int(row_id)
            for row_id in conn.execute(
                select(col(OutboxMessage.id))
                .where(_due(now or clock(conn)))
                .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
                .limit(limit)
            ).scalars()
            if row_id is not None
        ]
    sent = failed = abandoned = 0
    transport: mailer.SmtpTransport | mailer.FileTransport | None = None
    secrets_to_hide = mailer.settings_secrets(settings)
    try:
        for row_id in ids:
            if not renew_lease(engine, holder):
                log.warning("mail lease lost; another sender goes on")
                break
            message = claim(engine, row_id, now)
            if message is None:
                continue  # sent, rescheduled or claimed meanwhile
            try:
                composed = mailer.compose(message, settings)
                if transport is None:
                    transport = mailer.transport_for(settings)
                transport.send(row_id, composed, message.recipient)
            except mailer.TransportDown as exc:
                # The server cannot be used: this message counts an attempt, the others
                # wait as long without one.
                log.warning("mail transport unavailable (mail %s tried): %s", row_id, exc)
                abandoned += record_failure(engine, row_id, str(exc), now, delay_others=True)
                failed += 1
                break
            except mailer.MessageRefused as exc:
                log.warning("mail %s not sent: %s", row_id, exc)
                abandoned += record_failure(engine, row_id, str(exc), now)
                failed += 1
                continue
            except Exception as exc:  # a template error, a header it cannot write…
                _log_failure(f"mail {row_id} could not be composed or sent", exc, secrets_to_hide)
                error = mailer.error_text(exc, secrets_to_hide)
                abandoned += record_failure(engine, row_id, error, now)
                failed += 1
                continue
            _mark_sent(engine, message)
            sent += 1
    finally:
        if transport is not None:
            transport.close()
    return sent, failed, abandoned


def claim(engine: Engine, row_id: int, now: datetime | None = None) -> OutboxMessage | None:
    """Take message `row_id` for sending if it is still due: its next attempt moves
    CLAIM_SECONDS ahead (it stays pending), so no other sender takes it meanwhile. The
    message as claimed, or None."""
    with write_session(engine) as session:
        current = clock(session)
        reference = now or current
        message = session.get(OutboxMessage, row_id, with_for_update=True)
        if message is None or message.status != "pending" or message.next_attempt_at > reference:
            return None
        message.next_attempt_at = max(reference, current) + timedelta(seconds=CLAIM_SECONDS)
        session.flush()
        return message


def sent_context(message: OutboxMessage) -> dict[str, Any]:
    """The context a row keeps once sent (or given up): a security message's link (a live
    password or invitation token) is replaced; the message as delivered holds it, the
    database no more."""
    context = dict(message.context or {})
    if message.security and "link" in context:
        context["link"] = LINK_REMOVED
    return context


def _mark_sent(engine: Engine, message: OutboxMessage) -> None:
    with write_session(engine) as session:
        values: dict[str, Any] = {"status": "sent", "sent_at": clock(session), "last_error": None}
        if message.security:
            values["context"] = sent_context(message)
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id)
            .where(col(OutboxMessage.status) == "pending")
            .values(**values)
        )


def record_failure(
    engine: Engine,
    row_id: int,
    error: str,
    now: datetime | None = None,
    *,
    delay_others: bool = False,
) -> int:
    """One more attempt for message `row_id`, the next one after its back-off; with
    `delay_others` (the server is unreachable) every other due message waits as long,
    its attempts unchanged. A message written GIVE_UP_AFTER ago or more is given up
    (status "failed"). How many were given up."""
    error = error[: mailer.ERROR_MAX]
    with write_session(engine) as session:
        reference = now or clock(session)
        message = session.get(OutboxMessage, row_id, with_for_update=True)
        if message is None or message.status != "pending":
            return 0
        message.attempts += 1
        message.last_error = error
        message.next_attempt_at = next_at = reference + retry_delay(message.attempts)
        too_old = reference - GIVE_UP_AFTER
        given_up = [message] if message.created_at <= too_old else []
        others = _due(reference) & (col(OutboxMessage.id) != row_id)
        if delay_others:
            query = select(OutboxMessage).where(others, col(OutboxMessage.created_at) <= too_old)
            given_up += session.scalars(query.with_for_update())
        for old in given_up:
            old.status, old.last_error = "failed", error
            old.next_attempt_at = reference  # when it was given up (see `prune`)
            old.context = sent_context(old)
        session.flush()
        if delay_others:
            session.execute(
                update(OutboxMessage)
                .where(others)
                .values(next_attempt_at=next_at, last_error=error)
            )
    return len(given_up)


def prune(engine: Engine, settings: Settings, now: datetime | None = None) -> int:
    """Erase the messages sent, or given up, more than KEEP_DAYS days ago, with their .eml
    files (file transport); never a pending one. Reads only when there is nothing to erase.
    How many were erased."""
    erased = 0
    while True:
        with engine.connect() as conn:
            cutoff = (now or clock(conn)) - timedelta(days=KEEP_DAYS)
            old = (
                (col(OutboxMessage.status) == "sent") & (col(OutboxMessage.sent_at) < cutoff)
            ) | (
                (col(OutboxMessage.status) == "failed")
                & (col(OutboxMessage.next_attempt_at) < cutoff)
            )
            query = select(col(OutboxMessage.id)).where(old).limit(PRUNE_BATCH)
            ids = [int(i) for i in conn.execute(query).scalars() if i is not None]
        if not ids:
            return erased
        with write_session(engine) as session:
            session.execute(
                delete(OutboxMessage)
                .where(col(OutboxMessage.id).in_(ids))
                .where(col(OutboxMessage.status) != "pending")
            )
            for row_id in ids:  # before the commit: a row never outlives its file's removal
                try:
                    mailer.eml_path(settings.outbox_dir, row_id).unlink(missing_ok=True)
                except OSError as exc:
                    log.warning("outbox file of mail %s not removed: %s", row_id, exc)
        erased += len(ids)
        if len(ids) < PRUNE_BATCH:
            return erased


def _log_failure(what: str, exc: BaseException, secrets_to_hide: tuple[str, ...]) -> None:
    """Log `exc` with its traceback, SMTP URL and password blanked out."""
    trace = "".join(traceback.format_exception(exc))
    log.error("%s\n%s", what, mailer.scrub(trace, secrets_to_hide).rstrip())


class MailSender:
    """Background thread of a server process: sends due mail, builds due digests, prunes."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.poll_seconds = settings.mail_poll_seconds
        self.holder = make_holder()
        self.secrets = mailer.settings_secrets(settings)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_digest: float | None = None  # time.monotonic() of the last digest run
        self._last_prune: float | None = None  # time.monotonic() of the last prune
        self.last_error: str | None = None  # shown to admins: no SMTP URL nor password
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
            self._prune()
            try:
                if has_due(self.engine):
                    self.last_report = send_pending(self.engine, self.settings, holder=self.holder)
                self.last_error = None
            except Exception as exc:  # keep serving; report once and retry at the next poll
                error = mailer.error_text(exc, self.secrets)
                if self.last_error != error:
                    _log_failure("mail sender failed", exc, self.secrets)
                self.last_error = error

    def _prune(self) -> None:
        """Call `prune` at most once an hour (the first time at the first poll)."""
        started = time.monotonic()
        if self._last_prune is not None and started - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = started
        try:
            erased = prune(self.engine, self.settings)
        except Exception as exc:  # tried again in an hour; mail goes on
            _log_failure("outbox could not be pruned", exc, self.secrets)
            return
        if erased:
            log.info("outbox: %d message(s) older than %d days erased", erased, KEEP_DAYS)

    def _build_digests(self) -> None:
        """Call digests.build_due at most once a minute."""
        started = time.monotonic()
        if self._last_digest is not None and started - self._last_digest < DIGEST_EVERY_SECONDS:
            return
        self._last_digest = started
        try:
            digests.build_due(self.engine, self.settings)
        except Exception as exc:  # the digests wait for the next minute; mail goes on
            _log_failure("weekly digests could not be built", exc, self.secrets)
