"""Reading the index fast: every read of Whoosh's internals is in this module.

Reading posting blocks through the matcher's internals (`_read_ids`, `_ids`, `_values`,
`_maxid`…), positions from their pickled value and field lengths from the lengths column is
2–5× faster than one public call per posting. Each reader has a public-API twin giving the
same answer. `self_check()` runs whenever a generation's search caches are built (start-up
and every index commit): it compares both on a few terms of the live index, and if they
differ or the fast one fails, it logs an error and switches the process to the public API
(correct, slower) for good. `fast_path_enabled()` tells which path is in use (/api/health).
A generation whose largest segment was checked already (a journal commit only adds a small
one) is not checked again.
"""

from __future__ import annotations

import logging
import pickle
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, islice
from typing import Any

from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length

from resource_centre.search.analysis import folding_analyzer, french_analyzer
from resource_centre.search.schema import PHRASE_FIELD, TEXT_FIELDS

logger = logging.getLogger(__name__)

# The process-wide switch: False reads through Whoosh's public API only.
FAST_POSTINGS = True

_POSTING_INTERNALS = ("_read_ids", "_read_weights", "_next_block", "_i")
_POSITION_INTERNALS = ("_read_ids", "_read_values", "_next_block", "_i", "_maxid")
# The check costs a few milliseconds whatever the index size: it compares a few terms of at
# most a few posting blocks each, and the field lengths of a few documents.
_CHECK_MAX_POSTINGS = 400  # sampled terms have at most this many documents (several blocks)
_CHECK_MAX_POSITIONS = 200  # the same for the sampled word of the phrase field
_CHECK_DOCS = 6  # documents whose title and summary give the sampled terms
_CHECK_WORDS = 10  # words of each of these documents
_CHECK_SEGMENTS = 2  # the largest segments, where the readers are compared
_CHECK_LENGTHS = 16  # documents of the largest segment whose field lengths are compared


def fast_path_enabled() -> bool:
    """Whether searches read Whoosh's internals directly (False: the public API)."""
    return FAST_POSTINGS


def _raw(matcher: Any) -> Any:
    return matcher.child if isinstance(matcher, FilterMatcher) else matcher


def _has(raw: Any, names: Sequence[str]) -> bool:
    return all(hasattr(raw, name) for name in names)


# --- Document sets and postings -------------------------------------------------------------


def postings(reader: Any, fieldname: str, text: str | bytes) -> set[int]:
    """Return the (undeleted) documents holding a term, or an empty set (public API)."""
    btext = text if isinstance(text, bytes) else text.encode("utf-8")
    try:
        if (fieldname, btext) not in reader:
            return set()
        return set(reader.postings(fieldname, btext).all_ids())
    except (TermNotFound, KeyError):  # a missing term or field: nothing matches
        logger.debug("no postings for %s:%r", fieldname, text, exc_info=True)
        return set()


def read_postings(
    reader: Any, fieldname: str, text: str
) -> Iterable[tuple[Sequence[int], Sequence[float]]]:
    """Yield (global document numbers, weights) of a term, one batch per segment."""
    btext = text.encode("utf-8")
    for leaf, offset in reader.leaf_readers():
        if (fieldname, btext) not in leaf:
            continue
        ids, weights = leaf_postings(leaf, fieldname, btext)
        if offset:
            ids = [d + offset for d in ids]
        yield ids, weights


def leaf_postings(leaf: Any, fieldname: str, btext: bytes) -> tuple[list[int], list[float]]:
    """Return a segment's postings of a term (deleted documents may be included)."""
    matcher = leaf.postings(fieldname, btext)
    raw = _raw(matcher)
    if FAST_POSTINGS and _has(raw, _POSTING_INTERNALS):
        try:
            ids, weights = _fast_leaf_postings(raw)
            if len(ids) == len(weights):
                return ids, weights
        except Exception:  # internals may break in any way after an upgrade: use the API
            logger.warning("fast posting read failed, using the public API", exc_info=True)
        matcher = leaf.postings(fieldname, btext)
    return _public_leaf_postings(matcher)


def _fast_leaf_postings(raw: Any) -> tuple[list[int], list[float]]:
    """Whole posting blocks at a time, from the raw (unfiltered) matcher's internals."""
    ids: list[int] = []
    weights: list[float] = []
    while raw.is_active():
        raw._read_ids()
        raw._read_weights()
        start = raw._i
        ids.extend(raw._ids[start:])
        weights.extend(raw._weights[start:])
        raw._next_block()
    return ids, weights


def _public_leaf_postings(matcher: Any) -> tuple[list[int], list[float]]:
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return ids, weights


# --- Positions -------------------------------------------------------------------------------


