"""What a proposed revision changes besides its text, as the review page shows it: the format,
the partners with their roles, the figures, the interview asked for and the facets, each as
lines of text that `reviews.section_diff` compares; and the "En bref" of the preview."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from resource_centre.fiche_data import split_partner
from resource_centre.figures import FUNDING_KEY, figure_lines
from resource_centre.taxonomy import FACET_LABELS, KIND_LABELS, year_range_label

PARTNERS_HEADING = "Partenaires (et leur rôle)"
FIGURES_HEADING = "Chiffres clés"
KIND_HEADING = "Format"
INTERVIEW_HEADING = "Entretien demandé à l'équipe du réseau"
YEARS_HEADING = "Années"
# (attribute, vocabulary, facet) of the fields chosen from a vocabulary, in the page's order.
FACET_FIELDS = (
    ("themes", "themes", "theme"),
    ("activity", "activities", "activity"),
    ("audiences", "audiences", "audience"),
    ("schemes", "schemes", "scheme"),
)


def kind_label(kind: Any) -> str:
    """« Fiche complète » or « Fiche express » (anything else is a full fiche)."""
    return KIND_LABELS.get(kind, KIND_LABELS["fiche"]) if isinstance(kind, str) else ""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def shown_figures(value: Any) -> dict[str, Any]:
    """The figures that are numbers (validation keeps the others out; never fail on them)."""
    if not isinstance(value, Mapping):
        return {}
    kept: dict[str, Any] = {}
    for key, number in value.items():
        if key == FUNDING_KEY and isinstance(number, Mapping):
            funding = {s: v for s, v in number.items() if isinstance(s, str) and _number(v)}
            if funding:
                kept[key] = funding
        elif isinstance(key, str) and _number(number):
            kept[key] = number
    return kept


def partner_rows(partners: Any) -> list[tuple[str, str]]:
    """The partners as (name, role) rows, role "" when not given."""
    rows = []
    for text in partners or []:
        if isinstance(text, str) and text.strip():
            name, role = split_partner(text)
            rows.append((name or role, role if role != name else ""))
    return rows


def _partner_lines(partners: Any) -> str:
    return "\n".join(f"{name} — {role}" if role else name for name, role in partner_rows(partners))


def _figure_lines(figures: Any, scheme_labels: Mapping[str, str]) -> str:
    lines = figure_lines(shown_figures(figures), scheme_labels)
    return "\n".join(f"{label} : {text}" for label, text in lines)


def _scheme_labels(labels: Mapping[tuple[str, str], str]) -> dict[str, str]:
    return {slug: label for (vocabulary, slug), label in labels.items() if vocabulary == "schemes"}


def _term_lines(value: Any, vocabulary: str, labels: Mapping[tuple[str, str], str]) -> str:
    """The labels of a field's slugs (one slug, or a list of them), one a line."""
    slugs = [value] if isinstance(value, str) and value else value
    if not isinstance(slugs, list):
        return ""
    return "\n".join(labels.get((vocabulary, s), s) for s in slugs if isinstance(s, str))


def changed_fields(
    current: Any, proposed: Any, labels: Mapping[tuple[str, str], str]
) -> list[tuple[str, str, str]]:
    """(heading, current text, proposed text) of each field besides the title, the summary
    and the sections that the revision `proposed` changes in the fiche `current` (both
    read by attribute: a `WriteUp` and a `FicheData`). `labels` maps (vocabulary, slug) to
    a term's label."""
    schemes = _scheme_labels(labels)
    pairs = [
        (KIND_HEADING, kind_label(current.kind), kind_label(proposed.kind)),
        (PARTNERS_HEADING, _partner_lines(current.partners), _partner_lines(proposed.partners)),
        (
            FIGURES_HEADING,
            _figure_lines(current.figures, schemes),
            _figure_lines(proposed.figures, schemes),
        ),
        (
            INTERVIEW_HEADING,
            "oui" if current.interview_requested else "non",
            "oui" if proposed.interview_requested else "non",
        ),
        (
            YEARS_HEADING,
            year_range_label(current.year_start, current.year_end),
            year_range_label(proposed.year_start, proposed.year_end),
        ),
    ]
    for attribute, vocabulary, facet in FACET_FIELDS:
        old, new = (
            _term_lines(getattr(s, attribute), vocabulary, labels) for s in (current, proposed)
        )
        if sorted(old.splitlines()) != sorted(new.splitlines()):  # their order tells nothing
            pairs.append((FACET_LABELS[facet], old, new))
    return [(heading, old, new) for heading, old, new in pairs if old != new]


def in_brief(source: Any, labels: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    """The "En bref" of the review's preview of `source` (a `WriteUp` or a `FicheData`):
    its format, its partners as (name, role) and its figures as (label, text)."""
    schemes = _scheme_labels(labels)
    return {
        "kind": kind_label(source.kind),
        "express": source.kind == "express",
        "partners": partner_rows(source.partners),
        "figures": figure_lines(shown_figures(source.figures), schemes),
    }
