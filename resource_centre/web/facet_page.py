"""The page of every value of one facet (`/fiches/filtres/{facet}`), for the current search.

A facet of the library shows its most frequent values; one with more than `LARGE_FACET`
values (the Régies: 127 in the real network) links here, where every value is listed
alphabetically with its count, as checkboxes of a GET form to `/fiches` that keeps the rest
of the search (text, other filters, years, sort, page size). Works without JavaScript. The
page of the activities also gives each one's figures ("Repères chiffrés", `figure_ranges`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from resource_centre.taxonomy import FACET_LABELS, fold
from resource_centre.web import facets as states
from resource_centre.web.deps import SearchDep
from resource_centre.web.library import (
    _base,
    _figure_ranges,
    _page,
    _params,
    _quiet_search,
    _sign_in_redirect,
)

router = APIRouter()
UNAVAILABLE = "La recherche est momentanément indisponible : réessayez dans quelques secondes."


@router.get(f"/fiches/{states.FACET_PAGE}/{{facet}}", name="facet_values")
def facet_values(request: Request, facet: str, search: SearchDep) -> Any:
    if (redirect := _sign_in_redirect(request)) is not None:
        return redirect
    if facet not in states.SLUG_FACETS:
        raise HTTPException(404, "Ce filtre n'existe pas.")
    wanted = replace(search.parse(_params(request)), page=1)
    found = _quiet_search(search, replace(wanted, page_size=1))
    base = _base(request)
    chosen = set(wanted.filters.get(facet, []))
    values = found.facets.get(facet, []) if found else []
    options = sorted(
        (
            states.FacetOption(
                value=fv.value,
                label=fv.label,
                count=fv.count,
                selected=fv.value in chosen,
                toggle_url=states.toggle_url(base, wanted, facet, fv.value),
            )
            for fv in values
        ),
        key=lambda option: (fold(option.label), option.value),
    )
    label = FACET_LABELS.get(facet, facet)
    # Next to each activity, its figures over its published fiches ("Repères chiffrés").
    ranges = _figure_ranges(request) if facet == "activity" else {}
    context = {
        "figure_ranges": {o.value: ranges[o.value] for o in options if o.value in ranges},
        "facet": facet,
        "facet_label": label,
        "options": options,
        "wanted": wanted,
        "q": wanted.q,
        "base": base,
        # Everything of the search but this facet's values, kept as hidden fields.
        "kept": [(k, v) for k, v in states.state_items(wanted) if k not in (facet, "page")],
        "back_url": states.url_of(base, wanted),
        "chips": states.chips(base, wanted, search.labels()),
        "notices": [*wanted.notices, *([] if found else [UNAVAILABLE])],
        "search_hidden": [
            (k, v) for k, v in states.state_items(wanted) if k not in ("q", "sort", "page")
        ],
        "page_title": f"{label} : toutes les valeurs",
    }
    return _page(request, "library/facet_values.html", context)
