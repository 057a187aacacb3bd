"""Search-as-you-type suggestions (`GET /api/suggest`): fiche titles, glossary terms, facets.

A typed text matches a title, a glossary entry or a facet value when every typed word is the
start of one of its words, accents and case ignored ("lave" finds "Une laverie solidaire…";
"jard part" finds "Les jardins partagés…"). Stop words typed among other words are ignored.

Fiche titles come from the index's published fiches (the documents the library shows), read
once per segment from the stored fields and kept across generations like `segments.py`: a
journal commit reads only its new small segment; a merge, which changes no content, keeps
the titles already read. For each segment the significant title words and the titles'
beginnings are kept in sorted lists, so a word start is two bisections; the titles holding
the typed word starts are only gathered when fewer than ten begin with the typed words. The
sync thread builds a new generation's titles right after its search caches (`warm_up`), so
no request waits for them (measured at 10,000 fiches: see `bench/suggest.py`).

Ranking: titles that begin with the typed words first, then featured fiches, then the most
recently published. At most `MAX_SUGGESTIONS` suggestions, fiches first (a glossary term
typed in full comes before them), then facet values, then other glossary terms.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

from resource_centre.glossary import EMPTY as EMPTY_GLOSSARY
from resource_centre.glossary import Glossary
from resource_centre.search import caches, segments
from resource_centre.search.analysis import french_stop_words
from resource_centre.search.bitsets import from_bits
from resource_centre.taxonomy import FACET_LABELS, SLUG_FACETS

logger = logging.getLogger(__name__)

MAX_SUGGESTIONS = 10
MAX_QUERY_CHARS = 100  # longer input is cut (a title is rarely longer)
MIN_QUERY_CHARS = 2  # fewer letters and digits: no suggestion
MAX_WORDS = 8
MAX_TERMS = 2  # glossary entries among the suggestions (unless slots are left)
MAX_FACETS = 2  # facet values among the suggestions (unless slots are left)

STOP_WORDS = french_stop_words()
_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae"})
_LAST = "\U0010ffff"  # after every word: [prefix, prefix + _LAST) holds the words it starts

Kind = Literal["fiche", "term", "facet"]


@dataclass(frozen=True)
class Suggestion:
    """One suggestion; the web layer makes its URL.

    `fiche`: `slug` is the fiche's; `term`: `query` is the text to search; `facet`: `facet`
    and `slug` name the value to filter by.
    """

    label: str
    type: Kind
    slug: str = ""
    query: str = ""
    facet: str = ""

    @property
    def query_string(self) -> str:
        """The library's query string a term or a facet value leads to."""
        return urlencode({self.facet: self.slug} if self.facet else {"q": self.query})


