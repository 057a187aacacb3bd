"""Searching the index: requests, text queries, facets, sorting, highlights, suggestions.

`run()` is given a live Whoosh searcher (opened and refreshed by the indexer) and never
raises. Whoosh parses the query text and reads posting lists; matching, counting and
ranking are done here, because Whoosh's own matchers and collectors are too slow for an
exact total plus facet counts on every query. How it stays fast:

- document sets are Python integers used as bitsets (bit n = document number n): AND, OR,
  NOT and counts (`int.bit_count`) run in C, so the exact total and every facet count cost
  microseconds, even at 100,000 fiches;
- per index generation (identified by its content: TOC generation, segment ids and
  deletions, so the searchers of all threads share it and a commit starts a new one)
  `_Generation` caches the visible documents, one bitset per facet value and per start
  year, the sort orders, the BM25 length norms, the terms read so far (bitset + BM25F
  score per document, within a size budget) and LRUs of results and related fiches; the
  last three generations are kept;
- relevance is BM25F (Whoosh's formula and parameters) over title, summary and body,
  summed over the searched words, computed only for the matching documents.

Text queries: words are ANDed; when a plain list of words (no operator, phrase, group or
exclusion) finds nothing, the words are ORed instead and a notice says so. Quoted phrases
are exact (accents and case ignored, no stemming) and matched on the `spell` field.
"""

from __future__ import annotations

import heapq
import html
import logging
import math
import operator
import pickle
import re
import threading
import unicodedata
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from itertools import accumulate, repeat
from typing import Any

from whoosh import qparser, query
from whoosh.matching.wrappers import FilterMatcher
from whoosh.qparser import syntax
from whoosh.support.levenshtein import distance
from whoosh.util.numeric import byte_to_length

from resource_centre.search.analysis import (
    folding_analyzer,
    french_analyzer,
    french_stop_words,
)
from resource_centre.search.schema import FACET_FIELDS, KIND_FICHE, META_SLUG, TEXT_FIELDS
from resource_centre.taxonomy import FACET_LABELS, fold

logger = logging.getLogger(__name__)

FACETS: tuple[str, ...] = FACET_FIELDS
YEAR_FACET = "year"
SORTS: tuple[str, ...] = ("relevance", "recent", "title")
PUBLISHED = "published"
PHRASE_FIELD = "spell"

MAX_QUERY_CHARS = 200
MAX_GROUP_DEPTH = 4
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 10_000
MAX_VALUES_PER_FACET = 50
YEAR_LOWEST, YEAR_HIGHEST = 1900, 2100
SUGGEST_BELOW = 3  # "did you mean" is tried when the query finds fewer fiches than this

BM25_B = 0.75  # Whoosh's BM25F defaults
BM25_K1 = 1.2

_RESULT_CACHE_SIZE = 256
_YEAR_RANGE_CACHE_SIZE = 32
_TERM_CACHE_BUDGET = 1_000_000  # postings kept in cached terms, per generation (~100 MB max)
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_WORD_RE = re.compile(r"\w+")
_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT", "ET", "OU"})
_MISSING_DATE = 2**64 - 1  # the DATETIME column's value for "no date"
_MISSING_YEAR = 2**31 - 1  # the 32-bit NUMERIC column's value for "no year"

# Reading posting blocks through the matcher's internals is 2–3× faster than one call per
# posting; `_read_postings` checks they exist and falls back to the public API otherwise.
FAST_POSTINGS = True


# --- Public data ---------------------------------------------------------------------------


@dataclass
class SearchRequest:
    """One search: text, facet filters, years, sort and page."""

    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    year_min: int | None = None
    year_max: int | None = None
    sort: str | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FacetValue:
    """One value of a facet with its label and how many results have it."""

    value: str
    label: str
    count: int


@dataclass(frozen=True)
class Hit:
    """One result card: everything a list of fiches shows, from the index's stored fields."""

    slug: str
    title: str
    summary: str
    regie_slug: str | None
    regie_name: str | None
    region: str | None
    themes: list[str]
    activity: str | None
    audiences: list[str]
    schemes: list[str]
    year_start: int | None
    year_end: int | None
    published_at: date | None
    featured: bool
    score: float | None
    highlights: dict[str, str]


@dataclass
class SearchResults:
    """A page of hits with the exact total, facet counts, suggestion and notices."""

    hits: list[Hit]
    total: int
    page: int
    page_size: int
    facets: dict[str, list[FacetValue]]
    suggestion: str | None = None
    notices: list[str] = field(default_factory=list)


# --- Request parsing -----------------------------------------------------------------------


def _shown(value: str, limit: int = 40) -> str:
    """Return a short, printable version of user input for a notice."""
    text = "".join(c for c in value[: limit * 4] if unicodedata.category(c)[0] != "C")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    try:
        getlist = getattr(params, "getlist", None)  # Starlette's QueryParams, MultiDicts
        raw = getlist(name) if callable(getlist) else params.get(name)
    except Exception:
        return []
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    try:
        return [v for v in raw if isinstance(v, str)]
    except TypeError:
        return []


def _parse_int(text: str) -> int | None:
    text = text.strip()
    if not text or len(text) > 12 or not re.fullmatch(r"[+-]?\d+", text, re.ASCII):
        return None
    return int(text)


