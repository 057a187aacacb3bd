"""Figures per activity ("Repères chiffrés"): for each activity, the lowest and highest cost,
insertion jobs, people reached and months of set-up among its published fiches, when at least
`MIN_FICHES` of them give that figure.

"Laverie solidaire : coût de 35 à 120 k€ sur 3 fiches" answers "what does a laverie cost to
start?" without opening every fiche. Computed from the database in one query for every
activity, and kept `RANGES_TTL_SECONDS` per process (`FigureRangeCache`, read again in the
background): a search never queries the database for them, and a publication shows in them
within a minute.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from resource_centre.db import read_session
from resource_centre.figures import FIGURE_BY_KEY, format_number
from resource_centre.models import WriteUp

log = logging.getLogger(__name__)

MIN_FICHES = 2  # a range needs the figure of at least this many fiches
RANGES_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class RangedFigure:
    """A figure shown as a range: its key (figures.py), French label and unit word."""

    key: str
    label: str
    unit: str = ""  # after the numbers: "mois"; euros are worded by `euros_range`


RANGED_FIGURES: tuple[RangedFigure, ...] = (
    RangedFigure("cost_eur", FIGURE_BY_KEY["cost_eur"].label),
    RangedFigure("insertion_jobs", FIGURE_BY_KEY["insertion_jobs"].label),
    RangedFigure("people_reached", FIGURE_BY_KEY["people_reached"].label),
    RangedFigure("setup_months", "Mise en place", unit="mois"),
)


@dataclass(frozen=True)
class FigureRange:
    """The lowest and highest value of one figure among `count` published fiches."""

    key: str
    label: str
    low: float
    high: float
    count: int
    unit: str = ""

    @property
    def values(self) -> str:
        """ "de 35 à 120 k€", "de 4 à 12 mois", or "45 k€" when every fiche says the same."""
        if self.key == "cost_eur":
            return euros_range(self.low, self.high)
        unit = f"\u00a0{self.unit}" if self.unit else ""
        if self.low == self.high:
            return f"{format_number(_rounded(self.low))}{unit}"
        return (
            f"de {format_number(_rounded(self.low))} à {format_number(_rounded(self.high))}{unit}"
        )

    @property
    def text(self) -> str:
        """ "Coût : de 35 à 120 k€ sur 3 fiches" ("… dans chacune des 2 fiches" if equal)."""
        if self.low == self.high:
            return f"{self.label} : {self.values} dans chacune des {self.count} fiches"
        return f"{self.label} : {self.values} sur {self.count} fiches"


def _rounded(number: float) -> float:
    """One decimal at most (12.25 months → 12,3), whole numbers as integers."""
    value = round(number, 1)
    return int(value) if float(value).is_integer() else value


def _scaled(number: float) -> tuple[float, str]:
    """A sum of euros as (number, unit): under a thousand in euros, then k€, then M€."""
    if number >= 1_000_000:
        return _rounded(number / 1_000_000), "M€"
    if number >= 1_000:
        value = number / 1_000
        return (_rounded(value) if value < 100 else round(value)), "k€"
    return round(number), "€"


def euros_range(low: float, high: float) -> str:
    """ "de 35 à 120 k€", "de 800 k€ à 1,2 M€", "45 k€" (French numbers, no-break spaces)."""
    (low_value, low_unit), (high_value, high_unit) = _scaled(low), _scaled(high)
    if (low_value, low_unit) == (high_value, high_unit):
        return f"{format_number(high_value)}\u00a0{high_unit}"
    if low_unit == high_unit:
        return f"de {format_number(low_value)} à {format_number(high_value)}\u00a0{high_unit}"
    return (
        f"de {format_number(low_value)}\u00a0{low_unit} "
        f"à {format_number(high_value)}\u00a0{high_unit}"
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def ranges_of(rows: Iterable[tuple[str | None, Any]]) -> dict[str, list[FigureRange]]:
    """The ranges of each activity from (activity, figures) pairs of published fiches.

    A fiche without an activity, or without a figure, does not count for it; an activity
    gets a figure's range only when `MIN_FICHES` fiches or more give it.
    """
    found: dict[str, dict[str, list[float]]] = {}
    for activity, figures in rows:
        if not activity or not isinstance(figures, Mapping):
            continue
        for ranged in RANGED_FIGURES:
            number = _number(figures.get(ranged.key))
            if number is not None:
                found.setdefault(activity, {}).setdefault(ranged.key, []).append(number)
    ranges: dict[str, list[FigureRange]] = {}
    for activity, numbers in found.items():
        lines = [
            FigureRange(r.key, r.label, min(values), max(values), len(values), r.unit)
            for r in RANGED_FIGURES
            if len(values := numbers.get(r.key, [])) >= MIN_FICHES
        ]
        if lines:
            ranges[activity] = lines
    return ranges


def load_ranges(session: Session) -> dict[str, list[FigureRange]]:
    """Every activity's ranges, from its published fiches (one query)."""
    rows = session.execute(
        select(WriteUp.activity, WriteUp.figures).where(
            WriteUp.status == "published", col(WriteUp.activity).is_not(None)
        )
    ).all()
    return ranges_of((activity, figures) for activity, figures in rows)


