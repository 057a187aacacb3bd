"""A search request: built from a query string (`request_from_params`) or by hand.

`SearchRequest` is valid by construction: whatever it is given, its fields are within
bounds (known facets, well-formed slugs, sorts, page numbers), so `query.run()` trusts it.
`request_from_params` also explains, in French notices, what it had to drop or change.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resource_centre.taxonomy import FACET_LABELS, SECTION_KEYS, SLUG_FACETS, YEAR_RANGE_PARAMS

FACETS: tuple[str, ...] = SLUG_FACETS  # the facets a request filters on (not the years)
# The sections a search may be limited to (parameter `section`), in the fiche's order.
SEARCHABLE_SECTIONS: tuple[str, ...] = SECTION_KEYS
SORTS: tuple[str, ...] = ("relevance", "recent", "title")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 10_000
MAX_VALUES_PER_FACET = 50
YEAR_LOWEST, YEAR_HIGHEST = 1900, 2100
_YEAR_BOUND = 10**6  # what a hand-made request may hold (the parser keeps to 1900–2100)
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


def _bounded(value: Any, low: int, high: int, default: int | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return max(low, min(high, value))
    return default


def _clean_filters(raw_filters: Any) -> dict[str, list[str]]:
    """Known facets only, well-formed slugs (lower case), no repeats, at most 50 each."""
    filters: dict[str, list[str]] = {}
    raw = raw_filters if isinstance(raw_filters, Mapping) else {}
    for facet in FACETS:
        values = raw.get(facet) or []
        if isinstance(values, str):
            values = [values]
        chosen: list[str] = []
        for value in values if isinstance(values, Iterable) else []:
            if isinstance(value, str):
                value = value.strip().lower()
                if _SLUG_RE.match(value) and value not in chosen:
                    chosen.append(value)
        if chosen:
            filters[facet] = chosen[:MAX_VALUES_PER_FACET]
    return filters


def _clean_sections(raw: Any) -> tuple[str, ...]:
    """Known section keys only, in the fiche's order, no repeats."""
    if isinstance(raw, str):
        raw = (raw,)
    try:
        given = {v for v in raw if isinstance(v, str)} if isinstance(raw, Iterable) else set()
    except TypeError:
        given = set()
    return tuple(key for key in SEARCHABLE_SECTIONS if key in given)