def request_from_params(
    params: Mapping[str, list[str]], known: Mapping[str, set[str]]
) -> SearchRequest:
    """Build a bounded `SearchRequest` from query-string values; bad values become notices.

    `params` maps each name to its list of values (or is a multi-dict with `getlist`, such
    as Starlette's `request.query_params`); `known` maps each facet to its valid slugs (a
    facet missing from it accepts any well-formed slug).
    """
    notices: list[str] = []
    q_values = _values(params, "q")
    q = q_values[0] if q_values else ""

    filters: dict[str, list[str]] = {}
    for facet in FACETS:
        chosen: list[str] = []
        label = FACET_LABELS.get(facet, facet)
        allowed = known.get(facet)
        for raw in _values(params, facet):
            value = raw.strip().lower()
            if not value or value in chosen:
                continue
            ok = value in allowed if allowed is not None else bool(_SLUG_RE.match(value))
            if not ok:
                notices.append(
                    f"Filtre « {label} » : la valeur « {_shown(raw)} » est "
                    "inconnue, elle est ignorée."
                )
                continue
            if len(chosen) >= MAX_VALUES_PER_FACET:
                notices.append(
                    f"Filtre « {label} » : trop de valeurs, seules les "
                    f"{MAX_VALUES_PER_FACET} premières sont prises en compte."
                )
                break
            chosen.append(value)
        if chosen:
            filters[facet] = chosen

    years: dict[str, int | None] = {}
    for name, what in (("year_min", "L’année de début"), ("year_max", "L’année de fin")):
        values = [v for v in _values(params, name) if v.strip()]
        years[name] = None
        if not values:
            continue
        number = _parse_int(values[0])
        if number is None:
            notices.append(
                f"{what} « {_shown(values[0])} » n’est pas un nombre : elle est ignorée."
            )
        elif not YEAR_LOWEST <= number <= YEAR_HIGHEST:
            notices.append(
                f"{what} {number} est hors de la période {YEAR_LOWEST}–"
                f"{YEAR_HIGHEST} : elle est ignorée."
            )
        else:
            years[name] = number
    year_min, year_max = years["year_min"], years["year_max"]
    if year_min is not None and year_max is not None and year_min > year_max:
        year_min, year_max = year_max, year_min
        notices.append(
            "Les années de début et de fin étaient inversées : elles ont été remises dans l’ordre."
        )

    sort: str | None = None
    sort_values = [v for v in _values(params, "sort") if v.strip()]
    if sort_values:
        candidate = sort_values[0].strip().lower()
        if candidate in SORTS:
            sort = candidate
        else:
            notices.append(
                f"Le tri « {_shown(sort_values[0])} » n’existe pas : le tri par défaut est utilisé."
            )

    page = 1
    page_values = [v for v in _values(params, "page") if v.strip()]
    if page_values:
        number = _parse_int(page_values[0])
        if number is None:
            notices.append(
                f"La page « {_shown(page_values[0])} » n’est pas un nombre : page 1 affichée."
            )
        elif number < 1:
            notices.append("Les pages commencent à 1 : page 1 affichée.")
        elif number > MAX_PAGE:
            page = MAX_PAGE
            notices.append(f"La page demandée est trop loin : page {MAX_PAGE} affichée.")
        else:
            page = number

    page_size = DEFAULT_PAGE_SIZE
    size_values = [v for v in _values(params, "page_size") if v.strip()]
    if size_values:
        number = _parse_int(size_values[0])
        if number is None:
            notices.append(
                f"Le nombre de résultats par page « {_shown(size_values[0])} » "
                f"n’est pas un nombre : {DEFAULT_PAGE_SIZE} par page."
            )
        elif number < 1:
            page_size = 1
            notices.append(
                f"Le nombre de résultats par page va de 1 à {MAX_PAGE_SIZE} : 1 par page."
            )
        elif number > MAX_PAGE_SIZE:
            page_size = MAX_PAGE_SIZE
            notices.append(
                f"Le nombre de résultats par page va de 1 à {MAX_PAGE_SIZE} : "
                f"{MAX_PAGE_SIZE} par page."
            )
        else:
            page_size = number

    return SearchRequest(
        q=q,
        filters=filters,
        year_min=year_min,
        year_max=year_max,
        sort=sort,
        page=page,
        page_size=page_size,
        notices=notices,
    )


# --- Text normalisation and parsing ----------------------------------------------------------


def normalize_query(text: str) -> str:
    """NFKC, drop control/format characters, cap length and parentheses depth, pair quotes."""
    if not isinstance(text, str):
        return ""
    cleaned = []
    for char in text[: MAX_QUERY_CHARS * 8]:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp") or char.isspace():
            cleaned.append(" ")
        elif category[0] != "C":  # drops Cf (format), Cs (lone surrogates), Co, Cn
            cleaned.append(char)
    text = unicodedata.normalize("NFKC", "".join(cleaned))
    text = " ".join(text.split())[:MAX_QUERY_CHARS]
    if text.count('"') % 2:
        cut = text.rfind('"')
        text = text[:cut] + " " + text[cut + 1 :]
    # Parentheses outside phrases: keep at most MAX_GROUP_DEPTH levels, drop unmatched ones.
    out: list[str] = []
    depth = 0
    open_kept: list[bool] = []
    in_phrase = False
    for char in text:
        if char == '"':
            in_phrase = not in_phrase
        elif not in_phrase and char == "(":
            keep = depth < MAX_GROUP_DEPTH
            open_kept.append(keep)
            depth += keep
            out.append("(" if keep else " ")
            continue
        elif not in_phrase and char == ")":
            if not open_kept:
                out.append(" ")
                continue
            kept = open_kept.pop()
            depth -= kept
            out.append(")" if kept else " ")
            continue
        out.append(char)
    closers = ")" * sum(open_kept)
    text = " ".join("".join(out).split())
    text = _PAREN_SPACES.sub(lambda m: m.group().replace(" ", ""), text)
    if len(text) + len(closers) > MAX_QUERY_CHARS:
        text = text[: MAX_QUERY_CHARS - len(closers)].rstrip()
    return text + closers


_PAREN_SPACES = re.compile(r"\( | \)")


def _rewrite_signs(text: str) -> str:
    """Turn `-word` into `NOT word` and drop a leading `+`, outside phrases only."""
    out: list[str] = []
    in_phrase = False
    previous = " "
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            in_phrase = not in_phrase
        elif not in_phrase and char in "-+" and (previous.isspace() or previous == "("):
            j = i
            while j < len(text) and text[j] == char:
                j += 1
            following = text[j : j + 1]
            if following and (following in '"(' or _WORD_RE.match(following)):
                if char == "-":
                    out.append("NOT ")
                previous = " "
                i = j
                continue
        out.append(char)
        previous = char
        i += 1
    return "".join(out)


def _is_plain_words(text: str) -> bool:
    """Return whether a query is only words (no operator, phrase, group or exclusion)."""
    if any(c in text for c in '"()'):
        return False
    words = text.split()
    if len(words) < 2:
        return False
    return not any(w in _OPERATOR_WORDS or w.startswith(("-", "+")) for w in words)


class _ExactPhrasePlugin(qparser.PhrasePlugin):
    """Quoted phrases, matched on the unstemmed `spell` field (the only one with positions)."""

    class _Tagger(qparser.PhrasePlugin.PhraseTagger):
        def create(self, parser: Any, match: Any) -> Any:
            node = super().create(parser, match)
            node.set_fieldname(PHRASE_FIELD)
            return node

    def taggers(self, parser: Any) -> list[Any]:
        return [(self._Tagger(self.expr), 0)]


