"""Facet counts: each facet's values counted over the results filtered by the others."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from resource_centre.search.caches import Generation
from resource_centre.search.request import FACETS, SearchRequest
from resource_centre.search.results import FacetValue
from resource_centre.taxonomy import YEAR_FACET, fold


def facet_counts(
    gen: Generation,
    text_bits: int,
    restrict: Callable[[int, str | None], int],
    matched: int,
    facet_filters: Mapping[str, int],
    year_bits: int | None,
) -> dict[str, list[tuple[str, int]]]:
    """Count each facet's values over the results filtered by every other facet."""
    counts: dict[str, list[tuple[str, int]]] = {}
    for facet in (*FACETS, YEAR_FACET):
        own_filter = facet in facet_filters or (facet == YEAR_FACET and year_bits is not None)
        base = restrict(text_bits, facet) if own_filter else matched
        value_bits: Mapping[Any, int]
        value_bits = gen.year_bits if facet == YEAR_FACET else gen.facet_bits[facet]
        found = []
        if base:
            for value, bits in value_bits.items():
                n = (bits & base).bit_count()
                if n:
                    found.append((str(value), n))
        counts[facet] = found
    return counts


# Every page sorts a few hundred labels: each is folded once per process.
_folded_label = lru_cache(maxsize=8192)(fold)


def label_facets(
    counts: Mapping[str, list[tuple[str, int]]],
    request: SearchRequest,
    labels: Mapping[str, Mapping[str, str]],
    gen: Generation,
) -> dict[str, list[FacetValue]]:
    """Attach labels, add selected values counted 0, sort (count desc, then label)."""
    facets: dict[str, list[FacetValue]] = {}
    for facet in FACETS:
        facet_labels = labels.get(facet) if isinstance(labels, Mapping) else None
        if not isinstance(facet_labels, Mapping):
            facet_labels = {}
        found = dict(counts.get(facet, []))
        for value in request.filters.get(facet, []):
            found.setdefault(value, 0)
        values = []
        for value, n in found.items():
            label = facet_labels.get(value)
            if not isinstance(label, str) or not label:
                label = gen.regie_names.get(value, value) if facet == "regie" else value
            values.append(FacetValue(value, label, n))
        values.sort(key=lambda fv: (-fv.count, _folded_label(fv.label), fv.value))
        facets[facet] = values
    years = [FacetValue(v, v, n) for v, n in counts.get(YEAR_FACET, [])]
    years.sort(key=lambda fv: fv.value, reverse=True)
    facets[YEAR_FACET] = years
    return facets