def fold_words(text: str) -> list[str]:
    """The words of a text, lower-cased, accents and ligatures removed: `Cœur` → `coeur`
    (as `taxonomy.fold`, with a regular expression: titles are folded by the thousand)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return _WORD.findall(_COMBINING.sub("", decomposed).casefold())


def significant(words: Iterable[str]) -> tuple[str, ...]:
    """The words that are not stop words, each once, in order."""
    return tuple(dict.fromkeys(w for w in words if w not in STOP_WORDS))


def clean_query(text: object) -> str:
    """The typed text, bounded: control characters dropped, spaces trimmed, 100 characters."""
    if not isinstance(text, str):
        return ""
    return _CONTROL.sub(" ", text[: MAX_QUERY_CHARS * 4])[:MAX_QUERY_CHARS].strip()


@dataclass(frozen=True)
class Typed:
    """What was typed, as matched: `words` all of them (the last one a word start),
    `needed` the words every match must start (stop words left out unless alone)."""

    words: tuple[str, ...]
    needed: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Typed | None:
        words = tuple(fold_words(clean_query(text))[:MAX_WORDS])
        if sum(len(w) for w in words) < MIN_QUERY_CHARS:
            return None
        needed = tuple(dict.fromkeys(w for w in words if w not in STOP_WORDS)) or words[-1:]
        return cls(words, needed)

    def tier(self, all_words: Sequence[str], words: Sequence[str]) -> int:
        """0: the text begins with the typed words; 1: its significant words begin with
        the typed ones; 2: the typed words are elsewhere in it."""
        if _starts(all_words, self.words):
            return 0
        if _starts(words, self.needed):
            return 1
        return 2

    def matches(self, words: Sequence[str]) -> bool:
        return all(any(w.startswith(t) for w in words) for t in self.needed)


def _starts(words: Sequence[str], typed: Sequence[str]) -> bool:
    """Whether `words` begins with `typed`, the last typed word a word start."""
    if not typed or len(words) < len(typed):
        return False
    last = len(typed) - 1
    for i, t in enumerate(typed):
        if (i < last and words[i] != t) or (i == last and not words[i].startswith(t)):
            return False
    return True


# --- Fiche titles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Title:
    """A published fiche as suggestions show it."""

    slug: str
    title: str
    regie: str
    all_words: tuple[str, ...]  # every word of the title, folded
    words: tuple[str, ...]  # its significant words
    order: tuple[int, int, str, str]  # featured first, then newest, then title and slug


class SegmentTitles:
    """The titles of one segment's published fiches, with what finds them by bisection: their
    words, their whole text and their significant words' text, each in a sorted list."""

    def __init__(self, local: list[int], titles: list[Title]) -> None:
        self.local = local  # each title's document number in the segment
        self.titles = titles
        self.words, self.owners = _sorted_keys(
            (w, i) for i, t in enumerate(titles) for w in t.words
        )
        # Titles that begin with the typed words (tier 0), or whose significant words do (1).
        self.starts = [
            _sorted_keys((" ".join(t.all_words), i) for i, t in enumerate(titles)),
            _sorted_keys((" ".join(t.words), i) for i, t in enumerate(titles)),
        ]
        # Each title's place in the order of suggestions (featured, newest, title).
        self.position = [0] * len(titles)
        for place, index in enumerate(sorted(range(len(titles)), key=lambda i: titles[i].order)):
            self.position[index] = place

    def span(self, prefix: str) -> tuple[int, int]:
        return _span(self.words, prefix)

    def best(
        self,
        typed: Typed,
        spans: list[tuple[int, int]],
        hidden: frozenset[int] | None,
        limit: int,
    ) -> list[tuple[int, Title]]:
        """This segment's best `limit` titles for the typed words, with their tier.

        Titles that begin with the typed words come first, found by bisection; only when
        they are fewer than `limit` are the titles holding every typed word start read
        (`spans`: where each lies in the sorted words, the rarest first).
        """
        found: list[tuple[int, Title]] = []
        taken: set[int] = set()
        rank = self.position.__getitem__
        for tier, ((keys, owners), text) in enumerate(
            zip(self.starts, (" ".join(typed.words), " ".join(typed.needed)), strict=True)
        ):
            lo, hi = _span(keys, text)
            fresh = {i for i in owners[lo:hi] if i not in taken and not (hidden and i in hidden)}
            for index in heapq.nsmallest(limit - len(found), fresh, key=rank):
                found.append((tier, self.titles[index]))
                taken.add(index)
            if len(found) >= limit:
                return found
        (lo, hi), *others = spans
        fresh = set(self.owners[lo:hi]).difference(taken)
        for lo, hi in others:
            if fresh:
                fresh.intersection_update(self.owners[lo:hi])
        if hidden:
            fresh.difference_update(hidden)
        chosen = heapq.nsmallest(limit - len(found), fresh, key=rank)
        found.extend((2, self.titles[i]) for i in chosen)
        return found


def _sorted_keys(pairs: Iterable[tuple[str, int]]) -> tuple[list[str], list[int]]:
    ordered = sorted(pairs)
    return [key for key, _ in ordered], [index for _, index in ordered]