def _make_parser(schema: Any, group: type[syntax.GroupNode]) -> qparser.QueryParser:
    operators = qparser.OperatorsPlugin(
        And=r"(?<=\s)(?:AND|ET)(?=\s)",
        Or=r"(?<=\s)(?:OR|OU)(?=\s)",
        Not=r"(^|(?<=(\s|[()])))NOT(?=\s)",
        AndNot=None,
        AndMaybe=None,
        Require=None,
    )
    plugins = [
        _ExactPhrasePlugin(),
        qparser.GroupPlugin(),
        operators,
        qparser.MultifieldPlugin(list(TEXT_FIELDS)),
    ]
    return qparser.QueryParser(None, schema, plugins=plugins, group=group)


# A parsed query, reduced to what we evaluate:
#   ("stem", text)  ("phrase", words)  ("and", positives, negatives)  ("or", children)
#   ("not", child)  ("all",)  ("none",)
Node = tuple[Any, ...]
_ALL: Node = ("all",)
_NONE: Node = ("none",)


def _unique(nodes: Iterable[Node]) -> tuple[Node, ...]:
    return tuple(dict.fromkeys(nodes))


def _convert(q: query.Query, depth: int = 0) -> Node:
    """Reduce a Whoosh query over the text fields to a `Node` (raise on anything else)."""
    if depth > 60:
        raise ValueError("query too deep")
    if q is query.NullQuery or isinstance(q, type(query.NullQuery)):
        return _NONE
    if isinstance(q, query.Every):
        return _ALL
    if isinstance(q, query.Term):
        text = q.text if isinstance(q.text, str) else q.text.decode("utf-8")
        if q.fieldname == PHRASE_FIELD:
            return ("phrase", (text,))
        if q.fieldname in TEXT_FIELDS:
            return ("stem", text)
        raise ValueError(f"unexpected field {q.fieldname!r}")
    if isinstance(q, query.Phrase):
        words = tuple(w if isinstance(w, str) else w.decode("utf-8") for w in q.words)
        if not words:
            return _NONE
        if q.fieldname == PHRASE_FIELD:
            return ("phrase", words)
        if q.fieldname in TEXT_FIELDS:
            return ("and", _unique(("stem", w) for w in words), ())
        raise ValueError(f"unexpected field {q.fieldname!r}")
    if isinstance(q, query.Not):
        return ("not", _convert(q.query, depth + 1))
    if isinstance(q, query.AndNot):
        return ("and", (_convert(q.a, depth + 1),), (_convert(q.b, depth + 1),))
    if isinstance(q, query.And) and type(q) is query.And:
        positives = []
        negatives = []
        for sub in q.subqueries:
            if isinstance(sub, query.Not):
                negatives.append(_convert(sub.query, depth + 1))
            else:
                positives.append(_convert(sub, depth + 1))
        positives_t, negatives_t = _unique(positives), _unique(negatives)
        if len(positives_t) == 1 and not negatives_t:
            return positives_t[0]
        return ("and", positives_t, negatives_t)
    if isinstance(q, query.Or) and type(q) in (query.Or, query.DefaultOr):
        children = _unique(_convert(sub, depth + 1) for sub in q.subqueries)
        if not children:
            return _NONE
        return children[0] if len(children) == 1 else ("or", children)
    raise ValueError(f"unsupported query {type(q).__name__}")


def _plain_words(text: str) -> Node:
    """AND of the stemmed words of a text (the safe fallback of any parse)."""
    stems: list[Node] = []
    for word in _WORD_RE.findall(text)[:40]:
        stem = _stem(word[:100])
        if stem:
            stems.append(("stem", stem))
    stems_t = _unique(stems)
    if not stems_t:
        return _NONE
    return stems_t[0] if len(stems_t) == 1 else ("and", stems_t, ())


def _positive_stems(node: Node) -> list[str]:
    """Return the stems a matching document is searched for (not the excluded ones)."""
    kind = node[0]
    if kind == "stem":
        return [node[1]]
    if kind == "phrase":
        return [s for s in (_stem(w) for w in node[1]) if s]
    if kind == "and":
        return [s for child in node[1] for s in _positive_stems(child)]
    if kind == "or":
        return [s for child in node[1] for s in _positive_stems(child)]
    return []


# --- Bitsets ---------------------------------------------------------------------------------

_BYTE_BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(j for j in range(8) if value >> j & 1) for value in range(256)
)


def _to_bits(docnums: Iterable[int], size: int) -> int:
    """Return the bitset of some document numbers."""
    buffer = bytearray((size >> 3) + 1)
    for d in docnums:
        buffer[d >> 3] |= 1 << (d & 7)
    return int.from_bytes(buffer, "little")


def _from_bits(bits: int) -> list[int]:
    """Return the document numbers of a bitset, in increasing order."""
    if bits <= 0:
        return []
    data = bits.to_bytes((bits.bit_length() + 7) >> 3, "little")
    out: list[int] = []
    extend = out.extend
    table = _BYTE_BITS
    for i, byte in enumerate(data):
        if byte:
            base = i << 3
            extend([base + j for j in table[byte]])
    return out


# --- Per-generation caches -------------------------------------------------------------------


@dataclass
class _Term:
    """A stem's matching documents and their BM25F score (summed over the text fields)."""

    bits: int
    scores: dict[int, float]


@dataclass
class _Core:
    """The label-free part of a result, as cached."""

    hits: list[Hit]
    total: int
    counts: dict[str, list[tuple[str, int]]]
    suggestion: str | None
    notices: list[str]


