"""What each index segment holds, read once per segment and kept across generations.

A Whoosh segment's documents never change once written: a journal commit adds a segment
and marks replaced documents deleted in older ones; a merge writes a new segment. So what
the search caches need from a segment (visible fiches, facet values, years, dates, sort
titles, field lengths, Régie names) is read the first time a generation holds it, and a
new generation only reads its new segments: after a publication, one small segment rather
than the whole index. The deletions of each generation are applied when the facts are put
together (`caches.Generation`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from resource_centre.search import fastread
from resource_centre.search.bitsets import to_bits
from resource_centre.search.request import FACETS
from resource_centre.search.schema import KIND_FACET, TEXT_FIELDS
from resource_centre.taxonomy import FICHE_KINDS

PUBLISHED = "published"
MISSING_DATE = 2**64 - 1  # the DATETIME column's value for "no date"
MISSING_YEAR = 2**31 - 1  # the 32-bit NUMERIC column's value for "no year"
_KEEP = 256  # segments remembered per process (an index has a few dozen at most)


@dataclass(frozen=True)
class SegmentFacts:
    """One segment's documents, by local document number (deletions not applied)."""

    count: int
    shown: int  # published fiches (bitset)
    facets: dict[str, dict[str, int]]  # facet → value → bitset (within `shown`)
    year_start: dict[int, int]
    year_end: dict[int, int]
    published_at: dict[int, int]
    title_sort: dict[int, str]
    lengths: dict[str, list[int]]  # text field → length of every document
    regie_names: dict[str, str]


_FACTS: OrderedDict[tuple[Any, ...], SegmentFacts] = OrderedDict()
_LOCK = threading.Lock()


def segment_key(leaf: Any) -> tuple[Any, ...] | None:
    """A segment's identity: its random id and its size (None for a reader without one)."""
    segment = leaf.segment()
    if segment is None:
        return None
    return (segment.segment_id(), leaf.doc_count_all())


def deleted(leaf: Any) -> set[int]:
    """The segment's deleted documents in this generation (local numbers)."""
    segment = leaf.segment()
    if segment is None or not segment.deleted_count():
        return set()
    return set(segment.deleted_docs())


def facts_of(leaf: Any) -> SegmentFacts:
    """Return a segment's facts, read on first use and remembered."""
    key = segment_key(leaf)
    if key is not None:
        with _LOCK:
            found = _FACTS.get(key)
            if found is not None:
                _FACTS.move_to_end(key)
                return found
    facts = read_facts(leaf)
    if key is not None:
        with _LOCK:
            _FACTS[key] = facts
            while len(_FACTS) > _KEEP:
                _FACTS.popitem(last=False)
    return facts


def forget() -> None:
    """Forget every segment's facts (the next generation reads them again)."""
    with _LOCK:
        _FACTS.clear()


def read_facts(leaf: Any) -> SegmentFacts:
    """Read what the search caches need from one segment."""
    count = leaf.doc_count_all()
    fiches: set[int] = set()
    for kind in FICHE_KINDS:  # every format of fiche; not the bookkeeping document
        fiches |= fastread.postings(leaf, KIND_FACET, kind)
    shown_docs = fiches & fastread.postings(leaf, "status", PUBLISHED)
    facets: dict[str, dict[str, int]] = {}
    for facet in FACETS:
        values: dict[str, int] = {}
        for btext in leaf.lexicon(facet):
            docs = fastread.postings(leaf, facet, btext) & shown_docs
            if docs:
                values[btext.decode("utf-8")] = to_bits(docs, count)
        facets[facet] = values
    starts = fastread.column(leaf, "year_start", count, MISSING_YEAR)
    ends = fastread.column(leaf, "year_end", count, MISSING_YEAR)
    dates = fastread.column(leaf, "published_at", count, MISSING_DATE, translate=False)
    titles = fastread.column(leaf, "title_sort", count, "")
    ordered = sorted(shown_docs)
    regie_names: dict[str, str] = {}
    for slug, bits in facets.get("regie", {}).items():
        first = (bits & -bits).bit_length() - 1
        name = leaf.stored_fields(first).get("regie_name")
        if isinstance(name, str) and name:
            regie_names[slug] = name
    return SegmentFacts(
        count=count,
        shown=to_bits(shown_docs, count),
        facets=facets,
        year_start={d: starts[d] for d in ordered if starts[d] != MISSING_YEAR},
        year_end={d: ends[d] for d in ordered if ends[d] != MISSING_YEAR},
        published_at={d: dates[d] for d in ordered if dates[d] != MISSING_DATE},
        title_sort={d: t for d in ordered if isinstance(t := titles[d], str) and t},
        lengths={name: fastread.lengths(leaf, name, count) for name in TEXT_FIELDS},
        regie_names=regie_names,
    )
