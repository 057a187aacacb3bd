"""The library's fixed vocabulary as data: sections, vocabularies, facets, states, roles.

The one place each of them is declared, with its French label, and the one place the years
of a fiche or of a filter are worded (`year_range_label`, `year_filter_label`). The values of
each vocabulary (themes, activities…) live in the database and in `knowledge/taxonomy.yaml`;
this module names them and says how they are shown.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    key: str
    heading: str
    required: bool
    prompt: str


SECTIONS: tuple[Section, ...] = (
    Section(
        "context",
        "Contexte",
        True,
        "Le territoire, le problème de départ, qui a demandé quoi, ce qui existait avant.",
    ),
    Section("objectives", "Objectifs", False, "Ce que vous visiez, et pour qui."),
    Section(
        "method",
        "Démarche",
        True,
        "Les étapes, qui a fait quoi, les partenaires et la gouvernance, le calendrier.",
    ),
    Section(
        "resources",
        "Moyens",
        False,
        "L'équipe, le budget, les financements, le matériel et les locaux.",
    ),
    Section(
        "results",
        "Résultats",
        False,
        "Ce qui a changé, avec des chiffres si possible : emplois, habitants touchés, "
        "tonnes, m², satisfaction.",
    ),
    Section(
        "residents",
        "Place des habitants",
        False,
        "Comment les habitants ont pris part : à l'idée, aux décisions, au travail, au bilan ; "
        "ce qui les a fait venir, ce qui les a freinés.",
    ),
    Section(
        "lessons",
        "Enseignements",
        True,
        "Si c'était à refaire, que changeriez-vous ? Ce qui a marché, ce qui n'a pas marché, "
        "les pièges à éviter.",
    ),
    Section(
        "transfer",
        "Pour essaimer",
        False,
        "Les conditions pour refaire ailleurs, les conseils, les documents réutilisables, "
        "qui contacter.",
    ),
)
SECTION_KEYS: tuple[str, ...] = tuple(s.key for s in SECTIONS)
REQUIRED_SECTIONS: tuple[str, ...] = tuple(s.key for s in SECTIONS if s.required)
SECTION_BY_KEY = {s.key: s for s in SECTIONS}
# The formats of a fiche: the full write-up, and the fiche express (six questions).
FICHE_KINDS: tuple[str, ...] = ("fiche", "express")
KIND_LABELS = {"fiche": "Fiche complète", "express": "Fiche express"}
# Sections a fiche express requires (besides title, Régie, themes and summary).
EXPRESS_REQUIRED_SECTIONS: tuple[str, ...] = ("method", "lessons")
MAX_SECTION_BYTES = 100_000
MAX_FICHE_BYTES = 200_000  # all sections together (rendering time grows with size)
MAX_SUMMARY_CHARS = 600
MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class FacetSpec:
    """A facet of the library: `name` is its query-string parameter and its index field."""

    name: str
    label: str  # French, shown in facets, filter chips, notices and on a fiche
    multiple: bool = False  # a fiche may have several values (checkbox lists, KEYWORD field)
    by_slug: bool = True  # chosen by slug; False for the years, a range (`year_min`, `year_max`)


YEAR_FACET = "year"
YEAR_RANGE_PARAMS: tuple[str, str] = ("year_min", "year_max")  # the years in a query string
# Facets of the library, in the order they are shown; `regie`, `kind` and `year` are not
# vocabularies.
FACET_SPECS: tuple[FacetSpec, ...] = (
    FacetSpec("theme", "Thèmes", multiple=True),
    FacetSpec("region", "Région"),
    FacetSpec("regie", "Régie"),
    FacetSpec("activity", "Activité"),
    # The format of a fiche (`FICHE_KINDS`): not a vocabulary, its labels are KIND_LABELS.
    FacetSpec("kind", "Format"),
    FacetSpec("audience", "Publics", multiple=True),
    FacetSpec("scheme", "Dispositifs et financements", multiple=True),
    FacetSpec(YEAR_FACET, "Années", by_slug=False),
)
FACET_BY_NAME = {f.name: f for f in FACET_SPECS}
FACETS: tuple[str, ...] = tuple(f.name for f in FACET_SPECS)
FACET_LABELS = {f.name: f.label for f in FACET_SPECS}
# Facets chosen by slug (checkboxes, index fields of the same name); the years are a range.
SLUG_FACETS: tuple[str, ...] = tuple(f.name for f in FACET_SPECS if f.by_slug)
MULTI_VALUED_FACETS = frozenset(f.name for f in FACET_SPECS if f.multiple)


@dataclass(frozen=True)
class Vocabulary:
    name: str  # key in taxonomy.yaml and in the database
    facet: str  # search parameter and facet name (label and multiplicity come from it)
    field: str  # the fiche's attribute that holds slugs from it

    @property
    def label(self) -> str:
        """French, shown in facets and forms."""
        return FACET_BY_NAME[self.facet].label

    @property
    def multiple(self) -> bool:
        return FACET_BY_NAME[self.facet].multiple


VOCABULARIES: tuple[Vocabulary, ...] = (
    Vocabulary("themes", "theme", "themes"),
    Vocabulary("activities", "activity", "activity"),
    Vocabulary("audiences", "audience", "audiences"),
    Vocabulary("schemes", "scheme", "schemes"),
    Vocabulary("regions", "region", "region"),
)
VOCABULARY_BY_NAME = {v.name: v for v in VOCABULARIES}
VOCABULARY_NAMES: tuple[str, ...] = tuple(v.name for v in VOCABULARIES)


def year_range_label(start: int | None, end: int | None) -> str:
    """The years of an action, as a fiche or a card shows them.

    "2021", "2019–2022", "depuis 2019", "jusqu’en 2022", or "" without years.
    """
    if start and end:
        return str(start) if start == end else f"{start}–{end}"
    if start:
        return f"depuis {start}"
    if end:
        return f"jusqu’en {end}"
    return ""


def year_filter_label(year_min: int | None, year_max: int | None) -> str:
    """A filter on years, as its chip says it.

    "2021", "de 2019 à 2022", "à partir de 2019", "jusqu’en 2022", or "" without bounds.
    """
    if year_min is not None and year_max is not None:
        return str(year_min) if year_min == year_max else f"de {year_min} à {year_max}"
    if year_min is not None:
        return f"à partir de {year_min}"
    if year_max is not None:
        return f"jusqu’en {year_max}"
    return ""


STATUSES: tuple[str, ...] = ("draft", "submitted", "changes_requested", "published", "archived")
STATUS_LABELS = {
    "draft": "Brouillon",
    "submitted": "En relecture",
    "changes_requested": "Modifications demandées",
    "published": "Publiée",
    "archived": "Archivée",
}

REGIE_KINDS = {"quartier": "Régie de quartier", "territoire": "Régie de territoire"}

ROLES: tuple[str, ...] = ("contributor", "curator", "admin")
ROLE_LABELS = {"contributor": "Contributeur", "curator": "Curateur", "admin": "Administrateur"}


def fold(text: str) -> str:
    """Lower-case and strip accents: `Démarche` → `demarche`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


SECTION_BY_FOLDED_HEADING = {fold(s.heading): s for s in SECTIONS}