class _Generation:
    """What is computed once per index generation (one IndexReader object)."""

    def __init__(self, searcher: Any) -> None:
        reader = searcher.reader()
        self.lock = threading.Lock()
        self.size = size = reader.doc_count_all()
        self.doc_count = reader.doc_count()
        fiche = _postings(reader, "kind", KIND_FICHE)
        published = _postings(reader, "status", PUBLISHED)
        visible_docs = fiche & published
        self.visible_docs = frozenset(visible_docs)
        self.visible = _to_bits(visible_docs, size)
        self.visible_count = len(visible_docs)

        self.facet_bits: dict[str, dict[str, int]] = {}
        for facet in FACETS:
            values: dict[str, int] = {}
            for btext in reader.lexicon(facet):
                docs = _postings(reader, facet, btext) & visible_docs
                if docs:
                    values[btext.decode("utf-8")] = _to_bits(docs, size)
            self.facet_bits[facet] = values

        year_start: dict[int, int] = {}
        year_end: dict[int, int] = {}
        published_at = [-1] * size
        title_sort = [""] * size
        self.norms: dict[str, list[float]] = {}
        averages = {f: (searcher.avg_field_length(f, 0) or 1.0) for f in TEXT_FIELDS}
        norms: dict[str, list[float]] = {f: [] for f in TEXT_FIELDS}
        for leaf, offset in reader.leaf_readers():
            count = leaf.doc_count_all()
            starts = _column(leaf, "year_start", count, _MISSING_YEAR)
            ends = _column(leaf, "year_end", count, _MISSING_YEAR)
            dates = _column(leaf, "published_at", count, _MISSING_DATE, translate=False)
            titles = _column(leaf, "title_sort", count, "")
            for local in range(count):
                docnum = offset + local
                if docnum not in visible_docs:
                    continue
                if starts[local] != _MISSING_YEAR:
                    year_start[docnum] = starts[local]
                if ends[local] != _MISSING_YEAR:
                    year_end[docnum] = ends[local]
                if dates[local] != _MISSING_DATE:
                    published_at[docnum] = dates[local]
                if isinstance(titles[local], str):
                    title_sort[docnum] = titles[local]
            for name in TEXT_FIELDS:
                factor = BM25_K1 * BM25_B / averages[name]
                constant = BM25_K1 * (1 - BM25_B)
                norms[name].extend(constant + factor * n for n in _lengths(leaf, name, count))
        self.norms = norms
        self.year_start = year_start
        self.year_end = year_end
        years: dict[int, list[int]] = {}
        for docnum, year in year_start.items():
            years.setdefault(year, []).append(docnum)
        self.year_bits = {year: _to_bits(docs, size) for year, docs in years.items()}

        ordered = sorted(visible_docs)
        self.order: dict[str, list[int]] = {
            "recent": sorted(ordered, key=lambda d: (-published_at[d], title_sort[d])),
            "title": sorted(ordered, key=lambda d: title_sort[d]),
        }
        self.rank: dict[str, list[int]] = {}
        for name, docs in self.order.items():
            rank = [size] * size
            for position, docnum in enumerate(docs):
                rank[docnum] = position
            self.rank[name] = rank

        self.regie_names: dict[str, str] = {}
        for slug, bits in self.facet_bits["regie"].items():
            first = (bits & -bits).bit_length() - 1
            name = searcher.stored_fields(first).get("regie_name")
            if isinstance(name, str) and name:
                self.regie_names[slug] = name

        self.parsers: dict[str, qparser.QueryParser] = {
            "and": _make_parser(searcher.schema, syntax.AndGroup),
            "or": _make_parser(searcher.schema, syntax.OrGroup),
        }
        self.results: OrderedDict[tuple[Any, ...], _Core] = OrderedDict()
        self.related: OrderedDict[tuple[str, int], list[Hit]] = OrderedDict()
        self.year_ranges: OrderedDict[tuple[int | None, int | None], int] = OrderedDict()
        self.terms: OrderedDict[tuple[str, Any], _Term] = OrderedDict()
        self.terms_size = 0

    def _remember(self, key: tuple[str, Any], entry: _Term) -> None:
        with self.lock:
            if key in self.terms:
                return
            self.terms[key] = entry
            self.terms_size += len(entry.scores) + 1
            while self.terms_size > _TERM_CACHE_BUDGET and len(self.terms) > 1:
                _, old = self.terms.popitem(last=False)
                self.terms_size -= len(old.scores) + 1

    def _recall(self, key: tuple[str, Any]) -> _Term | None:
        with self.lock:
            found = self.terms.get(key)
            if found is not None:
                self.terms.move_to_end(key)
            return found

    def stem(self, reader: Any, text: str) -> _Term:
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
            except Exception:
                frequency = 0
            if not frequency:
                continue
            k = (math.log(total / (frequency + 1)) + 1) * (BM25_K1 + 1)
            norm = self.norms[name]
            for ids, weights in _read_postings(reader, name, text):
                if not scores:
                    scores = {d: k * w / (w + norm[d]) for d, w in zip(ids, weights, strict=True)}
                    continue
                get = scores.get
                for d, w in zip(ids, weights, strict=True):
                    scores[d] = get(d, 0.0) + k * w / (w + norm[d])
        entry = _Term(_to_bits(scores, self.size) & self.visible, scores)
        self._remember(key, entry)
        return entry

    def spell_bits(self, reader: Any, word: str) -> int:
        """Return the visible documents holding an exact (folded, unstemmed) word."""
        key = ("word", word)
        found = self._recall(key)
        if found is not None:
            return found.bits
        docs = (d for ids, _ in _read_postings(reader, PHRASE_FIELD, word) for d in ids)
        bits = _to_bits(docs, self.size) & self.visible
        self._remember(key, _Term(bits, {}))
        return bits

    def phrase(self, reader: Any, words: tuple[str, ...], within: int) -> int:
        """Return the documents of `within` holding an exact phrase (folded, unstemmed).

        Stop words inside a phrase only keep their place: "régie de quartier" matches
        "régie", any word, "quartier". Only the phrase's words' positions in the candidate
        documents are read.
        """
        content = [(i, w) for i, w in enumerate(words) if w not in _STOP_WORDS]
        if not content:
            content = list(enumerate(words))
        unrestricted = within == self.visible
        key = ("phrase", words)
        if unrestricted:
            found = self._recall(key)
            if found is not None:
                return found.bits
        candidates = within
        for _, word in content:
            if not candidates:
                break
            candidates &= self.spell_bits(reader, word)
        if len(content) > 1 and candidates:
            candidates = _verify_phrase(reader, content, _from_bits(candidates), self.size)
        if unrestricted:
            self._remember(key, _Term(candidates, {}))
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
        bits = _to_bits(
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

    def cached(self, key: tuple[Any, ...]) -> _Core | None:
        """Return a cached result, if any."""
        with self.lock:
            found = self.results.get(key)
            if found is not None:
                self.results.move_to_end(key)
            return found

    def store(self, key: tuple[Any, ...], core: _Core) -> None:
        """Cache a result (LRU)."""
        with self.lock:
            self.results[key] = core
            while len(self.results) > _RESULT_CACHE_SIZE:
                self.results.popitem(last=False)


_GENERATIONS: OrderedDict[tuple[Any, ...], _Generation] = OrderedDict()
_GENERATIONS_LOCK = threading.Lock()
_BUILDING: dict[tuple[Any, ...], threading.Lock] = {}  # generation key → its builder's lock
_MAX_GENERATIONS = 3  # a process's threads may briefly use different generations


def _generation_key(searcher: Any) -> tuple[Any, ...]:
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


def _generation(searcher: Any) -> _Generation:
    """Return the caches of the searcher's index generation, building them on first use."""
    key = _generation_key(searcher)
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
        built = _Generation(searcher)
        with _GENERATIONS_LOCK:  # published before the waiting threads get the lock
            _BUILDING.pop(key, None)
            found = _GENERATIONS.setdefault(key, built)
            _GENERATIONS.move_to_end(key)
            while len(_GENERATIONS) > _MAX_GENERATIONS:
                _GENERATIONS.popitem(last=False)
            return found


def warm_up(searcher: Any) -> None:
    """Build the caches of the searcher's index generation now (after open or refresh)."""
    _generation(searcher)


def clear_caches() -> None:
    """Forget every cached generation (the next search rebuilds what it needs)."""
    with _GENERATIONS_LOCK:
        _GENERATIONS.clear()


def _postings(reader: Any, fieldname: str, text: str | bytes) -> set[int]:
    """Return the (undeleted) documents holding a term, or an empty set."""
    btext = text if isinstance(text, bytes) else text.encode("utf-8")
    try:
        if (fieldname, btext) not in reader:
            return set()
        return set(reader.postings(fieldname, btext).all_ids())
    except Exception:  # a missing term or field: nothing matches
        logger.debug("no postings for %s:%r", fieldname, text, exc_info=True)
        return set()


def _read_postings(
    reader: Any, fieldname: str, text: str
) -> Iterable[tuple[Sequence[int], Sequence[float]]]:
    """Yield (global document numbers, weights) of a term, one batch per segment."""
    btext = text.encode("utf-8")
    for leaf, offset in reader.leaf_readers():
        if (fieldname, btext) not in leaf:
            continue
        ids, weights = _leaf_postings(leaf, fieldname, btext)
        if offset:
            ids = [d + offset for d in ids]
        yield ids, weights


def _leaf_postings(leaf: Any, fieldname: str, btext: bytes) -> tuple[list[int], list[float]]:
    """Return a segment's postings of a term (deleted documents may be included)."""
    matcher = leaf.postings(fieldname, btext)
    raw = matcher.child if isinstance(matcher, FilterMatcher) else matcher
    if FAST_POSTINGS and all(
        hasattr(raw, name) for name in ("_read_ids", "_read_weights", "_next_block", "_i")
    ):
        try:
            ids: list[int] = []
            weights: list[float] = []
            while raw.is_active():
                raw._read_ids()
                raw._read_weights()
                start = raw._i
                ids.extend(raw._ids[start:])
                weights.extend(raw._weights[start:])
                raw._next_block()
            if len(ids) == len(weights):
                return ids, weights
        except Exception:
            logger.warning("fast posting read failed, using the public API", exc_info=True)
        matcher = leaf.postings(fieldname, btext)
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return ids, weights


def _verify_phrase(
    reader: Any, content: list[tuple[int, str]], candidates: list[int], size: int
) -> int:
    """Keep the candidates where the words sit at their offsets (rarest word first)."""
    frequencies = {w: reader.doc_frequency(PHRASE_FIELD, w) for _, w in content}
    starts: dict[int, set[int]] | None = None
    for offset, word in sorted(content, key=lambda item: frequencies[item[1]]):
        docs = candidates if starts is None else sorted(starts)
        found: dict[int, set[int]] = {}
        shift = (-offset).__add__
        for docnum, positions in _positions(reader, word, docs):
            if starts is None:
                found[docnum] = set(map(shift, positions) if offset else positions)
                continue
            here = starts[docnum].intersection(map(shift, positions) if offset else positions)
            if here:
                found[docnum] = here
        starts = found
        if not starts:
            return 0
    return _to_bits(starts or (), size)


def _positions(reader: Any, word: str, docs: list[int]) -> Iterable[tuple[int, Iterable[int]]]:
    """Yield (document, positions of a word in `spell`) for the given sorted documents."""
    btext = word.encode("utf-8")
    decode = reader.schema[PHRASE_FIELD].format.decode_positions
    for leaf, base in reader.leaf_readers():
        end = base + leaf.doc_count_all()
        local = [d - base for d in docs if base <= d < end]
        if not local or (PHRASE_FIELD, btext) not in leaf:
            continue
        matcher = leaf.postings(PHRASE_FIELD, btext)
        raw = matcher.child if isinstance(matcher, FilterMatcher) else matcher
        if FAST_POSTINGS and all(
            hasattr(raw, n) for n in ("_read_ids", "_read_values", "_next_block", "_i", "_maxid")
        ):
            # Whole blocks at a time; blocks without a wanted document are not decompressed.
            wanted = set(local)
            position = 0
            while raw.is_active() and position < len(local):
                if raw._maxid < local[position]:
                    raw._next_block()
                    continue
                raw._read_ids()
                raw._read_values()
                ids, values = raw._ids, raw._values
                for i in range(raw._i, len(ids)):
                    if ids[i] in wanted:
                        yield ids[i] + base, _decode_positions(values[i], decode)
                position = bisect_right(local, raw._maxid, lo=position)
                raw._next_block()
            continue
        for d in local:
            if not matcher.is_active():
                break
            matcher.skip_to(d)
            if matcher.is_active() and matcher.id() == d:
                yield d + base, decode(matcher.value())


def _decode_positions(value: bytes, decode: Callable[[bytes], list[int]]) -> Iterable[int]:
    """Decode Whoosh's `Positions` value (a 4-byte count then pickled deltas), quickly."""
    try:
        data = value[4:] if value.endswith(b".") else value[4:] + b"."
        return accumulate(pickle.loads(data))  # noqa: S301 - our own index, as Whoosh does
    except Exception:
        return decode(value)


def _lengths(leaf: Any, fieldname: str, count: int) -> list[int]:
    """Return a segment's field length of every document (Whoosh's 1-byte approximation)."""
    try:
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN

        perdoc = leaf._perdoc
        column = perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if column is None:
            return [0] * count
        values = [byte_to_length(b) if b else 0 for b in column]
        if len(values) == count:
            return values
    except Exception:
        logger.debug("fast length read failed", exc_info=True)
    return [leaf.doc_field_length(d, fieldname, 0) or 0 for d in range(count)]


def _column(
    leaf: Any, fieldname: str, count: int, default: Any, translate: bool = True
) -> list[Any]:
    """Return a segment's column values for a field (the default where there is none)."""
    try:
        if leaf.has_column(fieldname):
            values = list(leaf.column_reader(fieldname, translate=translate))
            if len(values) == count:
                return values
    except Exception:
        logger.warning("unreadable column %s", fieldname, exc_info=True)
    return [default] * count


# --- Running a search --------------------------------------------------------------------------


@dataclass
class _Parsed:
    node: Node | None  # None: no text query
    text: str
    notices: list[str]


def _clean_request(request: SearchRequest) -> SearchRequest:
    """Bound a request built by hand (the same limits as `request_from_params`)."""
    filters: dict[str, list[str]] = {}
    raw_filters = request.filters if isinstance(request.filters, Mapping) else {}
    for facet in FACETS:
        values = raw_filters.get(facet) or []
        if isinstance(values, str):
            values = [values]
        chosen: list[str] = []
        for value in values if isinstance(values, Iterable) else []:
            if isinstance(value, str):
                value = value.strip().lower()
                if _SLUG_RE.match(value) and value not in chosen:
                    chosen.append(value)
        if chosen:
            filters[facet] = chosen[:MAX_VALUES_PER_FACET]

    def number(value: Any, low: int, high: int, default: int | None) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return max(low, min(high, value))
        return default

    return SearchRequest(
        q=request.q if isinstance(request.q, str) else "",
        filters=filters,
        year_min=number(request.year_min, -(10**6), 10**6, None),
        year_max=number(request.year_max, -(10**6), 10**6, None),
        sort=request.sort if request.sort in SORTS else None,
        page=number(request.page, 1, MAX_PAGE, 1) or 1,
        page_size=number(request.page_size, 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)
        or DEFAULT_PAGE_SIZE,
        notices=[n for n in (request.notices or []) if isinstance(n, str)],
    )


def run(
    searcher: Any,
    request: SearchRequest,
    *,
    labels: Mapping[str, Mapping[str, str]],
    body_text: Callable[[list[str]], Mapping[str, str]] | None = None,
) -> SearchResults:
    """Search the published fiches; never raises (a failure gives an empty result)."""
    page, page_size, notices = 1, DEFAULT_PAGE_SIZE, []
    try:
        request = _clean_request(request)
        page, page_size, notices = request.page, request.page_size, list(request.notices)
        gen = _generation(searcher)
        key = (
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
            core = _search(searcher, gen, request, body_text)
            gen.store(key, core)
        return SearchResults(
            hits=list(core.hits),
            total=core.total,
            page=page,
            page_size=page_size,
            facets=_label_facets(core.counts, request, labels, gen),
            suggestion=core.suggestion,
            notices=notices + core.notices,
        )
    except Exception:
        logger.exception("search failed")
        return SearchResults(
            hits=[],
            total=0,
            page=page,
            page_size=page_size,
            facets={f: [] for f in (*FACETS, YEAR_FACET)},
            suggestion=None,
            notices=[*notices, "La recherche n’a pas pu aboutir : réessayez avec d’autres mots."],
        )


def _parse(gen: _Generation, raw: str, group: str = "and") -> _Parsed:
    """Parse a user's text into a `Node`, falling back to its plain words."""
    notices: list[str] = []
    text = normalize_query(raw)
    if len(" ".join(str(raw)[: MAX_QUERY_CHARS * 8].split())) > MAX_QUERY_CHARS:
        notices.append(f"Votre recherche a été raccourcie à {MAX_QUERY_CHARS} caractères.")
    if not text:
        return _Parsed(None, "", notices)
    try:
        node = _convert(gen.parsers[group].parse(_rewrite_signs(text)))
    except Exception:
        logger.info("query parse fallback for %r", text, exc_info=True)
        notices.append(
            "Une partie de la syntaxe de votre recherche n’a pas été comprise : "
            "elle a été traitée comme une liste de mots."
        )
        node = _plain_words(text)
    return _Parsed(node, text, notices)


class _Evaluator:
    """Computes the bitset of visible documents a `Node` matches."""

    def __init__(self, searcher: Any, gen: _Generation) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        self.gen = gen

    def bits(self, node: Node, depth: int = 0) -> int:
        """Return the visible documents matching a node."""
        gen = self.gen
        if depth > 60:
            raise RecursionError("query too deep")
        kind = node[0]
        if kind == "stem":
            return gen.stem(self.reader, node[1]).bits
        if kind == "phrase":
            words = node[1]
            if len(words) == 1:
                return gen.spell_bits(self.reader, words[0])
            return gen.phrase(self.reader, words, gen.visible)
        if kind == "and":
            result = gen.visible
            phrases = []
            for child in node[1]:
                if child[0] == "phrase" and len(child[1]) > 1:
                    phrases.append(child)  # verified last, on the fewest candidates
                    continue
                if not result:
                    return 0
                result &= self.bits(child, depth + 1)
            for child in node[2]:
                if not result:
                    return 0
                result &= ~self.bits(child, depth + 1)
            for child in phrases:
                if not result:
                    return 0
                result = gen.phrase(self.reader, child[1], result)
            return result
        if kind == "or":
            result = 0
            for child in node[1]:
                result |= self.bits(child, depth + 1)
            return result
        if kind == "not":
            return gen.visible & ~self.bits(node[1], depth + 1)
        if kind == "all":
            return gen.visible
        return 0


def _search(
    searcher: Any,
    gen: _Generation,
    request: SearchRequest,
    body_text: Callable[[list[str]], Mapping[str, str]] | None,
) -> _Core:
    """Compute one result (not yet labelled)."""
    notices: list[str] = []
    evaluator = _Evaluator(searcher, gen)
    parsed = _parse(gen, request.q)
    notices.extend(parsed.notices)

    if parsed.node is None:
        text_bits = gen.visible
    else:
        try:
            text_bits = evaluator.bits(parsed.node)
        except Exception:
            logger.info("query evaluation fallback for %r", parsed.text, exc_info=True)
            parsed.node = _plain_words(parsed.text)
            try:
                text_bits = evaluator.bits(parsed.node)
            except Exception:
                logger.warning("plain-words evaluation failed for %r", parsed.text, exc_info=True)
                parsed.node, text_bits = _NONE, 0
        if parsed.node == _NONE and not notices:
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

    suggestion = None
    if parsed.node is not None and total < SUGGEST_BELOW:
        suggestion = _suggest(searcher, gen, evaluator, parsed.text, total, restrict)

    if not total and parsed.node not in (None, _NONE) and _is_plain_words(parsed.text):
        or_parsed = _parse(gen, parsed.text, group="or")
        if or_parsed.node is not None:
            or_text_bits = evaluator.bits(or_parsed.node)
            or_matched = restrict(or_text_bits, None)
            if or_matched:
                parsed, text_bits, matched = or_parsed, or_text_bits, or_matched
                total = matched.bit_count()
                notices.append(
                    "Aucune fiche ne contient tous vos mots : voici celles qui en "
                    "contiennent au moins un."
                )

    counts = _facet_counts(gen, text_bits, restrict, matched, facet_filters, year_bits)

    stems = list(dict.fromkeys(_positive_stems(parsed.node))) if parsed.node else []
    sort = request.sort or ("relevance" if parsed.node is not None else "recent")
    start = (request.page - 1) * request.page_size
    end = start + request.page_size
    ranked: list[tuple[int, float | None]] = []
    if start < total:
        if sort == "relevance" and stems:
            ranked = _by_relevance(gen, evaluator.reader, stems, matched, end)[start:end]
        else:
            order = "title" if sort == "title" else "recent"
            ranked = [(d, None) for d in _by_order(gen, order, matched, end)[start:end]]

    hits = _hits(searcher, gen, ranked, stems, body_text)
    return _Core(hits=hits, total=total, counts=counts, suggestion=suggestion, notices=notices)


def _facet_counts(
    gen: _Generation,
    text_bits: int,
    restrict: Callable[[int, str | None], int],
    matched: int,
    facet_filters: Mapping[str, int],
    year_bits: int | None,
) -> dict[str, list[tuple[str, int]]]:
    """Count each facet's values over the results filtered by every other facet."""
    counts: dict[str, list[tuple[str, int]]] = {}
    for facet in (*FACETS, YEAR_FACET):
        own_filter = facet in facet_filters or (facet == YEAR_FACET and year_bits is not None)
        base = restrict(text_bits, facet) if own_filter else matched
        value_bits: Mapping[Any, int]
        value_bits = gen.year_bits if facet == YEAR_FACET else gen.facet_bits[facet]
        found = []
        if base:
            for value, bits in value_bits.items():
                n = (bits & base).bit_count()
                if n:
                    found.append((str(value), n))
        counts[facet] = found
    return counts


def _label_facets(
    counts: Mapping[str, list[tuple[str, int]]],
    request: SearchRequest,
    labels: Mapping[str, Mapping[str, str]],
    gen: _Generation,
) -> dict[str, list[FacetValue]]:
    """Attach labels, add selected values counted 0, sort (count desc, then label)."""
    facets: dict[str, list[FacetValue]] = {}
    for facet in FACETS:
        facet_labels = labels.get(facet) if isinstance(labels, Mapping) else None
        if not isinstance(facet_labels, Mapping):
            facet_labels = {}
        found = dict(counts.get(facet, []))
        for value in request.filters.get(facet, []):
            found.setdefault(value, 0)
        values = []
        for value, n in found.items():
            label = facet_labels.get(value)
            if not isinstance(label, str) or not label:
                label = gen.regie_names.get(value, value) if facet == "regie" else value
            values.append(FacetValue(value, label, n))
        values.sort(key=lambda fv: (-fv.count, fold(fv.label), fv.value))
        facets[facet] = values
    years = [FacetValue(v, v, n) for v, n in counts.get(YEAR_FACET, [])]
    years.sort(key=lambda fv: fv.value, reverse=True)
    facets[YEAR_FACET] = years
    return facets


def _by_order(gen: _Generation, name: str, bits: int, end: int) -> list[int]:
    """Return the first `end` documents of a bitset in a precomputed order."""
    docs = _from_bits(bits)
    order = gen.order[name]
    if len(docs) * 4 < len(order):
        return heapq.nsmallest(end, docs, key=gen.rank[name].__getitem__)
    wanted = set(docs)
    found = []
    for docnum in order:
        if docnum in wanted:
            found.append(docnum)
            if len(found) >= end:
                break
    return found


def _by_relevance(
    gen: _Generation, reader: Any, stems: list[str], bits: int, end: int
) -> list[tuple[int, float | None]]:
    """Return the `end` best documents of a bitset by BM25F score over the searched stems."""
    docs = _from_bits(bits)
    totals: list[float] = [0.0] * len(docs)
    for stem in stems:
        scores = gen.stem(reader, stem).scores
        if scores:
            totals = list(map(operator.add, totals, map(scores.get, docs, repeat(0.0))))
    best = heapq.nlargest(end, range(len(docs)), key=totals.__getitem__)
    return [(docs[i], totals[i]) for i in best]


# --- Hits and highlights -----------------------------------------------------------------------


def _split(value: Any) -> list[str]:
    return value.split() if isinstance(value, str) else []


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _hit(stored: Mapping[str, Any], score: float | None, highlights: dict[str, str]) -> Hit:
    published = stored.get("published_at")
    if isinstance(published, datetime):
        published = published.date()
    elif not isinstance(published, date):
        published = None
    return Hit(
        slug=str(stored.get("slug", "")),
        title=str(stored.get("title", "")),
        summary=str(stored.get("summary", "")),
        regie_slug=_str_or_none(stored.get("regie")),
        regie_name=_str_or_none(stored.get("regie_name")),
        region=_str_or_none(stored.get("region")),
        themes=_split(stored.get("theme")),
        activity=_str_or_none(stored.get("activity")),
        audiences=_split(stored.get("audience")),
        schemes=_split(stored.get("scheme")),
        year_start=_int_or_none(stored.get("year_start")),
        year_end=_int_or_none(stored.get("year_end")),
        published_at=published,
        featured=bool(stored.get("featured", False)),
        score=None if score is None else round(score, 4),
        highlights=highlights,
    )


def _hits(
    searcher: Any,
    gen: _Generation,
    ranked: list[tuple[int, float | None]],
    stems: list[str],
    body_text: Callable[[list[str]], Mapping[str, str]] | None,
) -> list[Hit]:
    stored = [(searcher.stored_fields(d), d, score) for d, score in ranked]
    bodies: Mapping[str, str] = {}
    if body_text is not None and stems and stored:
        # Only fetch the bodies of the fiches that hold one of the searched words.
        reader = searcher.reader()
        terms = [gen.stem(reader, s).scores for s in stems]
        slugs = [str(f.get("slug")) for f, d, _ in stored if any(d in t for t in terms)]
        if slugs:
            try:
                fetched = body_text(slugs)
                bodies = fetched if isinstance(fetched, Mapping) else {}
            except Exception:
                logger.warning("body_text failed", exc_info=True)
    wanted = frozenset(stems)
    hits = []
    for fields, _docnum, score in stored:
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
        hits.append(_hit(fields, score, highlights))
    return hits


_ANALYZER = french_analyzer()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """Return the index term of one word ("" for a stop word)."""
    tokens = [t.text for t in _ANALYZER(word)]
    return tokens[0] if tokens else ""


FRAGMENT_CHARS = 180
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
        if len(word) <= 100 and _stem(word) in terms:
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

    Stemming every word of a long body costs milliseconds per hit; instead, the folded text
    is searched for words starting like a stem (its first letters: "cheval" also finds
    "chevaux"), and only those are stemmed. Short texts, and texts whose folding changes
    their length, are scanned word by word.
    """
    folded = fold(text) if not whole and len(text) > 1500 else ""
    if len(folded) != len(text):
        for match in _WORD_RE.finditer(text):
            yield match.span()
        return
    prefixes = sorted({t[: max(3, len(t) - 2)] for t in terms}, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in prefixes) + r")\w*")
    for match in pattern.finditer(folded):
        yield match.span()


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


# --- "Did you mean" ----------------------------------------------------------------------------


_STOP_WORDS = french_stop_words()


_FOLDER = folding_analyzer()


def _fold_word(word: str) -> str:
    """Lower-case and strip accents, as the `spell` field does."""
    return "".join(t.text for t in _FOLDER(word))


def _spell_candidates(reader: Any, word: str, maxdist: int) -> Iterable[str]:
    for leaf, _ in reader.leaf_readers():
        try:
            yield from leaf.terms_within(PHRASE_FIELD, word, maxdist, prefix=1)
        except Exception:
            logger.debug("terms_within failed", exc_info=True)


def _correct_word(reader: Any, word: str) -> str | None:
    """Return a better-known spelling of a folded word, or None."""
    if len(word) < 4 or not word.isalpha() or word in _STOP_WORDS:
        return None
    try:
        frequency = reader.doc_frequency(PHRASE_FIELD, word)
    except Exception:
        frequency = 0
    if frequency > 2:
        return None
    maxdist = 1 if len(word) <= 5 else 2
    best: tuple[int, int, str] | None = None
    for candidate in set(_spell_candidates(reader, word, maxdist)):
        if candidate == word or not candidate.isalpha() or candidate in _STOP_WORDS:
            continue
        candidate_frequency = reader.doc_frequency(PHRASE_FIELD, candidate)
        if candidate_frequency < max(2, frequency * 10):
            continue
        key = (distance(word, candidate), -candidate_frequency, candidate)
        if best is None or key < best:
            best = key
    return best[2] if best else None


def _suggest(
    searcher: Any,
    gen: _Generation,
    evaluator: _Evaluator,
    text: str,
    found: int,
    restrict: Callable[[int, str | None], int],
) -> str | None:
    """Return the query with its misspelt words corrected, if that finds more fiches."""
    reader = searcher.reader()
    pieces: list[str] = []
    position = 0
    changed = False
    for count, match in enumerate(_WORD_RE.finditer(text)):
        word = match.group()
        pieces.append(text[position : match.start()])
        position = match.end()
        excluded = match.start() > 0 and text[match.start() - 1] == "-"
        if count >= 8 or word in _OPERATOR_WORDS or len(word) > 25 or excluded:
            pieces.append(word)
            continue
        correction = _correct_word(reader, _fold_word(word))
        if correction:
            pieces.append(correction)
            changed = True
        else:
            pieces.append(word)
    if not changed:
        return None
    pieces.append(text[position:])
    suggestion = "".join(pieces)
    try:
        parsed = _parse(gen, suggestion)
        if parsed.node is None:
            return None
        better = restrict(evaluator.bits(parsed.node), None).bit_count()
    except Exception:
        logger.debug("suggestion check failed", exc_info=True)
        return None
    return suggestion if better > found else None


# --- Related fiches and bookkeeping -----------------------------------------------------------


def more_like_this(searcher: Any, slug: str, limit: int = 3) -> list[Hit]:
    """Return up to `limit` published fiches close to one (shared themes and words)."""
    try:
        limit = max(1, min(20, int(limit)))
        if not isinstance(slug, str) or slug == META_SLUG:
            return []
        gen = _generation(searcher)
        cached = gen.related.get((slug, limit))
        if cached is not None:
            return list(cached)
        docnum = searcher.document_number(slug=slug)
        if docnum is None:
            return []
        stored = searcher.stored_fields(docnum)
        reader = searcher.reader()
        text = f"{stored.get('title', '')} {stored.get('summary', '')}"[:5000]
        stems = {t.text for t in _ANALYZER(text)}
        ceiling = max(1, gen.visible_count // 2)
        distinctive = []
        for stem in stems:
            frequency = reader.doc_frequency("body", stem)
            if 1 <= frequency <= ceiling:
                distinctive.append((frequency, stem))
        totals: dict[int, float] = {}
        for _, stem in sorted(distinctive)[:12]:
            for d, score in gen.stem(reader, stem).scores.items():
                totals[d] = totals.get(d, 0.0) + score
        # Each shared theme, and the same activity, weigh a quarter of the best text match.
        bonus = 1.0 + max(totals.values(), default=0.0) / 4
        shared = [("theme", t) for t in _split(stored.get("theme"))]
        if isinstance(stored.get("activity"), str):
            shared.append(("activity", stored["activity"]))
        for facet, value in shared:
            for d in _from_bits(gen.facet_bits[facet].get(value, 0)):
                totals[d] = totals.get(d, 0.0) + bonus
        eligible = [d for d in totals if d in gen.visible_docs and d != docnum]
        best = heapq.nlargest(limit, eligible, key=lambda d: (totals[d], -d))
        hits = [_hit(searcher.stored_fields(d), totals[d], {}) for d in best]
        with gen.lock:
            gen.related[(slug, limit)] = hits
            while len(gen.related) > _RESULT_CACHE_SIZE:
                gen.related.popitem(last=False)
        return list(hits)
    except Exception:
        logger.exception("more_like_this failed for %r", slug)
        return []


def index_journal_id(searcher: Any) -> int | None:
    """Return the `journal_id` of the index's bookkeeping document, or None."""
    try:
        fields = searcher.document(slug=META_SLUG)
    except Exception:
        logger.debug("no meta document", exc_info=True)
        return None
    value = fields.get("journal_id") if fields else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
