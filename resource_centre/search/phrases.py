"""Phrases: checking that the words of a phrase sit side by side in the candidate fiches."""

from __future__ import annotations

from typing import Any

from resource_centre.search import fastread
from resource_centre.search.bitsets import to_bits
from resource_centre.search.schema import PHRASE_FIELD


def verify_phrase(
    reader: Any, slots: list[tuple[int, tuple[str, ...]]], candidates: list[int], size: int
) -> int:
    """Keep the candidates where a word of each slot sits at its offset (rarest slot first)."""
    frequencies = [sum(reader.doc_frequency(PHRASE_FIELD, w) for w in forms) for _, forms in slots]
    order = sorted(range(len(slots)), key=frequencies.__getitem__)
    starts: dict[int, set[int]] | None = None
    for index in order:
        offset, forms = slots[index]
        docs = candidates if starts is None else sorted(starts)
        here: dict[int, set[int]] = {}
        shift = (-offset).__add__
        for word in forms:
            for docnum, positions in fastread.positions(reader, PHRASE_FIELD, word, docs):
                shifted = map(shift, positions) if offset else positions
                if starts is None:
                    here.setdefault(docnum, set()).update(shifted)
                    continue
                kept = starts[docnum].intersection(shifted)
                if kept:
                    here.setdefault(docnum, set()).update(kept)
        starts = here
        if not starts:
            return 0
    return to_bits(starts or (), size)


def common_prefix(a: str, b: str) -> str:
    """The longest string both start with."""
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return a[:size]
