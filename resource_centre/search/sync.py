"""The index sync thread of a server process: applies the journal, merges when idle."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from typing import Any

from resource_centre.search import completion
from resource_centre.search.indexer import IndexUnavailable, SearchIndex
from resource_centre.search.query import warm_up

log = logging.getLogger(__name__)

IDLE_BEFORE_MERGE = 2.0  # seconds without journal activity before merging
BUSY_SECONDS = 3.0  # after activity, poll every `poll_seconds`; then every IDLE_POLL_SECONDS
IDLE_POLL_SECONDS = 0.25  # a commit of another process is seen within this (0.3 ms a poll)
REPEAT_MEMORY = 300.0  # seconds /api/health stays degraded after a range applied twice


class IndexSync:
    """Background thread of a server process: applies the journal to the index.

    Every process runs one; whichever takes the writer lock applies the pending entries
    (the lock is held only while applying). It wakes at once when this process commits
    (`notify()`) and otherwise polls the journal, so commits of other processes and other
    machines become searchable within `poll_seconds` plus the apply time.
    """

    def __init__(
        self, index: SearchIndex, *, poll_seconds: float = 0.1, gc_freeze: bool = False
    ) -> None:
        self.index = index
        self.gc_freeze = gc_freeze
        self._frozen = 0  # id() of the generation whose caches were frozen last
        self.freezes = 0  # freezes since the last full collection
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_change = 0.0
        self.last_error: str | None = None
        self._ranges_seen: set[tuple[int, int]] = set()
        self._seen: tuple[Any, ...] | None = None  # journal head and index directory stamp
        self._last_activity = time.monotonic()
        self._merged_since_change = False
        # Whether the search caches have been built once (generation, the index's words,
        # the titles of suggestions): until then /api/health says "degraded".
        self.warmed = False
        self.repeated_ranges = 0  # journal ranges this process applied more than once
        self.last_repeat = 0.0  # time.monotonic() of the last one

    @property
    def repeating(self) -> bool:
        """Whether a journal range was applied twice lately (the index did not take it)."""
        return self.repeated_ranges > 0 and time.monotonic() - self.last_repeat < REPEAT_MEMORY

    def _note_range(self) -> None:
        applied_range = self.index.last_applied_range
        self.index.last_applied_range = None
        if applied_range is None:
            return
        if applied_range in self._ranges_seen:
            self.repeated_ranges += 1
            self.last_repeat = time.monotonic()
            log.error("index sync applied journal range %s twice", applied_range)
        self._ranges_seen.add(applied_range)
        if len(self._ranges_seen) > 1000:
            self._ranges_seen = {applied_range}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="index-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def notify(self) -> None:
        """Ask for the journal to be applied now (after a commit in this process)."""
        self._wake.set()

    def _interval(self) -> float:
        """Poll often after activity, then back off (local commits wake the thread at once)."""
        idle = time.monotonic() - self._last_activity
        if idle < BUSY_SECONDS:
            return self.poll_seconds
        return max(self.poll_seconds, IDLE_POLL_SECONDS)

    def _state(self) -> tuple[Any, ...]:
        """What changes when there is work: the journal's head and the index directory."""
        path = self.index.current_dir()
        try:
            stamp = os.stat(path).st_mtime_ns if path is not None else None
        except OSError:
            stamp = None
        return (self.index.latest_journal_id(), path, stamp)

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self._interval())
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                # Nothing new in the journal or the index directory, no merge due, no error:
                # one small query and one stat, nothing else (an idle server stays idle).
                state = self._state()
                if state != self._seen or woken:
                    # Something changed (here, in another process or on another machine):
                    # poll often for a while, and look for small segments once it is quiet.
                    self._last_activity = self._last_change = time.monotonic()
                    self._merged_since_change = False
                merge_due = (
                    not self._merged_since_change
                    and time.monotonic() - self._last_change > IDLE_BEFORE_MERGE
                )
                if state == self._seen and not woken and not merge_due and not self.last_error:
                    continue
                self._seen = state
                # A cheap look at the journal first; the lock only when there is work.
                try:
                    applied = self.index.applied_id()
                except IndexUnavailable:
                    applied = -1  # missing or broken: catch_up rebuilds it
                if applied < 0:
                    self.index.catch_up(timeout=0)  # rebuilds a missing or broken index
                    self._last_change = time.monotonic()
                elif self.index.latest_journal_id() > applied:
                    self.index.catch_up(timeout=0, applied=applied)
                    self._note_range()
                    self._last_change = time.monotonic()
                    self._merged_since_change = False
                elif merge_due:
                    if self.index.merge_small():
                        self._last_change = time.monotonic()
                    else:
                        self._merged_since_change = True  # nothing to merge until a change
                        self._collect()
                # Build the new generation's search caches here rather than in the first
                # request after a change (cheap when they exist already).
                with self.index.searching() as searcher:
                    built = warm_up(searcher)
                    completion.warm_up(searcher)  # the titles of search-as-you-type
                self._freeze(built)
                self.warmed = True
                self.last_error = None
            except Exception as exc:  # keep serving; report and retry at the next poll
                if self.last_error != str(exc):
                    log.exception("index sync failed")
                self.last_error = str(exc)

    def _freeze(self, built: object) -> None:
        """Move what is alive now, a new generation's caches included, out of the collector.

        Python's full cycle collection walks every container object: with the caches of an
        index generation alive it took 80 ms at 10,000 fiches, at a random request (issue
        #11's cold searches). Frozen objects are still freed when no longer referenced;
        cycles among them wait for `_collect`, once the index is quiet.
        """
        if not self.gc_freeze or id(built) == self._frozen:
            return
        gc.freeze()
        self._frozen = id(built)
        self.freezes += 1

    def _collect(self) -> None:
        """Once the index is quiet after changes: collect the cycles frozen meanwhile."""
        if not self.gc_freeze or self.freezes <= 1:
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.freezes = 1
