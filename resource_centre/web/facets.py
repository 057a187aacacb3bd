"""URLs of the library's states: facet toggles, filter chips, sort and pagination.

Pure functions over a parsed `SearchRequest`, so that templates only loop. Every URL is
built from the *validated* request (unknown values and bad numbers already dropped), in one
canonical parameter order, and every change of filter goes back to page 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from resource_centre.search.request import (
    MAX_PAGE,
    SEARCHABLE_SECTIONS,
    SearchRequest,
    query_items,
)
from resource_centre.search.results import FacetValue
from resource_centre.taxonomy import (
    FACET_LABELS,
    SECTION_BY_KEY,
    SLUG_FACETS,
    YEAR_FACET,
    YEAR_RANGE_PARAMS,
    year_filter_label,
)

__all__ = ["SLUG_FACETS"]  # re-exported: the facets chosen by slug, declared in taxonomy

YEAR_MIN, YEAR_MAX = YEAR_RANGE_PARAMS
SORT_LABELS = {
    "relevance": "Pertinence",
    "recent": "Les plus récentes",
    "title": "Titre (A → Z)",
}
FACET_VISIBLE_VALUES = 8  # more values go under "Voir plus"
SECTION_PARAM = "section"
LESSONS = "lessons"
# The French heading of each searchable section.
SECTION_HEADINGS: dict[str, str] = {key: SECTION_BY_KEY[key].heading for key in SEARCHABLE_SECTIONS}


def section_names(keys: Iterable[str]) -> str:
    """ "Enseignements, Démarche": the headings of section keys, in the order given."""
    return ", ".join(SECTION_HEADINGS.get(key, key) for key in keys)


LARGE_FACET = 15  # more values: a box to filter them by typing, and a page listing them all
FACET_PAGE = "filtres"  # `/fiches/filtres/{facet}`: every value of a facet (web/facet_page.py)


@dataclass(frozen=True)
class FacetOption:
    """One facet value as a template shows it."""

    value: str
    label: str
    count: int
    selected: bool
    toggle_url: str


@dataclass(frozen=True)
class Facet:
    """One facet: its name (the parameter), French label and values."""

    name: str
    label: str
    options: list[FacetOption]
    visible: list[FacetOption]  # selected values, then the most frequent ones
    more: list[FacetOption]  # the rest, shown under "Voir plus"
    all_url: str | None = None  # the page of every value, for a facet of over LARGE_FACET

    @property
    def selected_count(self) -> int:
        return sum(1 for o in self.options if o.selected)


@dataclass(frozen=True)
class Chip:
    """An active filter, with the URL of the same state without it."""

    name: str
    label: str  # "Thèmes : Insertion et emploi"
    remove_url: str
    without: SearchRequest = field(compare=False, repr=False)  # the state without it


@dataclass(frozen=True)
class PageLink:
    number: int
    url: str
    current: bool


@dataclass(frozen=True)
class Pagination:
    page: int
    last: int
    previous_url: str | None
    next_url: str | None
    links: list[PageLink | None]  # None stands for an ellipsis


@dataclass(frozen=True)
class SortOption:
    value: str
    label: str
    selected: bool


def effective_sort(request: SearchRequest) -> str:
    """Return the sort in use: the requested one, else relevance with text, else recent."""
    if request.sort:
        return request.sort
    return "relevance" if request.q.strip() else "recent"


def state_items(request: SearchRequest) -> list[tuple[str, str]]:
    """Return the query-string items of a state, in canonical order, defaults left out."""
    return query_items(request)


def url_of(base: str, request: SearchRequest) -> str:
    """Return the URL of a state: `base` plus its canonical query string."""
    items = state_items(request)
    return f"{base}?{urlencode(items)}" if items else base


def _changed(request: SearchRequest, **changes: object) -> SearchRequest:
    """Return a copy with changes, on page 1 and without notices."""
    filters = {k: list(v) for k, v in request.filters.items()}
    new = replace(request, filters=filters, notices=[], page=1)
    # `changes` are fields of SearchRequest given by keyword; mypy cannot match `object`
    # values to each field's type.
    return replace(new, **changes) if changes else new  # type: ignore[arg-type]


def toggled(request: SearchRequest, facet: str, value: str) -> SearchRequest:
    """Return the state with one facet value added if absent, removed if present."""
    new = _changed(request)
    values = new.filters.get(facet, [])
    values = [v for v in values if v != value] if value in values else [*values, value]
    if values:
        new.filters[facet] = values
    else:
        new.filters.pop(facet, None)
    return new


def toggle_url(base: str, request: SearchRequest, facet: str, value: str) -> str:
    return url_of(base, toggled(request, facet, value))


def filter_url(base: str, facet: str, value: str) -> str:
    """Return the URL of the library filtered by one value only."""
    return url_of(base, SearchRequest(filters={facet: [value]}))


def decorate(
    base: str, request: SearchRequest, facets: Mapping[str, Sequence[FacetValue]]
) -> list[Facet]:
    """Add `selected` and `toggle_url` to the facet values of a result, facet by facet."""
    decorated = []
    for name in SLUG_FACETS:
        chosen = request.filters.get(name, [])
        options = [
            FacetOption(
                value=fv.value,
                label=fv.label,
                count=fv.count,
                selected=fv.value in chosen,
                toggle_url=toggle_url(base, request, name, fv.value),
            )
            for fv in facets.get(name, [])
        ]
        visible = [o for o in options if o.selected]
        rest = [o for o in options if not o.selected]
        room = max(0, FACET_VISIBLE_VALUES - len(visible))
        # Keep a short tail visible rather than hiding one or two values behind a toggle.
        if len(rest) <= room + 2:
            room = len(rest)
        visible, more = visible + rest[:room], rest[room:]
        decorated.append(
            Facet(
                name=name,
                label=FACET_LABELS.get(name, name),
                options=options,
                visible=visible,
                more=more,
                all_url=facet_page_url(base, request, name) if len(options) > LARGE_FACET else None,
            )
        )
    return decorated


def facet_page_url(base: str, request: SearchRequest, facet: str) -> str:
    """The page of every value of a facet, for the same search (page 1)."""
    return url_of(f"{base}/{FACET_PAGE}/{facet}", replace(request, page=1, notices=[]))


def chips(base: str, request: SearchRequest, labels: Mapping[str, Mapping[str, str]]) -> list[Chip]:
    """Return the active filters (text included), each with the URL that removes it."""
    found: list[Chip] = []

    def add(name: str, label: str, without: SearchRequest) -> None:
        found.append(Chip(name, label, url_of(base, without), without))

    if request.q.strip():
        add("q", f"Recherche : « {request.q.strip()} »", _changed(request, q="", sort=None))
    if request.sections:
        where = section_names(request.sections)
        add(SECTION_PARAM, f"Recherche limitée à : {where}", _changed(request, sections=()))
    for name in SLUG_FACETS:
        facet_label = FACET_LABELS.get(name, name)
        for value in request.filters.get(name, []):
            label = labels.get(name, {}).get(value, value)
            add(name, f"{facet_label} : {label}", toggled(request, name, value))
    if request.year_min is not None or request.year_max is not None:
        label = year_filter_label(request.year_min, request.year_max)
        without = _changed(request, year_min=None, year_max=None)
        add(YEAR_FACET, f"{FACET_LABELS[YEAR_FACET]} : {label}", without)
    return found


def sections_url(base: str, request: SearchRequest, sections: Sequence[str]) -> str:
    """Return the same search limited to other sections (none: the whole fiche)."""
    return url_of(base, _changed(request, sections=tuple(sections)))


def clear_url(base: str) -> str:
    """Return the URL of the library without any filter ("Tout effacer")."""
    return base


def with_query(base: str, request: SearchRequest, q: str) -> str:
    """Return the same filters with another text (for "did you mean")."""
    return url_of(base, _changed(request, q=q, sort=None))


def sort_options(request: SearchRequest) -> list[SortOption]:
    current = effective_sort(request)
    values: Iterable[str] = SORT_LABELS
    if not request.q.strip():  # relevance means nothing without text
        values = [v for v in SORT_LABELS if v != "relevance" or current == "relevance"]
    return [SortOption(v, SORT_LABELS[v], v == current) for v in values]


def last_page(total: int, page_size: int) -> int:
    return max(1, min(MAX_PAGE, -(-total // max(1, page_size))))


def pagination(base: str, request: SearchRequest, total: int, *, window: int = 2) -> Pagination:
    """Return previous/next and numbered page links, with ellipses for long ranges."""
    last = last_page(total, request.page_size)
    page = request.page

    def url(number: int) -> str:
        return url_of(base, replace(request, page=number, notices=[]))

    numbers = sorted(
        {1, last} | {n for n in range(page - window, page + window + 1) if 1 <= n <= last}
    )
    links: list[PageLink | None] = []
    previous = 0
    for number in numbers:
        if previous and number - previous == 2:
            links.append(PageLink(previous + 1, url(previous + 1), False))
        elif previous and number - previous > 2:
            links.append(None)
        links.append(PageLink(number, url(number), number == page))
        previous = number
    return Pagination(
        page=page,
        last=last,
        previous_url=url(min(page - 1, last)) if page > 1 else None,
        next_url=url(page + 1) if page < last else None,
        links=links,
    )


def count_words(n: int) -> str:
    """Return "Aucune fiche", "1 fiche", "12 fiches", "10 000 fiches"."""
    if n <= 0:
        return "Aucune fiche"
    if n == 1:
        return "1 fiche"
    return f"{n:,}".replace(",", "\u202f") + " fiches"


def section_context(base: str, wanted: SearchRequest) -> dict[str, Any]:
    """Where the text is searched: "Trouvé dans : …" on the cards, the searched sections
    (with the way back to the whole fiche), or the offer to search the lessons only."""
    return {
        "section_headings": SECTION_HEADINGS,
        "searched_sections": section_names(wanted.sections),
        "whole_fiche_url": sections_url(base, wanted, ()) if wanted.sections else None,
        "lessons_only_url": (
            sections_url(base, wanted, (LESSONS,))
            if wanted.q.strip() and wanted.sections != (LESSONS,)
            else None
        ),
    }
