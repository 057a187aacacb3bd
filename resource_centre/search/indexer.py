"""Keeping the Whoosh index in step with the database.

The index of a directory is changed only by the holder of that directory's writer lock,
and only from the index journal (written in the same transaction as every change to a
fiche, see `models._journal_changes`). Each entry names a fiche; applying it re-reads the
fiche from the database, so entries can be applied twice without harm. The index stores the
id of the last entry it applied (a "meta" document, committed with the changes), so a
process killed at any point loses nothing: the next writer carries on from there.

Layout of the index directory::

    index/
      writer.lock        the single-writer lock (fcntl)
      current            symlink to the live generation
      gen-<stamp>/       Whoosh index files

`rebuild()` builds a fresh generation while searches go on, then swaps the link atomically.
The lock is in `lock.py`, the sync thread of a server process in `sync.py`, the report of
`check()` in `check.py`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, func
from sqlmodel import col, select
from whoosh import index as whoosh_index
from whoosh.searching import Searcher

from resource_centre.db import read_session
from resource_centre.errors import DomainError, Kind
from resource_centre.models import IndexJournal, Regie, WriteUp
from resource_centre.search import mapped
from resource_centre.search.check import CheckReport, compare, indexed_versions, live_view
from resource_centre.search.labels import load_labels
from resource_centre.search.lock import WriterLock
from resource_centre.search.schema import (
    META_SLUG,
    SCHEMA_VERSION,
    build_schema,
    document_from,
    meta_document,
    meta_schema_version,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
mapped.install()  # searchers read the mapped segment files in place, without a copy

CURRENT = "current"
LOCK_FILE = "writer.lock"
APPLY_CHUNK = 500
BULK_ENTRIES = 50  # a batch this large (an import) merges segments as it commits
MAX_SEGMENTS = 4  # beyond this, the sync thread merges small segments when idle
POOL_MAX = 64  # idle searchers kept per process
SMALL_SEGMENT_DOCS = 200  # segments this small (or under 5 % of the index) are merged when idle
# Beyond this many pending entries, a full rebuild is cheaper than applying them one by one.
REBUILD_THRESHOLD = 20_000
# An import leaving this many pending entries (and a quarter of the index) is indexed by
# building a fresh generation in bulk rather than applying the entries (`bulk`).
BULK_REBUILD_MIN = 1_000
# A full build indexes this many fiches per process and round, sorting their postings in
# memory (up to BUILD_LIMIT_MB per process; measured at 10,000 generated fiches of about
# 1,000 words: 1.1 GB per process for 5,000 fiches, build 50 s instead of 101 s with
# spilling), and leaves one segment per process and round. The `sections` field (schema 3)
# adds a third to the postings: 5,000 fiches then spilled (build 3 times as long), 3,000
# stay within the limit (1.2 GB per process at 3,300).
ROUND_DOCS = 3_000
BUILD_LIMIT_MB = 1024


_JOURNAL_HEAD = select(func.max(IndexJournal.id))


class IndexUnavailable(DomainError, RuntimeError):
    """The index directory is missing or unreadable (or made with another schema version);
    a rebuild is needed."""

    default_kind = Kind.UNAVAILABLE


# Each searcher we open remembers the generation directory it reads. Whoosh's `Searcher`
# declares no such attribute, so it lives in the instance dict under this key (typed by
# `_path_of`; a plain dict look-up, as cheap as the attribute it replaces).
_PATH_KEY = "_rc_path"


def _path_of(searcher: Searcher) -> Path | None:
    """The generation directory `searcher` reads (None for a searcher we did not open)."""
    return searcher.__dict__.get(_PATH_KEY)


class SearchIndex:
    """One index directory: searchers for readers, journal application for the writer."""

    def __init__(self, root: Path, engine: Engine) -> None:
        self.root = Path(root)
        self.engine = engine
        self._local = threading.local()
        self._write_mutex = threading.Lock()
        self._pool: list[Searcher] = []  # idle searchers of the live generation
        self._pool_lock = threading.Lock()
        # (after, up to) ids of the last journal range this object applied, for IndexSync.
        self.last_applied_range: tuple[int, int] | None = None

    # -- layout --------------------------------------------------------------------------

    @property
    def lock(self) -> WriterLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return WriterLock(self.root / LOCK_FILE)

    def current_dir(self) -> Path | None:
        """The live generation's directory (a readlink: cheap enough for every request)."""
        try:
            target = os.readlink(self.root / CURRENT)
        except OSError:
            return None
        return self.root / target

    def exists(self) -> bool:
        path = self.current_dir()
        return path is not None and path.is_dir()

    def _new_generation(self) -> Path:
        path = self.root / f"gen-{time.time_ns()}"
        path.mkdir(parents=True)
        whoosh_index.create_in(str(path), build_schema())
        return path

    def _swap(self, generation: Path) -> None:
        tmp = self.root / f".current-{os.getpid()}-{time.time_ns()}"
        os.symlink(generation.name, tmp)
        os.replace(tmp, self.root / CURRENT)  # atomic: readers see the old or the new
        self._remove_old_generations(keep=generation)

    def _remove_old_generations(self, keep: Path) -> None:
        # The generation just replaced stays one more round for readers that looked up the
        # link a moment ago; older ones go (open files stay readable on POSIX).
        generations = sorted(self.root.glob("gen-*"), key=lambda p: p.name)
        previous = [p for p in generations if p.name < keep.name][-1:]
        for path in generations:
            if path != keep and path not in previous and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)

    def ensure(self) -> bool:
        """Create an empty index if there is none; True if one was created."""
        with self._write_mutex, self.lock.held(timeout=30) as got:
            if not got or self.exists():
                return False
            generation = self._new_generation()
            # Its meta document says which schema made it (an index without one counts
            # as version 1, which would be rebuilt at the first catch-up).
            writer = whoosh_index.open_dir(str(generation)).writer()
            writer.add_document(**meta_document(0))
            writer.commit()
            self._swap(generation)
            return True

    # -- reading -------------------------------------------------------------------------

    def _open(self) -> tuple[Any, Path]:
        path = self.current_dir()
        if path is None:
            raise IndexUnavailable("index introuvable")
        return whoosh_index.open_dir(str(path)), path

    def searcher(self) -> Searcher:
        """This thread's searcher, reopened if the index changed (never shared by threads)."""
        local = self._local
        for attempt in range(2):
            path = self.current_dir()
            if path is None:
                raise IndexUnavailable("index introuvable")
            searcher = getattr(local, "searcher", None)
            try:
                if searcher is None or local.path != path:
                    if searcher is not None:
                        searcher.close()
                    local.searcher = None
                    ix, path = self._open()
                    local.searcher, local.path = ix.searcher(), path
                elif not searcher.up_to_date():
                    # Never `searcher.refresh()`: in whoosh3 3.54.0 (and whoosh-reloaded
                    # 2.7.5) it reuses the readers of unchanged segments with their *old*
                    # deletion sets, so replaced and deleted documents stay visible (pinned
                    # in test_whoosh_conformance).
                    # A new searcher per index commit costs ~50 ms at 10,000 fiches.
                    searcher.close()
                    local.searcher = None
                    ix, path = self._open()
                    local.searcher, local.path = ix.searcher(), path
                return local.searcher
            except Exception as exc:  # Whoosh fails in many ways on a missing generation
                # The link may have moved between our look and our open: look once more.
                local.searcher = None
                if attempt:
                    # Whoosh's wording (English, with paths) goes to the log, not to users.
                    log.warning("index unreadable: %s", str(exc))  # not exc: keeps no frames
                    raise IndexUnavailable("index illisible") from exc
        raise IndexUnavailable("index introuvable")  # pragma: no cover

    @contextlib.contextmanager
    def searching(self) -> Iterator[Searcher]:
        """Borrow a searcher of the live generation for one request.

        Searchers are not thread-safe, but they need not belong to a thread: idle ones wait
        in a pool and are lent to one request at a time. After an index commit only as many
        searchers are opened as requests run at once (not one per thread of the pool), and
        the sync thread opens the first one in advance.
        """
        searcher = self._borrow()
        try:
            yield searcher
        finally:
            self._give_back(searcher)

    def _borrow(self) -> Searcher:
        for attempt in range(2):
            path = self.current_dir()
            if path is None:
                raise IndexUnavailable("index introuvable")
            stale: list[Searcher] = []
            found: Searcher | None = None
            with self._pool_lock:
                while self._pool and found is None:
                    candidate = self._pool.pop()
                    if _path_of(candidate) == path and candidate.up_to_date():
                        found = candidate
                    else:
                        stale.append(candidate)
            for old in stale:
                old.close()
            if found is not None:
                return found
            try:
                ix = whoosh_index.open_dir(str(path))
                searcher = ix.searcher()
                searcher.__dict__[_PATH_KEY] = path  # which generation directory it reads
                return searcher
            except Exception as exc:  # Whoosh fails in many ways on a missing generation
                # The link may have moved between our look and our open: look once more.
                if attempt:
                    # Whoosh's wording (English, with paths) goes to the log, not to users.
                    log.warning("index unreadable: %s", str(exc))  # not exc: keeps no frames
                    raise IndexUnavailable("index illisible") from exc
        raise IndexUnavailable("index introuvable")  # pragma: no cover

    def _give_back(self, searcher: Searcher) -> None:
        try:
            current = _path_of(searcher) == self.current_dir() and searcher.up_to_date()
        except Exception:  # a searcher whose files are gone is not lent again: closed below
            current = False
        if current:
            with self._pool_lock:
                if len(self._pool) < POOL_MAX:
                    self._pool.append(searcher)
                    return
        searcher.close()

    def applied_id(self) -> int:
        """The id of the last journal entry the live index has applied (0 if none).

        Read from this thread's searcher, which is reopened (never refreshed) whenever the
        index commits, so it sees the meta document of the latest generation.
        """
        with self.searching() as searcher:
            fields = searcher.document(slug=META_SLUG)
        return int(fields["journal_id"]) if fields else 0

    # -- writing -------------------------------------------------------------------------

    def latest_journal_id(self) -> int:
        """The journal's head: one Core query on a pooled connection (each worker asks four
        times a second when idle; an ORM session per poll was most of an idle server's CPU)."""
        with self.engine.connect() as connection:
            return int(connection.execute(_JOURNAL_HEAD).scalar() or 0)

    def catch_up(self, *, timeout: float = 0.0, applied: int | None = None) -> int:
        """Apply pending journal entries if this process can take the writer lock.

        Returns how many entries were applied (0 if another process holds the lock: that
        process is the writer and will apply them). `applied`, when the caller has just
        read it from a fresh searcher, saves opening the index once more (slow on large
        indexes); a value too low only makes entries be applied again, which is harmless.
        """
        with self._write_mutex, self.lock.held(timeout=timeout) as got:
            if not got:
                return 0
            path = self.current_dir()
            version = SCHEMA_VERSION
            try:
                if path is None:
                    raise IndexUnavailable("index introuvable")
                ix = whoosh_index.open_dir(str(path))
                if applied is None:
                    applied, version = _meta(ix)
            except Exception:  # Whoosh fails in many ways on a missing or damaged index
                log.warning("index missing or unreadable in %s: rebuilding it", self.root)
                self._rebuild_locked()
                return 0
            if version != SCHEMA_VERSION:
                log.warning(
                    "index in %s made with schema version %s (now %s): rebuilding it",
                    self.root,
                    version,
                    SCHEMA_VERSION,
                )
                self._rebuild_locked()
                return 0
            if self.latest_journal_id() - applied > REBUILD_THRESHOLD:
                self._rebuild_locked()
                return 0
            return self._apply_pending(ix, applied)

    def _apply_pending(self, ix: Any, applied: int | None = None) -> int:
        if applied is None:
            applied, _ = _meta(ix)
        first = applied
        total = 0
        while True:
            with read_session(self.engine) as session:
                entries = session.execute(
                    select(IndexJournal.id, IndexJournal.slug)
                    .where(col(IndexJournal.id) > applied)
                    .order_by(col(IndexJournal.id))
                    .limit(APPLY_CHUNK)
                ).all()
                if not entries:
                    if total:
                        self.last_applied_range = (first, applied)
                    return total
                last_id = entries[-1][0]
                slugs = sorted({slug for _, slug in entries})
                documents = _documents(session, slugs)
            writer = ix.writer(timeout=30)
            try:
                for slug in slugs:
                    doc = documents.get(slug)
                    if doc is None:
                        writer.delete_by_term("slug", slug)
                    else:
                        writer.update_document(**doc)
                writer.update_document(**meta_document(last_id))
                # Merging small segments takes most of a small commit's time and would delay
                # publication: only bulk batches merge here; `merge_small()` does the rest
                # when the index is idle.
                writer.commit(merge=len(entries) >= BULK_ENTRIES)
            except BaseException:
                writer.cancel()
                raise
            applied = last_id
            total += len(entries)

    def merge_small(self, *, max_segments: int = MAX_SEGMENTS) -> bool:
        """Merge the small segments left by journal commits, if there are many; True if done.

        Each commit adds a segment, and searches slow down as they pile up.
        """
        with self._write_mutex, self.lock.held(timeout=0) as got:
            path = self.current_dir()
            if not got or path is None:
                return False
            ix = whoosh_index.open_dir(str(path))
            policy = _MergeSmallest(max_segments)
            if not policy.would_merge(ix._segments()):
                return False  # no commit: an idle index keeps its generation (and caches)
            writer = ix.writer(timeout=5)
            writer.commit(mergetype=policy)
            return True

    def rebuild(self, *, progress: Callable[[int, int], None] | None = None, procs: int = 1) -> int:
        """Build a fresh index from the database, then swap it in; return the fiche count.

        Searches go on against the old generation while the new one is built. With
        `procs` > 1 the text is analysed in that many processes (the CLI does; a server
        thread does not, since forking a threaded process is unsafe).
        """
        generation, count = self._build_generation(progress, procs=procs)
        with self._write_mutex, self.lock.held(timeout=120) as got:
            if not got:
                shutil.rmtree(generation, ignore_errors=True)
                raise TimeoutError("verrou de l'index indisponible")
            # Apply what was committed during the build, then switch readers over.
            self._apply_pending(whoosh_index.open_dir(str(generation)))
            self._swap(generation)
        return count

    def bulk(
        self,
        load: Callable[[], T],
        *,
        procs: int = 1,
        progress: Callable[[int, int], None] | None = None,
        lock_timeout: float = 10.0,
    ) -> tuple[T, int]:
        """Run `load` (a large import) holding the writer lock, then index what it changed.

        While the lock is held, the sync threads of running servers leave the journal
        alone (searches go on against the live generation), so the import's entries are
        not applied one batch at a time. Afterwards, if many entries are pending (more than
        `BULK_REBUILD_MIN` and a quarter of the index), a fresh generation is built in
        bulk with `procs` processes, as `rebuild` does; otherwise they are applied to the
        live generation. Either way, changes committed meanwhile by others are applied
        before the lock is released. If another process holds the lock (a server applying
        entries, a `reindex`), `load` runs without it and that process indexes its changes.
        Returns `load`'s result and the number of entries indexed here.
        """
        with self._write_mutex, self.lock.held(timeout=lock_timeout) as got:
            if not got:  # another process is writing the index: it will apply the entries
                return load(), 0
            result = load()
            path = self.current_dir()
            try:
                if path is None:
                    raise IndexUnavailable("index introuvable")
                ix = whoosh_index.open_dir(str(path))
                applied, version = _meta(ix)
                indexed = ix.doc_count()
            except Exception:  # missing or unreadable: build it afresh
                ix, applied, version, indexed = None, 0, None, 0
            pending = self.latest_journal_id() - applied
            small = pending < max(BULK_REBUILD_MIN, indexed // 4)
            if ix is not None and version == SCHEMA_VERSION and small:
                return result, self._apply_pending(ix, applied)
            generation, _ = self._build_generation(progress, procs=procs)
            self._apply_pending(whoosh_index.open_dir(str(generation)))
            self._swap(generation)
            return result, pending

    def _rebuild_locked(self) -> None:
        generation, _ = self._build_generation(None)
        self._apply_pending(whoosh_index.open_dir(str(generation)))
        self._swap(generation)

    def _build_generation(
        self, progress: Callable[[int, int], None] | None, *, procs: int = 1
    ) -> tuple[Path, int]:
        """Index every published fiche into a new generation directory (not yet live).

        The fiches go in rounds of `ROUND_DOCS` per process: each round's postings are
        sorted in memory (Whoosh spills larger sets to disk in sorted runs, which doubled the
        build time at 10,000 fiches) and committed as one segment per process, unmerged.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        generation = self._new_generation()
        ix = whoosh_index.open_dir(str(generation))
        # Entries up to start_id are reflected in what we read next (read after it).
        start_id = self.latest_journal_id()
        count = 0
        try:
            with read_session(self.engine) as session:
                slugs = list(
                    session.execute(
                        select(WriteUp.slug)
                        .where(WriteUp.status == "published")
                        .order_by(col(WriteUp.id))
                    ).scalars()
                )
                total = len(slugs)
                per_round = ROUND_DOCS * max(1, procs)
                for round_start in range(0, max(total, 1), per_round):
                    if procs > 1:
                        writer = ix.writer(procs=procs, limitmb=BUILD_LIMIT_MB, multisegment=True)
                    else:
                        writer = ix.writer(limitmb=BUILD_LIMIT_MB)
                    try:
                        round_end = min(total, round_start + per_round)
                        for start in range(round_start, round_end, APPLY_CHUNK):
                            chunk = slugs[start : min(round_end, start + APPLY_CHUNK)]
                            for doc in _documents(session, chunk).values():
                                writer.add_document(**doc)
                                count += 1
                            session.expunge_all()
                            if progress:
                                progress(min(start + APPLY_CHUNK, round_end), total)
                        if round_end >= total:
                            writer.add_document(**meta_document(start_id))
                        writer.commit(merge=False)
                    except BaseException:
                        writer.cancel()
                        raise
        except BaseException:
            shutil.rmtree(generation, ignore_errors=True)
            raise
        return generation, count

    # -- checking ------------------------------------------------------------------------

    def check(self) -> CheckReport:
        """Compare the index with the database (and with this process's live searchers)."""
        with read_session(self.engine) as session:
            published: dict[str, int] = dict(
                session.execute(
                    select(WriteUp.slug, WriteUp.version).where(WriteUp.status == "published")
                ).all()
            )
        latest = self.latest_journal_id()
        path = self.current_dir()
        if path is None:
            return CheckReport(sorted(published), [], [], latest)
        with whoosh_index.open_dir(str(path)).searcher() as fresh:
            indexed, applied = indexed_versions(fresh)
        try:
            with self.searching() as searcher:  # a pooled, long-lived searcher
                live = live_view(searcher, published)
        except IndexUnavailable:
            live = ([], [])
        return compare(published, indexed, applied=applied, latest=latest, live=live)


class _MergeSmallest:
    """Merge policy: beyond `max_segments`, merge the *small* segments into one.

    Small means at most `SMALL_SEGMENT_DOCS` documents or 5 % of the index: the one-fiche
    segments left by journal commits. Large segments (from an import or a rebuild) are left
    alone: merging them costs seconds of CPU while users search, and `reindex` makes one
    anyway. Unlike Whoosh's default policy, whether it merges is known before a writer is
    opened, so `merge_small()` commits only when something is merged.
    """

    def __init__(self, max_segments: int) -> None:
        self.max_segments = max(2, max_segments)

    def _smallest(self, segments: list[Any]) -> list[Any]:
        if len(segments) <= self.max_segments:
            return []
        total = sum(s.doc_count_all() for s in segments)
        limit = max(SMALL_SEGMENT_DOCS, total // 20)
        small = [s for s in segments if s.doc_count_all() <= limit]
        return small if len(small) > 1 else []

    def would_merge(self, segments: list[Any]) -> bool:
        return len(self._smallest(list(segments))) > 1

    def __call__(self, writer: Any, segments: list[Any]) -> list[Any]:
        from whoosh.reading import SegmentReader

        chosen = self._smallest(list(segments))
        if len(chosen) <= 1:
            return list(segments)
        for segment in chosen:
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        ids = {s.segment_id() for s in chosen}
        return [s for s in segments if s.segment_id() not in ids]


def _meta(ix: Any) -> tuple[int, int]:
    """The journal id stored in an index (0 for a new one) and its schema version."""
    with ix.searcher() as searcher:
        meta = searcher.document(slug=META_SLUG)
    return (int(meta["journal_id"]) if meta else 0), meta_schema_version(meta)


def _documents(session: Any, slugs: list[str]) -> dict[str, dict[str, Any]]:
    """Search documents of the published fiches among `slugs`, read from the database."""
    if not slugs:
        return {}
    labels = load_labels(session)
    writeups = (
        session.execute(
            select(WriteUp).where(col(WriteUp.slug).in_(slugs), WriteUp.status == "published")
        )
        .scalars()
        .all()
    )
    regie_ids = {w.regie_id for w in writeups if w.regie_id}
    regies = {
        r.id: r
        for r in session.execute(select(Regie).where(col(Regie.id).in_(regie_ids))).scalars()
    }
    return {w.slug: document_from(w, regies.get(w.regie_id), labels) for w in writeups}
