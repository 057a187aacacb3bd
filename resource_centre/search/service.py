"""The search flow shared by the library pages and the JSON API.

Bounds the parameters, runs the query on a pooled searcher, and logs the search for the
curators' analytics (in a background thread, so a search never waits for a write).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from resource_centre.db import read_session
from resource_centre.glossary import EMPTY, Glossary, glossary_stamp, load_glossary
from resource_centre.models import WriteUp
from resource_centre.rendering import plain_text
from resource_centre.search.expand import glossary_index
from resource_centre.search.indexer import IndexUnavailable, SearchIndex
from resource_centre.search.labels import Labels, load_labels
from resource_centre.search.query import more_like_this, run
from resource_centre.search.request import (
    SEARCHABLE_SECTIONS,
    SearchRequest,
    request_from_params,
)
from resource_centre.search.results import FacetValue, Hit, SearchResults
from resource_centre.taxonomy import FACETS

log = logging.getLogger(__name__)
LABELS_TTL_SECONDS = 5.0
# The glossary a search widens queries with: checked every GLOSSARY_TTL_SECONDS by a thread
# of each process while searches come (one aggregate query, about a millisecond; the whole
# glossary is read only when it changed, or every GLOSSARY_FULL_SECONDS), so a curator's
# change reaches every worker within about half a second. A search never uses a check older
# than GLOSSARY_STALE_SECONDS: after a quiet spell the thread has stopped, and the first
# search checks it itself.
GLOSSARY_TTL_SECONDS = 0.5
GLOSSARY_STALE_SECONDS = 1.5
GLOSSARY_IDLE_SECONDS = 60.0
GLOSSARY_FULL_SECONDS = 30.0
SECTION_TEXTS_CACHED = 4096  # sections' plain texts kept for highlights (a few MB)
INDEX_UNAVAILABLE = (
    "La recherche est momentanément indisponible : l'index est en cours de reconstruction."
)


class DatabaseBodies:
    """The fiches' plain text from the database, for body highlights (a `SectionBodies`):
    the whole text (`__call__`) or one section's (`sections`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # (slug, section key, version) → the section's plain text: Markdown → text costs
        # about 0.1 ms a section, and the same fiches come back in many searches.
        self._texts: OrderedDict[tuple[str, str, int], str] = OrderedDict()
        self._texts_lock = threading.Lock()

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

    def sections(self, wanted: Mapping[str, str]) -> dict[str, str]:
        """The plain text of one section of each fiche: `{slug: key}` → `{slug: text}`."""
        by_key: dict[str, list[str]] = {}
        for slug, key in wanted.items():
            if key in SEARCHABLE_SECTIONS:
                by_key.setdefault(key, []).append(slug)
        texts: dict[str, str] = {}
        try:
            with read_session(self.engine) as session:
                for key, slugs in by_key.items():
                    # Only that section's Markdown is read (a JSON path, in SQL).
                    markdown = col(WriteUp.sections)[key].as_string()
                    rows = session.execute(
                        select(WriteUp.slug, WriteUp.version, markdown).where(
                            col(WriteUp.slug).in_(slugs)
                        )
                    ).all()
                    for slug, version, source in rows:
                        text = self._section_text(slug, key, int(version or 0), source)
                        if text:
                            texts[slug] = text
        except SQLAlchemyError:  # highlights are optional: the results come without them
            log.warning("fiche sections unavailable for highlights", exc_info=True)
            return {}
        return texts

    def _section_text(self, slug: str, key: str, version: int, source: object) -> str:
        cache_key = (slug, key, version)
        with self._texts_lock:
            text = self._texts.get(cache_key)
            if text is not None:
                self._texts.move_to_end(cache_key)
                return text
        text = plain_text(source) if isinstance(source, str) else ""
        with self._texts_lock:
            self._texts[cache_key] = text
            while len(self._texts) > SECTION_TEXTS_CACHED:
                self._texts.popitem(last=False)
        return text


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
        self._glossary: Glossary = EMPTY
        self._glossary_at = float("-inf")  # monotonic time of the last check
        self._glossary_stamp: tuple[object, ...] | None = None
        self._glossary_full_at = float("-inf")  # of the last whole read
        self._glossary_used = 0.0
        self._glossary_refresher = False
        self._closed = threading.Event()

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

    def glossary(self) -> Glossary:
        """The field's glossary as stored, read at most `GLOSSARY_STALE_SECONDS` ago.

        The first call (and the first after a quiet spell) reads it; otherwise a background
        thread reads it every `GLOSSARY_TTL_SECONDS` while requests go on with the one they
        have. The same object is kept while its content (`version`) does not change.
        """
        now = time.monotonic()
        self._glossary_used = now
        if now - self._glossary_at > GLOSSARY_STALE_SECONDS:
            self._read_glossary()
        glossary = self._glossary
        if not self._glossary_refresher:
            self._start_glossary_refresher()
        return glossary

    def _read_glossary(self) -> None:
        """Check the glossary's stamp; read it whole when the stamp changed."""
        started = time.monotonic()
        glossary: Glossary | None = None
        try:
            with read_session(self.engine) as session:
                stamp = glossary_stamp(session)
                if (
                    stamp != self._glossary_stamp
                    or started - self._glossary_full_at > GLOSSARY_FULL_SECONDS
                ):
                    glossary = load_glossary(session)
            if glossary is not None and glossary.version != self._glossary.version:
                glossary_index(glossary)  # the query side's forms, built here, not in a search
        except Exception:  # searches go on with the glossary they have (empty at first)
            log.warning("the glossary could not be read", exc_info=True)
            with self._lock:
                self._glossary_at = max(self._glossary_at, started)  # retried by the thread
            return
        with self._lock:
            if started < self._glossary_at:
                return  # a later check has ended already
            if glossary is not None:
                if glossary.version != self._glossary.version:
                    self._glossary = glossary
                self._glossary_stamp, self._glossary_full_at = stamp, started
            self._glossary_at = started

    def _start_glossary_refresher(self) -> None:
        with self._lock:
            if self._glossary_refresher or self._closed.is_set():
                return
            self._glossary_refresher = True
        threading.Thread(
            target=_refresh_glossary,
            args=(weakref.ref(self), self._closed),
            name="glossary",
            daemon=True,
        ).start()

    def close(self) -> None:
        """Stop the glossary's background reads (at shutdown)."""
        self._closed.set()

    def known(self) -> dict[str, set[str]]:
        return {facet: set(values) for facet, values in self.labels().items()}

    def parse(self, params: Mapping[str, list[str]]) -> SearchRequest:
        return request_from_params(params, self.known())

    def search(
        self, request: SearchRequest, *, source: str = "web", token: str = "", quiet: bool = False
    ) -> SearchResults:
        """Run a search; an unavailable index gives an empty result with a notice.

        `token` goes into the search log and into result links, to count opened results.
        `quiet`: a search that is not the user's own (hints, counts): neither logged nor
        given body extracts.
        """
        started = time.perf_counter()
        try:
            with self.index.searching() as searcher:
                results = run(
                    searcher,
                    request,
                    labels=self.labels(),
                    body_text=None if quiet else self.bodies,
                    glossary=self.glossary(),
                )
        except IndexUnavailable:
            return empty_results(request, [*request.notices, INDEX_UNAVAILABLE], unavailable=True)
        elapsed = (time.perf_counter() - started) * 1000
        if not quiet and (request.q.strip() or request.filters):
            found = results.total if results.typed_total is None else results.typed_total
            self.log.add(request, found, elapsed, source, token)
        return results

    def related(self, slug: str, limit: int = 3) -> list[Hit]:
        try:
            with self.index.searching() as searcher:
                return more_like_this(searcher, slug, limit=limit)
        except IndexUnavailable:
            return []


def _refresh_glossary(ref: weakref.ref[SearchService], closed: threading.Event) -> None:
    """The glossary refresher of one `SearchService`: reads it again every
    `GLOSSARY_TTL_SECONDS`; stops when the service is closed or gone, or after
    `GLOSSARY_IDLE_SECONDS` without a search."""
    while not closed.wait(GLOSSARY_TTL_SECONDS):
        service = ref()
        if service is None:
            return
        if time.monotonic() - service._glossary_used > GLOSSARY_IDLE_SECONDS:
            with service._lock:
                service._glossary_refresher = False
            return
        service._read_glossary()
        del service  # no strong reference while waiting
    service = ref()
    if service is not None:
        with service._lock:
            service._glossary_refresher = False


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
