"""Ordering results: by a precomputed order (recent, title) or by BM25F relevance.

Relevance is BM25F (Whoosh's formula and parameters) over title, summary and body, summed
over the searched words, computed only for the matching documents.
"""

from __future__ import annotations

import heapq
import operator
from itertools import repeat
from typing import Any

from resource_centre.search.bitsets import from_bits
from resource_centre.search.caches import Generation


def by_order(gen: Generation, name: str, bits: int, end: int) -> list[int]:
    """Return the first `end` documents of a bitset in a precomputed order."""
    docs = from_bits(bits)
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


def by_relevance(
    gen: Generation, reader: Any, stems: list[str], bits: int, end: int, first: int = 0
) -> list[tuple[int, float | None]]:
    """Return the `end` best documents of a bitset by BM25F score over the searched stems.

    The documents of `first` (those matching the words as typed, when typo corrections
    widened the query) come before the others."""
    docs = from_bits(bits)
    totals: list[float] = [0.0] * len(docs)
    for stem in stems:
        scores = gen.stem(reader, stem).scores
        if scores:
            totals = list(map(operator.add, totals, map(scores.get, docs, repeat(0.0))))
    if first and first != bits:
        tier = [first >> d & 1 for d in docs]
        best = heapq.nlargest(end, range(len(docs)), key=lambda i: (tier[i], totals[i]))
    else:
        best = heapq.nlargest(end, range(len(docs)), key=totals.__getitem__)
    return [(docs[i], totals[i]) for i in best]
