"""A fiche's content (`FicheData`, as in a `knowledge/` file or the contributor form) and the
rules it must meet (`validate`), shared by the form, the import and the API. Saving it and its
workflow are `writeups.py`, which re-exports these names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from resource_centre.figures import check_figures, normalized_figures
from resource_centre.models import Regie, Term
from resource_centre.taxonomy import (
    EXPRESS_REQUIRED_SECTIONS,
    FICHE_KINDS,
    MAX_FICHE_BYTES,
    MAX_SECTION_BYTES,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    REQUIRED_SECTIONS,
    SECTION_BY_KEY,
    SECTION_KEYS,
    STATUSES,
    VOCABULARIES,
)

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG_CHARS = 120
YEAR_MIN, YEAR_MAX = 1950, 2100
# A level-1 or level-2 heading inside a section would become a section of its own on export.
SECTION_HEADING_RE = re.compile(r"^ {0,3}#{1,2}(?:[ \t]|$)", re.MULTILINE)


@dataclass
class FicheData:
    """The content of a fiche, as in a `knowledge/` file or the contributor form."""

    slug: str
    title: str = ""
    summary: str = ""
    regie: str | None = None
    themes: list[str] = field(default_factory=list)
    activity: str | None = None
    audiences: list[str] = field(default_factory=list)
    schemes: list[str] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)
    year_start: int | None = None
    year_end: int | None = None
    status: str = "draft"
    featured: bool = False
    published_at: date | None = None
    sections: dict[str, str] = field(default_factory=dict)
    kind: str = "fiche"  # taxonomy.FICHE_KINDS
    figures: dict[str, Any] = field(default_factory=dict)  # figures.py
    interview_requested: bool = False  # "we are happy to tell more" (fiche express)
    # Kept by the corpus only (import and export): a form never carries them, so saving a
    # form keeps the curators' note and the attachments as they are.
    network_note: str | None = None
    attachments: list[AttachmentRef] = field(default_factory=list)


@dataclass(frozen=True)
class AttachmentRef:
    """An attachment as the front matter lists it: `fiches/<slug>/<file>` and its title."""

    file: str
    title: str


# The fields a form or a revision carries (not the corpus-only note and attachments).
CORPUS_ONLY_FIELDS = frozenset({"network_note", "attachments"})
PARTNER_ROLE_SEPARATOR = " — "


def split_partner(text: str) -> tuple[str, str]:
    """A partner as (name, role): "Ville de Dijon — finance le poste" → both parts."""
    name, _, role = text.partition(PARTNER_ROLE_SEPARATOR.strip())
    return name.strip(), role.strip()


def join_partner(name: str, role: str) -> str:
    """The stored form of a partner and its role (just the name when there is no role)."""
    name, role = name.strip(), role.strip()
    return f"{name}{PARTNER_ROLE_SEPARATOR}{role}" if name and role else name or role


@dataclass(frozen=True)
class Known:
    """The slugs that front matter and forms may use: vocabularies and Régies."""

    terms: Mapping[str, frozenset[str]]  # vocabulary name → slugs (retired ones excluded)
    regies: frozenset[str]

    @classmethod
    def load(cls, session: Session) -> Known:
        terms: dict[str, set[str]] = {v.name: set() for v in VOCABULARIES}
        for vocab, slug in session.execute(
            select(Term.vocabulary, Term.slug).where(col(Term.retired).is_(False))
        ):
            terms.setdefault(vocab, set()).add(slug)
        regies = session.execute(select(Regie.slug).where(col(Regie.retired).is_(False))).scalars()
        return cls({k: frozenset(v) for k, v in terms.items()}, frozenset(regies))


# French names of the vocabularies' values, for error messages ("thème inconnu « x »").
UNKNOWN_VALUE = {
    "themes": "thème inconnu",
    "activities": "activité inconnue",
    "audiences": "public inconnu",
    "schemes": "dispositif inconnu",
    "regions": "région inconnue",
}


def check_section_text(key: str, text: str) -> str | None:
    """Return a French error for one section's Markdown, or None if it is acceptable."""
    heading = SECTION_BY_KEY[key].heading
    size = len(text.encode("utf-8"))
    if size > MAX_SECTION_BYTES:
        return (
            f"section « {heading} » trop longue ({size // 1000} Ko, "
            f"{MAX_SECTION_BYTES // 1000} Ko au plus)"
        )
    if SECTION_HEADING_RE.search(_without_code(text)):
        return (
            f"section « {heading} » : les titres # et ## sont réservés aux sections ; "
            "utilisez ### pour un sous-titre"
        )
    return None


def check_fiche_size(sections: Mapping[str, str]) -> tuple[str, str] | None:
    """The whole fiche's limit: (section to shorten, French error), or None if within it."""
    sizes = {key: len(text.encode("utf-8")) for key, text in sections.items() if text}
    total = sum(sizes.values())
    if total <= MAX_FICHE_BYTES:
        return None
    largest = max(sizes, key=lambda key: sizes[key])
    return largest, (
        f"fiche trop longue : {total // 1000} Ko de texte pour l'ensemble des sections, "
        f"{MAX_FICHE_BYTES // 1000} Ko au plus ; raccourcissez cette section, la plus longue, "
        "ou mettez le détail dans une pièce jointe"
    )


