"""The field's glossary: acronyms with their long forms, and groups of words of equal meaning.

Stored in the database (`GlossaryEntry` rows), imported and exported as
`knowledge/glossary.yaml`, shown at `/glossaire`, edited at `/curation/glossaire`, and used
by the search to widen a query (`search/expand.py`).

This module holds what every layer shares: the dataclasses, the rules an entry follows
(`check_entry`, the same for the curators' form and the file) and `load_glossary`. The
curators' changes, with their audit events, are `glossary_edit.py`; the file format is
`corpus_format.py`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import func
from sqlalchemy import select as columns
from sqlmodel import Session, col, select

from resource_centre.models import GlossaryEntry
from resource_centre.taxonomy import fold

KINDS: tuple[str, ...] = ("acronym", "synonyms")
KIND_LABELS = {"acronym": "Sigle", "synonyms": "Mots de même sens"}
MAX_TERM = 60
MAX_EXPANSIONS = 12
MAX_EXPANSION = 120
MAX_DEFINITION = 1000
MAX_TERM_KEY = 240  # the database column of the folded term (NFKD can lengthen a term)
MAX_ENTRIES = 2000  # a glossary file holding more is refused (the page lists every entry)


@dataclass(frozen=True)
class GlossaryItem:
    """One entry: `term` (the acronym, or one of the synonyms), `expansions` (the long forms
    of an acronym, or every word of a synonyms group), and a definition in plain French."""

    term: str
    kind: Literal["acronym", "synonyms"]
    expansions: tuple[str, ...]
    definition: str = ""


@dataclass(frozen=True, eq=False)
class Glossary:
    """The glossary as the search uses it; `version` changes whenever an entry does.

    Compared and hashed by `version` (a digest of the content), so that caches keyed by a
    glossary cost nothing per search; a glossary made by hand without one by its items."""

    items: tuple[GlossaryItem, ...] = ()
    version: str = ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Glossary):
            return NotImplemented
        if self.version and other.version:
            return self.version == other.version
        return (self.version, self.items) == (other.version, other.items)

    def __hash__(self) -> int:
        return hash(self.version) if self.version else hash(self.items)

    @classmethod
    def of(cls, items: Iterable[GlossaryItem]) -> Glossary:
        """A glossary of these items, its version a digest of their content."""
        kept = tuple(items)
        digest = hashlib.sha256(
            json.dumps(
                [[i.term, i.kind, list(i.expansions), i.definition] for i in kept],
                ensure_ascii=False,
            ).encode()
        ).hexdigest()[:16]
        return cls(kept, digest)


EMPTY = Glossary()


# ---------------------------------------------------------------------------------------
# The rules of an entry

# Control characters (tab, line feed and carriage return are spaces here), the NUL that
# PostgreSQL refuses in text included, and lone surrogates (a YAML escape can make one; no
# database can store it).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(r"\s+")


def term_key(term: str) -> str:
    """What makes two terms the same entry: no case, no accents, spaces collapsed."""
    return _SPACES.sub(" ", fold(term)).strip()


def _has_control(text: str) -> bool:
    return bool(_CONTROL.search(text))


def _clean(text: str) -> str:
    """One line of text: Unicode composed (NFC), runs of spaces and line breaks as one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


@dataclass
class Checked:
    """An entry checked: the cleaned item, or the errors by field (`term`, `kind`,
    `expansions`, `definition`), each a French sentence fragment."""

    item: GlossaryItem | None
    errors: dict[str, str]


def _significant(text: str) -> bool:
    """Whether a form holds a word that is not a stop word (or no word at all: the search
    ignores it)."""
    from resource_centre.search.analysis import french_stop_words

    stop = french_stop_words()
    words = re.findall(r"\w+", fold(text))
    return not words or any(w not in stop for w in words)