def _span(keys: list[str], prefix: str) -> tuple[int, int]:
    """Where the keys that start with `prefix` lie in a sorted list."""
    return bisect.bisect_left(keys, prefix), bisect.bisect_left(keys, prefix + _LAST)


def _timestamp(value: object) -> int:
    return int(value.timestamp()) if isinstance(value, datetime) else 0


def read_titles(leaf: Any) -> SegmentTitles:
    """Read the titles of a segment's published fiches from the stored fields."""
    local: list[int] = []
    titles: list[Title] = []
    for docnum in from_bits(segments.facts_of(leaf).shown):
        fields = leaf.stored_fields(docnum)
        slug, title = fields.get("slug"), fields.get("title")
        if not isinstance(slug, str) or not isinstance(title, str) or not title.strip():
            continue
        all_words = tuple(fold_words(title))
        regie = fields.get("regie_name")
        local.append(docnum)
        titles.append(
            Title(
                slug=slug,
                title=" ".join(title.split()),
                regie=regie if isinstance(regie, str) else "",
                all_words=all_words,
                words=significant(all_words),
                order=(
                    0 if fields.get("featured") else 1,
                    -_timestamp(fields.get("published_at")),
                    " ".join(all_words),
                    slug,
                ),
            )
        )
    return SegmentTitles(local, titles)


_SEGMENTS: OrderedDict[tuple[Any, ...], SegmentTitles] = OrderedDict()
_SEGMENTS_KEPT = 256
_LOCK = threading.Lock()


def segment_titles(leaf: Any) -> SegmentTitles:
    """A segment's titles, read on first use and remembered (segments never change)."""
    key = segments.segment_key(leaf)
    if key is not None:
        with _LOCK:
            found = _SEGMENTS.get(key)
            if found is not None:
                _SEGMENTS.move_to_end(key)
                return found
    titles = read_titles(leaf)
    if key is not None:
        with _LOCK:
            _SEGMENTS[key] = titles
            while len(_SEGMENTS) > _SEGMENTS_KEPT:
                _SEGMENTS.popitem(last=False)
    return titles


class Titles:
    """The published titles of one index generation: each segment's, minus its deletions."""

    def __init__(self, parts: list[tuple[SegmentTitles, frozenset[int]]]) -> None:
        self.parts = [
            (part, frozenset(i for i, d in enumerate(part.local) if d in gone) if gone else None)
            for part, gone in parts
        ]

    @classmethod
    def read(cls, reader: Any) -> Titles:
        return cls(
            [
                (segment_titles(leaf), frozenset(segments.deleted(leaf)))
                for leaf, _ in reader.leaf_readers()
            ]
        )

    def find(self, typed: Typed, limit: int) -> list[Title]:
        """The best `limit` titles holding every needed word start."""
        needed = sorted(set(typed.needed))
        spans = [[part.span(t) for t in needed] for part, _ in self.parts]
        # The rarest word start first: its titles are the candidates.
        sizes = [
            sum(part_spans[k][1] - part_spans[k][0] for part_spans in spans)
            for k in range(len(needed))
        ]
        order = sorted(range(len(needed)), key=sizes.__getitem__)
        ranked = [
            (tier, title.order, title)
            for (part, hidden), part_spans in zip(self.parts, spans, strict=True)
            for tier, title in part.best(typed, [part_spans[k] for k in order], hidden, limit)
        ]
        best = heapq.nsmallest(limit, ranked, key=lambda item: (item[0], item[1]))
        return [title for _, _, title in best]


_TITLES: OrderedDict[tuple[Any, ...], tuple[Any, Titles]] = OrderedDict()
_TITLES_KEPT = 3
_BUILDING = threading.Lock()


