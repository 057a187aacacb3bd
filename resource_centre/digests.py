"""Weekly digests: once a week, one e-mail per account with what is new for it.

A digest gathers the account's followed searches' new fiches (first published since the
previous digest, and found by the search) and the notifications it chose to receive weekly
(`PendingNotification`). It is one outbox message (template `emails/digest`), written in the
short transaction that deletes those notifications and moves each followed search's
`digest_at`.

When: an account gets one when its mail frequency is not "never", it follows a search or
has a notification waiting, and its previous digest is 7 days old. An account that never had
one starts its weekly clock with its first followed search or waiting notification: its first
digest comes 7 days after that. An account with nothing new gets no e-mail, but its clock
still moves (`last_digest_at`).

Who: the mail sender calls `build_due(engine, settings)` about once a minute in every worker
(`search` may be the application's `SearchService`; without it, one is made for the call
from `settings.index_dir`, reading the same index).

How, for each account: first a read (the account, its followed searches, its waiting
notifications, the fiches first published in the windows), then the searches, with no
transaction held (on SQLite a write transaction is the database's one write lock: other
writers, the publications and the mail sender among them, would wait for the searches).
Then one short write transaction *claims* the account by a conditional UPDATE of its
`last_digest_at` (still the value read, and the digest still due), writes the outbox
message, deletes exactly the notifications that were read (by id: one arriving meanwhile
waits for the next digest) and moves `digest_at`. If the claim changes no row (another
process built that digest meanwhile), nothing is written: two processes at once never build
two digests.

The window of a digest ends `SETTLE` before its time (tests may pass `settle`), so that a
publication whose transaction was still running then is counted in the next digest rather
than lost; and a digest waits for the search index to have applied the journal (a fiche not
yet indexed would be missed).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, exists, or_, update
from sqlmodel import Session, col, select

from resource_centre import dates, outbox
from resource_centre.config import Settings
from resource_centre.db import read_session, write_session
from resource_centre.following import (
    LIBRARY_PATH,
    SEARCH_UNAVAILABLE,
    SETTLE,
    NewFiche,
    SearchUnavailable,
    display_label,
    feed_path,
    index_in_step,
    list_for,
    matching_new,
    published_between,
    search_path,
)
from resource_centre.models import (
    FollowedSearch,
    OutboxMessage,
    PendingNotification,
    User,
    utcnow,
)
from resource_centre.search.indexer import SearchIndex
from resource_centre.search.request import SearchRequest
from resource_centre.search.service import SearchService

log = logging.getLogger(__name__)

EVERY = timedelta(days=7)
FICHES_PER_SECTION = 20  # listed in a section; the others are counted ("et 3 autres")
SUMMARY_CHARS = 300
TEMPLATE = "digest"
LINK_KEY = "link"  # the site path of a notification's context (notifications.py)
FOLLOWS_PATH = "/suivis"


class _NoLog:
    """A search log that keeps nothing: a digest's searches are not the users' own."""

    def add(
        self, request: SearchRequest, total: int, elapsed_ms: float, source: str, token: str = ""
    ) -> None:
        return None


@contextlib.contextmanager
def _search_for(
    engine: Engine, settings: Settings, search: SearchService | None
) -> Iterator[SearchService]:
    """The given search service, or one made for this call (closed after it)."""
    if search is not None:
        yield search
        return
    made = SearchService(engine, SearchIndex(settings.index_dir, engine), log=_NoLog())
    try:
        yield made
    finally:
        made.close()


def due_accounts(session: Session, now: datetime) -> list[int]:
    """The ids of the accounts whose weekly digest is due at `now`."""
    cutoff = now - EVERY
    follows = select(FollowedSearch.id).where(FollowedSearch.user_id == User.id)
    pending = select(PendingNotification.id).where(PendingNotification.user_id == User.id)
    early_follow = follows.where(col(FollowedSearch.created_at) <= cutoff)
    early_pending = pending.where(col(PendingNotification.at) <= cutoff)
    stmt = (
        select(User.id)
        .where(
            col(User.active).is_(True),
            col(User.mail_frequency) != "never",
            or_(exists(follows), exists(pending)),
            or_(
                col(User.last_digest_at) <= cutoff,
                col(User.last_digest_at).is_(None)
                & or_(exists(early_follow), exists(early_pending)),
            ),
        )
        .order_by(col(User.id))
    )
    return [int(i) for i in session.execute(stmt).scalars() if i is not None]


def build_due(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    *,
    search: SearchService | None = None,
    settle: timedelta = SETTLE,
) -> int:
    """Build the digests due now; return how many messages were written to the outbox.

    Safe to call from several processes at once. A round stops (to be tried again later,
    nothing lost) while the search index cannot answer or lags behind the journal.
    """
    now = now or utcnow()
    with read_session(engine) as session:
        ids = due_accounts(session, now)
    if not ids:
        return 0
    built = 0
    with _search_for(engine, settings, search) as service:
        for user_id in ids:
            try:
                if (
                    _build(engine, settings, user_id, now, service, due=True, settle=settle)
                    is not None
                ):
                    built += 1
            except SearchUnavailable:
                log.warning("weekly digests put off: the search index is not ready")
                break
    return built


def build_for_user(
    engine: Engine,
    settings: Settings,
    user_id: int,
    now: datetime | None = None,
    *,
    search: SearchService | None = None,
    settle: timedelta = SETTLE,
    searching: Callable[[], object] | None = None,
) -> int | None:
    """Build one account's digest now, due or not; return the outbox message's id, or None
    when there was nothing new (or another process was building it at the same time).

    `searching` is called once the account's data is read, just before its searches run
    (tests: no transaction is held then). Raises `SearchUnavailable` when the index cannot
    answer or lags behind the journal (nothing is changed then).
    """
    now = now or utcnow()
    with _search_for(engine, settings, search) as service:
        return _build(
            engine, settings, user_id, now, service, due=False, settle=settle, searching=searching
        )


@dataclass(frozen=True)
class _Read:
    """What a digest is built from, read before any search and before any write."""

    user: User
    follows: list[FollowedSearch]
    pending: list[PendingNotification]
    candidates: list[NewFiche]  # the fiches first published in the follows' windows


def _claimable(user: User, now: datetime, *, due: bool) -> bool:
    """Whether the account's digest is still to build at `now` (as `_claim` checks it)."""
    if not user.active or user.mail_frequency == "never":
        return False
    last = user.last_digest_at
    if last is None:
        return True
    last = last if last.tzinfo else last.replace(tzinfo=UTC)  # SQLite gives naive UTC
    return last <= now - EVERY if due else last < now


