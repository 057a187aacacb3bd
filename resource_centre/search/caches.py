"""Per index generation caches: what every search of that generation shares.

A generation is identified by its content (TOC generation, segment ids and deletions), so
the searchers of all threads share it and a commit starts a new one. `Generation` caches the
visible documents, one bitset per facet value and per start year, the sort orders, the BM25
length norms, the terms read so far (bitset + BM25F score per document, within a size
budget) and LRUs of results and related fiches; the last three generations are kept.
Building a generation's caches first checks the fast index readers (`fastread.self_check`).
What each segment holds is read once and kept across generations (`segments.py`): after a
journal commit only the new segment is read, and the rest is put together in milliseconds.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, TypeVar

from whoosh import qparser
from whoosh.qparser import syntax
from whoosh.reading import TermNotFound

from resource_centre.search import fastread, lexicon, segments
from resource_centre.search.analysis import french_stop_words
from resource_centre.search.bitsets import from_bits, to_bits
from resource_centre.search.phrases import common_prefix, verify_phrase
from resource_centre.search.request import FACETS
from resource_centre.search.results import Hit
from resource_centre.search.schema import META_SLUG, PHRASE_FIELD, TEXT_FIELDS, meta_schema_version
from resource_centre.search.textquery import make_parser, stem

logger = logging.getLogger(__name__)

BM25_B = 0.75  # Whoosh's BM25F defaults
BM25_K1 = 1.2
STOP_WORDS = french_stop_words()
V = TypeVar("V")

RESULT_CACHE_SIZE = 1024  # about 50 KB each at 10,000 fiches (hits with highlights, counts)
_YEAR_RANGE_CACHE_SIZE = 32
_INSERT_AT_MOST = 64  # new documents put in the sort orders one by one; more: sorted again
_TERM_CACHE_BUDGET = 1_000_000  # postings kept in cached terms, per generation (~100 MB max)
SECTIONS_FIELD = "sections"  # `section:stem` keywords: which section of a fiche holds a stem
_VARIANTS_CACHE_SIZE = 4096


@dataclass
class Term:
    """A stem's matching documents and their BM25F score (summed over the text fields)."""

    bits: int
    scores: dict[int, float]


@dataclass
class Core:
    """The label-free part of a result, as cached."""

    hits: list[Hit]
    total: int
    counts: dict[str, list[tuple[str, int]]]
    suggestion: str | None
    notices: list[str]
    exact_query: str | None = None
    typed_total: int | None = None


class _Norms(dict[str, list[float]]):
    """BM25 length norms per text field, computed the first time a search needs them."""

    def __init__(self, lengths: dict[str, list[int]], averages: dict[str, float]) -> None:
        super().__init__()
        self.lengths, self.averages = lengths, averages

    def __missing__(self, name: str) -> list[float]:
        factor = BM25_K1 * BM25_B / self.averages[name]
        constant = BM25_K1 * (1 - BM25_B)
        norms = [constant + factor * n for n in self.lengths[name]]
        self[name] = norms
        return norms


class _Ranks(dict[str, list[int]]):
    """Each document's position in a sort order, computed on first use."""

    def __init__(self, order: dict[str, list[int]], size: int) -> None:
        super().__init__()
        self.order, self.size = order, size

    def __missing__(self, name: str) -> list[int]:
        rank = [self.size] * self.size
        for position, docnum in enumerate(self.order[name]):
            rank[docnum] = position
        self[name] = rank
        return rank


@dataclass
class _Gathered:
    """The facts of some segments, their deletions applied, numbered globally."""

    visible: int
    facet_bits: dict[str, dict[str, int]]
    year_start: dict[int, int]
    year_end: dict[int, int]
    published_at: dict[int, int]
    title_sort: dict[int, str]
    lengths: dict[str, list[int]]


def _gather(leaves: list[tuple[Any, int, frozenset[int]]]) -> _Gathered:
    """Put together the facts of segments (leaf reader, offset, deleted local numbers)."""
    found = _Gathered(
        visible=0,
        facet_bits={facet: {} for facet in FACETS},
        year_start={},
        year_end={},
        published_at={},
        title_sort={},
        lengths={f: [] for f in TEXT_FIELDS},
    )
    for leaf, offset, gone in leaves:
        facts = segments.facts_of(leaf)
        live = facts.shown & ~to_bits(gone, facts.count) if gone else facts.shown
        found.visible |= live << offset
        for facet, values in facts.facets.items():
            merged = found.facet_bits[facet]
            for value, bits in values.items():
                if here := bits & live:
                    merged[value] = merged.get(value, 0) | here << offset
        found.year_start.update(_shifted(facts.year_start, offset, gone))
        found.year_end.update(_shifted(facts.year_end, offset, gone))
        found.published_at.update(_shifted(facts.published_at, offset, gone))
        found.title_sort.update(_shifted(facts.title_sort, offset, gone))
        for name in TEXT_FIELDS:
            found.lengths[name].extend(facts.lengths[name])
    return found


