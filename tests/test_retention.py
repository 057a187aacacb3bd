"""Search log and clicks: the radar's SQL aggregation gives the old figures; old rows go."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from resource_centre.db import read_session, write_session
from resource_centre.models import SearchClick, SearchLog, utcnow
from resource_centre.radar import SearchLogWriter, prune_search_log, radar_figures

QUERIES = ["Jardin", "jardin ", "JARDIN", "laverie", "Épicerie", "épicerie", "vélo", "", "a b"]
FILTERS: list[dict[str, Any]] = [
    {},
    {"theme": ["lien-social"]},
    {"region": ["occitanie"], "year_min": 2019},
    {"year_min": 2019, "region": ["occitanie"]},  # same filters, other key order
]


def old_radar(logs: list[SearchLog], clicked: set[str]) -> dict[str, Any]:
    """The radar's aggregation before issue 9, in Python over every log row (the reference)."""
    top: dict[str, int] = {}
    zero: dict[tuple[str, str], dict[str, Any]] = {}
    no_click: dict[str, int] = {}
    by_week: dict[str, dict[str, int]] = {}
    for entry in logs:
        query = entry.query.strip().lower()
        week = entry.at.strftime("%G-S%V")
        stats = by_week.setdefault(week, {"searches": 0, "zero": 0, "no_click": 0})
        stats["searches"] += 1
        if query:
            top[query] = top.get(query, 0) + 1
        if entry.total == 0:
            stats["zero"] += 1
            filters = ", ".join(f"{k} : {v}" for k, v in sorted(entry.filters.items()))
            item = zero.setdefault(
                (query, filters), {"query": query, "filters": filters, "count": 0, "weeks": set()}
            )
            item["count"] += 1
            item["weeks"].add(week)
        elif entry.token not in clicked and query:
            stats["no_click"] += 1
            no_click[query] = no_click.get(query, 0) + 1
    return {
        "top": sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))[:20],
        # The one change: ties broken by the filters too (before, by the rows' order).
        "zero": sorted(zero.values(), key=lambda v: (-v["count"], v["query"], v["filters"]))[:30],
        "no_click": sorted(no_click.items(), key=lambda kv: (-kv[1], kv[0]))[:20],
        "by_week": sorted(by_week.items(), reverse=True),
    }


def seed(engine, now: datetime, count: int = 600) -> None:
    rng = random.Random(9)
    rows: list[SearchLog | SearchClick] = []
    for n in range(count):
        # Spread over 12 weeks, including times close to midnight UTC (day boundaries).
        at = now - timedelta(days=rng.uniform(0, 84), seconds=rng.choice([0, 30, 86_000]))
        token = f"{n:016x}"
        rows.append(
            SearchLog(
                token=token if rng.random() < 0.9 else "",
                at=at,
                query=rng.choice(QUERIES),
                filters=rng.choice(FILTERS),
                total=rng.choice([0, 0, 1, 3, 12]),
                duration_ms=1.0,
                source=rng.choice(["web", "web", "api", "hint"]),
            )
        )
        if rng.random() < 0.4:  # opened: some clicks before the window, some within
            click_at = at + timedelta(minutes=1)
            rows.append(SearchClick(token=token, slug="une-fiche", at=click_at))
    with write_session(engine) as session:
        session.add_all(rows)


def test_radar_figures_in_sql_equal_the_old_python_aggregation(engine):
    now = utcnow()
    seed(engine, now)
    for weeks in (1, 4, 8, 52):
        since = now - timedelta(weeks=weeks)
        with read_session(engine) as session:
            logs = list(
                session.execute(
                    select(SearchLog).where(SearchLog.at >= since, SearchLog.source != "hint")
                ).scalars()
            )
            clicked = set(
                session.execute(select(SearchClick.token).where(SearchClick.at >= since)).scalars()
            )
            expected = old_radar(logs, clicked)
            assert logs and expected["zero"] and expected["no_click"]
            assert radar_figures(session, since) == expected, weeks


def test_radar_weeks_are_utc_days_whatever_the_session_time_zone(engine):
    """Just before midnight UTC on a Sunday: the week of that Sunday, not of the Monday."""
    sunday = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # ISO week 2026-S09
    with write_session(engine) as session:
        session.add(SearchLog(query="nuit", at=sunday, total=0, token="0" * 16))
    with read_session(engine) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.set_config("TimeZone", "Asia/Tokyo", True)))
        figures = radar_figures(session, sunday - timedelta(days=1))
    assert [week for week, _ in figures["by_week"]] == ["2026-S09"]
    assert figures["zero"][0]["weeks"] == {"2026-S09"}


def test_rows_older_than_the_retention_are_deleted(engine):
    now = utcnow()
    with write_session(engine) as session:
        for days in (0, 10, 399, 401, 800):
            at = now - timedelta(days=days)
            session.add(SearchLog(query=f"il y a {days} jours", at=at, token=f"{days:016x}"))
            session.add(SearchClick(token=f"{days:016x}", slug="une-fiche", at=at))
    assert prune_search_log(engine, 400) == (2, 2)
    with read_session(engine) as session:
        kept = sorted(session.execute(select(SearchLog.query)).scalars())
        clicks = session.execute(select(func.count()).select_from(SearchClick)).scalar_one()
    assert kept == ["il y a 0 jours", "il y a 10 jours", "il y a 399 jours"]
    assert clicks == 3


def test_the_log_writer_thread_prunes_when_it_starts_then_once_a_day(engine):
    old = utcnow() - timedelta(days=31)
    with write_session(engine) as session:
        session.add(SearchLog(query="ancienne", at=old))
    writer = SearchLogWriter(engine, retention_days=30)
    writer.click("0" * 16, "une-fiche")  # the first entry starts the thread
    writer.stop()
    with read_session(engine) as session:
        assert list(session.execute(select(SearchLog.query)).scalars()) == []
        assert session.execute(select(func.count()).select_from(SearchClick)).scalar_one() == 1
    with write_session(engine) as session:
        session.add(SearchLog(query="ancienne", at=old))
    writer.prune_if_due()  # pruned less than a day ago: nothing is done
    with read_session(engine) as session:
        assert list(session.execute(select(SearchLog.query)).scalars()) == ["ancienne"]


def test_retention_setting_reaches_the_log_writer(tmp_path, sqlite_url, monkeypatch):
    from resource_centre.config import Settings
    from resource_centre.web.app import create_app

    monkeypatch.setenv("RESOURCE_CENTRE_LOG_RETENTION_DAYS", "30")
    settings = Settings(
        database_url=sqlite_url, index_dir=tmp_path / "index", data_dir=tmp_path / "data"
    )
    assert settings.log_retention_days == 30
    assert create_app(settings).state.search_log.retention_days == 30
    monkeypatch.delenv("RESOURCE_CENTRE_LOG_RETENTION_DAYS")
    assert Settings(database_url=sqlite_url).log_retention_days == 400
