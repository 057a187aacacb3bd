"""What a search returns: result cards (`Hit`), facet values and a page of results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class FacetValue:
    """One value of a facet with its label and how many results have it."""

    value: str
    label: str
    count: int


KINDS: tuple[str, ...] = ("fiche", "express")  # the kinds of fiche a hit can be


@dataclass(frozen=True)
class Hit:
    """One result card: everything a list of fiches shows, from the index's stored fields.

    `matched_sections`: the keys of the sections holding a searched word, in the fiche's
    order (limited to the searched sections when the search is); `highlights["body"]` is
    an extract of the first of them.
    """

    slug: str
    title: str
    summary: str
    regie_slug: str | None
    regie_name: str | None
    region: str | None
    themes: list[str]
    activity: str | None
    audiences: list[str]
    schemes: list[str]
    year_start: int | None
    year_end: int | None
    published_at: date | None
    featured: bool
    score: float | None
    highlights: dict[str, str]
    matched_sections: list[str] = field(default_factory=list)
    kind: str = "fiche"


@dataclass
class SearchResults:
    """A page of hits with the exact total, facet counts, suggestion and notices.

    `unavailable` is True when the index could not be searched at all (it is being rebuilt):
    pages show a notice, the API answers 503, so "no fiche" and "cannot search" differ.
    """

    hits: list[Hit]
    total: int
    page: int
    page_size: int
    facets: dict[str, list[FacetValue]]
    suggestion: str | None = None
    notices: list[str] = field(default_factory=list)
    unavailable: bool = False
    # When the query was widened (typo, word start, glossary): the query that searches
    # exactly what was typed, offered as a link next to the notices.
    exact_query: str | None = None
    # With typo corrections: how many fiches the words as typed found (the search log
    # records it, so that the curators' radar still sees the needs nothing answers).
    typed_total: int | None = None


def split_words(value: Any) -> list[str]:
    """The values of a multi-valued stored field (space-separated slugs)."""
    return value.split() if isinstance(value, str) else []


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def hit_from_stored(
    stored: Mapping[str, Any],
    score: float | None,
    highlights: dict[str, str],
    matched_sections: list[str] | None = None,
) -> Hit:
    """Build a result card from a document's stored fields."""
    kind = stored.get("kind")
    published = stored.get("published_at")
    if isinstance(published, datetime):
        published = published.date()
    elif not isinstance(published, date):
        published = None
    return Hit(
        slug=str(stored.get("slug", "")),
        title=str(stored.get("title", "")),
        summary=str(stored.get("summary", "")),
        regie_slug=_str_or_none(stored.get("regie")),
        regie_name=_str_or_none(stored.get("regie_name")),
        region=_str_or_none(stored.get("region")),
        themes=split_words(stored.get("theme")),
        activity=_str_or_none(stored.get("activity")),
        audiences=split_words(stored.get("audience")),
        schemes=split_words(stored.get("scheme")),
        year_start=_int_or_none(stored.get("year_start")),
        year_end=_int_or_none(stored.get("year_end")),
        published_at=published,
        featured=bool(stored.get("featured", False)),
        score=None if score is None else round(score, 4),
        highlights=highlights,
        matched_sections=list(matched_sections or ()),
        kind=kind if kind in KINDS else "fiche",
    )