def _year_bits(year_start: dict[int, int], size: int) -> dict[int, int]:
    years: dict[int, list[int]] = {}
    for docnum, year in year_start.items():
        years.setdefault(year, []).append(docnum)
    return {year: to_bits(docs, size) for year, docs in sorted(years.items())}


class Generation:
    """What is computed once per index generation (one IndexReader object).

    After a journal commit the index holds the same segments plus new ones, and some
    documents of the old segments are deleted. Given the generation before (`previous`),
    only the new segments are read and the deletions are taken out of what it computed,
    which at 100,000 fiches takes milliseconds instead of a second. The result is the
    same as a build from scratch (tested); after a merge it is built from scratch.
    """

    def __init__(self, searcher: Any, previous: Generation | None = None) -> None:
        reader = searcher.reader()
        self.lock = threading.Lock()
        self.size = size = reader.doc_count_all()
        self.doc_count = reader.doc_count()
        leaves = [
            (leaf, offset, segments.segment_key(leaf), frozenset(segments.deleted(leaf)))
            for leaf, offset in reader.leaf_readers()
        ]
        # Where each segment sits and what it has lost: what the next generation compares.
        self.layout = tuple((key, offset) for _, offset, key, _ in leaves)
        self.gone = {key: gone for _, _, key, gone in leaves}
        self.offsets = [offset for _, offset, _, _ in leaves]
        self.segment_facts = [segments.facts_of(leaf) for leaf, _, _, _ in leaves]
        old = len(previous.layout) if previous is not None else 0
        if (
            previous is None
            or None in self.layout
            or self.layout[:old] != previous.layout
            or any(not previous.gone[key] <= self.gone[key] for key, _ in previous.layout)
        ):
            self._build(searcher, _gather([(lf, o, g) for lf, o, _, g in leaves]))
        else:
            removed = [
                offset + d
                for key, offset in previous.layout
                if len(self.gone[key]) != len(previous.gone[key])
                for d in self.gone[key] - previous.gone[key]
            ]
            added = _gather([(lf, o, g) for lf, o, _, g in leaves[old:]])
            self._extend(searcher, previous, removed, added)
        self.visible_count = self.visible.bit_count()
        # The latest segment holding a fiche of a Régie gives its name (names can change).
        self.regie_names: dict[str, str] = {}
        for slug, bits in self.facet_bits.get("regie", {}).items():
            index = bisect.bisect_right(self.offsets, bits.bit_length() - 1) - 1
            name = self.segment_facts[index].regie_names.get(slug)
            if name:
                self.regie_names[slug] = name
        self.rank: dict[str, list[int]] = _Ranks(self.order, size)
        # What the index holds: every commit that changes fiches also stores the id of the
        # journal entry applied last (indexer), so two generations with the same id, schema
        # version and document count (an idle merge, a rebuild) answer alike.
        meta = searcher.document(slug=META_SLUG)
        journal_id = meta.get("journal_id") if meta else None
        self.content = (
            (journal_id, meta_schema_version(meta), self.doc_count)
            if journal_id is not None
            else None
        )
        self.results: OrderedDict[tuple[Any, ...], Core] = OrderedDict()
        self.related: OrderedDict[tuple[str, int], list[Hit]] = OrderedDict()
        self.year_ranges: OrderedDict[tuple[int | None, int | None], int] = OrderedDict()
        self.terms: OrderedDict[tuple[str, Any], Term] = OrderedDict()
        self.terms_size = 0
        self._lexicons: list[lexicon.SegmentWords] | None = None
        self._variants: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def _averages(self, searcher: Any) -> dict[str, float]:
        return {f: (searcher.avg_field_length(f, 0) or 1.0) for f in TEXT_FIELDS}

    def _build(self, searcher: Any, found: _Gathered) -> None:
        """Everything from the facts of every segment."""
        self.visible = found.visible
        self.facet_bits = {f: dict(sorted(v.items())) for f, v in found.facet_bits.items()}
        self.year_start, self.year_end = found.year_start, found.year_end
        self.published_at, self.title_sort = found.published_at, found.title_sort
        self.lengths = found.lengths
        self.norms: dict[str, list[float]] = _Norms(self.lengths, self._averages(searcher))
        self.year_bits = _year_bits(self.year_start, self.size)
        visible_docs = from_bits(self.visible)  # increasing document numbers
        self.order: dict[str, list[int]] = {
            name: sorted(visible_docs, key=key) for name, key in self._sort_keys().items()
        }
        self.parsers: dict[str, qparser.QueryParser] = {
            "and": make_parser(searcher.schema, syntax.AndGroup),
            "or": make_parser(searcher.schema, syntax.OrGroup),
        }

    def _extend(
        self, searcher: Any, previous: Generation, removed: list[int], added: _Gathered
    ) -> None:
        """The previous generation's facts without `removed`, with the new segments'."""
        keep = ~to_bits(removed, self.size) if removed else -1
        self.visible = previous.visible & keep | added.visible
        self.facet_bits = {}
        for facet, values in previous.facet_bits.items():
            merged = (
                {v: b for v, bits in values.items() if (b := bits & keep)}
                if removed
                else dict(values)
            )
            new_values = added.facet_bits[facet]
            for value, bits in new_values.items():
                merged[value] = merged.get(value, 0) | bits
            self.facet_bits[facet] = dict(sorted(merged.items())) if new_values else merged
        gone = set(removed)

        def updated(before: dict[int, V], new: dict[int, V]) -> dict[int, V]:
            after = dict(before)
            for d in gone.intersection(after):
                del after[d]
            after.update(new)
            return after

        self.year_start = updated(previous.year_start, added.year_start)
        self.year_end = updated(previous.year_end, added.year_end)
        self.published_at = updated(previous.published_at, added.published_at)
        self.title_sort = updated(previous.title_sort, added.title_sort)
        self.lengths = {f: previous.lengths[f] + added.lengths[f] for f in TEXT_FIELDS}
        self.norms = _Norms(self.lengths, self._averages(searcher))
        self.year_bits = {}
        for year, bits in previous.year_bits.items():
            if here := bits & keep:
                self.year_bits[year] = here
        for year, bits in _year_bits(added.year_start, self.size).items():
            self.year_bits[year] = self.year_bits.get(year, 0) | bits
        self.year_bits = dict(sorted(self.year_bits.items()))
        new_docs = from_bits(added.visible)
        self.order = {}
        for name, key in self._sort_keys().items():
            before = previous.order[name]
            kept = [d for d in before if d not in gone] if gone else list(before)
            if len(new_docs) <= _INSERT_AT_MOST:
                for docnum in new_docs:
                    bisect.insort(kept, docnum, key=key)
                self.order[name] = kept
            else:
                self.order[name] = sorted(kept + new_docs, key=key)
        self.parsers = previous.parsers  # same schema version: the same parsers

    def _sort_keys(self) -> dict[str, Callable[[int], Any]]:
        """The sort orders' keys; the document number breaks ties (oldest first)."""
        dates, titles = self.published_at.get, self.title_sort.get
        return {
            "recent": lambda d: (-dates(d, -1), titles(d, ""), d),
            "title": lambda d: (titles(d, ""), d),
        }

    @functools.cached_property
    def visible_docs(self) -> frozenset[int]:
        """The visible documents as a set (for membership tests)."""
        return frozenset(from_bits(self.visible))

    def adopt(self, previous: Generation) -> None:
        """Take over the results and related fiches of a generation with the same content.

        They hold no document numbers, so they stay right after a merge or a rebuild (the
        cached scores are those computed before; terms, years and orders are read again).
        """
        if self.content is None or self.content != previous.content:
            return
        with previous.lock:
            results, related = OrderedDict(previous.results), OrderedDict(previous.related)
        with self.lock:
            self.results, self.related = results, related

    def _remember(self, key: tuple[str, Any], entry: Term) -> None:
        with self.lock:
            if key in self.terms:
                return
            self.terms[key] = entry
            self.terms_size += len(entry.scores) + 1
            while self.terms_size > _TERM_CACHE_BUDGET and len(self.terms) > 1:
                _, old = self.terms.popitem(last=False)
                self.terms_size -= len(old.scores) + 1

    def _recall(self, key: tuple[str, Any]) -> Term | None:
        with self.lock:
            found = self.terms.get(key)
            if found is not None:
                self.terms.move_to_end(key)
            return found

    def stem(self, reader: Any, text: str) -> Term:
        """Return the visible documents holding a stem in a text field, with their score."""
        key = ("stem", text)
        found = self._recall(key)
        if found is not None:
            return found
        scores: dict[int, float] = {}
        total = self.size or 1
        for name in reversed(TEXT_FIELDS):  # body first: the longest list fills the dict
            try:
                frequency = reader.doc_frequency(name, text)
            except (TermNotFound, KeyError):
                frequency = 0
            if not frequency:
                continue
            k = (math.log(total / (frequency + 1)) + 1) * (BM25_K1 + 1)
            norm = self.norms[name]
            for ids, weights in fastread.read_postings(reader, name, text):
                if not scores:
                    scores = {d: k * w / (w + norm[d]) for d, w in zip(ids, weights, strict=True)}
                    continue
                get = scores.get
                for d, w in zip(ids, weights, strict=True):
                    scores[d] = get(d, 0.0) + k * w / (w + norm[d])
        entry = Term(to_bits(scores, self.size) & self.visible, scores)
        self._remember(key, entry)
        return entry

    def spell_bits(self, reader: Any, word: str) -> int:
        """Return the visible documents holding an exact (folded, unstemmed) word."""
        key = ("word", word)
        found = self._recall(key)
        if found is not None:
            return found.bits
        docs = (d for ids, _ in fastread.read_postings(reader, PHRASE_FIELD, word) for d in ids)
        bits = to_bits(docs, self.size) & self.visible
        self._remember(key, Term(bits, {}))
        return bits

    def section_bits(self, reader: Any, section: str, term: str) -> int:
        """Return the visible documents holding an index term (a stem) in one section."""
        key = ("section", (section, term))
        found = self._recall(key)
        if found is not None:
            return found.bits
        text = f"{section}:{term}"
        docs = (d for ids, _ in fastread.read_postings(reader, SECTIONS_FIELD, text) for d in ids)
        bits = to_bits(docs, self.size) & self.visible
        self._remember(key, Term(bits, {}))
        return bits

    def lexicons(self, reader: Any) -> list[lexicon.SegmentWords]:
        """The words of this generation's segments (read once per segment)."""
        found = self._lexicons
        if found is None:
            found = self._lexicons = lexicon.all_words(reader)
        return found

    def variants(self, reader: Any, word: str) -> tuple[str, ...]:
        """The indexed words with the same stem as a folded word (the word first): a
        phrase's "jardin" also finds "jardins". A stop word has no variant but itself."""
        with self.lock:
            found = self._variants.get(word)
        if found is not None:
            return found
        term = stem(word)
        words = [word]
        if term:
            prefix = common_prefix(word, term)
            if len(prefix) >= 3:
                for candidate in lexicon.starting_with(self.lexicons(reader), prefix):
                    if candidate != word and stem(candidate) == term:
                        words.append(candidate)
        found = tuple(words)
        with self.lock:
            self._variants[word] = found
            while len(self._variants) > _VARIANTS_CACHE_SIZE:
                self._variants.popitem(last=False)
        return found

    def word_bits(self, reader: Any, word: str) -> int:
        """Return the visible documents holding a folded word or one of its `variants`."""
        bits = 0
        for variant in self.variants(reader, word):
            bits |= self.spell_bits(reader, variant)
        return bits

    def phrase(self, reader: Any, words: tuple[str, ...], within: int) -> int:
        """Return the documents of `within` holding a phrase (folded words, on stems).

        Each word also matches the indexed words of the same stem ("jardins partagés"
        finds "jardin partagé"); the words stay in order and adjacent. Stop words inside a
        phrase only keep their place: "régie de quartier" matches "régie", any word,
        "quartier". Only the phrase's words' positions in the candidate documents are read.
        """
        content = [(i, w) for i, w in enumerate(words) if w not in STOP_WORDS]
        if not content:
            content = list(enumerate(words))
        unrestricted = within == self.visible
        key = ("phrase", words)
        if unrestricted:
            found = self._recall(key)
            if found is not None:
                return found.bits
        slots = [(i, self.variants(reader, w)) for i, w in content]
        candidates = within
        for _, forms in slots:
            if not candidates:
                break
            candidates &= self.word_bits(reader, forms[0])
        if len(slots) > 1 and candidates:
            candidates = verify_phrase(reader, slots, from_bits(candidates), self.size)
        if unrestricted:
            self._remember(key, Term(candidates, {}))
        return candidates

    def year_range(self, year_min: int | None, year_max: int | None) -> int:
        """Return the visible documents whose years overlap [year_min, year_max]."""
        key = (year_min, year_max)
        with self.lock:
            found = self.year_ranges.get(key)
        if found is not None:
            return found
        low = year_min if year_min is not None else -(10**9)
        high = year_max if year_max is not None else 10**9
        ends = self.year_end
        bits = to_bits(
            (
                d
                for d, start in self.year_start.items()
                if start <= high and ends.get(d, 10**9) >= low
            ),
            self.size,
        )
        with self.lock:
            self.year_ranges[key] = bits
            while len(self.year_ranges) > _YEAR_RANGE_CACHE_SIZE:
                self.year_ranges.popitem(last=False)
        return bits

    def cached(self, key: tuple[Any, ...]) -> Core | None:
        """Return a cached result, if any."""
        with self.lock:
            found = self.results.get(key)
            if found is not None:
                self.results.move_to_end(key)
            return found

    def store(self, key: tuple[Any, ...], core: Core) -> None:
        """Cache a result (LRU)."""
        with self.lock:
            self.results[key] = core
            while len(self.results) > RESULT_CACHE_SIZE:
                self.results.popitem(last=False)


