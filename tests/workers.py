"""Code run in separate processes by the concurrency tests."""

from __future__ import annotations

from resource_centre.db import make_engine, write_session
from resource_centre.writeups import get_by_slug


def append_partners(url: str, slug: str, worker: int, count: int) -> None:
    """Read-modify-write the same fiche `count` times: the classic lost-update pattern."""
    engine = make_engine(url)
    for i in range(count):
        with write_session(engine) as session:
            writeup = get_by_slug(session, slug, for_update=True)
            writeup.partners = [*writeup.partners, f"w{worker}-{i}"]
            writeup.version += 1
    engine.dispose()