def positions(
    reader: Any, fieldname: str, word: str, docs: list[int]
) -> Iterable[tuple[int, Iterable[int]]]:
    """Yield (document, positions of a word in a field) for the given sorted documents."""
    btext = word.encode("utf-8")
    decode = reader.schema[fieldname].format.decode_positions
    for leaf, base in reader.leaf_readers():
        end = base + leaf.doc_count_all()
        local = [d - base for d in docs if base <= d < end]
        if not local or (fieldname, btext) not in leaf:
            continue
        matcher = leaf.postings(fieldname, btext)
        raw = _raw(matcher)
        if FAST_POSTINGS and _has(raw, _POSITION_INTERNALS):
            yield from _fast_positions(raw, local, base, decode)
        else:
            yield from _public_positions(matcher, local, base, decode)


def _fast_positions(
    raw: Any, local: list[int], base: int, decode: Callable[[bytes], list[int]]
) -> Iterator[tuple[int, Iterable[int]]]:
    """Whole blocks at a time; blocks without a wanted document are not decompressed."""
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
                yield ids[i] + base, decode_positions(values[i], decode)
        position = bisect_right(local, raw._maxid, lo=position)
        raw._next_block()


def _public_positions(
    matcher: Any, local: list[int], base: int, decode: Callable[[bytes], list[int]]
) -> Iterator[tuple[int, Iterable[int]]]:
    for d in local:
        if not matcher.is_active():
            break
        matcher.skip_to(d)
        if matcher.is_active() and matcher.id() == d:
            yield d + base, decode(matcher.value())


def decode_positions(value: bytes, decode: Callable[[bytes], list[int]]) -> Iterable[int]:
    """Decode Whoosh's `Positions` value (a 4-byte count then pickled deltas), quickly."""
    try:
        data = value[4:] if value.endswith(b".") else value[4:] + b"."
        return accumulate(pickle.loads(data))  # noqa: S301 - our own index, as Whoosh does
    except Exception:  # unpickling fails in many ways on another format: Whoosh decodes it
        return decode(value)


# --- Per-document columns ---------------------------------------------------------------------


def lengths(leaf: Any, fieldname: str, count: int) -> list[int]:
    """Return a segment's field length of every document (Whoosh's 1-byte approximation)."""
    if FAST_POSTINGS:
        try:
            values = _fast_lengths(leaf, fieldname, count)
            if len(values) == count:
                return values
        except Exception:  # internals may break in any way after an upgrade: use the API
            logger.debug("fast length read failed", exc_info=True)
    return [leaf.doc_field_length(d, fieldname, 0) or 0 for d in range(count)]


def _fast_lengths(leaf: Any, fieldname: str, count: int) -> list[int]:
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN

    column = leaf._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
    if column is None:
        return [0] * count
    return [byte_to_length(b) if b else 0 for b in column]


def column(
    leaf: Any, fieldname: str, count: int, default: Any, translate: bool = True
) -> list[Any]:
    """Return a segment's column values for a field (the default where there is none)."""
    try:
        if leaf.has_column(fieldname):
            values = list(leaf.column_reader(fieldname, translate=translate))
            if len(values) == count:
                return values
    except Exception:  # a damaged column must not stop the search: values are left out
        logger.warning("unreadable column %s", fieldname, exc_info=True)
    return [default] * count


# --- Checking the fast readers against the public API ----------------------------------------


def self_check(reader: Any) -> bool:
    """Compare the fast readers with the public API on a few terms of this index.

    On a difference or an error, log it and switch the process to the public API. Returns
    whether the fast path is (still) in use.
    """
    global FAST_POSTINGS
    if not FAST_POSTINGS:
        return False
    checked = _largest_segments(reader)
    if checked and checked <= _CHECKED:
        return True  # a journal commit only added a small segment: nothing new to compare
    try:
        problem = _compare(reader)
    except Exception as exc:  # any failure of a fast reader means it cannot be trusted
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        logger.error(
            "the fast Whoosh readers disagree with the public API (%s): "
            "this process now reads the index through the public API only",
            problem,
        )
        FAST_POSTINGS = False
    else:
        _CHECKED.update(checked)
    return FAST_POSTINGS


# The segments (id, size) whose fast reads matched the public API in this process.
_CHECKED: set[tuple[Any, int]] = set()


def _largest_segments(reader: Any) -> set[tuple[Any, int]]:
    """The largest segment, where `_compare` samples its terms (an empty set if unknown)."""
    leaves = [leaf for leaf, _ in reader.leaf_readers()]
    if not leaves:
        return set()
    leaf = max(leaves, key=_doc_count)
    segment = leaf.segment()
    return {(segment.segment_id(), _doc_count(leaf))} if segment is not None else set()


