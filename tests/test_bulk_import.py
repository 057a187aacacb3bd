"""Large imports are indexed in bulk while searches go on (issue 11)."""

from __future__ import annotations

import threading
import time

import pytest

from resource_centre.corpus import import_corpus
from resource_centre.db import write_session
from resource_centre.search import indexer
from resource_centre.search.indexer import SearchIndex
from resource_centre.search.lock import WriterLock
from resource_centre.search.query import run
from resource_centre.search.request import SearchRequest
from resource_centre.search.sync import IndexSync
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE

PUBLISHED = [
    "atelier-velo-des-hauts-plateaux",
    "jardin-partage-des-tilleuls",
    "laverie-solidaire-du-canal",
]


def slugs(index: SearchIndex, q: str = "") -> list[str]:
    results = run(index.searcher(), SearchRequest(q=q), labels={})
    return sorted(h.slug for h in results.hits)


@pytest.fixture
def empty_index(tmp_path, engine) -> SearchIndex:
    index = SearchIndex(tmp_path / "index", engine)
    index.ensure()
    return index


def test_a_large_import_builds_a_fresh_generation_with_changes_made_meanwhile(
    empty_index, engine, monkeypatch
):
    monkeypatch.setattr(indexer, "BULK_REBUILD_MIN", 2)
    before = empty_index.current_dir()

    def load():
        report = import_corpus(engine, TEST_KNOWLEDGE)
        # Another user publishes a fiche while the import holds the writer lock.
        with write_session(engine) as session:
            get_by_slug(session, "epicerie-soumise").status = "published"
        return report

    report, indexed = empty_index.bulk(load, procs=2)
    assert report.ok and report.created >= 4
    assert indexed >= report.created
    assert empty_index.current_dir() != before  # built in bulk, then swapped in
    assert slugs(empty_index) == sorted([*PUBLISHED, "epicerie-soumise"])
    assert empty_index.check().ok
    assert empty_index.applied_id() == empty_index.latest_journal_id()


def test_a_small_import_is_applied_to_the_live_generation(empty_index, engine):
    import_corpus(engine, TEST_KNOWLEDGE)
    empty_index.catch_up()
    live = empty_index.current_dir()

    def load():
        with write_session(engine) as session:
            get_by_slug(session, "jardin-partage-des-tilleuls").title = "Potager collectif"
        return "done"

    assert empty_index.bulk(load) == ("done", 1)
    assert empty_index.current_dir() == live
    assert slugs(empty_index, "potager") == ["jardin-partage-des-tilleuls"]
    assert empty_index.check().ok


def test_servers_keep_searching_and_leave_the_journal_alone_during_a_bulk_import(
    empty_index, engine, monkeypatch
):
    monkeypatch.setattr(indexer, "BULK_REBUILD_MIN", 2)
    import_corpus(engine, TEST_KNOWLEDGE)
    empty_index.catch_up()
    # A server process: its own index object (its own lock file descriptor) and sync thread.
    server = SearchIndex(empty_index.root, engine)
    sync = IndexSync(server, poll_seconds=0.02)
    sync.start()
    seen: list[list[str]] = []
    errors: list[Exception] = []
    stop = threading.Event()

    def search_loop() -> None:
        while not stop.is_set():
            try:
                seen.append(slugs(server))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    searching = threading.Thread(target=search_loop)
    searching.start()

    def load():
        applied = server.applied_id()
        with write_session(engine) as session:
            get_by_slug(session, "epicerie-soumise").status = "published"
            get_by_slug(session, "laverie-solidaire-du-canal").status = "archived"
        sync.notify()
        time.sleep(0.5)  # the sync thread tries, and cannot take the lock
        assert server.applied_id() == applied
        return None

    try:
        empty_index.bulk(load, procs=1)
        time.sleep(0.3)
    finally:
        stop.set()
        searching.join()
        sync.stop()
    assert errors == [] and seen
    expected = sorted(
        [s for s in PUBLISHED if s != "laverie-solidaire-du-canal"] + ["epicerie-soumise"]
    )
    assert slugs(server) == expected
    assert all(len(set(found)) == len(found) for found in seen)  # never a fiche twice
    assert empty_index.check().ok


def test_an_import_while_another_process_writes_the_index_leaves_it_to_that_process(
    empty_index, engine
):
    other = WriterLock(empty_index.root / indexer.LOCK_FILE)
    assert other.acquire()
    try:
        report, indexed = empty_index.bulk(
            lambda: import_corpus(engine, TEST_KNOWLEDGE), lock_timeout=0.1
        )
    finally:
        other.release()
    assert report.ok and indexed == 0
    assert slugs(empty_index) == []  # not indexed here: the lock holder's sync thread will
    assert empty_index.catch_up() > 0
    assert slugs(empty_index) == PUBLISHED


@pytest.mark.parametrize("procs", [1, 2])
def test_a_build_in_rounds_gives_the_same_index(empty_index, sqlite_engine, monkeypatch, procs):
    index = SearchIndex(empty_index.root.parent / f"rounds-{procs}", sqlite_engine)
    import_corpus(sqlite_engine, TEST_KNOWLEDGE)
    index.rebuild(procs=procs)
    whole = [slugs(index, q) for q in ("", "laverie", "jardin partagé", "vélo")]
    monkeypatch.setattr(indexer, "ROUND_DOCS", 1)  # one fiche per process and round
    index.rebuild(procs=procs)
    with index.searching() as searcher:
        assert len(searcher.reader().leaf_readers()) >= 2  # a segment per round at least
    assert [slugs(index, q) for q in ("", "laverie", "jardin partagé", "vélo")] == whole
    assert index.check().ok and index.applied_id() == index.latest_journal_id()
