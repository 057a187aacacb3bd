"""Searching the index: `run()` turns a `SearchRequest` into `SearchResults`.

`run()` is given a live Whoosh searcher (opened by the indexer, never refreshed) and never
raises. Whoosh parses the query text and reads posting lists; matching, counting and
ranking are done by this package, because Whoosh's own matchers and collectors are too slow
for an exact total plus facet counts on every query. The parts:

- `request.py`: the request, bounded when built; `textquery.py`: parsing the text;
- `fastread.py`: every read of Whoosh's internals, checked against the public API;
- `caches.py`: what each index generation computes once (bitsets, orders, norms, terms,
  results); `bitsets.py`: document sets as integers;
- `matching.py`, `facets.py`, `ranking.py`, `highlight.py`, `suggest.py`: one step each;
  `related.py`: related fiches; `results.py`: what is returned.

Text queries: words are ANDed; when a plain list of words (no operator, phrase, group or
exclusion) finds nothing, the words are ORed instead and a notice says so.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from resource_centre.glossary import Glossary
from resource_centre.search.caches import Core, Generation, clear_caches, generation, warm_up
from resource_centre.search.expand import GLOSSARY_NOTICE, Widened, widen, with_accents
from resource_centre.search.facets import facet_counts, label_facets
from resource_centre.search.highlight import FicheBodies, hits
from resource_centre.search.matching import Evaluator
from resource_centre.search.ranking import by_order, by_relevance
from resource_centre.search.related import more_like_this
from resource_centre.search.request import FACETS, SearchRequest
from resource_centre.search.results import SearchResults
from resource_centre.search.schema import META_SLUG
from resource_centre.search.suggest import suggest
from resource_centre.search.textquery import (
    NONE,
    Parsed,
    is_plain_words,
    parse,
    plain_words,
    positive_stems,
)
from resource_centre.taxonomy import YEAR_FACET

logger = logging.getLogger(__name__)

# The engine's entry points besides `run` (the indexer warms the caches up after a commit).
__all__ = ["clear_caches", "index_journal_id", "more_like_this", "run", "warm_up"]

SUGGEST_BELOW = 3  # "did you mean" is tried when the query finds fewer fiches than this
SOFT_AND_WORDS = 3  # from this many words, fewer than SUGGEST_BELOW fiches with all of them
# also bring those with some of them
FAILURE = "La recherche n’a pas pu aboutir : réessayez avec d’autres mots."


def run(
    searcher: Any,
    request: SearchRequest,
    *,
    labels: Mapping[str, Mapping[str, str]],
    body_text: FicheBodies | None = None,
    glossary: Glossary | None = None,
) -> SearchResults:
    """Search the published fiches; never raises (a failure gives an empty result).

    `body_text` gives the fiches' plain text for body highlights (none without it);
    `glossary` widens the query with the field's acronyms and synonyms (`expand.py`).
    """
    try:
        gen = generation(searcher)
        sections = tuple(getattr(request, "sections", ()) or ())
        key = (
            glossary.version if glossary is not None else "",
            sections,
            request.q,
            tuple(sorted((f, tuple(sorted(v))) for f, v in request.filters.items())),
            request.year_min,
            request.year_max,
            request.sort,
            request.page,
            request.page_size,
            body_text is not None,
        )
        core = gen.cached(key)
        if core is None:
            core = _search(searcher, gen, request, body_text, glossary, sections)
            gen.store(key, core)
        return SearchResults(
            hits=list(core.hits),
            total=core.total,
            page=request.page,
            page_size=request.page_size,
            facets=label_facets(core.counts, request, labels, gen),
            suggestion=core.suggestion,
            notices=request.notices + core.notices,
            exact_query=core.exact_query,
            typed_total=core.typed_total,
        )
    except Exception:  # a search must never break a page: log it, answer "no result"
        logger.exception("search failed")
        return SearchResults(
            hits=[],
            total=0,
            page=request.page,
            page_size=request.page_size,
            facets={f: [] for f in (*FACETS, YEAR_FACET)},
            suggestion=None,
            notices=[*request.notices, FAILURE],
        )


def _search(
    searcher: Any,
    gen: Generation,
    request: SearchRequest,
    body_text: FicheBodies | None,
    glossary: Glossary | None = None,
    sections: tuple[str, ...] = (),
) -> Core:
    """Compute one result (not yet labelled)."""
    notices: list[str] = []
    evaluator = Evaluator(searcher, gen, sections)
    parsed = parse(gen.parsers, request.q)
    notices.extend(parsed.notices)
    widened = _widen(parsed, gen, evaluator.reader, glossary)
    node, strict_node = widened.node, widened.strict

    if node is None:
        text_bits = gen.visible
    else:
        try:
            text_bits = evaluator.bits(node)
        except RecursionError:  # too deeply nested: the plain words instead
            logger.info("query evaluation fallback for %r", parsed.text, exc_info=True)
            node = strict_node = plain_words(parsed.text)
            widened = Widened(node, node)
            text_bits = evaluator.bits(node)
        if node == NONE and not notices:
            notices.append(
                "Votre recherche ne contient que des mots trop courants ou des "
                "signes : précisez-la."
            )

    facet_filters: dict[str, int] = {}
    for facet, values in request.filters.items():
        allowed = 0
        for value in values:
            allowed |= gen.facet_bits[facet].get(value, 0)
        facet_filters[facet] = allowed
    year_bits = None
    if request.year_min is not None or request.year_max is not None:
        year_bits = gen.year_range(request.year_min, request.year_max)

    def restrict(bits: int, skip: str | None) -> int:
        for facet, allowed in facet_filters.items():
            if facet != skip:
                bits &= allowed
        if year_bits is not None and skip != YEAR_FACET:
            bits &= year_bits
        return bits

    matched = restrict(text_bits, None)
    total = matched.bit_count()

    if not total and node not in (None, NONE) and not widened.prefixed:
        # Nothing found: the last word may be the start of a longer one although it is a
        # word itself ("micro-fer": "fer" is a word, "ferme" was meant).
        started = _widen(parsed, gen, evaluator.reader, glossary, force_prefix=True)
        if started.prefixed and started.node is not None:
            started_bits = evaluator.bits(started.node)
            if restrict(started_bits, None):
                widened, text_bits = started, started_bits
                node, strict_node = started.node, started.strict
                matched = restrict(text_bits, None)
                total = matched.bit_count()

    if not total and (widened.corrected or widened.prefixed):
        # Nothing found even so (a section or a filter rules the corrections out): no word
        # about corrections; what the glossary added is still said.
        kept = [n for n in widened.notices if n.startswith(GLOSSARY_NOTICE)]
        widened = dataclasses.replace(
            widened,
            notices=kept,
            exact=widened.exact if kept else None,
            corrected=False,
            prefixed=False,
            added=frozenset(),
        )

    suggestion = None
    if node is not None and total < SUGGEST_BELOW and not widened.corrected:
        suggestion = suggest(
            searcher.reader(), parsed.text, total, _counter(gen, evaluator, restrict)
        )

    all_words = 0  # when fiches holding only some of the words are added: those with all
    if (
        total < SUGGEST_BELOW
        and node not in (None, NONE)
        and is_plain_words(parsed.text)
        and (not total or len(set(positive_stems(parsed.node or NONE))) >= SOFT_AND_WORDS)
    ):
        # No fiche holds every word, or few do and the query is long (a question): also
        # those that hold some, after those that hold all, by relevance (BM25 sums over
        # the words a fiche holds, the rare ones counting most).
        all_words = matched
        or_parsed = parse(gen.parsers, parsed.text, group="or")
        if or_parsed.node is not None:
            or_widened = _widen(or_parsed, gen, evaluator.reader, glossary)
            or_node = or_widened.node
            or_text_bits = evaluator.bits(or_node) if or_node else 0
            or_matched = restrict(or_text_bits, None)
            if or_matched.bit_count() > total and or_node is not None:
                notices.append(
                    "Aucune fiche ne contient tous vos mots : voici celles qui en "
                    "contiennent au moins un."
                    if not total
                    else "Peu de fiches contiennent tous vos mots : les suivantes en "
                    "contiennent une partie."
                )
                widened, text_bits, matched = or_widened, or_text_bits, or_matched
                node, strict_node = or_node, or_widened.strict
                total = matched.bit_count()
    notices.extend(widened.notices)

    counts = facet_counts(gen, text_bits, restrict, matched, facet_filters, year_bits)
    typed_total = None
    if widened.corrected and widened.strict is not None:
        typed_total = restrict(evaluator.bits(widened.strict), None).bit_count()

    stems = list(dict.fromkeys(positive_stems(node))) if node else []
    sort = request.sort or ("relevance" if node is not None else "recent")
    start = (request.page - 1) * request.page_size
    end = start + request.page_size
    ranked: list[tuple[int, float | None]] = []
    if start < total:
        if sort == "relevance" and stems:
            first = 0
            if strict_node is not None and strict_node != node:
                first = evaluator.bits(strict_node) & matched
            if all_words:
                first = all_words
            ranked = by_relevance(gen, evaluator.reader, stems, matched, end, first)[start:end]
        else:
            order = "title" if sort == "title" else "recent"
            ranked = [(d, None) for d in by_order(gen, order, matched, end)[start:end]]

    cards = hits(searcher, gen, ranked, stems, body_text, sections=sections)
    if widened.added:  # "Résultats pour « épicerie »", as the fiches write it
        marked = [text for card in cards for text in card.highlights.values()]
        notices = with_accents(notices, widened.added, marked)
    return Core(
        hits=cards,
        total=total,
        counts=counts,
        suggestion=suggestion,
        notices=notices,
        exact_query=widened.exact,
        typed_total=typed_total,
    )


def _widen(
    parsed: Parsed,
    gen: Generation,
    reader: Any,
    glossary: Glossary | None,
    *,
    force_prefix: bool = False,
) -> Widened:
    """`expand.widen`, or the query as typed if widening fails (it is a help, not a need)."""
    try:
        return widen(parsed, gen, reader, glossary, force_prefix=force_prefix)
    except Exception:  # e.g. an odd word the edit distance cannot take: search as typed
        logger.warning("query widening failed for %r", parsed.text, exc_info=True)
        return Widened(parsed.node, parsed.node)


def _counter(
    gen: Generation, evaluator: Evaluator, restrict: Callable[[int, str | None], int]
) -> Callable[[str], int]:
    """How many fiches a query text finds with the request's filters (for suggestions)."""

    def count(text: str) -> int:
        parsed = parse(gen.parsers, text)
        if parsed.node is None:
            return 0
        try:
            return restrict(evaluator.bits(parsed.node), None).bit_count()
        except RecursionError:  # too deeply nested to check: no suggestion
            logger.debug("suggestion check failed", exc_info=True)
            return 0

    return count


def index_journal_id(searcher: Any) -> int | None:
    """Return the `journal_id` of the index's bookkeeping document, or None."""
    try:
        fields = searcher.document(slug=META_SLUG)
    except Exception:  # no index, or not a searcher: there is no journal id to read
        logger.debug("no meta document", exc_info=True)
        return None
    value = fields.get("journal_id") if fields else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