def _read(
    engine: Engine, user_id: int, now: datetime, until: datetime, *, due: bool
) -> _Read | None:
    """The account, its followed searches, its waiting notifications and the fiches of the
    windows; None when its digest is not to build. A read transaction, ended on return."""
    with read_session(engine) as session:
        user = session.get(User, user_id)
        if user is None or not _claimable(user, now, due=due):
            return None
        follows = list_for(session, user)
        pending = list(
            session.execute(
                select(PendingNotification)
                .where(PendingNotification.user_id == user_id)
                .order_by(col(PendingNotification.at), col(PendingNotification.id))
            ).scalars()
        )
        since = min((f.digest_at for f in follows), default=until)
        candidates = published_between(session, since, until) if since < until else []
        return _Read(user, follows, pending, candidates)


def _claim(
    session: Session, user_id: int, now: datetime, read: datetime | None, *, due: bool
) -> bool:
    """Set the account's `last_digest_at` to `now` if it is still the value the digest was
    built from (`read`) and the digest is still to build; False: another process built it."""
    bound = now - EVERY if due else now
    stale = col(User.last_digest_at) <= bound if due else col(User.last_digest_at) < bound
    unchanged = (
        col(User.last_digest_at).is_(None) if read is None else col(User.last_digest_at) == read
    )
    stmt = (
        update(User)
        .where(
            col(User.id) == user_id,
            col(User.active).is_(True),
            col(User.mail_frequency) != "never",
            unchanged,
            or_(col(User.last_digest_at).is_(None), stale),
        )
        .values(last_digest_at=now)
    )
    result: Any = session.execute(stmt)
    return bool(result.rowcount == 1)


