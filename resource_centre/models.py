"""The database tables (SQLModel). The database is the library's source of truth."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, event, inspect, select, text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, SQLModel, col


def utcnow() -> datetime:
    """Return the current time, aware, in UTC (every table stores aware UTC times)."""
    return datetime.now(UTC)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _json_dict() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Term(SQLModel, table=True):
    """One value of a controlled vocabulary (a theme, an activity, a region…)."""

    __table_args__ = (UniqueConstraint("vocabulary", "slug"),)

    id: int | None = Field(default=None, primary_key=True)
    vocabulary: str = Field(max_length=32, index=True)
    slug: str = Field(max_length=100)
    label: str = Field(max_length=200)
    position: int = 0
    retired: bool = False


class Regie(SQLModel, table=True):
    """A Régie de Quartier or de Territoire of the network."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=100, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)  # quartier | territoire
    city: str = Field(default="", max_length=120)
    department: str = Field(default="", max_length=120)
    region: str = Field(max_length=100)  # a slug of the `regions` vocabulary
    contact_email: str | None = Field(default=None, max_length=200)
    retired: bool = False


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)  # stored lower-cased
    name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)  # contributor | curator | admin
    regie_id: int | None = Field(default=None, foreign_key="regie.id")
    password_hash: str = Field(max_length=300)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    # E-mail notifications (issue 15): "immediate" | "weekly" (one digest) | "never".
    mail_frequency: str = Field(default="immediate", max_length=16)
    last_digest_at: datetime | None = None  # the last weekly digest built for this account


