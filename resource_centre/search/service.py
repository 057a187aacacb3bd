"""The search flow shared by the library pages and the JSON API.

Bounds the parameters, runs the query on a pooled searcher, and logs the search for the
curators' analytics (in a background thread, so a search never waits for a write).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from resource_centre.db import read_session
from resource_centre.models import WriteUp
from resource_centre.search.indexer import IndexUnavailable, SearchIndex
from resource_centre.search.labels import Labels, load_labels
from resource_centre.search.query import more_like_this, run
from resource_centre.search.request import SearchRequest, request_from_params
from resource_centre.search.results import FacetValue, Hit, SearchResults
from resource_centre.taxonomy import FACETS

log = logging.getLogger(__name__)
LABELS_TTL_SECONDS = 5.0
INDEX_UNAVAILABLE = (
    "La recherche est momentanément indisponible : l'index est en cours de reconstruction."
)


class DatabaseBodies:
    """The fiches' plain text from the database, for body highlights (a `FicheBodies`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, slugs: list[str]) -> dict[str, str]:
        if not slugs:
            return {}
        try:
            with read_session(self.engine) as session:
                rows = session.execute(
                    select(WriteUp.slug, WriteUp.plain_text).where(col(WriteUp.slug).in_(slugs))
                ).all()
        except SQLAlchemyError:  # highlights are optional: the results come without them
            log.warning("fiche bodies unavailable for highlights", exc_info=True)
            return {}
        return dict(rows)


class SearchLog(Protocol):
    """Where searches are recorded for the curators' radar (`radar.SearchLogWriter`)."""

    def add(
        self, request: SearchRequest, total: int, elapsed_ms: float, source: str, token: str = ""
    ) -> None: ...


class SearchService:
    """One per process: labels cache, searches, related fiches; searches go to `log`."""

    def __init__(self, engine: Engine, index: SearchIndex, *, log: SearchLog) -> None:
        self.engine = engine
        self.index = index
        self.bodies = DatabaseBodies(engine)
        self._labels: Labels = {}
        self._labels_at = 0.0
        self._refreshing = False
        self._lock = threading.Lock()
        self.log = log

    def labels(self) -> Labels:
        """Facet labels from the database, at most a few seconds old.

        Only the first call waits for the database. Later, labels older than
        `LABELS_TTL_SECONDS` are read again by a background thread while requests go on
        with the ones they have, so the first search after a quiet minute is as fast as
        the others.
        """
        if not self._labels_at:
            self._refresh_labels()
            return self._labels
        labels = self._labels  # what this request uses, even if a refresh ends meanwhile
        if time.monotonic() - self._labels_at > LABELS_TTL_SECONDS:
            with self._lock:
                start = not self._refreshing
                self._refreshing = True
            if start:
                threading.Thread(target=self._refresh_labels, name="labels", daemon=True).start()
        return labels

    def _refresh_labels(self) -> None:
        now = time.monotonic()
        try:
            with read_session(self.engine) as session:
                labels = load_labels(session)
        except Exception:
            with self._lock:
                self._refreshing = False
            if not self._labels_at:
                raise  # nothing to show yet: the request fails as it did before
            log.warning("facet labels could not be read again", exc_info=True)
            return
        with self._lock:
            self._labels, self._labels_at, self._refreshing = labels, now, False

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
                results = run(searcher, request, labels=self.labels(), body_text=self.bodies)
        except IndexUnavailable:
            return empty_results(request, [*request.notices, INDEX_UNAVAILABLE], unavailable=True)
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


def empty_results(
    request: SearchRequest, notices: list[str], *, unavailable: bool = False
) -> SearchResults:
    """A page without hits (every facet empty) for a request that could not be run."""
    return SearchResults(
        hits=[],
        total=0,
        page=request.page,
        page_size=request.page_size,
        facets={f: list[FacetValue]() for f in FACETS},
        suggestion=None,
        notices=notices,
        unavailable=unavailable,
    )