def titles_of(searcher: Any) -> Titles:
    """The titles of the searcher's generation (built on first use, usually by `warm_up`).

    A new generation with the same content as the latest one (an idle merge, a rebuild)
    takes its titles over: they hold no document numbers.
    """
    key = caches.generation_key(searcher)
    with _LOCK:
        found = _TITLES.get(key)
        if found is not None:
            _TITLES.move_to_end(key)
            return found[1]
    with _BUILDING:  # one thread reads a new generation's titles; the others wait for them
        return _build_titles(searcher, key)


def _build_titles(searcher: Any, key: tuple[Any, ...]) -> Titles:
    with _LOCK:
        found = _TITLES.get(key)
        if found is not None:
            return found[1]
        latest = next(reversed(_TITLES.values()), None)
    content = caches.generation(searcher).content
    if latest is not None and content is not None and latest[0] == content:
        titles = latest[1]
    else:
        titles = Titles.read(searcher.reader())
    with _LOCK:
        _TITLES[key] = (content, titles)
        _TITLES.move_to_end(key)
        while len(_TITLES) > _TITLES_KEPT:
            _TITLES.popitem(last=False)
    return titles


def warm_up(searcher: Any) -> None:
    """Read a new generation's titles now (the sync thread, after its search caches)."""
    titles_of(searcher)


def forget() -> None:
    """Forget every title read (tests; the next suggestion reads them again)."""
    with _LOCK:
        _SEGMENTS.clear()
        _TITLES.clear()


# --- Glossary terms and facet values ---------------------------------------------------------


@dataclass(frozen=True)
class _Named:
    """A glossary form or a facet value, with its words."""

    label: str
    all_words: tuple[str, ...]
    words: tuple[str, ...]
    rank: int  # glossary: entry position; facet: minus its number of fiches
    target: str  # glossary: the text to search; facet: the value's slug
    facet: str = ""
    acronym: bool = False


def _named(
    label: str, text: str, rank: int, target: str, facet: str = "", acronym: bool = False
) -> _Named:
    all_words = tuple(fold_words(text))
    words = significant(all_words) or all_words
    return _Named(label, all_words, words, rank, target, facet, acronym)


def _glossary_forms(glossary: Glossary) -> list[_Named]:
    """Every way to name a glossary entry: the acronym (with its long forms) or a word of
    a synonyms group (with the others)."""
    forms: list[_Named] = []
    for position, item in enumerate(glossary.items):
        term = " ".join(item.term.split())
        expansions = [" ".join(e.split()) for e in item.expansions if e.strip()]
        if not term:
            continue
        if item.kind == "acronym":
            label = f"{term} : {' ; '.join(expansions)}" if expansions else term
            forms.append(_named(label, term, position, term, acronym=True))
            forms.extend(_named(label, e, position, term) for e in expansions)
            continue
        group = list(dict.fromkeys([term, *expansions]))
        for word in group:
            others = [w for w in group if w != word]
            label = f"{word} ({', '.join(others)})" if others else word
            forms.append(_named(label, word, position, word))
    return forms


def glossary_of(search: object) -> Glossary:
    """The glossary a search service uses (`SearchService.glossary()`); none when it has
    none or cannot read it: the other suggestions go on."""
    reader = getattr(search, "glossary", None)
    if not callable(reader):
        return EMPTY_GLOSSARY
    try:
        found = reader()
    except Exception:  # terms are one part of the suggestions only
        logger.warning("glossary unavailable for suggestions", exc_info=True)
        return EMPTY_GLOSSARY
    return found if isinstance(found, Glossary) else EMPTY_GLOSSARY


_GLOSSARY: dict[str, list[_Named]] = {}


def glossary_forms(glossary: Glossary) -> list[_Named]:
    """The glossary's forms, folded once per glossary version."""
    key = glossary.version or repr(glossary.items)
    found = _GLOSSARY.get(key)
    if found is None:
        found = _glossary_forms(glossary)
        _GLOSSARY.clear()
        _GLOSSARY[key] = found
    return found


