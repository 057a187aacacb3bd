"""The library's fixed vocabulary as data: sections, vocabularies, facets, states, roles.

The values of each vocabulary (themes, activities…) live in the database and in
`knowledge/taxonomy.yaml`; this module names them and says how they are shown.
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
MAX_SECTION_BYTES = 100_000
MAX_FICHE_BYTES = 200_000  # all sections together (rendering time grows with size)
MAX_SUMMARY_CHARS = 600
MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class Vocabulary:
    name: str  # key in taxonomy.yaml and in the database
    facet: str  # search parameter and facet name
    label: str  # French, shown in facets and forms
    field: str  # the fiche's attribute that holds slugs from it
    multiple: bool


VOCABULARIES: tuple[Vocabulary, ...] = (
    Vocabulary("themes", "theme", "Thèmes", "themes", True),
    Vocabulary("activities", "activity", "Activité", "activity", False),
    Vocabulary("audiences", "audience", "Publics", "audiences", True),
    Vocabulary("schemes", "scheme", "Dispositifs et financements", "schemes", True),
    Vocabulary("regions", "region", "Région", "region", False),
)
VOCABULARY_BY_NAME = {v.name: v for v in VOCABULARIES}
VOCABULARY_NAMES: tuple[str, ...] = tuple(v.name for v in VOCABULARIES)

# Facets of the library, in the order they are shown; `regie` and `year` are not vocabularies.
FACETS: tuple[str, ...] = ("theme", "region", "regie", "activity", "audience", "scheme", "year")
FACET_LABELS = {
    "theme": "Thèmes",
    "region": "Région",
    "regie": "Régie",
    "activity": "Activité",
    "audience": "Publics",
    "scheme": "Dispositifs et financements",
    "year": "Années",
}

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
