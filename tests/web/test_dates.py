"""Dates on pages: French, in the time zone of the settings (Europe/Paris by default), from the
UTC the database holds, through the one set of Jinja filters (`dates.py`)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlmodel import select
from starlette.testclient import TestClient

from resource_centre import dates
from resource_centre.auth import create_user
from resource_centre.config import Settings
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.models import AuditEvent, LoginAttempt, WriteUp
from resource_centre.web.app import TEMPLATES_DIR, create_app, make_templates
from tests.conftest import POSTGRES_ENV
from tests.web.conftest import PASSWORD, build_settings, login

PARIS = ZoneInfo("Europe/Paris")
WINTER = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)


def naive(value: datetime) -> datetime:
    """What SQLite and PostgreSQL give back: the UTC wall time, without tzinfo."""
    return value.replace(tzinfo=None)


@pytest.mark.parametrize("value", [WINTER, naive(WINTER)])
def test_winter_time_is_utc_plus_one(value):
    assert dates.moment(value, PARIS) == "15 janvier 2026 à 13:00"
    assert dates.moment(value, PARIS, "short") == "15/01/2026 13:00"
    assert dates.iso(value, PARIS) == "2026-01-15T13:00+01:00"


@pytest.mark.parametrize("value", [SUMMER, naive(SUMMER)])
def test_summer_time_is_utc_plus_two(value):
    assert dates.moment(value, PARIS) == "15 juillet 2026 à 14:00"
    assert dates.moment(value, PARIS, "short") == "15/07/2026 14:00"
    assert dates.iso(value, PARIS) == "2026-07-15T14:00+02:00"


def test_the_local_day_changes_before_utc_midnight():
    late = datetime(2026, 7, 15, 22, 30)  # naive UTC: already the 16th in Paris
    assert dates.day(late, PARIS) == "16 juillet 2026"
    assert dates.day(late, PARIS, "short") == "16/07/2026"
    assert dates.day(datetime(2026, 1, 15, 22, 30), PARIS) == "15 janvier 2026"


def test_across_the_spring_change_of_hour():
    # 29 March 2026: at 01:00 UTC the clocks go from 02:00 to 03:00 in Paris.
    assert dates.moment(datetime(2026, 3, 29, 0, 59), PARIS) == "29 mars 2026 à 01:59"
    assert dates.moment(datetime(2026, 3, 29, 1, 0), PARIS) == "29 mars 2026 à 03:00"


def test_a_calendar_date_is_shown_as_it_is():
    assert dates.day(date(2023, 1, 10), PARIS) == "10 janvier 2023"
    assert dates.iso(date(2023, 1, 10), PARIS) == "2023-01-10"
    assert dates.day(None, PARIS) == dates.moment(None, PARIS) == dates.iso(None, PARIS) == ""


def test_the_filters_follow_the_time_zone_given():
    env = make_templates(ZoneInfo("America/Montreal")).env
    rendered = env.from_string("{{ t | datetime }} | {{ t | date('short') }} | {{ t | iso }}")
    assert (
        rendered.render(t=WINTER) == "15 janvier 2026 à 07:00 | 15/01/2026 | 2026-01-15T07:00-05:00"
    )


def test_the_setting_defaults_to_paris_and_refuses_an_unknown_zone(monkeypatch):
    monkeypatch.delenv("RESOURCE_CENTRE_TIMEZONE", raising=False)
    assert Settings().timezone == PARIS
    monkeypatch.setenv("RESOURCE_CENTRE_TIMEZONE", "America/Montreal")
    assert Settings().timezone == ZoneInfo("America/Montreal")
    monkeypatch.setenv("RESOURCE_CENTRE_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(ValidationError):
        Settings()


def test_no_template_formats_a_date_itself():
    offenders = [
        f"{path.relative_to(TEMPLATES_DIR)}: {pattern}"
        for path in TEMPLATES_DIR.rglob("*.*")
        for pattern in ("strftime", "isoformat", ".date()")
        if pattern in path.read_text("utf-8")
    ]
    assert offenders == []


# --- pages -------------------------------------------------------------------------------


def test_a_fiche_page_shows_the_local_day(client, app):
    slug = "atelier-velo-des-hauts-plateaux"
    with write_session(app.state.engine) as session:
        writeup = session.exec(select(WriteUp).where(WriteUp.slug == slug)).one()
        writeup.updated_at = datetime(2026, 7, 15, 22, 30, tzinfo=UTC)  # 16 July in Paris
    page = client.get(f"/fiches/{slug}")
    assert page.status_code == 200
    assert re.search(
        r'Dernière mise à jour : <time datetime="2026-07-16T00:30\+02:00">16 juillet 2026</time>',
        page.text,
    ), page.text


def test_the_journal_shows_local_times_in_winter_and_summer(client, app, login_as):
    login_as("curator")
    with write_session(app.state.engine) as session:
        for at in (WINTER, SUMMER):
            session.add(AuditEvent(at=at, action="test-fuseau", slug=None))
    page = client.get("/curation/journal", params={"action": "test-fuseau"})
    assert page.status_code == 200
    assert '<time datetime="2026-01-15T13:00+01:00">15/01/2026 13:00</time>' in page.text
    assert '<time datetime="2026-07-15T14:00+02:00">15/07/2026 14:00</time>' in page.text


def test_another_time_zone_through_the_setting(tmp_path: Path):
    app = create_app(build_settings(tmp_path, timezone=ZoneInfo("America/Montreal")))
    with write_session(app.state.engine) as session:
        session.add(AuditEvent(at=WINTER, action="test-fuseau"))
        user = create_user(session, email="fuseau@exemple.org", password=PASSWORD, role="curator")
    with TestClient(app) as client:
        assert login(client, user).status_code == 303
        page = client.get("/curation/journal", params={"action": "test-fuseau"})
    assert "15/01/2026 07:00" in page.text


# --- PostgreSQL: the right instant whatever the server's time zone --------------------------


@pytest.mark.postgres
def test_postgres_times_show_local_whatever_the_server_time_zone(postgres_server):
    if postgres_server is None:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (set by CI)")
    url = postgres_server.new_database()
    name = url.rsplit("/", 1)[1]
    # Many servers run in the machine's zone (initdb's default), here neither UTC nor Paris.
    postgres_server._exec(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'")
    engine = make_engine(url)
    try:
        with write_session(engine) as session:
            for at in (WINTER, SUMMER):
                session.add(LoginAttempt(at=at, email="x@exemple.org", address="192.0.2.1"))
        with read_session(engine) as session:
            stored = session.exec(select(LoginAttempt.at).order_by(LoginAttempt.at)).all()
    finally:
        engine.dispose()
    assert [dates.moment(at, PARIS) for at in stored] == [
        "15 janvier 2026 à 13:00",
        "15 juillet 2026 à 14:00",
    ]