class WriteUp(SQLModel, table=True):
    """A fiche: one Régie's experience, written up for the others."""

    __tablename__ = "writeup"
    __table_args__ = (Index("ix_writeup_status_published", "status", "published_at"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    title: str = Field(max_length=200)
    summary: str = Field(default="")
    regie_id: int | None = Field(default=None, foreign_key="regie.id", index=True)
    themes: list[str] = _json_list()
    activity: str | None = Field(default=None, max_length=100)
    audiences: list[str] = _json_list()
    schemes: list[str] = _json_list()
    partners: list[str] = _json_list()
    year_start: int | None = None
    year_end: int | None = None
    status: str = Field(default="draft", max_length=24)
    featured: bool = False
    published_at: date | None = None
    # When the fiche first became public (publication or import): the "new since" of
    # followed searches and digests. None while never published.
    first_published_at: datetime | None = Field(default=None, index=True)
    # Markdown source and its rendered, sanitised HTML, keyed by section (taxonomy.SECTIONS).
    sections: dict[str, str] = _json_dict()
    sections_html: dict[str, str] = _json_dict()
    plain_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    kind: str = Field(default="fiche", max_length=16)  # fiche | express (taxonomy.FICHE_KINDS)
    figures: dict[str, Any] = _json_dict()  # figures.py: cost, funding by scheme, jobs…
    interview_requested: bool = False  # the Régie asks the network team for an interview
    network_note: str | None = None  # "Regard du réseau", written by curators
    network_note_html: str | None = None
    author_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    reviewed_at: datetime | None = None
    version: int = 1  # bumped by every save; a stale version is refused (409)
    # A proposed revision of a published fiche (FicheData fields as JSON) and its state
    # (draft | submitted | changes_requested); the published text stays visible meanwhile.
    pending: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    pending_status: str | None = Field(default=None, max_length=24)


class WriteUpRevision(SQLModel, table=True):
    """A snapshot of a fiche at one moment (each publication keeps one)."""

    __tablename__ = "writeup_revision"

    id: int | None = Field(default=None, primary_key=True)
    writeup_id: int = Field(foreign_key="writeup.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    author_id: int | None = Field(default=None, foreign_key="app_user.id")
    snapshot: dict[str, Any] = _json_dict()


class AuditEvent(SQLModel, table=True):
    """Who did what, when, on which fiche."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    action: str = Field(max_length=40, index=True)
    writeup_id: int | None = Field(default=None, foreign_key="writeup.id", index=True)
    slug: str | None = Field(default=None, max_length=120)
    comment: str | None = None
    detail: dict[str, Any] = _json_dict()


class IndexJournal(SQLModel, table=True):
    """Outbox of the search index: one row per change to what a fiche shows in search.

    Written in the same transaction as the change (see `_journal_changes`), applied in id
    order by the single writer of each index directory, never deleted by it (every machine
    keeps its own index and reads the same journal).
    """

    __tablename__ = "index_journal"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


class SearchLog(SQLModel, table=True):
    """One search, for the curators' analytics; no personal data."""

    __tablename__ = "search_log"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(default="", max_length=32, index=True)  # carried by result links
    at: datetime = Field(default_factory=utcnow, index=True)
    query: str = Field(default="", max_length=200)
    filters: dict[str, Any] = _json_dict()
    total: int = 0
    duration_ms: float = 0.0
    source: str = Field(default="web", max_length=8)  # web | api


class SearchClick(SQLModel, table=True):
    """A result opened from a search (to find searches that led nowhere)."""

    __tablename__ = "search_click"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=32, index=True)
    slug: str = Field(max_length=120)
    at: datetime = Field(default_factory=utcnow)


class UserSession(SQLModel, table=True):
    """A server-side session: the cookie holds a random token, the table its hash."""

    __tablename__ = "user_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    csrf_secret: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)


class LoginAttempt(SQLModel, table=True):
    """Sign-in attempts, to limit guessing per account and per address."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    email: str = Field(max_length=254, index=True)
    address: str = Field(max_length=64, index=True)
    success: bool = False


class FormToken(SQLModel, table=True):
    """A one-time token of a fiche form: a second submit of the same form creates nothing."""

    __tablename__ = "form_token"

    token: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    used_slug: str | None = Field(default=None, max_length=120)


class Attachment(SQLModel, table=True):
    """A document attached to a fiche, stored under the data dir with a random name."""

    id: int | None = Field(default=None, primary_key=True)
    writeup_id: int = Field(foreign_key="writeup.id", index=True)
    stored_name: str = Field(max_length=80, unique=True)
    original_name: str = Field(max_length=255)
    title: str | None = Field(default=None, max_length=200)  # shown instead of the file name
    # Uploaded with a proposed revision of a published fiche: seen only by curators and the
    # fiche's Régie until the revision is published.
    pending: bool = False
    content_type: str = Field(max_length=100)
    size: int
    uploaded_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class Comment(SQLModel, table=True):
    """A message of a fiche's review thread (curators' requests, contributors' answers)."""

    id: int | None = Field(default=None, primary_key=True)
    writeup_id: int = Field(foreign_key="writeup.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="app_user.id")
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(default="comment", max_length=24)  # request_changes | comment
    body: str


class CapitalisationRequest(SQLModel, table=True):
    """A need reported from an empty search ("Signaler ce besoin")."""

    __tablename__ = "capitalisation_request"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    query: str = Field(default="", max_length=200)
    filters: dict[str, Any] = _json_dict()
    message: str = Field(default="", max_length=2000)
    status: str = Field(default="open", max_length=16)  # open | answered
    answered_slug: str | None = Field(default=None, max_length=120)
    answered_by: int | None = Field(default=None, foreign_key="app_user.id")
    answered_at: datetime | None = None
    # Who to tell when the need is answered: a signed-in reporter's account, or the address
    # an anonymous reporter chose to leave (erased once the message is written).
    reporter_id: int | None = Field(default=None, foreign_key="app_user.id")
    reporter_email: str | None = Field(default=None, max_length=254)


class RateLimitEvent(SQLModel, table=True):
    """An event counted by a limit shared by every server process (`ratelimit.allow_shared`).

    `key` is a keyed hash of what is limited (a client address is not kept); the events of a
    limit older than its window are deleted as new ones come.
    """

    __tablename__ = "rate_limit_event"
    __table_args__ = (Index("ix_rate_limit_event_name_key_at", "name", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32)
    key: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, index=True)


class GlossaryEntry(SQLModel, table=True):
    """One entry of the field's glossary (`glossary.py`): an acronym and its long forms, or
    a group of words of equal meaning. `term_key` is the folded term (no case, no accents):
    two entries never share it."""

    __tablename__ = "glossary_entry"

    id: int | None = Field(default=None, primary_key=True)
    term: str = Field(max_length=60)
    term_key: str = Field(max_length=240, unique=True)  # folding may lengthen ("ß" → "ss")
    kind: str = Field(max_length=16)  # acronym | synonyms
    expansions: list[str] = _json_list()
    definition: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Set by every change (the search checks count, max id and max date to see one).
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class OutboxMessage(SQLModel, table=True):
    """An e-mail waiting to be sent (or sent): written in the transaction of its cause.

    The message is rendered when it is sent, from `template` (templates/emails/NAME.txt and
    .html) and `context` (JSON; links as site paths, made absolute with BASE_URL then).
    """

    __tablename__ = "outbox_message"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    recipient: str = Field(max_length=254)
    user_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    subject: str = Field(max_length=250)
    template: str = Field(max_length=40)
    context: dict[str, Any] = _json_dict()
    security: bool = False  # password reset, invitation: no unsubscribe link, always sent
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed (given up)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class MailLease(SQLModel, table=True):
    """Who sends mail now: one sender at a time across workers and machines."""

    __tablename__ = "mail_lease"
    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(default="", max_length=100)
    until: datetime = Field(default_factory=utcnow)


class PendingNotification(SQLModel, table=True):
    """A notification kept for the weekly digest of an account that chose it."""

    __tablename__ = "pending_notification"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    subject: str = Field(max_length=250)
    template: str = Field(max_length=40)
    context: dict[str, Any] = _json_dict()


class FollowedSearch(SQLModel, table=True):
    """A library search an account follows (« veille »): /suivis, digests, a feed."""

    __tablename__ = "followed_search"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    query: str = Field(max_length=1000)  # the normalised query string of a /fiches URL
    label: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    visited_at: datetime = Field(default_factory=utcnow)  # the last visit of /suivis
    digest_at: datetime = Field(default_factory=utcnow)  # the end of the last digest's span

    __table_args__ = (UniqueConstraint("user_id", "query", name="uq_followed_search"),)


class AccountToken(SQLModel, table=True):
    """A single-use link sent by e-mail: password reset or invitation (hash stored only)."""

    __tablename__ = "account_token"
    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    purpose: str = Field(max_length=16)  # reset | invite
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


# Attributes of a Régie and of a term that a fiche's index document shows.
_REGIE_INDEXED = ("name", "region", "city", "department", "slug")
_TERM_INDEXED = ("label", "slug")
# Serialises journal writers on PostgreSQL so that ids commit in increasing order.
JOURNAL_LOCK_KEY = 7_262_010


def _changed(obj: SQLModel, attrs: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[a].history.has_changes() for a in attrs)


@event.listens_for(OrmSession, "before_flush")
def _journal_changes(session: OrmSession, _ctx: object, _instances: object) -> None:
    """Add an index journal row for every fiche whose search document may change.

    Also stamps `first_published_at` on a fiche that becomes public for the first time,
    whatever the path (curator, import, script).
    """
    for obj in (*session.new, *session.dirty):
        if (
            isinstance(obj, WriteUp)
            and obj.status in ("published", "archived")
            and obj.first_published_at is None
        ):
            obj.first_published_at = utcnow()
    slugs: set[str] = set()
    for obj in session.new:
        if isinstance(obj, WriteUp):
            slugs.add(obj.slug)
    for obj in session.deleted:
        if isinstance(obj, WriteUp):
            slugs.add(obj.slug)
    with session.no_autoflush:
        for obj in session.dirty:
            if isinstance(obj, WriteUp) and session.is_modified(obj):
                slugs.add(obj.slug)
                old = inspect(obj).attrs["slug"].history.deleted
                slugs.update(s for s in old if s)
            elif isinstance(obj, Regie) and obj.id and _changed(obj, _REGIE_INDEXED):
                stmt = select(col(WriteUp.slug)).where(col(WriteUp.regie_id) == obj.id)
                slugs.update(session.execute(stmt).scalars())
            elif isinstance(obj, Term) and _changed(obj, _TERM_INDEXED):
                slugs.update(_slugs_using_term(session, obj))
    if not slugs:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": JOURNAL_LOCK_KEY})
    for slug in sorted(slugs):
        session.add(IndexJournal(slug=slug))


def _slugs_using_term(session: OrmSession, term: Term) -> set[str]:
    from resource_centre.taxonomy import VOCABULARY_BY_NAME

    vocab = VOCABULARY_BY_NAME.get(term.vocabulary)
    if vocab is None:
        return set()
    old_slugs = set(inspect(term).attrs["slug"].history.deleted) | {term.slug}
    if vocab.name == "regions":
        stmt = select(col(WriteUp.slug)).join(Regie).where(col(Regie.region).in_(old_slugs))
        return set(session.execute(stmt).scalars())
    column = getattr(WriteUp, vocab.field)
    found: set[str] = set()
    for slug, value in session.execute(select(col(WriteUp.slug), column)):
        values = value if isinstance(value, list) else [value]
        if old_slugs.intersection(values):
            found.add(slug)
    return found
