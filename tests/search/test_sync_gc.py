"""The sync thread keeps the search caches out of the cycle collector's full passes (#11)."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Callable

from resource_centre.corpus import import_corpus
from resource_centre.db import write_session
from resource_centre.search import caches
from resource_centre.search.indexer import SearchIndex
from resource_centre.search.sync import IndexSync
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE


class Cycle:
    """A piece of cyclic garbage (only the cycle collector frees it)."""

    def __init__(self) -> None:
        self.me = self


def wait_for(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.02)


def tracked(obj: object) -> bool:
    """Whether the cycle collector's generations hold `obj` (frozen objects are not there)."""
    return any(o is obj for o in gc.get_objects())


def test_generations_are_frozen_and_frozen_cycles_collected_when_quiet(tmp_path, sqlite_engine):
    import_corpus(sqlite_engine, TEST_KNOWLEDGE)
    index = SearchIndex(tmp_path / "index", sqlite_engine)
    index.ensure()
    index.catch_up()
    sync = IndexSync(index, poll_seconds=0.05, gc_freeze=True)
    sync.start()
    try:
        sync.notify()
        wait_for(lambda: sync.freezes == 1)
        with index.searching() as searcher:
            first = caches.generation(searcher)
        assert not tracked(first.order["title"])  # out of the full passes
        garbage = Cycle()
        gone = weakref.ref(garbage)
        with write_session(sqlite_engine) as session:
            get_by_slug(session, "jardin-partage-des-tilleuls").title = "Potager collectif"
        sync.notify()
        wait_for(lambda: sync.freezes >= 2)  # the new generation frozen, with the cycle
        del garbage
        gc.collect()
        assert gone() is not None  # frozen: the collector does not see it
        with index.searching() as searcher:
            second = caches.generation(searcher)
        assert second is not first and not tracked(second.order["title"])
        # Once the index is quiet, one full collection frees the frozen cycles.
        wait_for(lambda: sync.freezes == 1 and gone() is None)
    finally:
        sync.stop()
        gc.unfreeze()


def test_without_the_setting_nothing_is_frozen(tmp_path, sqlite_engine):
    import_corpus(sqlite_engine, TEST_KNOWLEDGE)
    index = SearchIndex(tmp_path / "index", sqlite_engine)
    index.ensure()
    sync = IndexSync(index, poll_seconds=0.05)
    sync.start()
    try:
        sync.notify()
        wait_for(lambda: index.applied_id() == index.latest_journal_id())
        time.sleep(0.3)
        assert sync.freezes == 0 and gc.get_freeze_count() == 0
    finally:
        sync.stop()
