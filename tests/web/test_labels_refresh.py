"""Facet labels stay cached while they are read again in the background (issue 11)."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from resource_centre.db import write_session
from resource_centre.models import Term
from resource_centre.search import service as service_module


def test_old_labels_are_read_again_in_the_background(app: FastAPI, client: TestClient) -> None:
    search = app.state.search
    first = search.labels()
    slug, label = next(iter(first["theme"].items()))
    with write_session(app.state.engine) as session:
        term = session.execute(select(Term).where(Term.slug == slug)).scalars().first()
        assert term is not None
        term.label = label + " (renommé)"
    # Fresh labels: the change is not seen yet.
    assert search.labels()["theme"][slug] == label
    # Stale labels: the request is answered at once with them, the new ones come soon.
    search._labels_at = time.monotonic() - service_module.LABELS_TTL_SECONDS - 1
    started = time.perf_counter()
    answered = search.labels()["theme"][slug]
    assert answered == label
    assert time.perf_counter() - started < 0.05
    deadline = time.monotonic() + 5
    while search.labels()["theme"][slug] != label + " (renommé)":
        assert time.monotonic() < deadline, "labels never read again"
        time.sleep(0.01)
    # And a page shows the new label.
    assert label + " (renommé)" in client.get("/fiches").text