def _without_code(text: str) -> str:
    """Blank out fenced code blocks, where `#` lines are not headings."""
    out, fence = [], None
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        marker = stripped[:3]
        if fence is None and marker in ("```", "~~~"):
            fence = marker
            out.append("")
        elif fence is not None:
            if stripped.startswith(fence):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def validate(data: FicheData, known: Known) -> dict[str, str]:
    """Check a fiche's content; return field name → French message (empty when valid).

    Drafts may be incomplete; any other state needs every required field and section.
    Unknown slugs are always errors.
    """
    errors: dict[str, str] = {}
    complete = data.status != "draft"
    express = data.kind == "express"
    required_sections = EXPRESS_REQUIRED_SECTIONS if express else REQUIRED_SECTIONS
    if data.kind not in FICHE_KINDS:
        errors["kind"] = f"format inconnu « {data.kind} » ({' ou '.join(FICHE_KINDS)})"
    if not SLUG_RE.match(data.slug) or len(data.slug) > MAX_SLUG_CHARS:
        errors["slug"] = (
            "identifiant invalide : lettres minuscules sans accents, chiffres et tirets, "
            f"{MAX_SLUG_CHARS} caractères au plus"
        )
    if not data.title.strip():
        errors["title"] = "le titre est obligatoire"
    elif len(data.title) > MAX_TITLE_CHARS:
        errors["title"] = (
            f"titre trop long ({len(data.title)} caractères, {MAX_TITLE_CHARS} au plus)"
        )
    if len(data.summary) > MAX_SUMMARY_CHARS:
        errors["summary"] = (
            f"résumé trop long ({len(data.summary)} caractères, {MAX_SUMMARY_CHARS} au plus)"
        )
    elif complete and not data.summary.strip():
        errors["summary"] = "le résumé est obligatoire"
    if data.regie is not None and data.regie not in known.regies:
        errors["regie"] = f"Régie inconnue « {data.regie} »"
    elif complete and not data.regie:
        errors["regie"] = "la Régie est obligatoire"
    for vocab in VOCABULARIES:
        if vocab.name == "regions":
            continue
        value = getattr(data, vocab.field)
        values = value if isinstance(value, list) else ([value] if value else [])
        unknown = [v for v in values if v not in known.terms.get(vocab.name, ())]
        if unknown:
            errors[vocab.field] = f"{UNKNOWN_VALUE[vocab.name]} « {unknown[0]} »"
    if complete and not data.themes and "themes" not in errors:
        errors["themes"] = "au moins un thème est obligatoire"
    for name in ("year_start", "year_end"):
        year = getattr(data, name)
        if year is not None and not YEAR_MIN <= year <= YEAR_MAX:
            errors[name] = f"année hors limites ({YEAR_MIN}–{YEAR_MAX})"
    if (
        data.year_start is not None
        and data.year_end is not None
        and "year_end" not in errors
        and data.year_end < data.year_start
    ):
        errors["year_end"] = (
            f"l'année de fin ({data.year_end}) précède l'année de début ({data.year_start})"
        )
    if data.status not in STATUSES:
        errors["status"] = f"état inconnu « {data.status} » ({', '.join(STATUSES)})"
    if data.status == "published" and data.published_at is None:
        errors["published_at"] = "la date de publication est obligatoire pour une fiche publiée"
    if data.featured and data.status != "published":
        errors["featured"] = "seule une fiche publiée peut être mise en avant"
    for key in SECTION_KEYS:
        text = data.sections.get(key, "")
        problem = check_section_text(key, text) if text else None
        if problem:
            errors[key] = problem
        elif complete and key in required_sections and not text.strip():
            errors[key] = f"la section « {SECTION_BY_KEY[key].heading} » est obligatoire"
    schemes = known.terms.get("schemes", frozenset())
    figure_problems = check_figures(data.figures, schemes)
    if figure_problems:
        errors["figures"] = figure_problems[0][1]
    too_long = check_fiche_size(data.sections)
    if too_long:
        errors.setdefault(*too_long)
    return errors


def normalized(data: FicheData) -> FicheData:
    """The same content as stored: trimmed text, empty sections and partners dropped."""
    sections = {k: data.sections[k].strip("\n") for k in SECTION_KEYS if data.sections.get(k)}
    return replace(
        data,
        title=data.title.strip(),
        summary=data.summary.strip(),
        activity=data.activity or None,
        partners=[p.strip() for p in data.partners if p.strip()],
        sections={k: v for k, v in sections.items() if v.strip()},
        figures=normalized_figures(data.figures),
        network_note=(data.network_note or "").strip() or None,
    )