def forget_checks() -> None:
    """Check the next generation again, whatever its segments."""
    _CHECKED.clear()


def _compare(reader: Any) -> str | None:
    """Return what differs between the fast and the public readers, or None."""
    leaves = sorted((leaf for leaf, _ in reader.leaf_readers()), key=_doc_count, reverse=True)
    if not leaves or not _doc_count(leaves[0]):
        return None
    leaves = leaves[:_CHECK_SEGMENTS]  # the readers work segment by segment
    texts = _sample_texts(reader)
    stems = _words(french_analyzer(), texts)
    for fieldname in ("body", "title"):  # the text fields share one format
        for term in _sample_terms(leaves[0], fieldname, stems, _CHECK_MAX_POSTINGS):
            problem = _compare_postings(leaves, fieldname, term)
            if problem:
                return problem
    words = _words(folding_analyzer(), texts)
    for word in _sample_terms(leaves[0], PHRASE_FIELD, words, _CHECK_MAX_POSITIONS):
        problem = _compare_positions(reader, leaves, PHRASE_FIELD, word)
        if problem:
            return problem
    return _compare_lengths(leaves[0])


def _doc_count(leaf: Any) -> int:
    return int(leaf.doc_count_all())


def _sample_texts(reader: Any) -> list[str]:
    """Titles and summaries of a few live documents spread over the index."""
    size = reader.doc_count_all()
    texts: list[str] = []
    step = max(1, size // _CHECK_DOCS)
    for docnum in range(0, size, step):
        if not reader.is_deleted(docnum):
            fields = reader.stored_fields(docnum)
            texts.append(f"{fields.get('title', '')} {fields.get('summary', '')}")
    return texts


def _words(analyzer: Any, texts: list[str]) -> list[str]:
    """The first terms of each text, once each."""
    found = (t.text for text in texts for t in islice(analyzer(text), _CHECK_WORDS))
    return list(dict.fromkeys(found))


def _sample_terms(leaf: Any, fieldname: str, terms: list[str], most: int) -> list[str]:
    """The most frequent (up to `most` documents) and the rarest of some terms, by their
    frequency in one (the largest) segment: one cheap look-up per term."""
    frequencies = ((leaf.doc_frequency(fieldname, term), term) for term in terms)
    usable = sorted((n, t) for n, t in frequencies if 0 < n <= most)
    return list(dict.fromkeys(t for _, t in usable[-1:] + usable[:1]))


def _compare_postings(leaves: list[Any], fieldname: str, term: str) -> str | None:
    btext = term.encode("utf-8")
    for leaf in leaves:
        if (fieldname, btext) not in leaf:
            continue
        raw = _raw(leaf.postings(fieldname, btext))
        if not _has(raw, _POSTING_INTERNALS):
            return f"posting internals missing for {fieldname}"
        ids, weights = _fast_leaf_postings(raw)
        fast = [
            (d, round(w, 6)) for d, w in zip(ids, weights, strict=True) if not leaf.is_deleted(d)
        ]
        ids, weights = _public_leaf_postings(leaf.postings(fieldname, btext))
        public = [
            (d, round(w, 6)) for d, w in zip(ids, weights, strict=True) if not leaf.is_deleted(d)
        ]
        if fast != public:
            return f"postings of {fieldname}:{term!r}"
    return None


def _compare_positions(reader: Any, leaves: list[Any], fieldname: str, word: str) -> str | None:
    btext = word.encode("utf-8")
    decode = reader.schema[fieldname].format.decode_positions
    for leaf in leaves:
        if (fieldname, btext) not in leaf:
            continue
        local = list(leaf.postings(fieldname, btext).all_ids())
        raw = _raw(leaf.postings(fieldname, btext))
        if not _has(raw, _POSITION_INTERNALS):
            return f"position internals missing for {fieldname}"
        fast = [(d, list(p)) for d, p in _fast_positions(raw, local, 0, decode)]
        matcher = leaf.postings(fieldname, btext)
        public = [(d, list(p)) for d, p in _public_positions(matcher, local, 0, decode)]
        if fast != public:
            return f"positions of {fieldname}:{word!r}"
    return None


def _compare_lengths(leaf: Any) -> str | None:
    count = leaf.doc_count_all()
    if not count:  # an empty index's reader has no columns at all
        return None
    step = max(1, count // _CHECK_LENGTHS)
    for fieldname in TEXT_FIELDS:
        fast = _fast_lengths(leaf, fieldname, count)
        if len(fast) != count:
            return f"lengths of {fieldname}: {len(fast)} values for {count} documents"
        for d in range(0, count, step):
            if fast[d] != (leaf.doc_field_length(d, fieldname, 0) or 0):
                return f"length of {fieldname} in document {d}"
    return None
