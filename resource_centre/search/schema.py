"""The index schema and the index document of a fiche.

Whoosh pickles the schema into the index: keep field names, field types and the analyzer
functions (`analysis.py`) stable, or bump `SCHEMA_VERSION` after a change: the version is
stored in the index's meta document, and the indexer rebuilds an index made with another
version (an index whose meta document has none predates the field: version 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from whoosh.fields import BOOLEAN, DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from resource_centre.models import Regie, WriteUp
from resource_centre.rendering import plain_text
from resource_centre.search.analysis import (
    folded_words,
    folding_analyzer,
    french_analyzer,
    index_terms,
)
from resource_centre.search.request import SEARCHABLE_SECTIONS
from resource_centre.taxonomy import (
    FICHE_KINDS,
    MULTI_VALUED_FACETS,
    SECTION_KEYS,
    SLUG_FACETS,
    VOCABULARIES,
    fold,
)

# 2: analyzers of `analysis.FrenchAnalyzer` (same terms, pickled by name);
# 3: the `sections` field (and the stems of issue 13);
# 4: `kind` holds the fiche's format (`fiche` or `express`, the facet of that name), and the
#    section `residents` (issue 14).
SCHEMA_VERSION = 4

# The `kind` field: a fiche's format (taxonomy.FICHE_KINDS, a facet), or `meta` for the
# bookkeeping document.
KIND_FICHE = "fiche"
KIND_META = "meta"
META_SLUG = "__meta__"

TEXT_FIELDS: tuple[str, ...] = ("title", "summary", "body")
PHRASE_FIELD = "spell"  # folded, unstemmed words with positions: exact phrases, "did you mean"
SECTIONS_FIELD = "sections"  # `key:stem` keywords: which sections of a fiche hold a stem
# The taxonomy's facets are index fields of the same names, except the years (computed from
# `year_start` and `year_end`); multi-valued facets are KEYWORD fields.
FACET_FIELDS: tuple[str, ...] = SLUG_FACETS
# Facet name → the WriteUp attribute that holds its slugs; the other facets (the region
# and the Régie) come from the fiche's Régie, and the format is the fiche's `kind`.
_FROM_REGIE = ("region", "regie")
KIND_FACET = "kind"
# Facets whose labels are not added to a fiche's searchable text: every fiche has a format,
# and "Fiche complète" in every body would only blur the ranking.
_UNSEARCHED_LABELS = frozenset({KIND_FACET})
_FACET_ATTRS = {v.facet: v.field for v in VOCABULARIES if v.facet not in _FROM_REGIE}

TITLE_BOOST = 3.0
SUMMARY_BOOST = 1.6


def build_schema() -> Schema:
    """Return the schema of the search index."""
    french = french_analyzer()
    return Schema(
        slug=ID(stored=True, unique=True),
        kind=ID(stored=True),
        status=ID(stored=True),
        # Stemmed fields for matching and ranking: no positions (their postings decode 5×
        # faster); quoted phrases are matched on `spell`, which has them.
        title=TEXT(analyzer=french, stored=True, field_boost=TITLE_BOOST, phrase=False),
        summary=TEXT(analyzer=french, stored=True, field_boost=SUMMARY_BOOST, phrase=False),
        body=TEXT(analyzer=french, stored=False, phrase=False),
        # Every word of title + summary + body, folded, unstemmed, with positions: exact
        # phrases and "did you mean".
        spell=TEXT(analyzer=folding_analyzer(), stored=False, phrase=True),
        # Which section holds which stem: one `key:stem` keyword per section and index term
        # of its text (`section_terms`); searches limited to sections match on it.
        sections=KEYWORD(stored=False, lowercase=False, commas=False, scorable=False),
        theme=KEYWORD(stored=True, lowercase=True, scorable=False),
        audience=KEYWORD(stored=True, lowercase=True, scorable=False),
        scheme=KEYWORD(stored=True, lowercase=True, scorable=False),
        region=ID(stored=True),
        regie=ID(stored=True),
        activity=ID(stored=True),
        regie_name=STORED(),
        year_start=NUMERIC(int, bits=32, stored=True, sortable=True),
        year_end=NUMERIC(int, bits=32, stored=True, sortable=True),
        published_at=DATETIME(stored=True, sortable=True),
        title_sort=ID(sortable=True),
        featured=BOOLEAN(stored=True),
        journal_id=NUMERIC(int, bits=64, stored=True),
        # The fiche's version when indexed: `check` compares it with the database.
        version=NUMERIC(int, bits=32, stored=True),
    )


# Markdown → plain text lives with the renderer; the name stays importable from here.
markdown_to_text = plain_text


def sections_text(writeup: WriteUp) -> str:
    """Return the plain text of a fiche's sections, in the taxonomy's order."""
    if writeup.plain_text:  # computed once when the fiche was saved
        return writeup.plain_text
    sections = writeup.sections or {}
    keys = [k for k in SECTION_KEYS if k in sections]
    keys += sorted(k for k in sections if k not in SECTION_KEYS)
    parts = [markdown_to_text(sections.get(k)) for k in keys]
    return "\n\n".join(p for p in parts if p)


# Markdown whose plain text may have other `\w+` words than its source: links, images,
# tags and entities (`[`, `<`, `&`), `_` (a word character that emphasis and rules use),
# code fences (`` ` ``, `~`) and numbered-list markers (after spaces, quote or heading
# marks). Without them, `markdown_to_text` only removes or blanks out non-word characters,
# so the source has the same words (tests/search/test_sections.py checks it).
_MARKUP_CHARS = "[<&_`~"
_NUMBERED = re.compile(r"[\n\r][ \t>#]*\d{1,9}[.)]")
_NUMBERED_FIRST = re.compile(r"[ \t>#]*\d{1,9}[.)]")


def words_may_change(markdown: str) -> bool:
    """Whether the plain text of `markdown` may have other words than the Markdown has."""
    return (
        any(char in markdown for char in _MARKUP_CHARS)
        or _NUMBERED.search(markdown) is not None
        or _NUMBERED_FIRST.match(markdown) is not None
    )


def section_words(markdown: str) -> list[str]:
    """The folded words of a section's plain text (what `folded_words(markdown_to_text(
    markdown))` gives), read from the Markdown itself when converting it cannot change them
    (the conversion costs about 1 ms per fiche, at indexing time)."""
    return folded_words(markdown_to_text(markdown) if words_may_change(markdown) else markdown)


def section_terms(sections: Mapping[str, Any] | None) -> list[str]:
    """The `sections` field of a fiche: `key:stem` for each searchable section and each
    index term (stem) of its plain text, the stems being those of the `body` field.

    A list of keywords, not the space-separated string a KEYWORD field also takes: Whoosh
    indexes a list as it is, without tokenising it again (a quarter less time).
    """
    tokens: list[str] = []
    for key in SEARCHABLE_SECTIONS:
        markdown = sections.get(key) if sections else None
        if isinstance(markdown, str) and markdown:
            terms = set(index_terms(section_words(markdown)))
            tokens.extend(map(f"{key}:".__add__, terms))
    return tokens


def _slugs(values: Iterable[str] | str | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    seen: dict[str, None] = {}
    for value in values:
        slug = str(value).strip().lower()
        if slug and not any(c.isspace() for c in slug):
            seen.setdefault(slug, None)
    return list(seen)


def _year(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10_000:
        return value
    return None


def _as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)


def fiche_kind(writeup: WriteUp) -> str:
    """The format of a fiche as indexed: its `kind`, or `fiche` for an unknown one."""
    kind = getattr(writeup, "kind", None)
    return kind if kind in FICHE_KINDS else KIND_FICHE


def document_from(
    writeup: WriteUp,
    regie: Regie | None,
    labels: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """Build the index document of a fiche (pass it to `writer.update_document(**doc)`)."""
    facets: dict[str, list[str]] = {
        facet: _slugs(getattr(writeup, attr, None)) for facet, attr in _FACET_ATTRS.items()
    }
    facets["region"] = _slugs(regie.region if regie else None)
    facets["regie"] = _slugs(regie.slug if regie else None)
    facets[KIND_FACET] = [fiche_kind(writeup)]

    label_words: list[str] = []
    for facet in FACET_FIELDS:
        if facet in _UNSEARCHED_LABELS:
            continue
        facet_labels = labels.get(facet, {})
        label_words.extend(facet_labels.get(slug, "") for slug in facets[facet])
    regie_words = []
    if regie is not None:
        regie_words = [regie.name, regie.city, regie.department]
    partners = [p for p in (writeup.partners or []) if isinstance(p, str)]
    body = "\n\n".join(
        part
        for part in (
            sections_text(writeup),
            markdown_to_text(writeup.network_note),
            " ".join(w for w in regie_words if w),
            " ".join(partners),
            " ".join(w for w in label_words if w),
        )
        if part
    )
    title = writeup.title or ""
    summary = writeup.summary or ""

    doc: dict[str, Any] = {
        "slug": writeup.slug,
        "status": writeup.status,
        "title": title,
        "summary": summary,
        "body": body,
        "spell": f"{title}\n{summary}\n{body}",
        "sections": section_terms(writeup.sections) or None,
        "regie_name": regie.name if regie else None,
        "year_start": _year(writeup.year_start),
        "year_end": _year(writeup.year_end),
        "published_at": _as_datetime(writeup.published_at),
        "title_sort": fold(title).strip(),
        "featured": bool(writeup.featured),
        "version": int(writeup.version or 0),
    }
    for facet in FACET_FIELDS:
        values = facets[facet]
        if facet in MULTI_VALUED_FACETS:
            doc[facet] = " ".join(values) if values else None
        else:
            doc[facet] = values[0] if values else None
    return {k: v for k, v in doc.items() if v is not None}


def meta_document(journal_id: int) -> dict[str, Any]:
    """Build the bookkeeping document: the last journal row applied to the index, and the
    schema version the index was built with (in the `version` field)."""
    return {
        "slug": META_SLUG,
        "kind": KIND_META,
        "journal_id": int(journal_id),
        "version": SCHEMA_VERSION,
    }


def meta_schema_version(fields: dict[str, Any] | None) -> int:
    """The schema version recorded in a meta document's stored fields (1 if none)."""
    value = fields.get("version") if fields else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 1