class FigureRangeCache:
    """Every activity's ranges, read again when older than `ttl` seconds (one per process).

    Only the first call waits for the database (about 20 ms per 1,000 published fiches on
    SQLite); later, ranges older than `ttl` are read again by a background thread while
    requests go on with the ones they have (`background=False`: by the calling thread).
    """

    def __init__(
        self,
        engine: Engine,
        ttl: float = RANGES_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        *,
        background: bool = True,
    ) -> None:
        self.engine, self.ttl, self.clock, self.background = engine, ttl, clock, background
        self._ranges: dict[str, list[FigureRange]] | None = None
        self._read_at = 0.0
        self._reading = False
        self._lock = threading.Lock()
        self._first = threading.Lock()  # one thread makes the first read, the others wait
        self.reads = 0  # how many times the database was read (tests, measures)

    def all(self) -> dict[str, list[FigureRange]]:
        """Activity slug → its ranges (activities without any are left out)."""
        with self._lock:
            ranges = self._ranges
            start = (
                ranges is not None and self.clock() - self._read_at > self.ttl and not self._reading
            )
            if start:
                self._reading = True
        if ranges is not None:
            if start and self.background:
                threading.Thread(target=self._refresh, name="figure-ranges", daemon=True).start()
            elif start:
                self._refresh()
                return self._ranges or ranges
            return ranges
        with self._first:
            if self._ranges is None:
                self._read()  # nothing to show yet: a failure is the caller's
            return self._ranges or {}

    def of(self, activity: str) -> list[FigureRange]:
        """The ranges of one activity ([] when fewer than `MIN_FICHES` fiches give any)."""
        return self.all().get(activity, [])

    def _read(self) -> None:
        with read_session(self.engine) as session:
            ranges = load_ranges(session)
        with self._lock:
            self._ranges, self._read_at = ranges, self.clock()
            self.reads += 1

    def _refresh(self) -> None:
        try:
            self._read()
        except Exception:  # the ranges already read are shown meanwhile
            log.warning("figure ranges could not be read again", exc_info=True)
        finally:
            with self._lock:
                self._reading = False


_SHARED_LOCK = threading.Lock()
_ATTRIBUTE = "figure_ranges"


def shared_cache(holder: Any, engine: Engine) -> FigureRangeCache:
    """The cache kept on `holder` (the application's state), made on first use."""
    with _SHARED_LOCK:
        cache = getattr(holder, _ATTRIBUTE, None)
        if not isinstance(cache, FigureRangeCache) or cache.engine is not engine:
            cache = FigureRangeCache(engine)
            setattr(holder, _ATTRIBUTE, cache)
        return cache