def find_terms(typed: Typed, glossary: Glossary, limit: int) -> tuple[list[_Named], bool]:
    """The best glossary forms, one per entry; True if the first is an acronym typed in full."""
    best: dict[int, tuple[tuple[int, int], _Named]] = {}
    for form in glossary_forms(glossary):
        if not typed.matches(form.words):
            continue
        exact = form.acronym and form.all_words == typed.words
        key = (-1 if exact else typed.tier(form.all_words, form.words), form.rank)
        if form.rank not in best or key < best[form.rank][0]:
            best[form.rank] = (key, form)
    ranked = sorted(best.values(), key=lambda item: item[0])[:limit]
    return [form for _, form in ranked], bool(ranked) and ranked[0][0][0] == -1


_FACETS: list[tuple[tuple[Any, ...], Any, list[_Named]]] = []


def facet_values(labels: Mapping[str, Mapping[str, str]], gen: caches.Generation) -> list[_Named]:
    """The facet values with published fiches, with their labels (as the library names
    them: "Activité : Laverie solidaire"); computed again when the labels or the index
    generation change."""
    key = (id(labels), id(gen))
    if _FACETS and _FACETS[0][0] == key:
        return _FACETS[0][2]
    values: list[_Named] = []
    for facet in SLUG_FACETS:
        names = labels.get(facet, {})
        for slug, bits in gen.facet_bits.get(facet, {}).items():
            name = names.get(slug) or (gen.regie_names.get(slug) if facet == "regie" else None)
            if not name:
                continue
            label = f"{FACET_LABELS.get(facet, facet)} : {name}"
            values.append(_named(label, name, -bits.bit_count(), slug, facet))
    _FACETS[:] = [(key, (labels, gen), values)]  # the objects are kept: their ids stay theirs
    return values


def find_facets(typed: Typed, values: list[_Named], limit: int) -> list[_Named]:
    ranked = [
        (typed.tier(v.all_words, v.words), v.rank, v.label, v)
        for v in values
        if typed.matches(v.words)
    ]
    return [v for *_, v in heapq.nsmallest(limit, ranked, key=lambda item: item[:3])]


# --- Putting them together -------------------------------------------------------------------


def suggest(
    searcher: Any,
    text: str,
    *,
    labels: Mapping[str, Mapping[str, str]],
    glossary: Glossary,
    limit: int = MAX_SUGGESTIONS,
) -> list[Suggestion]:
    """At most `limit` suggestions for a typed text (none for fewer than two letters)."""
    typed = Typed.of(text)
    if typed is None or limit <= 0:
        return []
    titles = titles_of(searcher).find(typed, limit)
    terms, exact = find_terms(typed, glossary, limit)
    facets = find_facets(typed, facet_values(labels, caches.generation(searcher)), limit)
    # Slots: fiches first, but up to two facet values and two terms when there are some.
    n_terms, n_facets = min(len(terms), MAX_TERMS), min(len(facets), MAX_FACETS)
    n_titles = min(len(titles), limit - n_terms - n_facets)
    spare = limit - n_titles - n_terms - n_facets
    n_facets += (more := min(spare, len(facets) - n_facets))
    n_terms += min(spare - more, len(terms) - n_terms)
    found = [_title_suggestion(t, titles[:n_titles]) for t in titles[:n_titles]]
    found += [Suggestion(v.label, "facet", slug=v.target, facet=v.facet) for v in facets[:n_facets]]
    term_suggestions = [Suggestion(t.label, "term", query=t.target) for t in terms[:n_terms]]
    if exact:  # an acronym typed in full: its meaning first
        return [term_suggestions[0], *found, *term_suggestions[1:]]
    return found + term_suggestions


def _title_suggestion(title: Title, shown: list[Title]) -> Suggestion:
    """A fiche's suggestion; the Régie tells apart fiches of the same title."""
    same = sum(1 for t in shown if t.title == title.title)
    label = f"{title.title} ({title.regie})" if same > 1 and title.regie else title.title
    return Suggestion(label, "fiche", slug=title.slug)
