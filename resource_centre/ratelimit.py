"""Sliding-window rate limits kept in memory (one set per server process)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any


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
