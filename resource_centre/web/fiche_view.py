"""What the page of a fiche shows (`/fiches/{slug}`, route in `web.library`): its sections in
the taxonomy's order, "En bref" (facets as links, partners with their role, figures), the
format of the fiche, the network's note and the attached documents."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlmodel import Session

from resource_centre.figures import figure_lines
from resource_centre.models import Attachment, Regie, WriteUp
from resource_centre.search.request import SearchRequest
from resource_centre.taxonomy import (
    FACET_LABELS,
    KIND_LABELS,
    REGIE_KINDS,
    SECTIONS,
    YEAR_FACET,
    year_range_label,
)
from resource_centre.web import facets as states
from resource_centre.web.api_fiche import published_attachments, stored_figures
from resource_centre.web.urls import absolute_url_for, path_for
from resource_centre.writeups import split_partner

EXPRESS = "express"
EXPRESS_EXPLANATION = "fiche courte : six questions"
PARTNERS_LABEL = "Partenaires"
NETWORK_NOTE_HEADING = "Regard du réseau"


def phrase(text: str) -> str:
    """A text as an exact phrase of the search box."""
    return '"' + text.replace('"', " ").strip() + '"'


def _meta(
    writeup: WriteUp, regie: Regie | None, labels: dict[str, dict[str, str]], base: str
) -> list[dict[str, Any]]:
    """The "En bref" entries that link to the library: each value filters it."""

    def values(facet: str, slugs: list[str]) -> list[dict[str, str]]:
        facet_labels = labels.get(facet, {})
        return [
            {"label": facet_labels.get(s, s), "url": states.filter_url(base, facet, s)}
            for s in slugs
        ]

    meta: list[dict[str, Any]] = []
    if regie is not None:
        meta.append({"label": FACET_LABELS["regie"], "values": values("regie", [regie.slug])})
        meta.append({"label": FACET_LABELS["region"], "values": values("region", [regie.region])})
    if writeup.year_start or writeup.year_end:
        years = SearchRequest(year_min=writeup.year_start, year_max=writeup.year_end)
        meta.append(
            {
                "label": FACET_LABELS[YEAR_FACET],
                "values": [
                    {
                        "label": year_range_label(writeup.year_start, writeup.year_end),
                        "url": states.url_of(base, years),
                    }
                ],
            }
        )
    for facet, slugs in (
        ("theme", writeup.themes),
        ("activity", [writeup.activity] if writeup.activity else []),
        ("kind", [writeup.kind if writeup.kind in KIND_LABELS else "fiche"]),
        ("audience", writeup.audiences),
        ("scheme", writeup.schemes),
    ):
        if slugs:
            meta.append({"label": FACET_LABELS[facet], "values": values(facet, slugs)})
    return meta


def partners(writeup: WriteUp, base: str) -> list[dict[str, str]]:
    """The partners as name (a link: the fiches naming it) and role ("" when not given)."""
    found = []
    for text in writeup.partners or []:
        if not isinstance(text, str) or not text.strip():
            continue
        name, role = split_partner(text)
        name = name or role
        found.append(
            {
                "label": name,
                "role": role if role != name else "",
                "url": f"{base}?{urlencode({'q': phrase(name)})}",
            }
        )
    return found


def attachment_links(
    request: Request, writeup: WriteUp, items: list[Attachment]
) -> list[dict[str, str]]:
    """The documents of a fiche: title (else the file's name), link, type and size."""
    links = []
    for item in items:
        name = item.original_name
        extension = name.rpartition(".")[2].upper() if "." in name else ""
        links.append(
            {
                "title": item.title or name,
                "name": name,
                "url": path_for(request, "download", slug=writeup.slug, attachment_id=item.id),
                "details": ", ".join(p for p in (extension, file_size(item.size)) if p),
            }
        )
    return links


def file_size(size: int) -> str:
    """ "moins de 1 Ko", "14 Ko", "2,5 Mo"."""
    if size < 1024:
        return "moins de 1 Ko"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} Ko"
    return f"{size / (1024 * 1024):.1f} Mo".replace(".", ",")


def fiche_context(
    request: Request,
    session: Session,
    writeup: WriteUp,
    regie: Regie | None,
    labels: dict[str, dict[str, str]],
    base: str,
) -> dict[str, Any]:
    """Everything `library/fiche.html` shows of a published fiche (related fiches apart)."""
    sections = [
        {"key": s.key, "heading": s.heading, "html": writeup.sections_html[s.key]}
        for s in SECTIONS
        if (writeup.sections_html.get(s.key) or "").strip()
    ]
    note_html = (writeup.network_note_html or "").strip() if writeup.network_note else ""
    express = writeup.kind == EXPRESS
    return {
        "writeup": writeup,
        "regie": regie,
        "regie_kind": REGIE_KINDS.get(regie.kind, "Régie") if regie else None,
        "region_label": labels.get("region", {}).get(regie.region, regie.region) if regie else None,
        "sections": sections,
        "meta": _meta(writeup, regie, labels, base),
        "partners": partners(writeup, base),
        "partners_label": PARTNERS_LABEL,
        "figures": figure_lines(stored_figures(writeup.figures), labels.get("scheme", {})),
        "express": express,
        "express_label": KIND_LABELS[EXPRESS],
        "express_explanation": EXPRESS_EXPLANATION,
        "network_note_html": note_html,
        "network_note_heading": NETWORK_NOTE_HEADING,
        "attachments": attachment_links(request, writeup, published_attachments(session, writeup)),
        "years": year_range_label(writeup.year_start, writeup.year_end),
        "labels": labels,
        "canonical": absolute_url_for(request, "fiche", slug=writeup.slug),
    }
