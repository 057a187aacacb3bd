"""Figure ranges per activity (`figure_ranges.py`): lowest and highest value, number of
fiches, published fiches only, fiches without the figure ignored, French wording; read from
the database once per time-to-live."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine

from resource_centre.db import read_session, write_session
from resource_centre.figure_ranges import (
    MIN_FICHES,
    FigureRange,
    FigureRangeCache,
    euros_range,
    load_ranges,
    ranges_of,
    shared_cache,
)
from resource_centre.models import WriteUp

NBSP, NNBSP = "\u00a0", "\u202f"


def by_key(ranges: list[FigureRange]) -> dict[str, tuple[float, float, int]]:
    return {r.key: (r.low, r.high, r.count) for r in ranges}


def test_min_max_and_count_per_activity_and_figure() -> None:
    rows: list[tuple[str | None, Any]] = [
        ("laverie", {"cost_eur": 35000, "insertion_jobs": 2}),
        ("laverie", {"cost_eur": 120000, "people_reached": 800}),
        ("laverie", {"cost_eur": 60000, "insertion_jobs": 6, "setup_months": 9}),
        ("laverie", {}),  # no figures: counts for nothing
        ("jardin", {"cost_eur": 5000}),  # one fiche only: no range
        (None, {"cost_eur": 1, "insertion_jobs": 1}),  # no activity
        ("jardin", {"cost_eur": "beaucoup", "insertion_jobs": True}),  # not numbers
    ]
    ranges = ranges_of(rows)
    assert set(ranges) == {"laverie"}
    assert by_key(ranges["laverie"]) == {
        "cost_eur": (35000, 120000, 3),
        "insertion_jobs": (2, 6, 2),
    }
    # Shown in the order of RANGED_FIGURES.
    assert [r.key for r in ranges["laverie"]] == ["cost_eur", "insertion_jobs"]
    assert MIN_FICHES == 2


def test_other_figures_are_not_ranged() -> None:
    rows = [("laverie", {"own_revenue_pct": 40, "funding_eur": {"aci": 1}})] * 3
    assert ranges_of(rows) == {}


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        (35000, 120000, f"de 35 à 120{NBSP}k€"),
        (35500, 42000, f"de 35,5 à 42{NBSP}k€"),
        (800, 950, f"de 800 à 950{NBSP}€"),
        (900, 12000, f"de 900{NBSP}€ à 12{NBSP}k€"),
        (800_000, 1_200_000, f"de 800{NBSP}k€ à 1,2{NBSP}M€"),
        (1_500_000, 2_000_000, f"de 1,5 à 2{NBSP}M€"),
        (45000, 45000, f"45{NBSP}k€"),
        (123_456, 250_000, f"de 123 à 250{NBSP}k€"),
    ],
)
def test_euros_are_worded_in_french(low: float, high: float, text: str) -> None:
    assert euros_range(low, high) == text


def test_range_sentences() -> None:
    cost = FigureRange("cost_eur", "Coût", 35000, 120000, 3)
    assert cost.text == f"Coût : de 35 à 120{NBSP}k€ sur 3 fiches"
    people = FigureRange("people_reached", "Personnes touchées par an", 300, 1200, 2)
    assert people.text == f"Personnes touchées par an : de 300 à 1{NNBSP}200 sur 2 fiches"
    months = FigureRange("setup_months", "Mise en place", 4, 12.5, 2, unit="mois")
    assert months.text == f"Mise en place : de 4 à 12,5{NBSP}mois sur 2 fiches"
    same = FigureRange("insertion_jobs", "Emplois en insertion", 2, 2, 3)
    assert same.text == "Emplois en insertion : 2 dans chacune des 3 fiches"


def add_fiches(engine: Engine, fiches: list[tuple[str, str, str | None, dict[str, Any]]]) -> None:
    with write_session(engine) as session:
        for slug, status, activity, figures in fiches:
            session.add(
                WriteUp(slug=slug, title=slug, status=status, activity=activity, figures=figures)
            )


def test_only_published_fiches_count(engine: Engine) -> None:
    add_fiches(
        engine,
        [
            ("a", "published", "laverie", {"cost_eur": 35000, "setup_months": 4}),
            ("b", "published", "laverie", {"cost_eur": 120000}),
            ("c", "draft", "laverie", {"cost_eur": 900000, "setup_months": 30}),
            ("d", "archived", "laverie", {"cost_eur": 1000, "setup_months": 1}),
            ("e", "submitted", "laverie", {"cost_eur": 2, "setup_months": 2}),
            ("f", "published", None, {"cost_eur": 3}),
            ("g", "published", "laverie", {}),
        ],
    )
    with read_session(engine) as session:
        ranges = load_ranges(session)
    assert {k: by_key(v) for k, v in ranges.items()} == {
        "laverie": {"cost_eur": (35000, 120000, 2)}
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_reads_once_per_time_to_live(engine: Engine) -> None:
    add_fiches(
        engine,
        [
            ("a", "published", "laverie", {"cost_eur": 35000}),
            ("b", "published", "laverie", {"cost_eur": 120000}),
        ],
    )
    clock = Clock()
    cache = FigureRangeCache(engine, ttl=60, clock=clock, background=False)
    assert by_key(cache.of("laverie")) == {"cost_eur": (35000, 120000, 2)}
    assert cache.of("jardin") == [] and cache.reads == 1
    add_fiches(engine, [("c", "published", "laverie", {"cost_eur": 200000})])
    clock.now += 59
    assert by_key(cache.of("laverie"))["cost_eur"] == (35000, 120000, 2)  # still cached
    assert cache.reads == 1
    clock.now += 2
    assert by_key(cache.of("laverie"))["cost_eur"] == (35000, 200000, 3)
    assert cache.reads == 2


def test_stale_ranges_are_read_again_in_the_background(engine: Engine) -> None:
    add_fiches(
        engine,
        [
            ("a", "published", "laverie", {"cost_eur": 35000}),
            ("b", "published", "laverie", {"cost_eur": 120000}),
        ],
    )
    clock = Clock()
    cache = FigureRangeCache(engine, ttl=60, clock=clock)
    first = cache.all()
    add_fiches(engine, [("c", "published", "laverie", {"cost_eur": 200000})])
    clock.now += 61
    assert cache.all() is first  # the caller does not wait: it gets what was read
    deadline = time.monotonic() + 10
    while cache.reads < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert by_key(cache.of("laverie"))["cost_eur"] == (35000, 200000, 3)
    assert cache.reads == 2


def test_cache_keeps_what_it_has_when_the_database_fails(engine: Engine, monkeypatch) -> None:
    add_fiches(
        engine,
        [
            ("a", "published", "jardin", {"insertion_jobs": 1}),
            ("b", "published", "jardin", {"insertion_jobs": 3}),
        ],
    )
    clock = Clock()
    cache = FigureRangeCache(engine, ttl=1, clock=clock, background=False)
    first = cache.all()

    def broken(session: Any) -> dict:
        raise RuntimeError("database gone")

    monkeypatch.setattr("resource_centre.figure_ranges.load_ranges", broken)
    clock.now += 5
    assert cache.all() == first
    clock.now += 5
    assert cache.all() == first  # tried again once stale, still kept
    fresh = FigureRangeCache(engine, clock=clock)
    with pytest.raises(RuntimeError):  # nothing to show yet: the failure is the caller's
        fresh.all()


def test_shared_cache_is_one_per_holder_and_engine(engine: Engine) -> None:
    class State:
        pass

    state = State()
    cache = shared_cache(state, engine)
    assert shared_cache(state, engine) is cache
    assert shared_cache(State(), engine) is not cache