def _shifted(values: dict[int, V], offset: int, gone: AbstractSet[int]) -> Iterator[tuple[int, V]]:
    """A segment's per-document values, deleted documents left out, numbered globally."""
    if not gone:
        return ((d + offset, v) for d, v in values.items())
    return ((d + offset, v) for d, v in values.items() if d not in gone)


_GENERATIONS: OrderedDict[tuple[Any, ...], Generation] = OrderedDict()
_GENERATIONS_LOCK = threading.Lock()
_BUILDING: dict[tuple[Any, ...], threading.Lock] = {}  # generation key → its builder's lock
_MAX_GENERATIONS = 3  # a process's threads may briefly use different generations


def generation_key(searcher: Any) -> tuple[Any, ...]:
    """Identify an index generation by its content: TOC generation, segments, deletions.

    Segment ids are random per segment, so two index directories never share a key, while
    the searchers of several threads on the same generation share one set of caches.
    """
    reader = searcher.reader()
    segments = reader.segments() or []
    return (
        reader.generation(),
        tuple((segment.segment_id(), segment.deleted_count()) for segment in segments),
        reader.doc_count_all(),
    )


def generation(searcher: Any) -> Generation:
    """Return the caches of the searcher's index generation, building them on first use."""
    key = generation_key(searcher)
    with _GENERATIONS_LOCK:
        found = _GENERATIONS.get(key)
        if found is not None:
            _GENERATIONS.move_to_end(key)
            return found
        building = _BUILDING.setdefault(key, threading.Lock())
    # One thread builds a new generation's caches; the others wait for it rather than
    # each building the same (after a commit, every busy thread would otherwise do it).
    with building:
        with _GENERATIONS_LOCK:
            found = _GENERATIONS.get(key)
        if found is not None:
            return found
        # Check the fast readers on this generation before its caches are read with them.
        if fastread.fast_path_enabled() and not fastread.self_check(searcher.reader()):
            with _GENERATIONS_LOCK:
                _GENERATIONS.clear()  # built with the fast readers, which cannot be trusted
            segments.forget()
        with _GENERATIONS_LOCK:
            latest = next(reversed(_GENERATIONS.values()), None)
        built = Generation(searcher, latest)
        if latest is not None:
            built.adopt(latest)  # an idle merge keeps the results already computed
        with _GENERATIONS_LOCK:  # published before the waiting threads get the lock
            _BUILDING.pop(key, None)
            found = _GENERATIONS.setdefault(key, built)
            _GENERATIONS.move_to_end(key)
            while len(_GENERATIONS) > _MAX_GENERATIONS:
                _GENERATIONS.popitem(last=False)
            return found


def warm_up(searcher: Any) -> Generation:
    """Build the caches of the searcher's index generation now (after start-up or a commit),
    with the words of its segments (for word starts and typos)."""
    gen = generation(searcher)
    gen.lexicons(searcher.reader())
    return gen


def clear_caches() -> None:
    """Forget every cached generation (the next search rebuilds what it needs)."""
    with _GENERATIONS_LOCK:
        _GENERATIONS.clear()
    segments.forget()
    lexicon.forget()
    fastread.forget_checks()
