"""Dates and times shown to people: the one place they are formatted (Jinja filters of
`web/app.py`, e-mails, digests).

The database holds UTC (SQLite and PostgreSQL give naive datetimes back); pages show them in
the time zone of the settings (`RESOURCE_CENTRE_TIMEZONE`, default Europe/Paris), in French,
through Babel. A `date` (such as `published_at`) is a calendar day: shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

LOCALE = "fr_FR"
# "long": 15 janvier 2026 à 13:00; "short": 15/01/2026 13:00 (tables).
MOMENT_PATTERNS = {"long": "d MMMM y 'à' HH:mm", "short": "dd/MM/y HH:mm"}


def local(value: datetime, tz: ZoneInfo) -> datetime:
    """`value` in `tz`; a naive datetime is taken as UTC (what the database holds)."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(tz)


def day(value: date | datetime | None, tz: ZoneInfo, form: str = "long") -> str:
    """The local day: "15 janvier 2026" ("long") or "15/01/2026" ("short"); "" for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value, tz).date()
    return format_date(value, form, locale=LOCALE)


def moment(value: datetime | None, tz: ZoneInfo, form: str = "long") -> str:
    """The local day and time: "15 janvier 2026 à 13:00" or "15/01/2026 13:00"."""
    if value is None:
        return ""
    return format_datetime(local(value, tz), MOMENT_PATTERNS[form], locale=LOCALE)


def iso(value: date | datetime | None, tz: ZoneInfo) -> str:
    """For `<time datetime>`: "2026-01-15" for a date, "2026-01-15T13:00+01:00" for a time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local(value, tz).isoformat(timespec="minutes")
    return value.isoformat()


def filters(tz: ZoneInfo) -> dict[str, Callable[..., Any]]:
    """The Jinja filters `date`, `datetime` and `iso`, in time zone `tz`."""

    def date_filter(value: date | datetime | None, form: str = "long") -> str:
        return day(value, tz, form)

    def datetime_filter(value: datetime | None, form: str = "long") -> str:
        return moment(value, tz, form)

    def iso_filter(value: date | datetime | None) -> str:
        return iso(value, tz)

    return {"date": date_filter, "datetime": datetime_filter, "iso": iso_filter}