@dataclass
class SearchRequest:
    """One search: text, sections searched, facet filters, years, sort and page (bounded
    when built). `sections` limits text matching to those sections of the fiches (none:
    everywhere)."""

    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    year_min: int | None = None
    year_max: int | None = None
    sort: str | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    notices: list[str] = field(default_factory=list)
    sections: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.q = self.q if isinstance(self.q, str) else ""
        self.filters = _clean_filters(self.filters)
        self.sections = _clean_sections(self.sections)
        self.year_min = _bounded(self.year_min, -_YEAR_BOUND, _YEAR_BOUND, None)
        self.year_max = _bounded(self.year_max, -_YEAR_BOUND, _YEAR_BOUND, None)
        self.sort = self.sort if self.sort in SORTS else None
        self.page = _bounded(self.page, 1, MAX_PAGE, 1) or 1
        self.page_size = (
            _bounded(self.page_size, 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        )
        notices = self.notices if isinstance(self.notices, list | tuple) else []
        self.notices = [n for n in notices if isinstance(n, str)]


def _shown(value: str, limit: int = 40) -> str:
    """Return a short, printable version of user input for a notice."""
    text = "".join(c for c in value[: limit * 4] if unicodedata.category(c)[0] != "C")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    try:
        getlist = getattr(params, "getlist", None)  # Starlette's QueryParams, MultiDicts
        raw = getlist(name) if callable(getlist) else params.get(name)
    except (TypeError, AttributeError, KeyError):  # not a mapping we can read: no value
        return []
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    try:
        return [v for v in raw if isinstance(v, str)]
    except TypeError:
        return []


def _parse_int(text: str) -> int | None:
    text = text.strip()
    if not text or len(text) > 12 or not re.fullmatch(r"[+-]?\d+", text, re.ASCII):
        return None
    return int(text)


def _first(params: Mapping[str, Any], name: str) -> str | None:
    """The first non-blank value of a parameter."""
    values = [v for v in _values(params, name) if v.strip()]
    return values[0] if values else None


def _filters(params: Mapping[str, Any], known: Mapping[str, set[str]], notices: list[str]):
    filters: dict[str, list[str]] = {}
    for facet in FACETS:
        chosen: list[str] = []
        label = FACET_LABELS.get(facet, facet)
        allowed = known.get(facet)
        for raw in _values(params, facet):
            value = raw.strip().lower()
            if not value or value in chosen:
                continue
            ok = value in allowed if allowed is not None else bool(_SLUG_RE.match(value))
            if not ok:
                notices.append(
                    f"Filtre « {label} » : la valeur « {_shown(raw)} » est "
                    "inconnue, elle est ignorée."
                )
                continue
            if len(chosen) >= MAX_VALUES_PER_FACET:
                notices.append(
                    f"Filtre « {label} » : trop de valeurs, seules les "
                    f"{MAX_VALUES_PER_FACET} premières sont prises en compte."
                )
                break
            chosen.append(value)
        if chosen:
            filters[facet] = chosen
    return filters


MAX_SECTION_NOTICES = 3  # unknown sections named in notices; the others are counted


def _sections(params: Mapping[str, Any], notices: list[str]) -> tuple[str, ...]:
    chosen: set[str] = set()
    unknown: set[str] = set()
    for raw in _values(params, "section"):
        value = raw.strip().lower()
        if value in SEARCHABLE_SECTIONS:
            chosen.add(value)
        elif value and value not in unknown:
            unknown.add(value)
            if len(unknown) <= MAX_SECTION_NOTICES:
                notices.append(
                    f"La section « {_shown(raw.strip())} » n’existe pas : elle est ignorée "
                    f"(sections possibles : {', '.join(SEARCHABLE_SECTIONS)})."
                )
    others = len(unknown) - MAX_SECTION_NOTICES
    if others == 1:
        notices.append("Une autre section inconnue est ignorée.")
    elif others > 1:
        notices.append(f"{others} autres sections inconnues sont ignorées.")
    return tuple(key for key in SEARCHABLE_SECTIONS if key in chosen)


def _years(params: Mapping[str, Any], notices: list[str]) -> tuple[int | None, int | None]:
    years: dict[str, int | None] = {}
    for name, what in (("year_min", "L’année de début"), ("year_max", "L’année de fin")):
        years[name] = None
        raw = _first(params, name)
        if raw is None:
            continue
        number = _parse_int(raw)
        if number is None:
            notices.append(f"{what} « {_shown(raw)} » n’est pas un nombre : elle est ignorée.")
        elif not YEAR_LOWEST <= number <= YEAR_HIGHEST:
            notices.append(
                f"{what} {number} est hors de la période {YEAR_LOWEST}–"
                f"{YEAR_HIGHEST} : elle est ignorée."
            )
        else:
            years[name] = number
    year_min, year_max = years["year_min"], years["year_max"]
    if year_min is not None and year_max is not None and year_min > year_max:
        year_min, year_max = year_max, year_min
        notices.append(
            "Les années de début et de fin étaient inversées : elles ont été remises dans l’ordre."
        )
    return year_min, year_max


def _sort(params: Mapping[str, Any], notices: list[str]) -> str | None:
    raw = _first(params, "sort")
    if raw is None:
        return None
    candidate = raw.strip().lower()
    if candidate in SORTS:
        return candidate
    notices.append(f"Le tri « {_shown(raw)} » n’existe pas : le tri par défaut est utilisé.")
    return None


def _page(params: Mapping[str, Any], notices: list[str]) -> int:
    raw = _first(params, "page")
    if raw is None:
        return 1
    number = _parse_int(raw)
    if number is None:
        notices.append(f"La page « {_shown(raw)} » n’est pas un nombre : page 1 affichée.")
    elif number < 1:
        notices.append("Les pages commencent à 1 : page 1 affichée.")
    elif number > MAX_PAGE:
        notices.append(f"La page demandée est trop loin : page {MAX_PAGE} affichée.")
        return MAX_PAGE
    else:
        return number
    return 1


def _page_size(params: Mapping[str, Any], notices: list[str]) -> int:
    raw = _first(params, "page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    number = _parse_int(raw)
    if number is None:
        notices.append(
            f"Le nombre de résultats par page « {_shown(raw)} » "
            f"n’est pas un nombre : {DEFAULT_PAGE_SIZE} par page."
        )
        return DEFAULT_PAGE_SIZE
    if number < 1:
        notices.append(f"Le nombre de résultats par page va de 1 à {MAX_PAGE_SIZE} : 1 par page.")
        return 1
    if number > MAX_PAGE_SIZE:
        notices.append(
            f"Le nombre de résultats par page va de 1 à {MAX_PAGE_SIZE} : {MAX_PAGE_SIZE} par page."
        )
        return MAX_PAGE_SIZE
    return number


def request_from_params(
    params: Mapping[str, list[str]], known: Mapping[str, set[str]]
) -> SearchRequest:
    """Build a bounded `SearchRequest` from query-string values; bad values become notices.

    `params` maps each name to its list of values (or is a multi-dict with `getlist`, such
    as Starlette's `request.query_params`); `known` maps each facet to its valid slugs (a
    facet missing from it accepts any well-formed slug).
    """
    notices: list[str] = []
    q_values = _values(params, "q")
    sections = _sections(params, notices)
    filters = _filters(params, known, notices)
    year_min, year_max = _years(params, notices)
    sort = _sort(params, notices)
    page = _page(params, notices)
    page_size = _page_size(params, notices)
    return SearchRequest(
        q=q_values[0] if q_values else "",
        filters=filters,
        year_min=year_min,
        year_max=year_max,
        sort=sort,
        page=page,
        page_size=page_size,
        notices=notices,
        sections=sections,
    )


def query_items(request: SearchRequest, *, paging: bool = True) -> list[tuple[str, str]]:
    """The query-string items of a search in the library's canonical order (text, sections,
    facets, years, sort, then page and page size unless `paging` is False), defaults left
    out: one order for the library's links and for followed searches."""
    items: list[tuple[str, str]] = []
    if request.q.strip():
        items.append(("q", request.q))
    items.extend(("section", key) for key in request.sections)
    for facet in SLUG_FACETS:
        items.extend((facet, value) for value in request.filters.get(facet, []))
    year_min, year_max = YEAR_RANGE_PARAMS
    if request.year_min is not None:
        items.append((year_min, str(request.year_min)))
    if request.year_max is not None:
        items.append((year_max, str(request.year_max)))
    if request.sort:
        items.append(("sort", request.sort))
    if paging and request.page > 1:
        items.append(("page", str(request.page)))
    if paging and request.page_size != DEFAULT_PAGE_SIZE:
        items.append(("page_size", str(request.page_size)))
    return items
