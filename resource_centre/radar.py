"""The curators' radar: what readers search for, what they open, what they ask for.

Owns the search log (written in batches from a background thread, pruned after the
retention period) and the clicks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete

from resource_centre.db import write_session
from resource_centre.models import SearchClick, SearchLog, utcnow
from resource_centre.text import strip_controls

if TYPE_CHECKING:
    from resource_centre.search.query import SearchRequest

log = logging.getLogger(__name__)
RETENTION_DAYS = 400  # default of RESOURCE_CENTRE_LOG_RETENTION_DAYS


def prune_search_log(engine: Engine, retention_days: int) -> tuple[int, int]:
    """Delete search log rows and clicks older than `retention_days`; return both counts."""
    cutoff = utcnow() - timedelta(days=retention_days)
    with write_session(engine) as session:
        searches = session.execute(delete(SearchLog).where(SearchLog.at < cutoff)).rowcount
        clicks = session.execute(delete(SearchClick).where(SearchClick.at < cutoff)).rowcount
    return searches or 0, clicks or 0


class SearchLogWriter:
    """Writes search log rows in batches from a background thread.

    The same thread deletes the rows older than the retention period: when it starts (at the
    first search after the process starts) and then once a day.
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
        except Exception:
            log.exception("could not prune the search log")
            return
        if searches or clicks:
            log.info("search log pruned: %d searches, %d clicks", searches, clicks)

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
