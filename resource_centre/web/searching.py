"""The search flow shared by the library pages and the JSON API.

Bounds the parameters, runs the query on this thread's searcher, and logs the search for
the curators' analytics (in a background thread, so a search never waits for a write).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from resource_centre.db import read_session, write_session
from resource_centre.models import SearchClick, SearchLog, WriteUp
from resource_centre.search.indexer import IndexUnavailable, SearchIndex
from resource_centre.search.labels import Labels, load_labels
from resource_centre.search.query import (
    FacetValue,
    Hit,
    SearchRequest,
    SearchResults,
    more_like_this,
    request_from_params,
    run,
)
from resource_centre.taxonomy import FACETS

log = logging.getLogger(__name__)
LABELS_TTL_SECONDS = 5.0
INDEX_UNAVAILABLE = (
    "La recherche est momentanément indisponible : l'index est en cours de reconstruction."
)


class SearchService:
    """One per process: labels cache, searches, related fiches, search log."""

    def __init__(self, engine: Engine, index: SearchIndex) -> None:
        self.engine = engine
        self.index = index
        self._labels: Labels = {}
        self._labels_at = 0.0
        self._lock = threading.Lock()
        self.log = SearchLogWriter(engine)

    def labels(self) -> Labels:
        """Facet labels from the database, cached for a few seconds."""
        now = time.monotonic()
        if now - self._labels_at > LABELS_TTL_SECONDS:
            with read_session(self.engine) as session:
                labels = load_labels(session)
            with self._lock:
                self._labels, self._labels_at = labels, now
        return self._labels

    def known(self) -> dict[str, set[str]]:
        return {facet: set(values) for facet, values in self.labels().items()}

    def parse(self, params: Mapping[str, list[str]]) -> SearchRequest:
        return request_from_params(params, self.known())

    def search(
        self, request: SearchRequest, *, source: str = "web", token: str = ""
    ) -> SearchResults:
        """Run a search; an unavailable index gives an empty result with a notice.

        `token` goes into the search log and into result links, to count opened results.
        """
        started = time.perf_counter()
        try:
            searcher = self.index.searcher()
        except IndexUnavailable:
            return empty_results(request, [*request.notices, INDEX_UNAVAILABLE])
        results = run(searcher, request, labels=self.labels(), body_text=self.body_text)
        elapsed = (time.perf_counter() - started) * 1000
        if request.q.strip() or request.filters:
            self.log.add(request, results.total, elapsed, source, token)
        return results

    def related(self, slug: str, limit: int = 3) -> list[Hit]:
        try:
            return more_like_this(self.index.searcher(), slug, limit=limit)
        except IndexUnavailable:
            return []

    def body_text(self, slugs: list[str]) -> dict[str, str]:
        """Plain text of the fiches' sections, for highlights (bodies are not stored)."""
        if not slugs:
            return {}
        with read_session(self.engine) as session:
            rows = session.execute(
                select(WriteUp.slug, WriteUp.plain_text).where(WriteUp.slug.in_(slugs))  # type: ignore[attr-defined]
            ).all()
        return dict(rows)


def empty_results(request: SearchRequest, notices: list[str]) -> SearchResults:
    return SearchResults(
        hits=[], total=0, page=request.page, page_size=request.page_size,
        facets={f: list[FacetValue]() for f in FACETS}, suggestion=None, notices=notices,
    )  # fmt: skip


class SearchLogWriter:
    """Writes search log rows in batches from a background thread."""

    FLUSH_SECONDS = 1.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
            query=request.q.strip()[:200], filters=filters, total=total,
            duration_ms=round(elapsed_ms, 2), source=source, token=token,
        )  # fmt: skip
        self._put(entry)

    def click(self, token: str, slug: str) -> None:
        """Record that a result of the search `token` was opened."""
        self._put(SearchClick(token=token, slug=slug))

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
                session.add_all(batch)
        except Exception:
            log.exception("could not write %d search log entries", len(batch))

    def _run(self) -> None:
        while not self._stop.wait(self.FLUSH_SECONDS):
            self.flush()
