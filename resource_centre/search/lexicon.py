"""The words of the index: for word starts, typo tolerance and phrases on stems.

Every (folded, unstemmed) word of the `spell` field with its document frequency, read once
per segment and kept across generations like the segment facts (`segments.py`): after a
journal commit only the new segment's words are read. Frequencies count every document of
a segment, deleted ones included: they only rank candidates, the matching documents are
always read from the live postings.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from resource_centre.search import segments
from resource_centre.search.schema import PHRASE_FIELD

_KEEP = 256  # segments remembered (an index has far fewer; old ones are merged away)


@dataclass(frozen=True)
class SegmentWords:
    """A segment's words in sorted order, with how many of its documents hold each."""

    words: list[str]
    frequencies: list[int]

    def starting_with(self, prefix: str) -> range:
        """The positions of the words that start with `prefix`."""
        start = bisect.bisect_left(self.words, prefix)
        end = bisect.bisect_left(self.words, prefix + "\U0010ffff", lo=start)
        return range(start, end)


_WORDS: OrderedDict[tuple[Any, ...], SegmentWords] = OrderedDict()
_LOCK = threading.Lock()


def read_words(leaf: Any) -> SegmentWords:
    """Read a segment's words and frequencies (one pass over its `spell` terms)."""
    words: list[str] = []
    frequencies: list[int] = []
    try:
        for term, info in leaf.iter_field(PHRASE_FIELD):
            text = term.decode("utf-8") if isinstance(term, bytes) else str(term)
            words.append(text)
            frequencies.append(int(info.doc_frequency()))
    except (KeyError, ValueError):  # a segment without the field (an empty index)
        return SegmentWords([], [])
    return SegmentWords(words, frequencies)


def words_of(leaf: Any) -> SegmentWords:
    """Return a segment's words, read on first use and remembered."""
    key = segments.segment_key(leaf)
    if key is not None:
        with _LOCK:
            found = _WORDS.get(key)
            if found is not None:
                _WORDS.move_to_end(key)
                return found
    found = read_words(leaf)
    if key is not None:
        with _LOCK:
            _WORDS[key] = found
            while len(_WORDS) > _KEEP:
                _WORDS.popitem(last=False)
    return found


def forget() -> None:
    """Forget every segment's words."""
    with _LOCK:
        _WORDS.clear()
        _RECENT.clear()


_RECENT: deque[frozenset[tuple[Any, ...]]] = deque(maxlen=3)  # segments of the last readers


def all_words(reader: Any) -> list[SegmentWords]:
    """The words of every segment of a reader.

    The words of segments that none of the last three readers holds (merged away) are
    forgotten: a large segment's words take tens of megabytes."""
    leaves = [leaf for leaf, _ in reader.leaf_readers()]
    found = [words_of(leaf) for leaf in leaves]
    keys = frozenset(k for k in map(segments.segment_key, leaves) if k is not None)
    with _LOCK:
        if not _RECENT or _RECENT[-1] != keys:
            _RECENT.append(keys)
        kept = frozenset().union(*_RECENT)
        for key in [k for k in _WORDS if k not in kept]:
            del _WORDS[key]
    return found


def frequency(lexicons: Iterable[SegmentWords], word: str) -> int:
    """How many documents hold a word (deleted ones included)."""
    total = 0
    for lexicon in lexicons:
        i = bisect.bisect_left(lexicon.words, word)
        if i < len(lexicon.words) and lexicon.words[i] == word:
            total += lexicon.frequencies[i]
    return total


def starting_with(lexicons: Iterable[SegmentWords], prefix: str) -> dict[str, int]:
    """The words that start with `prefix`, with their frequencies."""
    found: dict[str, int] = {}
    for lexicon in lexicons:
        for i in lexicon.starting_with(prefix):
            word = lexicon.words[i]
            found[word] = found.get(word, 0) + lexicon.frequencies[i]
    return found


def within(lexicons: Iterable[SegmentWords], word: str, distance: int) -> dict[str, int]:
    """The words at most `distance` edits from `word` (a transposition is one edit), with
    the same first letter, and their frequencies."""
    if not word:
        return {}
    found: dict[str, int] = {}
    for lexicon in lexicons:
        span = lexicon.starting_with(word[0])
        if not span:
            continue
        choices = lexicon.words[span.start : span.stop]
        for candidate, _, i in process.extract(
            word,
            choices,
            scorer=OSA.distance,
            score_cutoff=distance,
            limit=None,
        ):
            found[candidate] = found.get(candidate, 0) + lexicon.frequencies[span.start + i]
    return found
