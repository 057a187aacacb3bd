"""The search flow shared by the library pages and the JSON API.

Bounds the parameters, runs the query on this thread's searcher, and logs the search for
the curators' analytics (in a background thread, so a search never waits for a write).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from sqlalchemy import Engine, select

from resource_centre.db import read_session
from resource_centre.models import WriteUp
from resource_centre.radar import RETENTION_DAYS, SearchLogWriter
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

    def __init__(
        self, engine: Engine, index: SearchIndex, *, retention_days: int = RETENTION_DAYS
    ) -> None:
        self.engine = engine
        self.index = index
        self._labels: Labels = {}
        self._labels_at = 0.0
        self._lock = threading.Lock()
        self.log = SearchLogWriter(engine, retention_days=retention_days)

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
            with self.index.searching() as searcher:
                results = run(searcher, request, labels=self.labels(), body_text=self.body_text)
        except IndexUnavailable:
            return empty_results(request, [*request.notices, INDEX_UNAVAILABLE])
        elapsed = (time.perf_counter() - started) * 1000
        if request.q.strip() or request.filters:
            self.log.add(request, results.total, elapsed, source, token)
        return results

    def related(self, slug: str, limit: int = 3) -> list[Hit]:
        try:
            with self.index.searching() as searcher:
                return more_like_this(searcher, slug, limit=limit)
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
