"""The curators' radar: what readers search for, what they open, what they ask for.

Owns the search log (written in batches from a background thread, pruned after the
retention period), the clicks, the radar's figures and the needs readers report
(« besoins »: recorded from an empty search, answered by a curator with a fiche; the
address an anonymous reporter left is erased after the same retention period if no fiche
answered the need by then).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, String, and_, case, cast, delete, func, update
from sqlmodel import Session, col, select

from resource_centre.db import read_session, write_session
from resource_centre.errors import DomainError, Kind
from resource_centre.models import CapitalisationRequest, SearchClick, SearchLog, User, utcnow
from resource_centre.taxonomy import SLUG_FACETS, YEAR_RANGE_PARAMS
from resource_centre.text import strip_controls
from resource_centre.writeups import PermissionDenied, get_by_slug, is_curator, record

if TYPE_CHECKING:
    from resource_centre.search.request import SearchRequest

log = logging.getLogger(__name__)
RETENTION_DAYS = 400  # default of RESOURCE_CENTRE_LOG_RETENTION_DAYS


def prune_search_log(engine: Engine, retention_days: int) -> tuple[int, int]:
    """Delete search log rows and clicks older than `retention_days`; return both counts."""
    cutoff = utcnow() - timedelta(days=retention_days)
    with write_session(engine) as session:
        searches = session.exec(delete(SearchLog).where(col(SearchLog.at) < cutoff)).rowcount
        clicks = session.exec(delete(SearchClick).where(col(SearchClick.at) < cutoff)).rowcount
    return searches or 0, clicks or 0


def erase_reporter_emails(engine: Engine, retention_days: int) -> int:
    """Erase the address left by anonymous reporters of needs older than `retention_days`
    (an answered need's address is erased when the message is written); return how many."""
    cutoff = utcnow() - timedelta(days=retention_days)
    with write_session(engine) as session:
        erased = session.exec(
            update(CapitalisationRequest)
            .where(
                col(CapitalisationRequest.at) < cutoff,
                col(CapitalisationRequest.reporter_email).is_not(None),
            )
            .values(reporter_email=None)
        ).rowcount
    return erased or 0


class SearchLogWriter:
    """Writes search log rows in batches from a background thread.

    The same thread deletes the rows older than the retention period, and erases the
    addresses of needs as old (`erase_reporter_emails`): when it starts (at the first search
    after the process starts) and then once a day.
    """

    FLUSH_SECONDS = 1.0
    PRUNE_SECONDS = 24 * 3600.0

    def __init__(self, engine: Engine, *, retention_days: int = RETENTION_DAYS) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self._pruned_at: float | None = None
        self._queue: queue.Queue[SearchLog | SearchClick] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(
        self, request: SearchRequest, total: int, elapsed_ms: float, source: str, token: str = ""
    ) -> None:
        filters: dict[str, Any] = {k: list(v) for k, v in request.filters.items()}
        if request.year_min is not None:
            filters["year_min"] = request.year_min
        if request.year_max is not None:
            filters["year_max"] = request.year_max
        entry = SearchLog(
            query=_loggable(request.q.strip(), 200), filters=filters, total=total,
            duration_ms=round(elapsed_ms, 2), source=_loggable(source, 8),
            token=_loggable(token, 32),
        )  # fmt: skip
        self._put(entry)

    def click(self, token: str, slug: str) -> None:
        """Record that a result of the search `token` was opened."""
        self._put(SearchClick(token=_loggable(token, 32), slug=_loggable(slug, 120)))

    def _put(self, entry: SearchLog | SearchClick) -> None:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            return  # analytics must never slow searches down
        if self._thread is None:
            self.start()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="search-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def flush(self) -> None:
        batch: list[SearchLog | SearchClick] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        try:
            with write_session(self.engine) as session:
                session.add_all([_fresh(entry) for entry in batch])
        except Exception:
            # One bad row must not cost the others: write them one by one.
            log.warning("search log batch of %d failed; writing row by row", len(batch))
            lost = 0
            for entry in batch:
                try:
                    with write_session(self.engine) as session:
                        session.add(_fresh(entry))
                except Exception:
                    lost += 1
                    log.exception("could not write a search log entry")
            if lost:
                log.error("%d of %d search log entries lost", lost, len(batch))

    def prune_if_due(self) -> None:
        """Prune the old rows if the last pruning of this process is a day old (or none)."""
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < self.PRUNE_SECONDS:
            return
        self._pruned_at = now
        try:
            searches, clicks = prune_search_log(self.engine, self.retention_days)
            addresses = erase_reporter_emails(self.engine, self.retention_days)
        except Exception:
            log.exception("could not prune the search log")
            return
        if searches or clicks:
            log.info("search log pruned: %d searches, %d clicks", searches, clicks)
        if addresses:
            log.info("addresses of %d unanswered need(s) erased", addresses)

    def _run(self) -> None:
        self.prune_if_due()
        while not self._stop.wait(self.FLUSH_SECONDS):
            self.flush()
            self.prune_if_due()


def _loggable(text: str, limit: int) -> str:
    """Text the log columns accept on both databases: no control character or lone
    surrogate (PostgreSQL refuses NUL), at most the column's length."""
    text = strip_controls(text)[:limit]
    return text.encode("utf-8", "replace").decode("utf-8")


def _fresh(entry: SearchLog | SearchClick) -> SearchLog | SearchClick:
    """A new, unsaved copy of a queued row (a failed transaction leaves its rows dirty)."""
    values = {name: getattr(entry, name) for name in type(entry).model_fields if name != "id"}
    return type(entry)(**values)


# --- the radar's figures -------------------------------------------------------------------


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, in SQL."""
    if dialect == "postgresql":  # timestamptz: take the day in UTC, not in the session's zone
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC text


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def radar_figures(session: Session, since: datetime) -> dict[str, Any]:
    """The radar's figures since `since`, aggregated by the database (GROUP BY).

    Rows are grouped by day and by exact query text in SQL; only those groups come back
    (never the log rows), and Python merges them by the shown form of the query (trimmed,
    lower case: SQLite's `lower` knows ASCII only) and by ISO week.
    """
    day = _day(SearchLog.at, session.get_bind().dialect.name).label("day")
    searched = (SearchLog.at >= since, SearchLog.source != "hint")
    clicked = (
        select(col(SearchClick.id))
        .where(SearchClick.token == SearchLog.token, SearchClick.at >= since)
        .exists()
    )
    unclicked = and_(col(SearchLog.total) != 0, col(SearchLog.query) != "", ~clicked)
    by_week: dict[str, dict[str, int]] = {}
    for row in session.execute(
        select(
            day,
            func.count(),
            func.sum(case((col(SearchLog.total) == 0, 1), else_=0)),
            func.sum(case((unclicked, 1), else_=0)),
        )
        .where(*searched)
        .group_by(day)
    ):
        week = _as_date(row[0]).strftime("%G-S%V")
        stats = by_week.setdefault(week, {"searches": 0, "zero": 0, "no_click": 0})
        for key, value in zip(("searches", "zero", "no_click"), row[1:], strict=True):
            stats[key] += int(value or 0)

    top: dict[str, int] = {}
    for query, count in session.execute(
        select(SearchLog.query, func.count())
        .where(*searched, SearchLog.query != "")
        .group_by(SearchLog.query)
    ):
        if shown := query.strip().lower():
            top[shown] = top.get(shown, 0) + count

    no_click: dict[str, int] = {}
    for query, count in session.execute(
        select(SearchLog.query, func.count()).where(*searched, unclicked).group_by(SearchLog.query)
    ):
        if shown := query.strip().lower():
            no_click[shown] = no_click.get(shown, 0) + count

    zero: dict[tuple[str, str], dict[str, Any]] = {}
    filters_text = cast(SearchLog.filters, String).label("filters_text")
    for query, raw_filters, row_day, count in session.execute(
        select(SearchLog.query, filters_text, day, func.count())
        .where(*searched, SearchLog.total == 0)
        .group_by(SearchLog.query, filters_text, day)
    ):
        shown = query.strip().lower()
        parsed = json.loads(raw_filters) if raw_filters else {}
        filters = ", ".join(f"{k} : {v}" for k, v in sorted(parsed.items()))
        item = zero.setdefault(
            (shown, filters), {"query": shown, "filters": filters, "count": 0, "weeks": set()}
        )
        item["count"] += count
        item["weeks"].add(_as_date(row_day).strftime("%G-S%V"))
    return {
        "top": sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))[:20],
        "zero": sorted(zero.values(), key=lambda v: (-v["count"], v["query"], v["filters"]))[:30],
        "no_click": sorted(no_click.items(), key=lambda kv: (-kv[1], kv[0]))[:20],
        "by_week": sorted(by_week.items(), reverse=True),
    }


# --- reported needs (« besoins ») -------------------------------------------------------------

# The search's filters, kept with the need (the year facet is a range in the query string).
NEED_FILTERS = (*SLUG_FACETS, *YEAR_RANGE_PARAMS)
# Whatever the addresses, at most this many times the per-address limit in one window
# (counted in the database, so it holds across worker processes and machines).
NEEDS_GLOBAL_FACTOR = 10


class NeedNotFound(DomainError):
    default_kind = Kind.NOT_FOUND


class NotPublished(DomainError):
    """A need is answered by a published fiche only."""

    default_kind = Kind.CONFLICT


def needs_below_global_cap(engine: Engine, limit: int, window_minutes: int) -> bool:
    """True while fewer than NEEDS_GLOBAL_FACTOR × `limit` needs were reported in the last
    `window_minutes` (all addresses together)."""
    since = utcnow() - timedelta(minutes=window_minutes)
    with read_session(engine) as session:
        recent = session.execute(
            select(func.count())
            .select_from(CapitalisationRequest)
            .where(CapitalisationRequest.at >= since)
        ).scalar_one()
    return recent < limit * NEEDS_GLOBAL_FACTOR


def report_need(
    engine: Engine,
    *,
    query: str,
    filters: dict[str, list[str]],
    message: str,
    reporter_id: int | None = None,
    reporter_email: str | None = None,
) -> None:
    """Record a need for a fiche that does not exist yet (a database write: never call it on
    the event loop). Texts are bounded here. Who to tell when a fiche answers it: the
    signed-in reporter's account (`reporter_id`), else the address an anonymous reporter
    chose to leave (`reporter_email`, checked by the caller; erased once used)."""
    kept = {name: [v[:100] for v in values if v][:20] for name, values in filters.items()}
    email = reporter_email.strip().lower()[:254] if reporter_email and not reporter_id else None
    need = CapitalisationRequest(
        query=query.strip()[:200],
        filters={name: values for name, values in kept.items() if values},
        message=message.strip()[:2000],
        reporter_id=reporter_id,
        reporter_email=email or None,
    )
    with write_session(engine) as session:
        session.add(need)


def reported_needs(session: Session) -> list[CapitalisationRequest]:
    """Every reported need: open ones first, newest first."""
    return list(
        session.execute(
            select(CapitalisationRequest).order_by(
                col(CapitalisationRequest.status).desc(),
                col(CapitalisationRequest.at).desc(),
            )
        ).scalars()
    )


def answer_need(session: Session, *, user: User, need_id: int, slug: str) -> None:
    """Mark a need as answered by the published fiche `slug`.

    Raises PermissionDenied (not a curator), NeedNotFound, NotPublished.
    """
    if not is_curator(user):
        raise PermissionDenied
    need = session.get(CapitalisationRequest, need_id)
    if need is None:
        raise NeedNotFound
    writeup = get_by_slug(session, slug.strip()) if slug.strip() else None
    if writeup is None or writeup.status != "published":
        raise NotPublished("Indiquez l'identifiant d'une fiche publiée (la fin de son adresse).")
    need.status, need.answered_slug = "answered", writeup.slug
    need.answered_by, need.answered_at = user.id, utcnow()
    session.add(need)
    # notifications.on_event tells the reporter (and erases an anonymous one's address).
    record(session, action="request_answered", writeup=writeup, actor_id=user.id, need_id=need.id)
