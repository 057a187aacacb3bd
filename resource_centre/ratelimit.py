"""Sliding-window rate limits: in memory (one set per server process), or in the database
(shared by every process and machine)."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, text
from sqlmodel import col

from resource_centre.db import write_session
from resource_centre.models import RateLimitEvent, utcnow

SHARED_LOCK_CLASS = 0x524C  # PostgreSQL advisory lock class of the shared limits ("RL")


class RateLimiter:
    """At most `limit` events per key in a sliding window of `window` seconds (in memory).

    Kept per server process: with N workers a key gets at most N × limit events a window,
    which is what matters for the previews (each rendering bounded in time) and the
    anonymous writes (also capped in the database where that matters).
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[Any, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: Any) -> bool:
        """Record an event for `key` and say if it is within the limit."""
        now = time.monotonic()
        with self._lock:
            if len(self._events) > 10_000:  # forget idle keys now and then
                self._events = {k: q for k, q in self._events.items() if q[-1] > now - self.window}
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True


_LOCK = threading.Lock()


def shared_limiter(owner: Any, name: str, limit: int, window: float = 60.0) -> RateLimiter:
    """The limiter `name` of `owner` (an application's state), created when first needed."""
    with _LOCK:
        limiters = getattr(owner, "rate_limiters", None)
        if limiters is None:
            limiters = owner.rate_limiters = {}
        limiter = limiters.get(name)
        if limiter is None:
            limiter = limiters[name] = RateLimiter(limit, window)
    return limiter


def shared_key(secret: str, name: str, key: str) -> str:
    """The stored form of `key` in the limit `name`: a keyed hash, so that the table holds no
    client address (nor anything that could be matched to one without the secret key)."""
    mac = hmac.new(secret.encode(), f"{name}\0{key}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def allow_shared(
    engine: Engine, *, name: str, key: str, limit: int, window: float, secret: str
) -> bool:
    """Record an event for `key` in the limit `name` and say if it is within `limit` events
    in the last `window` seconds, counted in the database: with several worker processes or
    machines, a key still gets `limit` events a window in all.

    The check and the record are one transaction, serialised per key (SQLite: BEGIN
    IMMEDIATE; PostgreSQL: an advisory lock), so requests at once cannot all pass. A refused
    event is not recorded. Blocking (database): call it from a worker thread.
    """
    stored = shared_key(secret, name, key)
    now = utcnow()
    since = now - timedelta(seconds=window)
    with write_session(engine) as session:
        if session.get_bind().dialect.name == "postgresql":
            lock = int.from_bytes(bytes.fromhex(stored[:8]), "big", signed=True)
            session.execute(
                text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": SHARED_LOCK_CLASS, "k": lock}
            )
        recent = session.execute(
            select(func.count())
            .select_from(RateLimitEvent)
            .where(
                col(RateLimitEvent.name) == name,
                col(RateLimitEvent.key) == stored,
                col(RateLimitEvent.at) >= since,
            )
        ).scalar_one()
        if recent >= limit:
            return False
        session.add(RateLimitEvent(name=name, key=stored, at=now))
        session.execute(
            delete(RateLimitEvent).where(
                col(RateLimitEvent.name) == name, col(RateLimitEvent.at) < since
            )
        )
        return True