def _build(
    engine: Engine,
    settings: Settings,
    user_id: int,
    now: datetime,
    search: SearchService,
    *,
    due: bool,
    settle: timedelta,
    searching: Callable[[], object] | None = None,
) -> int | None:
    """Read, search, then write in one short transaction (see the module's docstring)."""
    until = now - settle
    read = _read(engine, user_id, now, until, due=due)
    if read is None:
        return None
    # No transaction held from here on: the searches (and the wait for the index) never
    # keep other writers waiting. The index must have every fiche of the windows, or one
    # not indexed yet would be skipped for good.
    if read.candidates and not index_in_step(search.index):
        raise SearchUnavailable(SEARCH_UNAVAILABLE)
    if searching is not None:
        searching()
    sections, quiet = _sections(search, read.follows, until, read.candidates)
    user = read.user
    with write_session(engine) as session:
        if not _claim(session, user_id, now, user.last_digest_at, due=due):
            return None  # built meanwhile by another process: write nothing
        message = None
        if sections or read.pending:
            message = outbox.enqueue(
                session,
                recipient=user.email,
                subject=subject(_fiche_count(sections), len(read.pending)),
                template=TEMPLATE,
                context=_context(settings, user, sections, quiet, read.pending),
                user_id=user_id,
            )
        if read.pending:  # exactly those listed: any that came meanwhile wait for the next
            session.execute(
                delete(PendingNotification).where(
                    col(PendingNotification.id).in_([p.id for p in read.pending])
                )
            )
        if read.follows:
            session.execute(
                update(FollowedSearch)
                .where(
                    col(FollowedSearch.id).in_([f.id for f in read.follows]),
                    col(FollowedSearch.digest_at) < until,
                )
                .values(digest_at=until)
            )
        session.flush()
        return _message_id(message)


def _message_id(message: OutboxMessage | None) -> int | None:
    return message.id if message is not None else None


def _sections(
    search: SearchService,
    follows: Sequence[FollowedSearch],
    until: datetime,
    candidates: Sequence[NewFiche],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each followed search with new fiches (as the template shows it), and the labels of
    those with nothing new."""
    if not follows:
        return [], []
    labels = search.labels()  # the names /suivis shows (`display_label`)
    sections: list[dict[str, Any]] = []
    quiet: list[str] = []
    for followed in follows:
        fiches = matching_new(
            search, followed.query, followed.digest_at, until, candidates=candidates
        )
        name = display_label(followed, labels)
        if not fiches:
            quiet.append(name)
            continue
        sections.append(_section(followed, name, fiches))
    return sections, quiet


def _section(followed: FollowedSearch, name: str, fiches: list[NewFiche]) -> dict[str, Any]:
    newest_first = list(reversed(fiches))
    return {
        "label": name,
        "search_url": search_path(followed.query),
        "feed_url": feed_path(followed.query),
        "count": len(fiches),
        "fiches": [_fiche(f) for f in newest_first[:FICHES_PER_SECTION]],
        "slugs": [f.slug for f in fiches],
        "more": max(0, len(fiches) - FICHES_PER_SECTION),
    }


def _fiche(fiche: NewFiche) -> dict[str, Any]:
    summary = " ".join(fiche.summary.split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rstrip() + "…"
    return {
        "slug": fiche.slug,
        "title": fiche.title,
        "regie_name": fiche.regie_name,
        "summary": summary,
        "url": f"{LIBRARY_PATH}/{fiche.slug}",
    }


def _fiche_count(sections: list[dict[str, Any]]) -> int:
    return len({slug for section in sections for slug in section["slugs"]})


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def subject(fiches: int, notifications: int) -> str:
    """The French subject of a digest: « Votre résumé de la semaine : 2 notifications »,
    « … : 3 nouvelles fiches pour vos recherches suivies et 1 notification »."""
    parts = []
    if fiches:
        parts.append(
            _plural(fiches, "nouvelle fiche", "nouvelles fiches") + " pour vos recherches suivies"
        )
    if notifications:
        parts.append(_plural(notifications, "notification", "notifications"))
    what = " et ".join(parts) or "rien de nouveau"
    return f"Votre résumé de la semaine : {what}"


def _notification(settings: Settings, pending: PendingNotification) -> dict[str, Any]:
    context = pending.context if isinstance(pending.context, dict) else {}
    link = context.get(LINK_KEY)
    comment = context.get("comment")
    return {
        "subject": pending.subject,
        # In the settings' time zone; a naive time is UTC (`dates.local`), never server-local.
        "day": dates.day(pending.at, settings.timezone),
        "url": link if isinstance(link, str) and link.startswith("/") else None,
        "comment": comment if isinstance(comment, str) and comment.strip() else None,
    }


def _context(
    settings: Settings,
    user: User,
    sections: list[dict[str, Any]],
    quiet: list[str],
    pending: list[PendingNotification],
) -> dict[str, Any]:
    return {
        "name": user.name or "",
        "fiche_count": _fiche_count(sections),
        "sections": sections,
        "quiet": quiet,
        "notifications": [_notification(settings, p) for p in pending],
        "follows_url": FOLLOWS_PATH,
    }