def check_entry(term: str, kind: str, expansions: Sequence[str], definition: str) -> Checked:
    """Clean an entry (spaces collapsed, Unicode composed) and check its rules.

    A synonyms group holds its term among its words (added first when missing).
    """
    errors: dict[str, str] = {}
    texts = [term, kind, definition, *expansions]
    if any(_has_control(t) for t in texts):
        # Named once, on the first field holding one.
        for name, values in (
            ("term", [term]),
            ("kind", [kind]),
            ("expansions", list(expansions)),
            ("definition", [definition]),
        ):
            if any(_has_control(v) for v in values):
                errors[name] = "caractère de contrôle interdit"
                break
        return Checked(None, errors)
    term = _clean(term)
    definition = _clean(definition)
    words = [_clean(e) for e in expansions]
    words = [w for w in words if w]
    if not term:
        errors["term"] = "le terme est obligatoire"
    elif len(term) > MAX_TERM or len(term_key(term)) > MAX_TERM_KEY:
        errors["term"] = f"le terme dépasse {MAX_TERM} caractères ({len(term)})"
    if kind not in KINDS:
        errors["kind"] = "choisissez « sigle » ou « mots de même sens »"
    if kind == "synonyms" and term and term_key(term) not in {term_key(w) for w in words}:
        words.insert(0, term)
    too_long = next((w for w in words if len(w) > MAX_EXPANSION), None)
    # A form of stop words only ("de la") would widen a search to every fiche; an acronym
    # that is itself a stop word ("AI") is its term, not a form.
    empty = next((w for w in words if not _significant(w)), None)
    seen: set[str] = set()
    twice = None
    for word in words:
        key = term_key(word)
        if key in seen and twice is None:
            twice = word
        seen.add(key)
    if kind == "acronym" and not words:
        errors["expansions"] = "indiquez au moins une forme développée du sigle"
    elif kind == "synonyms" and len(words) < 2:
        errors["expansions"] = "un groupe réunit au moins deux mots de même sens"
    elif len(words) > MAX_EXPANSIONS:
        errors["expansions"] = (
            f"{_count(len(words), 'forme')} : {MAX_EXPANSIONS} au plus, une par ligne"
        )
    elif too_long is not None:
        errors["expansions"] = (
            f"« {too_long[:40]}… » dépasse {MAX_EXPANSION} caractères ({len(too_long)})"
        )
    elif twice is not None:
        errors["expansions"] = f"« {twice} » est écrit deux fois"
    elif empty is not None:
        errors["expansions"] = (
            f"« {empty[:40]} » ne contient que des mots trop courants : la recherche "
            "le trouverait partout"
        )
    elif kind == "acronym" and term and term_key(term) in seen:
        errors["expansions"] = "une forme développée ne peut pas être le sigle lui-même"
    if len(definition) > MAX_DEFINITION:
        errors["definition"] = (
            f"la définition dépasse {MAX_DEFINITION} caractères ({len(definition)})"
        )
    if errors:
        return Checked(None, errors)
    chosen = cast(Literal["acronym", "synonyms"], kind)
    return Checked(GlossaryItem(term, chosen, tuple(words), definition), {})


def sort_key(item: GlossaryItem) -> tuple[str, str]:
    """The glossary's order: alphabetical whatever the case and accents."""
    return term_key(item.term), item.term


def letter_of(term: str) -> str:
    """The letter an entry is listed under at /glossaire (A–Z, or « # » for the others)."""
    first = term_key(term)[:1].upper()
    return first if "A" <= first <= "Z" else "#"


# ---------------------------------------------------------------------------------------
# The database


def item_of(entry: GlossaryEntry) -> GlossaryItem:
    kind = cast(Literal["acronym", "synonyms"], entry.kind)
    return GlossaryItem(entry.term, kind, tuple(entry.expansions), entry.definition)


def load_entries(session: Session) -> list[GlossaryEntry]:
    """Every stored entry, in the glossary's order."""
    rows = list(session.execute(select(GlossaryEntry)).scalars())
    return sorted(rows, key=lambda e: (e.term_key, e.term, e.id or 0))


def load_glossary(session: Session) -> Glossary:
    """The stored glossary, its items in alphabetical order (a stable `version`)."""
    rows = list(
        session.execute(
            columns(
                col(GlossaryEntry.term_key),
                col(GlossaryEntry.term),
                col(GlossaryEntry.kind),
                col(GlossaryEntry.expansions),
                col(GlossaryEntry.definition),
            )
        )
    )
    rows.sort(key=lambda r: (r[0], r[1]))
    return Glossary.of(
        GlossaryItem(term, cast(Literal["acronym", "synonyms"], kind), tuple(forms), definition)
        for _, term, kind, forms, definition in rows
    )


def glossary_stamp(session: Session) -> tuple[object, ...]:
    """A cheap summary that changes whenever an entry is added, changed or deleted (every
    change sets `updated_at`): the search reads the whole glossary only when it differs."""
    row = session.execute(
        select(
            func.count(),
            func.max(col(GlossaryEntry.id)),
            func.max(col(GlossaryEntry.updated_at)),
        ).select_from(GlossaryEntry)
    ).one()
    return tuple(row)
