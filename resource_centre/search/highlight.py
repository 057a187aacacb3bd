"""Result cards with highlights: the searched words in `<mark>`, HTML-escaped.

Titles and summaries are stored in the index; bodies are not, so they come from a
`FicheBodies` (the database's, in `service.py`) and only for the hits that hold a searched
word. Each card also says in which sections of the fiche the searched words are
(`matched_sections`, from the index's `sections` field), and its body extract comes from
the first of them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Protocol

from resource_centre.search.caches import Generation
from resource_centre.search.request import SEARCHABLE_SECTIONS
from resource_centre.search.results import Hit, hit_from_stored
from resource_centre.search.schema import SECTIONS_FIELD
from resource_centre.search.textquery import WORD_RE, stem
from resource_centre.taxonomy import fold


class FicheBodies(Protocol):
    """The plain text of some fiches, by slug (those it does not know are left out).

    One that also has a `sections` method (a `SectionBodies`) gives the extracts of the
    sections where the words were found; otherwise extracts come from the whole text.
    """

    def __call__(self, slugs: list[str]) -> Mapping[str, str]: ...


class SectionBodies(FicheBodies, Protocol):
    """A `FicheBodies` that also gives the plain text of one section of some fiches:
    `sections({slug: section key})` → `{slug: text}` (unknown slugs and empty sections left
    out)."""

    def sections(self, wanted: Mapping[str, str]) -> Mapping[str, str]: ...


def matched_sections(
    reader: Any, gen: Generation, stems: list[str], docs: list[int], sections: tuple[str, ...] = ()
) -> dict[int, list[str]]:
    """For each of `docs`, the keys of its sections (those of `sections`, else every
    searchable one, in order) holding one of the stems.

    With `sections`, the matching has read those sections' documents (cached per
    generation); otherwise only the posting blocks of the page's documents are read: reading
    every section's documents for a frequent word takes 15 ms at 10,000 fiches.
    """
    if sections:
        found = []
        for key in sections:
            bits = 0
            for term in stems:
                bits |= gen.section_bits(reader, key, term)
            found.append((key, bits))
        return {d: [key for key, bits in found if bits >> d & 1] for d in docs}
    holding = _holding(reader, stems, sorted(set(docs)))
    return {d: [key for key in SEARCHABLE_SECTIONS if d in holding[key]] for d in docs}


def _holding(reader: Any, stems: list[str], docs: list[int]) -> dict[str, set[int]]:
    """Section key → those of the sorted `docs` that hold one of the stems in it (Whoosh's
    public matchers, skipping to each document: blocks without one are not decoded)."""
    leaves = [(leaf, base, base + leaf.doc_count_all()) for leaf, base in reader.leaf_readers()]
    holding: dict[str, set[int]] = {}
    for key in SEARCHABLE_SECTIONS:
        found: set[int] = set()
        for term in stems:
            btext = f"{key}:{term}".encode()
            for leaf, base, end in leaves:
                local = [d - base for d in docs if base <= d < end and d not in found]
                if not local or (SECTIONS_FIELD, btext) not in leaf:
                    continue
                matcher = leaf.postings(SECTIONS_FIELD, btext)
                for doc in local:
                    if matcher.is_active() and matcher.id() < doc:
                        matcher.skip_to(doc)
                    if not matcher.is_active():  # (deleted documents are left out)
                        break
                    if matcher.id() == doc:
                        found.add(doc + base)
        holding[key] = found
    return holding


def hits(
    searcher: Any,
    gen: Generation,
    ranked: list[tuple[int, float | None]],
    stems: list[str],
    bodies_of: FicheBodies | None,
    *,
    sections: tuple[str, ...] = (),
) -> list[Hit]:
    """Build the result cards of ranked documents, with the searched stems highlighted.

    `sections` is the request's section filter: a card's `matched_sections` are limited to
    them.
    """
    stored = [(searcher.stored_fields(d), d, score) for d, score in ranked]
    where: dict[int, list[str]] = {}
    if stems and stored:
        docs = [d for _, d, _ in stored]
        where = matched_sections(searcher.reader(), gen, stems, docs, sections)
    bodies: Mapping[str, str] = {}
    if bodies_of is not None and stems and stored:
        bodies = _bodies(searcher, gen, stored, stems, bodies_of, where)
    wanted = frozenset(stems)
    cards = []
    for fields, docnum, score in stored:
        highlights: dict[str, str] = {}
        if wanted:
            for name in ("title", "summary"):
                marked = highlight(str(fields.get(name, "")), wanted, whole=True)
                if marked:
                    highlights[name] = marked
            text = bodies.get(str(fields.get("slug")))
            if isinstance(text, str) and text:
                marked = highlight(text, wanted, whole=False)
                if marked:
                    highlights["body"] = marked
        cards.append(hit_from_stored(fields, score, highlights, where.get(docnum)))
    return cards


def _bodies(
    searcher: Any,
    gen: Generation,
    stored: list[tuple[Any, int, float | None]],
    stems: list[str],
    bodies_of: FicheBodies,
    where: Mapping[int, list[str]],
) -> Mapping[str, str]:
    """The text to take each card's body extract from: the first section where a searched
    word was found, or (from a `FicheBodies` without sections) the whole text of the fiches
    that hold a searched word."""
    sections_of = getattr(bodies_of, "sections", None)
    if callable(sections_of):
        chosen = {str(f.get("slug")): where[d][0] for f, d, _ in stored if where.get(d)}
        fetched = sections_of(chosen) if chosen else {}
    else:
        reader = searcher.reader()
        terms = [gen.stem(reader, s).scores for s in stems]
        slugs = [str(f.get("slug")) for f, d, _ in stored if any(d in t for t in terms)]
        fetched = bodies_of(slugs) if slugs else {}
    return fetched if isinstance(fetched, Mapping) else {}


FRAGMENT_CHARS = 180
SCAN_EVERY_WORD_BELOW = 200  # characters
MAX_FRAGMENTS = 2


def highlight(text: str, stems: Iterable[str], *, whole: bool) -> str:
    """Return HTML-escaped text with the searched words in `<mark>`; "" if none is found.

    `whole=True` marks all of a short text; otherwise up to two fragments around the
    first matches of a long text are returned (whitespace collapsed, "…" at the cuts).
    """
    terms = frozenset(stems)
    if not text or not terms:
        return ""
    spans: list[tuple[int, int]] = []
    limit = None if whole else MAX_FRAGMENTS * 4
    for start, stop in _candidate_words(text, terms, whole=whole):
        word = text[start:stop]
        if len(word) <= 100 and stem(word) in terms:
            spans.append((start, stop))
            if limit is not None and len(spans) >= limit:
                break
    if not spans:
        return ""
    if whole:
        return _mark(text, 0, len(text), spans)
    windows: list[list[tuple[int, int]]] = []
    for span in spans:
        if windows and span[1] - windows[-1][0][0] <= FRAGMENT_CHARS:
            windows[-1].append(span)
        elif len(windows) < MAX_FRAGMENTS:
            windows.append([span])
        else:
            break
    parts = []
    begin = finish = 0
    for index, group in enumerate(windows):
        first, last = group[0][0], group[-1][1]
        room = max(0, FRAGMENT_CHARS - (last - first)) // 2
        begin = _word_start(text, max(0, first - room))
        if index == 0 and begin > 0:
            parts.append("…")
        elif index > 0:
            parts.append(" … ")  # one ellipsis between two fragments, not two
        finish = _word_end(text, min(len(text), last + room))
        parts.append(" ".join(_mark(text, begin, finish, group).split()))
    if finish < len(text):
        parts.append("…")
    return "".join(parts)


def _candidate_words(text: str, terms: frozenset[str], *, whole: bool) -> Iterable[tuple[int, int]]:
    """Spans of the words that may stem to one of `terms`.

    Stemming every word of a body costs milliseconds per hit (a third of one for a
    section); instead, the text is searched for words starting like a stem (its first
    letters: "cheval" also finds "chevaux"), in any case and with or without accents, and
    only those are stemmed. Titles, summaries and very short texts are scanned word by word.
    """
    if whole or len(text) <= SCAN_EVERY_WORD_BELOW:
        for match in WORD_RE.finditer(text):
            yield match.span()
        return
    for match in _prefix_pattern(terms).finditer(text):
        yield match.span()


def _accent_variants() -> dict[str, str]:
    """Folded letter → the characters (up to U+024F) that fold to it: `e` → `eèéêëÈÉÊË…`."""
    variants: dict[str, str] = {}
    for code in range(0x250):
        char = chr(code)
        folded = fold(char)
        if len(folded) == 1 and folded.isalnum():
            variants[folded] = variants.get(folded, "") + char
    return variants


_VARIANTS = _accent_variants()


@lru_cache(maxsize=256)
def _prefix_pattern(terms: frozenset[str]) -> re.Pattern[str]:
    """Words starting like one of the stems, matched on the text as it is (no folding)."""
    prefixes = sorted({t[: max(3, len(t) - 2)] for t in terms}, key=len, reverse=True)

    def accents(prefix: str) -> str:
        return "".join(
            f"[{re.escape(_VARIANTS[c])}]" if c in _VARIANTS else re.escape(c) for c in prefix
        )

    return re.compile(r"\b(?:" + "|".join(map(accents, prefixes)) + r")\w*", re.IGNORECASE)


def _word_start(text: str, index: int) -> int:
    """Move an index forward to the start of a word (at most 20 characters)."""
    for step in range(20):
        position = index + step
        if position <= 0 or position >= len(text) or text[position - 1].isspace():
            return min(position, len(text))
    return index


def _word_end(text: str, index: int) -> int:
    """Move an index back to the end of a word (at most 20 characters)."""
    for step in range(20):
        position = index - step
        if position >= len(text) or position <= 0 or text[position].isspace():
            return max(position, 0)
    return index


def _mark(text: str, begin: int, end: int, spans: list[tuple[int, int]]) -> str:
    out = []
    position = begin
    for start, stop in spans:
        if start < position or stop > end:
            continue
        out.append(html.escape(text[position:start]))
        out.append("<mark>" + html.escape(text[start:stop]) + "</mark>")
        position = stop
    out.append(html.escape(text[position:end]))
    return "".join(out)
